"""Metrics of the loaded labelled query set, live: ``/evaluate`` (one weighting, overall and per
query), ``/evaluate/grid`` (one metric over the weight simplex), ``/evaluate/queries`` (the set,
and one query's ranking), ``POST /evaluate/qrels`` (upload a set) and ``POST /evaluate/tune``
(learn weights on it; saving them needs ``X-API-Key`` and better held-out metrics).

The numbers equal ``qdrant-mm evaluate FILE --weights a,b,c --k K --definitions D --json``
(:mod:`qdrant_mm.evaluation.live` says when and why); errors are 400s naming the argument.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from qdrant_mm.errors import ConfigError
from qdrant_mm.evaluation.metrics import DEFINITIONS, check_definitions, parse_metric
from qdrant_mm.search import MAX_LIMIT
from qdrant_mm.service.deps import StateDep, require_api_key
from qdrant_mm.service.errors import ServiceError
from qdrant_mm.service.parsing import profile_name, read_body, read_json_object, weights_input
from qdrant_mm.service.schemas import ChannelScores, ErrorOut, WeightsOut
from qdrant_mm.service.state import ServiceState
from qdrant_mm.service.workbench import MAX_UPLOAD_BYTES
from qdrant_mm.weights import CHANNELS, Weights

router = APIRouter(prefix="/evaluate", tags=["evaluate"], responses={400: {"model": ErrorOut}})

WeightsQ = Annotated[
    str | None, Query(description="α,β,γ: 0.5,0.3,0.2 (default: the collection's default)")
]
KQ = Annotated[str, Query(description="Cut-offs K, e.g. 10 or 1,5,10 (as evaluate --k)")]
DefinitionsQ = Annotated[str, Query(description=f"Metric definitions: {' or '.join(DEFINITIONS)}")]
CheckQ = Annotated[
    Literal["auto", "engine"],
    Query(description="auto: re-rank candidates where certified; engine: search every query"),
]
GRID_STEPS = (0.05, 0.025, 0.02, 0.01)


def parse_ks(text: str) -> list[int]:
    """``--k`` of evaluate: comma-separated integers >= 1, sorted and deduplicated."""
    try:
        ks = sorted({int(k) for k in text.split(",") if k.strip()})
    except ValueError:
        raise ServiceError(400, f"k must be comma-separated integers, got {text!r}") from None
    if not ks or ks[0] < 1 or ks[-1] > MAX_LIMIT:
        raise ServiceError(400, f"k needs integers from 1 to {MAX_LIMIT}, got {text!r}")
    return ks


def parse_definitions(text: str) -> Any:
    try:
        return check_definitions(text)
    except ConfigError as exc:
        raise ServiceError(400, str(exc)) from None


def resolve(state: ServiceState, weights: str | None, profile: str | None = None) -> Weights:
    """The weighting asked for (explicit weights, a profile, else the default)."""
    if weights is not None and profile is not None:
        raise ServiceError(400, "give weights or profile, not both")
    w = weights_input(weights)
    name = profile_name(profile) if profile else None
    return state.ready_searcher().resolve_weights(w, name)[0]


@router.get("")
def evaluate(
    state: StateDep,
    weights: WeightsQ = None,
    profile: Annotated[str | None, Query(description="A stored weight profile")] = None,
    k: KQ = "1,5,10",
    definitions: DefinitionsQ = "qdrant-mm",
    check: CheckQ = "auto",
) -> dict[str, Any]:
    """The metrics of one weighting on the loaded set, overall and per query: the
    ``evaluation`` of ``qdrant-mm evaluate FILE --weights ... --json``."""
    ks, defs = parse_ks(k), parse_definitions(definitions)
    live = state.workbench.require(state)
    w = resolve(state, weights, profile)
    result = live.evaluate(w, ks, definitions=defs, check=check)
    counts: dict[str, int] = {}
    for how in result.ranked_by.values():
        counts[how] = counts.get(how, 0) + 1
    return {
        "weights": w.as_dict(),
        "k": ks,
        "definitions": defs,
        "evaluation": result.evaluation.model_dump(),
        "ranked_by": counts,
        "engine_exact": live.engine_exact,
        "took_ms": round(result.seconds * 1000, 3),
    }


@router.get("/grid")
def grid(
    state: StateDep,
    metric: Annotated[str, Query(description="e.g. ndcg@10, p@5, mrr")] = "ndcg@10",
    step: Annotated[float, Query(description=f"Grid step: one of {GRID_STEPS}")] = 0.05,
    k: KQ = "10",
    definitions: DefinitionsQ = "qdrant-mm",
) -> dict[str, Any]:
    """``metric`` at every weighting of the simplex grid of ``step`` (``evaluate --grid``)."""
    ks, defs = parse_ks(k), parse_definitions(definitions)
    try:
        name = str(parse_metric(metric, defs))
    except ConfigError as exc:
        raise ServiceError(400, str(exc)) from None
    if not any(abs(step - s) < 1e-12 for s in GRID_STEPS):
        raise ServiceError(400, f"step must be one of {', '.join(map(str, GRID_STEPS))}")
    bench = state.workbench
    live = bench.require(state)
    key = ("grid", bench.generation, name, step, tuple(ks), defs)
    found = bench.cache.get(key)
    if found is None:
        t0 = time.perf_counter()
        values = live.grid(step, name, ks, definitions=defs)
        points = [{**w.as_dict(), "value": v} for w, v in values]
        found = {"metric": name, "step": step, "k": ks, "definitions": defs, "points": points}
        found["took_ms"] = round((time.perf_counter() - t0) * 1000, 3)
        bench.cache[key] = found
    return found


@router.get("/queries")
def queries(state: StateDep) -> dict[str, Any]:
    """The loaded set: its source and queries (id, kind, text or image name, relevant count)."""
    return state.workbench.summary(state)


@router.get("/queries/{qid}", responses={404: {"model": ErrorOut}})
def query_ranking(
    qid: str,
    state: StateDep,
    weights: WeightsQ = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
) -> dict[str, Any]:
    """One labelled query's ranking under ``weights`` (the shape of ``/search``: each hit's
    matched photo and whether it is text-only, plus its grade in the judgments)."""
    live = state.workbench.require(state)
    if qid not in live.queries:
        raise ServiceError(404, f"no query {qid!r} in the loaded set")
    w = resolve(state, weights)
    hits, how = live.hits(qid, w, limit)
    relevance = live.queries[qid].candidates.relevance
    return {
        "hits": [
            {
                "id": h.id,
                "score": h.score,
                "scores": ChannelScores(**{ch: h.scores.get(ch) for ch in CHANNELS}),
                "payload": h.payload,
                "image_url": state.hit_image_url(h),
                "matched_image": h.matched_image,
                "text_only": h.text_only,
                "grade": relevance.get(h.id, 0),
            }
            for h in hits
        ],
        "weights": WeightsOut(**w.as_dict()),
        "relevant": sum(1 for g in relevance.values() if g > 0),
        "ranked_by": how,
        "limit": limit,
        "offset": 0,
        "calibrated": False,
    }


@router.post("/qrels", responses={413: {"model": ErrorOut}})
async def upload_qrels(request: Request, state: StateDep) -> dict[str, Any]:
    """Load a labelled query set (the JSONL of ``qdrant-mm evaluate``, as the body), replacing
    the loaded one. Image queries name files under ``QDRANT_MM_IMAGE_ROOT``."""
    body = await read_body(request, MAX_UPLOAD_BYTES, "the qrels file")
    name = request.query_params.get("name") or "upload.jsonl"
    bench = state.workbench
    qrels = bench.parse_upload(state, body, name[:200])
    await run_in_threadpool(bench.load, state, qrels)
    return bench.summary(state)


class TuneBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weights: dict[str, float] | str | list[float] = Field(
        description="The current weights: the start point the learned ones are compared with"
    )
    metric: str = "ndcg@10"
    method: Literal["contrastive", "grid"] = "contrastive"
    holdout: float = Field(0.2, gt=0, le=0.9)
    seed: int = 0
    save: str | None = Field(None, description="Store the learned weights as this profile")


@router.post("/tune", responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})
async def tune(request: Request, state: StateDep) -> dict[str, Any]:
    """Learn α, β, γ on the loaded set (``qdrant-mm tune``: train / held-out split) and compare
    them with the current weights and each model alone on the held-out queries. With ``save``
    (needs X-API-Key) they are stored as that profile, unless one of those scores better."""
    body = await read_json_object(request, TuneBody)
    if body.save is not None:
        save = profile_name(body.save)
        require_api_key(state, request.headers.get("X-API-Key"))
    else:
        save = None

    def run() -> dict[str, Any]:
        from qdrant_mm.evaluation.tuning import tune as run_tuning

        live = state.workbench.require(state)
        start = weights_input(body.weights)
        try:
            metric = str(parse_metric(body.metric))
            report = run_tuning(
                live.candidates(),
                method=body.method,
                metric=metric,
                holdout=body.holdout,
                seed=body.seed,
                start=start,
            )
        except (ConfigError, ValueError) as exc:
            raise ServiceError(400, f"tuning failed: {exc}") from None
        better = report.better_than_tuned()
        saved = None
        if save is not None and not better:
            state.profiles().set(save, report.weights)
            saved = save
        data = report.model_dump(mode="json")
        data["better_than_tuned"] = [r.label for r in better]
        data["saved_as"] = saved
        if save is not None and better:
            split = report.judged_on.replace("_", "-")
            names = ", ".join(r.label for r in better)
            raise ServiceError(
                409,
                f"not saved as profile {save!r}: the learned weights score {report.metric}"
                f" below {names} on the {split} queries",
                report=data,
            )
        return data

    return await run_in_threadpool(run)
