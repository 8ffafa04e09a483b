"""The remote benchmark: the same datasets served over S3 by moto on loopback, once plain and
once behind an injected latency (20 ms a request round trip by default).

    bench/.venv/bin/python bench/remote.py [--only DS,...] [--rounds 3] [--regions 2000]
        [--latency-ms 20] [--latency-via auto|netem|proxy] [--modes plain,latency]
        [--engines E,...] [--workloads read_into,chunks,regions,write] [--out PATH]

Per mode: moto's S3 server starts as a child process (``remote_servers.py``), the datasets'
files are uploaded to it, and every engine reads them through its own S3 client:

* zarrs_cffi: ``open_array("s3://bucket/prefix", "/name", storage_options=...)``;
* zarr-python 3.1.6: ``zarr.storage.ObjectStore`` over obstore's ``S3Store``;
* zarrs-python: the same store, ``codec_pipeline.path = zarrs.ZarrsCodecPipeline`` while opening;
* tensorstore: the ``zarr3`` driver on its ``s3`` kvstore (endpoint and region set).

Latency: ``netem`` puts moto and the measurements in a network namespace whose loopback delays
every packet by half the latency (``tc qdisc ... netem delay``; this script re-runs itself inside
``ip netns exec`` and always deletes the namespace); ``proxy`` puts a TCP proxy in front of moto
that delays all data by half the latency each way (``remote_servers.py``); ``auto`` (default)
uses netem where the kernel has it, else the proxy.

Workloads (each engine's array opened once, untimed, then a warm-up read): ``read_into`` (the
whole array into a preallocated buffer), ``chunks`` (every stored chunk, a shard when sharded,
read as a new array, one call each), ``regions`` (N random 8x8x8 regions, one call each, each
into its own small buffer), ``write`` (the whole array into an empty array under a new prefix:
open + write). Engines take turns in an order that changes every round (``order.py``); times are
medians over the rounds; the first round's results are compared with the reference data
(untimed). Beside every time: the requests moto served during the call, the peak number in
flight, the bytes moved and the ideal time ``bytes / loopback bandwidth + latency x request
rounds`` (see the report's notes). Two rows are not peers: ``floor:fetch`` (every stored object
fetched by obstore, 32 at once, nothing decoded: what the server allows) and
``zarrs_cffi:read_chunk`` (the chunk scan without zarrs_cffi's chunk cache).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as run.py: numpy's idle BLAS threads spin

import argparse
import contextlib
import datetime
import json
import math
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import ClassVar

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import datasets  # noqa: E402
import engines  # noqa: E402
import order  # noqa: E402
import workloads  # noqa: E402

BUCKET = "zc-bench"
REGION = "us-east-1"
KEY_ID, SECRET = "zc-bench-key", "zc-bench-secret"  # moto accepts any credentials
NETNS = "zc-bench"
STATS_PATH = "/__zc_bench__/stats"
DEFAULT_ONLY = "u16_zstd,zb_sharded"
WORKLOADS = {
    "read_into": "whole array into a preallocated buffer",
    "chunks": "every stored chunk, one call each, new arrays",
    "regions": "random 8x8x8 regions, one call each",
    "write": "whole-array write (open + write, new prefix)",
}
ENGINE_NAMES = ["zarrs_cffi", "zarr-python", "zarrs-python", "tensorstore"]
PEERS = ENGINE_NAMES[1:]
PSEUDO = ["zarrs_cffi:read_chunk", "floor:fetch"]  # rows that are not peers
PACKAGES = {
    "zarrs_cffi": "zarrs_cffi",
    "zarr-python": "zarr",
    "zarrs-python": "zarrs",
    "tensorstore": "tensorstore",
}
BANDWIDTH_BYTES = 64 << 20
SETTLE_SECONDS = 0.05


def log(msg: str) -> None:
    """Progress line, flushed at once."""
    print(msg, flush=True)


# --------------------------------------------------------------------------------------------
# servers


def _spawn(args: list[str]) -> tuple[subprocess.Popen, int]:
    """Start ``remote_servers.py ARGS`` and return it with the port it printed."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "remote_servers.py"), *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"remote_servers.py {' '.join(args)} did not start: {line!r}")
    return proc, int(line.split()[1])


