//! Array handles and I/O that upstream lacks: decoding straight into the caller's buffer, storing,
//! erasing and raw (encoded) chunk access, on this library's `ZarrsCffiArray` handles (`handle`).

use std::ffi::c_char;

use zarrs::array::{
    Array, ArrayBytes, ArrayBytesFixedDisjointView, ArrayCreateError, ArrayError, ArrayMetadata,
    ArrayMetadataV2, ArraySubset,
};
use zarrs::node::{NodePath, meta_key_v2_array, meta_key_v2_attributes, meta_key_v3};
use zarrs::storage::{ReadableWritableStorageTraits, StorageError, StoreKey};
use zarrs_ffi::ZarrsResult;

use crate::args::{
    RwArray, byte_count, check_chunk_indices, check_region, element_size, out_bytes_arg, slice_arg,
    str_arg, write_bytes_out, write_out,
};
use crate::error::{FfiError, FfiResult, ZarrsCffiResult, guard};
use crate::handle::{
    ArrayHandle, ZarrsCffiArray, ZarrsCffiArray_T, ZarrsCffiStorage, array_arg, storage_arg,
};
use crate::lenient_json;
use crate::pool::{codec_options, in_pool};
use crate::region_io::chunk_label;
use crate::safety::{catch_codec_panic, check_chunk_memory, check_read_memory};
use crate::write_locks::Covers;

/// Map a zarrs array error to a result code; `context` says which chunk or region it concerns.
pub fn array_error(err: ArrayError, context: &str) -> FfiError {
    let code: i32 = match &err {
        ArrayError::CodecError(_)
        | ArrayError::UnexpectedChunkDecodedSize(..)
        | ArrayError::UnexpectedChunkDecodedShape(..) => {
            ZarrsCffiResult::ZARRS_CFFI_ERROR_CODEC.into()
        }
        ArrayError::StorageError(_) => ZarrsResult::ZARRS_ERROR_STORAGE as i32,
        ArrayError::InvalidChunkGridIndicesError(_)
        | ArrayError::InvalidArraySubset(..)
        | ArrayError::InvalidChunkSubset(..) => ZarrsResult::ZARRS_ERROR_INVALID_INDICES as i32,
        ArrayError::IncompatibleDimensionalityError(_) => {
            ZarrsResult::ZARRS_ERROR_INCOMPATIBLE_DIMENSIONALITY as i32
        }
        ArrayError::InvalidBytesInputSize(..) | ArrayError::InvalidDataShape(..) => {
            ZarrsResult::ZARRS_ERROR_BUFFER_LENGTH as i32
        }
        _ => ZarrsResult::ZARRS_ERROR_ARRAY as i32,
    };
    FfiError::new(code, format!("{context}: {err}"))
}

/// Map an error from opening or creating an array.
pub fn create_error(err: ArrayCreateError, path: &str) -> FfiError {
    match err {
        ArrayCreateError::MissingMetadata => FfiError::not_found(format!(
            "no array at node {path:?} (no zarr.json or .zarray)"
        )),
        ArrayCreateError::StorageError(zarrs::storage::StorageError::InvalidMetadata(key, msg)) => {
            FfiError::upstream(
                ZarrsResult::ZARRS_ERROR_INVALID_METADATA,
                format!(
                    "array {path:?}: invalid metadata in {:?}: {msg}",
                    key.as_str()
                ),
            )
        }
        // Named by key: some clients' messages show it only percent-encoded in a URL (GCS).
        ArrayCreateError::StorageError(e) => FfiError::upstream(
            ZarrsResult::ZARRS_ERROR_STORAGE,
            format!("array {path:?}: reading its metadata (zarr.json or .zarray): {e}"),
        ),
        ArrayCreateError::NodePathError(e) => {
            let reserved = path.split('/').any(|name| name.starts_with("__"));
            let why = if reserved {
                ": zarrs cannot open an array with a name that starts with \"__\" (the Zarr v3 \
                 spec reserves such names); zarr-python can (the CRUD functions with \
                 engine=\"zarr\")"
            } else {
                ""
            };
            FfiError::upstream(
                ZarrsResult::ZARRS_ERROR_NODE_PATH,
                format!("{path:?}: {e}{why}"),
            )
        }
        ArrayCreateError::DataTypeCreateError(e) => FfiError::upstream(
            ZarrsResult::ZARRS_ERROR_UNSUPPORTED_DATA_TYPE,
            format!("array {path:?}: {e}"),
        ),
        other => FfiError::upstream(
            ZarrsResult::ZARRS_ERROR_INVALID_METADATA,
            format!("array {path:?}: invalid metadata: {other}"),
        ),
    }
}

