"""Storage layouts for products with several photos: build cost, recall@10 and latency.

A product with several photos scores the MAX over its photos of ``α·cos_b + β·cos_c +
γ·cos_i``, and a result list holds each product once. This compares, straight on Qdrant Edge
(``qdrant_edge.EdgeShard``, the engine behind the embedded backend), the ways to store that:

  single        one point per product holding its FIRST photo only: the layout shipped before
                products had several photos (the baseline; recall against the exact ranking of
                the first photos)
  multivector   one point per product whose ``fused`` vector is a multivector (one row per
                photo, MaxSim comparator): a single-vector query scores the max over the rows
  per_image     one point per photo (payload: its product); the search asks for ``10 x the
                largest photo count`` points and keeps the first 10 distinct products, which is
                exact given that fetch depth (the collapse is timed apart)
  per_image_deep the same search with the fetch depth a collection would need if one product
                had ``--deep-photos`` photos (limit 10 x 32 = 320 by default): what one
                product with many photos costs every query of the per-image layout

Every layout gets ``fused`` as shipped (1280 dims, dot product, the graph of
``qdrant_mm.schema.FUSED_HNSW``, int8 scalar quantization kept in RAM) and is searched as the
Searcher searches it: ``hnsw_ef`` from ``--ef-sweep``, rescoring with ``--oversampling``.

Products are synthetic (``common.Generator``): product ``i`` has a latent ``z_i``; its photo
``j`` is the generator's channel views of ``z_i + --image-noise · e_ij``, so the photos of a
product are perturbed views of it. ``--photos K`` photos each (``--mixed``: 1..K, uniform).
The photos are made block by block, again for every pass (writes of each layout, the exact
ranking): nothing of size N x K sits in memory.

Recall@10 is against the exact numpy ranking of the max over each product's photos (the first
photo for ``single``), for every weighting of :data:`WEIGHTINGS`. All shards stay open and the
layouts are queried interleaved, query by query with a rotating order, so background load hits
them alike. Results are merged into ``--out`` under ``edge/<N>x<K>[-mixed][/<tag>]``;
``--report`` prints markdown tables.

Example::

    python benchmarks/multi_image.py --n 10000 --photos 4
    python benchmarks/multi_image.py --n 100000 --photos 4     # tens of minutes on 2 cores
    python benchmarks/multi_image.py --n 10000 --photos 4 --mixed
    python benchmarks/multi_image.py --report
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DIMS,
    RESULTS_DIR,
    SIMPLEX_WEIGHTINGS,
    Generator,
    du_bytes,
    log,
    machine,
    memory_status,
    merge_results,
    merge_top,
    peak_rss_bytes,
    percentiles,
    rss_bytes,
    timer,
)

from qdrant_mm.backends.base import INT8_QUANTILE, QUANTIZATIONS  # noqa: E402
from qdrant_mm.backends.edge.requests import quantization_config  # noqa: E402
from qdrant_mm.fusion import query_vector  # noqa: E402
from qdrant_mm.schema import FUSED, FUSED_HNSW  # noqa: E402
from qdrant_mm.weights import CHANNELS, Weights  # noqa: E402

WEIGHTINGS: dict[str, tuple[float, float, float]] = {
    **SIMPLEX_WEIGHTINGS,
    "skewed 0.6,0.3,0.1": (0.6, 0.3, 0.1),
    "skewed 0.1,0.3,0.6": (0.1, 0.3, 0.6),
}
LAYOUTS = ("single", "multivector", "per_image")
VARIANTS = (*LAYOUTS, "per_image_deep")
DIM = sum(DIMS[ch] for ch in CHANNELS)
LIMIT = 10
DEFAULT_OUT = RESULTS_DIR / "multi_image.json"


# --- data -----------------------------------------------------------------------------------
@dataclass
class Catalog:
    """``n`` products with ``photos`` photos each (or 1..``photos`` with ``mixed``), made
    again block by block on every pass (deterministic: the same numbers each time)."""

    gen: Generator
    n: int
    photos: int
    mixed: bool
    image_noise: float
    block: int = 5_000

    def __post_init__(self) -> None:
        rng = np.random.default_rng((self.gen.seed + 2, self.n))
        if self.mixed:
            self.counts = rng.integers(1, self.photos + 1, self.n).astype(np.int32)
        else:
            self.counts = np.full(self.n, self.photos, dtype=np.int32)

    @property
    def max_photos(self) -> int:
        return int(self.counts.max())

    def blocks(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """``(start, photos (m, K, 1280) float32, counts (m,))``: photo ``j`` of a product is
        ``concat(blip, clip, interrogator)`` of the views of its perturbed latent; rows past a
        product's count are made too (same random stream whatever the counts) and ignored."""
        g = self.gen
        for b, lo in enumerate(range(0, self.n, self.block)):
            rng = np.random.default_rng((g.seed + 1, b))
            m = min(self.block, self.n - lo)
            z = rng.standard_normal((m, g.latent_dim))
            out = np.empty((m, self.photos, DIM), dtype=np.float32)
            for j in range(self.photos):
                v = g.views(z + self.image_noise * rng.standard_normal(z.shape), rng)
                out[:, j, :] = np.concatenate([v[ch] for ch in CHANNELS], axis=1)
            yield lo, out, self.counts[lo : lo + m]


