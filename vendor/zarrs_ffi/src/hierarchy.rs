//! Stores and the node hierarchy: create a filesystem store, write / read / list / delete node
//! metadata documents. Upstream's C API has none of these; zarrs' storage traits have them all.
//!
//! Upstream's `ZarrsStorage` holds only read/write traits; this library's `ZarrsCffiStorage`
//! (`handle`) also holds the listable store.

use std::ffi::{CString, c_char};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};
use zarrs::array::ArrayMetadata;
use zarrs::filesystem::FilesystemStore;
use zarrs::storage::{ReadableWritableStorageTraits, StoreKey, StorePrefix};
use zarrs_ffi::ZarrsResult;

use crate::args::{str_arg, write_out};
use crate::atomic_store::AtomicFilesystemStore;
use crate::error::{FfiError, FfiResult, guard};
use crate::handle::{ZarrsCffiStorage, ZarrsCffiStorage_T, storage_arg};
use crate::lenient_json;

/// Create a filesystem store rooted at `path` (the directory need not exist yet). The handle works
/// with every upstream function and, unlike `zarrsCreateStorageFilesystem`'s, can also list nodes,
/// and its writes are atomic (temporary file, then rename): a failed write leaves the old value.
/// Destroy it with `zarrsCffiDestroyStorage`.
///
/// # Safety
/// `path` a NUL-terminated string or NULL; `pStorage` a valid out-pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiCreateStorageFilesystem(
    path: *const c_char,
    pStorage: *mut ZarrsCffiStorage,
) -> i32 {
    guard(|| filesystem_storage(str_arg(path, "path")?)?.hand_out(pStorage))
}

/// A new storage handle for the directory `path` (atomic writes, listable).
pub fn filesystem_storage(path: &str) -> FfiResult<ZarrsCffiStorage_T> {
    if path.is_empty() {
        return Err(FfiError::invalid("store path is empty"));
    }
    if std::path::Path::new(path).is_file() {
        return Err(FfiError::upstream(
            ZarrsResult::ZARRS_ERROR_STORAGE,
            format!("store path {path:?} is a file, not a directory"),
        ));
    }
    let store = FilesystemStore::new(path)
        .map_err(|e| FfiError::upstream(ZarrsResult::ZARRS_ERROR_STORAGE, e.to_string()))?;
    let store = Arc::new(AtomicFilesystemStore::new(store.sorted()));
    // One name for the directory however it is spelled (write locks go by it).
    let identity = format!("file:{}", canonical_directory(Path::new(path)).display());
    Ok(ZarrsCffiStorage_T::new(store.clone(), Some(store)).with_identity(identity))
}

/// `path` with symlinks and `.`/`..` resolved, also before the directory exists: its deepest
/// existing ancestor resolved, the rest appended (a directory made later is no symlink). A handle
/// made before `mkdir` and one made after then share one name, and so one write lock.
fn canonical_directory(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let parts: Vec<Component> = absolute.components().collect();
    for split in (1..=parts.len()).rev() {
        let head: PathBuf = parts[..split].iter().collect();
        let Ok(mut resolved) = std::fs::canonicalize(&head) else {
            continue;
        };
        for part in &parts[split..] {
            match part {
                Component::ParentDir => {
                    resolved.pop();
                }
                Component::Normal(name) => resolved.push(name),
                _ => {}
            }
        }
        return resolved;
    }
    absolute
}

/// Destroy one of this library's storage handles and free all of it (NULL is ignored). Arrays
/// opened from the storage keep their own reference and stay usable.
///
/// Only for `ZarrsCffiStorage` handles (`zarrsCffiCreateStorageFilesystem`,
/// `zarrsCffiCreateStorageFromUrl`): an upstream `ZarrsStorage` passed here corrupts memory
/// (upstream's own are destroyed with `zarrsDestroyStorage`, which leaks a few bytes).
///
/// # Safety
/// `storage` a `ZarrsCffiStorage` from a zarrsCffi function, destroyed once, not in use elsewhere.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiDestroyStorage(storage: ZarrsCffiStorage) -> i32 {
    guard(|| {
        if !storage.is_null() {
            // SAFETY: per the contract above; handles are `Box::into_raw` pointers.
            drop(unsafe { Box::from_raw(storage) });
        }
        Ok(())
    })
}

