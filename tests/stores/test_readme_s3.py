"""The README's three lines that open an S3 array, run against moto: the block as printed, with
the bucket name replaced by a bucket on the loopback server and the server's endpoint added to its
storage options (the README's block is marked ``no-run`` for the doc-example tests, which have no
S3 server)."""

from __future__ import annotations

import json
import pathlib
import re

import numpy as np
from store_fixtures import new_bucket, s3_client, s3_options

import zarrs_cffi

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def _s3_block() -> str:
    blocks = re.findall(r"```python no-run\n(.*?)```", README.read_text(), flags=re.S)
    found = [b for b in blocks if "s3://my-bucket/" in b]
    assert len(found) == 1, "the README's S3 example"
    return found[0]


def test_the_readme_s3_lines_open_an_array(moto_endpoint: str) -> None:
    code = _s3_block()
    assert len(code.strip().splitlines()) == 3
    bucket = new_bucket(moto_endpoint)
    data = np.arange(24, dtype="float32").reshape(4, 6)
    reach = {"endpoint": moto_endpoint, "allow_http": True, "virtual_hosted_style_request": False}
    writer = s3_options(moto_endpoint)  # with credentials
    zarrs_cffi.create_group(f"s3://{bucket}/data.zarr", storage_options=writer)
    with zarrs_cffi.create_array(
        f"s3://{bucket}/data.zarr",
        "/temperature",
        shape=data.shape,
        dtype="float32",
        chunks=(2, 3),
        storage_options=writer,
    ) as created:
        created[...] = data
    # The README reads a public bucket (unsigned requests): this one becomes public too.
    public = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    s3_client(moto_endpoint).put_bucket_policy(Bucket=bucket, Policy=json.dumps(public))
    # As printed, but for the bucket and the loopback endpoint.
    code = code.replace("s3://my-bucket/", f"s3://{bucket}/")
    code = code.replace("\narr =", f"\ns3.update({reach!r})\narr =", 1)
    namespace: dict[str, object] = {}
    exec(compile(code, str(README), "exec"), namespace)
    arr = namespace["arr"]
    assert isinstance(arr, zarrs_cffi.Array)
    with arr:
        np.testing.assert_array_equal(arr[...], data)