@dataclass
class Servers:
    """moto (and the delay proxy, if any) for one mode; ``endpoint`` is what clients use."""

    mode: str
    latency: float  # injected request round trip, seconds (0 when plain)
    via: str  # "none", "proxy" or "netem"
    server: str
    procs: list = field(default_factory=list)
    moto_url: str = ""
    endpoint: str = ""

    def start(self) -> Servers:
        moto, port = _spawn(["moto", "--server", self.server])
        self.procs.append(moto)
        self.moto_url = self.endpoint = f"http://127.0.0.1:{port}"
        if self.via == "proxy":
            proxy, pport = _spawn(
                ["proxy", "--upstream-port", str(port), "--delay-ms", str(self.latency * 500)]
            )
            self.procs.append(proxy)
            self.endpoint = f"http://127.0.0.1:{pport}"
        return self

    def stop(self) -> None:
        for proc in reversed(self.procs):  # only the processes this object started
            proc.kill()
            proc.wait()
        self.procs.clear()

    @property
    def one_way(self) -> float:
        """One-way delay added to each direction."""
        return self.latency / 2

    def records(self) -> list:
        """moto's request log since the last call (and empty it)."""
        with urllib.request.urlopen(self.moto_url + STATS_PATH, timeout=60) as resp:
            return json.loads(resp.read())["records"]

    def boto(self, direct: bool = True):
        """A boto3 S3 client, straight to moto or through the mode's endpoint."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.moto_url if direct else self.endpoint,
            region_name=REGION,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
            config=Config(max_pool_connections=32, retries={"max_attempts": 2}),
        )


def upload(servers: Servers, root: Path, specs) -> dict:
    """Put the store root's group metadata and each dataset's files into the bucket (parallel)."""
    s3 = servers.boto()
    with contextlib.suppress(Exception):
        s3.create_bucket(Bucket=BUCKET)
    files = [root / "zarr.json"] + [
        p for spec in specs for p in sorted((root / spec.name).rglob("*")) if p.is_file()
    ]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda p: s3.put_object(
                    Bucket=BUCKET, Key=f"data/{p.relative_to(root).as_posix()}", Body=p.read_bytes()
                ),
                files,
            )
        )
    servers.records()
    return {
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
        "seconds": time.perf_counter() - t0,
    }


def measure_network(servers: Servers) -> dict:
    """Loopback bandwidth through moto (and the proxy): the best of five GETs of a 64 MiB object
    on a warm connection, less one injected round trip; and the median round trip of a 1-byte GET."""
    direct = servers.boto()
    direct.put_object(Bucket=BUCKET, Key="net/big", Body=np.random.default_rng(0).bytes(BANDWIDTH_BYTES))
    direct.put_object(Bucket=BUCKET, Key="net/tiny", Body=b"x")
    s3 = servers.boto(direct=False)
    s3.head_object(Bucket=BUCKET, Key="net/tiny")  # connect
    small = []
    for _ in range(21):
        t0 = time.perf_counter()
        s3.get_object(Bucket=BUCKET, Key="net/tiny")["Body"].read()
        small.append(time.perf_counter() - t0)
    big = []
    for _ in range(5):
        t0 = time.perf_counter()
        n = len(s3.get_object(Bucket=BUCKET, Key="net/big")["Body"].read())
        big.append(time.perf_counter() - t0)
    assert n == BANDWIDTH_BYTES
    best = min(big)
    servers.records()
    return {
        "bandwidth": BANDWIDTH_BYTES / max(best - servers.latency, 1e-6),
        "big_get_seconds": best,
        "small_get_rtt": statistics.median(small),
    }


# --------------------------------------------------------------------------------------------
# where an array lives


@dataclass
class Place:
    """A store root in the bucket (``data`` for the datasets, a fresh prefix for each write)."""

    servers: Servers
    prefix: str

    def url(self) -> str:
        return f"s3://{BUCKET}/{self.prefix}"

    def storage_options(self) -> dict:
        return {
            "endpoint": self.servers.endpoint,
            "region": REGION,
            "allow_http": True,
            "virtual_hosted_style_request": False,
            "access_key_id": KEY_ID,
            "secret_access_key": SECRET,
        }

    def zarr_store(self, read_only: bool):
        import obstore.store
        from zarr.storage import ObjectStore

        s3 = obstore.store.S3Store(
            BUCKET,
            prefix=self.prefix,
            endpoint=self.servers.endpoint,
            region=REGION,
            access_key_id=KEY_ID,
            secret_access_key=SECRET,
            client_options={"allow_http": True},
            virtual_hosted_style_request=False,
        )
        return ObjectStore(s3, read_only=read_only)

    def ts_spec(self, name: str) -> dict:
        return {
            "driver": "zarr3",
            "kvstore": {
                "driver": "s3",
                "bucket": BUCKET,
                "path": f"{self.prefix}/{name}/",
                "endpoint": self.servers.endpoint,
                "aws_region": REGION,
                "aws_credentials": {"type": "environment"},
            },
        }


# --------------------------------------------------------------------------------------------
# engines: the local benchmark's adapters (engines.py), opened on S3 instead of a directory


class RemoteZarrsCffi(engines.ZarrsCffi):
    """zarrs_cffi on an S3 URL; chunks and regions through a second handle with the chunk cache
    (emptied before every timed call), as in the local benchmark."""

    def open(self, place, node):
        opts = place.storage_options()
        self.arr = self.mod.open_array(place.url(), "/" + node, storage_options=opts)
        self.cached = self.mod.open_array(
            place.url(), "/" + node, storage_options=opts, chunk_cache_bytes=self.CACHE_BYTES
        )
        self.shape = tuple(self.arr.shape)

    def scan_chunk(self, region):
        return self.cached.read(region)

    def write_full(self, data, place, node):
        with self.mod.open_array(place.url(), "/" + node, storage_options=place.storage_options()) as arr:
            arr.write(tuple(slice(0, n) for n in data.shape), data)


class RemoteZarrPython(engines.ZarrPython):
    """zarr-python 3 on ``ObjectStore`` (obstore ``S3Store``)."""

    notes: ClassVar[list] = []

    def open(self, place, node):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with self._config():
                self.arr = self.zarr.open_array(store=place.zarr_store(True), path=node, mode="r")
        self.open_warnings = sorted({str(w.message) for w in caught})
        self.shape = tuple(self.arr.shape)

    def scan_chunk(self, region):
        return self.read_new(region)

    def write_full(self, data, place, node):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zarrs-python's store warning: recorded at open
            with self._config():
                arr = self.zarr.open_array(store=place.zarr_store(False), path=node, mode="r+")
                arr[...] = data


class RemoteZarrsPython(RemoteZarrPython):
    """zarr-python with zarrs-python's codec pipeline (which does the I/O itself, in Rust)."""

    name = "zarrs-python"
    pipeline: ClassVar[dict] = {"codec_pipeline.path": "zarrs.ZarrsCodecPipeline"}

    def __init__(self) -> None:
        super().__init__()
        import zarrs  # noqa: F401

    def open(self, place, node):
        super().open(place, node)
        pipe = self.arr._async_array.codec_pipeline
        if type(pipe).__name__ != "ZarrsCodecPipeline" or getattr(pipe, "impl", True) is None:
            self.open_warnings.append(
                f"not zarrs' pipeline: {type(pipe).__name__}, impl {getattr(pipe, 'impl', '?')}"
            )


class RemoteTensorStore(engines.TensorStore):
    """tensorstore's zarr3 driver on its s3 kvstore."""

    def open(self, place, node):
        self.arr = self.ts.open(place.ts_spec(node), read=True).result()
        self.shape = tuple(self.arr.shape)

    def scan_chunk(self, region):
        return self.read_new(region)

    def write_full(self, data, place, node):
        arr = self.ts.open(place.ts_spec(node), read=True, write=True).result()
        arr.write(data).result()


