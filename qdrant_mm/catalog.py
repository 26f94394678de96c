"""Reading a product catalog (JSONL / NDJSON, JSON, CSV or TSV) into validated :class:`Product`
rows.

A bad row never costs the others: a row that cannot be read (invalid JSON, bytes that are not
UTF-8, an unreadable CSV record) or holds a value Qdrant cannot store exactly (NaN or
±Infinity, an integer outside the 64-bit range, nesting deeper than :data:`MAX_NESTING`) is
reported with its line and product id, and every other row is read.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from qdrant_mm.errors import CatalogError
from qdrant_mm.json_objects import DuplicateKeyError, no_duplicate_keys
from qdrant_mm.unicode_text import undecodable

#: Namespace of the UUIDv5 point ids; changing it would orphan every stored point.
POINT_NAMESPACE = uuid.UUID("6b1f3c1e-5d8a-4d3e-9a55-0c1e6a7f2b90")

#: Payload keys qdrant-mm writes itself; a catalog field with one of these names is refused.
RESERVED_FIELDS = frozenset(
    {
        "product_id",
        "content_hash",
        "payload_hash",
        "interrogator_text",
        "image_sha256",
        "image_refs",
        "image_hashes",
        "image_descriptions",
        "vectors_from",
    }
)

#: Most photos one product may list (``image`` and ``images`` together): each is a row of the
#: product's stored multivector, scored on every search.
MAX_IMAGES = 32


#: Deepest nesting of lists / objects inside one field's value. Qdrant parses payloads with a
#: recursion limit (a payload nested ~128 levels deep is stored by Qdrant Edge and then cannot be
#: read back, which breaks every later sync); 32 levels is far below every transport's limit.
MAX_NESTING = 32

#: Qdrant stores payload integers as signed 64-bit numbers.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def point_id(product_id: str) -> str:
    """Stable Qdrant point id of a product: UUIDv5 of its id."""
    return str(uuid.uuid5(POINT_NAMESPACE, product_id))


class Product(BaseModel):
    """One catalog row. Unknown fields are kept (in ``extra``) and stored as payload."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    id: str
    title: str | None = None
    description: str | None = None
    image: str | None = None
    images: list[str] | None = None
    category: str | None = None
    brand: str | None = None
    price: float | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str:
        if v is None or isinstance(v, bool):
            raise ValueError("id is required (a string or an integer)")
        if isinstance(v, float):
            if not v.is_integer():
                raise ValueError(f"id must be a string or an integer, got {v!r}")
            v = int(v)
        if not isinstance(v, (str, int)):
            raise ValueError(f"id must be a string or an integer, got {type(v).__name__}")
        s = str(v).strip()
        if not s:
            raise ValueError("id is empty")
        bad = undecodable(s)
        if bad:
            raise ValueError(f"id is not valid UTF-8 text ({bad})")
        return s

    @field_validator("title", "description", "image", "category", "brand", mode="before")
    @classmethod
    def _text(cls, v: Any) -> str | None:
        if v is None:
            return None
        if isinstance(v, (dict, list)):
            raise ValueError("must be a string")
        s = str(v).strip()
        return s or None

    @field_validator("images", mode="before")
    @classmethod
    def _images(cls, v: Any) -> list[str] | None:
        """A list of photo references (paths or URLs). In a CSV or TSV cell: a JSON array, or
        references separated by ``|``. Empty entries are dropped."""
        if v is None:
            return None
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                try:
                    v = json.loads(text)
                except ValueError:
                    raise ValueError(
                        "a value starting with '[' must be a JSON array of strings"
                    ) from None
            else:
                v = text.split("|")
        if not isinstance(v, list):
            raise ValueError(f"images must be a list of strings, got {_short(v)}")
        refs = []
        for i, item in enumerate(v):
            if not isinstance(item, str):
                raise ValueError(f"entry {i + 1} must be a string, got {_short(item)}")
            if item.strip():
                refs.append(item.strip())
        return refs or None

    @model_validator(mode="after")
    def _photo_count(self) -> Product:
        n = len(self.image_refs())
        if n > MAX_IMAGES:
            raise ValueError(
                f"images: {n} photos (image and images together), at most {MAX_IMAGES} per product"
            )
        return self

    def image_refs(self) -> list[str]:
        """The product's photos in catalog order: ``image`` first, then ``images``, each once."""
        return list(dict.fromkeys([*([self.image] if self.image else []), *(self.images or [])]))

    @field_validator("price", mode="before")
    @classmethod
    def _price(cls, v: Any) -> float | None:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise ValueError(f"price must be a number, got {_short(v)}")
        if isinstance(v, str) and "_" in v:  # Python reads "1_000" as 1000; no export writes it
            raise ValueError(f"price must be a number, got {_short(v)}")
        try:
            p = float(v)
        except ValueError:
            raise ValueError(f"price must be a number, got {_short(v)}") from None
        except OverflowError:  # an int too large for a float
            raise ValueError("price must be a finite number, got a huge integer") from None
        if not math.isfinite(p):
            raise ValueError(f"price must be a finite number, got {_short(v)}")
        return p

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        """Refuse the whole row when any field (nested values included) holds something Qdrant
        cannot store exactly; ``id`` has its own rule (it is stored as a string)."""
        if isinstance(data, dict):
            problem = _unstorable({k: v for k, v in data.items() if k != "id"})
            if problem:
                raise ValueError(problem)
        return data

    def payload(self) -> dict[str, Any]:
        """Every catalog field (known and extra), ``None`` values left out."""
        return {k: v for k, v in self.model_dump().items() if v is not None and k != "id"}

    def model_text(self) -> str:
        """The text fields the models see (title, description): part of the content hash."""
        return json.dumps({"title": self.title, "description": self.description}, sort_keys=True)


