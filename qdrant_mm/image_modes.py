"""Turn any decoded PIL image into the 8-bit RGB image the models expect.

EXIF orientation is applied; transparent pixels are composited onto white (not black, which is
what a plain ``convert("RGB")`` does to most RGBA product shots); 16/32-bit and float images are
scaled to 8 bits by their value range instead of being clipped at 255.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

WHITE = (255, 255, 255)
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_HIGH_DEPTH_MODES = frozenset({"I", "F", "I;16", "I;16L", "I;16B", "I;16N"})


def to_model_rgb(img: Image.Image) -> Image.Image:
    """Return ``img`` upright and in RGB mode, ready for a model's preprocessing."""
    img = _exif_upright(img)
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return img
    if mode in _HIGH_DEPTH_MODES:
        return Image.fromarray(_scale_to_uint8(img)).convert("RGB")
    if mode in _ALPHA_MODES or "transparency" in img.info:
        return _onto_white(img.convert("RGBA"))
    if mode == "1":
        img = img.convert("L")
    # L, P (opaque), CMYK, YCbCr, LAB, HSV: Pillow's converters are right for these.
    return img.convert("RGB")


def _exif_upright(img: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - broken EXIF must not make the image unusable
        return img


def _onto_white(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGBA", rgba.size, (*WHITE, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _scale_to_uint8(img: Image.Image) -> np.ndarray:
    """Map a single-channel 16/32-bit or float image onto 0..255.

    Values already in 0..255 (or 0..1 for float images) keep their meaning; anything wider is
    scaled linearly from ``min(0, lowest)`` to the highest value found.
    """
    arr = np.asarray(img).astype(np.float64)
    finite = np.isfinite(arr)
    if not finite.any():
        return np.zeros(arr.shape, dtype=np.uint8)
    arr = np.where(finite, arr, 0.0)
    lo, hi = float(arr[finite].min()), float(arr[finite].max())
    if img.mode == "F" and lo >= 0.0 and hi <= 1.0:
        out = arr * 255.0
    elif lo >= 0.0 and hi <= 255.0:
        out = arr
    else:
        lo = min(lo, 0.0)
        out = (arr - lo) * (255.0 / max(hi - lo, 1e-12))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
