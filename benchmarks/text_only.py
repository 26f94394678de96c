"""Where products without a photo rank: the share of text-only products in the top 10 against
their share of the catalog, on raw scores and as shipped (their scores put on the photo scale).

A product stored from its text has every channel's vector from a text tower. Text-to-text
cosines run higher than text-to-image ones (the "modality gap", Liang et al. 2022, "Mind the
Gap"), so on raw scores text-only products crowd the top of a text query and sink for a photo
query. The search ranks them apart and puts each one's channel score ``s`` on the photo
products' scale ``a·s + b`` from the statistics sync computes (``docs/search.md``).

Synthetic data with a modelled gap (``common.Generator``, real dims 256/512/512): a product is
a latent ``z``; a product with a photo stores the concatenation of its unit channel views of
``z``; a text-only product stores, per channel, ``unit(view + g·u_c)`` with ``u_c`` a fixed
random unit "text direction" of the channel and ``g`` the gap (``--gap``). Text queries are
``unit(view(z_q) + g·u_c)`` per channel, photo queries ``view(z_q)``; the three channels are
modelled alike (with the real models a photo product's interrogator vector is text too).

The collection is built with the shipped code (``create_physical`` with one row per photo and
int8 ``fused``, as a default sync creates it; ``upsert``; ``optimize``) and its metadata
computed as a sync computes it: the point count, the text-only count and
``compute_statistics``, whose text towers here map each product's title to that product's
synthetic text vector (a fresh view of its latent plus the gap), so the scale comes out of the
shipped code path. Then, per query kind, the mean share of text-only products in the top 10:

  unadjusted   the same collection with ``meta.source_stats`` cleared: one search, raw scores
  as shipped   the statistics set: photo and text-only products ranked apart and merged

and the recall@10 of each against the gap-free ranking (every product scored by its photo
view: what it would score had it a photo), with the p50 latency of both, through
``Searcher.search_vectors`` with the default settings (weights 0.4,0.4,0.2, ``hnsw_ef`` 256,
int8 rescored with oversampling 2): as shipped at this N (exact search up to 20,000 points)
and with HNSW forced. The variants are interleaved query by query.

    python benchmarks/text_only.py --n 20000 --text-share 0.05
    python benchmarks/text_only.py --report
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DIMS,
    RESULTS_DIR,
    Generator,
    log,
    machine,
    make_backend,
    merge_results,
    percentiles,
    unit,
)

from qdrant_mm import defaults  # noqa: E402
from qdrant_mm.backends.base import PointRecord  # noqa: E402
from qdrant_mm.calibration import compute_statistics  # noqa: E402
from qdrant_mm.catalog import point_id  # noqa: E402
from qdrant_mm.collection import create_physical, new_physical_name, read_collection_meta  # noqa: E402
from qdrant_mm.encoders.bundle import ModelBundle  # noqa: E402
from qdrant_mm.hit_rows import source_filter  # noqa: E402
from qdrant_mm.schema import (  # noqa: E402
    FROM_PHOTOS,
    FROM_TEXT,
    FUSED,
    LAYOUT_PHOTOS,
    VECTORS_FROM,
    meta_key,
)
from qdrant_mm.search import QueryEmbeddings, Searcher  # noqa: E402
from qdrant_mm.weights import CHANNELS, Weights  # noqa: E402

OUT = RESULTS_DIR / "text_only.json"
COLLECTION = "products"
KINDS = ("text", "image")


# --- synthetic data --------------------------------------------------------------------------
class Data:
    """Products (latents, photo views, which are text-only), the channels' text directions and
    the title -> text-vector lookup the synthetic text towers use."""

    def __init__(self, gen: Generator, n: int, share: float, gap: float, seed: int) -> None:
        self.gen, self.n, self.gap, self.seed = gen, n, gap, seed
        rng = np.random.default_rng((seed, 1))
        self.latents = rng.standard_normal((n, gen.latent_dim))
        self.photo = gen.views(self.latents, rng)  # channel -> (n, dim) unit rows
        self.direction = {
            ch: unit(rng.standard_normal(DIMS[ch])) for ch in CHANNELS
        }  # the modality gap's "text direction" of each channel
        order = np.random.default_rng((seed, 2)).permutation(n)
        self.text_only = np.zeros(n, dtype=bool)
        self.text_only[order[: round(share * n)]] = True
        self._titles: dict[str, dict[str, np.ndarray]] = {}

    def textify(self, views: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """What a text tower gives where the image tower gives ``views``."""
        return {ch: unit(views[ch] + self.gap * self.direction[ch]) for ch in CHANNELS}

    def stored_rows(self, lo: int, hi: int) -> np.ndarray:
        """``(hi-lo, 1280)`` fused rows: photo views, or their text form for text-only ones."""
        text = self.textify({ch: self.photo[ch][lo:hi] for ch in CHANNELS})
        mask = self.text_only[lo:hi, None]
        return np.concatenate(
            [np.where(mask, text[ch], self.photo[ch][lo:hi]) for ch in CHANNELS], axis=1
        )

    def title_vectors(self, title: str) -> dict[str, np.ndarray]:
        """A product title through the text towers: a fresh view of its latent, with the gap."""
        if title not in self._titles:
            i = int(title.rsplit(" ", 1)[1])
            rng = np.random.default_rng((self.seed, 3, i))
            view = self.gen.views(self.latents[i : i + 1], rng)
            self._titles[title] = {ch: v[0] for ch, v in self.textify(view).items()}
        return self._titles[title]

    def queries(self, count: int) -> dict[str, list[dict[str, np.ndarray]]]:
        rng = np.random.default_rng((self.seed, 4))
        views = self.gen.views(rng.standard_normal((count, self.gen.latent_dim)), rng)
        text = self.textify(views)
        return {
            "text": [{ch: text[ch][i] for ch in CHANNELS} for i in range(count)],
            "image": [{ch: views[ch][i] for ch in CHANNELS} for i in range(count)],
        }


class TitleTower:
    """A text tower of one channel: a product title -> that product's synthetic text vector."""

    def __init__(self, data: Data, channel: str) -> None:
        self.data, self.channel = data, channel
        self.model_id = f"synthetic-{channel}"
        self.dim = DIMS[channel]

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.data.title_vectors(t)[self.channel] for t in texts])

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        raise NotImplementedError("the benchmark gives photo vectors directly")


