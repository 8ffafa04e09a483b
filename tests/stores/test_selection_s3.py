"""The selection battery, every test of tests/test_selection.py, with its arrays in buckets on moto's S3
server (fixtures in s3_batteries.py)."""

import pytest

pytest.importorskip("moto")
pytest.importorskip("obstore")
from s3_batteries import s3_env, tmp_path, tmp_path_factory  # noqa: F401  (fixtures)
from test_selection import *  # noqa: F403  (the battery, collected again here)
