//! Object store errors that say why a request failed.
//!
//! object_store's message names only the outermost error of the HTTP client ("HTTP error: error
//! sending request"), and zarrs' store adapter keeps only that text: a refused connection, a name
//! that does not resolve and an untrusted certificate all read alike. `ExplainedErrors` wraps a
//! store and puts every cause of each error into its message ("... error sending request: client
//! error (Connect): tcp connect error: Connection refused (os error 111)"), keeping the variant
//! (NotFound, Precondition, ...) that callers match on.
//!
//! It also refuses, before any request, an object key longer than object stores accept
//! ([`MAX_KEY_CHARS`]): object_store panics when a URL it builds exceeds the HTTP client's limit
//! (64 KiB), so a node path of 100,000 characters would otherwise end as a caught panic.

use std::error::Error as StdError;
use std::fmt;
use std::ops::Range;

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, Error, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
    Result, UploadPart,
};
use zarrs::storage::Bytes;

type Source = Box<dyn StdError + Send + Sync + 'static>;

/// `error` with every cause of its source in its message.
pub fn explained(error: Error) -> Error {
    match error {
        Error::Generic { store, source } => Error::Generic {
            store,
            source: explain(source),
        },
        Error::NotFound { path, source } => Error::NotFound {
            path,
            source: explain(source),
        },
        Error::PermissionDenied { path, source } => Error::PermissionDenied {
            path,
            source: explain(source),
        },
        Error::Unauthenticated { path, source } => Error::Unauthenticated {
            path,
            source: explain(source),
        },
        Error::Precondition { path, source } => Error::Precondition {
            path,
            source: explain(source),
        },
        other => other,
    }
}

/// The causes of `source` not already in its text, appended (": cause"); `source` itself when
/// there is none.
fn explain(source: Source) -> Source {
    let mut text = source.to_string();
    let own = text.len();
    let mut cause = source.source();
    while let Some(inner) = cause {
        let part = inner.to_string();
        if !part.is_empty() && !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = inner.source();
    }
    if text.len() == own {
        source
    } else {
        Box::new(Explained {
            text,
            original: source,
        })
    }
}

/// An error's whole chain as one message. The original stays for `Debug`; `source()` is None, so
/// that nothing prints the causes twice.
struct Explained {
    text: String,
    original: Source,
}

impl fmt::Display for Explained {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Explained {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.original, f)
    }
}

impl StdError for Explained {}

/// The longest object key (the URL's path below the bucket plus the key, in characters) that is
/// sent: S3 and GCS accept 1,024 bytes, Azure 1,024 characters.
pub const MAX_KEY_CHARS: usize = 1024;

/// The text that marks a key refused for its length (`error::refined_code` makes it an invalid
/// argument, not a storage failure).
pub const KEY_TOO_LONG: &str = "longer than object stores accept";

/// A store whose errors are `explained` and whose keys are checked for length; everything else
/// is the inner store's.
#[derive(Debug)]
pub struct ExplainedErrors<S> {
    inner: S,
    /// Characters a key below the store may have.
    key_room: usize,
}

impl<S> ExplainedErrors<S> {
    /// `inner`, an object store below `prefix`, whose keys (with the prefix) may have at most
    /// [`MAX_KEY_CHARS`] characters.
    pub fn with_key_limit(inner: S, prefix: &str) -> Self {
        let used = match prefix.chars().count() {
            0 => 0,
            n => n + 1, // "prefix/"
        };
        Self {
            inner,
            key_room: MAX_KEY_CHARS.saturating_sub(used),
        }
    }

    fn check(&self, location: &Path) -> Result<()> {
        check_length(self.key_room, location)
    }

    fn check_all(&self, locations: &[&Path]) -> Result<()> {
        locations
            .iter()
            .try_for_each(|location| self.check(location))
    }
}

/// An error, before any request, if `location` is longer than `room` characters.
fn check_length(room: usize, location: &Path) -> Result<()> {
    // object_store keeps a key percent-encoded ("é" as "%C3%A9"); the store sees it decoded.
    let key = percent_encoding::percent_decode_str(location.as_ref()).decode_utf8_lossy();
    let length = key.chars().count();
    if length <= room {
        return Ok(());
    }
    let start: String = key.chars().take(60).collect();
    let limit = if room == MAX_KEY_CHARS {
        format!("{MAX_KEY_CHARS}")
    } else {
        format!("{room} below the store's prefix, {MAX_KEY_CHARS} in all")
    };
    Err(Error::Generic {
        store: "zarrs-cffi",
        source: format!(
            "the object key \"{start}…\" has {length} characters, {KEY_TOO_LONG} ({limit}); \
             no request was made"
        )
        .into(),
    })
}

