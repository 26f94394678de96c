"""Which quantized copy of ``fused`` should the HNSW walk use? Recall and latency per kind.

Builds one Edge shard per quantization kind of the 1280-d ``fused`` vector (the layout's graph:
m 32, ef_construct 100) and a one-vector baseline (``clip``, 512-d, int8, m 16, as in
``fusion.py``) from the same synthetic products (:class:`common.Generator`, block data), then
measures for every ``--ef`` and ``--oversampling``: recall@10 of the rescored search against the
exact weighted ranking (8 weightings, ``--queries`` each; mean and worst weighting) and the p50
of the engine call, interleaved with the baseline's (ratio = p50 / p50 of the baseline). Scores
are always rescored with the float32 vectors (exact); the kind only changes which candidates
reach the rescoring.

    python benchmarks/quantization_kinds.py --n 100000 \\
        --kinds int8 bin2-s8 turbo4 bin15-s8 turbo2 --ef 256 512 --oversampling 2 4
    python benchmarks/quantization_kinds.py --n 100000 \\
        --kinds turbo2 turbo4:16:200 turbo2:16:200 --ef 256 512 --oversampling 4 8 16

Kinds: ``int8`` (scalar), ``bin1`` / ``bin15`` / ``bin2`` (binary 1, 1.5, 2 bits; suffix
``-s8`` / ``-s4``: the query encoded as 8 / 4-bit scalars, asymmetric), ``turbo1`` ...
``turbo8`` (TurboQuant bits); ``KIND:M:EF_CONSTRUCT`` changes the graph. Shards are kept under
``--store`` (one folder per kind and graph) and reused. Results: ``results/quantization_kinds.json``
under ``edge/N/KIND-mM-efcE``; the log goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import (  # noqa: E402
    CHANNELS,
    DIMS,
    SIMPLEX_WEIGHTINGS,
    Generator,
    exact_topk_blocks,
    log,
    machine,
    merge_results,
)

from qdrant_mm.backends.base import QUANTIZATIONS  # noqa: E402
from qdrant_mm.backends.edge.requests import quantization_config  # noqa: E402
from qdrant_mm.fusion import fuse_document  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "quantization_kinds.json"
WEIGHTINGS = {**SIMPLEX_WEIGHTINGS, "skewed 0.7,0.2,0.1": (0.7, 0.2, 0.1)}


def quantization(qe: Any, kind: str) -> Any:
    """Edge's config for ``kind``: the shipped kinds exactly as collections get them, the
    others (binary, other TurboQuant bit sizes) built here."""
    if kind == "none":
        return None
    if kind in QUANTIZATIONS:
        return quantization_config(qe, kind)
    if kind.startswith("bin"):
        bits, _, query = kind.partition("-")
        encoding = {
            "bin1": qe.BinaryQuantizationEncoding.OneBit,
            "bin15": qe.BinaryQuantizationEncoding.OneAndHalfBits,
            "bin2": qe.BinaryQuantizationEncoding.TwoBits,
        }[bits]
        query_encoding = {
            "": qe.BinaryQuantizationQueryEncoding.Default,
            "s4": qe.BinaryQuantizationQueryEncoding.Scalar4Bits,
            "s8": qe.BinaryQuantizationQueryEncoding.Scalar8Bits,
        }[query]
        return qe.BinaryQuantizationConfig(
            encoding=encoding, query_encoding=query_encoding, memory=qe.Memory.Pinned
        )
    if kind.startswith("turbo"):
        bits = {
            "turbo1": qe.TurboQuantBitSize.Bits1,
            "turbo15": qe.TurboQuantBitSize.Bits1_5,
            "turbo8": qe.TurboQuantBitSize.Bits8,
        }[kind]
        return qe.TurboQuantQuantizationConfig(bits=bits, memory=qe.Memory.Pinned)
    raise SystemExit(f"unknown kind {kind!r}")


def build(qe, gen, n, root, name, vector, dim, distance, kind, m, efc):
    """The shard ``name`` under ``root`` (built once: ``built.json`` holds its timings)."""
    path = root / name
    if (path / "built.json").exists():
        return qe.EdgeShard.load(str(path / "shard")), json.loads((path / "built.json").read_text())
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    config = qe.EdgeConfig(
        vectors={
            vector: qe.EdgeVectorParams(
                size=dim,
                distance=distance,
                quantization_config=quantization(qe, kind),
                hnsw_config=qe.HnswIndexConfig(m=m, ef_construct=efc, full_scan_threshold=10),
            )
        }
    )
    shard = qe.EdgeShard.create(str(path / "shard"), config)
    start = time.perf_counter()
    for lo, views in gen.blocks(n):
        x = fuse_document(views) if vector == "fused" else views["clip"]
        for b in range(0, len(x), 1024):
            points = [
                qe.Point(lo + i, {vector: x[i].tolist()}, {})
                for i in range(b, min(len(x), b + 1024))
            ]
            shard.update(qe.UpdateOperation.upsert_points(points))
    timings = {"writes_s": time.perf_counter() - start}
    start = time.perf_counter()
    shard.optimize()
    timings["optimize_s"] = time.perf_counter() - start
    (path / "built.json").write_text(json.dumps(timings))
    return shard, timings


def search(qe, shard, vector, q, ef, oversampling):
    request = qe.QueryRequest(
        limit=10,
        query=qe.Query.Nearest(q.tolist(), using=vector),
        params=qe.SearchParams(
            hnsw_ef=ef,
            quantization=qe.QuantizationSearchParams(rescore=True, oversampling=oversampling),
        ),
        with_vector=False,
        with_payload=False,
    )
    return shard.query(request)


def measure(qe, shard, vector, queries, wants, ef, oversampling):
    for q in queries:  # warm
        search(qe, shard, vector, q, ef, oversampling)
    recalls, times = [], []
    for q, want in zip(queries, wants, strict=True):
        start = time.perf_counter()
        hits = search(qe, shard, vector, q, ef, oversampling)
        times.append(time.perf_counter() - start)
        recalls.append(len({int(h.id) for h in hits} & {int(x) for x in want}) / 10)
    return recalls, times


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--kinds", nargs="+", default=["int8", "turbo4", "turbo2"])
    ap.add_argument("--ef", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--oversampling", type=float, nargs="+", default=[2.0, 4.0])
    ap.add_argument("--queries", type=int, default=30, help="queries per weighting")
    ap.add_argument("--store", type=Path, default=Path("/tmp/qmm-quantization-kinds"))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)

    import qdrant_edge as qe

    gen = Generator(dims=DIMS, latent_dim=32, noise=1.0, seed=0)
    root = args.store / f"edge-{args.n}"
    queries = gen.queries(args.queries)
    exact = exact_topk_blocks(
        gen.blocks(args.n), queries, {k: (w, None) for k, w in WEIGHTINGS.items()}, 10
    )
    exact_clip = exact_topk_blocks(gen.blocks(args.n), queries, {"clip": ((0, 1, 0), None)}, 10)
    base, base_t = build(
        qe, gen, args.n, root, "baseline", "clip", 512, qe.Distance.Cosine, "int8", 16, 100
    )
    log(f"baseline (clip, int8, m 16): {base_t}")
    for spec in args.kinds:
        kind, m, efc = (spec.split(":") + ["32", "100"])[:3] if ":" in spec else (spec, "32", "100")
        name = f"{kind}-m{m}-efc{efc}"
        shard, timings = build(
            qe, gen, args.n, root, name, "fused", 1280, qe.Distance.Dot, kind, int(m), int(efc)
        )
        log(f"{name}: {timings}")
        rows = {}
        for ef in args.ef:
            for oversampling in args.oversampling:
                recalls, times, base_times, base_recalls, worst = [], [], [], [], 1.0
                for (
                    wname,
                    w,
                ) in WEIGHTINGS.items():  # variant and baseline interleaved per weighting
                    fused = [
                        np.concatenate([w[i] * q[ch] for i, ch in enumerate(CHANNELS)]).astype(
                            np.float32
                        )
                        for q in queries
                    ]
                    r, t = measure(qe, shard, "fused", fused, exact[wname], ef, oversampling)
                    rb, tb = measure(
                        qe, base, "clip", [q["clip"] for q in queries], exact_clip["clip"], ef, 2.0
                    )
                    recalls += r
                    times += t
                    base_times += tb
                    base_recalls += rb
                    worst = min(worst, float(np.mean(r)))
                p50, base_p50 = statistics.median(times) * 1e3, statistics.median(base_times) * 1e3
                row = {
                    "recall_mean": float(np.mean(recalls)),
                    "recall_worst_weighting": worst,
                    "p50_ms": p50,
                    "baseline_p50_ms": base_p50,
                    "baseline_recall": float(np.mean(base_recalls)),
                    "ratio": p50 / base_p50,
                }
                rows[f"ef{ef}-os{oversampling:g}"] = row
                log(
                    f"  {name} ef {ef} oversampling {oversampling:g}: recall "
                    f"{row['recall_mean']:.3f} (worst weighting {worst:.3f}), p50 {p50:.2f} ms, "
                    f"baseline {base_p50:.2f} ms"
                    f" (recall {row['baseline_recall']:.3f}), ratio {row['ratio']:.2f}"
                )
        merge_results(
            args.out,
            f"edge/{args.n}/{name}",
            {"timings": timings, "queries": args.queries, "machine": machine(), "runs": rows},
        )


if __name__ == "__main__":
    main()
