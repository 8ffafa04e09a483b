"""ZarrsCffiCodecPipeline inside zarr-python: registration, the native path, fallbacks, strict mode,
and the arrays whose layout needs care (v2 order F, big endian, 0-d, sharded, edge chunks)."""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import zarr
import zarr.registry
from zarr.core.array_spec import ArrayConfig, ArraySpec
from zarr.core.buffer import default_buffer_prototype
from zarr.core.codec_pipeline import BatchedCodecPipeline
from zarr.storage import LocalStore, MemoryStore

import zarrs_cffi
from zarrs_cffi.zarr_pipeline import ZarrsCffiCodecPipeline

OURS = "zarrs_cffi.ZarrsCffiCodecPipeline"
LOGGER = "zarrs_cffi.zarr_pipeline"


@pytest.fixture
def ours() -> Iterator[None]:
    """zarr configured with our pipeline for the test."""
    with zarr.config.set({"codec_pipeline.path": OURS}):
        yield


@pytest.fixture
def no_batched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any chunk I/O goes through zarr's BatchedCodecPipeline."""

    async def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("chunk I/O went through zarr's BatchedCodecPipeline")

    monkeypatch.setattr(BatchedCodecPipeline, "read", refuse)
    monkeypatch.setattr(BatchedCodecPipeline, "write", refuse)


def pipeline_of(z: zarr.Array) -> Any:
    return z._async_array.codec_pipeline


