from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from qdrant_mm.catalog import point_id, read_catalog
from qdrant_mm.errors import CatalogError, ImageLoadError
from qdrant_mm.images import ImageLimits, decode_image, load_image, read_image_bytes


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
    loaded = load_image("http://shop.test/ok.png", limits, client)
    assert loaded.image.size == (10, 10) and loaded.image.mode == "RGB"
    with pytest.raises(ImageLoadError, match="redirected more than"):
        read_image_bytes("http://shop.test/loop0", limits, client)
    with pytest.raises(ImageLoadError, match="over 4096 bytes|over the 4096"):
        read_image_bytes("http://shop.test/big", limits, client)
    with pytest.raises(ImageLoadError, match="timed out"):
        read_image_bytes("http://shop.test/slow", limits, client)
    with pytest.raises(ImageLoadError, match="HTTP 404"):
        read_image_bytes("http://shop.test/missing", limits, client)


def test_decode_checks_pixels_before_decoding_and_converts_modes():
    with pytest.raises(ImageLoadError, match="pixel limit"):
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