class FetchFloor:
    """Not an engine: every stored object of the array fetched whole by obstore (Rust), as many
    at once as zarrs_cffi's default io_concurrency, nothing decoded. What moto and the link allow:
    the whole-array reads' floor on this set-up."""

    name = "floor:fetch"
    native_fill = False
    decodes = False
    IN_FLIGHT = 32

    def open(self, place, node):
        import obstore.store

        self.obstore = __import__("obstore")
        self.store = obstore.store.S3Store(
            BUCKET,
            prefix=f"{place.prefix}/{node}",
            endpoint=place.servers.endpoint,
            region=REGION,
            access_key_id=KEY_ID,
            secret_access_key=SECRET,
            client_options={"allow_http": True},
            virtual_hosted_style_request=False,
        )
        keys = [item["path"] for batch in self.obstore.list(self.store) for item in batch]
        self.keys = [k for k in keys if not k.endswith("zarr.json")]

    def read_new(self, region):
        return None

    def start_cold(self) -> None:
        pass

    def read_full_into(self, out):
        import asyncio

        async def fetch_all() -> int:
            gate = asyncio.Semaphore(self.IN_FLIGHT)

            async def one(key: str) -> int:
                async with gate:
                    result = await self.obstore.get_async(self.store, key)
                    return len(await result.bytes_async())

            return sum(await asyncio.gather(*(one(k) for k in self.keys)))

        asyncio.run(fetch_all())
        return out

    def close(self) -> None:
        self.store = None


class ReadChunk:
    """zarrs_cffi's chunk scan without the chunk cache: ``Array.read_chunk(coords)`` per stored
    chunk (a whole shard when sharded), on the same open array as the engine ``zarrs_cffi``."""

    name = "zarrs_cffi:read_chunk"
    native_fill = True

    def __init__(self, engine: RemoteZarrsCffi, spec) -> None:
        self.engine, self.step = engine, spec.shards or spec.chunks

    def start_cold(self) -> None:
        pass

    def scan_chunk(self, region):
        coords = [r.start // c for r, c in zip(region, self.step, strict=True)]
        return self.engine.arr.read_chunk(coords)

    def close(self) -> None:
        pass


REMOTE_ENGINES = {
    "zarrs_cffi": RemoteZarrsCffi,
    "zarr-python": RemoteZarrPython,
    "zarrs-python": RemoteZarrsPython,
    "tensorstore": RemoteTensorStore,
}


def engine_status(names: list[str]) -> dict:
    """Import status and version of each engine; never raises."""
    peer_file = HERE / ".venv" / "peer_status.json"  # written by setup_env.sh
    installed = json.loads(peer_file.read_text()) if peer_file.exists() else {}
    status = {}
    for name in names:
        try:
            REMOTE_ENGINES[name]()
        except Exception as exc:
            why = f"import: {_short(exc)}"
            info = installed.get(PACKAGES[name], {})
            if info.get("status", "ok") != "ok":
                why = f"install {info['status']}: {info.get('error', '')[:200]}; {why}"
            status[name] = {"status": "failed", "error": why, "version": None}
            continue
        status[name] = {"status": "ok", "version": _version(PACKAGES[name])}
    return status


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]


# --------------------------------------------------------------------------------------------
# workloads


