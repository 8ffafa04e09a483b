//! Partial reads of object stores in one round trip.
//!
//! `zarrs_object_store` answers every partial read with a HEAD (for the object's size) and then
//! the ranged GET: two round trips per chunk, which at 20 ms per request halves the speed of any
//! read that takes one request per chunk or per inner chunk. Here a bounded range goes straight to
//! object_store's `get_ranges` (which also merges nearby ranges into one request), and an open or
//! suffix range (a shard index) is one GET with that range. Everything else is delegated.
//!
//! Some clients refuse suffix ranges (object_store's Azure client: the Blob service has none):
//! there a suffix read is a HEAD for the size and ETag, then a bounded GET of that very version.
//!
//! Paths here are spelled as zarrs_object_store spells them (`Path::from(key)`); the store below
//! (`object_keys::RawKeys`) turns them into the keys themselves.

use std::ops::Range;
use std::sync::Arc;

use crate::object_keys::decoded;
use futures::{StreamExt, stream};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, GetResult, ObjectMeta, ObjectStore, ObjectStoreExt};
use zarrs_object_store::AsyncObjectStore;
use zarrs_storage::byte_range::{ByteRange, ByteRangeIterator};
use zarrs_storage::{
    AsyncListableStorageTraits, AsyncMaybeBytesIterator, AsyncReadableStorageTraits,
    AsyncWritableStorageTraits, Bytes, MaybeBytes, OffsetBytesIterator, StorageError, StoreKey,
    StoreKeys, StoreKeysPrefixes, StorePrefix,
};

pub struct RangedReads {
    store: Arc<dyn ObjectStore>,
    inner: AsyncObjectStore<Arc<dyn ObjectStore>>,
}

impl RangedReads {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner: AsyncObjectStore::new(store.clone()),
            store,
        }
    }

    async fn get_range(&self, path: &Path, range: GetRange) -> Result<Option<Bytes>, StorageError> {
        let options = GetOptions {
            range: Some(range),
            ..GetOptions::default()
        };
        match get_bytes(self.store.as_ref(), path, options).await {
            Ok((bytes, _)) => Ok(Some(bytes)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(other(e)),
        }
    }
}

/// The bytes `options` asks for and the object's metadata. A suffix range is made bounded where
/// the client refuses suffix ranges: a HEAD for the object's size and ETag, then the last bytes of
/// that version (`If-Match`), again from a new HEAD if the object changed in between (a caller's
/// own `if_match` is kept instead, and its 412 returned). An object rewritten between every HEAD
/// and GET is read whole (one request, one version) and its last bytes kept.
async fn get_bytes(
    store: &dyn ObjectStore,
    path: &Path,
    options: GetOptions,
) -> object_store::Result<(Bytes, ObjectMeta)> {
    let Some(GetRange::Suffix(length)) = options.range else {
        return into_bytes(store.get_opts(path, options).await?).await;
    };
    match store.get_opts(path, options.clone()).await {
        // Refused by the client itself, before any request.
        Err(object_store::Error::NotSupported { .. }) => {}
        done => return into_bytes(done?).await,
    }
    for _ in 0..3 {
        let meta = store.head(path).await?;
        let bounded = GetOptions {
            range: Some(GetRange::Bounded(
                meta.size.saturating_sub(length)..meta.size,
            )),
            if_match: options.if_match.clone().or(meta.e_tag),
            ..options.clone()
        };
        match store.get_opts(path, bounded).await {
            Err(object_store::Error::Precondition { .. }) if options.if_match.is_none() => {}
            done => return into_bytes(done?).await,
        }
    }
    let whole = GetOptions {
        range: None,
        ..options
    };
    let (bytes, meta) = into_bytes(store.get_opts(path, whole).await?).await?;
    let start = bytes
        .len()
        .saturating_sub(usize::try_from(length).unwrap_or(usize::MAX));
    Ok((bytes.slice(start..), meta))
}

async fn into_bytes(result: GetResult) -> object_store::Result<(Bytes, ObjectMeta)> {
    let meta = result.meta.clone();
    Ok((result.bytes().await?, meta))
}

fn other(e: object_store::Error) -> StorageError {
    StorageError::Other(e.to_string())
}

/// `range` as an exact byte range, if it has both ends.
fn bounded(range: &ByteRange) -> Option<Range<u64>> {
    match range {
        ByteRange::FromStart(offset, Some(length)) => Some(*offset..offset.checked_add(*length)?),
        _ => None,
    }
}