/// The shape of chunk `indices` (checked to lie in the chunk grid) and its decoded size in bytes.
pub fn chunk_layout(
    array: &RwArray,
    indices: &[u64],
) -> FfiResult<(Vec<std::num::NonZeroU64>, usize)> {
    check_chunk_indices(array, indices)?;
    let shape = array
        .chunk_shape(indices)
        .map_err(|e| array_error(e, &chunk_label(array, indices)))?;
    let extent: Vec<u64> = shape.iter().map(|n| n.get()).collect();
    Ok((shape.to_vec(), byte_count(&extent, element_size(array)?)?))
}

/// After a failed multi-chunk operation, find the first chunk that fails on its own, so the error
/// names a key. Runs only on the error path.
fn name_failing_chunk(array: &RwArray, subset: &ArraySubset, err: ArrayError) -> FfiError {
    if let Ok(Some(chunks)) = array.chunks_in_array_subset(subset) {
        for indices in &chunks.indices() {
            let attempt = catch_codec_panic(
                || chunk_label(array, &indices),
                || {
                    array
                        .retrieve_chunk::<ArrayBytes>(&indices)
                        .map(|_| ())
                        .map_err(|e| array_error(e, &chunk_label(array, &indices)))
                },
            );
            if let Err(named) = attempt {
                return named;
            }
        }
    }
    array_error(err, &format!("region {:?}", subset.to_ranges()))
}

fn check_document(array: &RwArray, path: &str) -> FfiResult {
    if let Ok(serde_json::Value::Object(doc)) = serde_json::to_value(array.metadata()) {
        crate::hierarchy::check_array_document(&doc).map_err(|why| {
            FfiError::upstream(
                ZarrsResult::ZARRS_ERROR_INVALID_METADATA,
                format!("array {path:?}: invalid metadata: {why}"),
            )
        })?;
    }
    Ok(())
}

/// Open the array at `path` (a node path: "/" or "/a/b"); v3 first, then v2.
///
/// Unlike `zarrsOpenArrayRW`, bad strings and NULLs return errors instead of aborting, a missing
/// array returns `ZARRS_CFFI_ERROR_NODE_NOT_FOUND`, and the message is per thread
/// (`zarrsCffiLastError`). Destroy the handle with `zarrsCffiDestroyArray`; upstream's functions
/// take `zarrsCffiArrayUpstream(handle)`.
///
/// # Safety
/// `storage` must be a live storage handle; `path` a NUL-terminated string or NULL; `pArray` valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiOpenArray(
    storage: ZarrsCffiStorage,
    path: *const c_char,
    pArray: *mut ZarrsCffiArray,
) -> i32 {
    guard(|| {
        let storage = storage_arg(storage)?;
        let path = str_arg(path, "path")?;
        let store = storage.readable_writable().clone();
        let array = open_metadata(store.as_ref(), path)
            .and_then(|metadata| Array::new_with_metadata(store, path, metadata))
            .map_err(|e| create_error(e, path))?;
        check_document(&array, path)?;
        ZarrsCffiArray_T::new(array, storage)?.hand_out(pArray)
    })
}

