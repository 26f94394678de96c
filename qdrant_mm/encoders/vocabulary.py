"""The interrogator's vocabularies: named term lists it ranks against an image.

``product`` (the lists shipped in ``qdrant_mm/terms/product/*.txt``), ``art`` (the
clip-interrogator package's own lists, exactly as its ``Interrogator`` loads them) or a folder of
``*.txt`` files (``QDRANT_MM_INTERROGATOR_TERMS``), one term per line, ``#`` for comments.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from clip_interrogator import Config, load_list

from qdrant_mm.errors import ConfigError

TERMS_SETTING = "QDRANT_MM_INTERROGATOR_TERMS"
PRODUCT_TERMS_DIR = Path(__file__).resolve().parent.parent / "terms" / "product"
PRODUCT_ORDER = ("product_types", "colors", "materials", "patterns", "fits", "styles")
#: The package's tables, in the order its ``interrogate_fast`` / ``interrogate`` merge them.
ART_ORDER = ("artists", "flavors", "mediums", "movements", "trendings")
#: clip-interrogator builds its "trending" terms from these sites in ``load_clip_model``
#: (not exposed as data); a test checks this copy against the package's table.
TRENDING_SITES = (
    *("Artstation", "behance", "cg society", "cgsociety", "deviantart", "dribble", "flickr"),
    *("instagram", "pexels", "pinterest", "pixabay", "pixiv", "polycount", "reddit"),
    *("shutterstock", "tumblr", "unsplash", "zbrush central"),
)


@dataclass(frozen=True)
class TermList:
    """One named list of terms (e.g. ``colors``)."""

    name: str
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Vocabulary:
    """Term lists the describer ranks; ``kind`` is ``product``, ``art`` or ``custom``."""

    kind: str
    lists: tuple[TermList, ...]

    @property
    def vocab_id(self) -> str:
        digest = hashlib.sha256()
        for term_list in self.lists:
            digest.update(term_list.name.encode() + b"\0" + "\n".join(term_list.terms).encode())
        return f"{self.kind}#{digest.hexdigest()[:10]}"

    @property
    def size(self) -> int:
        return sum(len(t.terms) for t in self.lists)


def _clean_terms(lines: Sequence[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for line in lines:
        term = line.strip()
        if term and not term.startswith("#"):
            seen.setdefault(term, None)
    return tuple(seen)


def load_term_folder(folder: Path, kind: str = "custom", order: Sequence[str] = ()) -> Vocabulary:
    """Every ``*.txt`` of ``folder`` as a term list (one term per line, ``#`` comments).

    Lists named in ``order`` come first, in that order; the others follow by name.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"{TERMS_SETTING}: no such folder: {str(folder)!r}")
    rank = {name: i for i, name in enumerate(order)}
    files = sorted(folder.glob("*.txt"), key=lambda p: (rank.get(p.stem, len(rank)), p.stem))
    lists = []
    for file in files:
        terms = _clean_terms(file.read_text(encoding="utf-8", errors="replace").splitlines())
        if terms:
            lists.append(TermList(file.stem, terms))
    if not lists:
        raise ConfigError(f"{TERMS_SETTING}: {str(folder)!r} has no *.txt file with terms")
    return Vocabulary(kind, tuple(lists))


def product_vocabulary() -> Vocabulary:
    """The product term lists shipped in ``qdrant_mm/terms/product``."""
    return load_term_folder(PRODUCT_TERMS_DIR, kind="product", order=PRODUCT_ORDER)


def art_vocabulary(data_path: str | Path | None = None) -> Vocabulary:
    """clip-interrogator's own tables, term for term as its ``Interrogator`` builds them:
    artists (``by X`` then ``inspired by X``), flavors, mediums and movements read with its
    ``load_list`` (every line kept, blank, ``#``-led and repeated ones included) and its
    "trending" terms."""
    path = str(data_path or Config.data_path)
    raw_artists = load_list(path, "artists.txt")
    sites = TRENDING_SITES
    lists = {
        "artists": (*(f"by {a}" for a in raw_artists), *(f"inspired by {a}" for a in raw_artists)),
        "flavors": tuple(load_list(path, "flavors.txt")),
        "mediums": tuple(load_list(path, "mediums.txt")),
        "movements": tuple(load_list(path, "movements.txt")),
        "trendings": (
            *sites,
            *(f"trending on {s}" for s in sites),
            *(f"featured on {s}" for s in sites),
            *(f"{s} contest winner" for s in sites),
        ),
    }
    return Vocabulary("art", tuple(TermList(name, lists[name]) for name in ART_ORDER))


def resolve_vocabulary(vocabulary: str = "product", terms_dir: Path | None = None) -> Vocabulary:
    """``terms_dir`` when given, else the ``product`` or ``art`` vocabulary."""
    if terms_dir is not None:
        return load_term_folder(Path(terms_dir))
    if vocabulary == "product":
        return product_vocabulary()
    if vocabulary == "art":
        return art_vocabulary()
    raise ConfigError(
        f"QDRANT_MM_INTERROGATOR_VOCABULARY: must be product or art (got {vocabulary!r})"
    )