fn check_length(bytes: Bytes, expected: u64) -> Result<Bytes, StorageError> {
    if bytes.len() as u64 == expected {
        Ok(bytes)
    } else {
        Err(StorageError::Other(format!(
            "expected {expected} bytes from a ranged read, got {}",
            bytes.len()
        )))
    }
}

#[async_trait::async_trait]
impl AsyncReadableStorageTraits for RangedReads {
    async fn get(&self, key: &StoreKey) -> Result<MaybeBytes, StorageError> {
        self.inner.get(key).await
    }

    async fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<AsyncMaybeBytesIterator<'a>, StorageError> {
        let path = Path::from(key.as_str());
        let ranges: Vec<ByteRange> = byte_ranges.collect();
        let exact: Option<Vec<Range<u64>>> = ranges.iter().map(bounded).collect();
        let parts = match exact {
            Some(exact) if exact.iter().all(|r| r.end > r.start) => {
                match self.store.get_ranges(&path, &exact).await {
                    Ok(parts) => parts
                        .into_iter()
                        .zip(&exact)
                        .map(|(bytes, r)| check_length(bytes, r.end - r.start))
                        .collect::<Vec<_>>(),
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(other(e)),
                }
            }
            _ => {
                let mut parts = Vec::with_capacity(ranges.len());
                for range in &ranges {
                    let request = match range {
                        // The whole value: a plain GET (servers need not support ranges; the
                        // sync adapter reads whole values this way).
                        ByteRange::FromStart(0, None) => {
                            let Some(bytes) = self.inner.get(key).await? else {
                                return Ok(None);
                            };
                            parts.push(Ok(bytes));
                            continue;
                        }
                        ByteRange::FromStart(offset, None) => GetRange::Offset(*offset),
                        ByteRange::Suffix(length) => GetRange::Suffix(*length),
                        ByteRange::FromStart(_, Some(0)) => {
                            parts.push(Ok(Bytes::new()));
                            continue;
                        }
                        ByteRange::FromStart(offset, Some(length)) => {
                            GetRange::Bounded(*offset..offset.saturating_add(*length))
                        }
                    };
                    let Some(bytes) = self.get_range(&path, request).await? else {
                        return Ok(None);
                    };
                    parts.push(match bounded(range) {
                        Some(r) => check_length(bytes, r.end - r.start),
                        None => Ok(bytes),
                    });
                }
                parts
            }
        };
        Ok(Some(stream::iter(parts).boxed()))
    }

    async fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        self.inner.size_key(key).await
    }

    fn supports_get_partial(&self) -> bool {
        true
    }
}

#[async_trait::async_trait]
impl AsyncWritableStorageTraits for RangedReads {
    async fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        self.inner.set(key, value).await
    }

    async fn set_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        offset_values: OffsetBytesIterator<'a>,
    ) -> Result<(), StorageError> {
        self.inner.set_partial_many(key, offset_values).await
    }

    async fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        self.inner.erase(key).await
    }

    async fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        // (a listing, then deletes: asked again, it deletes what is left)
        listing_again(|| self.inner.erase_prefix(prefix)).await
    }

    fn supports_set_partial(&self) -> bool {
        self.inner.supports_set_partial()
    }
}

#[async_trait::async_trait]
impl AsyncListableStorageTraits for RangedReads {
    async fn list(&self) -> Result<StoreKeys, StorageError> {
        raw_keys(listing_again(|| self.inner.list()).await?)
    }

    async fn list_prefix(&self, prefix: &StorePrefix) -> Result<StoreKeys, StorageError> {
        raw_keys(listing_again(|| self.inner.list_prefix(prefix)).await?)
    }

    async fn list_dir(&self, prefix: &StorePrefix) -> Result<StoreKeysPrefixes, StorageError> {
        let listed = listing_again(|| self.inner.list_dir(prefix)).await?;
        let mut prefixes = listed
            .prefixes()
            .iter()
            .map(|p| StorePrefix::new(decoded(p.as_str())).map_err(StorageError::from))
            .collect::<Result<Vec<_>, _>>()?;
        prefixes.sort();
        Ok(StoreKeysPrefixes::new(
            raw_keys(listed.keys().clone())?,
            prefixes,
        ))
    }

    async fn size_prefix(&self, prefix: &StorePrefix) -> Result<u64, StorageError> {
        self.inner.size_prefix(prefix).await
    }
}

/// How many times a listing whose answer broke off is asked again.
const LISTING_RETRIES: usize = 2;

