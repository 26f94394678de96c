"""Recall@10 and latency of ways to rank by ``Σ w_c·cos_c`` over three named vectors.

Synthetic products whose channels agree through a shared latent (see ``common.Generator``) are
written through the Backend interface into a qdrant-mm collection (``blip`` 256-d, ``clip``
512-d, ``interrogator`` 512-d, ``fused`` 1280-d), indexed (``optimize()`` on Edge, timed), and
queried with queries made the same way. For every weighting, each plan's top-10 is compared
with the exact numpy top-10 of the weighted score:

  fused          the shipped plan: ``Searcher(plan="fused")`` (one HNSW search on ``fused``)
  union          ``Searcher(plan="union")``: fused + per-channel prefetches, rescored exactly
  formula        one prefetch per active channel + a formula ``Σ w_i·$score[i]`` (missing = 0)
  rrf            weighted reciprocal rank fusion of the per-channel prefetches (k = 2, Qdrant's
                 default constant; weights = the channel weights)
  dbsf           distribution-based score fusion of the per-channel prefetches (unweighted:
                 the engine has no weights for it; zero-weight channels are left out)
  fused_novec    the shipped plan's engine call alone (``backend.query`` on ``fused`` without
                 returning the fused vectors): shows what the Python side costs
  clip           one search on ``clip`` alone: the single-vector speed baseline (its recall is
                 against the exact clip-only ranking)

With ``--quantization KIND`` (int8, turbo4, turbo2) the collection is created as
``QDRANT_MM_QUANTIZATION=KIND`` creates it (a quantized copy of ``fused``, recorded in the
collection metadata); the Searcher then asks for rescoring with ``--oversampling`` (default: its
own per kind and weighting, as shipped), and the ``fused_novec`` plan sends the same
quantization parameters. On the one-graph layout the clip-only baseline is its own collection
(``--baseline-quantization``, int8 by default, with int8's oversampling); on the first layout
it is the collection's float32 ``clip`` vector.

Plans are interleaved query by query (the order rotates), so background load hits all alike:
compare the ratios, not the absolute times. Results are merged into ``--out`` (JSON) under
``<backend>/<N>[/<tag>]``; ``--report`` turns that file into tables and plots.

Example::

    python benchmarks/fusion.py --n 10000 --backends edge local --queries 50
    python benchmarks/fusion.py --n 100000 --backends edge --queries 50
    python benchmarks/fusion.py --n 100000 --backends local --queries 10
    python benchmarks/fusion.py --n 10000 --backends edge --queries 50 --ef 256 --ef-sweep \
        --quantization int8 --tag int8-ef256 --no-plots
    python benchmarks/fusion.py --n 1000000 --backends edge --queries 50 --ef 256 \
        --quantization int8 --ef-sweep 128 256 512 1024 --tag int8-ef256 --store DIR --no-plots
    python benchmarks/fusion.py --report        # tables (markdown) + docs/img/fusion_*.png

``--store DIR`` keeps the indexed Edge store in ``DIR/edge-<N>`` and, run again with the same N
and data, queries it without writing and indexing again (``built.json`` in it records the
parameters and the write / optimize times of the build).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DIMS,
    IMG_DIR,
    RESULTS_DIR,
    SIMPLEX_WEIGHTINGS,
    Generator,
    du_bytes,
    edge_shard,
    exact_topk_blocks,
    log,
    machine,
    make_backend,
    merge_results,
    peak_rss_bytes,
    percentiles,
    recall,
    rss_bytes,
    timer,
)

from qdrant_mm import search as search_module  # noqa: E402
from qdrant_mm.backends.base import (  # noqa: E402
    QUANTIZATIONS,
    BuildWatch,
    HnswSpec,
    QuantizationSearch,
    QueryPlan,
)
from qdrant_mm.defaults import (  # noqa: E402
    EXACT_BELOW,
    ONE_CHANNEL_OVERSAMPLING_BY_QUANTIZATION,
    OVERSAMPLING_BY_QUANTIZATION,
    VECTOR_DATATYPE,
)
from qdrant_mm.schema import (  # noqa: E402
    FUSED,
    LAYOUT,
    LAYOUT_CHANNELS,
    fused_hnsw_for,
    resolve_datatype,
)
from qdrant_mm.search import Searcher, one_channel_ef_factor  # noqa: E402
from qdrant_mm.weights import CHANNELS, Weights  # noqa: E402
from tests.fakes import fake_bundle  # noqa: E402

WEIGHTINGS: dict[str, tuple[float, float, float]] = {
    **SIMPLEX_WEIGHTINGS,
    "skewed 0.7,0.2,0.1": (0.7, 0.2, 0.1),
}
PLANS = ("fused", "union", "formula", "rrf", "dbsf", "fused_novec", "clip")
RRF_K = 2
COLLECTION = "bench"
#: The one-vector baseline collection (``clip`` alone) of the ``fused``-only layout.
BASELINE = "bench-clip"
#: Share of the products in each category: a large one (~10%), a small one (~1%), the rest.
CATEGORY_SHARES: dict[str, float] = {
    "shoes": 0.10,
    "watches": 0.01,
    **{c: 0.89 / 6 for c in ("shirts", "bags", "hats", "dresses", "toys", "lamps")},
}
FILTER_CATEGORIES = {"category 10%": "shoes", "category 1%": "watches"}
FILTER_PRICE = (100.0, 125.0)  # ~5% of the uniform 1-500 prices
FILTER_WEIGHTINGS = ("centre 1/3,1/3,1/3", "corner clip 0,1,0")
DEFAULT_OUT = RESULTS_DIR / "fusion.json"

PlanFn = Callable[[dict[str, np.ndarray], tuple[float, float, float]], list[str]]


# --- plans ----------------------------------------------------------------------------------
def _active(w: tuple[float, float, float]) -> list[tuple[str, float]]:
    return [(ch, wc) for ch, wc in zip(CHANNELS, w, strict=True) if wc > 0]


def edge_plans(backend: Any, ef: int, depth: int) -> dict[str, PlanFn]:
    """Formula / RRF / DBSF straight on the Edge shard (qdrant_edge types)."""
    import qdrant_edge as qe

    shard, lock = edge_shard(backend, COLLECTION)
    E = qe.Expression

    def prefetches(q, w):
        return [
            qe.Prefetch(
                limit=depth,
                query=qe.Query.Nearest(np.asarray(q[ch], np.float32).tolist(), using=ch),
                params=qe.SearchParams(hnsw_ef=ef),
            )
            for ch, _ in _active(w)
        ]

    def run(query, pf) -> list[str]:
        req = qe.QueryRequest(limit=10, query=query, prefetches=pf, with_payload=True)
        with lock:
            points = shard.query(req)
        return [p.payload["product_id"] for p in points]

    def formula(q, w):
        act = _active(w)
        expr = E.Sum(
            [E.Mult([E.Constant(wc), E.Variable(f"$score[{i}]")]) for i, (_, wc) in enumerate(act)]
        )
        defaults = {f"$score[{i}]": 0.0 for i in range(len(act))}
        return run(qe.Formula(expr, defaults=defaults), prefetches(q, w))

    def rrf(q, w):
        return run(qe.Fusion.Rrf(k=RRF_K, weights=[wc for _, wc in _active(w)]), prefetches(q, w))

    def dbsf(q, w):
        return run(qe.Fusion.Dbsf(), prefetches(q, w))

    return {"formula": formula, "rrf": rrf, "dbsf": dbsf}


def local_plans(backend: Any, depth: int) -> dict[str, PlanFn]:
    """Formula / RRF / DBSF through qdrant-client's Query API (local mode)."""
    from qdrant_client import models

    client = backend.client

    def prefetches(q, w):
        return [
            models.Prefetch(query=np.asarray(q[ch], np.float32).tolist(), using=ch, limit=depth)
            for ch, _ in _active(w)
        ]

    def run(query, pf) -> list[str]:
        resp = client.query_points(
            COLLECTION, prefetch=pf, query=query, limit=10, with_payload=True
        )
        return [p.payload["product_id"] for p in resp.points]

    def formula(q, w):
        act = _active(w)
        query = models.FormulaQuery(
            formula=models.SumExpression(
                sum=[
                    models.MultExpression(mult=[float(wc), f"$score[{i}]"])
                    for i, (_, wc) in enumerate(act)
                ]
            ),
            defaults={f"$score[{i}]": 0.0 for i in range(len(act))},
        )
        return run(query, prefetches(q, w))

    def rrf(q, w):
        query = models.RrfQuery(rrf=models.Rrf(k=RRF_K, weights=[wc for _, wc in _active(w)]))
        return run(query, prefetches(q, w))

    def dbsf(q, w):
        return run(models.FusionQuery(fusion=models.Fusion.DBSF), prefetches(q, w))

    return {"formula": formula, "rrf": rrf, "dbsf": dbsf}


