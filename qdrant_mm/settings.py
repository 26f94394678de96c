"""Runtime settings, read from ``QDRANT_MM_*`` environment variables (or a ``.env`` file).

A bad value fails at start-up with a :class:`~qdrant_mm.errors.ConfigError` that names the
environment variable and the value it got, one line per problem, e.g.
``QDRANT_MM_DEVICE: Input should be 'auto', 'cpu' or 'cuda' (got 'gpu')``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qdrant_mm import defaults
from qdrant_mm.errors import ConfigError, WeightsError

# CHANNELS lives in qdrant_mm.weights; the name stays readable here for the code that still
# imports it from settings (no cycle: weights imports nothing from settings).
from qdrant_mm.weights import CHANNELS as CHANNELS
from qdrant_mm.weights import Weights, parse_weights

ENV_PREFIX = "QDRANT_MM_"


class Settings(BaseSettings):
    """All settings of qdrant-mm. Every field maps to ``QDRANT_MM_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", validate_default=True
    )

    # --- storage -----------------------------------------------------------------------------
    backend: Literal["auto", "server", "edge", "local"] = Field(
        "auto",
        description=(
            "auto: server when QDRANT_MM_QDRANT_URL is set, else Edge; or server|edge|local."
        ),
    )
    qdrant_url: str | None = Field(None, description="Qdrant server/cluster URL; unset = embedded")
    qdrant_path: Path = Field(Path("./qdrant_data"), description="Embedded storage folder")
    qdrant_api_key: str | None = Field(None, description="API key of the Qdrant server")
    qdrant_timeout: float = Field(30.0, gt=0, description="Seconds per Qdrant request")
    collection: str = Field(
        defaults.COLLECTION, min_length=1, description="Collection (alias) name"
    )

    # --- models ------------------------------------------------------------------------------
    device: Literal["auto", "cpu", "cuda"] = "auto"
    cpu_precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="What BLIP and CLIP compute in on the CPU: bf16 (autocast, matrix weights"
        " stored in bf16) or fp32; auto = bf16 where the CPU has native bf16 (AMX /"
        " AVX512-BF16). CUDA always uses fp16",
    )
    clip_model: str = Field("ViT-B-32", min_length=1)
    clip_pretrained: str = Field("openai", description="open_clip tag or local checkpoint file")
    blip_model: str = Field("Salesforce/blip-itm-base-coco", min_length=1)
    caption_model: str = Field("Salesforce/blip-image-captioning-base", min_length=1)
    interrogator_terms: Path | None = Field(
        None, description="Folder of term lists (*.txt); default: the product lists shipped"
    )
    interrogator_vocabulary: Literal["product", "art"] = "product"
    interrogator_mode: Literal["fast", "classic", "best"] = "fast"
    interrogator_text_model: str = Field(
        "clip",
        description="'clip' (CLIP text tower) or a sentence-transformers model name/path",
    )
    caption_max_length: int = Field(32, ge=4, le=256)

    # --- batching ----------------------------------------------------------------------------
    batch_size: int = Field(
        defaults.BATCH_SIZE,
        ge=1,
        le=4096,
        description="Products per model batch (8 measured best on CPU)",
    )

    # --- sync ------------------------------------------------------------------------------
    max_delete_fraction: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Largest share of the stored products one sync may delete (0..1; 1 allows"
        " any): a sync that would delete more deletes nothing, and `sync --rebuild` does not"
        " switch to a collection holding that much less than the one it replaces",
    )

    missing_image: Literal["text", "skip"] = Field(
        "text",
        description="A product without a photo: text = stored from its title and description"
        " (BLIP's and CLIP's text towers stand in for the image towers; hits say text_only);"
        " skip = not stored (the sync report lists it)",
    )
    broken_image: Literal["keep", "text"] = Field(
        "keep",
        description="A product whose photo cannot be read or decoded: keep = the product fails"
        " and its stored version stays as it is; text = stored with the photos that could be"
        " read, from its text when none could (the sync report lists it)",
    )

    # --- search ------------------------------------------------------------------------------
    weights: str = Field(defaults.WEIGHTS, description="Default α,β,γ for blip,clip,interrogator")
    search_plan: Literal["fused", "union"] = Field(
        defaults.SEARCH_PLAN,
        description="fused: one search on the fused vector; union: + per-channel net",
    )
    hnsw_ef: int = Field(
        defaults.HNSW_EF,
        ge=1,
        le=100_000,
        description="HNSW search breadth (ef) up to 100,000 points; larger collections scale it"
        " (QDRANT_MM_HNSW_EF_GROWTH)",
    )
    hnsw_ef_growth: float = Field(
        defaults.HNSW_EF_GROWTH,
        ge=0.0,
        le=2.0,
        description="Above 100,000 points the ef is QDRANT_MM_HNSW_EF x (points / 100,000) to"
        " this power (0.6: 256 at 100k, ~1,020 at 1M, what recall@10 >= 0.99 took on Edge);"
        " 0 keeps QDRANT_MM_HNSW_EF at every size",
    )
    exact_below: int = Field(
        defaults.EXACT_BELOW,
        ge=0,
        description="Collections up to this many points are searched exactly",
    )
    quantization: Literal["auto", "none", "int8", "turbo4", "turbo2"] = Field(
        "auto",
        description="The quantized copy of the fused vector that HNSW searches walk, rescored"
        " with the float32 vectors (scores stay exact): turbo2 (TurboQuant, 2 bits per"
        " dimension), turbo4, int8 (scalar); auto: turbo2, or int8 for collections of one row"
        " per photo and on a Qdrant server before 1.18; none: float32 only. Applies when a"
        " collection is created (first sync or sync --rebuild)",
    )
    vector_datatype: Literal["auto", "float32", "float16"] = Field(
        defaults.VECTOR_DATATYPE,
        description="How a new collection stores the vectors searches rescore with and every"
        " score comes from: float32, or float16 (half the bytes and memory; a score moves by"
        " ~1e-5; at 1M products the blip-only weighting's recall@10 fell to 0.988 at the"
        " default ef); auto: float16 for one vector per product when the first sync (or sync"
        " --rebuild) stores more than QDRANT_MM_EXACT_BELOW products, float32 otherwise."
        " Applies when a collection is created",
    )
    oversampling: float | None = Field(
        None,
        ge=1.0,
        le=100.0,
        description="Quantized collections: candidates fetched per result before rescoring"
        " (unset: by the collection's quantization, int8 2, turbo4 4, turbo2 8 and 16 for a"
        " one-channel weighting)",
    )

    # --- images ------------------------------------------------------------------------------
    image_max_bytes: int = Field(defaults.IMAGE_MAX_BYTES, ge=1024)
    image_max_pixels: int = Field(defaults.IMAGE_MAX_PIXELS, ge=64)
    image_timeout: float = Field(defaults.IMAGE_TIMEOUT, gt=0)
    image_downloads: int = Field(
        defaults.IMAGE_DOWNLOADS,
        ge=1,
        le=defaults.MAX_IMAGE_DOWNLOADS,
        description="Photo URLs a sync downloads at a time, ahead of the product it checks",
    )

    # --- service -----------------------------------------------------------------------------
    api_key: str | None = Field(None, description="Key needed to change weight profiles")
    image_root: Path | None = Field(None, description="Folder served at /images")

    @field_validator("weights")
    @classmethod
    def _check_weights(cls, value: str) -> str:
        try:
            Weights.from_mapping(parse_weights(value))
        except WeightsError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("qdrant_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("image_timeout", "qdrant_timeout", "oversampling", "max_delete_fraction")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    def default_weights(self) -> Weights:
        return Weights.from_mapping(parse_weights(self.weights))

    def resolved_backend(self) -> Literal["server", "edge", "local"]:
        if self.backend == "auto":
            return "server" if self.qdrant_url else "edge"
        if self.backend == "server" and not self.qdrant_url:
            raise ConfigError(f"{ENV_PREFIX}BACKEND=server needs {ENV_PREFIX}QDRANT_URL to be set")
        return self.backend


def load_settings(**overrides) -> Settings:
    """Build :class:`Settings` from the environment, turning validation errors into one
    :class:`ConfigError` whose message names each offending environment variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "?"
            name = f"{ENV_PREFIX}{field.upper()}"
            got = err.get("input")
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {msg} (got {got!r})")
        raise ConfigError("invalid settings:\n  " + "\n  ".join(problems)) from None
