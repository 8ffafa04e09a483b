"""ZarrsCffiCodecPipeline against zarr's own BatchedCodecPipeline on random arrays and selections.

Random Zarr v2/v3 arrays in a LocalStore (shapes with edge chunks, shards, data types, byte orders,
memory orders, compressors and filters the native library takes, fill values, absent chunks) and
random selections of every kind zarr offers (basic with steps, orthogonal, coordinate, mask,
blocks). Reads through our pipeline must equal numpy's answer on the data; writes through our
pipeline must leave exactly the array, and the same stored chunk keys, that zarr's pipeline leaves.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from zarr.testing.strategies import basic_indices, orthogonal_indices

from zarrs_cffi.zarr_pipeline import ZarrsCffiCodecPipeline

OURS = "zarrs_cffi.ZarrsCffiCodecPipeline"
DEFAULT = "zarr.core.codec_pipeline.BatchedCodecPipeline"

# ZARRS_CFFI_PIPELINE_EXAMPLES=1000 for a deeper search than the default run's.
SETTINGS = settings(
    max_examples=int(os.environ.get("ZARRS_CFFI_PIPELINE_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

V3_DTYPES = ["bool", "int8", "uint16", "int32", "int64", "float32", "float64", "complex64"]
V2_DTYPES = ["|b1", "|i1", "<u2", ">i4", "<i8", ">f4", "<f8", "<c16"]


@contextmanager
def pipeline(path: str) -> Iterator[None]:
    with zarr.config.set({"codec_pipeline.path": path}):
        yield


@st.composite
def array_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Keyword arguments for ``zarr.create_array`` (store excluded)."""
    zarr_format = draw(st.sampled_from([2, 3]))
    ndim = draw(st.integers(0, 3))
    shape = tuple(draw(st.integers(0 if ndim else 1, 11)) for _ in range(ndim))
    chunks = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
    spec: dict[str, Any] = {"shape": shape, "chunks": chunks, "zarr_format": zarr_format}
    if zarr_format == 3:
        spec["dtype"] = draw(st.sampled_from(V3_DTYPES))
        spec["compressors"] = draw(
            st.sampled_from([None, "auto", zarr.codecs.GzipCodec(level=1), zarr.codecs.BloscCodec()])
        )
        if ndim and draw(st.booleans()):
            spec["shards"] = tuple(c * draw(st.integers(1, 3)) for c in chunks)
    else:
        spec["dtype"] = draw(st.sampled_from(V2_DTYPES))
        spec["order"] = draw(st.sampled_from(["C", "F"]))
        spec["compressors"] = draw(
            st.sampled_from([None, numcodecs.Zstd(level=1), numcodecs.Blosc(shuffle=2), numcodecs.BZ2(1)])
        )
    if draw(st.booleans()):
        spec["fill_value"] = draw(st.sampled_from([0, 1, 7]))
    return spec


