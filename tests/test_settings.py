from __future__ import annotations

import os

import pytest

from qdrant_mm.app import QdrantMM
from qdrant_mm.errors import ConfigError
from qdrant_mm.images import ImageLimits
from qdrant_mm.search import Searcher
from qdrant_mm.settings import Settings, load_settings
from qdrant_mm.sync import Syncer
from tests.backends import make_backend
from tests.fakes import fake_bundle


def test_defaults(monkeypatch):
    for var in ("QDRANT_MM_QDRANT_URL", "QDRANT_MM_BACKEND"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings(_env_file=None)
    assert s.collection == "products"
    assert s.clip_model == "ViT-B-32" and s.clip_pretrained == "openai"
    assert s.blip_model == "Salesforce/blip-itm-base-coco"
    assert s.caption_model == "Salesforce/blip-image-captioning-base"
    assert s.resolved_backend() == "edge"
    assert s.default_weights().as_dict() == pytest.approx(
        {"blip": 0.4, "clip": 0.4, "interrogator": 0.2}
    )


def test_env_prefix_and_server_choice(monkeypatch):
    monkeypatch.setenv("QDRANT_MM_QDRANT_URL", "http://qdrant:6333/")
    monkeypatch.setenv("QDRANT_MM_COLLECTION", "shop")
    s = Settings(_env_file=None)
    assert s.qdrant_url == "http://qdrant:6333" and s.collection == "shop"
    assert s.resolved_backend() == "server"


@pytest.mark.parametrize(
    "var, value, fragment",
    [
        ("QDRANT_MM_DEVICE", "gpu", r"QDRANT_MM_DEVICE: .*'cuda'.* \(got 'gpu'\)"),
        ("QDRANT_MM_WEIGHTS", "1,-1,0", "QDRANT_MM_WEIGHTS"),
        ("QDRANT_MM_WEIGHTS", "0,0,0", "all weights are zero"),
        ("QDRANT_MM_BATCH_SIZE", "0", "QDRANT_MM_BATCH_SIZE"),
        ("QDRANT_MM_QDRANT_URL", "qdrant:6333", "QDRANT_MM_QDRANT_URL"),
        ("QDRANT_MM_BACKEND", "cloud", "QDRANT_MM_BACKEND"),
        ("QDRANT_MM_CPU_PRECISION", "fp16", "QDRANT_MM_CPU_PRECISION"),
        ("QDRANT_MM_IMAGE_DOWNLOADS", "0", "QDRANT_MM_IMAGE_DOWNLOADS"),
    ],
)
def test_bad_values_fail_naming_the_variable(monkeypatch, var, value, fragment):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=fragment) as info:
        load_settings(_env_file=None)
    assert var in str(info.value)


def test_server_backend_needs_url(monkeypatch):
    monkeypatch.delenv("QDRANT_MM_QDRANT_URL", raising=False)
    monkeypatch.setenv("QDRANT_MM_BACKEND", "server")
    with pytest.raises(ConfigError, match="QDRANT_MM_QDRANT_URL"):
        load_settings(_env_file=None).resolved_backend()


def test_library_defaults_are_the_settings_defaults(monkeypatch, tmp_path):
    """A Searcher, Syncer or ImageLimits built without arguments behaves as the default settings
    configure it (one definition of each default: qdrant_mm.defaults)."""
    for var in [v for v in os.environ if v.startswith("QDRANT_MM_")]:
        monkeypatch.delenv(var)
    mm = QdrantMM(
        Settings(_env_file=None), backend=make_backend("local", tmp_path), models=fake_bundle()
    )
    configured, bare = mm.searcher(), Searcher(mm.backend, mm.models)
    for attr in (
        "collection",
        "default_weights",
        "plan",
        "hnsw_ef",
        "exact_below",
        "oversampling",
        "limits",
    ):
        assert getattr(bare, attr) == getattr(configured, attr), attr
    # (quantization is not compared: a bare Syncer creates unquantized collections)
    configured, bare = mm.syncer(), Syncer(mm.backend, mm.models)
    for attr in ("collection", "batch_size", "limits", "image_downloads"):
        assert getattr(bare, attr) == getattr(configured, attr), attr
    assert ImageLimits() == mm.image_limits
    assert bare.batch_size == 8 and configured.limits.max_bytes == 20 * 1024 * 1024


def test_image_downloads_setting_reaches_the_syncer(monkeypatch, tmp_path):
    for var in [v for v in os.environ if v.startswith("QDRANT_MM_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("QDRANT_MM_IMAGE_DOWNLOADS", "3")
    mm = QdrantMM(
        load_settings(_env_file=None),
        backend=make_backend("local", tmp_path),
        models=fake_bundle(),
    )
    assert mm.syncer().image_downloads == 3