def run_python(code: str, *args: str, **env: str) -> str:
    """Run ``code`` with ``args`` (``sys.argv[1:]``) in a fresh interpreter, with extra environment
    variables; its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# -- registration ------------------------------------------------------------------------------------
def test_entry_point_names_the_pipeline() -> None:
    (entry,) = [e for e in entry_points(group="zarr.codec_pipeline") if e.name == "zarrs_cffi"]
    assert entry.load() is ZarrsCffiCodecPipeline


def test_public_name_and_config_resolve_to_the_pipeline(ours: None) -> None:
    assert zarrs_cffi.ZarrsCffiCodecPipeline is ZarrsCffiCodecPipeline
    assert zarr.registry.get_pipeline_class() is ZarrsCffiCodecPipeline
    assert issubclass(ZarrsCffiCodecPipeline, zarr.abc.codec.CodecPipeline)


def test_import_zarrs_cffi_does_not_import_zarr() -> None:
    out = run_python("import sys, zarrs_cffi; from zarrs_cffi import *; print('zarr' in sys.modules)")
    assert out == "False"


def test_environment_variable_turns_it_on_through_the_entry_point(tmp_path: Path) -> None:
    # A fresh process that never imports zarrs_cffi itself: zarr finds the class by entry point.
    code = (
        "import sys, zarr; z = zarr.create_array(sys.argv[1], shape=(4,), chunks=(2,), dtype='i2'); "
        "z[:] = 7; print(type(z._async_array.codec_pipeline).__name__, z[:].tolist())"
    )
    out = run_python(code, str(tmp_path / "a.zarr"), ZARR_CODEC_PIPELINE__PATH=OURS)
    assert out == "ZarrsCffiCodecPipeline [7, 7, 7, 7]"


def test_default_pipeline_is_untouched(tmp_path: Path) -> None:
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=(4,), chunks=(2,), dtype="i2")
    assert isinstance(pipeline_of(z), BatchedCodecPipeline)


# -- the native path ---------------------------------------------------------------------------------
def test_local_store_reads_and_writes_never_touch_zarrs_pipeline(
    tmp_path: Path, ours: None, no_batched: None
) -> None:
    data = np.arange(37 * 23, dtype="f8").reshape(37, 23)
    z = zarr.create_array(
        str(tmp_path / "a.zarr"), shape=data.shape, chunks=(8, 5), dtype="f8", fill_value=-1
    )
    assert pipeline_of(z).fallback_reason is None
    z[:] = data
    z[3:9, 4] = 0.5  # a partial-chunk write: read-modify-write natively
    data[3:9, 4] = 0.5
    z.oindex[[0, 36], ::7] = np.array([[1.0] * 4, [2.0] * 4])
    data[np.ix_([0, 36], range(0, 23, 7))] = np.array([[1.0] * 4, [2.0] * 4])
    z.vindex[[1, 2], [3, 4]] = -5
    data[[1, 2], [3, 4]] = -5
    np.testing.assert_array_equal(z[:], data)
    np.testing.assert_array_equal(z[5:30:4, :], data[5:30:4, :])
    np.testing.assert_array_equal(z.oindex[[30, 2, 2], [0, 22]], data[np.ix_([30, 2, 2], [0, 22])])
    np.testing.assert_array_equal(z.vindex[[36, 0, 5], [22, 0, 9]], data[[36, 0, 5], [22, 0, 9]])
    np.testing.assert_array_equal(z.blocks[1, 2], data[8:16, 10:15])
    np.testing.assert_array_equal(z.get_mask_selection(data > 400), data[data > 400])
    assert z[36, 22] == data[36, 22]


def test_basic_selection_decodes_straight_into_the_out_buffer(tmp_path: Path, ours: None) -> None:
    data = np.arange(60 * 40, dtype="u2").reshape(60, 40)
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=data.shape, chunks=(7, 9), dtype="u2")
    z[:] = data
    out = default_buffer_prototype().nd_buffer.create(shape=(50, 30), dtype=np.dtype("u2"), fill_value=0)
    target = out.as_ndarray_like()
    result = z.get_basic_selection((slice(5, 55), slice(3, 33)), out=out)
    assert result is target or np.shares_memory(result, target)
    np.testing.assert_array_equal(target, data[5:55, 3:33])


def test_local_store_chunks_go_natively_into_the_out_buffer(
    tmp_path: Path, ours: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No chunk key goes through zarr's LocalStore (the native library reads and writes the files),
    and the native read's destination is zarr's ``out`` buffer itself (its memory, not a copy)."""
    data = np.arange(60 * 40, dtype="u2").reshape(60, 40)
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=data.shape, chunks=(7, 9), dtype="u2")
    through_python: list[str] = []
    get, set_ = LocalStore.get, LocalStore.set

    async def spy_get(self: LocalStore, key: str, *args: Any, **kwargs: Any) -> Any:
        through_python.append(key)
        return await get(self, key, *args, **kwargs)

    async def spy_set(self: LocalStore, key: str, value: Any) -> None:
        through_python.append(key)
        await set_(self, key, value)

    destinations: list[int] = []
    read_into = zarrs_cffi.Array.read_into

    def spy_read_into(self: zarrs_cffi.Array, out: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        destinations.append(out.__array_interface__["data"][0])
        return read_into(self, out, *args, **kwargs)

    monkeypatch.setattr(LocalStore, "get", spy_get)
    monkeypatch.setattr(LocalStore, "set", spy_set)
    monkeypatch.setattr(zarrs_cffi.Array, "read_into", spy_read_into)
    z[:] = data
    out = default_buffer_prototype().nd_buffer.create(shape=(50, 30), dtype=np.dtype("u2"), fill_value=0)
    target = out.as_ndarray_like()
    z.get_basic_selection((slice(5, 55), slice(3, 33)), out=out)
    np.testing.assert_array_equal(target, data[5:55, 3:33])
    assert [key for key in through_python if "c/" in key] == []
    assert destinations == [target.__array_interface__["data"][0]]


def test_missing_chunks_read_as_the_fill_value(tmp_path: Path, ours: None) -> None:
    z = zarr.create_array(
        str(tmp_path / "a.zarr"), shape=(10, 10), chunks=(3, 3), dtype="f4", fill_value=np.nan
    )
    z[0:3, 0:3] = 1
    expected = np.full((10, 10), np.nan, dtype="f4")
    expected[0:3, 0:3] = 1
    np.testing.assert_array_equal(z[:], expected)
    np.testing.assert_array_equal(z.oindex[[0, 9], [1, 8]], expected[np.ix_([0, 9], [1, 8])])


def test_fill_value_chunks_are_not_stored(tmp_path: Path, ours: None) -> None:
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=(8,), chunks=(4,), dtype="i4", fill_value=3)
    z[:] = [3, 3, 3, 3, 1, 3, 3, 3]
    assert sorted(p.name for p in (tmp_path / "a.zarr" / "c").iterdir()) == ["1"]


def test_nan_chunks_are_dropped_when_their_bits_are_the_fill_values(tmp_path: Path) -> None:
    """What docs/zarr-pipeline.md says: chunks compare with the fill value bytewise here, by value
    in zarr. NaNs with the fill value's bits are dropped by both; another NaN (0/0 on x86 sets the
    sign bit) is stored by us, dropped by zarr; both read back NaN."""
    with np.errstate(invalid="ignore"):
        other_nan = np.zeros(4) / np.zeros(4)
    assert other_nan.tobytes() != np.full(4, np.nan).tobytes()
    stored = {}
    for name, config in [("zarr", {}), ("ours", {"codec_pipeline.path": OURS})]:
        with zarr.config.set(config):
            path = tmp_path / f"{name}.zarr"
            z = zarr.create_array(str(path), shape=(8,), chunks=(4,), dtype="f8", fill_value=np.nan)
            z[0:4] = np.full(4, np.nan)
            z[4:8] = other_nan
            stored[name] = sorted(p.name for p in (path / "c").iterdir()) if (path / "c").exists() else []
            assert np.isnan(z[:]).all()
    assert stored == {"zarr": [], "ours": ["1"]}


