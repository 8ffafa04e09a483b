//! This library's own handles, `ZarrsCffiStorage` and `ZarrsCffiArray`.
//!
//! Upstream's `ZarrsStorage` and `ZarrsArray` hold only zarrs' read/write objects, with nowhere to
//! keep anything else. Ours each hold upstream's handle (so every upstream function still works:
//! `zarrsCffiStorageUpstream` / `zarrsCffiArrayUpstream` lend it) and what every call needs,
//! derived once when the handle is made:
//!
//! * a store: the store itself (listable), and the files of this library's filesystem store;
//! * an array: the direct decoder's and encoder's plans (metadata parsed once, not per read),
//!   whether its store is remote (reads then keep many requests in flight), kept shard indexes
//!   and, when the caller asks for one, its decoded-chunk cache.
//!
//! Nothing is looked up by address and no global lock is taken on a call.

use std::ops::Deref;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use zarrs::storage::{ReadableWritableListableStorageTraits, ReadableWritableStorageTraits};
use zarrs_ffi::{
    ZarrsArray, ZarrsArray_T, ZarrsArrayEnum, ZarrsResult, ZarrsStorage, ZarrsStorage_T,
    ZarrsStorageEnum,
};

use crate::args::{RwArray, write_out};
use crate::atomic_store::AtomicFilesystemStore;
use crate::chunk_cache::ChunkCache;
use crate::direct::{Plan, ShardReader};
use crate::encode::EncodePlan;
use crate::error::{FfiError, FfiResult, guard};
use crate::object_reads::Versioned;
use crate::write_locks::{self, Covers};

pub type Listable = Arc<dyn ReadableWritableListableStorageTraits>;

/// A store this library opened (`zarrsCffiCreateStorageFilesystem`, `zarrsCffiCreateStorageFromUrl`).
pub struct ZarrsCffiStorage_T {
    /// Upstream's handle over the same store, owned, lent by `zarrsCffiStorageUpstream`.
    upstream: ZarrsStorage,
    listable: Listable,
    /// The files of this library's filesystem store, read by the direct decoder with `pread`.
    files: Option<Arc<AtomicFilesystemStore>>,
    /// An object store's reads tied to an object's version (shards: `direct::ShardReader`).
    versioned: Option<Arc<Versioned>>,
    /// The store's name (`file:` and its canonical path, or its URL), which names its arrays'
    /// write locks (`write_locks`). None: this handle's own.
    identity: Option<Arc<str>>,
}

// SAFETY: `upstream` is an owned box of a `Send + Sync` store (zarrs' storage traits require both).
unsafe impl Send for ZarrsCffiStorage_T {}
unsafe impl Sync for ZarrsCffiStorage_T {}

/// An opaque handle to a store (destroy with `zarrsCffiDestroyStorage`).
pub type ZarrsCffiStorage = *mut ZarrsCffiStorage_T;

impl ZarrsCffiStorage_T {
    pub fn new(store: Listable, files: Option<Arc<AtomicFilesystemStore>>) -> Self {
        let rw: Arc<dyn ReadableWritableStorageTraits> = store.clone().readable_writable();
        let upstream = Box::into_raw(Box::new(ZarrsStorage_T(ZarrsStorageEnum::RW(rw))));
        Self {
            upstream,
            listable: store,
            files,
            versioned: None,
            identity: None,
        }
    }

    /// Name the store (see `identity`).
    pub fn with_identity(mut self, identity: String) -> Self {
        self.identity = Some(identity.into());
        self
    }

    pub fn with_versioned(mut self, versioned: Arc<Versioned>) -> Self {
        self.versioned = Some(versioned);
        self
    }

    /// The store as zarrs' arrays hold it.
    pub fn readable_writable(&self) -> &Arc<dyn ReadableWritableStorageTraits> {
        // SAFETY: `upstream` is owned by `self` and always the RW variant (made in `new`).
        match unsafe { &**self.upstream } {
            ZarrsStorageEnum::RW(rw) => rw,
            _ => unreachable!("made as RW in ZarrsCffiStorage_T::new"),
        }
    }