def stored_chunk_regions(spec) -> list:
    """Every stored chunk (shard when sharded), in C order."""
    step = spec.shards or spec.chunks
    counts = [-(-n // c) for n, c in zip(spec.shape, step, strict=True)]
    return [
        tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(idx, step, spec.shape, strict=True))
        for idx in np.ndindex(*counts)
    ]


@dataclass
class Context:
    """What one dataset's workloads need in one mode."""

    spec: object
    root: Path  # the local store root the datasets were uploaded from
    data: np.ndarray
    servers: Servers
    n_regions: int
    out: np.ndarray = field(init=False)
    chunks: list = field(init=False)
    regions: list = field(init=False)
    region_bufs: np.ndarray = field(init=False)
    writes: int = 0

    def __post_init__(self) -> None:
        spec = self.spec
        self.out = np.zeros(spec.shape, spec.dtype)
        self.chunks = stored_chunk_regions(spec)
        self.regions = workloads.random_regions(spec, self.n_regions)
        self.region_bufs = np.zeros((self.n_regions, *workloads.small_region_shape(spec)), spec.dtype)

    def new_write_place(self, engine: str) -> Place:
        """A fresh prefix holding the group and the dataset's (empty) array metadata."""
        self.writes += 1
        prefix = f"writes/{self.servers.mode}/{self.spec.name}/{engine}-{self.writes}"
        s3 = self.servers.boto()
        root = self.root
        s3.put_object(
            Bucket=BUCKET, Key=f"{prefix}/zarr.json", Body=b'{"zarr_format": 3, "node_type": "group"}'
        )
        s3.put_object(
            Bucket=BUCKET,
            Key=f"{prefix}/{self.spec.name}/zarr.json",
            Body=(root / self.spec.name / "zarr.json").read_bytes(),
        )
        return Place(self.servers, prefix)

    def delete_prefix(self, prefix: str) -> None:
        """Remove a written array from moto (untimed; keeps moto's memory flat)."""
        s3 = self.servers.boto()
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/"):
            keys += [{"Key": o["Key"]} for o in page.get("Contents", [])]
        for i in range(0, len(keys), 1000):
            s3.delete_objects(Bucket=BUCKET, Delete={"Objects": keys[i : i + 1000]})


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise workloads.WrongResult(f"wrong result ({what})")


def timed_call(engine, ctx: Context, wl: str, verify: bool) -> tuple[float, list]:
    """One timed call of ``wl`` and moto's request log during it."""
    place = ctx.new_write_place(engine.name) if wl == "write" else None
    if verify and wl == "read_into":
        ctx.out.fill(0)
    if verify and wl == "regions":
        ctx.region_bufs.fill(0)
    engine.start_cold()
    ctx.servers.records()  # forget what came before
    time.sleep(SETTLE_SECONDS)
    results = None
    t0 = time.perf_counter()
    if wl == "read_into":
        engine.read_full_into(ctx.out)
    elif wl == "chunks":
        results = [engine.scan_chunk(region) for region in ctx.chunks]
    elif wl == "regions":
        bufs = ctx.region_bufs
        if engine.native_fill:
            for i, region in enumerate(ctx.regions):
                engine.read_small(region, bufs[i])
        else:
            results = [engine.read_new(region) for region in ctx.regions]
    elif wl == "write":
        engine.write_full(ctx.data, place, ctx.spec.name)
    else:
        raise ValueError(wl)
    elapsed = time.perf_counter() - t0
    records = ctx.servers.records()
    if verify and getattr(engine, "decodes", True):
        if wl == "read_into":
            _check(np.array_equal(ctx.out, ctx.data), "read_into")
        elif wl == "chunks":
            for region, got in zip(ctx.chunks, results, strict=True):
                _check(np.array_equal(np.asarray(got), ctx.data[region]), f"chunk {region}")
        elif wl == "regions":
            got_all = results if results is not None else list(ctx.region_bufs)
            for region, got in zip(ctx.regions, got_all, strict=True):
                _check(np.array_equal(np.asarray(got), ctx.data[region]), f"region {region}")
        elif wl == "write":
            _verify_written(ctx, place)
    if place is not None:
        ctx.delete_prefix(place.prefix)
        ctx.servers.records()
    return elapsed, records


def _verify_written(ctx: Context, place: Place) -> None:
    """Read the written array back with zarr-python (default pipeline) and compare all of it."""
    import zarr

    arr = zarr.open_array(store=place.zarr_store(True), path=ctx.spec.name, mode="r")
    _check(np.array_equal(arr[...], ctx.data), "written data")


def summarize(records: list, servers: Servers, bandwidth: float) -> dict:
    """Requests, bytes, peak in flight, request rounds and the ideal time of one call.

    A request is in flight, as the client sees it, from one one-way delay before moto began it
    until one one-way delay after moto finished it (moto's clock is the same CLOCK_MONOTONIC).
    Request rounds: the larger of (a) the number of waves (maximal groups of requests whose
    in-flight intervals overlap: a wave cannot start before the one before it ended) and (b)
    requests / peak in flight. Ideal = bytes / bandwidth + latency x rounds."""
    n = len(records)
    if not n:
        return {
            "requests": 0,
            "methods": {},
            "bytes": 0,
            "peak": 0,
            "waves": 0,
            "rounds": 0,
            "ideal": 0.0,
            "busy": 0.0,
            "connections": 0,
        }
    d = servers.one_way
    spans = sorted((r[1] - d, r[2] + d) for r in records)
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    peak = cur = 0
    for _, step in events:
        cur += step
        peak = max(peak, cur)
    waves, reach = 0, -math.inf
    for s, e in spans:
        if s > reach:
            waves += 1
        reach = max(reach, e)
    busy, reach, start = 0.0, -math.inf, None
    for s, e in sorted((r[1], r[2]) for r in records):
        if s > reach:
            if start is not None:
                busy += reach - start
            start = s
        reach = max(reach, e)
    busy += reach - start
    nbytes = sum(r[3] + r[4] for r in records)
    rounds = max(waves, math.ceil(n / peak))
    return {
        "requests": n,
        "methods": dict(Counter(r[0] for r in records)),
        "bytes": nbytes,
        "peak": peak,
        "waves": waves,
        "rounds": rounds,
        "ideal": nbytes / bandwidth + servers.latency * rounds,
        "busy": busy,
        "connections": len({r[5] for r in records}),
    }


def run_dataset(spec, root, args, status, mode_run, servers: Servers) -> None:
    """Every round of every workload on every engine for one dataset in one mode."""
    log(f"== [{servers.mode}] {spec.name} {spec.shape} ({spec.description})")
    data = datasets.full_data(spec)
    latency_mode = servers.latency > 0
    n_regions = args.latency_regions if latency_mode else args.regions
    ctx = Context(spec, root, data, servers, n_regions)
    bandwidth = mode_run["network"]["bandwidth"]
    cells = mode_run["results"][spec.name] = {wl: {} for wl in args.workload_list}
    mode_run["n_regions"] = n_regions
    live = {}
    for name, info in status.items():
        for wl in args.workload_list:
            cells[wl][name] = {"times": [], "stats": [], "error": info.get("error")}
        if info["status"] != "ok":
            continue
        try:
            eng = REMOTE_ENGINES[name]()
            eng.open(Place(servers, "data"), spec.name)
            eng.read_new(ctx.chunks[0])  # untimed warm-up: connections, pools
            live[name] = eng
            for note in getattr(eng, "open_warnings", []):
                mode_run.setdefault("engine_notes", {}).setdefault(name, [])
                if note not in mode_run["engine_notes"][name]:
                    mode_run["engine_notes"][name].append(note)
        except Exception as exc:
            for wl in args.workload_list:
                cells[wl][name]["error"] = f"open: {_short(exc)}"
            log(f"   open {name}: {_short(exc)}")
    extras = []  # (workload, pseudo-engine): not peers, never in the "fastest peer"
    if "read_into" in args.workload_list and args.fetch_floor:
        extras.append(("read_into", FetchFloor()))
    if "chunks" in args.workload_list and "zarrs_cffi" in live:
        extras.append(("chunks", ReadChunk(live["zarrs_cffi"], spec)))
    for wl, pseudo in extras:
        cells[wl][pseudo.name] = {"times": [], "stats": [], "error": None}
        try:
            if isinstance(pseudo, FetchFloor):
                pseudo.open(Place(servers, "data"), spec.name)
            live[pseudo.name] = pseudo
        except Exception as exc:
            cells[wl][pseudo.name]["error"] = f"open: {_short(exc)}"
    servers.records()
    slow = ("chunks", "regions")
    for rnd in range(args.rounds):
        for wl in args.workload_list:
            if latency_mode and wl in slow and rnd >= args.latency_slow_rounds:
                continue
            names = [n for n in cells[wl] if n in live and not cells[wl][n]["error"]]
            for name in order.round_order(names, rnd):
                cell = cells[wl][name]
                try:
                    elapsed, records = timed_call(live[name], ctx, wl, verify=rnd == 0)
                except Exception as exc:
                    cell["error"] = _short(exc)
                    log(f"   {wl} {name}: {cell['error']}")
                    continue
                cell["times"].append(elapsed)
                cell["stats"].append(summarize(records, servers, bandwidth))
                log(
                    f"   r{rnd + 1} {wl:9s} {name:21s} {elapsed * 1e3:9.1f} ms"
                    f"  {cell['stats'][-1]['requests']:5d} req  peak {cell['stats'][-1]['peak']:3d}"
                    f"  ideal {cell['stats'][-1]['ideal'] * 1e3:8.1f} ms"
                )
    if "zarrs_cffi" in live and args.sweep and "read_into" in args.workload_list:
        mode_run.setdefault("sweep", {})[spec.name] = sweep(live["zarrs_cffi"], ctx, args, bandwidth)
    for eng in live.values():
        eng.close()


def sweep(engine, ctx: Context, args, bandwidth: float) -> dict:
    """zarrs_cffi's whole-array read_into at several io_concurrency settings."""
    mod = engine.mod
    out = {}
    try:
        for n in args.sweep:
            mod.set_io_concurrency(n)
            times, stats = [], []
            for rnd in range(args.rounds):
                elapsed, records = timed_call(engine, ctx, "read_into", verify=rnd == 0)
                times.append(elapsed)
                stats.append(summarize(records, ctx.servers, bandwidth))
            out[str(n)] = {"times": times, "stats": stats}
            log(
                f"   io_concurrency {n:4d}: {statistics.median(times) * 1e3:8.1f} ms"
                f"  peak {max(s['peak'] for s in stats)}"
            )
    except Exception as exc:
        out["error"] = _short(exc)
    finally:
        mod.set_io_concurrency(0)
    return out


# --------------------------------------------------------------------------------------------
# modes, netem


def netem_available() -> tuple[bool, str]:
    """Whether a network namespace with a netem qdisc can be made here (tried, then removed)."""
    if not shutil.which("ip") or not shutil.which("tc"):
        return False, "ip/tc not installed"
    probe = f"{NETNS}-probe"
    try:
        for cmd in (
            ["ip", "netns", "add", probe],
            ["ip", "netns", "exec", probe, "ip", "link", "set", "lo", "up"],
            [
                "ip",
                "netns",
                "exec",
                probe,
                "tc",
                "qdisc",
                "add",
                "dev",
                "lo",
                "root",
                "netem",
                "delay",
                "1ms",
            ],
        ):
            res = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if res.returncode:
                return False, f"`{' '.join(cmd[-6:])}`: {res.stderr.strip() or res.returncode}"
        return True, ""
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)


