"""``sync --rebuild``: a fresh collection built beside the live one, then the alias switched.

The build is recorded (``build:<alias>``: the collection being built and, once it switches, the
one it replaces) so a rebuild killed anywhere is finished or resumed by the next ``--rebuild``.
The switch is refused, and the build removed, when no product could be stored or the new
collection would drop more than ``max_delete_fraction`` of the products the old one held. The
record is checked before anything is deleted: it may only name collections qdrant-mm made for
this alias, so a damaged record can never delete another collection.
"""

from __future__ import annotations

from qdrant_mm.backends.base import Backend
from qdrant_mm.collection import (
    create_physical,
    drop_physical,
    is_physical_of,
    new_physical_name,
    physical_collections,
    read_collection_meta,
)
from qdrant_mm.errors import StoredStateError
from qdrant_mm.schema import LAYOUT, CollectionMeta, meta_key


class Rebuild:
    """The rebuild of the collection (alias) ``collection``."""

    def __init__(
        self,
        backend: Backend,
        collection: str,
        quantization: str | None,
        max_delete_fraction: float,
        layout: int = LAYOUT,
        datatype: str = "float32",
    ) -> None:
        self.layout = layout
        self.datatype = datatype
        self.backend = backend
        self.collection = collection
        self.quantization = quantization
        self.max_delete_fraction = max_delete_fraction

    @property
    def key(self) -> str:
        return f"build:{self.collection}"

    def _record(self) -> dict | None:
        """The record of an unfinished rebuild, checked: it names only collections made for
        this alias, else :class:`StoredStateError` (and nothing is deleted)."""
        pending = self.backend.read_meta(self.key)
        if pending is None:
            return None
        building, previous = pending.get("collection"), pending.get("previous")
        if not (
            isinstance(building, str)
            and is_physical_of(self.collection, building)
            and (previous is None or (isinstance(previous, str) and previous))
            and (previous is None or is_physical_of(self.collection, previous))
        ):
            raise StoredStateError(
                f"the record of the last rebuild of collection {self.collection!r} cannot be"
                f" trusted (it must name collections made for {self.collection!r}, got"
                f" {pending!r}); nothing was deleted. Remove the metadata document"
                f" {self.key!r} and run the rebuild again"
            )
        return pending

    def target(self, model_ids: dict[str, str], dims: dict[str, int]) -> tuple[str, CollectionMeta]:
        """A fresh collection to build into; an interrupted rebuild is resumed (when it was
        started with the same models, dims, quantization, layout and datatype)."""
        pending = self._record()
        if pending and pending["collection"] == self.backend.resolve(self.collection):
            # The last rebuild was killed after its alias switch: it is live, never delete it;
            # finish its clean-up and start a new build.
            self._drop_old(pending.get("previous"), live=pending["collection"])
            self.backend.delete_meta(self.key)
            pending = None
        if pending:
            physical = pending["collection"]
            try:
                meta = read_collection_meta(self.backend, physical)
            except StoredStateError:
                meta = None  # a half-made build: started again below
            if (
                self.backend.resolve(physical) == physical
                and meta is not None
                and meta.model_ids == model_ids
                and meta.dims == dims
                and meta.quantization == self.quantization
                and meta.layout == self.layout
                and meta.datatype == self.datatype
            ):
                return physical, meta
            drop_physical(self.backend, physical)
        physical = new_physical_name(self.collection)
        self.backend.write_meta(self.key, {"collection": physical})
        meta = create_physical(
            self.backend,
            physical,
            model_ids,
            dims,
            self.quantization,
            layout=self.layout,
            datatype=self.datatype,
        )
        return physical, meta

    def _product_ids(self, physical: str) -> set[str]:
        return {
            pl["product_id"]
            for _, pl in self.backend.scroll_payload(physical, ("product_id",))
            if "product_id" in pl
        }

    def _loss(self, physical: str, existing: str | None) -> tuple[str, int, int] | None:
        """The collection the build replaces (the alias's, else the largest one left without
        alias), how many of its products the build lacks and how many it held."""
        if existing:
            held = {existing: self._product_ids(existing)}
        else:
            olds = [p for p in physical_collections(self.backend, self.collection) if p != physical]
            held = {old: self._product_ids(old) for old in olds}
        if not held:
            return None
        old = max(held, key=lambda p: len(held[p]))
        return old, len(held[old] - self._product_ids(physical)), len(held[old])

    def _refusal(self, physical: str, existing: str | None, usable: int) -> str | None:
        """Why the alias must not switch to ``physical`` (None: it may)."""
        hint = (
            " If those products really left the catalog, rebuild with --max-delete-fraction 1"
            " (or QDRANT_MM_MAX_DELETE_FRACTION=1)"
        )
        if existing == self.collection and self.max_delete_fraction < 1:
            # A plain collection (not made by qdrant-mm) holds the name: the alias can only
            # take it by deleting it, whatever it holds.
            points = self.backend.count(existing)
            if points:
                return (
                    f"collection {existing!r} was not made by qdrant-mm and holds {points}"
                    f" points; the alias can only take its name by deleting it: the new build"
                    " was removed and it still serves. To replace it, rebuild with"
                    " --max-delete-fraction 1"
                )
        loss = self._loss(physical, existing)
        if loss is None or not loss[2]:
            return None
        old, lost, held = loss
        if not usable:
            why = "no product of the catalog could be stored"
        elif lost > self.max_delete_fraction * held:
            why = (
                f"the rebuilt collection lacks {lost} of the {held} products of {old!r},"
                f" more than the share one sync may delete ({self.max_delete_fraction:g})"
            )
        else:
            return None
        return (
            f"{why}: the alias was not switched, {old!r} still serves and the new build was"
            f" removed.{hint}"
        )

    def finish(self, physical: str, usable: int) -> str | None:
        """Switch the alias to the finished build, then drop the old collection (and any other
        left without alias); or, when :meth:`_refusal` says so, remove the build and return why.
        The record names both collections, so a crash anywhere in here is finished by the next
        ``--rebuild``."""
        existing = self.backend.resolve(self.collection)
        refused = self._refusal(physical, existing, usable)
        if refused:
            drop_physical(self.backend, physical)
            self.backend.delete_meta(self.key)
            return refused
        if existing == self.collection:
            self.backend.delete_collection(self.collection)
            existing = None
        self.backend.write_meta(self.key, {"collection": physical, "previous": existing})
        self.backend.switch_alias(self.collection, physical)
        self._drop_old(existing, live=physical)
        for orphan in physical_collections(self.backend, self.collection):
            self._drop_old(orphan, live=physical)
        self.backend.delete_meta(self.key)
        return None

    def _drop_old(self, old: str | None, live: str) -> None:
        if old and old != live and self.backend.resolve(old) == old:
            self.backend.delete_collection(old)
        if old and old != live:
            self.backend.delete_meta(meta_key(old))
