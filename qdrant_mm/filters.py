"""Payload filters: any ``qdrant_client.models.Filter``, or a short form built from
``field=value`` conditions (``category=shoes``, ``brand=acme|zen``, ``price>=10``, ``price<50``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from qdrant_client import models

from qdrant_mm.errors import QueryError

_COND = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|!=|=|:|>|<)\s*(.*?)\s*$")
_RANGE_OPS = {">=": "gte", "<=": "lte", ">": "gt", "<": "lt"}
_NUMERIC_FIELDS = frozenset({"price"})


def _value(field: str, raw: str) -> Any:
    if field in _NUMERIC_FIELDS:
        try:
            return float(raw)
        except ValueError:
            raise QueryError(f"filter on {field}: {raw!r} is not a number") from None
    return raw


def parse_conditions(conditions: Iterable[str]) -> models.Filter | None:
    """``["category=shoes", "price<=50"]`` → a Filter where every condition must hold."""
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
        if op in _RANGE_OPS:
            try:
                number = float(raw)
            except ValueError:
                raise QueryError(f"filter {text!r}: {raw!r} is not a number") from None
            must.append(
                models.FieldCondition(key=field, range=models.Range(**{_RANGE_OPS[op]: number}))
            )
            continue
        values = [_value(field, v.strip()) for v in raw.split("|") if v.strip()]
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


def to_filter(value: models.Filter | Mapping[str, Any] | str | Iterable[str] | None):
    """Accept a Filter, a Qdrant filter as a dict (JSON), a condition string or a list of them."""
    if value is None or isinstance(value, models.Filter):
        return value
    if isinstance(value, str):
        return parse_conditions([c for c in re.split(r"[,;]", value) if c.strip()])
    if isinstance(value, Mapping):
        try:
            return models.Filter.model_validate(value)
        except Exception as exc:  # pydantic error: say what was wrong
            raise QueryError(f"invalid Qdrant filter: {exc}") from None
    return parse_conditions(list(value))
