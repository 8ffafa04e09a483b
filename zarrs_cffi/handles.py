"""Ownership of native handles: one pointer, one destroy function, exactly one call to it.

cffi releases the GIL during native calls, so one thread may ``close()`` while another is inside a
call on the same handle. A :class:`Handle` counts the calls in flight; ``close()`` marks it closed
at once (later calls raise :class:`ClosedError`) and the last call in flight destroys the pointer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .errors import ClosedError


class Handle:
    """Owns one native pointer. ``use()`` lends it for one call; ``close()`` is idempotent."""

    __slots__ = ("_closing", "_destroy", "_in_flight", "_lock", "_ptr", "what")

    def __init__(self, ptr: Any, destroy: Callable[[Any], object], what: str) -> None:
        self._ptr = ptr
        self._destroy = destroy
        self._lock = threading.Lock()
        self._in_flight = 0
        self._closing = False
        self.what = what

    @property
    def closed(self) -> bool:
        return self._closing

    def acquire(self) -> Any:
        """Borrow the pointer for one call; pair with :meth:`release` (see :meth:`use`)."""
        with self._lock:
            if self._closing:
                raise ClosedError(f"{self.what} is closed")
            self._in_flight += 1
            return self._ptr

    def release(self) -> None:
        with self._lock:
            self._in_flight -= 1
            last = self._closing and self._in_flight == 0
        if last:
            self._free()

    @contextmanager
    def use(self) -> Iterator[Any]:
        ptr = self.acquire()
        try:
            yield ptr
        finally:
            self.release()

    def close(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
            idle = self._in_flight == 0
        if idle:
            self._free()

    def _free(self) -> None:
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            self._destroy(ptr)

    def __del__(self) -> None:
        # Garbage collection frees the native object; nothing can be in flight at this point.
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass
