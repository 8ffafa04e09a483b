"""Python 3.9/3.10 conveniences the package uses, spelled so they also run on CPython 3.8 and PyPy 3.9
(the oldest interpreters the core supports). On newer Pythons they are the standard library's own."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import sys
from collections.abc import Iterable, Iterator
from typing import Any, Callable, TypeVar

_T = TypeVar("_T")

# ``@dataclass(**DATACLASS_SLOTS)``: slotted instances where Python supports it (3.10+).
DATACLASS_SLOTS: dict[str, bool] = {"slots": True} if sys.version_info >= (3, 10) else {}


def zip_strict(*iterables: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
    """``zip(*iterables, strict=True)``: ValueError if the iterables differ in length."""
    if sys.version_info >= (3, 10):
        return zip(*iterables, strict=True)
    materialized = [tuple(iterable) for iterable in iterables]
    if len({len(items) for items in materialized}) > 1:
        raise ValueError("zip_strict() arguments have different lengths")
    return zip(*materialized)


async def to_thread(func: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``asyncio.to_thread``: run ``func`` in the loop's default executor, with the caller's
    context variables, without blocking the event loop.

    Unlike ``asyncio.to_thread``, a cancelled call waits for ``func`` to return before raising
    ``CancelledError``: a thread cannot be stopped, and once the call has ended its caller must be
    able to rely on nothing more being written (into a buffer it reuses, or to the store, after
    later calls changed it)."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    work = loop.run_in_executor(None, functools.partial(context.run, func, *args, **kwargs))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        while not work.done():
            try:
                await asyncio.wait([work])
            except asyncio.CancelledError:  # cancelled again while waiting: keep waiting
                continue
        if not work.cancelled():
            work.exception()  # retrieved: its error, if any, gives way to the cancellation
        raise


ZARR_PYTHON_MINIMUM = (3, 11)
"""zarr-python 3's floor: the oldest Python on which the parts of zarrs_cffi built on it can work."""


def require_python(feature: str, minimum: tuple[int, int] = ZARR_PYTHON_MINIMUM) -> None:
    """Raise :class:`~zarrs_cffi.errors.UnsupportedPythonError` naming ``feature`` and the Python version
    it needs if the running interpreter is older (call it before importing anything that needs it).

    >>> require_python("time travel", (3, 0))  # this interpreter is new enough: nothing happens
    """
    from .errors import UnsupportedPythonError  # here: errors must stay importable on its own

    if sys.version_info[:2] < minimum:
        import platform

        wanted = ".".join(map(str, minimum))
        raise UnsupportedPythonError(
            f"{feature} needs Python {wanted} or newer (zarr-python 3 requires it); this is "
            f"{platform.python_implementation()} {platform.python_version()}. The core of zarrs_cffi "
            f"(open_array, read_into, write, crud with engine='cffi') works on Python 3.8+."
        )
