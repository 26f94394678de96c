"""Weighted multimodal search: ``score = α·s_blip + β·s_clip + γ·s_interrogator``, exact.

The plan (see ``docs/search.md``): one nearest-neighbour search on the ``fused`` named vector
with the block-scaled query ``concat(α·q_blip, β·q_clip, γ·q_interrogator)``. Its dot product
with a stored ``concat(d_blip, d_clip, d_interrogator)`` is the weighted score itself, so the
engine ranks by the true score, filters inside the search and paginates exactly. The per-channel
scores are read back from the returned points' fused vectors.

``plan="union"`` adds a safety net: the engine also collects each active channel's nearest
neighbours and rescores the union of all candidates exactly on ``fused``.

A collection created with a quantization (``int8``, ``turbo4``, ``turbo2``; recorded in its
metadata) has a quantized copy of ``fused`` that HNSW searches use; the searcher then asks the
engine to fetch ``oversampling x`` the candidates with it (by default as many as the kind needs,
:data:`qdrant_mm.defaults.OVERSAMPLING_BY_QUANTIZATION`, more for a one-channel weighting on
turbo2) and rescore them with the float32
vectors, so the scores returned are still the exact weighted scores. Exact searches are
unchanged.

The plan uses what the collection's layout (``CollectionMeta.layout``) has. On the current one
(``fused`` alone) a one-channel weighting is a fused search whose other blocks are zero, with
a wider ``hnsw_ef`` (:func:`one_channel_ef_factor`: the graph was built for the concatenation),
per-channel scores are read from the hits' fused blocks, and filtered searches let the engine
use ACORN (the graph has no payload links). On a collection of the first layout a one-channel
weighting searches that channel's own vector and graph, as before.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

from qdrant_mm import defaults
from qdrant_mm.backends.base import Backend, Hit, Prefetch, QuantizationSearch, QueryPlan
from qdrant_mm.collection import open_collection
from qdrant_mm.encoders.bundle import ModelBundle
from qdrant_mm.errors import QueryError
from qdrant_mm.filters import check_filter, to_filter
from qdrant_mm.fusion import channel_block_query, query_vector
from qdrant_mm.hit_rows import engine_vector as _engine_vector
from qdrant_mm.hit_rows import matched_row, source_filter
from qdrant_mm.image_modes import to_model_rgb
from qdrant_mm.images import ImageLimits, decode_image, read_image_bytes
from qdrant_mm.pages import by_score, tie_stable_page
from qdrant_mm.profiles import DEFAULT_PROFILE, ProfileStore
from qdrant_mm.schema import (
    FROM_TEXT,
    FUSED,
    LAYOUT_CHANNELS,
    LAYOUT_FUSED,
    LAYOUT_PHOTOS,
    VECTORS_FROM,
    ChannelStats,
    CollectionMeta,
    QueryKind,
)
from qdrant_mm.unicode_text import undecodable
from qdrant_mm.weights import CHANNELS, Weights

if TYPE_CHECKING:  # filters are qdrant_client.models.Filter; loaded where a filter is built
    from qdrant_client import models

log = logging.getLogger(__name__)

MAX_LIMIT = 1000
#: Payload keys sync keeps for itself, not shown in results.
INTERNAL_FIELDS = frozenset({"content_hash", "payload_hash", "image_hashes"})
MAX_OFFSET = 100_000
#: ``hnsw_ef`` multiplier of a one-channel weighting: on a channel's own graph (it has fewer
#: dims) and, on the fused graph, for its narrowest block (such a query lies off the space the
#: graph was built for); wider blocks get less (:func:`one_channel_ef_factor`).
ONE_CHANNEL_EF_FACTOR = 2
SearchPlanName = Literal["fused", "union"]
#: The largest ``hnsw_ef`` the size scaling gives.
MAX_EF = 100_000
#: ``hnsw_ef`` multiplier on a collection where products have several photos: the graph links
#: products by their best-matching photos, and at 100k products x 4 photos recall@10 needs
#: twice the ef of one photo per product (docs/benchmarks.md).
PHOTOS_EF_FACTOR = 2
#: Up to this many text-only products, the photo products are ranked by a search over
#: everything that much deeper, not by one filtered to them.
TEXT_ONLY_OVERFETCH = 100
#: The deepest a search of text-only products is asked for while capping their scores.
MAX_TEXT_ONLY_FETCH = 4 * MAX_LIMIT


def one_channel_ef_factor(meta: CollectionMeta, channel: str) -> float:
    """The ``hnsw_ef`` multiplier of a weighting on ``channel`` alone.

    On the plain ``fused`` layout it shrinks with the block's width:
    ``ONE_CHANNEL_EF_FACTOR * sqrt(narrowest block / this block)``, never below 1. A block's
    chance similarities spread as ``1 / sqrt(width)``, so the wider a block, the more the
    fused graph's neighbours are its own. Measured at 1M products with blocks of 256/512/512
    dims (docs/benchmarks.md): the 256-d ``blip`` block needs twice the ef of the mixed
    weightings for recall@10 ≥ 0.99 (0.983-0.984 at 1x), the 512-d blocks reach it at
    1.4x. On a channel's own graph (first layout) and on photo rows (measured with 2x) it is
    :data:`ONE_CHANNEL_EF_FACTOR`."""
    widths = [meta.dims[ch] for ch in CHANNELS if ch in meta.dims]
    if meta.layout != LAYOUT_FUSED or channel not in meta.dims or min(widths) <= 0:
        return float(ONE_CHANNEL_EF_FACTOR)
    return max(1.0, ONE_CHANNEL_EF_FACTOR * math.sqrt(min(widths) / meta.dims[channel]))


class SearchHit(BaseModel):
    """One result: the fused score and each channel's cosine (None for a channel whose weight
    is 0: its query embedding is never computed)."""

    id: str
    score: float
    scores: dict[str, float | None]
    payload: dict[str, Any]
    #: The catalog reference of the photo that scored best (a product with several photos is
    #: scored by its best one); None for a product stored from its text.
    matched_image: str | None = None
    #: The product has no photo: every channel's vector came from its title and description,
    #: and its channel scores are put on the photo products' scale (``docs/search.md``).
    text_only: bool = False
    #: A product with several photos: each photo's channel scores (``CHANNELS`` order), for
    #: re-ranking under other weights (evaluation, tuning). Not serialised.
    photo_scores: list[list[float | None]] | None = Field(None, exclude=True, repr=False)


class QueryEmbeddings(dict):
    """A query's embeddings (channel -> unit vector) and whether they come from a text or a
    photo (``kind``), which :meth:`Searcher.search_vectors` needs to rank products stored from
    their text."""

    def __init__(self, vectors: Mapping[str, np.ndarray], kind: QueryKind = "text") -> None:
        super().__init__(vectors)
        self.kind = kind


class SearchResult(BaseModel):
    hits: list[SearchHit]
    weights: Weights
    profile: str | None = None
    calibrated: bool = False
    calibration: dict[str, ChannelStats] | None = Field(
        None,
        description="Calibrated searches: each channel's mean and std; a hit's score is then"
        " sum(w_c * (s_c - mean_c) / std_c) over its channel scores s_c (raw cosines), not"
        " sum(w_c * s_c)",
    )


WeightsInput = Weights | Mapping[str, float] | str | list | tuple | None


class Searcher:
    """Search one collection. Models and backend are passed in; nothing is global."""

    def __init__(
        self,
        backend: Backend,
        models: ModelBundle,
        collection: str = defaults.COLLECTION,
        *,
        default_weights: Weights | None = None,
        plan: SearchPlanName = defaults.SEARCH_PLAN,
        union_limit: int = 64,
        hnsw_ef: int | None = defaults.HNSW_EF,
        hnsw_ef_growth: float = defaults.HNSW_EF_GROWTH,
        exact: bool = False,
        exact_below: int = defaults.EXACT_BELOW,
        oversampling: float | None = None,
        image_limits: ImageLimits | None = None,
        meta_ttl: float = 2.0,
    ) -> None:
        if plan not in ("fused", "union"):
            raise QueryError(f"unknown search plan {plan!r}: use 'fused' or 'union'")
        if oversampling is not None and not (
            isinstance(oversampling, (int, float))
            and np.isfinite(oversampling)
            and oversampling >= 1
        ):
            raise QueryError(f"oversampling must be a number >= 1, got {oversampling!r}")
        self.backend = backend
        self.models = models
        self.collection = collection
        self.default_weights = default_weights or Weights.parse(defaults.WEIGHTS)
        self.plan = plan
        self.union_limit = union_limit
        if not (np.isfinite(hnsw_ef_growth) and hnsw_ef_growth >= 0):
            raise QueryError(f"hnsw_ef_growth must be a number >= 0, got {hnsw_ef_growth!r}")
        self.hnsw_ef = hnsw_ef
        self.hnsw_ef_growth = float(hnsw_ef_growth)
        self.exact = exact
        self.exact_below = exact_below
        self.oversampling = None if oversampling is None else float(oversampling)
        self.limits = image_limits or ImageLimits()
        self.profiles = ProfileStore(backend, collection)
        self.meta_ttl = meta_ttl
        self._meta: CollectionMeta | None = None
        self._meta_read_at = 0.0

    def oversampling_for(
        self, meta: CollectionMeta, depth: int = 10, one_channel: bool = False
    ) -> float:
        """Candidates per result collected with the quantized copy before the exact rescoring
        of a page reaching ``depth`` (limit + offset): the ``oversampling`` given, else the
        default of the collection's quantization (for a mixed or a ``one_channel`` weighting),
        lowered for deep pages to :data:`~qdrant_mm.defaults.OVERSAMPLING_CANDIDATES`
        candidates (never below 2x)."""
        if self.oversampling is not None:
            return self.oversampling
        by_kind = (
            defaults.ONE_CHANNEL_OVERSAMPLING_BY_QUANTIZATION
            if one_channel
            else defaults.OVERSAMPLING_BY_QUANTIZATION
        )
        kind = by_kind.get(meta.quantization or "", 1.0)
        return max(min(kind, defaults.OVERSAMPLING_CANDIDATES / max(depth, 1)), min(kind, 2.0))

    @property
    def meta(self) -> CollectionMeta:
        """The collection's metadata (point count, calibration, quantization), checked against
        the models. Re-read when older than ``meta_ttl`` seconds, so a running service follows
        syncs and ``--rebuild`` alias switches made by other processes."""
        now = time.monotonic()
        if self._meta is None or now - self._meta_read_at > self.meta_ttl:
            physical, meta = open_collection(
                self.backend, self.collection, self.models.model_ids(), self.models.dims()
            )
            self._meta = self._live_counts(physical, meta) if meta.writing else meta
            self._meta_read_at = now
        return self._meta

    def _live_counts(self, physical: str, meta: CollectionMeta) -> CollectionMeta:
        """``meta`` with the points and text-only products counted now: a sync has changed
        vectors and not recorded its counts yet (it is running, or it was killed). Should the
        engine refuse a count, the recorded ones are kept."""
        try:
            points = self.backend.count(physical)
            text_only = self.backend.count(physical, source_filter(None, text_only=True))
        except QueryError as exc:
            log.warning("cannot count %r while a sync is unfinished: %s", physical, exc)
            return meta
        return meta.model_copy(update={"points": points, "text_only": text_only})

    def base_ef(self, points: int | None) -> int:
        """The ``hnsw_ef`` of a collection of ``points`` points: ``hnsw_ef`` up to
        :data:`~qdrant_mm.defaults.HNSW_EF_POINTS`, growing as ``(points / that) **
        hnsw_ef_growth`` above (a bigger graph needs a wider search for the same recall)."""
        ef = int(self.hnsw_ef or 0)
        if points is None or points <= defaults.HNSW_EF_POINTS or not self.hnsw_ef_growth:
            return ef
        grown = ef * (points / defaults.HNSW_EF_POINTS) ** self.hnsw_ef_growth
        return min(int(math.ceil(grown)), MAX_EF)

    # --- weights --------------------------------------------------------------------------
    def resolve_weights(
        self, weights: WeightsInput = None, profile: str | None = None
    ) -> tuple[Weights, str | None, bool]:
        """Explicit weights win; else the named profile (an error if missing); else the
        ``default`` profile if one is stored; else the configured default weights. Profiles are
        read on every query, so a change is seen by the next one."""
        if weights is not None:
            return (
                (weights if isinstance(weights, Weights) else Weights.parse(weights)),
                None,
                False,
            )
        if profile is not None:
            found = self.profiles.get(profile)
            if found is None:
                names = ", ".join(p.name for p in self.profiles.list()) or "none"
                raise QueryError(f"no weight profile {profile!r} (profiles: {names})")
            return found.weights, found.name, found.calibrate
        found = self.profiles.get(DEFAULT_PROFILE)
        if found is not None:
            return found.weights, found.name, found.calibrate
        return self.default_weights, None, False

    # --- public API -------------------------------------------------------------------------
    def search(
        self,
        query: str | None = None,
        image: Image.Image | bytes | str | Path | None = None,
        *,
        weights: WeightsInput = None,
        profile: str | None = None,
        limit: int = 10,
        offset: int = 0,
        filter: models.Filter | Mapping[str, Any] | str | list[str] | None = None,
        calibrate: bool | None = None,
    ) -> SearchResult:
        """Search by text (``query``) or by photo (``image``: PIL image, bytes or file path).

        ``weights`` or ``profile`` choose the weights (not both); with neither, those of
        :meth:`resolve_weights`."""
        if weights is not None and profile is not None:
            raise QueryError("give weights or profile, not both")
        if profile is not None and not isinstance(profile, str):
            raise QueryError(f"profile must be a profile name (a string), got {profile!r}")
        if calibrate is not None and not isinstance(calibrate, bool):
            raise QueryError(f"calibrate must be True, False or None, got {calibrate!r}")
        if query is not None and not isinstance(query, str):
            raise QueryError(f"query must be a text (a string), got {type(query).__name__}")
        text = query.strip() if isinstance(query, str) else None
        if text and (bad := undecodable(text)):
            raise QueryError(f"query text is not valid Unicode: {bad}")
        if text and image is not None:
            raise QueryError("give either a text query or an image, not both")
        if not text and image is None:
            raise QueryError("empty query: give a non-empty text query or an image")
        _check_page(limit, offset)
        w, profile_name, profile_calibrate = self.resolve_weights(weights, profile)
        qfilter = to_filter(filter)
        active = w.active()
        if text:
            qvecs = self.models.encode_query_text(text, active)
        else:
            qvecs = self.models.encode_query_image(self.query_image(image), active)
        # The statistics are of text queries against stored documents; an image query's scores
        # (image against image) are spread differently, so it is never calibrated.
        if calibrate and not text:
            raise QueryError(
                "calibration applies to text queries; an image query is not calibrated"
            )
        use_calibration = bool(text) and (profile_calibrate if calibrate is None else calibrate)
        hits = self.search_vectors(
            qvecs,
            w,
            limit=limit,
            offset=offset,
            filter=qfilter,
            calibrate=use_calibration,
            query_kind="text" if text else "image",
        )
        return SearchResult(
            hits=hits,
            weights=w,
            profile=profile_name,
            calibrated=use_calibration,
            calibration=dict(self.meta.calibration or {}) if use_calibration else None,
        )

    def search_vectors(
        self,
        query: Mapping[str, np.ndarray],
        weights: Weights,
        *,
        limit: int = 10,
        offset: int = 0,
        filter: models.Filter | None = None,
        calibrate: bool = False,
        query_kind: QueryKind | None = None,
    ) -> list[SearchHit]:
        """Search with query embeddings already computed (one unit vector per active channel).
        ``query_kind``: whether they come from a text or a photo (products stored from their
        text are put on the photo products' scale for that kind of query); None: the ``kind``
        of ``query`` when it is a :class:`QueryEmbeddings`, else text."""
        _check_page(limit, offset)
        if query_kind is None:
            query_kind = getattr(query, "kind", "text")
        if query_kind not in ("text", "image"):
            raise QueryError(f"query_kind must be 'text' or 'image', got {query_kind!r}")
        filter = check_filter(filter)  # a Filter given from Python: refused before the engine
        meta = self.meta
        calibration = None
        if calibrate:
            if not meta.calibration:
                raise QueryError(
                    "calibration asked for, but the collection has no score statistics yet:"
                    " they are computed by a sync that adds or changes products"
                )
            calibration = meta.calibration
        missing = [ch for ch in weights.active() if ch not in query]
        if missing:
            raise QueryError(f"no query embedding for channel(s) {', '.join(missing)}")
        if not (meta.text_only and meta.source_stats):
            photos = (meta.points or 0) - meta.text_only
            if meta.writing and meta.text_only and photos >= 2 and query_kind == "text":
                # Text-only products written by a sync that has not computed their statistics
                # yet (running, or killed; it needs 2 photo products): on raw scores they
                # would outrank every photo product on a text query, so they wait for the
                # sync that puts them on scale. (On a photo query raw scores sink them.)
                filter = source_filter(filter, False)
            return self._ranked(meta, query, weights, limit, offset, filter, calibration)
        # Products stored from photos and from text are ranked apart, the text-only ones with
        # their channel scores put on the photo scale, and merged by score: exact for both.
        stats = meta.source_stats
        rescale = {ch: stats.text_to_image_scale(query_kind, ch) for ch in CHANNELS}
        depth = limit + offset
        if meta.text_only <= TEXT_ONLY_OVERFETCH:
            # Few text-only products: one search over everything, that many deeper, with the
            # text-only hits dropped, gives the same photo ranking without the filter that made
            # the photo search 1.4-2x the unfiltered one (docs/benchmarks.md; the deeper
            # unfiltered search itself is not measured there).
            ranked = self._ranked(
                meta, query, weights, depth + meta.text_only, 0, filter, calibration
            )
            photos = [h for h in ranked if not h.text_only][:depth]
        else:
            photos = self._ranked(
                meta, query, weights, depth, 0, source_filter(filter, False), calibration
            )
        texts = self._text_only_ranked(meta, query, weights, depth, filter, calibration, rescale)
        merged = sorted(photos + texts, key=by_score)
        return merged[offset : offset + limit]

    def _text_only_ranked(
        self, meta, query, weights, depth, filter, calibration, rescale
    ) -> list[SearchHit]:
        """The top ``depth`` text-only products, their channel scores put on the photo scale
        and capped at 1 (what a photo identical to the query scores on a channel: no channel
        of a text scores above it). The engine ranks by the uncapped scores, so it is asked deeper
        until ``depth`` capped hits score at least the last uncapped one (nothing further
        down can beat them)."""
        flt, fetch = source_filter(filter, True), depth
        while True:
            hits = self._ranked(meta, query, weights, fetch, 0, flt, calibration, rescale)
            capped = [_capped(h, weights, calibration) for h in hits]
            if len(hits) < fetch or fetch >= MAX_TEXT_ONLY_FETCH:
                break
            floor = hits[-1].score
            if sum(h.score >= floor for h in capped) >= depth:
                break
            fetch *= 4
        return sorted(capped, key=by_score)[:depth]

    def _ranked(
        self,
        meta: CollectionMeta,
        query: Mapping[str, np.ndarray],
        weights: Weights,
        limit: int,
        offset: int,
        filter: models.Filter | None,
        calibration: Mapping[str, ChannelStats] | None,
        rescale: Mapping[str, tuple[float, float]] | None = None,
    ) -> list[SearchHit]:
        """One engine search ranking by the weighted score (channel scores mapped through
        ``rescale`` first, then calibrated), and each hit's channel scores and matched photo."""
        active = weights.active()
        ef = max(self.base_ef(meta.points), 2 * (limit + offset)) if self.hnsw_ef else None
        if ef and meta.layout == LAYOUT_PHOTOS and (meta.max_photos > 1 or meta.writing):
            ef *= PHOTOS_EF_FACTOR  # (an unfinished sync may have stored more photos)
        exact = self.exact or (meta.points is not None and meta.points <= self.exact_below)

        def quantization(depth: int) -> QuantizationSearch | None:
            """A quantized fused vector: rescore with the original vectors (exact scores) after
            collecting oversampling x the candidates with the quantized copy (the recall), for
            a fetch ``depth`` hits deep."""
            if not meta.quantization or exact:
                return None
            return QuantizationSearch(
                rescore=True, oversampling=self.oversampling_for(meta, depth, len(active) == 1)
            )

        if len(active) == 1:
            fetch = self._single_channel(
                meta, active[0], query, filter, ef, exact, quantization, calibration, rescale
            )
            return tie_stable_page(fetch, limit, offset)
        vector, score_offset = query_vector(query, weights, meta.dims, calibration, rescale)
        channels = meta.layout == LAYOUT_CHANNELS
        scores = self._channel_scores(meta, query)
        fused_query = _engine_vector(meta, vector)

        def fetch(n: int, start: int) -> list[SearchHit]:
            prefetch: tuple[Prefetch, ...] = ()
            if self.plan == "union":
                depth = max(self.union_limit, n + start)
                prefetch = (Prefetch(FUSED, fused_query, depth),) + tuple(
                    Prefetch(ch, np.asarray(query[ch], dtype=np.float32), depth)
                    if channels
                    else Prefetch(
                        FUSED,
                        _engine_vector(meta, channel_block_query(query[ch], ch, meta.dims)),
                        depth,
                    )
                    for ch in active
                )
            plan = QueryPlan(
                using=FUSED,
                vector=fused_query,
                prefetch=prefetch,
                hnsw_ef=ef,
                exact=exact,
                quantization=quantization(n + start),
                acorn=not channels,
                limit=n,
                offset=start,
                filter=filter,
                **scores,
            )
            raw = self.backend.query(self.collection, plan)
            return [
                _hit(meta, h, h.score + score_offset, vector, query, rescale, h.vector_scores)
                for h in raw
            ]

        return tie_stable_page(fetch, limit, offset)

    def _channel_scores(
        self, meta: CollectionMeta, query: Mapping[str, np.ndarray], skip: str | None = None
    ) -> dict[str, Any]:
        """``QueryPlan`` fields that score every hit on each channel given in ``query`` (but
        ``skip``): from the channels' own vectors, from the fused blocks, or (one row per
        photo) from the hits' rows, returned to find the photo that scored."""
        if meta.layout == LAYOUT_PHOTOS:
            return {"with_vectors": (FUSED,)}
        wanted = {ch: v for ch, v in _channel_queries(query).items() if ch != skip}
        if meta.layout == LAYOUT_CHANNELS:
            return {"score_vectors": wanted}
        return {
            "score_dots": {
                ch: (FUSED, channel_block_query(v, ch, meta.dims)) for ch, v in wanted.items()
            }
        }

    def _single_channel(
        self, meta, channel, query, filter, ef, exact, quantization, calibration, rescale
    ) -> Callable[[int, int], list[SearchHit]]:
        """The ranking of one channel weighted, with :func:`one_channel_ef_factor` times the ef,
        as ``fetch(limit, offset)``. On a collection of the first layout it searches that
        channel's own vector and graph (built for that space alone); on the others it searches
        ``fused`` with the other blocks zero, whose scores are that channel's cosines exactly.
        Other channels given in ``query`` (evaluation, tuning) are scored too;
        ``quantization(depth)`` gives the quantized search of a fetch that deep."""
        channels = meta.layout == LAYOUT_CHANNELS
        vector = (
            np.asarray(query[channel], dtype=np.float32)
            if channels
            else channel_block_query(query[channel], channel, meta.dims)
        )
        scores = self._channel_scores(meta, query, skip=channel)
        stats = calibration[channel] if calibration else None
        a, b = rescale[channel] if rescale else (1.0, 0.0)
        engine_vector = vector if channels else _engine_vector(meta, vector)
        channel_ef = round(one_channel_ef_factor(meta, channel) * ef) if ef else None

        def fetch(n: int, start: int) -> list[SearchHit]:
            plan = QueryPlan(
                using=channel if channels else FUSED,
                vector=engine_vector,
                hnsw_ef=channel_ef,
                exact=exact,
                quantization=None if channels else quantization(n + start),
                acorn=not channels,
                limit=n,
                offset=start,
                filter=filter,
                **scores,
            )
            hits = []
            for h in self.backend.query(self.collection, plan):
                s = a * h.score + b
                hits.append(
                    _hit(
                        meta,
                        h,
                        (s - stats.mean) / stats.std if stats else s,
                        None if channels else vector,
                        query,
                        rescale,
                        {**h.vector_scores, channel: h.score},
                    )
                )
            return hits

        return fetch

    def query_image(self, image: Image.Image | bytes | str | Path) -> Image.Image:
        """A query photo (PIL image, bytes or file path) decoded within the image limits."""
        if isinstance(image, Image.Image):
            return to_model_rgb(image)
        if isinstance(image, (bytes, bytearray)):
            return decode_image(bytes(image), self.limits, "query image")
        ref = str(image)
        return decode_image(read_image_bytes(ref, self.limits), self.limits, ref)


def _capped(
    hit: SearchHit, weights: Weights, calibration: Mapping[str, ChannelStats] | None
) -> SearchHit:
    """``hit`` (a text-only product, scores on the photo scale) with every channel score above
    1 lowered to 1 and its score lowered by what that takes off the weighted sum."""
    over = {ch: s for ch, s in hit.scores.items() if s is not None and s > 1.0}
    if not over:
        return hit
    score = hit.score
    for ch, s in over.items():
        std = calibration[ch].std if calibration else 1.0
        score -= getattr(weights, ch) * (s - 1.0) / std
    if not calibration:  # every channel at most 1 and weights summing to 1: at most 1, exactly
        score = min(score, 1.0)  # (the engine's float32 sum can leave it 1e-8 above)
    return hit.model_copy(
        update={"score": score, "scores": {**hit.scores, **dict.fromkeys(over, 1.0)}}
    )


def _block_query(meta: CollectionMeta, query: np.ndarray, channel: str) -> np.ndarray:
    """The fused query scoring ``channel`` alone, as the collection takes it."""
    return _engine_vector(meta, channel_block_query(query, channel, meta.dims))


def _channel_queries(query: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The query embeddings of the channels in ``query``, to score each hit per channel."""
    return {ch: np.asarray(query[ch], dtype=np.float32) for ch in CHANNELS if ch in query}


def _hit(
    meta: CollectionMeta,
    raw: Hit,
    score: float,
    vector: np.ndarray | None,
    query: Mapping[str, np.ndarray],
    rescale: Mapping[str, tuple[float, float]] | None,
    channel_scores: Mapping[str, float],
) -> SearchHit:
    """A result: its score, channel scores (of the photo that scored, mapped through
    ``rescale`` for a text-only product), matched photo and whether it came from text."""
    payload = {k: v for k, v in raw.payload.items() if k not in INTERNAL_FIELDS}
    refs = payload.get("image_refs")
    # one stored photo (a plain fused vector): it is the one that scored
    matched = refs[0] if isinstance(refs, list) and refs else payload.get("image")
    per_row = {ch: np.array([s]) for ch, s in channel_scores.items()}
    row = 0
    if meta.layout == LAYOUT_PHOTOS and vector is not None and FUSED in raw.vectors:
        row, per_row = matched_row(raw.vectors[FUSED], vector, query, meta.dims)
        matched = refs[row] if isinstance(refs, list) and row < len(refs) else None
    text_only = payload.get(VECTORS_FROM) == FROM_TEXT
    if text_only:
        matched = None
        if rescale is not None:
            per_row = {ch: rescale[ch][0] * s + rescale[ch][1] for ch, s in per_row.items()}
    n_rows = len(next(iter(per_row.values()))) if per_row else 0
    return SearchHit(
        id=str(payload.get("product_id", raw.id)),
        score=float(score),
        scores={ch: float(per_row[ch][row]) if ch in per_row else None for ch in CHANNELS},
        payload=payload,
        matched_image=matched,
        text_only=text_only,
        photo_scores=[
            [float(per_row[ch][i]) if ch in per_row else None for ch in CHANNELS]
            for i in range(n_rows)
        ]
        if n_rows > 1
        else None,
    )


def _check_page(limit: int, offset: int) -> None:
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    if not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise QueryError(f"offset must be an integer from 0 to {MAX_OFFSET}, got {offset!r}")
