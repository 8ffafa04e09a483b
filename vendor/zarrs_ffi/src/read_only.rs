//! A read-only store as read/write storage: upstream's handle holds read/write storage only, so
//! zip files and HTTP servers are wrapped in this, whose writes fail with `StorageError::ReadOnly`
//! (`ZARRS_CFFI_ERROR_READ_ONLY` at the C boundary) and change nothing.

use zarrs::storage::byte_range::ByteRangeIterator;
use zarrs::storage::{
    Bytes, ListableStorageTraits, MaybeBytes, MaybeBytesIterator, OffsetBytesIterator,
    ReadableStorageTraits, StorageError, StoreKey, StoreKeys, StoreKeysPrefixes, StorePrefix,
    WritableStorageTraits,
};

pub struct ReadOnly<T> {
    inner: T,
}

impl<T> ReadOnly<T> {
    pub fn new(inner: T) -> Self {
        Self { inner }
    }
}

impl<T: ReadableStorageTraits> ReadableStorageTraits for ReadOnly<T> {
    fn get(&self, key: &StoreKey) -> Result<MaybeBytes, StorageError> {
        self.inner.get(key)
    }

    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        self.inner.get_partial_many(key, byte_ranges)
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        self.inner.size_key(key)
    }

    fn supports_get_partial(&self) -> bool {
        self.inner.supports_get_partial()
    }
}

impl<T: ListableStorageTraits> ListableStorageTraits for ReadOnly<T> {
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

impl<T: Send + Sync> WritableStorageTraits for ReadOnly<T> {
    fn set(&self, _key: &StoreKey, _value: Bytes) -> Result<(), StorageError> {
        Err(StorageError::ReadOnly)
    }

    fn set_partial_many(
        &self,
        _key: &StoreKey,
        _offset_values: OffsetBytesIterator,
    ) -> Result<(), StorageError> {
        Err(StorageError::ReadOnly)
    }

    fn erase(&self, _key: &StoreKey) -> Result<(), StorageError> {
        Err(StorageError::ReadOnly)
    }

    fn erase_prefix(&self, _prefix: &StorePrefix) -> Result<(), StorageError> {
        Err(StorageError::ReadOnly)
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zarrs::storage::store::MemoryStore;

    #[test]
    fn writes_fail_and_change_nothing() {
        let inner = MemoryStore::new();
        let key = StoreKey::new("a").unwrap();
        inner.set(&key, Bytes::from_static(b"old")).unwrap();
        let store = ReadOnly::new(inner);
        assert!(matches!(
            store.set(&key, Bytes::from_static(b"new")),
            Err(StorageError::ReadOnly)
        ));
        assert!(matches!(store.erase(&key), Err(StorageError::ReadOnly)));
        assert_eq!(store.get(&key).unwrap().unwrap().as_ref(), b"old");
    }
}