/// The array metadata at `path`, read as zarrs' `Array::open` reads it (`zarr.json`, else `.zarray`
/// with `.zattrs`: the same requests and errors) but through `lenient_json`, so that what
/// zarr-python writes in attributes (bare NaN / Infinity, integers beyond 64 bits) reads as stored.
fn open_metadata(
    store: &dyn ReadableWritableStorageTraits,
    path: &str,
) -> Result<ArrayMetadata, ArrayCreateError> {
    let node = NodePath::new(path)?;
    let key = meta_key_v3(&node);
    if let Some(bytes) = store.get(&key)? {
        return Ok(ArrayMetadata::V3(from_stored(
            &bytes,
            key,
            lenient_json::parse_for_zarrs,
        )?));
    }
    let key = meta_key_v2_array(&node);
    let Some(bytes) = store.get(&key)? else {
        return Err(ArrayCreateError::MissingMetadata);
    };
    let mut metadata: ArrayMetadataV2 = from_stored(&bytes, key, lenient_json::parse_for_zarrs)?;
    let key = meta_key_v2_attributes(&node);
    if let Some(bytes) = store.get(&key)? {
        metadata.attributes = from_stored(&bytes, key, lenient_json::parse_as)?;
    }
    Ok(ArrayMetadata::V2(metadata))
}

/// A stored document as `T`; errors as zarrs reports them (the key and serde_json's message).
fn from_stored<T>(
    bytes: &[u8],
    key: StoreKey,
    parse: fn(&[u8]) -> Result<T, serde_json::Error>,
) -> Result<T, StorageError> {
    parse(bytes).map_err(|err| StorageError::InvalidMetadata(key, err.to_string()))
}

/// Make an array handle from a metadata document (v3 `zarr.json` or v2 `.zarray` JSON) without
/// reading or writing the store: the document is authoritative, so views of stored data work.
///
/// # Safety
/// As `zarrsCffiOpenArray`; `metadata` a NUL-terminated string or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayFromMetadata(
    storage: ZarrsCffiStorage,
    path: *const c_char,
    metadata: *const c_char,
    pArray: *mut ZarrsCffiArray,
) -> i32 {
    guard(|| {
        let storage = storage_arg(storage)?;
        let path = str_arg(path, "path")?;
        let metadata = str_arg(metadata, "metadata")?;
        let metadata = lenient_json::parse_for_zarrs::<ArrayMetadata>(metadata.as_bytes())
            .map_err(|e| {
                FfiError::upstream(
                    ZarrsResult::ZARRS_ERROR_INVALID_METADATA,
                    format!("array metadata for {path:?} is not valid: {e}"),
                )
            })?;
        let array = Array::new_with_metadata(storage.readable_writable().clone(), path, metadata)
            .map_err(|e| create_error(e, path))?;
        check_document(&array, path)?;
        ZarrsCffiArray_T::new(array, storage)?.hand_out(pArray)
    })
}

/// Write the array's metadata document as JSON to `*pJson` (free with `zarrsFreeString`): v3
/// `zarr.json`, or v2 `.zarray` with the `.zattrs` under "attributes". Unlike upstream's
/// `zarrsArrayGetMetadataString`, non-finite attribute values come back as stored: the bare tokens
/// `NaN`, `Infinity` and `-Infinity` that zarr-python writes (not JSON; Python's `json` reads them).
///
/// # Safety
/// `array` a live handle; `pJson` a valid out-pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayGetMetadata(
    array: ZarrsCffiArray,
    pJson: *mut *mut c_char,
) -> i32 {
    guard(|| {
        let array = array_arg(array)?;
        let doc = serde_json::to_value(array.metadata()).map_err(|e| {
            FfiError::upstream(
                ZarrsResult::ZARRS_ERROR_INVALID_METADATA,
                format!("array metadata cannot be written as JSON: {e}"),
            )
        })?;
        crate::hierarchy::return_string(lenient_json::to_text(&doc), pJson)
    })
}

/// Decode the region `[start, start + shape)` straight into `pOut` (C order, native endian,
/// `outBytes` must equal the region's byte size). No intermediate full-size buffer. Through the
/// array's chunk cache, if it has one (`zarrsCffiArraySetChunkCache`).
///
/// # Safety
/// `array` a live handle; `pStart`/`pShape` hold `dimensionality` values; `pOut` `outBytes` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayRetrieveSubsetInto(
    array: ZarrsCffiArray,
    dimensionality: usize,
    pStart: *const u64,
    pShape: *const u64,
    outBytes: usize,
    pOut: *mut u8,
) -> i32 {
    guard(|| {
        let array = array_arg(array)?;
        let start = slice_arg(pStart, dimensionality, "pStart")?;
        let shape = slice_arg(pShape, dimensionality, "pShape")?;
        check_region(array, start, shape)?;
        let expected = byte_count(shape, element_size(array)?)?;
        check_length(outBytes, expected, "output buffer")?;
        let out = out_bytes_arg(pOut, outBytes, "pOut")?;
        let subset = ArraySubset::from(std::iter::zip(start, shape).map(|(&s, &n)| s..s + n));
        check_read_memory(array, &subset)?;
        match array.chunk_cache() {
            Some(cache) if expected > 0 => {
                crate::chunk_cache::read_through_cache(array, &cache, &subset, out)
            }
            _ => decode_region(array, &subset, start, shape, out),
        }
    })
}

