#!/usr/bin/env bash
# User-space CPU time per echo round trip, sampled at a fine grain with perf.
#
#   bench/usertime.sh [SERVER...]     default: the Rust servers
#
# Why: run.sh reads user time from /proc in 10 ms ticks, and at 50 x 1 KiB a
# 3 s run of the mio loop spends only 4 to 11 ticks in user space, so its
# user-CPU ratios are mostly rounding. Here `perf record -e cpu-clock:u -F
# UT_FREQ` samples the server's user-mode time (one sample per 1/UT_FREQ s of
# it) while the load generator makes exactly UT_REQUESTS round trips, so a
# figure rests on thousands of samples. Servers are interleaved over UT_ROUNDS
# rounds, in an order that rotates by one each round; the table shows each
# server's median and its ratio to mio within each round, the pooled ratio
# (its time over mio's, summed over the rounds both ran) and, from five rounds
# on, a 90 % bootstrap interval of that pooled ratio over rounds: how far the
# figure can be trusted on this host. Server pinned to CPU 0, load to CPU 1,
# as in run.sh.
#
# Environment: UT_CONNS (50), UT_SIZE (1024), UT_REQUESTS (400000), UT_ROUNDS
# (3), UT_FREQ (20000), BENCH_NO_BUILD=1, CARGO_TARGET_DIR. Needs perf (Debian's
# linux-perf) with perf_event_paranoid <= 2. Results also go to
# bench/results/usertime-<stamp>.md.
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

conns=${UT_CONNS:-50}
size=${UT_SIZE:-1024}
requests=${UT_REQUESTS:-400000}
rounds=${UT_ROUNDS:-3}
freq=${UT_FREQ:-20000}
require perf "Debian: apt-get install linux-perf"

build_binaries
pick_servers "$@"
make_workdir

# sample NAME ROUND: appends "NAME ROUND samples" to $work/samples.
sample() {
    local name=$1 round=$2
    load_observed "$name" $((requests / 10)) "$requests" \
        perf record -q -e cpu-clock:u -F "$freq" -o "$work/perf.data" || return 1
    local n
    n=$(perf script -i "$work/perf.data" 2>/dev/null | wc -l)
    if ((n == 0)); then
        note "$name: perf took no samples: $(head -c 300 "$work/observer-err")"
        return 1
    fi
    echo "$name $round $n" >>"$work/samples"
}

: >"$work/samples"
# Each round starts one server further down the list. In a fixed order the
# same server always ran second, and an A/B of two builds of one server
# (twenty rounds each way) measured whichever ran second about 5 % slower:
# rotating spreads that bias over every server alike.
nservers=${#servers[@]}
for round in $(seq "$rounds"); do
    for ((k = 0; k < nservers; k++)); do
        name=${servers[(round - 1 + k) % nservers]}
        server_usable "$name" || continue
        note "round $round: $name"
        sample "$name" "$round" || true
    done
done

stamp=$(date +%Y%m%d-%H%M%S)
mkdir -p "$here/results"
report=$here/results/usertime-$stamp.md
python3 - "$work/samples" "$requests" "$freq" "$conns" "$size" "$rounds" >"$report" <<'PY'
import random, statistics, sys
path, requests, freq, conns, size, rounds = sys.argv[1], *map(int, sys.argv[2:])
us = {}  # server -> {round: user µs per round trip}
for line in open(path):
    name, rnd, n = line.split()
    us.setdefault(name, {})[int(rnd)] = int(n) / freq / requests * 1e6
print("# User-space CPU per round trip, sampled\n")
print(f"{conns} connections x {size} B, {requests} round trips per run, "
      f"perf cpu-clock:u at {freq} Hz, {rounds} interleaved round(s).\n")
print("| server | user µs / RT (median) | each round | ÷ mio, each round | ÷ mio (median) "
      "| ÷ mio (pooled) | pooled, 90 % interval |")
print("|---|---:|---|---|---:|---:|---|")
mio = us.get("mio", {})
# Rounds resampled with replacement, with a fixed seed so that the same
# samples always give the same interval.
rng = random.Random(5)

def pooled(by_round, rounds):
    return sum(by_round[r] for r in rounds) / sum(mio[r] for r in rounds)

for name, by_round in us.items():
    med = statistics.median(by_round.values())
    each = " / ".join(f"{by_round[r]:.3f}" for r in sorted(by_round))
    both = [r for r in sorted(by_round) if r in mio and mio[r]]
    ratios = [by_round[r] / mio[r] for r in both]
    ratio_each = " / ".join(f"{x:.2f}" for x in ratios) or "–"
    ratio_med = f"{statistics.median(ratios):.2f}×" if ratios else "–"
    ratio_pooled = f"{pooled(by_round, both):.2f}×" if both else "–"
    interval = "–"
    if len(both) >= 5:
        boot = sorted(pooled(by_round, rng.choices(both, k=len(both))) for _ in range(2000))
        interval = f"{boot[100]:.2f}–{boot[1899]:.2f}"
    print(f"| {name} | {med:.3f} | {each} | {ratio_each} | {ratio_med} | {ratio_pooled} | {interval} |")
PY
cat "$report"
note "written to $report"
