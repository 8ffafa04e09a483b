"""The ``out=`` battery: ``read_into`` (method and functional) and ``read_chunk(out=...)`` return the
very object passed, and reject a wrong dtype, shape, a read-only or non-contiguous buffer, or a
non-ndarray, naming the check that failed."""

from __future__ import annotations

import pathlib
import tempfile
from typing import Any, Callable  # typing.Callable: Reader below is evaluated at runtime (3.8)

import numpy as np
import pytest
from s3_paths import as_location
from zarr_oracle import ARANGE_8X8

import zarrs_cffi
from zarrs_cffi import DataTypeMismatchError, OutputBufferError

REGION = np.s_[2:6, 1:7]  # result shape (4, 6)
EXPECTED = ARANGE_8X8[REGION]

Reader = Callable[[Any, str], Any]


def _method(out: Any, path: str) -> Any:
    with zarrs_cffi.open_array(path) as arr:
        return arr.read_into(out, REGION)


def _functional(out: Any, path: str) -> Any:
    return zarrs_cffi.read_into(out, path, REGION)


READERS = {"Array.read_into": _method, "zarrs_cffi.read_into": _functional}


@pytest.fixture(params=list(READERS))
def reader(request: pytest.FixtureRequest) -> Reader:
    return READERS[request.param]


def test_returns_same_object(arange_path: str, reader: Reader) -> None:
    out = np.empty((4, 6), "uint16")
    assert reader(out, arange_path) is out
    np.testing.assert_array_equal(out, EXPECTED)


@pytest.mark.parametrize("dtype", ["int16", "uint32", "float32", ">u2"])
def test_wrong_dtype(arange_path: str, reader: Reader, dtype: str) -> None:
    out = np.zeros((4, 6), dtype)
    with pytest.raises(DataTypeMismatchError, match="dtype") as info:
        reader(out, arange_path)
    assert isinstance(info.value, TypeError)
    assert str(np.dtype(dtype)) in str(info.value) or np.dtype(dtype).str in str(info.value)
    assert not out.any(), "nothing may be written into a rejected buffer"


@pytest.mark.parametrize("shape", [(6, 4), (4, 7), (24,), (1, 4, 6), ()])
def test_wrong_shape(arange_path: str, reader: Reader, shape: tuple[int, ...]) -> None:
    out = np.zeros(shape, "uint16")
    with pytest.raises(OutputBufferError, match="shape") as info:
        reader(out, arange_path)
    assert isinstance(info.value, ValueError)
    assert str(shape) in str(info.value) and "(4, 6)" in str(info.value)


def test_read_only(arange_path: str, reader: Reader) -> None:
    out = np.zeros((4, 6), "uint16")
    out.flags.writeable = False
    with pytest.raises(OutputBufferError, match="read-only") as info:
        reader(out, arange_path)
    assert isinstance(info.value, ValueError)
    assert not out.any()


def test_read_only_memory(arange_path: str, reader: Reader) -> None:
    out = np.frombuffer(bytes(48), dtype="uint16").reshape(4, 6)
    with pytest.raises(OutputBufferError, match="read-only"):
        reader(out, arange_path)


def test_fortran_order(arange_path: str, reader: Reader) -> None:
    out = np.zeros((4, 6), "uint16", order="F")
    with pytest.raises(OutputBufferError, match="C-contiguous") as info:
        reader(out, arange_path)
    assert isinstance(info.value, ValueError)
    assert not out.any()


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.zeros((8, 6), "uint16")[::2],
        lambda: np.zeros((4, 12), "uint16")[:, ::2],
        lambda: np.zeros((4, 7), "uint16")[:, 1:],
        lambda: np.zeros((6, 4), "uint16").T,
        lambda: np.zeros((4, 6), "uint16")[::-1],
    ],
    ids=["row-step", "column-step", "column-slice", "transposed", "reversed"],
)
def test_sliced_view(arange_path: str, reader: Reader, make: Callable[[], np.ndarray]) -> None:
    out = make()
    assert out.shape == (4, 6) and not out.flags.c_contiguous
    with pytest.raises(OutputBufferError, match="C-contiguous"):
        reader(out, arange_path)
    assert not out.any()


@pytest.mark.parametrize("out", [[[0] * 6] * 4, bytearray(48), memoryview(bytearray(48)), None, 3], ids=repr)
def test_not_an_ndarray(arange_path: str, reader: Reader, out: Any) -> None:
    with pytest.raises(TypeError, match="ndarray"):
        reader(out, arange_path)


