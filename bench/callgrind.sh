#!/usr/bin/env bash
# User-space instructions and syscalls per echo round trip, for each server.
#
#   bench/callgrind.sh [SERVER...]     default: every server available here
#
# Instructions: the server runs under `valgrind --tool=callgrind` while the
# load generator makes exactly N1 round trips, then again with N2; the
# difference of the two totals over N2 - N1 cancels start-up, connection
# set-up and shutdown. This count does not depend on machine noise.
# Syscalls: the server runs normally, is warmed up with N1 round trips, then
# `strace -c -f` is attached for N2 round trips; counts are divided by N2
# (connection set-up is included but amortised). The table splits them by
# syscall and counts failed calls (EAGAIN and the like) separately.
#
# Environment: CG_CONNS (10), CG_SIZE (1024), CG_N1 (2000), CG_N2 (20000),
# BENCH_NO_BUILD=1, CARGO_TARGET_DIR. Results also go to
# bench/results/callgrind-<stamp>.md.
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

conns=${CG_CONNS:-10}
size=${CG_SIZE:-1024}
n1=${CG_N1:-2000}
n2=${CG_N2:-20000}
if ((n2 <= n1)); then
    note "CG_N2 must be larger than CG_N1"
    exit 2
fi
for tool in valgrind strace; do
    command -v $tool >/dev/null || note "$tool is not installed: its column will be empty"
done

build_binaries
setup_python
if (($# > 0)); then
    servers=("$@")
else
    servers=(mio tokio tokio-lines aio-protocol aio-streams aio-sockets
        asyncio-protocol asyncio-streams uvloop-protocol uvloop-streams)
fi

make_workdir

# instructions N: total instructions callgrind counted for a server run of N round trips.
instructions() {
    local f=$work/callgrind.out
    callgrind_run "$1" "$f" || return 1
    sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$f" 2>/dev/null | head -1
}

# syscalls: strace -c summary over N2 round trips, as "name calls errors" lines.
syscalls() {
    load_observed "$name" "$n1" "$n2" strace -c -f -o "$work/strace" || return 1
    # Lines: % time, seconds, usecs/call, calls, [errors], syscall.
    awk '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { if (NF == 6) print $6, $4, $5; else print $5, $4, 0 }' "$work/strace"
}

stamp=$(date +%Y%m%d-%H%M%S)
mkdir -p "$here/results"
report=$here/results/callgrind-$stamp.md
{
    echo "# Instructions and syscalls per round trip"
    echo
    echo "$conns connections x $size B; instructions: (I($n2) - I($n1)) / $((n2 - n1)) round trips" \
        "under callgrind; syscalls: strace -c -f over $n2 round trips after $n1 of warm-up."
    echo
    echo "| server | instructions / RT | syscalls / RT | failed / RT | per RT by syscall |"
    echo "|---|---:|---:|---:|---|"
} >"$report"

for name in "${servers[@]}"; do
    server_usable "$name" || continue
    note "$name: callgrind, $n1 then $n2 round trips"
    ipr="–"
    if command -v valgrind >/dev/null; then
        i1=$(instructions "$n1" || true)
        i2=$(instructions "$n2" || true)
        if [[ -n $i1 && -n $i2 ]]; then
            ipr=$(python3 -c "print(f'{($i2 - $i1) / ($n2 - $n1):,.0f}')")
        fi
    fi
    note "$name: strace -c over $n2 round trips"
    spr="–" fpr="–" detail=""
    if command -v strace >/dev/null && sc=$(syscalls) && [[ -n $sc ]]; then
        read -r spr fpr detail < <(python3 -c '
import sys
n = int(sys.argv[1]); rows = []
for line in sys.argv[2].splitlines():
    name, calls, errors = line.split()
    rows.append((int(calls) / n, int(errors) / n, name))
rows.sort(reverse=True)
total = sum(r[0] for r in rows); failed = sum(r[1] for r in rows)
shown = [f"{name} {c:.2f}" + (f" ({e:.2f} failed)" if e >= 0.005 else "") for c, e, name in rows if c >= 0.005]
print(f"{total:.2f} {failed:.2f} " + ", ".join(shown))' "$n2" "$sc")
    fi
    echo "| $name | $ipr | $spr | $fpr | $detail |" >>"$report"
done
cat "$report"
note "written to $report"
