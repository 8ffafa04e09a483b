//! A filesystem store whose writes never damage what is already on disk.
//!
//! zarrs' `FilesystemStore` rewrites a chunk file in place, so a failed write (disk full, file size
//! limit, a crash) can leave a truncated chunk behind. This wrapper writes every value to a
//! temporary file beside its key and renames it over the key only once it is complete; readers see
//! the old bytes or the new ones, never a mix. Everything else is delegated.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use zarrs::filesystem::FilesystemStore;
use zarrs::storage::byte_range::{ByteRange, ByteRangeIterator, InvalidByteRangeError};
use zarrs::storage::{
    Bytes, ListableStorageTraits, MaybeBytesIterator, OffsetBytesIterator, ReadableStorageTraits,
    StorageError, StoreKey, StoreKeys, StoreKeysPrefixes, StorePrefix, WritableStorageTraits,
};

/// Whether an error opening a key's file means the key holds no value: no such file, or a file
/// where the path needs a directory (`a/b` where `a` is a file). A directory at a key holds none
/// either. zarr-python's LocalStore reads all three as missing: chunks there read as the fill value.
fn no_value(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

pub struct AtomicFilesystemStore {
    inner: FilesystemStore,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl AtomicFilesystemStore {
    pub fn new(inner: FilesystemStore) -> Self {
        Self { inner }
    }

    /// The file holding the value at `key` and its size, or None if there is no such value.
    pub fn open_value(&self, key: &StoreKey) -> Result<Option<(std::fs::File, u64)>, StorageError> {
        Ok(self
            .open_value_with_metadata(key)?
            .map(|(file, metadata)| (file, metadata.len())))
    }

    /// As `open_value`, with the file's metadata (size, and its identity for `direct::Identity`).
    pub fn open_value_with_metadata(
        &self,
        key: &StoreKey,
    ) -> Result<Option<(std::fs::File, std::fs::Metadata)>, StorageError> {
        let file = match std::fs::File::open(self.inner.key_to_fspath(key)) {
            Ok(file) => file,
            Err(e) if no_value(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let metadata = file.metadata()?;
        Ok((!metadata.is_dir()).then_some((file, metadata)))
    }

    /// The identity of the value at `key` now (`direct::Identity`): one `stat`.
    pub fn identity(&self, key: &StoreKey) -> Result<crate::direct::Identity, StorageError> {
        match std::fs::metadata(self.inner.key_to_fspath(key)) {
            Ok(metadata) if !metadata.is_dir() => Ok(crate::direct::Identity::of(&metadata)),
            Ok(_) => Ok(crate::direct::Identity::Absent),
            Err(e) if no_value(&e) => Ok(crate::direct::Identity::Absent),
            Err(e) => Err(e.into()),
        }
    }

    /// `set` from borrowed bytes (direct encoding writes from buffers it reuses).
    pub fn set_bytes(&self, key: &StoreKey, value: &[u8]) -> Result<(), StorageError> {
        self.write_atomically(key, value).map_err(|e| {
            StorageError::Other(format!(
                "writing key {:?} failed (stored data unchanged): {e}",
                key.as_str()
            ))
        })
    }

    fn write_atomically(&self, key: &StoreKey, value: &[u8]) -> std::io::Result<()> {
        let path = self.inner.key_to_fspath(key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = path.with_file_name(format!(
            ".{name}.zarrs-cffi-tmp.{}.{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(value)?;
            file.flush()?;
            drop(file);
            std::fs::rename(&temp, &path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result
    }
}

impl ReadableStorageTraits for AtomicFilesystemStore {
    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        // The filesystem store allocates a range's length before reading: a corrupt shard index
        // claiming terabytes would abort the process. Ranges past the end are errors here.
        let Some(size) = self.size_key(key)? else {
            return Ok(None);
        };
        let ranges: Vec<ByteRange> = byte_ranges.collect();
        for range in &ranges {
            let fits = match range {
                ByteRange::FromStart(offset, length) => length
                    .map_or(Some(*offset), |length| offset.checked_add(length))
                    .is_some_and(|end| end <= size),
                ByteRange::Suffix(length) => *length <= size,
            };
            if !fits {
                return Err(InvalidByteRangeError::new(*range, size).into());
            }
            // The filesystem store allocates each range before reading it: a value larger than
            // the machine's memory would abort the process, so refuse it here.
            let length = match range {
                ByteRange::FromStart(offset, length) => length.unwrap_or(size - offset),
                ByteRange::Suffix(length) => *length,
            };
            if !crate::safety::fits_in_memory(length) {
                return Err(StorageError::Other(format!(
                    "{length} bytes of key {:?} do not fit in memory (the value is {size} bytes)",
                    key.as_str()
                )));
            }
        }
        self.inner
            .get_partial_many(key, Box::new(ranges.into_iter()))
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        // (zarrs' FilesystemStore answered a directory's size: reads of it then failed as a
        // corrupt chunk of 4096 bytes)
        match std::fs::metadata(self.inner.key_to_fspath(key)) {
            Ok(metadata) if !metadata.is_dir() => Ok(Some(metadata.len())),
            _ => Ok(None), // as zarrs' FilesystemStore: no value where there is no file
        }
    }

    fn supports_get_partial(&self) -> bool {
        self.inner.supports_get_partial()
    }
}

impl WritableStorageTraits for AtomicFilesystemStore {
    fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        self.set_bytes(key, &value)
    }

    fn set_partial_many(
        &self,
        key: &StoreKey,
        offset_values: OffsetBytesIterator,
    ) -> Result<(), StorageError> {
        // Partial writes would modify a file in place; do read-modify-write of the whole value.
        let mut value = self.inner.get(key)?.map(|b| b.to_vec()).unwrap_or_default();
        for (offset, bytes) in offset_values {
            let start = usize::try_from(offset)
                .map_err(|_| StorageError::Other(format!("offset {offset} is too large")))?;
            let end = start + bytes.len();
            if value.len() < end {
                value.resize(end, 0);
            }
            value[start..end].copy_from_slice(&bytes);
        }
        self.set(key, value.into())
    }

    fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        self.inner.erase(key)
    }

    fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        self.inner.erase_prefix(prefix)
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}

impl ListableStorageTraits for AtomicFilesystemStore {
    fn list(&self) -> Result<StoreKeys, StorageError> {
        self.inner.list()
    }

    fn list_prefix(&self, prefix: &StorePrefix) -> Result<StoreKeys, StorageError> {
        self.inner.list_prefix(prefix)
    }

    fn list_dir(&self, prefix: &StorePrefix) -> Result<StoreKeysPrefixes, StorageError> {
        self.inner.list_dir(prefix)
    }

    fn size_prefix(&self, prefix: &StorePrefix) -> Result<u64, StorageError> {
        self.inner.size_prefix(prefix)
    }
}
