"""Where model weights come from: a setting's value read as a local path (or as a hub id /
tag), and a content label that identifies local weights by what they are, not where they lie.
Shared by the BLIP, CLIP and sentence-model loaders.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from qdrant_mm.errors import ModelLoadError


def local_path(value: str | os.PathLike[str], setting: str) -> Path | None:
    """``value`` as an existing local path, or ``None`` when it is meant as a hub id / tag.

    A value that is clearly a path (absolute, ``./``, ``~``, a file suffix, more than one ``/``)
    but does not exist raises :class:`ModelLoadError` naming ``setting``.
    """
    text = os.fspath(value)
    path = Path(text).expanduser()
    if path.exists():
        return path.resolve()
    looks_like_path = (
        text.startswith(("/", "./", "../", "~", "\\"))
        or "\\" in text
        or text.count("/") > 1
        or path.suffix.lower() in {".json", ".pt", ".pth", ".bin", ".safetensors", ".ckpt"}
    )
    if looks_like_path:
        raise ModelLoadError(f"{setting}: no such file or folder: {text!r}")
    return None


def content_hash(path: Path, length: int = 12) -> str:
    """Short sha256 of a file, or of every (non-hidden) file under a folder, names included."""
    if path.is_file():
        files = [path]
    else:
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
    digest = hashlib.sha256()
    for file in files:
        if file != path:
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        digest.update(_file_digest(file).encode())
    return digest.hexdigest()[:length]


def _file_digest(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def local_label(path: Path) -> str:
    """``<name>#<hash>``: identifies local weights by content, not by where they are stored."""
    return f"{path.name}#{content_hash(path)}"
