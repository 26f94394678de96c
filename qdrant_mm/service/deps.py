"""Dependencies of the routes: the app's shared state, the ready searcher, the profile store
and the API key check for profile changes. Each reads the app's state; nothing is global."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from qdrant_mm.profiles import ProfileStore
from qdrant_mm.search import Searcher
from qdrant_mm.service.errors import ServiceError
from qdrant_mm.service.parsing import profile_name
from qdrant_mm.service.state import ServiceState

API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="QDRANT_MM_API_KEY of the service"
)
NO_KEY_MESSAGE = (
    "profile changes are disabled: no API key is configured; set QDRANT_MM_API_KEY on the"
    " service and send it in the X-API-Key header"
)


def get_state(request: Request) -> ServiceState:
    return request.app.state.qdrant_mm


StateDep = Annotated[ServiceState, Depends(get_state)]


def get_ready_searcher(state: StateDep) -> Searcher:
    """The searcher once the collection exists and matches the models (503/409 otherwise)."""
    return state.ready_searcher()


ReadySearcherDep = Annotated[Searcher, Depends(get_ready_searcher)]


def get_profiles(state: StateDep) -> ProfileStore:
    return state.profiles()


ProfilesDep = Annotated[ProfileStore, Depends(get_profiles)]


def get_profile_name(profile: str) -> str:
    """The ``{profile}`` of the path, checked (a bad name is a 400)."""
    return profile_name(profile)


ProfileNameDep = Annotated[str, Depends(get_profile_name)]


def require_api_key(
    state: StateDep, key: Annotated[str | None, Depends(API_KEY_HEADER)] = None
) -> None:
    """Profile changes need ``X-API-Key`` equal to ``QDRANT_MM_API_KEY`` (constant-time
    comparison); with no key configured they are refused."""
    configured = state.mm.settings.api_key
    if not configured:
        raise ServiceError(403, NO_KEY_MESSAGE)
    if not key:
        raise ServiceError(401, "this needs the API key in the X-API-Key header")
    if not hmac.compare_digest(key.encode("utf-8"), configured.encode("utf-8")):
        raise ServiceError(401, "wrong API key (X-API-Key)")
