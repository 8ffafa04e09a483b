"""The store tests' fixtures (servers on loopback, store kinds) live in store_fixtures.py, which test
modules import their helpers from (a module named ``conftest`` would clash with tests/crud's)."""

from store_fixtures import azure_server, gcs_server, moto_endpoint, place, remote, s3  # noqa: F401  (fixtures)
