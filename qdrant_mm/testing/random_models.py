"""Random-weight models, built from configs and saved the way a user points qdrant-mm at them.

For where no model hub is reachable: the test suite (``tiny``: seconds to build), the offline
quick start, and benchmarks (``base``: the real architectures, CLIP ViT-B-32, BLIP base ITM and
BLIP base captioning, with random weights, so timings are real while rankings are chance).

Nothing is downloaded: the CLIP tokenizer is open_clip's bundled BPE vocabulary and the BLIP
tokenizer is a small WordPiece vocabulary written here.

    python -m qdrant_mm.testing.random_models DIR [--size tiny|base]   # prints QDRANT_MM_* exports
    qdrant-mm demo-models [DIR]       # builds once, reuses, and writes the settings to ./.env
"""

from __future__ import annotations

import json
from pathlib import Path

TINY_CLIP_CONFIG: dict = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}

BLIP_ITM_DIM = 24  # image_text_hidden_size of the tiny retrieval model (not 32: dims differ)
BLIP_IMAGE_SIZE = 32

_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_WORDS = [
    *("a", "an", "the", "of", "on", "in", "with", "and", "photo", "picture", "image"),
    *("product", "white", "black", "red", "blue", "green", "yellow", "pink", "grey", "brown"),
    *("shirt", "dress", "shoe", "shoes", "bag", "jacket", "hat", "chair", "lamp", "table"),
    *("cotton", "leather", "wool", "background", "studio", "close", "up", "front", "view"),
    *("model", "wearing", "striped", "floral", "plain", "small", "large", "new", "pair", "two"),
    *("cup", "mug", "bottle", "watch"),
]
VOCAB: list[str] = _SPECIALS + sorted(set(_WORDS)) + ["[DEC]", "[ENC]"]


def build_tiny_clip(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """Write an open_clip model-config JSON and a checkpoint; return (config, checkpoint)."""
    import open_clip
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "tiny-clip.json"
    config.write_text(json.dumps(TINY_CLIP_CONFIG, indent=2), encoding="utf-8")
    torch.manual_seed(seed)
    model = open_clip.CLIP(**TINY_CLIP_CONFIG)
    checkpoint = folder / f"tiny-clip-seed{seed}.pt"
    torch.save(model.state_dict(), checkpoint)
    return config, checkpoint


def _tokenizer_and_processor(folder: Path):
    from transformers import BertTokenizer, BlipImageProcessor, BlipProcessor

    vocab_file = folder / "vocab-source.txt"
    vocab_file.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(
        vocab=str(vocab_file),
        do_lower_case=True,
        bos_token="[DEC]",
        additional_special_tokens=["[ENC]"],
        model_max_length=512,
    )
    vocab_file.unlink()
    image_processor = BlipImageProcessor(
        size={"height": BLIP_IMAGE_SIZE, "width": BLIP_IMAGE_SIZE},
        do_resize=True,
        do_normalize=True,
    )
    return tokenizer, BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)


def _blip_config(**extra):
    from transformers import BlipConfig

    vocab = {tok: i for i, tok in enumerate(VOCAB)}
    text_config = {
        "vocab_size": len(VOCAB),
        "hidden_size": 32,
        "encoder_hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "max_position_embeddings": 64,
        "bos_token_id": vocab["[DEC]"],
        "eos_token_id": vocab["[SEP]"],
        "sep_token_id": vocab["[SEP]"],
        "pad_token_id": vocab["[PAD]"],
        "initializer_range": 0.3,  # large enough for captions to depend on the image
    }
    vision_config = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": BLIP_IMAGE_SIZE,
        "patch_size": 8,
        # BlipVisionConfig's default (1e-10) would make every image look the same.
        "initializer_range": 0.05,
    }
    return BlipConfig(text_config=text_config, vision_config=vision_config, **extra)


def build_tiny_blip_itm(folder: Path, seed: int = 0) -> Path:
    """A BlipForImageTextRetrieval + processor folder (save_pretrained layout)."""
    import torch
    from transformers import BlipForImageTextRetrieval

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = BlipForImageTextRetrieval(
        _blip_config(projection_dim=32, image_text_hidden_size=BLIP_ITM_DIM)
    ).eval()
    _, processor = _tokenizer_and_processor(folder)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def build_tiny_blip_caption(folder: Path, seed: int = 0) -> Path:
    """A BlipForConditionalGeneration + processor folder that writes word (not special) tokens."""
    import torch
    from transformers import BlipForConditionalGeneration

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = BlipForConditionalGeneration(_blip_config(projection_dim=32)).eval()
    # Random weights would often emit special tokens only (an empty caption): forbid them,
    # except [SEP] which ends the caption.
    bias = model.text_decoder.cls.predictions.bias
    with torch.no_grad():
        for tok in ("[PAD]", "[UNK]", "[CLS]", "[MASK]", "[DEC]", "[ENC]"):
            bias[VOCAB.index(tok)] = -1e4
        bias[VOCAB.index("[SEP]")] = -2.0
    _, processor = _tokenizer_and_processor(folder)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def build_all(root: Path, seed: int = 0) -> dict[str, str]:
    """Build every tiny model under ``root``; return the Settings overrides that use them."""
    config, checkpoint = build_tiny_clip(root / "clip", seed)
    return {
        "clip_model": str(config),
        "clip_pretrained": str(checkpoint),
        "blip_model": str(build_tiny_blip_itm(root / "blip-itm", seed)),
        "caption_model": str(build_tiny_blip_caption(root / "blip-caption", seed)),
    }