    pub fn listable(&self) -> &Listable {
        &self.listable
    }

    /// Where the direct decoder reads stored bytes from, besides zarrs' storage API.
    pub fn access(&self) -> StoreAccess {
        StoreAccess {
            files: self.files.clone(),
            versioned: self.versioned.clone(),
            identity: self.identity.clone(),
        }
    }

    /// Box it and write it to `out` (freed again if `out` is NULL).
    pub fn hand_out(self, out: *mut ZarrsCffiStorage) -> FfiResult {
        let raw = Box::into_raw(Box::new(self));
        write_out(out, raw, "pStorage").inspect_err(|_| {
            // SAFETY: just created above and never shared.
            drop(unsafe { Box::from_raw(raw) });
        })
    }
}

impl Drop for ZarrsCffiStorage_T {
    fn drop(&mut self) {
        // SAFETY: made by `Box::into_raw` in `new`, owned by `self` alone.
        drop(unsafe { Box::from_raw(self.upstream) });
    }
}

/// What the direct decoder may read a store's bytes through besides zarrs' storage API: the
/// files of this library's filesystem store (`pread` into reused buffers), or an object store's
/// versioned reads (shards).
#[derive(Clone, Default)]
pub struct StoreAccess {
    pub files: Option<Arc<AtomicFilesystemStore>>,
    pub versioned: Option<Arc<Versioned>>,
    /// The store's name, if known (see `ZarrsCffiStorage_T::identity`).
    pub identity: Option<Arc<str>>,
}

/// An array: upstream's handle and what reads and writes of it need.
pub struct ZarrsCffiArray_T {
    upstream: ZarrsArray,
    /// False when wrapping a caller's upstream handle that the caller destroys.
    owns_upstream: bool,
    /// How the direct decoder reads it (None: zarrs' codec pipeline decodes).
    decode: Option<Plan>,
    /// How the direct encoder writes whole chunks (None: zarrs' codec pipeline encodes).
    encode: Option<EncodePlan>,
    /// The store is not a local directory of this library's: requests in flight decide.
    io_bound: bool,
    /// Shard indexes kept across reads, on object stores whose reads are versioned (each use of
    /// one is conditional on the shard's ETag, so a rewritten shard is noticed and re-read).
    shards: ShardReader,
    /// The decoded-chunk cache (`zarrsCffiArraySetChunkCache`); swapped without a lock, so a
    /// read never waits for one and a forked child finds no lock held.
    chunk_cache: ArcSwapOption<ChunkCache>,
    /// The array's name in this process, which its write lock goes by (`write_locks`).
    name: String,
    /// Checksummed inner chunks, decoded with the checksum verified (`checked_inner`).
    checked_inner: Option<crate::checked_inner::CheckedInner>,
}

// SAFETY: `upstream` points to a zarrs `Array` over a `Send + Sync` store, itself `Send + Sync`;
// the handle only reads it.
unsafe impl Send for ZarrsCffiArray_T {}
unsafe impl Sync for ZarrsCffiArray_T {}

/// The handle as Rust code inside the library sees it.
pub type ArrayHandle = ZarrsCffiArray_T;

/// An opaque handle to an array (destroy with `zarrsCffiDestroyArray`).
pub type ZarrsCffiArray = *mut ZarrsCffiArray_T;

impl ZarrsCffiArray_T {
    /// A handle owning `array`, opened over `storage` (its files serve the direct decoder).
    pub fn new(array: RwArray, storage: &ZarrsCffiStorage_T) -> FfiResult<Self> {
        let upstream = Box::into_raw(Box::new(ZarrsArray_T(ZarrsArrayEnum::RW(array))));
        // SAFETY: just made, owned from here on.
        unsafe { Self::around(upstream, true, storage.access()) }
    }

