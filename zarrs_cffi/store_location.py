"""Naming a store: a path or URL plus options, or a zarr-python store object, reduced to the one
``(url, options)`` pair the native library opens (``zarrsCffiCreateStorageFromUrl``).

Store objects are rebuilt from their configuration, as zarrs-python and obstore do: no request
ever goes through Python.

>>> locate("data.zarr").local
True
>>> locate("s3://bucket/data.zarr", {"region": "eu-west-1"}).url
's3://bucket/data.zarr'
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Tuple
from urllib.parse import quote, unquote, urlparse

from ._native import encode_str
from .errors import ClosedError, InvalidArgumentError, ReadOnlyError, UnsupportedStoreError
from .secrets import hide, redact
from .selection import type_name

Options = Tuple[Tuple[str, str], ...]  # typing.Tuple: evaluated at runtime (3.8)

SCHEMES = (
    "file",
    "zip",
    "memory",
    "s3",
    "s3a",
    "gs",
    "gcs",
    "az",
    "adl",
    "azure",
    "abfs",
    "abfss",
    "http",
    "https",
)
READ_ONLY_SCHEMES = ("zip", "http", "https")


@dataclass(frozen=True)
class StoreLocation:
    """Where a store is: ``url`` (an absolute path for local directories and zip files) and its
    options as sorted ``(key, text)`` pairs."""

    url: str
    options: Options = ()
    read_only: bool = False
    # For a memory:// store that was pickled: the process whose store it names (only that one can
    # open it; see check_reachable).
    owner_pid: int | None = field(default=None, compare=False)

    def check_reachable(self) -> None:
        """Raise UnsupportedStoreError for a ``memory://`` store of another process (pickled to a dask
        worker process): there its name would open an empty store and read fill values."""
        if self.owner_pid is not None and self.owner_pid != os.getpid():
            raise UnsupportedStoreError(
                f"{self.url!r} is an in-memory store of process {self.owner_pid}; this process "
                f"({os.getpid()}, e.g. a dask worker) cannot reach it: use a directory or an object "
                "store, or dask's threaded scheduler"
            )

    @property
    def local(self) -> bool:
        """True for a local directory (opened as a filesystem store)."""
        return "://" not in self.url

    def check_options_apply(self) -> None:
        """Raise InvalidArgumentError for options given with a local directory (they would be
        ignored: a mistyped URL, or options meant for another store)."""
        if self.local and self.options:
            names = [key for key, _ in self.options]
            raise InvalidArgumentError(f"local directories take no storage options (got {names})")

    @property
    def is_zip(self) -> bool:
        """True for a zip file (read-only); its URL is ``zip:///abs/archive.zip[/inner/prefix]``."""
        return self.url.startswith("zip://")

    @property
    def read_only_reason(self) -> str:
        """Why this location refuses writes (for the ReadOnlyError of a read-only one)."""
        if self.is_zip:  # even a zarr-python ZipStore opened with mode="w" or "a"
            return "zip stores are read-only in zarrs_cffi (write a directory store, then zip it)"
        if self.scheme in ("http", "https"):
            return "HTTP servers are read-only"
        return "it was opened read-only"

    def check_writable(self) -> None:
        """Raise ReadOnlyError (a PermissionError) naming the reason if this location is read-only.

        Writers call this before the native store opens: opening a zip file that a writer means to
        create would fail first, as a missing file, hiding that zip stores cannot be written."""
        if self.read_only:
            raise ReadOnlyError(f"cannot write to {self.url!r}: {self.read_only_reason}")

    @property
    def scheme(self) -> str:
        """The URL scheme (``"file"`` for local paths)."""
        return self.url.split("://", 1)[0].lower() if "://" in self.url else "file"

    def options_dict(self) -> dict[str, str]:
        """The options as a dict (a copy)."""
        return dict(self.options)

    def __post_init__(self) -> None:
        hide(self.url, self.options)

    def __reduce__(self) -> tuple[Any, ...]:
        # Unpickled (a dask worker, a pickled Array) through __init__, so its secrets are hidden there too.
        owner = (self.owner_pid or os.getpid()) if self.scheme == "memory" else None  # data of one process
        return (StoreLocation, (self.url, self.options, self.read_only, owner))

    def __repr__(self) -> str:
        keys = ", ".join(key for key, _ in self.options)
        return redact(f"StoreLocation({self.url!r}{', options: ' + keys if keys else ''})")


