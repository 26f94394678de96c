#!/usr/bin/env bash
# Sample a benchmark's memory and disk from outside while it runs (its optimize() holds the GIL,
# so it cannot sample itself during the index build).
#
#   bash benchmarks/sample_usage.sh PID DIR [SECONDS] >> usage.log
#
# Every SECONDS (default 30) until PID ends, one line: UTC time; the process's resident set
# (VmRSS), its peak so far (VmHWM), and VmRSS split into anonymous memory (RssAnon: what the
# process itself holds) and mapped file pages (RssFile: Edge's memory-mapped segment files,
# page cache the kernel may drop at any time); the disk space DIR uses (du); the machine's
# 1-minute load average (other jobs slow the build down). The last line gives the highest disk
# use and anonymous memory seen.
set -u
pid=${1:?PID of the benchmark}
dir=${2:?folder whose disk use to follow}
every=${3:-30}
peak=0
peak_anon=0
gib() { echo "${1:-0} / 1048576" | bc -l; }
while kill -0 "$pid" 2>/dev/null; do
    read -r rss hwm anon file < <(awk '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} /^RssAnon/ {a=$2}
        /^RssFile/ {f=$2} END {print r+0, h+0, a+0, f+0}' "/proc/$pid/status" 2>/dev/null)
    disk=$(du -sk "$dir" 2>/dev/null | cut -f1)
    disk=${disk:-0}
    ((disk > peak)) && peak=$disk
    ((${anon:-0} > peak_anon)) && peak_anon=${anon:-0}
    printf '%s rss_gib=%.2f peak_rss_gib=%.2f anon_gib=%.2f file_gib=%.2f disk_gb=%.2f load1=%s\n' \
        "$(date -u +%H:%M:%S)" "$(gib "$rss")" "$(gib "$hwm")" "$(gib "$anon")" "$(gib "$file")" \
        "$(echo "$disk * 1024 / 1000000000" | bc -l)" "$(cut -d' ' -f1 /proc/loadavg)"
    sleep "$every"
done
printf '%s process %s ended; peak disk_gb=%.2f peak anon_gib=%.2f\n' "$(date -u +%H:%M:%S)" \
    "$pid" "$(echo "$peak * 1024 / 1000000000" | bc -l)" "$(gib "$peak_anon")"
