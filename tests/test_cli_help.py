"""The command line's help reads like a well-kept CLI's, and starts without the heavy imports."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from qdrant_mm.cli import app


def _commands() -> list[tuple[list[str], typer.core.TyperCommand]]:
    found = []

    def walk(cmd, path: list[str]) -> None:
        found.append((path, cmd))
        if hasattr(cmd, "commands"):  # a group (typer vendors its own click)
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    assert len(found) > 10  # every command and the weights subcommands
    return found


@pytest.mark.parametrize("path", [p for p, _ in _commands()], ids=lambda p: " ".join(p) or "-")
def test_help_has_no_type_tokens_on_flags(path):
    res = CliRunner().invoke(app, [*path, "--help"])
    assert res.exit_code == 0, res.output
    for token in ("<bool>", "<list[str]>", "<str>", "<int>", "<float>"):
        options_part = res.output.split("Options:", 1)[-1]
        assert token not in options_part, f"{' '.join(path)} --help shows {token}"


def test_every_option_and_argument_is_described():
    undescribed = []
    for path, cmd in _commands():
        for param in cmd.params:
            described = bool(getattr(param, "help", None)) or param.name == "help"
            if not described:
                undescribed.append(f"{' '.join(path)} {param.name}")
    assert undescribed == []


def test_serve_help_names_the_settings_a_service_needs():
    text = " ".join(CliRunner().invoke(app, ["serve", "--help"]).output.split())
    for setting in ("QDRANT_MM_API_KEY", "QDRANT_MM_IMAGE_ROOT", "QDRANT_MM_QDRANT_URL"):
        assert setting in text


@pytest.mark.parametrize(
    "args",
    [["--help"], ["weights", "--help"], ["sync", "--help"], ["info"], ["weights", "list"]],
)
def test_light_commands_import_no_model_or_client_library(args, tmp_path):
    """--help, info and the profile commands start fast: no torch, transformers, open_clip or
    qdrant-client import (the embedded engine, qdrant-edge, is light)."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from qdrant_mm.cli import app\n"
        f"res = CliRunner().invoke(app, {args!r})\n"
        "assert res.exit_code in (0, 2), res.output\n"  # info: the collection does not exist
        "assert 'Traceback' not in res.output, res.output\n"
        "heavy = ('torch', 'transformers', 'open_clip', 'qdrant_client')\n"
        "print(','.join(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("QDRANT_MM_")} | {
        "QDRANT_MM_BACKEND": "edge",
        "QDRANT_MM_QDRANT_PATH": str(tmp_path / "data"),
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=tmp_path,  # no .env
        env=env,
    )
    assert out.stdout.strip() == ""
