"""Consolidated metadata: every node's document in one place, so that listing a hierarchy costs one
request (and works on HTTP servers, which cannot list at all).

Two forms exist, and both are read and written: Zarr v3's ``consolidated_metadata`` inside the
root ``zarr.json`` (zarr-python's form) and Zarr v2's ``.zmetadata`` beside the root ``.zgroup``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Dict

from .errors import InvalidArgumentError, InvalidMetadataError
from .forksafe import module_lock
from .metadata import numpy_to_json

if TYPE_CHECKING:
    from .store import Store

Document = Dict[str, Any]
V2_SUFFIXES = (".zarray", ".zgroup")


def read_consolidated(store: Store) -> dict[str, Document] | None:
    """Every node's metadata document by path (``"a"``, ``"a/b"``; the root is not included), from the
    store's consolidated metadata; None if it has none. v2 documents carry their ``.zattrs`` under
    ``"attributes"``, as :meth:`Store.read_metadata` returns them."""
    root = _json(store.get_key("zarr.json"), "zarr.json")
    if root is not None:
        inline = root.get("consolidated_metadata")
        if isinstance(inline, Mapping) and isinstance(inline.get("metadata"), Mapping):
            return {str(path): _as_stored(_document(doc, path)) for path, doc in inline["metadata"].items()}
        return None
    flat = _json(store.get_key(".zmetadata"), ".zmetadata")
    if flat is None or not isinstance(flat.get("metadata"), Mapping):
        return None
    return _v2_documents(flat["metadata"])


def _document(doc: object, path: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise InvalidMetadataError(
            f"consolidated metadata of zarr.json holds no document for {path!r} (got {type(doc).__name__})"
        )
    return doc


def _as_stored(doc: Mapping[str, Any]) -> Document:
    """A nested group's document as its own zarr.json holds it: without the empty
    ``consolidated_metadata`` block zarr-python's form gives it."""
    stored = dict(doc)
    block = stored.get("consolidated_metadata")
    if isinstance(block, Mapping) and not block.get("metadata"):
        del stored["consolidated_metadata"]
    return stored


def _v2_documents(flat: Mapping[str, Any]) -> dict[str, Document]:
    """Nodes of a v2 ``.zmetadata``'s ``metadata`` object (the root excluded), each ``.zarray`` /
    ``.zgroup`` merged with its ``.zattrs`` under ``"attributes"``."""
    documents: dict[str, Document] = {}
    for key, doc in flat.items():
        path, _, name = key.rpartition("/")
        if name in V2_SUFFIXES and path and isinstance(doc, Mapping):
            attributes = dict(flat.get(f"{path}/.zattrs") or {})
            documents[path] = {**_as_stored(doc), "attributes": attributes}
    return documents


