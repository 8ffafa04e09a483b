"""Secrets in store URLs and options never reach a message or a repr (docs/guide/stores.md): a
URL's password (an http(s) URL's whole user info), its query's values, credential options — in
this package's messages, in the native library's (object_store quotes request URLs, re-encoded),
in malformed-URL errors, after pickling, from many threads."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zarrs_cffi
from zarrs_cffi import secrets
from zarrs_cffi._native import ffi, lib, take_string

DEAD = "127.0.0.1:1"  # nothing listens: every request fails at once


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no remembered secret in Python (the native registry cannot be reset:
    each test uses secrets of its own)."""
    monkeypatch.setattr(secrets, "_secrets", ())
    monkeypatch.setattr(secrets, "_longest_first", ())
    yield


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}"


def native_message(url: str, options: bytes = b'{"max_retries": 0}') -> str:
    """The C API's own message for a failed read through ``url`` (or for opening it), unfiltered
    by Python."""
    out = ffi.new("ZarrsCffiStorage *")
    if lib.zarrsCffiCreateStorageFromUrl(url.encode(), options, out) != 0:
        return take_string(lib.zarrsCffiLastError())
    try:
        assert lib.zarrsCffiReadNodeMetadata(out[0], b"/", ffi.new("char **")) != 0
        return take_string(lib.zarrsCffiLastError())
    finally:
        lib.zarrsCffiDestroyStorage(out[0])


def test_url_secrets_are_masked_in_python_and_native_messages_and_reprs() -> None:
    password, signature = unique("Pw|x^"), unique('Sig<"')  # characters object_store percent-encodes
    url = f"http://{DEAD}/d.zarr?sig={signature}&v=1"
    with_user = f"http://reader:{password}@{DEAD}/d.zarr?sig={signature}&v=1"
    encoded = [password.replace("|", "%7C").replace("^", "%5E"), signature.replace("<", "%3C")]
    with zarrs_cffi.Store(url, max_retries=0) as store:
        shown = [repr(store), repr(store.location)]
        with pytest.raises(zarrs_cffi.StorageError) as info:
            store.read_metadata("/")
        shown.append(str(info.value))
    native = native_message(url)
    shown.append(native)
    # User information is refused (the HTTP client would not send it), in a message that masks it.
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="user information") as refused:
        zarrs_cffi.Store(with_user, max_retries=0)
    shown += [str(refused.value), native_message(with_user)]
    for text in shown:
        for secret in (password, signature, *encoded, password[:10], signature[:10]):
            assert secret not in text, text
    assert "sig=***" in native, native


def test_a_token_given_as_the_user_name_is_masked() -> None:
    token = unique("ghp")
    native = native_message(f"https://{token}@{DEAD}/d.zarr")
    assert token not in native and "user information" in native, native


@pytest.mark.parametrize("scheme", ["ftp", "bogus"])
def test_malformed_urls_do_not_quote_their_secrets(scheme: str) -> None:
    python_secret, native_secret = unique("py-pw"), unique("c-pw")
    with pytest.raises(zarrs_cffi.InvalidArgumentError) as info:
        zarrs_cffi.Store(f"{scheme}://user:{python_secret}@host/x")
    assert python_secret not in str(info.value), info.value
    native = native_message(f"{scheme}://user:{native_secret}@host/x", b"")
    assert "unsupported store URL scheme" in native and native_secret not in native, native


def test_a_nul_in_a_url_or_a_credential_is_refused_without_quoting_it() -> None:
    password, key = unique("nul-pw"), unique("nul-key")
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="NUL") as url_error:
        zarrs_cffi.Store(f"http://u:{password}@host/x\0y")
    with pytest.raises(zarrs_cffi.InvalidArgumentError, match="NUL") as option_error:
        zarrs_cffi.Store("s3://bucket/x", secret_access_key=key + "\0")
    assert password not in str(url_error.value) and key not in str(option_error.value)


def test_short_credentials_and_key_ids_do_not_mask_ordinary_text() -> None:
    """LocalStack's and MinIO's well-known keys ("test", "minioadmin") are no secrets worth
    making every message containing those words unreadable; an access key id is no secret."""
    with zarrs_cffi.Store("s3://bucket/x", access_key_id="AKIAEXAMPLE0001", secret_access_key="test"):
        pass
    text = "array '/latest' in '/tmp/pytest-1/test_data.zarr', key AKIAEXAMPLE0001"
    assert secrets.redact(text) == text


