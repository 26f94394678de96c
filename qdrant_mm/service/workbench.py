"""The labelled query set the tuning page measures against, held in the app's state.

A set comes from ``qdrant-mm serve --qrels FILE`` (parsed before the start; its queries are
embedded and their candidates fetched once the storage is ready, in the start-up check's
thread) or from an upload (``POST /evaluate/qrels``), which replaces it. Uploaded image queries
may only name files under ``QDRANT_MM_IMAGE_ROOT`` (the service never reads another path and
never fetches a URL). Also here: the candidates of recent text queries, for the sensitivity of
a live search (a few, least recently used dropped first).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from qdrant_mm.errors import QdrantMMError
from qdrant_mm.evaluation.live import DEFAULT_DEPTH, LiveEvaluator, LiveQuery
from qdrant_mm.evaluation.qrels import Qrels, QrelsError, parse_qrels
from qdrant_mm.service.errors import ServiceError

#: The app's :class:`~qdrant_mm.service.state.ServiceState` (which holds the workbench, so this
#: module cannot import it).
ServiceState = Any
log = logging.getLogger("qdrant_mm.service")

#: Most queries an uploaded set may hold (each costs an embedding and three searches to load).
MAX_UPLOAD_QUERIES = 5000
MAX_UPLOAD_BYTES = 4 * 1024 * 1024
NO_SET = (
    "no labelled query set is loaded: start the service with `qdrant-mm serve --qrels FILE`"
    " or upload one on the page (POST /evaluate/qrels, the JSONL that `qdrant-mm evaluate` reads)"
)
RECENT_QUERIES = 32
#: Grid answers kept (least recently used dropped first): each is a few hundred points.
CACHED_ANSWERS = 16


class AnswerCache:
    """A small thread-safe least-recently-used map of computed answers (simplex grids)."""

    def __init__(self, size: int = CACHED_ANSWERS) -> None:
        self._size = size
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Any | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def __setitem__(self, key: tuple, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class Workbench:
    """The loaded query set (a :class:`LiveEvaluator`) and recent text queries' candidates."""

    def __init__(self, qrels: Qrels | None = None, depth: int = DEFAULT_DEPTH) -> None:
        self.pending = qrels
        self.depth = depth
        self.live: LiveEvaluator | None = None
        self.problem: str | None = None
        self.generation = 0
        """Counts the sets loaded, so caches know when the set changed."""
        self._lock = threading.Lock()
        self._recent: OrderedDict[tuple, LiveQuery] = OrderedDict()
        self._loaded_from: Qrels | None = None
        self.cache = AnswerCache()

    def load(self, state: ServiceState, qrels: Qrels, *, pending: bool = False) -> LiveEvaluator:
        """Resolve category queries, embed every query and fetch its candidates (blocking).

        The work runs outside the lock (the page's other requests go on meanwhile); the new set
        replaces the old one at the end. ``pending``: this is the set given at start-up, which
        an upload made in the meantime supersedes."""
        from qdrant_mm.evaluation.runner import embed_queries, resolve_qrels

        searcher = state.ready_searcher()
        with self._lock:
            if self.live is not None and self._loaded_from is qrels:
                return self.live  # loaded meanwhile (the start-up thread and a request)
        try:
            resolved = resolve_qrels(searcher, qrels)
        except QrelsError as exc:
            raise ServiceError(400, state.scrub(str(exc))) from None
        live = LiveEvaluator.build(
            searcher, resolved, embed_queries(searcher, resolved), self.depth
        )
        with self._lock:
            if pending and self.pending is not qrels:
                return self.live or live  # an upload replaced the start-up set meanwhile
            self.live, self.pending, self.problem = live, None, None
            self._loaded_from = qrels
            self.generation += 1
            self.cache.clear()
        log.info("loaded %d labelled queries from %s", len(qrels), qrels.source)
        return live

    def load_pending(self, state: ServiceState) -> None:
        """Load the set given at start-up, if any and not loaded yet; never raises."""
        if self.pending is None:
            return
        try:
            self.load(state, self.pending, pending=True)
        except (QdrantMMError, ServiceError) as exc:
            self.problem = state.scrub(str(getattr(exc, "message", exc)))
            log.warning("cannot load the labelled queries yet: %s", self.problem)

    def require(self, state: ServiceState) -> LiveEvaluator:
        """The loaded set (loading the start-up one now if its first try failed), else 400."""
        if self.live is None and self.pending is not None:
            self.load(state, self.pending, pending=True)
        if self.live is None:
            raise ServiceError(400, NO_SET)
        return self.live

    def summary(self, state: ServiceState) -> dict[str, Any]:
        live = self.live
        out: dict[str, Any] = {"loaded": live is not None, "problem": self.problem}
        if self.pending is not None and live is None:
            out["pending"] = Path(self.pending.source or "qrels").name
        if live is None:
            return out
        out["source"] = Path(live.qrels.source or "upload").name
        out["generation"] = self.generation
        out["engine_exact"] = live.engine_exact
        out["queries"] = [
            {
                "id": q.id,
                "kind": q.kind,
                "text": q.text if q.kind != "image" else Path(q.image or "").name,
                "relevant": len(q.relevant_ids),
            }
            for q in live.qrels.queries
        ]
        return out

    # --- uploads ----------------------------------------------------------------------------
    def parse_upload(self, state: ServiceState, body: bytes, name: str) -> Qrels:
        """An uploaded qrels file, checked: image queries only under the image folder."""
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ServiceError(400, "the qrels file is not UTF-8 text") from None
        root = state.image_root
        try:
            qrels = parse_qrels(
                text.splitlines(), base_dir=root or ".", source=name, check_images=False
            )
        except QrelsError as exc:
            raise ServiceError(400, state.scrub(str(exc))) from None
        if len(qrels) > MAX_UPLOAD_QUERIES:
            raise ServiceError(400, f"{name}: {len(qrels)} queries, more than {MAX_UPLOAD_QUERIES}")
        for q in qrels.queries:
            if q.kind != "image":
                continue
            where = f"{name}, line {q.line}"
            if root is None:
                raise ServiceError(
                    400, f"{where}: image queries need QDRANT_MM_IMAGE_ROOT on the service"
                )
            path = Path(q.image or "")
            if (q.image or "").startswith(("http://", "https://")):
                raise ServiceError(400, f"{where}: the service does not fetch image URLs")
            if not path.is_relative_to(root) or not path.is_file():
                raise ServiceError(
                    400,
                    f"{where}: image {state.scrub(str(path))} is not a file under the image"
                    " folder (give paths relative to QDRANT_MM_IMAGE_ROOT)",
                )
        return qrels

    # --- recent text queries ------------------------------------------------------------------
    def recent(self, key: tuple, make) -> LiveQuery:
        """The candidates of a text query (``make()`` fetches them), kept for a while."""
        with self._lock:
            found = self._recent.get(key)
            if found is not None:
                self._recent.move_to_end(key)
                return found
        made = make()
        with self._lock:
            self._recent[key] = made
            while len(self._recent) > RECENT_QUERIES:
                self._recent.popitem(last=False)
        return made
