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
    """``asyncio.to_thread`` (3.9+): run ``func`` in the loop's default executor, with the caller's
    context variables, without blocking the event loop."""
    if sys.version_info >= (3, 9):
        return await asyncio.to_thread(func, *args, **kwargs)
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    return await loop.run_in_executor(None, functools.partial(context.run, func, *args, **kwargs))