/// A node path ("/" or "/a/b") and its store prefix ("" or "a/b/").
struct Node {
    path: String,
    prefix: String,
}

impl Node {
    /// A node path by the rules of zarrs' `NodePath` but one: a name may start with "__" (the
    /// v3 spec reserves such names, zarr-python writes them, and this module only reads and
    /// writes documents; arrays with such a name cannot be opened, see `array_io`).
    fn parse(path: &str) -> FfiResult<Self> {
        let names = path.strip_prefix('/').filter(|rest| !rest.ends_with('/'));
        let valid = names.is_some_and(|names| {
            names.is_empty()
                || names
                    .split('/')
                    .all(|name| !name.is_empty() && !name.chars().all(|c| c == '.'))
        });
        if !valid {
            return Err(FfiError::upstream(
                ZarrsResult::ZARRS_ERROR_NODE_PATH,
                format!("{path:?}: invalid node path {path}"),
            ));
        }
        let trimmed = path.trim_start_matches('/');
        let prefix = if trimmed.is_empty() {
            String::new()
        } else {
            format!("{trimmed}/")
        };
        Ok(Self {
            path: path.to_string(),
            prefix,
        })
    }

    fn key(&self, name: &str) -> FfiResult<StoreKey> {
        StoreKey::new(format!("{}{name}", self.prefix))
            .map_err(|e| FfiError::upstream(ZarrsResult::ZARRS_ERROR_STORE_PREFIX, e.to_string()))
    }

    fn store_prefix(&self) -> FfiResult<StorePrefix> {
        StorePrefix::new(self.prefix.clone())
            .map_err(|e| FfiError::upstream(ZarrsResult::ZARRS_ERROR_STORE_PREFIX, e.to_string()))
    }

    /// The nodes above this one, the root first ("/a/b/c": "/", "/a", "/a/b").
    fn ancestors(&self) -> FfiResult<Vec<Node>> {
        let parts: Vec<&str> = self
            .zarr_path()
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        (0..parts.len())
            .map(|depth| Node::parse(&format!("/{}", parts[..depth].join("/"))))
            .collect()
    }

    /// Zarr-style path: "" for the root, "a/b" below it.
    fn zarr_path(&self) -> &str {
        self.prefix.trim_end_matches('/')
    }
}

const V3_KEY: &str = "zarr.json";
const V2_ARRAY_KEY: &str = ".zarray";
const V2_GROUP_KEY: &str = ".zgroup";
const V2_ATTRS_KEY: &str = ".zattrs";

fn storage_error(key: &StoreKey, err: impl std::fmt::Display) -> FfiError {
    FfiError::upstream(
        ZarrsResult::ZARRS_ERROR_STORAGE,
        format!("key {:?}: {err}", key.as_str()),
    )
}

fn get_json(store: &dyn ReadableWritableStorageTraits, key: &StoreKey) -> FfiResult<Option<Value>> {
    let Some(bytes) = store.get(key).map_err(|e| storage_error(key, e))? else {
        return Ok(None);
    };
    lenient_json::parse(&bytes).map(Some).map_err(|e| {
        FfiError::upstream(
            ZarrsResult::ZARRS_ERROR_INVALID_METADATA,
            format!("key {:?} is not valid JSON: {e}", key.as_str()),
        )
    })
}

/// The node's metadata document as stored; v2 documents get their `.zattrs` as "attributes".
fn read_document(
    store: &dyn ReadableWritableStorageTraits,
    node: &Node,
) -> FfiResult<Option<Value>> {
    if let Some(doc) = get_json(store, &node.key(V3_KEY)?)? {
        return Ok(Some(doc));
    }
    for name in [V2_ARRAY_KEY, V2_GROUP_KEY] {
        if let Some(mut doc) = get_json(store, &node.key(name)?)? {
            if let Some(attrs) = get_json(store, &node.key(V2_ATTRS_KEY)?)?
                && let Value::Object(map) = &mut doc
            {
                map.insert("attributes".to_string(), attrs);
            }
            return Ok(Some(doc));
        }
    }
    Ok(None)
}

