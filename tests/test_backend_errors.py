"""One error contract at the backend boundary: every backend raises qdrant-mm's own errors, the
same type for the same fault.

The conformance tests run on every backend of ``tests/backends.py``. qdrant-client's mapping is
also tested on exceptions built by hand and on answers from an httpx mock transport (sockets
are blocked in tests), and Edge's store lock with a second process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
from pydantic import BaseModel, ValidationError
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse
from typer.testing import CliRunner

from qdrant_mm.backends.base import (
    CollectionSpec,
    PointRecord,
    Prefetch,
    QuantizationSearch,
    QueryPlan,
    VectorSpec,
)
from qdrant_mm.backends.client_errors import (
    DETAIL_CHARS,
    map_client_errors,
    translate_client_error,
)
from qdrant_mm.backends.qdrant_client_backend import QdrantClientBackend
from qdrant_mm.errors import (
    BackendError,
    BackendRequestError,
    BackendTransientError,
    CollectionNotFoundError,
    QdrantMMError,
    QueryError,
    StorageUnreachableError,
    StoreLockedError,
)
from qdrant_mm.retry import is_transient, retrying
from tests.backends import backend, collection_name  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[1]
SPEC = CollectionSpec(
    (VectorSpec("a", 4, "cosine"), VectorSpec("b", 3, "dot")), {"category": "keyword"}
)


def record(a=None, b=None, pid=None) -> PointRecord:
    vectors = {
        "a": np.ones(4, np.float32) if a is None else a,
        "b": np.ones(3, np.float32) if b is None else b,
    }
    return PointRecord(pid or str(uuid.uuid4()), vectors, {"category": "x"})


@pytest.fixture
def filled(backend, collection_name):  # noqa: F811
    backend.create_collection(collection_name, SPEC)
    backend.upsert(collection_name, [record() for _ in range(3)])
    return backend, collection_name


# --- the same fault, the same type, on every backend ------------------------------------------
MISSING = {
    "query": lambda b, c: b.query(c, QueryPlan("a", np.ones(4, np.float32), limit=3)),
    "scroll": lambda b, c: list(b.scroll_payload(c, ["category"])),
    "count": lambda b, c: b.count(c),
    "retrieve": lambda b, c: b.retrieve(c, [str(uuid.uuid4())]),
    "upsert": lambda b, c: b.upsert(c, [record()]),
    "delete": lambda b, c: b.delete(c, [str(uuid.uuid4())]),
}


@pytest.mark.parametrize("operation", list(MISSING))
def test_a_missing_collection_is_collection_not_found(backend, collection_name, operation):  # noqa: F811
    with pytest.raises(CollectionNotFoundError, match="does not exist") as err:
        MISSING[operation](backend, collection_name)
    assert collection_name in str(err.value)
    assert backend.name in str(err.value)  # says which backend was asked


def test_a_missing_alias_is_collection_not_found_too(filled):
    store, name = filled
    store.switch_alias(f"{name}_alias", name)
    assert store.count(f"{name}_alias") == 3
    with pytest.raises(CollectionNotFoundError):
        store.count(f"{name}_other_alias")


def test_pointing_an_alias_at_a_missing_collection_is_refused(backend, collection_name):  # noqa: F811
    with pytest.raises(BackendRequestError, match="no such collection"):
        backend.switch_alias(collection_name, f"{collection_name}_missing")


def test_creating_a_collection_twice_is_refused(filled):
    store, name = filled
    with pytest.raises(BackendRequestError, match="already exists"):
        store.create_collection(name, SPEC)


INVALID_QUERIES = {
    "wrong dimension": QueryPlan("a", np.ones(5, np.float32), limit=3),
    "unknown named vector": QueryPlan("nope", np.ones(4, np.float32), limit=3),
    "wrong prefetch dimension": QueryPlan(
        "a", np.ones(4, np.float32), limit=3, prefetch=(Prefetch("b", np.ones(7), 5),)
    ),
    "NaN in the query": QueryPlan("a", np.array([1, np.nan, 0, 0], np.float32), limit=3),
}


@pytest.mark.parametrize("case", list(INVALID_QUERIES))
def test_an_invalid_query_is_a_query_error(filled, case):
    store, name = filled
    with pytest.raises(QueryError) as err:
        store.query(name, INVALID_QUERIES[case])
    assert not isinstance(err.value, CollectionNotFoundError)


INVALID_WRITES = {
    "wrong dimension": lambda: record(a=np.ones(5, np.float32)),
    "unknown named vector": lambda: PointRecord(str(uuid.uuid4()), {"zz": np.ones(4)}, {}),
    "point id not a UUID": lambda: record(pid="p-1"),
}


@pytest.mark.parametrize("case", list(INVALID_WRITES))
def test_an_invalid_write_is_a_backend_request_error(filled, case):
    store, name = filled
    with pytest.raises(BackendRequestError):
        store.upsert(name, [INVALID_WRITES[case]()])
    assert store.count(name) == 3  # nothing was written


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: QueryPlan("a", np.ones(4), limit=0), "limit"),
        (lambda: QueryPlan("a", np.ones(4), limit=3, offset=-1), "offset"),
        (lambda: QueryPlan("a", np.ones(4), limit=3, hnsw_ef=0), "hnsw_ef"),
        (lambda: Prefetch("a", np.ones(4), limit=0), "prefetch on 'a'"),
        (lambda: QuantizationSearch(oversampling=0.5), "oversampling"),
        (lambda: QuantizationSearch(oversampling=float("nan")), "oversampling"),
        (lambda: QuantizationSearch(oversampling="2"), "oversampling"),
    ],
)
def test_query_types_check_their_own_values(build, words):
    with pytest.raises(QueryError, match=words):
        build()


def test_a_bad_scroll_batch_is_a_query_error(filled):
    store, name = filled
    with pytest.raises(QueryError, match="batch"):
        list(store.scroll_payload(name, [], batch=0))


# --- qdrant-client's exceptions, built by hand -----------------------------------------------
URL = "http://qdrant.example:6333"


def unexpected(status: int, error: str | None = None, body: bytes | None = None):
    content = body if body is not None else b'{"status":{"error":"%s"}}' % error.encode()
    return UnexpectedResponse(status, "reason", content, httpx.Headers())


def translate(exc: BaseException, **kw) -> QdrantMMError:
    return translate_client_error(exc, where=URL, **kw)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ConnectError("[Errno -2] Name or service not known"),
        httpx.ConnectTimeout("timed out"),
        ResponseHandlingException(httpx.ConnectError("refused")),
        ResponseHandlingException(ConnectionRefusedError(111, "Connection refused")),
    ],
)
def test_unreachable_qdrant_is_storage_unreachable(exc):
    err = translate(exc, what="count", collection="products")
    assert isinstance(err, StorageUnreachableError)
    assert URL in str(err) and "QDRANT_MM_QDRANT_URL" in str(err)
    assert is_transient(err)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("timed out"),
        httpx.WriteTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("connection reset"),
        ResponseHandlingException(httpx.ReadTimeout("timed out")),
        ResponseHandlingException(RuntimeError("odd")),
        unexpected(503, "Service Unavailable"),
        unexpected(500, "Internal error"),
        unexpected(429, "Too many requests"),
    ],
)
def test_transient_failures_are_backend_transient(exc):
    err = translate(exc, what="count", collection="products")
    assert isinstance(err, BackendTransientError)
    assert not isinstance(err, StorageUnreachableError)
    assert is_transient(err)


def test_a_404_for_a_collection_is_collection_not_found():
    exc = unexpected(404, "Not found: Collection `products` doesn't exist!")
    err = translate(exc, what="count", collection="products")
    assert isinstance(err, CollectionNotFoundError)
    assert str(err) == "collection 'products' does not exist on the server backend"
    without_name = translate(exc, what="count")
    assert isinstance(without_name, CollectionNotFoundError)
    assert "products" in str(without_name)
    other = translate(unexpected(404, body=b"404 page not found"), what="count")
    assert type(other) is BackendRequestError and "page not found" in str(other)


def test_other_4xx_are_refused_requests_with_qdrant_detail():
    exc = unexpected(400, "Wrong input: Vector dimension error: expected dim: 22, got 5")
    err = translate(exc, what="upsert", collection="products")
    assert type(err) is BackendRequestError
    assert "HTTP 400" in str(err) and "expected dim: 22, got 5" in str(err)
    assert "products" in str(err)
    assert not is_transient(err)
    as_query = translate(exc, what="query", collection="products", invalid=QueryError)
    assert type(as_query) is QueryError and "expected dim: 22" in str(as_query)
    forbidden = translate(unexpected(403, body=b"forbidden: bad api key"))
    assert type(forbidden) is BackendRequestError and "bad api key" in str(forbidden)


def test_long_details_are_truncated():
    err = translate(unexpected(400, "x" * 5000), what="upsert")
    assert "x" * DETAIL_CHARS not in str(err)
    assert "x" * (DETAIL_CHARS - 3) + "..." in str(err)
    assert len(str(err)) < DETAIL_CHARS + 100


def test_local_mode_and_other_client_exceptions():
    missing = translate(ValueError("Collection products not found"), backend="local")
    assert isinstance(missing, CollectionNotFoundError)
    assert "'products' does not exist on the local backend" in str(missing)
    locked = translate(
        RuntimeError(
            "Storage folder /data/local is already accessed by another instance of Qdrant "
            "client. If you require concurrent access, use Qdrant server instead."
        ),
        backend="local",
    )
    assert isinstance(locked, StoreLockedError) and "in use by another process" in str(locked)
    assert not is_transient(locked)
    assert type(translate(ValueError("limit must be > 0"), invalid=QueryError)) is QueryError
    assert type(translate(TypeError("bad id type"))) is BackendRequestError
    other = translate(RuntimeError("QdrantLocal instance is closed"))
    assert type(other) is BackendError and not is_transient(other)

    class Answer(BaseModel):
        n: int

    with pytest.raises(ValidationError) as bad:
        Answer.model_validate({"n": "many"})
    unreadable = translate(ResponseHandlingException(bad.value))
    assert type(unreadable) is BackendError and "unsupported version" in str(unreadable)


def test_grpc_status_codes():
    grpc = pytest.importorskip("grpc")

    class RpcError(grpc.RpcError):
        def __init__(self, code):
            self._code = code

        def code(self):
            return self._code

        def details(self):
            return f"{self._code.name} details"

    codes = grpc.StatusCode
    for code in (codes.UNAVAILABLE, codes.DEADLINE_EXCEEDED):
        assert isinstance(translate(RpcError(code)), BackendTransientError)
    assert isinstance(translate(RpcError(codes.NOT_FOUND), collection="c"), CollectionNotFoundError)
    invalid = translate(RpcError(codes.INVALID_ARGUMENT), invalid=QueryError)
    assert type(invalid) is QueryError and "INVALID_ARGUMENT details" in str(invalid)
    assert type(translate(RpcError(codes.INTERNAL))) is BackendError


def test_the_mapping_context_keeps_the_cause_and_passes_our_errors():
    original = httpx.ReadTimeout("timed out")
    with (
        pytest.raises(BackendTransientError) as err,
        map_client_errors(what="count", collection="c", where=URL),
    ):
        raise original
    assert err.value.__cause__ is original
    ours = QueryError("mine")
    with pytest.raises(QueryError) as same, map_client_errors():
        raise ours
    assert same.value is ours


# --- the server backend, on answers from an httpx mock transport ------------------------------
def server(handler, timeout: float = 30.0) -> QdrantClientBackend:
    return QdrantClientBackend.connect(
        URL, timeout=timeout, transport=httpx.MockTransport(handler), check_compatibility=False
    )


def ok(result) -> httpx.Response:
    return httpx.Response(200, json={"result": result, "status": "ok", "time": 0.0})


def test_sub_second_timeout_reaches_the_http_transport():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        if request.url.path == "/aliases":
            return ok({"aliases": []})
        return ok({"collections": [{"name": "products"}]})

    srv = server(handler, timeout=0.3)
    try:
        assert srv.resolve("products") == "products"
        assert srv.resolve("other") is None
    finally:
        srv.close()
    assert len(seen) == 4
    assert all(t == dict.fromkeys(("connect", "read", "write", "pool"), 0.3) for t in seen)


def test_server_errors_are_mapped_end_to_end():
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    srv = server(refused)
    with pytest.raises(StorageUnreachableError, match="cannot reach Qdrant at") as err:
        srv.check_reachable()
    assert URL in str(err.value)
    assert isinstance(err.value.__cause__, (httpx.ConnectError, ResponseHandlingException))

    answers = {
        "count": httpx.Response(
            404, json={"status": {"error": "Not found: Collection `products` doesn't exist!"}}
        ),
        "query": httpx.Response(
            400, json={"status": {"error": "Wrong input: Vector dimension error: expected 4"}}
        ),
        "points": httpx.Response(503, text="upstream unavailable"),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return answers[request.url.path.rsplit("/", 1)[-1].split("?")[0]]

    srv = server(handler)
    with pytest.raises(CollectionNotFoundError, match="'products' does not exist"):
        srv.count("products")
    with pytest.raises(QueryError, match="expected 4") as query_err:
        srv.query("products", QueryPlan("a", np.ones(4), limit=3))
    assert not isinstance(query_err.value, CollectionNotFoundError)
    with pytest.raises(BackendTransientError, match="HTTP 503.*upstream unavailable"):
        srv.upsert("products", [record()])


# --- retries ------------------------------------------------------------------------------------
def test_only_transient_errors_are_retried():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise BackendTransientError("try again")
        return "done"

    assert retrying(flaky, attempts=5, initial=0.001)() == "done"
    assert len(calls) == 3

    for error in (StoreLockedError("held"), BackendRequestError("bad"), QueryError("bad")):
        calls.clear()

        def fails(error=error):
            calls.append(1)
            raise error

        with pytest.raises(type(error)):
            retrying(fails, attempts=5, initial=0.001)()
        assert len(calls) == 1


# --- Edge: a store held by another process ---------------------------------------------------
HOLDER = textwrap.dedent(
    """
    import sys
    from qdrant_mm.backends.edge import EdgeBackend

    backend = EdgeBackend(sys.argv[1])
    print(backend.count("products"), flush=True)
    sys.stdin.read()  # hold the shard open until the test closes stdin
    backend.close()
    """
)


@pytest.fixture
def held_store(tmp_path):
    """An Edge store whose collection ``products`` another process holds open."""
    pytest.importorskip("qdrant_edge")
    from qdrant_mm.backends.edge import EdgeBackend

    path = tmp_path / "edge"
    with EdgeBackend(path) as edge:
        edge.create_collection("products", SPEC)
        edge.upsert("products", [record()])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert holder.stdout.readline().strip() == "1"  # the shard is open over there
        yield path
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_a_store_held_by_another_process_is_store_locked_at_once(held_store):
    from qdrant_mm.backends.edge import EdgeBackend

    with EdgeBackend(held_store) as edge:
        assert edge.resolve("products") == "products"  # aliases and metadata still readable
        start = time.monotonic()
        with pytest.raises(StoreLockedError) as err:
            edge.count("products")
        with pytest.raises(StoreLockedError):
            edge.delete_collection("products")  # not erased from under its owner
        assert time.monotonic() - start < 5
        assert edge.collection_exists("products")
    msg = str(err.value)
    assert str(held_store) in msg
    assert "in use by another process" in msg and "QDRANT_MM_QDRANT_URL" in msg
    assert not is_transient(err.value)


def test_the_cli_reports_a_held_store_with_exit_2(held_store, monkeypatch):
    from qdrant_mm.cli import app

    for key in [k for k in os.environ if k.startswith("QDRANT_MM_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("QDRANT_MM_BACKEND", "edge")
    monkeypatch.setenv("QDRANT_MM_QDRANT_PATH", str(held_store.parent))
    monkeypatch.setenv("QDRANT_MM_COLLECTION", "products")
    result = CliRunner().invoke(app, ["info"], catch_exceptions=False)
    assert result.exit_code == 2
    assert "in use by another process" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "hnsw", [{"m": -1}, {"ef_construct": 3}, {"payload_m": -2}], ids=["m", "ef", "payload_m"]
)
def test_every_backend_refuses_an_hnsw_setting_it_cannot_build(
    backend,  # noqa: F811
    collection_name,  # noqa: F811
    hnsw,
):
    from qdrant_mm.backends.base import CollectionSpec, HnswSpec, VectorSpec

    spec = CollectionSpec((VectorSpec("fused", 8, "dot", hnsw=HnswSpec(**hnsw)),))
    with pytest.raises(BackendRequestError, match="named vector 'fused'.*out of range"):
        backend.create_collection(collection_name, spec)
    assert backend.resolve(collection_name) is None  # nothing half-created