def random_data(draw: st.DrawFn, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    seed = draw(st.integers(0, 2**32 - 1))
    values = np.random.default_rng(seed).integers(0, 4, size=shape)  # small values: fill-equal chunks happen
    return values.astype(dtype)


@st.composite
def selections(draw: st.DrawFn, spec: dict[str, Any]) -> tuple[str, Any, Any]:
    """(kind, zarr selection, numpy selection equivalent; None for blocks)."""
    shape = spec["shape"]
    kinds = ["basic"]
    if shape:
        kinds += ["orthogonal"]
        if all(shape):
            kinds += ["coordinate", "mask", "blocks"]
    kind = draw(st.sampled_from(kinds))
    if kind == "basic":
        index = draw(basic_indices(shape=shape))
        return kind, index, index
    if kind == "orthogonal":
        zindex, npindex = draw(orthogonal_indices(shape=shape))
        return kind, zindex, npindex
    if kind == "coordinate":
        n = draw(st.integers(1, 6))
        coords = tuple(np.array(draw(st.lists(st.integers(0, s - 1), min_size=n, max_size=n))) for s in shape)
        return kind, coords, coords
    if kind == "mask":
        seed = draw(st.integers(0, 2**32 - 1))
        mask = np.random.default_rng(seed).random(shape) < 0.3
        return kind, mask, mask
    stored = spec.get("shards") or spec["chunks"]
    grid = tuple(-(-n // c) for n, c in zip(shape, stored))
    blocks = []
    for n in grid:  # zarr's block indexing takes ints and step-1 slices
        start = draw(st.integers(0, n - 1))
        blocks.append(start if draw(st.booleans()) else slice(start, draw(st.integers(start + 1, n))))
    return kind, tuple(blocks), None


def writes_an_element_twice(kind: str, selection: Any, shape: tuple[int, ...]) -> bool:
    """Whether a selection names one element more than once: repeated points, or an orthogonal
    axis with a repeated index (negative indices counted from the end)."""
    if kind == "coordinate":
        return len(set(zip(*(c.tolist() for c in selection)))) < len(selection[0])
    if kind == "orthogonal":
        for axis, n in zip(selection, shape):
            if isinstance(axis, np.ndarray) and axis.dtype != bool:
                indices = [i % n for i in axis.tolist()]
                if len(set(indices)) < len(indices):
                    return True
    return False


def zarr_get(z: zarr.Array, kind: str, selection: Any) -> Any:
    if kind == "basic":
        return z[selection]
    if kind == "orthogonal":
        return z.oindex[selection]
    if kind == "coordinate":
        return z.vindex[selection]
    if kind == "mask":
        return z.get_mask_selection(selection)
    return z.blocks[selection]


def zarr_set(z: zarr.Array, kind: str, selection: Any, value: Any) -> None:
    if kind == "basic":
        z[selection] = value
    elif kind == "orthogonal":
        z.oindex[selection] = value
    elif kind == "coordinate":
        z.vindex[selection] = value
    elif kind == "mask":
        z.set_mask_selection(selection, value)
    else:
        z.blocks[selection] = value


def create(root: Path, name: str, spec: dict[str, Any], data: np.ndarray) -> zarr.Array:
    """An array made and filled by zarr's default pipeline."""
    with pipeline(DEFAULT):
        z = zarr.create_array(str(root / name), **spec)
        z[...] = data
    return z


def chunk_keys(root: Path, name: str) -> list[str]:
    base = root / name
    return sorted(
        str(p.relative_to(base))
        for p in base.rglob("*")
        if p.is_file() and not p.name.startswith((".z", "zarr."))
    )


def open_with(pipeline_path: str, path: Path, mode: str) -> zarr.Array:
    """The array at ``path`` opened with the given pipeline; ours must serve it natively."""
    with pipeline(pipeline_path):
        z = zarr.open_array(str(path), mode=mode)
    if pipeline_path == OURS:
        assert isinstance(z._async_array.codec_pipeline, ZarrsCffiCodecPipeline)
        assert z._async_array.codec_pipeline.fallback_reason is None
    return z


@contextmanager
def drawn_array(data: st.DataObject) -> Iterator[tuple[Path, dict[str, Any], np.ndarray]]:
    """A temporary directory, a drawn array spec and drawn contents for it."""
    spec = data.draw(array_specs(), label="spec")
    contents = random_data(data.draw, spec["shape"], np.dtype(spec["dtype"]))
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp), spec, contents


@SETTINGS
@given(st.data())
def test_reads_equal_numpy(data: st.DataObject) -> None:
    with drawn_array(data) as (root, spec, expected):
        create(root, "a", spec, expected)
        z = open_with(OURS, root / "a", "r")
        for _ in range(3):
            kind, selection, np_selection = data.draw(selections(spec), label="selection")
            got = zarr_get(z, kind, selection)
            if kind == "blocks":
                want = zarr_get(open_with(DEFAULT, root / "a", "r"), kind, selection)
            else:
                want = expected[np_selection]
            np.testing.assert_array_equal(np.asarray(got), want)
            assert np.asarray(got).shape == np.asarray(want).shape


@SETTINGS
@given(st.data())
def test_writes_equal_zarrs_pipeline(data: st.DataObject) -> None:
    with drawn_array(data) as (root, spec, initial):
        dtype = initial.dtype
        create(root, "ours", spec, initial)
        create(root, "theirs", spec, initial)
        ours = open_with(OURS, root / "ours", "r+")
        theirs = open_with(DEFAULT, root / "theirs", "r+")
        for _ in range(2):
            kind, selection, _ = data.draw(selections(spec), label="selection")
            with pipeline(DEFAULT):
                shape = np.asarray(zarr_get(theirs, kind, selection)).shape
            if writes_an_element_twice(kind, selection, spec["shape"]):
                # Which of several values written to one element is kept is unspecified: zarr's own
                # pipeline and ours may keep different ones (hypothesis runs found such cases).
                reject()
            scalar = data.draw(st.booleans(), label="scalar value")
            value = random_data(data.draw, () if scalar else shape, dtype)
            with pipeline(DEFAULT):
                try:
                    zarr_set(theirs, kind, selection, value)
                except (ValueError, IndexError):
                    # zarr's own pipeline rejects some writes (orthogonal writes with repeated
                    # indices); those are not a reference to compare with.
                    reject()
            zarr_set(ours, kind, selection, value)
        np.testing.assert_array_equal(
            open_with(DEFAULT, root / "ours", "r")[...], open_with(DEFAULT, root / "theirs", "r")[...]
        )
        assert chunk_keys(root, "ours") == chunk_keys(root, "theirs")


@pytest.mark.parametrize(
    "filters",
    [
        [numcodecs.FixedScaleOffset(offset=3, scale=10, dtype="<f8", astype="<i4")],
        [numcodecs.Shuffle(elementsize=8)],
    ],
    ids=["fixedscaleoffset", "shuffle"],
)
def test_v2_filters_the_native_library_takes_decode_like_numcodecs(
    tmp_path: Path, filters: list[Any]
) -> None:
    expected = np.linspace(0, 50, 97).round(1).reshape(97)
    z = create(
        tmp_path,
        "a",
        {"shape": (97,), "chunks": (10,), "dtype": "<f8", "zarr_format": 2, "filters": filters},
        expected,
    )
    ours = open_with(OURS, tmp_path / "a", "r")
    with pipeline(DEFAULT):
        theirs = z[:]
    np.testing.assert_array_equal(ours[:], theirs)
    np.testing.assert_array_equal(ours[5:60:7], theirs[5:60:7])