fn node_exists(store: &dyn ReadableWritableStorageTraits, node: &Node) -> FfiResult<bool> {
    for name in [V3_KEY, V2_ARRAY_KEY, V2_GROUP_KEY] {
        let key = node.key(name)?;
        if store
            .size_key(&key)
            .map_err(|e| storage_error(&key, e))?
            .is_some()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(crate) fn return_string(value: String, out: *mut *mut c_char) -> FfiResult {
    let c = CString::new(value).map_err(|e| FfiError::invalid(e.to_string()))?;
    let raw = c.into_raw();
    if let Err(err) = write_out(out, raw, "pJson") {
        // SAFETY: just created above.
        drop(unsafe { CString::from_raw(raw) });
        return Err(err);
    }
    Ok(())
}

/// Read the metadata document of the node at `path` into `*pJson` (free with `zarrsFreeString`).
/// v2 nodes: `.zarray` / `.zgroup` with `.zattrs` merged under "attributes".
/// A missing node returns `ZARRS_CFFI_ERROR_NODE_NOT_FOUND`.
///
/// # Safety
/// `storage` a live handle; `path` a NUL-terminated string or NULL; `pJson` a valid out-pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiReadNodeMetadata(
    storage: ZarrsCffiStorage,
    path: *const c_char,
    pJson: *mut *mut c_char,
) -> i32 {
    guard(|| {
        let handle = storage_arg(storage)?;
        let store = handle.readable_writable();
        let node = Node::parse(str_arg(path, "path")?)?;
        let doc = read_document(store.as_ref(), &node)?
            .ok_or_else(|| FfiError::not_found(format!("no node at {:?}", node.path)))?;
        return_string(lenient_json::to_text(&doc), pJson)
    })
}

/// Whether a node (array or group, v2 or v3) exists at `path`.
///
/// # Safety
/// `storage` a live handle; `path` a NUL-terminated string or NULL; `pExists` a valid out-pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiNodeExists(
    storage: ZarrsCffiStorage,
    path: *const c_char,
    pExists: *mut bool,
) -> i32 {
    guard(|| {
        let handle = storage_arg(storage)?;
        let store = handle.readable_writable();
        let node = Node::parse(str_arg(path, "path")?)?;
        write_out(pExists, node_exists(store.as_ref(), &node)?, "pExists")
    })
}

enum Kind {
    Array,
    Group,
}