def query_matrix(gen: Generator, nq: int, seed: int) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """The fused query vectors (as the Searcher makes them) of ``nq`` queries under every
    weighting: a ``(1280, nq · len(WEIGHTINGS))`` float32 matrix and its columns' (query,
    weighting)."""
    queries = gen.queries(nq, seed=seed)
    cols, labels = [], []
    for j, q in enumerate(queries):
        for wname, w in WEIGHTINGS.items():
            vec, _ = query_vector(q, Weights.parse(list(w)), DIMS)
            cols.append(vec)
            labels.append((j, wname))
    return np.stack(cols, axis=1).astype(np.float32), labels


def exact_top(catalog: Catalog, qmat: np.ndarray, k: int = LIMIT) -> dict[str, list[set[int]]]:
    """The exact top-``k`` products per query column: ``"max"`` by the max over each product's
    photos, ``"first"`` by its first photo alone (the single layout's ranking)."""
    best: dict[str, tuple[np.ndarray, np.ndarray] | None] = {"max": None, "first": None}
    for lo, photos, counts in catalog.blocks():
        s = photos @ qmat  # (m, K, Q)
        best["first"] = merge_top(best["first"], s[:, 0, :], lo, k)
        missing = np.arange(catalog.photos)[None, :] >= counts[:, None]
        s[missing] = -np.inf
        best["max"] = merge_top(best["max"], s.max(axis=1), lo, k)
    return {
        name: [set(idx[:, c].tolist()) for c in range(idx.shape[1])]
        for name, (_, idx) in best.items()  # type: ignore[misc]
    }


# --- shards ---------------------------------------------------------------------------------
def create_shard(qe: Any, path: Path, multivector: bool, quantization: str = "int8") -> Any:
    """An Edge shard with ``fused`` as shipped (graph, ``quantization`` in RAM, dot product);
    one row per photo with ``multivector``."""
    h = FUSED_HNSW
    params = qe.EdgeVectorParams(
        size=DIM,
        distance=qe.Distance.Dot,
        multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim)
        if multivector
        else None,
        quantization_config=quantization_config(qe, quantization),
        hnsw_config=qe.HnswIndexConfig(
            m=h.m,
            ef_construct=h.ef_construct,
            full_scan_threshold=h.full_scan_threshold_kb,
            payload_m=h.payload_m,
        ),
    )
    path.mkdir(parents=True, exist_ok=True)
    return qe.EdgeShard.create(str(path), qe.EdgeConfig(vectors={FUSED: params}))


def layout_points(qe: Any, layout: str, lo: int, photos: np.ndarray, counts: np.ndarray) -> list:
    """The points of a block of products in ``layout`` (payload: the product id)."""
    k_max = photos.shape[1]
    pts = []
    for r in range(len(photos)):
        i = lo + r
        payload = {"product_id": f"sku-{i}"}
        c = int(counts[r])
        if layout == "single":
            pts.append(qe.Point(i, {FUSED: photos[r, 0].tolist()}, payload))
        elif layout == "multivector":
            pts.append(qe.Point(i, {FUSED: photos[r, :c].tolist()}, payload))
        else:
            for j in range(c):
                pts.append(
                    qe.Point(i * k_max + j, {FUSED: photos[r, j].tolist()}, {**payload, "photo": j})
                )
    return pts


