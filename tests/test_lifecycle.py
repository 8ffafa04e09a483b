"""Handle lifecycle: ``with`` closes, ``close()`` is idempotent, every method raises ClosedError after
close, garbage collection frees the native handle, open/close does not leak, arrays pickle by
location, and an Array keeps working in a forked child."""

from __future__ import annotations

import copy
import gc
import multiprocessing
import os
import pathlib
import pickle
import sys
import threading
import weakref

try:
    import tracemalloc
except ImportError:  # PyPy has no tracemalloc
    tracemalloc = None  # type: ignore[assignment]
from typing import Any, Callable  # typing.Callable: Use below is evaluated at runtime (3.8)

import numpy as np
import pytest
from zarr_oracle import ARANGE_8X8, run_forked_child

import zarrs_cffi
from zarrs_cffi import ClosedError

Use = Callable[[zarrs_cffi.Array], object]

ARRAY_METHODS: dict[str, Use] = {
    "read()": lambda a: a.read(),
    "read(region)": lambda a: a.read(np.s_[1:3, ::2]),
    "read(empty region)": lambda a: a.read(np.s_[2:2]),
    "getitem": lambda a: a[0, 0],
    "getitem(empty)": lambda a: a[:, 3:3],
    "read_into": lambda a: a.read_into(np.empty((8, 8), "uint16")),
    "read_into(empty region)": lambda a: a.read_into(np.empty((0, 8), "uint16"), np.s_[5:5]),
    "__array__": lambda a: np.asarray(a),
    "write": lambda a: a.write(np.s_[0, 0], 1),
    "write(empty region)": lambda a: a.write(np.s_[0:0], 1),
    "setitem": lambda a: a.__setitem__(np.s_[1:2, 1:2], 5),
    "read_chunk": lambda a: a.read_chunk((0, 0)),
    "read_chunk(out)": lambda a: a.read_chunk((0, 0), out=np.empty((4, 4), "uint16")),
    "write_chunk": lambda a: a.write_chunk((0, 1), np.zeros((4, 4), "uint16")),
    "erase_chunk": lambda a: a.erase_chunk((1, 1)),
    "read_encoded_chunk": lambda a: a.read_encoded_chunk((0, 0)),
    "lend_handle": lambda a: a.lend_handle(),
}


def test_with_closes(arange_path: str) -> None:
    with zarrs_cffi.open_array(arange_path) as arr:
        assert not arr.closed
        np.testing.assert_array_equal(arr.read(), ARANGE_8X8)
    assert arr.closed
    assert "closed" in repr(arr)


def test_with_closes_on_exception(arange_path: str) -> None:
    with pytest.raises(RuntimeError, match="boom"), zarrs_cffi.open_array(arange_path) as arr:
        raise RuntimeError("boom")
    assert arr.closed


def test_create_array_with_closes(tmp_path: pathlib.Path) -> None:
    with zarrs_cffi.create_array(tmp_path / "a.zarr", shape=(4,), dtype="int8", chunks=(2,)) as arr:
        arr[...] = 1
    assert arr.closed
    with pytest.raises(ClosedError):
        arr.read()


def test_double_close(arange_path: str) -> None:
    arr = zarrs_cffi.open_array(arange_path)
    arr.close()
    arr.close()
    with arr:
        pass
    arr.close()
    assert arr.closed


@pytest.mark.parametrize("method", list(ARRAY_METHODS))
def test_use_after_close_raises(arange_path: str, method: str) -> None:
    arr = zarrs_cffi.open_array(arange_path)
    arr.close()
    with pytest.raises(ClosedError, match="closed") as info:
        ARRAY_METHODS[method](arr)
    assert isinstance(info.value, zarrs_cffi.ZarrsError) and isinstance(info.value, ValueError)
    # The data on disk is untouched by the rejected call.
    np.testing.assert_array_equal(zarrs_cffi.open_array(arange_path).read(), ARANGE_8X8)


def test_facts_survive_close(arange_path: str) -> None:
    arr = zarrs_cffi.open_array(arange_path)
    arr.close()
    assert arr.shape == (8, 8)
    assert arr.dtype == np.dtype("uint16")
    assert arr.chunk_shape() == (4, 4)


