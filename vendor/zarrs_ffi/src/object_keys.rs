//! Object keys as they are, not as object_store's `Path::from` spells them.
//!
//! zarrs' object store adapter (`zarrs_object_store`) turns a store key into a path with
//! `Path::from`, which percent-encodes non-ASCII bytes and `%`, `~`, `#`, `?`, `*`, `"`, `\` ...;
//! the store then holds the encoded text as the key: a node `ü` written as the object
//! `%C3%BC/zarr.json`, which zarr-python (obstore), tensorstore or any S3 client looks for as
//! `ü/zarr.json`. `RawKeys` sits between that adapter and the store: every path coming down is
//! decoded to the key it stands for (refused if object stores cannot take it), and every path a
//! listing sends up is encoded again, so that what the adapter lists it can hand back
//! (`erase_prefix` deletes what it lists). `object_reads::RangedReads` decodes the keys the adapter
//! lists for zarrs.
//!
//! Keys are refused before any request when longer than object stores accept ([`MAX_KEY_CHARS`];
//! object_store panics building a URL past its HTTP client's 64 KiB), or when they hold what
//! object_store's paths cannot (control characters, `.` or `..` segments).

use std::fmt;
use std::ops::Range;

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, Error, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use zarrs::storage::Bytes;

/// The longest object key (the URL's path below the bucket plus the key, in characters) that is
/// sent: S3 and GCS accept 1,024 bytes, Azure 1,024 characters.
pub const MAX_KEY_CHARS: usize = 1024;

/// The end of every message refusing a key (`error::refined_code` makes it an invalid argument,
/// not a storage failure).
pub const KEY_REFUSED: &str = "no request was made";

/// The key `Path::from` made `path` from (`%C3%BC` → `ü`).
pub fn decoded(path: &str) -> String {
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}

/// A store below `prefix` whose paths are decoded on the way down and encoded on the way up.
#[derive(Debug)]
pub struct RawKeys<S> {
    inner: S,
    /// Characters a key below the store may have.
    key_room: usize,
}

impl<S> RawKeys<S> {
    /// `inner`, an object store below `prefix` (its keys count toward [`MAX_KEY_CHARS`]).
    pub fn new(inner: S, prefix: &str) -> Self {
        let used = match prefix.chars().count() {
            0 => 0,
            n => n + 1, // "prefix/"
        };
        Self {
            inner,
            key_room: MAX_KEY_CHARS.saturating_sub(used),
        }
    }

    fn raw(&self, location: &Path) -> Result<Path> {
        raw_path(self.key_room, location)
    }
}

/// The path of the key `location` spells, or an error before any request.
fn raw_path(room: usize, location: &Path) -> Result<Path> {
    let key = decoded(location.as_ref());
    let refuse = |why: String| {
        let start: String = key.chars().take(60).collect();
        Err(Error::Generic {
            store: "zarrs-cffi",
            source: format!("the object key \"{start}…\" {why}; {KEY_REFUSED}").into(),
        })
    };
    let length = key.chars().count();
    if length > room {
        let limit = if room == MAX_KEY_CHARS {
            format!("{MAX_KEY_CHARS}")
        } else {
            format!("{room} below the store's prefix, {MAX_KEY_CHARS} in all")
        };
        return refuse(format!(
            "has {length} characters, longer than object stores accept ({limit})"
        ));
    }
    match Path::parse(&key) {
        Ok(path) => Ok(path),
        Err(e) => refuse(format!("cannot be an object store key ({e})")),
    }
}

/// `location` (a key as the store holds it) as `Path::from` spells it.
fn encoded(location: &Path) -> Path {
    Path::from(location.as_ref())
}

fn encoded_meta(mut meta: ObjectMeta) -> ObjectMeta {
    meta.location = encoded(&meta.location);
    meta
}

fn refused_stream<T: Send + 'static>(error: Error) -> BoxStream<'static, Result<T>> {
    futures::stream::once(async { Err(error) }).boxed()
}