class NoDescriber:
    model_id = "none"

    def describe(self, images: Sequence[Any], clip_features: Any = None) -> list[str]:
        raise NotImplementedError("the benchmark gives interrogator vectors directly")


def bundle(data: Data) -> ModelBundle:
    """Models whose text towers read titles back as synthetic vectors; the interrogator has its
    own text tower, so a photo query's interrogator vector is its own view, not its CLIP one."""
    return ModelBundle(
        blip=TitleTower(data, "blip"),  # type: ignore[arg-type]
        clip=TitleTower(data, "clip"),  # type: ignore[arg-type]
        describer=NoDescriber(),
        interrogator_text=TitleTower(data, "interrogator"),  # type: ignore[arg-type]
    )


def mean_cosines(data: Data, queries: dict, sample: int = 2000) -> dict[str, dict[str, Any]]:
    """Mean and standard deviation of the query-product cosines per query kind and source kind
    (each averaged over the channels): the gap shows as a higher mean of text against text and
    a narrower spread of a photo against text."""
    rng = np.random.default_rng(5)
    out: dict[str, dict[str, Any]] = {}
    for kind, qs in queries.items():
        out[kind] = {}
        for source, mask in (("photo", ~data.text_only), ("text", data.text_only)):
            idx = np.flatnonzero(mask)
            if not len(idx):
                continue
            idx = rng.choice(idx, min(sample, len(idx)), replace=False)
            stored = {ch: data.photo[ch][idx] for ch in CHANNELS}
            if source == "text":
                stored = data.textify(stored)
            cos = [np.stack([q[ch] for q in qs]) @ stored[ch].T for ch in CHANNELS]
            out[kind][source] = {
                "mean": float(np.mean([c.mean() for c in cos])),
                "std": float(np.mean([c.std() for c in cos])),
            }
    return out


