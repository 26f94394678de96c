"""The HTTP service (FastAPI TestClient: no real sockets).

Tests taking the ``shared`` or ``service`` fixture run once per backend (local, Edge, and a
real server in ``pytest -m integration`` runs with QDRANT_URL). ``shared`` is one synced service
per backend for tests that change nothing; ``service`` is a fresh one (profile writes).
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import anyio
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from qdrant_mm.app import QdrantMM
from qdrant_mm.errors import StorageUnreachableError
from qdrant_mm.service import create_app
from qdrant_mm.settings import CHANNELS, Settings
from qdrant_mm.sync import Syncer
from qdrant_mm.weights import Weights
from tests.backends import (  # noqa: F401 (backend, collection_name: fixtures)
    BACKENDS,
    backend,
    collection_name,
    make_backend,
)
from tests.fakes import fake_bundle
from tests.helpers import product_rows, write_catalog, write_image

KEY = "test-key-0123456789"
MAX_BYTES = 50_000
MAX_PIXELS = 10_000
N_PRODUCTS = 16


def png_bytes(seed: int = 1, size: int = 24, solid: bool = False) -> bytes:
    rng = np.random.default_rng(seed)
    if solid:
        arr = np.full((size, size, 3), seed % 256, dtype=np.uint8)
    else:
        arr = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class Service:
    client: TestClient
    mm: QdrantMM
    collection: str
    root: Path
    tmp: Path

    def python_search(self, *args, **kwargs):
        return self.mm.searcher(self.collection).search(*args, **kwargs)


def make_settings(collection: str, root: Path | None, api_key: str | None = KEY, **extra):
    return Settings(
        _env_file=None,
        collection=collection,
        image_root=root,
        api_key=api_key,
        image_max_bytes=MAX_BYTES,
        image_max_pixels=MAX_PIXELS,
        **extra,
    )


def build_catalog(tmp: Path) -> Path:
    """A catalog of N_PRODUCTS with images, a secret beside it, and two symlinks: one to an
    image inside the folder, one escaping it."""
    root = tmp / "catalog"
    path = write_catalog(root, product_rows(N_PRODUCTS))
    (tmp / "secret").write_text("top secret")
    write_image(tmp / "outside.png", seed=99)
    (root / "images" / "escape.png").symlink_to(tmp / "outside.png")
    (root / "images" / "inside.png").symlink_to(root / "images" / "p1.png")
    return path


@pytest.fixture(scope="module", params=BACKENDS)
def shared(request, tmp_path_factory):
    """One synced collection and service per backend, for tests that change nothing."""
    tmp = tmp_path_factory.mktemp("service")
    store = make_backend(request.param, tmp)
    name = f"products_{uuid.uuid4().hex[:8]}"
    catalog = build_catalog(tmp)
    models = fake_bundle()
    try:
        assert Syncer(store, models, name).sync(catalog).ok
        mm = QdrantMM(make_settings(name, catalog.parent), backend=store, models=models)
        with TestClient(create_app(mm)) as client:
            yield Service(client, mm, name, catalog.parent, tmp)
    finally:
        if store.name == "server" and (physical := store.resolve(name)):
            store.delete_collection(physical)
        store.close()


@pytest.fixture
def catalog(tmp_path) -> Path:
    return build_catalog(tmp_path)


@pytest.fixture
def bundle():
    return fake_bundle()


@pytest.fixture
def synced(backend, collection_name, bundle, catalog):  # noqa: F811
    report = Syncer(backend, bundle, collection_name).sync(catalog)
    assert report.ok and report.added == N_PRODUCTS
    return backend


@pytest.fixture
def service(synced, collection_name, bundle, catalog, tmp_path):  # noqa: F811
    """A service of its own (for tests that write profiles)."""
    mm = QdrantMM(make_settings(collection_name, catalog.parent), backend=synced, models=bundle)
    with TestClient(create_app(mm)) as client:
        yield Service(client, mm, collection_name, catalog.parent, tmp_path)
    store = mm.profiles(collection_name)  # a shared server outlives the test
    for profile in store.list():
        store.delete(profile.name)


def hits_of(result) -> list[tuple[str, float, dict]]:
    return [(h.id, h.score, dict(h.scores)) for h in result.hits]


def hits_json(data) -> list[tuple[str, float, dict]]:
    return [(h["id"], h["score"], h["scores"]) for h in data["hits"]]


def assert_error(resp, status: int | tuple[int, ...], *words: str) -> dict:
    statuses = (status,) if isinstance(status, int) else status
    assert resp.status_code in statuses, resp.text
    data = resp.json()
    assert isinstance(data.get("error"), str) and data["error"], data
    for word in words:
        assert word.lower() in data["error"].lower(), data["error"]
    return data


def raw_get(app, raw_path: str) -> tuple[int, dict]:
    """GET a path exactly as given (HTTP clients would normalise ``..`` away)."""

    async def run():
        sent: list[dict] = []
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": raw_path,
            "raw_path": raw_path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 1234),
            "server": ("testserver", 80),
        }

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return status, json.loads(body) if body.startswith(b"{") else {}

    return anyio.run(run)


# --- search equals the Python API -----------------------------------------------------------
CASES = [
    ("red shoes", "0.5,0.3,0.2", None),
    ("leather bag", "1,0,0", None),
    ("a hat", "0,0.2,0.8", ["category=hats"]),
    ("something blue", "blip=1,clip=1", ["price<=18", "colour=blue"]),
]


@pytest.mark.parametrize(("query", "weights", "filters"), CASES)
def test_get_search_equals_python_api(shared, query, weights, filters):
    params: list[tuple[str, str | int]] = [("q", query), ("weights", weights), ("limit", 7)]
    params += [("filter", f) for f in filters or []]
    resp = shared.client.get("/search", params=params)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    want = shared.python_search(query, weights=weights, filter=filters, limit=7)
    assert hits_json(data) == hits_of(want)
    assert data["weights"] == Weights.parse(weights).as_dict()
    for h in data["hits"]:
        fused = sum(data["weights"][c] * (h["scores"][c] or 0.0) for c in CHANNELS)
        assert h["score"] == pytest.approx(fused, abs=1e-5)
        assert h["image_url"] == "/images/" + h["payload"]["image"]


def test_weight_zero_channel_score_is_null(shared):
    data = shared.client.get("/search", params={"q": "x", "weights": "1,0,0"}).json()
    assert data["hits"]
    assert all(
        h["scores"]["clip"] is None and h["scores"]["interrogator"] is None for h in data["hits"]
    )
    assert all(isinstance(h["scores"]["blip"], float) for h in data["hits"])


def test_filter_syntaxes_and_pagination(shared):
    c = shared.client
    colon = c.get("/search", params={"q": "bag", "filter": "category:bags"}).json()
    equals = c.get("/search", params={"q": "bag", "filter": "category=bags"}).json()
    assert hits_json(colon) == hits_json(equals)
    assert colon["hits"] and all(h["payload"]["category"] == "bags" for h in colon["hits"])

    combined = c.get("/search", params={"q": "bag", "filter": "category=bags,price<=20"}).json()
    repeated = c.get(
        "/search", params=[("q", "bag"), ("filter", "category=bags"), ("filter", "price<=20")]
    ).json()
    assert hits_json(combined) == hits_json(repeated)
    assert all(h["payload"]["price"] <= 20 for h in combined["hits"])

    full = c.get("/search", params={"q": "bag", "limit": 10}).json()["hits"]
    page2 = c.get("/search", params={"q": "bag", "limit": 4, "offset": 4}).json()["hits"]
    assert [h["id"] for h in page2] == [h["id"] for h in full[4:8]]


def test_an_empty_result_says_why(shared):
    """As the command line says it: a field no product has, a value no product has, an offset
    past the last result; a result with hits says nothing."""
    c = shared.client
    cases = [
        ({"filter": "material=wool"}, "no product has a field 'material'"),
        ({"filter": "category=nothing"}, "no product matches 'category=nothing'"),
        (
            {"filter": ["category=bags", "price<=-1"]},
            "no product matches 'price<=-1'",
        ),
        ({"offset": 1000}, "offset 1000 is past the last result"),
    ]
    for params, words in cases:
        data = c.get("/search", params={"q": "bag", **params}).json()
        assert data["hits"] == [] and words in data["why"], (params, data)
    posted = c.post("/search", json={"query": "bag", "filter": "category=nothing"}).json()
    assert posted["hits"] == [] and "no product matches" in posted["why"]
    assert c.get("/search", params={"q": "bag"}).json()["why"] is None


def test_post_json_equals_get(shared):
    body = {
        "query": "striped shirt",
        "limit": 5,
        "weights": {"blip": 0.2, "clip": 0.5, "interrogator": 0.3},
        "filter": "category=shirts",
    }
    resp = shared.client.post("/search", json=body)
    assert resp.status_code == 200, resp.text
    get = shared.client.get(
        "/search",
        params={
            "q": "striped shirt",
            "limit": 5,
            "weights": "0.2,0.5,0.3",
            "filter": "category=shirts",
        },
    ).json()
    assert hits_json(resp.json()) == hits_json(get)
    # a list of conditions and a Qdrant filter object work too
    as_list = shared.client.post("/search", json={**body, "filter": ["category=shirts"]}).json()
    as_qdrant = shared.client.post(
        "/search",
        json={**body, "filter": {"must": [{"key": "category", "match": {"value": "shirts"}}]}},
    ).json()
    assert hits_json(as_list) == hits_json(get) == hits_json(as_qdrant)


def test_post_form_fields(shared):
    want = shared.python_search("wool hat", weights="0.3,0.3,0.4", filter=["price>=12"], limit=6)
    urlencoded = shared.client.post(
        "/search",
        data={"query": "wool hat", "weights": "0.3,0.3,0.4", "filter": "price>=12", "limit": "6"},
    )
    assert urlencoded.status_code == 200, urlencoded.text
    assert hits_json(urlencoded.json()) == hits_of(want)
    # a real multipart body (with a non-file field only) gives the same
    resp = shared.client.post(
        "/search",
        files=[
            ("query", (None, "wool hat")),
            ("weights", (None, '{"blip": 0.3, "clip": 0.3, "interrogator": 0.4}')),
            ("filter", (None, "price>=12")),
            ("limit", (None, "6")),
        ],
    )
    assert resp.status_code == 200, resp.text
    assert hits_json(resp.json()) == hits_of(want)


def test_image_upload_search(shared):
    photo = (shared.root / "images" / "p5.png").read_bytes()
    resp = shared.client.post(
        "/search",
        files={"image": ("p5.png", photo, "image/png")},
        data={"weights": "0.5,0.5,0", "limit": "5"},
    )
    assert resp.status_code == 200, resp.text
    data = resp.json()
    want = shared.python_search(image=photo, weights="0.5,0.5,0", limit=5)
    assert hits_json(data) == hits_of(want)
    # the product's own photo finds the product first (fake models embed pixels)
    assert data["hits"][0]["id"] == "p5"
    assert data["hits"][0]["scores"]["blip"] == pytest.approx(1.0, abs=1e-5)


def test_image_upload_with_filter(shared):
    photo = (shared.root / "images" / "p5.png").read_bytes()
    resp = shared.client.post(
        "/search",
        files={"image": ("p5.png", photo, "image/png")},
        data={"filter": "category=bags"},
    )
    assert resp.status_code == 200, resp.text
    hits = resp.json()["hits"]
    assert hits and all(h["payload"]["category"] == "bags" for h in hits)


# --- bad input: 4xx with a message ------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"q": "  "}, ["empty query"]),
        ({"q": "x", "weights": "1,2"}, ["weights"]),
        ({"q": "x", "weights": "-1,1,1"}, [">= 0"]),
        ({"q": "x", "weights": "0,0,0"}, ["zero"]),
        ({"q": "x", "filter": "price<=cheap"}, ["not a number"]),
        ({"q": "x", "filter": "nonsense"}, ["cannot read filter"]),
        ({"q": "x", "limit": 0}, ["limit"]),
        ({"q": "x", "limit": "ten"}, ["limit"]),
        ({"q": "x", "offset": -1}, ["offset"]),
        ({"q": "x", "weights": "1,1,1", "profile": "p"}, ["not both"]),
        ({"q": "x", "profile": "nope"}, ["no weight profile"]),
        ({"q": "x" * 2001}, ["longer than"]),
    ],
)
def test_bad_search_input_is_400(shared, params, words):
    assert_error(shared.client.get("/search", params=params), 400, *words)


def test_missing_q_is_400(shared):
    assert_error(shared.client.get("/search"), 400, "q")


def test_bad_post_bodies(shared):
    c = shared.client
    assert_error(
        c.post("/search", content=b"{nope", headers={"content-type": "application/json"}),
        400,
        "json",
    )
    assert_error(c.post("/search", json=["a"]), 400, "object")
    assert_error(c.post("/search", json={"query": "x", "bogus": 1}), 400, "bogus")
    assert_error(c.post("/search", json={"query": "x", "limit": "many"}), 400, "limit")
    assert_error(
        c.post("/search", content=b"x", headers={"content-type": "text/plain"}), 415, "json"
    )
    assert_error(c.post("/search", data={"query": "x", "colour": "red"}), 400, "unknown form field")
    assert_error(c.post("/search", data={"query": "x", "limit": "ten"}), 400, "limit")
    assert_error(c.post("/search", data={"query": "x", "calibrate": "maybe"}), 400, "calibrate")


def test_never_fetches_urls(shared):
    """Sockets are disabled in this test run: a fetch would fail loudly, not answer 200/400."""
    c = shared.client
    url = "http://169.254.169.254/latest/meta-data"
    assert_error(c.post("/search", json={"query": "x", "image": url}), 400, "does not fetch")
    assert_error(c.post("/search", data={"image": url}), 400, "does not fetch")
    # a URL (or a local path) as a text query is just text
    assert c.get("/search", params={"q": url}).status_code == 200
    assert c.get("/search", params={"q": "/etc/passwd"}).status_code == 200


def test_oversized_uploads_are_refused(shared):
    c = shared.client
    big = b"\x89PNG" + bytes(MAX_BYTES + 10)  # passes Content-Length (form overhead), not the read
    assert_error(c.post("/search", files={"image": ("a.png", big, "image/png")}), 413, "limit")
    huge = bytes(MAX_BYTES * 4)  # refused from Content-Length, before reading
    assert_error(c.post("/search", files={"image": ("a.png", huge, "image/png")}), 413, "limit")

    def chunks():  # no Content-Length: counted as it streams
        boundary = b"--xyz\r\n"
        yield boundary + b'Content-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
        for _ in range(10):
            yield bytes(MAX_BYTES)
        yield b"\r\n--xyz--\r\n"

    resp = c.post(
        "/search", content=chunks(), headers={"content-type": "multipart/form-data; boundary=xyz"}
    )
    assert_error(resp, 413, "limit")
    assert "content-length" not in {k.lower() for k in resp.request.headers}


def test_pixel_limit(shared):
    bomb = png_bytes(seed=3, size=200, solid=True)  # small file, 40,000 pixels > MAX_PIXELS
    assert len(bomb) < MAX_BYTES
    resp = shared.client.post("/search", files={"image": ("big.png", bomb, "image/png")})
    assert_error(resp, 413, "pixel")


@pytest.mark.parametrize(
    "data", [b"this is not an image", b"%PDF-1.4 not an image", b"GIF89a-truncated"]
)
def test_non_images_are_refused(shared, data):
    resp = shared.client.post("/search", files={"image": ("x.png", data, "image/png")})
    assert_error(resp, (400, 415), "image")


def test_empty_upload_is_refused(shared):
    resp = shared.client.post("/search", files={"image": ("x.png", b"", "image/png")})
    assert_error(resp, 400, "empty")


def test_query_and_image_together_are_refused(shared):
    photo = png_bytes()
    resp = shared.client.post(
        "/search", files={"image": ("a.png", photo, "image/png")}, data={"query": "shoes"}
    )
    assert_error(resp, 400, "not both")


# --- products & images ----------------------------------------------------------------------------
def test_get_product(shared):
    data = shared.client.get("/products/p3").json()
    assert data["id"] == "p3"
    assert data["payload"]["title"] == "product 3"
    assert data["image_url"] == "/images/images/p3.png"
    assert "content_hash" not in data["payload"]  # sync's own bookkeeping is not shown
    assert_error(shared.client.get("/products/nope"), 404, "nope")


def test_serves_catalog_images(shared):
    resp = shared.client.get("/images/images/p0.png")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "image/png"
    assert resp.content == (shared.root / "images" / "p0.png").read_bytes()
    inside = shared.client.get("/images/images/inside.png")  # a symlink within the folder
    assert inside.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/images/../secret",
        "/images/images/../../secret",
        "/images/..",
        "/images//etc/passwd",
        "/images/~/secret",
    ],
)
def test_image_traversal_refused_raw(shared, path):
    status, data = raw_get(shared.client.app, path)
    assert 400 <= status < 500
    assert data.get("error")


@pytest.mark.parametrize(
    "path",
    [
        "/images/../secret",
        "/images/%2e%2e/secret",
        "/images/%2E%2E/secret",
        "/images/images/%2e%2e/%2e%2e/secret",
        "/images/..%2fsecret",
        "/images/%2fetc%2fpasswd",
        "/images/" + "%2F" + "etc/passwd",
        "/images/images%5c..%5c..%5csecret",
        "/images/p0.png%00.png",
    ],
)
def test_image_traversal_refused(shared, path):
    resp = shared.client.get(path)
    assert_error(resp, (400, 403, 404))
    assert b"top secret" not in resp.content and b"root:" not in resp.content


def test_image_symlink_escape_refused(shared):
    assert (shared.root / "images" / "escape.png").resolve().read_bytes()  # it is a real image
    assert_error(shared.client.get("/images/images/escape.png"), 403, "outside")


def test_image_only_images_served(shared):
    assert (shared.root / "catalog.jsonl").exists()
    assert_error(shared.client.get("/images/catalog.jsonl"), 404, "only image files")
    assert_error(shared.client.get("/images/images/none.png"), 404, "no image")
    assert_error(shared.client.get("/images/images"), 404)


def test_images_without_root(synced, collection_name, bundle):  # noqa: F811
    """No image root and no catalog folder recorded (a collection synced from Python before
    sync recorded folders): no pictures, and the 404 says how to get them."""
    synced.delete_meta(f"image_sources:{collection_name}")
    mm = QdrantMM(make_settings(collection_name, None), backend=synced, models=bundle)
    with TestClient(create_app(mm)) as client:
        assert_error(client.get("/images/images/p0.png"), 404, "QDRANT_MM_IMAGE_ROOT")
        hits = client.get("/search", params={"q": "x"}).json()["hits"]
        assert hits and all(h["image_url"] is None for h in hits)


# --- products with several photos, and without one ----------------------------------------------
MULTI = ["img/m_0.png", "img/m_1.png", "img/m_2.png"]
PHOTO_SHOP = [
    *({"id": f"s{i}", "title": f"single {i}", "image": f"img/s{i}.png"} for i in range(4)),
    {"id": "multi", "title": "three photo jacket", "images": MULTI, "price": 80.0},
    {"id": "text", "title": "knitting booklet", "description": "a booklet of knitting patterns"},
]


@pytest.fixture(scope="module", params=BACKENDS)
def photo_shop(request, tmp_path_factory):
    """A service over a catalog mixing one-photo, three-photo and no-photo products."""
    tmp = tmp_path_factory.mktemp("photos")
    store = make_backend(request.param, tmp)
    name = f"products_{uuid.uuid4().hex[:8]}"
    root = tmp / "catalog"
    for i, ref in enumerate(
        ref for row in PHOTO_SHOP for ref in [row.get("image"), *row.get("images", [])] if ref
    ):
        write_image(root / ref, seed=100 + i)
    catalog = root / "catalog.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in PHOTO_SHOP))
    models = fake_bundle()
    try:
        report = Syncer(store, models, name).sync(catalog)
        assert report.ok and report.stored_from_text == 1
        mm = QdrantMM(make_settings(name, root), backend=store, models=models)
        with TestClient(create_app(mm)) as client:
            yield Service(client, mm, name, root, tmp)
    finally:
        if store.name == "server" and (physical := store.resolve(name)):
            store.delete_collection(physical)
        store.close()


@pytest.mark.parametrize("photo", MULTI)
def test_hit_shows_the_photo_that_matched(photo_shop, photo):
    data = (photo_shop.root / photo).read_bytes()
    resp = photo_shop.client.post(
        "/search", files={"image": ("q.png", data, "image/png")}, data={"limit": "3"}
    )
    assert resp.status_code == 200, resp.text
    top = resp.json()["hits"][0]
    assert top["id"] == "multi" and top["text_only"] is False
    assert top["matched_image"] == photo
    assert top["image_url"] == "/images/" + photo  # the matched photo, not the first one
    assert photo_shop.client.get(top["image_url"]).content == data
    want = photo_shop.python_search(image=data, limit=3).hits[0]
    assert want.matched_image == photo


def test_text_only_hit_has_no_image_url(photo_shop):
    resp = photo_shop.client.get("/search", params={"q": "knitting booklet", "limit": 10})
    assert resp.status_code == 200, resp.text
    hits = {h["id"]: h for h in resp.json()["hits"]}
    assert set(hits) == {r["id"] for r in PHOTO_SHOP}
    text = hits["text"]
    assert text["text_only"] is True
    assert text["image_url"] is None and text["matched_image"] is None
    for pid, h in hits.items():
        if pid != "text":
            assert h["text_only"] is False
            assert h["image_url"] == "/images/" + h["matched_image"]
    assert hits["multi"]["matched_image"] in MULTI
    want = photo_shop.python_search("knitting booklet", limit=10).hits
    assert [(h.id, h.matched_image, h.text_only) for h in want] == [
        (h["id"], h["matched_image"], h["text_only"]) for h in resp.json()["hits"]
    ]


def test_product_lists_its_photos(photo_shop):
    multi = photo_shop.client.get("/products/multi").json()
    assert multi["image_url"] == "/images/" + MULTI[0]
    assert multi["image_urls"] == ["/images/" + ref for ref in MULTI]
    for url in multi["image_urls"]:
        assert photo_shop.client.get(url).status_code == 200
    single = photo_shop.client.get("/products/s2").json()
    assert single["image_urls"] == [single["image_url"]] == ["/images/img/s2.png"]
    text = photo_shop.client.get("/products/text").json()
    assert text["image_url"] is None and text["image_urls"] == []
    assert text["payload"]["vectors_from"] == "text"


def test_products_stored_before_photo_lists_show_their_image(shared):
    """A payload without ``image_refs`` (stored before photo lists): its ``image`` is shown."""
    from qdrant_mm.search import SearchHit
    from qdrant_mm.service.state import photo_refs

    state = shared.client.app.state.qdrant_mm
    old = {"product_id": "p1", "image": "images/p1.png"}
    hit = SearchHit(id="p1", score=1.0, scores={}, payload=old)
    assert state.hit_image_url(hit) == "/images/images/p1.png"
    assert photo_refs(old) == ["images/p1.png"] and state.photo_urls(old) == [
        "/images/images/p1.png"
    ]
    text = SearchHit(id="t", score=1.0, scores={}, payload=old, text_only=True)
    assert state.hit_image_url(text) is None
    assert photo_refs({"image": "images/p1.png", "image_refs": []}) == []  # stored from text


def test_openapi_documents_photos(shared):
    schemas = shared.client.get("/openapi.json").json()["components"]["schemas"]
    hit = schemas["HitOut"]["properties"]
    for field in ("image_url", "matched_image", "text_only"):
        assert hit[field].get("description"), field
    assert "matched" in hit["image_url"]["description"]
    product = schemas["ProductOut"]["properties"]
    assert product["image_urls"]["type"] == "array" and product["image_urls"]["description"]


# --- weight profiles ------------------------------------------------------------------------------
PROFILE = {"blip": 0.7, "clip": 0.2, "interrogator": 0.1}


def test_profile_write_needs_key(service):
    c = service.client
    assert_error(c.put("/weights/bad", json=PROFILE), 401, "X-API-Key")
    assert_error(c.put("/weights/bad", json=PROFILE, headers={"X-API-Key": "wrong"}), 401, "wrong")
    assert_error(c.put("/weights/bad", json=PROFILE, headers={"X-API-Key": KEY[:-1]}), 401)
    assert_error(c.put("/weights/default", json=PROFILE, headers={"X-API-Key": ""}), 401)
    assert c.get("/weights").json() == []
    assert_error(c.get("/weights/bad"), 404, "bad")
    assert service.mm.profiles(service.collection).get("default") is None


def test_profile_put_get_use_delete(service):
    c = service.client
    auth = {"X-API-Key": KEY}
    resp = c.put("/weights/default", json={"blip": 2, "clip": 1, "interrogator": 1}, headers=auth)
    assert resp.status_code == 200, resp.text
    stored = resp.json()
    assert (stored["blip"], stored["clip"], stored["interrogator"]) == (0.5, 0.25, 0.25)
    assert c.get("/weights/default").json() == stored
    assert [p["name"] for p in c.get("/weights").json()] == ["default"]

    # the next search without weights uses the default profile
    data = c.get("/search", params={"q": "green lamp"}).json()
    assert data["profile"] == "default"
    assert data["weights"] == {"blip": 0.5, "clip": 0.25, "interrogator": 0.25}
    want = service.python_search("green lamp", weights="0.5,0.25,0.25")
    assert hits_json(data) == hits_of(want)

    # a named profile; a change is seen by the next query
    c.put("/weights/visual", json={"clip": 1}, headers=auth)
    first = c.get("/search", params={"q": "lamp", "profile": "visual"}).json()
    assert first["weights"] == {"blip": 0.0, "clip": 1.0, "interrogator": 0.0}
    c.put("/weights/visual", json={"blip": 1}, headers=auth)
    second = c.get("/search", params={"q": "lamp", "profile": "visual"}).json()
    assert second["weights"] == {"blip": 1.0, "clip": 0.0, "interrogator": 0.0}
    assert hits_json(second) == hits_of(service.python_search("lamp", weights="1,0,0"))

    # deleting needs the key too
    assert_error(c.delete("/weights/visual"), 401)
    assert_error(c.delete("/weights/visual", headers={"X-API-Key": "nope"}), 401)
    assert c.get("/weights/visual").status_code == 200
    assert c.delete("/weights/visual", headers=auth).json() == {"deleted": "visual"}
    assert_error(c.get("/weights/visual"), 404)
    assert_error(c.delete("/weights/visual", headers=auth), 404)


@pytest.mark.parametrize(
    ("name", "body", "words"),
    [
        ("neg", {"blip": -1, "clip": 1}, [">= 0"]),
        ("zero", {"blip": 0}, ["zero"]),
        ("bad name!", PROFILE, ["invalid profile name"]),
        ("extra", {**PROFILE, "sentence": 1}, ["sentence"]),
        ("nan", {"blip": "x"}, ["blip"]),
        ("cal", {**PROFILE, "calibrate": "perhaps"}, ["calibrate"]),
    ],
)
def test_profile_bad_bodies(service, name, body, words):
    resp = service.client.put(f"/weights/{name}", json=body, headers={"X-API-Key": KEY})
    assert_error(resp, 400, *words)
    assert service.client.get("/weights").json() == []


def test_profile_calibrate(service):
    resp = service.client.put(
        "/weights/cal", json={**PROFILE, "calibrate": True}, headers={"X-API-Key": KEY}
    )
    assert resp.status_code == 200, resp.text  # sync computed the score statistics
    data = service.client.get("/search", params={"q": "x", "profile": "cal"}).json()
    assert data["calibrated"] is True
    want = service.python_search("x", weights=Weights.from_mapping(PROFILE), calibrate=True)
    assert hits_json(data) == hits_of(want)


def test_profile_writes_refused_without_configured_key(synced, collection_name, bundle):  # noqa: F811
    mm = QdrantMM(make_settings(collection_name, None, api_key=None), backend=synced, models=bundle)
    with TestClient(create_app(mm)) as client:
        for headers in ({}, {"X-API-Key": ""}, {"X-API-Key": "anything"}):
            assert_error(
                client.put("/weights/x", json=PROFILE, headers=headers), 403, "QDRANT_MM_API_KEY"
            )
            assert_error(client.delete("/weights/x", headers=headers), 403, "QDRANT_MM_API_KEY")
        assert client.get("/weights").json() == []
        assert client.get("/info").json()["profile_writes_enabled"] is False


# --- concurrency ----------------------------------------------------------------------------------
def test_concurrent_searches_are_correct(shared):
    rng = np.random.default_rng(0)
    jobs = []
    for i in range(48):
        w = rng.dirichlet(np.ones(3)).round(3)
        w[0] += 0.01
        jobs.append((f"query {i % 7}", ",".join(str(x) for x in w)))
    expected = {job: hits_of(shared.python_search(job[0], weights=job[1], limit=5)) for job in jobs}

    def run(job):
        resp = shared.client.get("/search", params={"q": job[0], "weights": job[1], "limit": 5})
        assert resp.status_code == 200, resp.text
        return job, hits_json(resp.json())

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, jobs * 2))
    for job, got in results:
        assert got == expected[job], job


class _CountingEncoder:
    """Wraps a fake encoder: records how many threads are inside it at once."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self._guard = threading.Lock()
        self.active = 0
        self.max_active = 0

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def _enter(self):
        with self._guard:
            self.active += 1
            self.max_active = max(self.max_active, self.active)

    def _leave(self):
        with self._guard:
            self.active -= 1

    def encode_texts(self, texts):
        self._enter()
        try:
            time.sleep(0.005)
            return self._inner.encode_texts(texts)
        finally:
            self._leave()

    def encode_images(self, images):
        self._enter()
        try:
            time.sleep(0.005)
            return self._inner.encode_images(images)
        finally:
            self._leave()


