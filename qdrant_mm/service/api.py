"""All the routes of the service on one router (the app factory includes it)."""

from __future__ import annotations

from fastapi import APIRouter

from qdrant_mm.service.routes import (
    evaluate,
    health,
    page,
    products,
    search,
    sensitivity,
    weights,
)

api_router = APIRouter()
api_router.include_router(search.router)
api_router.include_router(products.router)
api_router.include_router(weights.router)
api_router.include_router(evaluate.router)
api_router.include_router(sensitivity.router)
api_router.include_router(health.router)
api_router.include_router(page.router)
