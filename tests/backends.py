"""The ``backend`` fixture: every test that takes it runs once per available backend.

Edge and qdrant-client local mode always; a real server too when ``QDRANT_URL`` is set (those
runs are marked ``integration``). A difference between backends is a failing test.
"""

from __future__ import annotations

import os
import uuid

import pytest

BACKENDS = [
    "local",
    "edge",
    pytest.param("server", marks=pytest.mark.integration),
]


def make_backend(kind: str, tmp_path):
    if kind == "local":
        from qdrant_client import QdrantClient

        from qdrant_mm.backends.qdrant_client_backend import QdrantClientBackend

        return QdrantClientBackend(QdrantClient(":memory:"), "local")
    if kind == "edge":
        from qdrant_mm.backends.edge import EdgeBackend

        return EdgeBackend(tmp_path / "edge")
    url = os.environ.get("QDRANT_URL")
    if not url:
        pytest.skip("QDRANT_URL is not set: no Qdrant server to run the integration tests against")
    from qdrant_mm.backends.qdrant_client_backend import QdrantClientBackend

    return QdrantClientBackend.connect(url, os.environ.get("QDRANT_API_KEY"))


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path):
    b = make_backend(request.param, tmp_path)
    yield b
    b.close()


@pytest.fixture
def collection_name(backend):
    """A collection name unique to the test (a shared server outlives the test)."""
    name = f"products_{uuid.uuid4().hex[:8]}"
    yield name
    if backend.name == "server":
        physical = backend.resolve(name)
        if physical:
            backend.delete_collection(physical)
