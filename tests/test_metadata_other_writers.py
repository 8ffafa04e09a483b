"""Metadata as other writers write it. zarr-python writes attributes with Python's ``json``:
NaN / Infinity as the bare tokens ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON: zarrs' parser
refuses them), integers of any size (serde_json reads those beyond 64 bits as floats), and a
string holding a lone UTF-16 surrogate (a Python ``str`` may) as the escape ``"\\ud800"``, which
serde_json refuses.
tensorstore writes v2 arrays with a ``null`` fill value, which zarrs refuses for complex types.

Such arrays and groups open, read and list like any other; their attributes read back as stored
(float NaN / inf and exact integers, as zarr-python reads them); a v2 ``.zarray`` whose fill value is
a bare token reads it as that value. New metadata with non-finite attributes is still refused.
"""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any

import numpy as np
import pytest
import zarr

import zarrs_cffi
from zarrs_cffi import _native, crud
from zarrs_cffi._native import ffi, lib, take_string

ATTRS = {
    "valid_min": float("nan"),
    "range": [float("-inf"), 1, float("inf")],
    "nested": {"x": float("nan"), "text": "NaN Infinity", "list": [{"y": float("-inf")}]},
    "plain": "ok",
    "big": [10**30, -(10**30), 2**64, -(2**63) - 1, 2**64 - 1, -(2**63), 12345678901234567890123],
    "surrogates": {"lone": "x\ud800y", "\udfff": ["\ud83d\ude00 is a pair", "\udbff", "\\ud800"]},
}


def canonical(value: Any) -> str:
    """Compare documents holding NaN (NaN != NaN): their JSON text, with the bare tokens."""
    return json.dumps(value, sort_keys=True)


def stored_text(node: pathlib.Path, zarr_format: int) -> str:
    return (node / ("zarr.json" if zarr_format == 3 else ".zattrs")).read_text()


