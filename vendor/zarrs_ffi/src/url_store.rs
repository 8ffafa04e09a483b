//! Stores named by a URL plus options: local directories, zip files, named in-memory stores, and
//! S3 / GCS / Azure / HTTP object stores through zarrs' store crates (`zarrs_object_store` over the
//! `object_store` crate, `zarrs_zip`). Every store goes into a `ZarrsCffiStorage` (`handle`), which
//! keeps it listable and hands upstream its read/write view.
//!
//! Object stores are async; one tokio runtime per process drives them (`TokioBlockOn`), rebuilt in
//! a forked child, whose inherited runtime threads do not exist.

use std::collections::{BTreeMap, HashMap};
use std::ffi::c_char;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::explained_errors::ExplainedErrors;
use crate::object_keys::{MAX_KEY_CHARS, RawKeys};
use crate::object_reads::{RangedReads, Versioned};
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::http::HttpBuilder;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;
use object_store::{ClientConfigKey, RetryConfig};
use zarrs::storage::{ReadableWritableListableStorageTraits, StoreKey};
use zarrs_storage::storage_adapter::async_to_sync::{
    AsyncToSyncBlockOn, AsyncToSyncStorageAdapter,
};
use zarrs_zip::ZipStorageAdapter;

use crate::args::str_arg;
use crate::error::{FfiError, FfiResult, guard};
use crate::handle::{ZarrsCffiStorage, ZarrsCffiStorage_T};
use crate::process_slot::ProcessSlot;
use crate::read_only::ReadOnly;
use crate::zip_members::{HeldArchive, ZipMembers};

/// Where a URL points.
#[derive(Debug, PartialEq, Eq)]
pub enum Location {
    /// A local directory (a plain path or `file://`).
    Directory(PathBuf),
    /// A local zip file (`zip:///path/data.zip`, or a path ending in `.zip`), and a prefix inside
    /// it (`zip:///path/data.zip/group`).
    Zip(PathBuf, String),
    /// A named in-memory store of this process (`memory://name/prefix`): the name and the prefix
    /// (percent-encoded, as in the URL).
    Memory(String, String),
    /// An object store (`s3://`, `gs://`, `az://`, `abfs://`, `http(s)://` …).
    Object(url::Url),
}

const SCHEMES: &str =
    "a path, file://, zip://, memory://, s3://, gs://, az://, abfs://, http://, https://";
/// Every scheme a store URL may have.
const URL_SCHEMES: [&str; 14] = [
    "file", "zip", "memory", "s3", "s3a", "gs", "gcs", "az", "adl", "azure", "abfs", "abfss",
    "http", "https",
];

/// Parse `url` into the kind of store it names (no I/O).
pub fn parse_location(url: &str) -> FfiResult<Location> {
    if url.is_empty() {
        return Err(FfiError::invalid("store URL is empty"));
    }
    let Some((scheme, _)) = url.split_once("://") else {
        if let Some((head, path)) = url.split_once(':') {
            if head.eq_ignore_ascii_case("file") && path.starts_with('/') {
                return parse_location(&format!("file://{path}")); // file:/abs/path (RFC 8089)
            }
            // "s3:bucket/x" or "s3:/bucket/x" is a mistyped URL, not a directory to create here.
            if URL_SCHEMES.contains(&head.to_ascii_lowercase().as_str()) {
                return Err(FfiError::invalid(format!(
                    "malformed store URL {url:?}: {head} URLs look like {head}://...; accepted: {SCHEMES}"
                )));
            }
        }
        return Ok(local(PathBuf::from(url)));
    };
    let parsed = url::Url::parse(url)
        .map_err(|e| FfiError::invalid(format!("malformed store URL {url:?}: {e}")))?;
    let scheme = scheme.to_ascii_lowercase();
    // Only an HTTP server is asked with the URL's query (a signed URL); other stores would drop
    // it, and the fragment, without a word.
    if !matches!(scheme.as_str(), "http" | "https")
        && (parsed.query().is_some() || parsed.fragment().is_some())
    {
        return Err(FfiError::invalid(format!(
            "store URL {url:?} has a query or fragment, which {scheme}:// URLs do not take"
        )));
    }
    match scheme.as_str() {
        "file" => Ok(local(local_path(&parsed, url)?)),
        "zip" => {
            let path = local_path(&parsed, url)?;
            Ok(split_zip(&path).unwrap_or(Location::Zip(path, String::new())))
        }
        "memory" => {
            let name = parsed.host_str().unwrap_or("");
            if name.is_empty() {
                return Err(FfiError::invalid(format!(
                    "memory store URL {url:?} has no name (memory://name)"
                )));
            }
            // A name, not a host: "memory://u:p@x" and "memory://x:99" would name the store "x".
            if !parsed.username().is_empty()
                || parsed.password().is_some()
                || parsed.port().is_some()
            {
                return Err(FfiError::invalid(format!(
                    "memory store URL {url:?} has a user or a port; memory://name names a store"
                )));
            }
            let prefix = parsed.path().trim_matches('/');
            Ok(Location::Memory(name.to_string(), prefix.to_string()))
        }
        "s3" | "s3a" | "gs" | "gcs" | "az" | "adl" | "azure" | "abfs" | "abfss" | "http"
        | "https" => {
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(FfiError::invalid(format!(
                    "store URL {url:?} names no bucket, container or host"
                )));
            }
            // object_store drops a URL's credentials without a word, HTTP's too (no basic
            // authentication); abfs:// names its container there (container@account).
            let user_names_container = matches!(scheme.as_str(), "abfs" | "abfss");
            if parsed.password().is_some()
                || (!parsed.username().is_empty() && !user_names_container)
            {
                let instead = if matches!(scheme.as_str(), "http" | "https") {
                    "the HTTP client sends no basic authentication (a signed URL's query works)"
                } else {
                    "give credentials as storage options (access_key_id, secret_access_key, ...)"
                };
                return Err(FfiError::invalid(format!(
                    "store URL {} has user information, which {scheme}:// URLs do not take: \
                     {instead}",
                    redacted(&parsed)
                )));
            }
            Ok(Location::Object(parsed))
        }
        other => Err(FfiError::invalid(format!(
            "unsupported store URL scheme {other:?} in {url:?}; accepted: {SCHEMES}"
        ))),
    }
}

