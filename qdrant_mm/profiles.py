"""Named weight profiles stored in Qdrant beside the collection.

Every process using the collection reads the profile at query time, so ``qdrant-mm weights set``
(or ``PUT /weights/NAME``) changes the ranking of running services on their next query.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from qdrant_mm.backends.base import Backend
from qdrant_mm.errors import ConfigError, StoredStateError, WeightsError, stored_document_problems
from qdrant_mm.weights import Weights

DEFAULT_PROFILE = "default"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class Profile(BaseModel):
    name: str
    weights: Weights
    calibrate: bool = False
    updated_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat())


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise ConfigError(f"invalid profile name {name!r}: 1-64 letters, digits, '.', '_' or '-'")
    return name


class ProfileStore:
    """Profiles of one collection (by its user-facing name, so they survive ``--rebuild``)."""

    def __init__(self, backend: Backend, collection: str) -> None:
        self.backend = backend
        self.collection = collection

    def _key(self, name: str) -> str:
        return f"profile:{self.collection}:{check_name(name)}"

    def get(self, name: str) -> Profile | None:
        raw = self.backend.read_meta(self._key(name))
        return self._load(name, raw) if raw is not None else None

    def set(self, name: str, weights: Weights, calibrate: bool = False) -> Profile:
        profile = Profile(name=check_name(name), weights=weights, calibrate=calibrate)
        self.backend.write_meta(self._key(name), profile.model_dump())
        return profile

    def delete(self, name: str) -> bool:
        return self.backend.delete_meta(self._key(name))

    def list(self) -> list[Profile]:
        prefix = f"profile:{self.collection}:"
        return sorted(
            (
                self._load(key.removeprefix(prefix), raw)
                for key, raw in self.backend.list_meta(prefix).items()
            ),
            key=lambda p: p.name,
        )

    def _load(self, name: str, raw: dict[str, Any]) -> Profile:
        """A stored profile, checked as strictly as one being set: a document with missing or
        wrong fields (or weights a user could not set) is named, never used."""
        try:
            profile = Profile.model_validate(raw)
            weights = Weights.from_mapping(profile.weights.as_dict())
        except (ValidationError, WeightsError) as exc:
            problem = stored_document_problems(exc)
            raise StoredStateError(
                f"weight profile {name!r} of collection {self.collection!r} cannot be trusted"
                f" ({problem}); set it again with `qdrant-mm weights set {name} A,B,C"
                f" --collection {self.collection}` or remove it with `qdrant-mm weights delete"
                f" {name} --collection {self.collection}`"
            ) from None
        if profile.name != name:
            raise StoredStateError(
                f"weight profile {name!r} of collection {self.collection!r} cannot be trusted"
                f" (it is stored under that name but says it is {profile.name!r}); set it again"
                f" with `qdrant-mm weights set {name} A,B,C --collection {self.collection}`"
            )
        if abs(sum(profile.weights.as_dict().values()) - 1.0) <= 1e-9:
            return profile  # as stored: normalising again could move the last bits
        return profile.model_copy(update={"weights": weights})
