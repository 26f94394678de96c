#!/usr/bin/env bash
# Watch a long Edge optimize() (the HNSW build of a large benchmark store) from outside.
#
#   bash benchmarks/watch_build.sh PID STORE_DIR [SECONDS]
#
# PID: the process running optimize() (e.g. benchmarks/fusion.py --store ...); STORE_DIR: the
# Edge storage folder (e.g. DIR/edge-1000000). Every SECONDS (default 180) it prints which
# named vectors already have an HNSW graph in the segment being built and, when gdb is
# installed, which phase the build threads are in: build_main_graph (the graph itself) or
# additional_links (the extra links per payload-index block: category values, price ranges).
# optimize() holds the GIL, so the benchmark itself cannot report this. gdb pauses the process
# for a moment at each sample.
set -u
pid=${1:?PID of the process running optimize()}
store=${2:?Edge storage folder}
every=${3:-180}
while kill -0 "$pid" 2>/dev/null; do
    graphs=$(find "$store" -path '*temp_segments*' -maxdepth 5 -type d -name 'vector_index-*' \
        -printf '%f ' 2>/dev/null)
    phase=""
    if command -v gdb >/dev/null; then
        phase=$(timeout 30 gdb -p "$pid" -batch -ex "thread apply all bt 8" 2>/dev/null |
            grep -o 'build_main_graph\|additional_links' | sort | uniq -c | tr -s ' \n' ' ')
    fi
    echo "$(date -u +%H:%M:%S) graphs being built or done: [${graphs% }] threads in: ${phase:-?}"
    sleep "$every"
done
echo "$(date -u +%H:%M:%S) process $pid ended"
