"""Catalog builders shared by the sync, search and backend tests."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

CATEGORIES = ("shoes", "shirts", "bags", "hats")
BRANDS = ("acme", "zen", "nova")


def write_image(path: Path, seed: int, size: int = 24, fmt: str = "PNG") -> Path:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt)
    return path


def product_rows(n: int, image_dir: str = "images") -> list[dict]:
    return [
        {
            "id": f"p{i}",
            "title": f"product {i}",
            "description": f"description of product {i}",
            "image": f"{image_dir}/p{i}.png",
            "category": CATEGORIES[i % len(CATEGORIES)],
            "brand": BRANDS[i % len(BRANDS)],
            "price": float(10 + i),
            "colour": "red" if i % 2 else "blue",
        }
        for i in range(n)
    ]


def write_catalog(root: Path, rows: list[dict], name: str = "catalog.jsonl") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for row in rows:
        img = root / str(row.get("image", ""))
        if row.get("image") and not img.exists() and not str(row["image"]).startswith("http"):
            write_image(img, seed=zlib.crc32(str(row["image"]).encode()))
    path = root / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def learn_the_worst_single_model(monkeypatch) -> None:
    """Make ``tune`` learn the one model that scores worst on the held-out queries (a real
    tuning run whose result is known to be worse than its start point or another model)."""
    from qdrant_mm.evaluation import tuning

    real = tuning.tune

    def worst(candidates, **kwargs):
        first = real(candidates, **kwargs)
        singles = [r for r in first.results if r.label in ("blip", "clip", "interrogator")]
        pick = min(singles, key=lambda r: r.held_out[first.metric])
        return real(candidates, **{**kwargs, "method": lambda train: pick.weights})

    monkeypatch.setattr(tuning, "tune", worst)


def collection_written_without(backend, field: str, layout: int) -> str:
    """A new physical collection of ``layout`` whose metadata lacks ``field``, as a version of
    qdrant-mm from before that field wrote it; returns its name."""
    from qdrant_mm.collection import create_physical, new_physical_name
    from qdrant_mm.schema import meta_key
    from tests.fakes import fake_bundle

    bundle = fake_bundle()
    physical = new_physical_name("old")
    create_physical(backend, physical, bundle.model_ids(), bundle.dims(), layout=layout)
    raw = backend.read_meta(meta_key(physical))
    del raw[field]
    backend.write_meta(meta_key(physical), raw)
    return physical
