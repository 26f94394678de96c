"""Ingest throughput: products/s for the full sync pipeline, per stage, against the naive way.

Real-size architectures with random weights (CLIP ViT-B-32, BLIP base ITM, BLIP base captioning;
built by ``qdrant_mm.testing.random_models --size base``), so the timings are those of the real
models.

* **pipeline**: ``Syncer`` as shipped: images decoded once and shared, CLIP image features
  reused for term ranking, every model called on batches, one upsert per batch, HNSW build
  at the end (Edge).
* **naive**: one product at a time, each model with its own preprocessing of the file, the
  interrogator computing its own CLIP image features (as clip-interrogator's per-image
  ``interrogate_fast`` does), one upsert per product, fp32 (clip-interrogator's CPU default).

The pipeline runs at the shipped ``QDRANT_MM_CPU_PRECISION=auto`` (bf16 image work where the
CPU has native bf16) and, for comparison, at fp32 (``--fp32-batch-sizes``). ``fidelity`` compares
the two precisions' outputs on the same products: cosine of each channel's vector, and how
many captions come out identical.

Every configuration runs ``--rounds`` times, interleaved; the table sums the rounds and also
gives each round's ratio to the naive run of the same round.

    python benchmarks/ingest.py --products 24 --naive-products 8 --batch-sizes 1 8 24
    python benchmarks/ingest.py --fidelity-only      # the fidelity alone (minutes)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / ".qdrant-mm" / "bench-models-base"
PLOT = ROOT / "docs" / "img" / "ingest_stages.png"


def base_settings(device: str, cpu_precision: str = "auto"):
    from qdrant_mm.settings import Settings
    from qdrant_mm.testing.random_models import build_or_reuse

    # rebuilt when the recipe changed (models built before the vision-init fix are not reused)
    models, _ = build_or_reuse(MODELS, "base")
    return Settings(_env_file=None, device=device, cpu_precision=cpu_precision, **models)


def make_catalog(folder: Path, n: int, size: int = 512) -> Path:
    """``n`` products with JPEG photos of shop-like size made from Fashion-MNIST (or noise)."""
    import sys

    sys.path.insert(0, str(ROOT / "examples"))
    from fashion_mnist import SOURCE, build

    if (SOURCE / "t10k-images-idx3-ubyte.gz").exists():
        build(folder, per_class=(n + 9) // 10, size=size)
        rows = [json.loads(line) for line in (folder / "catalog.jsonl").read_text().splitlines()]
        for r in rows:  # shop photos are JPEGs
            png = folder / r["image"]
            r["image"] = r["image"].replace(".png", ".jpg")
            Image.open(png).convert("RGB").save(folder / r["image"], quality=90)
        rows = rows[:n]
    else:
        rng = np.random.default_rng(0)
        (folder / "images").mkdir(parents=True, exist_ok=True)
        rows = []
        for i in range(n):
            arr = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            Image.fromarray(arr).save(folder / f"images/{i}.jpg", quality=90)
            rows.append({"id": str(i), "title": f"product {i}", "image": f"images/{i}.jpg"})
    path = folder / "catalog.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


class Stages:
    """Wall time per stage, by wrapping the callables the pipeline uses."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def timed(self, stage: str):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - t

    def wrap(self, obj, attr: str, stage: str) -> None:
        fn = getattr(obj, attr)

        def wrapped(*a, **k):
            with self.timed(stage):
                return fn(*a, **k)

        setattr(obj, attr, wrapped)


