"""Handle exchange between C and Python in one process, and the C example under valgrind.

The "C side" is the shipped library driven through ctypes (see conftest.CSide): the same library
instance cffi uses, so handles and per-thread error state are shared.
"""

from __future__ import annotations

import ctypes
import gc
import os
import pathlib
import re
import shutil
import subprocess
import threading
import time
from typing import Any

import numpy as np
import pytest

import zarrs_cffi
import zarrs_cffi.array as array_module
from zarrs_cffi._native import ffi, lib

from .conftest import ARANGE, PYTHON, REPO, CSide


def _counting_destroy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the destroys ``Array.from_handle(..., owned=True)`` performs (and still do them)."""
    calls: list[int] = []
    original = array_module._destroy_array

    def destroy(ptr: object) -> None:
        calls.append(int(ffi.cast("uintptr_t", ptr)))
        original(ptr)

    monkeypatch.setattr(array_module, "_destroy_array", destroy)
    return calls


# --- one library instance -------------------------------------------------------------------------------
def test_ctypes_and_cffi_share_one_library_instance(cside: CSide, arange_zarr: str) -> None:
    # The static version string has one address: one copy of the library's data in the process.
    assert cside.lib.zarrsCffiVersion() == int(ffi.cast("uintptr_t", lib.zarrsCffiVersion()))
    with open("/proc/self/maps") as fh:  # (a rebuild may have replaced the file: " (deleted)")
        mapped = {
            re.sub(r" \(deleted\)$", "", line.split(None, 5)[5].strip())  # not removesuffix: 3.8
            for line in fh
            if "libzarrs_cffi" in line
        }
    assert mapped == {os.path.realpath(zarrs_cffi.get_library())}
    # A per-thread error set through ctypes is read back through cffi (same thread-local slot).
    bad = ctypes.c_void_p()
    rc = cside.lib.zarrsCffiOpenArray(None, b"/", ctypes.byref(bad))
    assert rc == int(lib.ZARRS_ERROR_NULL_PTR)
    message = ffi.string(lib.zarrsCffiLastError())  # (leaks one small string; fine in a test)
    assert b"storage handle is NULL" in message
    # A handle made by ctypes works through cffi.
    address = cside.open_array(arange_zarr)
    try:
        with zarrs_cffi.Array.from_handle(address) as arr:
            np.testing.assert_array_equal(arr.read(), ARANGE)
    finally:
        cside.destroy_array(address)


# --- C creates, Python wraps ------------------------------------------------------------------------------
def test_unowned_wrapper_closed_first_then_c_uses_and_destroys(
    cside: CSide, arange_zarr: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    destroys = _counting_destroy(monkeypatch)
    address = cside.open_array(arange_zarr)
    arr = zarrs_cffi.Array.from_handle(address, root=arange_zarr)
    assert not arr.owns_handle and arr.handle_address() == address
    assert (arr.shape, arr.dtype, arr.chunks) == ((8, 8), np.dtype("uint16"), (4, 4))
    np.testing.assert_array_equal(arr[2:6, 1:7], ARANGE[2:6, 1:7])
    arr[0, 0] = 999  # writes through a borrowed handle are fine too
    arr.close()
    arr.close()
    assert arr.closed
    with pytest.raises(zarrs_cffi.ClosedError, match="closed"):
        arr.read()
    with pytest.raises(zarrs_cffi.ClosedError):
        arr.handle_address()
    with pytest.raises(zarrs_cffi.ClosedError), arr.borrow_handle():
        pass
    del arr
    gc.collect()
    # The C side still owns a live handle: it reads, writes and finally destroys it (once).
    expected = ARANGE.copy()
    expected[0, 0] = 999
    np.testing.assert_array_equal(cside.read(address, [0, 0], [8, 8], "uint16"), expected)
    cside.store_chunk(address, [1, 1], np.full((4, 4), 7, "uint16"))
    assert cside.read(address, [4, 4], [4, 4], "uint16").tolist() == [[7] * 4] * 4
    assert destroys == []
    cside.destroy_array(address)


def test_unowned_wrapper_garbage_collected_never_destroys(
    cside: CSide, arange_zarr: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    destroys = _counting_destroy(monkeypatch)
    address = cside.open_array(arange_zarr)
    for _ in range(3):  # several wrappers over one handle, each dropped without close()
        arr = zarrs_cffi.Array.from_handle(address)
        assert int(arr[7, 7]) == 63
        del arr
        gc.collect()
    np.testing.assert_array_equal(cside.read(address, [0, 0], [8, 8], "uint16"), ARANGE)
    assert destroys == []
    cside.destroy_array(address)


@pytest.mark.parametrize("form", ["int", "ctypes", "cffi", "void*"])
def test_from_handle_accepts_each_pointer_form(
    cside: CSide, arange_zarr: str, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    destroys = _counting_destroy(monkeypatch)
    address = cside.open_array(arange_zarr)
    handle = {
        "int": address,
        "ctypes": ctypes.c_void_p(address),
        "cffi": ffi.cast("ZarrsCffiArray", address),
        "void*": ffi.cast("void *", address),
    }[form]
    arr = zarrs_cffi.Array.from_handle(handle, owned=True, node="/x")
    assert arr.owns_handle and "node='/x'" in repr(arr)
    np.testing.assert_array_equal(arr.read(), ARANGE)
    arr.close()
    arr.close()
    del arr
    gc.collect()
    assert destroys == [address]  # exactly once, by Python


def test_owned_wrapper_destroyed_once_by_garbage_collection(
    cside: CSide, arange_zarr: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    destroys = _counting_destroy(monkeypatch)
    address = cside.open_array(arange_zarr)
    arr = zarrs_cffi.Array.from_handle(address, owned=True)
    assert int(arr[1, 1]) == 9
    del arr
    gc.collect()
    assert destroys == [address]


def test_a_second_owner_of_one_handle_is_refused(
    cside: CSide, arange_zarr: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """owned=True twice on one handle (or on a handle an Array lent) made two owners: both
    destroyed it, and the process aborted with a double free. The second is refused; the
    handle is destroyed once."""
    destroys = _counting_destroy(monkeypatch)
    address = cside.open_array(arange_zarr)
    arr = zarrs_cffi.Array.from_handle(address, owned=True)
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="already owned by an Array"):
        zarrs_cffi.Array.from_handle(address, owned=True)
    with zarrs_cffi.Array.from_handle(address) as borrowed:  # owned=False stays allowed
        assert int(borrowed[1, 1]) == 9
    arr.close()
    assert destroys == [address]
    refused = pytest.raises(zarrs_cffi.InvalidArgumentError, match="already owned by an Array")
    with zarrs_cffi.open_array(arange_zarr) as ours, ours.borrow_handle() as lent, refused:
        zarrs_cffi.Array.from_handle(lent, owned=True)
    upstream = _open_with_upstream(arange_zarr)
    adopted = zarrs_cffi.Array.from_handle(upstream[0], owned=True)
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="already owned by an Array"):
        zarrs_cffi.Array.from_handle(upstream[0], owned=True)
    np.testing.assert_array_equal(adopted.read(), ARANGE)
    adopted.close()


@pytest.mark.parametrize(
    ("handle", "error", "text"),
    [
        (None, zarrs_cffi.InvalidArgumentError, "got NoneType"),
        ("0x1234", zarrs_cffi.InvalidArgumentError, "got str"),
        (1.5, zarrs_cffi.InvalidArgumentError, "got float"),
        (True, zarrs_cffi.InvalidArgumentError, "got bool"),
        (0, zarrs_cffi.NullPointerError, "NULL"),
        (-8, zarrs_cffi.InvalidArgumentError, "not a valid pointer"),
        (2**64, zarrs_cffi.InvalidArgumentError, "not a valid pointer"),
        (ctypes.c_void_p(), zarrs_cffi.NullPointerError, "NULL"),
        (ffi.NULL, zarrs_cffi.InvalidArgumentError, "void \\*"),  # ffi.NULL is void*: NULL check next
        (ffi.cast("ZarrsArray", 0), zarrs_cffi.NullPointerError, "NULL"),
        (ffi.new("int *"), zarrs_cffi.InvalidArgumentError, "int \\*"),
        (ffi.new("ZarrsArray *"), zarrs_cffi.InvalidArgumentError, "ZarrsArray_T \\* \\*"),
    ],
)
def test_from_handle_rejects_bad_handles(handle: object, error: type[Exception], text: str) -> None:
    if handle is ffi.NULL:
        error, text = zarrs_cffi.NullPointerError, "NULL"
    with pytest.raises(error, match=text):
        zarrs_cffi.Array.from_handle(handle)


def test_from_handle_rejects_bad_options(cside: CSide, arange_zarr: str) -> None:
    address = cside.open_array(arange_zarr)
    try:
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match="owned must be True or False"):
            zarrs_cffi.Array.from_handle(address, owned=1)  # type: ignore[arg-type]
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match="root must be str"):
            zarrs_cffi.Array.from_handle(address, root=b"x")  # type: ignore[arg-type]
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match="node must be str"):
            zarrs_cffi.Array.from_handle(address, node=None)  # type: ignore[arg-type]
    finally:
        cside.destroy_array(address)


def test_unowned_close_waits_for_other_threads_in_calls(cside: CSide, arange_zarr: str) -> None:
    """After close() returns, Python no longer touches the pointer, so C may destroy it at once."""
    address = cside.open_array(arange_zarr)
    arr = zarrs_cffi.Array.from_handle(address)
    lent = threading.Event()
    released_at: list[float] = []

    def borrower() -> None:
        with arr.borrow_handle() as ptr:
            lent.set()
            time.sleep(0.3)
            out = cside.read(int(ffi.cast("uintptr_t", ptr)), [0, 0], [8, 8], "uint16")
            np.testing.assert_array_equal(out, ARANGE)
            released_at.append(time.monotonic())

    thread = threading.Thread(target=borrower)
    thread.start()
    assert lent.wait(5)
    arr.close()
    closed_at = time.monotonic()
    assert released_at and closed_at >= released_at[0], "close() returned while a call was in flight"
    cside.destroy_array(address)
    thread.join(5)
    with pytest.raises(zarrs_cffi.ClosedError):
        arr.read()


def test_unowned_close_inside_own_borrow_does_not_deadlock(cside: CSide, arange_zarr: str) -> None:
    address = cside.open_array(arange_zarr)
    arr = zarrs_cffi.Array.from_handle(address)
    with arr.borrow_handle():
        arr.close()  # the closing thread's own lend is not waited for
    assert arr.closed
    cside.destroy_array(address)


# --- Python creates, C borrows ----------------------------------------------------------------------------
def test_lent_handle_used_by_c_while_python_closes(cside: CSide, arange_zarr: str) -> None:
    arr = zarrs_cffi.open_array(arange_zarr)
    destroys: list[object] = []
    original = arr._handle._destroy
    arr._handle._destroy = lambda ptr: (destroys.append(ptr), original(ptr))
    assert arr.owns_handle
    with arr.borrow_handle() as ptr:
        address = int(ffi.cast("uintptr_t", ptr))
        assert address == arr.handle_address()
        np.testing.assert_array_equal(cside.read(address, [0, 0], [8, 8], "uint16"), ARANGE)
        arr.close()  # Python is done, but C still holds the lend: destruction waits
        assert arr.closed and destroys == []
        with pytest.raises(zarrs_cffi.ClosedError):
            arr.read()
        cside.store_chunk(address, [0, 1], np.full((4, 4), 5, "uint16"))  # no use after free
        assert int(cside.read(address, [0, 4], [1, 1], "uint16")[0, 0]) == 5
    assert len(destroys) == 1  # destroyed when the lend came back, exactly once
    arr.close()
    del arr
    gc.collect()
    assert len(destroys) == 1
    with zarrs_cffi.open_array(arange_zarr) as again:  # the C write reached the store
        assert int(again[0, 4]) == 5


def test_lend_and_return_pair_across_calls(cside: CSide, arange_zarr: str) -> None:
    arr = zarrs_cffi.open_array(arange_zarr)
    destroys: list[object] = []
    original = arr._handle._destroy
    arr._handle._destroy = lambda ptr: (destroys.append(ptr), original(ptr))
    first = arr.lend_handle()
    second = arr.lend_handle()  # lends nest
    assert first == second
    arr.close()
    arr.return_handle()
    assert destroys == []
    address = int(ffi.cast("uintptr_t", first))
    assert int(cside.read(address, [7, 7], [1, 1], "uint16")[0, 0]) == 63
    arr.return_handle()
    assert len(destroys) == 1
    with pytest.raises(zarrs_cffi.ClosedError):
        arr.lend_handle()


def test_engine_array_has_no_handle_to_lend(arange_zarr: str) -> None:
    from zarrs_cffi.crud import BackendUnavailableError, get_backend

    try:
        get_backend("zarr")
    except BackendUnavailableError as err:  # listed, but zarr-python (Python 3.11+) is missing
        pytest.skip(str(err))
    with zarrs_cffi.open_array(arange_zarr, engine="zarr") as arr:
        with pytest.raises(TypeError, match="no native handle"), arr.borrow_handle():
            pass
        with pytest.raises(TypeError, match="no native handle"):
            arr.handle_address()


# --- the C example under valgrind ---------------------------------------------------------------------------
VALGRIND_FLAGS = ["--error-exitcode=3", "--leak-check=full", "--errors-for-leak-kinds=definite"]


def test_memcheck_flags_match_the_makefile() -> None:
    recipe = (REPO / "csrc" / "examples" / "Makefile").read_text()
    assert "valgrind " + " ".join(VALGRIND_FLAGS) in recipe


@pytest.fixture(scope="module")
def c_example() -> pathlib.Path:
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    build = subprocess.run(
        ["make", "-s", "-C", str(REPO / "csrc" / "examples"), f"PYTHON={PYTHON}", "read_write_example"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return REPO / "csrc" / "examples" / "read_write_example"


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_c_example_is_clean_under_valgrind(c_example: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """What ``make memcheck`` runs: the C example under valgrind, on an array Python wrote."""
    store = tmp_path / "memcheck.zarr"
    with zarrs_cffi.create_array(store, shape=(8, 8), dtype="uint16", chunks=(4, 4)) as arr:
        arr[...] = ARANGE
    flags = VALGRIND_FLAGS
    run = subprocess.run(
        ["valgrind", *flags, str(c_example), str(store), "/"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    report = run.stderr[-6000:]
    assert "region 1 2 10" in run.stdout and "wrote chunk 0 0 of 4x4" in run.stdout, run.stdout + report
    with zarrs_cffi.open_array(store) as arr:
        np.testing.assert_array_equal(arr[0:4, 0:4], 1000 + np.arange(16).reshape(4, 4))
        np.testing.assert_array_equal(arr[4:, 4:], ARANGE[4:, 4:])
    assert run.returncode == 0, f"valgrind exit {run.returncode}\n{report}"
    assert "ERROR SUMMARY: 0 errors" in run.stderr, report
    assert re.search(r"definitely lost: 0 bytes|All heap blocks were freed", run.stderr), report


def test_from_handle_of_an_upstream_opened_array(arange_zarr: str) -> None:
    """Handles from upstream's own constructors (here zarrsOpenArrayRW, over the upstream handle
    inside one of ours) are adopted into a ZarrsCffiArray (zarrsCffiArrayFromUpstream)."""
    storage = ffi.new("ZarrsCffiStorage *")
    assert lib.zarrsCffiCreateStorageFilesystem(arange_zarr.encode(), storage) == 0
    out = ffi.new("ZarrsArray *")
    try:
        assert lib.zarrsOpenArrayRW(lib.zarrsCffiStorageUpstream(storage[0]), b"/", out) == 0
    finally:
        lib.zarrsCffiDestroyStorage(storage[0])
    with zarrs_cffi.Array.from_handle(out[0], owned=True, root=arange_zarr) as arr:
        np.testing.assert_array_equal(arr.read(), ARANGE)
        arr[7, 7] = 1
    with zarrs_cffi.open_array(arange_zarr) as again:
        assert int(again[7, 7]) == 1


def _open_with_upstream(root: str) -> Any:
    """A ``ZarrsArray *`` holding an array opened with upstream's own functions only."""
    storage = ffi.new("ZarrsStorage *")
    assert lib.zarrsCreateStorageFilesystem(root.encode(), storage) == 0
    out = ffi.new("ZarrsArray *")
    try:
        assert lib.zarrsOpenArrayRW(storage[0], b"/", out) == 0
    finally:
        lib.zarrsDestroyStorage(storage[0])
    return out


