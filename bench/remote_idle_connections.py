"""Does moto's HTTP server slow down while other clients hold idle keep-alive connections?

A side study for bench/RESULTS.md ("The remote benchmark's server: idle connections slowed
waitress"): starts moto as bench/remote.py does (bench/remote_servers.py, ``--server`` as given),
writes u16_zstd from bench/data/full to it, then times zarrs_cffi's whole-array ``read_into``
4 times with 0, 8, 16, 32, 48 and 64 idle keep-alive connections open to moto, and once more after
closing them. Run from the repository root::

    bench/.venv/bin/python bench/remote_idle_connections.py --server waitress
    bench/.venv/bin/python bench/remote_idle_connections.py --server cheroot
"""

from __future__ import annotations

import argparse
import http.client
import subprocess
import sys
import time

import boto3
import numpy as np

import zarrs_cffi

KEYS = {"access_key_id": "k", "secret_access_key": "s"}
STATS = "/__zc_bench__/stats?keep=1"  # answered by remote_servers.py's request log, not moto


def start_moto(server: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "bench/remote_servers.py", "moto", "--server", server],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline().split()[1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", choices=("cheroot", "waitress", "werkzeug"), default="cheroot")
    args = p.parse_args()
    proc, port = start_moto(args.server)
    try:
        endpoint = f"http://127.0.0.1:{port}"
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

        def timed(label: str) -> None:
            times = []
            for _ in range(4):
                start = time.perf_counter()
                arr.read_into(out, (slice(None),) * 3)
                times.append(time.perf_counter() - start)
            print(f"{label}: " + " ".join(f"{t * 1e3:.0f}" for t in times) + " ms", flush=True)

        timed(f"{args.server}, no idle connections")
        idle: list[http.client.HTTPConnection] = []
        for wanted in (8, 16, 32, 48, 64):
            while len(idle) < wanted:  # one request each, then left open (keep-alive)
                conn = http.client.HTTPConnection("127.0.0.1", port)
                conn.request("GET", STATS)
                conn.getresponse().read()
                idle.append(conn)
            timed(f"{args.server}, {wanted} idle connections")
        for conn in idle:
            conn.close()
        time.sleep(1)
        timed(f"{args.server}, idle connections closed")
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
