"""The service when things go wrong: statuses by error type, bodies too deep to parse, stored
state that cannot be trusted, server paths kept out of answers, and a Qdrant outage at start-up
and after (the service stays up, ``/readyz`` says why, and search works once Qdrant is back).

Failures are made by wrapping a real backend (local and Edge, via the ``synced`` fixture) so
that chosen calls raise the project's error types.
"""

from __future__ import annotations

import os
import socket
import threading

import pytest
from fastapi.testclient import TestClient

from qdrant_mm.app import QdrantMM
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
    QueryError,
    SchemaMismatchError,
    StorageUnreachableError,
    StoredStateError,
    StoreLockedError,
    UnsupportedImageError,
    WeightsError,
)
from qdrant_mm.service import create_app
from qdrant_mm.service.errors import STATUS_BY_TYPE, PathScrubber, status_of
from qdrant_mm.service.parsing import MAX_JSON_DEPTH
from tests.backends import backend, collection_name  # noqa: F401 (fixtures)
from tests.test_service import (  # noqa: F401 (bundle, catalog, synced: fixtures)
    KEY,
    assert_error,
    bundle,
    catalog,
    hits_json,
    hits_of,
    make_settings,
    png_bytes,
    synced,
)

EXPECTED_STATUS = [
    (ImageTooLargeError, 413),
    (UnsupportedImageError, 415),
    (ImageLoadError, 400),
    (QueryError, 400),
    (WeightsError, 400),
    (BackendRequestError, 400),
    (CollectionNotFoundError, 503),
    (SchemaMismatchError, 409),
    (StoredStateError, 503),
    (BackendTransientError, 503),
    (StorageUnreachableError, 503),
    (StoreLockedError, 503),
    (BackendError, 502),
    (BackendUnavailableError, 500),
    (ConfigError, 500),
    (ModelLoadError, 500),
    (CatalogError, 500),
]


class _Wrapped:
    """A real backend; ``fail(method, *args)`` says whether a call raises ``self.error``."""

    def __init__(self, inner, error: Exception | None = None, fail=None) -> None:
        self._inner = inner
        self.name = inner.name
        self.error = error
        self._fail = fail or (lambda method, *args: True)
        self.refused = 0

    def __getattr__(self, method):
        real = getattr(self._inner, method)
        if not callable(real):
            return real

        def call(*args, **kwargs):
            if self.error is not None and self._fail(method, *args):
                self.refused += 1
                raise self.error
            return real(*args, **kwargs)

        return call


def _client(backend, collection, bundle, **settings) -> TestClient:  # noqa: F811
    mm = QdrantMM(make_settings(collection, None, **settings), backend=backend, models=bundle)
    return TestClient(create_app(mm))


# --- statuses by type -----------------------------------------------------------------------------
def test_status_table_rows_are_all_reachable():
    """A subclass listed after its base class would never be used (first match wins)."""
    for i, (earlier, _) in enumerate(STATUS_BY_TYPE):
        for later, _ in STATUS_BY_TYPE[i + 1 :]:
            assert not issubclass(later, earlier), (later, earlier)


@pytest.mark.parametrize(("kind", "status"), EXPECTED_STATUS)
def test_status_of_each_type(kind, status):
    assert status_of(kind("x")) == status


