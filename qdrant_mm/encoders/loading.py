"""Build every model from :class:`Settings`; helpers the loaders share (local paths, hashes)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from qdrant_mm.errors import ModelLoadError

if TYPE_CHECKING:
    from qdrant_mm.encoders.bundle import ModelBundle
    from qdrant_mm.settings import Settings


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


def load_models(settings: Settings, *, term_cache_dir: Path | None = None) -> ModelBundle:
    """Load BLIP, CLIP, the interrogator and its text encoder as ``settings`` say.

    The CLIP model is loaded once and shared by the CLIP channel and the interrogator. With
    ``interrogator_text_model == "clip"`` the CLIP encoder also embeds the descriptions.
    ``term_cache_dir`` (optional) keeps the interrogator's term embeddings on disk.
    """
    from qdrant_mm.encoders.blip import load_blip
    from qdrant_mm.encoders.bundle import ModelBundle
    from qdrant_mm.encoders.clip import load_clip
    from qdrant_mm.encoders.devices import resolve_device
    from qdrant_mm.encoders.interrogator import load_interrogator
    from qdrant_mm.encoders.sentence import load_sentence_encoder

    device = resolve_device(settings.device)
    precision = settings.cpu_precision
    clip = load_clip(
        settings.clip_model,
        settings.clip_pretrained,
        device,
        batch_size=settings.batch_size,
        cpu_precision=precision,
    )
    blip = load_blip(
        settings.blip_model, device, batch_size=settings.batch_size, cpu_precision=precision
    )
    describer = load_interrogator(
        clip,
        caption_model=settings.caption_model,
        vocabulary=settings.interrogator_vocabulary,
        terms_dir=settings.interrogator_terms,
        mode=settings.interrogator_mode,
        caption_max_length=settings.caption_max_length,
        batch_size=settings.batch_size,
        cache_dir=term_cache_dir,
        cpu_precision=precision,
    )
    if settings.interrogator_text_model.strip().lower() == "clip":
        text = clip
    else:
        text = load_sentence_encoder(
            settings.interrogator_text_model, device, batch_size=settings.batch_size
        )
    return ModelBundle(blip=blip, clip=clip, describer=describer, interrogator_text=text)