fn is_zip_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

/// A path ending in `.zip` (not a directory), or an existing archive followed by a prefix in it.
fn split_zip(path: &Path) -> Option<Location> {
    if is_zip_name(path) && !path.is_dir() {
        return Some(Location::Zip(path.to_path_buf(), String::new()));
    }
    let archive = path.ancestors().find(|a| is_zip_name(a) && a.is_file())?;
    let inner = path
        .strip_prefix(archive)
        .ok()?
        .to_string_lossy()
        .into_owned();
    Some(Location::Zip(archive.to_path_buf(), inner))
}

fn local(path: PathBuf) -> Location {
    split_zip(&path).unwrap_or(Location::Directory(path))
}

fn local_path(parsed: &url::Url, url: &str) -> FfiResult<PathBuf> {
    if !matches!(parsed.host_str(), None | Some("") | Some("localhost")) {
        return Err(FfiError::invalid(format!(
            "{url:?} names a remote host; local URLs look like file:///absolute/path"
        )));
    }
    parsed
        .to_file_path()
        .map_err(|()| FfiError::invalid(format!("{url:?} is not an absolute local path")))
}

/// Options as strings (JSON strings, numbers and booleans accepted), by key.
pub type Options = BTreeMap<String, String>;

/// Parse the options document: NULL or "" for none, else a JSON object of scalars.
pub fn parse_options(json: Option<&str>) -> FfiResult<Options> {
    let Some(json) = json.filter(|j| !j.trim().is_empty()) else {
        return Ok(Options::new());
    };
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| FfiError::invalid(format!("storage options are not valid JSON: {e}")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(FfiError::invalid("storage options must be a JSON object"));
    };
    map.into_iter()
        .map(|(key, value)| {
            let text = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => {
                    return Err(FfiError::invalid(format!(
                        "storage option {key:?} must be a string, number or boolean"
                    )));
                }
            };
            let key = key.to_ascii_lowercase();
            check_option_value(&key, &text)?;
            Ok((key, text))
        })
        .collect()
}

/// Refuse values object_store would panic on when it sends a request (it builds headers and
/// URIs with `unwrap`): a control character (a header value cannot hold one; credentials go
/// into headers), or an endpoint that is not an http(s) URL. The value is not shown: it may be a
/// secret.
fn check_option_value(key: &str, value: &str) -> FfiResult<()> {
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(FfiError::invalid(format!(
            "storage option {key:?} holds a control character (such as a line break)"
        )));
    }
    // (URL-valued options: object_store panics on a malformed one at the first request)
    let url_valued = ["endpoint", "endpoint_url", "base_url", "authority_host"]
        .iter()
        .any(|end| key.ends_with(end));
    if url_valued && !key.contains("use_") {
        // (use_fabric_endpoint: a flag)
        let parsed = url::Url::parse(value).ok();
        let uri_ok = value.parse::<http::Uri>().is_ok();
        if !uri_ok || !parsed.is_some_and(|u| matches!(u.scheme(), "http" | "https")) {
            return Err(FfiError::invalid(format!(
                "storage option {key:?} must be an http:// or https:// URL"
            )));
        }
    }
    Ok(())
}

/// Options this library reads itself (beside `object_store`'s configuration keys).
const RETRY_KEYS: [&str; 2] = ["max_retries", "retry_timeout"];
/// Client options whose value is a duration: plain numbers mean seconds.
const DURATION_KEYS: [&str; 6] = [
    "timeout",
    "connect_timeout",
    "read_timeout",
    "pool_idle_timeout",
    "http2_keep_alive_interval",
    "http2_keep_alive_timeout",
];

/// `value` as object_store's duration text ("1.5" seconds → "1500ms"); other text ("5min")
/// unchanged, for object_store to parse. A number of seconds no duration holds is refused here,
/// naming the option (it saturated to u64::MAX ms, which object_store then refused unnamed).
fn duration_text(key: &str, value: &str) -> FfiResult<String> {
    let request_timeout = (key.ends_with("_timeout") || key == "timeout")
        && !key.contains("idle")
        && !key.contains("keep_alive");
    // A zero request timeout fails every request (after the retries): a mistake, not a setting.
    if request_timeout && is_zero_duration(value) {
        return Err(FfiError::invalid(format!(
            "storage option {key:?} must be more than 0 seconds, got {value:?}"
        )));
    }
    let Ok(seconds) = value.parse::<f64>() else {
        return Ok(value.to_string());
    };
    // (object_store holds durations in nanoseconds of a u64: up to 1.8e10 s)
    let millis = (seconds * 1000.0).round();
    // (the seconds' sign too: -0.0004 rounds to -0 ms, which the range holds)
    if !(0.0..=1e13).contains(&millis) || seconds.is_sign_negative() && seconds != 0.0 {
        return Err(FfiError::invalid(format!(
            "storage option {key:?} must be a number of seconds from 0 to 1e10, got {value:?}"
        )));
    }
    // (a positive duration below half a millisecond stays positive)
    let millis = if seconds > 0.0 {
        millis.max(1.0)
    } else {
        millis
    };
    Ok(format!("{}ms", millis as u64))
}