def test_ndarray_subclass_memmap(arange_path: str, reader: Reader) -> None:
    # A directory of its own for the file behind the buffer (tmp_path is the store's place, which
    # tests/stores/test_out_buffer_s3.py makes a bucket).
    with tempfile.TemporaryDirectory() as scratch:
        backing = pathlib.Path(scratch, "out.bin")
        mm = np.memmap(backing, dtype="uint16", mode="w+", shape=(4, 6))
        assert reader(mm, arange_path) is mm
        mm.flush()
        np.testing.assert_array_equal(np.fromfile(backing, dtype="uint16").reshape(4, 6), EXPECTED)
        del mm


def test_view_of_larger_contiguous_buffer(arange_path: str, reader: Reader) -> None:
    big = np.full((3, 4, 6), 7, "uint16")
    view = big[1]
    assert view.flags.c_contiguous and view.base is big
    assert reader(view, arange_path) is view
    np.testing.assert_array_equal(big[1], EXPECTED)
    assert (big[0] == 7).all() and (big[2] == 7).all(), "neighbouring memory must be untouched"

    flat = np.full(100, 9, "uint16")
    window = flat[10:34].reshape(4, 6)
    assert reader(window, arange_path) is window
    np.testing.assert_array_equal(window, EXPECTED)
    assert (flat[:10] == 9).all() and (flat[34:] == 9).all()


