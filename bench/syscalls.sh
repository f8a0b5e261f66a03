#!/usr/bin/env bash
# Syscalls per echo round trip at full speed, counted by the kernel.
#
#   bench/syscalls.sh [SERVER...]     default: the Rust servers
#
# Why, beside callgrind.sh's `strace -c`: strace stops the server at every
# syscall, which slows it several times over, so more events are waiting at
# each `epoll_wait` and the batches grow. Reads and writes per round trip
# come out right under strace, but `epoll_wait` does not: at 50 x 1 KiB
# strace counted 0.02 waits per round trip for the streams echo, where the
# kernel counted 0.03 to 0.20 at full speed (2026-12-02). How many waits a
# round trip takes depends on how the server's pace meets the load
# generator's, so it moves from run to run. Here `perf stat` counts the syscall
# tracepoints of the running server (no stop, no sampling) while the load
# generator makes exactly SC_REQUESTS round trips, after a warm-up of a
# tenth of that. "failed" counts every syscall that returned an error
# (EAGAIN among them).
#
# Environment: SC_CONNS (50), SC_SIZE (1024), SC_REQUESTS (200000),
# BENCH_NO_BUILD=1, CARGO_TARGET_DIR. Needs perf (Debian's linux-perf) and
# access to the tracepoints (root, or perf_event_paranoid <= -1). Results
# also go to bench/results/syscalls-<stamp>.md.
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

conns=${SC_CONNS:-50}
size=${SC_SIZE:-1024}
requests=${SC_REQUESTS:-200000}
require perf "Debian: apt-get install linux-perf"
# The calls an echo server makes, by group; each name is a tracepoint
# syscalls:sys_enter_NAME.
waits=(epoll_wait epoll_pwait epoll_pwait2)
reads=(read readv recvfrom recvmsg)
writes=(write writev sendto sendmsg)
others=(epoll_ctl)
events=(-e raw_syscalls:sys_enter -e raw_syscalls:sys_exit --filter 'ret < 0')
if ! perf stat -x, "${events[@]}" -- true >/dev/null 2>&1; then
    note "perf cannot count the syscall tracepoints here (needs root or perf_event_paranoid <= -1)"
    exit 1
fi
# A kernel without one of these calls (epoll_pwait2 came in 5.11) has no
# tracepoint for it: that one is left out, and counts as zero.
for call in "${waits[@]}" "${reads[@]}" "${writes[@]}" "${others[@]}"; do
    if perf stat -x, -e "syscalls:sys_enter_$call" -- true >/dev/null 2>&1; then
        events+=(-e "syscalls:sys_enter_$call")
    fi
done

build_binaries
pick_servers "$@"
make_workdir

# count NAME OUT: one server's counts, as "event count" lines in OUT.
count() {
    local name=$1 out=$2
    load_observed "$name" $((requests / 10)) "$requests" perf stat -x, -o "$work/stat" "${events[@]}" || return 1
    # perf's CSV: count,unit,event,...; raw_syscalls:sys_exit, filtered,
    # counts only the calls that failed.
    awk -F, '$1 ~ /^[0-9]+$/ { print $3, $1 }' "$work/stat" >"$out"
    if [[ ! -s $out ]]; then
        note "$name: perf counted nothing: $(head -c 300 "$work/observer-err")"
        return 1
    fi
}

# Counted runs, as "NAME FILE": a server named twice is run twice.
: >"$work/runs"
for name in "${servers[@]}"; do
    server_usable "$name" || continue
    note "$name: $requests round trips"
    out=$work/counts-$(wc -l <"$work/runs")
    if count "$name" "$out"; then
        echo "$name $out" >>"$work/runs"
    fi
done

stamp=$(date +%Y%m%d-%H%M%S)
mkdir -p "$here/results"
report=$here/results/syscalls-$stamp.md
python3 - "$work/runs" "$requests" "$conns" "$size" "${waits[*]}" "${reads[*]}" \
    "${writes[*]}" "${others[*]}" >"$report" <<'PY'
import sys
runs, requests, conns, size = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
groups = [g.split() for g in sys.argv[5:9]]
print("# Syscalls per round trip, counted by the kernel\n")
print(f"{conns} connections x {size} B, {requests} round trips per run, "
      "perf stat on the syscall tracepoints.\n")
print("| server | all | failed | epoll_wait | reads | writes | epoll_ctl | other |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for run in open(runs):
    name, path = run.split()
    counts = {}
    for line in open(path):
        event, n = line.split()
        counts[event] = int(n)
    per = lambda n: n / requests
    total = counts.get("raw_syscalls:sys_enter", 0)
    failed = counts.get("raw_syscalls:sys_exit", 0)
    by_group = [sum(counts.get(f"syscalls:sys_enter_{c}", 0) for c in g) for g in groups]
    other = total - sum(by_group)
    cells = [per(total), per(failed), *map(per, by_group), per(other)]
    print(f"| {name} | " + " | ".join(f"{x:.3f}" for x in cells) + " |")
PY
cat "$report"
note "written to $report"
