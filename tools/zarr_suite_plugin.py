"""pytest plugin for the run of zarr-python's suite with our pipeline (tools/zarr_suite.py).

It proves the run used ``ZarrsCffiCodecPipeline`` (the session stops if zarr resolves another
class) and counts how requests were served: natively from the store, natively decoded with the bytes
moved by zarr's store, or through zarr's pipeline by reason (from the pipeline's DEBUG log lines). The counts go to the JSON file named by ``ZARRS_CFFI_SUITE_STATS``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from typing import Any

import pytest

counts: Counter[str] = Counter()


class _FallbackCounter(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().removeprefix("zarrs_cffi pipeline: ")
        if "chunk bytes go through it" in message:  # not a fallback: counted per request below
            return
        # Group by reason: drop quoted names, numbers and detail after a colon.
        message = re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "…", message)
        counts["fallback: " + message[:110]] += 1


def pytest_configure(config: pytest.Config) -> None:
    import zarr.registry

    from zarrs_cffi.zarr_pipeline import ZarrsCffiCodecPipeline

    resolved = zarr.registry.get_pipeline_class()
    if resolved is not ZarrsCffiCodecPipeline:
        raise pytest.UsageError(
            f"zarr resolves codec_pipeline.path to {resolved!r}, not ZarrsCffiCodecPipeline"
        )
    original = ZarrsCffiCodecPipeline._run

    async def counted_run(self: Any, task: Any, nbytes: int) -> None:
        counts["native"] += 1
        await original(self, task, nbytes)

    ZarrsCffiCodecPipeline._run = counted_run  # type: ignore[method-assign]
    import zarrs_cffi.zarr_pipeline as pipeline_module

    for name in ("read_through_store", "write_through_store"):
        _count_calls(pipeline_module, name)
    logger = logging.getLogger("zarrs_cffi.zarr_pipeline")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # the suite's own log assertions must not see our records
    logger.addHandler(_FallbackCounter())


def _count_calls(module: Any, name: str) -> None:
    """Count the requests whose bytes went through zarr's store, decoded natively."""
    original = getattr(module, name)

    async def counted(*args: Any, **kwargs: Any) -> None:
        counts["through zarr's store"] += 1
        await original(*args, **kwargs)

    setattr(module, name, counted)


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("ZARRS_CFFI_SUITE_STATS")
    if path:
        with open(path, "w") as f:
            json.dump(dict(counts), f, indent=1)