def test_write_empty_chunks_true_stores_every_chunk(tmp_path: Path, ours: None, caplog: Any) -> None:
    z = zarr.create_array(
        str(tmp_path / "a.zarr"), shape=(8,), chunks=(4,), dtype="i4", fill_value=0,
        config={"write_empty_chunks": True},
    )  # fmt: skip
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        z[:] = 0
    assert sorted(p.name for p in (tmp_path / "a.zarr" / "c").iterdir()) == ["0", "1"]
    assert "write_empty_chunks=True" in caplog.text


@pytest.mark.parametrize("shards", [None, (8, 8)])
def test_sharded_and_edge_chunks(tmp_path: Path, ours: None, no_batched: None, shards: Any) -> None:
    data = np.random.default_rng(1).integers(0, 1000, (19, 21)).astype("i8")
    z = zarr.create_array(
        str(tmp_path / "a.zarr"), shape=data.shape, chunks=(4, 4), shards=shards, dtype="i8"
    )
    z[:] = data
    z[17:, 3:19:5] = -1
    data[17:, 3:19:5] = -1
    np.testing.assert_array_equal(z[:], data)
    np.testing.assert_array_equal(z[1:18:3, 20], data[1:18:3, 20])


def _same_after_each_step(
    arrays: dict[str, zarr.Array], steps: list[Callable[[zarr.Array], Any]]
) -> list[np.ndarray]:
    """Run each step on every array under its pipeline (``arrays`` by pipeline path), checking
    after each that all read the same; the last results."""
    results: list[np.ndarray] = []
    for number, step in enumerate(steps):
        results = []
        for name, z in arrays.items():
            with zarr.config.set({"codec_pipeline.path": name}):
                step(z)
                results.append(z[:])
        for other in results[1:]:
            np.testing.assert_array_equal(results[0], other, err_msg=f"after step {number}")
    return results


@pytest.mark.parametrize(
    ("zarr_format", "shards"), [(3, None), (3, (4, 6)), (2, None)], ids=["v3", "v3-sharded", "v2"]
)
def test_arrays_grown_by_resize_and_append_are_read_and_written_whole(
    tmp_path: Path, zarr_format: int, shards: Any
) -> None:
    """zarr keeps an array's pipeline through resize() and append(): the chunks beyond the shape
    the pipeline was made for are written and read (they were dropped and refused). The same steps
    with zarr's own pipeline are the oracle, step by step."""
    arrays = {}
    for name in (OURS, "zarr.core.codec_pipeline.BatchedCodecPipeline"):
        with zarr.config.set({"codec_pipeline.path": name}):
            arrays[name] = zarr.create_array(
                str(tmp_path / f"{name}.zarr"), shape=(5, 6), chunks=(2, 3), shards=shards, dtype="i4",
                fill_value=0, zarr_format=zarr_format,
            )  # fmt: skip
    assert isinstance(pipeline_of(arrays[OURS]), ZarrsCffiCodecPipeline)
    steps: list[Callable[[zarr.Array], Any]] = [
        lambda z: z.__setitem__(slice(None), 1),
        lambda z: z.resize((11, 8)),
        lambda z: z.__setitem__(slice(None), 7),  # the whole grown array
        lambda z: z.__setitem__((10, 7), 3),
        lambda z: z.append(np.arange(16, dtype="i4").reshape(2, 8)),
        lambda z: z.resize((3, 4)),  # shrink, then grow again
        lambda z: z.resize((6, 9)),
        lambda z: z.__setitem__((slice(2, 6), slice(3, 9)), 5),
    ]
    results = _same_after_each_step(arrays, steps)
    assert results[0].shape == (6, 9) and (results[0] == 7).any() and (results[0] == 5).any()
    with zarr.config.set({"codec_pipeline.path": "zarr.core.codec_pipeline.BatchedCodecPipeline"}):
        np.testing.assert_array_equal(zarr.open_array(str(tmp_path / f"{OURS}.zarr"))[:], results[1])


