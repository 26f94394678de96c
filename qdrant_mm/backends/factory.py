"""Choosing and opening the storage backend from settings (``QDRANT_MM_BACKEND``)."""

from __future__ import annotations

import contextlib

from qdrant_mm.backends.base import Backend
from qdrant_mm.settings import Settings


def open_backend(settings: Settings) -> Backend:
    """``auto``: a Qdrant server when ``QDRANT_MM_QDRANT_URL`` is set, else Qdrant Edge in
    ``QDRANT_MM_QDRANT_PATH``; ``local`` is qdrant-client's local mode (small data, tests).

    Raises only :mod:`qdrant_mm.errors` types: :class:`StorageUnreachableError` when the
    server does not answer, :class:`StoreLockedError` when local mode's folder is held by
    another process, :class:`BackendUnavailableError` when qdrant-edge-py is missing."""
    kind = settings.resolved_backend()
    if kind == "server":
        from qdrant_mm.backends.qdrant_client_backend import QdrantClientBackend

        backend = QdrantClientBackend.connect(
            settings.qdrant_url, settings.qdrant_api_key, settings.qdrant_timeout
        )
        try:
            backend.check_reachable()  # StorageUnreachableError names the URL and the setting
        except BaseException:
            with contextlib.suppress(Exception):
                backend.close()
            raise
        return backend
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    if kind == "local":
        from qdrant_mm.backends.qdrant_client_backend import QdrantClientBackend

        return QdrantClientBackend.local(settings.qdrant_path / "local")
    from qdrant_mm.backends.edge import EdgeBackend

    return EdgeBackend(settings.qdrant_path / "edge")
