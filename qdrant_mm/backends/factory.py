"""Choosing and opening the storage backend from settings (``QDRANT_MM_BACKEND``)."""

from __future__ import annotations

from qdrant_mm.backends.base import Backend
from qdrant_mm.errors import BackendError
from qdrant_mm.settings import Settings


def open_backend(settings: Settings) -> Backend:
    """``auto``: a Qdrant server when ``QDRANT_MM_QDRANT_URL`` is set, else Qdrant Edge in
    ``QDRANT_MM_QDRANT_PATH``; ``local`` is qdrant-client's local mode (small data, tests)."""
    kind = settings.resolved_backend()
    if kind == "server":
        from qdrant_mm.backends.qdrant_client_backend import QdrantClientBackend

        backend = QdrantClientBackend.connect(
            settings.qdrant_url, settings.qdrant_api_key, settings.qdrant_timeout
        )
        try:
            backend.client.get_collections()
        except Exception as exc:  # noqa: BLE001 - any failure here means "cannot reach"
            raise BackendError(
                f"cannot reach Qdrant at {settings.qdrant_url} (QDRANT_MM_QDRANT_URL): {exc}"
            ) from None
        return backend
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    if kind == "local":
        from qdrant_mm.backends.qdrant_client_backend import QdrantClientBackend

        return QdrantClientBackend.local(settings.qdrant_path / "local")
    from qdrant_mm.backends.edge import EdgeBackend

    return EdgeBackend(settings.qdrant_path / "edge")