@pytest.mark.parametrize(
    ("zarr_format", "shards"), [(3, None), (3, (6,)), (2, None)], ids=["v3", "v3-sharded", "v2"]
)
def test_an_array_grown_inside_its_last_chunk_is_written_and_read_whole(
    tmp_path: Path, zarr_format: int, shards: Any
) -> None:
    """Grown from 10 to 12 elements with chunks of 6: the chunk grid is the same, and the native
    array opened for 10 elements was kept, so writes of elements 10 and 11 were dropped and reads
    of them refused. zarr's own pipeline is the oracle, step by step."""
    arrays = {}
    for name in (OURS, "zarr.core.codec_pipeline.BatchedCodecPipeline"):
        with zarr.config.set({"codec_pipeline.path": name}):
            chunks = (3,) if shards else (6,)
            arrays[name] = zarr.create_array(
                str(tmp_path / f"{name}.zarr"), shape=(10,), chunks=chunks, shards=shards, dtype="i4",
                fill_value=0, zarr_format=zarr_format,
            )  # fmt: skip
    steps: list[Callable[[zarr.Array], Any]] = [
        lambda z: z.__setitem__(slice(None), np.arange(10, dtype="i4")),
        lambda z: z.resize((12,)),
        lambda z: z.__setitem__(slice(6, 12), 3),
        lambda z: z[11],
        lambda z: z.__setitem__(11, 4),
        lambda z: z.append(np.array([20, 21], dtype="i4")),
        lambda z: z.resize((13,)),
        lambda z: z.__setitem__(slice(8, 13), np.arange(5, dtype="i4")),
    ]
    results = _same_after_each_step(arrays, steps)
    assert results[0].tolist() == [0, 1, 2, 3, 4, 5, 3, 3, 0, 1, 2, 3, 4]


def test_values_with_leading_length_one_axes_are_written_as_numpy_assigns_them(tmp_path: Path) -> None:
    """z[0:4] = np.ones((1, 1, 4)): numpy assignment (and zarr's own pipeline) drops the leading
    length-1 axes; the native write refused it ("cannot be broadcast")."""
    results = []
    for name in (OURS, "zarr.core.codec_pipeline.BatchedCodecPipeline"):
        with zarr.config.set({"codec_pipeline.path": name}):
            z = zarr.create_array(str(tmp_path / f"{name}.zarr"), shape=(8, 3), chunks=(4, 3), dtype="i4")
            z[0:4] = np.ones((1, 1, 4, 3), "i4")
            z[5:6, 1:3] = np.array([[[7, 8]]], "i4")
            results.append(z[:])
    np.testing.assert_array_equal(results[0], results[1])
    assert results[0][5].tolist() == [0, 7, 8] and (results[0][:4] == 1).all()
    # Not into one element: numpy refuses "an array element with a sequence" there, as zarr does.
    with zarrs_cffi.open_array(str(tmp_path / f"{OURS}.zarr")) as arr:
        with pytest.raises(zarrs_cffi.InvalidArgumentError, match="cannot be broadcast"):
            arr[0, 0] = np.ones((1, 1), "i4")


@pytest.mark.parametrize(
    ("data_type", "fill_value"),
    [("float32", "0xffc00000"), ("float64", "0x7ff8000000000001"), ("float16", "0xfe01"),
     ("complex64", ["0x7fc00001", 1.5])],
)  # fmt: skip
def test_nan_fill_values_keep_their_bits(tmp_path: Path, data_type: str, fill_value: Any) -> None:
    """A NaN fill value stored in hex (sign and payload) reads back with its exact bits, as with
    zarr's own pipeline (zarr's metadata.to_dict() spells every NaN "NaN")."""
    (tmp_path / "zarr.json").write_text(
        json.dumps({
            "zarr_format": 3, "node_type": "array", "shape": [3], "data_type": data_type,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
            "chunk_key_encoding": {"name": "default"}, "fill_value": fill_value,
            "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
        })
    )  # fmt: skip
    results = []
    for name in (OURS, "zarr.core.codec_pipeline.BatchedCodecPipeline"):
        with zarr.config.set({"codec_pipeline.path": name}):
            z = zarr.open_array(str(tmp_path), mode="r")
            if name == OURS:
                assert pipeline_of(z).fallback_reason is None  # read natively
            values = z[:]
            assert np.isnan(values).all()
            results.append(values.view(f"u{z.dtype.itemsize}"))
    np.testing.assert_array_equal(results[0], results[1])


def test_zero_dimensional_array(tmp_path: Path, ours: None, no_batched: None) -> None:
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=(), chunks=(), dtype="c16", fill_value=0)
    z[()] = 1 + 2j
    assert z[()] == 1 + 2j
    assert z[...].shape == ()


def test_v2_fortran_order_and_big_endian(
    tmp_path: Path, ours: None, no_batched: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = np.arange(13 * 11, dtype=">i4").reshape(13, 11)
    z = zarr.create_array(
        str(tmp_path / "a.zarr"), shape=data.shape, chunks=(5, 4), dtype=">i4", zarr_format=2, order="F"
    )
    z[:] = data
    z[2:7, 1:3] = -data[2:7, 1:3]
    data[2:7, 1:3] *= -1
    np.testing.assert_array_equal(z[:], data)
    np.testing.assert_array_equal(z[4:12:2, 10], data[4:12:2, 10])
    # What zarr-python alone reads back from the stored bytes.
    monkeypatch.undo()
    with zarr.config.set({"codec_pipeline.path": "zarr.core.codec_pipeline.BatchedCodecPipeline"}):
        np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "a.zarr"), mode="r")[:], data)


