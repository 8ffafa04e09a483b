//! Object store errors that say why a request failed.
//!
//! object_store's message names only the outermost error of the HTTP client ("HTTP error: error
//! sending request"), and zarrs' store adapter keeps only that text: a refused connection, a name
//! that does not resolve and an untrusted certificate all read alike. `ExplainedErrors` wraps a
//! store and puts every cause of each error into its message ("... error sending request: client
//! error (Connect): tcp connect error: Connection refused (os error 111)"), keeping the variant
//! (NotFound, Precondition, ...) that callers match on.

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

/// A store whose errors are `explained`; everything else is the inner store's.
#[derive(Debug)]
pub struct ExplainedErrors<S>(pub S);

impl<S: fmt::Display> fmt::Display for ExplainedErrors<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
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
        self.0
            .put_opts(location, payload, opts)
            .await
            .map_err(explained)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let upload = self
            .0
            .put_multipart_opts(location, opts)
            .await
            .map_err(explained)?;
        Ok(Box::new(ExplainedUpload(upload)))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let mut result = self
            .0
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
        self.0.get_ranges(location, ranges).await.map_err(explained)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.0.delete_stream(locations).map_err(explained).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.0.list(prefix).map_err(explained).boxed()
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.0
            .list_with_offset(prefix, offset)
            .map_err(explained)
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.0.list_with_delimiter(prefix).await.map_err(explained)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.0.copy_opts(from, to, options).await.map_err(explained)
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.0
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
}
