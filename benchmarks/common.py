"""Shared helpers of the benchmarks: synthetic correlated vectors, exact rankings, seeding a
collection through the :class:`~qdrant_mm.backends.base.Backend` interface, timers, machine
facts and a results file that several runs add to.

Run the benchmarks from the repository root (``python benchmarks/fusion.py ...``); they import
``qdrant_mm`` and ``tests.fakes`` from there.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python benchmarks/x.py` puts benchmarks/ first, not the root
    sys.path.insert(0, str(ROOT))

from qdrant_mm.backends.base import PointRecord  # noqa: E402
from qdrant_mm.catalog import point_id  # noqa: E402
from qdrant_mm.collection import create_physical  # noqa: E402
from qdrant_mm.schema import FUSED  # noqa: E402
from qdrant_mm.weights import CHANNELS  # noqa: E402

#: Dimensions of the production models: BLIP ITM 256, CLIP ViT-B-32 512, interrogator 512.
DIMS: dict[str, int] = {"blip": 256, "clip": 512, "interrogator": 512}
RESULTS_DIR = ROOT / "benchmarks" / "results"
IMG_DIR = ROOT / "docs" / "img"
CATEGORIES = ("shoes", "shirts", "bags", "hats", "dresses", "watches", "toys", "lamps")


# --- synthetic vectors --------------------------------------------------------------------------
#: The weightings every benchmark measures: the centre, the corners and the edges of the
#: simplex (each adds its skewed ones).
SIMPLEX_WEIGHTINGS: dict[str, tuple[float, float, float]] = {
    "centre 1/3,1/3,1/3": (1 / 3, 1 / 3, 1 / 3),
    "corner blip 1,0,0": (1.0, 0.0, 0.0),
    "corner clip 0,1,0": (0.0, 1.0, 0.0),
    "corner interr. 0,0,1": (0.0, 0.0, 1.0),
    "edge 0.5,0.5,0": (0.5, 0.5, 0.0),
    "edge 0.5,0,0.5": (0.5, 0.0, 0.5),
    "edge 0,0.5,0.5": (0.0, 0.5, 0.5),
}


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@dataclass
class Generator:
    """Vectors of products (and queries) that agree across channels through a shared latent.

    A product is a latent vector ``z ~ N(0, I_L)``; channel ``c`` sees it as
    ``unit(z @ P_c + noise * e)`` with its own fixed random projection ``P_c`` (``L x dim_c``,
    entries ``N(0, 1/L)``, so each coordinate of ``z @ P_c`` has variance ~1) and fresh
    Gaussian noise ``e``. Queries are made the same way from their own latent. ``noise`` sets
    how much the channels disagree: 0 makes every channel rank the same products, large values
    make them independent.
    """

    dims: dict[str, int]
    latent_dim: int = 32
    noise: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.proj = {
            ch: rng.standard_normal((self.latent_dim, self.dims[ch])) / np.sqrt(self.latent_dim)
            for ch in CHANNELS
        }

    def views(self, latent: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        out = {}
        for ch in CHANNELS:
            clean = latent @ self.proj[ch]
            out[ch] = unit(clean + self.noise * rng.standard_normal(clean.shape))
        return out

    def products(self, n: int, chunk: int = 20_000) -> dict[str, np.ndarray]:
        """``n`` products, one ``(n, dim_c)`` float32 array per channel (deterministic)."""
        rng = np.random.default_rng(self.seed + 1)
        parts: dict[str, list[np.ndarray]] = {ch: [] for ch in CHANNELS}
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            v = self.views(rng.standard_normal((m, self.latent_dim)), rng)
            for ch in CHANNELS:
                parts[ch].append(v[ch])
        return {ch: np.concatenate(parts[ch]) for ch in CHANNELS}

    def blocks(self, n: int, block: int = 20_000) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """The same ``n`` products as a stream of ``(start, {channel: (m, dim_c) float32})``
        blocks, each drawn from its own seed ``(seed + 1, block number)``: any pass over the
        data (writing, exact rankings) makes it again, block by block, so a million products
        never sit in memory at once. (Other numbers than :meth:`products` gives.)"""
        for b, start in enumerate(range(0, n, block)):
            rng = np.random.default_rng((self.seed + 1, b))
            m = min(block, n - start)
            yield start, self.views(rng.standard_normal((m, self.latent_dim)), rng)

    def queries(self, n: int, seed: int = 12345) -> list[dict[str, np.ndarray]]:
        rng = np.random.default_rng(seed)
        v = self.views(rng.standard_normal((n, self.latent_dim)), rng)
        return [{ch: v[ch][i] for ch in CHANNELS} for i in range(n)]


def exact_topk_many(
    vectors: dict[str, np.ndarray],
    queries: Sequence[dict[str, np.ndarray]],
    weightings: dict[str, Sequence[float]],
    k: int,
    chunk: int = 200_000,
) -> dict[str, list[np.ndarray]]:
    """Indices of the exact top-``k`` by ``Σ w_c · cos_c`` (float32) for every query under every
    weighting, with one matrix product per channel and block of products (the exact ranking of
    1M products takes seconds). Returns ``{weighting name: [top-k indices per query]}``.
    :func:`exact_topk_blocks` over ``vectors`` in blocks of ``chunk``, unfiltered."""
    n = len(vectors[CHANNELS[0]])
    blocks = (
        (lo, {ch: vectors[ch][lo : lo + chunk] for ch in CHANNELS}) for lo in range(0, n, chunk)
    )
    unfiltered = {name: (w, None) for name, w in weightings.items()}
    return exact_topk_blocks(blocks, queries, unfiltered, k)


def exact_topk_blocks(
    blocks: Iterable[tuple[int, dict[str, np.ndarray]]],
    queries: Sequence[dict[str, np.ndarray]],
    rankings: dict[str, tuple[Sequence[float], np.ndarray | None]],
    k: int,
) -> dict[str, list[np.ndarray]]:
    """Like :func:`exact_topk_many` over a stream of ``(start, vectors)`` blocks, for rankings
    ``{name: (weights, mask)}`` where ``mask`` (bool over all products, or None) keeps only the
    products a filter passes. Holds one block and the running top-k, whatever the N."""
    qmat = {ch: np.stack([q[ch] for q in queries]).astype(np.float32).T for ch in CHANNELS}
    nq = len(queries)
    best: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for lo, vectors in blocks:
        m = len(vectors[CHANNELS[0]])
        sims = {ch: vectors[ch] @ qmat[ch] for ch in CHANNELS}
        for name, (weights, mask) in rankings.items():
            score = np.zeros((m, nq), dtype=np.float32)
            for ch, w in zip(CHANNELS, weights, strict=True):
                if w:
                    score += np.float32(w) * sims[ch]
            if mask is not None:
                score[~mask[lo : lo + m]] = -np.inf
            best[name] = merge_top(best.get(name), score, lo, k)
    out: dict[str, list[np.ndarray]] = {}
    for name, (scores, idx) in best.items():
        order = np.argsort(-scores, axis=0, kind="stable")[:k]
        out[name] = [idx[order[:, j], j] for j in range(nq)]
    return out


def merge_top(
    best: tuple[np.ndarray, np.ndarray] | None, score: np.ndarray, lo: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The running top-``k`` ``(scores, product indices)``, each ``(k, Q)``, after a block of
    scores ``(m, Q)`` of the products starting at index ``lo`` (unordered: sort at the end)."""
    kk = min(k, len(score))
    top = np.argpartition(-score, kk - 1, axis=0)[:kk]
    s = np.take_along_axis(score, top, axis=0)
    i = top + lo
    if best is not None:
        s = np.concatenate([best[0], s])
        i = np.concatenate([best[1], i])
        keep = np.argpartition(-s, k - 1, axis=0)[:k]
        s = np.take_along_axis(s, keep, axis=0)
        i = np.take_along_axis(i, keep, axis=0)
    return s, i


