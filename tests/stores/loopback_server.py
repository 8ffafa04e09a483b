"""What the object store servers of the tests (gcs_fake.py, azure_fake.py) share: serving a handler
on 127.0.0.1 in a daemon thread, the handler's plumbing, and HTTP ``Range`` parsing."""

from __future__ import annotations

import http.server
import socket
import threading
from typing import Any, TypeVar

Server = TypeVar("Server", bound="LoopbackServer")


class Unsatisfiable(Exception):
    """A ``Range`` no byte of the object satisfies (HTTP 416)."""


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The half-open range ``[start, stop)`` a ``bytes=...`` header asks of a ``size``-byte object.

    None for a header a server ignores (malformed, several ranges, or ``first > last``: the whole
    object is returned, as HTTP says). Raises :class:`Unsatisfiable` when no byte is in range.
    """
    text = header.strip()
    if not text.startswith("bytes=") or "," in text:
        return None
    first, dash, last = text[len("bytes=") :].strip().partition("-")
    if not dash or not (first.isdigit() or last.isdigit()) or (first and not first.isdigit()):
        return None
    if last and not last.isdigit():
        return None
    if not first:  # suffix: the last N bytes
        count = int(last)
        if count == 0 or size == 0:
            raise Unsatisfiable
        return max(size - count, 0), size
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise Unsatisfiable
    return start, (min(int(last) + 1, size) if last else size)


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1, responses sent at once, no request log on stderr."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and
        # the client's delayed ACK hold the body back ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures
        pass


class LoopbackServer:
    """A server of ``handler_class`` requests on 127.0.0.1 (a free port), in a daemon thread.

    Subclasses set ``handler_class`` (a :class:`QuietHandler` whose ``server_fake`` attribute is
    this object while it serves) and may override :meth:`endpoint_at`. Use :meth:`start` and
    :meth:`stop`, or the object as a context manager.
    """

    handler_class: type[QuietHandler]
    thread_name = "loopback-server"

    def __init__(self) -> None:
        self.endpoint = ""
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def endpoint_at(self, host: str, port: int) -> str:
        """The URL clients are given for the server at ``host:port``."""
        return f"http://{host}:{port}"

    def start(self: Server) -> Server:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread; sets :attr:`endpoint`."""
        if self._server is not None:
            return self
        handler = type("Handler", (self.handler_class,), {"server_fake": self})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        host, port = server.server_address[:2]
        self.endpoint = self.endpoint_at(str(host), int(port))
        self._server = server
        # A short poll interval: shutdown() waits for the serving loop to notice (default 0.5 s).
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self: Server) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
