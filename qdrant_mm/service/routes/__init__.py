"""The service's routes, one module per group: search, products and images, weight profiles,
health, and the tuning page. :mod:`qdrant_mm.service.api` puts them together."""