/// Whether `value` spells a duration of zero: a number ("0", "0.0") or object_store's syntax
/// ("0s", "0 ms").
fn is_zero_duration(value: &str) -> bool {
    let text = value.trim();
    let number = text
        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
        .trim_end();
    number.parse::<f64>().is_ok_and(|n| n == 0.0)
}

fn seconds(key: &str, value: &str) -> FfiResult<Duration> {
    let text = value.trim_end_matches('s');
    // try_: from_secs_f64 panics on values above u64::MAX seconds (1e20).
    text.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| {
            FfiError::invalid(format!(
                "storage option {key:?} must be a number of seconds from 0 to 1e19, got {value:?}"
            ))
        })
}

/// Retries: fewer and shorter than object_store's defaults (10 over 3 minutes), so that a dead
/// endpoint fails a read in seconds, not minutes.
fn retry_config(options: &Options) -> FfiResult<RetryConfig> {
    let mut retry = RetryConfig {
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
        ..RetryConfig::default()
    };
    if let Some(value) = options.get("max_retries") {
        retry.max_retries = value.parse().map_err(|_| {
            FfiError::invalid("storage option \"max_retries\" must be a non-negative integer")
        })?;
    }
    if let Some(value) = options.get("retry_timeout") {
        retry.retry_timeout = seconds("retry_timeout", value)?;
    }
    Ok(retry)
}

/// The option pairs handed to object_store, with default timeouts and durations in its syntax.
fn client_options(options: &Options) -> FfiResult<Vec<(String, String)>> {
    let mut pairs: Vec<(String, String)> = options
        .iter()
        .filter(|(key, _)| !RETRY_KEYS.contains(&key.as_str()))
        .map(|(key, value)| {
            let value = if DURATION_KEYS.iter().any(|d| key.ends_with(d)) {
                duration_text(key, value)?
            } else {
                value.clone()
            };
            Ok((key.clone(), value))
        })
        .collect::<FfiResult<_>>()?;
    // An http:// URL or endpoint is a deliberate choice of plain HTTP (object_store refuses it
    // unless allowed).
    let plain_http = options
        .iter()
        .any(|(key, value)| key.ends_with("endpoint") && value.starts_with("http://"));
    if plain_http && !options.keys().any(|k| k.ends_with("allow_http")) {
        pairs.push(("allow_http".to_string(), "true".to_string()));
    }
    for (key, default) in [("connect_timeout", "5s"), ("timeout", "30s")] {
        if !options.keys().any(|k| k.ends_with(key)) {
            pairs.push((key.to_string(), default.to_string()));
        }
    }
    Ok(pairs)
}

fn unknown_option(scheme: &str, key: &str) -> FfiError {
    FfiError::invalid(format!(
        "unknown storage option {key:?} for {scheme}:// stores; accepted: object_store's \
         configuration keys for this store (e.g. endpoint, region, access_key_id, \
         secret_access_key, session_token, skip_signature, virtual_hosted_style_request, \
         allow_http, timeout, connect_timeout) and {}",
        RETRY_KEYS.join(", ")
    ))
}

/// object_store's configuration errors quote the value they could not parse, not its key: name
/// the options holding that value.
fn build_error(url: &url::Url, options: &Options, e: object_store::Error) -> FfiError {
    let message = e.to_string();
    let culprits: Vec<&str> = options
        .iter()
        .filter(|(_, value)| message.contains(&format!("\"{value}\"")))
        .map(|(key, _)| key.as_str())
        .collect();
    let named = if culprits.is_empty() {
        String::new()
    } else {
        format!(" (storage option {})", culprits.join(", "))
    };
    FfiError::invalid(format!(
        "cannot configure the store for {}{named}: {message}",
        redacted(url)
    ))
}

/// A URL without user info or query (where credentials may hide), for messages.
pub fn redacted(url: &url::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.to_string()
}

/// Apply `options` to a builder through its configuration key type. Two spellings of one
/// setting (`endpoint` and `aws_endpoint`) are refused: object_store would keep whichever came
/// last in key order, silently.
fn configure<B, K: FromStr + PartialEq + Clone>(
    mut builder: B,
    scheme: &str,
    options: &Options,
    with: impl Fn(B, K, String) -> B,
) -> FfiResult<B> {
    let mut applied: Vec<(K, String)> = Vec::new();
    for (key, value) in client_options(options)? {
        let parsed = K::from_str(&key).map_err(|_| unknown_option(scheme, &key))?;
        if let Some((_, first)) = applied.iter().find(|(setting, _)| *setting == parsed) {
            return Err(FfiError::invalid(format!(
                "storage options {first:?} and {key:?} name the same setting; pass one of them"
            )));
        }
        applied.push((parsed.clone(), key));
        builder = with(builder, parsed, value);
    }
    Ok(builder)
}

