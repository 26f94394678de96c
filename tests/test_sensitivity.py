"""The weight intervals that keep a top-K order, against brute force along the slider path."""

from __future__ import annotations

import numpy as np
import pytest

from qdrant_mm.evaluation.sensitivity import slider_path, top_k_at, weight_intervals
from qdrant_mm.weights import CHANNELS


def _case(seed: int, n: int = 25):
    rng = np.random.default_rng(seed)
    ids = [f"p{i:02d}" for i in rng.permutation(n)]
    scores = rng.uniform(-0.2, 0.9, size=(n, 3))
    w = rng.dirichlet(np.ones(3))
    if seed % 5 == 0:  # a corner and an edge of the simplex too
        w = np.eye(3)[seed % 3] if seed % 10 == 0 else np.array([0.5, 0.5, 0.0])
    return ids, scores, w


def _order_along(ids, scores, w, c, ts, k):
    r, d = slider_path(w, c)
    return [top_k_at(scores, ids, r + t * d, k) for t in ts]


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("k", [1, 3, 8])
def test_intervals_match_brute_force(seed, k):
    ids, scores, w = _case(seed)
    current = top_k_at(scores, ids, w, k)
    for c, iv in enumerate(weight_intervals(ids, scores, w, k)):
        assert iv.channel == CHANNELS[c] and iv.value == pytest.approx(w[c])
        assert 0.0 <= iv.low <= iv.value <= iv.high <= 1.0
        r, d = slider_path(w, c)
        assert np.allclose(r + w[c] * d, w)  # the path passes through the current weights
        # inside the interval: the same order everywhere (a fine grid)
        inside = np.linspace(iv.low, iv.high, 401)[1:-1]
        assert all(o == current for o in _order_along(ids, scores, w, c, inside, k))
        # just beyond each end that is not the slider's end: another order
        if iv.high < 1.0:
            (beyond,) = _order_along(ids, scores, w, c, [iv.high + 1e-7], k)
            assert beyond != current and iv.high_swap is not None
            assert iv.high_swap[0] in current
        if iv.low > 0.0:
            (beyond,) = _order_along(ids, scores, w, c, [iv.low - 1e-7], k)
            assert beyond != current and iv.low_swap is not None
        # and brute force on a grid finds its first change no later than the interval's end
        grid = np.linspace(0.0, 1.0, 2001)
        orders = _order_along(ids, scores, w, c, grid, k)
        changed = [t for t, o in zip(grid, orders, strict=True) if o != current]
        above = [t for t in changed if t > w[c]]
        below = [t for t in changed if t < w[c]]
        assert (min(above) if above else 1.0) == pytest.approx(iv.high, abs=1e-3 + 1e-9)
        if iv.high == 1.0:
            assert not above
        assert (max(below) if below else 0.0) == pytest.approx(iv.low, abs=1e-3 + 1e-9)


@pytest.mark.parametrize("seed", range(20))
def test_candidates_with_a_floor_give_safe_intervals(seed):
    """Only each channel's top few known: the interval never claims an order the full set of
    products breaks, and an end marked exact is where the full order really changes."""
    rng = np.random.default_rng(100 + seed)
    n, k = 60, 4
    ids = [f"p{i:02d}" for i in range(n)]
    scores = rng.uniform(0, 1, size=(n, 3))
    w = rng.dirichlet(np.ones(3))
    current = top_k_at(scores, ids, w, k)
    for m in range(6, n):  # each channel's top m, m the least that provably holds the top 4
        keep = sorted(set().union(*(np.argsort(-scores[:, c])[:m] for c in range(3))))
        floor = np.array([np.sort(scores[:, c])[::-1][m - 1] for c in range(3)])
        sub_ids = [ids[i] for i in keep]
        if np.sort(scores[keep] @ w)[::-1][k - 1] > floor @ w:
            break
    assert top_k_at(scores[keep], sub_ids, w, k) == current
    for c, iv in enumerate(weight_intervals(sub_ids, scores[keep], w, k, floor)):
        inside = np.linspace(iv.low, iv.high, 201)[1:-1]
        assert all(o == current for o in _order_along(ids, scores, w, c, inside, k))
        if iv.high_exact and iv.high < 1.0:
            assert _order_along(ids, scores, w, c, [iv.high + 1e-7], k)[0] != current
        if not iv.high_exact:
            assert iv.high_swap is None


def test_ties_and_bad_k():
    ids = ["a", "b"]
    scores = np.array([[0.5, 0.2, 0.0], [0.5, 0.2, 0.0]])
    (blip, _, _) = weight_intervals(ids, scores, [1 / 3, 1 / 3, 1 / 3], 2)
    assert blip.low == 0.0 and blip.high == 1.0  # equal lines never cross: ids decide
    with pytest.raises(ValueError, match="K must be"):
        weight_intervals(ids, scores, [1, 0, 0], 0)
