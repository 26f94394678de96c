"""Qdrant Edge backend: Qdrant's engine inside this process, no server.

:class:`EdgeBackend` implements :class:`~qdrant_mm.backends.base.Backend` on
`qdrant-edge-py <https://pypi.org/project/qdrant-edge-py/>`_ (0.9.x). One Edge *shard* is one
physical collection. Everything lives in one folder::

    <path>/
      collections/<name>/        one EdgeShard per physical collection (Edge's own files:
                                 edge_config.json, wal/, segments/)
      collections/.staging-*     a collection being created; renamed into place when complete
      collections/.deleting-*    a collection being removed (renamed away first, then erased)
      aliases.json               {"aliases": {alias: collection}}
      meta/<slug>.<sha256>.json  one metadata document each: {"key": ..., "value": {...}}
      .lock                      advisory lock serialising alias updates across processes

The package, one concept per module:

* :mod:`~qdrant_mm.backends.edge.backend`: :class:`EdgeBackend`, the shards (open, create,
  delete, lock) and the protocol's operations on them;
* :mod:`~qdrant_mm.backends.edge.store`: aliases and metadata documents as JSON files;
* :mod:`~qdrant_mm.backends.edge.requests`: Edge's configs and requests built from
  qdrant-mm's types (and the engine's quirks found on the way);
* :mod:`~qdrant_mm.backends.edge.filters`: ``qdrant_client.models.Filter`` to Edge's filters;
* :mod:`~qdrant_mm.backends.edge.errors`: Edge's exceptions to qdrant-mm's.

Native in Edge (used as is):
  named dense vectors with their distance (cosine vectors are normalised on write, so stored
  vectors and scores are exactly what a Qdrant server returns), payload storage, keyword /
  float / integer payload indexes, every filter qdrant-mm uses, nearest-neighbour queries
  with limit / offset / ``hnsw_ef`` / ``exact``, Query-API prefetch + rescore, scalar (int8)
  quantization of a named vector with rescore / oversampling per query, scroll, count,
  retrieve, delete, a write-ahead log (writes survive a crash without ``close()``), and
  ``optimize()`` (segment merge + HNSW build).

Emulated here, with the user-visible behaviour of a Qdrant server:
  * collections: a folder per shard; creation is atomic (built in a staging folder with its
    payload indexes, then renamed into place), deletion renames the folder away before
    erasing it and removes every alias pointing at the collection (as Qdrant does).
    Names follow Qdrant's rule (1-255 chars, none of ``<>:"/\\|?*`` or control characters)
    and may not start with ``.``.
  * aliases: ``aliases.json``, rewritten atomically under a thread lock and, on POSIX, an
    ``flock`` on ``.lock``. ``switch_alias`` is therefore atomic and returns the collection
    the alias pointed at. An alias resolves before a collection of the same name (Qdrant's
    order); creating an alias over a collection name, or a collection over an alias name, is
    refused. Every method accepts an alias as collection name, ``delete_collection`` included
    (it deletes the collection behind it).
  * metadata documents (``read_meta`` ...): one JSON file per key, written atomically.
  * rescoring with prefetches is forced exact (see :mod:`~qdrant_mm.backends.edge.requests`)
    so the union is rescored exactly, as the plan requires.

Not a server, so:
  * a shard folder can be opened by one owner at a time: Edge locks its write-ahead log.
    A second :class:`EdgeBackend` (in this process or another) opening a collection that is
    open elsewhere gets a :class:`~qdrant_mm.errors.StoreLockedError` at once; aliases and
    metadata can still be read and written from both. ``close()`` releases the shards.
  * Edge does not index in the background: ``optimize()`` runs the optimizers (merge small
    segments, build HNSW once a segment passes the indexing threshold, 10 MB of vectors by
    default, as on a server) and blocks, holding the GIL, until they finish. Searching works
    without it (a full scan of unindexed segments).
"""

from qdrant_mm.backends.edge.backend import INSTALL_HINT, EdgeBackend

__all__ = ["INSTALL_HINT", "EdgeBackend"]
