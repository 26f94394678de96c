"""Keeping a Qdrant collection in step with a product catalog.

One point per product (point id = UUIDv5 of the product id). Each point's payload carries the
catalog fields plus ``product_id``, ``content_hash`` (image bytes + title/description + model
ids: when it changes the product is re-embedded) and ``payload_hash`` (the catalog fields: when
only it changes the payload is rewritten with the stored vectors, no model runs).

Resumable by construction: every batch is written with its hashes, so a re-run after a crash
finds the finished products unchanged and does the rest. The calibration statistics are marked
stale before the first vector changes and computed again at the end, so a re-run after a crash
also leaves the statistics of the catalog that is stored.

Deletions are guarded: they happen only after every product was processed, only when the whole
catalog was read and every row's id could be read, only when at least one product of the
catalog could be stored, and only when they remove at most ``max_delete_fraction`` of the
stored products (else none is deleted and the report says why). ``rebuild=True`` switches the
alias only under the same rule: it never replaces a collection by one that lacks more than that
share of its products.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from qdrant_mm import defaults
from qdrant_mm.backends.base import Backend, PointRecord, Quantization
from qdrant_mm.calibration import compute_statistics
from qdrant_mm.catalog import Catalog, Product, payload_hash, point_id, read_catalog
from qdrant_mm.collection import (
    Opened,
    drop_physical,
    new_collection_quantization,
    open_or_create,
    read_collection_meta,
)
from qdrant_mm.encoders.bundle import ModelBundle
from qdrant_mm.errors import CatalogError, ConfigError, ImageLoadError, StoredStateError
from qdrant_mm.fusion import split
from qdrant_mm.hit_rows import source_filter
from qdrant_mm.image_sources import record_catalog_folder
from qdrant_mm.images import ImageLimits, downloads_ahead, read_image_bytes, resolve_image_ref
from qdrant_mm.product_rows import (
    ROW_FIELDS,
    Photo,
    RowBuilder,
    RowsWork,
    content_hash,
    product_text,
)
from qdrant_mm.rebuild import Rebuild
from qdrant_mm.retry import retrying
from qdrant_mm.schema import (
    FROM_TEXT,
    FUSED,
    LAYOUT,
    LAYOUT_CHANNELS,
    LAYOUT_PHOTOS,
    VECTORS_FROM,
    CollectionMeta,
    layout_for,
    meta_key,
    normalize_quantization,
    resolve_datatype,
    vector_names,
)
from qdrant_mm.sync_report import FailedProduct, Progress, SyncReport

HASH_FIELDS = ("product_id", "content_hash", "payload_hash")


@dataclass
class _Work:
    product: Product
    pid: str
    photos: list[Photo]
    content_hash: str
    payload_hash: str
    is_new: bool


MissingImage = Literal["text", "skip"]
BrokenImage = Literal["keep", "text"]


class Syncer:
    """Sync a catalog into ``collection`` on ``backend`` with the models of ``models``.

    ``quantization`` (a kind of ``QUANTIZATIONS``, ``"auto"`` for the best kind the backend
    can create, or None / ``"none"``) is the quantization of ``fused`` for a collection this
    sync *creates* (the first sync, or ``rebuild=True``); an existing collection keeps the one
    it was created with (the report says so when they differ).

    ``vector_datatype`` (``"float32"``, the default, ``"float16"`` or ``"auto"``) is how a
    collection this sync creates stores the originals of ``fused``: ``"auto"`` gives float16 to
    a plain ``fused`` vector when the catalog holds more than ``exact_below`` products (above
    which searches are HNSW searches; :data:`~qdrant_mm.schema.DATATYPE_SETTINGS`).

    ``max_delete_fraction`` (0..1, default 0.5; 1 allows any): the largest share of the stored
    products one sync may delete, and that ``rebuild=True`` may drop when it switches the alias.

    ``missing_image``: a product without a photo is stored from its text (``"text"``, flagged
    ``text_only``) or not stored (``"skip"``, listed in ``SyncReport.skipped``).
    ``broken_image``: when a product's photo cannot be read or decoded, the product fails and
    its stored version is kept (``"keep"``), or it is stored with the photos that could be
    read, from its text when none could (``"text"``, listed in ``SyncReport.fallbacks``).
    """

    def __init__(
        self,
        backend: Backend,
        models: ModelBundle,
        collection: str = defaults.COLLECTION,
        *,
        batch_size: int = defaults.BATCH_SIZE,
        image_limits: ImageLimits | None = None,
        http_client: httpx.Client | None = None,
        retry_attempts: int = 5,
        retry_initial_wait: float = 0.2,
        quantization: str | None = None,
        max_delete_fraction: float = 0.5,
        missing_image: MissingImage = "text",
        broken_image: BrokenImage = "keep",
        image_downloads: int = defaults.IMAGE_DOWNLOADS,
        vector_datatype: str = defaults.VECTOR_DATATYPE,
        exact_below: int = defaults.EXACT_BELOW,
    ) -> None:
        if (
            not isinstance(image_downloads, int)
            or isinstance(image_downloads, bool)
            or not 1 <= image_downloads <= defaults.MAX_IMAGE_DOWNLOADS
        ):
            raise ConfigError(
                "image_downloads (QDRANT_MM_IMAGE_DOWNLOADS) must be an integer from 1 to"
                f" {defaults.MAX_IMAGE_DOWNLOADS}, got {image_downloads!r}"
            )
        self.image_downloads = image_downloads
        if missing_image not in ("text", "skip"):
            raise ConfigError(
                "missing_image (QDRANT_MM_MISSING_IMAGE) must be 'text' or 'skip',"
                f" got {missing_image!r}"
            )
        if broken_image not in ("keep", "text"):
            raise ConfigError(
                "broken_image (QDRANT_MM_BROKEN_IMAGE) must be 'keep' or 'text',"
                f" got {broken_image!r}"
            )
        self.missing_image = missing_image
        self.broken_image = broken_image
        if not (
            isinstance(max_delete_fraction, (int, float))
            and math.isfinite(max_delete_fraction)
            and 0 <= max_delete_fraction <= 1
        ):
            raise ConfigError(
                "max_delete_fraction (QDRANT_MM_MAX_DELETE_FRACTION, --max-delete-fraction)"
                f" must be a number from 0 to 1, got {max_delete_fraction!r}"
            )
        self.max_delete_fraction = float(max_delete_fraction)
        self._stale_marked = False
        self._max_photos = 1
        self._layout = LAYOUT
        self.backend = backend
        if quantization != "auto":
            normalize_quantization(quantization)  # refused here, before any work
        self._quantization_setting = quantization
        resolve_datatype(vector_datatype, LAYOUT, 0, 0)  # refused here, before any work
        self._datatype_setting = vector_datatype
        self._exact_below = int(exact_below)
        self._products = 0
        self.models = models
        self.collection = collection
        self.batch_size = batch_size
        self.limits = image_limits or ImageLimits()
        self.http = http_client
        self._upsert = retrying(backend.upsert, retry_attempts, initial=retry_initial_wait)
        self._delete = retrying(backend.delete, retry_attempts, initial=retry_initial_wait)
        self._retrieve = retrying(backend.retrieve, retry_attempts, initial=retry_initial_wait)

    # --- entry point -----------------------------------------------------------------------
    def sync(
        self,
        catalog: Catalog | str | Path,
        *,
        delete: bool = True,
        rebuild: bool = False,
        calibrate: bool = True,
        progress: Progress | None = None,
    ) -> SyncReport:
        started = time.perf_counter()
        if not isinstance(catalog, Catalog):
            catalog = read_catalog(catalog)
        if not catalog.products and not catalog.invalid:
            # Nothing to sync is never a reason to delete everything stored: refused before
            # the store is even opened.
            raise CatalogError(
                f"{catalog.path}: the catalog holds no products (an empty file, an empty JSON"
                " array or a CSV with only its header): nothing was synced and nothing deleted"
            )
        self._stale_marked = False
        self._max_photos = 1
        self._skipped: set[str] = set()
        progress = progress or Progress()
        model_ids, dims = self.models.model_ids(), self.models.dims()
        report = SyncReport(collection=self.collection, rebuilt=rebuild)
        report.failed.extend(
            FailedProduct(id=r.product_id, reason=r.error or "") for r in catalog.invalid
        )

        # A new collection stores one row per photo when a product has several, a plain vector
        # otherwise (faster); an existing one keeps its layout.
        self._layout = layout_for(len(p.image_refs()) for p in catalog.products)
        self._products = len(catalog.products)
        if rebuild:
            opened = Opened(*self._rebuild().target(model_ids, dims))
        else:
            opened = open_or_create(
                self.backend,
                self.collection,
                model_ids,
                dims,
                self.quantization,
                self._layout,
                self.datatype,
            )
            if opened.note:
                report.notes.append(opened.note)
        physical, meta = opened.physical, opened.meta
        report.quantization = meta.quantization
        if meta.quantization != self.quantization:
            setting = self.quantization or "none"
            if self._quantization_setting == "auto":
                setting = f"auto: {setting}"
            report.quantization_note = (
                f"the collection was created with quantization {meta.quantization or 'none'};"
                f" the setting ({setting}) applies when a collection is"
                " created: run `sync --rebuild` to apply it"
            )
        if self._datatype_setting not in ("auto", meta.datatype):
            report.notes.append(
                f"the collection stores its vectors as {meta.datatype}; the setting"
                f" QDRANT_MM_VECTOR_DATATYPE={self._datatype_setting} applies when a collection"
                " is created: run `sync --rebuild` to apply it"
            )

        stored = {
            pl["product_id"]: (pid, pl.get("content_hash"), pl.get("payload_hash"))
            for pid, pl in self.backend.scroll_payload(physical, HASH_FIELDS)
            if "product_id" in pl
        }
        # Streamed: each product is checked, and embedded as soon as a batch is full, so the
        # image bytes of about two batches at most are held in memory (the batch being filled
        # and the photo URLs downloaded ahead of it).
        pending: list[_Work] = []
        payload_only: list[tuple[Product, str, str]] = []
        progress.start(len(catalog.products))
        # Photo URLs are downloaded a batch of products ahead, several at a time; the products
        # are still checked (and reported) one by one, in catalog order.
        products = downloads_ahead(
            catalog.products,
            lambda p: (resolve_image_ref(ref, catalog.base_dir) for ref in p.image_refs()),
            self.limits,
            self.http,
            self.image_downloads,
            ahead=self.batch_size,
        )
        try:
            for product, downloads in products:
                work = self._check(
                    product,
                    catalog,
                    stored,
                    model_ids,
                    report,
                    payload_only,
                    meta.layout,
                    downloads,
                )
                if work is not None:
                    pending.append(work)
                if len(pending) >= self.batch_size:
                    self._embed_and_write(physical, meta, pending, report)
                    progress.advance(len(pending))
                    pending = []
                if work is None:
                    progress.advance()
            if pending:
                self._embed_and_write(physical, meta, pending, report)
                progress.advance(len(pending))
            for batch in _batches(payload_only, self.batch_size):  # type: ignore[assignment]
                self._rewrite_payloads(physical, meta, batch, report)
        finally:
            products.close()  # downloads not yet used are cancelled
            progress.stop()

        usable = report.added + report.updated + report.unchanged
        if not delete:
            report.deletes_skipped = "--no-delete given"
        elif not usable:
            report.deletes_skipped = (
                f"no product of the catalog could be stored ({len(report.failed)} failed):"
                " nothing deleted"
            )
        else:
            self._delete_removed(physical, catalog, stored, report)
        report.index_seconds = self.backend.optimize(physical, watch=progress.build_watch())
        self._update_meta(physical, report, calibrate)
        if rebuild:
            refused = self._rebuild().finish(physical, usable)
            if refused:
                report.rebuilt = False
                report.rebuild_refused = refused
        elif opened.created:
            self._check_still_live(physical)
        if usable:  # `qdrant-mm serve` shows these products' pictures from there by default
            record_catalog_folder(self.backend, self.collection, catalog.base_dir)
        report.seconds = time.perf_counter() - started
        return report

    # --- planning ---------------------------------------------------------------------------
    def _check(
        self,
        product: Product,
        catalog: Catalog,
        stored: dict[str, tuple[str, str | None, str | None]],
        model_ids: dict[str, str],
        report: SyncReport,
        payload_only: list[tuple[Product, str, str, list[Photo]]],
        layout: int,
        downloads: dict[str, Future[bytes]] | None = None,
    ) -> _Work | None:
        """Decide what a product needs: embedding (returns the work), a payload rewrite
        (queued in ``payload_only``), nothing (counted unchanged), or it failed (reported).
        ``downloads``: its photo URLs' downloads, already started."""
        refs = product.image_refs()
        photos: list[Photo] = []
        problems = []
        for ref in refs:
            source = resolve_image_ref(ref, catalog.base_dir)
            started = (downloads or {}).get(source)
            try:
                data = (
                    started.result()
                    if started is not None
                    else read_image_bytes(source, self.limits, self.http)
                )
                photo = Photo(ref, source, data)
            except ImageLoadError as exc:
                problems.append(str(exc))
                if self.broken_image == "keep":
                    for other in (downloads or {}).values():
                        other.cancel()  # the product fails anyway: no more downloads for it
                    break
                continue
            if all(p.digest != photo.digest for p in photos):  # the same file twice: one row
                photos.append(photo)
        if problems and self.broken_image == "keep":
            report.failed.append(FailedProduct(id=product.id, reason="; ".join(problems)))
            return None
        if not refs and self.missing_image == "skip":
            self._skipped.add(product.id)
            report.skipped.append(
                FailedProduct(id=product.id, reason="no photo (QDRANT_MM_MISSING_IMAGE=skip)")
            )
            return None
        if not photos and not product_text(product):
            reason = "no photo, and no title or description to store it from"
            if problems:
                reason = "; ".join(problems) + "; and no title or description to fall back to"
            report.failed.append(FailedProduct(id=product.id, reason=reason))
            return None
        if len(photos) > 1 and layout != LAYOUT_PHOTOS:
            report.fallbacks.append(
                FailedProduct(
                    id=product.id,
                    reason=f"stored with its first photo only of {len(photos)}: collection"
                    f" {self.collection!r} was created for one photo per product; `qdrant-mm"
                    " sync CATALOG --rebuild` stores every photo",
                )
            )
            photos = photos[:1]
        if problems:
            kept = (
                f"stored with {len(photos)} of its {len(refs)} photos"
                if photos
                else ("stored from its text")
            )
            report.fallbacks.append(
                FailedProduct(id=product.id, reason=f"{'; '.join(problems)}: {kept}")
            )
        chash = content_hash(product, [p.digest for p in photos], model_ids)
        phash = payload_hash(product)
        old = stored.get(product.id)
        if old is not None and old[1] == chash:
            if old[2] == phash:
                report.unchanged += 1
            else:
                payload_only.append((product, chash, phash, photos))
            return None
        return _Work(product, point_id(product.id), photos, chash, phash, old is None)

    # --- writing ----------------------------------------------------------------------------
    def _payload(self, product: Product, chash: str, phash: str, **extra: Any) -> dict[str, Any]:
        return {
            **product.payload(),
            "product_id": product.id,
            "content_hash": chash,
            "payload_hash": phash,
            **extra,
        }

    def _embed_and_write(
        self, physical: str, meta: CollectionMeta, batch: Sequence[_Work], report: SyncReport
    ) -> None:
        stored = {
            sp.id: sp
            for sp in self._retrieve(
                physical, [w.pid for w in batch if not w.is_new], vector_names(meta.layout)
            )
        }
        builder = RowBuilder(self.models, meta.dims, self.limits)
        ready: list[tuple[_Work, RowsWork, list]] = []
        for w in batch:
            old = stored.get(w.pid)
            rw = RowsWork(
                w.product,
                list(w.photos),
                old.payload if old else None,
                old.vectors.get(FUSED) if old else None,
            )
            try:
                decoded = builder.decode(rw, drop_broken=self.broken_image == "text")
            except ImageLoadError as exc:
                report.failed.append(FailedProduct(id=w.product.id, reason=str(exc)))
                continue
            if rw.dropped:
                kept = (
                    f"stored with {len(rw.photos)} of its {len(w.photos)} photos"
                    if rw.photos
                    else "stored from its text"
                )
                report.fallbacks.append(
                    FailedProduct(
                        id=w.product.id,
                        reason=f"photo(s) {', '.join(rw.dropped)} could not be decoded: {kept}",
                    )
                )
                # The hash stays that of the photos' bytes: the same broken file is not tried
                # again; a new file (other bytes) is.
            if rw.text_only and not product_text(w.product):
                report.failed.append(
                    FailedProduct(
                        id=w.product.id,
                        reason="no photo could be decoded, and no title or description to"
                        " fall back to",
                    )
                )
                continue
            ready.append((w, rw, decoded))
        if not ready:
            return
        records: list[PointRecord] = []
        for works, rows in self._build_isolating_failures(builder, ready, report):
            for (w, _, _), pr in zip(works, rows, strict=True):
                # The named vectors the collection's layout has: every row (one per photo), or
                # the first row alone (collections created before photo lists), and also the
                # channels (collections of the first layout).
                if meta.layout == LAYOUT_PHOTOS:
                    vectors = {FUSED: pr.rows}
                else:
                    vectors = {FUSED: pr.rows[0]}
                    if meta.layout == LAYOUT_CHANNELS:
                        vectors.update(split(pr.rows[0], meta.dims))
                payload = self._payload(w.product, w.content_hash, w.payload_hash, **pr.payload)
                records.append(PointRecord(w.pid, vectors, payload))
                report.photos_embedded += pr.photos_embedded
                self._max_photos = max(self._max_photos, len(pr.rows))
                report.stored_from_text += pr.payload[VECTORS_FROM] == FROM_TEXT
        if not records:
            return
        self._mark_calibration_stale(physical)
        self._upsert(physical, records)
        by_pid = {w.pid: w for w, _, _ in ready}
        for r in records:
            if by_pid[r.id].is_new:
                report.added += 1
            else:
                report.updated += 1
        report.embedded += len(records)

    def _build_isolating_failures(self, builder: RowBuilder, ready, report: SyncReport):
        """Rows of a batch; if the batch fails, of its products one by one, so that only the
        product that breaks a model is reported failed."""
        try:
            rows = builder.build([rw for _, rw, _ in ready], [d for _, _, d in ready])
        except Exception:  # noqa: BLE001 - a model failure on one input must not stop the rest
            rows = None
        if rows is not None:
            yield ready, rows
            return
        for item in ready:
            try:
                yield [item], builder.build([item[1]], [item[2]])
            except Exception as exc:  # noqa: BLE001
                report.failed.append(
                    FailedProduct(
                        id=item[0].product.id,
                        reason=f"embedding failed: {type(exc).__name__}: {exc}",
                    )
                )

    def _rewrite_payloads(
        self,
        physical: str,
        meta: CollectionMeta,
        batch: Sequence[tuple[Product, str, str, list[Photo]]],
        report: SyncReport,
    ) -> None:
        """Payload-only change: rewrite the point with its stored vectors (no model call). The
        photos are the same bytes in the same order; their references are the catalog's now."""
        by_pid = {point_id(p.id): (p, c, h, photos) for p, c, h, photos in batch}
        stored = self._retrieve(physical, list(by_pid), vector_names(meta.layout))
        records = []
        for sp in stored:
            product, chash, phash, photos = by_pid[sp.id]
            extra = {k: sp.payload[k] for k in ROW_FIELDS if k in sp.payload}
            if "image_refs" in extra and len(extra["image_refs"]) == len(photos):
                extra["image_refs"] = [p.ref for p in photos]
            records.append(
                PointRecord(sp.id, sp.vectors, self._payload(product, chash, phash, **extra))
            )
        self._upsert(physical, records)
        report.updated += len(records)
        missing = set(by_pid) - {r.id for r in records}
        for pid in missing:
            report.failed.append(
                FailedProduct(id=by_pid[pid][0].id, reason="point vanished during sync")
            )

    def _delete_removed(
        self,
        physical: str,
        catalog: Catalog,
        stored: dict[str, tuple[str, str | None, str | None]],
        report: SyncReport,
    ) -> None:
        if not catalog.complete:
            report.deletes_skipped = "the catalog could not be read completely: nothing deleted"
            return
        unidentified = [r for r in catalog.invalid if r.product_id is None]
        if unidentified:
            # A row whose id cannot be read may be a stored product: deleting "what is not in
            # the catalog" could delete it.
            report.deletes_skipped = (
                f"{len(unidentified)} catalog row(s) have no readable id (first: "
                f"{unidentified[0].error}): nothing deleted until they are fixed"
            )
            return
        # a product skipped for having no photo is left out as if its row were not there
        keep = {p.id for p in catalog.products if p.id not in self._skipped} | {
            r.product_id for r in catalog.invalid if r.product_id is not None
        }
        gone = [pid for product_id, (pid, _, _) in stored.items() if product_id not in keep]
        if len(gone) > self.max_delete_fraction * len(stored):
            report.deletes_held_back = len(gone)
            report.deletes_skipped = (
                f"{len(gone)} of the {len(stored)} stored products are not in the catalog,"
                f" more than the share one sync may delete ({self.max_delete_fraction:g}):"
                " nothing deleted. If they really left the catalog, sync again with"
                " --max-delete-fraction 1 (or QDRANT_MM_MAX_DELETE_FRACTION=1)"
            )
            return
        if gone:
            self._mark_calibration_stale(physical)
        for batch in _batches(gone, 512):
            self._delete(physical, batch)
        report.deleted = len(gone)
        if len(gone) > defaults.DELETE_NOTE_FRACTION * len(stored):
            # within the share one sync may delete, but large: an export cut short at a line
            # boundary looks like this, so it is said, with the way back
            report.notes.append(
                f"deleted {len(gone)} of the {len(stored)} stored products"
                f" ({100 * len(gone) / len(stored):.0f}%), as the catalog no longer lists them;"
                " if the export was cut short, sync the whole catalog again to restore them"
            )

    def _mark_calibration_stale(self, physical: str) -> None:
        """Before the first vector of this sync changes: record that the statistics are no
        longer those of what is stored, so that a sync killed from here on is followed by one
        that computes them again (even if it finds nothing left to change), and that the
        counts are not yet those of what is stored (``writing``: search counts for itself)."""
        if self._stale_marked:
            return
        meta = read_collection_meta(self.backend, physical)
        if meta is not None and not (meta.calibration_stale and meta.writing):
            meta.calibration_stale = meta.writing = True
            self.backend.write_meta(meta_key(physical), meta.model_dump())
        self._stale_marked = True

    def _update_meta(self, physical: str, report: SyncReport, calibrate: bool) -> None:
        """Record the point count (search picks exact or HNSW by it) and compute the
        calibration statistics again when vectors changed since they were computed (in this
        sync or in one that was killed), or there are none yet."""
        meta = read_collection_meta(self.backend, physical)
        if meta is None:
            return
        before = meta.model_dump()
        meta.points = self.backend.count(physical)
        meta.text_only = self.backend.count(physical, source_filter(None, text_only=True))
        meta.max_photos = max(meta.max_photos, self._max_photos)  # an upper bound
        meta.writing = False
        # (this sync's own changes count even if a concurrent sync cleared the flag meanwhile)
        if calibrate and (meta.calibration is None or meta.calibration_stale or self._stale_marked):
            # None when fewer than 2 stored products have a title: then there are no
            # statistics of what is stored, rather than those of an earlier catalog.
            stats = compute_statistics(self.backend, physical, self.models, meta.dims)
            meta.calibration, meta.source_stats = stats.calibration, stats.source_stats
            meta.calibration_stale = False
            report.calibrated = meta.calibration is not None
        if meta.model_dump() != before:
            self.backend.write_meta(meta_key(physical), meta.model_dump())

    @property
    def quantization(self) -> Quantization | None:
        """What a collection created now gets: the setting, ``"auto"`` resolved against what
        the backend can create (a server's version is read once, by the backend) and the
        layout the catalog needs."""
        return new_collection_quantization(self.backend, self._quantization_setting, self._layout)

    @property
    def datatype(self) -> str:
        """How a collection created now stores the originals of ``fused``: the setting,
        ``"auto"`` resolved for the layout and size of the catalog being synced."""
        return resolve_datatype(
            self._datatype_setting, self._layout, self._products, self._exact_below
        )

    def _rebuild(self) -> Rebuild:
        return Rebuild(
            self.backend,
            self.collection,
            self.quantization,
            self.max_delete_fraction,
            self._layout,
            self.datatype,
        )

    def _check_still_live(self, physical: str) -> None:
        """A first sync created ``physical``; if a racing first sync pointed the alias at its
        own collection meanwhile, ours is unreachable: remove it rather than leave an orphan."""
        live = self.backend.resolve(self.collection)
        if live is None or live == physical:
            return
        drop_physical(self.backend, physical)
        raise StoredStateError(
            f"another sync created collection {live!r} for {self.collection!r} while this one"
            f" was syncing into {physical!r}, and the alias now points at it; {physical!r} was"
            " removed so that no orphan is left. Run the sync again: it continues in"
            f" {live!r}"
        )


def _batches(items: Sequence, size: int) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
