"""Reading a product catalog (JSONL / NDJSON, JSON, CSV or TSV) into validated :class:`Product`
rows."""

from __future__ import annotations

import csv
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from qdrant_mm.errors import CatalogError

#: Namespace of the UUIDv5 point ids; changing it would orphan every stored point.
POINT_NAMESPACE = uuid.UUID("6b1f3c1e-5d8a-4d3e-9a55-0c1e6a7f2b90")

#: Payload keys qdrant-mm writes itself; a catalog field with one of these names is refused.
RESERVED_FIELDS = frozenset(
    {"product_id", "content_hash", "payload_hash", "interrogator_text", "image_sha256"}
)


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

    @field_validator("price", mode="before")
    @classmethod
    def _price(cls, v: Any) -> float | None:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        try:
            p = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"price must be a number, got {v!r}") from None
        if p != p or p in (float("inf"), float("-inf")):
            raise ValueError(f"price must be a finite number, got {v!r}")
        return p

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


def _format_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "row"
        if err["type"] == "missing":  # pydantic says "Field required"; say which and what
            msg = f"{loc} is required" + (" (a string or an integer)" if loc == "id" else "")
        else:
            msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    with path.open("r", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield lineno, None, f"line {lineno}: invalid JSON ({exc.msg})"
                continue
            if not isinstance(obj, dict):
                yield lineno, None, f"line {lineno}: expected a JSON object"
                continue
            yield lineno, obj, None


def _iter_json_array(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """A ``.json`` file holding one array of product objects (positions count from 1)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{path}: invalid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, list):
        raise CatalogError(f"{path}: a .json catalog must hold an array of product objects")
    for pos, obj in enumerate(data, start=1):
        if isinstance(obj, dict):
            yield pos, obj, None
        else:
            yield pos, None, f"item {pos}: expected a JSON object"


def _iter_csv(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    with path.open("r", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        if not reader.fieldnames:
            raise CatalogError(f"{path}: CSV has no header row")
        if "id" not in [f.strip() for f in reader.fieldnames]:
            raise CatalogError(f"{path}: CSV header has no 'id' column")
        for row in reader:
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
    """Read and validate a catalog. Invalid rows (missing id, duplicate id, bad JSON, bad price...)
    are collected in ``invalid`` with the reason; valid rows are kept in file order.

    Raises :class:`CatalogError` when the file itself cannot be read.
    """
    path = Path(path)
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
                    CatalogRow(lineno, pid, f"line {lineno}: reserved field(s) {clash}")
                )
                continue
            try:
                product = Product.model_validate(obj)
            except ValidationError as exc:
                catalog.invalid.append(
                    CatalogRow(lineno, pid, f"line {lineno}: {_format_validation(exc)}")
                )
                continue
            if product.id in seen:
                # The first row with an id wins; later rows with the same id are reported.
                catalog.invalid.append(
                    CatalogRow(
                        lineno,
                        product.id,
                        f"line {lineno}: duplicate id (first seen on line {seen[product.id]})",
                    )
                )
                continue
            seen[product.id] = lineno
            catalog.products.append(product)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        catalog.complete = False
        catalog.invalid.append(CatalogRow(-1, None, f"catalog read stopped: {exc}"))
    return catalog


def content_hash(product: Product, image_digest: str, model_ids: dict[str, str]) -> str:
    """Hash of everything the models see: image bytes, title and description, model ids.
    When it changes the product is re-embedded."""
    h = hashlib.sha256()
    h.update(image_digest.encode())
    h.update(product.model_text().encode())
    h.update(json.dumps(model_ids, sort_keys=True).encode())
    return h.hexdigest()


def payload_hash(product: Product) -> str:
    """Hash of the whole payload. A change here alone rewrites the payload, not the vectors."""
    return hashlib.sha256(
        json.dumps(product.payload(), sort_keys=True, default=str).encode()
    ).hexdigest()
