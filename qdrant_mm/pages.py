"""Pages of a ranking whose exactly tied scores are ordered by product id.

Products with the same photos and text (a shop's duplicate listings, variants sharing their
pictures) score exactly the same. The engine returns tied points in whatever order its search
met them, and that order changes with the page asked for: paging through the results with
``offset`` showed some of them twice and others never. Here a page is cut from a window of
the ranking that holds every product tied with its first and its last hit (up to
:data:`MAX_TIE_REACH` of them past either end), sorted by score and then by id (the product
id as a string: ``"sku-10"`` before ``"sku-9"``), so consecutive pages follow one order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar


class Scored(Protocol):
    """A hit: what the order of a page needs of it."""

    @property
    def id(self) -> str: ...

    @property
    def score(self) -> float: ...


H = TypeVar("H", bound=Scored)

#: The most hits fetched past either end of a page to find where its ties end. Beyond it (more
#: than this many products tied at a page's edge) the window holds part of the tie group, as the
#: engine picked it on that call: pages are still sorted by score and id, but tied products may
#: then show on two pages or on none.
MAX_TIE_REACH = 1024
#: How much a side of the window grows while its edge still ties (every widening runs the whole
#: search again: the engine orders ties anew on each call, so windows cannot be stitched).
GROWTH = 4


def by_score(hit: Scored) -> tuple[float, str]:
    """Sort key: best score first, exact ties by id."""
    return (-hit.score, hit.id)


def tie_stable_page(fetch: Callable[[int, int], Sequence[H]], limit: int, offset: int) -> list[H]:
    """Hits ``offset`` to ``offset + limit`` of the ranking ``fetch(limit, offset)`` gives
    (best first), exactly tied scores ordered by id.

    The window fetched holds one hit more on each side of the page (none before the first
    page); while the hit at an end of the window ties with the page's hit at that end, that side
    widens to at least ``limit`` hits and by :data:`GROWTH` times after that, up to
    :data:`MAX_TIE_REACH`. Without ties at its edges (the usual case) a page costs one fetch of
    ``limit + 2`` hits (``limit + 1`` for the first page)."""
    before, after = min(1, offset), 1
    while True:
        start, want = offset - before, limit + before + after
        hits = list(fetch(want, start))
        if len(hits) <= before:
            return []
        last = min(before + limit, len(hits)) - 1  # the page's last hit, in ``hits``
        grow_before = before < min(MAX_TIE_REACH, offset) and hits[0].score == hits[before].score
        grow_after = (
            after < MAX_TIE_REACH and len(hits) == want and hits[-1].score == hits[last].score
        )
        if not (grow_before or grow_after):
            return sorted(hits, key=by_score)[before : before + limit]
        if grow_before:
            before = min(max(GROWTH * before, limit), MAX_TIE_REACH, offset)
        if grow_after:
            after = min(max(GROWTH * after, limit), MAX_TIE_REACH)
