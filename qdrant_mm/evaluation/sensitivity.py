"""How far each weight can move before a query's top-K order changes.

Parameterisation: the tuning page's sliders. Moving channel ``c`` to ``t`` rescales the other
two proportionally so the weights stay on the simplex::

    w(t) = t · e_c + (1 - t) · r,    r = w_{-c} / (1 - w_c)    (r = the other two halved at w_c = 1)

so ``w(w_c) = w`` and ``t`` runs over ``[0, 1]``. Along that path every product's fused score is
a line, ``f_i(t) = S_i · r + t · (S_ic - S_i · r)``, so the order of two products changes exactly
where their lines cross. The top-K *order* (the first K ids, in order) stays the same for ``t``
in the open interval ``(low, high)`` around ``w_c``, where ``high`` (``low``) is the nearest
crossing above (below) ``w_c`` of: two neighbours of the top K, or the K-th product and any
product below it. Exact when every product's channel scores are known.

With only candidates known (the top products of each channel), a product outside them scores
at most ``floor_c`` on each channel (the last candidate's score on ``c``), hence at most the
line ``B(t) = floor · w(t)``; its crossing with the K-th product's line bounds the interval
safely. When that bound is the nearest crossing, the order holds *at least* that far
(``low_exact`` / ``high_exact`` False).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from qdrant_mm.weights import CHANNELS, Weights


class WeightInterval(BaseModel):
    """The values ``t`` of one weight, moved along the simplex as a slider moves it, that keep
    the top-K order: the open interval ``(low, high)`` containing ``value``."""

    channel: str
    value: float
    low: float
    high: float
    low_exact: bool = True
    """False: ``low`` is where a product outside the candidates *might* enter (a bound)."""
    high_exact: bool = True
    low_swap: list[str] | None = None
    """The two products whose order changes at ``low`` (upper one first), if candidates."""
    high_swap: list[str] | None = None


def slider_path(weights: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray]:
    """``(r, d)`` with ``w(t) = r + t · d`` the path of channel ``c`` (see the module doc)."""
    w = np.asarray(weights, dtype=np.float64)
    r = w.copy()
    r[c] = 0.0
    rest = r.sum()
    if rest > 1e-9:
        r /= rest
    else:  # a corner: the page splits the rest evenly
        r[:] = 1.0 / (len(w) - 1)
        r[c] = 0.0
    d = -r
    d[c] += 1.0
    return r, d


def order(scores: np.ndarray, weights: np.ndarray, ids: Sequence[str]) -> np.ndarray:
    """Indices by fused score descending, ties by id ascending (the candidates' order)."""
    tie = np.empty(len(ids), dtype=np.int64)
    tie[sorted(range(len(ids)), key=list(ids).__getitem__)] = np.arange(len(ids))
    return np.lexsort((tie, -(scores @ weights)))


def weight_intervals(
    ids: Sequence[str],
    scores: np.ndarray,
    weights: Weights | Sequence[float],
    k: int,
    floor: Sequence[float] | None = None,
) -> list[WeightInterval]:
    """One :class:`WeightInterval` per channel for the top ``k`` of the products ``ids`` whose
    channel scores are the rows of ``scores`` (columns in ``CHANNELS`` order). ``floor``: per
    channel, the highest score a product not in ``ids`` can have (None: ``ids`` are all)."""
    if isinstance(weights, Weights):
        weights = [getattr(weights, ch) for ch in CHANNELS]
    w = np.asarray(weights, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64).reshape(len(ids), len(CHANNELS))
    if k < 1:
        raise ValueError(f"K must be >= 1, got {k}")
    ranked = order(s, w, ids)
    top, rest = ranked[:k], ranked[k:]
    upper = np.concatenate([top[:-1], np.repeat(top[-1:], len(rest))])
    lower = np.concatenate([top[1:], rest])
    outside = floor is not None and np.isfinite(np.asarray(floor, dtype=np.float64)).all()
    out = []
    for c, ch in enumerate(CHANNELS):
        r, d = slider_path(w, c)
        a, b = s @ r, s @ d
        alpha = a[upper] - a[lower]  # the gap g(t) = alpha + beta · t of each pair
        beta = b[upper] - b[lower]
        pairs = [[ids[i], ids[j]] for i, j in zip(upper, lower, strict=True)]
        if outside and len(top):
            fl = np.asarray(floor, dtype=np.float64)
            alpha = np.append(alpha, a[top[-1]] - fl @ r)
            beta = np.append(beta, b[top[-1]] - fl @ d)
            pairs.append(None)
        t0 = float(w[c])
        lo, hi = 0.0, 1.0
        lo_pair = hi_pair = None
        with np.errstate(divide="ignore", invalid="ignore"):
            cross = -alpha / beta
        closing = np.where(beta < 0, cross, np.inf)  # gaps that close as t grows
        m = int(np.argmin(closing)) if len(closing) else 0
        if len(closing) and closing[m] < 1.0:
            hi, hi_pair = max(t0, float(closing[m])), m
        opening = np.where(beta > 0, cross, -np.inf)  # ... as t shrinks
        m = int(np.argmax(opening)) if len(opening) else 0
        if len(opening) and opening[m] > 0.0:
            lo, lo_pair = min(t0, float(opening[m])), m
        out.append(
            WeightInterval(
                channel=ch,
                value=t0,
                low=lo,
                high=hi,
                low_exact=lo_pair is None or pairs[lo_pair] is not None,
                high_exact=hi_pair is None or pairs[hi_pair] is not None,
                low_swap=pairs[lo_pair] if lo_pair is not None else None,
                high_swap=pairs[hi_pair] if hi_pair is not None else None,
            )
        )
    return out


def top_k_at(scores: np.ndarray, ids: Sequence[str], weights: np.ndarray, k: int) -> list[str]:
    """The top ``k`` ids at ``weights`` (for checks and tests)."""
    return [ids[i] for i in order(np.asarray(scores, dtype=np.float64), weights, ids)[:k]]