def test_backend_errors_answer_by_type(synced, collection_name, bundle):  # noqa: F811
    """Whatever a search raises, the status is the one of its type and the message passes."""
    failing = _Wrapped(synced, fail=lambda method, *args: method == "query")
    with _client(failing, collection_name, bundle) as client:
        for kind, status in EXPECTED_STATUS:
            failing.error = kind(f"{kind.__name__} happened")
            resp = client.get("/search", params={"q": "x"})
            assert resp.status_code == status, (kind, resp.text)
            assert resp.json() == {"error": f"{kind.__name__} happened"}
        failing.error = None
        assert client.get("/search", params={"q": "x"}).status_code == 200
    failing.error = RuntimeError("a bug, with a detail")
    app = create_app(QdrantMM(make_settings(collection_name, None), backend=failing, models=bundle))
    with TestClient(app, raise_server_exceptions=False) as client:
        resp = client.get("/search", params={"q": "x"})
        assert resp.status_code == 500
        assert resp.json() == {"error": "internal error: RuntimeError"}


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ImageTooLargeError("query image: 9000x9000 pixels, over the pixel limit"), 413),
        (UnsupportedImageError("query image: unsupported image format TGA"), 415),
        (ImageLoadError("query image: corrupt or truncated image"), 400),
    ],
)
def test_image_errors_answer_by_type(synced, collection_name, bundle, monkeypatch, error, status):  # noqa: F811
    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr("qdrant_mm.search.decode_image", refuse)
    with _client(synced, collection_name, bundle) as client:
        resp = client.post("/search", files={"image": ("a.png", png_bytes(), "image/png")})
        assert resp.status_code == status, resp.text
        assert resp.json() == {"error": str(error)}


# --- JSON bodies too deep to parse ----------------------------------------------------------------
DEEP = [
    "[" * 100_000,  # Python's parser overflows its stack on this (RecursionError)
    '{"a":' * 100_000,
    "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1),  # parses, but deeper than allowed
]


@pytest.mark.parametrize("body", DEEP, ids=["brackets", "objects", "just-over-limit"])
def test_deep_json_is_a_400(synced, collection_name, bundle, body):  # noqa: F811
    json_type = {"content-type": "application/json"}
    with _client(synced, collection_name, bundle) as client:
        resp = client.post("/search", content=body, headers=json_type)
        assert_error(resp, 400, "nested too deeply")
        assert "Traceback" not in resp.text
        put = client.put("/weights/deep", content=body, headers={**json_type, "X-API-Key": KEY})
        assert_error(put, 400, "nested too deeply")
        assert client.get("/weights").json() == []


@pytest.mark.parametrize(
    "weights",
    ['{"a":' * 1500, '{"blip": ' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "}"],
    ids=["overflowing", "just-over-limit"],
)
def test_deep_json_weights_are_a_400(synced, collection_name, bundle, weights):  # noqa: F811
    """Weights given as JSON text, in a form field or the query string."""
    with _client(synced, collection_name, bundle) as client:
        form = client.post("/search", data={"query": "x", "weights": weights})
        assert_error(form, 400, "weights", "nested too deeply")
        as_param = client.get("/search", params={"q": "x", "weights": weights})
        assert_error(as_param, 400, "weights", "nested too deeply")


@pytest.mark.parametrize("weights", ['{"blip": null}', '{"clip": [1]}', '{"blip": true}'])
def test_weights_that_are_not_numbers_are_a_400(synced, collection_name, bundle, weights):  # noqa: F811
    with _client(synced, collection_name, bundle) as client:
        resp = client.get("/search", params={"q": "x", "weights": weights})
        assert_error(resp, 400, "must be a number")
        body = client.post("/search", data={"query": "x", "weights": weights})
        assert_error(body, 400, "must be a number")


def test_a_deep_filter_is_a_400_and_a_nested_one_works(synced, collection_name, bundle):  # noqa: F811
    def nested(depth: int) -> dict:
        f: dict = {"key": "category", "match": {"value": "bags"}}
        for _ in range(depth):
            f = {"must": [f]}
        return f

    with _client(synced, collection_name, bundle) as client:
        ok = client.post("/search", json={"query": "bag", "filter": nested(5)})
        assert ok.status_code == 200, ok.text
        assert ok.json()["hits"] and all(
            h["payload"]["category"] == "bags" for h in ok.json()["hits"]
        )
        deep = client.post("/search", json={"query": "bag", "filter": nested(MAX_JSON_DEPTH)})
        assert_error(deep, 400, "nested too deeply", str(MAX_JSON_DEPTH))


