"""Live metrics on the tuning page: how long one slider step takes to re-evaluate a labelled
query set, and whether the numbers equal ``qdrant-mm evaluate``'s (engine searches).

N synthetic products (real dims 256/512/512, see ``common.Generator``) on Edge, below the
exact-search threshold as shipped; Q queries made the same way, each judged against the exact
top 10 of a hidden weighting (grades 3, 2, 1 for its top 3, 1 for the rest) with two of the ten
swapped for random products. The set is loaded into a service (``create_app``) and one slider
(α) is moved in steps of 0.01 as the page moves it; each step is one ``GET /evaluate`` through
FastAPI's TestClient (routing, JSON; no socket). Also measured: loading the set (candidate
fetch), the engine path that ``evaluate`` takes per weighting, and the largest difference
between the engine's fused scores and the re-ranked ``S @ w`` (the margin ``EPS`` covers).

    python benchmarks/live_metrics.py --n 10000 --queries 200
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from common import DIMS, Generator, make_backend, percentiles, product_ids, seed_collection  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--steps", type=int, default=40, help="slider steps of 0.01")
    ap.add_argument("--depth", type=int, default=200, help="candidates per channel")
    ap.add_argument("--latent-dim", type=int, default=12)
    ap.add_argument("--noise", type=float, default=0.8)
    ap.add_argument("--check", type=int, default=8, help="weightings compared with the engine")
    ap.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "live_metrics.json"
    )
    args = ap.parse_args()

    from fastapi.testclient import TestClient

    from qdrant_mm.app import QdrantMM
    from qdrant_mm.collection import read_collection_meta
    from qdrant_mm.evaluation.live import LiveEvaluator
    from qdrant_mm.evaluation.qrels import Qrels, QrelsQuery
    from qdrant_mm.evaluation.runner import evaluate_weightings
    from qdrant_mm.evaluation.sensitivity import slider_path
    from qdrant_mm.schema import meta_key
    from qdrant_mm.service import create_app
    from qdrant_mm.settings import CHANNELS, Settings
    from qdrant_mm.weights import Weights
    from tests.fakes import fake_bundle

    gen = Generator(DIMS, latent_dim=args.latent_dim, noise=args.noise)
    vectors = gen.products(args.n)
    queries = gen.queries(args.queries)
    ids = product_ids(args.n)
    hidden = np.array([0.2, 0.5, 0.3])
    rng = np.random.default_rng(1)
    judged = []
    for i, q in enumerate(queries):
        fused = sum(hidden[c] * (vectors[ch] @ q[ch]) for c, ch in enumerate(CHANNELS))
        top = list(np.argsort(-fused)[:10])
        for j in rng.choice(10, size=2, replace=False):
            top[j] = int(rng.integers(args.n))
        rel = {ids[t]: g for t, g in zip(top, [3, 2, 1] + [1] * 7, strict=True)}
        judged.append(QrelsQuery(id=f"q{i}", kind="text", text=f"query {i}", relevance=rel))
    qrels = Qrels(queries=tuple(judged), source="synthetic")
    qvecs = {f"q{i}": q for i, q in enumerate(queries)}

    tmp = Path(tempfile.mkdtemp(prefix="live-metrics-"))
    backend = make_backend("edge", tmp / "edge")
    bundle = fake_bundle(tuple(DIMS[ch] for ch in CHANNELS))
    result: dict = {"n": args.n, "queries": args.queries, "depth": args.depth}
    try:
        result["write_s"] = seed_collection(backend, "products", vectors, bundle.model_ids())
        meta = read_collection_meta(backend, "products")  # the point count, as a sync records it:
        meta.points = backend.count("products")  # the search is exact below 20,000 points
        backend.write_meta(meta_key("products"), meta.model_dump())
        mm = QdrantMM(
            Settings(_env_file=None, collection="products"), backend=backend, models=bundle
        )
        app = create_app(mm)
        with TestClient(app) as client:
            state = app.state.qdrant_mm
            searcher = state.ready_searcher()
            t0 = time.perf_counter()
            live = LiveEvaluator.build(searcher, qrels, qvecs, depth=args.depth)
            result["load_s"] = time.perf_counter() - t0
            state.workbench.live = live  # as a loaded set (embedding skipped: vectors given)
            state.workbench.generation += 1

            w = np.array([0.4, 0.4, 0.2])
            r, d = slider_path(w, 0)
            steps, how = [], {}
            for s in range(args.steps + 1):
                t = min(1.0, 0.4 + 0.01 * s)
                weights = ",".join(f"{v:.6f}" for v in r + t * d)
                t0 = time.perf_counter()
                resp = client.get("/evaluate", params={"weights": weights, "k": "10"})
                elapsed = time.perf_counter() - t0
                assert resp.status_code == 200, resp.text
                if s:  # the first request warms caches up
                    steps.append(elapsed)
                for key, n in resp.json()["ranked_by"].items():
                    how[key] = how.get(key, 0) + n
            result["step_ms"] = percentiles(steps)
            result["step_ms"]["max_ms"] = max(steps) * 1000
            result["ranked_by"] = how

            # equal to evaluate's engine path, and what that path costs per weighting
            checks = [
                Weights.parse(",".join(map(str, v))) for v in rng.dirichlet(np.ones(3), args.check)
            ]
            t0 = time.perf_counter()
            rows = evaluate_weightings(searcher, qrels, qvecs, [(str(x), x) for x in checks], [10])
            result["engine_ms_per_weighting"] = (time.perf_counter() - t0) * 1000 / len(checks)
            result["equal_to_evaluate"] = all(
                live.evaluate(x, [10]).evaluation == row.evaluation
                for x, row in zip(checks, rows, strict=True)
            )
            # how far the engine's float32 fused scores are from S @ w recomputed here
            worst = 0.0
            for x in checks[:3]:
                for qid, qv in list(qvecs.items())[:50]:
                    cands = live.queries[qid].candidates
                    index = {p: i for i, p in enumerate(cands.ids)}
                    for h in searcher.search_vectors(qv, x, limit=10):
                        if h.id in index:
                            vec = np.array([x.blip, x.clip, x.interrogator])
                            mine = float(cands.scores[index[h.id]] @ vec)
                            worst = max(worst, abs(mine - h.score))
            result["max_score_diff"] = worst
            t0 = time.perf_counter()
            grid = client.get("/evaluate/grid", params={"metric": "ndcg@10", "k": "10"})
            result["grid_s"] = time.perf_counter() - t0
            assert grid.status_code == 200, grid.text
    finally:
        backend.close()
        shutil.rmtree(tmp, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
