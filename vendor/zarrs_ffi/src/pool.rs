//! The thread pool that runs zarrs' parallel decoding, rebuilt in a forked child, and how many of
//! its threads one call may use.
//!
//! zarrs parallelises with rayon. Rayon's global pool does not survive `fork()` (the child has no
//! worker threads, so the next parallel call would hang). Every call that can go parallel runs in this
//! pool via `install`; a call from a process whose pid differs from the pool's builds a fresh pool.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rayon::{ThreadPool, ThreadPoolBuilder};
use zarrs::array::CodecOptions;

use crate::error::{FfiError, FfiResult, guard};

struct OwnedPool {
    pid: u32,
    pool: Arc<ThreadPool>,
}

static POOL: Mutex<Option<OwnedPool>> = Mutex::new(None);
/// Threads one call may use; 0 means the default (`default_threads()`).
static THREADS_PER_CALL: AtomicUsize = AtomicUsize::new(0);

/// `ZARRS_CFFI_NUM_THREADS`, else the number of cores; read once (asking the OS for the core
/// count reads cgroup files: far too slow for every call).
fn default_threads() -> usize {
    static DEFAULT: OnceLock<usize> = OnceLock::new();
    *DEFAULT.get_or_init(|| {
        std::env::var("ZARRS_CFFI_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// Threads one call uses.
pub fn threads_per_call() -> usize {
    match THREADS_PER_CALL.load(Ordering::Relaxed) {
        0 => default_threads(),
        n => n,
    }
}

/// Codec options for one call: its concurrency capped at `threads_per_call()`.
pub fn codec_options() -> CodecOptions {
    let threads = threads_per_call();
    let options = CodecOptions::default().with_concurrent_target(threads);
    if options.chunk_concurrent_minimum() > threads {
        options.with_chunk_concurrent_minimum(threads)
    } else {
        options
    }
}

fn current_pool() -> FfiResult<Arc<ThreadPool>> {
    let pid = std::process::id();
    // The pool has at least as many threads as one call may use, and never fewer than the
    // default, so that calls from several caller threads run side by side.
    let wanted = threads_per_call().max(default_threads());
    let mut slot = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(owned) = slot.as_ref()
        && owned.pid == pid
        && owned.pool.current_num_threads() >= wanted
    {
        return Ok(owned.pool.clone());
    }
    if let Some(stale) = slot.take()
        && stale.pid != pid
    {
        // Inherited from the parent across fork: its threads do not exist here. Dropping it would
        // wait on them forever, so it is leaked on purpose.
        std::mem::forget(stale);
    }
    let pool = ThreadPoolBuilder::new()
        .num_threads(wanted)
        .thread_name(|i| format!("zarrs-cffi-{i}"))
        // A panic escaping a background task (read-ahead) must not abort the process; every task
        // already catches its own, so this is only a backstop.
        .panic_handler(|_| {})
        .build()
        .map_err(|e| FfiError::invalid(format!("cannot start the decode thread pool: {e}")))?;
    let pool = Arc::new(pool);
    *slot = Some(OwnedPool {
        pid,
        pool: pool.clone(),
    });
    Ok(pool)
}

/// Run `task` on the pool in the background (read-ahead); it must catch its own panics.
pub fn spawn(task: impl FnOnce() + Send + 'static) -> FfiResult {
    current_pool()?.spawn(task);
    Ok(())
}

/// True unless this is a child forked after the library first ran here.
pub fn in_original_process() -> bool {
    static FIRST_PID: OnceLock<u32> = OnceLock::new();
    let pid = std::process::id();
    *FIRST_PID.get_or_init(|| pid) == pid
}

/// Run `body` inside the fork-aware pool.
pub fn in_pool<T: Send>(body: impl FnOnce() -> FfiResult<T> + Send) -> FfiResult<T> {
    current_pool()?.install(body)
}

/// Threads one call decodes or encodes with (by default `ZARRS_CFFI_NUM_THREADS`, else all cores).
#[unsafe(no_mangle)]
pub extern "C" fn zarrsCffiThreadCount() -> usize {
    threads_per_call()
}

/// Let one call use `threads` threads from now on (0 restores the default). Calls from several
/// threads at once each get their own share of the pool, which grows to at least `threads`.
#[unsafe(no_mangle)]
pub extern "C" fn zarrsCffiSetThreadCount(threads: usize) -> i32 {
    guard(|| {
        THREADS_PER_CALL.store(threads, Ordering::Relaxed);
        Ok(())
    })
}
