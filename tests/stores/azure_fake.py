"""An Azure Blob Storage server on loopback for the store tests, speaking the Blob REST API.

Azurite (Microsoft's emulator) is an npm package and cannot be installed on this machine, so this
module serves the subset of the Blob service REST API (https://learn.microsoft.com/en-us/rest/api/
storageservices/blob-service-rest-api) that object_store's Azure client -- the client zarrs_cffi and
obstore both use (object_store 0.14.2) -- sends, path-style like Azurite
(``{endpoint}/{container}/{blob}`` with the endpoint ``http://127.0.0.1:PORT/devstoreaccount1``):

* Get Blob / Get Blob Properties (GET / HEAD) with ``Range`` / ``x-ms-range`` (206 and
  ``Content-Range``, 416 when unsatisfiable) and ``If-Match`` / ``If-None-Match`` /
  ``If-Modified-Since`` / ``If-Unmodified-Since`` (412 / 304);
* Put Blob (``x-ms-blob-type: BlockBlob``) with the same conditions (``If-None-Match: *`` fails
  with 412 ``ConditionNotMet``, as Azure answers it), Put Block (``comp=block``) and Put Block List
  (``comp=blocklist``: ``Latest`` / ``Committed`` / ``Uncommitted`` ids) for multipart uploads;
* Copy Blob (a PUT with ``x-ms-copy-source``; synchronous; ``If-None-Match: *`` on an existing
  destination fails with 409 ``BlobAlreadyExists``);
* Delete Blob, and Blob Batch (``POST ?restype=container&comp=batch``, a ``multipart/mixed`` body of
  DELETE sub-requests), which object_store uses for every delete, single ones included;
* List Blobs (``restype=container&comp=list``) with ``prefix``, ``delimiter``, ``marker``,
  ``maxresults`` and ``startFrom``, paged by ``page_size`` (``NextMarker``), in the
  ``EnumerationResults`` XML that object_store deserializes;
* Create / Get Properties / Delete Container (``restype=container``), for convenience.

Anything else gets 400 with an Azure XML error and is recorded in :attr:`AzureFake.unexpected`
(tests assert it stays empty). Requests must carry ``Authorization: SharedKey devstoreaccount1:...``
(signatures are not verified) or a SAS ``sig`` query parameter, unless ``allow_anonymous``;
otherwise they get 403 ``AuthenticationFailed``. ``deny`` makes every request fail with 403
``AuthorizationFailure``. Blobs live in memory.

The client reaches the fake through :func:`azure_options`: the well-known devstoreaccount1 account
and key with ``azure_storage_endpoint`` (object_store's emulator mode, ``azure_storage_use_emulator``,
ignores the endpoint option and only reads the ``AZURITE_BLOB_STORAGE_URL`` environment variable).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import itertools
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from typing import Any, Iterator
from xml.sax.saxutils import escape, quoteattr

from loopback_server import LoopbackServer, QuietHandler, Unsatisfiable, byte_range

EMULATOR_ACCOUNT = "devstoreaccount1"
# The well-known Azurite / Storage Emulator key (public; object_store has it built in too).
EMULATOR_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
API_VERSION = "2023-11-03"  # the x-ms-version object_store 0.14.2 sends
MAX_LIST_RESULTS = 5000  # Azure's cap on maxresults
MAX_BATCH_REQUESTS = 256  # Azure's cap on sub-requests per batch
# Query parameters any operation may carry (the server-side timeout, in seconds).
_IGNORED_QUERY = {"timeout"}


@dataclass
class StoredBlob:
    """A committed block blob: its content, properties and user metadata."""

    data: bytes
    etag: str  # unquoted, Azure style: 0x8D...
    created: float
    modified: float
    content_type: str = "application/octet-stream"
    content_encoding: str = ""
    content_language: str = ""
    cache_control: str = ""
    content_disposition: str = ""
    content_md5: str = ""  # base64, set for Put Blob (Azure computes it only then)
    metadata: dict[str, str] = field(default_factory=dict)
    blocks: dict[str, bytes] = field(default_factory=dict)  # committed block id -> data


class AzureError(Exception):
    """An Azure error answer: status, error code (``x-ms-error-code``) and message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def _not_modified() -> AzureError:
    return AzureError(
        304, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met."
    )


def _condition_not_met() -> AzureError:
    return AzureError(
        412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met."
    )