def gap_free_top(data: Data, qs: list[dict[str, np.ndarray]], w: Weights, k: int) -> list[set]:
    """Each query's exact top ``k`` had every product its photo (weighted photo-view score)."""
    score = sum(
        getattr(w, ch) * (np.stack([q[ch] for q in qs]) @ data.photo[ch].T) for ch in CHANNELS
    )
    top = np.argpartition(-score, k - 1, axis=1)[:, :k]
    return [set(row.tolist()) for row in top]


# --- the collection -----------------------------------------------------------------------------
def build(backend: Any, data: Data, models: ModelBundle, batch: int = 1024) -> dict[str, Any]:
    """The collection as a default sync creates it, and its metadata as a sync computes it."""
    physical = new_physical_name(COLLECTION)
    create_physical(
        backend, physical, models.model_ids(), models.dims(), "int8", layout=LAYOUT_PHOTOS
    )
    backend.switch_alias(COLLECTION, physical)
    t0 = time.perf_counter()
    for lo in range(0, data.n, batch):
        hi = min(data.n, lo + batch)
        rows = data.stored_rows(lo, hi)
        backend.upsert(
            physical,
            [
                PointRecord(
                    point_id(f"p{i}"),
                    {FUSED: rows[i - lo : i - lo + 1]},
                    {
                        "product_id": f"p{i}",
                        "title": f"product {i}",
                        VECTORS_FROM: FROM_TEXT if data.text_only[i] else FROM_PHOTOS,
                    },
                )
                for i in range(lo, hi)
            ],
        )
    write_s = time.perf_counter() - t0
    optimize_s = backend.optimize(physical)
    t0 = time.perf_counter()
    meta = read_collection_meta(backend, physical)
    assert meta is not None
    meta.points = backend.count(physical)
    meta.text_only = backend.count(physical, source_filter(None, True))
    stats = compute_statistics(backend, physical, models, meta.dims)
    meta.calibration, meta.source_stats = stats.calibration, stats.source_stats
    backend.write_meta(meta_key(physical), meta.model_dump())
    stats_s = time.perf_counter() - t0
    scale = (
        {
            kind: {ch: list(meta.source_stats.text_to_image_scale(kind, ch)) for ch in CHANNELS}
            for kind in KINDS
        }
        if meta.source_stats
        else None
    )
    return {
        "physical": physical,
        "write_s": write_s,
        "optimize_s": optimize_s,
        "statistics_s": stats_s,
        "points": meta.points,
        "text_only": meta.text_only,
        "scale": scale,
    }


def searchers(backend: Any, models: ModelBundle, physical: str) -> dict[tuple[str, str], Searcher]:
    """``(mode, variant)`` -> a Searcher holding the metadata it read for good: ``shipped``
    reads it with the statistics, ``unadjusted`` after they are cleared. Mode ``default``: the
    default settings (exact search up to 20,000 points); ``hnsw``: HNSW forced."""
    modes = {"default": {}, "hnsw": {"exact_below": 0}}
    out = {}
    for variant in ("shipped", "unadjusted"):
        if variant == "unadjusted":
            meta = read_collection_meta(backend, physical)
            assert meta is not None
            meta.source_stats = None
            backend.write_meta(meta_key(physical), meta.model_dump())
        for mode, options in modes.items():
            s = Searcher(backend, models, COLLECTION, meta_ttl=float("inf"), **options)
            assert (s.meta.source_stats is None) == (variant == "unadjusted")
            out[(mode, variant)] = s
    return out


