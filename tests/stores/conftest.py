"""The store tests' fixtures (servers on loopback, store kinds) live in store_fixtures.py, which test
modules import their helpers from (a module named ``conftest`` would clash with tests/crud's)."""

from store_fixtures import (  # noqa: F401  (fixtures)
    azure_server,
    gcs_server,
    moto_endpoint,
    native_opens,
    place,
    remote,
    s3,
)
