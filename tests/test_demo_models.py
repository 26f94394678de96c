"""``qdrant-mm demo-models``: random-weight models built once, reused, and written to a ``.env``
that later commands read."""

from __future__ import annotations

from pathlib import Path

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
    # a broken manifest is rebuilt over, not an error
    (tmp_path / "m" / MANIFEST).write_text("{not json", encoding="utf-8")
    assert build_or_reuse(tmp_path / "m", seed=1)[1] and len(calls) == 4


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
