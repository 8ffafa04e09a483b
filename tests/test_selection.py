"""Tests for zarrs_cffi.selection, with numpy's own indexing as the oracle."""

from __future__ import annotations

import math
import pathlib
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import zarrs_cffi
from zarrs_cffi.errors import InvalidSelectionError
from zarrs_cffi.selection import Selection, normalize_selection


class _Ix:
    """``IX[...]`` returns the key itself, so cases can be written in subscript syntax."""

    def __getitem__(self, key: Any) -> Any:
        return key


IX = _Ix()


def _box_slices(sel: Selection) -> tuple[slice, ...]:
    return tuple(slice(s, s + n) for s, n in zip(sel.start, sel.shape))


def check_against_numpy(shape: tuple[int, ...], selection: Any) -> None:
    """Assert normalize_selection agrees with numpy on ``selection`` (result or exception class)."""
    a = np.arange(math.prod(shape)).reshape(shape)
    try:
        expected = a[selection]
    except (IndexError, ValueError) as exc:
        with pytest.raises(type(exc)):
            normalize_selection(selection, shape)
        return

    sel = normalize_selection(selection, shape)
    ndim = len(shape)
    assert all(len(t) == ndim for t in (sel.start, sel.shape, sel.step, sel.count, sel.dropped))
    assert sel.out_shape == expected.shape
    assert sel.box_shape_keepdims == sel.shape
    assert sel.is_empty == (expected.size == 0)

    # The box lies inside the array, is empty exactly when nothing is selected, and dropped axes are 1.
    for b, n, c, d, dim in zip(sel.start, sel.shape, sel.count, sel.dropped, shape):
        assert b >= 0 and b + n <= dim
        assert (n == 0) == (c == 0)
        if n == 0:
            assert b == 0
        if d:
            assert n == c == 1

    # from_box on a private copy of the box: same values, and a view of that copy (no data copied).
    # (np.array, not .copy(): for 0-d arrays a[()] is a scalar, not an array.)
    box = np.array(a[_box_slices(sel)])
    assert box.shape == sel.shape
    got = sel.from_box(box)
    assert isinstance(got, np.ndarray)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    assert got.base is box

    # When contiguous, the box itself is the answer (dropped axes are size 1, so reshape is free).
    if sel.is_contiguous:
        np.testing.assert_array_equal(box.reshape(expected.shape), expected)

    # to_slices is an equivalent, fully expanded selection with non-negative ints.
    norm = sel.to_slices()
    assert len(norm) == ndim
    assert all(isinstance(k, slice) or (isinstance(k, int) and k >= 0) for k in norm)
    np.testing.assert_array_equal(a[norm], expected)
    assert a[norm].shape == expected.shape


# --- explicit cases on an 8x8 array --------------------------------------------------------------
EXPLICIT_8x8 = [
    IX[:, :],
    IX[2:7, 1:5],
    IX[:, 3],
    IX[5, :],
    IX[3, 4],
    IX[1:8:2, :],
    IX[:, 6:1:-2],
    IX[-3:, :-1],
    IX[...],
    IX[..., 2:4],
    IX[0:0, :],
    IX[2:6],
    IX[::-1, ::-3],
    # a few more corners
    IX[-1],
    IX[-8, ..., -1],
    IX[3, ...],
    IX[100:, -100:3],
    IX[7:-9:-1, 0:8:100],
    IX[np.int64(2), np.int8(-1)],
    IX[()],
    IX[1:2, ::-1],
]


@pytest.mark.parametrize("selection", EXPLICIT_8x8, ids=repr)
def test_explicit_8x8(selection: Any) -> None:
    check_against_numpy((8, 8), selection)


