"""How far float16 originals alone move recall@10: exact top-10 over float16-rounded vectors (the
query rounded too, as the engine scores them) against the exact float32 top-10, on the data of
``fusion.py`` (same generator, seed, queries and weightings). No engine: the ceiling any search
over a float16 store can reach, and the score gaps behind it.

    python benchmarks/float16_ceiling.py --n 1000000 [--queries 50]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import DIMS, Generator  # noqa: E402
from fusion import WEIGHTINGS  # noqa: E402

from qdrant_mm.weights import CHANNELS  # noqa: E402

K = 10


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=3, help="as fusion.py: its first queries warm up")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    gen = Generator(DIMS, 32, 1.0, args.seed)
    queries = gen.queries(args.queries + args.warmup, seed=args.seed + 999)[args.warmup :]
    names = list(WEIGHTINGS)
    # the engine's query: concat(w_c * q_c), rounded to float16 like the stored vectors
    q32 = {
        name: np.stack(
            [np.concatenate([np.float32(w) * q[ch] for ch, w in zip(CHANNELS, ws, strict=True)])
             for q in queries]
        ).T.astype(np.float32)
        for name, ws in WEIGHTINGS.items()
    }  # fmt: skip
    q16 = {name: m.astype(np.float16).astype(np.float32) for name, m in q32.items()}
    # running top 2K per weighting and query: (scores, ids) over float32 and over float16
    nq = len(queries)
    top = {(name, kind): (np.full((2 * K, nq), -np.inf), np.zeros((2 * K, nq), dtype=np.int64))
           for name in names for kind in ("f32", "f16")}  # fmt: skip
    for lo, v in gen.blocks(args.n):
        fused = np.concatenate([v[ch] for ch in CHANNELS], axis=1).astype(np.float32)
        rounded = fused.astype(np.float16).astype(np.float32)
        ids = np.arange(lo, lo + len(fused))[:, None].repeat(nq, 1)
        for name in names:
            for kind, scores in (("f32", fused @ q32[name]), ("f16", rounded @ q16[name])):
                old_s, old_i = top[name, kind]
                all_s, all_i = np.concatenate([old_s, scores]), np.concatenate([old_i, ids])
                order = np.argsort(-all_s, axis=0, kind="stable")[: 2 * K]
                top[name, kind] = (
                    np.take_along_axis(all_s, order, 0),
                    np.take_along_axis(all_i, order, 0),
                )
    print(f"N={args.n}, {len(queries)} queries; exact float16 top-10 against exact float32 top-10")
    print("| weighting | recall@10 (min) | median gap 10th-11th (float32) | share of gaps < 1e-4 |")
    print("|---|---|---|---|")
    for name in names:
        s32, i32 = top[name, "f32"]
        i16 = top[name, "f16"][1]
        rec = [len(set(i32[:K, j]) & set(i16[:K, j])) / K for j in range(len(queries))]
        gaps = s32[K - 1] - s32[K]
        print(f"| {name} | {np.mean(rec):.3f} ({min(rec):.1f}) | {np.median(gaps):.2e} |"
              f" {np.mean(gaps < 1e-4):.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