def test_a_credential_option_is_masked_wherever_quoted() -> None:
    key = unique("opt-secret")
    with zarrs_cffi.Store("s3://bucket/x", access_key_id="AKIAEXAMPLE0002", secret_access_key=key):
        pass
    assert secrets.redact(f"quoted: {key!r}") == "quoted: '***'"


def test_an_unpickled_location_hides_its_secrets_in_a_fresh_process() -> None:
    key = unique("pickled-secret")
    location = zarrs_cffi.Store(
        "s3://bucket/x", access_key_id="AKIAEXAMPLE0002", secret_access_key=key
    ).location
    code = (
        "import pickle, sys, zarrs_cffi.secrets as s\n"
        "location = pickle.loads(sys.stdin.buffer.read())\n"
        f"print(s.redact('value {key}'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps(location), capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == "value ***"


def test_secrets_named_from_many_threads_are_all_remembered() -> None:
    names = [[unique(f"thread{t}-sig") for _ in range(50)] for t in range(8)]

    def name_all(batch: list[str]) -> None:
        for signature in batch:
            secrets.hide(f"https://host/x?sig={signature}", {})

    threads = [threading.Thread(target=name_all, args=(batch,)) for batch in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for batch in names:
        for signature in batch:
            assert secrets.redact(signature) == "***", signature


def test_no_secret_reaches_a_log_or_stderr(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """Everything logged at DEBUG (the zarr pipeline's fallback lines included) and everything the
    native library writes to stderr, while failing requests quote URLs and credentials."""
    zarr = pytest.importorskip("zarr")
    password, token, key = unique("LogPw"), unique("LogTok"), unique("LogKey")
    url = f"http://reader:{password}@{DEAD}/d.zarr?token={token}"
    capfd.readouterr()
    with caplog.at_level("DEBUG"):
        with pytest.raises(zarrs_cffi.InvalidArgumentError):  # (user information is refused)
            zarrs_cffi.read(url, (), storage_options={"max_retries": 0})
        with pytest.raises(zarrs_cffi.StorageError):
            zarrs_cffi.read(url.replace(f"reader:{password}@", ""), (), storage_options={"max_retries": 0})
        s3 = {"endpoint": f"http://{DEAD}", "allow_http": True, "secret_access_key": key, "max_retries": 0}
        with pytest.raises(zarrs_cffi.StorageError):
            zarrs_cffi.open_array("s3://bucket/d.zarr", storage_options={**s3, "access_key_id": "id"})
        # The pipeline on an array the native library cannot handle logs why it falls back.
        with zarr.config.set({"codec_pipeline.path": "zarrs_cffi.ZarrsCffiCodecPipeline"}):
            strings = zarr.create_array(zarr.storage.MemoryStore(), shape=(2,), dtype=str)
            strings[:] = ["a", "b"]
    logged, written = caplog.text, capfd.readouterr()
    assert "zarrs_cffi pipeline" in logged  # the capture works: the fallback line is there
    for secret in (password, token, key):
        assert secret not in logged and secret not in written.err and secret not in written.out, secret


@pytest.mark.parametrize("word", ["i" * 1_000_000, "a1" * 500_000, "1." * 500_000])
def test_a_url_after_a_very_long_word_is_masked_and_the_word_kept(word: str) -> None:
    """A long word (a node path of 100,000 characters quoted in an error) once took quadratic time
    to scan for URLs — 18 s for 200,000 characters; a million characters would not finish."""
    message = f"node {word}1s3://user:pw-123456@bucket/x?sig=abcdef done"
    assert secrets.redact(message) == f"node {word}1s3://user:***@bucket/x?sig=*** done"


_OLD_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"`<>]*")


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="ab1+.-:/@?=&# '\"hts", max_size=40))
def test_urls_are_found_where_a_plain_scheme_pattern_finds_them(text: str) -> None:
    """The URL pattern, tried only at the start of a run of scheme characters, finds the URLs the
    plain pattern (tried at every letter) finds."""

    def masked(plain: re.Match[str]) -> str:
        url = secrets._URL.match(plain.group(0))  # the same URL, masked as redact masks it
        assert url is not None and url.group(0) == plain.group(0)
        return secrets._mask_url(url)

    assert secrets.redact(text) == _OLD_URL.sub(masked, text)
