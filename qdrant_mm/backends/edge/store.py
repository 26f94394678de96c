"""The JSON documents the Edge backend keeps beside its shards: aliases and metadata.

Qdrant Edge has neither, so :class:`JsonStore` keeps them as files under the storage folder::

    aliases.json               {"aliases": {alias: collection}}
    meta/<slug>.<sha256>.json  one metadata document each: {"key": ..., "value": {...}}
    .lock                      advisory lock serialising alias updates across processes

Every file is written atomically (a temp file, ``fsync``, ``os.replace``, ``fsync`` of the
folder), so a reader sees the old or the new document, never a mix. Alias updates are
read-modify-write under a thread lock and, on POSIX, an ``flock`` on ``.lock``. A metadata
file name is a readable slug plus a SHA-256 of the key, so any string is a valid key (case,
``/``, ``:``, length, non-ASCII); the key itself is stored in the document.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from qdrant_mm.errors import BackendError, BackendRequestError, StoredStateError

log = logging.getLogger(__name__)

ALIASES = "aliases.json"
META = "meta"
LOCK = ".lock"


class JsonStore:
    """Aliases and metadata documents under ``root`` (which must exist)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.meta_dir = root / META
        self._lock = threading.RLock()
        # aliases.json as last read, keyed by its inode, size and times (taken from the open
        # file, so the key is that of the text read): every search resolves its collection,
        # and an fstat is cheaper than parsing the file each time. Writers replace the file
        # (a new inode). The store must be on a local filesystem (NFS may answer stat from
        # its attribute cache).
        self._aliases: tuple[tuple[int, ...], dict[str, str]] | None = None

    # --- aliases -----------------------------------------------------------------------------
    def read_aliases(self) -> dict[str, str]:
        path = self.root / ALIASES
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                stamp = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                cached = self._aliases
                if cached is not None and cached[0] == stamp:
                    return dict(cached[1])
                raw = f.read()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise BackendError(f"cannot read aliases from {path}: {exc}") from exc
        try:
            doc = json.loads(raw.decode("utf-8"))
        except ValueError as exc:  # UnicodeDecodeError is one
            raise BackendError(f"cannot read aliases from {path}: {exc}") from exc
        aliases = doc.get("aliases") if isinstance(doc, dict) else None
        if not isinstance(aliases, dict):
            raise BackendError(f"{path} is not an aliases file")
        out = {str(k): str(v) for k, v in aliases.items()}
        self._aliases = (stamp, out)
        return dict(out)

    def update_aliases(self, change: Callable[[dict[str, str]], Any]) -> None:
        """Read-modify-write aliases.json: ``change`` edits the dict in place; it is written
        back (atomically) if it changed. Serialised across threads and processes."""
        with self._lock, file_lock(self.root / LOCK):
            aliases = self.read_aliases()
            before = dict(aliases)
            change(aliases)
            if aliases != before:
                atomic_write(
                    self.root / ALIASES,
                    json.dumps({"aliases": aliases}, ensure_ascii=False, sort_keys=True),
                )

    # --- metadata documents --------------------------------------------------------------------
    def read_meta(self, key: str) -> dict[str, Any] | None:
        path = self.meta_path(key)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except RecursionError:
            raise BackendError(
                f"cannot read metadata {key!r} from {path}: nested too deeply to read"
            ) from None
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot read metadata {key!r} from {path}: {exc}") from exc
        # The file is named after the key: one that holds another key or no object was edited
        # or damaged by hand; it is said, not read as absent (a profile would silently fall
        # back to the default weights).
        found = doc.get("key") if isinstance(doc, dict) else None
        value = doc.get("value") if isinstance(doc, dict) else None
        if found != key or not isinstance(value, dict):
            what = "another key" if isinstance(found, str) and found != key else "no document"
            raise StoredStateError(
                f"metadata {key!r} cannot be trusted: its file {path.name} holds {what}"
                ' (expected {"key": ..., "value": {...}}); remove the file or write it again'
            )
        return value

    def write_meta(self, key: str, value: dict[str, Any]) -> None:
        if not isinstance(value, dict):
            raise BackendRequestError(
                f"metadata {key!r} must be a dict, got {type(value).__name__}"
            )
        path = self.meta_path(key)
        try:
            data = json.dumps({"key": key, "value": value}, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise BackendRequestError(f"metadata {key!r} is not JSON-serialisable: {exc}") from exc
        atomic_write(path, data)

    def delete_meta(self, key: str) -> bool:
        try:
            self.meta_path(key).unlink()
        except FileNotFoundError:
            return False
        fsync_dir(self.meta_dir)
        return True

    def list_meta(self, prefix: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for path in sorted(self.meta_dir.glob("*.json")):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:  # deleted meanwhile
                continue
            except (OSError, ValueError, RecursionError) as exc:
                log.warning("skipping unreadable metadata file %s: %s", path, exc)
                continue
            key = doc.get("key") if isinstance(doc, dict) else None
            value = doc.get("value") if isinstance(doc, dict) else None
            if isinstance(key, str) and key.startswith(prefix) and isinstance(value, dict):
                out[key] = value
        return out

    def meta_path(self, key: str) -> Path:
        if not isinstance(key, str) or not key:
            raise BackendRequestError(f"metadata key must be a non-empty string, got {key!r}")
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        slug = re.sub(r"[^a-z0-9_-]+", "_", key.lower()).strip("_")[:64] or "key"
        return self.meta_dir / f"{slug}.{digest}.json"


# --- files -------------------------------------------------------------------------------------
def atomic_write(path: Path, data: str) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:40]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise BackendError(f"cannot write {path}: {exc}") from exc
        raise
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``path`` across processes (POSIX ``flock``; elsewhere none)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
