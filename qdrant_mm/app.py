"""One object that turns :class:`Settings` into a backend, models, a syncer and a searcher.

Everything can be injected (tests pass tiny models and an in-memory backend); what is not
given is built from settings on first use.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from qdrant_mm.images import ImageLimits
from qdrant_mm.profiles import ProfileStore
from qdrant_mm.settings import Settings, load_settings

if TYPE_CHECKING:  # imported where used: `qdrant-mm info` and `weights` need neither
    from qdrant_mm.backends.base import Backend
    from qdrant_mm.encoders.bundle import ModelBundle
    from qdrant_mm.search import Searcher
    from qdrant_mm.sync import Syncer


class QdrantMM:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        backend: Backend | None = None,
        models: ModelBundle | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        if backend is not None:
            self.__dict__["backend"] = backend
        if models is not None:
            self.__dict__["models"] = models

    @cached_property
    def backend(self) -> Backend:
        from qdrant_mm.backends.factory import open_backend

        return open_backend(self.settings)

    @cached_property
    def models(self) -> ModelBundle:
        from qdrant_mm.encoders.loading import load_models

        return load_models(self.settings)

    @property
    def image_limits(self) -> ImageLimits:
        return ImageLimits.from_settings(self.settings)

    def new_collection_quantization(self, layout: int | None = None) -> str | None:
        """The quantization a collection of ``layout`` (None: the default one) created now
        gets (``QDRANT_MM_QUANTIZATION``, ``auto`` resolved against what the backend can
        create)."""
        from qdrant_mm.collection import new_collection_quantization
        from qdrant_mm.schema import LAYOUT

        return new_collection_quantization(
            self.backend, self.settings.quantization, LAYOUT if layout is None else layout
        )

    def syncer(
        self,
        collection: str | None = None,
        batch_size: int | None = None,
        max_delete_fraction: float | None = None,
    ) -> Syncer:
        from qdrant_mm.sync import Syncer

        return Syncer(
            self.backend,
            self.models,
            collection or self.settings.collection,
            batch_size=batch_size or self.settings.batch_size,
            image_limits=self.image_limits,
            quantization=self.settings.quantization,
            max_delete_fraction=(
                self.settings.max_delete_fraction
                if max_delete_fraction is None
                else max_delete_fraction
            ),
            missing_image=self.settings.missing_image,
            broken_image=self.settings.broken_image,
            image_downloads=self.settings.image_downloads,
            vector_datatype=self.settings.vector_datatype,
            exact_below=self.settings.exact_below,
        )

    def searcher(self, collection: str | None = None) -> Searcher:
        from qdrant_mm.search import Searcher

        return Searcher(
            self.backend,
            self.models,
            collection or self.settings.collection,
            default_weights=self.settings.default_weights(),
            plan=self.settings.search_plan,
            hnsw_ef=self.settings.hnsw_ef,
            hnsw_ef_growth=self.settings.hnsw_ef_growth,
            exact_below=self.settings.exact_below,
            oversampling=self.settings.oversampling,
            image_limits=self.image_limits,
        )

    def profiles(self, collection: str | None = None) -> ProfileStore:
        return ProfileStore(self.backend, collection or self.settings.collection)

    def close(self) -> None:
        if "backend" in self.__dict__:
            self.backend.close()

    def __enter__(self) -> QdrantMM:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
