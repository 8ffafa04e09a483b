"""What docs/guide/stores.md says the HTTP client needs of a server, shown on loopback servers
that do otherwise: no Content-Length, and 405 answers (read as 404 by object_store)."""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np
import pytest
from loopback_server import PlainHandler, serve

import zarrs_cffi


@pytest.fixture
def directory(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "served.zarr"
    zarrs_cffi.create_array(root, "/a", shape=(3,), dtype="i2", chunks=(3,), fill_value=-7)[...] = [0, 1, 2]
    return root


class NoContentLength(PlainHandler):
    """Bodies end when the connection closes; no Content-Length header."""

    protocol_version = "HTTP/1.0"

    def send_header(self, keyword: str, value: Any) -> None:
        if keyword.lower() != "content-length":
            super().send_header(keyword, value)


class RefusesHeadAndChunkGets(PlainHandler):
    def _refuse(self) -> None:
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:
        self._refuse()

    def do_GET(self) -> None:
        if "/c/" in self.path:
            self._refuse()
        else:
            super().do_GET()


def test_a_server_without_content_length_is_a_storage_error(directory: pathlib.Path) -> None:
    with serve(directory, NoContentLength) as served, pytest.raises(
        zarrs_cffi.StorageError, match="Content-Length"
    ):
        zarrs_cffi.read(served.url + "/a")


def test_405_answers_read_as_not_found(directory: pathlib.Path) -> None:
    with serve(directory, RefusesHeadAndChunkGets) as served, zarrs_cffi.Store(served.url) as store:
        assert store.read_metadata("/a")["node_type"] == "array"
        assert not store.node_exists("/a")
        np.testing.assert_array_equal(zarrs_cffi.read(served.url + "/a"), [-7, -7, -7])
