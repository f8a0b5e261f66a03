# Shared by the bench scripts (sourced, not run).
#
# Sets: here root target bin aio; after setup_python: py have_uvloop; after
# make_workdir: work.
# Provides: note, require, build_binaries, setup_python, pick_servers,
# server_argv, server_usable, start_server, stop_server, probe_host,
# make_workdir, loadgen_requests, callgrind_run, load_observed.

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
target=${CARGO_TARGET_DIR:-$root/target}
bin=$target/release
aio=$bin/aio
py=""
have_uvloop=0
srv_pid=""
srv_addr=""

note() { echo "${0##*/}: $*" >&2; }

# require TOOL [HOW]: exits, saying so (and how to get it), when TOOL is
# not installed.
require() {
    if ! command -v "$1" >/dev/null; then
        note "$1 is not installed${2:+ ($2)}"
        exit 1
    fi
}

# build_binaries: release builds of aio-bench (required) and aio-cli (optional).
build_binaries() {
    if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
        note "building aio-bench (release) into $target"
        (cd "$root" && cargo build --release -q -p aio-bench)
        note "building aio-cli (release)"
        if ! (cd "$root" && cargo build --release -q -p aio-cli); then
            note "aio-cli did not build: the aio rows will be skipped"
        fi
    fi
    local b
    for b in loadgen mio_echo tokio_echo tokio_lines_echo; do
        if [[ ! -x $bin/$b ]]; then
            note "missing $bin/$b (build failed?)"
            return 1
        fi
    done
    if [[ ! -x $aio ]]; then
        note "no aio binary at $aio: the aio rows will be skipped"
    fi
}

# setup_python: a venv at bench/.venv with uvloop; falls back to python3
# without uvloop, or to no Python rows at all.
setup_python() {
    local venv=$here/.venv
    if [[ ! -x $venv/bin/python ]]; then
        note "creating $venv"
        python3 -m venv "$venv" >&2 || note "python3 -m venv failed"
    fi
    if [[ -x $venv/bin/python ]]; then
        py=$venv/bin/python
        if ! "$py" -c 'import uvloop' 2>/dev/null; then
            note "installing uvloop into $venv"
            "$venv/bin/pip" install -q uvloop >&2 || true
        fi
        if "$py" -c 'import uvloop' 2>/dev/null; then
            have_uvloop=1
        else
            note "uvloop is not available: the uvloop rows will be skipped"
        fi
    elif command -v python3 >/dev/null; then
        py=$(command -v python3)
        note "no venv: the asyncio rows use $py, the uvloop rows are skipped"
    else
        note "no python3: the asyncio and uvloop rows will be skipped"
    fi
}

# pick_servers [SERVER...]: sets servers to the ones named, or to the Rust
# servers when none is; sets up Python only when a Python server is named.
pick_servers() {
    if (($# > 0)); then
        servers=("$@")
    else
        servers=(mio tokio tokio-lines aio-protocol aio-streams aio-sockets)
    fi
    if [[ " ${servers[*]} " =~ \ (asyncio|uvloop)- ]]; then
        setup_python
    fi
}

# server_argv NAME: sets argv to the server's command line, or empties it
# when that server cannot run here.
server_argv() {
    local pyscript=$here/python/echo_asyncio.py
    argv=()
    case $1 in
    mio) argv=("$bin/mio_echo" --port 0) ;;
    tokio) argv=("$bin/tokio_echo" --port 0) ;;
    tokio-lines) argv=("$bin/tokio_lines_echo" --port 0) ;;
    tokio-mt2) argv=("$bin/tokio_echo" --port 0 --threads 2) ;;
    aio-protocol | aio-streams | aio-sockets)
        if [[ -x $aio ]]; then argv=("$aio" echo --api "${1#aio-}" --port 0); fi ;;
    aio-workers2)
        if [[ -x $aio ]]; then argv=("$aio" echo --api protocol --port 0 --workers 2); fi ;;
    asyncio-protocol | asyncio-streams)
        if [[ -n $py ]]; then argv=("$py" "$pyscript" --mode "${1#asyncio-}"); fi ;;
    uvloop-protocol | uvloop-streams)
        if ((have_uvloop)); then argv=("$py" "$pyscript" --uvloop --mode "${1#uvloop-}"); fi ;;
    *) note "unknown server: $1" ;;
    esac
}

