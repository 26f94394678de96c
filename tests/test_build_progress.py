"""A long index build says what it is doing: Edge's ``optimize()`` holds the GIL, so a separate
process (``qdrant_mm.backends.edge.build_watch``) reads the shard's folder and reports; sync
asks for it through its ``Progress`` hook."""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid

import numpy as np
import pytest

from qdrant_mm.backends.base import BuildWatch, CollectionSpec, PointRecord, VectorSpec
from qdrant_mm.backends.edge import EdgeBackend
from qdrant_mm.backends.edge.build_watch import phase, watch
from qdrant_mm.sync import Progress, Syncer
from tests.fakes import fake_bundle
from tests.helpers import product_rows, write_catalog


def test_phase_reads_the_build_from_the_shard_folder(tmp_path):
    shard = tmp_path / "shard"
    (shard / "temp_segments").mkdir(parents=True)
    assert phase(shard) == "merging segments"
    builder = shard / "temp_segments" / "segment_builder_x"
    (builder / "vector_storage-fused").mkdir(parents=True)
    (builder / "vector_storage-fused" / "chunk").write_bytes(b"\0" * 260_000)
    assert phase(shard) == "copying points into a new segment (0.0 GB written)"
    with open(builder / "vector_storage-fused" / "chunk2", "wb") as f:
        f.truncate(1_300_000_000)  # sparse: the size counts, not the blocks
    assert phase(shard) == "copying points into a new segment (1.3 GB written)"
    (builder / "vector_index-clip").mkdir()
    time.sleep(0.02)
    (builder / "vector_index-fused").mkdir()
    os.utime(builder / "vector_index-clip", (1, 1))  # built first
    assert phase(shard) == "building the HNSW graph of 'fused'; done: clip"


def test_watcher_stops_when_the_process_it_watches_is_gone(tmp_path, capsys):
    gone = 2**22 + 12345  # above the default pid_max: no such process
    started = time.monotonic()
    watch(gone, tmp_path, "c", every=0.05, live=False)
    assert time.monotonic() - started < 2 and capsys.readouterr().out == ""


def _slow_store(path, n=15_000, dim=48):
    """An Edge collection big enough that optimize() builds an HNSW graph for a while."""
    edge = EdgeBackend(path, indexing_threshold_kb=1)
    edge.create_collection("products", CollectionSpec((VectorSpec("fused", dim, "dot"),)))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    for lo in range(0, n, 5000):
        edge.upsert(
            "products",
            [
                PointRecord(str(uuid.UUID(int=i + 1)), {"fused": x[i]}, {})
                for i in range(lo, min(n, lo + 5000))
            ],
        )
    return edge


def _read_all(fd: int, into: list[bytes]) -> None:
    while chunk := os.read(fd, 4096):
        into.append(chunk)


@pytest.mark.skipif(sys.platform == "win32", reason="pipes and pids as on POSIX")
@pytest.mark.parametrize("live", [False, True])
def test_optimize_reports_the_build_while_it_holds_the_gil(tmp_path, live):
    edge = _slow_store(tmp_path / "e")
    r, w = os.pipe()
    got: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(r, got))
    reader.start()
    try:
        seconds = edge.optimize("products", watch=BuildWatch(fd=w, every_s=0.1, live=live))
    finally:
        os.close(w)
        reader.join(10)
        os.close(r)
        edge.close()
    text = b"".join(got).decode()
    reports = [x for x in text.replace("\r\x1b[K", "\n").splitlines() if x]
    assert seconds > 0.5, "the build was too quick to be reported: make the store larger"
    assert len(reports) >= 2
    assert all(x.startswith("indexing products: ") and x.endswith(" elapsed") for x in reports)
    assert any("HNSW graph of 'fused'" in x or "copying points" in x for x in reports)
    if live:  # one line rewritten in place, cleared at the end
        assert "\n" not in text and text.endswith("\r\x1b[K")
    else:
        assert "\r" not in text and text.endswith("\n")


def test_a_build_shorter_than_the_interval_says_nothing_and_does_not_wait(tmp_path):
    edge = _slow_store(tmp_path / "e", n=300, dim=8)
    r, w = os.pipe()
    started = time.monotonic()
    try:
        seconds = edge.optimize("products", watch=BuildWatch(fd=w, every_s=30))
    finally:
        os.close(w)
        edge.close()
    # The watcher leaves its 30 s sleep when the build returns: nobody waits for it.
    assert seconds < 10 and time.monotonic() - started < 10
    assert os.read(r, 100) == b""
    os.close(r)


def test_sync_asks_its_progress_how_to_report_the_build(tmp_path):
    edge = EdgeBackend(tmp_path / "e")
    asked = BuildWatch(fd=2, every_s=99)
    seen = []
    real = edge.optimize

    def spy(collection, watch=None):
        seen.append(watch)
        return real(collection, watch=watch)

    edge.optimize = spy

    class Reporting(Progress):
        def build_watch(self):
            return asked

    Syncer(edge, fake_bundle(), "products").sync(
        write_catalog(tmp_path, product_rows(3)), progress=Reporting()
    )
    Syncer(edge, fake_bundle(), "products").sync(write_catalog(tmp_path, product_rows(4)))
    edge.close()
    assert seen == [asked, None]


def test_the_cli_reports_the_build_on_stderr_as_lines_or_one_live_line(tmp_path, monkeypatch):
    import io

    from qdrant_mm.cli.common import LineProgress, RichProgress

    with open(tmp_path / "stderr", "w") as f:
        monkeypatch.setattr(sys, "stderr", f)
        assert LineProgress("embedding", every=12).build_watch() == BuildWatch(
            fd=f.fileno(), every_s=12, live=False
        )
        assert RichProgress("embedding").build_watch() == BuildWatch(
            fd=f.fileno(), every_s=1.0, live=True
        )
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # no file behind it: nothing to report
    assert LineProgress("embedding").build_watch() is None
