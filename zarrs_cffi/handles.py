"""Ownership of native handles: one pointer, one destroy function, exactly one call to it.

cffi releases the GIL during native calls, so one thread may ``close()`` while another is inside a
call on the same handle. A :class:`Handle` counts the calls in flight; ``close()`` marks it closed
at once (later calls raise :class:`ClosedError`) and whoever sees the count reach zero after that
destroys the pointer.

The count is a list of tokens: ``list.append`` / ``list.pop`` are atomic, so the hot path takes no
lock. The ordering makes it safe: a caller registers its token *before* checking ``closed``, and
``close()`` sets ``closed`` *before* looking at the tokens, so either the caller sees ``closed`` or
``close()`` sees the caller. The pointer sits in a one-element list whose ``pop()`` succeeds once,
so it is destroyed exactly once even if two threads race to do it.

Lends to code outside the package (:meth:`Handle.lend`) hold the pointer like a call, and are also
counted on their own list: a return with no lend outstanding is refused instead of taking away the
hold of some call in flight (whose pointer ``close()`` could then destroy under it).

An operation made of several calls (a strided write: chunks read, changed and stored; reads
through the chunk cache, box by box on helper threads) takes the pointer once (:meth:`use`) and
hands it to each of its calls, which so go ahead after a ``close()`` that comes meanwhile: the
operation finishes whole instead of failing halfway with part of a write stored. Calls of anyone
else that start after the ``close()`` raise :class:`ClosedError`.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ._native import ffi
from .errors import ClosedError, InvalidArgumentError


def address(ptr: Any) -> int:
    """The address a cffi pointer holds."""
    return int(ffi.cast("uintptr_t", ptr))


# Which live Handle owns (will destroy) which native address: a second owner of one pointer
# (Array.from_handle(..., owned=True) twice, or of a handle an Array lent to C) destroyed it twice.
# No lock: single dict operations are atomic, and _free runs in __del__, where a lock this thread
# holds (garbage collected inside the locked block) would never be released.
_owners: dict[int, weakref.ref[Handle]] = {}


def owner_of(addr: int) -> Handle | None:
    """The live :class:`Handle` that will destroy the native object at ``addr``, if any."""
    ref = _owners.get(addr)
    handle = ref() if ref is not None else None
    return handle if handle is not None and handle._owned else None


class Handle:
    """Owns one native pointer. ``acquire()``/``release()`` lend it for one call."""

    __slots__ = (
        "__weakref__",
        "_claims",
        "_destroy",
        "_lends",
        "_owned",
        "_ptr",
        "_tokens",
        "closed",
        "what",
    )

    def __init__(self, ptr: Any, destroy: Callable[[Any], object], what: str, *, owns: bool = True) -> None:
        self._ptr = ptr
        self._owned = [ptr]
        self._destroy = destroy
        self._tokens: list[None] = []
        self._lends: list[None] = []  # the lends among the holds in _tokens
        self.closed = False
        self.what = what
        self._claims: list[tuple[int, weakref.ref[Handle]]] = []
        if owns:
            self.claim(address(ptr))

    def claim(self, addr: int) -> None:
        """Record that destroying this handle destroys the native object at ``addr`` too."""
        ref = weakref.ref(self)
        self._claims.append((addr, ref))
        _owners[addr] = ref

    def acquire(self) -> Any:
        """Borrow the pointer for one call; always pair with :meth:`release`."""
        self._tokens.append(None)
        if self.closed:
            # This class's own release, not a subclass's: a subclass undoes its own part of the
            # acquire itself when this raises (undone twice, _ForeignHandle's count of calls in
            # flight lost another thread's call, and close() returned during that call).
            Handle.release(self)
            raise ClosedError(f"{self.what} is closed")
        return self._ptr

    def release(self) -> None:
        """Return a pointer borrowed by :meth:`acquire`; the last return after :meth:`close` destroys it."""
        self._tokens.pop()
        if self.closed and not self._tokens:
            self._free()

    def lend(self) -> Any:
        """Lend the pointer beyond one call (to C code); pair with :meth:`unlend`."""
        ptr = self.acquire()
        self._lends.append(None)
        return ptr

    def unlend(self) -> None:
        """End a :meth:`lend`; the last return after :meth:`close` destroys the pointer.

        Raises:
            InvalidArgumentError: No lend is outstanding; nothing is changed.
        """
        try:
            self._lends.pop()
        except IndexError:
            raise InvalidArgumentError(
                f"{self.what}: return_handle() without a matching lend_handle() (nothing is lent)"
            ) from None
        self.release()

    @contextmanager
    def use(self) -> Iterator[Any]:
        """Borrow the pointer for the duration of a ``with`` block (:meth:`acquire` + :meth:`release`)."""
        ptr = self.acquire()
        try:
            yield ptr
        finally:
            self.release()

    def close(self) -> None:
        """Idempotent. Calls in flight finish first; the last one out destroys the pointer."""
        self.closed = True
        if not self._tokens:
            self._free()

    def _free(self) -> None:
        try:
            ptr = self._owned.pop()
        except IndexError:
            return  # already destroyed
        for addr, ref in self._claims:
            if _owners.get(addr) is ref:  # (not a later owner of a reused address)
                _owners.pop(addr, None)
        self._destroy(ptr)

    def __del__(self) -> None:
        # Garbage collection frees the native object; nothing can be in flight at this point.
        with contextlib.suppress(Exception):  # interpreter shutdown may have torn down modules
            self.close()
