"""Arguments of Store and the module-level functions that were taken when they should have been
refused (or refused with the wrong words), and consolidated metadata of groups below the root."""

from __future__ import annotations

import json
import pathlib
import zipfile
from collections.abc import Callable

import numpy as np
import pytest

import zarrs_cffi


def zarr_available() -> bool:
    try:
        import zarr  # noqa: F401
    except ImportError:
        return False
    return True


def at_once(count: int, call: Callable[[int], object]) -> list[BaseException]:
    """``call(i)`` for i in range(count) on as many threads, released together; their errors."""
    import threading

    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            call(i)
        except BaseException as exc:  # returned to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.fixture
def tree(tmp_path: pathlib.Path) -> str:
    root = str(tmp_path / "t.zarr")
    zarrs_cffi.create_group(root)
    zarrs_cffi.create_array(root, "/a", shape=(3,), dtype="u1", chunks=(3,))[...] = [1, 2, 3]
    return root


@pytest.mark.parametrize("value", [0, 1, "yes"])
def test_consolidated_takes_none_true_or_false_only(tree: str, value: object) -> None:
    """0 and 1 passed the check and then acted as None (a listing from stale metadata)."""
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="consolidated must be True or False"):
        zarrs_cffi.Store(tree, consolidated=value)
    with zarrs_cffi.Store(tree) as store, pytest.raises(zarrs_cffi.InvalidArgumentError):
        store.list_children("/", consolidated=value)


def test_one_shot_calls_refuse_options_on_local_paths(tree: str) -> None:
    for call in (
        lambda: zarrs_cffi.read(tree + "/a", storage_options={"bogus": "x"}),
        lambda: zarrs_cffi.read_into(np.empty(3, "u1"), tree + "/a", storage_options={"bogus": "x"}),
        lambda: zarrs_cffi.write(tree + "/a", 0, 9, storage_options={"bogus": "x"}),
    ):
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match="take no storage options"):
            call()
    np.testing.assert_array_equal(zarrs_cffi.read(tree + "/a"), [1, 2, 3])


@pytest.mark.parametrize("value", ["no", [0], 1, None])
def test_overwrite_takes_true_or_false_only(tree: str, value: object) -> None:
    """overwrite="no" is truthy: it deleted the array it was meant to keep."""
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="overwrite must be"):
        zarrs_cffi.create_array(tree, "/a", shape=(1,), dtype="u1", chunks=(1,), overwrite=value)
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="overwrite must be"):
        zarrs_cffi.create_group(tree, "/a", overwrite=value)
    with zarrs_cffi.Store(tree) as store, pytest.raises(zarrs_cffi.InvalidArgumentError):
        store.create_node("/a", {"zarr_format": 3, "node_type": "group"}, overwrite=value)
    np.testing.assert_array_equal(zarrs_cffi.read(tree + "/a"), [1, 2, 3])
    zarrs_cffi.create_group(tree, "/a", overwrite=np.True_)  # numpy's bool is a bool


def test_forget_memory_store_refuses_other_stores() -> None:
    for url in ("s3://bucket", "/tmp/x", "file:///q", "gs://b/p"):
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match="memory://name"):
            zarrs_cffi.forget_memory_store(url)
    zarrs_cffi.create_group("memory://forget-me")
    zarrs_cffi.forget_memory_store("memory://forget-me")
    zarrs_cffi.forget_memory_store("forget-me")  # a bare name: nothing left to forget


@pytest.mark.parametrize("node", ["//a", "///", "//"])
def test_leading_empty_segments_are_refused(tree: str, node: str) -> None:
    with zarrs_cffi.Store(tree) as store, pytest.raises(
        zarrs_cffi.InvalidArgumentError, match="empty segment"
    ):
        store.read_metadata(node)


def test_malformed_documents_are_invalid_metadata(tree: str) -> None:
    with zarrs_cffi.Store(tree) as store:
        store.set_key("g/zarr.json", b"[1, 2]")
        with pytest.raises(zarrs_cffi.InvalidMetadataError):
            store.list_children("/")
        with pytest.raises(zarrs_cffi.InvalidMetadataError):
            zarrs_cffi.consolidate(tree)
        store.set_key("g/zarr.json", b'{"zarr_format": 3, "node_type": "group"}')
        block = {"kind": "inline", "must_understand": False, "metadata": {"h": 5}}
        store.set_key(
            "zarr.json",
            json.dumps({"zarr_format": 3, "node_type": "group", "consolidated_metadata": block}).encode(),
        )
        with pytest.raises(zarrs_cffi.InvalidMetadataError, match="'h'"):
            store.list_children("/")


