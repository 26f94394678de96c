from __future__ import annotations

import pytest

from qdrant_mm.errors import ConfigError
from qdrant_mm.settings import Settings, load_settings


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
