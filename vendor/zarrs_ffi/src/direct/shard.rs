//! Inner chunks of sharded arrays: shard indexes loaded once (and kept while the shard is
//! unchanged), inner chunks read by range.

use super::*;

/// A generous bound on an inner chunk's stored size: anything larger is a corrupt index
/// (compressors add at most a small fraction to incompressible data).
fn max_encoded(decoded: usize) -> u64 {
    decoded as u64 + decoded as u64 / 8 + (1 << 16)
}

/// One shard's index (offset, length per inner chunk, C order), its size and where its inner
/// chunks are read from: its bytes (whole-file mode), the file the index was read from, or the
/// store. Reading the index and the inner chunks from one open file makes a shard read one
/// snapshot: a writer renaming a new shard over it meanwhile is not seen (old data, not a mix).
pub(super) struct Shard {
    pub(super) index: Vec<u64>,
    pub(super) size: u64,
    source: ShardSource,
}

enum ShardSource {
    Bytes(Bytes),
    File(std::fs::File),
    Store,
    /// An object store version (ETag): inner chunks are read only while the object has it.
    Object {
        etag: String,
    },
}

/// What a loaded shard (or its absence) came from, to tell whether a kept index still describes
/// the shard at its key: the file's device, inode, size and modification time, or its absence.
/// A kept `Shard` holds its file open, so its inode cannot be reused by another file meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// An object store's shard read by version (`ShardSource::Object`): each use of the index
    /// checks the version itself, so a kept index needs no check first.
    Version,
    Absent,
    File {
        dev: u64,
        ino: u64,
        size: u64,
        mtime: (i64, i64),
    },
}

impl Identity {
    pub fn of(metadata: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Identity::File {
            dev: metadata.dev(),
            ino: metadata.ino(),
            size: metadata.size(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
        }
    }
}

/// Which inner chunk of a shard a read wants, and how to name it in errors.
#[derive(Clone, Copy)]
struct InnerChunk<'a> {
    key: &'a StoreKey,
    within: usize,
    label: &'a dyn Fn() -> String,
    /// The read's inner chunks fetched together (`ReadSpans`), if it has them.
    spans: Option<&'a ReadSpans>,
}

/// A loaded shard (None: absent) with the identity it was loaded from (None: not a file of this
/// library's store, so it cannot be checked later).
type Loaded = (Option<Arc<Shard>>, Option<Identity>);

type ShardSlot = Arc<OnceLock<Result<Loaded, FfiError>>>;

/// Reads inner chunks of a sharded array, loading each shard's index once.
pub struct ShardReader {
    /// Read whole shard files (a read covering most of each shard) rather than index + ranges.
    whole_files: bool,
    /// Kept across reads (a chunk cache's): before a kept shard is used, the file at its key must
    /// still be the one it was loaded from (`Identity`), else it is loaded again; shards whose
    /// origin cannot be checked (other stores) are not kept. A reader used by one read only sees
    /// one snapshot of each shard and needs no check.
    across_reads: bool,
    shards: Mutex<HashMap<Vec<u64>, ShardSlot>>,
}

impl ShardReader {
    /// A reader for one read.
    pub fn new(whole_files: bool) -> Self {
        Self {
            whole_files,
            across_reads: false,
            shards: Mutex::new(HashMap::new()),
        }
    }

    /// A reader whose shards are kept across reads, each checked before use (`across_reads`).
    pub fn kept_across_reads() -> Self {
        Self {
            whole_files: false,
            across_reads: true,
            shards: Mutex::new(HashMap::new()),
        }
    }

