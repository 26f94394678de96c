"""The default value of every tunable that both :class:`~qdrant_mm.settings.Settings` and a
constructor take (:class:`~qdrant_mm.search.Searcher`, :class:`~qdrant_mm.sync.Syncer`,
:class:`~qdrant_mm.images.ImageLimits`), defined once here so the library and the
``QDRANT_MM_*`` settings cannot drift apart. This module imports nothing from qdrant_mm.
"""

from __future__ import annotations

from typing import Final, Literal

#: Collection (alias) name.
COLLECTION: Final = "products"
#: Products per model batch (8 measured best on CPU).
BATCH_SIZE: Final = 8
#: α,β,γ for blip, clip, interrogator (parsed by :meth:`qdrant_mm.weights.Weights.parse`).
WEIGHTS: Final = "0.4,0.4,0.2"
#: ``fused``: one search on the fused vector; ``union``: plus a per-channel net.
SEARCH_PLAN: Final[Literal["fused", "union"]] = "fused"
#: HNSW search breadth (ef) of collections up to :data:`HNSW_EF_POINTS` points.
HNSW_EF: Final = 256
#: Above :data:`HNSW_EF_POINTS` points the ef grows as ``(points / HNSW_EF_POINTS) **
#: HNSW_EF_GROWTH``: on Edge, recall@10 ≥ 0.99 for every weighting took ef 256 at 100k products
#: and 1024 at 1M (docs/benchmarks.md), and 10 ** 0.6 ≈ 4.
HNSW_EF_GROWTH: Final = 0.6
HNSW_EF_POINTS: Final = 100_000
#: Collections up to this many points are searched exactly.
EXACT_BELOW: Final = 20_000
#: Quantized collections: candidates fetched per result before rescoring, by the collection's
#: quantization (the fewer bits, the more candidates the exact rescoring needs: measured in
#: docs/benchmarks.md). ``QDRANT_MM_OVERSAMPLING`` sets one value for every kind and weighting.
OVERSAMPLING_BY_QUANTIZATION: Final = {"int8": 2.0, "turbo4": 4.0, "turbo2": 8.0}
#: The same for a weighting on one channel alone: its score comes from one block's codes, whose
#: error is larger next to that block's cosine than it is next to a sum of three. At 1M
#: products on turbo2, 8 candidates per result leave the one-channel weightings at recall@10
#: 0.976-0.986 and 16 bring them to 0.99 or more; mixed weightings reach 0.992 with 8.
ONE_CHANNEL_OVERSAMPLING_BY_QUANTIZATION: Final = {"int8": 2.0, "turbo4": 4.0, "turbo2": 16.0}
OVERSAMPLING: Final = OVERSAMPLING_BY_QUANTIZATION["int8"]
#: The kind's oversampling is lowered for deep pages so that at most this many candidates are
#: rescored (but never below 2x): a page of 1,000 on turbo2 would otherwise collect 8,000
#: (16,000 for a one-channel weighting).
#: 1,024 is the ef a 1M-product search walks anyway. QDRANT_MM_OVERSAMPLING is used as given.
OVERSAMPLING_CANDIDATES: Final = 1024
#: Largest image file or download, in bytes.
IMAGE_MAX_BYTES: Final = 20 * 1024 * 1024
#: Largest image, in pixels (checked from the header, before decoding).
IMAGE_MAX_PIXELS: Final = 40_000_000
#: ``QDRANT_MM_VECTOR_DATATYPE``: how a new collection stores the vectors that rescore and give
#: every score. float32 by default: at 1M products float16 nearly halved the build's memory
#: (VmHWM 12.3 against 21.2 GiB) and the disk, but left the ``blip``-only weighting at recall@10
#: 0.988 at the default ef (docs/benchmarks.md); ``auto`` (float16 above ``EXACT_BELOW``
#: products) or ``float16`` choose it.
VECTOR_DATATYPE: Final = "float32"
#: A sync that deletes more than this share of the stored products (and no more than
#: ``QDRANT_MM_MAX_DELETE_FRACTION``, above which it deletes none) says so in its report's notes.
DELETE_NOTE_FRACTION: Final = 0.1
#: The longest side of an image at most this many times its shortest: the models scale the
#: shortest side up to their input size (224 px for CLIP), so a 700,000 x 1 strip of 758 bytes,
#: far under the pixel limit, would become 156 million pixels (gigabytes) before the crop.
IMAGE_MAX_ASPECT_RATIO: Final = 50
#: Seconds to fetch one image URL.
IMAGE_TIMEOUT: Final = 10.0
#: Image URLs a sync downloads at a time (ahead of the product being checked).
IMAGE_DOWNLOADS: Final = 8
#: The most a setting may ask for.
MAX_IMAGE_DOWNLOADS: Final = 64
