"""Array.oindex / vindex / blocks and orthogonal read_into, with zarr-python 3.1.6 as the oracle
(random selections drawn by hypothesis) and numpy where zarr-python has no answer (negative steps).

Every read runs twice: on the calling thread alone, and with the chunk reads spread over threads
(the parallel path normally starts at 1 MiB of chunks; the fixture lowers that to zero). Writes
always run on the calling thread.
"""

from __future__ import annotations

import pathlib
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zarr.core.indexing import oindex_set

import zarrs_cffi
from zarrs_cffi import chunked_io

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@dataclass(frozen=True)
class Layout:
    """An array layout to test: shape, chunks (inner), shards, zarr format."""

    name: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    shards: tuple[int, ...] | None = None
    zarr_format: int = 3
    dtype: str = "int32"


LAYOUTS = [
    Layout("1d", (23,), (4,)),
    Layout("2d", (10, 13), (3, 5)),
    Layout("3d", (6, 7, 9), (4, 3, 2), dtype="float64"),
    Layout("sharded", (12, 10), (3, 5), shards=(6, 10), dtype="uint16"),
    Layout("v2", (9, 11), (4, 4), zarr_format=2),
]


def write_with_zarr(path: pathlib.Path, layout: Layout) -> tuple[zarr.Array, np.ndarray]:
    """Create ``layout`` at ``path`` with zarr-python, filled with distinct values."""
    data = (np.arange(int(np.prod(layout.shape))) * 3 - 7).astype(layout.dtype).reshape(layout.shape)
    kwargs: dict[str, Any] = {"zarr_format": layout.zarr_format}
    if layout.shards is not None:
        kwargs["shards"] = layout.shards
    z = zarr.create_array(
        store=str(path), shape=layout.shape, chunks=layout.chunks, dtype=layout.dtype, fill_value=0, **kwargs
    )
    z[...] = data
    return z, data


@pytest.fixture(scope="module")
def arrays(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[zarr.Array, zarrs_cffi.Array]]:
    """Each layout written once by zarr-python, opened by both libraries (read-only tests)."""
    root = tmp_path_factory.mktemp("advanced")
    out = {}
    for layout in LAYOUTS:
        z, _ = write_with_zarr(root / layout.name, layout)
        out[layout.name] = (z, zarrs_cffi.open_array(str(root / layout.name), read_only=True))
    return out


