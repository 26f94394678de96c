"""The shape every encoder has, and helpers they share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image


@runtime_checkable
class Encoder(Protocol):
    """Embeds images and texts into one space.

    ``encode_images`` / ``encode_texts`` return ``(n, dim)`` float32 arrays whose rows have unit
    L2 norm. ``model_id`` identifies the weights (stored with the collection and checked).
    """

    model_id: str
    dim: int

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class TextEncoder(Protocol):
    """Embeds texts only (e.g. a sentence-transformers model for the interrogator channel)."""

    model_id: str
    dim: int

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class Describer(Protocol):
    """Turns images into detailed text descriptions (caption + ranked terms)."""

    model_id: str

    def describe(
        self, images: Sequence[Image.Image], clip_features: np.ndarray | None = None
    ) -> list[str]: ...


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise L2 normalisation in float32 (a zero row stays zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, eps)).astype(np.float32, copy=False)