impl<S: fmt::Display> fmt::Display for RawKeys<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl<S: ObjectStore> ObjectStore for RawKeys<S> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner
            .put_opts(&self.raw(location)?, payload, opts)
            .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner
            .put_multipart_opts(&self.raw(location)?, opts)
            .await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let mut result = self.inner.get_opts(&self.raw(location)?, options).await?;
        result.meta = encoded_meta(result.meta);
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(&self.raw(location)?, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let room = self.key_room;
        let raw = locations.and_then(move |location| async move { raw_path(room, &location) });
        self.inner
            .delete_stream(raw.boxed())
            .map_ok(|location| encoded(&location))
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let prefix = match prefix.map(|p| self.raw(p)).transpose() {
            Ok(prefix) => prefix,
            Err(e) => return refused_stream(e),
        };
        self.inner
            .list(prefix.as_ref())
            .map_ok(encoded_meta)
            .boxed()
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let raw = prefix
            .map(|p| self.raw(p))
            .transpose()
            .and_then(|prefix| Ok((prefix, self.raw(offset)?)));
        match raw {
            Ok((prefix, offset)) => self
                .inner
                .list_with_offset(prefix.as_ref(), &offset)
                .map_ok(encoded_meta)
                .boxed(),
            Err(e) => refused_stream(e),
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let prefix = prefix.map(|p| self.raw(p)).transpose()?;
        let mut listed = self.inner.list_with_delimiter(prefix.as_ref()).await?;
        listed.common_prefixes = listed.common_prefixes.iter().map(encoded).collect();
        listed.objects = listed.objects.into_iter().map(encoded_meta).collect();
        Ok(listed)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner
            .copy_opts(&self.raw(from)?, &self.raw(to)?, options)
            .await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner
            .rename_opts(&self.raw(from)?, &self.raw(to)?, options)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;
    use object_store::prefix::PrefixStore;
    use std::sync::Arc;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    fn refused(result: Result<impl fmt::Debug>) -> String {
        match result {
            Err(e @ Error::Generic { .. }) => e.to_string(),
            other => panic!("not refused: {other:?}"),
        }
    }

    async fn stored(memory: &InMemory) -> Vec<String> {
        let listed: Vec<ObjectMeta> = memory.list(None).try_collect().await.unwrap();
        listed.into_iter().map(|m| m.location.to_string()).collect()
    }

    #[test]
    fn keys_are_stored_as_they_are_and_listed_as_path_from_spells_them() {
        block_on(async {
            let memory = Arc::new(InMemory::new());
            // The prefix as it is (`Path::from` would spell it "d%C3%A4t%C3%A4.zarr").
            let prefix = Path::parse("dätä.zarr").unwrap();
            let store = RawKeys::new(PrefixStore::new(memory.clone(), prefix), "dätä.zarr");
            let names = [
                "ü/zarr.json",
                "x%41/c/0",
                "a b~#?*\"\\/zarr.json",
                "日本/zarr.json",
            ];
            for name in names {
                // zarrs_object_store's `key_to_path`
                store.put(&Path::from(name), name.into()).await.unwrap();
            }
            let mut expected: Vec<String> =
                names.iter().map(|n| format!("dätä.zarr/{n}")).collect();
            expected.sort();
            assert_eq!(stored(&memory).await, expected, "the keys themselves");
            for name in names {
                let bytes = store.get(&Path::from(name)).await.unwrap().bytes().await;
                assert_eq!(bytes.unwrap(), name.as_bytes());
            }
            // A listing hands back paths that address the same objects: erase everything listed.
            let listed: Vec<ObjectMeta> = store.list(None).try_collect().await.unwrap();
            let mut spelled: Vec<String> = listed.iter().map(|m| m.location.to_string()).collect();
            spelled.sort();
            let mut from: Vec<String> = names.iter().map(|n| Path::from(*n).to_string()).collect();
            from.sort();
            assert_eq!(spelled, from);
            let dirs = store.list_with_delimiter(None).await.unwrap();
            assert!(dirs.common_prefixes.contains(&Path::from("ü")));
            let locations = futures::stream::iter(listed.into_iter().map(|m| Ok(m.location)));
            let deleted: Vec<Path> = store
                .delete_stream(locations.boxed())
                .try_collect()
                .await
                .unwrap();
            assert_eq!(deleted.len(), names.len());
            assert!(stored(&memory).await.is_empty());
        });
    }

    #[test]
    fn keys_object_stores_cannot_take_are_refused_before_any_request() {
        block_on(async {
            let memory = Arc::new(InMemory::new());
            // "data.zarr/" leaves 1014 characters for keys below it.
            let store = RawKeys::new(PrefixStore::new(memory.clone(), "data.zarr"), "data.zarr");
            let longest = Path::from("k".repeat(1014));
            let too_long = Path::from("é".repeat(1015)); // characters, not bytes, are counted
            store.put(&longest, "x".into()).await.unwrap();
            let message = refused(store.put(&too_long, "x".into()).await);
            let expected = "1015 characters, longer than object stores accept \
                            (1014 below the store's prefix, 1024 in all)";
            assert!(message.contains(expected), "{message}");
            assert!(message.ends_with(KEY_REFUSED), "{message}");
            let control = refused(store.put(&Path::from("tab\tx/zarr.json"), "x".into()).await);
            assert!(
                control.contains("cannot be an object store key"),
                "{control}"
            );
            refused(store.get(&too_long).await);
            refused(store.get_ranges(&too_long, &[0..1, 2..3]).await);
            refused(store.list_with_delimiter(Some(&too_long)).await);
            refused(store.copy(&longest, &too_long).await);
            refused(store.rename(&too_long, &longest).await);
            let listed: Vec<_> = store.list(Some(&too_long)).collect().await;
            assert!(matches!(listed.as_slice(), [Err(Error::Generic { .. })]));
            let deleted: Vec<_> = store
                .delete_stream(futures::stream::iter([Ok(too_long.clone())]).boxed())
                .collect()
                .await;
            assert!(matches!(deleted.as_slice(), [Err(Error::Generic { .. })]));
            assert_eq!(stored(&memory).await.len(), 1, "nothing stored or deleted");
            store.get(&longest).await.unwrap();
        });
    }
}
