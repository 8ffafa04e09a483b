"""Bad oindex / vindex / blocks / orthogonal read_into selections raise typed errors naming the
problem, before any I/O: wrong index types are IndexTypeError (an IndexError, as in zarr-python
and numpy, and an InvalidSelectionError/TypeError), out-of-bounds indices and wrong index shapes
InvalidIndicesError (an IndexError); bad values and buffers the errors writes and reads already
raise. Nothing is written by a rejected write."""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import zarrs_cffi

TYPE = ("IndexTypeError", (IndexError, TypeError, zarrs_cffi.InvalidSelectionError))
BOUNDS = ("InvalidIndicesError", (IndexError,))
VALUE = ("InvalidArgumentError", (ValueError,))

# name -> (what to run on `a`, an 8x6 uint16 array with 4x4 chunks; expected class; message fragment)
CASES: dict[str, tuple[Callable[[Any], Any], tuple[str, tuple[type, ...]], str]] = {
    "oindex float": (lambda a: a.oindex[1.5], TYPE, "got float"),
    "oindex float array": (lambda a: a.oindex[np.array([1.0])], TYPE, "integer or boolean type, got float64"),
    "oindex str": (lambda a: a.oindex["a"], TYPE, "got str"),
    "oindex None": (lambda a: a.oindex[None], TYPE, "None is not supported"),
    "oindex bool scalar": (lambda a: a.oindex[True], TYPE, "not booleans"),
    "oindex ragged list": (lambda a: a.oindex[[[1], [1, 2]]], TYPE, "not a valid index array"),
    "oindex float slice bound": (lambda a: a.oindex[1.5:, [1]], TYPE, "slice bounds must be integers"),
    "oindex 2-d int array": (lambda a: a.oindex[np.array([[1]])], BOUNDS, "must be 1-dimensional"),
    "oindex 2-d mask": (lambda a: a.oindex[np.ones((8, 6), bool)], BOUNDS, "must be 1-dimensional"),
    "oindex mask length": (
        lambda a: a.oindex[np.ones(3, bool)],
        BOUNDS,
        "length 3 does not match axis 0 of size 8",
    ),
    "oindex out of bounds": (
        lambda a: a.oindex[[0, 8]],
        BOUNDS,
        "index 8 is out of bounds for axis 0 with size 8",
    ),
    "oindex negative out of bounds": (
        lambda a: a.oindex[:, [-7]],
        BOUNDS,
        "index -7 is out of bounds for axis 1",
    ),
    "oindex huge": (lambda a: a.oindex[[2**62]], BOUNDS, "out of bounds"),
    "oindex int out of bounds": (lambda a: a.oindex[8, [0]], BOUNDS, "index 8 is out of bounds"),
    "oindex too many": (lambda a: a.oindex[0, 0, [0]], BOUNDS, "too many indices"),
    "oindex two ellipses": (lambda a: a.oindex[..., [0], ...], BOUNDS, "single ellipsis"),
    "oindex zero step": (lambda a: a.oindex[::0, [1]], VALUE, "step cannot be zero"),
    "vindex slice": (lambda a: a.vindex[[1], :], TYPE, "not slices"),
    "vindex float": (lambda a: a.vindex[[1.5], [0]], TYPE, "got float64"),
    "vindex bool among coordinates": (lambda a: a.vindex[[True], [1]], TYPE, "must be the only index"),
    "vindex too few arrays": (lambda a: a.vindex[[1]], BOUNDS, "one integer array per dimension (2)"),
    "vindex not broadcastable": (lambda a: a.vindex[[1, 2], [1, 2, 3]], BOUNDS, "cannot be broadcast"),
    "vindex mask shape": (
        lambda a: a.vindex[np.ones((8, 5), bool)],
        BOUNDS,
        "mask must have the array's shape",
    ),
    "vindex out of bounds": (
        lambda a: a.vindex[[7, 8], [0, 0]],
        BOUNDS,
        "index 8 is out of bounds for axis 0",
    ),
    "blocks step": (lambda a: a.blocks[::2], TYPE, "step 1 only"),
    "blocks list": (lambda a: a.blocks[[0]], TYPE, "takes integers and slices, got list"),
    "blocks float": (lambda a: a.blocks[1.0], TYPE, "expected an integer or a slice, got float"),
    "blocks bool": (lambda a: a.blocks[True], TYPE, "not booleans"),
    "blocks out of bounds": (
        lambda a: a.blocks[2],
        BOUNDS,
        "block 2 is out of bounds for axis 0 with 2 blocks",
    ),
    "blocks negative out of bounds": (lambda a: a.blocks[-3], BOUNDS, "block -3 is out of bounds"),
    "blocks slice past the end": (lambda a: a.blocks[2:], BOUNDS, "out of bounds"),
    "blocks too many": (lambda a: a.blocks[0, 0, 0], BOUNDS, "too many indices"),
    "read_into float array": (
        lambda a: a.read_into(np.empty((2, 6), "u2"), ([0.0, 1],)),
        TYPE,
        "integer or boolean type",
    ),
    "read_into out of bounds": (lambda a: a.read_into(np.empty((1, 6), "u2"), ([9],)), BOUNDS, "index 9"),
    "read_into wrong shape": (
        lambda a: a.read_into(np.empty((2, 5), "u2"), ([0, 1],)),
        ("OutputBufferError", (ValueError,)),
        "selection's result has shape (2, 6)",
    ),
    "read_into wrong dtype": (
        lambda a: a.read_into(np.empty((2, 6), "i2"), ([0, 1],)),
        ("DataTypeMismatchError", (TypeError,)),
        "out has dtype int16",
    ),
    "read_into not contiguous": (
        lambda a: a.read_into(np.empty((2, 12), "u2")[:, ::2], ([0, 1],)),
        ("OutputBufferError", (ValueError,)),
        "C-contiguous",
    ),
    "oindex write wrong shape": (
        lambda a: a.oindex.__setitem__(([0, 1], 0), [1, 2, 3]),
        VALUE,
        "shape (3,) cannot be broadcast to the region's shape (2,)",
    ),
    "vindex write str": (
        lambda a: a.vindex.__setitem__(([0], [0]), "x"),
        VALUE,
        "cannot be converted to uint16",
    ),
    "vindex write overflow": (lambda a: a.vindex.__setitem__(([0], [0]), 2**20), VALUE, "out of bounds"),
    "blocks write wrong shape": (
        lambda a: a.blocks.__setitem__((0, 0), np.zeros((4, 3))),
        VALUE,
        "cannot be broadcast to the region's shape (4, 4)",
    ),
    "getitem still basic only": (
        lambda a: a[[0, 1]],
        ("InvalidSelectionError", (TypeError,)),
        "use arr.oindex",
    ),
}


