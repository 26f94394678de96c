"""The Edge backend's shards: :class:`EdgeBackend` on Qdrant Edge, in this process.

See :mod:`qdrant_mm.backends.edge` for the storage layout and what is native, emulated or
missing. This module owns the shards (one ``EdgeShard`` per physical collection: opening,
atomic creation, deletion) and runs the protocol's operations on them; aliases and metadata
are :class:`~qdrant_mm.backends.edge.store.JsonStore`'s, requests are built by
:mod:`~qdrant_mm.backends.edge.requests`, and every Edge exception goes through
:func:`~qdrant_mm.backends.edge.errors.map_edge_errors`.

Concurrency: one lock per shard guards every Edge call, plus a backend lock for opening,
creating and deleting shards and for aliases. Edge calls hold the GIL, so serialising them
loses no parallelism; a long ``optimize()`` or upsert batch delays other threads' queries.
Upserts take the lock per batch of :data:`UPSERT_BATCH` points, and ``scroll_payload`` per
page, so queries interleave with them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qdrant_mm.backends.base import (
    QUANTIZATIONS,
    BuildWatch,
    CollectionSpec,
    Hit,
    PointRecord,
    QueryPlan,
    StoredPoint,
)
from qdrant_mm.backends.common import (
    check_scroll_batch,
    collection_not_found,
    named_vectors,
    point_id,
)
from qdrant_mm.backends.edge import build_watch, requests
from qdrant_mm.backends.edge.errors import OPEN, is_lock_error, map_edge_errors, store_locked
from qdrant_mm.backends.edge.store import JsonStore, fsync_dir
from qdrant_mm.errors import (
    BackendError,
    BackendRequestError,
    BackendUnavailableError,
    QdrantMMError,
    QueryError,
)

if TYPE_CHECKING:
    from qdrant_client import models

log = logging.getLogger(__name__)

INSTALL_HINT = (
    'install it with `pip install "qdrant-edge-py>=0.9,<0.10"`, or set QDRANT_MM_BACKEND=local '
    "to use qdrant-client's local mode instead"
)

#: Points per Edge update operation (the shard lock is taken per batch).
UPSERT_BATCH = 256
DELETE_BATCH = 1024

_COLLECTIONS = "collections"
_STAGING_PREFIX = ".staging-"
_DELETING_PREFIX = ".deleting-"
_STALE_STAGING_S = 3600.0

# Qdrant's collection-name rule, plus no leading "." (reserved for our staging folders).
_FORBIDDEN_NAME_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


def _import_edge() -> Any:
    try:
        import qdrant_edge
    except ImportError as exc:
        raise BackendUnavailableError(
            f"the edge backend needs the qdrant-edge-py package, which cannot be imported "
            f"({exc}): {INSTALL_HINT}"
        ) from exc
    return qdrant_edge


@dataclass
class _Shard:
    name: str
    shard: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False


class EdgeBackend:
    """:class:`~qdrant_mm.backends.base.Backend` on Qdrant Edge, stored under ``path``.

    ``indexing_threshold_kb`` and ``full_scan_threshold_kb`` tune collections *created* by this
    instance (Edge persists them with the shard); None keeps Qdrant's defaults (10 000 KB each).
    """

    name = "edge"

    def __init__(
        self,
        path: Path | str,
        *,
        indexing_threshold_kb: int | None = None,
        full_scan_threshold_kb: int | None = None,
    ) -> None:
        self._qe = _import_edge()
        self.path = Path(path)
        self._collections_dir = self.path / _COLLECTIONS
        self._store = JsonStore(self.path)
        try:
            self._collections_dir.mkdir(parents=True, exist_ok=True)
            self._store.meta_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackendError(f"cannot create the Edge storage folder {self.path}: {exc}") from exc
        self._indexing_threshold_kb = indexing_threshold_kb
        self._full_scan_threshold_kb = full_scan_threshold_kb
        self._lock = threading.RLock()
        self._shards: dict[str, _Shard] = {}
        self._closed = False
        self._remove_leftovers()

    def __repr__(self) -> str:
        return f"EdgeBackend({str(self.path)!r})"

    def __enter__(self) -> EdgeBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- collections & aliases ----------------------------------------------------------------
    def quantizations(self) -> tuple[str, ...]:
        return QUANTIZATIONS

    def collection_exists(self, collection: str) -> bool:
        return self.resolve(collection) is not None

    def create_collection(self, collection: str, spec: CollectionSpec) -> None:
        qe = self._qe
        _check_name(collection, "collection")
        config = requests.edge_config(
            qe, spec, self._indexing_threshold_kb, self._full_scan_threshold_kb
        )
        schemas = requests.payload_schemas(qe, spec)
        with self._lock:
            self._check_open()
            if collection in self._store.read_aliases():
                raise BackendRequestError(
                    f"cannot create collection {collection!r}: an alias has that name"
                )
            if self._on_disk(collection):
                raise BackendRequestError(f"collection {collection!r} already exists")
            final = self._collection_dir(collection)
            if final.exists():  # a folder without a complete shard: leftover of a crash
                shutil.rmtree(final, ignore_errors=True)
            staging = self._collections_dir / f"{_STAGING_PREFIX}{uuid.uuid4().hex}"
            try:
                with self._errors("create collection", collection):
                    shard = qe.EdgeShard.create(str(staging), config)
                    try:
                        for field_name, schema in schemas.items():
                            shard.update(qe.UpdateOperation.create_field_index(field_name, schema))
                        shard.flush()
                    finally:
                        shard.close()
                    os.rename(staging, final)
                fsync_dir(self._collections_dir)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise

    def delete_collection(self, collection: str) -> None:
        with self._lock:
            self._check_open()
            physical = self.resolve(collection)
            if physical is None:
                if collection in self._store.read_aliases():  # dangling alias: drop it
                    self._store.update_aliases(lambda a: a.pop(collection, None))
                return
            handle = self._shards.pop(physical, None)
            if handle is not None:
                self._close_handle(handle)
            else:
                # Take Edge's lock once so a collection open in another process is refused
                # instead of being erased from under it (a shard that fails to load for any
                # other reason, e.g. damaged, can still be deleted).
                try:
                    self._qe.EdgeShard.load(str(self._collection_dir(physical))).close()
                except Exception as exc:
                    if is_lock_error(str(exc)):
                        raise store_locked(self.path, physical, str(exc)) from exc
                    log.warning("deleting collection %r that Edge cannot open: %s", physical, exc)

            def drop_aliases(aliases: dict[str, str]) -> None:
                for name in [k for k, v in aliases.items() if v == physical]:
                    del aliases[name]

            self._store.update_aliases(drop_aliases)
            gone = self._collections_dir / f"{_DELETING_PREFIX}{uuid.uuid4().hex}"
            try:
                os.rename(self._collection_dir(physical), gone)
            except OSError as exc:
                raise BackendError(f"cannot delete collection {physical!r}: {exc}") from exc
            fsync_dir(self._collections_dir)
            shutil.rmtree(gone, ignore_errors=True)

    def resolve(self, collection: str) -> str | None:
        target = self._store.read_aliases().get(collection)
        if target is not None:
            return target if self._on_disk(target) else None
        return collection if self._on_disk(collection) else None

    def switch_alias(self, alias: str, collection: str) -> str | None:
        _check_name(alias, "alias")
        with self._lock:
            self._check_open()
            previous: list[str | None] = [None]

            def change(aliases: dict[str, str]) -> None:
                if alias not in aliases and self._on_disk(alias):
                    raise BackendRequestError(
                        f"cannot make alias {alias!r}: a collection has that name"
                    )
                target = aliases.get(collection, collection)
                if not self._on_disk(target):
                    raise BackendRequestError(
                        f"cannot point alias {alias!r} at {collection!r}: no such collection"
                    )
                previous[0] = aliases.get(alias)
                aliases[alias] = target

            self._store.update_aliases(change)
            return previous[0]

    def list_aliases(self) -> dict[str, str]:
        """Every alias and the collection it points at (extra to the protocol)."""
        return self._store.read_aliases()

    def list_collections(self) -> list[str]:
        """Physical collections, sorted (extra to the protocol)."""
        return sorted(
            p.name
            for p in self._collections_dir.iterdir()
            if not p.name.startswith(".") and (p / "edge_config.json").is_file()
        )

    # --- metadata documents (JSON files: see JsonStore) ----------------------------------------
    def read_meta(self, key: str) -> dict[str, Any] | None:
        return self._store.read_meta(key)

    def write_meta(self, key: str, value: dict[str, Any]) -> None:
        self._store.write_meta(key, value)

    def delete_meta(self, key: str) -> bool:
        return self._store.delete_meta(key)

    def list_meta(self, prefix: str) -> dict[str, dict[str, Any]]:
        return self._store.list_meta(prefix)

    # --- points --------------------------------------------------------------------------------
    def upsert(self, collection: str, points: Sequence[PointRecord]) -> None:
        if not points:
            return
        qe = self._qe
        handle = self._handle(collection)
        for start in range(0, len(points), UPSERT_BATCH):
            batch = requests.points(qe, points[start : start + UPSERT_BATCH])
            with self._use(handle, collection, "upsert", BackendRequestError) as shard:
                shard.update(qe.UpdateOperation.upsert_points(batch))

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        if not ids:
            return
        qe = self._qe
        handle = self._handle(collection)
        point_ids = [point_id(i) for i in ids]
        for start in range(0, len(point_ids), DELETE_BATCH):
            batch = point_ids[start : start + DELETE_BATCH]
            with self._use(handle, collection, "delete", BackendRequestError) as shard:
                shard.update(qe.UpdateOperation.delete_points(batch))

    def scroll_payload(
        self, collection: str, fields: Sequence[str], batch: int = 1024
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every point's id and the given payload fields, no vectors, ``batch`` per page.

        The collection is resolved now; pages are read lazily (the shard lock is held per
        page, so points written while iterating may or may not be seen)."""
        check_scroll_batch(batch)
        qe = self._qe
        handle = self._handle(collection)
        selector: Any = qe.PayloadSelector.Include(list(fields)) if fields else False

        def pages() -> Iterator[tuple[str, dict[str, Any]]]:
            offset = None
            while True:
                with self._use(handle, collection, "scroll", QueryError) as shard:
                    records, offset = shard.scroll(
                        qe.ScrollRequest(
                            offset=offset, limit=batch, with_payload=selector, with_vector=False
                        )
                    )
                for rec in records:
                    yield str(rec.id), dict(rec.payload or {})
                if offset is None or not records:
                    return

        return pages()

    def retrieve(
        self, collection: str, ids: Sequence[str], with_vectors: Sequence[str] = ()
    ) -> list[StoredPoint]:
        if not ids:
            return []
        wanted = list(dict.fromkeys(point_id(i) for i in ids))
        names = list(with_vectors)
        with self._use(self._handle(collection), collection, "retrieve", QueryError) as shard:
            records = shard.retrieve(wanted, True, names if names else False)
        by_id = {str(r.id): r for r in records}
        return [
            StoredPoint(
                id=pid,
                payload=dict(by_id[pid].payload or {}),
                vectors=named_vectors(by_id[pid].vector, names),
            )
            for pid in map(str, wanted)
            if pid in by_id
        ]

    def count(self, collection: str, filter: models.Filter | None = None) -> int:
        qe = self._qe
        request = qe.CountRequest(exact=True, filter=requests.edge_filter(filter, qe))
        with self._use(self._handle(collection), collection, "count", QueryError) as shard:
            return int(shard.count(request))

    def query(self, collection: str, plan: QueryPlan) -> list[Hit]:
        request = requests.query_request(self._qe, plan)
        with self._use(self._handle(collection), collection, "query", QueryError) as shard:
            points = shard.query(request)
            scores = (
                self._vector_scores(shard, plan, points)
                if plan.score_vectors or plan.score_dots
                else {}
            )
        names = list(plan.with_vectors)
        return [
            Hit(
                id=str(p.id),
                score=float(p.score),
                payload=dict(p.payload or {}) if plan.with_payload else {},
                vectors=named_vectors(p.vector, names),
                vector_scores=scores.get(str(p.id), {}),
            )
            for p in points
        ]

    def _vector_scores(
        self, shard: Any, plan: QueryPlan, points: Sequence[Any]
    ) -> dict[str, dict[str, float]]:
        """``plan.score_vectors`` for ``points`` (id -> named vector -> cosine)."""
        if not points:
            return {}
        names, batch = requests.score_requests(self._qe, plan, points)
        out: dict[str, dict[str, float]] = {}
        for name, scored in zip(names, shard.query_batch(batch), strict=True):
            for sp in scored:
                out.setdefault(str(sp.id), {})[name] = float(sp.score)
        return out

    def optimize(self, collection: str, watch: BuildWatch | None = None) -> float:
        """Run Edge's optimizers (merge segments, build HNSW past the indexing threshold) and
        flush; returns the seconds it took. ``optimize()`` holds the GIL throughout, so with
        ``watch`` the build is reported by a separate process that reads the shard's folder
        (:mod:`qdrant_mm.backends.edge.build_watch`)."""
        handle = self._handle(collection)
        with self._use(handle, collection, "optimize", BackendError) as shard:
            start = time.perf_counter()
            watcher = self._start_watch(handle.name, collection, watch) if watch else None
            try:
                shard.optimize()
                shard.flush()
            finally:
                if watcher is not None:
                    _stop_watch(watcher)
            return time.perf_counter() - start

    def _start_watch(self, physical: str, label: str, watch: BuildWatch) -> subprocess.Popen | None:
        """The process reporting the build of ``physical`` (None if it cannot start: the
        build goes on unreported rather than failing)."""
        command = [
            sys.executable,
            str(Path(build_watch.__file__)),
            str(os.getpid()),
            str(self._collection_dir(physical)),
            "--label",
            label,
            "--every",
            str(watch.every_s),
        ]
        if watch.live:
            command.append("--live")
        try:
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=watch.fd,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
        except OSError:
            return None

    def shard_info(self, collection: str) -> dict[str, Any]:
        """Edge's view of a collection (extra to the protocol): points, segments, indexed
        vectors, payload indexes, and the quantization of each quantized named vector as the
        shard's persisted config states it (e.g. ``{"fused": {"scalar": {"type": "int8", ...}}}``).
        """
        handle = self._handle(collection)
        with self._use(handle, collection, "info", BackendError) as shard:
            info = shard.info()
            out = {
                "points": int(info.points_count),
                "segments": int(info.segments_count),
                "indexed_vectors": int(info.indexed_vectors_count),
                "payload_indexes": {
                    k: str(v.data_type).rsplit(".", 1)[-1] for k, v in info.payload_schema.items()
                },
            }
        config_path = self._collection_dir(handle.name) / "edge_config.json"
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot read the Edge config {config_path}: {exc}") from exc
        vectors = config.get("vectors") if isinstance(config, dict) else None
        out["quantization"] = {
            name: params["quantization_config"]
            for name, params in (vectors or {}).items()
            if isinstance(params, dict) and params.get("quantization_config")
        }
        return out

    def flush(self) -> None:
        """Flush every open shard to disk (``close()`` does it too)."""
        with self._lock:
            handles = list(self._shards.values())
        for h in handles:
            with self._use(h, h.name, "flush", BackendError) as shard:
                shard.flush()

    def close(self) -> None:
        """Flush and close every open shard. The backend cannot be used afterwards; a new
        :class:`EdgeBackend` on the same path sees everything written."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            handles = list(self._shards.values())
            self._shards.clear()
        errors = []
        for h in handles:
            try:
                self._close_handle(h)
            except BackendError as exc:
                errors.append(str(exc))
        if errors:
            raise BackendError("; ".join(errors))

    # --- internals: shards -----------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise BackendError(f"{self!r} is closed")

    def _collection_dir(self, name: str) -> Path:
        return self._collections_dir / name

    def _on_disk(self, name: str) -> bool:
        if not _valid_name(name):
            return False
        return (self._collection_dir(name) / "edge_config.json").is_file()

    def _handle(self, collection: str) -> _Shard:
        with self._lock:
            self._check_open()
            physical = self.resolve(collection)
            if physical is None:
                raise collection_not_found(collection, self.name)
            handle = self._shards.get(physical)
            if handle is None:
                with self._errors(OPEN, physical):
                    shard = self._qe.EdgeShard.load(str(self._collection_dir(physical)))
                handle = self._shards[physical] = _Shard(physical, shard)
            return handle

    def _errors(
        self, what: str, collection: str, invalid: type[QdrantMMError] = BackendRequestError
    ) -> contextlib.AbstractContextManager[None]:
        """The block's Edge exceptions as qdrant-mm errors (``invalid``: the type for a request
        Edge refuses as wrong)."""
        return map_edge_errors(what=what, collection=collection, store=self.path, invalid=invalid)

    @contextlib.contextmanager
    def _use(
        self, handle: _Shard, collection: str, what: str, invalid: type[QdrantMMError]
    ) -> Iterator[Any]:
        """Hold the shard's lock around an Edge call and translate Edge's exceptions."""
        with handle.lock:
            if handle.closed:
                raise BackendError(f"collection {collection!r} was closed or deleted while in use")
            with self._errors(what, collection, invalid):
                yield handle.shard

    def _close_handle(self, handle: _Shard) -> None:
        with handle.lock:
            if handle.closed:
                return
            handle.closed = True
            try:
                handle.shard.flush()
                handle.shard.close()
            except Exception as exc:  # not a refused request: always a BackendError
                raise BackendError(f"closing collection {handle.name!r} failed: {exc}") from exc

    def _remove_leftovers(self) -> None:
        """Erase folders of deletions that were interrupted, and stale staging folders."""
        now = time.time()
        for p in self._collections_dir.iterdir():
            if p.name.startswith(_DELETING_PREFIX):
                shutil.rmtree(p, ignore_errors=True)
            elif p.name.startswith(_STAGING_PREFIX):
                with contextlib.suppress(OSError):
                    if now - p.stat().st_mtime > _STALE_STAGING_S:
                        shutil.rmtree(p, ignore_errors=True)


# --- helpers ---------------------------------------------------------------------------------
def _stop_watch(watcher: subprocess.Popen) -> None:
    """End the build watcher at once (it leaves its sleep on SIGTERM), killing it if it does
    not within a second: the build's time must not include the watcher's interval."""
    watcher.terminate()
    try:
        watcher.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        watcher.kill()
        watcher.wait()


def _valid_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and 1 <= len(name) <= 255
        and not name.startswith(".")
        and not _FORBIDDEN_NAME_CHARS.search(name)
    )


def _check_name(name: str, what: str) -> None:
    if not _valid_name(name):
        raise BackendRequestError(
            f"invalid {what} name {name!r}: use 1-255 characters, none of "
            '<>:"/\\|?* or control characters, not starting with "."'
        )
