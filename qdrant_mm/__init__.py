"""qdrant-mm: multimodal product search on Qdrant.

BLIP, CLIP and CLIP Interrogator embeddings of each product, stored as Qdrant named vectors and
ranked by ``α·s_blip + β·s_clip + γ·s_interrogator`` with weights chosen per query.

    from qdrant_mm import QdrantMM

    with QdrantMM() as mm:                    # settings from QDRANT_MM_* variables
        mm.syncer().sync("catalog.jsonl")
        result = mm.searcher().search("beige knit cardigan", weights="0.5,0.3,0.2")
"""

import importlib
import typing

from qdrant_mm.errors import (
    BackendError,
    BackendRequestError,
    BackendTransientError,
    BackendUnavailableError,
    CatalogError,
    CollectionNotFoundError,
    ConfigError,
    ImageLoadError,
    ImageTooLargeError,
    ModelLoadError,
    QdrantMMError,
    QueryError,
    SchemaMismatchError,
    StorageUnreachableError,
    StoredStateError,
    StoreLockedError,
    UnsupportedImageError,
    WeightsError,
)

if typing.TYPE_CHECKING:
    from qdrant_mm.app import QdrantMM
    from qdrant_mm.backends.base import Backend
    from qdrant_mm.catalog import Product, read_catalog
    from qdrant_mm.encoders.bundle import ModelBundle
    from qdrant_mm.profiles import Profile, ProfileStore
    from qdrant_mm.search import Searcher, SearchHit, SearchResult
    from qdrant_mm.settings import Settings, load_settings
    from qdrant_mm.sync import Syncer
    from qdrant_mm.sync_report import SyncReport
    from qdrant_mm.weights import CHANNELS, Weights

#: Public names that live in heavier modules (qdrant-client, numpy, pydantic models), imported
#: on first use (PEP 562) so that ``qdrant-mm --help`` and the profile commands start fast.
_LAZY: dict[str, str] = {
    "QdrantMM": "qdrant_mm.app",
    "Backend": "qdrant_mm.backends.base",
    "Product": "qdrant_mm.catalog",
    "read_catalog": "qdrant_mm.catalog",
    "ModelBundle": "qdrant_mm.encoders.bundle",
    "Profile": "qdrant_mm.profiles",
    "ProfileStore": "qdrant_mm.profiles",
    "Searcher": "qdrant_mm.search",
    "SearchHit": "qdrant_mm.search",
    "SearchResult": "qdrant_mm.search",
    "Settings": "qdrant_mm.settings",
    "load_settings": "qdrant_mm.settings",
    "Syncer": "qdrant_mm.sync",
    "SyncReport": "qdrant_mm.sync_report",
    "CHANNELS": "qdrant_mm.weights",
    "Weights": "qdrant_mm.weights",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'qdrant_mm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "__version__",
    "Backend",
    "BackendError",
    "BackendRequestError",
    "BackendTransientError",
    "BackendUnavailableError",
    "CatalogError",
    "CHANNELS",
    "CollectionNotFoundError",
    "ConfigError",
    "ImageLoadError",
    "ImageTooLargeError",
    "load_settings",
    "ModelBundle",
    "ModelLoadError",
    "Product",
    "Profile",
    "ProfileStore",
    "QdrantMM",
    "QdrantMMError",
    "QueryError",
    "read_catalog",
    "SchemaMismatchError",
    "Searcher",
    "SearchHit",
    "SearchResult",
    "Settings",
    "StorageUnreachableError",
    "StoredStateError",
    "StoreLockedError",
    "Syncer",
    "SyncReport",
    "UnsupportedImageError",
    "Weights",
    "WeightsError",
]
