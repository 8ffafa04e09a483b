//! Guards around zarrs calls that handle untrusted stored bytes or sizes: decoder panics become
//! codec errors naming the chunk, chunks larger than the machine's memory are refused before
//! anything allocates them, and checksummed chunks are decoded whole (zarrs' partial decoders skip
//! the checksum).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use zarrs::array::ArrayMetadata;
use zarrs::metadata::v3::MetadataV3;
use zarrs_ffi::ZarrsResult;

use crate::args::{RwArray, element_size};
use crate::error::{FfiError, FfiResult, ZarrsCffiResult};

/// Run a decode or encode step; a panic inside zarrs (corrupt bytes it did not anticipate)
/// becomes a codec error that names what was being decoded.
pub fn catch_codec_panic<T>(
    label: impl FnOnce() -> String,
    body: impl FnOnce() -> FfiResult<T>,
) -> FfiResult<T> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(FfiError::new(
                ZarrsCffiResult::ZARRS_CFFI_ERROR_CODEC,
                format!(
                    "{}: stored data is corrupt (decoder failed: {what})",
                    label()
                ),
            ))
        }
    }
}

pub fn physical_memory() -> u64 {
    static MEMORY: OnceLock<u64> = OnceLock::new();
    *MEMORY.get_or_init(|| {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|line| line.strip_prefix("MemTotal:"))
                    .and_then(|rest| {
                        rest.trim()
                            .trim_end_matches("kB")
                            .trim()
                            .parse::<u64>()
                            .ok()
                    })
            })
            .map_or(u64::MAX, |kib| kib.saturating_mul(1024))
    })
}

/// True if `bytes` could be allocated at all: more than the machine's memory would make the
/// allocation fail, which aborts the process.
pub fn fits_in_memory(bytes: u64) -> bool {
    bytes <= physical_memory()
}

/// Refuse I/O on arrays whose stored chunks could not even be allocated: zarrs would abort the
/// process when building such a chunk (e.g. the fill-value chunk of a partial write).
pub fn check_chunk_memory(array: &RwArray) -> FfiResult {
    let zeros = vec![0u64; array.dimensionality()];
    let Ok(shape) = array.chunk_shape(&zeros) else {
        return Ok(());
    };
    let bytes = shape
        .iter()
        .try_fold(element_size(array)? as u64, |acc, n| {
            acc.checked_mul(n.get())
        });
    match bytes {
        Some(bytes) if fits_in_memory(bytes) => Ok(()),
        _ => Err(FfiError::upstream(
            ZarrsResult::ZARRS_ERROR_ARRAY,
            format!(
                "chunks of shape {:?} are larger than this machine's memory ({} bytes)",
                shape.iter().map(|n| n.get()).collect::<Vec<_>>(),
                physical_memory()
            ),
        )),
    }
}

/// For reads: stored chunks too large to allocate are refused (decoding one would abort), while
/// a region of a missing huge chunk is just fill and is allowed.
pub fn check_read_memory(array: &RwArray, subset: &zarrs::array::ArraySubset) -> FfiResult {
    let Err(too_large) = check_chunk_memory(array) else {
        return Ok(());
    };
    let Ok(Some(chunks)) = array.chunks_in_array_subset(subset) else {
        return Err(too_large);
    };
    for indices in &chunks.indices() {
        if !chunk_is_absent(array, &indices) {
            return Err(too_large);
        }
    }
    Ok(())
}

/// True if the chunk (shard) `indices` is known not to be stored; false if it is, or if the
/// store cannot say.
pub fn chunk_is_absent(array: &RwArray, indices: &[u64]) -> bool {
    matches!(
        array.storage().size_key(&array.chunk_key(indices)),
        Ok(None)
    )
}

/// True if parts of this array's chunks must be read by decoding the whole chunk: its codecs
/// carry a checksum (see `has_checksum`), or an array-to-array codec decodes whole chunks only
/// (numcodecs delta, fixedscaleoffset, quantize, astype). zarrs reads a part of such a chunk
/// through a cache of the codec's input that reports every chunk as stored, so a missing chunk
/// reads as the codec's decoding of fill values (delta: their running sum, not the fill value),
/// and behind a transpose (Zarr v2 `order: "F"`) it sizes that cache with the transposed shape
/// and fails. A whole chunk is read as zarrs reads chunks: missing is the fill value.
pub fn needs_whole_chunks(array: &RwArray) -> bool {
    has_checksum(array)
        || array
            .codecs()
            .array_to_array_codecs()
            .iter()
            .any(|codec| !codec.partial_decoder_capability().partial_decode)
}

/// Checksum codecs: under their Zarr v3 names, zarr-python's `numcodecs.*` names and the Zarr v2
/// ids (numcodecs' `crc32` included).
fn is_checksum(name: &str) -> bool {
    matches!(
        name.strip_prefix("numcodecs.").unwrap_or(name),
        "crc32c" | "crc32" | "adler32" | "fletcher32"
    )
}

/// True if the array's codecs carry a checksum (crc32c, crc32, adler32, fletcher32), so chunks
/// must be decoded whole for the checksum to be verified.
pub fn has_checksum(array: &RwArray) -> bool {
    match array.metadata() {
        ArrayMetadata::V3(v3) => v3.codecs.iter().any(|codec| is_checksum(codec.name())),
        ArrayMetadata::V2(v2) => v2
            .filters
            .iter()
            .flatten()
            .chain(v2.compressor.iter())
            .any(|codec| is_checksum(codec.id())),
    }
}

/// The codecs of the inner chunks of a sharded array (the `codecs` of its `sharding_indexed`
/// codec) if they carry a checksum, at any depth of nested sharding; else None. zarrs decodes
/// inner chunks through partial decoders, which skip checksums: a flipped bit read silently.
pub fn checksummed_inner_codecs(array: &RwArray) -> Option<Vec<MetadataV3>> {
    let ArrayMetadata::V3(v3) = array.metadata() else {
        return None;
    };
    let [sharding] = v3.codecs.as_slice() else {
        return None;
    };
    let inner = inner_codecs(sharding)?;
    inner.iter().any(holds_checksum).then_some(inner)
}

/// True if a checksum is anywhere in the array's codecs, inside sharding too.
pub fn checksum_anywhere(array: &RwArray) -> bool {
    match array.metadata() {
        ArrayMetadata::V3(v3) => v3.codecs.iter().any(holds_checksum),
        ArrayMetadata::V2(_) => has_checksum(array),
    }
}

fn inner_codecs(codec: &MetadataV3) -> Option<Vec<MetadataV3>> {
    if codec.name() != "sharding_indexed" {
        return None;
    }
    serde_json::from_value(codec.configuration()?.get("codecs")?.clone()).ok()
}

fn holds_checksum(codec: &MetadataV3) -> bool {
    is_checksum(codec.name())
        || inner_codecs(codec).is_some_and(|inner| inner.iter().any(holds_checksum))
}