/// The object store a URL names, and the key prefix inside it (bucket-relative path).
fn object_store_for(
    url: &url::Url,
    options: &Options,
) -> FfiResult<(Arc<dyn ObjectStore>, String)> {
    let scheme = url.scheme().to_ascii_lowercase();
    let retry = retry_config(options)?;
    let text = url.as_str();
    let store: Arc<dyn ObjectStore> = match scheme.as_str() {
        "s3" | "s3a" => {
            let builder = AmazonS3Builder::from_env().with_url(text).with_retry(retry);
            let builder = configure(builder, &scheme, options, |b, k: AmazonS3ConfigKey, v| {
                b.with_config(k, v)
            })?;
            Arc::new(builder.build().map_err(|e| build_error(url, options, e))?)
        }
        "gs" | "gcs" => {
            // object_store parses gs:// only; gcs:// names the same bucket.
            let text = format!("gs{}", &text[scheme.len()..]);
            let builder = GoogleCloudStorageBuilder::from_env()
                .with_url(text)
                .with_retry(retry);
            let builder = configure(builder, &scheme, options, |b, k: GoogleConfigKey, v| {
                b.with_config(k, v)
            })?;
            Arc::new(builder.build().map_err(|e| build_error(url, options, e))?)
        }
        "http" | "https" => {
            let mut builder = HttpBuilder::new().with_url(text).with_retry(retry);
            if scheme == "http" && !options.contains_key("allow_http") {
                builder = builder.with_config(ClientConfigKey::AllowHttp, "true");
            }
            let builder = configure(builder, &scheme, options, |b, k: ClientConfigKey, v| {
                b.with_config(k, v)
            })?;
            // The URL's path is the store's root already.
            let store = builder.build().map_err(|e| build_error(url, options, e))?;
            let store = crate::whole_gets::WholeGets::new(Arc::new(store));
            return Ok((Arc::new(store), String::new()));
        }
        _ => {
            let builder = MicrosoftAzureBuilder::from_env()
                .with_url(text)
                .with_retry(retry);
            let builder = configure(builder, &scheme, options, |b, k: AzureConfigKey, v| {
                b.with_config(k, v)
            })?;
            Arc::new(builder.build().map_err(|e| build_error(url, options, e))?)
        }
    };
    // The bucket / container comes from the URL's host (abfs: its user part); the path below it
    // is the store's root.
    Ok((store, url.path().trim_matches('/').to_string()))
}

/// The longest object store URL and option value taken: the request line that common HTTP
/// servers accept (nginx and Apache: 8 KiB). It also keeps every URL object_store builds below
/// its HTTP client's limit (64 KiB), past which it panics.
const MAX_URL_BYTES: usize = 8192;

fn check_sizes(url: &url::Url, options: &Options) -> FfiResult {
    let too_long = |what: String, length: usize| {
        FfiError::invalid(format!(
            "{what} is {length} bytes long; at most {MAX_URL_BYTES} are accepted"
        ))
    };
    let length = url.as_str().len();
    if length > MAX_URL_BYTES {
        let start: String = redacted(url).chars().take(60).collect();
        return Err(too_long(format!("store URL \"{start}…\""), length));
    }
    match options
        .iter()
        .find(|(_, value)| value.len() > MAX_URL_BYTES)
    {
        Some((key, value)) => Err(too_long(format!("storage option {key:?}"), value.len())),
        None => Ok(()),
    }
}

/// The key prefix a URL's path names: percent-decoded, as object_store and obstore read URLs
/// (`s3://b/d%C3%A4t%C3%A4.zarr` and `s3://b/dätä.zarr` are the prefix `dätä.zarr`). It counts
/// toward every key's length (`MAX_KEY_CHARS`).
fn key_prefix(url_path: &str) -> FfiResult<object_store::path::Path> {
    let shown = || -> String {
        crate::object_keys::decoded(url_path)
            .chars()
            .take(60)
            .collect()
    };
    let prefix = object_store::path::Path::from_url_path(url_path).map_err(|e| {
        FfiError::invalid(format!(
            "the store's path \"{}\" cannot be an object store key prefix ({e})",
            shown()
        ))
    })?;
    let length = prefix.as_ref().chars().count();
    if length >= MAX_KEY_CHARS {
        return Err(FfiError::invalid(format!(
            "the store's path \"{}…\" has {length} characters; object keys, this path \
             included, have at most {MAX_KEY_CHARS}",
            shown()
        )));
    }
    Ok(prefix)
}

/// Drives object_store's futures: one runtime per process (rebuilt after `fork`).
pub struct TokioBlockOn;

static RUNTIME: ProcessSlot<tokio::runtime::Runtime> = ProcessSlot::new();

/// The lock taken to make the runtime (also by the `fork` handlers in `pool`).
pub fn lock_runtime() -> MutexGuard<'static, ()> {
    RUNTIME.lock_building()
}

fn runtime() -> Arc<tokio::runtime::Runtime> {
    let made = RUNTIME.get_or_make(
        |_| true,
        || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("zarrs-cffi-io")
                .enable_all()
                .build()
                .map_err(|e| FfiError::invalid(format!("cannot start the I/O runtime: {e}")))
        },
    );
    made.unwrap_or_else(|e| panic!("{}", e.message))
}