@dataclass
class CatalogRow:
    """An invalid row: its position, its product id when readable, and the reason."""

    line: int
    product_id: str | None
    error: str


@dataclass
class Catalog:
    """A catalog file, read completely. ``complete`` is False when reading stopped early, in which
    case sync never deletes anything."""

    path: Path
    products: list[Product] = field(default_factory=list)
    invalid: list[CatalogRow] = field(default_factory=list)
    complete: bool = True

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def _show(text: str) -> str:
    """``text`` safe to print: undecodable bytes and lone surrogates as ``\\udcff`` escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _short(v: Any, width: int = 40) -> str:
    """A short printable repr of a bad value for an error message."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10**width:
        return f"a {v.bit_length()}-bit integer"
    r = _show(repr(v))
    return r if len(r) <= width else r[: width - 3] + "..."


def _unstorable(fields: dict[Any, Any]) -> str | None:
    """``"path: reason"`` for the first value in ``fields`` (nested lists and objects included)
    that Qdrant cannot store exactly, or None. Walks with its own stack: no recursion."""
    if _plainly_storable(fields):
        return None
    problem = _first_unstorable(fields)
    if problem is None:
        return None
    path, reason = problem
    if len(path) > 60:
        path = path[:57] + "..."
    return f"{path}: {reason}"


def _plainly_storable(fields: dict[Any, Any]) -> bool:
    """The fast check every row takes: True when every value is plainly storable. False on a
    problem or anything unusual, for :func:`_first_unstorable` to judge and name."""
    stack: list[tuple[Any, int]] = [(fields, 0)]
    while stack:
        container, depth = stack.pop()
        if type(container) is dict:
            for key in container:
                if type(key) is not str or not (key.isascii() or undecodable(key) is None):
                    return False
            values = container.values()
        else:
            values = container
        for v in values:
            t = type(v)
            if t is str:
                if not v.isascii() and undecodable(v) is not None:
                    return False
            elif t is float:
                if not math.isfinite(v):
                    return False
            elif t is int:
                if not INT64_MIN <= v <= INT64_MAX:
                    return False
            elif t is dict or t is list:
                if depth + 1 > MAX_NESTING:
                    return False
                stack.append((v, depth + 1))
            elif t is not bool and v is not None:
                return False
    return True


