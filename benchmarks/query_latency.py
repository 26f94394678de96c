"""Query latency end to end: encode a text query with the real-size architectures, then search
a collection of N products on Edge. p50/p95 and the share of time in each model.

Models: CLIP ViT-B-32, BLIP base ITM (random weights, real architectures; see
``benchmarks/ingest.py``). The collection holds synthetic vectors with the real dims
(256/512/512), written with the same schema metadata, so ``Searcher`` treats it as built by
these models. The interrogator channel embeds the query with the CLIP text tower, so it costs
no extra model call.

    python benchmarks/query_latency.py --n 100000 --queries 100
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Generator, make_backend, percentiles, seed_collection  # noqa: E402
from ingest import base_settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUERIES = [
    "a beige knit cardigan", "black leather ankle boots", "red summer dress with floral print",
    "slim fit blue jeans", "white canvas sneakers", "wool winter coat", "striped cotton t-shirt",
    "small crossbody bag in brown leather", "running shoes", "oversized grey hoodie",
]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--weights", default="0.4,0.4,0.2")
    ap.add_argument(
        "--cpu-precision",
        default="auto",
        choices=["auto", "fp32", "bf16"],
        help="QDRANT_MM_CPU_PRECISION of the encoders",
    )
    ap.add_argument("--latent-dim", type=int, default=12, help="synthetic data (see fusion.py)")
    ap.add_argument("--noise", type=float, default=0.8)
    ap.add_argument("--store", type=Path, default=ROOT / ".qdrant-mm" / "bench-query-latency")
    ap.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "query_latency.json"
    )
    args = ap.parse_args()

    import torch

    from qdrant_mm.encoders.loading import load_models
    from qdrant_mm.search import Searcher
    from qdrant_mm.weights import Weights

    models = load_models(base_settings("cpu", args.cpu_precision))
    dims = models.dims()
    name = f"latency_{args.n}"
    marker = args.store / f"{name}.done"
    if not marker.exists():
        shutil.rmtree(args.store, ignore_errors=True)
        backend = make_backend("edge", args.store)
        vectors = Generator(dims, latent_dim=args.latent_dim, noise=args.noise).products(args.n)
        write_s = seed_collection(backend, name, vectors, models.model_ids())
        index_s = backend.optimize(name)
        print(f"seeded {args.n} products: writes {write_s:.1f}s, HNSW build {index_s:.1f}s")
        marker.write_text(json.dumps({"write_s": write_s, "index_s": index_s}))
    else:
        backend = make_backend("edge", args.store)
    searcher = Searcher(backend, models, name, exact_below=0)  # HNSW, as at this size
    weights = Weights.parse(args.weights)

    parts: dict[str, list[float]] = {"blip": [], "clip": [], "search": [], "total": []}
    enc_blip, enc_clip = models.blip.encode_texts, models.clip.encode_texts

    def timed(fn, key):
        def wrapped(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                parts[key].append(time.perf_counter() - t)

        return wrapped

    models.blip.encode_texts = timed(enc_blip, "blip")
    models.clip.encode_texts = timed(enc_clip, "clip")
    search_vectors = searcher.search_vectors
    searcher.search_vectors = timed(search_vectors, "search")  # type: ignore[method-assign]
    for i in range(5):  # warm-up
        searcher.search(QUERIES[i % len(QUERIES)], weights=weights)
    for key in parts:
        parts[key].clear()
    for i in range(args.queries):
        t = time.perf_counter()
        result = searcher.search(f"{QUERIES[i % len(QUERIES)]} {i}", weights=weights, limit=10)
        parts["total"].append(time.perf_counter() - t)
        assert len(result.hits) == 10
    backend.close()
    total = statistics.fmean(parts["total"])
    summary = {
        "n": args.n,
        "queries": args.queries,
        "torch_threads": torch.get_num_threads(),
        "compute_dtype": str(models.blip.compute_dtype).removeprefix("torch."),
        "weights": str(weights),
        "latency_ms": {k: percentiles(v) for k, v in parts.items()},
        "share_of_mean": {k: statistics.fmean(v) / total for k, v in parts.items() if k != "total"},
    }
    summary["share_of_mean"]["other (tokenise, fuse, glue)"] = 1 - sum(
        summary["share_of_mean"].values()
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2))
    lat = summary["latency_ms"]
    p50 = {k: v["p50_ms"] for k, v in lat.items()}
    print(
        f"N={args.n}: end to end p50 {p50['total']:.1f} ms, p95 {lat['total']['p95_ms']:.1f} ms"
        f" | BLIP text p50 {p50['blip']:.1f} ms, CLIP text p50 {p50['clip']:.1f} ms,"
        f" search p50 {p50['search']:.2f} ms"
    )
    print("share of mean:", {k: f"{v:.0%}" for k, v in summary["share_of_mean"].items()})


if __name__ == "__main__":
    main()
