"""``https://`` stores: a loopback HTTPS server with a self-signed certificate made by the test.

An untrusted certificate is a StorageError that says so; the certificate is trusted through
``SSL_CERT_FILE`` (fresh interpreter) or skipped with ``allow_invalid_certificates``.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import pathlib
import ssl
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from loopback_server import PlainHandler, serve

import zarrs_cffi

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

DATA = np.arange(8 * 8, dtype="uint8").reshape(8, 8)
EVERYTHING = (slice(None), slice(None))


def _self_signed(directory: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """A certificate for 127.0.0.1 and localhost, valid for a day, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, pathlib.Path]]:
    """(https URL of an array, the certificate file)."""
    directory = tmp_path_factory.mktemp("https")
    with zarrs_cffi.create_array(
        str(directory / "a.zarr"), shape=DATA.shape, dtype="uint8", chunks=(4, 4)
    ) as a:
        a[...] = DATA
    cert_file, key_file = _self_signed(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    with serve(directory / "a.zarr", PlainHandler, tls=context) as served:
        yield served.url, cert_file


def test_an_untrusted_certificate_is_a_storage_error_saying_so(served: tuple[str, pathlib.Path]) -> None:
    url, _ = served
    with pytest.raises(zarrs_cffi.StorageError, match="certificate") as raised:
        zarrs_cffi.read(url, EVERYTHING, storage_options={"max_retries": 0})
    assert "zarr.json" in str(raised.value)


def test_allow_invalid_certificates_reads(served: tuple[str, pathlib.Path]) -> None:
    url, _ = served
    options = {"allow_invalid_certificates": True}
    np.testing.assert_array_equal(zarrs_cffi.read(url, EVERYTHING, storage_options=options), DATA)
    with zarrs_cffi.open_array(url, storage_options=options) as array:
        out = np.zeros((4, 8), "uint8")
        array.read_into(out, (slice(2, 6), slice(None)))
        np.testing.assert_array_equal(out, DATA[2:6])
        with pytest.raises(zarrs_cffi.ReadOnlyError):
            array[0, 0] = 1


def test_a_certificate_trusted_through_ssl_cert_file_reads(served: tuple[str, pathlib.Path]) -> None:
    url, cert_file = served
    code = f"import zarrs_cffi; print(int(zarrs_cffi.read({url!r}, (slice(None), slice(None))).sum()))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SSL_CERT_FILE": str(cert_file)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.strip()) == int(DATA.sum())
