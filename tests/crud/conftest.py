"""The CRUD contract tests' fixtures live in crud_fixtures.py, so the S3 run of the battery
(tests/stores/test_contract_s3.py) can import them (a module named ``conftest`` would clash)."""

from crud_fixtures import arange_doc, engine, root, store  # noqa: F401  (fixtures)
