"""The HTTP service (`qdrant-mm serve`)."""

from __future__ import annotations

from typing import Annotated

import typer

from qdrant_mm.cli.common import fail, handles_errors, open_mm


@handles_errors
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0 for every interface)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    collection: Annotated[str | None, typer.Option(help="Collection (alias) to search")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the HTTP service: search API, weight profiles, images and the tuning page at /."""
    try:
        import uvicorn

        from qdrant_mm.service.app import create_app
    except ImportError as exc:
        fail(f"the service needs the 'service' extra: pip install 'qdrant-mm[service]' ({exc})")
    mm, name = open_mm(collection)
    with mm:
        uvicorn.run(create_app(mm, name), host=host, port=port, log_level=log_level)
