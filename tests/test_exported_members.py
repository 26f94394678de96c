"""What ``import qdrant_mm`` offers: ``__all__`` is exactly the package's public names, sorted,
and every error qdrant-mm raises can be caught by a name imported from ``qdrant_mm``."""

from __future__ import annotations

import inspect
import types
from pathlib import Path

import pytest

import qdrant_mm
from qdrant_mm import __all__ as exported_members
from qdrant_mm import errors


def test_all_imports_are_exported() -> None:
    included_private_members = ["__version__"]
    assert exported_members == sorted(
        (
            member
            # dir() lists the names imported on first use too; getattr() imports them.
            for member, value in ((m, getattr(qdrant_mm, m)) for m in dir(qdrant_mm))
            # Submodules become attributes of the package when imported; they are not exports.
            if not isinstance(value, types.ModuleType)
            and (not member.startswith("_") or member in included_private_members)
        ),
        key=str.casefold,
    )


def test_every_error_is_exported() -> None:
    defined = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, Exception)
        and value.__module__ == errors.__name__
    }
    assert {"QdrantMMError", "ImageTooLargeError", "StoreLockedError"} <= defined
    assert sorted(defined - set(exported_members)) == []
    for name in defined:
        assert getattr(qdrant_mm, name) is getattr(errors, name)
        assert issubclass(getattr(qdrant_mm, name), qdrant_mm.QdrantMMError)


def test_channels_are_exported_from_weights() -> None:
    from qdrant_mm.weights import CHANNELS

    assert qdrant_mm.CHANNELS is CHANNELS == ("blip", "clip", "interrogator")


def test_package_is_typed_and_its_package_data_exists() -> None:
    """The ``py.typed`` marker (PEP 561) is in the package and shipped as package data, and
    every package-data pattern matches a file (no entry for a folder that is gone)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = Path(qdrant_mm.__file__).parent
    assert (root / "py.typed").is_file()
    pyproject = tomllib.loads((root.parent / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["qdrant_mm"]
    assert "py.typed" in patterns
    assert [p for p in patterns if not any(f.is_file() for f in root.glob(p))] == []
