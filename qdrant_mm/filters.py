"""Payload filters: any ``qdrant_client.models.Filter``, or a short form built from
``field=value`` conditions (``category=shoes``, ``brand=acme|zen``, ``price>=10``, ``price<50``).

Every filter is checked before it reaches the engine (:func:`check_filter`): a number that is
NaN or infinite (``price>=nan``, ``Range(lt=inf)``, a NaN geo radius) and filters nested deeper
than :data:`MAX_FILTER_DEPTH` are refused with a :class:`~qdrant_mm.errors.QueryError`. Qdrant
Edge panics on a NaN range bound instead of answering, and an infinite bound is never what a
shopper meant.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from qdrant_mm.errors import QueryError

if TYPE_CHECKING:
    from qdrant_client import models

_COND = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|!=|=|:|>|<)\s*(.*?)\s*$")
_RANGE_OPS = {">=": "gte", "<=": "lte", ">": "gt", "<": "lt"}
_NUMERIC_FIELDS = frozenset({"price"})
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
#: Filters nest at most this deep (a deeper one is refused, not recursed into).
MAX_FILTER_DEPTH = 32


def _number(text: str, raw: str) -> float:
    try:
        number = float(raw)
    except ValueError:
        raise QueryError(f"filter {text!r}: {raw!r} is not a number") from None
    if not math.isfinite(number):
        raise QueryError(f"filter {text!r}: {raw!r} is not a finite number")
    return number


def _value(field: str, raw: str, text: str) -> Any:
    return _number(text, raw) if field in _NUMERIC_FIELDS else raw


def check_filter(flt: models.Filter | None) -> models.Filter | None:
    """Refuse a filter the engine must not see: a non-finite number anywhere in it (a range
    bound, a geo coordinate or radius...), or nesting deeper than :data:`MAX_FILTER_DEPTH`.
    Returns the filter unchanged."""
    if flt is not None:
        _check_node(flt, "filter", 0)
    return flt


def _check_dict_depth(value: Mapping[str, Any]) -> None:
    """A filter given as JSON: refuse too deep nesting before pydantic recurses into it."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            if depth > MAX_FILTER_DEPTH:
                raise QueryError(f"filter is nested more than {MAX_FILTER_DEPTH} levels deep")
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend((v, depth) for v in node)


def _check_node(node: Any, where: str, depth: int) -> None:
    from qdrant_client import models  # imported on use: a search without filters skips it

    if depth > MAX_FILTER_DEPTH:
        raise QueryError(f"filter is nested more than {MAX_FILTER_DEPTH} levels deep")
    if isinstance(node, float):
        if not math.isfinite(node):
            raise QueryError(f"{where} must be a finite number, got {node}")
    elif isinstance(node, int) and not isinstance(node, bool):
        if not _INT_MIN <= node <= _INT_MAX:  # the engine reads 64-bit integers
            raise QueryError(f"{where} is out of range (a 64-bit integer), got {_digits(node)}")
    elif isinstance(node, BaseModel):
        if isinstance(node, models.FieldCondition):
            where = f"filter on {node.key}"
        if isinstance(node, (models.ValuesCount, models.MinShould)):
            counts = {k: v for k, v in node.model_dump().items() if isinstance(v, int)}
            for name, value in counts.items():
                if value < 0:
                    raise QueryError(f"{where}: {name} is a count, so at least 0, got {value}")
        for name in type(node).model_fields:
            value = getattr(node, name)
            if value is not None:
                _check_node(value, f"{where}: {name}", depth + 1)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _check_node(item, where, depth)
    elif isinstance(node, Mapping):
        for item in node.values():
            _check_node(item, where, depth)


def _digits(n: int) -> str:
    """``n`` for an error message (a number of 4,300 digits or more cannot be printed)."""
    return str(n) if n.bit_length() < 200 else f"an integer of {n.bit_length()} bits"


def condition_field(text: str) -> str | None:
    """The payload field a short-form condition tests (``"price<=50"`` → ``"price"``)."""
    m = _COND.match(text)
    return m.group(1) if m else None


def parse_conditions(conditions: Iterable[str]) -> models.Filter | None:
    """``["category=shoes", "price<=50"]`` → a Filter where every condition must hold."""
    conditions = list(conditions)
    if not conditions:
        return None
    from qdrant_client import models  # imported on use: a search without filters skips it

    must: list[Any] = []
    must_not: list[Any] = []
    for text in conditions:
        m = _COND.match(text)
        if not m or not m.group(3):
            raise QueryError(
                f"cannot read filter {text!r}: use field=value, field=a|b, field!=value,"
                " or field>=number (also >, <, <=)"
            )
        field, op, raw = m.groups()
        if raw[0] in "=<>!":  # "category==Bag", "price=<5": an operator mistyped, not a value
            raise QueryError(
                f"cannot read filter {text!r}: {op + raw[0]!r} is not an operator; use"
                " field=value, field!=value, or field>=number (also >, <, <=)"
            )
        if op in _RANGE_OPS:
            number = _number(text, raw)
            must.append(
                models.FieldCondition(key=field, range=models.Range(**{_RANGE_OPS[op]: number}))
            )
            continue
        values = [_value(field, v.strip(), text) for v in raw.split("|") if v.strip()]
        target = must_not if op == "!=" else must
        if field in _NUMERIC_FIELDS:
            target.append(
                models.Filter(
                    should=[
                        models.FieldCondition(key=field, range=models.Range(gte=v, lte=v))
                        for v in values
                    ]
                )
            )
        elif len(values) == 1:
            target.append(
                models.FieldCondition(key=field, match=models.MatchValue(value=values[0]))
            )
        else:
            target.append(models.FieldCondition(key=field, match=models.MatchAny(any=values)))
    if not must and not must_not:
        return None
    return models.Filter(must=must or None, must_not=must_not or None)


def split_conditions(texts: Iterable[str]) -> list[str]:
    """The conditions of short-form filter strings: each may hold several, separated by ``,``
    or ``;`` (``"category=Bag,price<=150"`` is two), as ``--filter``, the service's ``filter``
    and the Python API all take them."""
    return [c for text in texts for c in re.split(r"[,;]", text) if c.strip()]


def to_filter(value: models.Filter | Mapping[str, Any] | str | Iterable[str] | None):
    """Accept a Filter, a Qdrant filter as a dict (JSON), a condition string or a list of them;
    the result is checked with :func:`check_filter`."""
    if value is None:
        return None
    from qdrant_client import models  # imported on use: a search without filters skips it

    if isinstance(value, models.Filter):
        return check_filter(value)
    if isinstance(value, str):
        return parse_conditions(split_conditions([value]))
    if isinstance(value, Mapping):
        _check_dict_depth(value)
        try:
            flt = models.Filter.model_validate(value)
        except Exception as exc:  # pydantic error: say what was wrong
            raise QueryError(f"invalid Qdrant filter: {exc}") from None
        return check_filter(flt)
    conditions = list(value)
    for c in conditions:
        if not isinstance(c, str):
            raise QueryError(
                f"a filter list holds condition strings (such as 'price<=50'), got {c!r}"
            )
    return parse_conditions(split_conditions(conditions))