def run_pipeline(models, catalog: Path, batch_size: int) -> dict:
    import qdrant_mm.sync as sync_module
    from qdrant_mm.backends.edge import EdgeBackend
    from qdrant_mm.sync import Syncer

    stages = Stages()
    with tempfile.TemporaryDirectory() as tmp:
        backend = EdgeBackend(Path(tmp) / "edge")
        desc = models.describer
        originals = {
            "blip": models.blip.encode_images,
            "clip": models.clip.encode_images,
            "captions": desc.captions,
            "compose": desc.compose,
            "text": models.interrogator_text.encode_texts,
            "decode": sync_module.decode_image,
        }
        stages.wrap(models.blip, "encode_images", "BLIP image")
        stages.wrap(models.clip, "encode_images", "CLIP image")
        stages.wrap(desc, "captions", "caption (BLIP generate)")
        stages.wrap(desc, "compose", "term ranking")
        stages.wrap(models.interrogator_text, "encode_texts", "text embedding")
        stages.wrap(backend, "upsert", "upsert")
        stages.wrap(backend, "optimize", "index build")
        stages.wrap(sync_module, "decode_image", "decode")
        try:
            desc.tables()  # term embeddings: a one-off per process, not per product
            t = time.perf_counter()
            report = Syncer(backend, models, "bench", batch_size=batch_size).sync(
                catalog, calibrate=False
            )
            wall = time.perf_counter() - t
        finally:
            models.blip.encode_images = originals["blip"]
            models.clip.encode_images = originals["clip"]
            desc.captions = originals["captions"]
            desc.compose = originals["compose"]
            models.interrogator_text.encode_texts = originals["text"]
            sync_module.decode_image = originals["decode"]
            backend.close()
    assert report.added == report.embedded and not report.failed, report
    return {"products": report.added, "seconds": wall, "stages": dict(stages.seconds)}


def run_naive(models, catalog: Path, limit: int) -> dict:
    """One product at a time; every model preprocesses the file itself; the interrogator
    recomputes CLIP image features; one upsert per product."""
    from qdrant_mm.backends.base import PointRecord
    from qdrant_mm.backends.edge import EdgeBackend
    from qdrant_mm.catalog import point_id, read_catalog
    from qdrant_mm.collection import create_physical
    from qdrant_mm.encoders.bundle import interrogator_document
    from qdrant_mm.fusion import fuse_document
    from qdrant_mm.schema import FUSED
    from qdrant_mm.weights import CHANNELS

    cat = read_catalog(catalog)
    desc = models.describer
    desc.tables()
    stages = Stages()
    with tempfile.TemporaryDirectory() as tmp:
        backend = EdgeBackend(Path(tmp) / "edge")
        create_physical(backend, "naive", models.model_ids(), models.dims())
        t0 = time.perf_counter()
        for p in cat.products[:limit]:
            path = cat.base_dir / p.image
            with stages.timed("decode"):
                img_blip = Image.open(path).convert("RGB")
            with stages.timed("BLIP image"):
                blip = models.blip.encode_images([img_blip])
            with stages.timed("decode"):
                img_clip = Image.open(path).convert("RGB")
            with stages.timed("CLIP image"):
                clip = models.clip.encode_images([img_clip])
            with stages.timed("decode"):
                img_ci = Image.open(path).convert("RGB")
            with stages.timed("caption (BLIP generate)"):
                caption = desc.captions([img_ci])
            with stages.timed("CLIP image (interrogator)"):
                features = models.clip.encode_images([img_ci])
            with stages.timed("term ranking"):
                generated = desc.compose(caption, features)
            with stages.timed("text embedding"):
                text = models.interrogator_text.encode_texts(
                    [interrogator_document(p.title, generated[0], p.description)]
                )
            vectors = {"blip": blip, "clip": clip, "interrogator": text}
            fused = fuse_document(vectors)
            with stages.timed("upsert"):
                backend.upsert(
                    "naive",
                    [
                        PointRecord(
                            point_id(p.id),
                            {**{ch: vectors[ch][0] for ch in CHANNELS}, FUSED: fused[0]},
                            p.payload(),
                        )
                    ],
                )
        with stages.timed("index build"):
            backend.optimize("naive")
        wall = time.perf_counter() - t0
        backend.close()
    return {
        "products": min(limit, len(cat.products)),
        "seconds": wall,
        "stages": dict(stages.seconds),
    }


