"""Photo URLs of a catalog are downloaded several at a time, ahead of the product being
checked; products are still checked, reported and stored one by one in catalog order."""

from __future__ import annotations

import io
import threading
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from qdrant_mm.errors import ConfigError
from qdrant_mm.sync import Syncer
from tests.backends import backend, collection_name  # noqa: F401
from tests.fakes import fake_bundle
from tests.helpers import write_catalog


def _png(seed: int) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, size=(24, 24, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


class Shop:
    """A mock image host that records how many downloads are in flight at once; each answer
    takes a little while, and the paths listed in ``missing`` answer 404."""

    def __init__(self, missing: frozenset[str] = frozenset()) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.requests: list[str] = []
        self.missing = missing

    def handler(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            self.requests.append(request.url.path)
        try:
            time.sleep(0.1)
            if request.url.path in self.missing:
                return httpx.Response(404)
            seed = int(request.url.path.strip("/p").split(".")[0])
            return httpx.Response(200, content=_png(seed), headers={"content-type": "image/png"})
        finally:
            with self.lock:
                self.in_flight -= 1

    def syncer(self, store, collection: str, batch_size: int, **kwargs) -> Syncer:
        """A Syncer that downloads from this host."""
        client = httpx.Client(transport=httpx.MockTransport(self.handler))
        return Syncer(
            store, fake_bundle(), collection, batch_size=batch_size, http_client=client, **kwargs
        )


def _catalog(tmp_path, n: int):
    rows = [
        {"id": f"p{i}", "title": f"product {i}", "image": f"http://shop.test/p{i}.png"}
        for i in range(n)
    ]
    return write_catalog(tmp_path, rows)


def test_photo_urls_are_downloaded_side_by_side(tmp_path, backend, collection_name):  # noqa: F811
    shop = Shop(missing=frozenset({"/p3.png"}))
    syncer = shop.syncer(backend, collection_name, batch_size=4)
    report = syncer.sync(_catalog(tmp_path, 10))
    assert shop.most > 1  # several downloads were waiting at once
    assert sorted(shop.requests) == sorted(f"/p{i}.png" for i in range(10))  # each once
    # the one that failed is reported, named, and loses nothing else
    assert [f.id for f in report.failed] == ["p3"]
    assert "404" in report.failed[0].reason and "p3.png" in report.failed[0].reason
    assert report.added == 9 and backend.count(collection_name) == 9


def test_one_download_at_a_time_when_asked(tmp_path, backend, collection_name):  # noqa: F811
    shop = Shop()
    syncer = shop.syncer(backend, collection_name, batch_size=4, image_downloads=1)
    report = syncer.sync(_catalog(tmp_path, 6))
    assert report.added == 6 and shop.most == 1
    assert shop.requests == [f"/p{i}.png" for i in range(6)]  # in catalog order


@pytest.mark.parametrize("bad", [0, -1, 65, 2.5, "8", True])
def test_image_downloads_is_validated(backend, bad):  # noqa: F811
    with pytest.raises(ConfigError, match="image_downloads"):
        Syncer(backend, fake_bundle(), image_downloads=bad)


def test_a_sync_stopped_part_way_cancels_the_downloads_not_started(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
):
    """Downloads started ahead of an interrupted sync do not go on: the pool is shut down with
    the sync and the downloads still queued are cancelled. (Stopped at the first batch of 8:
    products 1-8 downloaded, 9-16 started ahead, 2 of them running; without the cancel all 16
    would be fetched.)"""
    shop = Shop()
    syncer = shop.syncer(backend, collection_name, batch_size=8, image_downloads=2)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt("stopped")

    syncer._embed_and_write = interrupted
    with pytest.raises(KeyboardInterrupt):
        syncer.sync(_catalog(tmp_path, 40))
    time.sleep(1.0)  # what still runs finishes; what was cancelled never starts
    assert 8 <= len(shop.requests) <= 12
    # the download threads are daemons: a stopped sync's process exits without waiting
    assert all(t.daemon for t in threading.enumerate() if t.name == "qdrant-mm-image")
