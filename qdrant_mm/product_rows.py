"""Turning a product's photos, or its text, into the rows of its ``fused`` vector.

A product with photos gets one row per photo, in catalog order: ``concat(blip, clip,
interrogator)`` of that photo (the interrogator block embeds the product's title, the photo's
generated description and the product's description). A product without a photo gets one row
from its text: BLIP's and CLIP's text towers stand in for their image towers and the
interrogator block embeds the text itself.

Incremental: a row whose photo bytes (SHA-256) are stored already is reused, so adding,
removing or reordering one photo runs the photo models on the new photo only; the
interrogator block of a reused row is computed again only when its text changed (a title edit
runs the text model, never a photo model). What each stored row came from is kept in the
payload (:data:`ROW_FIELDS`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qdrant_mm.catalog import Product
from qdrant_mm.encoders.bundle import ModelBundle, interrogator_document
from qdrant_mm.errors import ImageLoadError
from qdrant_mm.fusion import fuse_document, split
from qdrant_mm.images import ImageLimits, decode_image
from qdrant_mm.schema import FROM_PHOTOS, FROM_TEXT, VECTORS_FROM

#: Payload fields describing the stored rows, one entry per row (in row order):
#: the photo's catalog reference, its SHA-256, its generated description and the text its
#: interrogator block embeds; and ``vectors_from``: ``"photos"``, or ``"text"`` for a product
#: stored from its text.
ROW_FIELDS = (
    "image_refs",
    "image_hashes",
    "image_descriptions",
    "interrogator_text",
    VECTORS_FROM,
)


@dataclass
class Photo:
    """One photo of a product: its catalog reference, where it was read from, its bytes."""

    ref: str
    source: str
    data: bytes
    digest: str = ""

    def __post_init__(self) -> None:
        self.digest = self.digest or hashlib.sha256(self.data).hexdigest()


@dataclass
class RowsWork:
    """A product to (re-)embed: its photos (empty: stored from its text), and what was stored
    for it before (payload and ``fused`` rows; None for a new product)."""

    product: Product
    photos: list[Photo]
    stored_payload: dict[str, Any] | None = None
    stored_rows: np.ndarray | None = None
    #: Photos that could not be decoded and were left out (the broken-photo setting allows it).
    dropped: list[str] = field(default_factory=list)

    @property
    def text_only(self) -> bool:
        return not self.photos


@dataclass
class ProductRows:
    """The ``(rows, Σdim)`` fused rows of one product, the row fields of its payload, and how
    many photos the photo models ran on."""

    rows: np.ndarray
    payload: dict[str, Any]
    photos_embedded: int


def product_text(product: Product) -> str:
    """What a product without a photo is embedded from: its title and description."""
    return ". ".join(p for p in (product.title, product.description) if p)


def content_hash(product: Product, digests: Sequence[str], model_ids: dict[str, str]) -> str:
    """Hash of everything the models see: each photo's bytes (in order), title and
    description, model ids. When it changes the product's rows are made again (reusing those
    whose photo is unchanged). A product with one photo hashes as it always did."""
    h = hashlib.sha256()
    h.update("\n".join(digests).encode() if digests else b"text-only")
    h.update(product.model_text().encode())
    h.update(json.dumps(model_ids, sort_keys=True).encode())
    return h.hexdigest()


class RowBuilder:
    """Makes :class:`ProductRows` for a batch of :class:`RowsWork` with ``models``."""

    def __init__(self, models: ModelBundle, dims: dict[str, int], limits: ImageLimits) -> None:
        self.models = models
        self.dims = dims
        self.limits = limits

    def decode(self, work: RowsWork, drop_broken: bool) -> list[tuple[Photo, Any]]:
        """The photos of ``work`` that need the photo models (bytes not stored yet), decoded.
        A photo that fails to decode raises :class:`~qdrant_mm.errors.ImageLoadError`, or is
        left out (``work.dropped``) when ``drop_broken``."""
        reusable = _stored_by_digest(work, self.dims)
        out = []
        for photo in work.photos:
            if photo.digest in reusable:  # sync lists each file once
                continue
            try:
                out.append((photo, decode_image(photo.data, self.limits, photo.source)))
            except ImageLoadError:
                if not drop_broken:
                    raise
                work.dropped.append(photo.ref)
        if work.dropped:
            work.photos = [p for p in work.photos if p.ref not in work.dropped]
        return out

    def build(
        self, works: Sequence[RowsWork], decoded: Sequence[Sequence[tuple[Photo, Any]]]
    ) -> list[ProductRows]:
        """Rows of every product in ``works`` (``decoded``: :meth:`decode` of each). Model
        calls are batched over the whole batch; raises if a model fails or gives bad vectors."""
        images = [img for per in decoded for _, img in per]
        fresh: dict[str, tuple[np.ndarray, np.ndarray, str]] = {}
        if images:
            emb = self.models.embed_photos(images)
            _check(emb.blip, len(images), "blip")
            _check(emb.clip, len(images), "clip")
            digests = [p.digest for per in decoded for p, _ in per]
            for i, digest in enumerate(digests):
                fresh[digest] = (emb.blip[i], emb.clip[i], emb.generated[i])
        text_works = [w for w in works if w.text_only]
        text_vectors: dict[int, dict[str, np.ndarray]] = {}
        if text_works:
            vecs = self.models.embed_text_products([product_text(w.product) for w in text_works])
            for ch, v in vecs.items():
                _check(v, len(text_works), ch)
            for i, w in enumerate(text_works):
                text_vectors[id(w)] = {ch: v[i] for ch, v in vecs.items()}
        # Per photo row: blip, clip, generated, the document and a reusable interrogator block.
        plans: list[list[list[Any]]] = []
        to_encode: list[str] = []
        for w in works:
            reusable = _stored_by_digest(w, self.dims)
            rows = []
            for photo in w.photos:
                if photo.digest in fresh:
                    blip, clip, generated = fresh[photo.digest]
                    old_doc, old_block = None, None
                else:
                    blip, clip, generated, old_doc, old_block = reusable[photo.digest]
                doc = interrogator_document(w.product.title, generated, w.product.description)
                block = old_block if doc == old_doc else None
                if block is None:
                    to_encode.append(doc)
                rows.append([photo, blip, clip, generated, doc, block])
            plans.append(rows)
        encoded = self.models.embed_documents(to_encode) if to_encode else None
        if encoded is not None:
            _check(encoded, len(to_encode), "interrogator")
        out, e = [], 0
        for w, rows, per in zip(works, plans, decoded, strict=True):
            if w.text_only:
                v = text_vectors[id(w)]
                fused = fuse_document({ch: v[ch][None, :] for ch in v})
                text = product_text(w.product)
                payload = _row_payload([], [], [], [text], text_only=True)
                out.append(ProductRows(fused, payload, 0))
                continue
            for row in rows:
                if row[5] is None:
                    row[5] = encoded[e]
                    e += 1
            fused = fuse_document(
                {
                    "blip": np.stack([r[1] for r in rows]),
                    "clip": np.stack([r[2] for r in rows]),
                    "interrogator": np.stack([r[5] for r in rows]),
                }
            )
            payload = _row_payload(
                [r[0].ref for r in rows],
                [r[0].digest for r in rows],
                [r[3] for r in rows],
                [r[4] for r in rows],
                text_only=False,
            )
            out.append(ProductRows(fused, payload, len(per)))
        return out


def _row_payload(refs, digests, generated, documents, *, text_only: bool) -> dict[str, Any]:
    return {
        "image_refs": refs,
        "image_hashes": digests,
        "image_descriptions": generated,
        "interrogator_text": documents,
        VECTORS_FROM: FROM_TEXT if text_only else FROM_PHOTOS,
    }


def _stored_by_digest(
    work: RowsWork, dims: dict[str, int]
) -> dict[str, tuple[Any, Any, str, str | None, Any]]:
    """digest -> (blip, clip, generated description, document, interrogator block) of the rows
    stored for ``work`` that can be reused (those whose photo, description and row are known;
    rows stored before photo lists existed carry no hashes and are made again)."""
    pl, rows = work.stored_payload, work.stored_rows
    if pl is None or rows is None or pl.get(VECTORS_FROM) == FROM_TEXT:
        return {}
    digests = pl.get("image_hashes")
    generated = pl.get("image_descriptions")
    docs = pl.get("interrogator_text")
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float32))
    if not (
        isinstance(digests, list)
        and isinstance(generated, list)
        and isinstance(docs, list)
        and len(digests) == len(generated) == len(docs) == len(rows)
    ):
        return {}
    out = {}
    for d, g, doc, row in zip(digests, generated, docs, rows, strict=True):
        blocks = split(row, dims)
        out[d] = (blocks["blip"], blocks["clip"], g, doc, blocks["interrogator"])
    return out


def _check(v: np.ndarray, n: int, channel: str) -> None:
    if v.shape[0] != n or not np.isfinite(v).all():
        raise ValueError(f"{channel} encoder returned bad vectors (shape {v.shape})")