def _option_text(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if hasattr(value, "total_seconds"):  # datetime.timedelta (obstore's retry settings)
        return str(value.total_seconds())
    raise InvalidArgumentError(
        f"storage option {key!r} must be a str, number or bool, got {type(value).__name__}"
    )


def storage_kwargs(storage_options: object) -> dict[str, Any]:
    """``storage_options`` (None or a mapping of option names) as keyword arguments for ``Store``.

    Checked here because ``Store(root, **options)`` would otherwise fail in Python's own argument
    unpacking, with a bare TypeError that does not say which argument was wrong.

    >>> storage_kwargs(None)
    {}
    """
    if storage_options is None:
        return {}
    if not isinstance(storage_options, Mapping):
        raise InvalidArgumentError(
            f"storage_options must be a mapping of option names to values, got {type_name(storage_options)}"
        )
    for key in storage_options:
        if not isinstance(key, str):
            raise InvalidArgumentError(f"storage_options keys (option names) must be str, got {key!r}")
    return dict(storage_options)


def _options(storage_options: Mapping[str, object] | None) -> Options:
    pairs = []
    spelled: dict[str, str] = {}  # lower-case name -> as given
    for key, value in storage_kwargs(storage_options).items():
        encode_str(key, "storage option name")
        text = _option_text(key, value)
        encode_str(text, f"storage option {key!r}", quote=False)  # its value may be a credential
        first = spelled.setdefault(key.lower(), key)
        if first != key:  # ("Endpoint" and "endpoint": one of them would be dropped)
            raise InvalidArgumentError(
                f"storage options {first!r} and {key!r} name the same setting; pass one of them"
            )
        pairs.append((key.lower(), text))
    return tuple(sorted(pairs))


def _accepted() -> str:
    return "accepted: a path, " + ", ".join(f"{s}://" for s in SCHEMES)


def _from_text(text: str, options: Options) -> StoreLocation:
    hide(text, options)  # before any message quotes the URL
    encode_str(text, "store URL" if "://" in text else "path")
    if not text:
        raise InvalidArgumentError("store path is empty")
    if "://" not in text:
        head, colon, rest = text.partition(":")
        if colon and head.lower() == "file" and rest.startswith("/"):  # file:/abs/path (RFC 8089)
            if (
                "?" in rest or "#" in rest
            ):  # as file:///abs/path refuses them (%23 and %3F name the characters)
                raise InvalidArgumentError(
                    f"store URL {text!r} has a query or fragment, which file: URLs do not take"
                )
            return _from_text(unquote(rest), options)
        if colon and head.lower() in SCHEMES:  # "s3:bucket/x" is a mistyped URL, not a directory
            raise InvalidArgumentError(
                f"malformed store URL {text!r}: {head} URLs look like {head}://...; {_accepted()}"
            )
        return _local(os.path.abspath(text), options)
    scheme = text.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        raise InvalidArgumentError(f"unsupported store URL scheme {scheme!r} in {text!r}; {_accepted()}")
    if scheme not in ("http", "https") and ("?" in text or "#" in text):
        # Only an HTTP server is asked with the query (a signed URL); other stores would drop it.
        raise InvalidArgumentError(
            f"store URL {text!r} has a query or fragment, which {scheme}:// URLs do not take"
        )
    if scheme == "file":
        parsed = urlparse(text)
        if parsed.netloc not in ("", "localhost"):
            raise InvalidArgumentError(
                f"{text!r} names a remote host; local URLs look like file:///absolute/path"
            )
        return _from_text(unquote(parsed.path), options)
    if scheme == "zip":
        parsed = urlparse(text)
        if parsed.netloc not in ("", "localhost"):
            raise InvalidArgumentError(
                f"{text!r} names a host {parsed.netloc!r}; zip URLs look like zip:///absolute/path/data.zip "
                "(or give the path itself, relative or absolute: data.zip/group)"
            )
        path = parsed.path
        if not path:
            raise InvalidArgumentError(f"store URL {text!r} names no zip file (zip:///abs/data.zip)")
        return _local(os.path.abspath(unquote(path)), options, zip_url=True)
    rest = text.split("://", 1)[1].rstrip("/")
    if not (rest if scheme == "zip" else rest.split("/", 1)[0]):
        raise InvalidArgumentError(f"store URL {text!r} names no bucket, container, host or name")
    _refuse_url_credentials(text, scheme)
    return StoreLocation(f"{scheme}://{rest}", options, scheme in READ_ONLY_SCHEMES)


def _refuse_url_credentials(text: str, scheme: str) -> None:
    """object_store (and obstore) drop a URL's user information without a word, an HTTP URL's too
    (no basic authentication); abfs:// names its container there (container@account)."""
    if scheme == "memory":
        return  # (the native library refuses a user or port in a memory:// name)
    parsed = urlparse(text)
    if parsed.password is not None or (parsed.username and scheme not in ("abfs", "abfss")):
        instead = (
            "the HTTP client sends no basic authentication (a signed URL's query works)"
            if scheme in ("http", "https")
            else "give credentials as storage options (access_key_id, secret_access_key, ...)"
        )
        raise InvalidArgumentError(
            f"store URL {redact(text)!r} has user information, which {scheme}:// URLs do not take: {instead}"
        )


def _local(path: str, options: Options, zip_url: bool = False) -> StoreLocation:
    """A local path: a directory, or a zip archive (a path ending in ``.zip`` that is not a directory,
    possibly followed by a prefix inside the archive: ``data.zip/group/array``)."""
    archive, inner = _split_zip(path)
    if archive is None and zip_url:
        archive, inner = path, ""
    if archive is None:
        return StoreLocation(path, options, False)
    return StoreLocation("zip://" + archive + (f"/{inner}" if inner else ""), options, True)


def _split_zip(path: str) -> tuple[str | None, str]:
    parts = path.split("/")
    for end in range(len(parts), 0, -1):
        head = "/".join(parts[:end])
        if head.lower().endswith(".zip") and (
            os.path.isfile(head) or (end == len(parts) and not os.path.isdir(head))
        ):
            return head, "/".join(parts[end:])
    return None, ""


def locate(target: object, storage_options: Mapping[str, object] | None = None) -> StoreLocation:
    """The location of ``target``: a path, a URL, a :class:`~zarrs_cffi.Store`, a
    :class:`StoreLocation`, or a zarr-python store that maps to a native one (``LocalStore``,
    ``ZipStore``, ``ObjectStore``, ``FsspecStore`` over http/s3).

    Raises:
        InvalidArgumentError: A malformed URL, an unknown scheme or bad options.
        UnsupportedStoreError: A store object with no native equivalent (names its type).
        ClosedError: ``target`` is a closed :class:`~zarrs_cffi.Store`.
    """
    options = _options(storage_options)
    if isinstance(target, StoreLocation):
        return (
            target if not options else StoreLocation(target.url, target.options + options, target.read_only)
        )
    own = getattr(target, "location", None)
    if isinstance(own, StoreLocation):  # a zarrs_cffi.Store
        _check_not_closed(target, own)
        return locate(own, storage_options)
    if isinstance(target, str):
        return _from_text(target, options)
    if isinstance(target, os.PathLike):
        path = os.fspath(target)
        if isinstance(path, str):
            return _from_text(path, options)
    # None, numbers and bytes (numpy's too), a PathLike giving bytes, a dict...: a bad path, not a store.
    not_a_path = (bytes, bytearray, memoryview, numbers.Number, os.PathLike)
    if target is None or isinstance(target, not_a_path) or type(target).__module__ == "builtins":
        raise InvalidArgumentError(f"path must be str or os.PathLike, got {type(target).__name__}")
    if options:
        raise InvalidArgumentError("storage_options apply to a path or URL, not to a store object")
    return _from_zarr_store(target)


def _check_not_closed(store: Any, location: StoreLocation) -> None:
    """ClosedError for a closed :class:`~zarrs_cffi.Store`: opening or creating nodes through it, or
    a new ``Store`` of it, must fail like its own methods do, not work through a new handle."""
    if getattr(store, "closed", False) is True:
        raise ClosedError(f"store {location.url!r} is closed")


def _from_zarr_store(store: Any) -> StoreLocation:
    """The native location of a store object (zarr's, or anything else: UnsupportedStoreError)."""
    # zarr's own classes only (by module, not by name: any class called LocalStore with a root
    # was taken for one, and written through natively).
    kind = type(store).__name__ if type(store).__module__.split(".")[0] == "zarr" else ""
    read_only = bool(getattr(store, "read_only", False))
    if kind == "LocalStore" and hasattr(store, "root"):
        return StoreLocation(os.path.abspath(os.fspath(store.root)), (), read_only)
    if kind == "ZipStore" and hasattr(store, "path"):
        return StoreLocation("zip://" + os.path.abspath(os.fspath(store.path)), (), True)
    if kind == "ObjectStore" and hasattr(store, "store"):
        location = _from_obstore(store.store)
        return StoreLocation(location.url, location.options, location.read_only or read_only)
    if kind == "FsspecStore" and hasattr(store, "fs"):
        return _from_fsspec(store, read_only)
    raise UnsupportedStoreError(
        f"cannot use a store of type {type_name(store)} natively: pass a path or URL, a "
        "zarrs_cffi.Store, or a zarr LocalStore, ZipStore, ObjectStore (S3/GCS/Azure/HTTP) or FsspecStore (http/s3)"
    )


def _strip_aws(key: str) -> str:
    return key[4:] if key.startswith("aws_") else key


_OBSTORE_SCHEMES = {"S3Store": "s3", "GCSStore": "gs", "AzureStore": "az"}


def _obstore_config(inner: Any, kind: str) -> dict[str, Any]:
    """The store's configuration. obstore panics reading back some configurations it accepted
    (an ``allow_http`` given in an AzureStore's ``config``): a Rust panic in Python is a
    ``PanicException``, a ``BaseException`` no ``except Exception`` stops, so it becomes a typed error."""
    try:
        return dict(getattr(inner, "config", None) or {})
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as error:  # pyo3's PanicException derives from BaseException
        raise UnsupportedStoreError(
            f"obstore could not report the configuration of this {kind} ({type(error).__name__}: {error}); "
            "client settings such as allow_http belong in its client_options"
        ) from None


def _from_obstore(inner: Any) -> StoreLocation:
    kind = type(inner).__name__
    if getattr(inner, "credential_provider", None) is not None:
        # (dropped, the native store looked for credentials elsewhere: the cloud's metadata server)
        raise UnsupportedStoreError(
            f"obstore {kind} with a credential_provider: the native store cannot call Python for "
            "credentials (give them as options, or let zarr-python read this store)"
        )
    options: dict[str, object] = {}
    for key, value in (getattr(inner, "client_options", None) or {}).items():
        if isinstance(value, Mapping):  # default_headers: no native option carries them
            raise UnsupportedStoreError(f"obstore {kind}'s client option {key!r} has no native equivalent")
        options[key] = value
    retry = getattr(inner, "retry_config", None) or {}
    if "max_retries" in retry:
        options["max_retries"] = retry["max_retries"]
    if "retry_timeout" in retry:
        options["retry_timeout"] = retry["retry_timeout"]
    prefix = str(getattr(inner, "prefix", "") or "").strip("/")
    if kind == "HTTPStore":
        return StoreLocation(str(inner.url).rstrip("/"), _options(options), True)
    if kind == "LocalStore":
        return StoreLocation(os.path.abspath((prefix and "/" + prefix) or "/"), (), False)
    if kind in _OBSTORE_SCHEMES:
        config = _obstore_config(inner, kind)
        container = config.pop("bucket", None) or config.pop("container_name", None)
        if not container:
            raise UnsupportedStoreError(f"cannot tell the bucket of obstore {kind} {inner!r}")
        options.update({_strip_aws(key.lower()): value for key, value in config.items()})
        # obstore's prefix is the key prefix itself; a URL's path is percent-decoded.
        url = f"{_OBSTORE_SCHEMES[kind]}://{container}" + (f"/{quote(prefix)}" if prefix else "")
        return StoreLocation(url, _options(options), False)
    raise UnsupportedStoreError(
        f"cannot use obstore's {kind} natively (S3Store, GCSStore, AzureStore, HTTPStore, LocalStore)"
    )


# s3fs' option names and their object_store equivalents.
_S3FS_OPTIONS = {
    "key": "access_key_id",
    "username": "access_key_id",
    "secret": "secret_access_key",
    "password": "secret_access_key",
    "token": "session_token",
    "endpoint_url": "endpoint",
}
_S3FS_CLIENT_OPTIONS = {"endpoint_url": "endpoint", "region_name": "region"}
# fsspec options that change only fsspec's own caching, buffering or event loop: without meaning
# for the native store. Any other option (headers, a profile, requester-pays, an SSL setting...)
# would be dropped silently, so it makes the store unsupported instead.
_FSSPEC_LOCAL_OPTIONS = frozenset(
    {
        "asynchronous",
        "loop",
        "skip_instance_cache",
        "use_listings_cache",
        "listings_expiry_time",
        "max_paths",
        "block_size",
        "default_block_size",
        "cache_type",
        "default_cache_type",
        "cache_options",
        "default_fill_cache",
        "simple_links",
        "same_scheme",
        "size_policy",
        "encoded",
        "max_concurrency",
        "batch_size",
    }
)


def _from_fsspec(store: Any, read_only: bool) -> StoreLocation:
    protocol = store.fs.protocol
    protocol = protocol[0] if isinstance(protocol, (tuple, list)) else protocol
    path = str(getattr(store, "path", "")).strip("/")
    given = dict(getattr(store.fs, "storage_options", None) or {})
    if protocol in ("http", "https"):
        _refuse_fsspec_options(protocol, [key for key in given if key not in _FSSPEC_LOCAL_OPTIONS])
        url = path if "://" in path else f"{protocol}://{path}"
        parsed = urlparse(url)
        if parsed.username or parsed.password is not None:
            raise UnsupportedStoreError(
                f"an FsspecStore over {redact(url)!r}: fsspec sends the URL's user information "
                "(basic authentication), the native HTTP client cannot"
            )
        return StoreLocation(url.rstrip("/"), (), True)
    if protocol in ("s3", "s3a"):
        options: dict[str, object] = {}
        dropped: list[str] = []
        for key, value in given.items():
            if key in _S3FS_OPTIONS:
                options[_S3FS_OPTIONS[key]] = value
            elif key == "anon":
                if value:
                    options["skip_signature"] = True
            elif key == "client_kwargs" and isinstance(value, Mapping):
                for inner_key, inner_value in value.items():
                    if inner_key in _S3FS_CLIENT_OPTIONS:
                        options[_S3FS_CLIENT_OPTIONS[inner_key]] = inner_value
                    else:
                        dropped.append(f"client_kwargs[{inner_key!r}]")
            elif key not in _FSSPEC_LOCAL_OPTIONS:
                dropped.append(key)
        _refuse_fsspec_options(protocol, dropped)
        endpoint = str(options.get("endpoint", ""))
        if endpoint.startswith("http://"):
            options["allow_http"] = True
        return StoreLocation(f"s3://{quote(path)}", _options(options), read_only)  # s3fs: bucket/key
    raise UnsupportedStoreError(
        f"cannot use an FsspecStore over {protocol!r} natively (http, https and s3 work)"
    )


def _refuse_fsspec_options(protocol: str, names: list[str]) -> None:
    if names:
        raise UnsupportedStoreError(
            f"cannot use this FsspecStore over {protocol!r} natively: its fsspec options "
            f"{', '.join(sorted(names))} have no native equivalent (they would be dropped); pass the "
            "URL with storage_options instead (see zarrs_cffi.Store), or use zarr's own pipeline"
        )