def test_models_are_not_entered_concurrently(synced, collection_name, bundle):  # noqa: F811
    counting = _CountingEncoder(bundle.blip)
    bundle.blip = counting
    mm = QdrantMM(make_settings(collection_name, None), backend=synced, models=bundle)
    with TestClient(create_app(mm)) as client:

        def run(i):
            return client.get("/search", params={"q": f"q{i}", "weights": "1,1,1"}).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert set(pool.map(run, range(32))) == {200}
    assert counting.max_active == 1


# --- health & readiness ---------------------------------------------------------------------------
def test_healthz_and_readyz(shared):
    assert shared.client.get("/healthz").json() == {"status": "ok"}
    data = shared.client.get("/readyz").json()
    assert data["status"] == "ready"
    assert data["checks"] == {"models": "ok", "qdrant": "ok", "collection": "ok"}


def test_readyz_503_when_collection_missing(synced, bundle):  # noqa: F811
    mm = QdrantMM(make_settings("missing_collection", None), backend=synced, models=bundle)
    with TestClient(create_app(mm)) as client:
        assert client.get("/healthz").status_code == 200
        data = assert_error(client.get("/readyz"), 503, "does not exist")
        assert data["checks"]["models"] == "ok" and data["checks"]["qdrant"] == "ok"
        assert_error(client.get("/search", params={"q": "x"}), 503, "does not exist")
        assert_error(client.get("/products/p1"), 503, "does not exist")


