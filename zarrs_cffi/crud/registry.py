"""The engine registry: engine names -> :class:`~zarrs_cffi.crud.protocol.CrudBackend` instances.

The built-in engines are registered lazily as ``"module:attr"`` factories, imported on first use, so
``import zarrs_cffi.crud`` never imports the native library or zarr-python.

>>> sorted(list_backends())[:2]
['cffi', 'zarr']
"""

from __future__ import annotations

import importlib
import os
import threading
from typing import Any

from zarrs_cffi._compat import ZARR_PYTHON_MINIMUM, require_python
from zarrs_cffi.crud.protocol import CrudBackend
from zarrs_cffi.errors import (
    InvalidEngineError,
    UnknownEngineError,
    UnsupportedPythonError,
    ZarrsError,
)
from zarrs_cffi.forksafe import module_lock

__all__ = [
    "DEFAULT_ENGINE",
    "ENGINE_ENV_VAR",
    "BackendUnavailableError",
    "get_backend",
    "list_backends",
    "register_backend",
]

ENGINE_ENV_VAR = "ZARRS_CFFI_ENGINE"
"""Environment variable naming the engine used when ``engine=None``."""

DEFAULT_ENGINE = "cffi"
"""The engine used when ``engine=None`` and the environment variable is unset or empty."""

# Built-in engines, imported on first use. An entry is dropped once its backend is instantiated.
_LAZY: dict[str, str] = {
    "cffi": "zarrs_cffi.engines.cffi_engine:CffiBackend",
    "zarr": "zarrs_cffi.engines.zarr_engine:ZarrBackend",
}
# What to install when a lazy engine cannot be imported.
_INSTALL_HINTS: dict[str, str] = {
    "cffi": "build the native library and the cffi module (pip install . or make build)",
    "zarr": "install zarr-python: pip install 'zarr>=3.1'",
}
# Engines that need a newer Python than the core: checked before their module is imported (it may
# not even compile on an older Python).
_MINIMUM_PYTHON: dict[str, tuple[int, int]] = {"zarr": ZARR_PYTHON_MINIMUM}
_BACKENDS: dict[str, CrudBackend] = {}


def _reset_lock() -> None:
    global _LOCK
    _LOCK = threading.Lock()


_LOCK = module_lock(_reset_lock)


class BackendUnavailableError(ZarrsError, ImportError):
    """A registered engine could not be imported (a dependency is missing or not built)."""


def _check_backend(backend: Any, what: str) -> CrudBackend:
    if isinstance(backend, type):
        raise InvalidEngineError(f"{what} is a class; pass an instance, e.g. {backend.__name__}()")
    if not isinstance(backend, CrudBackend):
        missing = [
            m
            for m in ("name", *(n for n in CrudBackend.__dict__ if not n.startswith("_")))
            if not hasattr(backend, m)
        ]
        raise InvalidEngineError(
            f"{what} does not implement the CrudBackend protocol"
            + (f" (missing: {', '.join(sorted(set(missing)))})" if missing else "")
        )
    return backend


def register_backend(name: str, backend: CrudBackend) -> None:
    """Register ``backend`` as the engine ``name`` (replacing any engine of that name).

    >>> from zarrs_cffi.engines.zarr_engine import ZarrBackend
    >>> register_backend("reference", ZarrBackend())
    >>> "reference" in list_backends()
    True

    Args:
        name: The engine name, as later passed to ``engine=``.
        backend: An object implementing the :class:`CrudBackend` protocol.

    Raises:
        TypeError: ``name`` is not a non-empty str.
        InvalidEngineError: ``backend`` does not implement the protocol (a TypeError).
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"an engine name must be a non-empty str, got {name!r}")
    _check_backend(backend, f"the backend registered as {name!r} ({type(backend).__name__})")
    with _LOCK:
        _BACKENDS[name] = backend
        _LAZY.pop(name, None)


def list_backends() -> list[str]:
    """List the names of all registered engines, including ones not imported yet.

    Returns:
        The names, sorted (``["cffi", "zarr"]`` plus any registered ones).
    """
    with _LOCK:
        return sorted({*_BACKENDS, *_LAZY})


def _unknown(name: str, origin: str) -> UnknownEngineError:
    return UnknownEngineError(
        f"unknown engine {name!r}{origin}; available engines: {', '.join(list_backends())}"
    )


def _load_lazy(name: str, target: str) -> CrudBackend:
    module_name, _, attr = target.partition(":")
    try:
        if name in _MINIMUM_PYTHON:
            require_python(f"the {name!r} engine", _MINIMUM_PYTHON[name])
        module = importlib.import_module(module_name)
    except UnsupportedPythonError as err:
        raise BackendUnavailableError(f"the {name!r} engine is not available: {err}") from err
    except (ImportError, OSError) as err:  # OSError: a shared library that fails to load
        hint = _INSTALL_HINTS.get(name, f"make {module_name} importable")
        raise BackendUnavailableError(
            f"the {name!r} engine is not available ({err}); to use it, {hint}"
        ) from err
    factory = getattr(module, attr)
    backend = factory() if isinstance(factory, type) else factory
    return _check_backend(backend, f"{target} (engine {name!r})")


def get_backend(engine: str | CrudBackend | None = None) -> CrudBackend:
    """Resolve ``engine`` to the backend object that implements it.

    >>> get_backend("zarr").name
    'zarr'

    Args:
        engine: None for the ``ZARRS_CFFI_ENGINE`` environment variable, else ``"cffi"``; a
            registered name; or a backend object, returned as is.

    Returns:
        The backend (imported and instantiated on first use for the built-in engines).

    Raises:
        UnknownEngineError: ``engine`` names no registered engine; the message lists the available ones
            (a ValueError).
        InvalidEngineError: ``engine`` is neither a name nor a backend object (a TypeError).
        BackendUnavailableError: The engine's module cannot be imported (e.g. zarr-python missing).
    """
    origin = ""
    if engine is None:
        env = os.environ.get(ENGINE_ENV_VAR, "").strip()
        engine = env or DEFAULT_ENGINE
        if env:
            origin = f" (from the {ENGINE_ENV_VAR} environment variable)"
    if not isinstance(engine, str):
        return _check_backend(engine, f"engine={type(engine).__name__}")
    with _LOCK:
        backend = _BACKENDS.get(engine)
        target = _LAZY.get(engine)
    if backend is not None:
        return backend
    if target is None:
        raise _unknown(engine, origin)
    loaded = _load_lazy(engine, target)
    with _LOCK:
        # Another thread may have loaded (or someone registered) it meanwhile: keep the first.
        backend = _BACKENDS.setdefault(engine, loaded)
        _LAZY.pop(engine, None)
    return backend
