from __future__ import annotations

import io
import struct
import threading
import time
import zlib

import httpx
import pytest
from PIL import Image

from qdrant_mm.catalog import point_id, read_catalog
from qdrant_mm.errors import (
    CatalogError,
    ImageLoadError,
    ImageTooLargeError,
    UnsupportedImageError,
)
from qdrant_mm.images import ImageLimits, decode_image, read_image_bytes


def png_bytes(size=(10, 10), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, 128).save(buf, format="PNG")
    return buf.getvalue()


def test_csv_catalog_keeps_extra_fields_and_validates(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(
        "id,title,image,price,colour\n"
        "1,Red shoe,a.png,19.5,red\n"
        ",No id,b.png,1,blue\n"
        "3,Bad price,c.png,cheap,green\n"
        "1,Dup,d.png,2,red\n"
    )
    cat = read_catalog(path)
    assert [p.id for p in cat.products] == ["1"]
    assert cat.products[0].payload() == {
        "title": "Red shoe",
        "image": "a.png",
        "price": 19.5,
        "colour": "red",
    }
    reasons = [r.error for r in cat.invalid]
    assert any(r.startswith("line 3: id") for r in reasons)  # the row with an empty id
    assert any("price" in r and "line 4" in r for r in reasons)
    assert any("duplicate id" in r and "line 2" in r for r in reasons)
    assert cat.complete


def test_point_id_is_stable_and_int_ids_equal_strings(tmp_path):
    assert point_id("42") == point_id("42")
    assert point_id("42") != point_id("43")
    assert len(point_id("x")) == 36
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": 42, "image": "a.png"}\n{"id": "7", "image": "b.png"}\n')
    cat = read_catalog(path)
    assert [p.id for p in cat.products] == ["42", "7"]
    assert point_id(cat.products[0].id) == point_id("42")
    # an integer id and its string are the same product: a duplicate
    path.write_text('{"id": 42, "image": "a.png"}\n{"id": "42", "image": "b.png"}\n')
    cat = read_catalog(path)
    assert [p.id for p in cat.products] == ["42"]
    assert "duplicate id" in cat.invalid[0].error


def test_unreadable_catalog_is_an_error(tmp_path):
    with pytest.raises(CatalogError, match="not found"):
        read_catalog(tmp_path / "none.jsonl")
    with pytest.raises(CatalogError, match="is a folder: give the catalog file in it"):
        read_catalog(tmp_path)
    twice = tmp_path / "twice.csv"
    twice.write_text("id,title,price,price\np1,a,10,12\n")
    with pytest.raises(CatalogError, match="names a column twice: 'price'"):
        read_catalog(twice)
    bad = tmp_path / "c.xml"
    bad.write_text("<x/>")
    with pytest.raises(CatalogError, match="unsupported catalog format"):
        read_catalog(bad)


def test_url_images_follow_bounded_redirects_and_size_cap():
    big = b"x" * 5000
    png = png_bytes()

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/ok.png":
            return httpx.Response(200, content=png)
        if path.startswith("/loop"):
            n = int(path.removeprefix("/loop"))
            return httpx.Response(302, headers={"location": f"/loop{n + 1}"})
        if path == "/big":
            return httpx.Response(200, content=big)
        if path == "/slow":
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(404)

    client = httpx.Client(
        transport=httpx.MockTransport(handler), follow_redirects=True, max_redirects=5
    )
    limits = ImageLimits(max_bytes=4096, timeout=1)
    data = read_image_bytes("http://shop.test/ok.png", limits, client)
    assert data == png
    image = decode_image(data, limits, "http://shop.test/ok.png")
    assert image.size == (10, 10) and image.mode == "RGB"
    with pytest.raises(ImageLoadError, match="redirected more than"):
        read_image_bytes("http://shop.test/loop0", limits, client)
    with pytest.raises(ImageTooLargeError, match="over 4096 bytes|over the 4096"):
        read_image_bytes("http://shop.test/big", limits, client)
    with pytest.raises(ImageLoadError, match="timed out"):
        read_image_bytes("http://shop.test/slow", limits, client)
    with pytest.raises(ImageLoadError, match="HTTP 404"):
        read_image_bytes("http://shop.test/missing", limits, client)


def test_decode_checks_pixels_before_decoding_and_converts_modes():
    with pytest.raises(ImageTooLargeError, match="pixel limit"):
        decode_image(png_bytes((400, 400)), ImageLimits(max_pixels=10_000))
    rgba = png_bytes((4, 4), "RGBA")
    assert decode_image(rgba, ImageLimits()).mode == "RGB"
    with pytest.raises(ImageLoadError, match="empty"):
        decode_image(b"", ImageLimits())


def test_missing_id_reads_the_same_in_every_format(tmp_path):
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text('{"title": "no id", "image": "a.png"}\n')
    csv = tmp_path / "c.csv"
    csv.write_text("id,title,image\n,no id,a.png\n")
    errors = [read_catalog(p).invalid[0].error for p in (jsonl, csv)]
    assert errors == [
        "line 1: id: id is required (a string or an integer)",
        "line 2: id: id is required (a string or an integer)",
    ]


def _trickle_client(log: list[float]) -> httpx.Client:
    """A server that answers at once, then sends one byte every 0.1 s, forever."""

    def trickle():
        while True:
            time.sleep(0.1)
            log.append(time.monotonic())
            yield b"x"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=trickle())

    return httpx.Client(transport=httpx.MockTransport(handler))


