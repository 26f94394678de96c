"""What every command shares: the consoles, error handling (a one-line message and exit code
2 for every qdrant-mm error, never a traceback), opening settings + models + backend, and the
progress bar."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from qdrant_mm.errors import QdrantMMError
from qdrant_mm.settings import load_settings

if TYPE_CHECKING:
    from qdrant_mm.backends.base import BuildWatch

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
    # escaped: messages hold brackets that are not Rich markup ('qdrant-mm[plot]', file names)
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
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
        except KeyboardInterrupt:
            # A sync stores whole batches and re-checks every product's hash, so running it
            # again ends with exactly the catalog; nothing else writes.
            err.print("interrupted; run it again to resume", highlight=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def open_mm(collection: str | None = None, **overrides):
    from qdrant_mm.app import QdrantMM

    # transformers' "Loading weights" bars are noise on every command; this is read when
    # transformers is first imported (models load lazily, after this).
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    settings = load_settings(**overrides)
    mm = QdrantMM(settings)
    return mm, collection or settings.collection


def require_collection(mm, name: str) -> None:
    """Fail at once, before any model loads, when nothing has been synced into ``name``."""
    if mm.backend.resolve(name) is None:
        fail(
            f"collection {name!r} does not exist on the {mm.backend.name} backend: nothing has"
            " been synced into it yet (qdrant-mm sync CATALOG), or --collection /"
            " QDRANT_MM_COLLECTION names another one (settings are read from the environment"
            f" and from .env in the current folder, {Path.cwd()})"
        )


class LineProgress:
    """Progress for output that is not a terminal (CI logs, pipes): a plain line on stderr at
    the start, at most every ``every`` seconds, and at the end."""

    def __init__(self, label: str, every: float = 15.0) -> None:
        self._label = label
        self._every = every
        self._total = 0
        self._done = 0
        self._t0 = self._last = 0.0

    def _line(self) -> None:
        elapsed = time.monotonic() - self._t0
        share = f" ({100 * self._done / self._total:.0f}%)" if self._total else ""
        err.print(
            f"{self._label}: {self._done}/{self._total}{share}, {elapsed:.0f} s",
            highlight=False,
            soft_wrap=True,
        )
        self._last = time.monotonic()

    def start(self, total: int) -> None:
        self._total, self._done = total, 0
        self._t0 = time.monotonic()
        self._line()

    def advance(self, n: int = 1) -> None:
        self._done += n
        if time.monotonic() - self._last >= self._every:
            self._line()

    def stop(self) -> None:
        self._line()

    def build_watch(self) -> BuildWatch | None:
        """The index build after the writes: a line every ``every`` seconds on stderr."""
        return _stderr_watch(self._every, live=False)


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

    def build_watch(self) -> BuildWatch | None:
        """The index build after the writes: one line on the terminal, updated every second."""
        return _stderr_watch(1.0, live=True)


def _stderr_watch(every: float, live: bool) -> BuildWatch | None:
    """Report a long index build on this process's stderr (None when stderr is no real file,
    e.g. captured by a test runner: the build then goes on silently)."""
    from qdrant_mm.backends.base import BuildWatch  # the CLI's start stays light

    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return BuildWatch(fd=fd, every_s=every, live=live)
