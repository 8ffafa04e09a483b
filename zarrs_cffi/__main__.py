"""``python -m zarrs_cffi``: the command line (see :mod:`zarrs_cffi.cli`)."""

from zarrs_cffi.cli import main

raise SystemExit(main())