def _json(raw: bytes | None, key: str) -> Document | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise InvalidMetadataError(f"{key} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidMetadataError(f"{key} is not a JSON object")
    return value


def children_from(documents: Mapping[str, Document], node: str) -> list[tuple[str, Document]]:
    """The children of ``node`` ("/" or "/a/b") in consolidated ``documents``, as
    :meth:`Store.list_children` returns them: sorted ``(path, document)`` pairs."""
    parent = node.strip("/")
    children = []
    for path, doc in documents.items():
        head, _, _ = path.rpartition("/")
        if head == parent:
            children.append((path, doc))
    return sorted(children)


def _reset_lock() -> None:
    global changing
    changing = threading.RLock()


# Held around a node's create or delete and the update of the consolidated metadata above it, and
# around consolidate(): two threads creating nodes at once each read the document, added their
# node and wrote it back, one of them losing the other's (then hidden from listings). One lock for
# every store: Stores rooted at a group and at its parent rewrite the same document.
module_lock(_reset_lock)  # (registers the reset in forked children; its plain Lock is unused)
changing = threading.RLock()  # reentrant: an update inside a create holds it already


def consolidate(store: Store) -> dict[str, Document]:
    """Write consolidated metadata for the whole hierarchy of ``store`` (whose root must be a group):
    v3 roots get ``consolidated_metadata`` in their ``zarr.json``, v2 roots a ``.zmetadata``.

    Returns:
        The consolidated documents by node path.
    """
    with changing:
        return _consolidate(store)


def _consolidate(store: Store) -> dict[str, Document]:
    store.check_writable()  # before the listing (which an HTTP server cannot answer)
    root = store.read_metadata("/")
    if root.get("node_type", "group" if "shape" not in root else "array") != "group":
        raise InvalidArgumentError(f"the root of {store.root!r} is an array: only groups consolidate")
    documents: dict[str, Document] = {}
    pending = ["/"]
    while pending:
        node = pending.pop()
        for path, doc in store.list_children(node, consolidated=False):
            documents[path] = doc
            if "shape" not in doc:
                pending.append("/" + path)
    if root.get("zarr_format") == 2:
        store.set_key(".zmetadata", json.dumps(_v2_flat(store, documents), indent=2).encode())
        return documents
    inline = {}
    for path, doc in sorted(documents.items()):
        doc = dict(doc)
        if doc.get("node_type") == "group":  # nested groups: their own block is empty (zarr-python's form)
            doc["consolidated_metadata"] = {"kind": "inline", "must_understand": False, "metadata": {}}
        inline[path] = doc
    raw = store.get_key("zarr.json")
    stored = _json(raw, "zarr.json") or {}
    stored["consolidated_metadata"] = {"kind": "inline", "must_understand": False, "metadata": inline}
    store.set_key("zarr.json", json.dumps(stored, indent=2).encode())
    return documents


def _v2_flat(store: Store, documents: Mapping[str, Document]) -> Document:
    flat: Document = {}
    for prefix in ["", *sorted(documents)]:
        base = f"{prefix}/" if prefix else ""
        for name in (".zgroup", ".zarray", ".zattrs"):
            value = _json(store.get_key(base + name), base + name)
            if value is not None:
                flat[base + name] = value
    return {"zarr_consolidated_format": 1, "metadata": flat}


def _parents_are_groups(inline: Mapping[str, Document], path: str) -> bool:
    """Whether every group above ``path`` (below the root) is in the consolidated ``inline`` block.

    A node under an implied parent (a group with no document) is left out, as :func:`consolidate`
    leaves it out (the listing does not reach it) and zarr-python does: zarr-python refuses to open
    consolidated metadata that holds ``x/y`` but no ``x``."""
    parts = path.split("/")
    return all(
        inline.get("/".join(parts[:depth]), {}).get("node_type") == "group" for depth in range(1, len(parts))
    )


def update_consolidated(store: Store, path: str, document: Document | None) -> None:
    """Keep the store's consolidated metadata (if it has any) true after this package created
    (``document``) or deleted (None) the node at ``path`` and everything below it: the root's, and
    that of every v3 group above ``path`` that has its own (``consolidate`` of a group's URL, or
    zarr-python's ``consolidate_metadata(store, path=...)``, writes one there)."""
    parts = path.split("/")
    with changing:
        for depth in range(len(parts)):
            _update_group(store, "/".join(parts[:depth]), "/".join(parts[depth:]), document)


def _update_group(store: Store, group: str, path: str, document: Document | None) -> None:
    """``update_consolidated`` for the consolidated metadata of ``group`` ("" the root), where the
    node is at ``path`` relative to it."""
    key = f"{group}/zarr.json" if group else "zarr.json"
    try:
        root = _json(store.get_key(key), key)
    except InvalidMetadataError:
        # Nobody can read consolidated metadata from a broken document, so there is none to keep
        # true; the node was created or deleted (as by zarr-python), which is not to be reported
        # as failed.
        return
    if root is not None:
        block = root.get("consolidated_metadata")
        if not isinstance(block, Mapping) or not isinstance(block.get("metadata"), Mapping):
            return
        inline = {
            key: doc
            for key, doc in block["metadata"].items()
            if key != path and not key.startswith(path + "/")
        }
        if document is not None and _parents_are_groups(inline, path):
            doc = dict(document)
            if doc.get("node_type") == "group":
                doc["consolidated_metadata"] = {"kind": "inline", "must_understand": False, "metadata": {}}
            inline[path] = doc
        root["consolidated_metadata"] = {**block, "metadata": dict(sorted(inline.items()))}
        # (numpy values in the caller's document: stored as the node's own document stores them)
        store.set_key(key, json.dumps(root, indent=2, default=numpy_to_json).encode())
    elif not group and store.get_key(".zmetadata") is not None:
        _consolidate(store)  # v2: rebuilt whole (its entries are files, not documents)