# server_usable NAME: server_argv NAME; false, with a note, when that server
# cannot run here.
server_usable() {
    server_argv "$1"
    if ((${#argv[@]} == 0)); then
        note "skipping $1: not available here"
        return 1
    fi
}

# start_server CPUS LOGDIR TIMEOUT_S CMD...: starts CMD pinned to CPUS, waits for
# `listening on IP:PORT`; sets srv_pid and srv_addr. Fails (stopping it) if
# the line does not come in time; LOGDIR/err then holds its stderr.
start_server() {
    local cpus=$1 dir=$2 timeout=$3 i
    shift 3
    : >"$dir/out"
    : >"$dir/err"
    taskset -c "$cpus" "$@" >"$dir/out" 2>"$dir/err" &
    srv_pid=$!
    srv_addr=""
    for ((i = 0; i < timeout * 10; i++)); do
        srv_addr=$(sed -n 's/^listening on //p' "$dir/out" | head -1)
        if [[ -n $srv_addr ]]; then
            return 0
        fi
        kill -0 "$srv_pid" 2>/dev/null || break
        sleep 0.1
    done
    stop_server quiet
    return 1
}

# stop_server [quiet]: SIGTERM, then SIGKILL after 5 s (or 60 s under valgrind).
stop_server() {
    local i limit=${STOP_TIMEOUT:-5}
    [[ -n $srv_pid ]] || return 0
    kill -TERM "$srv_pid" 2>/dev/null || true
    for ((i = 0; i < limit * 10; i++)); do
        kill -0 "$srv_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$srv_pid" 2>/dev/null; then
        [[ ${1:-} == quiet ]] || note "server $srv_pid did not exit on SIGTERM within $limit s; killing it"
        kill -KILL "$srv_pid" 2>/dev/null || true
    fi
    wait "$srv_pid" 2>/dev/null || true
    srv_pid=""
}

# probe_host SECS: percent of wall time each CPU was away (gaps over 0.2 ms
# in a busy loop) while nothing else of ours ran: how noisy the machine is.
probe_host() {
    local secs=$1
    local code='
import sys, time
end = time.perf_counter() + float(sys.argv[1]); last = time.perf_counter(); lost = 0.0
while last < end:
    t = time.perf_counter()
    if t - last > 0.0002: lost += t - last
    last = t
print(f"{100 * lost / float(sys.argv[1]):.1f}")'
    local tmp
    tmp=$(mktemp -d)
    taskset -c 0 python3 -c "$code" "$secs" >"$tmp/0" &
    local p0=$!
    taskset -c 1 python3 -c "$code" "$secs" >"$tmp/1" &
    wait "$p0" $!
    echo "$(cat "$tmp/0") $(cat "$tmp/1")"
    rm -rf "$tmp"
}

# make_workdir: a temporary directory in $work, removed on exit together with
# any server still running.
make_workdir() {
    work=$(mktemp -d)
    trap cleanup_workdir EXIT
}

cleanup_workdir() {
    if [[ -n $srv_pid ]]; then
        kill -KILL "$srv_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}

# loadgen_requests N: exactly N round trips against the running server, with
# $conns connections of $size bytes; the JSON result goes to $work/lg.json.
loadgen_requests() {
    taskset -c 1 "$bin/loadgen" --addr "$srv_addr" --conns "$conns" --size "$size" \
        --requests "$1" --json >"$work/lg.json" 2>"$work/lgerr"
}

# callgrind_run N OUT [VALGRIND_OPTION...]: runs the server in $argv (named
# $name in messages) under callgrind, with the options given, while the
# load generator makes exactly N round trips; the profile goes to OUT.
callgrind_run() {
    local n=$1 out=$2
    shift 2
    rm -f "$out"
    if ! start_server 0 "$work" 120 valgrind --tool=callgrind "$@" \
        --callgrind-out-file="$out" "${argv[@]}"; then
        note "$name under valgrind did not start: $(tail -c 300 "$work/err" | tr '\n' ' ')"
        return 1
    fi
    if ! loadgen_requests "$n"; then
        note "$name: loadgen failed: $(head -c 300 "$work/lgerr")"
        STOP_TIMEOUT=60 stop_server
        return 1
    fi
    STOP_TIMEOUT=60 stop_server
}

# load_observed NAME WARMUP N OBSERVER...: starts the server in $argv (named
# NAME in messages), warms it up with WARMUP round trips (connection set-up
# and first-touch page faults, unobserved), then runs `OBSERVER... -p PID`
# in the background while the load generator makes exactly N round trips.
# Stops the observer with SIGINT (perf then writes what it has) and the
# server; the observer's stderr is in $work/observer-err. Fails, with a
# note, if the server does not start or the load generator fails.
load_observed() {
    local name=$1 warmup=$2 n=$3
    shift 3
    if ! start_server 0 "$work" 30 "${argv[@]}"; then
        note "$name did not start: $(tail -c 300 "$work/err" | tr '\n' ' ')"
        return 1
    fi
    loadgen_requests "$warmup" || true
    "$@" -p "$srv_pid" >/dev/null 2>"$work/observer-err" &
    local opid=$!
    # Neither perf nor strace says when it has attached; give it a moment.
    sleep 0.5
    local ok=1
    loadgen_requests "$n" || ok=0
    kill -INT "$opid" 2>/dev/null || true
    wait "$opid" 2>/dev/null || true
    stop_server
    if ((!ok)); then
        note "$name: loadgen failed: $(head -c 300 "$work/lgerr")"
        return 1
    fi
}