def test_unowned_upstream_handle_stays_the_callers(arange_zarr: str) -> None:
    """An upstream handle wrapped without ownership: Python frees only its own wrapper, and the
    caller's handle keeps working (upstream's functions, then upstream's destroy)."""
    out = _open_with_upstream(arange_zarr)
    for _ in range(3):
        arr = zarrs_cffi.Array.from_handle(out[0], root=arange_zarr)
        assert not arr.owns_handle
        np.testing.assert_array_equal(arr[1:3, 2:5], ARANGE[1:3, 2:5])
        arr.close()
    ndim = ffi.new("size_t *")
    assert lib.zarrsArrayGetDimensionality(out[0], ndim) == 0 and ndim[0] == 2
    assert lib.zarrsDestroyArray(out[0]) == 0


def test_upstream_handle_lent_from_ours(arange_zarr: str) -> None:
    """zarrsCffiArrayUpstream lends upstream's handle inside ours to upstream's functions."""
    with zarrs_cffi.open_array(arange_zarr) as arr, arr.borrow_handle() as ptr:
        upstream = lib.zarrsCffiArrayUpstream(ptr)
        shape = ffi.new("uint64_t[]", 2)
        assert lib.zarrsArrayGetShape(upstream, 2, shape) == 0
        assert list(shape) == [8, 8]
        assert lib.zarrsCffiArrayUpstream(ffi.NULL) == ffi.NULL
        assert lib.zarrsCffiStorageUpstream(ffi.NULL) == ffi.NULL


