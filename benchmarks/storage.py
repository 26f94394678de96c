"""Bytes per product on disk and in memory, per backend; and what int8 scalar quantization of
``fused`` changes on Edge.

``--n`` synthetic products (the vectors of ``benchmarks/fusion.py``: blip 256-d, clip 512-d,
interrogator 512-d, fused 1280-d, plus a small payload) are written through the Backend
interface into a fresh store of each variant, then ``optimize()`` runs. Each variant is built in
its own process and opened again in another one:

* disk: ``du`` of the store folder (allocated blocks; Edge preallocates sparse files, so the
  apparent size is larger and given too), split by component on Edge;
* memory: RSS growth of the writing process (after writes + optimize), and RSS growth of a
  fresh process that opens the store and runs 40 queries (the steady state of a server
  process), split into anonymous and file-backed (mmap) pages.

Variants:

  edge            EdgeBackend, float32 ``fused`` (``QDRANT_MM_QUANTIZATION=none``)
  edge-int8       same, with int8 scalar quantization (quantile 0.99, kept in RAM) on ``fused``:
                  the collection as ``QDRANT_MM_QUANTIZATION=int8`` creates it
  edge-int8-cold  edge-int8, and the original float32 vectors left on disk (``Memory.Cold``;
                  an EdgeBackend subclass: the product has no option for that)
  local-disk      ``QdrantClientBackend.local(path)`` (qdrant-client local mode on SQLite)

For the edge variants the shipped plan's recall@10 (against the exact numpy ranking) and p50
are measured side by side in one process, per weighting, with the engine's default
quantization search parameters and with explicit rescore / oversampling settings.

Example::

    python benchmarks/storage.py --n 10000
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DIMS,
    RESULTS_DIR,
    Generator,
    apparent_bytes,
    du_bytes,
    edge_shard,
    exact_topk_many,
    log,
    machine,
    make_backend,
    memory_status,
    merge_results,
    percentiles,
    product_ids,
    recall,
    seed_collection,
)

from qdrant_mm.weights import CHANNELS  # noqa: E402

DEFAULT_OUT = RESULTS_DIR / "storage.json"
COLLECTION = "bench"
VARIANTS = ("edge", "edge-int8", "edge-int8-cold", "local-disk")
RAW_VECTOR_BYTES = 4 * 2 * sum(DIMS.values())  # channel vectors + fused, float32


# --- backends -------------------------------------------------------------------------------
def open_variant(variant: str, path: Path) -> Any:
    if variant == "local-disk":
        return make_backend("local-disk", path)
    if variant in ("edge", "edge-int8"):  # the int8 variant is created quantized (seed_quant)
        return make_backend("edge", path)
    return _cold_edge(path)


def seed_quant(variant: str) -> str | None:
    """The quantization the variant's collection is created with (the product option)."""
    return "int8" if "int8" in variant else None


def _cold_edge(path: Path) -> Any:
    """EdgeBackend whose collections leave every float32 vector on disk (``Memory.Cold``); the
    int8 copy of ``fused`` (from the product's quantization option) stays in RAM."""
    from qdrant_mm.backends.edge import EdgeBackend

    class ColdEdgeBackend(EdgeBackend):
        def _edge_config(self, spec):
            qe = self._qe
            base = super()._edge_config(spec)
            vectors = {
                name: qe.EdgeVectorParams(
                    size=p.size,
                    distance=p.distance,
                    quantization_config=p.quantization_config,
                    memory=qe.Memory.Cold,
                )
                for name, p in base.vectors.items()
            }
            return qe.EdgeConfig(
                vectors=vectors, optimizers=base.optimizers, hnsw_config=base.hnsw_config
            )

    return ColdEdgeBackend(path)


# --- children: build, reopen ----------------------------------------------------------------
def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after}


