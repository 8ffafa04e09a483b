"""A loopback HTTP proxy in front of an object store server (moto's S3, the GCS and Azure servers of
gcs_fake.py and azure_fake.py) that injects faults on request.

Requests are forwarded unchanged (method, path, query, headers including ``Authorization``, body) to
the upstream server and its responses relayed, except where a :class:`Fault` of the plan matches:

* ``status``: answer 500 / 503 (or any status) with an S3-style XML error; nothing is forwarded.
* ``deny``: answer 403 ``AccessDenied`` with an S3-style XML error; nothing is forwarded.
* ``reset``: forward, send the response headers and part of the body, then reset the connection
  (``SO_LINGER`` 0: the peer sees RST). An upload (a request with a body) is reset after part of
  its body was read, and nothing is forwarded.
* ``truncate``: forward, send the headers (full ``Content-Length``) and part of the body, then close
  the connection cleanly (FIN): the body is short. An upload is read, then the connection closed
  without an answer, and nothing is forwarded.
* ``hang``: accept the request and send nothing until ``hang_seconds`` pass (or the proxy stops).

A fault matches on method and/or a path substring and applies to its next ``times`` matching
requests (``None``: every one). Every request is logged as ``(method, path, fault kind or None)``,
the path percent-decoded (faults match it decoded too).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import struct
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
}
S3_ERRORS = {
    401: ("Unauthorized", "Unauthorized"),
    403: ("AccessDenied", "Access Denied"),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
}


def s3_error_body(status: int, resource: str) -> bytes:
    """The XML body S3 sends with an error status."""
    code, message = S3_ERRORS.get(status, ("InternalError", "Injected fault"))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<Resource>{resource}</Resource><RequestId>fault-proxy</RequestId></Error>"
    ).encode()


@dataclass
class Fault:
    """One entry of the fault plan."""

    # "status", "deny", "reset", "truncate", "hang", "delay" (hang_seconds, then forward),
    # "ignore_if_match" (forwarded without If-Match, as servers that do not honour it answer)
    kind: str
    method: str | None = None  # None: any method
    path_contains: str | None = None  # None: any path
    times: int | None = 1  # None: every matching request
    status: int = 500
    keep_fraction: float = 0.5  # reset / truncate: the share of the body sent before closing
    hang_seconds: float = 10.0
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.path_contains is not None and self.path_contains not in path:
            return False
        return self.times is None or self.hits < self.times


class FaultProxy:
    """The proxy: ``start()``, ``endpoint``, ``add(...)``, ``log``, ``count(...)``, ``stop()``."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.plan: list[Fault] = []
        self.log: list[tuple[str, str, str | None]] = []
        self.statuses: list[int] = []  # the upstream's status of each forwarded request
        self.header_names: list[set[str]] = []  # each request's header names, lower case
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.connections: set = set()
        self.server: ThreadingHTTPServer | None = None
        self.in_flight = 0  # requests being handled now, and the most at once
        self.max_in_flight = 0
        self.thread: threading.Thread | None = None

    # --- the plan ------------------------------------------------------------------------------
    def add(self, kind: str, **kwargs: object) -> Fault:
        """Append a fault to the plan (first matching fault wins) and return it."""
        fault = Fault(kind, **kwargs)  # type: ignore[arg-type]
        with self.lock:
            self.plan.append(fault)
        return fault

    def clear(self) -> None:
        """Drop the plan and the log."""
        with self.lock:
            self.plan.clear()
            self.log.clear()
            self.statuses.clear()
            self.header_names.clear()

    def take(self, method: str, path: str) -> Fault | None:
        path = unquote(path)  # GCS's client escapes every "/" and "." of a key
        with self.lock:
            fault = next((f for f in self.plan if f.matches(method, path)), None)
            if fault is not None:
                fault.hits += 1
            self.log.append((method, path, fault.kind if fault else None))
            return fault

    def count(self, method: str | None = None, path_contains: str = "", kind: object = ...) -> int:
        """How many logged requests match (``kind``: a fault kind, None for passed through)."""
        with self.lock:
            return sum(
                1
                for m, p, k in self.log
                if (method is None or m == method) and path_contains in p and (kind is ... or k == kind)
            )

    # --- lifetime ------------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(_Handler):
            pass

        Handler.proxy = proxy
        # A deep accept queue: reads keep dozens of requests in flight, and a dropped connection
        # attempt costs the client a second-long retry.
        ThreadingHTTPServer.request_queue_size = 128
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = False  # server_close() joins every handler thread
        self.thread = threading.Thread(target=self.server.serve_forever, name="fault-proxy", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end every connection and join every thread."""
        self.stopping.set()  # wakes every hanging handler
        if self.server is not None:
            self.server.shutdown()
            with self.lock:  # handlers idle on keep-alive connections stop reading
                for conn in list(self.connections):
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_RDWR)
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(10)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real S3 endpoint
    proxy: FaultProxy

    def setup(self) -> None:
        super().setup()
        with self.proxy.lock:
            self.proxy.connections.add(self.connection)
            if self.proxy.stopping.is_set():  # accepted just as the proxy stopped
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        with self.proxy.lock:
            self.proxy.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(
        self, body: bytes, drop: tuple[str, ...] = ()
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.proxy.upstream_host, self.proxy.upstream_port, timeout=30)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if (
                    name.lower() not in HOP_BY_HOP
                    and name.lower() not in drop
                    and name.lower() != "content-length"
                ):
                    conn.putheader(name, value)
            if body or self.command in ("PUT", "POST"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            response = conn.getresponse()
            data = response.read()
            with self.proxy.lock:
                self.proxy.statuses.append(response.status)
            # A HEAD answer keeps the upstream Content-Length (the object's size); others get the
            # length of the body actually relayed.
            headers = [
                (k, v)
                for k, v in response.getheaders()
                if k.lower() not in HOP_BY_HOP and (self.command == "HEAD" or k.lower() != "content-length")
            ]
            return response.status, response.reason, headers, data
        finally:
            conn.close()

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _reset(self) -> None:
        """Close the connection abruptly: RST, not FIN."""
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _close(self) -> None:
        """Close the connection cleanly after what was sent (FIN)."""
        self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _handle(self) -> None:
        with self.proxy.lock:
            self.proxy.header_names.append({name.lower() for name in self.headers})
        fault = self.proxy.take(self.command, self.path)
        kind = fault.kind if fault is not None else None
        length = int(self.headers.get("Content-Length") or 0)
        if fault is not None and kind == "reset" and length:
            # An upload: take part of the body, then reset; nothing reaches the server.
            self.rfile.read(int(length * fault.keep_fraction))
            self._reset()
            return
        body = self._body()
        if fault is None:
            status, _, headers, data = self._forward(body)
            self._send(status, headers, data)
        elif kind in ("status", "deny"):
            status = 403 if kind == "deny" else fault.status
            error = s3_error_body(status, self.path.split("?")[0])
            self._send(status, [("Content-Type", "application/xml")], error)
        elif kind == "hang":
            self.proxy.stopping.wait(fault.hang_seconds)
            self._close()
        elif kind == "ignore_if_match":
            status, _, headers, data = self._forward(body, drop=("if-match",))
            self._send(status, headers, data)
        elif kind == "delay":
            self.proxy.stopping.wait(fault.hang_seconds)
            status, _, headers, data = self._forward(body)
            self._send(status, headers, data)
        elif kind in ("reset", "truncate"):
            if body:  # a truncated upload: it never reaches the server
                self._close()
                return
            status, _, headers, data = self._forward(body)
            keep = int(len(data) * fault.keep_fraction)
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            if self.command != "HEAD":  # (a HEAD answer has the upstream Content-Length already)
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:keep])
            if kind == "reset":
                self._reset()
            else:
                self._close()
        else:
            raise ValueError(f"unknown fault kind {kind!r}")

    def _guarded(self) -> None:
        with self.proxy.lock:
            self.proxy.in_flight += 1
            self.proxy.max_in_flight = max(self.proxy.max_in_flight, self.proxy.in_flight)
        try:
            self._handle()
        except OSError:  # the client went away, or the upstream server failed
            self.close_connection = True
        finally:
            with self.proxy.lock:
                self.proxy.in_flight -= 1

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _guarded
