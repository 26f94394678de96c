"""The fusion channels (``blip``, ``clip``, ``interrogator``) and their weights α, β, γ: the
syntax of a weights string and the :class:`Weights` it stands for."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from qdrant_mm.errors import WeightsError

CHANNELS: tuple[str, str, str] = ("blip", "clip", "interrogator")


def _number(v: object) -> float:
    """A weight given as a JSON or Python value: a number or numeric text, never a boolean."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ValueError(f"a weight must be a number, got {v!r}")
    try:
        return float(v)
    except OverflowError:  # an int beyond float range: inf, refused by Weights
        return math.inf


def parse_weights(value: str | dict | list | tuple) -> dict[str, float]:
    """Parse ``"0.5,0.3,0.2"``, ``"blip=0.5,clip=0.5"``, a list or a mapping into a channel map.

    Only the syntax is checked here; :class:`qdrant_mm.weights.Weights` checks the values.
    Raises ValueError for anything that is not a number (``null``, a list, ``true``).
    """
    if isinstance(value, dict):
        return {str(k): _number(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_number(v) for v in value]
        if len(items) != len(CHANNELS):
            raise ValueError(f"expected {len(CHANNELS)} weights (blip,clip,interrogator)")
        return dict(zip(CHANNELS, items, strict=True))
    text = str(value).strip()
    if not text:
        raise ValueError("empty weights")
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if all("=" in p for p in parts):
        out: dict[str, float] = {}
        for p in parts:
            key, _, num = p.partition("=")
            out[key.strip()] = float(num)
        return out
    if any("=" in p for p in parts):
        raise ValueError("mix of named and positional weights")
    if len(parts) != len(CHANNELS):
        raise ValueError(
            f"expected {len(CHANNELS)} comma-separated weights for blip,clip,interrogator,"
            f" got {len(parts)}"
        )
    return dict(zip(CHANNELS, (float(p) for p in parts), strict=True))


class Weights(BaseModel):
    """Weights on the simplex: every value >= 0 and they sum to 1.

    Build with :meth:`from_mapping` (or :meth:`parse`), which refuses negative, NaN, infinite,
    unknown or all-zero weights and normalises the rest to sum to 1. A channel left out gets 0.
    """

    model_config = ConfigDict(frozen=True)

    blip: float
    clip: float
    interrogator: float

    @classmethod
    def from_mapping(cls, weights: Mapping[str, float]) -> Weights:
        unknown = sorted(set(weights) - set(CHANNELS))
        if unknown:
            raise WeightsError(
                f"unknown channel(s) {', '.join(unknown)}; channels are {', '.join(CHANNELS)}"
            )
        values: dict[str, float] = {}
        for ch in CHANNELS:
            raw = weights.get(ch, 0.0)
            try:
                v = float(raw)
            except (TypeError, ValueError):
                raise WeightsError(f"weight of {ch} is not a number: {raw!r}") from None
            if math.isnan(v) or math.isinf(v):
                raise WeightsError(f"weight of {ch} must be a finite number, got {v}")
            if v < 0:
                raise WeightsError(f"weight of {ch} must be >= 0, got {v}")
            values[ch] = v
        largest = max(values.values())
        if largest <= 0:
            raise WeightsError("all weights are zero: at least one channel needs a weight > 0")
        total = sum(values.values())
        if not (math.isfinite(total) and total >= sys.float_info.min):
            # huge weights (1e308 each) would sum to inf and every share to 0; subnormal ones
            # (5e-324) would lose all precision: scale by the largest first. Otherwise divide
            # as is, so weights that already sum to 1 come back unchanged.
            values = {ch: v / largest for ch, v in values.items()}
            total = sum(values.values())
        return cls(**{ch: v / total for ch, v in values.items()})

    @classmethod
    def parse(cls, text: str | Mapping[str, float] | list | tuple) -> Weights:
        """Parse ``"0.5,0.3,0.2"``, ``"blip=1,clip=1"`` or a mapping/sequence."""
        try:
            mapping = parse_weights(text)
        except ValueError as exc:
            raise WeightsError(f"cannot read weights {text!r}: {exc}") from None
        return cls.from_mapping(mapping)

    def as_dict(self) -> dict[str, float]:
        return {ch: getattr(self, ch) for ch in CHANNELS}

    def active(self) -> tuple[str, ...]:
        """Channels with a weight > 0 (the only ones whose query encoder runs)."""
        return tuple(ch for ch in CHANNELS if getattr(self, ch) > 0)

    def __str__(self) -> str:
        return ",".join(f"{getattr(self, ch):.4g}" for ch in CHANNELS)