def peak_rss_bytes() -> int:
    """The highest resident set size this process has had (getrusage; kB on Linux)."""
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def recall(got: Iterable[str], want: Iterable[str]) -> float:
    want = list(want)
    return len(set(got) & set(want)) / len(want)


# --- collections --------------------------------------------------------------------------------
def product_ids(n: int) -> list[str]:
    return [f"sku-{i}" for i in range(n)]


def seed_collection(
    backend: Any,
    name: str,
    vectors: dict[str, np.ndarray],
    model_ids: dict[str, str],
    batch: int = 1024,
    quantization: str | None = None,
) -> float:
    """Create ``name`` (with qdrant-mm's schema metadata, and ``quantization`` of ``fused`` as
    ``QDRANT_MM_QUANTIZATION`` would give it) and write every product through
    ``backend.upsert``; returns the seconds the writes took."""
    from qdrant_mm.fusion import fuse_document
    from qdrant_mm.schema import vector_names

    dims = {ch: int(vectors[ch].shape[1]) for ch in CHANNELS}
    meta = create_physical(backend, name, model_ids, dims, quantization)
    channels = [ch for ch in CHANNELS if ch in vector_names(meta.layout)]  # what the layout has
    n = len(vectors[CHANNELS[0]])
    ids = product_ids(n)
    rng = np.random.default_rng(7)
    price = rng.uniform(1, 500, n).round(2)
    start = time.perf_counter()
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        fused = fuse_document({ch: vectors[ch][lo:hi] for ch in CHANNELS})
        records = [
            PointRecord(
                point_id(ids[i]),
                {**{ch: vectors[ch][i] for ch in channels}, FUSED: fused[i - lo]},
                {
                    "product_id": ids[i],
                    "title": f"product {i}",
                    "category": CATEGORIES[i % len(CATEGORIES)],
                    "price": float(price[i]),
                },
            )
            for i in range(lo, hi)
        ]
        backend.upsert(name, records)
    return time.perf_counter() - start


