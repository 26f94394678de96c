"""Relevance judgments ("qrels") for evaluation, read from a JSONL file.

One JSON object per line (blank lines are ignored)::

    {"query": "red running shoes", "relevant": ["p1", "p7"]}        # binary: grade 1
    {"query": "leather bag", "relevant": {"p3": 2, "p9": 1, "p4": 0}} # graded: > 0 relevant
    {"image": "queries/shoe.jpg", "relevant": ["p1"]}                # image query
    {"category": "Sneaker"}                                          # category -> its products
    {"id": "q42", "query": "...", "relevant": [...]}                 # optional query id

Image paths are relative to the qrels file and resolved to absolute paths (http(s) URLs are
kept). Product ids are strings (integers are converted). A category query searches for the
category name; its relevant products are those whose payload ``category`` equals the name
exactly, filled in by :func:`expand_category_qrels`. Every error names the line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from qdrant_mm.errors import QdrantMMError
from qdrant_mm.json_objects import no_duplicate_keys
from qdrant_mm.unicode_text import undecodable

_KEYS = ("id", "query", "image", "category", "relevant")
#: The highest relevance grade: nDCG weighs a grade g as 2^g - 1, which leaves floating point
#: above 1023; graded judgements use a handful of levels (TREC: 0 to 3 or 4).
MAX_GRADE = 100


class QrelsError(QdrantMMError, ValueError):
    """A qrels file or line is invalid; ``line`` is the 1-based line number when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class QrelsQuery(BaseModel):
    """One judged query: a text, an image or a category, and its graded relevance."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: Literal["text", "image", "category"]
    text: str | None = None
    """Query text (for a category query: the category name)."""
    image: str | None = None
    """Absolute image path or http(s) URL."""
    category: str | None = None
    relevance: dict[str, int] = {}
    """Product id -> grade; grade > 0 is relevant. Empty for an unexpanded category query."""
    line: int | None = None

    @property
    def relevant_ids(self) -> list[str]:
        """Ids with a grade > 0, in the order given."""
        return [pid for pid, g in self.relevance.items() if g > 0]


class Qrels(BaseModel):
    """All judged queries of one file (query ids are unique)."""

    model_config = ConfigDict(frozen=True)

    queries: tuple[QrelsQuery, ...]
    source: str | None = None

    def __len__(self) -> int:
        return len(self.queries)

    def relevance(self) -> dict[str, dict[str, int]]:
        """``{query_id: {product_id: grade}}``, the input of the metrics."""
        return {q.id: dict(q.relevance) for q in self.queries}

    def by_id(self) -> dict[str, QrelsQuery]:
        return {q.id: q for q in self.queries}


def _id(value: Any, what: str = "product id") -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"{what} must be a string or an integer, got {value!r}")
    text = str(value)
    if not text.strip():
        raise ValueError(f"empty {what}")
    return text


def _grade(pid: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"grade of product {pid!r} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"grade of product {pid!r} must be a whole number, got {value}")
    if value > MAX_GRADE:
        raise ValueError(
            f"grade {value:g} of product {pid!r} is over {MAX_GRADE} (grades are small whole"
            " numbers, e.g. 0 to 3; nDCG weighs a grade g as 2^g - 1)"
        )
    if value < 0:
        raise ValueError(f"negative grade {value} for product {pid!r}")
    if value != int(value):
        raise ValueError(f"grade of product {pid!r} must be a whole number, got {value}")
    return int(value)


def _relevance(value: Any) -> dict[str, int]:
    if isinstance(value, list):
        rel = {_id(v): 1 for v in value}
    elif isinstance(value, dict):
        rel = {_id(k): _grade(str(k), g) for k, g in value.items()}
    else:
        raise ValueError("'relevant' must be a list of ids or an object {id: grade}")
    if not rel:
        raise ValueError("'relevant' is empty")
    if not any(g > 0 for g in rel.values()):
        raise ValueError("'relevant' has no product with a grade > 0")
    return rel


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj[key]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key!r} must be a non-empty string")
    if bad := undecodable(value):
        raise ValueError(f"{key!r} is not valid Unicode: {bad}")
    return value


def _image(value: str, base_dir: Path, check: bool) -> str:
    if value.startswith(("http://", "https://")):
        return value
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    path = path.resolve()
    if check and not path.is_file():
        raise ValueError(f"image file not found: {path}")
    return str(path)


def _parse_object(obj: Any, lineno: int, base_dir: Path, check_images: bool) -> QrelsQuery:
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    unknown = [k for k in obj if k not in _KEYS]
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise ValueError(f"unknown key(s) {names}; keys are {', '.join(_KEYS)}")
    qid = _id(obj["id"], "query id") if "id" in obj else f"q{lineno}"
    common = {"id": qid, "line": lineno}
    if "category" in obj:
        if "query" in obj or "image" in obj:
            raise ValueError("'category' cannot be combined with 'query' or 'image'")
        if "relevant" in obj:
            raise ValueError(
                "a 'category' query takes its relevant products from the catalog; remove 'relevant'"
            )
        name = _text(obj, "category")
        return QrelsQuery(kind="category", text=name, category=name, **common)
    if "query" in obj and "image" in obj:
        raise ValueError("give either 'query' or 'image', not both")
    if "query" not in obj and "image" not in obj:
        raise ValueError("needs one of 'query', 'image' or 'category'")
    if "relevant" not in obj:
        raise ValueError("missing 'relevant'")
    relevance = _relevance(obj["relevant"])
    if "query" in obj:
        return QrelsQuery(kind="text", text=_text(obj, "query"), relevance=relevance, **common)
    image = _image(_text(obj, "image"), base_dir, check_images)
    return QrelsQuery(kind="image", image=image, relevance=relevance, **common)


def parse_qrels(
    lines: Iterable[str],
    *,
    base_dir: str | Path = ".",
    source: str = "<qrels>",
    check_images: bool = True,
) -> Qrels:
    """Parse qrels JSONL lines; image paths are resolved against ``base_dir``.

    Raises :class:`QrelsError` ``"<source>, line N: <problem>"`` on the first bad line.
    """
    base = Path(base_dir).expanduser().resolve()
    queries: list[QrelsQuery] = []
    first_line: dict[str, int] = {}
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            try:
                obj = json.loads(raw, object_pairs_hook=no_duplicate_keys)
            except json.JSONDecodeError as exc:
                raise ValueError(f"bad JSON: {exc.msg} (column {exc.colno})") from None
            except RecursionError:
                raise ValueError("bad JSON: nested too deeply to read") from None
            query = _parse_object(obj, lineno, base, check_images)
            if query.id in first_line:
                raise ValueError(
                    f"duplicate query id {query.id!r} (first on line {first_line[query.id]})"
                )
        except ValueError as exc:
            raise QrelsError(f"{source}, line {lineno}: {exc}", line=lineno) from None
        first_line[query.id] = lineno
        queries.append(query)
    if not queries:
        raise QrelsError(f"{source}: no queries")
    return Qrels(queries=tuple(queries), source=source)


def read_qrels(path: str | Path, *, check_images: bool = True) -> Qrels:
    """Read a qrels JSONL file (UTF-8, BOM allowed); see :func:`parse_qrels`."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise QrelsError(f"cannot read qrels file {path}: {exc}") from None
    return parse_qrels(
        text.splitlines(), base_dir=path.parent, source=str(path), check_images=check_images
    )


