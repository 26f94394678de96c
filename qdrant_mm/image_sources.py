"""Where a collection's product images are on disk, so the service can show them by default.

A catalog names images relative to its own file (``images/fm-00000.png``). ``sync`` records the
catalog's folder with the collection (a small document beside it, as weight profiles are, by
the collection's user-facing name so it survives ``--rebuild``); ``qdrant-mm serve`` then serves
``/images/...`` from those folders when ``QDRANT_MM_IMAGE_ROOT`` is not set. Paths are checked
as for the image root: only image files inside a recorded folder are served. A folder too broad
to serve (the file-system root, a home folder or one above it) is never recorded or used: set
``QDRANT_MM_IMAGE_ROOT`` to a folder of images instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qdrant_mm.backends.base import Backend
from qdrant_mm.errors import StoredStateError

#: Folders kept per collection (the most recently synced first).
MAX_FOLDERS = 8


def _key(collection: str) -> str:
    return f"image_sources:{collection}"


def servable(folder: Path) -> bool:
    """Whether ``folder`` may be served from: absolute, and not the root, a home folder or a
    folder holding one (a catalog kept there would publish every picture beside it)."""
    if not folder.is_absolute():
        return False
    home = Path.home().resolve()
    return folder != Path(folder.anchor) and folder != home and not home.is_relative_to(folder)


def recorded_folders(backend: Backend, collection: str) -> list[Path]:
    """The catalog folders recorded for ``collection``, most recent first."""
    raw: Any = backend.read_meta(_key(collection))
    if raw is None:
        return []
    folders = raw.get("folders") if isinstance(raw, dict) else None
    if not isinstance(folders, list) or not all(isinstance(f, str) and f for f in folders):
        raise StoredStateError(
            f"the image folders recorded for collection {collection!r} are unreadable: run"
            " `qdrant-mm sync CATALOG` again to record them anew"
        )
    return [Path(f) for f in folders if servable(Path(f))]


def record_catalog_folder(backend: Backend, collection: str, folder: Path) -> list[Path]:
    """Put ``folder`` (a synced catalog's folder) first in the recorded list; return it. A
    folder that is not :func:`servable` is not recorded."""
    folder = folder.expanduser().resolve()
    if not servable(folder):
        return recorded_folders(backend, collection)
    try:
        known = recorded_folders(backend, collection)
    except StoredStateError:
        known = []  # overwritten by a good list
    folders = [folder, *(f for f in known if f != folder)][:MAX_FOLDERS]
    backend.write_meta(_key(collection), {"folders": [str(f) for f in folders]})
    return folders