def test_group_extensions_must_say_they_may_be_ignored(tree: str) -> None:
    """The rule arrays follow (zarr-python cannot open a group with an unknown member)."""
    with zarrs_cffi.Store(tree) as store:
        for extra in ({"foo": {"must_understand": True}}, {"foo": 1}):
            with pytest.raises(zarrs_cffi.InvalidMetadataError, match="'foo'"):
                store.create_node("/g", {"zarr_format": 3, "node_type": "group", **extra})
        store.create_node("/g", {"zarr_format": 3, "node_type": "group", "foo": {"must_understand": False}})
        assert store.node_exists("/g")


def test_get_key_of_a_directory_is_none(tree: str) -> None:
    with zarrs_cffi.Store(tree) as store:
        assert store.get_key("a") is None
        assert store.get_key("a/c") is None
        assert store.get_key("a/zarr.json") is not None


def test_file_and_zip_urls_say_what_is_wrong(
    tree: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="query or fragment"):
        zarrs_cffi.read(f"file:{tree}/a#x")  # as file:///...#x says (%23 names a '#')
    archive = tmp_path / "d.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted(pathlib.Path(tree).rglob("*")):
            if file.is_file():
                zf.write(file, file.relative_to(tree).as_posix())
    monkeypatch.chdir(tmp_path)
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match=r"names a host 'd\.zip'"):
        zarrs_cffi.read("zip://d.zip/a")
    np.testing.assert_array_equal(zarrs_cffi.read("d.zip/a"), [1, 2, 3])
    with pytest.raises(zarrs_cffi.ReadOnlyError, match="is in a zip file, which is read-only"):
        zarrs_cffi.write("d.zip/a", 0, 9)


def test_consolidated_metadata_of_a_group_below_the_root_stays_true(tree: str) -> None:
    zarrs_cffi.create_group(tree, "/g")
    zarrs_cffi.create_array(tree, "/g/old", shape=(1,), dtype="u1", chunks=(1,)).close()
    zarrs_cffi.consolidate(tree + "/g")
    zarrs_cffi.create_array(tree, "/g/new", shape=(1,), dtype="u1", chunks=(1,)).close()
    with zarrs_cffi.Store(tree) as store:
        store.delete_node("/g/old")
    with zarrs_cffi.Store(tree + "/g") as group:
        assert group.list_children("/") == group.list_children("/", consolidated=False)
        assert [path for path, _ in group.list_children("/", consolidated=True)] == ["new"]


@pytest.mark.parametrize(
    "url",
    ["s3://AKIAEX:pa55word9@bucket/x", "s3://user@bucket/x", "gs://u:pa55word9@b/x", "az://u:pa55word9@c/x"],
)
def test_credentials_in_a_cloud_url_are_refused_not_dropped(url: str) -> None:
    """obstore and object_store ignore a cloud URL's user information: the request went out with
    other credentials (or none). Refused by Store, the one-shot calls and both CRUD engines, in a
    message that does not show the password; the CRUD API's error is both its contract's
    UnsupportedStoreError and the InvalidArgumentError of the rest of the API."""
    calls = [
        lambda: zarrs_cffi.Store(url),
        lambda: zarrs_cffi.read(url),
        lambda: zarrs_cffi.crud.list_children(url, "", engine="cffi"),
    ]
    if zarr_available():
        calls.append(lambda: zarrs_cffi.crud.list_children(url, "", engine="zarr"))
    for call in calls:
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match="has user information") as info:
            call()
        assert "pa55word9" not in str(info.value)
    with pytest.raises(zarrs_cffi.UnsupportedStoreError):
        zarrs_cffi.crud.read_metadata("s3:bucket/x", "")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("retry_timeout", 1e20),
        ("retry_timeout", "1e30s"),
        ("timeout", 1e17),
        ("timeout", 1e11),  # object_store's durations end at 2**64 ns, 1.8e10 s
        ("connect_timeout", 1e30),
    ],
)
def test_durations_no_clock_holds_are_invalid_arguments_naming_the_option(option: str, value: object) -> None:
    """retry_timeout=1e20 was a caught panic (InternalPanicError); timeout=1e17 was refused by
    object_store quoting a value the caller never gave, naming no option."""
    with pytest.raises(
        zarrs_cffi.InvalidArgumentError, match=f'storage option "{option}" must be a number of seconds'
    ):
        zarrs_cffi.Store("s3://bucket/x", **{option: value})


@pytest.mark.parametrize("spelling", ["MEMORY://forget-me", "memory://forget-me/some/prefix", "forget-me"])
def test_forget_memory_store_forgets_every_spelling(spelling: str) -> None:
    """The store was looked up by the URL's text after a case-sensitive "memory://": "MEMORY://x"
    reported success and forgot nothing."""
    url = "memory://forget-me"
    zarrs_cffi.create_array(url, shape=(2,), dtype="u1", chunks=(2,))[...] = 7
    zarrs_cffi.forget_memory_store(spelling)
    assert not zarrs_cffi.Store(url).node_exists("/")


