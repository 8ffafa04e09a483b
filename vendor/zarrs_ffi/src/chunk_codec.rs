//! Decode and encode one chunk's stored bytes that the caller holds, with the array's codecs.
//!
//! For stores the native library cannot open itself (zarr-python's `MemoryStore`, user stores):
//! the caller fetches and stores the bytes through its own store, the codecs run here.

use std::borrow::Cow;

use zarrs::array::{ArrayBytes, ArrayToBytesCodecTraits, CodecError};

use crate::args::{out_bytes_arg, slice_arg, write_bytes_out, write_out};
use crate::array_io::{check_length, chunk_layout};
use crate::error::{FfiError, ZarrsCffiResult, guard};
use crate::handle::{ZarrsCffiArray, array_arg};
use crate::pool::{codec_options, in_pool};
use crate::region_io::chunk_label;
use crate::safety::{catch_codec_panic, check_chunk_memory};

fn codec_error(err: CodecError, context: &str) -> FfiError {
    FfiError::new(
        ZarrsCffiResult::ZARRS_CFFI_ERROR_CODEC,
        format!("{context}: {err}"),
    )
}

/// Decode `encodedLen` bytes at `pEncoded`, the stored bytes of chunk `pChunkIndices`, into
/// `pOut`: the whole chunk in C order, `outBytes` = its elements times the element size.
///
/// # Safety
/// `array` a live handle; `pChunkIndices` holds `dimensionality` values; `pEncoded` and `pOut`
/// hold `encodedLen` and `outBytes` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayDecodeChunk(
    array: ZarrsCffiArray,
    dimensionality: usize,
    pChunkIndices: *const u64,
    encodedLen: usize,
    pEncoded: *const u8,
    outBytes: usize,
    pOut: *mut u8,
) -> i32 {
    guard(|| {
        let array = array_arg(array)?;
        let indices = slice_arg(pChunkIndices, dimensionality, "pChunkIndices")?;
        let (shape, expected) = chunk_layout(array, indices)?;
        check_length(outBytes, expected, "output buffer")?;
        let encoded = slice_arg(pEncoded, encodedLen, "pEncoded")?;
        let out = out_bytes_arg(pOut, outBytes, "pOut")?;
        check_chunk_memory(array)?;
        let context = || chunk_label(array, indices);
        catch_codec_panic(context, || {
            in_pool(|| {
                let decoded = array
                    .codecs()
                    .decode(
                        Cow::Borrowed(encoded),
                        &shape,
                        array.data_type(),
                        array.fill_value(),
                        &codec_options(),
                    )
                    .map_err(|e| codec_error(e, &format!("decoding {}", context())))?;
                let decoded = decoded
                    .into_fixed()
                    .map_err(|_| FfiError::invalid("variable-size data types are not supported"))?;
                check_length(decoded.len(), expected, &format!("decoded {}", context()))?;
                out.copy_from_slice(&decoded);
                Ok(())
            })
        })
    })
}

/// Encode the whole chunk `pChunkIndices` from `dataBytes` bytes at `pData` (C order) into new
/// bytes: `*pBytes`/`*pLength`, freed with `zarrsCffiFreeBytes`. The chunk is encoded even when
/// it equals the fill value (whether to store it is the caller's choice).
///
/// # Safety
/// `array` a live handle; `pChunkIndices` holds `dimensionality` values; `pData` holds
/// `dataBytes` bytes; out-pointers valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayEncodeChunk(
    array: ZarrsCffiArray,
    dimensionality: usize,
    pChunkIndices: *const u64,
    dataBytes: usize,
    pData: *const u8,
    pBytes: *mut *mut u8,
    pLength: *mut usize,
) -> i32 {
    guard(|| {
        let array = array_arg(array)?;
        let indices = slice_arg(pChunkIndices, dimensionality, "pChunkIndices")?;
        write_out(pBytes, std::ptr::null_mut(), "pBytes")?;
        write_out(pLength, 0, "pLength")?;
        let (shape, expected) = chunk_layout(array, indices)?;
        check_length(dataBytes, expected, "chunk buffer")?;
        let data = slice_arg(pData, dataBytes, "pData")?;
        check_chunk_memory(array)?;
        let context = || chunk_label(array, indices);
        let encoded = catch_codec_panic(context, || {
            in_pool(|| {
                array
                    .codecs()
                    .encode(
                        ArrayBytes::new_flen(data),
                        &shape,
                        array.data_type(),
                        array.fill_value(),
                        &codec_options(),
                    )
                    .map(Cow::into_owned)
                    .map_err(|e| codec_error(e, &format!("encoding {}", context())))
            })
        })?;
        write_bytes_out(encoded, pBytes, pLength)
    })
}
