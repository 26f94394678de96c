"""Reading a hit's stored rows (one per photo) back: which photo scored, and its channel scores.

On a collection with one ``fused`` row per photo the engine scores a product by its best row
(``MAX_SIM``) and returns that maximum. The hits' rows come back with them; the row whose dot
product with the query vector is largest is the photo that scored (the hit's
``matched_image``), and that row's blocks give the channel cosines, so the hit's score is the
weighted sum of the channel scores it shows.

Also here: the query vector in the form such a collection takes, and the filter that keeps
products stored from photos apart from those stored from text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from qdrant_mm.fusion import split
from qdrant_mm.schema import FROM_TEXT, LAYOUT_PHOTOS, VECTORS_FROM, CollectionMeta
from qdrant_mm.weights import CHANNELS

if TYPE_CHECKING:
    from qdrant_client import models


def engine_vector(meta: CollectionMeta, vector: np.ndarray) -> np.ndarray:
    """``vector`` as the engine takes it for the collection: one row of a multivector on a
    collection with one row per photo, the plain vector otherwise."""
    return vector.reshape(1, -1) if meta.layout == LAYOUT_PHOTOS else vector


def matched_row(
    rows: np.ndarray,
    vector: np.ndarray,
    query: Mapping[str, np.ndarray],
    dims: Mapping[str, int],
) -> tuple[int, dict[str, np.ndarray]]:
    """The index of the row of ``rows`` that scores highest against the fused query
    ``vector`` (the first of equals), and every row's cosine with each channel query given in
    ``query`` (channel -> ``(rows,)``)."""
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float32))
    best = int(np.argmax(rows @ np.asarray(vector, dtype=np.float32).reshape(-1)))
    blocks = split(rows, dims)
    scores = {}
    for ch in CHANNELS:
        if ch in query:
            q = np.asarray(query[ch], dtype=np.float32).reshape(-1)
            norm = float(np.linalg.norm(q))
            scores[ch] = blocks[ch] @ (q / norm if norm > 0 else q)
    return best, scores


def source_filter(flt: models.Filter | None, text_only: bool) -> Any:
    """``flt`` restricted to products stored from their text (``text_only``) or to the
    others."""
    from qdrant_client import models  # imported on use: most searches never need it

    is_text = models.FieldCondition(key=VECTORS_FROM, match=models.MatchValue(value=FROM_TEXT))
    must = [flt] if flt is not None else []
    if text_only:
        return models.Filter(must=[*must, is_text])
    return models.Filter(must=must or None, must_not=[is_text])