@pytest.mark.parametrize("url", ["memory://u:p@name", "memory://name:99"])
def test_memory_urls_with_a_user_or_port_are_refused(url: str) -> None:
    """memory://u:p@x and memory://x:99 both named the store "x"."""
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="has a user or a port"):
        zarrs_cffi.Store(url)


def test_nodes_created_at_once_all_stay_in_consolidated_metadata(tree: str) -> None:
    """Each create read the root's consolidated metadata, added its node and wrote it back: eight
    threads at once left two listed (the others hidden from default listings)."""
    zarrs_cffi.consolidate(tree)
    assert not at_once(8, lambda i: zarrs_cffi.create_group(tree, f"/n{i}"))
    with zarrs_cffi.Store(tree) as store:
        listed = [path for path, _ in store.list_children("/", consolidated=True)]
        assert listed == [path for path, _ in store.list_children("/", consolidated=False)]
    assert listed == ["a", *(f"n{i}" for i in range(8))]


def test_numpy_attributes_on_a_consolidated_store(tree: str) -> None:
    """The node was written, then updating consolidated metadata raised a bare TypeError (numpy
    values are not JSON) and left it stale."""
    zarrs_cffi.consolidate(tree)
    zarrs_cffi.create_group(tree, "/g", attributes={"v": np.int32(3), "f": np.float32(0.5)})
    with zarrs_cffi.Store(tree) as store:
        documents = dict(store.list_children("/", consolidated=True))
    assert documents["g"]["attributes"] == {"v": 3, "f": 0.5}


def test_a_class_merely_called_localstore_is_no_store(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Store objects were matched by class name: any class called LocalStore with a root was
    taken for zarr's, and create_array wrote an array into its root."""
    monkeypatch.chdir(tmp_path)
    LocalStore = type("LocalStore", (), {"root": "x"})
    with pytest.raises(zarrs_cffi.UnsupportedStoreError, match="LocalStore"):
        zarrs_cffi.create_array(LocalStore(), shape=(2,), dtype="u1", chunks=(2,))
    assert not (tmp_path / "x").exists()
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match=r"path must be str or os\.PathLike, got dict"):
        zarrs_cffi.open_array({"a": 1})


def test_creates_through_a_group_store_and_its_parent_at_once_stay_consolidated(tree: str) -> None:
    """A Store rooted at a group and one at its parent rewrite the group's consolidated document;
    locked per store root, one's update could be lost. (The parent's own consolidated metadata is
    not updated by the Store rooted below it, which does not know it: docs/guide/stores.md.)"""
    zarrs_cffi.create_group(tree, "/g")
    zarrs_cffi.consolidate(tree)
    zarrs_cffi.consolidate(tree + "/g")

    def create(i: int) -> None:
        if i % 2:
            zarrs_cffi.Store(tree).create_node(f"/g/n{i}", {"zarr_format": 3, "node_type": "group"})
        else:
            zarrs_cffi.Store(tree + "/g").create_node(f"/n{i}", {"zarr_format": 3, "node_type": "group"})

    assert not at_once(8, create)
    with zarrs_cffi.Store(tree + "/g") as store:
        assert [p for p, _ in store.list_children("/", consolidated=True)] == [f"n{i}" for i in range(8)]


@pytest.mark.parametrize("engine", ["cffi", "zarr"])
def test_an_array_at_a_reserved_name_is_refused_before_anything_is_written(
    tmp_path: pathlib.Path, engine: str
) -> None:
    """create_array wrote "/__x" and then failed to open it (NodePathError), and a retry met
    NodeExistsError; its hint (engine="zarr") did not work with open_array either."""
    if engine == "zarr" and not zarr_available():
        pytest.skip("zarr-python is not installed")
    root = tmp_path / "r.zarr"
    for node in ("/__x", "/g/__y", "/__g/y"):
        with pytest.raises(zarrs_cffi.NodePathError, match=r"CRUD functions with engine=.zarr."):
            zarrs_cffi.create_array(root, node, shape=(2,), dtype="i4", chunks=(2,), engine=engine)
    assert not root.exists()