@pytest.mark.parametrize(
    ("selection", "start", "shape", "step", "count", "dropped", "out_shape"),
    [
        (IX[:, :], (0, 0), (8, 8), (1, 1), (8, 8), (False, False), (8, 8)),
        (IX[2:7, 1:5], (2, 1), (5, 4), (1, 1), (5, 4), (False, False), (5, 4)),
        (IX[:, 3], (0, 3), (8, 1), (1, 1), (8, 1), (False, True), (8,)),
        (IX[3, 4], (3, 4), (1, 1), (1, 1), (1, 1), (True, True), ()),
        (IX[1:8:2, :], (1, 0), (7, 8), (2, 1), (4, 8), (False, False), (4, 8)),
        (IX[:, 6:1:-2], (0, 2), (8, 5), (1, -2), (8, 3), (False, False), (8, 3)),
        (IX[-3:, :-1], (5, 0), (3, 7), (1, 1), (3, 7), (False, False), (3, 7)),
        (IX[0:0, :], (0, 0), (0, 8), (1, 1), (0, 8), (False, False), (0, 8)),
        (IX[::-1, ::-3], (0, 1), (8, 7), (-1, -3), (8, 3), (False, False), (8, 3)),
        (IX[..., 2:4], (0, 2), (8, 2), (1, 1), (8, 2), (False, False), (8, 2)),
    ],
)
def test_explicit_fields(
    selection: Any,
    start: tuple[int, ...],
    shape: tuple[int, ...],
    step: tuple[int, ...],
    count: tuple[int, ...],
    dropped: tuple[bool, ...],
    out_shape: tuple[int, ...],
) -> None:
    assert normalize_selection(selection, (8, 8)) == Selection(start, shape, step, count, dropped, out_shape)


def test_properties() -> None:
    assert normalize_selection(IX[2:5, 3], (8, 8)).is_contiguous
    # one element: the step is irrelevant
    assert normalize_selection(IX[2:3:5, 3], (8, 8)).is_contiguous
    assert normalize_selection(IX[::-1], (1, 8)).is_contiguous
    assert not normalize_selection(IX[:, ::2], (8, 8)).is_contiguous
    assert not normalize_selection(IX[::-1], (8, 8)).is_contiguous
    assert normalize_selection(IX[5:2], (8, 8)).is_empty
    assert normalize_selection(IX[...], (3, 0)).is_empty
    assert not normalize_selection(IX[...], (3, 1)).is_empty


def test_zero_dim() -> None:
    for selection in (IX[()], IX[...]):
        check_against_numpy((), selection)
        sel = normalize_selection(selection, ())
        assert sel == Selection((), (), (), (), (), ())
        assert sel.is_contiguous and not sel.is_empty
        box = np.array(7)
        got = sel.from_box(box)
        assert got.shape == () and got[()] == 7 and got.base is box
    with pytest.raises(IndexError, match="too many indices"):
        normalize_selection(0, ())
    with pytest.raises(IndexError):
        normalize_selection(IX[..., ...], ())


def test_from_box_rejects_wrong_shape() -> None:
    sel = normalize_selection(IX[1:3, 2], (8, 8))
    with pytest.raises(ValueError, match="expected"):
        sel.from_box(np.zeros((2, 2)))


def test_from_box_all_ints_is_view() -> None:
    sel = normalize_selection(IX[3, 4], (8, 8))
    box = np.array([[11]])
    got = sel.from_box(box)
    got[...] = 5
    assert box[0, 0] == 5


# --- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("selection", "shape"),
    [
        (IX[9], (8, 8)),
        (IX[-9], (8, 8)),
        (IX[:, 8], (8, 8)),
        (IX[0], (0,)),
        (IX[2**70], (8,)),
        (IX[-(2**70)], (8,)),
        (IX[np.int64(-(2**63))], (8,)),
    ],
    ids=repr,
)
def test_out_of_range_int(selection: Any, shape: tuple[int, ...]) -> None:
    a = np.arange(math.prod(shape)).reshape(shape)
    with pytest.raises(IndexError):
        a[selection]
    with pytest.raises(IndexError, match="out of bounds for axis"):
        normalize_selection(selection, shape)


def test_huge_uint64_is_index_error_not_overflow() -> None:
    # numpy itself raises OverflowError here; we promise IndexError for any out-of-range int.
    with pytest.raises(IndexError, match="out of bounds"):
        normalize_selection(np.uint64(2**64 - 1), (8,))


def test_out_of_range_message() -> None:
    with pytest.raises(IndexError, match=r"^index 9 is out of bounds for axis 1 with size 8$"):
        normalize_selection(IX[0, 9], (8, 8))
    with pytest.raises(IndexError, match=r"index -9 is out of bounds for axis 0 with size 8"):
        normalize_selection(IX[-9, 0], (8, 8))