def make_backend(kind: str, path: Path, **edge_options: Any) -> Any:
    """``edge``: EdgeBackend at ``path``; ``local``: qdrant-client local mode, in memory (the
    same engine code as ``QdrantClientBackend.local(path)`` without the per-point pickling to
    SQLite, which only slows the writes); ``local-disk``: ``QdrantClientBackend.local(path)``."""
    if kind == "edge":
        from qdrant_mm.backends.edge import EdgeBackend

        return EdgeBackend(path, **edge_options)
    from qdrant_mm.backends.qdrant_client_backend import QdrantClientBackend

    if kind == "local":
        import warnings

        from qdrant_client import QdrantClient

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return QdrantClientBackend(QdrantClient(":memory:"), "local")
    if kind == "local-disk":
        return QdrantClientBackend.local(path)
    raise SystemExit(f"unknown backend {kind!r}: use edge, local or local-disk")


def edge_shard(backend: Any, collection: str) -> tuple[Any, Any]:
    """The raw ``qdrant_edge.EdgeShard`` behind an EdgeBackend collection and the lock that
    guards it (reaches into the backend: benchmark code only)."""
    handle = backend._handle(collection)
    return handle.shard, handle.lock


# --- measuring ----------------------------------------------------------------------------------
@contextmanager
def timer() -> Iterator[dict[str, float]]:
    box = {"s": 0.0}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["s"] = time.perf_counter() - start


def percentiles(samples_s: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / mean in milliseconds."""
    a = np.asarray(samples_s, dtype=np.float64) * 1000.0
    return {
        "p50_ms": float(np.percentile(a, 50)),
        "p95_ms": float(np.percentile(a, 95)),
        "mean_ms": float(a.mean()),
        "n": len(a),
    }


def memory_status() -> dict[str, int]:
    """VmRSS, RssAnon (memory the kernel cannot drop) and RssFile (file pages, e.g. Edge's
    mapped segment files) of this process in bytes (Linux /proc; elsewhere VmRSS only)."""
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key = line.split(":")[0]
                if key in ("VmRSS", "RssAnon", "RssFile"):
                    out[key] = int(line.split()[1]) * 1024
    except OSError:
        out["VmRSS"] = rss_bytes()
    return out


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc, else psutil)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import psutil

        return int(psutil.Process().memory_info().rss)


def du_bytes(path: Path) -> int:
    """Bytes of disk actually allocated under ``path`` (``du``: sparse and preallocated files
    count as allocated), falling back to the sum of file sizes."""
    try:
        out = subprocess.run(
            ["du", "-sb", "--apparent-size", str(path)], capture_output=True, text=True, check=True
        )
        apparent = int(out.stdout.split()[0])
        out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
        return max(int(out.stdout.split()[0]) * 1024, 0) or apparent
    except (OSError, subprocess.CalledProcessError, ValueError):
        return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def apparent_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def machine() -> dict[str, Any]:
    """Facts about the machine and versions, stored with every result."""
    import importlib.metadata as md

    def version(pkg: str) -> str:
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return "absent"

    try:
        with open("/proc/meminfo") as f:
            mem_kb = int(f.readline().split()[1])
    except OSError:
        mem_kb = 0
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(mem_kb / 2**20, 1),
        "gpu": "none used",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "qdrant-edge-py": version("qdrant-edge-py"),
        "qdrant-client": version("qdrant-client"),
        "numpy": version("numpy"),
        "loadavg_1m_at_start": round(load, 2),
    }


def merge_results(path: Path, key: str, value: Any) -> dict[str, Any]:
    """Store ``value`` under ``key`` in the JSON file at ``path`` (other keys are kept, so
    separate runs, e.g. one per N, add up)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {}
    if path.exists():
        data = json.loads(path.read_text())
    data[key] = value
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return data


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fmt_ratio(x: float) -> str:
    return f"{x:.2f}x"
