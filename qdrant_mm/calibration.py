"""Per-channel score statistics, computed at sync time: z-score calibration of text queries,
and the scale that ranks products stored from their text among products stored from photos.

Pseudo-queries come from a sample of stored products: text queries are their titles (through
the text towers, as at search time), photo queries their stored photo vectors (the image
towers' output, what a query photo gives). Each is scored against the sample's stored vectors
in every channel, leaving out a product scored against itself. From those scores:

* ``calibration`` (text queries against products stored from photos, or against all products
  when none has one): ``s' = (s - mean) / std`` per channel, for calibrated searches;
* :class:`~qdrant_mm.schema.SourceStats` (only when products of both kinds are stored): the
  statistics per query kind (text, photo), source kind (photo, text) and channel. Text against
  text runs higher than text against a photo, so the search puts a text-only product's
  channel scores on the photo products' scale before weighting them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qdrant_mm.backends.base import Backend
from qdrant_mm.encoders.bundle import ModelBundle
from qdrant_mm.fusion import split
from qdrant_mm.schema import FROM_TEXT, FUSED, VECTORS_FROM, ChannelStats, SourceStats
from qdrant_mm.weights import CHANNELS

MIN_STD = 1e-6


@dataclass
class Statistics:
    calibration: dict[str, ChannelStats] | None
    source_stats: SourceStats | None


def compute_statistics(
    backend: Backend, physical: str, models: ModelBundle, dims: dict[str, int], sample: int = 256
) -> Statistics:
    """Statistics from up to ``sample`` products of each kind. Text pseudo-queries are the
    sampled products' titles (their descriptions when they have no title): no calibration
    when fewer than 2 have one; no source statistics unless at least 2 products are stored
    from photos and 1 from its text."""
    picked: dict[bool, list[tuple[str, str]]] = {False: [], True: []}
    for pid, pl in backend.scroll_payload(physical, ["title", "description", VECTORS_FROM]):
        kind = pl.get(VECTORS_FROM) == FROM_TEXT
        if len(picked[kind]) < sample:
            picked[kind].append((pid, str(pl.get("title") or pl.get("description") or "")))
        if all(len(v) >= sample for v in picked.values()):
            break
    docs = {}
    for kind in (False, True):  # products that vanished meanwhile are left out
        docs[kind], picked[kind] = _first_rows(backend, physical, picked[kind], dims)
    photos, texts = picked[False], picked[True]
    titled = [(pid, t) for pid, t in photos + texts if t][:sample]
    titles = [t for _, t in titled]
    owners = [pid for pid, _ in titled]
    if len(titles) < 2:
        return Statistics(None, None)
    text_queries = _text_queries(models, titles)
    calibration_docs = (False,) if len(photos) >= 2 else (False, True)
    calibration = _stats(
        text_queries,
        owners,
        _join([docs[k] for k in calibration_docs]),
        [pid for k in calibration_docs for pid, _ in picked[k]],
    )
    if len(photos) < 2 or not texts:
        return Statistics(calibration, None)
    photo_queries = dict(docs[False])
    if models.interrogator_in_clip_space:  # a query photo's interrogator block is its CLIP one
        photo_queries["interrogator"] = photo_queries["clip"]
    photo_owners = [pid for pid, _ in photos]
    text_owners = [pid for pid, _ in texts]
    stats = {
        "text": {
            "image": _stats(text_queries, owners, docs[False], photo_owners),
            "text": _stats(text_queries, owners, docs[True], text_owners),
        },
        "image": {
            "image": _stats(photo_queries, photo_owners, docs[False], photo_owners),
            "text": _stats(photo_queries, photo_owners, docs[True], text_owners),
        },
    }
    if any(v is None for by_source in stats.values() for v in by_source.values()):
        return Statistics(calibration, None)
    return Statistics(calibration, SourceStats(stats=stats))  # type: ignore[arg-type]


def _first_rows(
    backend: Backend, physical: str, picked: list[tuple[str, str]], dims: dict[str, int]
) -> tuple[dict[str, np.ndarray], list[tuple[str, str]]]:
    """Per channel, the ``(n, dim)`` blocks of each picked product's first stored row, and the
    picked products that were found."""
    stored = (
        {sp.id: sp for sp in backend.retrieve(physical, [pid for pid, _ in picked], (FUSED,))}
        if picked
        else {}
    )
    found = [(pid, t) for pid, t in picked if pid in stored and FUSED in stored[pid].vectors]
    if not found:
        return {ch: np.zeros((0, dims[ch]), dtype=np.float32) for ch in CHANNELS}, []
    rows = [np.atleast_2d(stored[pid].vectors[FUSED])[0] for pid, _ in found]
    return split(np.stack(rows).astype(np.float32), dims), found


def _text_queries(models: ModelBundle, titles: list[str]) -> dict[str, np.ndarray]:
    queries = {"blip": models.blip.encode_texts(titles), "clip": models.clip.encode_texts(titles)}
    queries["interrogator"] = (
        queries["clip"]
        if models.interrogator_in_clip_space
        else models.interrogator_text.encode_texts(titles)
    )
    return queries


def _join(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {ch: np.concatenate([p[ch] for p in parts]) for ch in CHANNELS}


def _stats(
    queries: dict[str, np.ndarray],
    query_owners: list[str],
    docs: dict[str, np.ndarray],
    doc_owners: list[str],
) -> dict[str, ChannelStats] | None:
    """Mean and std of every query-document score per channel, self pairs left out; None when
    no pair is left."""
    keep = np.array([[q != d for d in doc_owners] for q in query_owners], dtype=bool)
    if not keep.any():
        return None
    out = {}
    for ch in CHANNELS:
        scores = (queries[ch] @ docs[ch].T)[keep]
        out[ch] = ChannelStats(mean=float(scores.mean()), std=max(float(scores.std()), MIN_STD))
    return out