    /// Forget every loaded shard (after writes, or when the read is done with them).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Forget one shard.
    pub fn release(&self, shard: &[u64]) {
        self.lock().remove(shard);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u64>, ShardSlot>> {
        self.shards.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The shard holding inner chunk `unit`, and the inner chunk's C-order position in it.
    pub fn locate(plan: &Plan, unit: &[u64]) -> (Vec<u64>, usize) {
        let per_shard = &plan
            .layout
            .sharding
            .as_ref()
            .expect("a sharded plan")
            .per_shard;
        let shard = std::iter::zip(unit, per_shard)
            .map(|(u, p)| u / p)
            .collect();
        let within = std::iter::zip(unit, per_shard).fold(0u64, |at, (u, p)| at * p + u % p);
        (shard, within as usize)
    }

    /// Decode inner chunk `unit` (full inner-chunk shape) into `dest`; from `spans` when the read
    /// fetches its inner chunks of the shard together.
    pub fn decode_unit(
        &self,
        array: &RwArray,
        plan: &Plan,
        unit: &[u64],
        dest: &mut [u8],
        label: &dyn Fn() -> String,
        spans: Option<&ReadSpans>,
    ) -> FfiResult {
        let (shard_indices, within) = Self::locate(plan, unit);
        let key = array.chunk_key(&shard_indices);
        let Some(shard) = self.shard(array, plan, &shard_indices, &key, label)? else {
            plan.fill(dest);
            return Ok(());
        };
        let place = InnerChunk {
            key: &key,
            within,
            label,
            spans,
        };
        if self.decode_from(array, plan, &shard, place, dest)? {
            return Ok(());
        }
        // Rewritten since its index was read (a kept index, or a writer racing this read): the
        // kept index goes, and this inner chunk comes from the whole shard, read in one request
        // (one version: a writer rewriting the shard in a loop cannot starve the read).
        self.forget(&shard_indices, &shard);
        match self.load(array, plan, &key, label, true)? {
            (Some(whole), _) => self
                .decode_from(array, plan, &whole, place, dest)
                .map(|_| ()),
            (None, _) => {
                plan.fill(dest);
                Ok(())
            }
        }
    }

    /// Decode inner chunk `place.within` of `shard` into `dest`; false if the shard (an object
    /// read by version) has changed since its index was read.
    fn decode_from(
        &self,
        array: &RwArray,
        plan: &Plan,
        shard: &Shard,
        place: InnerChunk,
        dest: &mut [u8],
    ) -> FfiResult<bool> {
        let (key, label) = (place.key, place.label);
        let (offset, length) = (
            shard.index[2 * place.within],
            shard.index[2 * place.within + 1],
        );
        if offset == u64::MAX && length == u64::MAX {
            plan.fill(dest);
            return Ok(true);
        }
        if length > max_encoded(dest.len()) || offset.checked_add(length).is_none() {
            return Err(corrupt(
                label,
                format!("shard index gives {length} bytes at offset {offset}"),
            ));
        }
        let end = offset + length;
        if end > shard.size {
            return Err(corrupt(
                label,
                format!(
                    "shard index points past the end of the shard ({end} > {} bytes)",
                    shard.size
                ),
            ));
        }
        match &shard.source {
            ShardSource::Bytes(bytes) => decompress(
                plan.chunks,
                &bytes[offset as usize..end as usize],
                dest,
                label,
            ),
            ShardSource::File(file) => {
                let length = buffer_length(length, label)?;
                ENCODED.with(|buffer| {
                    let mut buffer = buffer.borrow_mut();
                    let encoded = read_at(file, offset, length, &mut buffer)
                        .map_err(|e| storage_error(label, e.into()))?;
                    decompress(plan.chunks, encoded, dest, label)
                })
            }
            ShardSource::Store => plan
                .with_stored(array, key, Some((offset, length)), label, |encoded| {
                    decompress(plan.chunks, encoded, dest, label)
                })?
                .ok_or_else(|| corrupt(label, "the shard disappeared while it was read")),
            ShardSource::Object { etag } => {
                let versioned = plan.layout.versioned.as_ref().expect("read by version");
                let together = place
                    .spans
                    .and_then(|spans| spans.take(versioned, key, shard, etag, place.within, label));
                let read = match together {
                    Some(read) => read?,
                    None => TokioBlockOn
                        .block_on(versioned.get_if_version(key, offset..end, etag))
                        .map_err(|e| storage_error(label, e))?,
                };
                match read {
                    Conditional::Bytes(encoded) => decompress(plan.chunks, &encoded, dest, label),
                    Conditional::Changed => return Ok(false),
                }
            }
        }?;
        Ok(true)
    }

    /// Forget `shard` (if it is still the one loaded for `shard_indices`).
    fn forget(&self, shard_indices: &[u64], shard: &Arc<Shard>) {
        let mut shards = self.lock();
        let current = shards.get(shard_indices).is_some_and(
            |slot| matches!(slot.get(), Some(Ok((Some(kept), _))) if Arc::ptr_eq(kept, shard)),
        );
        if current {
            shards.remove(shard_indices);
        }
    }

    /// Forget every kept shard if more than `max` are kept (bounds a handle's memory).
    pub fn bound_to(&self, max: usize) {
        let mut shards = self.lock();
        if shards.len() > max {
            shards.clear();
        }
    }

    fn shard(
        &self,
        array: &RwArray,
        plan: &Plan,
        shard_indices: &[u64],
        key: &StoreKey,
        label: &dyn Fn() -> String,
    ) -> FfiResult<Option<Arc<Shard>>> {
        for _ in 0..3 {
            let slot = self
                .lock()
                .entry(shard_indices.to_vec())
                .or_default()
                .clone();
            let mut loaded_here = false;
            let loaded = slot
                .get_or_init(|| {
                    loaded_here = true;
                    self.load(array, plan, key, label, self.whole_files)
                })
                .clone();
            let usable = match &loaded {
                Err(_) => true, // reported; not kept (below)
                Ok(_) if loaded_here || !self.across_reads => true,
                Ok((_, None)) => true, // loaded by a concurrent read just now
                Ok((_, Some(Identity::Version))) => true, // checked by each use (`decode_from`)
                Ok((_, Some(identity))) => self.is_current(plan, key, *identity, label)?,
            };
            let keep = match &loaded {
                Err(_) => false, // the next read tries again (the shard may have been repaired)
                Ok((_, identity)) => usable && (identity.is_some() || !self.across_reads),
            };
            if !keep {
                let mut shards = self.lock();
                if shards
                    .get(shard_indices)
                    .is_some_and(|kept| Arc::ptr_eq(kept, &slot))
                {
                    shards.remove(shard_indices);
                }
            }
            if usable {
                return loaded.map(|(shard, _)| shard);
            }
            // The file at the key was replaced since the kept index was read: load it again.
        }
        self.load(array, plan, key, label, self.whole_files)
            .map(|(shard, _)| shard)
    }

    /// Whether the file at `key` is still the one `identity` describes.
    fn is_current(
        &self,
        plan: &Plan,
        key: &StoreKey,
        identity: Identity,
        label: &dyn Fn() -> String,
    ) -> FfiResult<bool> {
        let files = plan
            .layout
            .files
            .as_ref()
            .expect("identities come from files");
        let now = files.identity(key).map_err(|e| storage_error(label, e))?;
        Ok(now == identity)
    }

    /// Load the shard at `key`: `whole`, the whole value in one read; else its index (from the
    /// open file, or by a range request, by version where the store has versions).
    fn load(
        &self,
        array: &RwArray,
        plan: &Plan,
        key: &StoreKey,
        label: &dyn Fn() -> String,
        whole: bool,
    ) -> FfiResult<Loaded> {
        let sharding = plan.layout.sharding.as_ref().expect("a sharded plan");
        let index_bytes = sharding.index_bytes();
        let index_at = |size: u64| {
            if sharding.index_at_start {
                0
            } else {
                size - index_bytes
            }
        };
        let (encoded_index, size, source, identity) = if whole {
            let Some(bytes) = plan.whole_value(array, key, label)? else {
                return Ok((None, None));
            };
            let size = bytes.len() as u64;
            check_index_fits(size, index_bytes, label)?;
            let at = index_at(size) as usize;
            let index = bytes.slice(at..at + index_bytes as usize);
            (index, size, ShardSource::Bytes(bytes), None)
        } else if let Some(files) = &plan.layout.files {
            let Some((file, metadata)) = files
                .open_value_with_metadata(key)
                .map_err(|e| storage_error(label, e))?
            else {
                return Ok((None, Some(Identity::Absent)));
            };
            let size = metadata.len();
            check_index_fits(size, index_bytes, label)?;
            let mut index = vec![0; index_bytes as usize];
            std::os::unix::fs::FileExt::read_exact_at(&file, &mut index, index_at(size))
                .map_err(|e| storage_error(label, e.into()))?;
            let identity = Some(Identity::of(&metadata));
            (Bytes::from(index), size, ShardSource::File(file), identity)
        } else if let Some(versioned) = &plan.layout.versioned {
            let Some(found) = load_index_by_version(versioned, sharding, key, label)? else {
                return Ok((None, None));
            };
            found
        } else {
            // One request, no size first (a HEAD would cost an object store a round trip): the
            // index by a suffix or prefix range. The shard's size stays unknown; an inner chunk
            // range past its end fails in the store's ranged read.
            let range = if sharding.index_at_start {
                ByteRange::FromStart(0, Some(index_bytes))
            } else {
                ByteRange::Suffix(index_bytes)
            };
            let Some(index) = get(array, key, range, label)? else {
                return Ok((None, None));
            };
            (index, u64::MAX, ShardSource::Store, None)
        };
        let index = parse_shard_index(&encoded_index, sharding, label)?;
        Ok((
            Some(Arc::new(Shard {
                index,
                size,
                source,
            })),
            identity,
        ))
    }
}

/// A shard's encoded index, the shard's size (`u64::MAX`: unknown), where its inner chunks are
/// read from, and what identifies the version read.
type IndexRead = (Bytes, u64, ShardSource, Option<Identity>);

/// A shard's index read by version (`Versioned`), with where its inner chunks are then read
/// from; None if the shard is absent.
fn load_index_by_version(
    versioned: &Versioned,
    sharding: &Sharding,
    key: &StoreKey,
    label: &dyn Fn() -> String,
) -> FfiResult<Option<IndexRead>> {
    let index_bytes = sharding.index_bytes();
    // One request, no size first: the index with the object's version (ETag).
    let range = if sharding.index_at_start {
        GetRange::Bounded(0..index_bytes)
    } else {
        GetRange::Suffix(index_bytes)
    };
    let read = TokioBlockOn.block_on(versioned.get_with_version(key, range));
    let Some((index, etag)) = read.map_err(|e| storage_error(label, e))? else {
        return Ok(None);
    };
    Ok(Some(match etag {
        Some(etag) => (
            index,
            u64::MAX,
            ShardSource::Object { etag },
            Some(Identity::Version),
        ),
        None => (index, u64::MAX, ShardSource::Store, None),
    }))
}

fn check_index_fits(size: u64, index_bytes: u64, label: &dyn Fn() -> String) -> FfiResult {
    if size < index_bytes {
        return Err(corrupt(label, "the shard is shorter than its index"));
    }
    Ok(())
}

/// The (offset, length) pairs of an encoded shard index (`index_bytes` long), its crc32c
/// checked when the index has one.
fn parse_shard_index(
    encoded: &[u8],
    sharding: &Sharding,
    label: &dyn Fn() -> String,
) -> FfiResult<Vec<u64>> {
    // A ranged read of a shard smaller than its index returns less; a server ignoring the range
    // returns more.
    check_index_fits(encoded.len() as u64, sharding.index_bytes(), label)?;
    if encoded.len() as u64 != sharding.index_bytes() {
        return Err(corrupt(
            label,
            format!(
                "the shard index read is {} bytes, not {}",
                encoded.len(),
                sharding.index_bytes()
            ),
        ));
    }
    let table = &encoded[..sharding.entries() as usize * 16];
    if sharding.index_crc {
        let stored = u32::from_le_bytes(encoded[table.len()..].try_into().expect("4 bytes"));
        if crc32c::crc32c(table) != stored {
            return Err(corrupt(label, "shard index checksum mismatch"));
        }
    }
    Ok(table
        .chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label() -> String {
        "test chunk".to_string()
    }

    fn geometry(index_crc: bool) -> Sharding {
        Sharding {
            per_shard: vec![2, 1],
            index_at_start: false,
            index_crc,
        }
    }

    #[test]
    fn shard_index_parsed_and_checksummed() {
        let table: Vec<u8> = [5u64, 10, u64::MAX, u64::MAX]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut encoded = table.clone();
        encoded.extend(crc32c::crc32c(&table).to_le_bytes());
        let parsed = parse_shard_index(&encoded, &geometry(true), &label).unwrap();
        assert_eq!(parsed, [5, 10, u64::MAX, u64::MAX]);
        assert_eq!(
            parse_shard_index(&table, &geometry(false), &label).unwrap(),
            parsed
        );
        encoded[3] ^= 1;
        let err = parse_shard_index(&encoded, &geometry(true), &label).unwrap_err();
        assert!(err.message.contains("checksum"), "{}", err.message);
    }
}