# --- one run ------------------------------------------------------------------------------------
def run(args: argparse.Namespace, share: float) -> dict[str, Any]:
    gen = Generator(DIMS, latent_dim=args.latent_dim, noise=args.noise, seed=args.seed)
    data = Data(gen, args.n, share, args.gap, args.seed)
    queries = data.queries(args.queries)
    weights = Weights.parse(defaults.WEIGHTS)
    models = bundle(data)
    k = 10
    result: dict[str, Any] = {
        "n": args.n,
        "text_share": share,
        "text_only_products": int(data.text_only.sum()),
        "queries_per_kind": args.queries,
        "gap": args.gap,
        "latent_dim": args.latent_dim,
        "noise": args.noise,
        "weights": str(weights),
        "hnsw_ef": defaults.HNSW_EF,
        "exact_below": defaults.EXACT_BELOW,
        "quantization": "int8",
        "mean_cosine": mean_cosines(data, queries),
        "machine": machine(),
    }
    log(f"n={args.n} text share {share:.0%}: cosines {result['mean_cosine']}")
    ideal = {kind: gap_free_top(data, qs, weights, k) for kind, qs in queries.items()}
    tmp = Path(tempfile.mkdtemp(prefix="text-only-"))
    backend = make_backend("edge", tmp / "edge")
    try:
        result["build"] = built = build(backend, data, models)
        log(
            f"built: write {built['write_s']:.1f} s, optimize {built['optimize_s']:.1f} s,"
            f" statistics {built['statistics_s']:.2f} s, text-only {built['text_only']}"
        )
        found = searchers(backend, models, built["physical"])
        variants = list(found)
        calls: list[float] = []  # each engine call of a search (the shipped one makes two)
        engine_query = backend.query

        def timed_query(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return engine_query(*a, **kw)
            finally:
                calls.append(time.perf_counter() - t)

        backend.query = timed_query
        for kind, qs in queries.items():
            for i in range(3):  # warm-up
                for key in variants:
                    found[key].search_vectors(QueryEmbeddings(qs[i], kind), weights, limit=k)
        samples: dict[tuple, dict[str, list]] = {
            (key, kind): {"s": [], "share": [], "recall": [], "calls": []}
            for key in variants
            for kind in KINDS
        }
        for i in range(args.queries):
            for kind in KINDS:
                q = QueryEmbeddings(queries[kind][i], kind)
                for j in range(len(variants)):  # the order rotates query by query
                    key = variants[(i + j) % len(variants)]
                    calls.clear()
                    t0 = time.perf_counter()
                    hits = found[key].search_vectors(q, weights, limit=k)
                    elapsed = time.perf_counter() - t0
                    got = [int(h.id[1:]) for h in hits]
                    assert len(got) == k
                    assert [h.text_only for h in hits] == [bool(data.text_only[g]) for g in got]
                    box = samples[(key, kind)]
                    box["s"].append(elapsed)
                    box["calls"].append(list(calls))
                    box["share"].append(float(np.mean(data.text_only[got])))
                    box["recall"].append(len(ideal[kind][i] & set(got)) / k)
        by_mode: dict[str, Any] = {}
        for (mode, variant), s in found.items():
            exact = s.exact or (built["points"] <= s.exact_below)
            entry = by_mode.setdefault(mode, {"exact": exact})
            for kind in KINDS:
                box = samples[((mode, variant), kind)]
                entry.setdefault(kind, {})[variant] = {
                    "top10_text_share": float(np.mean(box["share"])),
                    "queries_with_text_only": float(np.mean(np.array(box["share"]) > 0)),
                    "recall_vs_gap_free": float(np.mean(box["recall"])),
                    "latency": percentiles(box["s"]),
                    # the engine calls alone: one, or the photo then the text-only search
                    "engine_calls": [percentiles(c) for c in zip(*box["calls"], strict=True)],
                }
        result["modes"] = by_mode
    finally:
        backend.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return result


# --- report ------------------------------------------------------------------------------------
def report(path: Path) -> None:
    data = json.loads(path.read_text())
    rows = sorted(data.values(), key=lambda r: (r["n"], r["text_share"]))
    print("### Share of text-only products in the top 10 (default settings)\n")
    print(
        "| N | catalog share | query | unadjusted top-10 share | as shipped top-10 share"
        " | recall@10 vs gap-free: unadjusted | as shipped |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        mode = r["modes"]["default"]
        for kind in KINDS:
            u, s = mode[kind]["unadjusted"], mode[kind]["shipped"]
            print(
                f"| {r['n']:,} | {r['text_share']:.0%} | {kind} |"
                f" {u['top10_text_share']:.1%} | {s['top10_text_share']:.1%} |"
                f" {u['recall_vs_gap_free']:.3f} | {s['recall_vs_gap_free']:.3f} |"
            )
    print("\n### p50 latency: one search (unadjusted) against two merged (as shipped)\n")
    print(
        "| N | catalog share | search | query | unadjusted p50 | as shipped p50 | ratio"
        " | engine calls p50: one / photos + text-only |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        for mode, m in r["modes"].items():
            label = "exact (default at this N)" if m["exact"] else f"HNSW ef {r['hnsw_ef']}"
            if mode == "hnsw" and r["modes"]["default"]["exact"] is False:
                continue  # the same as the default
            for kind in KINDS:
                u = m[kind]["unadjusted"]["latency"]["p50_ms"]
                s = m[kind]["shipped"]["latency"]["p50_ms"]
                one = m[kind]["unadjusted"].get("engine_calls") or []
                two = m[kind]["shipped"].get("engine_calls") or []
                single = " + ".join(f"{c['p50_ms']:.2f}" for c in one)
                engine = " + ".join(f"{c['p50_ms']:.2f}" for c in two)
                print(
                    f"| {r['n']:,} | {r['text_share']:.0%} | {label} | {kind} |"
                    f" {u:.2f} ms | {s:.2f} ms | {s / u:.2f}x |"
                    f" {single} / {engine} ms |"
                )
    print("\n### The modelled gap: query-product cosine, mean ± std (over channels)\n")
    print("| gap g | query | against photo products | against text-only products |")
    print("|---|---|---|---|")
    seen = set()
    for r in rows:
        if r["gap"] in seen:
            continue
        seen.add(r["gap"])
        for kind in KINDS:
            c = r["mean_cosine"][kind]
            print(
                f"| {r['gap']} | {kind} | {c['photo']['mean']:.3f} ± {c['photo']['std']:.3f} |"
                f" {c['text']['mean']:.3f} ± {c['text']['std']:.3f} |"
            )
    hnsw = [r for r in rows if r["modes"]["default"]["exact"]]
    if hnsw:
        print("\nShares with HNSW forced (ef 256, int8 rescored), unadjusted / as shipped:")
        for r in hnsw:
            m = r["modes"]["hnsw"]
            parts = [
                f"{kind} {m[kind]['unadjusted']['top10_text_share']:.1%}"
                f" / {m[kind]['shipped']['top10_text_share']:.1%}"
                f" (recall {m[kind]['unadjusted']['recall_vs_gap_free']:.3f}"
                f" / {m[kind]['shipped']['recall_vs_gap_free']:.3f})"
                for kind in KINDS
            ]
            print(f"- N {r['n']:,}, share {r['text_share']:.0%}: " + "; ".join(parts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="products")
    ap.add_argument(
        "--text-share", type=float, nargs="+", default=[0.05], help="share(s) stored from text"
    )
    ap.add_argument("--queries", type=int, default=200, help="queries of each kind")
    ap.add_argument("--gap", type=float, default=1.0, help="the modality gap g")
    ap.add_argument("--latent-dim", type=int, default=32)
    ap.add_argument("--noise", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--report", action="store_true", help="print the tables of --out")
    args = ap.parse_args()
    if args.report:
        if not args.out.exists():
            raise SystemExit(f"no results at {args.out}: run the benchmark first")
        report(args.out)
        return
    bad = [s for s in args.text_share if not 0 < s < 1]
    if bad or args.n < 20 or args.queries < 4:
        raise SystemExit(
            f"--text-share must lie strictly between 0 and 1 (got {bad}), --n be at least 20"
            " and --queries at least 4"
        )
    for share in args.text_share:
        result = run(args, share)
        merge_results(args.out, f"edge/{args.n}/share-{share:g}/gap-{args.gap:g}", result)
        log(f"merged into {args.out}")
    report(args.out)


if __name__ == "__main__":
    main()