def child_build(variant: str, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    from tests.fakes import fake_bundle

    gen = Generator(DIMS, args.latent_dim, args.noise, args.seed)
    vectors = gen.products(args.n)
    gc.collect()
    before = memory_status()
    backend = open_variant(variant, path)
    seed_s = seed_collection(
        backend,
        COLLECTION,
        vectors,
        fake_bundle(tuple(DIMS[c] for c in CHANNELS)).model_ids(),
        quantization=seed_quant(variant),
    )
    opt_s = backend.optimize(COLLECTION)
    gc.collect()
    after = memory_status()
    info = backend.shard_info(COLLECTION) if variant.startswith("edge") else {}
    backend.close()
    return {
        "seed_s": seed_s,
        "optimize_s": opt_s,
        "rss_write": _delta(after, before),
        "shard_info": info,
    }


def child_open(variant: str, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    from qdrant_mm.backends.base import QueryPlan
    from qdrant_mm.fusion import channel_block_query, query_vector
    from qdrant_mm.weights import Weights

    gen = Generator(DIMS, args.latent_dim, args.noise, args.seed)
    queries = gen.queries(20, seed=4242)
    gc.collect()
    before = memory_status()
    t0 = time.perf_counter()
    backend = open_variant(variant, path)
    backend.count(COLLECTION)
    open_s = time.perf_counter() - t0
    w = Weights.parse("1,1,1")
    for q in queries:
        vec, _ = query_vector(q, w, DIMS)
        backend.query(
            COLLECTION,
            QueryPlan(using="fused", vector=vec, limit=10, hnsw_ef=128, with_vectors=("fused",)),
        )
        clip = channel_block_query(q["clip"], "clip", DIMS)  # a one-channel search, as shipped
        backend.query(COLLECTION, QueryPlan(using="fused", vector=clip, limit=10, hnsw_ef=256))
    gc.collect()
    after = memory_status()
    backend.close()
    return {"open_s": open_s, "rss_open": _delta(after, before)}


def run_child(mode: str, variant: str, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--variant",
        variant,
        "--path",
        str(path),
        "--n",
        str(args.n),
        "--latent-dim",
        str(args.latent_dim),
        "--noise",
        str(args.noise),
        "--seed",
        str(args.seed),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    if out.returncode != 0:
        raise SystemExit(f"{mode} {variant} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- disk breakdown ---------------------------------------------------------------------------
def _component(rel: Path) -> str:
    parts = rel.parts
    if "wal" in parts:
        return "write-ahead log"
    for p in parts:
        if p.startswith("vector_storage-"):
            return "vectors " + p.removeprefix("vector_storage-")
        if p.startswith("vector_index-"):
            return "HNSW " + p.removeprefix("vector_index-")
        if p.startswith("payload_index"):
            return "payload indexes"
        if p.startswith("payload_storage"):
            return "payload"
        if p.startswith("id_tracker"):
            return "id tracker"
    return "other"


def disk_breakdown(path: Path) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for p in path.rglob("*"):
        if not p.is_file():
            continue
        c = _component(p.relative_to(path))
        st = p.stat()
        slot = out.setdefault(c, {"allocated": 0, "apparent": 0})
        slot["allocated"] += st.st_blocks * 512
        slot["apparent"] += st.st_size
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["allocated"]))


# --- recall / latency of quantized fused (Edge) ------------------------------------------------
def quant_eval(paths: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    import qdrant_edge as qe
    from fusion import WEIGHTINGS

    from qdrant_mm.fusion import query_vector
    from qdrant_mm.weights import Weights

    gen = Generator(DIMS, args.latent_dim, args.noise, args.seed)
    vectors = gen.products(args.n)
    ids = product_ids(args.n)
    queries = gen.queries(args.queries, seed=777)
    exact = exact_topk_many(vectors, queries, WEIGHTINGS, 10)
    backends = {v: open_variant(v, p) for v, p in paths.items()}
    settings = {
        "engine default": None,
        "no rescore": qe.QuantizationSearchParams(rescore=False),
        "rescore": qe.QuantizationSearchParams(rescore=True),
        "rescore, oversampling 2": qe.QuantizationSearchParams(rescore=True, oversampling=2.0),
    }
    cases = [("edge", "no quantization")] + [
        (v, s) for v in backends if v != "edge" for s in settings
    ]
    rec = {c: {w: [] for w in WEIGHTINGS} for c in cases}
    lat = {c: [] for c in cases}

    def run(variant: str, setting: str, q, w) -> list[str]:
        """The shipped plan's engine request (what EdgeBackend sends for Searcher(plan="fused"):
        hnsw_ef 128, payload and the fused vector back), with quantization parameters."""
        shard, lock = edge_shard(backends[variant], COLLECTION)
        vec, _ = query_vector(q, Weights.parse(list(w)), DIMS)
        req = qe.QueryRequest(
            limit=10,
            query=qe.Query.Nearest(vec.tolist(), using="fused"),
            params=qe.SearchParams(hnsw_ef=128, quantization=settings.get(setting)),
            with_payload=True,
            with_vector=["fused"],
        )
        with lock:
            pts = shard.query(req)
        return [p.payload["product_id"] for p in pts]

    for q in queries[:3]:  # warm-up
        for c in cases:
            run(*c, q, (1, 1, 1))
    for j, q in enumerate(queries):
        for wname, w in WEIGHTINGS.items():
            want = [ids[i] for i in exact[wname][j]]
            order = cases[j % len(cases) :] + cases[: j % len(cases)]
            for c in order:
                t0 = time.perf_counter()
                got = run(*c, q, w)
                lat[c].append(time.perf_counter() - t0)
                rec[c][wname].append(recall(got, want))
    for b in backends.values():
        b.close()
    base = percentiles(lat[("edge", "no quantization")])["p50_ms"]
    out = {}
    for c in cases:
        lt = percentiles(lat[c])
        out[f"{c[0]}, {c[1]}"] = {
            "recall_by_weighting": {w: float(np.mean(v)) for w, v in rec[c].items()},
            "recall_min_by_weighting": {w: float(np.min(v)) for w, v in rec[c].items()},
            "recall_mean": float(np.mean([np.mean(v) for v in rec[c].values()])),
            "recall_worst_weighting": float(min(np.mean(v) for v in rec[c].values())),
            "latency": lt,
            "p50_vs_edge": lt["p50_ms"] / base,
        }
    return out


# --- main ----------------------------------------------------------------------------------
def bench(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="qmm-storage-", dir=args.workdir))
    res: dict[str, Any] = {
        "n": args.n,
        "machine": machine(),
        "variants": {},
        "raw_vector_bytes_per_product": RAW_VECTOR_BYTES,
    }
    try:
        paths = {}
        for v in args.variants:
            path = work / v
            log(f"[{v}] building {args.n} products")
            built = run_child("build", v, path, args)
            log(
                f"[{v}] built: writes {built['seed_s']:.1f} s, optimize {built['optimize_s']:.1f}"
                f" s; reopening in a fresh process"
            )
            opened = run_child("open", v, path, args)
            allocated, apparent = du_bytes(path), apparent_bytes(path)
            res["variants"][v] = {
                **built,
                **opened,
                "disk_allocated": allocated,
                "disk_apparent": apparent,
                "disk_per_product": allocated / args.n,
                "disk_breakdown": disk_breakdown(path),
                "rss_open_per_product": opened["rss_open"]["VmRSS"] / args.n,
                "rss_write_per_product": built["rss_write"]["VmRSS"] / args.n,
            }
            log(
                f"[{v}] disk {allocated / args.n:,.0f} B/product (apparent "
                f"{apparent / args.n:,.0f}), RSS after open+queries "
                f"{opened['rss_open']['VmRSS'] / args.n:,.0f} B/product"
            )
            paths[v] = path
        edge_paths = {v: p for v, p in paths.items() if v.startswith("edge")}
        if args.queries and "edge" in edge_paths and len(edge_paths) > 1:
            log(f"quantization recall: {args.queries} queries x 8 weightings")
            res["quantization"] = quant_eval(edge_paths, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return res


def report(path: Path) -> str:
    data = json.loads(path.read_text())
    lines = []
    for key in sorted(data):
        r = data[key]
        n, m = r["n"], r["machine"]
        lines += [
            f"### {n:,} products",
            "",
            f"{m['date']}, {m['cpus']} CPUs ({m['cpu']}), qdrant-edge-py {m['qdrant-edge-py']},"
            f" qdrant-client {m['qdrant-client']}. Raw float32 vectors: "
            f"{r['raw_vector_bytes_per_product']:,} bytes per product (channels + fused).",
            "",
            "| variant | disk (du) B/product | apparent B/product | RSS, fresh process "
            "(open + 40 queries) B/product | of which mmap (file) | RSS growth while writing "
            "B/product | open s |",
            "|---|---|---|---|---|---|---|",
        ]
        for v, x in r["variants"].items():
            ro = x["rss_open"]
            lines.append(
                f"| {v} | {x['disk_per_product']:,.0f} | {x['disk_apparent'] / n:,.0f} | "
                f"{ro['VmRSS'] / n:,.0f} | {ro.get('RssFile', 0) / n:,.0f} | "
                f"{x['rss_write_per_product']:,.0f} | {x['open_s']:.2f} |"
            )
        lines.append("")
        for v, x in r["variants"].items():
            if not v.startswith("edge"):
                continue
            lines.append(f"Disk by component, `{v}` (allocated bytes per product):")
            lines.append("")
            lines.append("| component | B/product | apparent B/product |")
            lines.append("|---|---|---|")
            for c, s in x["disk_breakdown"].items():
                lines.append(f"| {c} | {s['allocated'] / n:,.0f} | {s['apparent'] / n:,.0f} |")
            lines.append("")
        if "quantization" in r:
            lines.append(
                "Shipped plan on `fused` with int8 scalar quantization (recall@10 "
                "against the exact ranking, mean over all weightings and the worst "
                "weighting; p50 relative to the unquantized store, same run):"
            )
            lines.append("")
            lines.append(
                "| store / search params | recall@10 mean | worst weighting | p50 ms | "
                "p50 vs unquantized |"
            )
            lines.append("|---|---|---|---|---|")
            for k, x in r["quantization"].items():
                lines.append(
                    f"| {k} | {x['recall_mean']:.3f} | {x['recall_worst_weighting']:.3f} | "
                    f"{x['latency']['p50_ms']:.2f} | {x['p50_vs_edge']:.2f}x |"
                )
            lines.append("")
    lines += _marginal(data)
    return "\n".join(lines)


def _marginal(data: dict[str, Any]) -> list[str]:
    """Bytes per *additional* product between the two largest N measured for a variant: the
    fixed costs (preallocated files, the write-ahead log, the process) drop out."""
    ns = sorted(int(k) for k in data)
    rows = []
    for v in VARIANTS:
        have = [n for n in ns if v in data[str(n)]["variants"]]
        if len(have) < 2:
            continue
        a, b = have[-2], have[-1]
        xa, xb = data[str(a)]["variants"][v], data[str(b)]["variants"][v]
        disk = (xb["disk_allocated"] - xa["disk_allocated"]) / (b - a)
        rss = (xb["rss_open"]["VmRSS"] - xa["rss_open"]["VmRSS"]) / (b - a)
        anon = (xb["rss_open"].get("RssAnon", 0) - xa["rss_open"].get("RssAnon", 0)) / (b - a)
        rows.append(f"| {v} | {a:,} -> {b:,} | {disk:,.0f} | {rss:,.0f} | {anon:,.0f} |")
    if not rows:
        return []
    return [
        "### Marginal bytes per product",
        "",
        "| variant | between N | disk B/product | RSS B/product (fresh process) | of which "
        "anonymous (heap) |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument(
        "--queries",
        type=int,
        default=30,
        help="queries per weighting for the quantization recall (0: skip)",
    )
    ap.add_argument("--latent-dim", type=int, default=32)
    ap.add_argument("--noise", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--child", choices=["build", "open"], help=argparse.SUPPRESS)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        fn = child_build if args.child == "build" else child_open
        print(json.dumps(fn(args.variant, args.path, args)))
        return
    if not args.report:
        res = bench(args)
        merge_results(args.out, str(args.n), res)
    print(report(args.out))


if __name__ == "__main__":
    main()
