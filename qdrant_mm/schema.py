"""Collection layout and the metadata stored with it (models, dims, schema version, layout).

Each product is one point whose named vector ``fused`` is ``concat(blip, clip, interrogator)``
of the channels' unit vectors (dot product). A query ``concat(α·q_blip, β·q_clip,
γ·q_interrogator)`` scores ``α·cos_b + β·cos_c + γ·cos_i`` on it, exactly, in one search (see
``docs/search.md``); a query with one unit channel block and zeros elsewhere scores that
channel's cosine, exactly, so one-channel searches and per-channel scores need nothing else.

Three layouts exist, recorded in the metadata (``CollectionMeta.layout``):

* :data:`LAYOUT_PHOTOS` (3, what a first sync or ``sync --rebuild`` creates when a product of
  the catalog has several photos): as :data:`LAYOUT_FUSED`, but ``fused`` is a multivector
  with one row per product photo (one row from the product's text for a product without a
  photo). A query vector scores a point by its best row (Qdrant's ``MAX_SIM``), so a
  product's score is the maximum over its photos of the weighted score, exactly, and results
  stay one per product (``docs/search.md``; the layout was chosen by measurement,
  ``docs/benchmarks.md``).
* :data:`LAYOUT_FUSED` (2, what a first sync or ``sync --rebuild`` creates when every product
  has at most one photo: a plain vector builds 1.6x faster and searches 1.8x faster than a
  multivector of one row, ``docs/benchmarks.md``): ``fused`` only,
  with one HNSW graph (:data:`FUSED_HNSW`) and payload links for no field: filtered searches
  scan small filtered sets exactly and walk the graph with ACORN otherwise. One graph instead
  of four is what makes a million products indexable on a small machine
  (``docs/benchmarks.md``).
* :data:`LAYOUT_CHANNELS` (1, collections created before it): also ``blip``, ``clip``,
  ``interrogator`` as cosine vectors, each with its own graph, and payload links on every
  indexed field. They keep working: the search plan uses what the collection has.

By default (``QDRANT_MM_QUANTIZATION=auto``, :data:`AUTO_QUANTIZATION`; ``none`` turns it off)
``fused`` also gets a quantized copy (TurboQuant 2 bits, or int8) that HNSW searches walk,
rescoring their candidates with the originals (float32, or float16 when chosen:
:data:`DATATYPE_SETTINGS`). Quantization is a property of the
collection, chosen when it is created and recorded in its metadata
(``CollectionMeta.quantization``): a later sync keeps the collection as it is; ``sync
--rebuild`` creates a new one with the current setting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field

from qdrant_mm.backends.base import (
    DATATYPES,
    QUANTIZATIONS,
    CollectionSpec,
    Datatype,
    HnswSpec,
    Quantization,
    VectorSpec,
)
from qdrant_mm.errors import ConfigError, SchemaMismatchError
from qdrant_mm.weights import CHANNELS

SCHEMA_VERSION = 1
#: Layouts (``CollectionMeta.layout``): four graphs (the first), ``fused`` alone, and ``fused``
#: as a multivector with one row per photo.
LAYOUT_CHANNELS = 1
LAYOUT_FUSED = 2
LAYOUT_PHOTOS = 3
LAYOUT = LAYOUT_FUSED
FUSED = "fused"
#: The graph of ``fused`` in the current layout: twice Qdrant's m (32 links per node: at 100k
#: products it lifts recall@10 at hnsw_ef 256 from 0.967 to 0.993 for 1.5x the build time, see
#: docs/benchmarks.md), Qdrant's ef_construct, no payload links (``payload_m=0``), and an exact
#: scan of a filtered set smaller than ``full_scan_threshold_kb`` of float32 vectors (20 000
#: products of 1280 dims).
FUSED_HNSW = HnswSpec(m=32, ef_construct=100, payload_m=0, full_scan_threshold_kb=100_000)
#: ``QDRANT_MM_VECTOR_DATATYPE``: how a new collection stores the originals of ``fused`` (those
#: that rescore candidates and give every score): float32 (the default), float16 (half the
#: disk, page cache and resident memory; a score moves by ~1e-5, at most ~1e-4 on one channel,
#: finer than the bf16 the encoders run in), or ``auto`` (:func:`resolve_datatype`): float16 for
#: a plain ``fused`` vector when the collection starts with more products than are searched
#: exactly (``QDRANT_MM_EXACT_BELOW``), where searches are HNSW searches anyway, float32 below
#: (searches and the tuning page's metrics exact to the last bit) and for one row per photo.
#: Measured at 1M products (docs/benchmarks.md): float16 took the build's VmHWM from 21.2 to
#: 12.3 GiB, but left the ``blip``-only weighting at recall@10 0.988 at the default ef, so it is
#: not the default.
DATATYPE_SETTINGS = ("auto", *DATATYPES)


PAYLOAD_INDEXES = {
    "category": "keyword",
    "brand": "keyword",
    "price": "float",
    "product_id": "keyword",
}
#: Payload field saying what a product's vectors come from: ``"photos"``, or ``"text"`` for a
#: product stored from its title and description (no photo). The search ranks the two kinds
#: apart, text-only products on the photo products' scale, and merges (``docs/search.md``).
VECTORS_FROM = "vectors_from"
FROM_PHOTOS, FROM_TEXT = "photos", "text"


def layout_for(photo_counts: Iterable[int]) -> int:
    """The layout a new collection gets for products with these photo counts: one row per
    photo when a product has several, a plain ``fused`` vector otherwise."""
    return LAYOUT_PHOTOS if any(n > 1 for n in photo_counts) else LAYOUT_FUSED


#: ``QDRANT_MM_QUANTIZATION=auto``: the first of these the engine can create, by layout. A
#: plain ``fused`` vector walks turbo2 (measured at 100k and 1M products, docs/benchmarks.md;
#: int8 on a Qdrant server before 1.18); one row per photo keeps int8, the kind its recall was
#: measured with (turbo2 on photo rows, measured at 100k products x 4 photos, leaves the ``blip``
#: corner at recall@10 0.988 at ef 1024 and builds 2.5-3.3x longer: docs/benchmarks.md).
AUTO_QUANTIZATION: dict[int, tuple[Quantization, ...]] = {
    LAYOUT_CHANNELS: ("int8",),
    LAYOUT_FUSED: ("turbo2", "int8"),
    LAYOUT_PHOTOS: ("int8",),
}


def normalize_quantization(value: str | None) -> Quantization | None:
    """``None`` / ``"none"`` -> None; a kind of :data:`QUANTIZATIONS` -> itself; anything else
    is refused (``"auto"`` is resolved first, by :func:`resolve_quantization`)."""
    if value is None or value == "none":
        return None
    if value in QUANTIZATIONS:
        return value  # type: ignore[return-value]
    raise ConfigError(
        f"unknown quantization {value!r}: use " + ", ".join(("auto", "none", *QUANTIZATIONS))
    )


def resolve_quantization(
    value: str | None, available: Iterable[str], layout: int = LAYOUT
) -> Quantization | None:
    """The kind a new collection of ``layout`` gets for the setting ``value``: ``"auto"`` is
    the first of :data:`AUTO_QUANTIZATION` in ``available`` (what the engine can create);
    anything else as :func:`normalize_quantization` says."""
    if value != "auto":
        return normalize_quantization(value)
    kinds = set(available)
    return next((k for k in AUTO_QUANTIZATION[layout] if k in kinds), None)


def collection_spec(
    dims: dict[str, int],
    quantization: str | None = None,
    layout: int = LAYOUT,
    fused_hnsw: HnswSpec | None = None,
    datatype: str = "float32",
) -> CollectionSpec:
    """The collection layout; ``quantization`` (a kind of ``QUANTIZATIONS``, or None /
    ``"none"``) and ``datatype`` (of ``DATATYPES``) apply to the ``fused`` vector only (the one
    the shipped plan searches). ``fused_hnsw`` replaces :data:`FUSED_HNSW` in
    :data:`LAYOUT_FUSED` (benchmarks; None: :func:`fused_hnsw_for` the datatype)."""
    quant = normalize_quantization(quantization)
    if datatype not in DATATYPES:
        raise ConfigError(f"unknown vector datatype {datatype!r}: use " + ", ".join(DATATYPES))
    size = sum(dims[ch] for ch in CHANNELS)
    if layout == LAYOUT_CHANNELS:
        vectors = [VectorSpec(ch, dims[ch], "cosine") for ch in CHANNELS]
        vectors.append(VectorSpec(FUSED, size, "dot", quantization=quant, datatype=datatype))  # type: ignore[arg-type]
        return CollectionSpec(vectors=tuple(vectors), payload_indexes=dict(PAYLOAD_INDEXES))
    if layout not in (LAYOUT_FUSED, LAYOUT_PHOTOS):
        raise ConfigError(f"unknown collection layout {layout!r}")
    hnsw = fused_hnsw or fused_hnsw_for(datatype)
    fused = VectorSpec(
        FUSED,
        size,
        "dot",
        quantization=quant,
        hnsw=hnsw,
        multivector=layout == LAYOUT_PHOTOS,
        datatype=datatype,  # type: ignore[arg-type]
    )
    indexes: dict[str, Any] = {**PAYLOAD_INDEXES, VECTORS_FROM: "keyword"}
    return CollectionSpec(vectors=(fused,), payload_indexes=indexes, payload_graph=frozenset())


def resolve_datatype(value: str, layout: int, products: int, exact_below: int) -> Datatype:
    """The datatype a new collection of ``layout`` starting with ``products`` products gets
    for the setting ``value`` (:data:`DATATYPE_SETTINGS`)."""
    if value == "auto":
        return "float16" if layout == LAYOUT_FUSED and products > exact_below else "float32"
    if value not in DATATYPES:
        raise ConfigError(f"unknown vector datatype {value!r}: use " + ", ".join(DATATYPE_SETTINGS))
    return value  # type: ignore[return-value]


def fused_hnsw_for(datatype: str) -> HnswSpec:
    """:data:`FUSED_HNSW` for originals stored as ``datatype``: its exact-scan threshold counts
    KB of stored vectors, so float16 halves it (it stays 20,000 products of 1280 dims)."""
    if datatype == "float16" and FUSED_HNSW.full_scan_threshold_kb:
        return replace(FUSED_HNSW, full_scan_threshold_kb=FUSED_HNSW.full_scan_threshold_kb // 2)
    return FUSED_HNSW


def vector_names(layout: int) -> tuple[str, ...]:
    """The named vectors a point of a collection with ``layout`` has."""
    return (*CHANNELS, FUSED) if layout == LAYOUT_CHANNELS else (FUSED,)


class ChannelStats(BaseModel):
    """Score statistics of a channel, for z-score calibration: s' = (s - mean) / std."""

    mean: float
    std: float = Field(gt=0)