def rss_anon_bytes() -> int:
    """Anonymous resident memory (not Edge's mapped files), 0 where /proc has no answer."""
    return memory_status().get("RssAnon", 0)


def build(
    qe: Any, layout: str, path: Path, catalog: Catalog, batch: int, quantization: str = "int8"
) -> dict[str, Any]:
    """Create and fill the shard of ``layout`` at ``path``, ``optimize()`` it and close it.
    Only the making of points and the engine calls are timed, not the making of the photos."""
    shard = create_shard(qe, path, layout == "multivector", quantization)
    write_s = 0.0
    points = 0
    for lo, photos, counts in catalog.blocks():
        for b in range(0, len(photos), batch):
            t0 = time.perf_counter()
            pts = layout_points(qe, layout, lo + b, photos[b : b + batch], counts[b : b + batch])
            shard.update(qe.UpdateOperation.upsert_points(pts))
            write_s += time.perf_counter() - t0
            points += len(pts)
        if (lo // catalog.block + 1) % 5 == 0:
            # lets Edge drop the WAL it no longer needs before optimize() writes the segment
            with timer() as t:
                shard.flush()
            write_s += t["s"]
            log(f"  {layout}: {lo + len(photos)} products written ({write_s:.0f} s)")
    log(f"  {layout}: {points} points written in {write_s:.1f} s; optimize()")
    with timer() as t:
        shard.optimize()
        shard.flush()
    info: dict[str, Any] = {
        "points": points,
        "write_s": write_s,
        "optimize_s": t["s"],
        "build_s": write_s + t["s"],
        "disk_bytes": du_bytes(path),
        "peak_rss_so_far_bytes": peak_rss_bytes(),
    }
    try:
        info["shard_info"] = str(shard.info())
    except Exception as exc:  # noqa: BLE001 - informative only
        info["shard_info"] = f"unavailable: {exc}"
    shard.close()
    log(
        f"  {layout}: optimize() {t['s']:.1f} s; disk {info['disk_bytes'] / 1e9:.2f} GB, "
        f"peak rss so far {info['peak_rss_so_far_bytes'] / 2**30:.2f} GiB"
    )
    return info


def built_or_build(
    qe: Any, layout: str, root: Path, catalog: Catalog, params: dict, batch: int
) -> dict[str, Any]:
    """Build the shard of ``layout`` under ``root``; with ``--store``, reuse a finished build
    of the same parameters (``<layout>.built.json`` records them and the build's numbers)."""
    path = root / layout
    marker = root / f"{layout}.built.json"
    if marker.exists():
        built = json.loads(marker.read_text())
        if built["params"] != params:
            raise SystemExit(f"{path} was built with {built['params']}: use another --store")
        log(f"  {layout}: reusing the built shard in {path}")
        return {**built["info"], "reused_store": True}
    if path.exists():
        shutil.rmtree(path)  # an unfinished build
    info = build(qe, layout, path, catalog, batch, params.get("quantization", "int8"))
    marker.write_text(json.dumps({"params": params, "info": info}, indent=1))
    return info


# --- queries --------------------------------------------------------------------------------
def request(qe: Any, vec: list[float], limit: int, ef: int, oversampling: float) -> Any:
    return qe.QueryRequest(
        limit=limit,
        query=qe.Query.Nearest(vec, using=FUSED),
        params=qe.SearchParams(
            hnsw_ef=ef,
            quantization=qe.QuantizationSearchParams(rescore=True, oversampling=oversampling),
        ),
        with_vector=False,
        with_payload=True,
    )


def collapse(points: list, limit: int) -> list[str]:
    """The first ``limit`` distinct products of per-photo hits, best first."""
    seen: dict[str, None] = {}
    for p in points:
        seen.setdefault(p.payload["product_id"])
        if len(seen) == limit:
            break
    return list(seen)


def measure(
    qe: Any,
    shards: dict[str, Any],
    catalog: Catalog,
    qmat: np.ndarray,
    labels: list[tuple[int, str]],
    exact: dict[str, list[set[int]]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Recall@10 and latency of every variant at every ``hnsw_ef``, interleaved."""
    depth = LIMIT * catalog.max_photos
    variants: dict[str, tuple[str, int]] = {
        "single": ("single", LIMIT),
        "multivector": ("multivector", LIMIT),
        "per_image": ("per_image", depth),
    }
    if args.deep_photos and "per_image" in shards:
        variants["per_image_deep"] = ("per_image", LIMIT * args.deep_photos)
    variants = {v: s for v, s in variants.items() if s[0] in shards}
    names = list(variants)
    vecs = [qmat[:, c].tolist() for c in range(qmat.shape[1])]
    ids = [f"sku-{i}" for i in range(catalog.n)]
    want = {
        name: [{ids[i] for i in s} for s in exact["first" if name == "single" else "max"]]
        for name in names
    }

    def one(v: str, c: int, ef: int) -> tuple[float, float, float]:
        layout, limit = variants[v]
        t0 = time.perf_counter()
        pts = shards[layout].query(request(qe, vecs[c], limit, ef, args.oversampling))
        t1 = time.perf_counter()
        got = (
            collapse(pts, LIMIT)
            if layout == "per_image"
            else [p.payload["product_id"] for p in pts]
        )
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, len(set(got) & want[v][c]) / LIMIT

    warm = [c for c, (j, _) in enumerate(labels) if j < args.warmup]
    for c in warm:
        for v in names:
            one(v, c, args.ef_sweep[0])
    cols = [c for c, (j, _) in enumerate(labels) if j >= args.warmup]
    res: dict[str, Any] = {}
    for ef in args.ef_sweep:
        lat = {v: [] for v in names}
        col = {v: [] for v in names}
        rec: dict[str, dict[str, list[float]]] = {v: {w: [] for w in WEIGHTINGS} for v in names}
        started = time.perf_counter()
        for step, c in enumerate(cols):
            shift = step % len(names)
            for v in names[shift:] + names[:shift]:
                t_q, t_c, r = one(v, c, ef)
                lat[v].append(t_q)
                col[v].append(t_c)
                rec[v][labels[c][1]].append(r)
        row: dict[str, Any] = {}
        for v in names:
            allr = [x for w in WEIGHTINGS for x in rec[v][w]]
            row[v] = {
                "limit": variants[v][1],
                "recall_mean": float(np.mean(allr)),
                "recall_min": float(np.min(allr)),
                "latency": percentiles(lat[v]),
                "by_weighting": {
                    w: {
                        "recall_mean": float(np.mean(rec[v][w])),
                        "recall_min": float(min(rec[v][w])),
                    }
                    for w in WEIGHTINGS
                },
            }
            if variants[v][0] == "per_image":
                row[v]["collapse"] = percentiles(col[v])
            log(
                f"  ef {ef} {v:<15} recall {row[v]['recall_mean']:.3f} "
                f"(min {row[v]['recall_min']:.1f}) p50 {row[v]['latency']['p50_ms']:.2f} ms "
                f"p95 {row[v]['latency']['p95_ms']:.2f} ms"
            )
        took = time.perf_counter() - started
        log(f"  ef {ef}: {len(cols)} query vectors x {len(names)} variants in {took:.0f} s")
        res[str(ef)] = row
    return res


# --- one run --------------------------------------------------------------------------------
def bench(args: argparse.Namespace) -> dict[str, Any]:
    import qdrant_edge as qe

    gen = Generator(DIMS, args.latent_dim, args.noise, args.seed)
    catalog = Catalog(gen, args.n, args.photos, args.mixed, args.image_noise)
    params = {
        "n": args.n,
        "photos": args.photos,
        "mixed": args.mixed,
        "latent_dim": args.latent_dim,
        "noise": args.noise,
        "image_noise": args.image_noise,
        "seed": args.seed,
        "fused_hnsw": vars(FUSED_HNSW),
        # (int8 left unrecorded: stores built before the option still match their params)
        **({"quantization": args.quantization} if args.quantization != "int8" else {}),
    }
    out: dict[str, Any] = {
        "n": args.n,
        "photos": args.photos,
        "mixed": args.mixed,
        "photos_total": int(catalog.counts.sum()),
        "max_photos": catalog.max_photos,
        "machine": machine(),
        "config": {
            **params,
            "quantization": f"int8 (quantile {INT8_QUANTILE}, in RAM)"
            if args.quantization == "int8"
            else f"{args.quantization} (in RAM)",
            "oversampling": args.oversampling,
            "queries": args.queries,
            "warmup": args.warmup,
            "weightings": {k: list(v) for k, v in WEIGHTINGS.items()},
            "ef_sweep": args.ef_sweep,
            "deep_photos": args.deep_photos,
            "batch_products": args.batch,
        },
    }
    keep = (
        Path(args.store) / f"{args.n}x{args.photos}{'-mixed' if args.mixed else ''}"
        if args.store
        else None
    )
    root = keep or Path(tempfile.mkdtemp(prefix="qmm-multi-image-", dir=args.workdir))
    shards: dict[str, Any] = {}
    try:
        out["layouts"] = {}
        out["build_order"] = list(args.layouts)
        for layout in args.layouts:
            log(f"[{args.n}x{args.photos}] {layout}: building (rss {rss_bytes() / 2**30:.2f} GiB)")
            out["layouts"][layout] = built_or_build(qe, layout, root, catalog, params, args.batch)
            gc.collect()
        # Queried as a product store is: loaded from disk (the build's own pages dropped).
        for layout in args.layouts:
            rss0, anon0 = rss_bytes(), rss_anon_bytes()
            with timer() as t:
                shards[layout] = qe.EdgeShard.load(str(root / layout))
            out["layouts"][layout].update(
                load_s=t["s"],
                rss_added_bytes=rss_bytes() - rss0,
                rss_anon_added_bytes=rss_anon_bytes() - anon0,
            )
            log(
                f"  {layout}: loaded in {t['s']:.1f} s, rss +{(rss_bytes() - rss0) / 2**30:.2f} "
                f"GiB (anonymous +{(memory_status().get('RssAnon', 0) - anon0) / 2**30:.2f} GiB)"
            )
        qmat, labels = query_matrix(gen, args.queries + args.warmup, args.seed + 999)
        with timer() as t:
            exact = exact_top(catalog, qmat)
        out["exact_s"] = t["s"]
        log(f"[{args.n}x{args.photos}] exact rankings in {t['s']:.1f} s; querying")
        out["sweep"] = measure(qe, shards, catalog, qmat, labels, exact, args)
        out["peak_rss_bytes"] = peak_rss_bytes()
        out["rss_end_bytes"] = rss_bytes()
        out["rss_anon_end_bytes"] = rss_anon_bytes()
    finally:
        for shard in shards.values():
            shard.close()
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return out


# --- report ---------------------------------------------------------------------------------
def _gb(b: float) -> str:
    return f"{b / 1e9:.2f} GB" if b >= 1e9 else f"{b / 1e6:.0f} MB"


def report(path: Path) -> str:
    data = json.loads(path.read_text())
    lines: list[str] = []
    for key in sorted(data, key=lambda k: (data[k]["n"], k)):
        r = data[key]
        efs = [str(e) for e in r["config"]["ef_sweep"]]
        m = r["machine"]
        lines += [
            f"### `{key}`: {r['n']:,} products, {r['photos_total']:,} photos "
            f"({'1..' if r['mixed'] else ''}{r['photos']} per product)",
            "",
            f"{m['date']}, {m['cpus']} CPUs ({m['cpu']}), qdrant-edge-py {m['qdrant-edge-py']}, "
            f"load {m['loadavg_1m_at_start']} at start; {r['config']['queries']} queries x "
            f"{len(r['config']['weightings'])} weightings per ef; built in the order "
            f"{', '.join(r['build_order'])}, queried interleaved.",
            "",
            "| layout | points | build s (write + optimize) | disk | RSS on load (anon.) | "
            + " | ".join(f"recall@10 mean / min, ef {e}" for e in efs)
            + " | "
            + " | ".join(f"p50 / p95 ms, ef {e}" for e in efs)
            + " |",
            "|---|---:|---:|---:|---:|" + "---:|" * (2 * len(efs)),
        ]
        variants = [v for v in VARIANTS if v in r["sweep"][efs[0]]]
        for v in variants:
            layout = "per_image" if v.startswith("per_image") else v
            b = r["layouts"][layout]
            limit = r["sweep"][efs[0]][v]["limit"]
            name = f"{v} (limit {limit})" if layout == "per_image" else v
            if v == "per_image_deep":
                build_cells = "(same shard) | | | |"
            else:
                build_cells = (
                    f"{b['points']:,} | {b['build_s']:.1f} ({b['write_s']:.1f} + "
                    f"{b['optimize_s']:.1f}) | {_gb(b['disk_bytes'])} | "
                    f"{b['rss_added_bytes'] / 2**30:.2f} ({b['rss_anon_added_bytes'] / 2**30:.2f})"
                    " GiB |"
                )
            rec = " | ".join(
                f"{r['sweep'][e][v]['recall_mean']:.3f} / {r['sweep'][e][v]['recall_min']:.1f}"
                for e in efs
            )
            lat = " | ".join(
                f"{r['sweep'][e][v]['latency']['p50_ms']:.2f} / "
                f"{r['sweep'][e][v]['latency']['p95_ms']:.2f}"
                for e in efs
            )
            lines.append(f"| {name} | {build_cells} {rec} | {lat} |")
        lines.append("")
        col = [
            f"{v} ef {e}: p50 {r['sweep'][e][v]['collapse']['p50_ms']:.3f} ms"
            for v in variants
            for e in efs
            if "collapse" in r["sweep"][e][v]
        ]
        if col:
            lines += [
                "Collapse of per-photo hits to distinct products (Python, after the engine "
                "call): " + "; ".join(col) + ".",
                "",
            ]
        worst = []
        for v in variants:
            for e in efs:
                w, x = min(
                    r["sweep"][e][v]["by_weighting"].items(), key=lambda kv: kv[1]["recall_mean"]
                )
                if x["recall_mean"] < 1.0:
                    worst.append(f"{v} ef {e}: {x['recall_mean']:.3f} ({w})")
        lines += [
            "Worst weighting (mean recall@10 below 1): " + ("; ".join(worst) or "none") + ".",
            "",
        ]
    return "\n".join(lines)


# --- main -----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="products")
    ap.add_argument("--photos", type=int, default=4, help="photos per product (K)")
    ap.add_argument("--mixed", action="store_true", help="1..K photos per product (uniform)")
    ap.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=LAYOUTS)
    ap.add_argument("--queries", type=int, default=50, help="queries per weighting")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--ef-sweep", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--oversampling", type=float, default=2.0)
    ap.add_argument(
        "--quantization",
        choices=list(QUANTIZATIONS),
        default="int8",
        help="the quantized copy of fused the walk reads (int8, as photo rows get it by default)",
    )
    ap.add_argument(
        "--deep-photos",
        type=int,
        default=32,
        help="also search per_image with limit 10 x this (0: not)",
    )
    ap.add_argument("--latent-dim", type=int, default=32)
    ap.add_argument("--noise", type=float, default=1.0, help="channel noise of the generator")
    ap.add_argument(
        "--image-noise",
        type=float,
        default=0.5,
        help="how far a photo's latent is from its product's",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=256, help="products per engine update")
    ap.add_argument("--tag", default="", help="suffix of the result key (a variant)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--workdir", default=None, help="where the temporary stores go")
    ap.add_argument(
        "--store",
        default=None,
        help="build the shards under this folder and reuse them when run again with the same "
        "parameters (instead of a temporary folder)",
    )
    ap.add_argument("--report", action="store_true", help="only print tables from --out")
    args = ap.parse_args(argv)
    if not args.report:
        res = bench(args)
        key = f"edge/{args.n}x{args.photos}" + ("-mixed" if args.mixed else "")
        key += f"/{args.tag}" if args.tag else ""
        merge_results(args.out, key, res)
        log(f"stored as {key!r} in {args.out}")
    print(report(args.out))


if __name__ == "__main__":
    main()
