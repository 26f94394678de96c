"""Reading JSON objects from files people edit (catalog rows, qrels lines): one key twice in an
object is refused, not resolved silently (Python's parser keeps the last value)."""

from __future__ import annotations

from typing import Any


class DuplicateKeyError(ValueError):
    """A JSON object holds one key twice: which value was meant is unknown."""


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for :func:`json.loads`: the object, or :class:`DuplicateKeyError`
    naming the key (printable even when it holds bytes that were not UTF-8)."""
    out = dict(pairs)
    if len(out) == len(pairs):  # the usual case, at C speed
        return out
    out = {}
    for key, value in pairs:
        if key in out:
            shown = repr(key).encode("utf-8", "backslashreplace").decode("utf-8")
            raise DuplicateKeyError(f"duplicate key {shown}")
        out[key] = value
    return out