impl<S: fmt::Display> fmt::Display for ExplainedErrors<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl<S: ObjectStore> ObjectStore for ExplainedErrors<S> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.check(location)?;
        self.inner
            .put_opts(location, payload, opts)
            .await
            .map_err(explained)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.check(location)?;
        let upload = self
            .inner
            .put_multipart_opts(location, opts)
            .await
            .map_err(explained)?;
        Ok(Box::new(ExplainedUpload(upload)))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.check(location)?;
        let mut result = self
            .inner
            .get_opts(location, options)
            .await
            .map_err(explained)?;
        // Errors while the body arrives (a reset connection) too. (Without object_store's "fs"
        // feature a stream is the only payload.)
        #[allow(irrefutable_let_patterns)]
        if let GetResultPayload::Stream(body) = result.payload {
            result.payload = GetResultPayload::Stream(body.map_err(explained).boxed());
        }
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.check(location)?;
        self.inner
            .get_ranges(location, ranges)
            .await
            .map_err(explained)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let room = self.key_room;
        let checked = locations.and_then(move |location| async move {
            check_length(room, &location).map(|()| location)
        });
        self.inner
            .delete_stream(checked.boxed())
            .map_err(explained)
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        if let Err(e) = self.check_all(&prefix.into_iter().collect::<Vec<_>>()) {
            return futures::stream::once(async { Err(e) }).boxed();
        }
        self.inner.list(prefix).map_err(explained).boxed()
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let mut locations: Vec<&Path> = prefix.into_iter().collect();
        locations.push(offset);
        if let Err(e) = self.check_all(&locations) {
            return futures::stream::once(async { Err(e) }).boxed();
        }
        self.inner
            .list_with_offset(prefix, offset)
            .map_err(explained)
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.check_all(&prefix.into_iter().collect::<Vec<_>>())?;
        self.inner
            .list_with_delimiter(prefix)
            .await
            .map_err(explained)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.check_all(&[from, to])?;
        self.inner
            .copy_opts(from, to, options)
            .await
            .map_err(explained)
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.check_all(&[from, to])?;
        self.inner
            .rename_opts(from, to, options)
            .await
            .map_err(explained)
    }
}

/// A multipart upload whose errors are `explained`.
#[derive(Debug)]
struct ExplainedUpload(Box<dyn MultipartUpload>);

#[async_trait]
impl MultipartUpload for ExplainedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let part = self.0.put_part(data);
        Box::pin(async move { part.await.map_err(explained) })
    }

    async fn complete(&mut self) -> Result<PutResult> {
        self.0.complete().await.map_err(explained)
    }

    async fn abort(&mut self) -> Result<()> {
        self.0.abort().await.map_err(explained)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Layer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn StdError + 'static))
        }
    }

    #[test]
    fn every_cause_reaches_the_message_once_and_the_variant_stays() {
        let chain = Layer(
            "HTTP error: error sending request",
            Some(Box::new(Layer(
                "error sending request",
                Some(Box::new(Layer(
                    "tcp connect error: Connection refused",
                    None,
                ))),
            ))),
        );
        let error = explained(Error::Generic {
            store: "S3",
            source: Box::new(chain),
        });
        assert!(matches!(error, Error::Generic { .. }));
        assert_eq!(
            error.to_string(),
            "Generic S3 error: HTTP error: error sending request: tcp connect error: Connection refused"
        );
        let missing = explained(Error::NotFound {
            path: "a/zarr.json".into(),
            source: Box::new(Layer("404 Not Found", None)),
        });
        assert!(matches!(missing, Error::NotFound { .. }));
        assert_eq!(
            missing.to_string(),
            "Object at location a/zarr.json not found: 404 Not Found"
        );
    }

    fn refused(result: Result<impl fmt::Debug>) -> String {
        match result {
            Err(e @ Error::Generic { .. }) => e.to_string(),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn keys_longer_than_object_stores_accept_are_refused_before_any_request() {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(refuse_long_keys());
    }

    async fn refuse_long_keys() {
        use object_store::ObjectStoreExt;
        use object_store::memory::InMemory;
        use object_store::prefix::PrefixStore;
        use std::sync::Arc;

        let memory = Arc::new(InMemory::new());
        // "data.zarr/" leaves 1014 characters for keys below it.
        let store = ExplainedErrors::with_key_limit(
            PrefixStore::new(memory.clone(), "data.zarr"),
            "data.zarr",
        );
        let longest = Path::from("k".repeat(1014));
        let too_long = Path::from("é".repeat(1015)); // characters, not bytes, are counted
        store.put(&longest, "x".into()).await.unwrap();
        assert_eq!(memory.list(None).count().await, 1);
        let message = refused(store.put(&too_long, "x".into()).await);
        assert!(message.contains(KEY_TOO_LONG), "{message}");
        assert!(message.contains("1015 characters"), "{message}");
        assert!(
            message.contains("1014 below the store's prefix, 1024 in all"),
            "{message}"
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
        assert_eq!(
            memory.list(None).count().await,
            1,
            "nothing stored or deleted"
        );
        store.get(&longest).await.unwrap();
    }
}