STORE_METHODS: dict[str, Callable[[zarrs_cffi.Store], object]] = {
    "node_exists": lambda s: s.node_exists("/"),
    "read_metadata": lambda s: s.read_metadata("/"),
    "list_children": lambda s: s.list_children("/"),
    "stored_bytes": lambda s: s.stored_bytes("/"),
    "open_array_handle": lambda s: s.open_array_handle("/"),
    "create_node": lambda s: s.create_node("/x", {"zarr_format": 3, "node_type": "group"}),
    "delete_node": lambda s: s.delete_node("/"),
}


@pytest.mark.parametrize("method", list(STORE_METHODS))
def test_store_use_after_close_raises(arange_path: str, method: str) -> None:
    store = zarrs_cffi.Store(arange_path)
    store.close()
    store.close()
    with pytest.raises(ClosedError):
        STORE_METHODS[method](store)
    assert pathlib.Path(arange_path, "zarr.json").exists()


def test_closed_store_cannot_open_or_create_through(tmp_path: pathlib.Path) -> None:
    """A closed Store refuses to be used at all, not just through its own methods: opening or
    creating through it (which used to work through a fresh handle, and create wrote to disk), or
    making a new Store of it, raise ClosedError and write nothing."""
    root = tmp_path / "root.zarr"
    zarrs_cffi.create_group(root)
    zarrs_cffi.create_array(root, "/x", shape=(4,), dtype="int8", chunks=(2,)).close()
    store = zarrs_cffi.Store(root)
    store.close()
    uses: dict[str, Callable[[], object]] = {
        "open_array": lambda: zarrs_cffi.open_array(store, "/x"),
        "create_array": lambda: zarrs_cffi.create_array(store, "/y", shape=(2,), dtype="int8", chunks=(2,)),
        "create_group": lambda: zarrs_cffi.create_group(store, "/g"),
        "Store": lambda: zarrs_cffi.Store(store),
        "copy": lambda: copy.copy(store),
    }
    for name, use in uses.items():
        with pytest.raises(ClosedError, match="is closed"):
            use()
        assert not (root / "y").exists() and not (root / "g").exists(), name
    with zarrs_cffi.open_array(root, "/x") as arr:  # the path itself still opens
        assert arr.shape == (4,)


def test_store_does_not_pickle_and_copies_as_a_new_handle(arange_path: str) -> None:
    """Pickling a Store raises a TypeError saying what to send instead (not cffi's obscure
    PicklingError about its Lib object); copy.copy opens an independent handle on the same store."""
    store = zarrs_cffi.Store(arange_path)
    with pytest.raises(TypeError, match=r"cannot be pickled.*store\.root.*store\.storage_options"):
        pickle.dumps(store)
    clone = copy.copy(store)
    assert clone is not store and clone.root == store.root
    clone.close()
    assert not store.closed and store.node_exists("/")
    with copy.deepcopy(store) as deep:
        assert deep.node_exists("/")
    store.close()


def test_from_handle_without_root_says_why_it_cannot_pickle(arange_path: str) -> None:
    with zarrs_cffi.open_array(arange_path) as arr, arr.borrow_handle() as ptr:
        wrapped = zarrs_cffi.Array.from_handle(ptr)
        with pytest.raises(TypeError, match=r"native handle from C \(Array\.from_handle\).*root="):
            pickle.dumps(wrapped)
        wrapped.close()
        # With a location it pickles, reopening by path.
        with zarrs_cffi.Array.from_handle(ptr, root=arange_path) as located:
            clone = pickle.loads(pickle.dumps(located))
            np.testing.assert_array_equal(clone.read(), ARANGE_8X8)
            clone.close()


@pytest.mark.skipif(
    sys.implementation.name != "cpython", reason="PyPy frees objects in its GC, not by reference counting"
)
def test_gc_frees_native_handle(arange_path: str) -> None:
    arr = zarrs_cffi.open_array(arange_path)
    destroyed: list[object] = []
    handle = arr._handle
    original = handle._destroy

    def spy(ptr: object) -> None:
        destroyed.append(ptr)
        original(ptr)

    handle._destroy = spy
    ref = weakref.ref(arr)
    del arr, handle
    assert ref() is None, "the Array must be freed by reference counting alone (no cycles)"
    assert len(destroyed) == 1


def test_close_destroys_exactly_once(arange_path: str) -> None:
    arr = zarrs_cffi.open_array(arange_path)
    calls: list[object] = []
    original = arr._handle._destroy
    arr._handle._destroy = lambda ptr: (calls.append(ptr), original(ptr))
    arr.close()
    arr.close()
    del arr
    gc.collect()
    assert len(calls) == 1