@pytest.fixture(params=[2, 3], ids=["v2", "v3"])
def zarr_format(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
def written(tmp_path: pathlib.Path, zarr_format: int) -> pathlib.Path:
    """A root group, a group and an array below it, each with non-finite attributes (zarr-python)."""
    root = tmp_path / "nonfinite.zarr"
    group = zarr.open_group(root, mode="w", zarr_format=zarr_format, attributes=ATTRS)
    group.create_group("g", attributes=ATTRS)
    arr = group.create_array("g/a", shape=(6, 5), chunks=(4, 2), dtype="f4", attributes=ATTRS)
    arr[...] = np.arange(30, dtype="f4").reshape(6, 5)
    arr2 = group.create_array("b", shape=(3,), chunks=(2,), dtype="i2", attributes={"v": float("nan")})
    arr2[...] = [1, 2, 3]
    # What the test is about: the stored documents hold the bare tokens, not JSON strings.
    assert "NaN," in stored_text(root / "g" / "a", zarr_format)
    assert "-Infinity" in stored_text(root / "g" / "a", zarr_format)
    return root


def test_arrays_with_non_finite_attributes_open_and_read_like_zarr_python(written: pathlib.Path) -> None:
    expected = zarr.open_array(written / "g" / "a", mode="r")
    with zarrs_cffi.open_array(written, "/g/a") as arr:
        assert canonical(arr.attrs) == canonical(expected.attrs.asdict()) == canonical(ATTRS)
        assert math.isnan(arr.attrs["valid_min"])
        assert arr.attrs["range"] == [float("-inf"), 1, float("inf")]
        assert arr.attrs["nested"]["text"] == "NaN Infinity"  # a string stays a string
        assert arr.attrs["big"] == ATTRS["big"]  # exact ints, not floats
        assert all(type(value) is int for value in arr.attrs["big"])
        np.testing.assert_array_equal(arr.read(), expected[...])
        np.testing.assert_array_equal(arr[1:5, 2], expected[1:5, 2])
    # An array made from a document (the zarr engine's, xarray's, dask's): the same attributes.
    with zarrs_cffi.open_array(written, "/g/a", engine="zarr") as arr:
        assert canonical(arr.attrs) == canonical(ATTRS)
        np.testing.assert_array_equal(arr.read(), expected[...])
    np.testing.assert_array_equal(zarrs_cffi.read(f"{written}/g/a"), expected[...])
    out = np.empty((6, 5), dtype="f4")
    zarrs_cffi.read_into(out, f"{written}/g/a")
    np.testing.assert_array_equal(out, expected[...])


@pytest.mark.parametrize("engine", ["cffi", "zarr"])
def test_crud_reads_and_lists_nodes_with_non_finite_attributes(written: pathlib.Path, engine: str) -> None:
    for node in ("", "g", "g/a", "b"):
        doc = crud.read_metadata(str(written), node, engine=engine)
        expected = ATTRS if node != "b" else {"v": float("nan")}
        assert canonical(doc["attributes"]) == canonical(expected), (node, engine)
    children = crud.list_children(str(written), "", engine=engine)
    assert [path for path, _ in children] == ["b", "g"]
    assert canonical(dict(children)["g"]["attributes"]) == canonical(ATTRS)
    # Chunk I/O takes the document read back, NaN attributes and all.
    doc = crud.read_metadata(str(written), "g/a", engine=engine)
    chunk = crud.read_chunk(doc, str(written), "g/a", (1, 2), engine=engine)
    expected_chunk = np.zeros((4, 2), dtype="f4")  # the whole chunk: beyond the edge, the fill value
    expected_chunk[:2, :1] = np.arange(30, dtype="f4").reshape(6, 5)[4:6, 4:5]
    np.testing.assert_array_equal(chunk, expected_chunk)
    region = crud.read_region(doc, str(written), "g/a", np.s_[2:6, 1:4], engine=engine)
    np.testing.assert_array_equal(region, np.arange(30, dtype="f4").reshape(6, 5)[2:6, 1:4])


def test_store_listing_and_consolidated_metadata_keep_non_finite_attributes(written: pathlib.Path) -> None:
    with zarrs_cffi.Store(str(written)) as store:
        assert canonical(store.read_metadata("/g")["attributes"]) == canonical(ATTRS)
        listed = dict(store.list_children("/g"))
        assert canonical(listed["g/a"]["attributes"]) == canonical(ATTRS)
        zarrs_cffi.consolidate(store)
    with zarrs_cffi.Store(str(written), consolidated=True) as store:
        listed = dict(store.list_children("/g"))
        assert canonical(listed["g/a"]["attributes"]) == canonical(ATTRS)
        with zarrs_cffi.open_array(store, "/g/a") as arr:
            assert canonical(arr.attrs) == canonical(ATTRS)
            np.testing.assert_array_equal(arr.read(), np.arange(30, dtype="f4").reshape(6, 5))
    # zarr-python reads the consolidated metadata written here.
    group = zarr.open_consolidated(written, mode="r")
    assert canonical(group["g/a"].attrs.asdict()) == canonical(ATTRS)


def test_the_c_metadata_getter_hands_back_the_tokens_as_stored(written: pathlib.Path) -> None:
    with zarrs_cffi.open_array(written, "/g/a") as arr, arr.borrow_handle() as ptr:
        out = ffi.new("char **")
        assert lib.zarrsCffiArrayGetMetadata(ptr, out) == 0
        text = take_string(out[0])
    assert '"valid_min":NaN' in text and '"range":[-Infinity,1,Infinity]' in text
    assert '"big":[1000000000000000000000000000000,-1000000000000000000000000000000,' in text
    assert canonical(json.loads(text)["attributes"]) == canonical(ATTRS)


def test_a_v2_fill_value_written_as_a_bare_token_reads_as_that_value(tmp_path: pathlib.Path) -> None:
    for token, value in (("NaN", float("nan")), ("-Infinity", float("-inf"))):
        path = tmp_path / f"{token}.zarr"
        zarr.create_array(path, shape=(4,), chunks=(2,), dtype="f8", zarr_format=2)[:2] = 1
        doc = json.loads((path / ".zarray").read_text())
        doc["fill_value"] = value
        (path / ".zarray").write_text(json.dumps(doc))  # the bare token, as json.dumps writes it
        assert f'"fill_value": {token}' in (path / ".zarray").read_text()
        expected = zarr.open_array(path, mode="r")[...]
        with zarrs_cffi.open_array(path) as arr:
            np.testing.assert_array_equal(arr.read(), expected)
            assert canonical(arr.fill_value.item()) == canonical(value)


@pytest.mark.parametrize("dtype", ["<c8", ">c16"])
def test_a_v2_complex_array_with_a_null_fill_value_reads_like_zarr_python(
    tmp_path: pathlib.Path, dtype: str
) -> None:
    """tensorstore writes v2 arrays with ``"fill_value": null`` by default; zarr-python reads it as
    zero, and zarrs refused it for complex data types ("invalid fill value metadata")."""
    path = tmp_path / "c.zarr"
    z = zarr.create_array(path, shape=(5,), chunks=(2,), dtype=dtype, zarr_format=2, fill_value=1 + 1j)
    z[:2] = [1 + 2j, 3 - 4j]
    doc = json.loads((path / ".zarray").read_text())
    doc["fill_value"] = None
    (path / ".zarray").write_text(json.dumps(doc))
    expected = zarr.open_array(path, mode="r")[...]
    np.testing.assert_array_equal(expected, [1 + 2j, 3 - 4j, 0, 0, 0])
    with zarrs_cffi.open_array(path) as arr:
        np.testing.assert_array_equal(arr.read(), expected)
        assert arr.fill_value == 0
    # The document read back is the stored one; chunk reads with it decode alike.
    stored = crud.read_metadata(str(path), "", engine="cffi")
    assert stored["fill_value"] is None
    for engine in ("cffi", "zarr"):
        np.testing.assert_array_equal(
            crud.read_region(stored, str(path), "", np.s_[...], engine=engine), expected
        )


@pytest.mark.parametrize(
    ("member", "readable"),
    [
        ({"must_understand": False, "note": "optional"}, True),
        ({"must_understand": True}, False),
        ({"some": "config"}, False),  # must_understand absent: true
        (1, False),
    ],
)
def test_v3_extensions_a_reader_must_understand_are_refused(
    tmp_path: pathlib.Path, member: Any, readable: bool
) -> None:
    """The Zarr v3 spec: a member the reader does not know must make it fail unless it says
    ``"must_understand": false`` (it could change what the data means); zarr-python refuses too."""
    path = tmp_path / "ext.zarr"
    zarr.create_array(path, shape=(4,), chunks=(2,), dtype="i2")[...] = [1, 2, 3, 4]
    doc = json.loads((path / "zarr.json").read_text())
    doc["future_extension"] = member
    (path / "zarr.json").write_text(json.dumps(doc))
    calls = [
        lambda: zarrs_cffi.read(path),
        lambda: zarrs_cffi.open_array(path, engine="zarr").read(),
        lambda: crud.read_region(doc, str(path), "", np.s_[...], engine="cffi"),
    ]
    for call in calls:
        if readable:
            np.testing.assert_array_equal(call(), [1, 2, 3, 4])
        else:
            with pytest.raises(
                zarrs_cffi.InvalidMetadataError, match='unsupported extension "future_extension"'
            ):
                call()
    # New metadata with it is refused alike (it could not be opened again).
    create = lambda: crud.create_new_array(doc, str(tmp_path / "new.zarr"), "", engine="cffi")  # noqa: E731
    if readable:
        create()
    else:
        with pytest.raises(zarrs_cffi.InvalidMetadataError, match="future_extension"):
            create()


@pytest.mark.parametrize("zarr_format_", [2, 3], ids=["v2", "v3"])
@pytest.mark.parametrize(
    ("dtype", "fill"),
    [
        ("i4", 3.0),
        ("i4", -0.0),
        ("u1", 255.0),
        ("f4", "nan"),
        ("f8", "-inf"),
        ("f4", "INF"),
        ("bool", 1),
        ("f8", 2**64),  # an integer beyond 64 bits: the nearest float to zarr-python
        ("f4", -(10**20)),
    ],
)
def test_fill_values_spelled_as_zarr_python_reads_them(
    tmp_path: pathlib.Path, zarr_format_: int, dtype: str, fill: Any
) -> None:
    """Writers spell fill values in ways zarr-python reads and zarrs refused ("invalid fill value
    metadata"): integers as floats, "nan" / "inf" in another case, bools as 0 / 1."""
    path = tmp_path / "f.zarr"
    zarr.create_array(path, shape=(4,), chunks=(2,), dtype=dtype, zarr_format=zarr_format_)[:2] = 1
    key = path / (".zarray" if zarr_format_ == 2 else "zarr.json")
    doc = json.loads(key.read_text())
    doc["fill_value"] = fill
    key.write_text(json.dumps(doc))
    expected = zarr.open_array(path, mode="r")[...]
    with zarrs_cffi.open_array(path) as arr:
        np.testing.assert_array_equal(arr.read(), expected)
        assert canonical(arr.fill_value.item()) == canonical(expected[-1].item())
    assert crud.read_metadata(str(path), "", engine="cffi")["fill_value"] == fill  # as stored


def test_an_integer_fill_value_beyond_64_bits_is_refused_naming_it(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f.zarr"
    zarr.create_array(path, shape=(4,), chunks=(2,), dtype="i8")
    doc = json.loads((path / "zarr.json").read_text())
    doc["fill_value"] = 2**64
    (path / "zarr.json").write_text(json.dumps(doc))
    with pytest.raises(zarrs_cffi.InvalidMetadataError, match='"18446744073709551616"') as caught:
        zarrs_cffi.open_array(path)
    assert "\\u0000" not in str(caught.value) and "\0" not in str(caught.value)


def test_xarray_reads_non_finite_attributes_like_its_zarr_engine(
    tmp_path: pathlib.Path, zarr_format: int
) -> None:
    xr = pytest.importorskip("xarray")
    path = tmp_path / "ds.zarr"
    ds = xr.Dataset(
        {"a": (("x",), np.arange(3.0), {"valid_max": float("inf"), "m": float("nan"), "id": 2**70})}
    )
    ds.to_zarr(path, zarr_format=zarr_format, consolidated=True)
    ours = xr.open_dataset(path, engine="zarrs_cffi").load()
    xr.testing.assert_identical(ours, xr.open_dataset(path, engine="zarr").load())
    assert math.isnan(ours["a"].attrs["m"]) and ours["a"].attrs["valid_max"] == float("inf")
    assert ours["a"].attrs["id"] == 2**70


NEW_ATTRS = {"lone": "x\ud800y", "\udc00": 1, "big": [10**30, -(2**63) - 1]}


@pytest.mark.parametrize("engine", ["cffi", "zarr"])
def test_new_nodes_keep_lone_surrogates_and_big_integers(
    tmp_path: pathlib.Path, zarr_format: int, engine: str
) -> None:
    """What zarr-python writes, written here too (v2 .zattrs and v3 zarr.json alike): a lone
    surrogate was refused ("not JSON: unexpected end of hex escape") and a v2 integer beyond 64 bits
    stored as a float."""
    template = tmp_path / "template.zarr"
    zarr.create_array(template, shape=(4,), chunks=(2,), dtype="i2", zarr_format=zarr_format)
    array_doc = crud.read_metadata(str(template), "", engine=engine)
    array_doc["attributes"] = NEW_ATTRS
    group_doc: dict[str, Any] = {"zarr_format": zarr_format, "attributes": NEW_ATTRS}
    if zarr_format == 3:
        group_doc["node_type"] = "group"
    root = str(tmp_path / "new.zarr")
    crud.create_new_array(array_doc, root, "a", engine=engine)
    crud.create_new_group(group_doc, root, "g", engine=engine)
    assert zarr.open_array(f"{root}/a", mode="r").attrs.asdict() == NEW_ATTRS
    assert zarr.open_group(f"{root}/g", mode="r").attrs.asdict() == NEW_ATTRS
    for node in ("a", "g"):
        assert crud.read_metadata(root, node, engine=engine)["attributes"] == NEW_ATTRS
    with zarrs_cffi.create_array(
        root, "/b", shape=(4,), chunks=(2,), dtype="i2", attributes=NEW_ATTRS, engine=engine
    ) as arr:
        assert arr.attrs == NEW_ATTRS
    assert zarr.open_array(f"{root}/b", mode="r").attrs.asdict() == NEW_ATTRS


@pytest.mark.parametrize("engine", ["cffi", "zarr"])
def test_new_nodes_keep_strings_that_start_with_nul(
    tmp_path: pathlib.Path, zarr_format: int, engine: str
) -> None:
    """Strings that look like the native library's internal markers (NUL, then digits or NaN) are
    stored as the strings they are, not as a number or a bare NaN."""
    attrs = {"digits": "\x00123", "token": "\x00NaN"}
    doc: dict[str, Any] = {"zarr_format": zarr_format, "attributes": attrs}
    if zarr_format == 3:
        doc["node_type"] = "group"
    root = str(tmp_path / "nul.zarr")
    crud.create_new_group(doc, root, "g", engine=engine)
    assert zarr.open_group(f"{root}/g", mode="r").attrs.asdict() == attrs


@pytest.mark.parametrize("engine", ["cffi", "zarr"])
def test_new_metadata_with_non_finite_attributes_is_still_refused(
    tmp_path: pathlib.Path, engine: str
) -> None:
    doc = {"zarr_format": 3, "node_type": "group", "attributes": {"a": float("nan")}}
    with pytest.raises(zarrs_cffi.InvalidMetadataError, match="JSON"):
        crud.create_new_group(doc, str(tmp_path / "g.zarr"), "", engine=engine)
    assert not (tmp_path / "g.zarr" / "zarr.json").exists()


def test_the_c_node_creator_refuses_bare_non_finite_tokens(tmp_path: pathlib.Path) -> None:
    """C callers hand JSON text: a bare NaN is not JSON (reading such documents is lenient)."""
    with zarrs_cffi.Store(str(tmp_path / "g.zarr")) as store, store._handle.use() as ptr:
        rc = lib.zarrsCffiCreateNode(ptr, b"/g", b'{"zarr_format": 3, "node_type": "group", '
                                     b'"attributes": {"a": [1, NaN]}}', False)  # fmt: skip
        assert rc != 0
        with pytest.raises(zarrs_cffi.InvalidMetadataError, match="bare NaN / Infinity"):
            _native.check(rc)
    assert not (tmp_path / "g.zarr" / "g").exists()


@pytest.mark.parametrize("engine", ["cffi", "zarr"])
def test_names_starting_with_two_underscores(tmp_path: pathlib.Path, engine: str) -> None:
    """The v3 spec reserves names starting with "__"; zarr-python writes them anyway, and stray
    directories such as __pycache__ are common. Both engines list, read, create and delete such
    nodes alike (a stray directory is no node), and listing the parent does not fail. Only an
    array with such a name cannot be opened by zarrs: a NodePathError saying why."""
    root = str(tmp_path / "g.zarr")
    group = zarr.open_group(root, mode="w")
    group.create_array("data", shape=(2,), dtype="int8")
    group.create_array("__x", shape=(2,), dtype="int8")[...] = [4, 5]
    (tmp_path / "g.zarr" / "__pycache__").mkdir()
    assert [name for name, _ in crud.list_children(root, "", engine=engine)] == ["__x", "data"]
    assert crud.read_metadata(root, "__x", engine=engine)["shape"] == [2]
    crud.create_new_group({"zarr_format": 3, "node_type": "group"}, root, "__g", engine=engine)
    assert [name for name, _ in crud.list_children(root, "", engine=engine)] == ["__g", "__x", "data"]
    crud.delete_node(root, "__g", engine=engine)
    with pytest.raises(zarrs_cffi.NodeNotFoundError):
        crud.read_metadata(root, "__nope", engine=engine)
    assert sorted(zarrs_cffi.consolidate(root)) == ["__x", "data"]
    metadata = crud.read_metadata(root, "__x", engine=engine)
    if engine == "zarr":
        region = crud.read_region(metadata, root, "__x", (slice(0, 2),), engine=engine)
        np.testing.assert_array_equal(region, [4, 5])
    else:
        with pytest.raises(zarrs_cffi.NodePathError, match='name that starts with "__"'):
            crud.read_region(metadata, root, "__x", (slice(0, 2),), engine=engine)


def _int16_doc(codecs: list[Any]) -> dict[str, Any]:
    return {
        "zarr_format": 3, "node_type": "array", "shape": [4, 6], "data_type": "int16",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2, 3]}},
        "chunk_key_encoding": {"name": "default"}, "fill_value": 0, "codecs": codecs,
    }  # fmt: skip