def run_mode(mode: str, latency: float, via: str, specs, root, args, status) -> dict:
    """Start the servers of one mode, upload, measure, stop."""
    servers = Servers(mode, latency, via, args.server)
    mode_run = {"latency": latency, "via": via, "results": {}}
    try:
        servers.start()
        log(f"[{mode}] moto at {servers.moto_url}, clients use {servers.endpoint} (latency via {via})")
        mode_run["upload"] = upload(servers, root, specs)
        mode_run["network"] = measure_network(servers)
        net = mode_run["network"]
        log(
            f"[{mode}] bandwidth {net['bandwidth'] / 1e6:.0f} MB/s, 1-byte GET round trip"
            f" {net['small_get_rtt'] * 1e3:.2f} ms"
        )
        for spec in specs:
            run_dataset(spec, root, args, status, mode_run, servers)
    finally:
        servers.stop()
    return mode_run


def run_mode_in_netns(latency: float, argv: list[str]) -> dict:
    """Re-run this script for the latency mode inside a namespace whose loopback has netem."""
    one_way_ms = latency * 500
    subprocess.run(["ip", "netns", "del", NETNS], capture_output=True, check=False)  # a leftover
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "mode.json"
        try:
            for cmd in (
                ["ip", "netns", "add", NETNS],
                ["ip", "netns", "exec", NETNS, "ip", "link", "set", "lo", "up"],
                [
                    "ip",
                    "netns",
                    "exec",
                    NETNS,
                    "tc",
                    "qdisc",
                    "add",
                    "dev",
                    "lo",
                    "root",
                    "netem",
                    "delay",
                    f"{one_way_ms:g}ms",
                ],
            ):
                subprocess.run(cmd, check=True)
            child = [
                "ip",
                "netns",
                "exec",
                NETNS,
                sys.executable,
                str(Path(__file__).resolve()),
                *argv,
                "--in-netns",
                str(result),
            ]
            subprocess.run(child, check=True)
            return json.loads(result.read_text())
        finally:
            subprocess.run(["ip", "netns", "del", NETNS], capture_output=True, check=False)


# --------------------------------------------------------------------------------------------
# report


def fmt_time(seconds) -> str:
    """Seconds in a readable unit."""
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.3g} s"
    return f"{seconds * 1e3:.3g} ms"


def _median(cell) -> float | None:
    return statistics.median(cell["times"]) if cell and cell.get("times") else None


