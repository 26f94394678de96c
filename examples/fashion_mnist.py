"""Turn the Fashion-MNIST test split into a qdrant-mm catalog and category qrels.

Fashion-MNIST (Zalando Research, MIT licence) ships offline as the Debian package
``dataset-fashion-mnist`` (``apt-get install dataset-fashion-mnist``). Each image becomes a
product: a PNG (upscaled from 28x28 so the models see more than a few pixels), its class as
``category``, a title, a brand and a price. ``qrels.jsonl`` holds one category-to-image query per
class name (relevant = every product of that class).

``--photo-sets N`` adds N products shown in several photos (``images``: three more images of one
class, standing in for the views of one product); ``--text-only N`` adds N products without a
photo (a title and a description), stored from their text.

    python examples/fashion_mnist.py OUT_DIR [--per-class K] [--photo-sets N] [--text-only N]
                                             [--source DIR]
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
#: Classes of the products shown in several photos (--photo-sets), in turn, and their photos.
SET_CLASSES = ("Sneaker", "Bag", "Dress", "Coat", "Ankle boot")
PHOTOS_PER_SET = 3
#: Products without a photo (--text-only): title, description, category.
TEXT_ONLY = (
    (
        "Fjord rain poncho",
        "A light waterproof poncho with a hood; it folds into its own chest pocket.",
        "Coat",
    ),
    (
        "Kestrel canvas tote bag",
        "A roomy natural canvas tote with long handles and an inner zip pocket.",
        "Bag",
    ),
)


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def build(
    out: Path,
    per_class: int | None,
    source: Path = SOURCE,
    size: int = 112,
    photo_sets: int = 0,
    text_only: int = 0,
) -> int:
    images = read_idx(source / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(source / "t10k-labels-idx1-ubyte.gz")
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    taken = dict.fromkeys(range(len(CLASSES)), 0)
    rows = []
    used: set[int] = set()  # test images taken
    for i, (img, label) in enumerate(zip(images, labels, strict=True)):
        label = int(label)
        if per_class is not None and taken[label] >= per_class:
            continue
        taken[label] += 1
        used.add(i)
        name = save_photo(out, i, img, size)
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
    # Extra products from their own random stream: the rows above stay the same with or
    # without them.
    extra = np.random.default_rng(1)
    for k in range(photo_sets):
        cls = SET_CLASSES[k % len(SET_CLASSES)]
        free = (int(i) for i in np.flatnonzero(labels == CLASSES.index(cls)) if int(i) not in used)
        picked = [i for i, _ in zip(free, range(PHOTOS_PER_SET), strict=False)]
        if len(picked) < PHOTOS_PER_SET:
            raise ValueError(f"too few {cls} images left for a photo set: lower --per-class")
        used.update(picked)
        brand = BRANDS[int(extra.integers(len(BRANDS)))]
        rows.append(
            {
                "id": f"fm-set-{k + 1:02d}",
                "title": f"{brand} {cls.lower()}",
                "images": [save_photo(out, i, images[i], size) for i in picked],
                "category": cls,
                "brand": brand,
                "price": float(extra.integers(900, 12900)) / 100,
            }
        )
    for k, (title, description, cls) in enumerate(TEXT_ONLY[:text_only]):
        rows.append(
            {
                "id": f"text-{k + 1:02d}",
                "title": title,
                "description": description,
                "category": cls,
                "brand": title.split()[0],
                "price": float(extra.integers(900, 12900)) / 100,
            }
        )
    (out / "catalog.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / "qrels.jsonl").write_text("".join(json.dumps({"category": c}) + "\n" for c in CLASSES))
    return len(rows)


def save_photo(out: Path, i: int, img: np.ndarray, size: int) -> str:
    """Write test image ``i`` as ``images/fm-<i>.png`` (its catalog reference)."""
    name = f"images/fm-{i:05d}.png"
    # Fashion-MNIST is white-on-black; shop photos are dark-on-white.
    Image.fromarray(255 - img).resize((size, size), Image.BICUBIC).save(out / name)
    return name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--per-class", type=int, default=None, help="products per class (all if unset)")
    ap.add_argument(
        "--photo-sets", type=int, default=0, help="products shown in several photos to add"
    )
    ap.add_argument(
        "--text-only",
        type=int,
        default=0,
        help=f"products without a photo to add (at most {len(TEXT_ONLY)})",
    )
    ap.add_argument("--source", type=Path, default=SOURCE)
    args = ap.parse_args()
    if not 0 <= args.text_only <= len(TEXT_ONLY):
        ap.error(f"--text-only takes 0 to {len(TEXT_ONLY)}")
    if args.photo_sets < 0:
        ap.error("--photo-sets takes a number >= 0")
    if not (args.source / "t10k-images-idx3-ubyte.gz").is_file():
        ap.error(
            f"no Fashion-MNIST test split in {args.source} (t10k-images-idx3-ubyte.gz):"
            " apt-get install dataset-fashion-mnist, or give its folder with --source"
        )
    try:
        n = build(
            args.out,
            args.per_class,
            args.source,
            photo_sets=args.photo_sets,
            text_only=args.text_only,
        )
    except ValueError as exc:
        ap.error(str(exc))
    print(
        f"wrote {n} products to {args.out / 'catalog.jsonl'}"
        f" and qrels to {args.out / 'qrels.jsonl'}"
    )


if __name__ == "__main__":
    main()