/// Validate a metadata document and split it into the keys to write.
fn documents_to_write(json: &str, path: &str) -> FfiResult<Vec<(&'static str, Vec<u8>)>> {
    let invalid = |why: String| {
        FfiError::upstream(
            ZarrsResult::ZARRS_ERROR_INVALID_METADATA,
            format!("metadata for {path:?}: {why}"),
        )
    };
    // Read as stored documents are (lone surrogates, which Python's json writes, and integers
    // beyond 64 bits kept as they are); bare NaN / Infinity are refused: not JSON.
    let (doc, marked) = lenient_json::parse_marked(json.as_bytes()).map_err(|e| {
        let text = e.to_string();
        if text.starts_with("recursion limit exceeded") {
            // zarrs reads metadata with serde_json's limit too, so it could not be opened again.
            invalid(format!(
                "nested more than 128 levels deep, which zarrs cannot read ({text})"
            ))
        } else {
            invalid(format!("not JSON: {text}"))
        }
    })?;
    if marked && lenient_json::has_non_finite(&doc) {
        return Err(invalid(
            "not JSON: bare NaN / Infinity (write them as strings)".to_string(),
        ));
    }
    let Value::Object(map) = doc else {
        return Err(invalid("not a JSON object".to_string()));
    };
    let format = map.get("zarr_format").and_then(Value::as_u64);
    let kind = match (format, map.get("node_type").and_then(Value::as_str)) {
        (Some(3), Some("array")) => Kind::Array,
        (Some(3), Some("group")) => Kind::Group,
        (Some(3), other) => {
            return Err(invalid(format!(
                "node_type must be array or group, got {other:?}"
            )));
        }
        (Some(2), _) if map.contains_key("shape") => Kind::Array,
        (Some(2), _) => Kind::Group,
        _ => return Err(invalid("zarr_format must be 2 or 3".to_string())),
    };
    if matches!(kind, Kind::Array) {
        // Read as an opened array's would be (extensions it must understand refused), then built
        // once to reject what zarrs cannot read (unknown codecs, data types).
        let metadata = lenient_json::parse_for_zarrs::<ArrayMetadata>(json.as_bytes())
            .map_err(|e| invalid(e.to_string()))?;
        let store: Arc<dyn ReadableWritableStorageTraits> =
            Arc::new(zarrs::storage::store::MemoryStore::new());
        zarrs::array::Array::new_with_metadata(store, "/", metadata)
            .map_err(|e| crate::array_io::create_error(e, path))?;
        check_array_document(&map).map_err(invalid)?;
    }
    if format == Some(3) {
        return Ok(vec![(V3_KEY, json.as_bytes().to_vec())]);
    }
    let mut map: Map<String, Value> = map;
    let attributes = map.remove("attributes");
    let main_key = if matches!(kind, Kind::Array) {
        V2_ARRAY_KEY
    } else {
        V2_GROUP_KEY
    };
    // Markers written back as stored; a plain document as serde_json writes it (a string of the
    // user's that starts with NUL stays a string).
    let text = |value: &Value| {
        if marked {
            lenient_json::to_text(value)
        } else {
            value.to_string()
        }
    };
    let mut out = vec![(main_key, text(&Value::Object(map)).into_bytes())];
    if let Some(attrs) = attributes {
        if !attrs.is_object() {
            return Err(invalid("attributes must be a JSON object".to_string()));
        }
        out.push((V2_ATTRS_KEY, text(&attrs).into_bytes()));
    }
    Ok(out)
}

/// Write the metadata document of a new array or group at `path` (v3 `zarr.json`, or v2
/// `.zarray`/`.zgroup` with "attributes" split into `.zattrs`). The JSON is validated first
/// (an array document must be one zarrs can open). If a node exists there: with `overwrite` it and
/// everything below it is deleted first, else `ZARRS_CFFI_ERROR_NODE_EXISTS`. Parents are implied,
/// but none may be an array (only groups have children): `ZARRS_CFFI_ERROR_NODE_EXISTS`, nothing
/// written or deleted.
///
/// # Safety
/// `storage` a live handle; `path`/`json` NUL-terminated strings or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiCreateNode(
    storage: ZarrsCffiStorage,
    path: *const c_char,
    json: *const c_char,
    overwrite: bool,
) -> i32 {
    guard(|| {
        let handle = storage_arg(storage)?;
        let store = handle.readable_writable();
        let node = Node::parse(str_arg(path, "path")?)?;
        let documents = documents_to_write(str_arg(json, "json")?, &node.path)?;
        check_parents_are_groups(store.as_ref(), &node)?;
        if overwrite {
            // Everything under the path goes, whether or not a node document is there: an
            // implied group's descendants are part of what is overwritten.
            erase_node(store.as_ref(), &node)?;
        } else if node_exists(store.as_ref(), &node)? {
            return Err(FfiError::exists(format!(
                "a node already exists at {:?}",
                node.path
            )));
        }
        for (name, bytes) in documents {
            let key = node.key(name)?;
            store
                .set(&key, bytes.into())
                .map_err(|e| storage_error(&key, e))?;
        }
        Ok(())
    })
}