impl AsyncToSyncBlockOn for TokioBlockOn {
    fn block_on<F: core::future::Future>(&self, future: F) -> F::Output {
        runtime().block_on(future)
    }
}

/// Named in-memory stores: `memory://name` is the same store for every handle of the process until
/// `zarrsCffiForgetMemoryStore`. object_store's, so that they take the same async path, prefixes
/// and all, as S3 and the other object stores.
static MEMORY_STORES: Mutex<MemoryStores> = Mutex::new(None);

pub type MemoryStores = Option<HashMap<String, Arc<InMemory>>>;

/// The named in-memory stores, locked (also by the `fork` handlers in `pool`).
pub fn lock_memory_stores() -> MutexGuard<'static, MemoryStores> {
    MEMORY_STORES.lock().unwrap_or_else(|p| p.into_inner())
}

fn memory_store(name: &str) -> Arc<InMemory> {
    let mut stores = lock_memory_stores();
    stores
        .get_or_insert_with(HashMap::new)
        .entry(name.to_string())
        .or_insert_with(|| Arc::new(InMemory::new()))
        .clone()
}

/// `store` below `prefix`: as zarrs storage driven by the process's runtime, and for reads tied
/// to an object's version (`object_reads::Versioned`, the shard reader's). Keys are stored as
/// they are (`object_keys`), on memory:// too, so that it behaves as the stores it stands in for.
fn synchronous(
    store: Arc<dyn ObjectStore>,
    prefix: object_store::path::Path,
    writable: bool,
) -> (Arc<SyncObjectStore>, Arc<Versioned>) {
    let prefix_text = prefix.to_string();
    let below: Arc<dyn ObjectStore> = if prefix_text.is_empty() {
        store
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    };
    let store: Arc<dyn ObjectStore> = Arc::new(ExplainedErrors(RawKeys::new(below, &prefix_text)));
    let sync = Arc::new(AsyncToSyncStorageAdapter::new(
        Arc::new(RangedReads::new(store.clone())),
        TokioBlockOn,
    ));
    let versioned = Versioned::new(store);
    let versioned = if writable {
        versioned
    } else {
        versioned.read_only()
    };
    (sync, Arc::new(versioned))
}

type SyncObjectStore = AsyncToSyncStorageAdapter<RangedReads, TokioBlockOn>;

type Listable = Arc<dyn ReadableWritableListableStorageTraits>;

/// Open the store `location` names (not a local directory: `hierarchy` opens those), with its
/// versioned reads if it is an object store.
fn open_store(location: &Location, options: &Options) -> FfiResult<ZarrsCffiStorage_T> {
    match location {
        Location::Directory(_) => unreachable!("directories are opened by the filesystem path"),
        Location::Memory(..) if !options.is_empty() => Err(FfiError::invalid(
            "memory:// stores take no storage options",
        )),
        Location::Memory(name, prefix) => {
            let prefix = key_prefix(prefix)?;
            let identity = format!("memory://{name}/{prefix}");
            let store: Arc<dyn ObjectStore> = memory_store(name);
            let (sync, versioned) = synchronous(store, prefix, true);
            Ok(ZarrsCffiStorage_T::new(sync, None)
                .with_versioned(versioned)
                .with_identity(identity))
        }
        Location::Zip(path, inner) => {
            if !options.is_empty() {
                return Err(FfiError::invalid("zip stores take no storage options"));
            }
            let identity = format!("zip://{}/{inner}", path.display());
            Ok(ZarrsCffiStorage_T::new(open_zip(path, inner)?, None).with_identity(identity))
        }
        Location::Object(parsed) => {
            check_sizes(parsed, options)?;
            let (store, prefix) = object_store_for(parsed, options)?;
            let prefix = key_prefix(&prefix)?;
            let identity = object_identity(parsed, &prefix);
            let read_only = matches!(parsed.scheme(), "http" | "https");
            let (sync, versioned) = synchronous(store, prefix, !read_only);
            let listable: Listable = if read_only {
                Arc::new(ReadOnly::new(sync))
            } else {
                sync
            };
            Ok(ZarrsCffiStorage_T::new(listable, None)
                .with_versioned(versioned)
                .with_identity(identity))
        }
    }
}

/// The name of an object store prefix, the same however its URL is spelled (write locks go by
/// it): `s3a://` is `s3://`, `gcs://` is `gs://`, and the prefix is the decoded key prefix
/// (`d%C3%A4t%C3%A4.zarr` and `dätä.zarr` are one). The endpoint is left out: two stores that
/// differ only in it share a lock, which costs at most some waiting.
fn object_identity(url: &url::Url, prefix: &object_store::path::Path) -> String {
    let host = url.host_str().unwrap_or_default();
    let (scheme, bucket) = match url.scheme() {
        "s3a" => ("s3", host),
        "gcs" => ("gs", host),
        // Azure: az://c, azure://c, adl://c, abfs://c and abfs://c@account.dfs... all name the
        // container c (its account comes from the options or the URL's host).
        "az" | "azure" | "adl" | "abfs" | "abfss" => {
            let user = url.username();
            ("az", if user.is_empty() { host } else { user })
        }
        other => (other, host),
    };
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{scheme}://{bucket}{port}/{prefix}")
}