def test_profile_body_errors_are_named(synced, collection_name, bundle):  # noqa: F811
    auth = {"X-API-Key": KEY, "content-type": "application/json"}
    with _client(synced, collection_name, bundle) as client:
        assert_error(client.put("/weights/p", content=b"{nope", headers=auth), 400, "json")
        assert_error(client.put("/weights/p", content=b"[1, 2]", headers=auth), 400, "object")
        assert_error(client.put("/weights/p", content=b"", headers=auth), 400, "object")
        big = b'{"blip": 1, "x": "' + b"a" * (1024 * 1024) + b'"}'
        assert_error(client.put("/weights/p", content=big, headers=auth), 413, "limit")
        assert client.get("/weights").json() == []


# --- stored state that cannot be trusted ----------------------------------------------------------
def test_untrusted_collection_metadata(synced, collection_name, bundle, tmp_path):  # noqa: F811
    storage = tmp_path / "qdrant_data"
    message = (
        f"collection {collection_name!r}: its stored metadata cannot be trusted (no 'dims'):"
        f" run `qdrant-mm sync --rebuild` ({storage}/edge/meta/{collection_name}.json)"
    )
    broken = _Wrapped(
        synced,
        StoredStateError(message),
        fail=lambda method, *args: method == "read_meta" and not args[0].startswith("profile:"),
    )
    with _client(broken, collection_name, bundle, qdrant_path=storage) as client:
        answers = [client.get("/search", params={"q": "x"}), client.get("/products/p1")]
        for resp in answers:
            assert_error(resp, 503, "cannot be trusted", "--rebuild")
        ready = client.get("/readyz")
        data = assert_error(ready, 503, "cannot be trusted")
        assert data["checks"]["qdrant"] == "ok"
        assert "cannot be trusted" in data["checks"]["collection"]
        for resp in [*answers, ready]:
            assert str(tmp_path) not in resp.text
            assert "$QDRANT_MM_QDRANT_PATH/edge/meta/" in resp.text
        broken.error = None  # repaired: the next request sees it
        assert client.get("/readyz").status_code == 200
        assert client.get("/search", params={"q": "x"}).status_code == 200


def test_untrusted_weight_profile(synced, collection_name, bundle, tmp_path):  # noqa: F811
    message = f"weight profile 'default' of {collection_name!r} cannot be trusted: put it again"
    broken = _Wrapped(
        synced,
        StoredStateError(message),
        fail=lambda method, *args: (
            method in ("read_meta", "list_meta") and args[0].startswith("profile:")
        ),
    )
    with _client(broken, collection_name, bundle) as client:
        assert_error(client.get("/weights"), 503, "cannot be trusted")
        assert_error(client.get("/weights/default"), 503, "cannot be trusted")
        # a search without weights reads the default profile; one with weights does not
        assert_error(client.get("/search", params={"q": "x"}), 503, "cannot be trusted")
        assert client.get("/search", params={"q": "x", "weights": "1,1,1"}).status_code == 200
        data = assert_error(client.get("/readyz"), 503, "profile 'default'")
        assert "cannot be trusted" in data["checks"]["collection"]


def test_no_answer_names_a_server_path(synced, collection_name, bundle, catalog, tmp_path):  # noqa: F811
    root = catalog.parent
    failing = _Wrapped(synced, fail=lambda method, *args: method == "query")
    mm = QdrantMM(
        make_settings(collection_name, root, qdrant_path=tmp_path / "data"),
        backend=failing,
        models=bundle,
    )
    with TestClient(create_app(mm)) as client:
        answers = [
            client.get(path)
            for path in (
                "/images/images/none.png",
                "/images/catalog.jsonl",
                "/images/images/escape.png",
                "/images/images",
                "/images/../secret",
            )
        ]
        for error in (
            BackendError(f"cannot read metadata 'x' from {tmp_path}/data/edge/meta/x.json"),
            ImageLoadError(f"image file not found: {root}/images/p1.png"),
            StoreLockedError("the store /var/lib/qdrant-mm/edge is held by another process"),
        ):
            failing.error = error
            answers.append(client.get("/search", params={"q": "x"}))
        for resp in answers:
            assert 400 <= resp.status_code < 600 and resp.json()["error"]
            assert str(tmp_path) not in resp.text and "/var/lib" not in resp.text, resp.text
        assert "$QDRANT_MM_QDRANT_PATH/edge/meta/x.json" in answers[-3].text
        assert "$QDRANT_MM_IMAGE_ROOT/images/p1.png" in answers[-2].text
        assert "<server path>" in answers[-1].text


