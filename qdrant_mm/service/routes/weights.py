"""Weight profiles: list and read them (open), create, change and delete them (``X-API-Key``).

Profiles are stored in Qdrant, so every service on the collection sees a change on its next
query."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from qdrant_mm.service.deps import (
    ProfileNameDep,
    ProfilesDep,
    StateDep,
    require_api_key,
)
from qdrant_mm.service.errors import ServiceError
from qdrant_mm.service.parsing import read_json_object
from qdrant_mm.service.schemas import ErrorOut, ProfileBody, ProfileOut, profile_out
from qdrant_mm.weights import CHANNELS, Weights

router = APIRouter(prefix="/weights", tags=["weights"])

WRITE_ERRORS = {401: {"model": ErrorOut}, 403: {"model": ErrorOut}}


@router.get("", response_model=list[ProfileOut])
def list_profiles(profiles: ProfilesDep) -> list[ProfileOut]:
    """Every weight profile of the collection."""
    return [profile_out(p) for p in profiles.list()]


@router.get("/{profile}", response_model=ProfileOut, responses={404: {"model": ErrorOut}})
def get_profile(name: ProfileNameDep, profiles: ProfilesDep) -> ProfileOut:
    found = profiles.get(name)
    if found is None:
        raise ServiceError(404, f"no weight profile {name!r}")
    return profile_out(found)


@router.put(
    "/{profile}",
    response_model=ProfileOut,
    dependencies=[Depends(require_api_key)],
    responses=WRITE_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ProfileBody.model_json_schema()}},
        }
    },
)
async def put_profile(
    request: Request, name: ProfileNameDep, state: StateDep, profiles: ProfilesDep
) -> ProfileOut:
    """Create or change a profile (needs X-API-Key). Weights are normalised to sum to 1;
    every service using the collection applies the change on its next query."""
    body = await read_json_object(request, ProfileBody)

    def store() -> ProfileOut:
        w = Weights.from_mapping({ch: getattr(body, ch) for ch in CHANNELS})
        if body.calibrate and not state.ready_searcher().meta.calibration:
            raise ServiceError(
                400,
                "calibrate asked for, but the collection has no score statistics yet: they are"
                " computed by a `qdrant-mm sync` that adds or changes products",
            )
        return profile_out(profiles.set(name, w, body.calibrate))

    return await run_in_threadpool(store)


@router.delete(
    "/{profile}",
    dependencies=[Depends(require_api_key)],
    responses={**WRITE_ERRORS, 404: {"model": ErrorOut}},
)
def delete_profile(name: ProfileNameDep, profiles: ProfilesDep) -> dict[str, str]:
    """Delete a profile (needs X-API-Key)."""
    if not profiles.delete(name):
        raise ServiceError(404, f"no weight profile {name!r}")
    return {"deleted": name}