fn open_zip(path: &Path, inner: &str) -> FfiResult<Listable> {
    if path.is_dir() {
        return Err(FfiError::invalid(format!(
            "{} is a directory, not a zip file",
            path.display()
        )));
    }
    let not_found = || FfiError::not_found(format!("zip file {} does not exist", path.display()));
    let name = path.file_name().ok_or_else(not_found)?.to_string_lossy();
    if !path.is_file() {
        return Err(not_found());
    }
    let key = StoreKey::new(name.as_ref()).map_err(|e| FfiError::invalid(e.to_string()))?;
    let held = Arc::new(HeldArchive::open(path, key.clone()).map_err(|e| {
        FfiError::upstream(
            zarrs_ffi::ZarrsResult::ZARRS_ERROR_STORAGE,
            format!("cannot open zip file {}: {e}", path.display()),
        )
    })?);
    // Entry names below the prefix keep what follows "prefix/".
    let inner = if inner.is_empty() {
        String::new()
    } else {
        format!("{}/", inner.trim_matches('/'))
    };
    let zip = ZipStorageAdapter::new_with_path(held.clone(), key, inner.clone()).map_err(|e| {
        FfiError::upstream(
            zarrs_ffi::ZarrsResult::ZARRS_ERROR_STORAGE,
            format!("{} is not a readable zip file: {e}", path.display()),
        )
    })?;
    Ok(Arc::new(ReadOnly::new(ZipMembers::new(
        zip, held, path, &inner,
    ))))
}

/// Create a storage handle for a store named by URL: a path or `file://` URL (a directory),
/// `zip:///path/data.zip` or a path ending in `.zip` (read-only), `memory://name` (a named store of
/// this process), `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`,
/// `abfs://…`, `http(s)://host/path` (read-only). `optionsJson` is NULL or a JSON object of
/// `object_store` configuration keys (`endpoint`, `region`, `access_key_id`, `allow_http`,
/// `timeout` …) plus `max_retries` and `retry_timeout`; `AWS_*`, `GOOGLE_*` and `AZURE_*`
/// environment variables apply too. No request is made until the store is used. Only `http(s)`
/// URLs take a query; a mistyped URL (`s3:bucket/x`) is an error, not a directory. No message of a
/// `zarrsCffi*` function shows a URL's password or query values, nor a credential option's value
/// (upstream's `zarrs*` functions report through `zarrsLastError`, unmasked).
/// Destroy the handle with `zarrsCffiDestroyStorage`.
///
/// # Safety
/// `url` a NUL-terminated string; `optionsJson` one or NULL; `pStorage` a valid out-pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiCreateStorageFromUrl(
    url: *const c_char,
    optionsJson: *const c_char,
    pStorage: *mut ZarrsCffiStorage,
) -> i32 {
    guard(|| {
        let url = str_arg(url, "url")?;
        let options = if optionsJson.is_null() {
            Options::new()
        } else {
            parse_options(Some(str_arg(optionsJson, "optionsJson")?))?
        };
        crate::secrets::hide(url, &options); // before any message can quote the URL
        let location = parse_location(url)?;
        let handle = match &location {
            Location::Directory(path) => {
                if !options.is_empty() {
                    return Err(FfiError::invalid(format!(
                        "local directories take no storage options (got {:?})",
                        options.keys().collect::<Vec<_>>()
                    )));
                }
                crate::hierarchy::filesystem_storage(&path.to_string_lossy())?
            }
            _ => open_store(&location, &options)?,
        };
        handle.hand_out(pStorage)
    })
}

