"""CRUD engines: implementations of :class:`zarrs_cffi.crud.CrudBackend` (``cffi``, ``zarr``)."""
