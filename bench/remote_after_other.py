"""Does zarrs_cffi's whole-array read on moto slow down after another client has read?

A side study for bench/RESULTS.md ("zarrs_cffi slows down once another client has read"): starts
moto as bench/remote.py does (bench/remote_servers.py, waitress), uploads u16_zstd from
bench/data/full, times zarrs_cffi's read_into alone, after a zarr-python (obstore) read in the same
process, after 5 s idle, after dropping zarr's store, and on a new handle. Run from the repository
root: ``bench/.venv/bin/python bench/remote_after_other.py``.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import time

import boto3
import numpy as np
import zarr

import zarrs_cffi

KEYS = {"access_key_id": "k", "secret_access_key": "s"}


def start_moto() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "bench/remote_servers.py", "moto"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    while not line.startswith("PORT"):
        line = proc.stdout.readline()
    return proc, f"http://127.0.0.1:{line.split()[1]}"


def main() -> None:
    proc, endpoint = start_moto()
    try:
        opts = {"endpoint": endpoint, "region": "us-east-1", "allow_http": True, **KEYS}
        opts["virtual_hosted_style_request"] = False
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=KEYS["access_key_id"],
            aws_secret_access_key=KEYS["secret_access_key"],
        ).create_bucket(Bucket="bench")
        data = zarrs_cffi.open_array("bench/data/full", "/u16_zstd")[...]
        url = "s3://bench/d.zarr"
        zstd = [{"name": "zstd", "configuration": {"level": 3, "checksum": False}}]
        zarrs_cffi.create_array(
            url,
            "/u16_zstd",
            shape=data.shape,
            dtype=data.dtype,
            chunks=(64, 64, 64),
            compressors=zstd,
            storage_options=opts,
        )[...] = data
        out = np.empty_like(data)
        arr = zarrs_cffi.open_array(url, "/u16_zstd", storage_options=opts)

        def timed(label: str, calls: int = 3) -> None:
            times = []
            for _ in range(calls):
                start = time.perf_counter()
                arr.read_into(out, (slice(None),) * 3)
                times.append(time.perf_counter() - start)
            print(f"{label}: " + " ".join(f"{t * 1e3:.0f}" for t in times) + " ms", flush=True)

        timed("zarrs_cffi alone")
        from obstore.store import S3Store
        from zarr.storage import ObjectStore

        store = ObjectStore(
            S3Store(
                "bench",
                prefix="d.zarr",
                endpoint=endpoint,
                region="us-east-1",
                client_options={"allow_http": True},
                virtual_hosted_style_request=False,
                **KEYS,
            )
        )
        start = time.perf_counter()
        zarr.open_array(store, path="u16_zstd", mode="r")[...]
        print(f"zarr-python read: {(time.perf_counter() - start) * 1e3:.0f} ms", flush=True)
        timed("after zarr-python")
        time.sleep(5)
        timed("after 5 s idle")
        del store
        gc.collect()
        time.sleep(1)
        timed("after dropping zarr's store")
        arr = zarrs_cffi.open_array(url, "/u16_zstd", storage_options=opts)
        timed("a new zarrs_cffi handle")
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