def category_qrels(categories: Iterable[str]) -> Qrels:
    """One category query per distinct non-empty category, id ``category:<name>``.

    Their relevance is empty until :func:`expand_category_qrels`.
    """
    names = dict.fromkeys(c for c in categories if isinstance(c, str) and c.strip())
    return Qrels(
        queries=tuple(
            QrelsQuery(id=f"category:{c}", kind="category", text=c, category=c) for c in names
        )
    )


def expand_category_qrels(
    qrels: Qrels, products_by_category: Mapping[str, Iterable[str | int]], *, strict: bool = True
) -> Qrels:
    """Fill each category query with the products of that category (grade 1).

    Categories match exactly (case-sensitive). With ``strict`` a category without products is
    an error; otherwise its query keeps no relevant product (and evaluation skips it).
    """
    out: list[QrelsQuery] = []
    for q in qrels.queries:
        if q.kind != "category":
            out.append(q)
            continue
        ids = {str(pid): 1 for pid in products_by_category.get(q.category or "", ())}
        if strict and not ids:
            where = qrels.source or "<qrels>"
            if q.line is not None:
                where += f", line {q.line}"
            raise QrelsError(
                f"{where}: category {q.category!r} has no product in the catalog", line=q.line
            )
        out.append(q.model_copy(update={"relevance": ids}))
    return Qrels(queries=tuple(out), source=qrels.source)


def group_by_category(items: Iterable[tuple[str | int, str | None]]) -> dict[str, list[str]]:
    """``{category: [product ids]}`` from ``(product_id, category)`` pairs; no category skipped."""
    out: dict[str, list[str]] = {}
    for pid, category in items:
        if category:
            out.setdefault(category, []).append(str(pid))
    return out