def test_too_many_indices() -> None:
    a = np.zeros((8, 8))
    for selection in (IX[1, 2, 3], IX[1, ..., 2, 3], IX[:, :, :]):
        with pytest.raises(IndexError):
            a[selection]
        with pytest.raises(IndexError, match="array is 2-dimensional, but 3 were indexed"):
            normalize_selection(selection, (8, 8))


def test_multiple_ellipsis() -> None:
    a = np.zeros((8, 8))
    with pytest.raises(IndexError):
        a[..., 1, ...]
    with pytest.raises(IndexError, match="single ellipsis"):
        normalize_selection(IX[..., 1, ...], (8, 8))


def test_step_zero() -> None:
    with pytest.raises(ValueError, match="slice step cannot be zero"):
        np.zeros((8, 8))[::0]
    with pytest.raises(ValueError, match="slice step cannot be zero"):
        normalize_selection(IX[:, ::0], (8, 8))


@pytest.mark.parametrize(
    ("entry", "type_name"),
    [
        (True, "bool"),
        (False, "bool"),
        (np.True_, "bool"),
        ([1, 2], "list"),
        ((1, 2), "tuple"),  # nested inside the tuple
        (np.array([1, 2]), "ndarray"),
        # a 0-d int array has __index__, but numpy treats it as advanced indexing
        (np.array(3), "ndarray"),
        (np.array([True] * 8), "ndarray"),
        (1.0, "float"),
        (np.float64(1.0), "float64"),
        ("a", "str"),
        (None, "NoneType"),
        (np.newaxis, "NoneType"),
        ({1}, "set"),
    ],
    ids=repr,
)
def test_unsupported_types(entry: Any, type_name: str) -> None:
    for selection in (entry, (entry,), (0, entry), (entry, ...)):
        if isinstance(entry, tuple) and selection is entry:
            continue  # a bare tuple is the selection tuple itself, not an entry
        with pytest.raises(TypeError, match=type_name):
            normalize_selection(selection, (8, 8))


@pytest.mark.parametrize(
    "key",
    [IX[1.0:3], IX["x":], IX[:2.5], IX[0:4:1.5], IX[np.float64(1) :], IX[None : np.array([1, 2])]],
    ids=repr,
)
def test_non_integer_slice_bounds(key: slice) -> None:
    """Like a float or str index (not a bare TypeError from slice.indices): InvalidSelectionError
    naming the slice; bounds with __index__ (numpy ints) keep working."""
    for selection in (key, (0, key), (key, ...)):
        with pytest.raises(InvalidSelectionError, match=r"slice bounds must be integers or None") as info:
            normalize_selection(selection, (8, 8))
        assert isinstance(info.value, TypeError) and repr(key) in str(info.value)
    assert normalize_selection(IX[np.int64(1) : np.uint8(3)], (8,)).out_shape == (2,)


@pytest.mark.parametrize("step", [1.0, np.float64(1)], ids=repr)
def test_a_non_integer_step_is_refused_by_every_read(arange_path: str, step: Any) -> None:
    """read_into's fast path for one step-1 slice per axis took a step of 1.0 (arr[...] refused it)."""
    import zarrs_cffi

    key = (slice(0, 2, step), slice(0, 5))
    with zarrs_cffi.open_array(arange_path) as arr:
        out = np.empty((2, 5), arr.dtype)
        for call in (lambda: arr.read_into(out, key), lambda: arr[key]):
            with pytest.raises(InvalidSelectionError, match="slice"):
                call()
    with pytest.raises(InvalidSelectionError, match="slice"):
        zarrs_cffi.read_into(out, arange_path, key)


def test_unsupported_message() -> None:
    with pytest.raises(TypeError, match=r"only integers, slices .* and Ellipsis .*basic indexing.*list"):
        normalize_selection([0, 1], (8, 8))


def test_type_error_wins_over_index_errors() -> None:
    # Types are checked before counts/bounds, so a bad entry is reported as such wherever it sits.
    with pytest.raises(TypeError):
        normalize_selection((99, 0, "x"), (8, 8))
    with pytest.raises(TypeError):
        normalize_selection((..., ..., 1.5), (8, 8))


