//! HTTP servers without range requests.
//!
//! Many static servers (Python's `http.server`, the usual way to serve a directory for a test or
//! a notebook) ignore a `Range` header and answer 200 with the whole object. object_store's HTTP
//! client then refuses the response ("Range request not supported"), and every read that needs a
//! part of an object failed: the index and inner chunks of any sharded array. Here such a read is
//! answered from the whole object instead (what a server without ranges costs anyway), and once a
//! server has refused, its later partial reads ask for whole objects straight away.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
    Result,
};
use zarrs_storage::Bytes;

/// An HTTP store whose partial reads fall back to whole objects on servers without ranges.
#[derive(Debug)]
pub struct WholeGets {
    inner: Arc<dyn ObjectStore>,
    /// The server answered a range request with the whole object.
    no_ranges: AtomicBool,
}

impl WholeGets {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            no_ranges: AtomicBool::new(false),
        }
    }

    /// Whether to try a range request: the server has not refused one yet. After a refusal
    /// (object_store's `NotSupported` for a range) the server is marked and false is returned.
    fn ranged<T>(&self, attempt: &Result<T>) -> bool {
        if matches!(attempt, Err(object_store::Error::NotSupported { .. })) {
            self.no_ranges.store(true, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// The whole object at `location` (`options` without their range) and its metadata.
    async fn whole(&self, location: &Path, options: GetOptions) -> Result<(Bytes, GetResult)> {
        let whole = GetOptions {
            range: None,
            ..options
        };
        let mut result = self.inner.get_opts(location, whole).await?;
        let payload = std::mem::replace(
            &mut result.payload,
            GetResultPayload::Stream(stream::empty().boxed()),
        );
        let bytes = GetResult {
            payload,
            meta: result.meta.clone(),
            range: result.range.clone(),
            attributes: result.attributes.clone(),
            extensions: Default::default(),
        }
        .bytes()
        .await?;
        Ok((bytes, result))
    }
}

/// `range` of an object of `length` bytes, as a range request would have answered it.
fn resolve(range: &GetRange, length: u64) -> Result<Range<u64>> {
    range
        .as_range(length)
        .map_err(|e| object_store::Error::Generic {
            store: "HTTP",
            source: Box::new(e),
        })
}

fn slice(bytes: &Bytes, range: &Range<u64>) -> Bytes {
    // Within the object: `resolve` keeps ranges inside its length.
    #[allow(clippy::cast_possible_truncation)]
    bytes.slice(range.start as usize..range.end as usize)
}

impl fmt::Display for WholeGets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)
    }
}

#[async_trait]
impl ObjectStore for WholeGets {
    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let Some(range) = options.range.clone() else {
            return self.inner.get_opts(location, options).await;
        };
        if !self.no_ranges.load(Ordering::Relaxed) {
            let attempt = self.inner.get_opts(location, options.clone()).await;
            if self.ranged(&attempt) {
                return attempt;
            }
        }
        let (bytes, mut result) = self.whole(location, options).await?;
        let range = resolve(&range, bytes.len() as u64)?;
        let part = slice(&bytes, &range);
        result.payload = GetResultPayload::Stream(stream::once(async move { Ok(part) }).boxed());
        result.range = range;
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        if !self.no_ranges.load(Ordering::Relaxed) {
            let attempt = self.inner.get_ranges(location, ranges).await;
            if self.ranged(&attempt) {
                return attempt;
            }
        }
        // One whole object for all the ranges.
        let (bytes, _) = self.whole(location, GetOptions::default()).await?;
        ranges
            .iter()
            .map(|r| {
                Ok(slice(
                    &bytes,
                    &resolve(&GetRange::Bounded(r.clone()), bytes.len() as u64)?,
                ))
            })
            .collect()
    }

    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutPayload};
    use std::sync::atomic::AtomicUsize;

    /// A server that ignores ranges, as object_store's HTTP client reports it; counts requests.
    #[derive(Debug, Default)]
    struct NoRanges {
        objects: InMemory,
        ranged: AtomicUsize,
        whole: AtomicUsize,
    }

    impl fmt::Display for NoRanges {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "NoRanges")
        }
    }

    #[async_trait]
    impl ObjectStore for NoRanges {
        async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
            if options.range.is_some() {
                self.ranged.fetch_add(1, Ordering::Relaxed);
                return Err(object_store::Error::NotSupported {
                    source: "Range request not supported".into(),
                });
            }
            self.whole.fetch_add(1, Ordering::Relaxed);
            self.objects.get_opts(location, options).await
        }
        async fn put_opts(&self, l: &Path, p: PutPayload, o: PutOptions) -> Result<PutResult> {
            self.objects.put_opts(l, p, o).await
        }
        async fn put_multipart_opts(
            &self,
            l: &Path,
            o: PutMultipartOptions,
        ) -> Result<Box<dyn MultipartUpload>> {
            self.objects.put_multipart_opts(l, o).await
        }
        fn delete_stream(
            &self,
            l: BoxStream<'static, Result<Path>>,
        ) -> BoxStream<'static, Result<Path>> {
            self.objects.delete_stream(l)
        }
        fn list(&self, p: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
            self.objects.list(p)
        }
        async fn list_with_delimiter(&self, p: Option<&Path>) -> Result<ListResult> {
            self.objects.list_with_delimiter(p).await
        }
        async fn copy_opts(&self, f: &Path, t: &Path, o: CopyOptions) -> Result<()> {
            self.objects.copy_opts(f, t, o).await
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn parts_are_cut_from_whole_objects_after_one_refusal() {
        block_on(async {
            let server = Arc::new(NoRanges::default());
            let path = Path::from("shard");
            let data: Vec<u8> = (0..100).collect();
            server.put(&path, data.clone().into()).await.unwrap();
            let store = WholeGets::new(server.clone());
            let suffix = store.get_range(&path, 90..100).await.unwrap();
            assert_eq!(&suffix[..], &data[90..]);
            let options = GetOptions {
                range: Some(GetRange::Suffix(8)),
                ..GetOptions::default()
            };
            let result = store.get_opts(&path, options).await.unwrap();
            assert_eq!(result.range, 92..100);
            assert_eq!(&result.bytes().await.unwrap()[..], &data[92..]);
            let parts = store.get_ranges(&path, &[3..7, 50..52]).await.unwrap();
            assert_eq!((&parts[0][..], &parts[1][..]), (&data[3..7], &data[50..52]));
            // One refused range request; later parts asked for whole objects straight away.
            assert_eq!(server.ranged.load(Ordering::Relaxed), 1);
            assert_eq!(server.whole.load(Ordering::Relaxed), 3);
            // A range beyond the object is an error, as a 416 would be; a missing object NotFound.
            assert!(store.get_range(&path, 200..210).await.is_err());
            let missing = store.get_range(&Path::from("nope"), 0..1).await;
            assert!(matches!(missing, Err(object_store::Error::NotFound { .. })));
        });
    }
}