/// Forget the in-memory store `memory://name` (its data goes once no handle uses it).
///
/// # Safety
/// `name` a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiForgetMemoryStore(name: *const c_char) -> i32 {
    guard(|| {
        let text = str_arg(name, "name")?;
        // Parsed as zarrsCffiCreateStorageFromUrl parses it, so that both find the same key
        // ("MEMORY://x", "memory://%C3%A4x" and "memory://äx" name one store).
        let url = if text.contains("://") {
            text.to_string()
        } else {
            format!("memory://{text}")
        };
        let Ok(Location::Memory(name, _)) = parse_location(&url) else {
            return Err(FfiError::invalid(format!(
                "{text:?} is not memory://name or a bare name"
            )));
        };
        if let Some(stores) = lock_memory_stores().as_mut() {
            stores.remove(&name);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            parse_location("/data/x.zarr").unwrap(),
            Location::Directory("/data/x.zarr".into())
        );
        assert_eq!(
            parse_location("file:///data/x.zarr").unwrap(),
            Location::Directory("/data/x.zarr".into())
        );
        assert_eq!(
            parse_location("/data/x.zip").unwrap(),
            Location::Zip("/data/x.zip".into(), String::new())
        );
        assert_eq!(
            parse_location("zip:///data/x.zip").unwrap(),
            Location::Zip("/data/x.zip".into(), String::new())
        );
        assert_eq!(
            parse_location("memory://scratch/a/b").unwrap(),
            Location::Memory("scratch".into(), "a/b".into())
        );
        assert!(matches!(
            parse_location("s3://bucket/a/b").unwrap(),
            Location::Object(_)
        ));
        for bad in ["", "s3://", "ftp://host/x", "memory://", "file://host/x"] {
            let err = parse_location(bad).unwrap_err();
            assert_eq!(err.code, -102, "{bad:?}: {}", err.message);
        }
    }

    #[test]
    fn mistyped_urls_are_not_local_directories() {
        for bad in [
            "s3:bucket/x",
            "S3:/bucket/x",
            "gs:b",
            "https:/host/x",
            "memory:name",
        ] {
            let err = parse_location(bad).unwrap_err();
            assert_eq!(err.code, -102, "{bad:?}");
            assert!(
                err.message.contains("malformed store URL"),
                "{}",
                err.message
            );
        }
        // A directory whose name merely has a colon is still one; file:/abs is RFC 8089's form.
        assert_eq!(
            parse_location("run:1/x.zarr").unwrap(),
            Location::Directory("run:1/x.zarr".into())
        );
        assert_eq!(
            parse_location("file:/data/x.zarr").unwrap(),
            Location::Directory("/data/x.zarr".into())
        );
    }

    #[test]
    fn only_http_urls_take_a_query() {
        for bad in [
            "s3://bucket/x?versionId=3",
            "s3://bucket/x#frag",
            "gs://b/x?a=b",
            "memory://m/x?y",
            "zip:///data/x.zip?z",
        ] {
            let err = parse_location(bad).unwrap_err();
            assert!(
                err.message.contains("query or fragment"),
                "{bad}: {}",
                err.message
            );
        }
        assert!(matches!(
            parse_location("https://host/x.zarr?sig=abc").unwrap(),
            Location::Object(_)
        ));
    }

    #[test]
    fn a_value_object_store_cannot_parse_names_its_option() {
        let url = url::Url::parse("s3://bucket/prefix").unwrap();
        let mut options = Options::new();
        options.insert("allow_http".into(), "5".into());
        options.insert("region".into(), "eu-west-1".into());
        let err = object_store_for(&url, &options).err().unwrap();
        assert!(
            err.message.contains("storage option allow_http"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("region"), "{}", err.message);
    }

    #[test]
    fn options() {
        let parsed = parse_options(Some(
            r#"{"allow_http": true, "timeout": 1.5, "Region": "x"}"#,
        ))
        .unwrap();
        assert_eq!(parsed["allow_http"], "true");
        assert_eq!(parsed["region"], "x");
        let pairs = client_options(&parsed).unwrap();
        assert!(pairs.contains(&("timeout".to_string(), "1500ms".to_string())));
        assert!(pairs.contains(&("connect_timeout".to_string(), "5s".to_string())));
        assert!(parse_options(Some("[1]")).is_err());
        assert!(parse_options(Some(r#"{"a": [1]}"#)).is_err());
        assert!(parse_options(None).unwrap().is_empty());
    }

    #[test]
    fn unknown_options_are_refused() {
        let url = url::Url::parse("s3://bucket/prefix").unwrap();
        let mut options = Options::new();
        options.insert("endpiont".into(), "http://x".into());
        let err = object_store_for(&url, &options).err().unwrap();
        assert!(err.message.contains("endpiont"), "{}", err.message);
    }

    #[test]
    fn two_spellings_of_one_option_are_refused_not_one_dropped() {
        let url = url::Url::parse("s3://bucket/prefix").unwrap();
        for (first, second) in [("aws_endpoint", "endpoint"), ("region", "aws_region")] {
            let mut options = Options::new();
            options.insert(first.into(), "http://127.0.0.1:9".into());
            options.insert(second.into(), "http://127.0.0.1:9".into());
            let err = object_store_for(&url, &options).err().unwrap();
            assert_eq!(err.code, -102);
            assert!(
                err.message.contains(first) && err.message.contains(second),
                "{}",
                err.message
            );
        }
        let gs = url::Url::parse("gs://bucket/prefix").unwrap();
        let mut options = Options::new();
        options.insert("timeout".into(), "5".into());
        options.insert("google_service_account".into(), "/nonexistent".into());
        options.insert("service_account".into(), "/nonexistent".into());
        let err = object_store_for(&gs, &options).err().unwrap();
        assert!(
            err.message.contains("name the same setting"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_zero_request_timeout_is_refused() {
        for key in ["timeout", "connect_timeout"] {
            let mut options = Options::new();
            options.insert(key.into(), "0".into());
            let err = client_options(&options).unwrap_err();
            assert!(err.message.contains("more than 0"), "{}", err.message);
        }
        for value in ["0s", "0 ms", "0.0"] {
            let mut options = Options::new();
            options.insert("timeout".into(), value.into());
            let err = client_options(&options).unwrap_err();
            assert!(
                err.message.contains("more than 0"),
                "{value}: {}",
                err.message
            );
        }
        let mut options = Options::new();
        options.insert("timeout".into(), "0.0004".into()); // below a millisecond: kept positive
        let pairs = client_options(&options).unwrap();
        assert!(pairs.contains(&("timeout".to_string(), "1ms".to_string())));
        let mut options = Options::new();
        options.insert("pool_idle_timeout".into(), "0".into()); // no idle connections kept
        assert!(client_options(&options).is_ok());
    }

    #[test]
    fn a_urls_path_is_the_key_prefix_it_spells() {
        for (path, prefix) in [
            ("d%C3%A4t%C3%A4%20x.zarr", "dätä x.zarr"),
            ("dätä x.zarr", "dätä x.zarr"),
            ("x%2541/y", "x%41/y"),
            ("", ""),
        ] {
            assert_eq!(key_prefix(path).unwrap().as_ref(), prefix, "{path}");
        }
        for (path, why) in [
            ("a//b", "empty path segment"),
            ("a%09b", "illegal character"),
            (&"p".repeat(1024), "1024 characters"),
        ] {
            let message = key_prefix(path).unwrap_err().message;
            assert!(message.contains(why), "{path}: {message}");
        }
    }

    #[test]
    fn urls_are_redacted() {
        let url = url::Url::parse("https://user:secret@host/p?sig=abc").unwrap();
        assert_eq!(redacted(&url), "https://host/p");
    }

    #[test]
    fn one_prefix_is_one_identity_however_spelled() {
        let name = |text: &str| {
            let url = url::Url::parse(text).unwrap();
            let (_, prefix) = url.path().split_at(1);
            object_identity(&url, &key_prefix(prefix.trim_matches('/')).unwrap())
        };
        let same = [
            "s3://b/dätä.zarr",
            "s3a://b/dätä.zarr",
            "s3://b/d%C3%A4t%C3%A4.zarr",
            "s3://b/e/../dätä.zarr",
            "s3://b/./dätä.zarr/",
        ];
        for text in same {
            assert_eq!(name(text), "s3://b/dätä.zarr", "{text}");
        }
        assert_eq!(name("gcs://b/x"), name("gs://b/x"));
        assert_ne!(name("s3://b/x"), name("s3://c/x"));
        assert_ne!(name("s3://b/x"), name("gs://b/x"));
        for azure in [
            "azure://c/x",
            "adl://c/x",
            "abfs://c/x",
            "abfss://c@acct.dfs.core.windows.net/x",
        ] {
            assert_eq!(name(azure), name("az://c/x"), "{azure}");
        }
        assert_ne!(
            name("abfs://c1@acct.dfs.core.windows.net/x"),
            name("abfs://c2@acct.dfs.core.windows.net/x")
        );
    }

    #[test]
    fn credentials_in_a_url_are_refused_not_dropped() {
        for bad in [
            "s3://AKIA:pa55word@bucket/x",
            "s3://user@bucket/x",
            "gs://u:p@b/x",
            "https://u:pa55word@host/x",
            "http://token@host/x",
            "abfs://c:pa55word@acct.dfs.core.windows.net/x",
        ] {
            let err = parse_location(bad).unwrap_err();
            assert_eq!(err.code, -102, "{bad}");
            assert!(err.message.contains("user information"), "{}", err.message);
            assert!(!err.message.contains("pa55word"), "{}", err.message);
        }
        // abfs names its container in the user part.
        assert!(parse_location("abfs://c@acct.dfs.core.windows.net/x").is_ok());
    }

    #[test]
    fn out_of_range_durations_are_invalid_arguments_naming_the_option() {
        for (key, value) in [("retry_timeout", "1e20"), ("retry_timeout", "1e30s")] {
            let mut options = Options::new();
            options.insert(key.into(), value.into());
            let err = retry_config(&options).unwrap_err();
            assert_eq!(err.code, -102);
            assert!(err.message.contains(key), "{}", err.message);
        }
        for value in ["1e11", "1e17", "1e30", "-1", "NaN", "-0.0004", "-1e-300"] {
            let mut options = Options::new();
            options.insert("timeout".into(), value.into());
            let err = client_options(&options).unwrap_err();
            assert!(err.message.contains("\"timeout\""), "{}", err.message);
        }
        let mut options = Options::new();
        options.insert("timeout".into(), "5min".into()); // object_store's own syntax, passed on
        assert!(client_options(&options).is_ok());
    }

    #[test]
    fn url_valued_options_are_checked_before_object_store_panics_on_them() {
        for key in [
            "google_base_url",
            "azure_storage_authority_host",
            "endpoint",
        ] {
            for bad in ["not a url", "http://[::1", "127.0.0.1:80", "ftp://h/x"] {
                let err = check_option_value(key, bad).unwrap_err();
                assert!(err.message.contains(key), "{}", err.message);
            }
            assert!(check_option_value(key, "https://host:8443/x").is_ok());
        }
        assert!(check_option_value("azure_use_fabric_endpoint", "true").is_ok());
    }

    #[test]
    fn a_memory_store_is_forgotten_by_any_spelling_of_its_url() {
        for (create, forget) in [
            ("memory://forget-äx", "memory://forget-äx"),
            ("memory://forget-up", "MEMORY://forget-up"),
            ("memory://forget-pct", "memory://forget-pct/some/prefix"),
            ("memory://forget-bare", "forget-bare"),
            ("memory://forget-%C3%A4", "memory://forget-ä"),
        ] {
            let Ok(Location::Memory(name, _)) = parse_location(create) else {
                panic!("{create}");
            };
            drop(memory_store(&name));
            let text = std::ffi::CString::new(forget).unwrap();
            // SAFETY: a NUL-terminated string.
            assert_eq!(unsafe { zarrsCffiForgetMemoryStore(text.as_ptr()) }, 0);
            let known = lock_memory_stores()
                .as_ref()
                .is_some_and(|stores| stores.contains_key(&name));
            assert!(!known, "{create} was not forgotten by {forget}");
        }
        for bad in ["memory://u:p@host", "memory://host:99", "memory://u@host"] {
            let err = parse_location(bad).unwrap_err();
            assert!(err.message.contains("user or a port"), "{}", err.message);
        }
    }
}