@pytest.fixture(params=["serial", "threads"])
def threads(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run on one thread, or on two with every multi-block selection taking the parallel path."""
    if request.param == "serial":
        zarrs_cffi.set_num_threads(1)
    else:
        zarrs_cffi.set_num_threads(2)
        monkeypatch.setattr(chunked_io, "_PARALLEL_MIN_BYTES", 0)
    yield request.param
    zarrs_cffi.set_num_threads(0)


# -- strategies -------------------------------------------------------------------------------------
def int_index(n: int) -> st.SearchStrategy[int]:
    return st.integers(-n, n - 1)


def positive_slice(n: int) -> st.SearchStrategy[slice]:
    bound = st.none() | st.integers(-n - 2, n + 2)
    return st.builds(slice, bound, bound, st.none() | st.integers(1, n + 1))


def int_array(n: int) -> st.SearchStrategy[list[int]]:
    return st.lists(int_index(n), min_size=1, max_size=8)


def mask(n: int) -> st.SearchStrategy[np.ndarray]:
    return st.lists(st.booleans(), min_size=n, max_size=n).map(lambda v: np.array(v, dtype=bool))


@st.composite
def orthogonal_selections(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple[Any, ...]:
    """Per axis an int, a positive-step slice, an integer list/array or a mask (zarr's domain)."""
    items: list[Any] = []
    for n in shape:
        kind = draw(st.sampled_from(["int", "slice", "list", "array", "mask"]))
        if kind == "int":
            items.append(draw(int_index(n)))
        elif kind == "slice":
            items.append(draw(positive_slice(n)))
        elif kind == "list":
            items.append(draw(int_array(n)))
        elif kind == "array":
            items.append(
                np.array(draw(int_array(n)), dtype=draw(st.sampled_from(["int64", "int32", "int8"])))
            )
        else:
            items.append(draw(mask(n)))
    return tuple(items)


@st.composite
def coordinate_selections(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple[Any, ...]:
    """One integer array per axis (some axes a plain int), broadcastable to one result shape."""
    result = draw(st.lists(st.integers(1, 4), min_size=1, max_size=2).map(tuple))
    items: list[Any] = []
    for n in shape:
        if draw(st.integers(0, 4)) == 0:
            items.append(draw(int_index(n)))
            continue
        # Broadcast by dropping leading axes or setting some to 1.
        axes = result[draw(st.integers(0, len(result) - 1)) :]
        axes = tuple(a if draw(st.booleans()) else 1 for a in axes)
        values = draw(st.lists(int_index(n), min_size=int(np.prod(axes)), max_size=int(np.prod(axes))))
        items.append(np.array(values, dtype=np.int64).reshape(axes))
    return tuple(items)


@st.composite
def block_selections(draw: st.DrawFn, grid: tuple[int, ...]) -> tuple[Any, ...]:
    items: list[Any] = []
    for g in grid:
        if draw(st.booleans()):
            items.append(draw(st.integers(-g, g - 1)))
        else:
            bound = st.none() | st.integers(-g, g)
            items.append(slice(draw(bound), draw(bound)))
    return tuple(items)


def copy_selection(sel: tuple[Any, ...]) -> tuple[Any, ...]:
    """zarr-python wraps negative indices in place: hand it copies."""
    return tuple(np.array(s) if isinstance(s, np.ndarray) else s for s in sel)


def assert_same(got: np.ndarray, expected: Any) -> None:
    expected = np.asarray(expected)
    assert isinstance(got, np.ndarray)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


layout_names = pytest.mark.parametrize("name", [layout.name for layout in LAYOUTS])


# -- reads against zarr-python ------------------------------------------------------------------------
@layout_names
@SETTINGS
@given(data=st.data())
def test_oindex_reads_equal_zarr(
    arrays: dict[str, Any], threads: str, name: str, data: st.DataObject
) -> None:
    z, a = arrays[name]
    sel = data.draw(orthogonal_selections(a.shape))
    expected = z.oindex[copy_selection(sel)]
    assert_same(a.oindex[sel], expected)
    # read_into takes the same orthogonal selection, into the caller's buffer.
    out = np.full(np.shape(expected), 99, dtype=a.dtype)
    assert a.read_into(out, sel) is out
    assert_same(out, expected)


@layout_names
@SETTINGS
@given(data=st.data())
def test_vindex_reads_equal_zarr(
    arrays: dict[str, Any], threads: str, name: str, data: st.DataObject
) -> None:
    z, a = arrays[name]
    sel = data.draw(coordinate_selections(a.shape))
    assert_same(a.vindex[sel], z.vindex[copy_selection(sel)])


@layout_names
@SETTINGS
@given(data=st.data())
def test_vindex_masks_equal_zarr(
    arrays: dict[str, Any], threads: str, name: str, data: st.DataObject
) -> None:
    z, a = arrays[name]
    flat = data.draw(st.lists(st.booleans(), min_size=a.size, max_size=a.size))
    selection = np.array(flat, dtype=bool).reshape(a.shape)
    assert_same(a.vindex[selection], z.vindex[selection])


@layout_names
@SETTINGS
@given(data=st.data())
def test_blocks_reads_equal_zarr(
    arrays: dict[str, Any], threads: str, name: str, data: st.DataObject
) -> None:
    z, a = arrays[name]
    sel = data.draw(block_selections(a.chunk_grid_shape))
    try:
        expected = z.blocks[sel]
    except IndexError:
        with pytest.raises(IndexError):
            a.blocks[sel]
        return
    assert_same(a.blocks[sel], expected)


@layout_names
@SETTINGS
@given(data=st.data())
def test_strided_and_negative_steps_equal_numpy(
    arrays: dict[str, Any], threads: str, name: str, data: st.DataObject
) -> None:
    """Basic selections with any step (zarr-python refuses negative ones): numpy is the oracle."""
    z, a = arrays[name]
    whole = z[...]
    sel = tuple(
        data.draw(
            st.builds(
                slice,
                st.none() | st.integers(-n - 2, n + 2),
                st.none() | st.integers(-n - 2, n + 2),
                st.sampled_from([None, 1, 2, 3, -1, -2, -5, n]),
            )
        )
        for n in a.shape
    )
    assert_same(a[sel], whole[sel])
    assert_same(a.oindex[sel], whole[sel])
    out = np.empty(whole[sel].shape, a.dtype)
    assert_same(a.read_into(out, sel), whole[sel])


# -- writes against zarr-python -----------------------------------------------------------------------
def two_copies(layout: Layout) -> Iterator[tuple[zarr.Array, zarrs_cffi.Array, zarr.Array]]:
    """Fresh copies of ``layout``: (zarr's, ours, zarr's view of ours)."""
    with tempfile.TemporaryDirectory() as tmp:
        ref, _ = write_with_zarr(pathlib.Path(tmp) / "ref", layout)
        write_with_zarr(pathlib.Path(tmp) / "ours", layout)
        ours = zarrs_cffi.open_array(str(pathlib.Path(tmp) / "ours"))
        try:
            yield ref, ours, zarr.open_array(str(pathlib.Path(tmp) / "ours"), mode="r")
        finally:
            ours.close()


def no_repeats(sel: tuple[Any, ...], shape: tuple[int, ...]) -> tuple[Any, ...]:
    """Integer arrays without repeated indices: which of two writes to one element wins is unspecified."""
    out: list[Any] = []
    for s, n in zip(sel, shape):
        if isinstance(s, (list, np.ndarray)) and np.asarray(s).dtype != bool:
            arr = np.asarray(s) % n
            _, first = np.unique(arr, return_index=True)
            s = np.asarray(s)[np.sort(first)]
        out.append(s)
    return tuple(out)


@layout_names
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_oindex_writes_equal_zarr(name: str, data: st.DataObject) -> None:
    layout = next(layout for layout in LAYOUTS if layout.name == name)
    sel = no_repeats(data.draw(orthogonal_selections(layout.shape)), layout.shape)
    for ref, ours, view in two_copies(layout):
        expected = ref[...]
        shape = np.shape(ref.oindex[copy_selection(sel)])
        value = (np.arange(int(np.prod(shape))) + 1000).astype(layout.dtype).reshape(shape)
        for v in (value, 5):  # an array of the result's shape, and a scalar broadcast to it
            ours.oindex[sel] = v
            if layout.shards is None:
                ref.oindex[copy_selection(sel)] = v
                expected = ref[...]
            else:
                # zarr-python 3.1.6 fails oindex writes of sharded arrays (a broadcasting
                # ValueError inside its codec pipeline): its numpy implementation is the oracle.
                oindex_set(expected, copy_selection(sel), v)
            assert_same(view[...], expected)


@layout_names
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_vindex_writes_equal_zarr(name: str, data: st.DataObject) -> None:
    layout = next(layout for layout in LAYOUTS if layout.name == name)
    sel = data.draw(coordinate_selections(layout.shape))
    points = np.broadcast_arrays(*[np.asarray(s) % n for s, n in zip(sel, layout.shape)])
    flat = np.ravel_multi_index([p.ravel() for p in points], layout.shape)
    for ref, ours, view in two_copies(layout):
        shape = np.shape(ref.vindex[copy_selection(sel)])
        # Distinct values only where points repeat would leave the winner unspecified: use one value per point.
        value = (flat.reshape(shape) % 251 + 3).astype(layout.dtype)
        ref.vindex[copy_selection(sel)] = value
        ours.vindex[sel] = value
        assert_same(view[...], ref[...])


@layout_names
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_blocks_and_strided_writes_equal_zarr(name: str, data: st.DataObject) -> None:
    layout = next(layout for layout in LAYOUTS if layout.name == name)
    grid = tuple(-(-n // c) for n, c in zip(layout.shape, layout.shards or layout.chunks))
    blocks = data.draw(block_selections(grid))
    strided = tuple(data.draw(positive_slice(n)) for n in layout.shape)
    for ref, ours, view in two_copies(layout):
        try:
            shape = np.shape(ref.blocks[blocks])
        except IndexError:
            shape = None
        if shape is not None:
            value = (np.arange(int(np.prod(shape))) + 500).astype(layout.dtype).reshape(shape)
            ref.blocks[blocks] = value
            ours.blocks[blocks] = value
            assert_same(view[...], ref[...])
        shape = np.shape(ref[strided])
        value = (np.arange(int(np.prod(shape))) + 2000).astype(layout.dtype).reshape(shape)
        ref[strided] = value
        ours[strided] = value
        assert_same(view[...], ref[...])


# -- fixed cases ----------------------------------------------------------------------------------------
def test_ellipsis_and_short_selections(arrays: dict[str, Any]) -> None:
    z, a = arrays["3d"]
    whole = z[...]
    assert_same(a.oindex[..., [0, 8]], whole[..., [0, 8]])
    assert_same(a.oindex[[1, 0]], whole[[1, 0]])
    assert_same(a.oindex[1, ..., [True] * 9], whole[1][:, :])
    assert_same(a.oindex[()], whole)
    assert_same(a.blocks[..., 0], z.blocks[..., 0])


def test_all_integer_selections_match_zarr_shapes(arrays: dict[str, Any]) -> None:
    """oindex of ints only is 0-d (as our read), vindex of ints only is (1,) (as zarr-python's)."""
    z, a = arrays["2d"]
    assert_same(a.oindex[3, -2], z.oindex[3, -2])
    assert_same(a.vindex[3, -2], z.vindex[3, -2])
    assert a.vindex[3, -2].shape == (1,)


def test_empty_selections(arrays: dict[str, Any]) -> None:
    _, a = arrays["2d"]
    assert a.oindex[[], 2].shape == (0,)
    assert a.oindex[np.zeros(10, bool), :].shape == (0, 13)
    assert a.vindex[np.zeros(a.shape, bool)].shape == (0,)
    assert a.vindex[np.array([], int), np.array([], int)].shape == (0,)
    assert a.blocks[2:1].shape == (0, 13)
    assert_same(a.read_into(np.empty((0, 3), a.dtype), ([], slice(0, 3))), np.empty((0, 3), a.dtype))


def test_caller_index_arrays_are_not_modified(arrays: dict[str, Any]) -> None:
    _, a = arrays["2d"]
    rows = np.array([-1, -2, 3])
    a.oindex[rows, :]
    a.vindex[rows, rows]
    np.testing.assert_array_equal(rows, [-1, -2, 3])


def test_unsigned_and_numpy_integer_indices(arrays: dict[str, Any]) -> None:
    """Unsigned index arrays and numpy integer scalars work (zarr-python refuses uint64 arrays)."""
    z, a = arrays["2d"]
    whole = z[...]
    assert_same(a.oindex[np.array([9, 0], dtype=np.uint64), np.int16(4)], whole[[9, 0], 4])
    assert_same(a.vindex[np.array([9], dtype=np.uint8), np.uint32(12)], whole[[9], [12]])


def test_functional_read_into_takes_orthogonal_selections(arrays: dict[str, Any]) -> None:
    z, a = arrays["2d"]
    out = np.empty((3, 2), a.dtype)
    assert zarrs_cffi.read_into(out, a.root, ([4, 0, 9], [True] + [False] * 11 + [True])) is out
    assert_same(out, z.oindex[[4, 0, 9], [True] + [False] * 11 + [True]])


def test_the_zarr_engine_array_indexes_too(tmp_path: pathlib.Path) -> None:
    z, data = write_with_zarr(tmp_path / "e", LAYOUTS[1])
    a = zarrs_cffi.open_array(str(tmp_path / "e"), engine="zarr")
    assert_same(a.oindex[[3, 1], ::4], data[np.ix_([3, 1], range(0, 13, 4))])
    assert_same(a.vindex[[3, 1], [0, 12]], data[[3, 1], [0, 12]])
    assert_same(a.blocks[1, -1], z.blocks[1, -1])
    out = np.empty((2, 13), a.dtype)
    assert_same(a.read_into(out, ([9, 0],)), data[[9, 0]])
    a.oindex[[0, 9], 0] = -5
    a.vindex[[1], [1]] = -6
    expected = data.copy()
    expected[[0, 9], 0] = -5
    expected[1, 1] = -6
    assert_same(z[...], expected)


def test_the_zarr_engine_array_indexes_through_the_engine_only(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """oindex/vindex reads of several boxes, orthogonal read_into and read-modify-writes of an
    engine="zarr" array ran on the native library (its one-call reads, its write lock), which
    reads the store natively: what only zarr-python can read (a zip of LZMA members) failed."""
    import zarrs_cffi.array as array_module

    z, data = write_with_zarr(tmp_path / "e", LAYOUTS[1])
    a = zarrs_cffi.open_array(str(tmp_path / "e"), engine="zarr")
    real = array_module.lib
    data_calls = {
        "zarrsCffiArrayRetrieveOrthogonalInto",
        "zarrsCffiArrayRetrievePointsInto",
        "zarrsCffiArrayStoreSubset",
        "zarrsCffiArrayBeginWrite",
    }

    class NoNativeData:
        def __getattr__(self, name: str) -> Any:
            assert name not in data_calls, f"{name} called on an engine='zarr' array"
            return getattr(real, name)

    def no_box(*args: Any) -> int:
        raise AssertionError("a native box read on an engine='zarr' array")

    monkeypatch.setattr(array_module, "lib", NoNativeData())
    monkeypatch.setattr(array_module, "_retrieve_into", no_box)
    rows, cols = [9, 0, 3], [12, 0, 5]
    assert_same(a.oindex[rows, cols], data[np.ix_(rows, cols)])
    assert_same(a.vindex[rows, cols], data[rows, cols])
    out = np.empty((2, 13), a.dtype)
    assert_same(a.read_into(out, ([9, 0],)), data[[9, 0]])
    a.oindex[[9, 0], [12, 1]] = -7
    a.vindex[[3, 1], [5, 2]] = -8
    expected = data.copy()
    expected[np.ix_([9, 0], [12, 1])] = -7
    expected[[3, 1], [5, 2]] = -8
    with a.write_lock():
        pass
    monkeypatch.undo()
    assert_same(z[...], expected)


def test_accessors_follow_the_array_lifecycle(tmp_path: pathlib.Path) -> None:
    write_with_zarr(tmp_path / "l", LAYOUTS[1])
    ro = zarrs_cffi.open_array(str(tmp_path / "l"), read_only=True)
    for accessor, sel in ((ro.oindex, ([0], 0)), (ro.vindex, ([0], [0])), (ro.blocks, (0, 0))):
        with pytest.raises(zarrs_cffi.ReadOnlyError):
            accessor[sel] = 1
    ro.close()
    for accessor, sel in ((ro.oindex, ([0], 0)), (ro.vindex, ([0], [0])), (ro.blocks, (0, 0))):
        with pytest.raises(zarrs_cffi.ClosedError):
            accessor[sel]
    # An empty selection on a closed array raises too, though it would read nothing.
    with pytest.raises(zarrs_cffi.ClosedError):
        ro.oindex[[], 0]
    assert "OrthogonalIndex" in repr(ro.oindex)


def test_concurrent_callers_share_the_helper_threads(
    arrays: dict[str, Any], threads: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several Python threads reading selections at once (through one shared helper pool) each get
    their own, correct result."""
    z, a = arrays["3d"]
    whole = z[...]
    monkeypatch.setattr(chunked_io, "_PARALLEL_MIN_BYTES", 0)
    selections = [
        (slice(None, None, 2), [6, 0, 3], slice(None)),
        ([5, 1], slice(None), [8, 0, 4]),
        (slice(None), slice(None, None, -3), slice(1, None, 2)),
    ]
    expected = [whole[np.ix_(*[np.arange(n)[s] for s, n in zip(sel, whole.shape)])] for sel in selections]

    def work(k: int) -> bool:
        for _ in range(20):
            i = k % len(selections)
            if not np.array_equal(a.oindex[selections[i]], expected[i]):
                return False
        return True

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(work, range(8)))


def test_what_only_the_native_engine_does_is_refused_on_the_zarr_engine(tmp_path: pathlib.Path) -> None:
    """decode_chunk / encode_chunk ran zarrs' codecs and enable_chunk_cache succeeded doing nothing
    on an engine="zarr" array (docs: nothing silently falls back to another engine)."""
    write_with_zarr(tmp_path / "e", LAYOUTS[1])
    with zarrs_cffi.open_array(str(tmp_path / "e"), engine="zarr") as a:
        raw = a.read_encoded_chunk((0, 0))
        for call in (
            lambda: a.decode_chunk((0, 0), raw),
            lambda: a.encode_chunk((0, 0), np.zeros(a.chunk_shape(), a.dtype)),
            lambda: a.enable_chunk_cache(1 << 20),
            a.lend_handle,
            a.handle_address,
        ):
            with pytest.raises(zarrs_cffi.InvalidEngineError, match="needs the native engine"):
                call()
        a.clear_chunk_cache()  # no cache: nothing to do, as on a native array without one
        assert a.chunk_cache_usage() == (0, 0)
    with pytest.raises(zarrs_cffi.ClosedError):
        a.decode_chunk((0, 0), raw)