def test_group_member_arrays_use_their_own_paths(tmp_path: Path, ours: None, no_batched: None) -> None:
    root = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    a = root.create_array("x/a", shape=(6,), chunks=(4,), dtype="u1")
    b = root.create_array("x/b", shape=(6,), chunks=(4,), dtype="u1")
    a[:] = 1
    b[:] = 2
    assert a[:].tolist() == [1] * 6
    assert b[:].tolist() == [2] * 6
    assert (tmp_path / "g.zarr" / "x" / "a" / "c" / "1").exists()


def test_thread_count_follows_set_num_threads(tmp_path: Path, ours: None, restore_threads: None) -> None:
    data = np.arange(64 * 64, dtype="i4").reshape(64, 64)
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=data.shape, chunks=(8, 8), dtype="i4")
    z[:] = data
    for threads in (1, 3):
        zarrs_cffi.set_num_threads(threads)
        assert zarrs_cffi.get_num_threads() == threads
        np.testing.assert_array_equal(z[:], data)


def _pool_cpu_ticks() -> int:
    """CPU time (clock ticks, user + system) spent so far by the native decode pool's threads
    (named "zarrs-cffi-<n>"; the I/O runtime's are "zarrs-cffi-io")."""
    ticks = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        if name.startswith("zarrs-cffi-") and name[len("zarrs-cffi-") :].isdigit():
            fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)"
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc")
def test_pipeline_reads_use_the_pool_threads_set_num_threads_allows(
    tmp_path: Path, ours: None, no_batched: None, restore_threads: None
) -> None:
    """With one thread a pipeline read decodes on its calling thread alone: the pool's threads
    spend no CPU time; with two, the pool's thread decodes part of the chunks."""
    data = np.random.default_rng(3).integers(0, 4000, size=(256, 256, 256), dtype="int32")
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=data.shape, chunks=(32, 32, 32), dtype="int32")
    z[:] = data
    out = np.empty_like(data)
    spent = {}
    for threads in (1, 2):
        zarrs_cffi.set_num_threads(threads)
        z.get_basic_selection(..., out=default_buffer_prototype().nd_buffer.from_numpy_array(out))
        before = _pool_cpu_ticks()
        for _ in range(3):
            out[...] = 0
            z.get_basic_selection(..., out=default_buffer_prototype().nd_buffer.from_numpy_array(out))
            np.testing.assert_array_equal(out, data)
        spent[threads] = _pool_cpu_ticks() - before
    assert spent[1] == 0, spent
    assert spent[2] > 0, spent


def test_large_strided_requests_run_chunks_on_threads(
    tmp_path: Path, ours: None, no_batched: None, restore_threads: None
) -> None:
    # Over 1 MiB of chunk boxes: the per-chunk path runs its chunks on the native thread count.
    zarrs_cffi.set_num_threads(3)
    data = np.random.default_rng(5).random((96, 96, 96))
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=data.shape, chunks=(32, 32, 32), dtype="f8")
    z[:] = data
    np.testing.assert_array_equal(z[::3, 1::5, ::2], data[::3, 1::5, ::2])
    np.testing.assert_array_equal(z.oindex[[0, 50, 95], :, ::7], data[[0, 50, 95]][:, :, ::7])
    z[::2, :, 5:90:4] = -data[::2, :, 5:90:4]
    data[::2, :, 5:90:4] *= -1
    np.testing.assert_array_equal(z[:], data)


# -- fallbacks ---------------------------------------------------------------------------------------
def test_memory_store_decodes_natively_with_a_debug_line(ours: None, no_batched: None, caplog: Any) -> None:
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        z = zarr.create_array(MemoryStore(), shape=(5,), chunks=(2,), dtype="i4")
        z[:] = np.arange(5)
        assert z[1:4].tolist() == [1, 2, 3]
    assert pipeline_of(z).fallback_reason is None
    assert "store MemoryStore has no native counterpart; chunk bytes go through it" in caplog.text


def test_unsupported_data_type_falls_back_naming_the_reason(tmp_path: Path, ours: None, caplog: Any) -> None:
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        z = zarr.create_array(str(tmp_path / "a.zarr"), shape=(3,), chunks=(2,), dtype="M8[s]")
    z[:] = np.array(["2020-01-01", "NaT", "1999-12-31"], dtype="M8[s]")
    assert z[2] == np.datetime64("1999-12-31")
    assert "datetime64" in pipeline_of(z).fallback_reason
    assert "datetime64" in caplog.text