#: Weight init of the real-size BLIP vision towers: BlipVisionConfig's default (1e-10) leaves
#: every layer near zero, so every image gets nearly the same embedding and caption.
BASE_VISION_INITIALIZER_RANGE = 0.02


def base_blip_config(vision: dict | None = None, text: dict | None = None, **extra):
    """BLIP base (ViT-B/16 at 384 px, BERT-base text) with the small vocabulary and a vision
    init under which images differ; ``vision`` / ``text`` override sizes (tests shrink them)."""
    from transformers import BlipConfig

    tiny = _blip_config(**extra)
    text_config = {k: getattr(tiny.text_config, k) for k in _TOKEN_FIELDS}
    vision_config = {"image_size": 384, "initializer_range": BASE_VISION_INITIALIZER_RANGE}
    return BlipConfig(
        text_config={**text_config, **(text or {})},
        vision_config={**vision_config, **(vision or {})},
        **extra,
    )


def build_base(root: Path, seed: int = 0) -> dict[str, str]:
    """Real-size architectures with random weights (for timing): open_clip ViT-B-32, BLIP base
    ITM (256-d features) and BLIP base captioning. Only the BLIP vocabulary is small."""
    import open_clip
    import torch
    from transformers import BlipForConditionalGeneration, BlipForImageTextRetrieval

    clip_dir = root / "clip"
    clip_dir.mkdir(parents=True, exist_ok=True)
    config = clip_dir / "ViT-B-32.json"
    config.write_text(json.dumps(open_clip.get_model_config("ViT-B-32")), encoding="utf-8")
    torch.manual_seed(seed)
    checkpoint = clip_dir / f"ViT-B-32-random-seed{seed}.pt"
    torch.save(open_clip.create_model("ViT-B-32").state_dict(), checkpoint)

    out = {"clip_model": str(config), "clip_pretrained": str(checkpoint)}
    for key, cls, sub in (
        ("blip_model", BlipForImageTextRetrieval, "blip-itm"),
        ("caption_model", BlipForConditionalGeneration, "blip-caption"),
    ):
        folder = root / sub
        folder.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(seed)
        model = cls(base_blip_config()).eval()
        _, processor = _tokenizer_and_processor(folder)
        processor.image_processor.size = {"height": 384, "width": 384}
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
        out[key] = str(folder)
    return out


#: Written beside the models: what was built, so a second call reuses it instead of rebuilding.
MANIFEST = "qdrant-mm-models.json"
#: Raised whenever what a build writes changes (2: real-size BLIP vision init), so that models
#: built by an older recipe are built again rather than reused.
RECIPE = 2


def build_or_reuse(folder: Path, size: str = "tiny", seed: int = 0) -> tuple[dict[str, str], bool]:
    """The model settings (``clip_model``, ``clip_pretrained``, ``blip_model``,
    ``caption_model``) of random-weight models in ``folder``: the ones built there before with
    the same size, seed and :data:`RECIPE` when every file is still there, else built now. Returns
    ``(settings, built_now)``."""
    if size not in ("tiny", "base"):
        raise ValueError(f"size must be 'tiny' or 'base', got {size!r}")
    folder = folder.expanduser().resolve()
    manifest = folder / MANIFEST
    try:
        found = json.loads(manifest.read_text(encoding="utf-8"))
        settings = {str(k): str(v) for k, v in found["settings"].items()}
        if (
            found.get("size") == size
            and found.get("seed") == seed
            and found.get("recipe", 1) == RECIPE
            and settings
            and all(Path(v).exists() for v in settings.values())
        ):
            return settings, False
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # nothing (usable) built here yet
    settings = (build_all if size == "tiny" else build_base)(folder, seed)
    manifest.write_text(
        json.dumps({"size": size, "seed": seed, "recipe": RECIPE, "settings": settings}, indent=2),
        encoding="utf-8",
    )
    return settings, True


def write_env_file(path: Path, settings: dict[str, str], **more: str) -> list[str]:
    """Set ``QDRANT_MM_<KEY>`` for each setting in the ``.env`` file at ``path`` (created if
    missing; other lines are kept), so every later command run in that folder reads them.
    Returns the variable names written."""
    from dotenv import set_key  # python-dotenv: pydantic-settings reads .env files with it

    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=True)
    names = []
    for key, value in {**settings, **more}.items():
        name = f"QDRANT_MM_{key.upper()}"
        set_key(str(path), name, value, quote_mode="always")
        names.append(name)
    return names


_TOKEN_FIELDS = ("vocab_size", "bos_token_id", "eos_token_id", "sep_token_id", "pad_token_id")


def main(argv: list[str] | None = None) -> None:
    import argparse
    import shlex

    ap = argparse.ArgumentParser(description="Build random-weight models for offline use.")
    ap.add_argument("folder", type=Path)
    ap.add_argument("--size", choices=("tiny", "base"), default="tiny")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    build = build_all if args.size == "tiny" else build_base
    for key, value in build(args.folder.resolve(), args.seed).items():
        print(f"export QDRANT_MM_{key.upper()}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
