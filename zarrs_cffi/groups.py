"""Reading a group's members (arrays and subgroups with their metadata documents), from
consolidated metadata when the store has it, else by listing through the native library.

Array documents come back in the form ``Store.read_metadata`` returns: v3 ``zarr.json`` as
stored, v2 ``.zarray`` with the ``.zattrs`` under "attributes".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict

from .consolidated import _v2_documents
from .errors import GroupError, InvalidMetadataError
from .store import Store, node_path
from .store_location import StoreLocation

Document = Dict[str, Any]


@dataclass
class Group:
    """One group: its node path ("/" or "/a/b"), format, attributes and direct members."""

    node: str
    zarr_format: int
    attributes: dict[str, Any]
    arrays: dict[str, Document] = field(default_factory=dict)  # member name -> array document
    groups: list[str] = field(default_factory=list)  # member names of subgroups
    consolidated: bool = False


def is_array(document: Document) -> bool:
    """True for an array document (v3 ``node_type``, v2 the ``.zarray`` keys)."""
    if document.get("zarr_format") == 2:
        return "shape" in document and "dtype" in document
    return document.get("node_type") == "array"


def read_groups(
    root: str | StoreLocation, group: str | None, consolidated: bool | None, *, recursive: bool
) -> list[Group]:
    """The group at ``group`` (root if None) and, with ``recursive``, every group below it.

    ``consolidated``: None uses consolidated metadata when present, True requires it, False
    ignores it (reads each node's own metadata).
    """
    node = node_path(group or "/")
    with Store(root) as store:
        document = store.read_metadata(node)
        if is_array(document):
            raise GroupError(f"{node!r} in {root!r} is an array, not a group")
        fmt = int(document.get("zarr_format", 3))
        members = None if consolidated is False else _consolidated_members(store, node, document, fmt)
        if members is None:
            if consolidated:
                raise InvalidMetadataError(
                    f"consolidated=True but {root!r} has no consolidated metadata for {node!r}"
                )
            return _listed_groups(store, node, document, fmt, recursive)
    return _groups_from_members(node, fmt, document, members, recursive)


def _attributes(document: Document) -> dict[str, Any]:
    attributes = document.get("attributes") or {}
    if not isinstance(attributes, dict):  # another writer's .zattrs holding [1, 2]
        raise InvalidMetadataError(f"attributes are not a JSON object: {type(attributes).__name__}")
    return dict(attributes)


def _listed_groups(store: Store, node: str, document: Document, fmt: int, recursive: bool) -> list[Group]:
    """Walk by listing each group's children through the native library."""
    found = Group(node, fmt, _attributes(document))
    below: list[Group] = []
    for child_path, child_doc in store.list_children(node, consolidated=False):
        name = child_path.rsplit("/", 1)[-1]
        if is_array(child_doc):
            found.arrays[name] = child_doc
        else:
            found.groups.append(name)
            if recursive:
                child = node_path(child_path)
                below += _listed_groups(store, child, child_doc, fmt, recursive)
    return [found, *below]


def _groups_from_members(
    node: str, fmt: int, document: Document, members: dict[str, Document], recursive: bool
) -> list[Group]:
    """Groups from a flat {relative path: document} map of everything below ``node``."""
    by_path = {"": Group(node, fmt, _attributes(document), consolidated=True)}
    for rel in sorted(members, key=lambda p: p.count("/")):
        doc = members[rel]
        parent, _, name = rel.rpartition("/")
        owner = by_path.get(parent)
        if owner is None:  # below an array, or an incomplete listing: not reachable as a member
            continue
        if is_array(doc):
            owner.arrays[name] = doc
        else:
            owner.groups.append(name)
            child = node_path(f"{node.rstrip('/')}/{rel}")
            by_path[rel] = Group(child, fmt, _attributes(doc), consolidated=True)
    groups = list(by_path.values())
    return groups if recursive else groups[:1]


def _consolidated_members(
    store: Store, node: str, document: Document, fmt: int
) -> dict[str, Document] | None:
    """{path relative to ``node``: document} of everything below it, or None without consolidated
    metadata. v3 keeps it inline in a group's ``zarr.json`` (the group's own, else the root's);
    v2 in the root's ``.zmetadata``."""
    prefix = node.strip("/")
    if fmt == 3:
        own = _inline_members(document)
        if own is not None:
            return own
        if not prefix:
            return None
        everything = _inline_members(store.read_metadata("/"))
    else:
        everything = _v2_members(store)
    if everything is None:
        return None
    if not prefix:
        return everything
    if prefix not in everything:  # the group itself must be in it, else the listing is stale
        return None
    start = prefix + "/"
    return {p[len(start) :]: d for p, d in everything.items() if p.startswith(start)}


def _inline_members(document: Document) -> dict[str, Document] | None:
    consolidated = document.get("consolidated_metadata")
    if not isinstance(consolidated, dict) or not isinstance(consolidated.get("metadata"), dict):
        return None
    return {path.strip("/"): doc for path, doc in consolidated["metadata"].items() if isinstance(doc, dict)}


def _v2_members(store: Store) -> dict[str, Document] | None:
    """Nodes of a v2 ``.zmetadata``, each ``.zarray``/``.zgroup`` merged with its ``.zattrs``."""
    raw = store.get_key(".zmetadata")
    if raw is None:
        return None
    try:
        keys = json.loads(raw).get("metadata")
    except (ValueError, AttributeError) as exc:
        raise InvalidMetadataError(f"unreadable .zmetadata in {store.root!r}: {exc}") from None
    if not isinstance(keys, dict):
        raise InvalidMetadataError(f".zmetadata in {store.root!r} has no 'metadata' object")
    return _v2_documents(keys)