def oversampling(args: argparse.Namespace, one_channel: bool = False) -> float:
    """``--oversampling``, else what the Searcher uses on a collection of this quantization
    (for a mixed or a one-channel weighting)."""
    if args.oversampling is not None:
        return args.oversampling
    by_kind = (
        ONE_CHANNEL_OVERSAMPLING_BY_QUANTIZATION if one_channel else OVERSAMPLING_BY_QUANTIZATION
    )
    return by_kind.get(args.quantization, 1.0)


def baseline_collection(args: argparse.Namespace) -> str:
    """Where the one-vector baseline searches: the collection's own ``clip`` vector on the
    first layout, its own collection otherwise."""
    return COLLECTION if args.layout == LAYOUT_CHANNELS else BASELINE


def baseline_plan(backend: Any, ef: int, args: argparse.Namespace) -> PlanFn:
    """The one-vector baseline (``clip`` alone) at ``ef``."""
    quantization = _baseline_quantization_search(args)
    collection = baseline_collection(args)

    def clip_only(q, w):
        plan = QueryPlan(
            using="clip", vector=q["clip"], limit=10, hnsw_ef=ef, quantization=quantization
        )
        return [h.payload["product_id"] for h in backend.query(collection, plan)]

    return clip_only


def _baseline_quantization_search(args: argparse.Namespace) -> QuantizationSearch | None:
    """The baseline's rescoring: the oversampling its own quantization gets by default (a
    turbo2 ``fused`` asking for 8 must not make the int8 baseline rescore 8x too)."""
    if args.layout == LAYOUT_CHANNELS or args.baseline_quantization == "none":
        return None
    return QuantizationSearch(
        rescore=True, oversampling=OVERSAMPLING_BY_QUANTIZATION[args.baseline_quantization]
    )


def all_plans(backend: Any, kind: str, args: argparse.Namespace) -> dict[str, PlanFn]:
    ef, depth = args.ef, args.depth
    searchers = {
        p: shipped_searcher(backend, ef, args.oversampling, p, union_limit=depth)
        for p in ("fused", "union")
    }

    def shipped(name):
        s = searchers[name]

        def fn(q, w):
            hits = s.search_vectors(q, Weights.parse(list(w)), limit=10)
            return [h.id for h in hits]

        return fn

    # the shipped searcher's own choices, per weighting kind, read once (not in the timing)
    shipped_meta = searchers["fused"].meta
    factors = {ch: one_channel_ef_factor(shipped_meta, ch) for ch in CHANNELS}
    quantization = {
        one: QuantizationSearch(
            rescore=True, oversampling=searchers["fused"].oversampling_for(shipped_meta, 10, one)
        )
        if shipped_meta.quantization
        else None
        for one in (False, True)
    }

    def fused_novec(q, w):
        """The engine call the shipped plan makes on the fused layout (ef and oversampling as
        it chooses them for the weighting), without the per-channel scores and hits built in
        Python. (On the first layout a one-channel weighting searches its own graph instead.)"""
        from qdrant_mm.fusion import query_vector

        weights = Weights.parse(list(w))
        vec, _ = query_vector(q, weights, DIMS)
        active = weights.active()
        one = len(active) == 1
        factor = factors[active[0]] if one else 1
        plan = QueryPlan(
            using=FUSED,
            vector=vec,
            limit=10,
            hnsw_ef=round(factor * ef),
            quantization=quantization[one],
        )
        return [h.payload["product_id"] for h in backend.query(COLLECTION, plan)]

    channels = args.layout == LAYOUT_CHANNELS
    out = {"fused": shipped("fused"), "union": shipped("union")}
    if channels:  # per-channel prefetches need the channels' own vectors
        out.update(
            edge_plans(backend, ef, depth) if kind == "edge" else local_plans(backend, depth)
        )
    out["fused_novec"] = fused_novec
    if channels or backend.collection_exists(BASELINE):
        out["clip"] = baseline_plan(backend, ef, args)
    return out


# --- one run --------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeptStore:
    """An indexed store kept in ``--store DIR`` between runs, so that a large N (1M products:
    hours of HNSW building on 2 cores) is built once and queried again. ``built.json`` records
    the data and collection parameters it was built with; a run with other parameters refuses
    to reuse it instead of measuring the wrong collection."""

    path: Path
    params: dict[str, Any]

    @property
    def marker(self) -> Path:
        return self.path / "built.json"

    def read_built(self) -> dict[str, Any] | None:
        if not self.marker.exists():
            if self.path.exists() and any(self.path.iterdir()):
                raise SystemExit(
                    f"--store {self.path} holds an unfinished build (no built.json; "
                    "building.json says how far it got): delete it to build again"
                )
            return None
        built = json.loads(self.marker.read_text())
        if built["params"] != self.params:
            raise SystemExit(
                f"--store {self.path} was built with {built['params']}, this run asks for "
                f"{self.params}: use another folder"
            )
        return built["timings"]

    def write_built(self, timings: dict[str, float]) -> None:
        self.marker.write_text(json.dumps({"params": self.params, "timings": timings}, indent=1))

    def write_progress(self, state: dict[str, Any]) -> None:
        """``building.json``: the parameters and what is done so far (the write time once the
        writes are done), for whoever watches or resumes a long build."""
        (self.path / "building.json").write_text(
            json.dumps({"params": self.params, "state": state}, indent=1)
        )


def _kept_store(args: argparse.Namespace, kind: str, n: int) -> KeptStore | None:
    if not args.store:
        return None
    if kind != "edge":
        raise SystemExit("--store keeps Edge stores only (local mode is rebuilt in memory)")
    params = {
        "n": n,
        "latent_dim": args.latent_dim,
        "noise": args.noise,
        "seed": args.seed,
        "quantization": args.quantization,
        "layout": args.layout,
        "fused_hnsw": vars(h) if (h := fused_hnsw(args, n)) else None,
        **({"datatype": dt} if (dt := datatype(args, n)) != "float32" else {}),
        "baseline": args.baseline_quantization if args.baseline else False,
        "data": "blocks",
    }
    return KeptStore(Path(args.store) / f"edge-{n}", params)


