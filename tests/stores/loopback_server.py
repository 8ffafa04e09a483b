"""What the object store servers of the tests (gcs_fake.py, azure_fake.py) share: serving a handler
on 127.0.0.1 in a daemon thread, the handler's plumbing, and HTTP ``Range`` parsing; and
:func:`serve`, a directory store served over HTTP (or HTTPS) by Python's static file handler."""

from __future__ import annotations

import functools
import http.server
import pathlib
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


# --- a directory served over HTTP(S) ----------------------------------------------------------
class DirectoryServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # Reads run up to get_io_concurrency() requests at once: with socketserver's backlog of 5 the
    # kernel drops the surplus SYNs and each retransmit costs the client a second.
    request_queue_size = 128

    def __init__(self, handler: Any) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.seen: list[tuple[str, str, int]] = []  # (method, path, status) of every request


class PlainHandler(http.server.SimpleHTTPRequestHandler):
    """http.server's static file handler (no Range support), quiet, recording every request."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        status = int(code) if isinstance(code, int) or str(code).isdigit() else -1
        getattr(self.server, "seen", []).append((str(self.command), self.path, status))


@dataclass
class Served:
    url: str  # of the directory store on the server
    server: DirectoryServer
    directory: pathlib.Path  # the directory store behind it

    @property
    def seen(self) -> list[tuple[str, str, int]]:
        return self.server.seen


@contextmanager
def serve(directory: pathlib.Path, handler: type, tls: ssl.SSLContext | None = None) -> Iterator[Served]:
    """Serve ``directory``'s parent on 127.0.0.1 (an ephemeral port) until the block ends; over
    HTTPS with the server context ``tls``."""
    server = DirectoryServer(functools.partial(handler, directory=str(directory.parent)))
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="test-http-server", daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        scheme = "https" if tls is not None else "http"
        yield Served(f"{scheme}://127.0.0.1:{port}/{directory.name}", server, directory)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the HTTP server thread is still running"