QueryKind = Literal["text", "image"]
SourceKind = Literal["image", "text"]


class SourceStats(BaseModel):
    """Score statistics per kind of query, kind of stored source and channel
    (``stats[query_kind][source_kind][channel]``): how a text query (or a photo) scores against
    products stored from photos and against products stored from their text. Text against text
    runs higher than text against photos, so a text-only product's channel score ``s`` is put on
    the photo products' scale, ``mean_image + std_image·(s - mean_text)/std_text``, before the
    weights apply (``docs/search.md``)."""

    stats: dict[QueryKind, dict[SourceKind, dict[str, ChannelStats]]]

    def text_to_image_scale(self, query_kind: str, channel: str) -> tuple[float, float]:
        """``(a, b)``: a text-only product's channel score ``s`` on the photo scale is
        ``a·s + b`` (the search then caps it at 1, what a photo identical to the query
        scores)."""
        image = self.stats[query_kind]["image"][channel]  # type: ignore[index]
        text = self.stats[query_kind]["text"][channel]  # type: ignore[index]
        a = image.std / text.std
        return a, image.mean - a * text.mean


class CollectionMeta(BaseModel):
    schema_version: int = SCHEMA_VERSION
    model_ids: dict[str, str]
    dims: dict[str, int]
    created_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    calibration: dict[str, ChannelStats] | None = None
    points: int | None = Field(None, description="Points after the last sync (plan choice)")
    calibration_stale: bool = Field(
        False,
        description="Set before a sync first changes vectors, cleared when the calibration is"
        " computed again: a sync killed in between leaves it set, so the next one recomputes",
    )
    writing: bool = Field(
        False,
        description="Set before a sync first changes vectors, cleared when it records its"
        " counts (and statistics) at its end: while set (a sync running, or one killed), search"
        " counts the products itself and leaves text-only products without statistics out of"
        " text queries",
    )
    quantization: Quantization | None = Field(
        None,
        description="Quantization of the fused vector, chosen when the collection was created"
        " (None: float32 only); search asks for rescoring when it is set",
    )
    datatype: Datatype = Field(
        "float32",
        description="How the originals of fused are stored, chosen when the collection was"
        " created (QDRANT_MM_VECTOR_DATATYPE); collections created before the field have"
        " float32",
    )
    layout: Literal[1, 2, 3] = Field(
        LAYOUT_CHANNELS,
        description="Which named vectors and graphs the collection has (LAYOUT_CHANNELS: four"
        " graphs, what collections created before the field have; LAYOUT_FUSED: fused alone;"
        " LAYOUT_PHOTOS: fused with one row per photo)",
    )
    text_only: int = Field(
        0, description="Stored products whose vectors come from their text (no photo)"
    )
    max_photos: int = Field(
        1,
        description="The most photos (rows) a product of the collection has had: above 1, HNSW"
        " searches use a wider ef (a graph over several rows per point needs it)",
    )
    source_stats: SourceStats | None = Field(
        None,
        description="Score statistics per query kind and source kind (photo or text), computed"
        " by sync when products of both kinds are stored: how text-only products are ranked"
        " among the others",
    )

    def differences(self, model_ids: dict[str, str], dims: dict[str, int]) -> list[str]:
        diffs = []
        if self.schema_version != SCHEMA_VERSION:
            diffs.append(
                f"schema version {self.schema_version} (this qdrant-mm uses {SCHEMA_VERSION})"
            )
        for ch in CHANNELS:
            if self.dims.get(ch) != dims.get(ch):
                diffs.append(f"{ch} dimension {self.dims.get(ch)} (models now give {dims.get(ch)})")
            if self.model_ids.get(ch) != model_ids.get(ch):
                diffs.append(f"{ch} model {self.model_ids.get(ch)!r} (now {model_ids.get(ch)!r})")
        return diffs


def meta_key(physical_collection: str) -> str:
    return f"collection:{physical_collection}"


def check_compatible(
    collection: str, stored: CollectionMeta | None, model_ids: dict[str, str], dims: dict[str, int]
) -> None:
    """Refuse a collection built with other models, dims or schema, saying what differs."""
    rebuild = (
        f"rebuild it with the current models: `qdrant-mm sync CATALOG --collection {collection}"
        " --rebuild`, or point QDRANT_MM_COLLECTION at another collection"
    )
    if stored is None:
        raise SchemaMismatchError(
            f"collection {collection!r} exists but was not created by qdrant-mm (no schema"
            f" metadata); {rebuild}"
        )
    diffs = stored.differences(model_ids, dims)
    if diffs:
        raise SchemaMismatchError(
            f"collection {collection!r} was built with different models: "
            + "; ".join(diffs)
            + f". Refusing to mix vectors; {rebuild}"
        )


def load_meta(raw: dict[str, Any] | None) -> CollectionMeta | None:
    return CollectionMeta.model_validate(raw) if raw is not None else None