/// `list()`, asked again (twice at most) when the answer's body broke off: a reset connection or
/// a truncated answer. object_store retries a listing's request on the status it gets, but not a
/// body that fails after it (it does for GETs), so one reset failed a listing at once.
async fn listing_again<T, F, Fut>(mut list: F) -> Result<T, StorageError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StorageError>>,
{
    let mut retries = 0;
    loop {
        match list().await {
            Err(e) if retries < LISTING_RETRIES && e.to_string().contains("response body") => {
                retries += 1;
            }
            done => return done,
        }
    }
}

/// The keys zarrs_object_store listed, as they are (it lists paths as `Path::from` spells them:
/// `object_keys`).
fn raw_keys(listed: StoreKeys) -> Result<StoreKeys, StorageError> {
    let mut keys = listed
        .iter()
        .map(|k| StoreKey::new(decoded(k.as_str())).map_err(StorageError::from))
        .collect::<Result<Vec<_>, _>>()?;
    keys.sort();
    Ok(keys)
}

/// Reads of one object tied to one version of it (its ETag), for shards: the index is read with
/// the object's ETag, its inner chunks only while the object still has that ETag (`If-Match`).
/// A reader racing a writer then sees one version of a shard (never the index of one and the
/// bytes of another), and an index kept across reads needs no request to check it: a changed
/// shard answers the next inner-chunk read with 412, and the index is read again.
///
/// Writes of many chunks also go straight to the store (`put`, `erase`: `upload`), where the
/// store takes them (not HTTP servers, `read_only`).
pub struct Versioned {
    store: Arc<dyn ObjectStore>,
    writable: bool,
}

/// What a read conditional on a version found.
pub enum Conditional {
    Bytes(Bytes),
    /// The object has another version now (or is gone).
    Changed,
}

