"""Pages of a ranking with tied scores (:mod:`qdrant_mm.pages`): consecutive pages follow one
order whatever order the engine gives tied hits in, each call."""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from qdrant_mm.pages import MAX_TIE_REACH, by_score, tie_stable_page


@dataclass(frozen=True)
class Hit:
    id: str
    score: float


class Engine:
    """A ranking by score whose tied hits come in a different order on every call (as the
    engine's do when the page asked for changes), with the calls counted."""

    def __init__(self, hits: list[Hit], seed: int = 0) -> None:
        self.hits = hits
        self.rng = random.Random(seed)
        self.calls: list[tuple[int, int]] = []

    def fetch(self, limit: int, offset: int) -> list[Hit]:
        self.calls.append((limit, offset))
        shuffled = self.hits[:]
        self.rng.shuffle(shuffled)
        ranked = sorted(shuffled, key=lambda h: -h.score)  # stable: ties stay shuffled
        return ranked[offset : offset + limit]


def pages(engine: Engine, limit: int) -> list[str]:
    out: list[str] = []
    while True:
        page = tie_stable_page(engine.fetch, limit, len(out))
        assert len(page) <= limit
        out += [h.id for h in page]
        if len(page) < limit:
            return out


@settings(max_examples=200, deadline=None)
@given(
    scores=st.lists(st.sampled_from([0.9, 0.5, 0.25, 0.1]), min_size=0, max_size=60),
    limit=st.integers(1, 12),
    seed=st.integers(0, 2**16),
)
def test_pages_list_every_hit_once_in_score_then_id_order(scores, limit, seed):
    hits = [Hit(f"sku-{i:02d}", s) for i, s in enumerate(scores)]
    got = pages(Engine(hits, seed), limit)
    assert got == [h.id for h in sorted(hits, key=by_score)]


def test_without_ties_a_page_is_one_fetch_of_one_more_hit_each_side():
    engine = Engine([Hit(f"p{i}", 1.0 - i / 100) for i in range(50)])
    page = tie_stable_page(engine.fetch, 10, 20)
    assert [h.id for h in page] == [f"p{i}" for i in range(20, 30)]
    assert engine.calls == [(12, 19)]
    assert [h.id for h in tie_stable_page(engine.fetch, 10, 0)] == [f"p{i}" for i in range(10)]
    assert engine.calls[-1] == (11, 0)


def test_a_tie_group_across_pages_is_fetched_whole_once_and_split_by_id():
    hits = [Hit("top", 2.0)] + [Hit(f"dup-{i:02d}", 1.0) for i in range(30)] + [Hit("end", 0.0)]
    engine = Engine(hits, seed=3)
    page = tie_stable_page(engine.fetch, 5, 11)
    assert [h.id for h in page] == [f"dup-{i:02d}" for i in range(10, 15)]
    first, *_ = engine.calls
    assert first == (7, 10)
    start = engine.calls[-1][1]
    assert start == 0  # widened up to the hit above the group ("top")
    assert sum(engine.calls[-1]) >= 32  # and down to the hit below it ("end")


def test_a_tie_group_wider_than_the_reach_still_gives_full_pages():
    n = MAX_TIE_REACH + 100
    engine = Engine([Hit(f"d{i:05d}", 1.0) for i in range(n)], seed=1)
    page = tie_stable_page(engine.fetch, 10, 500)
    assert len(page) == 10 and len({h.id for h in page}) == 10
    assert max(limit for limit, _ in engine.calls) <= 10 + 2 * MAX_TIE_REACH


def test_the_last_page_of_a_ranking_is_one_fetch():
    """A ranking that ends inside the window has nothing further to tie with."""
    engine = Engine([Hit(f"p{i:02d}", 1.0 - i / 100) for i in range(15)])
    page = tie_stable_page(engine.fetch, 10, 10)
    assert [h.id for h in page] == [f"p{i:02d}" for i in range(10, 15)]
    assert engine.calls == [(12, 9)]
    tied = Engine([Hit(f"p{i:02d}", 1.0) for i in range(15)], seed=2)  # every hit tied
    page = tie_stable_page(tied.fetch, 10, 10)
    assert [h.id for h in page] == [f"p{i:02d}" for i in range(10, 15)]
    assert tied.calls == [(12, 9), (21, 0)]  # widened once, back to the top


def test_a_tie_group_costs_a_few_fetches_not_one_per_hit():
    """Each widening reruns the whole search: a side grows to a page, then GROWTH times."""
    hits = [Hit("top", 2.0)] + [Hit(f"dup-{i:03d}", 1.0) for i in range(100)] + [Hit("end", 0.0)]
    engine = Engine(hits, seed=4)
    page = tie_stable_page(engine.fetch, 10, 0)
    assert [h.id for h in page] == ["top"] + [f"dup-{i:03d}" for i in range(9)]
    # after: 1, 10, 40, 160 (past the group's end): 4 fetches
    assert [limit for limit, _ in engine.calls] == [11, 20, 50, 170]


def test_past_the_end_is_an_empty_page():
    engine = Engine([Hit("a", 1.0), Hit("b", 1.0)])
    assert tie_stable_page(engine.fetch, 10, 2) == []
    assert tie_stable_page(engine.fetch, 10, 5) == []
