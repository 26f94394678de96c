"""``qdrant-mm demo-models``: random-weight models built once, reused, and written to a ``.env``
that later commands read; the real-size recipe's models tell images apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from qdrant_mm.cli import app
from qdrant_mm.settings import Settings
from qdrant_mm.testing import random_models
from qdrant_mm.testing.random_models import MANIFEST, build_or_reuse, write_env_file


def test_models_are_built_once_then_reused(tmp_path, monkeypatch):
    calls: list[Path] = []

    def fake_build(folder: Path, seed: int = 0) -> dict[str, str]:
        calls.append(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.bin").write_bytes(b"x")
        return {"blip_model": str(folder / "model.bin")}

    monkeypatch.setattr(random_models, "build_all", fake_build)
    first, built = build_or_reuse(tmp_path / "m")
    assert built and len(calls) == 1
    again, built = build_or_reuse(tmp_path / "m")
    assert not built and again == first and len(calls) == 1
    # another seed, or a file gone, builds again
    assert build_or_reuse(tmp_path / "m", seed=1)[1] and len(calls) == 2
    (tmp_path / "m" / "model.bin").unlink()
    assert build_or_reuse(tmp_path / "m", seed=1)[1] and len(calls) == 3
    # models built by an older recipe are built again
    manifest = tmp_path / "m" / MANIFEST
    manifest.write_text(manifest.read_text().replace('"recipe": ', '"recipe": -'))
    assert build_or_reuse(tmp_path / "m", seed=1)[1] and len(calls) == 4
    # a broken manifest is rebuilt over, not an error
    (tmp_path / "m" / MANIFEST).write_text("{not json", encoding="utf-8")
    assert build_or_reuse(tmp_path / "m", seed=1)[1] and len(calls) == 5


def test_env_file_keeps_other_lines_and_is_read_by_settings(tmp_path):
    env = tmp_path / ".env"
    env.write_text("QDRANT_MM_HNSW_EF=300\nOTHER=1\n", encoding="utf-8")
    names = write_env_file(env, {"blip_model": "/m/blip dir"}, collection="demo")
    assert names == ["QDRANT_MM_BLIP_MODEL", "QDRANT_MM_COLLECTION"]
    settings = Settings(_env_file=env)
    assert settings.blip_model == "/m/blip dir"
    assert settings.collection == "demo"
    assert settings.hnsw_ef == 300  # kept
    assert "OTHER=1" in env.read_text(encoding="utf-8")


def test_demo_models_command_writes_env_that_points_at_built_models(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    first = runner.invoke(app, ["demo-models", "models"])
    assert first.exit_code == 0, first.output
    assert "built in" in first.output
    settings = Settings(_env_file=tmp_path / ".env")
    for value in (settings.blip_model, settings.caption_model, settings.clip_pretrained):
        assert Path(value).is_absolute() and Path(value).exists()
    assert settings.collection == "products_random_models"
    again = runner.invoke(app, ["demo-models", "models"])
    assert again.exit_code == 0 and "reused" in again.output
    assert Settings(_env_file=tmp_path / ".env").blip_model == settings.blip_model
    bad = runner.invoke(app, ["demo-models", "models", "--size", "huge"])
    assert bad.exit_code == 2 and "tiny or base" in bad.output


def _distinct_images() -> list:
    """Noise, solid colours and a gradient: images no model should confuse."""
    from PIL import Image

    rng = np.random.default_rng(3)
    grad = np.linspace(0, 255, 64 * 64 * 3).astype(np.uint8).reshape(64, 64, 3)
    return [
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)),
        Image.new("RGB", (64, 64), (255, 0, 0)),
        Image.new("RGB", (64, 64), (0, 0, 255)),
        Image.new("RGB", (64, 64), (255, 255, 255)),
        Image.fromarray(grad),
    ]


#: The real-size BLIP architecture shrunk (same configs and init rule as ``build_base``).
SMALL_VISION = {
    "image_size": 64,
    "patch_size": 16,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
}
SMALL_TEXT = {
    "hidden_size": 64,
    "encoder_hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
}


def _blip_image_cosines(vision: dict) -> np.ndarray:
    import torch
    from transformers import BlipForImageTextRetrieval, BlipImageProcessor

    torch.manual_seed(0)
    config = random_models.base_blip_config(vision=vision, text=SMALL_TEXT)
    model = BlipForImageTextRetrieval(config).eval()
    processor = BlipImageProcessor(size={"height": 64, "width": 64})
    pixels = processor(images=_distinct_images(), return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        feats = model.vision_proj(model.vision_model(pixel_values=pixels).last_hidden_state[:, 0])
    feats = torch.nn.functional.normalize(feats, dim=-1).numpy()
    return feats @ feats.T


def test_real_size_blip_recipe_tells_images_apart():
    cos = _blip_image_cosines(SMALL_VISION)
    off_diagonal = cos[~np.eye(len(cos), dtype=bool)]
    assert off_diagonal.min() < 0.5, "different images got near-identical BLIP embeddings"
    # BlipVisionConfig's own default init (1e-10), which the recipe overrides, cannot:
    degenerate = _blip_image_cosines({**SMALL_VISION, "initializer_range": 1e-10})
    assert degenerate[~np.eye(len(cos), dtype=bool)].min() > 0.9999


def test_real_size_blip_caption_recipe_depends_on_the_image():
    import torch
    from transformers import BlipForConditionalGeneration, BlipImageProcessor

    torch.manual_seed(0)
    config = random_models.base_blip_config(vision=SMALL_VISION, text=SMALL_TEXT)
    model = BlipForConditionalGeneration(config).eval()
    processor = BlipImageProcessor(size={"height": 64, "width": 64})
    pixels = processor(images=_distinct_images(), return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        tokens = model.generate(pixel_values=pixels, max_new_tokens=8)
    assert len({tuple(t) for t in tokens.tolist()}) > 1  # not one caption for every image