def _blob_not_found() -> AzureError:
    return AzureError(404, "BlobNotFound", "The specified blob does not exist.")


def _http_date(seconds: float) -> str:
    """RFC 1123 date (``Thu, 01 Jul 2021 10:44:59 GMT``), as Azure sends ``Last-Modified``."""
    return formatdate(seconds, usegmt=True)


def _error_body(code: str, message: str, request_id: str) -> bytes:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}\n"
        f"RequestId:{request_id}\nTime:{now}0Z</Message></Error>"
    ).encode()


def _etag_matches(header: str, etag: str) -> bool:
    """Whether an ``If-Match`` / ``If-None-Match`` value names ``etag`` (quoted or not) or is ``*``."""
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == "*" or candidate.strip('"') == etag:
            return True
    return False


def _parse_date(text: str) -> float | None:
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


class AzureFake(LoopbackServer):
    """The Blob service of account ``devstoreaccount1`` in memory, on 127.0.0.1 (a free port).

    Start with ``AzureFake()``; :meth:`start` binds 127.0.0.1 port 0 and serves in a daemon thread,
    :meth:`stop` shuts it down and joins; or use it as a context manager.

    Args:
        page_size: The most entries one List Blobs page holds (smaller than Azure's 5000 lets tests
            force ``NextMarker`` paging).
        allow_anonymous: Serve requests without an ``Authorization`` header (a public container).

    Attributes:
        endpoint: ``http://127.0.0.1:PORT/devstoreaccount1`` once started.
        deny: When True, every request fails with 403 ``AuthorizationFailure``.
        unexpected: Requests this server does not implement (each also got a 400).
        requests: Every request as ``(method, path with query)``, batch sub-requests included as
            ``("BATCH DELETE", path)``.
    """

    account = EMULATOR_ACCOUNT
    thread_name = "azure-fake"

    def __init__(self, page_size: int = 1000, allow_anonymous: bool = False) -> None:
        super().__init__()
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.page_size = page_size
        self.allow_anonymous = allow_anonymous
        self.deny = False
        self.unexpected: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self._containers: dict[str, dict[str, StoredBlob]] = {}
        # Staged blocks by (container, blob name), then block id (base64 text).
        self._uncommitted: dict[tuple[str, str], dict[str, bytes]] = {}
        self._etags = itertools.count(0x8DC0000000000 + (time.time_ns() // 1000) % 0x1000000000)
        self._lock = threading.RLock()

    def endpoint_at(self, host: str, port: int) -> str:
        return f"http://{host}:{port}/{self.account}"

    # -- for tests -----------------------------------------------------------------------------
    def create_container(self, name: str) -> None:
        """Create container ``name`` (no-op when it exists)."""
        with self._lock:
            self._containers.setdefault(name, {})

    def keys(self, container: str) -> list[str]:
        """The committed blob names of ``container``, sorted (KeyError for an unknown container)."""
        with self._lock:
            return sorted(self._containers[container])

    def get(self, container: str, name: str) -> bytes:
        """The content of blob ``name`` (KeyError when missing)."""
        with self._lock:
            return self._containers[container][name].data

    def put(self, container: str, name: str, data: bytes) -> None:
        """Store blob ``name`` directly (the container is created if needed)."""
        with self._lock:
            blobs = self._containers.setdefault(container, {})
            self._store(container, blobs, name, bytes(data), {}, content_md5=True)

    # -- state changes, under the lock ----------------------------------------------------------
    def _new_etag(self) -> str:
        return f"0x{next(self._etags):X}"

    def _store(
        self,
        container: str,
        blobs: dict[str, StoredBlob],
        name: str,
        data: bytes,
        properties: dict[str, Any],
        content_md5: bool = False,
        blocks: dict[str, bytes] | None = None,
    ) -> StoredBlob:
        now = time.time()
        previous = blobs.get(name)
        blob = StoredBlob(
            data=data,
            etag=self._new_etag(),
            created=previous.created if previous else now,
            modified=now,
            content_md5=base64.b64encode(hashlib.md5(data).digest()).decode() if content_md5 else "",
            blocks=blocks or {},
            **properties,
        )
        blobs[name] = blob
        self._uncommitted.pop((container, name), None)
        return blob

    def _remove(self, container: str, blobs: dict[str, StoredBlob], name: str) -> bool:
        self._uncommitted.pop((container, name), None)
        return blobs.pop(name, None) is not None


def _blob_properties(headers: Any) -> dict[str, Any]:
    """The properties a Put Blob / Put Block List / Copy Blob request sets through its headers."""
    properties: dict[str, Any] = {
        "content_type": headers.get("x-ms-blob-content-type") or "application/octet-stream",
        "content_encoding": headers.get("x-ms-blob-content-encoding") or "",
        "content_language": headers.get("x-ms-blob-content-language") or "",
        "cache_control": headers.get("x-ms-blob-cache-control") or "",
        "content_disposition": headers.get("x-ms-blob-content-disposition") or "",
    }
    metadata = {}
    for key, value in headers.items():
        if key.lower().startswith("x-ms-meta-"):
            metadata[key[len("x-ms-meta-") :].lower()] = value
    properties["metadata"] = metadata
    return properties


def _parse_head(block: bytes) -> tuple[str, dict[str, str]]:
    """The first line and the headers (lower-cased names) of an HTTP message head."""
    lines = block.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


class _AzureHandler(QuietHandler):
    server_version = "Windows-Azure-Blob/1.0"
    sys_version = ""
    server_fake: AzureFake

    # -- plumbing ------------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        reason: str | None = None,
    ) -> None:
        headers = dict(headers or {})
        self.send_response(status, reason)
        self.send_header("x-ms-request-id", self._request_id)
        self.send_header("x-ms-version", self.headers.get("x-ms-version") or API_VERSION)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304 and "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status != 304 and body:
            self.wfile.write(body)

    def _send_error(self, error: AzureError) -> None:
        headers = {"x-ms-error-code": error.code, **error.headers}
        if error.status == 304:
            self._send(
                304,
                headers=headers,
                reason="The condition specified using HTTP conditional header(s) is not met.",
            )
            return
        headers["Content-Type"] = "application/xml"
        body = _error_body(error.code, error.message, self._request_id)
        self._send(error.status, body, headers, reason=error.message)

    def _unexpected(self, why: str) -> AzureError:
        self.server_fake.unexpected.append(f"{self.command} {self.path}: {why}")
        return AzureError(400, "UnsupportedRequest", f"azure_fake does not serve this request: {why}")

    def _authenticated(self, headers: Any, query: dict[str, str]) -> bool:
        fake = self.server_fake
        authorization = headers.get("Authorization")
        if authorization is None:
            return fake.allow_anonymous or bool(query.get("sig"))
        prefix = f"SharedKey {fake.account}:"
        return authorization.startswith(prefix) and len(authorization) > len(prefix)

    def _split_path(self, raw_path: str) -> tuple[str, str, str]:
        """(account, container, blob name) of a request path, percent-decoded."""
        segments = raw_path.split("/")[1:]
        account = urllib.parse.unquote(segments[0]) if segments else ""
        container = urllib.parse.unquote(segments[1]) if len(segments) > 1 else ""
        name = "/".join(urllib.parse.unquote(s) for s in segments[2:])
        return account, container, name

    # -- dispatch ------------------------------------------------------------------------------
    def _handle(self) -> None:
        fake = self.server_fake
        self._request_id = str(uuid.uuid4())
        body = self._read_body()
        fake.requests.append((self.command, self.path))
        parsed = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        try:
            if fake.deny:
                raise AzureError(
                    403, "AuthorizationFailure", "This request is not authorized to perform this operation."
                )
            if not self._authenticated(self.headers, query):
                raise AzureError(
                    403,
                    "AuthenticationFailed",
                    "Server failed to authenticate the request. Make sure the value of Authorization "
                    "header is formed correctly including the signature.",
                )
            account, container, name = self._split_path(parsed.path)
            if account != fake.account:
                raise self._unexpected(f"account {account!r} is not {fake.account!r}")
            if not container and name:
                raise self._unexpected("empty container segment (an endpoint ending in '/'?)")
            if not container:
                raise self._unexpected("account-level operations are not served")
            with fake._lock:
                if name:
                    self._blob_operation(container, name, query, body)
                else:
                    self._container_operation(container, query, body)
        except AzureError as error:
            self._send_error(error)

    do_GET = do_HEAD = do_PUT = do_DELETE = do_POST = do_PATCH = do_OPTIONS = _handle

    def _blobs(self, container: str) -> dict[str, StoredBlob]:
        blobs = self.server_fake._containers.get(container)
        if blobs is None:
            raise AzureError(404, "ContainerNotFound", "The specified container does not exist.")
        return blobs

    def _container_operation(self, container: str, query: dict[str, str], body: bytes) -> None:
        fake = self.server_fake
        params = set(query) - _IGNORED_QUERY
        restype, comp = query.get("restype"), query.get("comp")
        if restype != "container":
            raise self._unexpected("a container URL without restype=container")
        if self.command == "GET" and comp == "list":
            self._list_blobs(container, self._blobs(container), query)
        elif self.command == "POST" and comp == "batch" and params == {"restype", "comp"}:
            self._batch(container, self._blobs(container), body)
        elif self.command == "PUT" and params == {"restype"}:
            if container in fake._containers:
                raise AzureError(409, "ContainerAlreadyExists", "The specified container already exists.")
            fake._containers[container] = {}
            self._send(
                201, headers={"ETag": f'"{fake._new_etag()}"', "Last-Modified": _http_date(time.time())}
            )
        elif self.command in ("GET", "HEAD") and params == {"restype"}:
            self._blobs(container)
            self._send(200, headers={"ETag": '"0x8D000000000000"', "Last-Modified": _http_date(time.time())})
        elif self.command == "DELETE" and params == {"restype"}:
            self._blobs(container)
            del fake._containers[container]
            for key in [key for key in fake._uncommitted if key[0] == container]:
                del fake._uncommitted[key]
            self._send(202)
        else:
            raise self._unexpected("unsupported container operation")

    def _blob_operation(self, container: str, name: str, query: dict[str, str], body: bytes) -> None:
        params = set(query) - _IGNORED_QUERY
        blobs = self._blobs(container)
        comp = query.get("comp")
        if any(h.lower().startswith("x-ms-encryption") for h in self.headers):
            raise self._unexpected("customer-provided encryption keys are not supported")
        if self.command in ("GET", "HEAD") and not params:
            self._get_blob(blobs, name)
        elif self.command == "PUT" and not params and self.headers.get("x-ms-copy-source"):
            self._copy_blob(container, blobs, name)
        elif self.command == "PUT" and not params:
            self._put_blob(container, blobs, name, body)
        elif self.command == "PUT" and comp == "block" and params == {"comp", "blockid"}:
            self._put_block(container, name, query["blockid"], body)
        elif self.command == "PUT" and comp == "blocklist" and params == {"comp"}:
            self._put_block_list(container, blobs, name, body)
        elif self.command == "DELETE" and not params:
            self._check_conditions(blobs.get(name), self.headers, reading=False, missing_is_404=True)
            self.server_fake._remove(container, blobs, name)
            self._send(202, headers={"x-ms-delete-type-permanent": "true"})
        else:
            raise self._unexpected(f"unsupported blob operation (query {sorted(params)})")

    # -- conditions ------------------------------------------------------------------------------
    def _check_conditions(
        self, blob: StoredBlob | None, headers: Any, reading: bool, missing_is_404: bool
    ) -> None:
        """Apply the conditional headers the way Azure does (RFC 7232 order).

        Reads of a missing blob are 404 before any condition; so are deletes (``missing_is_404``).
        Writes: ``If-Match`` on a missing blob is 412. ``If-None-Match`` matching, or
        ``If-Modified-Since`` not met, is 304 for reads and 412 for writes.
        """
        if blob is None and missing_is_404:
            raise _blob_not_found()
        if_match, if_none_match = headers.get("If-Match"), headers.get("If-None-Match")
        if_modified, if_unmodified = headers.get("If-Modified-Since"), headers.get("If-Unmodified-Since")
        if if_match is not None:
            if blob is None or not _etag_matches(if_match, blob.etag):
                raise _condition_not_met()
        elif if_unmodified is not None and blob is not None:
            limit = _parse_date(if_unmodified)
            if limit is not None and int(blob.modified) > limit:
                raise _condition_not_met()
        if if_none_match is not None:
            if blob is not None and _etag_matches(if_none_match, blob.etag):
                raise _not_modified() if reading else _condition_not_met()
        elif if_modified is not None and blob is not None:
            limit = _parse_date(if_modified)
            if limit is not None and int(blob.modified) <= limit:
                raise _not_modified() if reading else _condition_not_met()

    # -- blobs -----------------------------------------------------------------------------------
    def _blob_headers(self, blob: StoredBlob) -> dict[str, str]:
        headers = {
            "ETag": f'"{blob.etag}"',
            "Last-Modified": _http_date(blob.modified),
            "Content-Type": blob.content_type,
            "Accept-Ranges": "bytes",
            "x-ms-blob-type": "BlockBlob",
            "x-ms-creation-time": _http_date(blob.created),
            "x-ms-lease-status": "unlocked",
            "x-ms-lease-state": "available",
            "x-ms-server-encrypted": "true",
        }
        for header, value in (
            ("Content-Encoding", blob.content_encoding),
            ("Content-Language", blob.content_language),
            ("Cache-Control", blob.cache_control),
            ("Content-Disposition", blob.content_disposition),
        ):
            if value:
                headers[header] = value
        for key, value in blob.metadata.items():
            headers[f"x-ms-meta-{key}"] = value
        return headers

    def _get_blob(self, blobs: dict[str, StoredBlob], name: str) -> None:
        blob = blobs.get(name)
        self._check_conditions(blob, self.headers, reading=True, missing_is_404=True)
        assert blob is not None
        headers = self._blob_headers(blob)
        size = len(blob.data)
        requested = self.headers.get("x-ms-range") or self.headers.get("Range")
        try:
            span = byte_range(requested, size) if requested else None
        except Unsatisfiable:
            raise AzureError(
                416,
                "InvalidRange",
                "The range specified is invalid for the current size of the resource.",
                {"Content-Range": f"bytes */{size}"},
            ) from None
        if span is None:
            if blob.content_md5:
                headers["Content-MD5"] = blob.content_md5
            if self.command == "HEAD":
                headers["x-ms-access-tier"] = "Hot"
                headers["x-ms-access-tier-inferred"] = "true"
            headers["Content-Length"] = str(size)
            self._send(200, blob.data, headers)
            return
        start, stop = span
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        headers["Content-Length"] = str(stop - start)
        self._send(206, blob.data[start:stop], headers)

    def _write_result(self, blob: StoredBlob, status: int = 201, md5: bool = False) -> None:
        headers = {
            "ETag": f'"{blob.etag}"',
            "Last-Modified": _http_date(blob.modified),
            "x-ms-request-server-encrypted": "true",
        }
        if md5 and blob.content_md5:
            headers["Content-MD5"] = blob.content_md5
        self._send(status, headers=headers)

    def _put_blob(self, container: str, blobs: dict[str, StoredBlob], name: str, body: bytes) -> None:
        blob_type = self.headers.get("x-ms-blob-type")
        if blob_type is None:
            raise AzureError(
                400,
                "MissingRequiredHeader",
                "An HTTP header that's mandatory for this request is not specified.",
            )
        if blob_type != "BlockBlob":
            raise self._unexpected(f"x-ms-blob-type {blob_type!r} (only BlockBlob is served)")
        self._check_conditions(blobs.get(name), self.headers, reading=False, missing_is_404=False)
        properties = _blob_properties(self.headers)
        blob = self.server_fake._store(container, blobs, name, body, properties, content_md5=True)
        self._write_result(blob, md5=True)

    def _put_block(self, container: str, name: str, block_id: str, body: bytes) -> None:
        try:
            decoded = base64.b64decode(block_id, validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        if not decoded or len(decoded) > 64:
            raise AzureError(
                400,
                "InvalidQueryParameterValue",
                "Value for one of the query parameters specified in the request URI is invalid.",
            )
        staged = self.server_fake._uncommitted.setdefault((container, name), {})
        if staged and any(len(other) != len(block_id) for other in staged):
            raise AzureError(400, "InvalidBlobOrBlock", "The specified blob or block content is invalid.")
        staged[block_id] = body
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        self._send(201, headers={"Content-MD5": md5, "x-ms-request-server-encrypted": "true"})

    def _put_block_list(self, container: str, blobs: dict[str, StoredBlob], name: str, body: bytes) -> None:
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            raise AzureError(400, "InvalidXmlDocument", "XML specified is not syntactically valid.") from None
        if root.tag != "BlockList" or any(e.tag not in ("Latest", "Committed", "Uncommitted") for e in root):
            raise AzureError(400, "InvalidXmlDocument", "XML specified is not syntactically valid.")
        current = blobs.get(name)
        self._check_conditions(current, self.headers, reading=False, missing_is_404=False)
        staged = self.server_fake._uncommitted.get((container, name), {})
        committed = current.blocks if current else {}
        blocks: dict[str, bytes] = {}
        parts = []
        for element in root:
            block_id = (element.text or "").strip()
            sources = {"Latest": (staged, committed), "Committed": (committed,), "Uncommitted": (staged,)}
            data = next((source[block_id] for source in sources[element.tag] if block_id in source), None)
            if data is None:
                raise AzureError(400, "InvalidBlockList", "The specified block list is invalid.")
            blocks[block_id] = data
            parts.append(data)
        properties = _blob_properties(self.headers)
        blob = self.server_fake._store(container, blobs, name, b"".join(parts), properties, blocks=blocks)
        self._write_result(blob)

    def _copy_blob(self, container: str, blobs: dict[str, StoredBlob], name: str) -> None:
        fake = self.server_fake
        source = urllib.parse.urlsplit(self.headers.get("x-ms-copy-source") or "")
        account, source_container, source_name = self._split_path(source.path)
        if account != fake.account or not source_name:
            raise self._unexpected(f"copy source {source.path!r} is not a blob of this account")
        source_blob = fake._containers.get(source_container, {}).get(source_name)
        if source_blob is None:
            raise AzureError(404, "CannotVerifyCopySource", "The specified blob does not exist.")
        destination = blobs.get(name)
        if destination is not None and self.headers.get("If-None-Match", "").strip() == "*":
            raise AzureError(409, "BlobAlreadyExists", "The specified blob already exists.")
        self._check_conditions(destination, self.headers, reading=False, missing_is_404=False)
        if any(key.lower().startswith("x-ms-meta-") for key in self.headers):
            metadata = _blob_properties(self.headers)["metadata"]
        else:
            metadata = dict(source_blob.metadata)
        properties = {
            "content_type": source_blob.content_type,
            "content_encoding": source_blob.content_encoding,
            "content_language": source_blob.content_language,
            "cache_control": source_blob.cache_control,
            "content_disposition": source_blob.content_disposition,
            "metadata": metadata,
        }
        blob = fake._store(
            container, blobs, name, source_blob.data, properties, content_md5=bool(source_blob.content_md5)
        )
        headers = {
            "ETag": f'"{blob.etag}"',
            "Last-Modified": _http_date(blob.modified),
            "x-ms-copy-id": str(uuid.uuid4()),
            "x-ms-copy-status": "success",
        }
        self._send(202, headers=headers)

    # -- listing ---------------------------------------------------------------------------------
    def _list_blobs(self, container: str, blobs: dict[str, StoredBlob], query: dict[str, str]) -> None:
        known = {"restype", "comp", "prefix", "delimiter", "marker", "maxresults", "startFrom", "include"}
        extra = set(query) - known - _IGNORED_QUERY
        if extra:
            raise self._unexpected(f"List Blobs parameters {sorted(extra)}")
        prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
        include = set(filter(None, query.get("include", "").split(",")))
        if include - {"metadata"}:
            raise self._unexpected(f"List Blobs include={sorted(include)}")
        page = self.server_fake.page_size
        if "maxresults" in query:
            text = query["maxresults"]
            if not text.isdigit() or int(text) < 1:
                raise AzureError(
                    400,
                    "OutOfRangeQueryParameterValue",
                    "One of the query parameters specified in the request URI is outside the permissible range.",
                )
            page = min(page, int(text), MAX_LIST_RESULTS)
        start = query.get("startFrom", "")
        marker = query.get("marker", "")
        if marker:
            start = self._decode_marker(marker)

        def entries() -> Iterator[tuple[str, StoredBlob | None]]:
            """(name, blob) and (common prefix, None) in name order, from ``start`` on (a marker
            is the first entry not yet returned: a blob name or a common prefix)."""
            last_prefix = None
            for key in sorted(k for k in blobs if k.startswith(prefix) and k >= start):
                rest = key[len(prefix) :]
                cut = rest.find(delimiter) if delimiter else -1
                if cut < 0:
                    yield key, blobs[key]
                    continue
                common = prefix + rest[: cut + len(delimiter)]
                if common != last_prefix:
                    last_prefix = common
                    yield common, None

        shown: list[tuple[str, StoredBlob | None]] = []
        next_marker = ""
        for entry in entries():
            if len(shown) == page:
                next_marker = self._encode_marker(entry[0])
                break
            shown.append(entry)

        endpoint = self.server_fake.endpoint + "/"
        parts = [
            '<?xml version="1.0" encoding="utf-8"?>',
            f"<EnumerationResults ServiceEndpoint={quoteattr(endpoint)} ContainerName={quoteattr(container)}>",
        ]
        if "prefix" in query:
            parts.append(f"<Prefix>{escape(prefix)}</Prefix>")
        if marker:
            parts.append(f"<Marker>{escape(marker)}</Marker>")
        if "maxresults" in query:
            parts.append(f"<MaxResults>{escape(query['maxresults'])}</MaxResults>")
        if delimiter:
            parts.append(f"<Delimiter>{escape(delimiter)}</Delimiter>")
        parts.append("<Blobs>")
        for name, blob in shown:
            if blob is None:
                parts.append(f"<BlobPrefix><Name>{escape(name)}</Name></BlobPrefix>")
            else:
                parts.append(self._blob_xml(name, blob, "metadata" in include))
        parts.append("</Blobs>")
        parts.append(f"<NextMarker>{escape(next_marker)}</NextMarker>" if next_marker else "<NextMarker />")
        parts.append("</EnumerationResults>")
        self._send(200, "".join(parts).encode(), {"Content-Type": "application/xml"})

    @staticmethod
    def _blob_xml(name: str, blob: StoredBlob, with_metadata: bool) -> str:
        def element(tag: str, value: str) -> str:
            return f"<{tag}>{escape(value)}</{tag}>" if value else f"<{tag} />"

        properties = [
            element("Creation-Time", _http_date(blob.created)),
            element("Last-Modified", _http_date(blob.modified)),
            element("Etag", blob.etag),
            element("Content-Length", str(len(blob.data))),
            element("Content-Type", blob.content_type),
            element("Content-Encoding", blob.content_encoding),
            element("Content-Language", blob.content_language),
            element("Content-CRC64", ""),
            element("Content-MD5", blob.content_md5),
            element("Cache-Control", blob.cache_control),
            element("Content-Disposition", blob.content_disposition),
            element("BlobType", "BlockBlob"),
            element("AccessTier", "Hot"),
            element("AccessTierInferred", "true"),
            element("LeaseStatus", "unlocked"),
            element("LeaseState", "available"),
            element("ServerEncrypted", "true"),
        ]
        xml = f"<Blob><Name>{escape(name)}</Name><Properties>{''.join(properties)}</Properties>"
        if with_metadata:
            pairs = "".join(f"<{key}>{escape(value)}</{key}>" for key, value in blob.metadata.items())
            xml += f"<Metadata>{pairs}</Metadata>"
        return xml + "<OrMetadata /></Blob>"

    def _encode_marker(self, name: str) -> str:
        """An opaque continuation marker (Azure's look like ``2!96!MDAw...``)."""
        return "2!" + base64.urlsafe_b64encode(name.encode()).decode()

    def _decode_marker(self, marker: str) -> str:
        try:
            if not marker.startswith("2!"):
                raise ValueError(marker)
            return base64.urlsafe_b64decode(marker[2:].encode()).decode()
        except (ValueError, binascii.Error):
            raise AzureError(400, "OutOfRangeInput", "One of the request inputs is out of range.") from None

    # -- blob batch ------------------------------------------------------------------------------
    def _batch(self, container: str, blobs: dict[str, StoredBlob], body: bytes) -> None:
        content_type = self.headers.get("Content-Type") or ""
        boundary = ""
        kind, *params = (piece.strip() for piece in content_type.split(";"))
        for param in params:
            if param.lower().startswith("boundary="):
                boundary = param[len("boundary=") :].strip('"')
        if kind.lower() != "multipart/mixed" or not boundary:
            raise AzureError(
                400,
                "InvalidHeaderValue",
                "The value for one of the HTTP headers is not in the correct format.",
            )
        delimiter = b"--" + boundary.encode()
        chunks = body.split(delimiter)
        if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
            raise AzureError(400, "InvalidInput", "One of the request inputs is not valid.")
        requests = chunks[1:-1]
        if len(requests) > MAX_BATCH_REQUESTS:
            raise AzureError(
                400,
                "ExceedsMaxBatchRequestCount",
                "The batch operation exceeds the maximum number of allowed subrequests.",
            )
        response_boundary = f"batchresponse_{uuid.uuid4()}"
        out = bytearray()
        for index, chunk in enumerate(requests):
            if chunk.startswith(b"\r\n"):
                chunk = chunk[2:]
            part_head, _, content = chunk.partition(b"\r\n\r\n")
            _, part_headers = _parse_head(b"\r\n" + part_head)
            content_id = part_headers.get("content-id", str(index))
            status, reason, headers, part_body = self._batch_part(container, blobs, content)
            out += f"--{response_boundary}\r\nContent-Type: application/http\r\nContent-ID: {content_id}\r\n\r\n".encode()
            out += f"HTTP/1.1 {status} {reason}\r\n".encode()
            headers["x-ms-request-id"] = str(uuid.uuid4())
            headers["x-ms-version"] = self.headers.get("x-ms-version") or API_VERSION
            if part_body:
                headers["Content-Length"] = str(len(part_body))
                headers["Content-Type"] = "application/xml"
            for name, value in headers.items():
                out += f"{name}: {value}\r\n".encode()
            out += b"\r\n" + (part_body + b"\r\n" if part_body else b"")
        out += f"--{response_boundary}--\r\n".encode()
        self._send(202, bytes(out), {"Content-Type": f"multipart/mixed; boundary={response_boundary}"})

    def _batch_part(
        self, container: str, blobs: dict[str, StoredBlob], content: bytes
    ) -> tuple[int, str, dict[str, str], bytes]:
        """Run one sub-request of a batch: (status, reason, headers, body) of its answer."""
        fake = self.server_fake
        head, _, _ = content.partition(b"\r\n\r\n")
        request_line, lowered = _parse_head(head)
        headers = _CaseInsensitive(lowered)
        method, _, rest = request_line.partition(" ")
        target = rest.rpartition(" ")[0] or rest
        fake.requests.append((f"BATCH {method}", target))
        try:
            parsed = urllib.parse.urlsplit(target)
            query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
            if not self._authenticated(headers, query):
                raise AzureError(403, "AuthenticationFailed", "Server failed to authenticate the request.")
            account, part_container, name = self._split_path(parsed.path)
            if method != "DELETE" or set(query) - _IGNORED_QUERY:
                raise self._unexpected(f"batch sub-request {request_line!r} (only Delete Blob is served)")
            if account != fake.account or part_container != container or not name:
                raise self._unexpected(
                    f"batch sub-request {target!r} is not a blob of container {container!r}"
                )
            self._check_conditions(blobs.get(name), headers, reading=False, missing_is_404=True)
            fake._remove(container, blobs, name)
            return 202, "Accepted", {"x-ms-delete-type-permanent": "true"}, b""
        except AzureError as error:
            body = _error_body(error.code, error.message, self._request_id)
            return error.status, error.message, {"x-ms-error-code": error.code}, body


AzureFake.handler_class = _AzureHandler


class _CaseInsensitive:
    """Header lookup by any case over a dict with lower-cased names."""

    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._headers.get(name.lower(), default)


def azure_options(fake: AzureFake) -> dict[str, str]:
    """storage_options for ``az://{container}/prefix`` URLs served by ``fake``:
    :func:`azure_options_at` its endpoint."""
    return azure_options_at(fake.endpoint)


def azure_options_at(endpoint: str) -> dict[str, str]:
    """storage_options for ``az://{container}/prefix`` URLs served at ``endpoint`` (the fake's
    ``http://127.0.0.1:PORT/devstoreaccount1``, or the same path on a proxy in front of it).

    The devstoreaccount1 account and its well-known key (SharedKey signing) with
    ``azure_storage_endpoint`` pointing at the fake: path-style URLs
    ``{endpoint}/{container}/{blob}``. object_store's ``azure_storage_use_emulator`` is not used: it
    takes its address only from the ``AZURITE_BLOB_STORAGE_URL`` environment variable (the endpoint
    option is ignored then), which a test would have to set process-wide.
    The same dict works as obstore's ``AzureStore(container, config=...)``.
    """
    return {
        "azure_storage_account_name": EMULATOR_ACCOUNT,
        "azure_storage_account_key": EMULATOR_ACCOUNT_KEY,
        "azure_storage_endpoint": endpoint,
        "allow_http": "true",
    }