/// Only groups have children: a node below an array would sit among the array's chunk keys, and
/// overwriting it would erase them (zarr-python refuses it too).
fn check_parents_are_groups(store: &dyn ReadableWritableStorageTraits, node: &Node) -> FfiResult {
    for ancestor in node.ancestors()? {
        if is_array(store, &ancestor)? {
            return Err(FfiError::exists(format!(
                "cannot create {:?}: the array {:?} is above it, and only groups have children",
                node.path, ancestor.path
            )));
        }
    }
    Ok(())
}

fn is_array(store: &dyn ReadableWritableStorageTraits, node: &Node) -> FfiResult<bool> {
    let key = node.key(V3_KEY)?;
    if let Some(bytes) = store.get(&key).map_err(|e| storage_error(&key, e))? {
        // A document this cannot read is not an array it can tell about.
        let doc = lenient_json::parse(&bytes).unwrap_or(Value::Null);
        return Ok(doc.get("node_type").and_then(Value::as_str) == Some("array"));
    }
    let key = node.key(V2_ARRAY_KEY)?;
    Ok(store
        .size_key(&key)
        .map_err(|e| storage_error(&key, e))?
        .is_some())
}

fn erase_node(store: &dyn ReadableWritableStorageTraits, node: &Node) -> FfiResult {
    let prefix = node.store_prefix()?;
    store.erase_prefix(&prefix).map_err(|e| {
        FfiError::upstream(
            ZarrsResult::ZARRS_ERROR_STORAGE,
            format!("deleting {:?}: {e}", node.path),
        )
    })
}

/// Delete the node at `path` and everything below it. A missing node returns
/// `ZARRS_CFFI_ERROR_NODE_NOT_FOUND`.
///
/// # Safety
/// `storage` a live handle; `path` a NUL-terminated string or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiDeleteNode(
    storage: ZarrsCffiStorage,
    path: *const c_char,
) -> i32 {
    guard(|| {
        let handle = storage_arg(storage)?;
        let store = handle.readable_writable();
        let node = Node::parse(str_arg(path, "path")?)?;
        if !node_exists(store.as_ref(), &node)? {
            return Err(FfiError::not_found(format!("no node at {:?}", node.path)));
        }
        erase_node(store.as_ref(), &node)
    })
}

/// List the direct children of the node at `path` as JSON `[[child_path, document], ...]`, with
/// zarr-style child paths ("a/b", no leading "/"), sorted by path. A missing node returns
/// `ZARRS_CFFI_ERROR_NODE_NOT_FOUND`; an array has no children. Needs a store from
/// `zarrsCffiCreateStorageFilesystem` or `zarrsCffiCreateStorageFromUrl` (an HTTP server lists only
/// through consolidated metadata or WebDAV). Free `*pJson` with `zarrsFreeString`.
///
/// # Safety
/// `storage` a live handle; `path` a NUL-terminated string or NULL; `pJson` a valid out-pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiListChildren(
    storage: ZarrsCffiStorage,
    path: *const c_char,
    pJson: *mut *mut c_char,
) -> i32 {
    guard(|| {
        let handle = storage_arg(storage)?;
        let store = handle.readable_writable();
        let node = Node::parse(str_arg(path, "path")?)?;
        let list = handle.listable().clone();
        let parent = read_document(store.as_ref(), &node)?
            .ok_or_else(|| FfiError::not_found(format!("no node at {:?}", node.path)))?;
        let mut children: Vec<Value> = Vec::new();
        let is_array = parent.get("node_type").and_then(Value::as_str) == Some("array")
            || parent.get("shape").is_some();
        if !is_array {
            let listing = list.list_dir(&node.store_prefix()?).map_err(|e| {
                FfiError::upstream(
                    ZarrsResult::ZARRS_ERROR_STORAGE,
                    format!(
                        "listing {:?}: {e}{}",
                        node.path,
                        listing_hint(&e.to_string())
                    ),
                )
            })?;
            // Sorted by path, not by prefix: "a b/" sorts before "a/", "a" before "a b".
            let mut paths: Vec<&str> = listing
                .prefixes()
                .iter()
                .map(|p| p.as_str().trim_end_matches('/'))
                .collect();
            paths.sort_unstable();
            for path in paths {
                let child = Node::parse(&format!("/{path}"))?;
                if let Some(doc) = read_document(store.as_ref(), &child)? {
                    children.push(Value::Array(vec![
                        Value::String(child.zarr_path().to_string()),
                        doc,
                    ]));
                }
            }
        }
        return_string(lenient_json::to_text(&Value::Array(children)), pJson)
    })
}

