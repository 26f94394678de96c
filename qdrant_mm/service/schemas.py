"""The JSON shapes of the service: request bodies and responses (OpenAPI reads them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from qdrant_mm.profiles import Profile


class ErrorOut(BaseModel):
    error: str


class ChannelScores(BaseModel):
    """Cosine of each channel; null for a channel with weight 0 (not computed)."""

    blip: float | None
    clip: float | None
    interrogator: float | None


class WeightsOut(BaseModel):
    blip: float
    clip: float
    interrogator: float


class HitOut(BaseModel):
    id: str = Field(description="Product id")
    score: float = Field(description="Fused score α·s_blip + β·s_clip + γ·s_interrogator")
    scores: ChannelScores
    payload: dict[str, Any]
    image_url: str | None = Field(
        None,
        description="Where a browser can load the photo that matched (/images/... or its URL);"
        " null for a text-only product, or when the photo cannot be served",
    )
    matched_image: str | None = Field(
        None,
        description="Catalog reference of the product's photo that scored best (a product with"
        " several photos is scored by its best one); null for a text-only product",
    )
    text_only: bool = Field(
        False,
        description="The product has no photo: it was found by its title and description",
    )


class SearchResponse(BaseModel):
    hits: list[HitOut]
    weights: WeightsOut
    profile: str | None = Field(None, description="Profile the weights came from, if any")
    calibrated: bool
    limit: int
    offset: int
    took_ms: float
    calibration: dict[str, dict[str, float]] | None = Field(
        None,
        description="Calibrated searches: each channel's mean and std; a hit's score is then"
        " sum(w_c * (s_c - mean_c) / std_c) over its channel scores (raw cosines)",
    )
    why: str | None = Field(
        None,
        description="With no hits: why (nothing synced, a filter no product matches, a field"
        " no product has, an offset past the last result), as the command line says it",
    )


class SearchRequest(BaseModel):
    """JSON body of ``POST /search`` (multipart forms take the same fields plus ``image``)."""

    model_config = ConfigDict(extra="forbid")

    query: str | None = None
    limit: int = 10
    offset: int = 0
    weights: dict[str, float] | str | list[float] | None = Field(
        None, description='{"blip": .5, "clip": .3, "interrogator": .2} or "0.5,0.3,0.2"'
    )
    profile: str | None = None
    filter: str | list[str] | dict[str, Any] | None = Field(
        None,
        description='"category=shoes,price<=50", a list of conditions, or a Qdrant filter object',
    )
    calibrate: bool | None = None


class ProfileBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blip: float = 0.0
    clip: float = 0.0
    interrogator: float = 0.0
    calibrate: bool = False


class ProfileOut(BaseModel):
    name: str
    blip: float
    clip: float
    interrogator: float
    calibrate: bool
    updated_at: str


class ProductOut(BaseModel):
    id: str
    payload: dict[str, Any]
    image_url: str | None = Field(
        None, description="Where a browser can load the product's first photo; null if none"
    )
    image_urls: list[str] = Field(
        default_factory=list,
        description="Where a browser can load each of the product's photos, in catalog order"
        " (photos that cannot be served are left out; empty for a text-only product)",
    )


class InfoOut(BaseModel):
    collection: str
    backend: str
    channels: list[str]
    default_weights: WeightsOut
    default_profile: str | None
    profile_writes_enabled: bool
    image_max_bytes: int


def profile_out(p: Profile) -> ProfileOut:
    return ProfileOut(
        name=p.name, **p.weights.as_dict(), calibrate=p.calibrate, updated_at=p.updated_at
    )
