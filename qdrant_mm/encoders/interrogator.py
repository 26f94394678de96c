"""Image descriptions (caption + CLIP-ranked terms) with the clip-interrogator package.

The package's :class:`~clip_interrogator.Interrogator` is handed our already-loaded models: the
CLIP model of the :class:`ClipEncoder` (the same object, never a second copy) and a BLIP caption
model. Its label tables are built only for the vocabulary chosen (product term lists by default;
the package's huge art lists only when asked for, see :mod:`qdrant_mm.encoders.vocabulary`) and
its embedding cache is never downloaded.

With the ``art`` vocabulary the descriptions are the package's own: its ``interrogate_fast``,
``interrogate_classic`` and ``interrogate`` run on its tables, fed the caption and CLIP image
features computed here in batches. The ``product`` vocabulary (and a custom terms folder) uses
the same caption and CLIP ranking with rules of its own, made for attribute lists (see
:class:`InterrogatorDescriber`).
"""

from __future__ import annotations

import hashlib
import re
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from clip_interrogator import Config, Interrogator, LabelTable
from PIL import Image

from qdrant_mm.encoders.base import l2_normalize
from qdrant_mm.encoders.blip import load_pretrained_blip
from qdrant_mm.encoders.clip import ClipEncoder
from qdrant_mm.encoders.devices import (
    autocast,
    linear_dtype,
    prepare_weights,
)
from qdrant_mm.encoders.vocabulary import (
    TermList,
    Vocabulary,
    product_vocabulary,
    resolve_vocabulary,
)
from qdrant_mm.errors import ConfigError
from qdrant_mm.image_modes import to_model_rgb

CAPTION_SETTING = "QDRANT_MM_CAPTION_MODEL"

MODES: tuple[str, ...] = ("fast", "classic", "best")


# --- the package's Interrogator, on our models --------------------------------------------------


@dataclass(frozen=True)
class PreparedImage:
    """An image already captioned and embedded (unit CLIP features ``(1, d)``), handed to the
    package's ``interrogate_*`` methods in place of the image itself."""

    caption: str
    features: torch.Tensor


class SharedInterrogator(Interrogator):
    """clip-interrogator's ``Interrogator`` using a :class:`ClipEncoder`'s model and tokenizer.

    ``load_clip_model`` neither creates a CLIP model nor builds the art tables; text similarity
    (used by the package's ``chain``) goes through the encoder, which handles device and dtype.
    Images are :class:`PreparedImage`: captions and features come from the describer's batches.
    """

    def __init__(self, config: Config, clip: ClipEncoder, text_batch_size: int) -> None:
        self._clip = clip
        self._text_batch_size = text_batch_size
        super().__init__(config)
        self.dtype = clip.dtype
        # Both models already sit on their device: keep the package from moving them.
        self.caption_offloaded = False
        self.clip_offloaded = False

    def load_clip_model(self) -> None:
        self.clip_model = self._clip.model
        self.clip_preprocess = self._clip.preprocess
        self.tokenize = self._clip.tokenize

    def image_to_features(self, image: PreparedImage | Image.Image) -> torch.Tensor:
        if isinstance(image, PreparedImage):
            return image.features
        return torch.from_numpy(self._clip.encode_images([image])).to(self.device)

    def generate_caption(self, pil_image: PreparedImage) -> str:
        if not isinstance(pil_image, PreparedImage):
            raise TypeError("captions come from the describer: pass a PreparedImage")
        return pil_image.caption

    def similarities(self, image_features: Any, text_array: Sequence[str]) -> list[float]:
        feats = np.asarray(torch.as_tensor(image_features).float().cpu())[0]
        texts = self._clip.encode_texts(list(text_array), batch_size=self._text_batch_size)
        return (texts @ feats).tolist()

    def similarity(self, image_features: Any, text: str) -> float:
        return self.similarities(image_features, [text])[0]

    def rank_top(
        self, image_features: Any, text_array: Sequence[str], reverse: bool = False
    ) -> str:
        sims = np.asarray(self.similarities(image_features, text_array))
        return text_array[int(np.argmin(sims) if reverse else np.argmax(sims))]