/// Why a listing failed, when the store's message alone does not say: object_store lists an HTTP
/// server with WebDAV's PROPFIND, which plain HTTP servers refuse.
fn listing_hint(message: &str) -> &'static str {
    if message.contains("PROPFIND") {
        " (this HTTP server does not list directories (WebDAV PROPFIND); an HTTP store lists \
         through consolidated metadata: consolidate the store where it is written)"
    } else {
        ""
    }
}

/// Total stored bytes below the node at `path` (metadata and chunks).
///
/// # Safety
/// `storage` a live handle; `path` a NUL-terminated string or NULL; `pBytes` a valid out-pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiStoredBytes(
    storage: ZarrsCffiStorage,
    path: *const c_char,
    pBytes: *mut u64,
) -> i32 {
    guard(|| {
        let handle = storage_arg(storage)?;
        let node = Node::parse(str_arg(path, "path")?)?;
        let list = handle.listable().clone();
        let size = list.size_prefix(&node.store_prefix()?).map_err(|e| {
            FfiError::upstream(
                ZarrsResult::ZARRS_ERROR_STORAGE,
                format!("{:?}: {e}", node.path),
            )
        })?;
        write_out(pBytes, size, "pBytes")
    })
}

/// What zarrs accepts in an array document and then panics or worse on when reading it.
pub fn check_array_document(doc: &Map<String, Value>) -> Result<(), String> {
    check_grid_extent(doc)?;
    if let Some(codecs) = doc.get("codecs").and_then(Value::as_array) {
        crate::codec_order::check(codecs)?;
    }
    check_sharding_shapes(doc)
}

fn as_shape(value: Option<&Value>) -> Option<Vec<u64>> {
    value?.as_array()?.iter().map(Value::as_u64).collect()
}

/// The chunks of a regular grid must end within 2^64 elements: zarrs' chunk arithmetic is u64,
/// and the last chunk of a shape near 2^64 would end past it (wrapping: a crash on reads).
fn check_grid_extent(doc: &Map<String, Value>) -> Result<(), String> {
    let chunks = doc
        .get("chunk_grid")
        .and_then(|g| g.get("configuration"))
        .and_then(|c| c.get("chunk_shape"))
        .or_else(|| doc.get("chunks"));
    let (Some(shape), Some(chunks)) = (as_shape(doc.get("shape")), as_shape(chunks)) else {
        return Ok(()); // not a regular grid, or malformed: zarrs reports that
    };
    for (&size, &chunk) in shape.iter().zip(&chunks) {
        if chunk > 0 && size.div_ceil(chunk).checked_mul(chunk).is_none() {
            return Err(format!(
                "shape {shape:?} with chunks {chunks:?}: the last chunk would end beyond 2^64 \
                 elements"
            ));
        }
    }
    Ok(())
}

/// The sharding codec's inner chunk shape must have the array's rank and divide the shard shape
/// (Zarr spec); zarrs accepts other documents and then panics on reads.
fn check_sharding_shapes(doc: &Map<String, Value>) -> Result<(), String> {
    let Some(codec) = doc
        .get("codecs")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
    else {
        return Ok(());
    };
    if codec.get("name").and_then(Value::as_str) != Some("sharding_indexed") {
        return Ok(());
    }
    let inner = as_shape(
        codec
            .get("configuration")
            .and_then(|c| c.get("chunk_shape")),
    )
    .ok_or("sharding_indexed needs a chunk_shape of integers")?;
    let shard = as_shape(
        doc.get("chunk_grid")
            .and_then(|g| g.get("configuration"))
            .and_then(|c| c.get("chunk_shape")),
    )
    .ok_or("a sharded array needs a regular chunk grid")?;
    if inner.len() != shard.len()
        || inner
            .iter()
            .zip(&shard)
            .any(|(&i, &s)| i == 0 || s % i != 0)
    {
        return Err(format!(
            "sharding chunk_shape {inner:?} must have the array's rank and evenly divide the \
             shard shape {shard:?}"
        ));
    }
    Ok(())
}

