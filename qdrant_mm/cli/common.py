"""What every command shares: the consoles, error handling (a one-line message and exit code
2 for every qdrant-mm error, never a traceback), opening settings + models + backend, and the
progress bar."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from qdrant_mm.errors import QdrantMMError
from qdrant_mm.settings import load_settings

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

#: Options every command that opens a collection takes, described once.
CollectionOption = Annotated[
    str | None,
    typer.Option(
        metavar="NAME",
        help="Collection (alias) to use. Default: QDRANT_MM_COLLECTION (products)",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def handles_errors(fn: F) -> F:
    """Turn qdrant-mm errors into a one-line message and exit code 2 (the backends raise only
    qdrant-mm errors, so storage failures that outlive sync's retries land here too)."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except QdrantMMError as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]


def open_mm(collection: str | None = None, **overrides):
    from qdrant_mm.app import QdrantMM

    # transformers' "Loading weights" bars are noise on every command; this is read when
    # transformers is first imported (models load lazily, after this).
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    settings = load_settings(**overrides)
    mm = QdrantMM(settings)
    return mm, collection or settings.collection


class RichProgress:
    def __init__(self, label: str) -> None:
        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        self._label = label
        self._task = None

    def start(self, total: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task(self._label, total=total)

    def advance(self, n: int = 1) -> None:
        self._bar.advance(self._task, n)

    def stop(self) -> None:
        self._bar.stop()
