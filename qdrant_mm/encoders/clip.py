"""CLIP image/text encoder on open_clip."""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
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
from qdrant_mm.encoders.paths import content_hash, local_label, local_path
from qdrant_mm.encoders.text_window import head_for_window
from qdrant_mm.errors import ModelLoadError
from qdrant_mm.image_modes import to_model_rgb

MODEL_SETTING = "QDRANT_MM_CLIP_MODEL"
PRETRAINED_SETTING = "QDRANT_MM_CLIP_PRETRAINED"
_REGISTER_LOCK = threading.Lock()


class ClipEncoder:
    """Embeds images and texts with an open_clip model; rows are float32 and unit length.

    ``model``, ``preprocess`` and ``tokenizer`` are public so that the interrogator can use the
    very same objects instead of loading a second copy.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        preprocess: Callable[[Image.Image], torch.Tensor],
        tokenizer: Callable[..., torch.Tensor],
        *,
        model_id: str,
        device: torch.device,
        open_clip_name: str,
        batch_size: int = 32,
        dim: int | None = None,
        compute_dtype: torch.dtype | None = None,
    ) -> None:
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.device = device
        self.dtype = model_dtype(device)
        # default: what the weights are stored in (bf16 when prepared for it)
        self.compute_dtype = compute_dtype or linear_dtype(model) or self.dtype
        self.open_clip_name = open_clip_name
        self.batch_size = max(1, int(batch_size))
        self.context_length = int(getattr(tokenizer, "context_length", None) or 77)
        self._pad_id: int | None = None
        self.dim = int(dim) if dim is not None else int(self.encode_texts([""]).shape[1])

    def __repr__(self) -> str:
        return f"ClipEncoder({self.model_id!r}, dim={self.dim}, device={self.device})"

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """``(n, dim)`` unit rows for ``images`` (any PIL mode; EXIF orientation applied)."""
        images = list(images)
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size]
            pixels = torch.stack([self.preprocess(to_model_rgb(img)) for img in batch])
            pixels = pixels.to(self.device, dtype=self.dtype)
            with torch.inference_mode(), autocast(self.device, self.compute_dtype):
                feats = self.model.encode_image(pixels)
            out.append(feats.float().cpu().numpy())
        return l2_normalize(np.concatenate(out))

    def encode_texts(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """``(n, dim)`` unit rows; text is tokenized, then truncated to the context length
        (``context_length`` tokens, the end-of-text token kept last, as the tokenizer does)."""
        texts = [self.head(str(t)) for t in texts]
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        step = max(1, int(batch_size or self.batch_size))
        out = []
        for start in range(0, len(texts), step):
            tokens = self.tokenize(texts[start : start + step]).to(self.device)
            with torch.inference_mode(), autocast(self.device, self.compute_dtype):
                feats = self._encode_tokens(tokens)
            out.append(feats.float().cpu().numpy())
        return l2_normalize(np.concatenate(out))

    def _encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """``model.encode_text`` on the tokens up to the batch's last end-of-text token.

        open_clip pads every text to the full context (77 tokens), but its text transformer is
        causal and pools the end-of-text position, so the padding after it cannot change the
        result: dropping it gives the same features (tested) for a fraction of the work on
        short queries. Models other than open_clip's standard ``CLIP`` run unchanged.
        """
        m = self.model
        standard = (
            type(m) is open_clip.CLIP
            and getattr(m, "text_pool_type", None) == "argmax"
            and getattr(m, "attn_mask", None) is not None
        )
        if not standard:
            return m.encode_text(tokens)
        n = int(tokens.argmax(dim=-1).max()) + 1  # argmax = end-of-text (the largest id)
        tokens = tokens[:, :n]
        cast = m.transformer.get_cast_dtype()
        x = m.token_embedding(tokens).to(cast) + m.positional_embedding[:n].to(cast)
        x = m.ln_final(m.transformer(x, attn_mask=m.attn_mask[:n, :n]))
        x = open_clip.transformer.text_global_pool(x, tokens, m.text_pool_type)
        if isinstance(m.text_projection, torch.nn.Linear):
            return m.text_projection(x)
        return x @ m.text_projection if m.text_projection is not None else x

    def head(self, text: str) -> str:
        """A head of ``text`` that tokenizes to the same truncated tokens, so that a huge text
        is not tokenized whole (see :mod:`qdrant_mm.encoders.text_window`)."""
        return head_for_window(
            text, lambda head: not self.fits_context(head), start_chars=8 * self.context_length
        )

    def tokenize(self, texts: str | Sequence[str]) -> torch.Tensor:
        """Token ids ``(n, context_length)``, truncated to the context length."""
        if isinstance(texts, str):
            texts = [texts]
        return self.tokenizer([str(t) for t in texts])

    def fits_context(self, text: str) -> bool:
        """Whether ``text`` is tokenized without truncation (the last position is padding)."""
        if self._pad_id is None:
            self._pad_id = int(self.tokenize([""])[0, -1])
        return int(self.tokenize([text])[0, -1]) == self._pad_id


def load_clip(
    model: str,
    pretrained: str,
    device: torch.device | str = "auto",
    *,
    batch_size: int = 32,
    cpu_precision: str = "auto",
) -> ClipEncoder:
    """Load an open_clip model as a :class:`ClipEncoder`.

    ``model``: an open_clip architecture name (``ViT-B-32``), ``hf-hub:org/repo``,
    ``local-dir:/folder``, or the path of an open_clip model-config JSON file.
    ``pretrained``: an open_clip pretrained tag (``openai``; downloaded unless cached) or a
    local checkpoint file. Failures raise :class:`ModelLoadError` naming the setting and value.
    ``cpu_precision``: see :func:`~qdrant_mm.encoders.devices.compute_dtype`.
    """
    device = resolve_device(device)
    name, arch_label, schema = _resolve_architecture(model)
    if schema:
        ckpt_arg: str | None = None
        weights_label = ""
    else:
        ckpt_arg, weights_label = _resolve_pretrained(name, pretrained, model)
    try:
        clip_model, preprocess = open_clip.create_model_from_pretrained(
            name,
            pretrained=ckpt_arg,
            precision="fp16" if device.type == "cuda" else "fp32",
            device=device,
        )
        tokenizer = open_clip.get_tokenizer(name)
    except Exception as exc:  # noqa: BLE001 - any failure becomes one clear error
        what = f"{MODEL_SETTING}={model!r}"
        if not schema:
            what += f", {PRETRAINED_SETTING}={pretrained!r}"
        raise ModelLoadError(f"cannot load the CLIP model ({what}): {exc}") from exc
    dtype = prepare_weights(clip_model, device, cpu_precision)
    model_id = f"open_clip:{arch_label}" + (f":{weights_label}" if weights_label else "")
    return ClipEncoder(
        clip_model,
        preprocess,
        tokenizer,
        model_id=model_id,
        device=device,
        open_clip_name=name,
        batch_size=batch_size,
        dim=_embed_dim(clip_model),
        compute_dtype=dtype,
    )


def _resolve_architecture(model: str) -> tuple[str, str, str | None]:
    """(name open_clip knows, label for the model id, schema or None)."""
    model = model.strip()
    if model.startswith("hf-hub:"):
        return model, model, "hf-hub"
    if model.startswith("local-dir:"):
        folder = local_path(model.removeprefix("local-dir:"), MODEL_SETTING)
        if folder is None or not folder.is_dir():
            raise ModelLoadError(f"{MODEL_SETTING}: no such folder: {model!r}")
        return f"local-dir:{folder}", f"local-dir:{local_label(folder)}", "local-dir"
    path = local_path(model, MODEL_SETTING)
    if path is None:
        if model not in open_clip.list_models():
            raise ModelLoadError(
                f"{MODEL_SETTING}: {model!r} is neither an open_clip architecture nor a"
                " model-config file (see open_clip.list_models())"
            )
        return model, model, None
    if path.is_dir():
        if (path / "open_clip_config.json").is_file():
            return f"local-dir:{path}", f"local-dir:{local_label(path)}", "local-dir"
        raise ModelLoadError(f"{MODEL_SETTING}: folder {str(path)!r} has no open_clip_config.json")
    return _register_config(path), f"{path.stem}#{content_hash(path, 10)}", None


def _register_config(path: Path) -> str:
    """Register a model-config JSON file with open_clip under a name unique to its content."""
    try:
        cfg: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{MODEL_SETTING}: cannot read {str(path)!r}: {exc}") from exc
    if isinstance(cfg, dict) and isinstance(cfg.get("model_cfg"), dict):
        cfg = cfg["model_cfg"]  # open_clip_config.json layout
    if not isinstance(cfg, dict) or not all(
        k in cfg for k in ("embed_dim", "vision_cfg", "text_cfg")
    ):
        raise ModelLoadError(
            f"{MODEL_SETTING}: {str(path)!r} is not an open_clip model config"
            " (needs embed_dim, vision_cfg and text_cfg)"
        )
    name = f"qdrant-mm-{path.stem}-{content_hash(path, 10)}"
    with _REGISTER_LOCK:
        if name not in open_clip.list_models():
            with tempfile.TemporaryDirectory(prefix="qdrant_mm_clip_cfg_") as tmp:
                file = Path(tmp) / f"{name}.json"
                file.write_text(json.dumps(cfg), encoding="utf-8")
                open_clip.add_model_config(file)
    return name


def _resolve_pretrained(name: str, pretrained: str, model: str) -> tuple[str, str]:
    """(value for open_clip's ``pretrained``, label for the model id)."""
    pretrained = pretrained.strip()
    if not pretrained:
        raise ModelLoadError(f"{PRETRAINED_SETTING}: empty; give an open_clip tag or a checkpoint")
    path = local_path(pretrained, PRETRAINED_SETTING)
    if path is not None:
        if not path.is_file():
            raise ModelLoadError(f"{PRETRAINED_SETTING}: {pretrained!r} is not a file")
        return str(path), local_label(path)
    if not open_clip.is_pretrained_cfg(name, pretrained):
        tags = open_clip.list_pretrained_tags_by_model(name)
        known = ", ".join(tags) if tags else "none (give a local checkpoint file)"
        raise ModelLoadError(
            f"{PRETRAINED_SETTING}: {pretrained!r} is neither a file nor a pretrained tag of"
            f" {model!r} (known tags: {known})"
        )
    return pretrained, pretrained.lower().replace("-", "_")


def _embed_dim(model: torch.nn.Module) -> int | None:
    visual = getattr(model, "visual", None)
    dim = getattr(visual, "output_dim", None)
    return int(dim) if isinstance(dim, int) else None