impl Versioned {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            store,
            writable: true,
        }
    }

    /// The same store, with writes refused (`writable` false): an HTTP server, whose writes
    /// must fail as the storage wrapper `read_only::ReadOnly` makes them fail.
    pub fn read_only(self) -> Self {
        Self {
            writable: false,
            ..self
        }
    }

    /// Whether `put` and `erase` may be used.
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Store `value` at `key` (one request: the object is replaced whole or not at all).
    pub async fn put(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        if !self.writable {
            return Err(StorageError::ReadOnly);
        }
        let path = Path::from(key.as_str());
        self.store.put(&path, value.into()).await.map_err(other)?;
        Ok(())
    }

    /// Delete the object at `key`; an absent object is not an error (as zarrs erases).
    pub async fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        if !self.writable {
            return Err(StorageError::ReadOnly);
        }
        match self.store.delete(&Path::from(key.as_str())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(other(e)),
        }
    }

    /// The whole object at `key`; None if there is no such object.
    pub async fn get(&self, key: &StoreKey) -> Result<Option<Bytes>, StorageError> {
        match self.store.get(&Path::from(key.as_str())).await {
            Ok(result) => Ok(Some(result.bytes().await.map_err(other)?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(other(e)),
        }
    }

    /// `range` of the object at `key` and its ETag (None if the store gives none); None if
    /// there is no such object.
    pub async fn get_with_version(
        &self,
        key: &StoreKey,
        range: GetRange,
    ) -> Result<Option<(Bytes, Option<String>)>, StorageError> {
        let options = GetOptions {
            range: Some(range),
            ..GetOptions::default()
        };
        match get_bytes(self.store.as_ref(), &Path::from(key.as_str()), options).await {
            Ok((bytes, meta)) => Ok(Some((bytes, meta.e_tag))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(other(e)),
        }
    }

    /// `range` of the object at `key` if its ETag is still `etag`.
    pub async fn get_if_version(
        &self,
        key: &StoreKey,
        range: Range<u64>,
        etag: &str,
    ) -> Result<Conditional, StorageError> {
        let options = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            if_match: Some(etag.to_string()),
            ..GetOptions::default()
        };
        match self
            .store
            .get_opts(&Path::from(key.as_str()), options)
            .await
        {
            // A server that ignores If-Match answers with the bytes of the object as it is now:
            // another ETag says they are not the version `range` was planned on.
            Ok(result) if result.meta.e_tag.as_deref().is_some_and(|now| now != etag) => {
                Ok(Conditional::Changed)
            }
            Ok(result) => {
                let bytes = result.bytes().await.map_err(other)?;
                Ok(Conditional::Bytes(check_length(
                    bytes,
                    range.end - range.start,
                )?))
            }
            Err(
                object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. },
            ) => Ok(Conditional::Changed),
            Err(e) => Err(other(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn a_listing_whose_body_broke_off_is_asked_again_twice_at_most() {
        let broken = || StorageError::Other("Error getting list response body: reset".into());
        for (failures, ok) in [(0, true), (2, true), (3, false)] {
            let mut calls = 0;
            let result = block_on(listing_again(|| {
                calls += 1;
                let fail = calls <= failures;
                async move { if fail { Err(broken()) } else { Ok(calls) } }
            }));
            assert_eq!(result.is_ok(), ok, "{failures} failures");
            let expected_calls = if ok {
                failures + 1
            } else {
                LISTING_RETRIES + 1
            };
            assert_eq!(calls, expected_calls, "{failures} failures");
        }
        // Other failures (a 503 that object_store retried already, a refusal) are not asked again.
        let mut calls = 0;
        let result: Result<(), _> = block_on(listing_again(|| {
            calls += 1;
            async { Err(StorageError::Other("503 Service Unavailable".into())) }
        }));
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }

    #[test]
    fn ranges_of_every_kind() {
        let memory = Arc::new(InMemory::new());
        let data: Vec<u8> = (0..100u8).collect();
        block_on(memory.put(&Path::from("k"), data.clone().into())).unwrap();
        let store = RangedReads::new(memory);
        let key = StoreKey::new("k").unwrap();
        let read = |ranges: Vec<ByteRange>| {
            block_on(async {
                let parts = store
                    .get_partial_many(&key, Box::new(ranges.into_iter()))
                    .await?;
                match parts {
                    None => Ok(None),
                    Some(parts) => {
                        let parts: Vec<Result<Bytes, StorageError>> = parts.collect().await;
                        parts.into_iter().collect::<Result<Vec<_>, _>>().map(Some)
                    }
                }
            })
        };
        let parts = read(vec![
            ByteRange::FromStart(2, Some(3)),
            ByteRange::FromStart(90, Some(10)),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(parts[0].as_ref(), &data[2..5]);
        assert_eq!(parts[1].as_ref(), &data[90..100]);
        let parts = read(vec![ByteRange::Suffix(4), ByteRange::FromStart(97, None)])
            .unwrap()
            .unwrap();
        assert_eq!(parts[0].as_ref(), &data[96..]);
        assert_eq!(parts[1].as_ref(), &data[97..]);
        let parts = read(vec![ByteRange::FromStart(5, Some(0))])
            .unwrap()
            .unwrap();
        assert!(parts[0].is_empty());
        // Past the end: an error, never short data taken as a whole range.
        assert!(read(vec![ByteRange::FromStart(95, Some(10))]).is_err());
        let absent = StoreKey::new("absent").unwrap();
        let none = block_on(store.get_partial_many(
            &absent,
            Box::new([ByteRange::FromStart(0, Some(1))].into_iter()),
        ))
        .unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn versioned_reads_see_one_version() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let key = StoreKey::new("c/0").unwrap();
        let path = Path::from("c/0");
        block_on(async {
            store
                .put(&path, Bytes::from_static(b"0123456789").into())
                .await
                .unwrap();
            let versioned = Versioned::new(store.clone());
            let (tail, etag) = versioned
                .get_with_version(&key, GetRange::Suffix(3))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&tail[..], b"789");
            let etag = etag.expect("InMemory gives ETags");
            let Conditional::Bytes(part) =
                versioned.get_if_version(&key, 2..5, &etag).await.unwrap()
            else {
                panic!("same version");
            };
            assert_eq!(&part[..], b"234");
            store
                .put(&path, Bytes::from_static(b"abcdefghij").into())
                .await
                .unwrap();
            assert!(matches!(
                versioned.get_if_version(&key, 2..5, &etag).await.unwrap(),
                Conditional::Changed
            ));
            store.delete(&path).await.unwrap();
            assert!(matches!(
                versioned.get_if_version(&key, 2..5, &etag).await.unwrap(),
                Conditional::Changed
            ));
            let missing = StoreKey::new("c/1").unwrap();
            assert!(
                versioned
                    .get_with_version(&missing, GetRange::Suffix(3))
                    .await
                    .unwrap()
                    .is_none()
            );
        });
    }

    /// object_store's Azure client in miniature: an in-memory store that refuses suffix ranges
    /// (before any request, as that client does) and counts HEADs.
    #[derive(Debug)]
    struct NoSuffixRanges {
        inner: InMemory,
        heads: std::sync::atomic::AtomicUsize,
        /// Rewrite the object answered on every HEAD (a writer always one step ahead).
        rewrite_on_head: bool,
    }

    impl std::fmt::Display for NoSuffixRanges {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "NoSuffixRanges")
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for NoSuffixRanges {
        async fn put_opts(
            &self,
            location: &Path,
            payload: object_store::PutPayload,
            opts: object_store::PutOptions,
        ) -> object_store::Result<object_store::PutResult> {
            self.inner.put_opts(location, payload, opts).await
        }

        async fn put_multipart_opts(
            &self,
            location: &Path,
            opts: object_store::PutMultipartOptions,
        ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
            self.inner.put_multipart_opts(location, opts).await
        }

        async fn get_opts(
            &self,
            location: &Path,
            options: GetOptions,
        ) -> object_store::Result<GetResult> {
            if let Some(GetRange::Suffix(_)) = options.range {
                return Err(object_store::Error::NotSupported {
                    source: "no suffix ranges here".into(),
                });
            }
            let head = options.head;
            let result = self.inner.get_opts(location, options).await;
            if head {
                let heads = self
                    .heads
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if self.rewrite_on_head {
                    let version = format!("version {heads}");
                    self.inner
                        .put(location, Bytes::from(version.into_bytes()).into())
                        .await?;
                }
            }
            result
        }

        fn delete_stream(
            &self,
            locations: futures::stream::BoxStream<'static, object_store::Result<Path>>,
        ) -> futures::stream::BoxStream<'static, object_store::Result<Path>> {
            self.inner.delete_stream(locations)
        }

        fn list(
            &self,
            prefix: Option<&Path>,
        ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>>
        {
            self.inner.list(prefix)
        }

        async fn list_with_delimiter(
            &self,
            prefix: Option<&Path>,
        ) -> object_store::Result<object_store::ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }

        async fn copy_opts(
            &self,
            from: &Path,
            to: &Path,
            options: object_store::CopyOptions,
        ) -> object_store::Result<()> {
            self.inner.copy_opts(from, to, options).await
        }
    }

    #[test]
    fn suffix_ranges_where_the_client_refuses_them() {
        let store = Arc::new(NoSuffixRanges {
            inner: InMemory::new(),
            heads: Default::default(),
            rewrite_on_head: false,
        });
        let path = Path::from("s/0");
        block_on(store.put(&path, Bytes::from_static(b"0123456789").into())).unwrap();
        let key = StoreKey::new("s/0").unwrap();
        // Through the versioned reads: the last bytes and the ETag of that version.
        let versioned = Versioned::new(store.clone());
        let (tail, etag) = block_on(versioned.get_with_version(&key, GetRange::Suffix(3)))
            .unwrap()
            .unwrap();
        assert_eq!((&tail[..], etag.is_some()), (&b"789"[..], true));
        // Through zarrs' storage API: a suffix longer than the value is the whole value.
        let ranged = RangedReads::new(store.clone());
        let parts = block_on(async {
            let parts = ranged
                .get_partial_many(&key, Box::new(vec![ByteRange::Suffix(20)].into_iter()))
                .await
                .unwrap()
                .unwrap();
            parts.collect::<Vec<_>>().await
        });
        assert_eq!(&parts[0].as_ref().unwrap()[..], b"0123456789");
        assert_eq!(store.heads.load(std::sync::atomic::Ordering::Relaxed), 2);
        let missing = StoreKey::new("s/1").unwrap();
        assert!(
            block_on(versioned.get_with_version(&missing, GetRange::Suffix(3)))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn suffix_of_an_object_rewritten_between_every_head_and_get() {
        let store = Arc::new(NoSuffixRanges {
            inner: InMemory::new(),
            heads: Default::default(),
            rewrite_on_head: true,
        });
        let path = Path::from("s/0");
        block_on(store.put(&path, Bytes::from_static(b"first").into())).unwrap();
        let key = StoreKey::new("s/0").unwrap();
        let versioned = Versioned::new(store.clone());
        // Every bounded GET after a HEAD finds another version (412): after three HEADs the object
        // is read whole, and the tail and ETag are of that one version.
        let (tail, etag) = block_on(versioned.get_with_version(&key, GetRange::Suffix(3)))
            .unwrap()
            .unwrap();
        assert_eq!(&tail[..], b"n 2"); // "version 2", written after the third HEAD
        assert_eq!(store.heads.load(std::sync::atomic::Ordering::Relaxed), 3);
        let now = block_on(store.inner.head(&path)).unwrap();
        assert_eq!(etag, now.e_tag);
    }
}
