#!/usr/bin/env bash
# Side-by-side echo benchmark: aio against a raw mio loop, tokio, asyncio and uvloop.
#
#   bench/run.sh            full grid (conns 1/50/500 x sizes 64/1024/16384)
#   bench/run.sh --smoke    tiny grid for CI: 1 conn x 64 B for 0.5 s, Rust servers only
#
# Every server runs pinned to CPU 0 and the load generator to CPU 1. For each
# grid cell every server is started afresh, measured and stopped before the
# next one (interleaved, so drifts in machine speed hit all servers alike).
# Prints a markdown table and writes bench/results/<stamp>.{jsonl,md,svg} and
# bench/results/latest.{md,svg}. See bench/README.md for the columns.
#
# Environment (all optional):
#   BENCH_DURATION  measured seconds per run (3; smoke 0.5)
#   BENCH_WARMUP    unmeasured seconds before it (1; smoke 0.2)
#   BENCH_CONNS     connection counts ("1 50 500")
#   BENCH_SIZES     message sizes in bytes ("64 1024 16384")
#   BENCH_CELLS     only these CONNSxSIZE cells instead of the grid, e.g. "50x1024
#                   500x16384" (the two cells the targets are judged on)
#   BENCH_SERVERS   only these servers (names as in the table), space-separated
#   BENCH_REPEAT    rounds over the whole grid (1)
#   BENCH_PICK      with several rounds, the table shows the "best" round of each
#                   server and cell (the default) or the "median" of each figure
#   BENCH_RETRIES   how often a run with many connections in which neither side
#                   was busy (a host stall) is measured again (2)
#   BENCH_MT=1      also run tokio multi-thread (2 workers) and aio --workers 2,
#                   on both CPUs (reported, not a target)
#   BENCH_NO_BUILD=1  use the binaries already built
#   CARGO_TARGET_DIR  where cargo builds (default: the workspace's target/)
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

smoke=0
for arg in "$@"; do
    case $arg in
    --smoke) smoke=1 ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        note "unknown argument: $arg"
        exit 2
        ;;
    esac
done

if ((smoke)); then
    duration=${BENCH_DURATION:-0.5}
    warmup=${BENCH_WARMUP:-0.2}
    conns_list=${BENCH_CONNS:-1}
    sizes_list=${BENCH_SIZES:-64}
else
    duration=${BENCH_DURATION:-3}
    warmup=${BENCH_WARMUP:-1}
    conns_list=${BENCH_CONNS:-1 50 500}
    sizes_list=${BENCH_SIZES:-64 1024 16384}
fi
# The cells to run, as CONNSxSIZE words: BENCH_CELLS, or the grid.
cells=${BENCH_CELLS:-}
if [[ -z $cells ]]; then
    for conns in $conns_list; do
        for size in $sizes_list; do
            cells+="${conns}x$size "
        done
    done
fi
for cell in $cells; do
    if [[ ! $cell =~ ^[0-9]+x[0-9]+$ ]]; then
        note "BENCH_CELLS: '$cell' is not CONNSxSIZE (like 50x1024)"
        exit 2
    fi
done
repeat=${BENCH_REPEAT:-1}
max_retries=${BENCH_RETRIES:-2}
clk_tck=$(getconf CLK_TCK)

build_binaries
if ((!smoke)); then
    setup_python
fi

servers=(mio tokio tokio-lines aio-protocol aio-streams aio-sockets)
if ((!smoke)); then
    servers+=(asyncio-protocol asyncio-streams uvloop-protocol uvloop-streams)
fi
if [[ ${BENCH_MT:-0} == 1 ]]; then
    servers+=(tokio-mt2 aio-workers2)
fi
if [[ -n ${BENCH_SERVERS:-} ]]; then
    wanted=" $BENCH_SERVERS "
    kept=()
    for s in "${servers[@]}"; do
        if [[ $wanted == *" $s "* ]]; then kept+=("$s"); fi
    done
    servers=("${kept[@]}")
fi

server_cpus() {
    case $1 in
    *-mt2 | *-workers2) echo 0,1 ;;
    *) echo 0 ;;
    esac
}

mkdir -p "$here/results"
stamp=$(date +%Y%m%d-%H%M%S)
out=$here/results/$stamp.jsonl
make_workdir

json_str() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }

note "probing how much CPU time the host takes away (1 s)"
read -r lost0 lost1 < <(probe_host 1)
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
pyver=none
if [[ -n $py ]]; then
    pyver=$("$py" -c 'import sys; print(sys.version.split()[0])')