/// Decode one whole chunk (edge chunks at full chunk shape, padded with the fill value) into `pOut`.
///
/// # Safety
/// `array` a live handle; `pChunkIndices` holds `dimensionality` values; `pOut` `outBytes` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayRetrieveChunkInto(
    array: ZarrsCffiArray,
    dimensionality: usize,
    pChunkIndices: *const u64,
    outBytes: usize,
    pOut: *mut u8,
) -> i32 {
    guard(|| {
        let array = array_arg(array)?;
        let indices = slice_arg(pChunkIndices, dimensionality, "pChunkIndices")?;
        let (chunk, expected) = chunk_layout(array, indices)?;
        let shape: Vec<u64> = chunk.iter().map(|n| n.get()).collect();
        let context = || chunk_label(array, indices);
        check_length(outBytes, expected, "output buffer")?;
        let out = out_bytes_arg(pOut, outBytes, "pOut")?;
        check_chunk_memory(array)?;
        catch_codec_panic(context, || {
            retrieve_chunk_into(array, indices, &shape, expected, out)
        })
    })
}

fn retrieve_chunk_into(
    array: &ArrayHandle,
    indices: &[u64],
    shape: &[u64],
    expected: usize,
    out: &mut [u8],
) -> FfiResult {
    let context = || chunk_label(array, indices);
    {
        let subset = array
            .chunk_subset(indices)
            .map_err(|e| array_error(e, &context()))?;
        if crate::region_io::is_interior(array, &subset) {
            // An interior chunk is a region of the array: read as the planner says (directly
            // decoded where planned: a 64^3 zstd chunk 0.69 ms, through zarrs' pipeline 1.27 ms).
            return decode_region(array, &subset, subset.start(), shape, out);
        }
        if let Some(plan) = array.decode_plan().filter(|p| !p.is_sharded()) {
            // An edge chunk at its full shape, as stored (fill value where absent).
            return plan.decode_chunk(array, indices, out, &context);
        }
        // An edge chunk reaches past the array; decoding the chunk itself keeps its fill padding.
        let decoded = in_pool(|| {
            array
                .retrieve_chunk_opt::<ArrayBytes>(indices, &codec_options())
                .map_err(|e| array_error(e, &context()))
        })?;
        let bytes = decoded.into_fixed().map_err(|_| {
            FfiError::upstream(
                ZarrsResult::ZARRS_ERROR_UNSUPPORTED_DATA_TYPE,
                "variable-size data types are not supported",
            )
        })?;
        check_length(bytes.len(), expected, "decoded chunk")?;
        out.copy_from_slice(&bytes);
        Ok(())
    }
}

pub fn check_length(actual: usize, expected: usize, what: &str) -> FfiResult {
    if actual != expected {
        return Err(FfiError::upstream(
            ZarrsResult::ZARRS_ERROR_BUFFER_LENGTH,
            format!("{what} has {actual} bytes, expected {expected}"),
        ));
    }
    Ok(())
}

/// A read-only `Array` over the same storage and metadata, for zarrs APIs that want one
/// (the sharded partial-decoding extension).
pub fn readable_view(
    array: &RwArray,
) -> FfiResult<Array<dyn zarrs::storage::ReadableStorageTraits>> {
    let storage: std::sync::Arc<dyn zarrs::storage::ReadableStorageTraits> = array.storage();
    Array::new_with_metadata(storage, array.path().as_str(), array.metadata().clone())
        .map_err(|e| create_error(e, array.path().as_str()))
}

