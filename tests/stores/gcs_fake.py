"""A Google Cloud Storage server on loopback for the store tests, speaking GCS's XML API.

GCS's own emulators cannot be installed on this machine (fake-gcs-server is a Go program, and the
PyPI emulator ``gcp-storage-emulator`` has neither the XML API's listing nor its deletes), so this
module serves the part of the XML API that object_store's GCS client (the client zarrs_cffi and
obstore both use) sends: object GET/HEAD with ranges and ``If-Match``/``If-None-Match``, PUT with
``x-goog-if-generation-match``, DELETE, and ``list-type=2`` listings with prefixes, delimiters and
continuation tokens, in the shape https://cloud.google.com/storage/docs/xml-api documents. Objects
live in memory.

The client reaches it through a service-account key with ``gcs_base_url`` and ``disable_oauth``
(object_store's documented way to use an emulator): see :func:`gcs_options`.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass
from email.utils import formatdate
from xml.sax.saxutils import escape

from loopback_server import LoopbackServer, QuietHandler, Unsatisfiable, byte_range


@dataclass
class StoredObject:
    data: bytes
    generation: int
    modified: float

    @property
    def etag(self) -> str:
        return '"' + hashlib.md5(self.data).hexdigest() + '"'


def _xml_error(code: str, message: str) -> bytes:
    body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
    return (body + f"<Message>{escape(message)}</Message></Error>").encode()


class GcsFake(LoopbackServer):
    """GCS's XML API for objects in memory, on 127.0.0.1 (port chosen by the system).

    ``deny`` makes every request fail with 403 (a bucket the credentials may not use);
    ``unexpected`` collects requests this server does not implement (tests assert it stays empty).
    """

    thread_name = "gcs-fake"

    def __init__(self, page_size: int = 1000) -> None:
        super().__init__()
        self.page_size = page_size
        self.deny = False
        self.unexpected: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self._buckets: dict[str, dict[str, StoredObject]] = {}
        self._generations = itertools.count(1)
        self._lock = threading.Lock()

    def create_bucket(self, name: str) -> None:
        with self._lock:
            self._buckets.setdefault(name, {})

    def keys(self, bucket: str) -> list[str]:
        with self._lock:
            return sorted(self._buckets[bucket])

    # What the handler calls, under the lock.
    def _bucket(self, name: str) -> dict[str, StoredObject] | None:
        return self._buckets.get(name)

    def _put(self, objects: dict[str, StoredObject], key: str, data: bytes, modified: float) -> StoredObject:
        stored = StoredObject(data, next(self._generations), modified)
        objects[key] = stored
        return stored


class _GcsHandler(QuietHandler):
    server_fake: GcsFake

    # -- plumbing --------------------------------------------------------------------------
    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.command != "HEAD" or "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, _xml_error(code, message), {"Content-Type": "application/xml"})

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _route(self) -> tuple[str, str, dict[str, list[str]]]:
        parsed = urllib.parse.urlsplit(self.path)
        bucket, _, key = parsed.path.lstrip("/").partition("/")
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        return urllib.parse.unquote(bucket), urllib.parse.unquote(key), query

    def _handle(self) -> None:
        fake = self.server_fake
        body = self._body() if self.command in ("PUT", "POST") else b""
        bucket_name, key, query = self._route()
        fake.requests.append((self.command, self.path))
        if fake.deny:
            self._error(403, "AccessDenied", "Access denied.")
            return
        with fake._lock:
            objects = fake._bucket(bucket_name)
            if objects is None:
                self._error(404, "NoSuchBucket", f"The specified bucket does not exist: {bucket_name}")
                return
            if not key and self.command == "GET" and query.get("list-type") == ["2"]:
                self._list(objects, bucket_name, query)
            elif key and self.command in ("GET", "HEAD") and set(query) <= {"generation"}:
                self._get(objects, key, query)
            elif key and self.command == "PUT" and not query:
                self._put(objects, key, body)
            elif key and self.command == "DELETE" and not query:
                self._delete(objects, key)
            else:
                fake.unexpected.append(f"{self.command} {self.path}")
                self._error(400, "NotImplemented", f"{self.command} {self.path} is not served here")

    do_GET = do_HEAD = do_PUT = do_DELETE = do_POST = _handle

    # -- the XML API -------------------------------------------------------------------------
    def _object_headers(self, stored: StoredObject) -> dict[str, str]:
        return {
            "ETag": stored.etag,
            "Last-Modified": formatdate(stored.modified, usegmt=True),
            "x-goog-generation": str(stored.generation),
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }

    def _get(self, objects: dict[str, StoredObject], key: str, query: dict[str, list[str]]) -> None:
        stored = objects.get(key)
        wanted = query.get("generation")
        if stored is None or (wanted and wanted[0] != str(stored.generation)):
            self._error(404, "NoSuchKey", f"The specified key does not exist: {key}")
            return
        headers = self._object_headers(stored)
        if_match, if_none_match = self.headers.get("If-Match"), self.headers.get("If-None-Match")
        if if_match is not None and if_match not in ("*", stored.etag):
            self._error(412, "PreconditionFailed", "If-Match did not match")
            return
        if if_none_match is not None and if_none_match in ("*", stored.etag):
            self._send(304, headers=headers)
            return
        requested = self.headers.get("Range")
        if requested is None:
            self._send(200, stored.data, headers)
            return
        try:
            span = byte_range(requested, len(stored.data))
        except Unsatisfiable:
            self._error(416, "InvalidRange", "The requested range cannot be satisfied.")
            return
        if span is None:  # a Range header servers ignore: the whole object
            self._send(200, stored.data, headers)
            return
        start, stop = span
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{len(stored.data)}"
        self._send(206, stored.data[start:stop], headers)

    def _put(self, objects: dict[str, StoredObject], key: str, body: bytes) -> None:
        condition = self.headers.get("x-goog-if-generation-match")
        current = objects.get(key)
        if condition is not None and str(current.generation if current else 0) != condition:
            self._error(412, "PreconditionFailed", "x-goog-if-generation-match did not match")
            return
        stored = self.server_fake._put(objects, key, body, time.time())
        self._send(200, headers={"ETag": stored.etag, "x-goog-generation": str(stored.generation)})

    def _delete(self, objects: dict[str, StoredObject], key: str) -> None:
        if objects.pop(key, None) is None:
            self._error(404, "NoSuchKey", f"The specified key does not exist: {key}")
        else:
            self._send(204)

    def _list(self, objects: dict[str, StoredObject], bucket: str, query: dict[str, list[str]]) -> None:
        def first(name: str, default: str = "") -> str:
            return query.get(name, [default])[0]

        prefix, delimiter = first("prefix"), first("delimiter")
        after = first("continuation-token") or first("start-after")
        page = min(int(first("max-keys", "1000")), self.server_fake.page_size)
        entries: dict[str, StoredObject | None] = {}  # key or common prefix (None) in key order
        for key in sorted(k for k in objects if k.startswith(prefix)):
            rest = key[len(prefix) :]
            cut = rest.find(delimiter) if delimiter else -1
            entries[prefix + rest[: cut + len(delimiter)] if cut >= 0 else key] = (
                None if cut >= 0 else objects[key]
            )
        names = [name for name in entries if not after or name > after]
        shown, more = names[:page], len(names) > page
        parts = [
            "<?xml version='1.0' encoding='UTF-8'?>",
            '<ListBucketResult xmlns="http://doc.s3.amazonaws.com/2006-03-01">',
            f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix>",
            f"<KeyCount>{len(shown)}</KeyCount><MaxKeys>{page}</MaxKeys>",
            f"<IsTruncated>{str(more).lower()}</IsTruncated>",
        ]
        for name in shown:
            stored = entries[name]
            if stored is None:
                parts.append(f"<CommonPrefixes><Prefix>{escape(name)}</Prefix></CommonPrefixes>")
                continue
            modified = _iso_time(stored.modified)
            parts.append(
                f"<Contents><Key>{escape(name)}</Key><Generation>{stored.generation}</Generation>"
                f"<LastModified>{modified}</LastModified><ETag>{escape(stored.etag)}</ETag>"
                f"<Size>{len(stored.data)}</Size></Contents>"
            )
        if more:
            parts.append(f"<NextContinuationToken>{escape(shown[-1])}</NextContinuationToken>")
        parts.append("</ListBucketResult>")
        self._send(200, "".join(parts).encode(), {"Content-Type": "application/xml"})


GcsFake.handler_class = _GcsHandler


def _iso_time(seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# Never used (disable_oauth), but a secret all the same: tests check it shows in no message or repr.
PRIVATE_KEY = "fake-private-key-3f9c2a"


def gcs_options(fake: GcsFake) -> dict[str, str]:
    """storage_options for ``gs://bucket/...`` URLs served by ``fake``: :func:`gcs_options_at` its
    endpoint."""
    return gcs_options_at(fake.endpoint)


def gcs_options_at(endpoint: str) -> dict[str, str]:
    """storage_options for ``gs://bucket/...`` URLs served at ``endpoint`` (the GCS server, or a
    proxy in front of it).

    A service-account key with ``gcs_base_url`` and ``disable_oauth`` is object_store's way to talk
    to an emulator: requests go to the fake, without OAuth tokens (``google_skip_signature`` alone
    is not enough: object_store 0.14.2 still fetches a token before a PUT).
    """
    key = {
        "gcs_base_url": endpoint,
        "disable_oauth": True,
        "client_email": "",
        "private_key": PRIVATE_KEY,
        "private_key_id": "test-key",
    }
    return {"google_service_account_key": json.dumps(key), "allow_http": "true"}
