"""Locks that a forked child gets back unlocked.

A ``threading.Lock`` held by another thread at ``fork()`` stays locked for ever in the child,
where that thread does not exist: the child's first call that takes it hangs. Module-level and
per-object locks of this package are created here and replaced by fresh ones in a forked child
(``os.register_at_fork``); the native library does the same for its own locks.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

# By identity: a WeakSet compares with __eq__, and two equal owners (two codec pipelines of one
# array) were one entry, so the second's lock was not replaced in a child.
_owners: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_module_locks: list[Callable[[], None]] = []


def object_lock(owner: Any, after_fork: Callable[[Any], None] | None = None) -> threading.Lock:
    """A new lock for ``owner._lock``; in a forked child ``owner._lock`` is replaced by a fresh one
    and ``after_fork(owner)`` runs (to forget state other threads held)."""
    _owners[id(owner)] = owner
    if after_fork is not None:
        _hooks[id(owner)] = after_fork
        weakref.finalize(owner, _hooks.pop, id(owner), None)
    return threading.Lock()


def module_lock(reset: Callable[[], None]) -> threading.Lock:
    """A new module-level lock; ``reset()`` must install a fresh one in a forked child."""
    _module_locks.append(reset)
    return threading.Lock()


_hooks: dict[int, Callable[[Any], None]] = {}


def _after_fork_in_child() -> None:
    for reset in _module_locks:
        reset()
    for owner in list(_owners.values()):
        owner._lock = threading.Lock()
        hook = _hooks.get(id(owner))
        if hook is not None:
            hook(owner)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
