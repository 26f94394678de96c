"""Small deterministic stand-ins for the models, for tests of sync and search logic.

They embed an image from its pixels and a text from its bytes (different images give different
vectors; the same input always gives the same vector) and count their calls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from PIL import Image

from qdrant_mm.encoders.base import l2_normalize
from qdrant_mm.encoders.bundle import ModelBundle


def _seed(data: bytes, salt: str) -> int:
    return int.from_bytes(hashlib.sha256(salt.encode() + data).digest()[:8], "little")


class FakeEncoder:
    def __init__(self, name: str, dim: int) -> None:
        self.model_id = f"fake:{name}:{dim}"
        self.dim = dim
        self.image_calls = 0
        self.text_calls = 0
        self.images_seen = 0

    def _vec(self, data: bytes) -> np.ndarray:
        return np.random.default_rng(_seed(data, self.model_id)).standard_normal(self.dim)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        self.image_calls += 1
        self.images_seen += len(images)
        rows = [self._vec(img.convert("RGB").resize((8, 8)).tobytes()) for img in images]
        return l2_normalize(np.array(rows).reshape(len(images), self.dim))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.text_calls += 1
        rows = [self._vec(t.encode()) for t in texts]
        return l2_normalize(np.array(rows).reshape(len(texts), self.dim))


class FakeDescriber:
    model_id = "fake-describer"

    def __init__(self) -> None:
        self.calls = 0

    def describe(self, images, clip_features=None) -> list[str]:
        self.calls += 1
        return [f"a photo with mean colour {np.asarray(img).mean():.1f}" for img in images]


def fake_bundle(dims: tuple[int, int, int] = (16, 24, 24)) -> ModelBundle:
    clip = FakeEncoder("clip", dims[1])
    text = clip if dims[2] == dims[1] else FakeEncoder("text", dims[2])
    return ModelBundle(
        blip=FakeEncoder("blip", dims[0]),
        clip=clip,
        describer=FakeDescriber(),
        interrogator_text=text,
    )


def total_model_calls(bundle: ModelBundle) -> int:
    encs = {id(e): e for e in (bundle.blip, bundle.clip, bundle.interrogator_text)}.values()
    return sum(e.image_calls + e.text_calls for e in encs) + bundle.describer.calls
