"""The two servers of the remote benchmark (`remote.py`), each run as its own process.

* ``moto``: moto's S3 server (its WSGI app, served by cheroot or waitress with keep-alive
  connections, or by werkzeug as ``ThreadedMotoServer`` does) behind a small WSGI middleware that
  logs every request:
  method, server-side start and end (``time.monotonic``, which is the system-wide
  ``CLOCK_MONOTONIC`` on Linux, so the harness can compare it with its own clock), bytes in and
  out, and the client's port (one port per connection). ``GET /__zc_bench__/stats`` returns the
  log as JSON and empties it (``?keep=1`` keeps it); that request is not logged.
* ``proxy``: a TCP proxy on loopback that delays every byte by ``--delay-ms`` in each direction,
  as ``tc netem delay`` on the link would (a request/response round costs twice the delay), and
  the first bytes of a new connection by two more one-way delays (the TCP handshake's round
  trip, which the proxy itself answers at once). Delays overlap: a connection carries data at the
  full loopback rate once it flows, and any number of connections wait at the same time. Used when
  the kernel has no ``sch_netem`` (this benchmark's machine: ``CONFIG_NET_SCH_NETEM`` is not set).

Both print ``PORT <n>`` on standard output once they listen (port 0: the kernel picks a free one).

    python bench/remote_servers.py moto [--port 0] [--server cheroot|waitress|werkzeug] [--threads 64]
    python bench/remote_servers.py proxy --upstream-port N --delay-ms 10 [--port 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
import time
from urllib.parse import parse_qs

STATS_PATH = "/__zc_bench__/stats"
# asyncio stops reading a socket once its StreamReader holds twice its limit (64 KiB by default),
# which capped the proxy at ~185 MB/s; with 4 MiB pieces it passes data at loopback speed.
STREAM_LIMIT = 1 << 22
# Idle keep-alive connections cheroot keeps open (more than any client here opens).
KEEP_ALIVE_LIMIT = 4096


class RequestLog:
    """WSGI middleware: log every request (method, start, end, bytes in/out, client port)."""

    def __init__(self, app) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.records: list[tuple] = []

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == STATS_PATH:
            return self._stats(environ, start_response)
        start = time.monotonic()
        try:
            bytes_in = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            bytes_in = 0
        record = [environ.get("REQUEST_METHOD", "?"), start, start, bytes_in, 0, environ.get("REMOTE_PORT")]
        return _Counted(self.app(environ, start_response), record, self)

    def add(self, record: list) -> None:
        with self.lock:
            self.records.append(tuple(record))

    def _stats(self, environ, start_response):
        keep = parse_qs(environ.get("QUERY_STRING", "")).get("keep") == ["1"]
        with self.lock:
            records = list(self.records)
            if not keep:
                self.records.clear()
        body = json.dumps({"now": time.monotonic(), "records": records}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


class _Counted:
    """The app's response body, counted as werkzeug writes it; logged when werkzeug closes it
    (after the last byte went to the socket)."""

    def __init__(self, body, record: list, log: RequestLog) -> None:
        self.body, self.record, self.log = body, record, log

    def __iter__(self):
        for piece in self.body:
            self.record[4] += len(piece)
            yield piece

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.record[2] = time.monotonic()
            self.log.add(self.record)


def serve_moto(port: int, server: str, threads: int) -> None:
    """moto's S3 server with the request log, until killed.

    ``cheroot`` (the default) keeps connections alive, as S3 does, and parks idle ones in a
    selector. ``waitress`` keeps them alive too, but idle connections slow it down for everyone
    (measured, not profiled; likely its one I/O thread, which polls every open connection): each
    client holding idle connections slowed every other client's reads (zarrs_cffi's whole-array read of u16_zstd took 0.7-1.0 s alone and 1.6-3.2 s
    while 16-64 idle keep-alive connections from elsewhere were open; with cheroot 0.68-0.75 s
    either way: bench/RESULTS.md, "The remote benchmark's server"). werkzeug's server (the one
    ``ThreadedMotoServer`` and ``python -m moto.server`` use) closes every connection after one
    response, so each request would pay a new connection (one more round trip behind the delay
    proxy). ``threads`` worker threads (cheroot, waitress): enough that every request in flight
    is being served (the request log's start is then its arrival), not queued.
    """
    # Keep every object in memory (moto spools objects above ~5 MiB to temporary files): the
    # shards are 17-34 MiB, and the benchmark is about the client, not the server's disk.
    os.environ.setdefault("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", str(1 << 30))
    from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app

    # moto's S3 Flask app itself. moto's server puts a dispatcher in front that works out the
    # service of every request under a global lock, listing moto's package directories (~180
    # stat calls a request, half of a GET's time in a profile): every request here is S3.
    app = RequestLog(create_backend_app("s3"))
    if server == "waitress":
        # waitress sends every response from its one I/O thread, which must win the GIL from up
        # to `threads` busy workers: at the default 5 ms switch interval the loopback bandwidth
        # through moto fell by a third and whole-array reads took 1.5-2x longer.
        sys.setswitchinterval(0.0005)
        import waitress

        big = 1 << 30  # no spilling of request or response bodies to temporary files
        httpd = waitress.create_server(
            app,
            host="127.0.0.1",
            port=port,
            threads=threads,
            connection_limit=4096,
            backlog=4096,
            recv_bytes=1 << 18,
            send_bytes=1,
            outbuf_overflow=big,
            outbuf_high_watermark=big,
            inbuf_overflow=big,
            channel_timeout=600,
            asyncore_use_poll=True,
            clear_untrusted_proxy_headers=False,
        )
        logging.getLogger("waitress").setLevel(logging.ERROR)
        print(f"PORT {httpd.effective_port}", flush=True)
        httpd.run()
        return
    if server == "cheroot":
        from cheroot import wsgi

        # request_queue_size: the listen backlog (every client connects at once).
        httpd = wsgi.Server(("127.0.0.1", port), app, numthreads=threads, request_queue_size=4096)
        # cheroot keeps at most 10 idle keep-alive connections by default and closes the others
        # after their response: a client with more than 10 requests in flight then paid a new
        # connection (one more round trip behind the delay proxy) for nearly every request
        # (512 connections for 512 GETs). S3 keeps them open.
        httpd.keep_alive_conn_limit = KEEP_ALIVE_LIMIT
        httpd.prepare()
        print(f"PORT {httpd.bind_addr[1]}", flush=True)
        httpd.serve()
        return
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr
    httpd = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    httpd.daemon_threads = True
    print(f"PORT {httpd.server_address[1]}", flush=True)
    httpd.serve_forever()


async def _pump(reader, writer, delay: float, not_before: float) -> None:
    """Copy ``reader`` to ``writer``, each piece released ``delay`` seconds after it arrived (and
    not before ``not_before``); pieces in flight overlap, as on a link with that latency."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    async def release() -> None:
        try:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            return

    sender = asyncio.create_task(release())
    try:
        while True:
            try:
                data = await reader.read(STREAM_LIMIT)
            except (ConnectionError, OSError):
                data = b""
            queue.put_nowait((max(loop.time() + delay, not_before), data))
            if not data:
                break
        await sender
    finally:
        sender.cancel()


async def _serve_proxy(port: int, upstream_port: int, delay: float) -> None:
    async def handle(client_reader, client_writer) -> None:
        loop = asyncio.get_running_loop()
        accepted = loop.time()
        try:
            up_reader, up_writer = await asyncio.open_connection(
                "127.0.0.1", upstream_port, limit=STREAM_LIMIT
            )
        except OSError:
            client_writer.close()
            return
        for w in (client_writer, up_writer):
            sock = w.get_extra_info("socket")
            if sock is not None:
                import socket

                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # With netem the client's connect() returns after one round trip and its first bytes
        # reach the server one more one-way delay later.
        first = accepted + 3 * delay
        try:
            await asyncio.gather(
                _pump(client_reader, up_writer, delay, first),
                _pump(up_reader, client_writer, delay, 0.0),
            )
        finally:
            for w in (client_writer, up_writer):
                w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024, limit=STREAM_LIMIT)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv=None) -> None:
    """Entry point: ``moto`` or ``proxy``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("moto", "proxy"))
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--upstream-port", type=int)
    p.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay (proxy)")
    p.add_argument(
        "--server", choices=("cheroot", "waitress", "werkzeug"), default="cheroot", help="moto's HTTP server"
    )
    p.add_argument("--threads", type=int, default=64, help="cheroot or waitress worker threads (moto)")
    args = p.parse_args(argv)
    if args.what == "moto":
        serve_moto(args.port, args.server, args.threads)
    else:
        if not args.upstream_port:
            sys.exit("proxy needs --upstream-port")
        asyncio.run(_serve_proxy(args.port, args.upstream_port, args.delay_ms / 1000.0))


if __name__ == "__main__":
    main()
