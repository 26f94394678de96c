"""Ingest throughput: products/s for the full sync pipeline, per stage, against the naive way.

Real-size architectures with random weights (CLIP ViT-B-32, BLIP base ITM, BLIP base captioning;
built by ``qdrant_mm.random_models --size base``), so the timings are those of the real models.

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

    python benchmarks/ingest.py --products 24 --naive-products 8 --batch-sizes 1 8 24
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


def base_settings(device: str, cpu_precision: str = "auto"):
    from qdrant_mm.random_models import build_base
    from qdrant_mm.settings import Settings

    marker = MODELS / "settings.json"
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(build_base(MODELS)))
    return Settings(
        _env_file=None,
        device=device,
        cpu_precision=cpu_precision,
        **json.loads(marker.read_text()),
    )


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
    from qdrant_mm.settings import CHANNELS

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
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ingest.json")
    args = ap.parse_args()

    import torch

    from qdrant_mm.encoders.loading import load_models

    if args.threads:
        torch.set_num_threads(args.threads)
    t = time.perf_counter()
    models = load_models(base_settings(args.device))
    load_s = time.perf_counter() - t
    models32 = load_models(base_settings(args.device, "fp32"))
    precision = str(models.blip.image_dtype).removeprefix("torch.")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        catalog = make_catalog(Path(tmp), args.products)
        # warm-up (first calls allocate and pick kernels)
        for bundle in (models, models32):
            run_pipeline(bundle, make_catalog(Path(tmp) / "warm", 4), 4)
        naive = run_naive(models32, catalog, args.naive_products)
        naive["label"] = "naive (one product at a time, float32)"
        rows.append(naive)
        print(_line(naive), flush=True)
        runs = [(models32, bs, "float32") for bs in args.fp32_batch_sizes]
        runs += [(models, bs, precision) for bs in args.batch_sizes]
        for bundle, bs, label in runs:
            r = run_pipeline(bundle, catalog, bs)
            r["label"] = f"pipeline, batch {bs}, {label}"
            rows.append(r)
            print(_line(r), flush=True)
        close = fidelity(models32, models, catalog, args.fidelity_products)
        print(f"fidelity of {precision} against float32: {close}", flush=True)
    result = {
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "model_load_seconds": load_s,
        "image_precision": precision,
        "dims": models.dims(),
        "rows": rows,
        "fidelity": close,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    base = rows[0]["products"] / rows[0]["seconds"]
    for r in rows:
        rate = r["products"] / r["seconds"]
        print(f"{r['label']:<42} {rate:6.2f} products/s  x{rate / base:4.2f} vs naive")


def _line(r: dict) -> str:
    stages = ", ".join(
        f"{k} {v:.1f}s" for k, v in sorted(r["stages"].items(), key=lambda kv: -kv[1])
    )
    return f"{r['label']}: {r['products']} products in {r['seconds']:.1f}s ({stages})"


if __name__ == "__main__":
    main()
