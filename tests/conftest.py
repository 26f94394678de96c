"""Shared pytest fixtures."""

from __future__ import annotations

import os

# The test run is offline (pytest-socket blocks sockets): make the HF libraries fail fast
# instead of trying the network. Set before transformers / huggingface_hub are imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests read no settings from the caller's shell: a QDRANT_MM_BACKEND=server or a model path
# exported there must not change what a test runs against (tests set what they need).
for _var in [v for v in os.environ if v.startswith("QDRANT_MM_")]:
    del os.environ[_var]

import contextlib  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--screenshots",
        metavar="DIR",
        default=None,
        help="folder for the browser test's screenshots (default: a temporary folder); "
        "'--screenshots docs' refreshes the picture in the docs",
    )


@pytest.fixture(autouse=True, scope="session")
def _no_dotenv_file():
    """Nor from a ``.env`` file in the folder pytest runs in (``qdrant-mm demo-models`` writes
    one at the repository root for the CLI)."""
    from qdrant_mm.settings import Settings

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(Settings.model_config, "env_file", None)
        yield


# --- tiny_models: tiny random BLIP / CLIP / caption models, loaded like a user's --------------


@pytest.fixture(scope="session")
def tiny_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder holding the tiny models (clip/, blip-itm/, blip-caption/)."""
    return tmp_path_factory.mktemp("tiny_models")


@pytest.fixture(scope="session")
def tiny_model_settings(tiny_model_root: Path) -> dict[str, Any]:
    """Settings overrides that point every model setting at a tiny local model (CPU)."""
    from qdrant_mm.testing.random_models import build_all

    overrides: dict[str, Any] = dict(build_all(tiny_model_root))
    overrides.update(device="cpu", batch_size=4, caption_max_length=8)
    return overrides


@pytest.fixture(scope="session")
def tiny_bundle(tiny_model_settings: dict[str, Any]):
    """``load_models(Settings(**tiny_model_settings))``: tiny models via the real loaders."""
    from qdrant_mm.encoders.loading import load_models
    from qdrant_mm.settings import Settings

    return load_models(Settings(_env_file=None, **tiny_model_settings))


# --- integration: a real Qdrant at QDRANT_URL --------------------------------------------------


def pytest_collection_modifyitems(config, items):
    """Sockets are blocked in tests; tests marked ``integration`` may reach QDRANT_URL's host
    (and only it) when it is set."""
    import socket
    from urllib.parse import urlparse

    url = os.environ.get("QDRANT_URL")
    if not url:
        return
    host = urlparse(url).hostname or "localhost"
    hosts = {host}
    with contextlib.suppress(OSError):
        hosts |= {info[4][0] for info in socket.getaddrinfo(host, None)}
    for item in items:
        if item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.allow_hosts(sorted(hosts)))


# --- the command line on the example shop ---------------------------------------------------------
EXAMPLE_SHOP = Path(__file__).resolve().parents[1] / "examples" / "shop"


@pytest.fixture
def shop(tmp_path) -> Path:
    """A copy of examples/shop (catalog, images, qrels) to sync and change."""
    dst = tmp_path / "shop"
    shutil.copytree(EXAMPLE_SHOP, dst)
    return dst


@pytest.fixture
def cli(tmp_path, tiny_model_settings, monkeypatch):
    """``cli("sync", ...)``: the qdrant-mm command in-process (typer's CliRunner), with the tiny
    models and an Edge store of the test's own."""
    from typer.testing import CliRunner

    from qdrant_mm.cli import app

    for key, value in tiny_model_settings.items():
        monkeypatch.setenv(f"QDRANT_MM_{key.upper()}", str(value))
    monkeypatch.setenv("QDRANT_MM_BACKEND", "edge")
    monkeypatch.setenv("QDRANT_MM_QDRANT_PATH", str(tmp_path / "data"))
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return run