@dataclass(frozen=True)
class _Table:
    name: str
    labels: tuple[str, ...]
    embeds: np.ndarray  # (m, d) unit rows (art: fp16-rounded, as the package keeps them)


@contextmanager
def _package_warnings_hushed() -> Iterator[None]:
    # The package wraps every call in the deprecated torch.cuda.amp.autocast(); hush that.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*autocast.*", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*CUDA is not available.*", category=UserWarning)
        yield


def _quiet_label_table(labels: list[str], desc: str, ci: Interrogator) -> LabelTable:
    with _package_warnings_hushed():
        return LabelTable(labels, desc, ci)


def _top(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the ``k`` highest scores, best first (ties keep list order)."""
    k = min(k, scores.shape[0])
    if k <= 0:
        return []
    order = np.argsort(-scores, kind="stable")
    return [int(i) for i in order[:k]]


def _safe_name(text: str) -> str:
    """A file-name-safe form of ``text``; long ones are cut and made unique by a hash."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")
    if len(safe) <= 100:
        return safe
    return f"{safe[:80]}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


class InterrogatorDescriber:
    """Describes images as ``caption, term, term, ...`` (implements ``Describer``).

    ``art`` vocabulary: the package's own output for each mode, ``fast`` =
    ``interrogate_fast(max_flavors)``, ``classic`` = ``interrogate_classic()`` (caption, medium
    artist, trending, movement, three flavors) and ``best`` = ``interrogate(min_flavors,
    max_flavors)``, with its tables, ranking (``LabelTable.rank``, ``chunk_size`` 2048 as the
    package's default) and prompt fitting.

    ``product`` vocabulary and custom folders: ``fast`` (caption + the ``fast_terms_per_list``
    best terms of *each* list, so that every attribute is named), ``classic`` (caption + the best
    term of each list, three of a list named ``flavors``) and ``best`` (the package's flavor
    chain from the caption over the terms; the candidate most similar to the image wins). Terms
    are added whole while the text, separators included, fits CLIP's context.
    """

    def __init__(
        self,
        clip: ClipEncoder,
        caption_model: Any,
        caption_processor: Any,
        *,
        caption_id: str,
        vocabulary: Vocabulary | None = None,
        mode: str = "fast",
        caption_max_length: int = 32,
        batch_size: int = 32,
        cache_dir: Path | None = None,
        fast_terms_per_list: int = 2,
        max_flavors: int = 32,
        min_flavors: int = 8,
        compute_dtype: torch.dtype | None = None,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"QDRANT_MM_INTERROGATOR_MODE: must be one of {', '.join(MODES)}")
        self.clip = clip
        self.caption_model = caption_model.eval()
        self.caption_processor = caption_processor
        self.vocabulary = vocabulary or product_vocabulary()
        self.mode = mode
        self.caption_max_length = int(caption_max_length)
        self.batch_size = max(1, int(batch_size))
        self.fast_terms_per_list = fast_terms_per_list
        self.max_flavors = max_flavors
        self.min_flavors = min_flavors
        self.device = clip.device
        self._caption_dtype = next(self.caption_model.parameters()).dtype
        # what generation computes in; default: what the weights are stored in
        self.compute_dtype = (
            compute_dtype or linear_dtype(self.caption_model) or self._caption_dtype
        )
        self.model_id = (
            f"interrogator:{mode}|vocab={self.vocabulary.vocab_id}"
            f"|caption={caption_id}@{self.caption_max_length}|clip={clip.model_id}"
        )
        on_cuda = self.device.type == "cuda"
        self.art = self.vocabulary.kind == "art"
        # art: the package's default chunk size, which its ranking of large tables depends on
        chunk_size = Config.chunk_size if self.art else (2048 if on_cuda else 256)
        config = Config(
            caption_model_name=None,  # never let the package load a caption model itself
            caption_max_length=self.caption_max_length,
            clip_model_name=_safe_name(clip.model_id),  # names the on-disk cache files
            cache_path=str(cache_dir) if cache_dir is not None else None,
            download_cache=False,
            chunk_size=chunk_size,
            device=str(self.device),
            quiet=True,
        )
        config.caption_model = self.caption_model
        config.caption_processor = caption_processor
        config.clip_model = clip.model
        config.clip_preprocess = clip.preprocess
        self.interrogator = SharedInterrogator(config, clip, text_batch_size=config.chunk_size)
        self._tables: list[_Table] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"InterrogatorDescriber({self.model_id!r})"

    # -- term tables (built once, on first use) --

    def tables(self) -> list[_Table]:
        """The vocabulary's term embeddings, computed (or read from the cache dir) once."""
        with self._lock:
            if self._tables is None:
                self._tables = [self._build_table(t) for t in self.vocabulary.lists]
            return self._tables

    def _build_table(self, term_list: TermList) -> _Table:
        # art: the package's table names (its cache files' names too)
        name = term_list.name if self.art else f"{self.vocabulary.kind}-{term_list.name}"
        # The package calls the CLIP model itself here: compute as the encoder does.
        with autocast(self.device, self.clip.compute_dtype):
            table = _quiet_label_table(list(term_list.terms), _safe_name(name), self.interrogator)
        if self.art:
            # The package ranks with its own table objects: hand them over, rows as they are
            # (fp16-rounded; one copy kept, the table's rows are views of it).
            embeds = np.stack(table.embeds)
            table.embeds = list(embeds)
            setattr(self.interrogator, term_list.name, table)
            return _Table(term_list.name, tuple(table.labels), embeds)
        embeds = l2_normalize(np.stack([np.asarray(e, dtype=np.float32) for e in table.embeds]))
        return _Table(term_list.name, tuple(table.labels), embeds)

    # -- captions --

    def captions(self, images: Sequence[Image.Image]) -> list[str]:
        """BLIP captions, generated ``batch_size`` images at a time."""
        images = [to_model_rgb(img) for img in images]
        out: list[str] = []
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size]
            pixels = self.caption_processor(images=batch, return_tensors="pt")["pixel_values"]
            pixels = pixels.to(self.device, dtype=self._caption_dtype)
            with torch.inference_mode(), autocast(self.device, self.compute_dtype):
                tokens = self.caption_model.generate(
                    pixel_values=pixels, max_new_tokens=self.caption_max_length
                )
            texts = self.caption_processor.batch_decode(tokens, skip_special_tokens=True)
            # art: as the package's generate_caption
            out.extend(t.strip() if self.art else " ".join(t.split()) for t in texts)
        return out

    # -- descriptions --

    def describe(
        self, images: Sequence[Image.Image], clip_features: np.ndarray | None = None
    ) -> list[str]:
        """One description per image. ``clip_features``: the images' CLIP embeddings when
        already computed (they are then not computed again)."""
        images = list(images)
        if not images:
            return []
        if clip_features is None:
            features = self.clip.encode_images(images)
        else:
            features = np.asarray(clip_features, dtype=np.float32)
            if features.shape != (len(images), self.clip.dim):
                raise ValueError(
                    f"clip_features has shape {features.shape}, expected"
                    f" {(len(images), self.clip.dim)}"
                )
            features = l2_normalize(features)
        return self.compose(self.captions(images), features)

    def compose(self, captions: Sequence[str], features: np.ndarray) -> list[str]:
        """Descriptions from captions and unit CLIP image embeddings ``(n, d)``."""
        tables = self.tables()
        if self.art:
            return self._compose_art(captions, features)
        scores = [features @ t.embeds.T for t in tables]
        out = []
        for i, caption in enumerate(captions):
            row = [s[i] for s in scores]
            fast = classic = ""
            if self.mode in ("fast", "best"):
                fast = self._fit(caption, self._fast_terms(tables, row))
            if self.mode in ("classic", "best"):
                classic = self._fit(caption, self._classic_terms(tables, row))
            if self.mode == "best":
                out.append(self._best(caption, features[i], tables, row, fast, classic))
            else:
                out.append(fast if self.mode == "fast" else classic)
        return out

    def _compose_art(self, captions: Sequence[str], features: np.ndarray) -> list[str]:
        """The package's ``interrogate_fast`` / ``interrogate_classic`` / ``interrogate``."""
        ci = self.interrogator
        out = []
        with _package_warnings_hushed():
            for caption, feature in zip(captions, features, strict=True):
                tensor = torch.from_numpy(np.ascontiguousarray(feature[None, :], np.float32))
                image = PreparedImage(caption, tensor.to(ci.device))
                if self.mode == "fast":
                    text = ci.interrogate_fast(image, self.max_flavors, caption=caption)
                elif self.mode == "classic":
                    text = ci.interrogate_classic(image, caption=caption)
                else:
                    text = ci.interrogate(
                        image, self.min_flavors, self.max_flavors, caption=caption
                    )
                out.append(text)
        return out

    def _fast_terms(self, tables: list[_Table], row: list[np.ndarray]) -> list[str]:
        return [
            t.labels[j]
            for t, s in zip(tables, row, strict=True)
            for j in _top(s, self.fast_terms_per_list)
        ]

    def _classic_terms(self, tables: list[_Table], row: list[np.ndarray]) -> list[str]:
        return [
            t.labels[j]
            for t, s in zip(tables, row, strict=True)
            for j in _top(s, 3 if t.name == "flavors" else 1)
        ]

    def _best(
        self,
        caption: str,
        feature: np.ndarray,
        tables: list[_Table],
        row: list[np.ndarray],
        fast: str,
        classic: str,
    ) -> str:
        ci = self.interrogator
        labels = [label for t in tables for label in t.labels]
        count = ci.config.flavor_intermediate_count
        flaves = list(dict.fromkeys(labels[j] for j in _top(np.concatenate(row), count)))
        image_features = torch.from_numpy(feature[None, :].astype(np.float32))
        candidates = [c for c in (caption, classic, fast) if c]
        max_count = min(self.max_flavors, len(flaves) - 1)
        if max_count > 0:
            best_sim = ci.similarity(image_features, caption) if caption else 0.0
            candidates.append(
                ci.chain(
                    image_features,
                    flaves,
                    best_prompt=caption,
                    best_sim=best_sim,
                    min_count=min(self.min_flavors, max_count),
                    max_count=max_count,
                    desc="Flavor chain",
                )
            )
        sims = ci.similarities(image_features, candidates)
        return candidates[int(np.argmax(sims))]

    def _fit(self, caption: str, terms: Sequence[str]) -> str:
        """``caption, term, ...`` with as many terms as fit CLIP's context (caption always)."""
        text = caption
        for term in terms:
            candidate = f"{text}, {term}" if text else term
            if not self.clip.fits_context(candidate):
                break
            text = candidate
        return text