def test_schema_mismatch(synced, collection_name):  # noqa: F811
    other = fake_bundle(dims=(8, 24, 24))
    mm = QdrantMM(make_settings(collection_name, None), backend=synced, models=other)
    with TestClient(create_app(mm)) as client:
        assert_error(client.get("/readyz"), 503, "blip")
        assert_error(client.get("/search", params={"q": "x"}), 409, "rebuild")


class _DownBackend:
    name = "server"

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise StorageUnreachableError("connection refused")

        return fail


def test_readyz_503_when_qdrant_unreachable(bundle):
    mm = QdrantMM(make_settings("products", None), backend=_DownBackend(), models=bundle)
    with TestClient(create_app(mm)) as client:
        assert client.get("/healthz").status_code == 200
        assert_error(client.get("/readyz"), 503, "cannot reach qdrant")
        assert_error(client.get("/search", params={"q": "x"}), 503, "connection refused")


def test_models_load_once_at_startup(synced, collection_name, bundle, monkeypatch):  # noqa: F811
    calls = []

    def fake_load(settings):
        calls.append(settings)
        return bundle

    monkeypatch.setattr("qdrant_mm.encoders.loading.load_models", fake_load)
    mm = QdrantMM(make_settings(collection_name, None), backend=synced)
    app = create_app(mm)
    unstarted = TestClient(app)  # no lifespan ran: not ready
    assert_error(unstarted.get("/readyz"), 503, "not loaded")
    assert calls == []
    with TestClient(app) as client:
        assert len(calls) == 1  # loaded by the lifespan, before any request
        for _ in range(3):
            assert client.get("/search", params={"q": "x"}).status_code == 200
        assert client.get("/readyz").status_code == 200
    assert len(calls) == 1