@pytest.mark.parametrize(
    ("region", "shape"),
    [(np.s_[3:3], (0, 8)), (np.s_[:, 5:2], (8, 0)), (np.s_[2, 8:], (0,)), (np.s_[::-1, 0:0], (8, 0))],
    ids=str,
)
def test_zero_length_region_does_no_io(
    arange_path: str, region: Any, shape: tuple[int, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    arr = zarrs_cffi.open_array(arange_path)

    def no_io(*args: Any) -> None:
        raise AssertionError("a zero-length region must not reach the native library")

    monkeypatch.setattr(zarrs_cffi.Array, "_retrieve_box", no_io)
    out = np.empty(shape, "uint16")
    assert arr.read_into(out, region) is out
    result = arr.read(region)
    assert result.shape == shape and result.dtype == np.dtype("uint16")
    arr.write(region, np.empty(shape, "uint16"))  # nothing to store either
    assert zarrs_cffi.read_into(np.empty(shape, "uint16"), arange_path, region).shape == shape
    arr.close()


def test_zero_length_region_survives_corrupt_chunks(arange_path: str) -> None:
    """No chunk is touched for an empty region, even when every chunk is garbage."""
    for chunk in (as_location(arange_path) / "c").rglob("*"):
        if chunk.is_file():
            chunk.write_bytes(b"garbage")
    with zarrs_cffi.open_array(arange_path) as arr:
        out = np.empty((0, 8), "uint16")
        assert arr.read_into(out, np.s_[4:4]) is out
        with pytest.raises(zarrs_cffi.CodecError):
            arr.read_into(np.empty((1, 8), "uint16"), np.s_[4:5])


def test_zero_length_region_still_checks_out(arange_path: str) -> None:
    with zarrs_cffi.open_array(arange_path) as arr:
        with pytest.raises(OutputBufferError, match="shape"):
            arr.read_into(np.empty((1, 8), "uint16"), np.s_[3:3])
        with pytest.raises(DataTypeMismatchError):
            arr.read_into(np.empty((0, 8), "int8"), np.s_[3:3])


def test_strided_region_into_out(arange_path: str, reader: Reader) -> None:
    with zarrs_cffi.open_array(arange_path) as arr:
        out = np.empty((3, 4), "uint16")
        assert arr.read_into(out, np.s_[7:0:-3, ::2]) is out
        np.testing.assert_array_equal(out, ARANGE_8X8[7:0:-3, ::2])
        scalar = np.empty((), "uint16")
        assert arr.read_into(scalar, (-1, -2)) is scalar
        assert scalar == ARANGE_8X8[-1, -2]


# --- the same region object read again (Array remembers the last box it parsed) ---------------------------
def _bad_buffers() -> list[tuple[str, Any, type[Exception], str]]:
    read_only = np.zeros((4, 6), "uint16")
    read_only.flags.writeable = False
    reshaped = np.zeros((4, 6), "uint16")
    reshaped.shape = (6, 4)  # the same memory, its shape changed in place
    return [
        ("dtype", np.zeros((4, 6), "int16"), DataTypeMismatchError, "dtype"),
        ("shape", np.zeros((6, 4), "uint16"), OutputBufferError, "shape"),
        ("reshaped in place", reshaped, OutputBufferError, "shape"),
        ("read-only", read_only, OutputBufferError, "read-only"),
        ("fortran", np.zeros((4, 6), "uint16", order="F"), OutputBufferError, "C-contiguous"),
        ("strided", np.zeros((8, 6), "uint16")[::2], OutputBufferError, "C-contiguous"),
        ("not an ndarray", bytearray(48), TypeError, "ndarray"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_buffers())), ids=[c[0] for c in _bad_buffers()])
def test_repeated_region_still_checks_out(arange_path: str, case: int) -> None:
    """A second read of the same region object skips parsing it, never the checks of ``out``."""
    _, bad, error, match = _bad_buffers()[case]
    with zarrs_cffi.open_array(arange_path) as arr:
        good = np.zeros((4, 6), "uint16")
        assert arr.read_into(good, REGION) is good
        with pytest.raises(error, match=match):
            arr.read_into(bad, REGION)
        if isinstance(bad, np.ndarray):
            assert not bad.any(), "nothing may be written into a rejected buffer"
        good[...] = 0
        assert arr.read_into(good, REGION) is good
        np.testing.assert_array_equal(good, EXPECTED)


def test_repeated_region_after_the_buffer_changes(arange_path: str) -> None:
    """The remembered box is the region's; each call reads into the buffer it is given."""
    region = np.s_[0:8, 3:5]
    with zarrs_cffi.open_array(arange_path) as arr:
        outs = [np.full((8, 2), 99, "uint16") for _ in range(3)]
        for out in outs + outs[::-1]:
            assert arr.read_into(out, region) is out
        for out in outs:
            np.testing.assert_array_equal(out, ARANGE_8X8[region])
        other = np.s_[1:3, 0:8]  # alternate two regions: each call reads its own
        for _ in range(3):
            np.testing.assert_array_equal(arr.read_into(np.empty((2, 8), "uint16"), other), ARANGE_8X8[other])
            np.testing.assert_array_equal(
                arr.read_into(np.empty((8, 2), "uint16"), region), ARANGE_8X8[region]
            )


def test_repeated_region_on_two_arrays_and_after_close(arange_path: str, multichunk_path: Any) -> None:
    path, data = multichunk_path
    region = np.s_[2:6, 1:7]
    first, second = zarrs_cffi.open_array(arange_path), zarrs_cffi.open_array(path)
    for _ in range(2):
        np.testing.assert_array_equal(first.read_into(np.empty((4, 6), "uint16"), region), EXPECTED)
        np.testing.assert_array_equal(second.read_into(np.empty((4, 6), "int32"), region), data[region])
    first.close()
    with pytest.raises(zarrs_cffi.ClosedError):
        first.read_into(np.empty((4, 6), "uint16"), region)
    np.testing.assert_array_equal(second.read_into(np.empty((4, 6), "int32"), region), data[region])
    second.close()


def test_repeated_empty_and_out_of_bounds_regions(arange_path: str) -> None:
    empty, outside = np.s_[3:3, 0:8], np.s_[6:10, 0:2]  # outside: numpy clips the stop
    with zarrs_cffi.open_array(arange_path) as arr:
        for _ in range(2):
            assert arr.read_into(np.empty((0, 8), "uint16"), empty).shape == (0, 8)
            with pytest.raises(OutputBufferError, match="shape"):
                arr.read_into(np.empty((1, 8), "uint16"), empty)
            out = arr.read_into(np.empty((2, 2), "uint16"), outside)
            np.testing.assert_array_equal(out, ARANGE_8X8[outside])
            with pytest.raises(OutputBufferError, match="shape"):
                arr.read_into(np.empty((4, 2), "uint16"), outside)


# --- read_chunk(out=...) ------------------------------------------------------------------------------------
def test_read_chunk_out(arange_path: str) -> None:
    with zarrs_cffi.open_array(arange_path) as arr:
        out = np.empty((4, 4), "uint16")
        assert arr.read_chunk((1, 0), out=out) is out
        np.testing.assert_array_equal(out, ARANGE_8X8[4:8, 0:4])
        with pytest.raises(DataTypeMismatchError):
            arr.read_chunk((0, 0), out=np.empty((4, 4), "float32"))
        with pytest.raises(OutputBufferError, match="shape"):
            arr.read_chunk((0, 0), out=np.empty((4, 3), "uint16"))
        with pytest.raises(OutputBufferError, match="C-contiguous"):
            arr.read_chunk((0, 0), out=np.empty((4, 4), "uint16", order="F"))
        read_only = np.empty((4, 4), "uint16")
        read_only.flags.writeable = False
        with pytest.raises(OutputBufferError, match="read-only"):
            arr.read_chunk((0, 0), out=read_only)
        with pytest.raises(TypeError):
            arr.read_chunk((0, 0), out=bytearray(32))  # type: ignore[arg-type]
