//! Inner chunks of sharded arrays whose inner codecs carry a checksum, decoded with it verified.
//!
//! zarrs decodes the inner chunks of a shard through partial decoders, and the partial decoders of
//! its checksum codecs skip the check: an inner chunk with a flipped bit read back silently, where
//! zarr-python raises. Such inner chunks are fetched encoded and decoded by the inner codec
//! chain's whole-chunk decode, which verifies the checksum.

use std::borrow::Cow;
use std::num::NonZeroU64;

use zarrs::array::codec::CodecChain;
use zarrs::array::{
    Array, ArrayBytes, ArrayError, ArrayShardedExt, ArrayShardedReadableExt,
    ArrayShardedReadableExtCache, ArrayToBytesCodecTraits, CodecOptions,
};
use zarrs::storage::ReadableStorageTraits;
use zarrs::storage::byte_range::ByteRange;

use crate::args::RwArray;
use crate::safety::checksummed_inner_codecs;

/// The inner codec chain and inner chunk shape of a sharded array with checksummed inner chunks.
pub struct CheckedInner {
    chain: CodecChain,
    shape: Vec<NonZeroU64>,
}

impl CheckedInner {
    /// None if `array`'s inner chunks carry no checksum (zarrs' own path reads them), or if the
    /// inner codecs do not build (zarrs' path then reports why).
    pub fn of(array: &RwArray) -> Option<Self> {
        let codecs = checksummed_inner_codecs(array)?;
        let chain = CodecChain::from_metadata(&codecs).ok()?;
        let shape = array.subchunk_shape()?.to_vec();
        Some(Self { chain, shape })
    }

    fn decode(
        &self,
        readable: &Array<dyn ReadableStorageTraits>,
        cache: &ArrayShardedReadableExtCache,
        indices: &[u64],
        options: &CodecOptions,
    ) -> Result<ArrayBytes<'static>, ArrayError> {
        let fill = || {
            let count = self.shape.iter().map(|n| n.get()).product();
            ArrayBytes::new_fill_value(readable.data_type(), count, readable.fill_value())
                .map_err(|e| ArrayError::Other(e.to_string()))
        };
        // zarrs 0.23 turns the shard index's "absent" entry (u64::MAX, u64::MAX) into a byte range
        // without checking it (offset + size wraps), so an unwritten inner chunk of a stored
        // shard failed as "invalid byte range" here: that entry means fill value.
        if let Some(ByteRange::FromStart(u64::MAX, _)) =
            readable.subchunk_byte_range(cache, indices)?
        {
            return fill();
        }
        let Some(encoded) = readable.retrieve_encoded_subchunk(cache, indices)? else {
            return fill();
        };
        let decoded = self.chain.decode(
            Cow::Owned(encoded),
            &self.shape,
            readable.data_type(),
            readable.fill_value(),
            options,
        )?;
        Ok(decoded.into_owned())
    }
}

/// Inner chunk `indices` of a sharded array (its full inner-chunk shape), decoded by zarrs, or
/// with its checksum verified when `checked` says the inner codecs carry one.
pub fn retrieve_inner_chunk(
    readable: &Array<dyn ReadableStorageTraits>,
    cache: &ArrayShardedReadableExtCache,
    checked: Option<&CheckedInner>,
    indices: &[u64],
    options: &CodecOptions,
) -> Result<ArrayBytes<'static>, ArrayError> {
    match checked {
        Some(checked) => checked.decode(readable, cache, indices, options),
        None => readable.retrieve_subchunk_opt::<ArrayBytes>(cache, indices, options),
    }
}
