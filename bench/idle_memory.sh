#!/usr/bin/env bash
# Memory per idle connection: each server holds N idle connections (each
# having echoed one short message, so its buffers were used once), and the
# growth of its RSS (VmRSS) over the idle baseline, divided by N, is the
# process's own cost per connection; the kernel's socket memory is not in
# RSS.
#
#   bench/idle_memory.sh [SERVER...]     default: mio tokio aio-protocol aio-streams aio-sockets
#
# Environment: IDLE_CONNS (10000), BENCH_NO_BUILD=1, CARGO_TARGET_DIR.
set -euo pipefail
# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

conns=${IDLE_CONNS:-10000}
# Client and server (separate processes) each need a descriptor per connection.
ulimit -n $((conns + 1024)) 2>/dev/null || {
    note "cannot raise the descriptor limit to $((conns + 1024)); try a smaller IDLE_CONNS"
    exit 2
}
build_binaries
setup_python
if (($# > 0)); then servers=("$@"); else servers=(mio tokio aio-protocol aio-streams aio-sockets); fi

make_workdir
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

echo "| server | idle conns | RSS before KiB | RSS after KiB | bytes per connection |"
echo "|---|---:|---:|---:|---:|"
for name in "${servers[@]}"; do
    server_usable "$name" || continue
    if ! start_server 0 "$work" 20 "${argv[@]}"; then
        note "$name: did not start"
        continue
    fi
    before=$(rss_kib "$srv_pid")
    # The client holds every connection open until told to let go, after
    # the server's RSS is read.
    mkfifo "$work/go"
    "${py:-python3}" - "$srv_addr" "$conns" "$work/go" >"$work/client" <<'PY' &
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
socks = []
for _ in range(int(sys.argv[2])):
    s = socket.create_connection((host, int(port)))
    s.sendall(b"ping\n")
    socks.append(s)
for s in socks:
    got = b""
    while not got.endswith(b"\n"):
        chunk = s.recv(64)
        if not chunk:
            break
        got += chunk
print("ready", flush=True)
open(sys.argv[3]).read()
PY
    client=$!
    for ((i = 0; i < 600; i++)); do
        grep -q ready "$work/client" 2>/dev/null && break
        sleep 0.1
    done
    after=$(rss_kib "$srv_pid")
    echo go >"$work/go"
    wait "$client" || true
    rm -f "$work/go" "$work/client"
    stop_server quiet
    per=$(((after - before) * 1024 / conns))
    echo "| $name | $conns | $before | $after | $per |"
done
