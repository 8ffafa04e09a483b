"""The few zarr-python internals zarrs-cffi uses, spelled so they work on every zarr-python 3 release
we test (3.1.6 on CPython 3.11, the newest 3.4.x on CPython 3.12). Imports zarr: import this module
only where zarr is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zarr.abc.codec import Codec
    from zarr.core.array_spec import ArrayConfig, ArraySpec
    from zarr.core.metadata import ArrayMetadata

__all__ = ["chunk_spec", "pipeline_codecs", "stored_chunk_shape"]


def stored_chunk_shape(metadata: ArrayMetadata) -> tuple[int, ...] | None:
    """The shape of one chunk of the array's chunk grid (a shard, for sharded arrays), or None if
    the grid is not regular."""
    if metadata.zarr_format == 2:
        return tuple(metadata.chunks)
    # zarr 3.1: a RegularChunkGrid; zarr 3.4: RegularChunkGridMetadata; both have chunk_shape.
    shape = getattr(metadata.chunk_grid, "chunk_shape", None)
    return None if shape is None else tuple(shape)


def chunk_spec(metadata: ArrayMetadata, config: ArrayConfig) -> ArraySpec:
    """The spec zarr decodes a (full-size) chunk of the array with. zarr 3.1 has
    ``metadata.get_chunk_spec``; zarr 3.4 builds it from its chunk grid object instead."""
    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import default_buffer_prototype

    shape = stored_chunk_shape(metadata)
    if shape is None:
        raise NotImplementedError(f"chunk grid {type(metadata.chunk_grid).__name__} is not regular")
    return ArraySpec(
        shape=shape,
        dtype=metadata.dtype,
        fill_value=metadata.fill_value,
        config=config,
        prototype=default_buffer_prototype(),
    )


def pipeline_codecs(metadata: ArrayMetadata) -> list[Codec]:
    """The codecs zarr's own pipeline is built from for ``metadata`` (v3, or v2's compressor and
    filters wrapped in zarr's V2Codec)."""
    if metadata.zarr_format == 3:
        return list(metadata.codecs)
    from zarr.codecs._v2 import V2Codec

    return [V2Codec(filters=metadata.filters, compressor=metadata.compressor)]
