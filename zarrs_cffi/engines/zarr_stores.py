"""zarr-python stores for non-local locations, so the ``"zarr"`` engine (the oracle) reaches the
same stores as the native one: object stores through obstore (zarr's ``ObjectStore``), zip files
through zarr's ``ZipStore``. zarrs_cffi's ``memory://`` stores live inside the native library, out
of zarr-python's reach.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from zarrs_cffi.errors import InvalidArgumentError, ReadOnlyError, UnsupportedStoreError
from zarrs_cffi.store_location import StoreLocation

# object_store's client option names (obstore takes them as ``client_options``).
CLIENT_KEYS = frozenset(
    {
        "allow_http",
        "allow_invalid_certificates",
        "connect_timeout",
        "default_content_type",
        "http1_only",
        "http2_only",
        "http2_keep_alive_interval",
        "http2_keep_alive_timeout",
        "http2_keep_alive_while_idle",
        "pool_idle_timeout",
        "pool_max_idle_per_host",
        "proxy_url",
        "proxy_ca_certificate",
        "proxy_excludes",
        "randomize_addresses",
        "read_timeout",
        "timeout",
        "user_agent",
    }
)


# Zero, in object_store's duration syntax ("0s", "0.0 ms").
_ZERO_DURATION = re.compile(r"\s*[+-]?0*\.?0*\s*[a-z]*\s*", re.IGNORECASE)
_REQUEST_TIMEOUTS = ("timeout", "connect_timeout", "read_timeout")


def _seconds(text: str, key: str) -> datetime.timedelta | str:
    try:
        seconds: float | None = float(text)
    except ValueError:
        seconds = None  # obstore's own syntax ("500ms")
    zero = seconds == 0 if seconds is not None else "0" in text and re.fullmatch(_ZERO_DURATION, text)
    if key in _REQUEST_TIMEOUTS and zero:
        # (the native engine's words: every request would fail)
        raise InvalidArgumentError(f"storage option {key!r} must be more than 0 seconds, got {text!r}")
    if seconds is None:
        return text
    try:
        if not seconds >= 0:  # (NaN too)
            raise ValueError(seconds)
        # (as the native engine: a positive duration stays positive, at least a millisecond)
        return datetime.timedelta(seconds=max(seconds, 1e-3) if seconds > 0 else seconds)
    except (OverflowError, ValueError):  # 1e19, NaN, -1: the native engine's words
        raise InvalidArgumentError(
            f"storage option {key!r} must be a number of seconds from 0 to 1e10, got {text!r}"
        ) from None


def obstore_arguments(location: StoreLocation) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(config, client_options, retry_config)`` for an obstore store of ``location``."""
    config: dict[str, Any] = {}
    client: dict[str, Any] = {}
    retry: dict[str, Any] = {}
    for key, value in location.options:
        if key == "max_retries":
            try:
                retry[key] = int(value)
            except ValueError:
                retry[key] = -1
            if retry[key] < 0:
                raise InvalidArgumentError('storage option "max_retries" must be a non-negative integer')
        elif key == "retry_timeout":
            retry[key] = _seconds(value, key)
        elif key in CLIENT_KEYS:
            client[key] = _seconds(value, key) if key.endswith(("timeout", "interval")) else value
        else:
            config[key] = value
    _native_defaults(location, config, client, retry)
    return config, client, retry


def _native_defaults(
    location: StoreLocation, config: dict[str, Any], client: dict[str, Any], retry: dict[str, Any]
) -> None:
    """The defaults the native library gives (``url_store.rs``), so that both engines reach a store
    alike: 3 retries within 30 s, and plain HTTP allowed when the URL or the endpoint option names
    it. (Its timeouts are object_store's defaults already. Client options are added only for
    plain HTTP: any given replace those obstore reads from ``AWS_*``/... variables, such as
    ``AWS_ALLOW_HTTP``.)"""
    retry.setdefault("max_retries", 3)
    retry.setdefault("retry_timeout", datetime.timedelta(seconds=30))
    endpoint = next((str(v) for k, v in config.items() if k.endswith("endpoint")), "")
    chosen = any(k.endswith("allow_http") for k in (*config, *client))
    if (location.scheme == "http" or endpoint.startswith("http://")) and not chosen:
        client["allow_http"] = True


def obstore_store(location: StoreLocation) -> Any:
    """The obstore store ``location`` names (S3, GCS, Azure, HTTP)."""
    from obstore.store import AzureStore, GCSStore, HTTPStore, S3Store

    config, client, retry = obstore_arguments(location)
    scheme = location.scheme
    extra: dict[str, Any] = {"client_options": client or None, "retry_config": retry or None}
    if scheme in ("http", "https"):
        return HTTPStore.from_url(location.url, **extra)
    container, _, prefix = location.url.split("://", 1)[1].partition("/")
    kinds = {"s3": S3Store, "s3a": S3Store, "gs": GCSStore, "gcs": GCSStore}
    kind = kinds.get(scheme, AzureStore)
    if kind is AzureStore and "@" in container:
        # abfs[s]://container@account.dfs.core.windows.net/...: the container, and the account
        # (unless the options name one); the whole authority is no container name.
        container, _, host = container.partition("@")
        if not any(key.endswith("account_name") for key in config):
            config = {**config, "account_name": host.split(".", 1)[0]}
    try:
        return kind(container, prefix=prefix or None, config=config or None, **extra)
    except Exception as exc:
        duplicate = re.search(r"Duplicate key (\w+)", str(exc))
        if duplicate is None:
            raise
        # Two spellings of one setting (endpoint, aws_endpoint): the native engine's refusal.
        raise InvalidArgumentError(
            f"storage options name the same setting twice ({duplicate.group(1)!r}); pass one of them"
        ) from None


def zarr_store(location: StoreLocation, *, read_only: bool) -> Any:
    """A zarr-python store over ``location`` (not a local directory)."""
    if location.is_zip:
        from zarr.storage import ZipStore

        if not read_only:
            raise ReadOnlyError(f"{location.url!r} is a zip file, which is read-only here")
        from zarr.core.sync import sync

        from zarrs_cffi.store_location import _split_zip

        archive, inner = _split_zip(location.url[len("zip://") :])
        if archive is None or inner:
            raise UnsupportedStoreError(
                f"the zarr engine opens whole zip archives only, not {location.url!r}"
            )
        return sync(ZipStore.open(archive, mode="r", read_only=True))
    if location.scheme == "memory":
        raise UnsupportedStoreError(
            f"the zarr engine cannot reach {location.url!r}: memory:// stores live in zarrs_cffi's native library"
        )
    from zarr.storage import ObjectStore

    return ObjectStore(obstore_store(location), read_only=read_only or location.read_only)
