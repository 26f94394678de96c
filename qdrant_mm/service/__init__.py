"""HTTP service for qdrant-mm: search API, weight profiles, product images and a tuning page.

Build the app with :func:`create_app` (``qdrant-mm serve`` does it from the settings). Needs the
``service`` extra: ``pip install 'qdrant-mm[service]'``.
"""

from __future__ import annotations

from qdrant_mm.service.app import create_app

__all__ = ["create_app"]