def test_lent_handle_defers_destroy(arange_path: str) -> None:
    arr = zarrs_cffi.open_array(arange_path)
    calls: list[object] = []
    original = arr._handle._destroy
    arr._handle._destroy = lambda ptr: (calls.append(ptr), original(ptr))
    ptr = arr.lend_handle()
    assert ptr is not None
    arr.close()
    assert arr.closed and calls == []
    arr.return_handle()
    assert len(calls) == 1


def test_unmatched_return_handle_raises_and_keeps_calls_in_flight(arange_path: str) -> None:
    """return_handle() without a lend raises InvalidArgumentError and changes nothing: it used to
    raise a bare IndexError when idle and, with a call in flight on another thread, to take away that
    call's hold, so that close() destroyed the handle under the running call."""
    arr = zarrs_cffi.open_array(arange_path)
    calls: list[object] = []
    original = arr._handle._destroy
    arr._handle._destroy = lambda ptr: (calls.append(ptr), original(ptr))
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match=r"return_handle\(\) without a matching"):
        arr.return_handle()
    arr.lend_handle()
    arr.return_handle()
    with pytest.raises(zarrs_cffi.InvalidArgumentError):
        arr.return_handle()  # one lend, one return: the second is unmatched
    arr._handle.acquire()  # a read in flight, as another thread inside a native call holds it
    with pytest.raises(zarrs_cffi.InvalidArgumentError):
        arr.return_handle()
    arr.close()
    assert calls == [], "the call in flight must keep its hold: close() defers destruction"
    arr._handle.release()  # the call returns: now the handle goes, once
    assert len(calls) == 1


def test_unmatched_return_handle_on_a_wrapper_of_a_c_handle(arange_path: str) -> None:
    with zarrs_cffi.open_array(arange_path) as arr, arr.borrow_handle() as ptr:
        wrapped = zarrs_cffi.Array.from_handle(ptr)
        with pytest.raises(zarrs_cffi.InvalidArgumentError):
            wrapped.return_handle()
        with wrapped.borrow_handle():
            pass
        wrapped.close()  # returns at once: no hold was lost or left behind


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
@pytest.mark.skipif(tracemalloc is None, reason="needs tracemalloc (PyPy has none)")
def test_open_close_does_not_leak(tmp_path: pathlib.Path) -> None:
    """2,000 open/close cycles: Python allocations and RSS stay roughly flat.

    The array carries ~32 KiB of attributes, so a leaked handle (native or Python) would cost at
    least that much each: 2,000 leaks would be > 60 MiB, far above the allowance."""
    path = tmp_path / "leak.zarr"
    attrs = {"padding": "x" * 32768}
    zarrs_cffi.create_array(path, shape=(8, 8), dtype="uint16", chunks=(4, 4), attributes=attrs).close()

    def cycle(n: int) -> None:
        for _ in range(n):
            arr = zarrs_cffi.open_array(path)
            arr.close()
        # One more without close(): garbage collection must free it too.
        zarrs_cffi.open_array(path)

    cycle(200)  # warm up allocator pools and caches
    gc.collect()
    tracemalloc.start()
    try:
        rss_before = _rss_bytes()
        py_before, _ = tracemalloc.get_traced_memory()
        cycle(2000)
        gc.collect()
        py_after, _ = tracemalloc.get_traced_memory()
        rss_after = _rss_bytes()
    finally:
        tracemalloc.stop()
    assert py_after - py_before < 1 << 20, f"Python allocations grew by {py_after - py_before} bytes"
    assert rss_after - rss_before < 24 << 20, f"RSS grew by {(rss_after - rss_before) >> 20} MiB"


def test_close_while_other_thread_reads(multichunk_path: tuple[str, np.ndarray]) -> None:
    """close() during reads on another thread: in-flight calls finish, later ones raise ClosedError."""
    path, data = multichunk_path
    arr = zarrs_cffi.open_array(path)
    errors: list[BaseException] = []
    reads = 0
    started = threading.Event()

    def reader() -> None:
        nonlocal reads
        try:
            for _ in range(10_000):
                np.testing.assert_array_equal(arr.read(), data)
                reads += 1
                started.set()
        except ClosedError:
            return
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=reader)
    thread.start()
    assert started.wait(30)
    arr.close()
    thread.join(60)
    assert not thread.is_alive()
    assert not errors, errors
    assert reads >= 1


