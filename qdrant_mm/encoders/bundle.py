"""The three channels' models held together: what sync embeds with and search queries with."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from qdrant_mm.encoders.base import Describer, Encoder, TextEncoder


def interrogator_document(title: str | None, generated: str, description: str | None) -> str:
    """Text embedded for the interrogator channel: title first (short, most telling), then the
    description generated from the image, then the catalog's own description. The text encoder
    truncates at its context length, so the catalog description is what gets cut."""
    return ". ".join(part for part in (title, generated, description) if part)


@dataclass
class ProductEmbeddings:
    """Vectors of a batch of products: one ``(n, dim)`` array per channel, plus descriptions."""

    vectors: dict[str, np.ndarray]
    descriptions: list[str]


@dataclass
class PhotoEmbeddings:
    """What the photo models give for a batch of photos: BLIP and CLIP image vectors
    (``(n, dim)``) and the interrogator's generated description of each photo. The
    interrogator vector also depends on the product's text, so it is made apart
    (:meth:`ModelBundle.embed_documents`) and a text edit re-runs no photo model."""

    blip: np.ndarray
    clip: np.ndarray
    generated: list[str]


@dataclass
class ModelBundle:
    """BLIP, CLIP, the interrogator's describer and the text encoder of its descriptions.

    ``interrogator_text`` is the CLIP encoder itself by default: descriptions then live in CLIP
    space, so an image query is compared with them using its CLIP image embedding.
    """

    blip: Encoder
    clip: Encoder
    describer: Describer
    interrogator_text: TextEncoder
    #: Model calls are serialised: torch runs its own intra-op threads (concurrent calls only
    #: oversubscribe the cores) and HF tokenizers raise "Already borrowed" when one tokenizer
    #: is used from several threads at once. Searches from many threads stay safe.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def interrogator_in_clip_space(self) -> bool:
        return self.interrogator_text is self.clip

    def model_ids(self) -> dict[str, str]:
        return {
            "blip": self.blip.model_id,
            "clip": self.clip.model_id,
            "interrogator": f"{self.describer.model_id}|text={self.interrogator_text.model_id}",
        }

    def dims(self) -> dict[str, int]:
        return {
            "blip": int(self.blip.dim),
            "clip": int(self.clip.dim),
            "interrogator": int(self.interrogator_text.dim),
        }

    def embed_products(
        self,
        images: Sequence[Image.Image],
        titles: Sequence[str | None] | None = None,
        descriptions: Sequence[str | None] | None = None,
    ) -> ProductEmbeddings:
        """Embed decoded product images with all three channels.

        Each image is decoded once and shared: CLIP image features are computed once and handed
        to the describer for term ranking instead of being recomputed there. The interrogator
        channel embeds :func:`interrogator_document` of the generated description and the
        product's own title and description.
        """
        with self.lock:
            return self._embed_products(list(images), titles, descriptions)

    def _embed_products(self, images, titles, descriptions) -> ProductEmbeddings:
        n = len(images)
        titles = list(titles) if titles is not None else [None] * n
        descriptions = list(descriptions) if descriptions is not None else [None] * n
        photos = self._embed_photos(images)
        documents = [
            interrogator_document(t, g, d)
            for t, g, d in zip(titles, photos.generated, descriptions, strict=True)
        ]
        interrogator = self.interrogator_text.encode_texts(documents)
        return ProductEmbeddings(
            vectors={"blip": photos.blip, "clip": photos.clip, "interrogator": interrogator},
            descriptions=documents,
        )

    def embed_photos(self, images: Sequence[Image.Image]) -> PhotoEmbeddings:
        """BLIP and CLIP image vectors and the generated description of decoded photos."""
        with self.lock:
            return self._embed_photos(list(images))

    def _embed_photos(self, images: list[Image.Image]) -> PhotoEmbeddings:
        blip = self.blip.encode_images(images)
        clip = self.clip.encode_images(images)
        generated = self.describer.describe(images, clip_features=clip)
        return PhotoEmbeddings(blip=blip, clip=clip, generated=list(generated))

    def embed_documents(self, documents: Sequence[str]) -> np.ndarray:
        """``(n, dim)`` interrogator-channel vectors of documents (see
        :func:`interrogator_document`)."""
        with self.lock:
            return self.interrogator_text.encode_texts(list(documents))

    def embed_text_products(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors of products without a photo, from their text alone (title and description):
        BLIP's and CLIP's text towers stand in for their image towers, and the interrogator
        channel embeds the text itself. One ``(n, dim)`` array per channel."""
        with self.lock:
            texts = list(texts)
            blip = self.blip.encode_texts(texts)
            clip = self.clip.encode_texts(texts)
            interrogator = (
                clip
                if self.interrogator_in_clip_space
                else self.interrogator_text.encode_texts(texts)
            )
            return {"blip": blip, "clip": clip, "interrogator": interrogator}

    def encode_query_text(self, text: str, channels: Sequence[str]) -> dict[str, np.ndarray]:
        """Embed a text query for the given channels only (a zero-weight channel costs nothing)."""
        with self.lock:
            return self._encode_query_text(text, channels)

    def _encode_query_text(self, text: str, channels: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if "blip" in channels:
            out["blip"] = self.blip.encode_texts([text])[0]
        if "clip" in channels:
            out["clip"] = self.clip.encode_texts([text])[0]
        if "interrogator" in channels:
            if self.interrogator_in_clip_space and "clip" in out:
                out["interrogator"] = out["clip"]
            else:
                out["interrogator"] = self.interrogator_text.encode_texts([text])[0]
        return out

    def encode_query_image(
        self, image: Image.Image, channels: Sequence[str]
    ) -> dict[str, np.ndarray]:
        """Embed an image query. The interrogator channel uses the CLIP image embedding (same
        space as the stored CLIP-text descriptions); with another text model the query image is
        described first and that description embedded."""
        with self.lock:
            return self._encode_query_image(image, channels)

    def _encode_query_image(
        self, image: Image.Image, channels: Sequence[str]
    ) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if "blip" in channels:
            out["blip"] = self.blip.encode_images([image])[0]
        need_clip = "clip" in channels or (
            "interrogator" in channels and self.interrogator_in_clip_space
        )
        clip_vec = self.clip.encode_images([image])[0] if need_clip else None
        if "clip" in channels:
            out["clip"] = clip_vec
        if "interrogator" in channels:
            if self.interrogator_in_clip_space:
                out["interrogator"] = clip_vec
            else:
                description = self.describer.describe([image])[0]
                out["interrogator"] = self.interrogator_text.encode_texts([description])[0]
        return out