@pytest.fixture
def array(tmp_path: pathlib.Path) -> zarrs_cffi.Array:
    a = zarrs_cffi.create_array(str(tmp_path / "a.zarr"), shape=(8, 6), chunks=(4, 4), dtype="uint16")
    a[...] = np.arange(48, dtype="uint16").reshape(8, 6)
    return a


@pytest.mark.parametrize("name", list(CASES))
def test_bad_selection_raises_typed_error(array: zarrs_cffi.Array, name: str) -> None:
    run, (class_name, bases), fragment = CASES[name]
    with pytest.raises(getattr(zarrs_cffi, class_name)) as info:
        run(array)
    assert isinstance(info.value, bases)
    assert isinstance(info.value, zarrs_cffi.ZarrsError)
    assert fragment in str(info.value)
    # Nothing was written by a rejected write (and reads changed nothing either).
    np.testing.assert_array_equal(array[...], np.arange(48, dtype="uint16").reshape(8, 6))


def test_index_type_error_is_exported_and_both_builtins() -> None:
    assert issubclass(zarrs_cffi.IndexTypeError, IndexError)
    assert issubclass(zarrs_cffi.IndexTypeError, TypeError)
    assert issubclass(zarrs_cffi.IndexTypeError, zarrs_cffi.InvalidSelectionError)
    assert "IndexTypeError" in zarrs_cffi.__all__