def payload_arrays(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Category index (into :data:`CATEGORY_SHARES`) and price of every product (seed 7)."""
    rng = np.random.default_rng(7)
    price = rng.uniform(1, 500, n).round(2)
    cats = rng.choice(len(CATEGORY_SHARES), size=n, p=list(CATEGORY_SHARES.values()))
    return cats.astype(np.int8), price


def filter_masks(cats: np.ndarray, price: np.ndarray) -> dict[str, tuple[Any, np.ndarray]]:
    """Filter name -> (qdrant Filter, bool mask of the products it keeps)."""
    from qdrant_client import models

    names = list(CATEGORY_SHARES)
    out: dict[str, tuple[Any, np.ndarray]] = {}
    for label, cat in FILTER_CATEGORIES.items():
        f = models.Filter(
            must=[models.FieldCondition(key="category", match=models.MatchValue(value=cat))]
        )
        out[label] = (f, cats == names.index(cat))
    lo, hi = FILTER_PRICE
    f = models.Filter(must=[models.FieldCondition(key="price", range=models.Range(gte=lo, lt=hi))])
    out[f"price {lo:g}-{hi:g}"] = (f, (price >= lo) & (price < hi))
    return out


def write_products(backend, args, n: int, gen: Generator, cats, price) -> float:
    """Create the collection (layout, quantization and graph as the flags say) and write the
    products block by block; returns the seconds the writes took."""
    from qdrant_mm.backends.base import PointRecord
    from qdrant_mm.catalog import point_id
    from qdrant_mm.collection import create_physical
    from qdrant_mm.fusion import fuse_document

    bundle = fake_bundle(tuple(DIMS[ch] for ch in CHANNELS))
    create_physical(
        backend,
        COLLECTION,
        bundle.model_ids(),
        dict(DIMS),
        None if args.quantization == "none" else args.quantization,
        layout=args.layout,
        fused_hnsw=fused_hnsw(args, n),
        datatype=datatype(args, n),
    )
    names = list(CATEGORY_SHARES)
    start = time.perf_counter()
    for lo, vectors in gen.blocks(n):
        fused = fuse_document(vectors)
        m = len(fused)
        for b in range(0, m, 1024):
            records = []
            for i in range(b, min(m, b + 1024)):
                k = lo + i
                vecs = {FUSED: fused[i]}
                if args.layout == LAYOUT_CHANNELS:
                    vecs.update({ch: vectors[ch][i] for ch in CHANNELS})
                payload = {
                    "product_id": f"sku-{k}",
                    "title": f"product {k}",
                    "category": names[cats[k]],
                    "price": float(price[k]),
                }
                records.append(PointRecord(point_id(f"sku-{k}"), vecs, payload))
            backend.upsert(COLLECTION, records)
        if (lo // 20_000) % 5 == 4:
            # Flushing lets Edge drop the WAL it no longer needs: without it the WAL of 1M
            # products (~6 GB) would still be on disk while optimize() writes the new segment.
            backend.flush()
            log(f"  {lo + m} written ({time.perf_counter() - start:.0f} s, rss {_rss()})")
    return time.perf_counter() - start


def write_baseline(backend, n: int, gen: Generator, quantization: str, watch_every: float) -> float:
    """The one-vector baseline: a collection holding only ``clip`` (512-d, cosine, Qdrant's
    default graph, no payload index; ``quantization`` int8 as ``fused`` has it, or none);
    returns the seconds of writes + optimize()."""
    from qdrant_mm.backends.base import CollectionSpec, PointRecord, VectorSpec
    from qdrant_mm.catalog import point_id

    quant = None if quantization == "none" else quantization
    backend.create_collection(
        BASELINE, CollectionSpec((VectorSpec("clip", DIMS["clip"], "cosine", quant),))
    )
    start = time.perf_counter()
    for lo, vectors in gen.blocks(n):
        m = len(vectors["clip"])
        for b in range(0, m, 1024):
            backend.upsert(
                BASELINE,
                [
                    PointRecord(
                        point_id(f"sku-{lo + i}"),
                        {"clip": vectors["clip"][i]},
                        {"product_id": f"sku-{lo + i}"},
                    )
                    for i in range(b, min(m, b + 1024))
                ],
            )
    backend.optimize(BASELINE, watch=BuildWatch(fd=sys.stdout.fileno(), every_s=watch_every))
    return time.perf_counter() - start


def baseline_source(args: argparse.Namespace, n: int) -> tuple[Path, dict[str, Any]]:
    """The earlier ``--store`` run named by ``--baseline-from`` (checked before any writing):
    its folder for N and its ``built.json``, which must describe the same data."""
    source = Path(args.baseline_from) / f"edge-{n}"
    marker = source / "built.json"
    if not marker.is_file() or not (source / "collections" / BASELINE).is_dir():
        raise SystemExit(f"--baseline-from: {source} holds no finished build with a baseline")
    built = json.loads(marker.read_text())
    mine = {
        "n": n,
        "latent_dim": args.latent_dim,
        "noise": args.noise,
        "seed": args.seed,
        "data": "blocks",
        "baseline": args.baseline_quantization,
    }
    if any(built["params"].get(k) != v for k, v in mine.items()):
        raise SystemExit(f"--baseline-from {source} holds other data: {built['params']}")
    return source, built


def copy_baseline(args: argparse.Namespace, n: int, store: Path) -> dict[str, Any]:
    """Copy the indexed baseline collection of an earlier ``--store`` run with the same data
    (``--baseline-from DIR``) instead of building it again (12 minutes at 1M here); its build
    time comes along from that store's ``built.json``."""
    source, built = baseline_source(args, n)
    shutil.copytree(source / "collections" / BASELINE, store / "collections" / BASELINE)
    return {"baseline_from": str(source), "baseline_build_s": built["timings"]["baseline_build_s"]}


def _rss() -> str:
    return f"{rss_bytes() / 2**30:.1f} GiB"


def datatype(args: argparse.Namespace, n: int) -> str:
    """How the originals of fused are stored: --datatype, else what a first sync of ``n``
    products gives a new collection of the layout (QDRANT_MM_VECTOR_DATATYPE's default)."""
    return args.datatype or resolve_datatype(VECTOR_DATATYPE, args.layout, n, EXACT_BELOW)


def fused_hnsw(args: argparse.Namespace, n: int) -> HnswSpec | None:
    if args.layout == LAYOUT_CHANNELS:
        return None
    base = fused_hnsw_for(datatype(args, n))
    return HnswSpec(
        m=base.m if args.m is None else args.m,
        ef_construct=base.ef_construct if args.ef_construct is None else args.ef_construct,
        payload_m=base.payload_m if args.payload_m is None else args.payload_m,
        full_scan_threshold_kb=base.full_scan_threshold_kb
        if args.full_scan_kb is None
        else args.full_scan_kb,
    )


def bench_one(kind: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"qmm-fusion-{kind}-", dir=args.workdir))
    hnsw = fused_hnsw(args, n)
    out: dict[str, Any] = {
        "backend": kind,
        "n": n,
        "machine": machine(),
        "config": {
            "latent_dim": args.latent_dim,
            "noise": args.noise,
            "seed": args.seed,
            "hnsw_ef": args.ef,
            "prefetch_depth": args.depth,
            "rrf_k": RRF_K,
            "dims": DIMS,
            "quantization": args.quantization,
            "oversampling": oversampling(args) if args.quantization != "none" else None,
            "one_channel_oversampling": oversampling(args, True)
            if args.quantization != "none"
            else None,
            "baseline_oversampling": OVERSAMPLING_BY_QUANTIZATION.get(args.baseline_quantization),
            "layout": args.layout,
            "fused_hnsw": vars(hnsw) if hnsw else None,
            "datatype": datatype(args, n),
            "data": "blocks",
            "one_channel_ef_factor": search_module.ONE_CHANNEL_EF_FACTOR,
            "one_channel_ef_factors": {
                ch: one_channel_ef_factor(SimpleNamespace(layout=args.layout, dims=DIMS), ch)
                for ch in CHANNELS
            },
            "baseline_quantization": args.baseline_quantization
            if args.layout != LAYOUT_CHANNELS
            else "none",
        },
    }
    try:
        gen = Generator(DIMS, args.latent_dim, args.noise, args.seed)
        nq = args.queries if kind == "edge" else (args.local_queries or args.queries)
        queries = gen.queries(nq + args.warmup, seed=args.seed + 999)
        warm, queries = queries[: args.warmup], queries[args.warmup :]
        cats, price = payload_arrays(n)
        filters = filter_masks(cats, price)
        out["filter_shares"] = {k: float(m.mean()) for k, (_, m) in filters.items()}
        kept = _kept_store(args, kind, n)
        built = kept.read_built() if kept else None
        if args.baseline_from and not built:
            baseline_source(args, n)
        backend = make_backend(kind, kept.path if kept else workdir / "store")
        if built:
            log(f"[{kind} N={n}] reusing the indexed store in {kept.path}")
            out.update(built)
            out["reused_store"] = True
        else:
            log(f"[{kind} N={n}] writing {n} products (layout {args.layout}, rss {_rss()})")
            out["seed_s"] = write_products(backend, args, n, gen, cats, price)
            log(f"[{kind} N={n}] written in {out['seed_s']:.1f} s; optimize() (rss {_rss()})")
            if kept:
                kept.write_progress({"seed_s": out["seed_s"], "phase": "optimize"})
            # optimize() holds the GIL: a separate process logs the build's phase meanwhile.
            watch = BuildWatch(fd=sys.stdout.fileno(), every_s=args.watch_every)
            out["optimize_s"] = backend.optimize(COLLECTION, watch=watch)
            out["peak_rss_build_bytes"] = peak_rss_bytes()
            store_dir = kept.path if kept else workdir / "store"
            out["disk_after_build_bytes"] = du_bytes(store_dir)
            log(
                f"[{kind} N={n}] optimize() {out['optimize_s']:.1f} s; peak rss so far "
                f"{out['peak_rss_build_bytes'] / 2**30:.1f} GiB, store "
                f"{out['disk_after_build_bytes'] / 1e9:.1f} GB"
            )
            if args.baseline and kind == "edge" and args.baseline_from:
                out.update(copy_baseline(args, n, kept.path if kept else workdir / "store"))
                log(f"[{kind} N={n}] baseline copied from {out['baseline_from']}")
            elif args.baseline and kind == "edge" and args.layout != LAYOUT_CHANNELS:
                log(f"[{kind} N={n}] one-vector baseline: writing + optimize()")
                out["baseline_build_s"] = write_baseline(
                    backend, n, gen, args.baseline_quantization, args.watch_every
                )
                log(f"[{kind} N={n}] baseline built in {out['baseline_build_s']:.1f} s")
            if kept:
                kept.write_built({k: v for k, v in out.items() if k.endswith(("_s", "_bytes"))})
        if kind == "edge":
            out["shard_info"] = backend.shard_info(COLLECTION)
        log(f"[{kind} N={n}] optimize {out['optimize_s']:.1f} s {out.get('shard_info', '')}")

        plans = all_plans(backend, kind, args)
        rankings = {w: (v, None) for w, v in WEIGHTINGS.items()}
        rankings["clip"] = ((0, 1, 0), None)
        for fname, (_, mask) in filters.items():
            for wname in FILTER_WEIGHTINGS:
                rankings[f"{fname} | {wname}"] = (WEIGHTINGS[wname], mask)
        with timer() as t_exact:
            top = exact_topk_blocks(gen.blocks(n), queries, rankings, 10)
        log(f"[{kind} N={n}] exact rankings in {t_exact['s']:.1f} s (rss {_rss()})")
        ids = [f"sku-{i}" for i in range(n)]
        exact = {name: [[ids[i] for i in t] for t in tops] for name, tops in top.items()}
        exact_clip = exact["clip"]
        # Channel agreement: how often the exact top-10 of one channel is in another's.
        out["agreement_top10"] = {
            f"{a}/{b}": float(
                np.mean(
                    [
                        recall(exact[f"corner {a}"][j], exact[f"corner {b}"][j])
                        for j in range(len(queries))
                    ]
                )
            )
            for a, b in (
                ("blip 1,0,0", "clip 0,1,0"),
                ("clip 0,1,0", "interr. 0,0,1"),
                ("blip 1,0,0", "interr. 0,0,1"),
            )
        }

        for q in warm:  # warm caches and lazy paths of every plan
            for w in WEIGHTINGS.values():
                for fn in plans.values():
                    fn(q, w)

        log(
            f"[{kind} N={n}] {len(queries)} queries x {len(WEIGHTINGS)} weightings x "
            f"{len(plans)} plans"
        )
        lat: dict[str, dict[str, list[float]]] = {p: {w: [] for w in WEIGHTINGS} for p in plans}
        rec: dict[str, dict[str, list[float]]] = {p: {w: [] for w in WEIGHTINGS} for p in plans}
        names = list(plans)
        started = time.perf_counter()
        for j, q in enumerate(queries):
            for wi, (wname, w) in enumerate(WEIGHTINGS.items()):
                shift = (j * len(WEIGHTINGS) + wi) % len(names)
                for p in names[shift:] + names[:shift]:
                    t0 = time.perf_counter()
                    got = plans[p](q, w)
                    lat[p][wname].append(time.perf_counter() - t0)
                    want = exact_clip[j] if p == "clip" else exact[wname][j]
                    rec[p][wname].append(recall(got, want))
            if (j + 1) % max(1, len(queries) // 5) == 0:
                log(f"  {j + 1}/{len(queries)} queries ({time.perf_counter() - started:.0f} s)")

        out["plans"] = {}
        for p in names:
            allt = [t for w in WEIGHTINGS for t in lat[p][w]]
            out["plans"][p] = {
                "latency": percentiles(allt),
                "by_weighting": {
                    w: {
                        "recall_mean": float(np.mean(rec[p][w])),
                        "recall_min": float(np.min(rec[p][w])),
                        "perfect_share": float(np.mean(np.asarray(rec[p][w]) == 1.0)),
                        **percentiles(lat[p][w]),
                    }
                    for w in WEIGHTINGS
                },
            }
        if "clip" in out["plans"]:
            base = out["plans"]["clip"]["latency"]["p50_ms"]
            for p in names:
                out["plans"][p]["p50_vs_clip"] = out["plans"][p]["latency"]["p50_ms"] / base

        if args.paired and "clip" in plans and args.layout != LAYOUT_CHANNELS:
            efs = args.paired_baseline_ef or [args.ef, 2 * args.ef]
            baselines = {e: baseline_plan(backend, e, args) for e in efs}
            # one set of queries per side: no search repeats another's query
            timing = [
                gen.queries(args.paired + args.warmup, seed=args.seed + 7777 + i)
                for i in range(1 + len(efs))
            ]
            out["paired"] = paired(plans["fused"], baselines, timing, args.warmup)
        out["filtered"] = filtered(backend, queries, filters, exact, args)
        if kind == "edge" and args.ef_sweep:
            out["ef_sweep"] = ef_sweep(backend, None, queries, ids, exact, exact_clip, args)
        if args.oversampling_sweep:
            out["oversampling_sweep"] = oversampling_sweep(backend, queries, exact, args)
        out["peak_rss_bytes"] = peak_rss_bytes()
        if kept:
            out["disk_end_bytes"] = du_bytes(kept.path)
        backend.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        gc.collect()
    return out


def weighting_recalls(
    searcher: Searcher, queries, exact
) -> tuple[dict[str, dict[str, float]], list[float]]:
    """Recall@10 (mean and min over the queries) of ``searcher``'s top 10 for every weighting
    of :data:`WEIGHTINGS`, and the time of each search."""
    row: dict[str, dict[str, float]] = {}
    times: list[float] = []
    for wname, w in WEIGHTINGS.items():
        weights = Weights.parse(list(w))
        r = []
        for j, q in enumerate(queries):
            t0 = time.perf_counter()
            hits = searcher.search_vectors(q, weights, limit=10)
            times.append(time.perf_counter() - t0)
            r.append(recall([h.id for h in hits], exact[wname][j]))
        row[wname] = {"recall_mean": float(np.mean(r)), "recall_min": float(np.min(r))}
    return row, times


def shipped_searcher(
    backend: Any,
    ef: int,
    oversampling: float | None,
    plan: str = "fused",
    union_limit: int = 64,
) -> Searcher:
    """The shipped plan's Searcher (or ``plan``'s) over the benchmark collection at exactly
    ``ef`` (no growth with N: the ef measured is the ef given); ``oversampling`` None: the
    Searcher's defaults for the collection's quantization and each weighting."""
    bundle = fake_bundle(tuple(DIMS[ch] for ch in CHANNELS))
    return Searcher(
        backend,
        bundle,
        COLLECTION,
        plan=plan,  # type: ignore[arg-type]
        union_limit=union_limit,
        hnsw_ef=ef,
        hnsw_ef_growth=0,
        oversampling=oversampling,
    )


def paired(
    fused: PlanFn, baselines: dict[int, PlanFn], timing: list[list[dict]], warmup: int
) -> dict[str, Any]:
    """The shipped plan against the one-vector baseline at each ef of ``baselines``, alone and
    on distinct queries: ``timing`` holds one list of queries per side (the shipped plan's
    first, then one per baseline, in the order of ``baselines``); step ``k`` times the shipped
    plan on its query ``k`` with weighting ``k mod 8`` and each baseline on the clip vector of
    its own query ``k``, in an order that rotates. No query is searched twice (the baselines
    at two efs do not share queries either) and no other plan runs between them, unlike the
    plan table (where the baseline searches the same clip vector once per weighting and the
    union plan walks the same graph as the shipped one). Wall-clock
    p50, CPU-time p50 (``process_time``: what the searches spent, without the waits for a
    busy machine) and the major page faults per search (file pages read back from disk: the
    float32 vectors rescored and the payloads live in files the kernel may drop from its
    cache)."""
    names = list(WEIGHTINGS)
    sides: dict[str, PlanFn] = {
        "fused": fused,
        **{f"clip ef {e}": fn for e, fn in baselines.items()},
    }
    queries = dict(zip(sides, timing, strict=True))
    for side, fn in sides.items():
        for q in queries[side][:warmup]:
            for w in WEIGHTINGS.values():
                fn(q, w)
    wall: dict[str, list[float]] = {side: [] for side in sides}
    cpu: dict[str, list[float]] = {side: [] for side in sides}
    faults = dict.fromkeys(sides, 0)
    by_weighting: dict[str, list[float]] = {w: [] for w in names}
    order = list(sides)
    for k in range(len(timing[0]) - warmup):
        wname = names[k % len(names)]
        shift = k % len(order)
        for side in order[shift:] + order[:shift]:
            q = queries[side][warmup + k]
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_majflt
            c0, t0 = time.process_time(), time.perf_counter()
            sides[side](q, WEIGHTINGS[wname])
            wall[side].append(time.perf_counter() - t0)
            cpu[side].append(time.process_time() - c0)
            faults[side] += resource.getrusage(resource.RUSAGE_SELF).ru_majflt - f0
            if side == "fused":
                by_weighting[wname].append(wall[side][-1])
    res: dict[str, Any] = {
        "n": len(wall["fused"]),
        "wall": {side: percentiles(t) for side, t in wall.items()},
        "cpu": {side: percentiles(t) for side, t in cpu.items()},
        "by_weighting": {w: percentiles(t) for w, t in by_weighting.items()},
        # pages read from disk per search (a file page the kernel had dropped from its cache)
        "major_faults_per_search": {side: faults[side] / len(wall[side]) for side in sides},
    }
    res["p50_ratio"] = {
        side: res["wall"]["fused"]["p50_ms"] / res["wall"][side]["p50_ms"]
        for side in sides
        if side != "fused"
    }
    res["cpu_p50_ratio"] = {
        side: res["cpu"]["fused"]["p50_ms"] / res["cpu"][side]["p50_ms"]
        for side in sides
        if side != "fused"
    }
    log(
        f"  paired, {res['n']} distinct queries each: shipped p50 "
        f"{res['wall']['fused']['p50_ms']:.2f} ms; "
        + "; ".join(
            f"{side} {res['wall'][side]['p50_ms']:.2f} ms: {res['p50_ratio'][side]:.2f}x "
            f"(CPU time {res['cpu_p50_ratio'][side]:.2f}x)"
            for side in res["p50_ratio"]
        )
        + "; pages read from disk per search: "
        + ", ".join(f"{side} {v:.1f}" for side, v in res["major_faults_per_search"].items())
    )
    return res


def oversampling_sweep(backend, queries, exact, args) -> dict[str, Any]:
    """Recall@10 and p50 of the shipped plan per oversampling (quantized collections), at
    ``--ef``, for every weighting."""
    res: dict[str, Any] = {}
    for o in args.oversampling_sweep:
        s = shipped_searcher(backend, args.ef, o)
        row, times = weighting_recalls(s, queries, exact)
        res[f"{o:g}"] = {"weightings": row, "fused_latency": percentiles(times)}
        worst = min(v["recall_mean"] for v in row.values())
        log(
            f"  oversampling={o:g} (ef={args.ef}): worst mean recall over weightings "
            f"{worst:.3f}, p50 {res[f'{o:g}']['fused_latency']['p50_ms']:.2f} ms"
        )
    return res


def filtered(backend, queries, filters, exact, args) -> dict[str, Any]:
    """Recall@10 and latency of the shipped plan with each filter (the exact top-10 among the
    products the filter keeps), for the weightings of :data:`FILTER_WEIGHTINGS`."""
    s = shipped_searcher(backend, args.ef, args.oversampling)
    res: dict[str, Any] = {}
    for fname, (flt, _) in filters.items():
        for wname in FILTER_WEIGHTINGS:
            weights = Weights.parse(list(WEIGHTINGS[wname]))
            r, times = [], []
            for j, q in enumerate(queries):
                t0 = time.perf_counter()
                hits = s.search_vectors(q, weights, limit=10, filter=flt)
                times.append(time.perf_counter() - t0)
                r.append(recall([h.id for h in hits], exact[f"{fname} | {wname}"][j]))
            key = f"{fname} | {wname}"
            res[key] = {
                "recall_mean": float(np.mean(r)),
                "recall_min": float(np.min(r)),
                **percentiles(times),
            }
            log(
                f"  filter {key}: recall {res[key]['recall_mean']:.3f} "
                f"(min {res[key]['recall_min']:.1f}), p50 {res[key]['p50_ms']:.2f} ms"
            )
    return res


def ef_sweep(backend, vectors, queries, ids, exact, exact_clip, args) -> dict[str, Any]:
    """Recall@10 (and p50) of the shipped plan per hnsw_ef, for every weighting; the clip-only
    search alongside, with its p50 (timed after the shipped plan's queries, not interleaved
    with them): what a one-vector search costs at each recall. (Searcher asks for at least
    2·(limit+offset) = 20.)"""
    res: dict[str, Any] = {}
    for ef in args.ef_sweep:
        s = shipped_searcher(backend, ef, args.oversampling)
        row, times = weighting_recalls(s, queries, exact)
        r, base_times = [], []
        clip_only = baseline_plan(backend, max(ef, 20), args)
        for j, q in enumerate(
            queries if backend.collection_exists(baseline_collection(args)) else []
        ):
            start = time.perf_counter()
            got = clip_only(q, None)
            base_times.append(time.perf_counter() - start)
            r.append(recall(got, exact_clip[j]))
        if r:
            row["clip only (baseline)"] = {
                "recall_mean": float(np.mean(r)),
                "recall_min": float(np.min(r)),
            }
        res[str(ef)] = {"weightings": row, "fused_latency": percentiles(times)}
        if base_times:
            res[str(ef)]["baseline_latency"] = percentiles(base_times)
        worst = min(v["recall_mean"] for k, v in row.items() if not k.startswith("clip"))
        log(
            f"  ef={ef}: worst mean recall over weightings {worst:.3f}, "
            f"p50 {res[str(ef)]['fused_latency']['p50_ms']:.2f} ms"
        )
    return res


# --- report ---------------------------------------------------------------------------------
PLAN_LABELS = {
    "fused": "fused (shipped)",
    "union": "union",
    "formula": "formula $score",
    "rrf": "RRF (weighted)",
    "dbsf": "DBSF",
    "fused_novec": "fused, engine only",
    "clip": "clip only (baseline)",
}


def _sort_key(key: str) -> tuple:
    parts = key.split("/")
    return (parts[0], int(parts[1]), parts[2:] if len(parts) > 2 else [])


def report(path: Path, plots: bool) -> str:
    data = json.loads(path.read_text())
    lines: list[str] = []
    for key in sorted(data, key=_sort_key):
        r = data[key]
        m = r["machine"]
        lines.append(
            f"### {r['backend']}, N = {r['n']:,}"
            + (
                f", fused quantized {r['config']['quantization']} (oversampling "
                f"{r['config']['oversampling']}"
                + (
                    f", {r['config']['one_channel_oversampling']} for one-channel weightings"
                    if r["config"].get("one_channel_oversampling")
                    not in (None, r["config"]["oversampling"])
                    else ""
                )
                + ")"
                if r["config"].get("quantization", "none") != "none"
                else ""
            )
            + (f" ({'/'.join(key.split('/')[2:])})" if key.count("/") > 1 else "")
        )
        lines.append("")
        info = r.get("shard_info", {})
        lines.append(
            f"{m['date']}, {m['cpus']} CPUs ({m['cpu']}), qdrant-edge-py {m['qdrant-edge-py']}, "
            f"qdrant-client {m['qdrant-client']}; writes {r['seed_s']:.1f} s, optimize "
            f"{r['optimize_s']:.1f} s"
            + (
                f" ({info.get('segments')} segments, {info.get('indexed_vectors'):,} indexed "
                "vectors)"
                if info
                else ""
            )
            + f"; {r['plans']['fused']['by_weighting']['centre 1/3,1/3,1/3']['n']} queries per "
            f"weighting; channel top-10 agreement blip/clip "
            f"{r['agreement_top10']['blip 1,0,0/clip 0,1,0']:.2f}."
        )
        lines.append("")
        plans = [p for p in PLANS if p in r["plans"]]
        head = "| weighting | " + " | ".join(PLAN_LABELS[p] for p in plans if p != "clip") + " |"
        lines.append("Recall@10 (mean over queries; min in brackets when < mean):")
        lines.append("")
        lines.append(head)
        lines.append("|---" * (len(plans)) + "|")
        for w in WEIGHTINGS:
            cells = []
            for p in plans:
                if p == "clip":
                    continue
                b = r["plans"][p]["by_weighting"][w]
                c = f"{b['recall_mean']:.3f}"
                if b["recall_min"] < b["recall_mean"]:
                    c += f" ({b['recall_min']:.1f})"
                cells.append(c)
            lines.append(f"| {w} | " + " | ".join(cells) + " |")
        if "clip" in r["plans"]:
            clip_rec = np.mean(
                [r["plans"]["clip"]["by_weighting"][w]["recall_mean"] for w in WEIGHTINGS]
            )
            lines.append("")
            lines.append(f"(clip-only baseline, against the exact clip ranking: {clip_rec:.3f})")
        lines.append("")
        lines.append(
            "Latency over all weightings (ms; ratio = p50 / p50 of the clip-only search "
            "in the same run):"
        )
        lines.append("")
        lines.append("| plan | p50 ms | p95 ms | p50 vs clip only |")
        lines.append("|---|---|---|---|")
        for p in plans:
            lt = r["plans"][p]["latency"]
            lines.append(
                f"| {PLAN_LABELS[p]} | {lt['p50_ms']:.2f} | {lt['p95_ms']:.2f} | "
                f"{r['plans'][p].get('p50_vs_clip', float('nan')):.2f}x |"
            )
        lines.append("")
        if factors := r["config"].get("one_channel_ef_factors"):
            lines.append(
                "One-channel weightings searched at "
                + ", ".join(f"{ch} {f:.2f}x" for ch, f in factors.items())
                + " the ef."
            )
            lines.append("")
        if "paired" in r:
            pr = r["paired"]
            lines.append(
                f"Paired timing ({pr['n']} distinct queries per side, nothing else between "
                "them; `paired()`):"
            )
            lines.append("")
            lines.append(
                "| side | p50 ms | CPU p50 ms | shipped p50 / this | pages read per search |"
            )
            lines.append("|---|---|---|---|---|")
            for side in ["fused", *sorted(pr["p50_ratio"], key=lambda x: int(x.split()[-1]))]:
                ratio = pr["p50_ratio"].get(side)
                lines.append(
                    f"| {side} | {pr['wall'][side]['p50_ms']:.2f} | {pr['cpu'][side]['p50_ms']:.2f}"
                    f" | {f'{ratio:.2f}x' if ratio else '—'} | "
                    f"{pr['major_faults_per_search'][side]:.1f} |"
                )
            lines.append("")
        if "ef_sweep" in r:
            efs = sorted(r["ef_sweep"], key=int)
            lines.append("Shipped plan, recall@10 by `hnsw_ef` (mean; min in brackets):")
            lines.append("")
            lines.append("| weighting | " + " | ".join(f"ef={e}" for e in efs) + " |")
            lines.append("|---" * (len(efs) + 1) + "|")
            rows = [
                w
                for w in [*WEIGHTINGS, "clip only (baseline)"]
                if w in r["ef_sweep"][efs[0]]["weightings"]
            ]
            for w in rows:
                cells = []
                for e in efs:
                    b = r["ef_sweep"][e]["weightings"][w]
                    cells.append(f"{b['recall_mean']:.3f} ({b['recall_min']:.1f})")
                lines.append(f"| {w} | " + " | ".join(cells) + " |")
            lines.append(
                "| fused p50 ms | "
                + " | ".join(f"{r['ef_sweep'][e]['fused_latency']['p50_ms']:.2f}" for e in efs)
                + " |"
            )
            if all("baseline_latency" in r["ef_sweep"][e] for e in efs):
                lines.append(
                    "| clip only p50 ms | "
                    + " | ".join(
                        f"{r['ef_sweep'][e]['baseline_latency']['p50_ms']:.2f}" for e in efs
                    )
                    + " |"
                )
            lines.append("")
    text = "\n".join(lines)
    if plots:
        _plots(data)
    return text


def _plots(data: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    IMG_DIR.mkdir(parents=True, exist_ok=True)
    keys = [
        k
        for k in sorted(data, key=_sort_key)
        if k.count("/") == 1 and all(p in data[k]["plans"] for p in PLANS)
    ]
    rplans = ["fused", "union", "formula", "rrf", "dbsf"]
    colors = dict(zip(PLANS, plt.cm.tab10.colors, strict=False))
    # 1. recall by plan and weighting
    fig, axes = plt.subplots(len(keys), 1, figsize=(11, 3.2 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys, strict=True):
        r = data[key]
        x = np.arange(len(WEIGHTINGS))
        width = 0.8 / len(rplans)
        for i, p in enumerate(rplans):
            vals = [r["plans"][p]["by_weighting"][w]["recall_mean"] for w in WEIGHTINGS]
            ax.bar(
                x + (i - len(rplans) / 2 + 0.5) * width,
                vals,
                width,
                label=PLAN_LABELS[p],
                color=colors[p],
            )
        ax.axhline(0.99, color="k", lw=0.8, ls="--")
        ax.set_xticks(x, [w.replace(" ", "\n", 1) for w in WEIGHTINGS], fontsize=8)
        ax.set_ylim(0, 1.22)
        ax.set_yticks(np.arange(0, 1.01, 0.2))
        ax.set_ylabel("recall@10")
        ax.set_title(
            f"{r['backend']}, N={r['n']:,}: recall@10 vs exact weighted ranking", fontsize=10
        )
    for ax in axes[:, 0]:
        ax.legend(ncol=5, fontsize=7, loc="upper center")
    fig.tight_layout()
    fig.savefig(IMG_DIR / "fusion_recall.png", dpi=110)
    plt.close(fig)
    # 2. latency by plan, as a ratio to the clip-only search of the same run
    fig, ax = plt.subplots(figsize=(11, 4))
    x = np.arange(len(PLANS))
    width = 0.8 / max(1, len(keys))
    for i, key in enumerate(keys):
        r = data[key]
        base = r["plans"]["clip"]["latency"]["p50_ms"]
        p50 = [r["plans"][p]["latency"]["p50_ms"] / base for p in PLANS]
        p95 = [r["plans"][p]["latency"]["p95_ms"] / base for p in PLANS]
        pos = x + (i - len(keys) / 2 + 0.5) * width
        ax.bar(pos, p50, width, label=f"{r['backend']} N={r['n']:,} (clip p50 {base:.1f} ms)")
        ax.scatter(pos, p95, marker="_", color="k", s=60, zorder=3)
    ax.axhline(1.5, color="r", lw=0.8, ls="--", label="target 1.5x")
    ax.set_xticks(x, [PLAN_LABELS[p] for p in PLANS], fontsize=8)
    ax.set_ylabel("p50 / p50 of clip-only search\n(tick: p95 / same)")
    ax.set_title(
        "Query latency relative to a single-vector search on the same engine and N", fontsize=10
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(IMG_DIR / "fusion_latency.png", dpi=110)
    plt.close(fig)
    # 3. recall vs hnsw_ef (Edge), every run with a sweep (data variants included)
    sweeps = [k for k in sorted(data, key=_sort_key) if "ef_sweep" in data[k]]
    if sweeps:
        cols = min(3, len(sweeps))
        rows = -(-len(sweeps) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.8 * rows), squeeze=False)
        for ax in axes.flat[len(sweeps) :]:
            ax.axis("off")
        for ax, key in zip(axes.flat, sweeps, strict=False):
            r = data[key]
            c = r["config"]
            efs = sorted(int(e) for e in r["ef_sweep"])
            for w in [*WEIGHTINGS, "clip only (baseline)"]:
                if w not in r["ef_sweep"][str(efs[0])]["weightings"]:
                    continue
                vals = [r["ef_sweep"][str(e)]["weightings"][w]["recall_mean"] for e in efs]
                ax.plot(
                    efs,
                    vals,
                    marker="o",
                    ms=3,
                    label=w,
                    ls=":" if w.startswith("clip only") else ("--" if "corner" in w else "-"),
                    color="k" if w.startswith("clip only") else None,
                )
            ax.axhline(0.99, color="grey", lw=0.8, ls="--")
            ax.set_xscale("log", base=2)
            ax.set_ylim(0.4, 1.01)
            ax.set_xlabel("hnsw_ef")
            ax.set_ylabel("recall@10, shipped plan")
            agree = r["agreement_top10"]["blip 1,0,0/clip 0,1,0"]
            ax.set_title(
                f"{r['backend']}, N={r['n']:,}, latent {c['latent_dim']}, noise {c['noise']}"
                f"\n(blip/clip top-10 overlap {agree:.2f})",
                fontsize=9,
            )
        axes.flat[0].legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        fig.savefig(IMG_DIR / "fusion_recall_vs_ef.png", dpi=110)
        plt.close(fig)


#: Rows of the scaling plot: (label, result keys by N). The first layout's 1M build was stopped
#: after two of its four graphs (benchmarks/results/fusion_1m_attempt.log): its projected
#: optimize() time is drawn apart.
SCALING = {
    # 10k and 100k were built beside the 1M build (load 3-4); 1M: the shipped search settings
    # on the store of the `turbo2` run (its build times)
    "fused alone, turbo2 (layout 2, shipped)": {
        10_000: "edge/10000/turbo2",
        100_000: "edge/100000/turbo2",
        1_000_000: "edge/1000000/turbo2-shipped-3",
    },
    "fused alone, int8 (layout 2)": {
        10_000: "edge/10000/fused-layout",
        100_000: "edge/100000/fused-layout",
        1_000_000: "edge/1000000/fused-layout",
    },
    "four graphs (layout 1)": {
        10_000: "edge/10000/shipped-int8",
        100_000: "edge/100000/int8-ef256",
    },
}
OLD_1M_PROJECTED_S = (3.5 * 3600, 4 * 3600)


def scaling_plot(data: dict[str, Any]) -> Path:
    """docs/img/fusion_scaling.png: writes + optimize() time and worst recall@10 over the
    weightings (shipped plan, at each run's --ef) against N, for both layouts and the
    quantizations of layout 2."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_r) = plt.subplots(1, 2, figsize=(11, 4))
    for label, keys in SCALING.items():
        rows = [(n, data[k]) for n, k in sorted(keys.items()) if k in data]
        if not rows:
            continue
        ns = [n for n, _ in rows]
        build = [(r["seed_s"] + r["optimize_s"]) / 60 for _, r in rows]
        ax_t.plot(ns, build, marker="o", label=label)
        efs = sorted({int(e) for _, r in rows for e in r.get("ef_sweep", {})})
        for e in efs if label.startswith("fused") else []:
            pts = [
                (n, min(v["recall_mean"] for w, v in sw.items() if not w.startswith("clip")))
                for n, r in rows
                if (sw := r.get("ef_sweep", {}).get(str(e), {}).get("weightings"))
            ]
            ax_r.plot(*zip(*pts, strict=True), marker="o", label=f"{label}, ef {e}")
        if not label.startswith("fused"):
            worst = [
                min(b["recall_mean"] for b in r["plans"]["fused"]["by_weighting"].values())
                for _, r in rows
            ]
            ax_r.plot(ns, worst, marker="^", color="0.4", ls=":", label=f"{label}, ef 256")
        filt = [
            (n, min(x["recall_mean"] for x in r["filtered"].values()))
            for n, r in rows
            if "filtered" in r
        ]
        if filt:
            ax_r.plot(*zip(*filt, strict=True), marker="s", ls="--", label=f"{label}, filtered")
    lo, hi = OLD_1M_PROJECTED_S
    ax_t.errorbar(
        [1_000_000],
        [(lo + hi) / 2 / 60 + 233 / 60],
        yerr=[[(hi - lo) / 2 / 60]],
        fmt="x",
        color="C1",
        capsize=4,
        label="four graphs at 1M: projected (stopped)",
    )
    ax_t.axhline(60, color="r", lw=0.8, ls="--", label="target: 60 min at 1M")
    for ax in (ax_t, ax_r):
        ax.set_xscale("log")
        ax.set_xlabel("products (N)")
    ax_t.set_yscale("log")
    ax_t.set_ylabel("writes + index build, minutes (2 cores)")
    ax_t.set_title("Build time", fontsize=10)
    ax_r.axhline(0.99, color="r", lw=0.8, ls="--", label="target 0.99")
    ax_r.set_ylim(0.9, 1.005)
    ax_r.set_ylabel("recall@10, worst of 8 weightings / of 3 filters")
    ax_r.set_title("Recall of the shipped plan (quantized fused, rescored)", fontsize=10)
    ax_t.legend(fontsize=7)
    ax_r.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    IMG_DIR.mkdir(parents=True, exist_ok=True)
    out = IMG_DIR / "fusion_scaling.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


# --- main -----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10_000])
    ap.add_argument("--backends", nargs="+", default=["edge"], choices=["edge", "local"])
    ap.add_argument("--queries", type=int, default=50, help="queries per weighting")
    ap.add_argument(
        "--local-queries",
        type=int,
        default=0,
        help="queries per weighting on local mode (default: --queries)",
    )
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument(
        "--ef",
        type=int,
        default=128,
        help="hnsw_ef of every plan (default 128, as in the first runs; the Searcher's default, "
        "QDRANT_MM_HNSW_EF, is 256)",
    )
    ap.add_argument(
        "--depth", type=int, default=64, help="prefetch limit (the Searcher's union_limit default)"
    )
    ap.add_argument("--ef-sweep", type=int, nargs="*", default=[20, 32, 64, 128, 256, 512, 1024])
    ap.add_argument("--latent-dim", type=int, default=32)
    ap.add_argument("--noise", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--quantization",
        choices=["none", *QUANTIZATIONS],
        default="none",
        help="create the collection with this quantization of fused (QDRANT_MM_QUANTIZATION)",
    )
    ap.add_argument(
        "--datatype",
        choices=["float32", "float16"],
        default=None,
        help="how the originals of fused are stored (default: what a new collection of the"
        " layout gets, QDRANT_MM_VECTOR_DATATYPE's default: float32)",
    )
    ap.add_argument(
        "--oversampling",
        type=float,
        default=None,
        help="quantized collections: Searcher's oversampling (QDRANT_MM_OVERSAMPLING; default: "
        "what the Searcher uses for the quantization and weighting, int8 2, turbo4 4, turbo2 8 "
        "and 16 for one-channel weightings)",
    )
    ap.add_argument(
        "--layout",
        type=int,
        choices=[1, 2],
        default=LAYOUT,
        help="collection layout: 1 = four graphs (blip, clip, interrogator, fused) with payload "
        "links on every indexed field; 2 = fused alone (the current one, the default)",
    )
    ap.add_argument("--m", type=int, default=None, help="layout 2: m of the fused graph")
    ap.add_argument("--ef-construct", type=int, default=None, help="layout 2: ef_construct")
    ap.add_argument("--payload-m", type=int, default=None, help="layout 2: payload_m")
    ap.add_argument(
        "--full-scan-kb", type=int, default=None, help="layout 2: full_scan_threshold (KB)"
    )
    ap.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="layout 2: also build the one-vector baseline (a clip-only collection)",
    )
    ap.add_argument(
        "--baseline-from",
        default=None,
        help="copy the indexed baseline collection from this earlier --store (same N and data) "
        "instead of building it",
    )
    ap.add_argument(
        "--baseline-quantization",
        choices=["none", *QUANTIZATIONS],
        default="int8",
        help="layout 2: quantization of the baseline's clip vector (int8: searched like fused, "
        "with rescoring and --oversampling; none: float32, as the layout-1 runs had it)",
    )
    ap.add_argument(
        "--one-channel-ef-factor",
        type=float,
        default=None,
        help="hnsw_ef multiplier of a one-channel weighting on the narrowest block "
        "(search.ONE_CHANNEL_EF_FACTOR; wider blocks get factor x sqrt(narrowest / width))",
    )
    ap.add_argument(
        "--paired",
        type=int,
        default=400,
        help="distinct queries timed for the shipped plan against the baseline alone "
        "(see paired(); 0: skip)",
    )
    ap.add_argument(
        "--paired-baseline-ef",
        type=int,
        nargs="+",
        default=None,
        help="the baseline's hnsw_ef in the paired timing (default: --ef, the shipped plan's, "
        "and twice it, where the baseline's own recall@10 reaches 0.99 at 1M)",
    )
    ap.add_argument(
        "--oversampling-sweep",
        type=float,
        nargs="*",
        default=[],
        help="also measure the shipped plan at --ef with each of these oversamplings",
    )
    ap.add_argument(
        "--watch-every",
        type=float,
        default=60.0,
        help="seconds between the index build's progress lines in the log",
    )
    ap.add_argument("--tag", default="", help="suffix of the result key (a variant)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--workdir", default=None, help="where the temporary stores go")
    ap.add_argument(
        "--store",
        default=None,
        help="keep the indexed Edge store under this folder and reuse it when run again with "
        "the same N and data (instead of a temporary store)",
    )
    ap.add_argument("--report", action="store_true", help="only print tables from --out")
    ap.add_argument(
        "--scaling-plot",
        action="store_true",
        help="only draw docs/img/fusion_scaling.png (build time and recall against N)",
    )
    ap.add_argument("--no-plots", action="store_true")
    args = ap.parse_args(argv)
    if args.scaling_plot:
        print(scaling_plot(json.loads(args.out.read_text())))
        return
    if args.one_channel_ef_factor:
        search_module.ONE_CHANNEL_EF_FACTOR = args.one_channel_ef_factor

    if not args.report:
        for n in args.n:
            for kind in args.backends:
                res = bench_one(kind, n, args)
                key = f"{kind}/{n}" + (f"/{args.tag}" if args.tag else "")
                merge_results(args.out, key, res)
                log(f"[{kind} N={n}] stored as {key!r} in {args.out}")
    print(report(args.out, plots=not args.no_plots))


if __name__ == "__main__":
    main()
