#!/usr/bin/env bash
# Sample a benchmark's memory and disk from outside while it runs (its optimize() holds the GIL,
# so it cannot sample itself during the index build).
#
#   bash benchmarks/sample_usage.sh PID DIR [SECONDS [CGROUP_DIR]] >> usage.log
#
# Every SECONDS (default 30) until PID ends, one line: UTC time; the process's resident set
# (VmRSS), its peak so far (VmHWM), and VmRSS split into anonymous memory (RssAnon: what the
# process itself holds) and mapped file pages (RssFile: Edge's memory-mapped segment files,
# page cache the kernel may drop at any time); its proportional set size (Pss from
# smaps_rollup: each resident page counted once even where Edge maps a file twice, which VmRSS
# counts twice); the usage of the memory cgroup CGROUP_DIR when given (cgroup v1, e.g.
# /sys/fs/cgroup/memory/qmm-1m, where the process runs under a limit; page cache included); the disk space DIR uses (du); the machine's 1-minute load average
# (other jobs slow the build down). The last line gives the highest disk use, anonymous memory,
# Pss and cgroup usage seen.
set -u
pid=${1:?PID of the benchmark}
dir=${2:?folder whose disk use to follow}
every=${3:-30}
peak=0
peak_anon=0
peak_pss=0
cgdir=${4:-}
[[ -z "$cgdir" || -r "$cgdir/memory.usage_in_bytes" ]] || { echo "no memory cgroup at $cgdir" >&2; exit 2; }
gib() { echo "${1:-0} / 1048576" | bc -l; }
while kill -0 "$pid" 2>/dev/null; do
    read -r rss hwm anon file < <(awk '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} /^RssAnon/ {a=$2}
        /^RssFile/ {f=$2} END {print r+0, h+0, a+0, f+0}' "/proc/$pid/status" 2>/dev/null)
    pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null)
    pss=${pss:-0}
    ((pss > peak_pss)) && peak_pss=$pss
    cgu=0
    [[ -n "$cgdir" ]] && cgu=$(($(cat "$cgdir/memory.usage_in_bytes") / 1024))
    disk=$(du -sk "$dir" 2>/dev/null | cut -f1)
    disk=${disk:-0}
    ((disk > peak)) && peak=$disk
    ((${anon:-0} > peak_anon)) && peak_anon=${anon:-0}
    printf '%s rss_gib=%.2f peak_rss_gib=%.2f anon_gib=%.2f file_gib=%.2f pss_gib=%.2f cgroup_gib=%.2f disk_gb=%.2f load1=%s\n' \
        "$(date -u +%H:%M:%S)" "$(gib "$rss")" "$(gib "$hwm")" "$(gib "$anon")" "$(gib "$file")" \
        "$(gib "$pss")" "$(gib "$cgu")" \
        "$(echo "$disk * 1024 / 1000000000" | bc -l)" "$(cut -d' ' -f1 /proc/loadavg)"
    sleep "$every"
done
cgmax=0
[[ -n "$cgdir" ]] && cgmax=$(($(cat "$cgdir/memory.max_usage_in_bytes") / 1024))
printf '%s process %s ended; peak disk_gb=%.2f peak anon_gib=%.2f peak pss_gib=%.2f cgroup max_usage_gib=%.2f\n' \
    "$(date -u +%H:%M:%S)" "$pid" "$(echo "$peak * 1024 / 1000000000" | bc -l)" "$(gib "$peak_anon")" \
    "$(gib "$peak_pss")" "$(gib "$cgmax")"
