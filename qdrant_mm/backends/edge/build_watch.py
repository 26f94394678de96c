"""Reporting a long Edge index build from outside the process that runs it.

``EdgeShard.optimize()`` holds Python's GIL for the whole build (minutes to tens of minutes for
a large collection), so no thread of the process running it can report anything. This module is
run as a separate process (by :meth:`EdgeBackend.optimize
<qdrant_mm.backends.edge.backend.EdgeBackend.optimize>` when asked to report, see
:class:`~qdrant_mm.backends.base.BuildWatch`): it reads the shard's folder and says which phase
the build is in and for how long it has run, every few seconds, until the build returns or the
process that runs it is gone.

Phases, as the folder shows them: ``temp_segments/segment_builder_*`` without a
``vector_index-*`` folder is the copy of the points into the new segment (and its payload
indexes); ``vector_index-NAME`` in it is the HNSW graph of the named vector ``NAME`` (the
latest one is being built); once the builder is gone the new segment is being put in place.

It uses the standard library only and is run by its file path, so it starts in milliseconds and
imports nothing of the engine.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path


def phase(shard: Path) -> str:
    """What the build of the shard in ``shard`` is doing, from its folder."""
    builders = sorted((shard / "temp_segments").glob("segment_builder_*"))
    if not builders:
        return "merging segments"
    indexes = sorted(
        (p for b in builders for p in b.glob("vector_index-*") if p.is_dir()),
        key=lambda p: p.stat().st_mtime,
    )
    size = sum(f.stat().st_size for b in builders for f in b.rglob("*") if _is_file(f))
    if not indexes:
        return f"copying points into a new segment ({size / 1e9:.1f} GB written)"
    names = [p.name.removeprefix("vector_index-") for p in indexes]
    done = f"; done: {', '.join(names[:-1])}" if len(names) > 1 else ""
    return f"building the HNSW graph of {names[-1]!r}{done}"


def _is_file(p: Path) -> bool:
    try:
        return p.is_file()
    except OSError:  # removed meanwhile
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def watch(pid: int, shard: Path, label: str, every: float, live: bool, out=None) -> None:
    """Report on ``out`` (default stdout) every ``every`` seconds while ``pid`` lives: one line
    each time, or (``live``: a terminal) one line rewritten in place."""
    out = out or sys.stdout
    start = time.monotonic()

    def stop(*_: object) -> None:
        # Raised out of the sleep: the build is over, and whoever waits for this process must
        # not wait for the rest of an interval.
        raise _Stopped

    signal.signal(signal.SIGTERM, stop)
    try:
        while _alive(pid):
            time.sleep(every)
            if not _alive(pid):
                break
            try:
                what = phase(shard)
            except OSError as exc:  # the folder changes under us: say so, keep going
                what = f"(folder not readable: {exc.strerror})"
            line = f"indexing {label}: {what}, {_clock(time.monotonic() - start)} elapsed"
            out.write(f"\r\x1b[K{line}" if live else f"{line}\n")
            out.flush()
    except _Stopped:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if live:
            out.write("\r\x1b[K")
            out.flush()


class _Stopped(Exception):
    """SIGTERM: the build returned."""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pid", type=int, help="the process running optimize()")
    ap.add_argument("shard", type=Path, help="the shard's folder")
    ap.add_argument("--label", default="collection")
    ap.add_argument("--every", type=float, default=15.0, help="seconds between reports")
    ap.add_argument("--live", action="store_true", help="rewrite one line (a terminal)")
    args = ap.parse_args(argv)
    watch(args.pid, args.shard, args.label, args.every, args.live)


if __name__ == "__main__":
    main()
