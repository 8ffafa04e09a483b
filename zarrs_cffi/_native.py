"""The one place that imports the compiled cffi module. Everything that crosses into C goes
through ``ffi``/``lib`` from here, and every result code goes through :func:`check`."""

from __future__ import annotations

import operator
from typing import NoReturn

from . import errors
from ._zarrs_cffi import ffi, lib

__all__ = ["CODE_TO_CLASS", "check", "check_upstream", "encode_str", "ffi", "lib", "take_string"]

# Result code -> exception class, with the codes read from the compiled library by name.
CODE_TO_CLASS: dict[int, type[errors.ZarrsError]] = {
    int(getattr(lib, name)): cls for name, cls in errors.CODE_NAME_TO_CLASS.items()
}


def take_string(ptr: object) -> str:
    """Copy a string returned by the library and free it with ``zarrsFreeString``."""
    if ptr == ffi.NULL:
        return ""
    try:
        return bytes(ffi.string(ptr)).decode("utf-8", "replace")
    finally:
        lib.zarrsFreeString(ptr)


def _raise(rc: int, message: str, context: str | None) -> NoReturn:
    cls = CODE_TO_CLASS.get(rc, errors.ZarrsError)
    if context:
        message = f"{context}: {message}" if message else context
    raise cls(message or f"zarrs error code {rc}", rc)


def check(rc: int, context: str | None = None) -> None:
    """Raise the exception for a failed ``zarrsCffi*`` call (per-thread message)."""
    if rc != 0:
        _raise(rc, take_string(lib.zarrsCffiLastError()), context)


def check_upstream(rc: int, context: str | None = None) -> None:
    """Raise for a failed upstream ``zarrs*`` call. Upstream's message is one global string that
    another thread may have overwritten, so the class comes from the code alone."""
    if rc != 0:
        _raise(rc, take_string(lib.zarrsLastError()), context)


def encode_str(value: object, what: str, *, quote: bool = True) -> bytes:
    """UTF-8 bytes for a C string argument: upstream aborts on NUL or invalid UTF-8, so reject
    them here with a typed error (quoting the value unless ``quote`` is False: a credential)."""
    if isinstance(value, bytes):
        raise errors.InvalidArgumentError(f"{what} must be str, not bytes")
    if not isinstance(value, str):
        raise errors.InvalidArgumentError(f"{what} must be str, not {type(value).__name__}")
    shown = f": {value!r}" if quote else ""
    if "\0" in value:
        raise errors.InvalidArgumentError(f"{what} contains a NUL character{shown}")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise errors.InvalidArgumentError(f"{what} is not valid UTF-8 ({exc.reason}){shown}") from None


def int_arg(value: object, what: str, upper: int, upper_text: str | None = None) -> int:
    """``value`` as an int in ``[0, upper]`` for a C integer argument (bools refused); names
    ``what`` and the bound (``upper_text``, else ``upper``) in the InvalidArgumentError."""
    try:
        n = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise errors.InvalidArgumentError(f"{what} must be an int, got {type(value).__name__}") from None
    if isinstance(value, bool):
        raise errors.InvalidArgumentError(f"{what} must be an int, not a bool: got {value!r}")
    if not 0 <= n <= upper:
        bound = upper_text or str(upper)
        raise errors.InvalidArgumentError(f"{what} must be between 0 and {bound}, got {value!r}")
    return n
