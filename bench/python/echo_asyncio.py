#!/usr/bin/env python3
"""Python asyncio (or uvloop) echo server, the peer of aio's echo modes.

--mode protocol  an asyncio.Protocol whose data_received writes the bytes back
                 (the transports/protocols layer, like `aio echo --api protocol`)
--mode streams   start_server + StreamReader.readline + write + drain, line by
                 line (like `aio echo --api streams`)
--uvloop         run on uvloop's event loop instead of the default one

Prints exactly `listening on IP:PORT` to stdout when ready (port 0 lets the
kernel pick) and runs until killed; SIGTERM and SIGINT exit 0. asyncio and
uvloop set TCP_NODELAY on TCP transports themselves. The listen backlog is
1024 so that 500 simultaneous connects are not dropped.
"""

import argparse
import asyncio
import signal
import sys


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    def eof_received(self):
        return False


async def handle_lines(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            writer.write(line)
            await writer.drain()
    except (ConnectionError, asyncio.LimitOverrunError, ValueError):
        pass
    finally:
        writer.close()


async def main(args):
    loop = asyncio.get_running_loop()
    if args.mode == "protocol":
        server = await loop.create_server(
            EchoProtocol, args.host, args.port, backlog=1024
        )
    else:
        server = await asyncio.start_server(
            handle_lines, args.host, args.port, backlog=1024
        )
    host, port = server.sockets[0].getsockname()[:2]
    sys.stdout.write(f"listening on {host}:{port}\n")
    sys.stdout.flush()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    await stop
    server.close()


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--mode", choices=("protocol", "streams"), default="protocol")
    p.add_argument("--uvloop", action="store_true")
    return p.parse_args()


if __name__ == "__main__":
    args = parse()
    if args.uvloop:
        try:
            import uvloop
        except ImportError:
            sys.stderr.write("echo_asyncio: uvloop is not installed\n")
            sys.exit(3)
        if hasattr(uvloop, "run"):
            runner = uvloop.run
        else:  # uvloop before 0.18
            uvloop.install()
            runner = asyncio.run
    else:
        runner = asyncio.run
    runner(main(args))