# --- pickle -----------------------------------------------------------------------------------------------
def test_pickle_round_trip(arange_path: str) -> None:
    arr = zarrs_cffi.open_array(arange_path)
    clone = pickle.loads(pickle.dumps(arr))
    assert clone is not arr
    assert (clone.root, clone.node, clone.shape, clone.dtype) == (arr.root, arr.node, arr.shape, arr.dtype)
    np.testing.assert_array_equal(clone.read(), ARANGE_8X8)
    # Independent handles: closing one leaves the other open.
    arr.close()
    np.testing.assert_array_equal(clone[2:4, ::-1], ARANGE_8X8[2:4, ::-1])
    clone.close()


def test_pickle_reopens_by_path_and_node(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "root.zarr"
    with zarrs_cffi.create_array(root, "/a/b", shape=(5,), dtype="int32", chunks=(2,)) as arr:
        arr[...] = [1, 2, 3, 4, 5]
    ro = zarrs_cffi.open_array(root, "/a/b", read_only=True)
    clone = pickle.loads(pickle.dumps(ro, protocol=pickle.HIGHEST_PROTOCOL))
    assert clone.node == "/a/b"
    assert clone.read_only
    np.testing.assert_array_equal(clone.read(), [1, 2, 3, 4, 5])
    with pytest.raises(zarrs_cffi.ReadOnlyError):
        clone[0] = 9
    # The data is read at unpickling time, from the path: a later write is visible to a new unpickle.
    blob = pickle.dumps(ro)
    with zarrs_cffi.open_array(root, "/a/b") as rw:
        rw[0] = 42
    assert pickle.loads(blob).read()[0] == 42


# --- fork ---------------------------------------------------------------------------------------------------
_FORK_STATE: dict[str, Any] = {}


def _child_reads(queue: Any) -> None:
    arr = _FORK_STATE["array"]
    data = _FORK_STATE["data"]
    ok = bool(np.array_equal(arr.read(), data)) and bool(
        np.array_equal(arr[::-3, 5:30:2], data[::-3, 5:30:2])
    )
    out = np.empty(data.shape, data.dtype)
    ok = ok and bool(np.array_equal(zarrs_cffi.read_into(out, _FORK_STATE["path"]), data))
    queue.put(ok)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_array_survives_fork(multichunk_path: tuple[str, np.ndarray]) -> None:
    path, data = multichunk_path
    arr = zarrs_cffi.open_array(path)
    # Use the decode thread pool (and the functional cache) in the parent first, so the child
    # inherits a pool whose worker threads do not exist there.
    np.testing.assert_array_equal(arr.read(), data)
    np.testing.assert_array_equal(zarrs_cffi.read(path), data)
    _FORK_STATE.update(array=arr, data=data, path=path)
    try:
        run_forked_child(_child_reads, "reading a multi-chunk region")
    finally:
        _FORK_STATE.clear()
    # The parent's array still works after the fork.
    np.testing.assert_array_equal(arr.read(), data)
    arr.close()


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_pipeline_read_survives_fork(multichunk_path: tuple[str, np.ndarray]) -> None:
    """Reads through zarrs' codec pipeline run inside the library's thread pool: a forked child
    must see that it is a new process (the library keeps its process id, forgotten at fork) and
    build its own pool, or it waits forever on the parent's threads."""
    path, data = multichunk_path
    previous = zarrs_cffi.set_direct_decoding(False)
    try:
        arr = zarrs_cffi.open_array(path)
        np.testing.assert_array_equal(arr.read(), data)  # the parent's pool now exists
        _FORK_STATE.update(array=arr, data=data, path=path)
        run_forked_child(_child_reads, "reading through zarrs' pipeline")
        np.testing.assert_array_equal(arr.read(), data)
        arr.close()
    finally:
        _FORK_STATE.clear()
        zarrs_cffi.set_direct_decoding(previous)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork")
def test_array_survives_os_fork(multichunk_path: tuple[str, np.ndarray]) -> None:
    path, data = multichunk_path
    arr = zarrs_cffi.open_array(path)
    np.testing.assert_array_equal(arr.read(), data)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            signal_alarm = getattr(__import__("signal"), "alarm", None)
            if signal_alarm:
                signal_alarm(60)  # a hang kills the child instead of the test run
            code = 0 if np.array_equal(arr[3:, ::-1], data[3:, ::-1]) else 2
        finally:
            os._exit(code)
    for _ in range(600):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        threading.Event().wait(0.1)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0  # not waitstatus_to_exitcode: 3.8
    arr.close()


def test_close_during_an_operation_of_several_calls_lets_it_finish(tmp_path: pathlib.Path) -> None:
    """A strided write (chunks read, changed, stored: several native calls) and a read through the
    chunk cache (box by box) finish whole when close() comes between their calls, as it does from
    another thread; they raised ClosedError halfway, with part of the write stored. Calls by anyone
    else that start after the close() raise ClosedError, even while such an operation runs."""
    path = tmp_path / "a.zarr"
    zarrs_cffi.create_array(path, shape=(8, 8), dtype="int32", chunks=(2, 2)).close()
    arr = zarrs_cffi.open_array(path)
    real_store = arr._store_with
    others: list[str] = []

    def store_then_close(*args: Any) -> None:
        real_store(*args)
        arr.close()
        try:  # another call, started after the close(), while the write goes on
            arr.write_chunk((3, 3), np.ones((2, 2), "int32"))
            others.append("written")
        except ClosedError:
            others.append("refused")

    arr._store_with = store_then_close  # type: ignore[method-assign]
    arr.oindex[[0, 3, 5], [1, 4, 6]] = 7
    expected = np.zeros((8, 8), dtype="int32")
    expected[np.ix_([0, 3, 5], [1, 4, 6])] = 7
    np.testing.assert_array_equal(zarrs_cffi.read(path), expected)
    assert set(others) == {"refused"}
    with pytest.raises(ClosedError):
        arr.oindex[[0], [1]] = 1

    cached = zarrs_cffi.open_array(path, chunk_cache_bytes=1 << 20)
    real_retrieve = cached._retrieve_with

    def retrieve_then_close(*args: Any) -> None:
        real_retrieve(*args)
        cached.close()

    cached._retrieve_with = retrieve_then_close  # type: ignore[method-assign]
    np.testing.assert_array_equal(cached[::3, 1::3], expected[::3, 1::3])
    with pytest.raises(ClosedError):
        cached[0, 0]


@pytest.mark.skipif(sys.platform != "linux", reason="fork")
def test_fork_replaces_the_locks_of_equal_owners() -> None:
    """Owners are kept by identity: equal objects (two codec pipelines of one array compare equal)
    each get a fresh lock in a forked child; one of them kept its parent's (maybe held) lock."""
    from zarrs_cffi import forksafe

    class Equal:
        def __eq__(self, other: object) -> bool:
            return isinstance(other, Equal)

        def __hash__(self) -> int:
            return 1

    first, second = Equal(), Equal()
    first._lock = forksafe.object_lock(first)  # type: ignore[attr-defined]
    second._lock = forksafe.object_lock(second)  # type: ignore[attr-defined]
    before = (first._lock, second._lock)  # type: ignore[attr-defined]
    pid = os.fork()
    if pid == 0:  # the child: both locks replaced
        replaced = first._lock is not before[0] and second._lock is not before[1]  # type: ignore[attr-defined]
        os._exit(0 if replaced else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_asarray_with_copy_false_is_refused_as_zarr_python_refuses_it(arange_path: str) -> None:
    """numpy 2's copy=False means "never copy": a read always makes a new array."""
    if int(np.__version__.split(".")[0]) < 2:
        pytest.skip("numpy < 2 has no copy= for asarray")
    with zarrs_cffi.open_array(arange_path) as arr:
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match="copy=False"):
            np.asarray(arr, copy=False)
        assert np.asarray(arr).shape == (8, 8) and np.asarray(arr, dtype="int64").dtype == np.int64


def test_read_only_must_be_a_bool(arange_path: str) -> None:
    """read_only="False" is truthy: it opened the array read-only (overwrite= refuses non-bools)."""
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="read_only must be True or False"):
        zarrs_cffi.open_array(arange_path, read_only="False")  # type: ignore[arg-type]
    with zarrs_cffi.open_array(arange_path, read_only=np.bool_(False)) as arr:
        assert not arr.read_only


def test_attrs_is_a_deep_copy(tmp_path: pathlib.Path) -> None:
    with zarrs_cffi.create_array(
        tmp_path / "a.zarr", shape=(2,), dtype="i1", chunks=(2,), attributes={"units": {"name": "m"}}
    ) as arr:
        arr.attrs["units"]["name"] = "changed"
        assert arr.metadata["attributes"] == {"units": {"name": "m"}}
        assert arr.attrs == {"units": {"name": "m"}}