fi
printf '{"meta":{"date":%s,"host":%s,"cpu":%s,"ncpu":%s,"kernel":%s,"clk_tck":%s,"duration_s":%s,"warmup_s":%s,"repeat":%s,"smoke":%s,"python":%s,"lost_pct":[%s,%s]}}\n' \
    "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" "$(json_str "$(hostname)")" \
    "$(json_str "$cpu_model")" "$(nproc)" "$(json_str "$(uname -sr)")" "$clk_tck" \
    "$duration" "$warmup" "$repeat" "$smoke" "$(json_str "$pyver")" "$lost0" "$lost1" >"$out"

declare -A skipped=()
skip() {
    if [[ -z ${skipped[$1]:-} ]]; then
        note "skipping $1: $2"
        skipped[$1]=1
    fi
}

# stalled JSON: true when, with many connections, neither the server nor the
# load generator was busy for most of the window (the host took the time).
stalled() {
    python3 -c '
import json, sys
d = json.loads(sys.argv[1]); w = d.get("window_s") or 0; tck = float(sys.argv[2])
if d.get("conns", 0) < 50 or not w or d.get("server_cpu_ns") is None or d.get("client_user_ticks") is None:
    sys.exit(1)
server = d["server_cpu_ns"] / 1e9 / w
client = (d["client_user_ticks"] + d["client_sys_ticks"]) / tck / w
sys.exit(0 if max(server, client) < 0.8 else 1)' "$1" "$clk_tck"
}

# measure NAME CONNS SIZE ROUND: one fresh server, one loadgen run; appends
# the result to $out. Returns 1 if nothing was measured, 2 if it looked stalled.
measure() {
    local name=$1 conns=$2 size=$3 round=$4 rc=0 res rss alive=1
    if ! start_server "$(server_cpus "$name")" "$work" 10 "${argv[@]}"; then
        skip "$name" "it did not print 'listening on IP:PORT' ($(tail -c 300 "$work/err" | tr '\n' ' '))"
        return 1
    fi
    note "round $round: $name, $conns conns x $size B"
    res=$(taskset -c 1 "$bin/loadgen" --addr "$srv_addr" --conns "$conns" \
        --size "$size" --duration "$duration" --warmup "$warmup" \
        --server-pid "$srv_pid" --json 2>"$work/lgerr") || rc=$?
    rss=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$srv_pid/status" 2>/dev/null || true)
    kill -0 "$srv_pid" 2>/dev/null || alive=0
    stop_server
    if [[ -z $res ]]; then
        note "$name: loadgen failed (rc $rc): $(head -c 300 "$work/lgerr")"
        return 1
    fi
    if ((rc != 0)); then note "$name: loadgen: $(head -c 300 "$work/lgerr")"; fi
    if ((!alive)); then
        note "$name: the server died during the run: $(tail -c 300 "$work/err" | tr '\n' ' ')"
    fi
    if ((retries_left > 0)) && stalled "$res"; then
        return 2
    fi
    echo "${res%\}},\"server\":\"$name\",\"round\":$round,\"rss_kb\":${rss:-null},\"server_alive\":$alive}" >>"$out"
    ncells=$((ncells + 1))
}

ncells=0
for round in $(seq "$repeat"); do
    for cell in $cells; do
        conns=${cell%x*} size=${cell#*x}
        for name in "${servers[@]}"; do
            if [[ -n ${skipped[$name]:-} ]]; then continue; fi
            server_argv "$name"
            if ((${#argv[@]} == 0)); then
                skip "$name" "not available here (see above)"
                continue
            fi
            retries_left=$max_retries
            while true; do
                rc=0
                measure "$name" "$conns" "$size" "$round" || rc=$?
                ((rc == 2)) || break
                note "$name: neither side was busy (host stall?); measuring again"
                retries_left=$((retries_left - 1))
            done
        done
    done
done

if ((ncells == 0)); then
    note "no server produced a result"
    exit 1
fi
python3 "$here/python/report.py" "$out" --pick "${BENCH_PICK:-best}" --md "$here/results/$stamp.md" --svg "$here/results/$stamp.svg"
cp "$here/results/$stamp.md" "$here/results/latest.md"
if [[ -f $here/results/$stamp.svg ]]; then
    cp "$here/results/$stamp.svg" "$here/results/latest.svg"
fi
note "results: $out, $here/results/$stamp.md"