@pytest.mark.parametrize("engine", ["cffi", "zarr"])
def test_codecs_out_of_the_spec_order_are_refused(tmp_path: pathlib.Path, engine: str) -> None:
    """[crc32c, bytes]: zarrs sorted such a list and wrote chunks zarr-python then refused to read
    ("Invalid codec order"). Refused when created and when opened, naming the codec."""
    doc = _int16_doc([{"name": "crc32c"}, {"name": "bytes", "configuration": {"endian": "little"}}])
    with pytest.raises(zarrs_cffi.InvalidMetadataError):
        crud.create_new_array(doc, str(tmp_path), "a", engine=engine)
    assert not (tmp_path / "a").exists()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "zarr.json").write_text(json.dumps(doc))
    with pytest.raises(zarrs_cffi.InvalidMetadataError, match=r'codec "bytes" .* cannot follow "crc32c"'):
        zarrs_cffi.open_array(str(tmp_path / "b"))


def test_a_bytes_codec_without_endian_is_little_endian(tmp_path: pathlib.Path) -> None:
    """zarr-python 3.1.6 reads {"name": "bytes"} on a multi-byte type as the machine's (little) order; so
    do reads, region writes and chunk writes here (a region write stored its directly encoded chunks
    and then failed on the others: "endianness must be specified")."""
    doc = _int16_doc([{"name": "bytes"}])
    crud.create_new_array(doc, str(tmp_path), "a")
    with zarrs_cffi.open_array(str(tmp_path), "/a") as arr:
        arr[...] = np.arange(24, dtype="int16").reshape(4, 6)
        arr.write_chunk((1, 1), np.full((2, 3), -7, "int16"))
    expected = np.arange(24, dtype="int16").reshape(4, 6)
    expected[2:, 3:] = -7
    try:  # the oracle: zarr-python 3.1.6 reads it so; newer releases refuse the document
        np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "a"))[...], expected)
    except ValueError as refused:
        assert "endian" in str(refused) and zarr.__version__ != "3.1.6"
    np.testing.assert_array_equal(zarrs_cffi.read(str(tmp_path / "a")), expected)
    assert json.loads((tmp_path / "a" / "zarr.json").read_text())["codecs"] == [
        {"name": "bytes"}
    ]  # as written
