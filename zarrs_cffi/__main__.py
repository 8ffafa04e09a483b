from zarrs_cffi.cli import main

raise SystemExit(main())
