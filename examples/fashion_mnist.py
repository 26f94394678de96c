"""Turn the Fashion-MNIST test split into a qdrant-mm catalog and category qrels.

Fashion-MNIST (Zalando Research, MIT licence) ships offline as the Debian package
``dataset-fashion-mnist`` (``apt-get install dataset-fashion-mnist``). Each image becomes a
product: a PNG (upscaled from 28x28 so the models see more than a few pixels), its class as
``category``, a title, a brand and a price. ``qrels.jsonl`` holds one category-to-image query per
class name (relevant = every product of that class).

    python examples/fashion_mnist.py OUT_DIR [--per-class K] [--source DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np
from PIL import Image

SOURCE = Path("/usr/share/datasets/fashion-mnist")
CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
BRANDS = ("Northwind", "Fjord", "Atelier Nine", "Kestrel", "Umber & Co")


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def build(out: Path, per_class: int | None, source: Path = SOURCE, size: int = 112) -> int:
    images = read_idx(source / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(source / "t10k-labels-idx1-ubyte.gz")
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    taken = dict.fromkeys(range(len(CLASSES)), 0)
    rows = []
    for i, (img, label) in enumerate(zip(images, labels, strict=True)):
        label = int(label)
        if per_class is not None and taken[label] >= per_class:
            continue
        taken[label] += 1
        name = f"images/fm-{i:05d}.png"
        # Fashion-MNIST is white-on-black; shop photos are dark-on-white.
        Image.fromarray(255 - img).resize((size, size), Image.BICUBIC).save(out / name)
        brand = BRANDS[int(rng.integers(len(BRANDS)))]
        rows.append(
            {
                "id": f"fm-{i:05d}",
                "title": f"{brand} {CLASSES[label].lower()}",
                "image": name,
                "category": CLASSES[label],
                "brand": brand,
                "price": float(rng.integers(900, 12900)) / 100,
            }
        )
    (out / "catalog.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / "qrels.jsonl").write_text("".join(json.dumps({"category": c}) + "\n" for c in CLASSES))
    return len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--per-class", type=int, default=None, help="products per class (all if unset)")
    ap.add_argument("--source", type=Path, default=SOURCE)
    args = ap.parse_args()
    n = build(args.out, args.per_class, args.source)
    print(
        f"wrote {n} products to {args.out / 'catalog.jsonl'}"
        f" and qrels to {args.out / 'qrels.jsonl'}"
    )


if __name__ == "__main__":
    main()
