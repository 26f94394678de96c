"""The HTTP service (`qdrant-mm serve`)."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Annotated

import typer

from qdrant_mm.cli.common import CollectionOption, fail, handles_errors, open_mm

#: uvicorn's log levels.
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


@handles_errors
def serve(
    host: Annotated[
        str, typer.Option(metavar="HOST", help="Address to listen on (0.0.0.0 for every interface)")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=1, max=65535, metavar="PORT", help="Port to listen on")
    ] = 8000,
    collection: CollectionOption = None,
    log_level: Annotated[
        str, typer.Option(metavar="LEVEL", help="uvicorn log level (debug, info, warning, error)")
    ] = "info",
    qrels: Annotated[
        Path | None,
        typer.Option(
            metavar="QRELS",
            help="Labelled queries (JSONL, as for evaluate) for the page's live metrics",
        ),
    ] = None,
    qrels_depth: Annotated[
        int,
        typer.Option(
            min=10, max=1000, metavar="N", help="Candidates per channel and labelled query"
        ),
    ] = 200,
) -> None:
    """Run the HTTP service: search API, weight profiles, images and the tuning page at /.

    Settings it reads (environment or .env): QDRANT_MM_API_KEY (needed to change weight profiles
    over HTTP; without it they are read-only), QDRANT_MM_IMAGE_ROOT (the folder product images
    are served from; unset: the catalog folders recorded by sync), QDRANT_MM_QDRANT_URL /
    QDRANT_MM_QDRANT_PATH (where the collection is), and the model settings sync used."""
    try:
        import uvicorn

        from qdrant_mm.service.app import create_app
    except ImportError as exc:
        fail(f"the service needs the 'service' extra: pip install 'qdrant-mm[service]' ({exc})")
    from qdrant_mm.evaluation.qrels import read_qrels

    if log_level.lower() not in LOG_LEVELS:
        fail(f"--log-level {log_level!r}: use one of {', '.join(LOG_LEVELS)}")
    log_level = log_level.lower()
    _check_port_free(host, port)  # said now, not after the models have loaded
    judged = read_qrels(qrels) if qrels is not None else None  # a bad file stops the start
    _log_like_uvicorn(log_level)
    mm, name = open_mm(collection)
    with mm:
        app = create_app(mm, name, qrels=judged, qrels_depth=qrels_depth)
        uvicorn.run(app, host=host, port=port, log_level=log_level)


def _check_port_free(host: str, port: int) -> None:
    """Fail when nothing could listen on ``host:port`` (in use, or an address this machine does
    not have). The probe socket is closed at once; uvicorn binds it again (SO_REUSEADDR, as
    uvicorn does, so a port left in TIME_WAIT by a stopped service is free)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        fail(f"--host {host!r}: not an address to listen on ({exc})")
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc})"
            fail(
                f"port {port} on {host} {why}: stop what listens there or choose another"
                " with --port"
            )


def _log_like_uvicorn(level: str) -> None:
    """Show the service's own lines (ready, where images come from, the labelled set loaded)
    beside uvicorn's, at the same level and in the same shape."""
    import logging

    logger = logging.getLogger("qdrant_mm")
    if not any(getattr(h, "name", None) == "qdrant-mm serve" for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.set_name("qdrant-mm serve")
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False  # a library's basicConfig on the root would print them twice
    known = logging.getLevelName(level.upper())
    logger.setLevel(known if isinstance(known, int) else logging.INFO)
