"""Random-weight models for working offline (`qdrant-mm demo-models`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from qdrant_mm.cli.common import err, fail, handles_errors


@handles_errors
def demo_models(
    folder: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", help="Where the models are built (and found again next time)"
        ),
    ] = Path(".qdrant-mm/models"),
    size: Annotated[
        str,
        typer.Option(
            metavar="SIZE", help="tiny (seconds to build) or base (real-size architectures)"
        ),
    ] = "tiny",
    env_file: Annotated[
        Path,
        typer.Option(metavar="PATH", help="The .env file that later commands in this folder read"),
    ] = Path(".env"),
    collection: Annotated[
        str,
        typer.Option(
            metavar="NAME",
            help="Collection the demo models sync into (kept apart from real ones)",
        ),
    ] = "products_random_models",
) -> None:
    """Random-weight models for working offline: built once, then reused; their settings go to
    .env, so every later qdrant-mm command run in this folder uses them. Rankings are chance."""
    import time

    from qdrant_mm.testing.random_models import build_or_reuse, write_env_file

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if size not in ("tiny", "base"):
        fail(f"--size must be tiny or base, got {size!r}")
    t0 = time.perf_counter()
    settings, built = build_or_reuse(folder, size)
    what = f"built in {time.perf_counter() - t0:.0f} s" if built else "already built: reused"
    err.print(
        f"random-weight {size} models in {escape(str(folder.resolve()))} ({what})", highlight=False
    )
    names = write_env_file(env_file, settings, collection=collection)
    err.print(
        f"wrote {', '.join(names)} to {env_file}: qdrant-mm commands run in this folder now use"
        f" these models and the collection {collection!r}. Their rankings are chance; remove"
        " those lines to use the real models.",
        highlight=False,
        soft_wrap=True,
    )
