"""Convert ``qdrant_client.models.Filter`` into Qdrant Edge's filter classes.

qdrant-mm expresses every filter with qdrant-client's models; the Edge engine has its own
(``qdrant_edge.Filter``, ``FieldCondition``, ...). The two mirror each other, so this is a
structural translation. Supported:

* ``Filter`` with ``must`` / ``should`` / ``must_not`` (a list or a single condition) and
  ``min_should``, nested ``Filter`` at any depth;
* ``FieldCondition`` with ``match`` (value, any, except, text, text_any, phrase, prefix,
  substring), ``range`` (``Range`` gt/gte/lt/lte, ``DatetimeRange``), ``values_count``,
  ``geo_bounding_box`` / ``geo_radius`` / ``geo_polygon``, ``is_empty`` / ``is_null``;
* ``IsEmptyCondition``, ``IsNullCondition``, ``HasIdCondition``, ``HasVectorCondition``,
  ``NestedCondition``, ``SliceCondition``.

Anything else raises :class:`~qdrant_mm.errors.QueryError` naming what could not be converted,
never a silently weaker filter. A plain ``dict`` is accepted and validated as a ``Filter``.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from qdrant_client import models

from qdrant_mm.backends.common import point_id
from qdrant_mm.errors import QueryError


def to_edge_filter(flt: models.Filter | dict[str, Any] | None, qe: Any = None) -> Any | None:
    """The ``qdrant_edge.Filter`` equivalent of ``flt`` (None stays None).

    ``qe`` is the imported ``qdrant_edge`` module (imported here when not given).
    """
    if flt is None:
        return None
    if qe is None:
        import qdrant_edge as qe  # optional dependency: imported on use
    if isinstance(flt, dict):
        try:
            flt = models.Filter.model_validate(flt)
        except Exception as exc:  # pydantic.ValidationError
            raise QueryError(f"invalid filter: {exc}") from exc
    if not isinstance(flt, models.Filter):
        raise QueryError(f"filter must be a qdrant_client.models.Filter, got {type(flt).__name__}")
    return _Converter(qe).filter(flt)


class _Converter:
    def __init__(self, qe: Any) -> None:
        self.qe = qe

    # --- structure ---------------------------------------------------------------------------
    def filter(self, flt: models.Filter) -> Any:
        qe = self.qe
        min_should = None
        if flt.min_should is not None:
            min_should = qe.MinShould(
                [self.condition(c) for c in flt.min_should.conditions],
                int(flt.min_should.min_count),
            )
        try:
            return qe.Filter(
                must=self.conditions(flt.must),
                should=self.conditions(flt.should),
                must_not=self.conditions(flt.must_not),
                min_should=min_should,
            )
        except (TypeError, ValueError) as exc:  # pragma: no cover - converter produced junk
            raise QueryError(f"filter could not be converted for Qdrant Edge: {exc}") from exc

    def conditions(self, conds: Any) -> list[Any] | None:
        if conds is None:
            return None
        if not isinstance(conds, list):
            conds = [conds]
        return [self.condition(c) for c in conds]

    def condition(self, cond: Any) -> Any:
        qe = self.qe
        if isinstance(cond, models.Filter):
            return self.filter(cond)
        if isinstance(cond, models.FieldCondition):
            return self.field(cond)
        if isinstance(cond, models.IsEmptyCondition):
            return qe.IsEmptyCondition(cond.is_empty.key)
        if isinstance(cond, models.IsNullCondition):
            return qe.IsNullCondition(cond.is_null.key)
        if isinstance(cond, models.HasIdCondition):
            return qe.HasIdCondition(
                {point_id(i, QueryError, "has_id: point id") for i in cond.has_id}
            )
        if isinstance(cond, models.HasVectorCondition):
            return qe.HasVectorCondition(cond.has_vector)
        if isinstance(cond, models.NestedCondition):
            return qe.NestedCondition(cond.nested.key, self.filter(cond.nested.filter))
        slice_cls = getattr(models, "SliceCondition", None)
        if slice_cls is not None and isinstance(cond, slice_cls):
            return qe.SliceCondition(total=cond.slice.total, index=cond.slice.index)
        raise QueryError(
            f"filter condition {type(cond).__name__} is not supported by the Edge backend"
        )

    # --- field conditions ---------------------------------------------------------------------
    def field(self, fc: models.FieldCondition) -> Any:
        qe = self.qe
        kwargs: dict[str, Any] = {}
        if fc.match is not None:
            kwargs["match"] = self.match(fc.key, fc.match)
        if fc.range is not None:
            kwargs["range"] = self.range(fc.key, fc.range)
        if fc.values_count is not None:
            vc = fc.values_count
            kwargs["values_count"] = qe.ValuesCount(lt=vc.lt, gt=vc.gt, lte=vc.lte, gte=vc.gte)
        if fc.geo_bounding_box is not None:
            box = fc.geo_bounding_box
            kwargs["geo_bounding_box"] = qe.GeoBoundingBox(
                self.geo_point(box.top_left), self.geo_point(box.bottom_right)
            )
        if fc.geo_radius is not None:
            kwargs["geo_radius"] = qe.GeoRadius(
                self.geo_point(fc.geo_radius.center), float(fc.geo_radius.radius)
            )
        if fc.geo_polygon is not None:
            poly = fc.geo_polygon
            kwargs["geo_polygon"] = qe.GeoPolygon(
                [self.geo_point(p) for p in poly.exterior.points],
                [[self.geo_point(p) for p in ring.points] for ring in poly.interiors]
                if poly.interiors
                else None,
            )
        if fc.is_empty is not None:
            kwargs["is_empty"] = bool(fc.is_empty)
        if fc.is_null is not None:
            kwargs["is_null"] = bool(fc.is_null)
        if not kwargs:
            # Qdrant rejects a field condition without a condition; Edge would match nothing.
            raise QueryError(f"filter condition on field {fc.key!r} has no condition set")
        return qe.FieldCondition(fc.key, **kwargs)

    def match(self, key: str, m: Any) -> Any:
        qe = self.qe
        if isinstance(m, models.MatchValue):
            if isinstance(m.value, bool):
                # qdrant-edge-py 0.9 reads a Python bool as the integer 1 or 0, so the condition
                # would match no true/false payload value: refused rather than answered wrongly.
                raise QueryError(
                    f"matching {key!r} against true/false is not supported by the Edge backend;"
                    " store the field as a string or a number to filter on it"
                )
            return qe.MatchValue(m.value)
        if isinstance(m, models.MatchAny):
            return qe.MatchAny(list(m.any))
        if isinstance(m, models.MatchExcept):
            return qe.MatchExcept(list(m.except_))
        if isinstance(m, models.MatchText):
            return qe.MatchText(m.text)
        simple = {
            "MatchTextAny": ("text_any", "MatchTextAny"),
            "MatchPhrase": ("phrase", "MatchPhrase"),
            "MatchPrefix": ("prefix", "MatchPrefix"),
            "MatchSubstring": ("substring", "MatchSubstring"),
        }
        for client_name, (attr, edge_name) in simple.items():
            cls = getattr(models, client_name, None)
            if cls is not None and isinstance(m, cls) and hasattr(qe, edge_name):
                return getattr(qe, edge_name)(getattr(m, attr))
        raise QueryError(
            f"match {type(m).__name__} on field {key!r} is not supported by the Edge backend"
        )

    def range(self, key: str, r: Any) -> Any:
        qe = self.qe
        if isinstance(r, models.Range):
            return qe.RangeFloat(gte=_num(r.gte), gt=_num(r.gt), lte=_num(r.lte), lt=_num(r.lt))
        if isinstance(r, models.DatetimeRange):
            return qe.RangeDateTime(gte=_iso(r.gte), gt=_iso(r.gt), lte=_iso(r.lte), lt=_iso(r.lt))
        raise QueryError(
            f"range {type(r).__name__} on field {key!r} is not supported by the Edge backend"
        )

    def geo_point(self, p: models.GeoPoint) -> Any:
        return self.qe.GeoPoint(lon=float(p.lon), lat=float(p.lat))


def _num(v: float | None) -> float | None:
    return None if v is None else float(v)


def _iso(v: _dt.datetime | _dt.date | str | None) -> str | None:
    """ISO 8601 text; naive datetimes are UTC, as Qdrant reads them."""
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=_dt.timezone.utc)
        return v.isoformat()
    return _dt.datetime(v.year, v.month, v.day, tzinfo=_dt.timezone.utc).isoformat()
