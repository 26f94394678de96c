"""Collection layout and the metadata stored with it (models, dims, schema version).

Each product is one point with four named vectors:

* ``blip``, ``clip``, ``interrogator``: the unit vectors of each channel (cosine);
* ``fused``: ``concat(blip, clip, interrogator)`` (dot product). A query
  ``concat(α·q_blip, β·q_clip, γ·q_interrogator)`` scores ``α·cos_b + β·cos_c + γ·cos_i`` on it,
  exactly, in one search: see ``docs/search.md``.

By default (``QDRANT_MM_QUANTIZATION=int8``; ``none`` turns it off) ``fused`` also gets an int8
scalar-quantized copy that HNSW searches use, rescoring their candidates with the float32
vectors. Quantization is a property of the collection, chosen when it is created and recorded in
its metadata (``CollectionMeta.quantization``): a later sync keeps the collection as it is;
``sync --rebuild`` creates a new one with the current setting.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field

from qdrant_mm.backends.base import QUANTIZATIONS, CollectionSpec, Quantization, VectorSpec
from qdrant_mm.errors import ConfigError, SchemaMismatchError
from qdrant_mm.weights import CHANNELS

SCHEMA_VERSION = 1
FUSED = "fused"
PAYLOAD_INDEXES = {
    "category": "keyword",
    "brand": "keyword",
    "price": "float",
    "product_id": "keyword",
}


def normalize_quantization(value: str | None) -> Quantization | None:
    """``None`` / ``"none"`` -> None; ``"int8"`` -> ``"int8"``; anything else is refused."""
    if value is None or value == "none":
        return None
    if value in QUANTIZATIONS:
        return value  # type: ignore[return-value]
    raise ConfigError(f"unknown quantization {value!r}: use " + ", ".join(("none", *QUANTIZATIONS)))


def collection_spec(dims: dict[str, int], quantization: str | None = None) -> CollectionSpec:
    """The collection layout; ``quantization`` (``"int8"``, or None / ``"none"``) applies to the
    ``fused`` vector only (the one the shipped plan searches)."""
    vectors = [VectorSpec(ch, dims[ch], "cosine") for ch in CHANNELS]
    vectors.append(
        VectorSpec(
            FUSED,
            sum(dims[ch] for ch in CHANNELS),
            "dot",
            quantization=normalize_quantization(quantization),
        )
    )
    return CollectionSpec(vectors=tuple(vectors), payload_indexes=dict(PAYLOAD_INDEXES))


class ChannelStats(BaseModel):
    """Score statistics of a channel, for z-score calibration: s' = (s - mean) / std."""

    mean: float
    std: float = Field(gt=0)


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
    quantization: Literal["int8"] | None = Field(
        None,
        description="Quantization of the fused vector, chosen when the collection was created"
        " (None: float32 only); search asks for rescoring when it is set",
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