/// Decode the region `subset` (`[start, start + shape)`) into `out` as the planner says
/// (`planner`), naming the failing chunk on error.
pub fn decode_region(
    array: &ArrayHandle,
    subset: &ArraySubset,
    start: &[u64],
    shape: &[u64],
    out: &mut [u8],
) -> FfiResult {
    use crate::planner::{ReadStrategy, plan_read};
    use crate::region_io::{read_chunkwise, read_in_one_chunk, read_subchunkwise};
    let plan = array.decode_plan();
    match plan_read(array, plan, subset) {
        ReadStrategy::Nothing => Ok(()),
        ReadStrategy::OneChunk { indices, chunk } => match plan {
            Some(plan) => read_in_one_chunk(array, plan, (&indices, &chunk), start, shape, out),
            None => unreachable!("planned only for arrays that decode directly"),
        },
        ReadStrategy::ChunkByChunk {
            chunks,
            whole_chunks,
        } => read_chunkwise(array, plan, (&chunks, whole_chunks), start, shape, out),
        ReadStrategy::InnerChunks { units } => {
            read_subchunkwise(array, plan, units, start, shape, out)
        }
        ReadStrategy::Zarrs => decode_into_or_name_chunk(array, subset, shape, out),
    }
}

/// Decode `subset` into `out`; on failure, name the first chunk that fails on its own.
fn decode_into_or_name_chunk(
    array: &RwArray,
    subset: &ArraySubset,
    shape: &[u64],
    out: &mut [u8],
) -> FfiResult {
    let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode_into(array, subset, shape, out)
    }));
    match attempt {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(name_failing_chunk(array, subset, err)),
        // A decoder panicked on corrupt bytes: find and name the chunk that does it.
        Err(_) => Err(name_failing_chunk(
            array,
            subset,
            ArrayError::Other("the decoder failed on corrupt data".to_string()),
        )),
    }
}

fn decode_into(
    array: &RwArray,
    subset: &ArraySubset,
    shape: &[u64],
    out: &mut [u8],
) -> Result<(), ArrayError> {
    if out.is_empty() {
        return Ok(());
    }
    let elsize = array.data_type().fixed_size().unwrap_or(1);
    let cells = unsafe_cell_slice::UnsafeCellSlice::new(out);
    let whole = ArraySubset::new_with_shape(shape.to_vec());
    // SAFETY: one view over the whole output buffer; nothing else writes to it during the call.
    let mut view = unsafe { ArrayBytesFixedDisjointView::new(cells, elsize, shape, whole) }
        .map_err(|e| ArrayError::Other(e.to_string()))?;
    if runs_on_caller_thread(array, subset) {
        let options = codec_options().with_concurrent_target(1);
        return array.retrieve_array_subset_into_opt(subset, (&mut view).into(), &options);
    }
    in_pool(|| {
        Ok(array.retrieve_array_subset_into_opt(subset, (&mut view).into(), &codec_options()))
    })
    .unwrap_or_else(|e| Err(ArrayError::Other(e.message)))
}

/// A read of one unsharded chunk has nothing to parallelise: run it on the calling thread and
/// skip the round trip to the pool (a large share of a small read). Only in the process that
/// loaded the library, because a codec that used rayon's global pool in a forked child would hang.
fn runs_on_caller_thread(array: &RwArray, subset: &ArraySubset) -> bool {
    use zarrs::array::ArrayShardedExt;
    if !crate::pool::in_original_process() || array.is_sharded() {
        return false;
    }
    matches!(array.chunks_in_array_subset(subset), Ok(Some(chunks)) if chunks.num_elements() == 1)
}

/// Encode and store the region `[start, start + shape)` from `pIn` (C order, native endian).
/// Partial chunks are read, modified and written; chunks equal to the fill value are erased.
///
/// # Safety
/// `array` a live handle; `pStart`/`pShape` hold `dimensionality` values; `pIn` `inBytes` readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayStoreSubset(
    array: ZarrsCffiArray,
    dimensionality: usize,
    pStart: *const u64,
    pShape: *const u64,
    inBytes: usize,
    pIn: *const u8,
) -> i32 {
    guard(|| {
        let array = array_arg(array)?;
        let start = slice_arg(pStart, dimensionality, "pStart")?;
        let shape = slice_arg(pShape, dimensionality, "pShape")?;
        check_region(array, start, shape)?;
        let expected = byte_count(shape, element_size(array)?)?;
        check_length(inBytes, expected, "input buffer")?;
        if expected == 0 {
            return Ok(());
        }
        let data = slice_arg(pIn, inBytes, "pIn")?;
        check_chunk_memory(array)?;
        array.writing(covers(array, start, shape), || {
            store_region(array, start, shape, data)
        })
    })
}

