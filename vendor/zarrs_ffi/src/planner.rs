//! The read planner. Every read of a box (`array_io::decode_region`: regions, chunks, the chunk
//! cache's uncached reads, selections' boxes) is planned once, from the array's handle and the
//! box alone (no I/O), into one of a few named strategies, then carried out by `region_io`.
//! The crate README lists them with what each is measured to gain.

use zarrs::array::{ArrayShardedExt, ArraySubset};

use crate::direct::Plan;
use crate::handle::ArrayHandle;
use crate::safety::{checksum_anywhere, needs_whole_chunks};

/// How one box is read.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadStrategy {
    /// An empty box: nothing to read.
    Nothing,
    /// The box lies in one chunk of an unsharded array that decodes directly
    /// (`region_io::read_in_one_chunk`).
    OneChunk {
        indices: Vec<u64>,
        chunk: ArraySubset,
    },
    /// The box spans several chunks of an unsharded array, or lies in one chunk that must be
    /// decoded whole (`safety::needs_whole_chunks`: checksums, whole-chunk filters): each chunk
    /// decoded into its place (`region_io::read_chunkwise`).
    ChunkByChunk {
        chunks: Vec<Vec<u64>>,
        whole_chunks: bool,
    },
    /// The box of a sharded array spans several inner chunks (or lies in one, when the array
    /// decodes directly): each inner chunk decoded into its place (`region_io::read_subchunkwise`).
    InnerChunks { units: Vec<Vec<u64>> },
    /// Anything else (one chunk decoded by zarrs, one inner chunk of a sharded array zarrs
    /// decodes): zarrs' `retrieve_array_subset_into`.
    Zarrs,
}

/// The strategy for reading `subset` of `array`, which decodes directly with `plan` (its
/// `decode_plan()`, read once by the caller for the whole read).
pub fn plan_read(array: &ArrayHandle, plan: Option<&Plan>, subset: &ArraySubset) -> ReadStrategy {
    if subset.num_elements() == 0 {
        return ReadStrategy::Nothing;
    }
    // Inner chunks are read one by one only where their checksums can be checked
    // (`checked_inner`: arrays whose only codec is sharding); a shard behind another codec, or
    // with a checksum of its own, is decoded whole when anything in it carries a checksum.
    let checksummed = || !array.is_exclusively_sharded() && checksum_anywhere(array);
    if array.is_sharded() && !checksummed() {
        return plan_sharded(array, plan, subset);
    }
    let Ok(Some(chunks)) = array.chunks_in_array_subset(subset) else {
        return ReadStrategy::Zarrs;
    };
    let whole_chunks = needs_whole_chunks(array) || checksummed();
    if chunks.num_elements() > 1 || whole_chunks {
        let chunks = chunks.indices().into_iter().map(|i| i.to_vec()).collect();
        return ReadStrategy::ChunkByChunk {
            chunks,
            whole_chunks,
        };
    }
    let indices = chunks.start().to_vec();
    match array.chunk_subset(&indices) {
        Ok(chunk) if plan.is_some() => ReadStrategy::OneChunk { indices, chunk },
        _ => ReadStrategy::Zarrs,
    }
}