def load_interrogator(
    clip: ClipEncoder,
    *,
    caption_model: str,
    vocabulary: str = "product",
    terms_dir: Path | None = None,
    mode: str = "fast",
    caption_max_length: int = 32,
    batch_size: int = 32,
    cache_dir: Path | None = None,
    cpu_precision: str = "auto",
) -> InterrogatorDescriber:
    """Load the BLIP caption model (hub id or ``save_pretrained`` folder) and build the
    describer around ``clip`` (shared, not copied). ``cpu_precision``: what caption generation
    computes in on the CPU (:func:`~qdrant_mm.encoders.devices.compute_dtype`)."""
    from transformers import BlipForConditionalGeneration

    vocab = resolve_vocabulary(vocabulary, terms_dir)
    net, processor, label = load_pretrained_blip(
        BlipForConditionalGeneration,
        caption_model,
        clip.device,
        setting=CAPTION_SETTING,
        what="BLIP caption model",
    )
    dtype = prepare_weights(net, clip.device, cpu_precision)
    return InterrogatorDescriber(
        clip,
        net,
        processor,
        caption_id=f"blip-caption:{label}",
        vocabulary=vocab,
        mode=mode,
        caption_max_length=caption_max_length,
        batch_size=batch_size,
        cache_dir=cache_dir,
        compute_dtype=dtype,
    )