@pytest.mark.parametrize("adopt", [0, 1])
def test_from_upstream_rejects_null(adopt: int) -> None:
    out = ffi.new("ZarrsCffiArray *")
    assert lib.zarrsCffiArrayFromUpstream(ffi.NULL, adopt, out) == int(lib.ZARRS_ERROR_NULL_PTR)
    assert b"array handle is NULL" in ffi.string(lib.zarrsCffiLastError())
    rc = lib.zarrsCffiArrayFromUpstream(ffi.NULL, adopt, ffi.NULL)
    assert rc == int(lib.ZARRS_CFFI_ERROR_INVALID_ARGUMENT)
    assert b"pArray is NULL" in ffi.string(lib.zarrsCffiLastError())


def test_upstream_handle_by_address_needs_the_keyword(arange_zarr: str) -> None:
    """An int address does not say which kind of handle it is: upstream=True says so."""
    out = _open_with_upstream(arange_zarr)
    address = int(ffi.cast("uintptr_t", out[0]))
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="upstream must be"):
        zarrs_cffi.Array.from_handle(address, upstream=1)  # type: ignore[arg-type]
    with zarrs_cffi.Array.from_handle(address, upstream=True, owned=True) as arr:
        assert arr.owns_handle and arr.handle_address() != address  # ours, around it
        np.testing.assert_array_equal(arr[6:8, 0:8], ARANGE[6:8, 0:8])