def test_unsupported_codec_falls_back(tmp_path: Path, ours: None) -> None:
    # numcodecs' LZMA compressor is not among the native library's codecs.
    import numcodecs

    z = zarr.create_array(
        str(tmp_path / "a.zarr"), shape=(6,), chunks=(4,), dtype="f4", zarr_format=2,
        compressors=numcodecs.LZMA(),
    )  # fmt: skip
    z[:] = np.arange(6)
    assert z[:].tolist() == list(range(6))
    assert "codec lzma is not supported" in pipeline_of(z).fallback_reason


@pytest.mark.filterwarnings("ignore:Numcodecs codecs are not in the Zarr version 3")
@pytest.mark.parametrize("zarr_format", [2, 3])
def test_numcodecs_lz4_and_crc32_are_native(
    tmp_path: Path, ours: None, no_batched: None, zarr_format: int
) -> None:
    # Once fallbacks, now codecs of the native library (src/numcodecs_codecs.rs).
    import numcodecs
    import zarr.codecs.numcodecs as nc

    codecs: dict[str, Any] = (
        {"compressors": numcodecs.LZ4(), "filters": [numcodecs.CRC32()]}
        if zarr_format == 2
        else {"compressors": [nc.LZ4(), nc.CRC32()]}
    )
    path = str(tmp_path / "a.zarr")
    z = zarr.create_array(path, shape=(9, 5), chunks=(4, 3), dtype="i4", zarr_format=zarr_format, **codecs)
    data = np.arange(45, dtype="i4").reshape(9, 5)
    z[...] = data
    z[1:3, 2:4] = -7
    data[1:3, 2:4] = -7
    assert pipeline_of(z).fallback_reason is None
    np.testing.assert_array_equal(z[...], data)
    np.testing.assert_array_equal(zarrs_cffi.read(path), data)


@pytest.mark.filterwarnings("ignore:Numcodecs codecs are not in the Zarr version 3")
@pytest.mark.parametrize("zarr_format", [2, 3])
def test_numcodecs_quantize_and_astype_are_native(
    tmp_path: Path, ours: None, no_batched: None, zarr_format: int
) -> None:
    # Once fallbacks, now codecs of the native library (src/numcodecs_cast.rs).
    import numcodecs
    import zarr.codecs.numcodecs as nc

    filters: list[Any] = (
        [numcodecs.AsType(encode_dtype="f4", decode_dtype="f8"), numcodecs.Quantize(digits=2, dtype="f4")]
        if zarr_format == 2
        else [nc.Quantize(digits=2), nc.AsType(encode_dtype="f4", decode_dtype="f8")]
    )
    path = str(tmp_path / "a.zarr")
    z = zarr.create_array(
        path, shape=(9, 5), chunks=(4, 3), dtype="f8", zarr_format=zarr_format, filters=filters
    )
    data = np.linspace(-3, 3, 45).reshape(9, 5)
    z[...] = data
    z[1:3, 2:4] = 0.125
    assert pipeline_of(z).fallback_reason is None
    expected = data.copy()
    expected[1:3, 2:4] = 0.125
    got = z[...]
    np.testing.assert_allclose(got, expected, atol=0.01)
    assert not np.array_equal(got, expected)  # quantized
    np.testing.assert_array_equal(zarrs_cffi.read(path), got)


def test_strict_mode_raises_for_unsupported_data_types(tmp_path: Path, ours: None) -> None:
    strict = zarr.config.set({"codec_pipeline.strict": True})
    with strict, pytest.raises(zarrs_cffi.UnsupportedDataTypeError) as err:
        zarr.create_array(str(tmp_path / "a.zarr"), shape=(3,), chunks=(2,), dtype="M8[s]")
    assert "codec_pipeline.strict" in str(err.value)


def test_strict_mode_raises_for_unsupported_codecs(tmp_path: Path, ours: None) -> None:
    import numcodecs

    strict = zarr.config.set({"codec_pipeline.strict": True})
    with strict, pytest.raises(zarrs_cffi.InvalidMetadataError) as err:
        zarr.create_array(
            str(tmp_path / "a.zarr"), shape=(6,), chunks=(4,), dtype="f4", zarr_format=2,
            compressors=numcodecs.LZMA(),
        )  # fmt: skip
    assert "codec lzma is not supported" in str(err.value)


def test_strict_mode_from_the_environment(tmp_path: Path) -> None:
    code = (
        "import sys, zarr\ntry:\n zarr.create_array(sys.argv[1], shape=(3,), chunks=(2,), dtype='M8[s]')\n"
        "except Exception as e: print(type(e).__name__)"
    )
    path = str(tmp_path / "a.zarr")
    out = run_python(code, path, ZARR_CODEC_PIPELINE__PATH=OURS, ZARR_CODEC_PIPELINE__STRICT="True")
    assert out == "UnsupportedDataTypeError"


