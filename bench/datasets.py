"""Benchmark datasets: their specs, deterministic contents and one-time generation.

Every dataset is a Zarr v3 array written once by zarr-python (default pipeline)
under ``bench/data/<size>/<name>``, where ``<size>`` is ``full`` or ``quick``.
A stamp file beside each array records the parameters it was written with; an
array whose stamp matches is reused, anything else is rewritten.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"
GENERATOR_VERSION = 1  # bump when the contents or codec settings change


@dataclass(frozen=True)
class DatasetSpec:
    """One benchmark array: shape, chunking and compression."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    chunks: tuple[int, ...]  # read chunks (inner chunks when sharded)
    compressor: str | None  # "zstd", "zstd0" (level 0), "blosc", "gzip" or None
    shards: tuple[int, ...] | None = None
    description: str = ""
    # "noise": a ramp plus noise (compresses 1.05-1.4x); "zarrs_benchmark": the smooth data of
    # zarrs' published benchmark (zarrs/zarr_benchmarks), which compresses well.
    content: str = "noise"

    @property
    def nbytes(self) -> int:
        """Size of the whole array in bytes."""
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    def stamp(self) -> dict:
        """Parameters that decide the stored bytes."""
        return {"generator": GENERATOR_VERSION, **asdict(self)}


def all_specs(quick: bool) -> list[DatasetSpec]:
    """The benchmark's datasets: full size, or tiny ones for smoke runs."""
    n, c, s, sc = (64, 16, 32, 8) if quick else (512, 64, 256, 32)
    shape3, chunk3 = (n,) * 3, (c,) * 3
    shape2 = (512, 512) if quick else (16384, 8192)  # same element count as n**3
    chunk2 = (128, 128) if quick else (1024, 1024)
    u16 = "uint16"
    return [
        DatasetSpec("u16_raw", shape3, u16, chunk3, None, None, "uncompressed"),
        DatasetSpec("u16_zstd", shape3, u16, chunk3, "zstd", None, "zstd"),
        DatasetSpec("u16_blosc", shape3, u16, chunk3, "blosc", None, "blosc-lz4 + shuffle"),
        DatasetSpec("u16_gzip", shape3, u16, chunk3, "gzip", None, "gzip"),
        DatasetSpec(
            "u16_sharded",
            shape3,
            u16,
            (sc,) * 3,
            "zstd",
            (s,) * 3,
            f"{s}^3 shards of {sc}^3 zstd chunks",
        ),
        DatasetSpec("f32_2d_zstd", shape2, "float32", chunk2, "zstd", None, "2-D float32, zstd"),
        # zarrs' published benchmark data: (x + y*y // 32 + z**3) % 65536, z the first axis.
        DatasetSpec(
            "zb_zstd", shape3, u16, (n // 2,) * 3, "zstd0", None, "zarr_benchmarks, zstd 0", "zarrs_benchmark"
        ),
        DatasetSpec(
            "zb_sharded",
            shape3,
            u16,
            (c,) * 3,
            "zstd0",
            (n // 2,) * 3,
            "zarr_benchmarks, sharded, zstd 0",
            "zarrs_benchmark",
        ),
    ]


def slab_rows(spec: DatasetSpec) -> int:
    """Rows along axis 0 written at once: whole shards/chunks, so no rewrite."""
    return (spec.shards or spec.chunks)[0]


def slab(spec: DatasetSpec, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` (axis 0) of the dataset's deterministic contents.

    A smooth ramp plus a little noise: compressible, but not trivially so.
    The noise depends only on the row, so any slab split gives the same data.
    """
    rest = spec.shape[1:]
    if spec.content == "zarrs_benchmark":
        z, y, x = np.ogrid[start:stop, : rest[0], : rest[1]]
        return ((x + y * y // 32 + z**3) % 65536).astype(spec.dtype)
    out = np.empty((stop - start, *rest), dtype=spec.dtype)
    grids = np.meshgrid(*[np.arange(n) for n in rest], indexing="ij", sparse=True)
    for i, row in enumerate(range(start, stop)):
        rng = np.random.default_rng(row)
        if spec.dtype == "uint16":
            base = (row + 2 * grids[0] + 3 * grids[1]) & 1023
            out[i] = base + rng.integers(0, 32, size=rest, dtype=np.uint16)
        else:
            wave = np.sin((row + grids[0]) / 97.0) * np.cos(row / 53.0)
            noise = rng.standard_normal(rest, dtype=np.float32) * 0.05
            out[i] = np.round((wave + noise) * 256.0) / 256.0
    return out


def full_data(spec: DatasetSpec) -> np.ndarray:
    """The whole dataset in memory (the reference every engine is checked against)."""
    return slab(spec, 0, spec.shape[0])


def _codec_args(spec: DatasetSpec) -> dict:
    from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

    compressors = {
        None: None,
        "zstd": ZstdCodec(level=3),
        "zstd0": ZstdCodec(level=0),
        "gzip": GzipCodec(level=5),
        "blosc": BloscCodec(cname="lz4", clevel=5, shuffle="shuffle", typesize=2),
    }[spec.compressor]
    args = {"chunks": spec.chunks, "compressors": compressors}
    if spec.shards:
        args["shards"] = spec.shards
    return args


def data_root(quick: bool) -> Path:
    """Store root (a Zarr group) holding every dataset of one size."""
    return DATA_DIR / ("quick" if quick else "full")


def _stamp_path(root: Path, spec: DatasetSpec) -> Path:
    return root / f"{spec.name}.stamp.json"


def is_current(root: Path, spec: DatasetSpec) -> bool:
    """True if the stored array was written with exactly these parameters."""
    path = _stamp_path(root, spec)
    if not path.exists() or not (root / spec.name / "zarr.json").exists():
        return False
    return json.loads(path.read_text()) == json.loads(json.dumps(spec.stamp()))


def generate(root: Path, spec: DatasetSpec, log=print) -> None:
    """Write one dataset with zarr-python, slab by slab, then its stamp."""
    import zarr

    root.mkdir(parents=True, exist_ok=True)
    if not (root / "zarr.json").exists():
        zarr.open_group(store=str(root), mode="a", zarr_format=3)
    _stamp_path(root, spec).unlink(missing_ok=True)
    shutil.rmtree(root / spec.name, ignore_errors=True)
    log(f"  writing {spec.name} {spec.shape} {spec.dtype} ({spec.description})")
    arr = zarr.create_array(
        store=str(root),
        name=spec.name,
        shape=spec.shape,
        dtype=spec.dtype,
        fill_value=0,
        zarr_format=3,
        overwrite=True,
        **_codec_args(spec),
    )
    step = slab_rows(spec)
    for start in range(0, spec.shape[0], step):
        stop = min(start + step, spec.shape[0])
        arr[start:stop] = slab(spec, start, stop)
    _stamp_path(root, spec).write_text(json.dumps(spec.stamp(), indent=1))


def ensure(specs: list[DatasetSpec], quick: bool, log=print) -> Path:
    """Generate whichever datasets are missing or stale; return the store root."""
    root = data_root(quick)
    for spec in specs:
        if is_current(root, spec):
            log(f"  reusing {spec.name}")
        else:
            generate(root, spec, log)
    return root


def warm_page_cache(root: Path, spec: DatasetSpec) -> int:
    """Read every stored file of ``spec``'s array (untimed) so timed reads find it in the page
    cache even on machines that page out file cache left idle (e.g. a DAMON ``pageout`` scheme);
    returns the bytes read."""
    total = 0
    for path in (Path(root) / spec.name).rglob("*"):
        if path.is_file():
            with path.open("rb") as f:
                while chunk := f.read(1 << 22):
                    total += len(chunk)
    return total