/// Whether the region `start`/`shape` is whole chunks (shards) of the array, or covers some only
/// partly (an edge chunk reaching past the array's end included: its stored part is kept).
fn covers(array: &ArrayHandle, start: &[u64], shape: &[u64]) -> Covers {
    let subset = ArraySubset::from(std::iter::zip(start, shape).map(|(&s, &n)| s..s + n));
    let whole = || -> Option<bool> {
        let chunks = array.chunks_in_array_subset(&subset).ok()??;
        let last: Vec<u64> = std::iter::zip(chunks.start(), chunks.shape())
            .map(|(first, count)| first + count.saturating_sub(1))
            .collect();
        let first = array.chunk_subset(chunks.start()).ok()?;
        let last = array.chunk_subset(&last).ok()?;
        Some(first.start() == subset.start() && last.end_exc() == subset.end_exc())
    };
    match whole() {
        Some(true) => Covers::WholeChunks,
        _ => Covers::PartsOfChunks,
    }
}

/// Store `data` at the region `start`/`shape` (chunk by chunk where that is faster).
fn store_region(array: &ArrayHandle, start: &[u64], shape: &[u64], data: &[u8]) -> FfiResult {
    if crate::region_io::write_chunkwise(array, start, shape, data)? {
        return Ok(());
    }
    // One chunk (write_chunkwise handles more): errors name its key.
    let subset = ArraySubset::from(std::iter::zip(start, shape).map(|(&s, &n)| s..s + n));
    let label = || match array.chunks_in_array_subset(&subset) {
        Ok(Some(chunks)) if chunks.num_elements() == 1 => {
            format!("storing {}", chunk_label(array, chunks.start()))
        }
        _ => format!("storing region {:?}", subset.to_ranges()),
    };
    catch_codec_panic(label, || {
        in_pool(|| {
            array
                .store_array_subset_opt(&subset, ArrayBytes::new_flen(data), &codec_options())
                .map_err(|e| array_error(e, &label()))
        })
    })
}

/// Encode and store one whole chunk from `pIn` (full chunk shape, even at the array edge).
/// A chunk equal to the fill value is erased instead.
///
/// # Safety
/// `array` a live handle; `pChunkIndices` holds `dimensionality` values; `pIn` `inBytes` readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayStoreChunk(
    array: ZarrsCffiArray,
    dimensionality: usize,
    pChunkIndices: *const u64,
    inBytes: usize,
    pIn: *const u8,
) -> i32 {
    guard(|| {
        let array = array_arg(array)?;
        let indices = slice_arg(pChunkIndices, dimensionality, "pChunkIndices")?;
        let (_, expected) = chunk_layout(array, indices)?;
        let context = || chunk_label(array, indices);
        check_length(inBytes, expected, "chunk buffer")?;
        let data = slice_arg(pIn, inBytes, "pIn")?;
        check_chunk_memory(array)?;
        array.writing(Covers::WholeChunks, || {
            catch_codec_panic(context, || {
                in_pool(|| {
                    array
                        .store_chunk_opt(indices, ArrayBytes::new_flen(data), &codec_options())
                        .map_err(|e| array_error(e, &format!("storing {}", context())))
                })
            })
        })
    })
}

/// Destroy one of this library's array handles and free all of it (NULL is ignored).
///
/// Only for `ZarrsCffiArray` handles (`zarrsCffiOpenArray`, `zarrsCffiArrayFromMetadata`,
/// `zarrsCffiArrayFromUpstream`): an upstream `ZarrsArray` passed here corrupts memory. Upstream's
/// `zarrsDestroyArray` leaks its handle's own allocation; adopt such a handle with
/// `zarrsCffiArrayFromUpstream(handle, 1, &ours)` and destroy `ours` with this function instead.
///
/// # Safety
/// `array` a `ZarrsCffiArray` from a zarrsCffi function, destroyed once, not in use elsewhere.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiDestroyArray(array: ZarrsCffiArray) -> i32 {
    guard(|| {
        if !array.is_null() {
            // SAFETY: per the contract above; handles are `Box::into_raw` pointers.
            drop(unsafe { Box::from_raw(array) });
        }
        Ok(())
    })
}

