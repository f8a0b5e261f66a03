#!/usr/bin/env bash
# How much memory a server touches per echo round trip: code and data.
#
#   bench/footprint.sh [SERVER...]     default: mio tokio tokio-lines aio-*
#
# On this VM a server's user time per round trip follows what it touches
# more than what it executes (bench/README.md, "What a round trip touches"),
# as if the kernel's network path left the first-level caches cold at every
# syscall. This script counts, under `valgrind --tool=callgrind`:
#   - code: the distinct instructions, 64-byte lines and 4 KiB pages run on
#     every round trip (those executed at least N2/2 times in N2 round trips);
#   - data: first-level data-cache misses per round trip in callgrind's cache
#     model, from the difference of an N1 and an N2 run as in callgrind.sh.
#     The model does not see the kernel's writes: bytes `recv` just put in a
#     buffer count as misses when the buffer is not the one used last (the
#     streams reader's is per connection), though the kernel's copy left them
#     in the cache.
#
# Environment: FP_CONNS (50), FP_SIZE (1024), FP_N1 (2000), FP_N2 (12000),
# BENCH_NO_BUILD=1, CARGO_TARGET_DIR.
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

conns=${FP_CONNS:-50}
size=${FP_SIZE:-1024}
n1=${FP_N1:-2000}
n2=${FP_N2:-12000}
if ((n2 <= n1)); then
    note "FP_N2 must be larger than FP_N1"
    exit 2
fi
require valgrind

build_binaries
if (($# > 0)); then
    servers=("$@")
else
    servers=(mio tokio tokio-lines aio-protocol aio-sockets aio-streams)
fi

make_workdir

# profile N OUT: a callgrind run of N round trips with per-instruction counts
# and the cache model, written to OUT.
profile() {
    callgrind_run "$1" "$2" --cache-sim=yes --dump-instr=yes --compress-pos=no \
        --compress-strings=no
}

# Reads the two profiles; prints the table row's figures.
summarize() {
    python3 - "$work/cg1" "$work/cg2" "$n1" "$n2" <<'PY'
import re, sys
f1, f2, n1, n2 = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
pos = re.compile(r"^(0x[0-9a-f]+) \d+ (\d+)")

def totals(path):
    for line in open(path):
        if line.startswith("events:"):
            events = line.split()[1:]
        if line.startswith("summary:"):
            return dict(zip(events, map(int, line.split()[1:])))
    raise SystemExit(f"no summary in {path}")

def hot_code(path, n):
    # Self cost per (object, address); the line after `calls=` is the
    # call's inclusive cost and is skipped.
    counts, obj, after_call = {}, "", False
    for line in open(path):
        if line.startswith("ob="):
            obj = line[3:].strip()
        elif line.startswith("calls="):
            after_call = True
        elif (m := pos.match(line)):
            if not after_call:
                key = (obj, int(m.group(1), 16))
                counts[key] = counts.get(key, 0) + int(m.group(2))
            after_call = False
    hot = [k for k, c in counts.items() if c >= n // 2]
    return len(hot), len({(o, a >> 6) for o, a in hot}), len({(o, a >> 12) for o, a in hot})

t1, t2 = totals(f1), totals(f2)
per = lambda *ev: sum(t2[e] - t1[e] for e in ev) / (n2 - n1)
instrs, lines, pages = hot_code(f2, n2)
# Two runs' difference can come out a hair below zero; shown as 0.0, not -0.0.
misses = per('D1mr', 'D1mw')
misses = 0.0 if abs(misses) < 0.05 else misses
print(f"{per('Ir'):,.0f} | {instrs} | {lines} | {pages} | {misses:.1f}")
PY
}

stamp=$(date +%Y%m%d-%H%M%S)
mkdir -p "$here/results"
report=$here/results/footprint-$stamp.md
{
    echo "# What a round trip touches"
    echo
    echo "$conns connections x $size B under callgrind's cache model; code run on every" \
        "round trip of $n2; data misses: difference of $n2 and $n1 round trips."
    echo
    echo "| server | instructions / RT | distinct instructions | code lines | code pages | D1 misses / RT |"
    echo "|---|---:|---:|---:|---:|---:|"
} >"$report"

for name in "${servers[@]}"; do
    server_usable "$name" || continue
    note "$name: callgrind with the cache model, $n1 then $n2 round trips"
    if profile "$n1" "$work/cg1" && profile "$n2" "$work/cg2"; then
        echo "| $name | $(summarize) |" >>"$report"
    else
        echo "| $name | – | – | – | – | – |" >>"$report"
    fi
done
cat "$report"
note "written to $report"
