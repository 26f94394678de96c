"""How long the command line takes to answer: ``--help``, ``info``, ``weights list`` and a
``search`` with tiny models, for this checkout and (optionally) another one, in alternating
rounds so the two are compared under the same load.

    python benchmarks/cli_start.py --rounds 5 [--before DIR] [--out FILE.json]

``--before DIR`` is a checkout of another revision (``git worktree add --detach DIR REV``).
Each command runs in a fresh interpreter with that checkout first on ``PYTHONPATH``, in a
temporary folder holding a ``.env`` from ``qdrant-mm demo-models`` and the example shop synced
by that checkout's own code (not timed). Wall-clock seconds; the median of the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {
    "--help": ["--help"],
    "info": ["info"],
    "weights list": ["weights", "list"],
    "search (tiny models)": ["search", "bag", "--limit", "3"],
}


def _env(code: Path, store: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QDRANT_MM_")}
    env["PYTHONPATH"] = str(code)
    env["QDRANT_MM_QDRANT_PATH"] = str(store)
    return env


def _run(code: Path, work: Path, store: Path, args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "qdrant_mm.cli", *args],
        cwd=work,
        env=_env(code, store),
        capture_output=True,
        check=False,
    )
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--before", type=Path, help="a checkout of the revision to compare with")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cli-start-"))
    shutil.copytree(REPO / "examples" / "shop", work / "shop")
    subprocess.run(
        [sys.executable, "-m", "qdrant_mm.cli", "demo-models", str(work / "models")],
        cwd=work,
        env=_env(REPO, work / "store-after"),
        check=True,
        capture_output=True,
    )
    codes = {"after": REPO} | ({"before": args.before.resolve()} if args.before else {})
    for name, code in codes.items():  # each checkout syncs the shop with its own code
        subprocess.run(
            [sys.executable, "-m", "qdrant_mm.cli", "sync", "shop/catalog.jsonl", "--json"],
            cwd=work,
            env=_env(code, work / f"store-{name}"),
            check=True,
            capture_output=True,
        )
    times: dict[str, dict[str, list[float]]] = {n: {c: [] for c in COMMANDS} for n in codes}
    for r in range(args.rounds):
        for cmd, cli_args in COMMANDS.items():
            for name, code in codes.items() if r % 2 == 0 else reversed(codes.items()):
                times[name][cmd].append(_run(code, work, work / f"store-{name}", cli_args))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    result = {
        "rounds": args.rounds,
        "median_s": {
            n: {c: round(statistics.median(v), 3) for c, v in t.items()} for n, t in times.items()
        },
        "all_s": {n: {c: [round(x, 3) for x in v] for c, v in t.items()} for n, t in times.items()},
    }
    if "before" in codes:
        result["after_over_before"] = {
            c: round(result["median_s"]["after"][c] / result["median_s"]["before"][c], 3)
            for c in COMMANDS
        }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
