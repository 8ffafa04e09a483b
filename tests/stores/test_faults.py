"""Object stores under network faults: a loopback proxy (``fault_proxy``) in front of moto's S3, the
GCS server or the Azure server answers 500 / 503 / 403, resets connections mid-body, truncates
bodies or stops answering, and the library must retry, fail with the right exception within its
timeouts, and never return or leave wrong data — with each of object_store's clients."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
from azure_fake import EMULATOR_ACCOUNT, EMULATOR_ACCOUNT_KEY, azure_options_at
from fault_proxy import FaultProxy
from gcs_fake import PRIVATE_KEY, gcs_options_at
from store_fixtures import CREDENTIALS, new_azure_container, new_bucket, new_gcs_bucket, s3_options

import zarrs_cffi

pytest.importorskip("moto.server")

SHAPE = (128, 128)
CHUNKS = (64, 64)  # four chunks of 16 KiB: random int32 hardly compresses, so bodies are large
DATA = np.random.default_rng(7).integers(-(2**31), 2**31 - 1, size=SHAPE, dtype="int32")
CHUNK = "c/0/0"  # the key of the first chunk, below the array's prefix
EVERYTHING = (slice(None), slice(None))
# Small budgets, so a failing read gives up quickly.
FAST = {"max_retries": 2, "retry_timeout": 5, "timeout": 5, "connect_timeout": 2}


@dataclass
class Cloud:
    """One object store server: where it listens, a fresh root on it, and the storage_options for
    reaching it at an address (its own, or a proxy's in front of it)."""

    kind: str
    upstream: str
    secret: str
    new_root: Callable[[], str]
    options_at: Callable[[str], dict[str, Any]]

    def options(self) -> dict[str, Any]:
        """storage_options reaching the server directly."""
        return self.options_at(self.upstream)


@pytest.fixture(params=["s3", "gcs", "azure"])
def cloud(request: pytest.FixtureRequest) -> Cloud:
    if request.param == "s3":
        moto: str = request.getfixturevalue("moto_endpoint")
        return Cloud(
            "s3",
            moto,
            CREDENTIALS["secret_access_key"],
            lambda: f"s3://{new_bucket(moto)}/data.zarr",
            s3_options,
        )
    if request.param == "gcs":
        gcs = request.getfixturevalue("gcs_server")
        return Cloud(
            "gcs", gcs.endpoint, PRIVATE_KEY, lambda: f"gs://{new_gcs_bucket(gcs)}/data.zarr", gcs_options_at
        )
    azure = request.getfixturevalue("azure_server")
    return Cloud(
        "azure",
        azure.endpoint[: -len(f"/{EMULATOR_ACCOUNT}")],
        EMULATOR_ACCOUNT_KEY,
        lambda: f"az://{new_azure_container(azure)}/data.zarr",
        lambda at: azure_options_at(f"{at}/{EMULATOR_ACCOUNT}"),
    )


@pytest.fixture
def proxy(cloud: Cloud) -> Iterator[FaultProxy]:
    """A fault proxy in front of the server, stopped (every thread joined) after the test."""
    proxy = FaultProxy(cloud.upstream).start()
    before = set(threading.enumerate())
    try:
        yield proxy
    finally:
        proxy.stop()
        assert proxy.thread is not None and not proxy.thread.is_alive()
        # A server thread (moto's, one per request) may still be closing its connection after
        # the client got the whole response: give threads started meanwhile a moment to end.
        started = set(threading.enumerate()) - before
        # (not zarr-python's event loop and its executor's threads, which live for the process)
        started = {t for t in started if t.name != "zarr_io" and not t.name.startswith("asyncio_")}
        for thread in started:
            thread.join(timeout=10)
        assert not [t for t in started if t.is_alive()]


@pytest.fixture
def url(cloud: Cloud) -> str:
    """URL of an array (chunks ``CHUNKS``, zstd) holding ``DATA``, written straight to the server."""
    root = cloud.new_root()
    with zarrs_cffi.create_array(
        root, "/a", shape=SHAPE, dtype=DATA.dtype, chunks=CHUNKS, storage_options=cloud.options()
    ) as arr:
        arr[...] = DATA
    return root + "/a"


@pytest.fixture
def via(cloud: Cloud) -> Callable[..., dict[str, Any]]:
    """``via(proxy, **extra)``: storage_options that go through the proxy, with the small retry
    budget unless overridden."""

    def options(proxy: FaultProxy, **extra: Any) -> dict[str, Any]:
        return {**cloud.options_at(proxy.endpoint), **FAST, **extra}

    return options


def read(url: str, options: dict[str, Any]) -> np.ndarray:
    return zarrs_cffi.read(url, EVERYTHING, storage_options=options)


def test_proxy_passes_everything_through(proxy: FaultProxy, url: str, via: Any) -> None:
    np.testing.assert_array_equal(read(url, via(proxy)), DATA)
    assert proxy.count("GET", "/c/") == 4
    assert proxy.count(kind=None) == len(proxy.log)


# --- 1. server errors are retried ----------------------------------------------------------------
def test_500_then_503_then_success(proxy: FaultProxy, url: str, via: Any) -> None:
    proxy.add("status", status=500, method="GET", path_contains=CHUNK)
    proxy.add("status", status=503, method="GET", path_contains=CHUNK)
    np.testing.assert_array_equal(read(url, via(proxy)), DATA)
    assert proxy.count("GET", CHUNK, kind="status") == 2
    assert proxy.count("GET", CHUNK) == 3  # two failures, then the retry that succeeded
    assert proxy.count("GET", "/c/") == 3 + 3  # the other chunks once each
    # The same through read_into, into a caller's buffer.
    proxy.add("status", status=503, method="GET", path_contains=CHUNK)
    out = np.zeros((64, 128), DATA.dtype)
    zarrs_cffi.read_into(out, url, (slice(0, 64),), storage_options=via(proxy))
    np.testing.assert_array_equal(out, DATA[:64])
    assert proxy.count("GET", CHUNK) == 3 + 2


def test_persistent_500_gives_up(proxy: FaultProxy, url: str, via: Any) -> None:
    proxy.add("status", status=500, method="GET", path_contains=CHUNK, times=None)
    start = time.monotonic()
    with pytest.raises(zarrs_cffi.StorageError) as info:
        read(url, via(proxy, max_retries=2))
    assert time.monotonic() - start < 30
    assert not isinstance(info.value, zarrs_cffi.AccessDeniedError)
    assert CHUNK in str(info.value)
    assert proxy.count("GET", CHUNK) == 3  # the first try and max_retries=2 retries


# --- 2. connection reset mid-body ----------------------------------------------------------------
def test_persistent_reset_mid_body_fails_naming_the_chunk(
    proxy: FaultProxy, url: str, via: Any, cloud: Cloud
) -> None:
    proxy.add("reset", method="GET", path_contains=CHUNK, times=None)
    start = time.monotonic()
    with pytest.raises(zarrs_cffi.StorageError) as info:
        read(url, via(proxy))
    assert time.monotonic() - start < 30
    assert CHUNK in str(info.value)
    assert cloud.secret not in str(info.value)
    assert proxy.count("GET", CHUNK, kind="reset") == FAST["max_retries"] + 1  # retried, then gave up


def test_one_reset_mid_body_is_retried(proxy: FaultProxy, url: str, via: Any) -> None:
    proxy.add("reset", method="GET", path_contains=CHUNK, times=1)
    np.testing.assert_array_equal(read(url, via(proxy)), DATA)
    assert proxy.count("GET", CHUNK, kind="reset") == 1
    assert proxy.count("GET", CHUNK) >= 2


# --- 3. truncated body ---------------------------------------------------------------------------
@pytest.mark.parametrize("compressors", ["zstd", None])
@pytest.mark.parametrize("times", [1, None], ids=["once", "always"])
def test_truncated_body_never_gives_wrong_data(
    proxy: FaultProxy, cloud: Cloud, via: Any, compressors: Any, times: Any
) -> None:
    root = cloud.new_root()
    with zarrs_cffi.create_array(
        root,
        "/a",
        shape=SHAPE,
        dtype=DATA.dtype,
        chunks=CHUNKS,
        compressors=compressors,
        storage_options=cloud.options(),
    ) as arr:
        arr[...] = DATA
    proxy.add("truncate", method="GET", path_contains=CHUNK, times=times)
    try:
        got = read(root + "/a", via(proxy))
    except zarrs_cffi.StorageError as e:  # a short body is a storage failure, not bad chunk bytes
        assert times is None, f"one truncated response was not retried: {e}"
        assert CHUNK in str(e)
    else:
        np.testing.assert_array_equal(got, DATA)
        assert times == 1
        assert proxy.count("GET", CHUNK) >= 2
    assert proxy.count("GET", CHUNK, kind="truncate") >= 1


# --- 4. no answer --------------------------------------------------------------------------------
@pytest.mark.parametrize("target", [CHUNK, "zarr.json"], ids=["chunk", "metadata"])
def test_no_answer_times_out(proxy: FaultProxy, url: str, target: str, via: Any) -> None:
    proxy.add("hang", path_contains=target, times=None, hang_seconds=60)
    start = time.monotonic()
    with pytest.raises(zarrs_cffi.StorageError) as info:
        read(url, via(proxy, timeout=1, max_retries=1, retry_timeout=10))
    elapsed = time.monotonic() - start
    assert elapsed < (1 + 1) * 1 + 5  # (max_retries + 1) x timeout, plus back-off (docs/guide/stores.md)
    assert elapsed >= 1  # it did wait for the timeout
    assert not isinstance(info.value, zarrs_cffi.AccessDeniedError)
    assert target in str(info.value)
    assert 1 <= proxy.count(path_contains=target, kind="hang") <= 2  # the try and at most one retry


# --- 5. access denied ----------------------------------------------------------------------------
def test_403_everywhere_is_access_denied(proxy: FaultProxy, url: str, via: Any, cloud: Cloud) -> None:
    proxy.add("deny", times=None)
    options = via(proxy)
    with pytest.raises(zarrs_cffi.AccessDeniedError) as info:
        zarrs_cffi.open_array(url, "/", storage_options=options)
    error = info.value
    assert isinstance(error, PermissionError)
    assert isinstance(error, zarrs_cffi.StorageError)
    message = str(error)
    key = url.split("://", 1)[1].split("/", 1)[1]  # data.zarr/a
    assert key in message or url in message, message
    assert cloud.secret not in message and cloud.secret not in repr(error)
    assert proxy.count(kind="deny") >= 1
    paths = [(method, path) for method, path, _ in proxy.log]
    assert len(set(paths)) == len(paths)  # a refusal is not retried
    store = zarrs_cffi.Store(url, **options)
    try:
        assert cloud.secret not in repr(store) and cloud.secret not in str(store)
    finally:
        store.close()


@pytest.mark.parametrize("status", [401, 403])
def test_401_or_403_on_a_chunk_is_access_denied(
    proxy: FaultProxy, url: str, via: Any, cloud: Cloud, status: int
) -> None:
    proxy.add("status", status=status, method="GET", path_contains=CHUNK, times=None)
    with zarrs_cffi.open_array(url, storage_options=via(proxy)) as arr:
        np.testing.assert_array_equal(arr.read_chunk((1, 1)), DATA[64:, 64:])
        with pytest.raises(zarrs_cffi.AccessDeniedError) as info:
            arr.read_chunk((0, 0))
    assert isinstance(info.value, PermissionError)
    assert CHUNK in str(info.value) and str(status) in str(info.value)
    assert cloud.secret not in str(info.value)
    assert proxy.count("GET", CHUNK) == 1  # a refusal is not retried


# --- 6. failed writes leave the previous object ----------------------------------------------------
WRITE_FAULTS = {
    "status": {},  # 500 on every PUT of the chunk
    "reset": {},  # the upload is reset half way
    "hang": {"timeout": 1, "max_retries": 1},  # the upload is never answered
}


@pytest.mark.parametrize("fault", WRITE_FAULTS)
def test_failed_write_keeps_the_old_chunk(proxy: FaultProxy, cloud: Cloud, via: Any, fault: str) -> None:
    root = cloud.new_root()
    options = via(proxy, **WRITE_FAULTS[fault])
    with zarrs_cffi.create_array(
        root, "/a", shape=SHAPE, dtype=DATA.dtype, chunks=CHUNKS, storage_options=options
    ) as arr:
        arr[...] = DATA  # through the proxy, no fault yet
        assert proxy.count("PUT", CHUNK) == 1
        proxy.add(fault, status=500, method="PUT", path_contains=CHUNK, times=None, hang_seconds=60)
        start = time.monotonic()
        with pytest.raises(zarrs_cffi.StorageError) as info:
            arr.write_chunk((0, 0), np.full(CHUNKS, 5, "int32"))
        assert time.monotonic() - start < 30
        assert CHUNK in str(info.value)
        with pytest.raises(zarrs_cffi.StorageError):
            arr[0:10, 0:10] = 6  # a partial write: read, modify, then the failing PUT
    with pytest.raises(zarrs_cffi.StorageError):
        zarrs_cffi.write(
            root + "/a", (slice(0, 64), slice(0, 64)), DATA[:64, :64] + 1, storage_options=options
        )
    assert proxy.count("PUT", CHUNK, kind=fault) >= 3
    direct = zarrs_cffi.read(root + "/a", EVERYTHING, storage_options=cloud.options())
    np.testing.assert_array_equal(direct, DATA)


@pytest.mark.parametrize("fault", [*WRITE_FAULTS, "deny"])
def test_a_many_chunk_write_failing_on_one_chunk(
    proxy: FaultProxy, cloud: Cloud, via: Any, fault: str
) -> None:
    """A write of every chunk whose upload of one chunk fails: the typed error names that chunk,
    that chunk keeps its old object, and every other chunk is old or new as a whole."""
    root = cloud.new_root()
    options = via(proxy, **WRITE_FAULTS.get(fault, {}))
    new = DATA + 1
    with zarrs_cffi.create_array(
        root, "/a", shape=SHAPE, dtype=DATA.dtype, chunks=CHUNKS, storage_options=options
    ) as arr:
        arr[...] = DATA
        proxy.add(fault, status=500, method="PUT", path_contains=CHUNK, times=None, hang_seconds=60)
        start = time.monotonic()
        expected = zarrs_cffi.AccessDeniedError if fault == "deny" else zarrs_cffi.StorageError
        with pytest.raises(expected) as info:
            arr[...] = new  # four whole chunks: encoded, then uploaded side by side
        assert time.monotonic() - start < 30
    assert CHUNK in str(info.value)
    assert cloud.secret not in str(info.value)
    assert (fault == "deny") == isinstance(info.value, zarrs_cffi.AccessDeniedError)
    stored = zarrs_cffi.read(root + "/a", EVERYTHING, storage_options=cloud.options())
    np.testing.assert_array_equal(stored[:64, :64], DATA[:64, :64])  # the failed chunk: as before
    for rows, cols in [
        (slice(0, 64), slice(64, 128)),
        (slice(64, 128), slice(0, 64)),
        (slice(64, 128), slice(64, 128)),
    ]:
        part = stored[rows, cols]
        assert np.array_equal(part, DATA[rows, cols]) or np.array_equal(part, new[rows, cols])


# --- 7. nobody listening ---------------------------------------------------------------------------
def test_unreachable_endpoint(url: str, cloud: Cloud) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = {**cloud.options_at(f"http://127.0.0.1:{port}"), **FAST}
    start = time.monotonic()
    with pytest.raises(zarrs_cffi.StorageError) as info:
        zarrs_cffi.open_array(url, storage_options=options)
    assert time.monotonic() - start < 30
    assert not isinstance(info.value, zarrs_cffi.AccessDeniedError)
    assert cloud.secret not in str(info.value)
    # The message names the key and why the request failed (every cause of the client's error).
    assert "zarr.json" in str(info.value) and "Connection refused" in str(info.value), info.value
    start = time.monotonic()
    with pytest.raises(zarrs_cffi.StorageError):
        read(url, options)
    assert time.monotonic() - start < 30


@pytest.mark.parametrize("cloud", ["s3"], indirect=True)
def test_a_failed_consolidated_update_says_the_node_was_made(
    proxy: FaultProxy, cloud: Cloud, via: Any
) -> None:
    """The node is written first, then the root's consolidated metadata: when that fails, the
    error says the node exists (a retried create would raise NodeExistsError) and how to mend."""
    root = cloud.new_root()
    zarrs_cffi.create_group(root, storage_options=cloud.options())
    zarrs_cffi.consolidate(root, storage_options=cloud.options())
    proxy.add("status", status=503, method="PUT", path_contains="data.zarr/zarr.json", times=None)
    with pytest.raises(
        zarrs_cffi.StorageError,
        match=r"'/y' was created .*consolidated metadata failed.*zarrs_cffi\.consolidate",
    ):
        zarrs_cffi.create_group(root, "/y", storage_options=via(proxy, max_retries=0))
    with zarrs_cffi.Store(root, **cloud.options()) as store:
        assert store.node_exists("/y")
        assert [name for name, _ in store.list_children("/", consolidated=False)] == ["y"]


@pytest.mark.parametrize("cloud", ["s3"], indirect=True)
@pytest.mark.parametrize("engine", ["cffi", "zarr"])
def test_a_failed_write_has_ended_its_uploads_when_it_raises(
    proxy: FaultProxy, cloud: Cloud, via: Any, engine: str
) -> None:
    """One chunk's upload refused, the others slow: the write raises only once they ended. The
    zarr engine raised at once, and the slow uploads landed over what the caller wrote next."""
    root = cloud.new_root()
    with zarrs_cffi.create_array(
        root, "/a", shape=SHAPE, dtype=DATA.dtype, chunks=CHUNKS, storage_options=cloud.options()
    ) as arr:
        arr[...] = DATA
    doc = zarrs_cffi.crud.read_metadata(root, "a", storage_options=cloud.options())
    proxy.add("deny", method="PUT", path_contains=CHUNK, times=None)
    proxy.add("delay", method="PUT", times=None, hang_seconds=1.5)
    with pytest.raises(zarrs_cffi.AccessDeniedError):
        zarrs_cffi.crud.write_region(
            doc, root, "a", ..., DATA + 1, engine=engine, storage_options=via(proxy, timeout=10)
        )
    zarrs_cffi.crud.write_region(doc, root, "a", ..., DATA + 2, storage_options=cloud.options())
    time.sleep(2.0)  # longer than the slow uploads took
    np.testing.assert_array_equal(read(root + "/a", cloud.options()), DATA + 2)


@pytest.mark.parametrize("cloud", ["s3"], indirect=True)
@pytest.mark.parametrize("fault", ["truncate", "reset"])
def test_a_listing_whose_answer_broke_off_is_asked_again(
    proxy: FaultProxy, cloud: Cloud, via: Any, fault: str
) -> None:
    """object_store retries a listing on its status, not on a body that breaks off: one reset
    failed listings, node deletes and overwrites at once."""
    root = cloud.new_root()
    zarrs_cffi.create_group(root, storage_options=cloud.options())
    for name in ("a", "b"):
        zarrs_cffi.create_array(
            root, f"/{name}", shape=(4,), chunks=(2,), dtype="i4", storage_options=cloud.options()
        )[...] = 1
    options = via(proxy)
    proxy.add(fault, method="GET", path_contains="list-type", times=1)
    with zarrs_cffi.Store(root, **options) as store:
        assert [name for name, _ in store.list_children("/", consolidated=False)] == ["a", "b"]
        proxy.add(fault, method="GET", path_contains="list-type", times=1)
        store.delete_node("/a")
        assert [name for name, _ in store.list_children("/", consolidated=False)] == ["b"]
    assert proxy.count("GET", "list-type", kind=fault) == 2
