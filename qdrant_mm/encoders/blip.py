"""BLIP image/text encoder (the ITM model's contrastive heads), on transformers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image

from qdrant_mm.encoders.base import l2_normalize
from qdrant_mm.encoders.devices import (
    autocast,
    linear_dtype,
    model_dtype,
    prepare_weights,
    resolve_device,
)
from qdrant_mm.encoders.paths import local_label, local_path
from qdrant_mm.encoders.text_window import head_for_window
from qdrant_mm.errors import ModelLoadError
from qdrant_mm.image_modes import to_model_rgb

BLIP_SETTING = "QDRANT_MM_BLIP_MODEL"
DEFAULT_MAX_TEXT_TOKENS = 35  # what BLIP's retrieval heads were trained with

M = TypeVar("M", bound=torch.nn.Module)


class BlipEncoder:
    """Embeds images and texts with ``BlipForImageTextRetrieval``'s projection heads.

    image: ``normalize(vision_proj(vision_model(pixels)[:, 0]))``;
    text: ``normalize(text_proj(text_encoder(ids, mask)[:, 0]))`` (unimodal, no image).
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        model_id: str,
        device: torch.device,
        batch_size: int = 32,
        max_text_tokens: int = DEFAULT_MAX_TEXT_TOKENS,
        compute_dtype: torch.dtype | None = None,
    ) -> None:
        self.model = model.eval()
        self.processor = processor
        self.model_id = model_id
        self.device = device
        self.dtype = model_dtype(device)
        # default: what the weights are stored in (bf16 when prepared for it)
        self.compute_dtype = compute_dtype or linear_dtype(model) or self.dtype
        self.batch_size = max(1, int(batch_size))
        # the window: what the heads were trained with, never more than the text model's
        # positions or the tokenizer's own limit
        max_positions = int(model.config.text_config.max_position_embeddings)
        limit = getattr(processor.tokenizer, "model_max_length", None) or max_positions
        self.max_text_tokens = max(2, min(int(max_text_tokens), max_positions, int(limit)))
        self.dim = int(model.config.image_text_hidden_size)

    def __repr__(self) -> str:
        return f"BlipEncoder({self.model_id!r}, dim={self.dim}, device={self.device})"

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """``(n, dim)`` unit rows for ``images`` (any PIL mode; EXIF orientation applied)."""
        images = [to_model_rgb(img) for img in images]
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size]
            pixels = self.processor(images=batch, return_tensors="pt")["pixel_values"]
            pixels = pixels.to(self.device, dtype=self.dtype)
            with torch.inference_mode(), autocast(self.device, self.compute_dtype):
                hidden = self.model.vision_model(pixel_values=pixels).last_hidden_state
                feats = self.model.vision_proj(hidden[:, 0, :])
            out.append(feats.float().cpu().numpy())
        return l2_normalize(np.concatenate(out))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, dim)`` unit rows; text is tokenized, then truncated to ``max_text_tokens``
        tokens ([CLS] and [SEP] included, as the tokenizer's own truncation does)."""
        texts = [self._head(str(t)) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            tokens = self.processor.tokenizer(
                batch,
                padding=True,
                truncation=True,
                max_length=self.max_text_tokens,
                return_tensors="pt",
            )
            with torch.inference_mode(), autocast(self.device, self.compute_dtype):
                hidden = self.model.text_encoder(
                    input_ids=tokens["input_ids"].to(self.device),
                    attention_mask=tokens["attention_mask"].to(self.device),
                ).last_hidden_state
                feats = self.model.text_proj(hidden[:, 0, :])
            out.append(feats.float().cpu().numpy())
        return l2_normalize(np.concatenate(out))

    def _head(self, text: str) -> str:
        """A head of ``text`` that truncates to the same tokens (see :mod:`text_window`)."""
        return head_for_window(text, self._fills_window, start_chars=8 * self.max_text_tokens)

    def _fills_window(self, text: str) -> bool:
        ids = self.processor.tokenizer(text, truncation=True, max_length=self.max_text_tokens)
        return len(ids["input_ids"]) >= self.max_text_tokens


def load_pretrained_blip(
    model_cls: type[M], model: str, device: torch.device, *, setting: str, what: str
) -> tuple[M, Any, str]:
    """Load a BLIP model class and its processor from a hub id or a ``save_pretrained`` folder.

    Returns (model, processor, label); the label is the hub id or ``<folder>#<content hash>``.
    """
    from transformers import AutoProcessor

    path = local_path(model, setting)
    if path is not None and not path.is_dir():
        raise ModelLoadError(f"{setting}: {model!r} is a file; give a hub id or a model folder")
    source = str(path) if path is not None else model.strip()
    try:
        processor = AutoProcessor.from_pretrained(source, local_files_only=path is not None)
        net = model_cls.from_pretrained(
            source, dtype=model_dtype(device), local_files_only=path is not None
        )
    except Exception as exc:  # noqa: BLE001 - any failure becomes one clear error
        raise ModelLoadError(f"cannot load the {what} ({setting}={model!r}): {exc}") from exc
    if not hasattr(processor, "tokenizer") or not hasattr(processor, "image_processor"):
        raise ModelLoadError(
            f"{setting}: {model!r} has no BLIP processor (tokenizer + image processor)"
        )
    net = net.to(device=device, dtype=model_dtype(device)).eval()
    label = local_label(path) if path is not None else source
    return net, processor, label


def load_blip(
    model: str,
    device: torch.device | str = "auto",
    *,
    batch_size: int = 32,
    max_text_tokens: int = DEFAULT_MAX_TEXT_TOKENS,
    cpu_precision: str = "auto",
) -> BlipEncoder:
    """Load ``BlipForImageTextRetrieval`` (hub id, e.g. ``Salesforce/blip-itm-base-coco``, or a
    local ``save_pretrained`` folder) as a :class:`BlipEncoder`. ``cpu_precision``: see
    :func:`~qdrant_mm.encoders.devices.compute_dtype`."""
    from transformers import BlipForImageTextRetrieval

    device = resolve_device(device)
    net, processor, label = load_pretrained_blip(
        BlipForImageTextRetrieval, model, device, setting=BLIP_SETTING, what="BLIP retrieval model"
    )
    dtype = prepare_weights(net, device, cpu_precision)
    return BlipEncoder(
        net,
        processor,
        model_id=f"blip:{label}",
        device=device,
        batch_size=batch_size,
        max_text_tokens=max_text_tokens,
        compute_dtype=dtype,
    )