@pytest.mark.parametrize("engine", ["cffi", "zarr"])
def test_names_of_dots_only_are_invalid_arguments_on_both_engines(
    tmp_path: pathlib.Path, engine: str
) -> None:
    """ "..." raised NodePathError on the native engine (not the documented InvalidArgumentError)
    and was written by the zarr engine."""
    if engine == "zarr" and not zarr_available():
        pytest.skip("zarr-python is not installed")
    group = {"zarr_format": 3, "node_type": "group"}
    for path in ("...", ".../x", "a/...."):
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match="dots only"):
            zarrs_cffi.crud.create_new_group(group, str(tmp_path / "d.zarr"), path, engine=engine)
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="dots only"):
        zarrs_cffi.create_group(tmp_path / "d.zarr", "/...")
    assert not (tmp_path / "d.zarr").exists()
    if engine == "zarr":  # another writer's such node: still listed, read and deleted
        import zarr

        zarr.create_group(str(tmp_path / "z.zarr")).create_group("...")
        store = str(tmp_path / "z.zarr")
        assert [p for p, _ in zarrs_cffi.crud.list_children(store, "", engine="zarr")] == ["..."]
        assert zarrs_cffi.crud.read_metadata(store, "...", engine="zarr")["node_type"] == "group"
        zarrs_cffi.crud.delete_node(store, "...", engine="zarr")


def test_group_attributes_must_be_an_object(tree: str) -> None:
    """A v3 group document with "attributes": ["x"] was written, then broke zarr-python and this
    package's group listings with untyped errors; another writer's such .zattrs is typed now."""
    from zarrs_cffi.groups import read_groups

    with zarrs_cffi.Store(tree) as store:
        for attributes in (["x"], "xx"):
            with pytest.raises(zarrs_cffi.InvalidMetadataError, match="attributes must be a JSON object"):
                store.create_node("/g", {"zarr_format": 3, "node_type": "group", "attributes": attributes})
        assert not store.node_exists("/g")
    v2 = pathlib.Path(tree).parent / "v2.zarr"
    v2.mkdir()
    (v2 / ".zgroup").write_text('{"zarr_format": 2}')
    (v2 / ".zattrs").write_text("[1, 2]")
    with pytest.raises(zarrs_cffi.InvalidMetadataError, match="attributes are not a JSON object"):
        read_groups(str(v2), None, None, recursive=True)


def test_parents_of_nodes_created_at_once_are_written_once_without_errors(tmp_path: pathlib.Path) -> None:
    """Siblings created at once each saw their parent missing; the loser's parent write raised
    NodeExistsError (5 of 90 calls)."""
    errors: list[BaseException] = []
    for trial in range(10):
        root = tmp_path / f"s{trial}.zarr"
        errors += at_once(6, lambda i, root=root: zarrs_cffi.create_group(root, f"/g/h{i}"))
        with zarrs_cffi.Store(root) as store:
            assert [p for p, _ in store.list_children("/g")] == [f"g/h{i}" for i in range(6)]
    assert not errors, errors


def test_a_refused_create_writes_no_parents(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "r.zarr"
    with pytest.raises(zarrs_cffi.InvalidMetadataError):
        zarrs_cffi.create_array(
            root, "/a/b", shape=(2,), dtype="i4", chunks=(2,), compressors=[{"name": "bogus"}]
        )
    assert not root.exists()
    zarrs_cffi.create_array(root, "/x", shape=(2,), dtype="i4", chunks=(2,)).close()
    (root / "zarr.json").unlink()  # a root with no document, and a node that exists
    with pytest.raises(zarrs_cffi.NodeExistsError):
        zarrs_cffi.create_array(root, "/x", shape=(2,), dtype="i4", chunks=(2,))
    with pytest.raises(zarrs_cffi.NodeExistsError):
        zarrs_cffi.create_group(root, "/x")
    assert not (root / "zarr.json").exists()


def test_parents_are_written_as_zarr_python_writes_them(tmp_path: pathlib.Path) -> None:
    """Zarr v3 has no implied groups: an array at /g/h/a with no documents above it could be
    listed neither by zarr-python nor by this package, and an array could later be created at /g
    on top of it."""
    root = tmp_path / "p.zarr"
    zarrs_cffi.create_array(root, "/g/h/a", shape=(2,), dtype="i4", chunks=(2,)).close()
    zarrs_cffi.create_group(root, "/k/l")
    for node in ("", "g", "g/h", "k"):
        assert json.loads((root / node / "zarr.json").read_text())["node_type"] == "group", node
    with zarrs_cffi.Store(root) as store:
        assert [p for p, _ in store.list_children("/")] == ["g", "k"]
    with pytest.raises(zarrs_cffi.NodeExistsError):
        zarrs_cffi.create_array(root, "/g", shape=(2,), dtype="i4", chunks=(2,))
    if zarr_available():
        import zarr

        assert sorted(zarr.open_group(str(root), mode="r").keys()) == ["g", "k"]