fn plan_sharded(array: &ArrayHandle, plan: Option<&Plan>, subset: &ArraySubset) -> ReadStrategy {
    // One inner chunk too when planned: zarrs' partial shard decoder would read it into fresh
    // memory (a random 8^3 region of the benchmark's sharded array, uncached: 243 us a read);
    // and when the inner chunks carry a checksum, which zarrs' partial decoders skip.
    let least = if plan.is_some() || array.checked_inner().is_some() {
        1
    } else {
        2
    };
    match array.subchunk_grid().chunks_in_array_subset(subset) {
        Ok(Some(units)) if units.num_elements() >= least => ReadStrategy::InnerChunks {
            units: units.indices().into_iter().map(|i| i.to_vec()).collect(),
        },
        _ => ReadStrategy::Zarrs,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use zarrs::array::{Array, ArrayMetadata};
    use zarrs::storage::store::MemoryStore;

    use super::*;
    use crate::handle::{ZarrsCffiArray_T, ZarrsCffiStorage_T};

    /// An (8, 8) uint16 array in memory, with chunks (4, 4) and `codecs`.
    fn handle(codecs: &str) -> ZarrsCffiArray_T {
        let storage = ZarrsCffiStorage_T::new(Arc::new(MemoryStore::new()), None);
        let metadata = format!(
            r#"{{"zarr_format": 3, "node_type": "array", "shape": [8, 8], "data_type": "uint16",
            "chunk_grid": {{"name": "regular", "configuration": {{"chunk_shape": [4, 4]}}}},
            "chunk_key_encoding": {{"name": "default"}}, "fill_value": 0, "codecs": {codecs}}}"#
        );
        let metadata = ArrayMetadata::try_from(metadata.as_str()).unwrap();
        let array =
            Array::new_with_metadata(storage.readable_writable().clone(), "/", metadata).unwrap();
        ZarrsCffiArray_T::new(array, &storage).unwrap()
    }

    fn plan(array: &ZarrsCffiArray_T, start: [u64; 2], shape: [u64; 2]) -> ReadStrategy {
        plan_read(array, array.decode_plan(), &boxed(start, shape))
    }

    fn boxed(start: [u64; 2], shape: [u64; 2]) -> ArraySubset {
        ArraySubset::from(std::iter::zip(start, shape).map(|(s, n)| s..s + n))
    }

    const ZSTD: &str = r#"[{"name": "bytes", "configuration": {"endian": "little"}},
        {"name": "zstd", "configuration": {"level": 1, "checksum": false}}]"#;
    /// `transpose` has no direct plan: zarrs decodes.
    const TRANSPOSED: &str = r#"[{"name": "transpose", "configuration": {"order": [1, 0]}},
        {"name": "bytes", "configuration": {"endian": "little"}}]"#;
    const CHECKSUMMED: &str = r#"[{"name": "bytes", "configuration": {"endian": "little"}},
        {"name": "crc32c"}]"#;
    /// numcodecs' delta decodes whole chunks only: a running sum over the chunk.
    const DELTA: &str = r#"[{"name": "numcodecs.delta", "configuration": {"dtype": "<u2"}},
        {"name": "bytes", "configuration": {"endian": "little"}}]"#;

    fn sharded(inner: &str) -> String {
        format!(
            r#"[{{"name": "sharding_indexed", "configuration": {{"chunk_shape": [2, 2],
            "codecs": {inner}, "index_codecs": [{{"name": "bytes", "configuration":
            {{"endian": "little"}}}}, {{"name": "crc32c"}}]}}}}]"#
        )
    }

    #[test]
    fn unsharded_boxes() {
        let array = handle(ZSTD);
        assert_eq!(plan(&array, [1, 1], [0, 3]), ReadStrategy::Nothing);
        let ReadStrategy::OneChunk { indices, chunk } = plan(&array, [4, 1], [2, 3]) else {
            panic!("one chunk, planned");
        };
        assert_eq!((indices, chunk.start()), (vec![1, 0], &[4u64, 0][..]));
        let strategy = plan(&array, [3, 3], [2, 2]);
        let expected = vec![vec![0, 0], vec![0, 1], vec![1, 0], vec![1, 1]];
        assert_eq!(
            strategy,
            ReadStrategy::ChunkByChunk {
                chunks: expected,
                whole_chunks: false
            }
        );
    }

    #[test]
    fn unplanned_and_checksummed_chunks() {
        let array = handle(TRANSPOSED);
        assert_eq!(plan(&array, [0, 0], [4, 4]), ReadStrategy::Zarrs);
        assert!(matches!(
            plan(&array, [0, 0], [4, 5]),
            ReadStrategy::ChunkByChunk { chunks, whole_chunks: false } if chunks.len() == 2
        ));
        for codecs in [CHECKSUMMED, DELTA] {
            let array = handle(codecs);
            assert_eq!(
                plan(&array, [0, 0], [1, 1]),
                ReadStrategy::ChunkByChunk {
                    chunks: vec![vec![0, 0]],
                    whole_chunks: true
                }
            );
        }
    }

    #[test]
    fn sharded_boxes() {
        let array = handle(&sharded(ZSTD));
        let one = plan(&array, [2, 2], [2, 2]);
        assert_eq!(
            one,
            ReadStrategy::InnerChunks {
                units: vec![vec![1, 1]]
            }
        );
        let array = handle(&sharded(TRANSPOSED));
        assert_eq!(plan(&array, [2, 2], [2, 2]), ReadStrategy::Zarrs);
        // A checksum over the whole shard: the shard is decoded whole.
        let outer = format!(
            r#"[{}, {{"name": "crc32c"}}]"#,
            sharded(ZSTD).trim_start_matches('[').trim_end_matches(']')
        );
        assert_eq!(
            plan(&handle(&outer), [2, 2], [2, 2]),
            ReadStrategy::ChunkByChunk {
                chunks: vec![vec![0, 0]],
                whole_chunks: true
            }
        );
        // Checksummed inner chunks: never zarrs' partial decoder, which skips the checksum.
        let array = handle(&sharded(CHECKSUMMED));
        assert_eq!(
            plan(&array, [2, 2], [2, 2]),
            ReadStrategy::InnerChunks {
                units: vec![vec![1, 1]]
            }
        );
        assert!(matches!(
            plan(&array, [1, 1], [2, 2]),
            ReadStrategy::InnerChunks { units } if units.len() == 4
        ));
    }
}
