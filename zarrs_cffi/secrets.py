"""Secrets that came in store URLs and options — a URL's password (an http(s) URL's whole user
info, which may be a token), the values of its query (signed URLs, SAS tokens), credential options —
never appear in an exception message or a repr.

Two layers, as in the native library (``vendor/zarrs_ffi/src/secrets.rs``): every URL quoted in a
message is masked by its structure, whatever the encoding it is quoted in (object_store writes
request URLs percent-encoded); and the secret texts themselves, with their escaped forms, are
remembered when a store is named and masked wherever else a message quotes them. Every
:class:`~zarrs_cffi.ZarrsError` applies :func:`redact` to its message.

>>> redact("GET https://user:pw-1@host/data.zarr/zarr.json?sig=abcdef&v=1 failed")
'GET https://***@host/data.zarr/zarr.json?sig=***&v=*** failed'
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from .forksafe import module_lock

_KEPT = 4096  # the oldest go first: a process naming many credentials must not grow without bound
_SHORTEST = 8  # shorter texts ("test", "host", a region) are too common to mask everywhere
_CREDENTIAL_WORDS = ("secret", "token", "password", "key", "sas", "credential", "signature")
# A URL in a message (group 1): its scheme, then anything up to white space or a quote. Tried
# only where a run of scheme characters begins (the lookbehind), its leading non-letters skipped:
# tried at every letter, a long word (a 100,000-character node path quoted in an error) took
# quadratic time, 18 s.
_URL = re.compile(r"(?<![A-Za-z0-9+.\-])[0-9+.\-]*([A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"`<>]*)")


def _reset_lock() -> None:
    global _lock
    _lock = threading.Lock()


_lock = module_lock(_reset_lock)
# Replaced whole under the lock, never mutated: readers on other threads see consistent tuples.
_secrets: tuple[str, ...] = ()  # oldest first
_longest_first: tuple[str, ...] = ()  # the same texts, in the order they are masked


def _mask_url(match: re.Match[str]) -> str:
    before, url = match.group(0)[: match.start(1) - match.start(0)], match.group(1)
    scheme, rest = url.split("://", 1)
    end = min((i for i in (rest.find(stop) for stop in "/?#") if i != -1), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    user_info, at, host = authority.rpartition("@")
    if at:
        if scheme.lower() in ("http", "https"):
            user_info = "***"  # a password, or a token given as the user name
        elif ":" in user_info:
            user_info = user_info.split(":", 1)[0] + ":***"  # abfs://container@...: the user is no secret
        authority = f"{user_info}@{host}"
    path, question, query = tail.partition("?")
    if question:
        query, hash_mark, fragment = query.partition("#")
        tail = f"{path}?{_masked_query(query)}{hash_mark}{fragment}"
    return f"{before}{scheme}://{authority}{tail}"


def _masked_query(query: str) -> str:
    """Every value of a query masked, its names kept (``sig=***&v=***``)."""
    parts = []
    for part in query.split("&"):
        name, equals, _ = part.partition("=")
        parts.append(f"{name}=***" if equals else ("***" if part else part))
    return "&".join(parts)


def _forms(secret: str) -> list[str]:
    """``secret`` as messages may quote it: as is, percent-encoded, escaped by Python's repr and by
    JSON (Rust's Debug escapes the same way)."""
    return list(dict.fromkeys([secret, quote(secret, safe=""), repr(secret)[1:-1], json.dumps(secret)[1:-1]]))


def _url_secrets(url: str) -> list[str]:
    """The password of the URL's user info (an http(s) URL's whole user info) and its query's values,
    found by hand so that malformed URLs are covered too."""
    found = []
    scheme, _, rest = url.partition("://")
    for stop in "/?#":
        rest = rest.split(stop, 1)[0]
    user_info = rest.rpartition("@")[0]
    found.append(user_info.partition(":")[2])  # the password
    if scheme.lower() in ("http", "https"):
        found.append(user_info)  # may be a token
    if "?" in url:
        query = url.split("?", 1)[1].split("#", 1)[0]
        for part in query.split("&"):
            _, equals, value = part.partition("=")
            found.append(value if equals else part)
    # Shorter texts are masked where a URL quotes them (by its structure), not everywhere.
    return [text for text in found if len(text) >= _SHORTEST]


def _option_secrets(options: Iterable[tuple[str, str]]) -> list[str]:
    """Values of options whose name says they hold a credential (not an ``*_id``, not a flag)."""
    return [
        value
        for key, value in options
        if any(word in key.lower() for word in _CREDENTIAL_WORDS)
        and not key.lower().endswith("_id")
        and value not in ("true", "false")
        and len(value) >= _SHORTEST
    ]


def hide(url: str, options: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
    """Mask the secrets of the store URL ``url`` (a local path has none) and of its ``options`` in
    every later message, wherever they are quoted."""
    global _secrets, _longest_first
    if not options and "://" not in url:  # a local path: nothing to hide (every one-shot read names one)
        return
    pairs = list(options.items() if isinstance(options, Mapping) else options)
    texts = (_url_secrets(url) if "://" in url else []) + _option_secrets(pairs)
    if not texts:
        return
    with _lock:
        new = [form for text in texts for form in _forms(text)]
        kept = [text for text in _secrets if text not in new]  # named again: the newest now
        _secrets = (*kept, *dict.fromkeys(new))[-_KEPT:]
        # A secret holding another is masked whole.
        _longest_first = tuple(sorted(_secrets, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with every URL's secrets and every remembered secret replaced by ``***``."""
    text = _URL.sub(_mask_url, text) if "://" in text else text
    for secret in _longest_first:
        if secret in text:
            text = text.replace(secret, "***")
    return text
