"""to_model_rgb: every PIL mode becomes a sensible 8-bit RGB image, upright."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from qdrant_mm.image_modes import to_model_rgb


def rgb(img: Image.Image) -> np.ndarray:
    out = to_model_rgb(img)
    assert out.mode == "RGB"
    assert out.size == img.size
    return np.asarray(out).astype(int)


def test_rgb_is_unchanged() -> None:
    img = Image.new("RGB", (3, 2), (10, 20, 30))
    assert (rgb(img) == [10, 20, 30]).all()


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_transparency_becomes_white(mode: str) -> None:
    arr = np.zeros((2, 3, 4), dtype=np.uint8)
    arr[..., 0] = 200  # reddish (grey 200 for LA)
    arr[0, :, 3] = 0  # transparent row
    arr[1, :, 3] = 255  # opaque row
    img = Image.fromarray(arr, "RGBA")
    if mode == "LA":
        img = Image.fromarray(np.stack([arr[..., 0], arr[..., 3]], axis=-1), "LA")
    out = rgb(img)
    assert (out[0] == 255).all()
    expected = [200, 0, 0] if mode == "RGBA" else [200, 200, 200]
    assert (out[1] == expected).all()


def test_half_transparent_red_is_pink() -> None:
    out = rgb(Image.new("RGBA", (2, 2), (255, 0, 0, 128)))
    assert out[0, 0, 0] == 255
    assert 120 <= out[0, 0, 1] <= 135 and 120 <= out[0, 0, 2] <= 135


def test_palette_with_transparency_is_composited_on_white() -> None:
    img = Image.new("P", (2, 1))
    img.putpalette([0, 0, 0, 0, 0, 255] + [0, 0, 0] * 254)
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    img.info["transparency"] = 0
    buf = io.BytesIO()
    img.save(buf, "PNG", transparency=0)
    out = rgb(Image.open(buf))
    assert (out[0, 0] == 255).all()  # transparent black -> white
    assert (out[0, 1] == [0, 0, 255]).all()


def test_palette_rgba_mode() -> None:
    img = Image.new("RGBA", (2, 1), (0, 255, 0, 255))
    img.putpixel((0, 0), (0, 0, 0, 0))
    pa = img.convert("PA")
    assert pa.mode == "PA"
    out = rgb(pa)
    assert (out[0, 0] == 255).all()
    assert out[0, 1, 1] > 200 and out[0, 1, 0] < 50


def test_opaque_palette() -> None:
    img = Image.new("P", (1, 1))
    img.putpalette([12, 34, 56] + [0, 0, 0] * 255)
    assert (rgb(img)[0, 0] == [12, 34, 56]).all()


def test_grey_and_bilevel() -> None:
    assert (rgb(Image.new("L", (2, 2), 77)) == 77).all()
    bw = Image.new("1", (2, 1), 0)
    bw.putpixel((1, 0), 1)
    out = rgb(bw)
    assert (out[0, 0] == 0).all() and (out[0, 1] == 255).all()


def test_cmyk_and_ycbcr() -> None:
    assert (rgb(Image.new("CMYK", (2, 2), (0, 255, 255, 0))) == [255, 0, 0]).all()
    ycc = Image.new("RGB", (2, 2), (0, 0, 255)).convert("YCbCr")
    out = rgb(ycc)
    assert out[0, 0, 2] > 240 and out[0, 0, 0] < 15


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_16_bit_gradient_is_scaled_not_clipped(mode: str) -> None:
    values = np.linspace(0, 65535, 256).astype(np.uint16).reshape(1, 256).repeat(4, axis=0)
    dtype = "<u2" if mode == "I;16" else ">u2"
    img = Image.frombytes(mode, (256, 4), values.astype(dtype).tobytes())
    assert img.mode == mode
    out = rgb(img)
    row = out[0, :, 0]
    assert row[0] == 0 and row[-1] == 255
    assert (np.diff(row) >= 0).all()  # a gradient
    assert len(np.unique(row)) > 200  # ... not a white image
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_16_bit_png_round_trip() -> None:
    values = np.linspace(0, 65535, 64).astype(np.uint16).reshape(8, 8)
    buf = io.BytesIO()
    Image.fromarray(values).save(buf, "PNG")
    out = rgb(Image.open(buf))
    assert out.min() == 0 and out.max() == 255
    assert len(np.unique(out)) > 50


def test_32_bit_int_range() -> None:
    values = np.array([[-1000, 0, 50_000, 100_000]], dtype=np.int32)
    out = rgb(Image.fromarray(values, "I"))[0, :, 0]
    assert out[0] == 0 and out[-1] == 255
    assert 0 < out[1] < out[2] < 255


def test_32_bit_int_in_8_bit_range_is_kept() -> None:
    values = np.array([[0, 100, 255]], dtype=np.int32)
    assert (rgb(Image.fromarray(values, "I"))[0, :, 0] == [0, 100, 255]).all()


def test_float_images() -> None:
    unit = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    assert (rgb(Image.fromarray(unit, "F"))[0, :, 0] == [0, 128, 255]).all()
    wide = np.array([[0.0, 500.0, 1000.0, np.nan]], dtype=np.float32)
    out = rgb(Image.fromarray(wide, "F"))[0, :, 0]
    assert out[0] == 0 and out[2] == 255 and 120 <= out[1] <= 135 and out[3] == 0


def test_constant_16_bit_white() -> None:
    img = Image.fromarray(np.full((2, 2), 65535, dtype=np.uint16))
    assert (rgb(img) == 255).all()


def _with_orientation(img: Image.Image, orientation: int) -> Image.Image:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, "PNG", exif=exif.tobytes())
    return Image.open(buf)


def test_exif_orientation_6_rotates() -> None:
    img = Image.new("RGB", (4, 2), (0, 0, 0))
    img.putpixel((0, 0), (255, 0, 0))  # top-left marker
    out = to_model_rgb(_with_orientation(img, 6))
    assert out.size == (2, 4)
    # Orientation 6: the stored image is shown rotated 90° clockwise -> top-left goes top-right.
    assert out.getpixel((1, 0)) == (255, 0, 0)
    assert out.getpixel((0, 0)) == (0, 0, 0)


def test_exif_orientation_with_16_bit() -> None:
    values = np.zeros((2, 4), dtype=np.uint16)
    values[0, 0] = 65535
    out = to_model_rgb(_with_orientation(Image.fromarray(values), 6))
    assert out.size == (2, 4) and out.getpixel((1, 0)) == (255, 255, 255)


def test_broken_exif_is_ignored() -> None:
    img = Image.new("RGB", (2, 2), (1, 2, 3))
    img.info["exif"] = b"Exif\x00\x00garbage"
    assert to_model_rgb(img).getpixel((0, 0)) == (1, 2, 3)
