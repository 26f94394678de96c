"""What a sync reports: its counts, the products that failed, were skipped or fell back, and
the hooks through which it reports progress (the CLI plugs a progress bar in)."""

from __future__ import annotations

from pydantic import BaseModel

from qdrant_mm.backends.base import BuildWatch


class FailedProduct(BaseModel):
    id: str | None
    reason: str


class SyncReport(BaseModel):
    collection: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: list[FailedProduct] = []
    embedded: int = 0
    #: Photos the photo models ran on (a product whose photo list is unchanged runs none).
    photos_embedded: int = 0
    #: Products of this sync stored from their text (they have no photo, or, with
    #: ``broken_image="text"``, none of their photos could be read).
    stored_from_text: int = 0
    #: Products not stored because they have no photo and ``missing_image="skip"``.
    skipped: list[FailedProduct] = []
    #: Products stored without some (or all) of their photos, which could not be read
    #: (``broken_image="text"``): the reason, and what was stored instead.
    fallbacks: list[FailedProduct] = []
    index_seconds: float = 0.0
    seconds: float = 0.0
    deletes_skipped: str | None = None
    #: Products not in the catalog that were kept because deleting them all would have removed
    #: more than ``max_delete_fraction`` of the stored products (reason in deletes_skipped).
    deletes_held_back: int = 0
    rebuilt: bool = False
    #: Why ``rebuild=True`` did not switch the alias (the old collection still serves).
    rebuild_refused: str | None = None
    #: What the user should know: stored state repaired on the way (an alias pointed at a
    #: collection found), a large delete within the allowed share, a setting that applies only
    #: to a new collection.
    notes: list[str] = []
    calibrated: bool = False
    quantization: str | None = None  # of the collection synced (chosen when it was created)
    quantization_note: str | None = None  # set when the setting differs from the collection

    @property
    def ok(self) -> bool:
        """Every product stored and everything asked for done (no deletes held back, no
        rebuild refused)."""
        return not self.failed and not self.deletes_held_back and self.rebuild_refused is None


class Progress:
    """What sync reports as it goes; the CLI plugs a progress bar in."""

    def start(self, total: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def stop(self) -> None: ...

    def build_watch(self) -> BuildWatch | None:
        """How the index build after the writes is reported (None: not at all). Called after
        :meth:`stop`; the build may take many minutes on a large collection."""
        return None
