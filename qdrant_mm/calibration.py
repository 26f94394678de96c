"""Per-channel score statistics for z-score calibration, computed at sync time.

Pseudo-queries are the titles of a sample of stored products; each is scored against the
sample's stored vectors in every channel (text query vs stored document, as at search time).
The mean and standard deviation of those scores give ``s' = (s - mean) / std`` per channel.
"""

from __future__ import annotations

import itertools

import numpy as np

from qdrant_mm.backends.base import Backend
from qdrant_mm.encoders.bundle import ModelBundle
from qdrant_mm.fusion import split
from qdrant_mm.schema import FUSED, ChannelStats
from qdrant_mm.weights import CHANNELS

MIN_STD = 1e-6


def compute_calibration(
    backend: Backend, physical: str, models: ModelBundle, dims: dict[str, int], sample: int = 256
) -> dict[str, ChannelStats] | None:
    """Statistics from up to ``sample`` products that have a title; None if fewer than 2."""
    picked = [
        (pid, pl["title"])
        for pid, pl in itertools.islice(
            (
                (pid, pl)
                for pid, pl in backend.scroll_payload(physical, ["title"])
                if pl.get("title")
            ),
            sample,
        )
    ]
    if len(picked) < 2:
        return None
    stored = backend.retrieve(physical, [pid for pid, _ in picked], (FUSED,))
    docs = split(np.stack([sp.vectors[FUSED] for sp in stored]), dims)
    titles = [title for _, title in picked]
    queries = {
        "blip": models.blip.encode_texts(titles),
        "clip": models.clip.encode_texts(titles),
    }
    queries["interrogator"] = (
        queries["clip"]
        if models.interrogator_in_clip_space
        else models.interrogator_text.encode_texts(titles)
    )
    stats = {}
    for ch in CHANNELS:
        scores = queries[ch] @ docs[ch].T
        stats[ch] = ChannelStats(mean=float(scores.mean()), std=max(float(scores.std()), MIN_STD))
    return stats
