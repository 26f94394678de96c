"""Text that is not valid Unicode: what a catalog, a qrels file or a query may hold and no model
tokenizer or engine can take.

Bytes that are not UTF-8 are read with ``surrogateescape`` (byte 0xNN becomes U+DCNN), the
command line hands them over the same way, and a JSON ``\\udXXX`` escape without its pair is a
lone surrogate: none of them can be encoded, stored or tokenized."""

from __future__ import annotations


def undecodable(text: str) -> str | None:
    """Why ``text`` is not valid Unicode (``"byte 0xff at character 3"``, ``"lone surrogate
    \\ud800 at character 1"``), or None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")  # refuses surrogates, at C speed
        return None
    except UnicodeEncodeError as exc:
        code, at = ord(text[exc.start]), exc.start + 1
    if 0xDC80 <= code <= 0xDCFF:
        return f"byte 0x{code - 0xDC00:02x} at character {at}"
    return f"lone surrogate \\u{code:04x} at character {at}"