def test_strict_mode_keeps_supported_arrays_working(tmp_path: Path, ours: None) -> None:
    with zarr.config.set({"codec_pipeline.strict": True}):
        z = zarr.create_array(str(tmp_path / "a.zarr"), shape=(3,), chunks=(2,), dtype="u8")
        z[:] = 9
        assert z[:].tolist() == [9, 9, 9]
        m = zarr.create_array(MemoryStore(), shape=(3,), chunks=(2,), dtype="u8")
        m[:] = 4
        assert m[:].tolist() == [4, 4, 4]


def test_read_only_store_write_raises_zarrs_error(tmp_path: Path, ours: None) -> None:
    zarr.create_array(str(tmp_path / "a.zarr"), shape=(3,), chunks=(2,), dtype="u1")
    z = zarr.open_array(LocalStore(str(tmp_path / "a.zarr"), read_only=True), mode="r")
    with pytest.raises(ValueError, match="read-only"):
        z[:] = 1


def test_local_store_subclass_is_not_bypassed(tmp_path: Path, ours: None) -> None:
    seen: list[str] = []

    class CountingStore(LocalStore):
        async def get(self, key: str, *args: Any, **kwargs: Any) -> Any:
            seen.append(key)
            return await super().get(key, *args, **kwargs)

    z = zarr.create_array(CountingStore(str(tmp_path / "a.zarr")), shape=(4,), chunks=(2,), dtype="u1")
    z[:] = 5
    assert z[:].tolist() == [5] * 4
    assert "c/0" in seen


# -- pickling, equality ------------------------------------------------------------------------------
def test_arrays_with_the_pipeline_pickle(tmp_path: Path, ours: None) -> None:
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=(5,), chunks=(2,), dtype="i4")
    z[:] = np.arange(5)
    copy = pickle.loads(pickle.dumps(z))
    assert copy[:].tolist() == list(range(5))
    assert isinstance(pipeline_of(copy), ZarrsCffiCodecPipeline)
    assert pipeline_of(copy) == pipeline_of(z)
    assert hash(pipeline_of(copy)) == hash(pipeline_of(z))


def test_pipeline_answers_codec_questions_like_zarrs(tmp_path: Path, ours: None) -> None:
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=(5,), chunks=(2,), dtype="i4", compressors=None)
    ours_pipeline = pipeline_of(z)
    theirs = BatchedCodecPipeline.from_codecs(z.metadata.codecs)
    assert [json.dumps(c.to_dict()) for c in ours_pipeline] == [json.dumps(c.to_dict()) for c in theirs]
    spec = ArraySpec(
        shape=(2,),
        dtype=z.metadata.data_type,
        fill_value=0,
        config=ArrayConfig.from_dict({}),
        prototype=default_buffer_prototype(),
    )
    assert ours_pipeline.compute_encoded_size(8, spec) == theirs.compute_encoded_size(8, spec) == 8
    assert "native" in repr(ours_pipeline)


DEFAULT = "zarr.core.codec_pipeline.BatchedCodecPipeline"


def _shrink_write_grow(
    store: Any, zarr_format: int, reopen: bool, pipeline: str, sharded: bool = False
) -> tuple[list[int], list[str]]:
    layout: dict[str, Any] = {"chunks": (2,), "shards": (4,)} if sharded else {"chunks": (4,)}
    with zarr.config.set({"codec_pipeline.path": pipeline}):
        z = zarr.create_array(store, shape=(10,), dtype="i4", fill_value=0, zarr_format=zarr_format, **layout)
        z[:] = 1
        z.resize((6,))
        if reopen:
            z = zarr.open_array(store, mode="r+")
        z[4:6] = 2  # all of the edge chunk's elements inside the array: zarr writes it fresh
        z.resize((10,))
        values = z[:].tolist()
    if isinstance(store, MemoryStore):
        keys = sorted(store._store_dict)
    else:
        keys = sorted(
            p.relative_to(store.root).as_posix() for p in Path(store.root).rglob("*") if p.is_file()
        )
    return values, [k for k in keys if not k.endswith((".json", ".zarray", ".zattrs", ".zgroup"))]


