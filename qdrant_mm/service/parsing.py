"""Reading requests: capped bodies, JSON with a nesting limit, multipart and urlencoded forms,
and the loose parameter forms of a search (``filter`` lists, weights as text, booleans).

Everything a client sends is checked here before it reaches the searcher, and every problem is
a :class:`~qdrant_mm.service.errors.ServiceError` (or a project error) naming the field: a
malformed, oversized or absurdly nested body is a 400 or 413, never a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser

from qdrant_mm.errors import ConfigError, WeightsError
from qdrant_mm.profiles import check_name
from qdrant_mm.service.errors import ServiceError
from qdrant_mm.service.schemas import SearchRequest
from qdrant_mm.weights import Weights

#: Bytes a multipart body may carry beyond the image itself (boundaries, the other fields).
FORM_OVERHEAD = 64 * 1024
#: Largest JSON body (a search: query, weights and a filter; a weight profile).
MAX_JSON_BODY = 1024 * 1024
#: Deepest nesting of objects and arrays a JSON body may have (a Qdrant filter needs a few).
MAX_JSON_DEPTH = 64
MAX_QUERY_CHARS = 2000
FORM_FIELDS = frozenset(
    {"query", "limit", "offset", "weights", "profile", "filter", "calibrate", "image"}
)
NOT_FETCHED = "the service does not fetch image URLs or paths"

M = TypeVar("M", bound=BaseModel)


@dataclass
class SearchArgs:
    """One search, whichever way it was sent (query string, JSON body or form)."""

    query: str | None
    image: bytes | None = None
    limit: int = 10
    offset: int = 0
    weights: Any = None
    profile: str | None = None
    filter: Any = None
    calibrate: bool | None = None


# --- bodies ---------------------------------------------------------------------------------------
async def read_body(request: Request, cap: int, what: str) -> bytes:
    """The request body, refusing (413) one that declares or sends more than ``cap`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ServiceError(400, f"invalid Content-Length {declared!r}")
        if int(declared) > cap:
            raise ServiceError(
                413, f"{what} is {int(declared)} bytes, over the limit of {cap} bytes"
            )
    buf = bytearray()
    async for chunk in request.stream():
        buf.extend(chunk)
        if len(buf) > cap:
            raise ServiceError(413, f"{what} is over the limit of {cap} bytes")
    return bytes(buf)


def _too_deep(what: str) -> ServiceError:
    return ServiceError(
        400, f"{what} is nested too deeply: more than {MAX_JSON_DEPTH} levels of objects/arrays"
    )


def _check_depth(value: Any, what: str) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise _too_deep(what)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def loads_json(text: str | bytes, what: str) -> Any:
    """Parse JSON; a syntax error or nesting deeper than :data:`MAX_JSON_DEPTH` is a 400
    naming ``what`` (Python's parser overflows its stack on ``[[[[...``: RecursionError)."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ServiceError(400, f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise _too_deep(what) from None
    except ValueError:  # an integer of over 4,300 digits (Python's conversion limit)
        raise ServiceError(400, f"{what}: a number in it has over 4,300 digits") from None
    _check_depth(value, what)
    return value


def validation_message(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()]
    return "invalid request: " + "; ".join(parts)


async def read_json_object(request: Request, model: type[M], what: str = "the JSON body") -> M:
    """The body as a JSON object validated by ``model`` (capped at :data:`MAX_JSON_BODY`)."""
    data = await read_json_dict(request, what)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ServiceError(400, validation_message(exc)) from None


async def read_json_dict(request: Request, what: str = "the JSON body") -> dict[str, Any]:
    body = await read_body(request, MAX_JSON_BODY, what)
    data = loads_json(body or b"null", what)
    if not isinstance(data, dict):
        raise ServiceError(400, f"{what} must be an object")
    return data


async def parse_form(request: Request, body: bytes, content_type: str) -> FormData:
    async def once() -> AsyncIterator[bytes]:
        yield body

    try:
        if content_type.startswith("multipart/form-data"):
            return await MultiPartParser(
                request.headers, once(), max_files=1, max_fields=32
            ).parse()
        return await FormParser(request.headers, once()).parse()
    except MultiPartException as exc:
        raise ServiceError(400, f"cannot read the form: {exc.message}") from None


# --- search parameters ----------------------------------------------------------------------------
def filter_conditions(values: Iterable[str] | None) -> list[str] | None:
    """Repeated ``filter`` parameters, each possibly ``a=1,b=2``, as one list of conditions."""
    out = [c.strip() for v in values or () for c in re.split(r"[,;]", v) if c.strip()]
    return out or None


def weights_input(raw: Any) -> Weights | None:
    """Weights as sent: an object, a list, ``"0.5,0.3,0.2"``, ``"blip=1"`` or JSON text."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, str) and raw.strip().startswith("{"):
        try:
            raw = loads_json(raw, "weights")
        except ServiceError as exc:
            raise WeightsError(exc.message) from None
        if not isinstance(raw, dict):
            raise WeightsError("weights must be an object of blip, clip, interrogator")
    return Weights.parse(raw)


def profile_name(name: str) -> str:
    """A profile name from a request: a bad one is the client's mistake (400)."""
    try:
        return check_name(name)
    except ConfigError as exc:
        raise ServiceError(400, str(exc)) from None


def parse_bool(name: str, raw: str | None) -> bool | None:
    if raw is None or raw == "":
        return None
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ServiceError(400, f"{name} must be true or false, got {raw!r}")


def parse_int(name: str, raw: str | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ServiceError(400, f"{name} must be an integer, got {raw!r}") from None


# --- POST /search bodies --------------------------------------------------------------------------
async def search_from_json(request: Request) -> SearchArgs:
    data = await read_json_dict(request)
    if "image" in data:
        raise ServiceError(
            400,
            "search by photo takes the image file as multipart/form-data (field 'image'); "
            + NOT_FETCHED,
        )
    try:
        req = SearchRequest.model_validate(data)
    except ValidationError as exc:
        raise ServiceError(400, validation_message(exc)) from None
    return SearchArgs(
        query=req.query,
        limit=req.limit,
        offset=req.offset,
        weights=req.weights,
        profile=req.profile,
        filter=filter_conditions([req.filter]) if isinstance(req.filter, str) else req.filter,
        calibrate=req.calibrate,
    )


async def _uploaded_image(upload: Any, max_bytes: int) -> bytes | None:
    if isinstance(upload, UploadFile):
        image = await upload.read(max_bytes + 1)
        if len(image) > max_bytes:
            raise ServiceError(
                413, f"the image is over the limit of {max_bytes} bytes (QDRANT_MM_IMAGE_MAX_BYTES)"
            )
        if not image and not upload.filename:
            return None  # an empty file input
        if not image:
            raise ServiceError(400, "the uploaded image is empty (0 bytes)")
        return image
    if isinstance(upload, str) and upload.strip():
        raise ServiceError(400, "'image' must be an uploaded file; " + NOT_FETCHED)
    return None


async def search_from_form(request: Request, content_type: str, max_bytes: int) -> SearchArgs:
    """A multipart or urlencoded search form; ``image`` (a file) searches by photo."""
    body = await read_body(request, max_bytes + FORM_OVERHEAD, "the upload")
    form = await parse_form(request, body, content_type)
    try:
        unknown = sorted(set(form.keys()) - FORM_FIELDS)
        if unknown:
            raise ServiceError(
                400,
                f"unknown form field(s) {', '.join(unknown)};"
                f" fields are {', '.join(sorted(FORM_FIELDS))}",
            )
        image = await _uploaded_image(form.get("image"), max_bytes)

        def field(name: str) -> str | None:
            v = form.get(name)
            return v if isinstance(v, str) else None

        query = field("query")
        return SearchArgs(
            query=query if (query and query.strip()) or image is None else None,
            image=image,
            limit=parse_int("limit", field("limit"), 10),
            offset=parse_int("offset", field("offset"), 0),
            weights=field("weights"),
            profile=field("profile") or None,
            filter=filter_conditions(v for v in form.getlist("filter") if isinstance(v, str)),
            calibrate=parse_bool("calibrate", field("calibrate")),
        )
    finally:
        await form.close()


async def search_from_body(request: Request, max_bytes: int) -> SearchArgs:
    """The search a ``POST /search`` carries, by its Content-Type."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("application/json"):
        return await search_from_json(request)
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        return await search_from_form(request, content_type, max_bytes)
    raise ServiceError(
        415,
        "send application/json, or multipart/form-data (with an 'image' file to search by"
        f" photo); got {content_type or 'no Content-Type'}",
    )