def test_path_scrubber(tmp_path):
    scrub = PathScrubber({"QDRANT_MM_QDRANT_PATH": tmp_path / "q", "QDRANT_MM_IMAGE_ROOT": None})
    assert (
        scrub(f"bad {tmp_path}/q/edge/x.json here") == "bad $QDRANT_MM_QDRANT_PATH/edge/x.json here"
    )
    assert scrub(f"'{tmp_path}/q'") == "'$QDRANT_MM_QDRANT_PATH'"
    assert scrub(f"{tmp_path}/qq/x") == "<server path>"  # another folder, not the setting's
    assert scrub("see /home/u/models/blip, or /etc/passwd") == "see <server path>, or <server path>"
    # URLs, relative paths and plain text stay
    for text in ("http://qdrant:6333/collections/x", "images/p1.png", "price<=50 and a/b", "/x"):
        assert scrub(text) == text


# --- a Qdrant outage ------------------------------------------------------------------------------
UNREACHABLE = StorageUnreachableError(
    "cannot reach Qdrant at http://qdrant:6333: connection refused"
)


def test_outage_while_running(synced, collection_name, bundle):  # noqa: F811
    """The backend is up, then refuses every call, then is back: no restart needed."""
    flaky = _Wrapped(synced, UNREACHABLE)
    mm = QdrantMM(make_settings(collection_name, None), backend=flaky, models=bundle)
    with TestClient(create_app(mm)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        data = assert_error(client.get("/readyz"), 503, "cannot reach qdrant")
        assert data["checks"]["models"] == "ok"
        assert data["checks"]["qdrant"].startswith("unreachable")
        assert_error(client.get("/search", params={"q": "x"}), 503, "connection refused")
        assert_error(client.get("/weights"), 503, "connection refused")
        assert flaky.refused >= 3

        flaky.error = None  # Qdrant is back
        assert client.get("/readyz").json()["status"] == "ready"
        resp = client.get("/search", params={"q": "red shoes", "weights": "1,1,1"})
        assert resp.status_code == 200, resp.text
        want = mm.searcher(collection_name).search("red shoes", weights="1,1,1")
        assert hits_json(resp.json()) == hits_of(want)


def test_starts_while_qdrant_cannot_be_opened(synced, collection_name, bundle, monkeypatch):  # noqa: F811
    """Opening the backend fails at start (as a server's connection check does when the server
    is down): the models load anyway, the service answers, and it opens the backend later."""
    loads, opens = [], []
    down = threading.Event()
    down.set()

    def load_models(settings):
        loads.append(settings)
        return bundle

    def open_backend(settings):
        opens.append(down.is_set())
        if down.is_set():
            raise UNREACHABLE
        return synced

    monkeypatch.setattr("qdrant_mm.encoders.loading.load_models", load_models)
    monkeypatch.setattr("qdrant_mm.backends.factory.open_backend", open_backend)
    mm = QdrantMM(make_settings(collection_name, None))
    with TestClient(create_app(mm)) as client:
        assert len(loads) == 1  # loaded at start, before any request
        assert client.get("/healthz").status_code == 200
        assert_error(client.get("/readyz"), 503, "cannot reach qdrant")
        assert_error(client.get("/search", params={"q": "x"}), 503, "cannot reach qdrant")
        assert_error(client.get("/products/p1"), 503, "cannot reach qdrant")
        assert opens and all(opens)

        down.clear()
        assert client.get("/readyz").status_code == 200
        resp = client.get("/search", params={"q": "x", "weights": "0.5,0.3,0.2"})
        assert resp.status_code == 200, resp.text
        assert hits_json(resp.json()) == hits_of(
            mm.searcher(collection_name).search("x", weights="0.5,0.3,0.2")
        )
        assert client.get("/products/p1").json()["id"] == "p1"
    assert opens.count(False) == 1 and len(loads) == 1  # opened once, when it could be


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.allow_hosts(["127.0.0.1"])
@pytest.mark.filterwarnings("ignore:Failed to obtain server version")
def test_cli_serve_with_qdrant_down(monkeypatch, tmp_path, bundle):  # noqa: F811
    """``qdrant-mm serve`` against a server that refuses connections: it starts and answers."""
    from typer.testing import CliRunner

    from qdrant_mm import cli

    for key in [k for k in os.environ if k.startswith("QDRANT_MM_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("QDRANT_MM_BACKEND", "server")
    monkeypatch.setenv("QDRANT_MM_QDRANT_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("QDRANT_MM_QDRANT_TIMEOUT", "2")
    monkeypatch.setattr("qdrant_mm.encoders.loading.load_models", lambda settings: bundle)
    seen = {}

    def fake_run(app, **kwargs):
        with TestClient(app) as client:  # runs the lifespan, as uvicorn would
            seen["healthz"] = client.get("/healthz")
            seen["readyz"] = client.get("/readyz")

    monkeypatch.setattr("uvicorn.run", fake_run)
    result = CliRunner().invoke(cli.app, ["serve", "--collection", "shop"])
    assert result.exit_code == 0, result.output
    assert seen["healthz"].status_code == 200
    data = assert_error(seen["readyz"], 503, "cannot reach qdrant")
    assert data["checks"]["models"] == "ok" and data["checks"]["qdrant"] != "ok"


BIG = "1" + "0" * 5000  # over Python's 4,300-digit limit for reading an integer


def test_hostile_values_are_400s_not_500s(synced, collection_name, bundle):  # noqa: F811
    json_type = {"content-type": "application/json"}
    with _client(synced, collection_name, bundle) as client:
        # a lone surrogate (a JSON escape) crashed the tokenizers
        resp = client.post("/search", content='{"query": "boot \\ud800"}', headers=json_type)
        assert_error(resp, 400, "not valid unicode", "lone surrogate")
        # integers too long to read
        resp = client.post(
            "/search", content=f'{{"query": "boot", "weights": [{BIG}, 1, 1]}}', headers=json_type
        )
        assert_error(resp, 400, "over 4,300 digits")
        resp = client.get("/search", params={"q": "boot", "weights": f'{{"blip": {BIG}}}'})
        assert_error(resp, 400, "over 4,300 digits")
        resp = client.put(
            "/weights/p1", content=f'{{"blip": {BIG}}}', headers={**json_type, "X-API-Key": KEY}
        )
        assert_error(resp, 400, "over 4,300 digits")
        resp = client.get("/evaluate/grid", params={"metric": "ndcg@" + BIG[:60]})
        assert_error(resp, 400, "cut-off must be an integer from 1 to 999999999")
        # filter integers the engine cannot hold
        for flt, words in [
            ({"must": [{"key": "images", "values_count": {"gt": -1}}]}, "count"),
            (
                {
                    "min_should": {
                        "conditions": [{"key": "price", "range": {"gt": 1}}],
                        "min_count": 10**20,
                    }
                },
                "out of range",
            ),
        ]:
            resp = client.post("/search", json={"query": "boot", "filter": flt})
            assert_error(resp, 400, words)
        assert client.get("/search", params={"q": "boot"}).status_code == 200
        assert client.get("/weights").json() == []
