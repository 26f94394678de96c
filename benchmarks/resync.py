"""How long a sync of an unchanged catalog takes, and where the time goes.

A catalog of ``--n`` products with small PNG images (24x24, random pixels, like the tests')
is generated into a temporary folder and synced once with the fake models of
``tests.fakes.fake_bundle()`` through :class:`~qdrant_mm.sync.Syncer`. Then the same catalog is
synced again, unchanged:

* the second sync must call no model (``tests.fakes.total_model_calls`` is checked), and
  must report every product unchanged;
* its wall time is measured ``--repeats`` times (target: <= 5 s for 10k products on Edge);
* one more sync runs with timers wrapped around its steps (reading the catalog, reading image
  files, hashing image bytes, the content / payload hashes, scrolling the stored hashes,
  ``optimize()``, deletions, calibration) and one under cProfile (top functions).

The image files were just written, so they are in the page cache: this is the warm-cache
time. Example::

    python benchmarks/resync.py --n 10000 --backends edge local-disk
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import pstats
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, log, machine, make_backend, merge_results  # noqa: E402

import qdrant_mm.sync as sync_mod  # noqa: E402
from qdrant_mm.sync import Syncer  # noqa: E402
from tests.fakes import fake_bundle, total_model_calls  # noqa: E402
from tests.helpers import product_rows, write_catalog  # noqa: E402

DEFAULT_OUT = RESULTS_DIR / "resync.json"
COLLECTION = "products"


class _Timers:
    """Wraps functions so that each call adds its duration to a named bucket."""

    def __init__(self) -> None:
        self.s: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, attr: str, bucket: str) -> None:
        real = getattr(owner, attr)

        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return real(*a, **k)
            finally:
                self.s[bucket] += time.perf_counter() - t0
                self.calls[bucket] += 1

        setattr(owner, attr, timed)
        self._undo.append(lambda: setattr(owner, attr, real))

    def wrap_iter(self, owner: Any, attr: str, bucket: str) -> None:
        """Time a function returning an iterator, including the time spent iterating it."""
        real = getattr(owner, attr)
        timers = self

        def timed(*a, **k):
            t0 = time.perf_counter()
            it = real(*a, **k)
            timers.s[bucket] += time.perf_counter() - t0
            timers.calls[bucket] += 1

            def gen():
                while True:
                    t1 = time.perf_counter()
                    try:
                        item = next(it)
                    except StopIteration:
                        timers.s[bucket] += time.perf_counter() - t1
                        return
                    timers.s[bucket] += time.perf_counter() - t1
                    yield item

            return gen()

        setattr(owner, attr, timed)
        self._undo.append(lambda: setattr(owner, attr, real))

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()


class _HashlibShim:
    """Stands in for ``hashlib`` inside ``qdrant_mm.sync`` to time the image-bytes digest."""

    def __init__(self, timers: _Timers) -> None:
        self.timers = timers

    def sha256(self, data: bytes = b""):
        t0 = time.perf_counter()
        h = hashlib.sha256(data)
        h.hexdigest()  # the digest itself is what sync asks for next
        self.timers.s["sha256 of image bytes"] += time.perf_counter() - t0
        self.timers.calls["sha256 of image bytes"] += 1
        return h


def timed_breakdown(syncer: Syncer, backend: Any, catalog: Path) -> dict[str, Any]:
    t = _Timers()
    t.wrap(sync_mod, "read_catalog", "read + validate catalog")
    t.wrap(sync_mod, "open_or_create", "open collection (alias, metadata)")
    t.wrap_iter(backend, "scroll_payload", "scroll stored hashes")
    t.wrap(sync_mod, "resolve_image_ref", "resolve image paths")
    t.wrap(sync_mod, "read_image_bytes", "read image files")
    t.wrap(sync_mod, "content_hash", "content hash (model text, ids)")
    t.wrap(sync_mod, "payload_hash", "payload hash (payload JSON)")
    t.wrap(sync_mod, "point_id", "point ids (uuid5)")
    t.wrap(syncer, "_check", "plan (total)")  # summed over the per-product checks
    t.wrap(syncer, "_delete_removed", "deletions check")
    t.wrap(backend, "optimize", "optimize()")
    t.wrap(syncer, "_update_meta", "metadata (point count, calibration check)")
    real_hashlib = sync_mod.hashlib
    sync_mod.hashlib = _HashlibShim(t)  # type: ignore[assignment]
    try:
        t0 = time.perf_counter()
        report = syncer.sync(catalog)
        total = time.perf_counter() - t0
    finally:
        sync_mod.hashlib = real_hashlib
        t.restore()
    parts = dict(t.s)
    inside_plan = sum(
        parts.get(k, 0.0)
        for k in (
            "resolve image paths",
            "read image files",
            "sha256 of image bytes",
            "content hash (model text, ids)",
            "payload hash (payload JSON)",
            "point ids (uuid5)",
        )
    )
    parts["plan: rest (loop, dict lookups)"] = parts.get("plan (total)", 0.0) - inside_plan
    top = [k for k in parts if k != "plan (total)"]
    parts["other (report, bookkeeping)"] = total - sum(parts[k] for k in top)
    return {
        "total_s": total,
        "unchanged": report.unchanged,
        "parts_s": {k: parts[k] for k in sorted(parts, key=lambda k: -parts[k])},
        "calls": dict(t.calls),
    }


def profiled(syncer: Syncer, catalog: Path, top: int = 25) -> str:
    prof = cProfile.Profile()
    prof.enable()
    syncer.sync(catalog)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


def bench_one(kind: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"qmm-resync-{kind}-", dir=args.workdir))
    try:
        log(f"[{kind}] writing a catalog of {n} products with PNG images")
        t0 = time.perf_counter()
        catalog = write_catalog(work / "catalog", product_rows(n))
        gen_s = time.perf_counter() - t0
        image_bytes = sum(p.stat().st_size for p in (work / "catalog" / "images").iterdir())
        backend = make_backend(kind, work / "store")
        bundle = fake_bundle()
        syncer = Syncer(backend, bundle, COLLECTION)
        log(f"[{kind}] first sync (embeds {n} products with the fake models)")
        t0 = time.perf_counter()
        first = syncer.sync(catalog)
        first_s = time.perf_counter() - t0
        assert first.added == n and not first.failed, first
        calls_before = total_model_calls(bundle)
        runs = []
        for i in range(args.repeats):
            t0 = time.perf_counter()
            rep = syncer.sync(catalog)
            runs.append(time.perf_counter() - t0)
            assert rep.unchanged == n and rep.embedded == 0 and not rep.failed, rep
            log(f"[{kind}] unchanged sync {i + 1}: {runs[-1]:.2f} s")
        calls_after = total_model_calls(bundle)
        assert calls_after == calls_before, (
            f"an unchanged sync called the models {calls_after - calls_before} times"
        )
        breakdown = timed_breakdown(syncer, backend, catalog)
        log(f"[{kind}] with timers: {breakdown['total_s']:.2f} s")
        prof = profiled(syncer, catalog)
        assert total_model_calls(bundle) == calls_before
        backend.close()
        runs_sorted = sorted(runs)
        return {
            "backend": kind,
            "n": n,
            "machine": machine(),
            "catalog_generation_s": gen_s,
            "image_bytes_total": image_bytes,
            "first_sync_s": first_s,
            "first_sync_index_s": first.index_seconds,
            "unchanged_sync_s": runs,
            "unchanged_sync_median_s": runs_sorted[len(runs) // 2],
            "unchanged_sync_min_s": runs_sorted[0],
            "model_calls_during_unchanged_syncs": calls_after - calls_before,
            "breakdown": breakdown,
            "cprofile_top": prof,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(path: Path) -> str:
    import json

    data = json.loads(path.read_text())
    lines = []
    for key in sorted(data):
        r = data[key]
        m = r["machine"]
        lines += [
            f"### {r['backend']}, {r['n']:,} unchanged products",
            "",
            f"{m['date']}, {m['cpus']} CPUs ({m['cpu']}); catalog images "
            f"{r['image_bytes_total'] / r['n']:.0f} bytes each; first sync (embedding with the "
            f"fake models) {r['first_sync_s']:.1f} s.",
            "",
            f"Unchanged sync: **{r['unchanged_sync_median_s']:.2f} s** median of "
            f"{len(r['unchanged_sync_s'])} runs (min {r['unchanged_sync_min_s']:.2f} s); model "
            f"calls: {r['model_calls_during_unchanged_syncs']}.",
            "",
            f"Where the time goes (one sync with timers, {r['breakdown']['total_s']:.2f} s):",
            "",
            "| step | seconds | share |",
            "|---|---|---|",
        ]
        total = r["breakdown"]["total_s"]
        parts = r["breakdown"]["parts_s"]
        for k, v in sorted(parts.items(), key=lambda kv: -kv[1]):
            if k == "plan (total)":
                continue
            lines.append(f"| {k} | {v:.3f} | {100 * v / total:.0f}% |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument(
        "--backends", nargs="+", default=["edge"], choices=["edge", "local", "local-disk"]
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--report", action="store_true", help="only print tables from --out")
    args = ap.parse_args(argv)
    if not args.report:
        for kind in args.backends:
            res = bench_one(kind, args.n, args)
            merge_results(args.out, f"{kind}/{args.n}", res)
            print(res["cprofile_top"])
    print(report(args.out))


if __name__ == "__main__":
    main()