@pytest.mark.parametrize("reopen", [False, True])
@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("kind", ["local", "memory"])
def test_an_edge_chunk_written_whole_after_shrinking_is_fresh(
    tmp_path: Path, kind: str, zarr_format: int, reopen: bool
) -> None:
    """Shrink, write an edge chunk's elements, grow: zarr's pipeline wrote the chunk fresh (fill
    past the edge); ours read-modify-wrote it natively, and the old 1s past the edge came back."""
    results = []
    for pipeline in (DEFAULT, OURS):
        store = LocalStore(str(tmp_path / pipeline)) if kind == "local" else MemoryStore()
        results.append(_shrink_write_grow(store, zarr_format, reopen, pipeline))
    assert results[0][0] == [1, 1, 1, 1, 2, 2, 0, 0, 0, 0]
    assert results[1] == results[0]


@pytest.mark.parametrize("reopen", [False, True])
def test_an_edge_shard_keeps_its_unwritten_inner_chunks_as_zarr_does(tmp_path: Path, reopen: bool) -> None:
    """Sharded: zarr encodes only the inner chunks written, so the shard's other inner chunks
    (past the edge too) keep what is stored; writing the edge shard fresh lost them."""
    results = [
        _shrink_write_grow(LocalStore(str(tmp_path / p)), 3, reopen, p, sharded=True) for p in (DEFAULT, OURS)
    ]
    assert results[0][0] == [1, 1, 1, 1, 2, 2, 1, 1, 0, 0]
    assert results[1] == results[0]


def test_a_whole_write_of_an_array_with_edge_chunks_stays_one_region_write(
    ours: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The edge chunks are written fresh, the rest of the batch stays one native region write
    (it went chunk by chunk, twice as slow)."""
    z = zarr.create_array(LocalStore(str(tmp_path / "e")), shape=(21, 21), chunks=(4, 4), dtype="i4")
    data = np.arange(21 * 21, dtype="i4").reshape(21, 21)
    writes: list[Any] = []
    real = zarrs_cffi.Array.write

    def spy(self: Any, region: Any, value: Any) -> None:
        writes.append(region)
        real(self, region, value)

    monkeypatch.setattr(zarrs_cffi.Array, "write", spy)
    z[:] = data
    monkeypatch.undo()
    assert writes == [(slice(0, 20), slice(0, 20))]
    np.testing.assert_array_equal(z[:], data)


@pytest.mark.parametrize("shape", [(0,), (0, 5), (5, 0)])
def test_arrays_created_empty_grow_in_stores_without_a_native_counterpart(
    ours: None, shape: tuple[int, ...]
) -> None:
    """The pipeline decodes and encodes every chunk of a MemoryStore array as its chunk 0, which an
    array with an axis of length 0 had not: append raised InvalidIndicesError."""
    chunks = tuple(max(n, 1) if n else 2 for n in shape)
    z = zarr.create_array(MemoryStore(), shape=shape, chunks=chunks, dtype="i2", fill_value=5)
    assert pipeline_of(z).fallback_reason is None
    axis = shape.index(0)
    more = list(shape)
    more[axis] = 3
    data = np.arange(int(np.prod(more)), dtype="i2").reshape(more)
    z.append(data, axis=axis)
    np.testing.assert_array_equal(z[...], data)
    z.resize(tuple(n + 1 for n in more))
    assert z[...][tuple(slice(n, None) for n in more)].tolist() in ([[5]], [5])


def test_a_relative_local_root_that_looks_like_a_url(
    ours: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LocalStore("file:/abs") is the directory "file:" below the working directory; the pipeline
    parsed the text as the URL of /abs, and wrote the chunks there."""
    monkeypatch.chdir(tmp_path)
    elsewhere = tmp_path / "elsewhere"  # where the misread URL points (kept inside tmp_path)
    z = zarr.create_array(LocalStore(f"file:{elsewhere}"), shape=(4,), chunks=(2,), dtype="i4")
    z[:] = [1, 2, 3, 4]
    inside = tmp_path / "file:" / elsewhere.relative_to("/")
    assert sorted(p.name for p in (inside / "c").iterdir()) == ["0", "1"]
    assert not elsewhere.exists()


def test_zip_members_the_native_reader_cannot_decompress(ours: None, tmp_path: Path) -> None:
    """A ZipStore written with zipfile.ZIP_LZMA: its members go through zarr's store (the native
    zip reader raised StorageError), their chunks are still decoded natively."""
    import zipfile

    path = str(tmp_path / "a.zip")
    writer = zarr.storage.ZipStore(path, mode="w", compression=zipfile.ZIP_LZMA)
    with zarr.config.set({"codec_pipeline.path": DEFAULT}):
        zarr.create_array(writer, shape=(4,), chunks=(2,), dtype="i4")[:] = [1, 2, 3, 4]
    writer.close()
    z = zarr.open_array(zarr.storage.ZipStore(path, mode="r", read_only=True), mode="r")
    assert pipeline_of(z).fallback_reason is None
    assert z[:].tolist() == [1, 2, 3, 4]