def _first_unstorable(fields: dict[Any, Any]) -> tuple[str, str] | None:
    """(path, reason) of the first unstorable value, in file order."""
    stack: list[tuple[str, Any, int]] = [("", fields, 0)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, float):
            if not math.isfinite(value):
                return path, f"{value!r} is not a finite number (NaN and Infinity cannot be stored)"
        elif isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                return path, (
                    f"{_short(value)} is outside the 64-bit integer range Qdrant stores"
                    " (write it as a string to keep every digit)"
                )
        elif isinstance(value, str):
            bad = undecodable(value)
            if bad:
                return path, f"text is not valid UTF-8 ({bad})"
        elif isinstance(value, (dict, list, tuple)):
            if depth > MAX_NESTING:
                return path, f"nested more than {MAX_NESTING} levels deep"
            if isinstance(value, dict):
                children = []
                for k, v in value.items():
                    key = str(k)
                    bad = undecodable(key)
                    name = f"{path}.{_show(key)}" if path else _show(key)
                    if bad:
                        return name, f"field name is not valid UTF-8 ({bad})"
                    children.append((name, v, depth + 1))
            else:
                children = [(f"{path}[{i}]", v, depth + 1) for i, v in enumerate(value)]
            stack.extend(reversed(children))
    return None


def _format_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"])
        if not loc:  # a whole-row check: its message names the field itself
            parts.append(err["msg"].removeprefix("Value error, "))
            continue
        if err["type"] == "missing":  # pydantic says "Field required"; say which and what
            msg = f"{loc} is required" + (" (a string or an integer)" if loc == "id" else "")
        else:
            msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def _json_error(where: str, text: str, exc: ValueError | RecursionError) -> str:
    """Why ``text`` (one JSONL line, or a whole .json file) could not be parsed."""
    if isinstance(exc, RecursionError):
        return f"{where}: invalid JSON (nested too deeply to read)"
    if isinstance(exc, json.JSONDecodeError):
        bad = undecodable(text)
        if bad:  # the parser stumbled on a byte that is not UTF-8: say that, not "Expecting ..."
            return f"{where}: not valid UTF-8 ({bad})"
        return f"{where}: invalid JSON ({exc.msg}, column {exc.colno})"
    if isinstance(exc, DuplicateKeyError):
        return f"{where}: {exc} in one object"
    return f"{where}: invalid JSON (a number too long to read)"  # int over 4300 digits


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """One object per line. Lines are decoded one by one (a byte-order mark before the first is
    skipped); bytes that are not UTF-8 are kept as surrogate escapes, so only the row holding them
    fails (in :class:`Product` validation, with its id when the id itself is readable)."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            line = raw.decode("utf-8", "surrogateescape")
            if not line.strip():
                continue
            try:
                obj = json.loads(line, object_pairs_hook=no_duplicate_keys)
            except (ValueError, RecursionError) as exc:
                yield lineno, None, _json_error(f"line {lineno}", line, exc)
                continue
            if not isinstance(obj, dict):
                yield lineno, None, f"line {lineno}: expected a JSON object"
                continue
            yield lineno, obj, None


def _iter_json_array(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """A ``.json`` file holding one array of product objects (positions count from 1).

    The file is parsed as a whole: when it is not valid JSON (a syntax error, a byte that is not
    UTF-8 outside a string, nesting too deep for the parser) it is a :class:`CatalogError` and
    nothing is synced or deleted. A non-UTF-8 byte inside a string fails that item only."""
    text = path.read_bytes().decode("utf-8-sig", "surrogateescape")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        where = f"{path}"
        if isinstance(exc, json.JSONDecodeError):
            where = f"{path}: line {exc.lineno}"
            text = text.split("\n")[exc.lineno - 1]  # judge only the line the parser stopped on
        raise CatalogError(_json_error(where, text, exc)) from None
    if not isinstance(data, list):
        raise CatalogError(f"{path}: a .json catalog must hold an array of product objects")
    for pos, obj in enumerate(data, start=1):
        if isinstance(obj, dict):
            yield pos, obj, None
        else:
            yield pos, None, f"item {pos}: expected a JSON object"


def _iter_csv(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """A header row, then one product per record. Cells stay text (only ``price`` is read as a
    number). A byte-order mark (spreadsheet exports) is skipped; bytes that are not UTF-8 are
    kept as surrogate escapes so only the row holding them fails; a record the csv module cannot
    read (a field over its size limit) fails alone."""
    with path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        try:
            fieldnames = reader.fieldnames
        except csv.Error as exc:
            raise CatalogError(f"{path}: cannot read the CSV header row ({exc})") from None
        if not fieldnames:
            raise CatalogError(f"{path}: CSV has no header row")
        for name in fieldnames:
            bad = undecodable(name)
            if bad:
                raise CatalogError(
                    f"{path}: CSV header column {_show(name)!r} is not valid UTF-8 ({bad})"
                )
        names = [f.strip() for f in fieldnames]
        if "id" not in names:
            raise CatalogError(f"{path}: CSV header has no 'id' column")
        twice = sorted({n for n in names if n and names.count(n) > 1})
        if twice:  # the reader would keep the last column's cell silently
            raise CatalogError(
                f"{path}: CSV header names a column twice: {', '.join(map(repr, twice))}"
            )
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                lineno = reader.reader.line_num  # DictReader counts successful records only
                yield lineno, None, f"line {lineno}: unreadable CSV record ({exc})"
                continue
            lineno = reader.line_num
            if None in row:
                yield lineno, None, f"line {lineno}: more values than header columns"
                continue
            yield lineno, {k.strip(): (v if v != "" else None) for k, v in row.items()}, None


def _loose_id(raw: Any) -> str | None:
    """The product id of a row that may be invalid, by the same rule as ``Product.id``."""
    try:
        return Product._id(raw)
    except ValueError:
        return None


def read_catalog(path: str | Path) -> Catalog:
    """Read and validate a catalog. Invalid rows (missing id, duplicate id, bad JSON, bad price,
    a value Qdrant cannot store, bytes that are not UTF-8...) are collected in ``invalid`` with
    the reason, one row each; valid rows are kept in file order.

    Raises :class:`CatalogError` when the file itself cannot be read (not found, no CSV header,
    a ``.json`` file that is not valid JSON): nothing is synced or deleted then.
    """
    path = Path(path)
    if path.is_dir():
        raise CatalogError(
            f"{path} is a folder: give the catalog file in it (.jsonl, .csv or .json)"
        )
    if not path.is_file():
        raise CatalogError(f"catalog file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        rows = _iter_jsonl(path)
    elif suffix == ".json":
        rows = _iter_json_array(path)
    elif suffix in (".csv", ".tsv"):
        rows = _iter_csv(path)
    else:
        raise CatalogError(
            f"{path}: unsupported catalog format {suffix!r} (use .jsonl, .json, .csv or .tsv)"
        )

    label = "item" if suffix == ".json" else "line"  # a .json array counts its items
    catalog = Catalog(path=path.resolve())
    seen: dict[str, int] = {}
    try:
        for lineno, obj, err in rows:
            if obj is None:
                catalog.invalid.append(CatalogRow(lineno, None, err))
                continue
            pid = _loose_id(obj.get("id"))
            clash = sorted(RESERVED_FIELDS & set(obj))
            if clash:
                catalog.invalid.append(
                    CatalogRow(lineno, pid, f"{label} {lineno}: reserved field(s) {clash}")
                )
                continue
            try:
                product = Product.model_validate(obj)
            except ValidationError as exc:
                catalog.invalid.append(
                    CatalogRow(lineno, pid, f"{label} {lineno}: {_format_validation(exc)}")
                )
                continue
            if product.id in seen:
                # The first row with an id wins; later rows with the same id are reported.
                catalog.invalid.append(
                    CatalogRow(
                        lineno,
                        product.id,
                        f"{label} {lineno}: duplicate id"
                        f" (first seen on {label} {seen[product.id]})",
                    )
                )
                continue
            seen[product.id] = lineno
            catalog.products.append(product)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        catalog.complete = False
        catalog.invalid.append(CatalogRow(-1, None, f"catalog read stopped: {exc}"))
    return catalog


def payload_hash(product: Product) -> str:
    """Hash of the whole payload. A change here alone rewrites the payload, not the vectors."""
    return hashlib.sha256(
        json.dumps(product.payload(), sort_keys=True, default=str).encode()
    ).hexdigest()
