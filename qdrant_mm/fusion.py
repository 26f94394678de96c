"""Building the ``fused`` document and query vectors, and reading per-channel scores back.

With unit channel vectors ``d_c`` stored as ``D = concat(d_blip, d_clip, d_interrogator)`` and a
query ``Q = concat(w_blip·q_blip, w_clip·q_clip, w_interrogator·q_interrogator)`` (unit ``q_c``),
``Q·D = Σ_c w_c·cos(q_c, d_c)``: the weighted score, exactly. Calibration ``s' = (s - μ)/σ``
scales each block by ``1/σ_c`` and adds ``-Σ w_c·μ_c/σ_c``, a constant per query, so the ranking
stays exact and the true calibrated score is the engine's score plus that constant.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from qdrant_mm.schema import ChannelStats
from qdrant_mm.weights import CHANNELS, Weights


def fuse_document(vectors: Mapping[str, np.ndarray]) -> np.ndarray:
    """``(n, Σdim)`` fused document vectors from per-channel ``(n, dim_c)`` unit vectors."""
    return np.concatenate([np.asarray(vectors[ch], dtype=np.float32) for ch in CHANNELS], axis=-1)


def split(fused: np.ndarray, dims: Mapping[str, int]) -> dict[str, np.ndarray]:
    out, start = {}, 0
    for ch in CHANNELS:
        out[ch] = fused[..., start : start + dims[ch]]
        start += dims[ch]
    return out


def query_vector(
    query: Mapping[str, np.ndarray],
    weights: Weights,
    dims: Mapping[str, int],
    calibration: Mapping[str, ChannelStats] | None = None,
    rescale: Mapping[str, tuple[float, float]] | None = None,
) -> tuple[np.ndarray, float]:
    """The fused query vector and the score offset to add to engine scores.

    ``rescale`` (channel -> ``(a, b)``) first maps each channel's score ``s`` to ``a·s + b``
    (how a text-only product's scores are put on the photo products' scale); a positive ``a``
    keeps the ranking exact. A channel with weight 0 is a zero block (its query embedding is
    never computed).
    """
    blocks, offset = [], 0.0
    for ch in CHANNELS:
        w = getattr(weights, ch)
        if w == 0:
            blocks.append(np.zeros(dims[ch], dtype=np.float32))
            continue
        q = np.asarray(query[ch], dtype=np.float32)
        if q.shape != (dims[ch],):
            raise ValueError(f"{ch} query vector has shape {q.shape}, expected ({dims[ch]},)")
        a, b = rescale[ch] if rescale is not None else (1.0, 0.0)
        mean, std = (calibration[ch].mean, calibration[ch].std) if calibration else (0.0, 1.0)
        # w·(a·s + b - mean)/std = (w·a/std)·s + w·(b - mean)/std
        blocks.append((w * a / std) * q)
        offset += w * (b - mean) / std
    return np.concatenate(blocks).astype(np.float32), float(offset)


def channel_block_query(query: np.ndarray, channel: str, dims: Mapping[str, int]) -> np.ndarray:
    """The fused query that scores ``channel`` alone: the unit ``query`` in its block, zeros
    elsewhere. Its dot product with a stored fused vector is the channel's cosine, exactly."""
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    if q.shape != (dims[channel],):
        raise ValueError(f"{channel} query vector has shape {q.shape}, expected ({dims[channel]},)")
    norm = float(np.linalg.norm(q))
    blocks = [
        (q / norm if norm > 0 else q) if ch == channel else np.zeros(dims[ch], dtype=np.float32)
        for ch in CHANNELS
    ]
    return np.concatenate(blocks).astype(np.float32)