def _median_stats(cell) -> dict | None:
    """The stats of the call whose time is the median (the lower middle one when even)."""
    if not cell or not cell.get("times"):
        return None
    ranked = sorted(range(len(cell["times"])), key=lambda i: cell["times"][i])
    return cell["stats"][ranked[(len(ranked) - 1) // 2]]


def fastest_peer(cells: dict) -> tuple[str | None, float | None]:
    """The peer with the lowest median in ``cells`` (one workload)."""
    best = (None, None)
    for name, cell in cells.items():
        t = _median(cell)
        if name in PEERS and t is not None and (best[1] is None or t < best[1]):
            best = (name, t)
    return best


def targets(run: dict) -> list[dict]:
    """Whole-array read_into: >= 2x the fastest peer with latency, >= 1x without."""
    rows = []
    for mode, need in (("plain", 1.0), ("latency", 2.0)):
        mode_run = run["modes"].get(mode)
        if not mode_run:
            continue
        label = "plain loopback" if mode == "plain" else f"{mode_run['latency'] * 1e3:g} ms latency"
        for ds, wls in mode_run["results"].items():
            cells = wls.get("read_into")
            if cells is None:
                continue
            ours = _median(cells.get("zarrs_cffi"))
            peer, theirs = fastest_peer(cells)
            floor = _median(cells.get("floor:fetch"))
            if ours is None or theirs is None:
                status, value = "N/A", "not measured"
            else:
                ratio = theirs / ours
                status, value = ("PASS" if ratio >= need else "FAIL"), f"{ratio:.3g}x vs {peer}"
            bound = f"{theirs / floor:.3g}x" if floor and theirs else "-"
            rows.append(
                {
                    "status": status,
                    "target": f"whole-array read_into >= {need:g}x fastest peer, {label}",
                    "dataset": ds,
                    "value": value,
                    "bound": bound,
                }
            )
    return rows


def write_report(run: dict, specs, out: Path) -> None:
    """RESULTS_REMOTE.md."""
    lines = [
        "# zarrs_cffi remote benchmark (S3 on moto, loopback)",
        "",
        f"Generated by `bench/remote.py` on {run['date']} (wall time {run.get('wall_seconds', 0) / 60:.1f} min).",
        "",
        "Command:",
        "",
        "```",
        run["command"],
        "```",
        "",
        "## Machine and set-up",
        "",
    ]
    for k, v in run["machine"].items():
        lines.append(f"- {k}: {v}")
    lines += ["", "| engine | status | version | notes |", "|---|---|---|---|"]
    for name, info in run["engines"].items():
        notes = sorted({n for m in run["modes"].values() for n in m.get("engine_notes", {}).get(name, [])})
        lines.append(
            f"| {name} | {info['status']} | {info.get('version') or '-'} | "
            f"{(info.get('error') or '') + '; '.join(notes)} |".replace("\n", " ")
        )
    lines += [
        "",
        "| mode | latency | how | loopback bandwidth through moto | 1-byte GET round trip | upload |",
        "|---|---|---|---|---|---|",
    ]
    for mode, m in run["modes"].items():
        net, up = m.get("network", {}), m.get("upload", {})
        lines.append(
            f"| {mode} | {m['latency'] * 1e3:g} ms | {m['via']} | "
            f"{net.get('bandwidth', 0) / 1e6:.0f} MB/s (64 MiB GET in {fmt_time(net.get('big_get_seconds'))}) | "
            f"{fmt_time(net.get('small_get_rtt'))} | {up.get('files', 0)} files, "
            f"{up.get('bytes', 0) / 2**20:.0f} MiB in {fmt_time(up.get('seconds'))} |"
        )
    if run.get("netem_note"):
        lines += ["", f"netem: {run['netem_note']}"]
    lines += [
        "",
        "## Targets",
        "",
        "Last column: the fastest peer's time over the fetch floor's (every stored object fetched"
        " by obstore, 32 at once, nothing decoded). Near 1, the server and the link already bound"
        " that peer, and no reader can be much faster on this set-up (moto serves ~0.5-1 ms of"
        " Python per request on one core); well above 1, decoding and the client's own work"
        " dominate.",
        "",
        "| result | target | dataset | measured | fastest peer / fetch floor |",
        "|---|---|---|---|---|",
    ]
    for row in targets(run):
        lines.append(
            f"| {row['status']} | {row['target']} | {row['dataset']} | {row['value']} | {row['bound']} |"
        )
    spec_by_name = {s.name: s for s in specs}
    for mode, m in run["modes"].items():
        label = (
            "plain loopback"
            if m["latency"] == 0
            else f"{m['latency'] * 1e3:g} ms per request round trip ({m['via']})"
        )
        lines += ["", f"## {mode}: {label}", ""]
        for ds, wls in m["results"].items():
            spec = spec_by_name[ds]
            lines += [
                f"### {ds}: {spec.shape} {spec.dtype}, chunks {spec.chunks}"
                f"{f', shards {spec.shards}' if spec.shards else ''}, {spec.description}",
                "",
                "| workload | engine | median | fastest peer / this | rounds | requests | peak in flight |"
                " MiB moved | ideal | moto busy | connections |",
                "|---|---|---|---|---|---|---|---|---|---|---|",
            ]
            for wl, cells in wls.items():
                _, best = fastest_peer(cells)
                wl_label = (
                    WORKLOADS[wl] if wl != "regions" else f"{m.get('n_regions', '?')} random 8x8x8 regions"
                )
                for name in ENGINE_NAMES + PSEUDO:
                    cell = cells.get(name)
                    if cell is None:
                        continue
                    t = _median(cell)
                    st = _median_stats(cell)
                    if t is None:
                        lines.append(
                            f"| {wl_label} | {name} | failed: {cell.get('error') or 'not run'} | | | | | | | | |"
                        )
                        continue
                    ratio = f"{best / t:.2f}x" if best else "-"
                    methods = ", ".join(f"{k} {v}" for k, v in sorted(st["methods"].items()))
                    lines.append(
                        f"| {wl_label} | {name} | {fmt_time(t)} | {ratio} | {len(cell['times'])} | "
                        f"{st['requests']} ({methods}) | {st['peak']} | {st['bytes'] / 2**20:.1f} | "
                        f"{fmt_time(st['ideal'])} | {fmt_time(st['busy'])} | {st['connections']} |"
                    )
                    if cell.get("error"):
                        lines[-1] = lines[-1][:-1] + f" (later: {cell['error']}) |"
            lines.append("")
        if m.get("sweep"):
            lines += [
                f"### zarrs_cffi whole-array read_into by io_concurrency ({mode})",
                "",
                "| dataset | io_concurrency | median | peak in flight | requests | ideal |",
                "|---|---|---|---|---|---|",
            ]
            for ds, sw in m["sweep"].items():
                if "error" in sw:
                    lines.append(f"| {ds} | - | failed: {sw['error']} | | | |")
                for n, cell in sw.items():
                    if n == "error":
                        continue
                    st = _median_stats(cell)
                    lines.append(
                        f"| {ds} | {n} | {fmt_time(_median(cell))} | {st['peak']} | {st['requests']} | {fmt_time(st['ideal'])} |"
                    )
            lines.append("")
    lines += ["## How to read the tables", ""] + [f"- {n}" for n in run["notes"]]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


def notes(args) -> list[str]:
    """What the report's columns mean and how the run was made."""
    return [
        "median: `time.perf_counter` median over the rounds (column `rounds`); engines take turns in an order"
        " that changes every round (bench/order.py); a 50 ms pause before every timed call.",
        "fastest peer / this: the fastest peer's median over this engine's (> 1: faster than every peer).",
        "requests, MiB moved (request + response bodies), peak in flight, moto busy and connections come from"
        " moto's request log of the median call. In flight: from one one-way delay before moto began a request"
        " until one one-way delay after it finished (moto's clock is the same CLOCK_MONOTONIC as ours); moto"
        " busy: the time moto was working on at least one request (close to the median: the server is the"
        " bottleneck); connections: distinct client ports seen by moto.",
        "ideal = MiB moved / measured loopback bandwidth + latency x rounds, where rounds = max(waves,"
        " ceil(requests / peak in flight)) and a wave is a maximal group of requests whose in-flight intervals"
        " overlap. It is the time of this engine's own request pattern on an infinitely fast server: it does"
        " not charge decoding, the client's CPU, or moto's per-request work (about 0.5-1 ms of Python each).",
        "loopback bandwidth: the best of five boto3 GETs of a 64 MiB object on a warm connection through the"
        " mode's endpoint, less one injected round trip.",
        "floor:fetch (whole array only): every stored object of the array fetched whole with obstore"
        " (Rust, async), 32 at once, nothing decoded or copied: how fast moto and the link let a reader go.",
        "zarrs_cffi:read_chunk (chunks only): zarrs_cffi's `Array.read_chunk(coords)` on the plain handle,"
        " without the chunk cache (a sharded read through the cache fetches inner chunk by inner chunk).",
        f"chunks: every stored chunk (the shard when sharded) read as a new array; zarrs_cffi and the regions"
        f" use a second handle with a {RemoteZarrsCffi.CACHE_BYTES >> 20} MiB decoded-chunk cache (emptied"
        " before every timed call), as in bench/run.py; regions go into a small buffer each (a new array for"
        " engines without a buffer fill).",
        f"with latency, chunks and regions run {args.latency_slow_rounds} round(s) and {args.latency_regions}"
        " regions (the first of the same list): each is latency-bound, one call at a time, and"
        " takes minutes per engine.",
        "write: every write goes to a new prefix holding only the group and array metadata (uploaded"
        " untimed); the timed part opens the array and writes it whole; the first round reads it back with"
        " zarr-python and compares; each written array is deleted from moto afterwards (untimed).",
        "correctness: the first round's results are compared with the in-memory reference (every chunk,"
        " every region, the whole array, the whole written array); a wrong answer is an error, not a time.",
        "server: moto's S3 Flask app (moto "
        + _version("moto")
        + ") served by "
        + (
            {
                "cheroot": "cheroot (keep-alive connections, 64 worker threads; idle connections"
                " wait in a selector and cost nothing)",
                "waitress": "waitress (keep-alive connections, 64 worker threads, 0.5 ms GIL switch"
                " interval; slows down while other clients hold idle connections)",
            }.get(args.server, "werkzeug (one connection per request)")
        )
        + " in its own process, objects kept in memory; see bench/remote_servers.py.",
        "peers' own defaults are kept: zarr-python's async concurrency (`async.concurrency`, 10 in 3.1),"
        " tensorstore's `s3_request_concurrency`, zarrs-python's and obstore's defaults.",
    ]


def package_info() -> str:
    """Which zarrs_cffi is measured: its native library's digest and whether the installed copy
    is the repository's current code (bench/freshness.py; run.py refuses a stale copy, this
    script says so in the report)."""
    try:
        import hashlib

        import freshness

        import zarrs_cffi

        installed = Path(zarrs_cffi.__file__).parent
        lib = installed / freshness.NATIVE_LIBRARY
        digest = hashlib.sha256(lib.read_bytes()).hexdigest()[:16] if lib.exists() else "?"
        differing = freshness.differing_files(installed)
    except Exception as exc:
        return f"unknown ({_short(exc)})"
    state = (
        "the repository's current code"
        if not differing
        else f"NOT the repository's current code ({len(differing)} files differ, e.g. {', '.join(differing[:3])})"
    )
    return f"{zarrs_cffi.native_version()}, libzarrs_cffi.so sha256 {digest}..., {state}"


def machine_info(args) -> dict:
    """What the run ran on."""
    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    mem = ""
    with contextlib.suppress(Exception):
        import psutil

        mem = f"{psutil.virtual_memory().total / 2**30:.1f} GiB"
    return {
        "nproc": os.cpu_count(),
        "cpu": models[0] if models else platform.processor() or "?",
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "moto": _version("moto"),
        "obstore": _version("obstore"),
        "moto's HTTP server": f"{args.server} {_version(args.server)}",
        "zarrs_cffi measured": package_info(),
        "load average at start (1, 5, 15 min)": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# --------------------------------------------------------------------------------------------
# main


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny datasets (64^3), for smoke runs")
    p.add_argument(
        "--only", default=DEFAULT_ONLY, help=f"comma-separated datasets (default {DEFAULT_ONLY}; 'all')"
    )
    p.add_argument("--rounds", type=int, default=3, help="timed rounds (default 3)")
    p.add_argument("--regions", type=int, default=2000, help="random 8^3 regions, plain mode (default 2000)")
    p.add_argument(
        "--latency-regions",
        type=int,
        default=500,
        help="random regions with latency (default 500: the first of the same list)",
    )
    p.add_argument(
        "--latency-slow-rounds",
        type=int,
        default=1,
        help="rounds of chunks and regions with latency (default 1)",
    )
    p.add_argument("--latency-ms", type=float, default=20.0, help="injected request round trip (default 20)")
    p.add_argument("--latency-via", choices=("auto", "netem", "proxy"), default="auto")
    p.add_argument("--modes", default="plain,latency")
    p.add_argument("--engines", default=",".join(ENGINE_NAMES))
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument(
        "--no-fetch-floor",
        dest="fetch_floor",
        action="store_false",
        help="skip the fetch floor row (obstore GETs of every object, no decoding)",
    )
    p.add_argument("--sweep", default="8,32,128", help="zarrs_cffi io_concurrency values ('' for none)")
    p.add_argument(
        "--server", choices=("cheroot", "waitress", "werkzeug"), default="cheroot", help="moto's HTTP server"
    )
    p.add_argument("--out", type=Path, default=HERE / "RESULTS_REMOTE.md")
    p.add_argument("--json", type=Path, help="also save the raw results here")
    p.add_argument(
        "--report-from",
        type=Path,
        metavar="JSON",
        help="measure nothing: rewrite the report from --json output",
    )
    p.add_argument("--in-netns", type=Path, help=argparse.SUPPRESS)  # internal: run the latency mode
    args = p.parse_args(argv)
    args.workload_list = _pick(args.workloads, list(WORKLOADS), "workload")
    args.engine_list = _pick(args.engines, ENGINE_NAMES, "engine")
    args.mode_list = _pick(args.modes, ["plain", "latency"], "mode")
    args.sweep = [int(x) for x in args.sweep.split(",") if x.strip()]
    return args


def _pick(value: str, allowed: list[str], what: str) -> list[str]:
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in allowed]
    if unknown:
        sys.exit(f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(allowed)})")
    return chosen


def main(argv=None) -> int:
    """Entry point."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = KEY_ID, SECRET
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    all_specs = datasets.all_specs(args.quick)
    names = (
        [s.name for s in all_specs]
        if args.only == "all"
        else _pick(args.only, [s.name for s in all_specs], "dataset")
    )
    specs = [s for s in all_specs if s.name in names]
    if args.report_from:
        saved = json.loads(args.report_from.read_text())
        saved_specs = datasets.all_specs(saved.get("quick", False))
        write_report(saved, saved_specs, args.out)
        log(f"wrote {args.out}")
        return 0
    status = engine_status(args.engine_list)
    root = datasets.data_root(args.quick)
    if args.in_netns:  # the latency mode, inside the namespace
        mode_run = run_mode("latency", args.latency_ms / 1000, "netem", specs, root, args, status)
        args.in_netns.write_text(json.dumps(mode_run, default=str))
        return 0
    started = time.perf_counter()
    for name, info in status.items():
        log(f"{name:13s} {info['status']} {info.get('version') or ''} {info.get('error', '')}")
    if status.get("zarrs_cffi", {}).get("status") == "ok":
        log(f"zarrs_cffi: {package_info()}")
    log("datasets:")
    datasets.ensure(specs, args.quick, log)
    run = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "command": " ".join(
            shlex.quote(a) for a in [os.path.relpath(sys.executable), "bench/remote.py", *argv]
        ),
        "machine": machine_info(args),
        "engines": status,
        "quick": args.quick,
        "modes": {},
        "notes": notes(args),
    }
    for mode in args.mode_list:
        if mode == "plain":
            run["modes"]["plain"] = run_mode("plain", 0.0, "none", specs, root, args, status)
            continue
        via = args.latency_via
        if via in ("auto", "netem"):
            ok, why = netem_available()
            if not ok:
                run["netem_note"] = f"not available ({why}); the delay proxy was used instead"
                if via == "netem":
                    sys.exit(f"netem is not available: {why}")
                via = "proxy"
            else:
                via = "netem"
        log(f"latency via {via}" + (f" ({run['netem_note']})" if run.get("netem_note") else ""))
        if via == "netem":
            child_argv = [a for a in argv if not a.startswith("--in-netns")]
            run["modes"]["latency"] = run_mode_in_netns(args.latency_ms / 1000, child_argv)
        else:
            run["modes"]["latency"] = run_mode(
                "latency", args.latency_ms / 1000, "proxy", specs, root, args, status
            )
    run["wall_seconds"] = time.perf_counter() - started
    run["machine"]["load average at end (1, 5, 15 min)"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.json:
        args.json.write_text(json.dumps(run, indent=1, default=str))
    write_report(run, specs, args.out)
    if args.out.resolve().parent == HERE.resolve():  # RESULTS.md carries the remote tables too
        import report

        if args.out.name == "RESULTS_REMOTE.md":
            report.splice_remote(HERE / "RESULTS.md", args.out)
        else:  # a partial remote run: its own section
            name = f"partial run {args.out.stem}"
            report.splice(
                HERE / "RESULTS.md", report.copied_section(args.out, name, "Partial remote run"), name
            )
    log("\ntargets:")
    for row in targets(run):
        log(f"  {row['status']:4s} {row['target']} [{row['dataset']}] {row['value']}")
    log(f"\nwrote {args.out} ({run['wall_seconds'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