fn key_arg(key: *const c_char) -> FfiResult<StoreKey> {
    let key = str_arg(key, "key")?;
    // StoreKey takes ".." segments, which on a local directory would reach outside the store.
    if key
        .split('/')
        .any(|segment| matches!(segment, "" | "." | ".."))
    {
        return Err(FfiError::invalid(format!(
            "invalid store key {key:?}: a key's segments cannot be empty, \".\" or \"..\""
        )));
    }
    StoreKey::new(key).map_err(|e| FfiError::invalid(format!("invalid store key {key:?}: {e}")))
}

/// Read the whole value stored at `key` ("zarr.json", "group/.zmetadata", ...). On success
/// `*pBytes` is NULL and `*pLength` 0 if there is no such value; otherwise free `*pBytes` with
/// `zarrsCffiFreeBytes(*pBytes, *pLength)`.
///
/// # Safety
/// `storage` a live handle; `key` a NUL-terminated string; out-pointers valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiStorageGet(
    storage: ZarrsCffiStorage,
    key: *const c_char,
    pBytes: *mut *mut u8,
    pLength: *mut usize,
) -> i32 {
    guard(|| {
        let handle = storage_arg(storage)?;
        let store = handle.readable_writable();
        let key = key_arg(key)?;
        write_out(pBytes, std::ptr::null_mut(), "pBytes")?;
        write_out(pLength, 0, "pLength")?;
        let value = store.get(&key).map_err(|e| storage_error(&key, e))?;
        if let Some(bytes) = value {
            crate::args::write_bytes_out(bytes.to_vec(), pBytes, pLength)?;
        }
        Ok(())
    })
}

/// Store `length` bytes at `key`, replacing any value there (atomically on local directories).
///
/// # Safety
/// `storage` a live handle; `key` a NUL-terminated string; `bytes` holds `length` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiStorageSet(
    storage: ZarrsCffiStorage,
    key: *const c_char,
    bytes: *const u8,
    length: usize,
) -> i32 {
    guard(|| {
        let handle = storage_arg(storage)?;
        let store = handle.readable_writable();
        let key = key_arg(key)?;
        let value = crate::args::slice_arg(bytes, length, "bytes")?;
        store
            .set(&key, value.to_vec().into())
            .map_err(|e| storage_error(&key, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_has_one_name_before_and_after_it_exists() {
        let base = std::env::temp_dir().join(format!("hierarchy-names-{}", std::process::id()));
        let real = base.join("real");
        std::fs::create_dir_all(&real).unwrap();
        std::os::unix::fs::symlink(&real, base.join("link")).unwrap();
        std::fs::create_dir_all(base.join("sub")).unwrap();
        let spellings = [
            real.join("n.zarr"),
            base.join("link/n.zarr"),
            base.join("sub/../real/n.zarr"),
            base.join("link/./x/../n.zarr"),
        ];
        let before: Vec<PathBuf> = spellings.iter().map(|p| canonical_directory(p)).collect();
        std::fs::create_dir(real.join("n.zarr")).unwrap();
        let after: Vec<PathBuf> = spellings.iter().map(|p| canonical_directory(p)).collect();
        let expected = std::fs::canonicalize(real.join("n.zarr")).unwrap();
        std::fs::remove_dir_all(&base).unwrap();
        for (spelling, (b, a)) in spellings.iter().zip(before.iter().zip(&after)) {
            assert_eq!(b, &expected, "{} before it existed", spelling.display());
            assert_eq!(a, &expected, "{} after", spelling.display());
        }
    }
}
