"""What the requests of one app share: the :class:`~qdrant_mm.app.QdrantMM` facade, the
collection searched, and the searcher, opened once the storage can be reached.

Start-up (:meth:`ServiceState.start`, run by the app's lifespan) loads the models: without them
nothing can be searched, so a model that cannot be loaded stops the start. Storage is different:
a Qdrant server that cannot be reached, or a collection not synced yet, only makes the service
not ready. The backend and the searcher are opened on first use and, while that fails, tried
again by every request (and ``/readyz``), so the service becomes ready when Qdrant comes back,
without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from qdrant_mm.app import QdrantMM
from qdrant_mm.backends.base import Backend
from qdrant_mm.encoders.bundle import ModelBundle
from qdrant_mm.errors import CollectionNotFoundError, QdrantMMError, QueryError
from qdrant_mm.image_sources import recorded_folders
from qdrant_mm.profiles import ProfileStore
from qdrant_mm.search import Searcher, SearchHit
from qdrant_mm.service.errors import PathScrubber
from qdrant_mm.service.workbench import Workbench

log = logging.getLogger("qdrant_mm.service")


#: Seconds the recorded image folders are cached (a sync of another catalog shows up after it).
IMAGE_FOLDERS_TTL = 30.0


class ServiceState:
    """The facade, the collection and one searcher, shared by the requests of an app."""

    def __init__(self, mm: QdrantMM, collection: str, workbench: Workbench | None = None) -> None:
        self.mm = mm
        self.collection = collection
        self._lock = threading.Lock()
        self._models: ModelBundle | None = None
        self._backend: Backend | None = None
        self._searcher: Searcher | None = None
        self._problem: str | None = ""  # why not ready ("" before the first check)
        self.load_seconds: float | None = None
        root = mm.settings.image_root
        #: QDRANT_MM_IMAGE_ROOT; without it, the catalog folders sync recorded are used.
        self.image_root: Path | None = Path(root).expanduser().resolve() if root else None
        self._recorded: tuple[float, list[Path]] | None = None  # (read at, folders)
        #: Takes server file paths out of messages sent to clients.
        self.scrub = PathScrubber.from_settings(mm.settings)
        #: The labelled query set the page measures against (none until loaded).
        self.workbench = workbench or Workbench()

    # --- start-up -------------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        """The models are loaded."""
        return self._models is not None

    def start(self) -> None:
        """Load the models and check the storage (both in this thread): for code without a
        lifespan; the app's lifespan calls :meth:`models` and :meth:`check_storage` itself."""
        self.models()
        self.check_storage()

    def check_storage(self) -> bool:
        """Open the backend and check the collection, logging what is wrong; never raises a
        project error (the service stays up and ``/readyz`` answers with the reason)."""
        try:
            self.ready_searcher()
        except QdrantMMError as exc:
            self.note_readiness(str(exc))
            return False
        self.note_readiness(None)
        return True

    def note_readiness(self, problem: str | None) -> None:
        """Log when readiness changes (not on every check: probes run every few seconds)."""
        with self._lock:
            changed = problem != self._problem
            self._problem = problem
        if changed and problem is not None:
            log.warning("not ready: %s", problem)
        elif changed:
            log.info("ready: collection %r", self.collection)
            log.info("%s", self.describe_image_source())

    def models(self) -> ModelBundle:
        with self._lock:
            if self._models is None:
                t0 = time.perf_counter()
                self._models = self.mm.models
                self.load_seconds = time.perf_counter() - t0
                log.info("models loaded in %.1fs", self.load_seconds)
            return self._models

    # --- storage --------------------------------------------------------------------------------
    def backend(self) -> Backend:
        """The storage backend, opened on first use. While it cannot be opened (Qdrant
        unreachable, the store locked) this raises the backend's error and the next call tries
        again."""
        if self._backend is None:
            with self._lock:
                if self._backend is None:
                    self._backend = self.mm.backend
                    log.info("collection %r on the %s backend", self.collection, self._backend.name)
        return self._backend

    def searcher(self) -> Searcher:
        """The searcher (models loaded, backend open); the collection is not checked."""
        if self._searcher is None:
            self.models()
            self.backend()
            with self._lock:
                if self._searcher is None:
                    self._searcher = self.mm.searcher(self.collection)
        return self._searcher

    def ready_searcher(self) -> Searcher:
        """The searcher, after checking the collection exists and matches the models."""
        searcher = self.searcher()
        try:
            searcher.meta  # noqa: B018 - read (or re-read after its TTL) and checked
        except CollectionNotFoundError:
            raise
        except QueryError as exc:  # opening a collection raises QueryError only when it is absent
            raise CollectionNotFoundError(str(exc)) from None
        return searcher

    def profiles(self) -> ProfileStore:
        return ProfileStore(self.backend(), self.collection)

    # --- images ---------------------------------------------------------------------------------
    def image_folders(self) -> list[Path]:
        """Where ``/images/...`` is served from: ``QDRANT_MM_IMAGE_ROOT`` when set, else the
        catalog folders recorded by sync (re-read every :data:`IMAGE_FOLDERS_TTL` seconds, so
        a sync of another catalog shows up without a restart); empty while storage is down."""
        if self.image_root is not None:
            return [self.image_root]
        now = time.monotonic()
        cached = self._recorded
        if cached is not None and now - cached[0] < IMAGE_FOLDERS_TTL:
            return cached[1]
        try:
            folders = recorded_folders(self.backend(), self.collection)
        except QdrantMMError as exc:
            log.warning("image folders unknown: %s", exc)
            return cached[1] if cached else []
        self._recorded = (now, folders)
        return folders

    def describe_image_source(self) -> str:
        """One line for the start-up log: where product pictures come from."""
        if self.image_root is not None:
            return f"images: served from QDRANT_MM_IMAGE_ROOT ({self.image_root})"
        folders = self.image_folders()
        if folders:
            return "images: served from the catalog folder(s) recorded by sync: " + ", ".join(
                str(f) for f in folders
            )
        return (
            "images: none to serve (QDRANT_MM_IMAGE_ROOT is not set and no sync has recorded a"
            " catalog folder): result cards show no pictures, except for image URLs"
        )

    def image_url(self, ref: Any) -> str | None:
        """URL of a product image for a browser: an http(s) URL as is (the browser loads it,
        never the service), a file under the image root as ``/images/<relative path>``."""
        if not isinstance(ref, str) or not ref.strip():
            return None
        ref = ref.strip()
        if ref.startswith(("http://", "https://")):
            return ref
        folders = self.image_folders()
        if not folders:
            return None
        p = Path(ref)
        if p.is_absolute():
            rel = None
            for folder in folders:
                try:
                    rel = p.resolve().relative_to(folder)
                    break
                except (ValueError, OSError):
                    continue
            if rel is None:
                return None
            parts = rel.parts
        else:
            parts = PurePosixPath(ref.replace("\\", "/")).parts
            if ".." in parts:
                return None
        if not parts:
            return None
        return "/images/" + "/".join(quote(part) for part in parts)

    def photo_urls(self, payload: dict[str, Any]) -> list[str]:
        """URLs of a stored product's photos, in catalog order (photos without one left out):
        its ``image_refs``, or its ``image`` on a collection stored before photo lists."""
        urls = (self.image_url(ref) for ref in photo_refs(payload))
        return [u for u in urls if u is not None]

    def hit_image_url(self, hit: SearchHit) -> str | None:
        """URL of the photo that scored a hit (None for a product stored from its text)."""
        if hit.text_only:
            return None
        ref = hit.matched_image
        if ref is None and "image_refs" not in hit.payload:  # stored before photo lists
            ref = hit.payload.get("image")
        return self.image_url(ref)


def photo_refs(payload: dict[str, Any]) -> list[str]:
    """A stored product's photo references in catalog order: ``image_refs`` (empty for a
    product stored from its text), else ``image`` (collections stored before photo lists)."""
    refs = payload.get("image_refs")
    if isinstance(refs, list):
        return [r for r in refs if isinstance(r, str)]
    image = payload.get("image")
    return [image] if isinstance(image, str) and image.strip() else []