def _download_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "qdrant-mm-image-download"]


def test_image_timeout_is_a_deadline_for_the_whole_download():
    sent: list[float] = []
    client = _trickle_client(sent)
    url = "http://shop.test/trickle.png"
    started = time.monotonic()
    with pytest.raises(ImageLoadError) as err:
        read_image_bytes(url, ImageLimits(timeout=0.5), client)
    elapsed = time.monotonic() - started
    assert not isinstance(err.value, (ImageTooLargeError, UnsupportedImageError))
    assert "timed out" in str(err.value) and "0.5s deadline" in str(err.value)
    assert url in str(err.value)
    assert elapsed < 5  # only guards against hanging: a per-read timeout would never fire here
    # The abandoned download stops too instead of reading forever.
    for t in _download_threads():
        t.join(timeout=5)
    assert not _download_threads()
    n = len(sent)
    time.sleep(0.3)
    assert len(sent) == n


def test_image_deadline_covers_a_server_that_never_answers():
    release = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        release.wait(30)  # headers never come (until the test ends)
        return httpx.Response(200, content=b"late")

    client = httpx.Client(transport=httpx.MockTransport(handler))
    started = time.monotonic()
    try:
        with pytest.raises(ImageLoadError, match=r"timed out.*0\.5s deadline.*/stuck\.png"):
            read_image_bytes("http://shop.test/stuck.png", ImageLimits(timeout=0.5), client)
        assert time.monotonic() - started < 5
    finally:
        release.set()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (the pixels are never there)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00"))
        + chunk(b"IEND", b"")
    )


def test_over_a_limit_is_image_too_large(tmp_path):
    small = ImageLimits(max_bytes=1024, max_pixels=10_000)
    big_file = tmp_path / "big.png"
    big_file.write_bytes(b"\x00" * 2048)
    with pytest.raises(ImageTooLargeError, match="2048 bytes, over the 1024 limit"):
        read_image_bytes(str(big_file), small)
    with pytest.raises(ImageTooLargeError, match="over the 10000 pixel limit"):
        decode_image(png_bytes((200, 200)), small, "p.png")
    # A header claiming 400 megapixels: refused by Pillow's own bomb check before any decoding,
    # even with our pixel cap set higher.
    with pytest.raises(ImageTooLargeError, match="decompression bomb"):
        decode_image(_png_header_only(20_000, 20_000), ImageLimits(max_pixels=10**12), "bomb")

    def declared(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 2000, headers={"content-length": "2000"})

    client = httpx.Client(transport=httpx.MockTransport(declared))
    with pytest.raises(ImageTooLargeError, match="declares 2000 bytes"):
        read_image_bytes("http://shop.test/declared.png", small, client)


def test_not_an_image_or_unsupported_format_is_unsupported():
    with pytest.raises(UnsupportedImageError, match="not an image"):
        decode_image(b"just some text, not pixels", ImageLimits(), "notes.txt")
    ico = io.BytesIO()
    Image.new("RGB", (8, 8)).save(ico, format="ICO")
    with pytest.raises(UnsupportedImageError, match="unsupported image format ICO"):
        decode_image(ico.getvalue(), ImageLimits(), "favicon.ico")
    # A real image cut short is neither: a plain ImageLoadError.
    with pytest.raises(ImageLoadError) as err:
        decode_image(png_bytes((64, 64))[:60], ImageLimits(), "cut.png")
    assert not isinstance(err.value, (ImageTooLargeError, UnsupportedImageError))