/// Hold the array's write lock exclusively on this thread until `zarrsCffiArrayEndWrite`, for a
/// write made of several calls (read chunks, change them, store them) that other threads' writes
/// of the array must not come between. This thread's writes of the array go ahead meanwhile;
/// other threads' wait. Calls nest; each needs its `zarrsCffiArrayEndWrite` on the same thread.
/// Writing another array meanwhile waits for that array's lock: threads holding several arrays'
/// locks must take them in one order, or they can wait for each other forever.
///
/// # Safety
/// `array` a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayBeginWrite(array: ZarrsCffiArray) -> i32 {
    guard(|| {
        crate::write_locks::begin_write(array_arg(array)?.write_lock_name());
        Ok(())
    })
}

/// End this thread's innermost `zarrsCffiArrayBeginWrite` of the array (an error if none is open).
///
/// # Safety
/// `array` a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayEndWrite(array: ZarrsCffiArray) -> i32 {
    guard(|| crate::write_locks::end_write(array_arg(array)?.write_lock_name()))
}

/// Erase one chunk (no error if it does not exist). Reads of it then return the fill value.
///
/// # Safety
/// `array` a live handle; `pChunkIndices` holds `dimensionality` values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayEraseChunk(
    array: ZarrsCffiArray,
    dimensionality: usize,
    pChunkIndices: *const u64,
) -> i32 {
    guard(|| {
        let array = array_arg(array)?;
        let indices = slice_arg(pChunkIndices, dimensionality, "pChunkIndices")?;
        check_chunk_indices(array, indices)?;
        array.writing(Covers::WholeChunks, || {
            array.erase_chunk(indices).map_err(|e| {
                FfiError::upstream(
                    ZarrsResult::ZARRS_ERROR_STORAGE,
                    format!("erasing {}: {e}", chunk_label(array, indices)),
                )
            })
        })
    })
}

/// Read the stored (encoded) bytes of one chunk. On success `*pBytes` is NULL and `*pLength` 0 if
/// the chunk does not exist; otherwise free `*pBytes` with `zarrsCffiFreeBytes(*pBytes, *pLength)`.
///
/// # Safety
/// `array` a live handle; `pChunkIndices` holds `dimensionality` values; out-pointers valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayRetrieveEncodedChunk(
    array: ZarrsCffiArray,
    dimensionality: usize,
    pChunkIndices: *const u64,
    pBytes: *mut *mut u8,
    pLength: *mut usize,
) -> i32 {
    guard(|| {
        let array = array_arg(array)?;
        let indices = slice_arg(pChunkIndices, dimensionality, "pChunkIndices")?;
        check_chunk_indices(array, indices)?;
        write_out(pBytes, std::ptr::null_mut(), "pBytes")?;
        write_out(pLength, 0, "pLength")?;
        let stored = array.retrieve_encoded_chunk(indices).map_err(|e| {
            FfiError::upstream(
                ZarrsResult::ZARRS_ERROR_STORAGE,
                format!("reading {}: {e}", chunk_label(array, indices)),
            )
        })?;
        if let Some(bytes) = stored {
            write_bytes_out(bytes, pBytes, pLength)?;
        }
        Ok(())
    })
}

/// Free bytes returned by `zarrsCffiArrayRetrieveEncodedChunk` (NULL is ignored).
///
/// # Safety
/// `bytes`/`length` exactly as returned, freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiFreeBytes(bytes: *mut u8, length: usize) -> i32 {
    guard(|| {
        if !bytes.is_null() {
            let slice = std::ptr::slice_from_raw_parts_mut(bytes, length);
            // SAFETY: the caller passes back exactly what zarrsCffiArrayRetrieveEncodedChunk returned.
            drop(unsafe { Box::from_raw(slice) });
        }
        Ok(())
    })
}
