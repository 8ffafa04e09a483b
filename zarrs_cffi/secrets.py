"""Secrets that came in store URLs and options — a URL's password, the values of its query (signed
URLs, SAS tokens), credential options — never appear in an exception message or a repr.

The native library masks its own messages the same way (``vendor/zarrs_ffi/src/secrets.rs``);
messages written here (which quote a store's URL) and reprs are masked by :func:`redact`, which
every :class:`~zarrs_cffi.ZarrsError` applies to its message.

>>> hide("https://user:pw-1@host/data.zarr?sig=abcdef", {})
>>> redact("GET https://user:pw-1@host/data.zarr/zarr.json?sig=abcdef failed")
'GET https://user:***@host/data.zarr/zarr.json?sig=*** failed'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

_KEPT = 1024  # the oldest go first: a process opening many signed URLs must not grow without bound
_SHORTEST = 3  # shorter query values (v=1) are too common to mask everywhere
_CREDENTIAL_WORDS = ("secret", "token", "password", "key", "sas", "credential", "signature")

# Replaced whole (never mutated) so that readers on other threads see one consistent tuple.
_secrets: tuple[str, ...] = ()


def _url_secrets(url: str) -> list[str]:
    """The password of the URL's user info with its delimiters (``:pw@``: a short one must not mask
    the same letters elsewhere) and its query's values (``=value``; a part without ``=`` whole).
    Found by hand, so that malformed URLs are covered too."""
    found = []
    if "://" in url:
        authority = url.split("://", 1)[1]
        for stop in "/?#":
            authority = authority.split(stop, 1)[0]
        user_info = authority.rpartition("@")[0]
        password = user_info.partition(":")[2]
        if password:
            found.append(f":{password}@")
    if "?" in url:
        query = url.split("?", 1)[1].split("#", 1)[0]
        for part in query.split("&"):
            _, equals, value = part.partition("=")
            if equals and len(value) >= _SHORTEST:
                found.append(f"={value}")
            elif not equals and len(part) >= _SHORTEST:
                found.append(part)
    return found


def _option_secrets(options: Iterable[tuple[str, str]]) -> list[str]:
    """Values of options whose name says they hold a credential (booleans and numbers are not)."""
    found = []
    for key, value in options:
        credential = any(word in key.lower() for word in _CREDENTIAL_WORDS)
        try:
            float(value)
            number = True
        except ValueError:
            number = False
        if credential and not number and value not in ("true", "false") and len(value) >= _SHORTEST:
            found.append(value)
    return found


def hide(url: str, options: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
    """Mask the secrets of the store URL ``url`` and of its ``options`` in every later message."""
    global _secrets
    pairs = options.items() if isinstance(options, Mapping) else options
    new = [text for text in (*_url_secrets(url), *_option_secrets(pairs)) if text not in _secrets]
    if new:
        _secrets = (*_secrets, *dict.fromkeys(new))[-_KEPT:]


def redact(text: str) -> str:
    """``text`` with every remembered secret replaced by ``***`` (URL delimiters kept)."""
    for secret in sorted(_secrets, key=len, reverse=True):  # a secret holding another: masked whole
        if secret in text:
            if secret.startswith(":") and secret.endswith("@"):
                shown = ":***@"
            elif secret.startswith("="):
                shown = "=***"
            else:
                shown = "***"
            text = text.replace(secret, shown)
    return text
