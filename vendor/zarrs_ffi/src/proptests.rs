//! Property test: random arrays (shapes, chunk and shard shapes, data types, codecs, absent
//! chunks, fill values) written by zarrs, then random regions read through this library's read
//! path (`zarrsCffiArrayRetrieveSubsetInto`: the direct decoder where it applies) and through
//! zarrs' own pipeline (upstream's `zarrsArrayRetrieveSubset`); the bytes must be identical.
//! The stores are in memory (`memory://`), so the storage-interface path of the direct decoder
//! (no files) is what runs; the file path is covered by the Python differential suites.

use std::ffi::CString;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use zarrs_ffi::{zarrsArrayRetrieveSubset, zarrsArrayStoreSubset};

use crate::handle::{ZarrsCffiArray, ZarrsCffiStorage, zarrsCffiArrayUpstream};

use crate::array_io::{
    zarrsCffiArrayRetrieveSubsetInto, zarrsCffiDestroyArray, zarrsCffiOpenArray,
};
use crate::hierarchy::{zarrsCffiCreateNode, zarrsCffiDestroyStorage};
use crate::url_store::{zarrsCffiCreateStorageFromUrl, zarrsCffiForgetMemoryStore};

#[derive(Clone, Debug)]
struct Case {
    shape: Vec<u64>,
    chunks: Vec<u64>,
    /// Shard shape as a multiple of `chunks`, per dimension (None: unsharded).
    shard_factor: Option<Vec<u64>>,
    dtype: (&'static str, usize),
    compressor: &'static str,
    fill: u8,
    /// The region written (the rest of the array stays absent: fill value).
    written: (Vec<u64>, Vec<u64>),
    /// The region read.
    read: (Vec<u64>, Vec<u64>),
    seed: u64,
}

const DTYPES: [(&str, usize); 6] = [
    ("uint8", 1),
    ("int16", 2),
    ("uint32", 4),
    ("float32", 4),
    ("float64", 8),
    ("uint64", 8),
];
const COMPRESSORS: [&str; 4] = ["none", "zstd", "gzip", "blosc"];

fn region(shape: &[u64]) -> impl Strategy<Value = (Vec<u64>, Vec<u64>)> + use<> {
    let dims: Vec<_> = shape
        .iter()
        .map(|&n| (0..n).prop_flat_map(move |start| (Just(start), 1..=n - start)))
        .collect();
    dims.prop_map(|pairs| pairs.into_iter().unzip())
}

fn cases() -> impl Strategy<Value = Case> {
    (1usize..=3)
        .prop_flat_map(|ndim| {
            (
                prop::collection::vec(1u64..=12, ndim),
                prop::collection::vec(1u64..=5, ndim),
                prop::option::of(prop::collection::vec(1u64..=3, ndim)),
                prop::sample::select(DTYPES.to_vec()),
                prop::sample::select(COMPRESSORS.to_vec()),
                prop::sample::select(vec![0u8, 7]),
                any::<u64>(),
            )
        })
        .prop_flat_map(
            |(shape, chunks, shard_factor, dtype, compressor, fill, seed)| {
                (region(&shape), region(&shape)).prop_map(move |(written, read)| Case {
                    shape: shape.clone(),
                    chunks: chunks.clone(),
                    shard_factor: shard_factor.clone(),
                    dtype,
                    compressor,
                    fill,
                    written,
                    read,
                    seed,
                })
            },
        )
}

fn codec_chain(case: &Case) -> String {
    let bytes = r#"{"name": "bytes", "configuration": {"endian": "little"}}"#.to_string();
    let compressor = match case.compressor {
        "zstd" => Some(
            r#"{"name": "zstd", "configuration": {"level": 1, "checksum": false}}"#.to_string(),
        ),
        "gzip" => Some(r#"{"name": "gzip", "configuration": {"level": 1}}"#.to_string()),
        "blosc" => Some(format!(
            r#"{{"name": "blosc", "configuration": {{"cname": "lz4", "clevel": 5, "shuffle": "shuffle", "typesize": {}, "blocksize": 0}}}}"#,
            case.dtype.1
        )),
        _ => None,
    };
    match compressor {
        Some(c) => format!("{bytes}, {c}"),
        None => bytes,
    }
}

fn metadata(case: &Case) -> String {
    let inner = codec_chain(case);
    let (grid, codecs) = match &case.shard_factor {
        None => (case.chunks.clone(), inner),
        Some(factor) => {
            let shard: Vec<u64> = case.chunks.iter().zip(factor).map(|(c, f)| c * f).collect();
            let codecs = format!(
                r#"{{"name": "sharding_indexed", "configuration": {{"chunk_shape": {:?}, "codecs": [{inner}],
                "index_codecs": [{{"name": "bytes", "configuration": {{"endian": "little"}}}}, {{"name": "crc32c"}}],
                "index_location": "end"}}}}"#,
                case.chunks
            );
            (shard, codecs)
        }
    };
    let fill = if case.dtype.0.starts_with("float") {
        format!("{}.0", case.fill)
    } else {
        case.fill.to_string()
    };
    format!(
        r#"{{"zarr_format": 3, "node_type": "array", "shape": {:?}, "data_type": "{}",
        "chunk_grid": {{"name": "regular", "configuration": {{"chunk_shape": {grid:?}}}}},
        "chunk_key_encoding": {{"name": "default", "configuration": {{"separator": "/"}}}},
        "fill_value": {fill}, "codecs": [{codecs}]}}"#,
        case.shape, case.dtype.0
    )
}