def fidelity(reference, models, catalog: Path, limit: int) -> dict:
    """How close ``models`` comes to ``reference`` (fp32) on the first ``limit`` products."""
    from qdrant_mm.catalog import read_catalog
    from qdrant_mm.encoders.bundle import interrogator_document

    cat = read_catalog(catalog)
    products = cat.products[:limit]
    images = [Image.open(cat.base_dir / p.image).convert("RGB") for p in products]
    out: dict = {"products": len(products)}
    docs = {}
    for name, bundle in (("reference", reference), ("candidate", models)):
        clip = bundle.clip.encode_images(images)
        captions = bundle.describer.captions(images)
        generated = bundle.describer.compose(captions, clip)
        text = bundle.interrogator_text.encode_texts(
            [
                interrogator_document(p.title, g, p.description)
                for p, g in zip(products, generated, strict=True)
            ]
        )
        docs[name] = {
            "blip": bundle.blip.encode_images(images),
            "clip": clip,
            "interrogator": text,
            "captions": captions,
        }
    for ch in ("blip", "clip", "interrogator"):
        cos = (docs["reference"][ch] * docs["candidate"][ch]).sum(axis=1)
        out[f"{ch}_cos_min"] = float(cos.min())
        out[f"{ch}_cos_mean"] = float(cos.mean())
    same = [
        a == b
        for a, b in zip(docs["reference"]["captions"], docs["candidate"]["captions"], strict=True)
    ]
    out["captions_identical"] = float(np.mean(same))
    # how far apart the products are at fp32: near 1 would mean a degenerate model
    for ch in ("blip", "clip"):
        vecs = docs["reference"][ch]
        between = (vecs @ vecs.T)[~np.eye(len(vecs), dtype=bool)]
        out[f"{ch}_between_products_cos_mean"] = float(between.mean())
    out["captions_distinct"] = len(set(docs["reference"]["captions"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--products", type=int, default=48)
    ap.add_argument("--naive-products", type=int, default=16)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16])
    ap.add_argument(
        "--fp32-batch-sizes",
        type=int,
        nargs="*",
        default=[8],
        help="also run the pipeline at fp32 with these batch sizes",
    )
    ap.add_argument("--fidelity-products", type=int, default=16)
    ap.add_argument(
        "--fidelity-only",
        action="store_true",
        help="only measure the fidelity and replace it in --out (the timing rows are kept)",
    )
    ap.add_argument("--rounds", type=int, default=3, help="times every configuration runs")
    ap.add_argument(
        "--plot-only",
        action="store_true",
        help="only draw docs/img/ingest_stages.png from --out",
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ingest.json")
    args = ap.parse_args()
    if args.plot_only:
        plot(json.loads(args.out.read_text()), PLOT)
        return

    import torch

    from qdrant_mm.encoders.loading import load_models

    if args.threads:
        torch.set_num_threads(args.threads)
    t = time.perf_counter()
    models = load_models(base_settings(args.device))
    load_s = time.perf_counter() - t
    models32 = load_models(base_settings(args.device, "fp32"))
    precision = str(models.blip.compute_dtype).removeprefix("torch.")
    if args.fidelity_only:
        with tempfile.TemporaryDirectory() as tmp:
            catalog = make_catalog(Path(tmp), args.fidelity_products)
            close = fidelity(models32, models, catalog, args.fidelity_products)
        print(f"fidelity of {precision} against float32: {close}", flush=True)
        result = json.loads(args.out.read_text()) if args.out.exists() else {}
        result["fidelity"] = close
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
        return
    configs = [("naive (one product at a time, float32)", models32, None)]
    configs += [(f"pipeline, batch {bs}, float32", models32, bs) for bs in args.fp32_batch_sizes]
    configs += [(f"pipeline, batch {bs}, {precision}", models, bs) for bs in args.batch_sizes]
    totals: dict[str, dict] = {
        label: {"label": label, "products": 0, "seconds": 0.0, "stages": defaultdict(float)}
        for label, _, _ in configs
    }
    rounds: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        catalog = make_catalog(Path(tmp), args.products)
        # warm-up (first calls allocate and pick kernels)
        for bundle in (models, models32):
            run_pipeline(bundle, make_catalog(Path(tmp) / "warm", 4), 4)
        # Rounds, each running every configuration (the order rotates), so that background
        # load on a shared machine hits all of them alike; ratios are also given per round.
        for rnd in range(args.rounds):
            rates: dict[str, float] = {}
            order = configs[rnd % len(configs) :] + configs[: rnd % len(configs)]
            for label, bundle, bs in order:
                if bs is None:
                    r = run_naive(bundle, catalog, args.naive_products)
                else:
                    r = run_pipeline(bundle, catalog, bs)
                total = totals[label]
                total["products"] += r["products"]
                total["seconds"] += r["seconds"]
                for stage, sec in r["stages"].items():
                    total["stages"][stage] += sec
                rates[label] = r["products"] / r["seconds"]
                print(f"round {rnd + 1}: {label}: {_line({**r, 'label': ''})}", flush=True)
            naive_rate = rates[configs[0][0]]
            rounds.append({label: rate / naive_rate for label, rate in rates.items()})
        rows = [
            {**totals[label], "stages": dict(totals[label]["stages"])} for label, _, _ in configs
        ]
        for row in rows:
            ratios = [r[row["label"]] for r in rounds]
            row["ratio_per_round"] = ratios
        close = fidelity(models32, models, catalog, args.fidelity_products)
        print(f"fidelity of {precision} against float32: {close}", flush=True)
    result = {
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "model_load_seconds": load_s,
        "image_precision": precision,
        "dims": models.dims(),
        "rounds": args.rounds,
        "rows": rows,
        "fidelity": close,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    try:
        plot(result, PLOT)
    except ImportError:
        print("matplotlib is not installed: no plot")
    base = rows[0]["products"] / rows[0]["seconds"]
    for r in rows:
        rate = r["products"] / r["seconds"]
        per_round = ", ".join(f"{x:.2f}" for x in r["ratio_per_round"])
        print(
            f"{r['label']:<42} {rate:6.2f} products/s  x{rate / base:4.2f} vs naive"
            f"  (per round: {per_round})"
        )


STAGE_ORDER = (
    "BLIP image",
    "caption (BLIP generate)",
    "CLIP image",
    "CLIP image (interrogator)",
    "text embedding",
    "term ranking",
    "decode",
    "upsert",
    "index build",
)


def plot(result: dict, path: Path) -> None:
    """Seconds per product in each stage, one stacked bar per run (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    naive_rate = rows[0]["products"] / rows[0]["seconds"]
    fig, ax = plt.subplots(figsize=(10, 0.75 * len(rows) + 1.6))
    colors = dict(zip(STAGE_ORDER, plt.cm.tab10.colors, strict=False))
    labels = []
    for y, r in enumerate(rows):
        left = 0.0
        for stage in STAGE_ORDER:
            per = r["stages"].get(stage, 0.0) / r["products"]
            if per <= 0:
                continue
            ax.barh(
                y,
                per,
                left=left,
                color=colors[stage],
                label=stage if y == 0 or stage not in rows[0]["stages"] else None,
            )
            left += per
        rate = r["products"] / r["seconds"]
        ax.text(
            left + 0.02,
            y,
            f"{r['seconds'] / r['products']:.2f} s ({rate / naive_rate:.2f}x)",
            va="center",
            fontsize=8,
        )
        labels.append(r["label"])
    handles, names = ax.get_legend_handles_labels()
    seen = dict(zip(names, handles, strict=True))
    ax.legend(seen.values(), seen.keys(), fontsize=8, loc="lower right")
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds per product (speed-up against the naive pipeline)")
    ax.set_title(
        f"Ingest, real-size models with random weights, {result['device']},"
        f" {result['torch_threads']} threads",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _line(r: dict) -> str:
    stages = ", ".join(
        f"{k} {v:.1f}s" for k, v in sorted(r["stages"].items(), key=lambda kv: -kv[1])
    )
    return f"{r['label']}: {r['products']} products in {r['seconds']:.1f}s ({stages})"


if __name__ == "__main__":
    main()