    /// A handle around upstream's `upstream` (owning it if `owns`). `files`: the store's files,
    /// if it is this library's filesystem store.
    ///
    /// # Safety
    /// `upstream` a live upstream handle that outlives the result (owned: freed with it).
    unsafe fn around(upstream: ZarrsArray, owns: bool, access: StoreAccess) -> FfiResult<Self> {
        if upstream.is_null() {
            return Err(FfiError::upstream(
                ZarrsResult::ZARRS_ERROR_NULL_PTR,
                "array handle is NULL",
            ));
        }
        // SAFETY: not NULL; live per the contract.
        let ZarrsArrayEnum::RW(array) = (unsafe { &**upstream }) else {
            return Err(FfiError::upstream(
                ZarrsResult::ZARRS_ERROR_STORAGE_CAPABILITY,
                "array handle lacks read/write storage",
            ));
        };
        Ok(Self {
            upstream,
            owns_upstream: owns,
            decode: crate::direct::plan_for(array, access.clone()),
            encode: crate::encode::plan_for(array, access.clone()),
            // (an upstream handle's store is not known to be local: treated as remote)
            io_bound: access.files.is_none(),
            shards: ShardReader::kept_across_reads(),
            chunk_cache: ArcSwapOption::empty(),
            checked_inner: crate::checked_inner::CheckedInner::of(array),
            name: match &access.identity {
                Some(store) => write_locks::array_name(store, array.path().as_str()),
                // A store without a name: this handle's writes lock among themselves only.
                None => format!("handle:{upstream:p}"),
            },
        })
    }

    /// The direct decoder's plan, unless direct decoding is turned off.
    /// How inner chunks with a checksum are decoded, if the array has them (`checked_inner`).
    pub fn checked_inner(&self) -> Option<&crate::checked_inner::CheckedInner> {
        self.checked_inner.as_ref()
    }

    pub fn decode_plan(&self) -> Option<&Plan> {
        self.decode.as_ref().filter(|_| crate::direct::enabled())
    }

    /// The direct encoder's plan, unless direct encoding is turned off.
    pub fn encode_plan(&self) -> Option<&EncodePlan> {
        self.encode.as_ref().filter(|_| crate::encode::enabled())
    }

    pub fn io_bound(&self) -> bool {
        self.io_bound
    }

    /// The shard reader kept across reads (used where shard reads are versioned).
    pub fn kept_shards(&self) -> &ShardReader {
        &self.shards
    }

    /// The decoded-chunk cache, if the caller gave the handle one.
    pub fn chunk_cache(&self) -> Option<Arc<ChunkCache>> {
        self.chunk_cache.load_full()
    }

    /// Replace the decoded-chunk cache (None: no cache). Reads under way finish with the old one.
    pub fn set_chunk_cache(&self, cache: Option<ChunkCache>) {
        self.chunk_cache.store(cache.map(Arc::new));
    }

    /// The name the array's write lock goes by (`write_locks`).
    pub fn write_lock_name(&self) -> &str {
        &self.name
    }

    /// Run `write` under the array's write lock (`write_locks`; `covers`: what it stores), then
    /// forget what the chunk cache holds, whatever the outcome (a failed write may have stored
    /// part of its data).
    pub fn writing<T>(&self, covers: Covers, write: impl FnOnce() -> FfiResult<T>) -> FfiResult<T> {
        let result = write_locks::with_write_lock(&self.name, covers, write);
        if let Some(cache) = self.chunk_cache() {
            cache.clear();
        }
        result
    }

    /// Box it and write it to `out` (freed again if `out` is NULL).
    pub fn hand_out(self, out: *mut ZarrsCffiArray) -> FfiResult {
        let raw = Box::into_raw(Box::new(self));
        write_out(out, raw, "pArray").inspect_err(|_| {
            // SAFETY: just created above and never shared.
            drop(unsafe { Box::from_raw(raw) });
        })
    }
}