/// Deterministic bytes with runs (so compressors compress) and variety.
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if i % 5 < 2 {
                (i / 7) as u8
            } else {
                state as u8
            }
        })
        .collect()
}

static STORES: AtomicUsize = AtomicUsize::new(0);
/// Cases the direct decoder read (the rest went through zarrs: unsupported chains).
static DIRECT: AtomicUsize = AtomicUsize::new(0);

fn check(case: &Case) -> Result<(), TestCaseError> {
    let name = format!(
        "memory://proptest-{}",
        STORES.fetch_add(1, Ordering::Relaxed)
    );
    let url = CString::new(name.clone()).unwrap();
    let mut storage: ZarrsCffiStorage = std::ptr::null_mut();
    let mut array: ZarrsCffiArray = std::ptr::null_mut();
    let node = CString::new("/a").unwrap();
    let json = CString::new(metadata(case)).unwrap();
    let ndim = case.shape.len();
    let size = case.dtype.1;
    // SAFETY: valid C strings and out-pointers; handles destroyed below.
    unsafe {
        prop_assert_eq!(
            zarrsCffiCreateStorageFromUrl(url.as_ptr(), std::ptr::null(), &mut storage),
            0
        );
        prop_assert_eq!(
            zarrsCffiCreateNode(storage, node.as_ptr(), json.as_ptr(), false),
            0,
            "{}",
            metadata(case)
        );
        prop_assert_eq!(zarrsCffiOpenArray(storage, node.as_ptr(), &mut array), 0);
        let mut direct = 0;
        prop_assert_eq!(
            crate::direct::zarrsCffiArrayDecodesDirectly(array, &mut direct),
            0
        );
        if direct == 1 {
            DIRECT.fetch_add(1, Ordering::Relaxed);
        }
        let (start, shape) = &case.written;
        let data = payload(shape.iter().product::<u64>() as usize * size, case.seed);
        let stored = zarrsArrayStoreSubset(
            zarrsCffiArrayUpstream(array),
            ndim,
            start.as_ptr(),
            shape.as_ptr(),
            data.len(),
            data.as_ptr(),
        );
        prop_assert_eq!(stored as i32, 0);
        let (start, shape) = &case.read;
        let length = shape.iter().product::<u64>() as usize * size;
        let mut ours = vec![0xAAu8; length];
        let mut theirs = vec![0x55u8; length];
        let rc = zarrsCffiArrayRetrieveSubsetInto(
            array,
            ndim,
            start.as_ptr(),
            shape.as_ptr(),
            length,
            ours.as_mut_ptr(),
        );
        prop_assert_eq!(rc, 0);
        let rc = zarrsArrayRetrieveSubset(
            zarrsCffiArrayUpstream(array),
            ndim,
            start.as_ptr(),
            shape.as_ptr(),
            length,
            theirs.as_mut_ptr(),
        );
        prop_assert_eq!(rc as i32, 0);
        prop_assert!(ours == theirs, "bytes differ for {:?}", case);
        zarrsCffiDestroyArray(array);
        zarrsCffiDestroyStorage(storage);
        zarrsCffiForgetMemoryStore(url.as_ptr());
    }
    Ok(())
}

#[test]
fn direct_reads_match_zarrs() {
    let config = ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(case in cases())| { check(&case)?; });
    // The property says something about the direct decoder only if it ran: most chains are its.
    assert!(
        DIRECT.load(Ordering::Relaxed) >= 150,
        "direct decoding ran for {} cases",
        DIRECT.load(Ordering::Relaxed)
    );
}