def test_top_level_list_rejected() -> None:
    with pytest.raises(TypeError, match="list"):
        normalize_selection([slice(None), 1], (8, 8))


def test_int_subclass_and_index_objects() -> None:
    class MyIndex:
        def __index__(self) -> int:
            return -2

    sel = normalize_selection((MyIndex(), np.int32(1)), (8, 8))
    assert sel.start == (6, 1) and sel.out_shape == ()


def test_huge_slice_bounds_clamp() -> None:
    check_against_numpy((8, 8), IX[-(2**80) : 2**80, 2**80 : -(2**80) : -(2**70)])
    sel = normalize_selection(IX[2**80 :: -1], (8,))
    assert sel.start == (0,) and sel.shape == (8,) and sel.step == (-1,)


# --- property-based: random shapes and selections vs numpy ---------------------------------------
_bound = st.one_of(st.none(), st.integers(-12, 12), st.sampled_from([2**70, -(2**70)]))
_step = st.one_of(
    st.none(),
    st.integers(-4, 4).filter(lambda s: s != 0),
    st.sampled_from([0, 100, -100]),
)
_slices = st.builds(slice, _bound, _bound, _step)
_ints = st.one_of(
    st.integers(-9, 9),
    st.integers(-9, 9).map(np.int64),
    st.sampled_from([2**70, -(2**70)]),
)
_entry = st.one_of(_slices, _slices, _ints)


@st.composite
def shape_and_selection(draw: st.DrawFn) -> tuple[tuple[int, ...], Any]:
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=0, max_size=4)))
    entries: list[Any] = draw(st.lists(_entry, min_size=0, max_size=len(shape) + 1))
    # numpy rejects an int beyond int64 while parsing, before any slice step is checked; we treat
    # it as a plain out-of-bounds index checked per axis. The only visible difference is which error
    # wins when a zero step is also present, so don't generate that combination.
    has_zero_step = any(isinstance(e, slice) and e.step == 0 for e in entries)
    has_huge_int = any(not isinstance(e, slice) and abs(int(e)) >= 2**63 for e in entries)
    assume(not (has_zero_step and has_huge_int))
    if draw(st.booleans()):
        entries.insert(draw(st.integers(0, len(entries))), Ellipsis)
    selection: Any = tuple(entries)
    if len(entries) == 1 and draw(st.booleans()):
        selection = entries[0]  # bare (non-tuple) selection
    return shape, selection


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape_and_selection())
def test_matches_numpy(case: tuple[tuple[int, ...], Any]) -> None:
    shape, selection = case
    check_against_numpy(shape, selection)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(1, 6), min_size=1, max_size=4).flatmap(
        lambda shp: st.tuples(
            st.just(tuple(shp)),
            st.tuples(*[st.integers(-n, n - 1) for n in shp]),
        )
    )
)
def test_valid_ints_match_numpy(case: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    # In-range ints (never an error) mixed across all axes, to exercise the all-dropped path well.
    shape, selection = case
    check_against_numpy(shape, selection)


def test_steps_too_large_for_int64_select_one_element(tmp_path: pathlib.Path) -> None:
    """A step of 2**63 or more selects one element per axis; building the native call's int64
    steps raised a bare OverflowError (numpy's answer: the first element)."""
    data = np.arange(42, dtype="int16").reshape(6, 7)
    arr = zarrs_cffi.create_array(tmp_path / "s.zarr", shape=data.shape, chunks=(4, 4), dtype="int16")
    arr[...] = data
    for sel in [np.s_[:: 2**63, ::2], np.s_[:: -(2**64), ::2]]:
        np.testing.assert_array_equal(arr[sel], data[sel])
    np.testing.assert_array_equal(arr.oindex[:: 2**64, [1, 0]], data[:: 2**64][:, [1, 0]])
    out = np.empty((1, 4), dtype="int16")
    arr.read_into(out, (slice(None, None, 2**64), slice(None, None, 2)))
    np.testing.assert_array_equal(out, data[:: 2**64, ::2])