impl Deref for ZarrsCffiArray_T {
    type Target = RwArray;

    fn deref(&self) -> &RwArray {
        // SAFETY: live for as long as `self` (owned, or per `around`'s contract); RW, checked there.
        match unsafe { &**self.upstream } {
            ZarrsArrayEnum::RW(array) => array,
            _ => unreachable!("checked in ZarrsCffiArray_T::around"),
        }
    }
}

impl Drop for ZarrsCffiArray_T {
    fn drop(&mut self) {
        if self.owns_upstream {
            // SAFETY: a `Box::into_raw` handle owned by `self` alone.
            drop(unsafe { Box::from_raw(self.upstream) });
        }
    }
}

/// The array behind a handle, marking the call as remote or local for the pool.
pub fn array_arg<'a>(array: ZarrsCffiArray) -> FfiResult<&'a ZarrsCffiArray_T> {
    if array.is_null() {
        return Err(FfiError::upstream(
            ZarrsResult::ZARRS_ERROR_NULL_PTR,
            "array handle is NULL",
        ));
    }
    // SAFETY: not NULL; the caller promises a live handle from a zarrsCffi array function.
    let array = unsafe { &*array };
    crate::pool::set_io_bound(array.io_bound());
    Ok(array)
}

/// The store behind a handle.
pub fn storage_arg<'a>(storage: ZarrsCffiStorage) -> FfiResult<&'a ZarrsCffiStorage_T> {
    if storage.is_null() {
        return Err(FfiError::upstream(
            ZarrsResult::ZARRS_ERROR_NULL_PTR,
            "storage handle is NULL",
        ));
    }
    // SAFETY: not NULL; the caller promises a live handle from a zarrsCffi storage function.
    Ok(unsafe { &*storage })
}

/// Upstream's handle inside `array`, lent for upstream's `zarrsArray*` functions: valid until
/// `array` is destroyed, never to be destroyed itself. NULL for NULL.
///
/// # Safety
/// `array` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayUpstream(array: ZarrsCffiArray) -> ZarrsArray {
    if array.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: a live handle per the contract.
    unsafe { (*array).upstream }
}

/// Upstream's handle inside `storage`, lent for upstream's functions (`zarrsOpenArrayRW`,
/// `zarrsCreateArrayRW`, ...): valid until `storage` is destroyed, never to be destroyed itself.
/// NULL for NULL.
///
/// # Safety
/// `storage` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiStorageUpstream(storage: ZarrsCffiStorage) -> ZarrsStorage {
    if storage.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: a live handle per the contract.
    unsafe { (*storage).upstream }
}

/// Make a handle of this library's around an upstream array handle (`zarrsOpenArrayRW`,
/// `zarrsCreateArrayRW`). With `adopt` != 0 the new handle owns `upstream`: destroying it destroys
/// `upstream`, which the caller must no longer destroy or use. With `adopt` == 0 the caller keeps
/// `upstream` and must keep it alive until the new handle is destroyed. Upstream's stores are not
/// known to be local directories: reads go through zarrs' storage API with remote-style
/// concurrency (open arrays with `zarrsCffiOpenArray` for the filesystem fast path).
///
/// # Safety
/// `upstream` a live upstream array handle; `pArray` a valid out-pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zarrsCffiArrayFromUpstream(
    upstream: ZarrsArray,
    adopt: i32,
    pArray: *mut ZarrsCffiArray,
) -> i32 {
    guard(|| {
        if pArray.is_null() {
            return Err(FfiError::invalid("pArray is NULL"));
        }
        // SAFETY: per the contract; on error nothing is taken over.
        let handle =
            unsafe { ZarrsCffiArray_T::around(upstream, adopt != 0, StoreAccess::default()) }?;
        handle.hand_out(pArray)
    })
}