# --- page, docs, CLI ------------------------------------------------------------------------------
def test_page_and_static_files(shared):
    resp = shared.client.get("/")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in resp.headers["content-security-policy"]
    html = resp.text
    for element in ('id="q"', 'id="w-blip"', 'id="w-clip"', 'id="w-interrogator"', 'id="profile"'):
        assert element in html
    assert "http://" not in html and "https://" not in html  # no CDN
    for name in ("app.js", "style.css"):
        assert shared.client.get(f"/static/{name}").status_code == 200
    info = shared.client.get("/info").json()
    assert info["collection"] == shared.collection
    assert info["profile_writes_enabled"] is True


def test_openapi_describes_the_api(shared):
    spec = shared.client.get("/openapi.json").json()
    for path in (
        "/search",
        "/products/{product_id}",
        "/images/{path}",
        "/weights",
        "/weights/{profile}",
        "/healthz",
        "/readyz",
    ):
        assert path in spec["paths"], path
    post = spec["paths"]["/search"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(post)
    assert "SearchResponse" in spec["components"]["schemas"]
    assert shared.client.get("/docs").status_code == 200


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_load_nothing_from_a_cdn(shared, page):
    resp = shared.client.get(page)
    assert resp.status_code == 200
    assert "http://" not in resp.text and "https://" not in resp.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', resp.text)
    assert any(a.endswith(".js") for a in assets), assets
    for url in assets:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = shared.client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 1000, url


def test_unknown_route_is_json_404(shared):
    assert_error(shared.client.get("/nope"), 404, "no such endpoint")
    assert_error(shared.client.post("/healthz"), 405)


def test_cli_serve_builds_the_app(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from qdrant_mm import cli

    seen = {}

    def fake_run(app, **kwargs):
        seen["app"] = app
        seen.update(kwargs)

    monkeypatch.setattr("uvicorn.run", fake_run)
    # sockets are blocked in tests: the check that the port is free is tested on its own
    monkeypatch.setattr("qdrant_mm.cli.serve._check_port_free", lambda host, port: None)
    monkeypatch.setenv("QDRANT_MM_BACKEND", "edge")
    monkeypatch.setenv("QDRANT_MM_QDRANT_PATH", str(tmp_path / "data"))
    result = CliRunner().invoke(
        cli.app, ["serve", "--host", "0.0.0.0", "--port", "8123", "--collection", "shop"]
    )
    assert result.exit_code == 0, result.output
    assert seen["host"] == "0.0.0.0" and seen["port"] == 8123
    assert seen["app"].state.qdrant_mm.collection == "shop"
    # the service's own lines (ready, where images come from) are shown beside uvicorn's
    import logging

    logger = logging.getLogger("qdrant_mm")
    mine = [h for h in logger.handlers if h.name == "qdrant-mm serve"]
    try:
        assert len(mine) == 1 and logger.getEffectiveLevel() == logging.INFO
    finally:
        for h in mine:
            logger.removeHandler(h)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True


# --- pictures by default: the catalog folders sync recorded -------------------------------------
def test_images_come_from_the_recorded_catalog_folder_without_an_image_root(
    synced,
    collection_name,  # noqa: F811
    bundle,
    catalog,
    caplog,
):
    from qdrant_mm.image_sources import recorded_folders

    assert recorded_folders(synced, collection_name) == [catalog.parent.resolve()]  # by sync
    synced.delete_meta(f"image_sources:{collection_name}")  # as before any sync recorded one

    def serve(settings_root):
        mm = QdrantMM(make_settings(collection_name, settings_root), backend=synced, models=bundle)
        return TestClient(create_app(mm))

    with caplog.at_level("INFO", logger="qdrant_mm.service"), serve(None) as client:
        hits = client.post("/search", json={"query": "red shirt", "limit": 3}).json()["hits"]
        assert hits and all(h["image_url"] is None for h in hits)
        assert_error(client.get("/images/images/p0.png"), 404, "QDRANT_MM_IMAGE_ROOT")
    assert "no sync has recorded a catalog folder" in caplog.text

    assert Syncer(synced, bundle, collection_name).sync(catalog).unchanged  # records it again
    caplog.clear()
    with caplog.at_level("INFO", logger="qdrant_mm.service"), serve(None) as client:
        hits = client.post("/search", json={"query": "red shirt", "limit": 3}).json()["hits"]
        assert hits and all(h["image_url"] == "/images/" + h["payload"]["image"] for h in hits)
        resp = client.get(hits[0]["image_url"])
        assert resp.status_code == 200 and resp.headers["content-type"] == "image/png"
        assert_error(client.get("/images/images/escape.png"), 403, "outside")
        assert_error(client.get("/images/../secret"), (400, 404))
    assert f"recorded by sync: {catalog.parent.resolve()}" in caplog.text


def test_folders_too_broad_to_serve_are_never_recorded(synced, collection_name):  # noqa: F811
    from qdrant_mm.image_sources import record_catalog_folder, recorded_folders, servable

    for folder in (Path("/"), Path.home(), Path.home().parent):
        assert not servable(folder)
        assert folder not in record_catalog_folder(synced, collection_name, folder)
    assert not servable(Path("relative/catalog"))
    synced.write_meta(f"image_sources:{collection_name}", {"folders": ["/", "relative"]})
    assert recorded_folders(synced, collection_name) == []  # a stored document is checked too
