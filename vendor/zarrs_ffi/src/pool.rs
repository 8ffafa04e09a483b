//! The thread pool that runs zarrs' parallel decoding, rebuilt in a forked child.
//!
//! zarrs parallelises with rayon. Rayon's global pool does not survive `fork()` (the child has no
//! worker threads, so the next parallel call would hang). Every call that can go parallel runs in this
//! pool via `install`; a call from a process whose pid differs from the pool's builds a fresh pool.

use std::sync::{Arc, Mutex};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{FfiError, FfiResult};

struct OwnedPool {
    pid: u32,
    pool: Arc<ThreadPool>,
}

static POOL: Mutex<Option<OwnedPool>> = Mutex::new(None);
static REQUESTED_THREADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn thread_count() -> usize {
    let requested = REQUESTED_THREADS.load(std::sync::atomic::Ordering::Relaxed);
    if requested > 0 {
        return requested;
    }
    std::env::var("ZARRS_CFFI_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn current_pool() -> FfiResult<Arc<ThreadPool>> {
    let pid = std::process::id();
    let mut slot = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(owned) = slot.as_ref()
        && owned.pid == pid
    {
        return Ok(owned.pool.clone());
    }
    if let Some(stale) = slot.take() {
        // Inherited from the parent across fork: its threads do not exist here. Dropping it would
        // wait on them forever, so it is leaked on purpose.
        std::mem::forget(stale);
    }
    let pool = ThreadPoolBuilder::new()
        .num_threads(thread_count())
        .thread_name(|i| format!("zarrs-cffi-{i}"))
        .build()
        .map_err(|e| FfiError::invalid(format!("cannot start the decode thread pool: {e}")))?;
    let pool = Arc::new(pool);
    *slot = Some(OwnedPool {
        pid,
        pool: pool.clone(),
    });
    Ok(pool)
}

/// Run `body` inside the fork-aware pool.
pub fn in_pool<T: Send>(body: impl FnOnce() -> FfiResult<T> + Send) -> FfiResult<T> {
    current_pool()?.install(body)
}

/// Number of threads the decode pool uses (builds it if needed).
#[unsafe(no_mangle)]
pub extern "C" fn zarrsCffiThreadCount() -> usize {
    current_pool().map_or(0, |p| p.current_num_threads())
}

/// Use `threads` decode threads from now on (0: the default, `ZARRS_CFFI_NUM_THREADS` or all
/// cores). Calls in flight finish on the old pool.
#[unsafe(no_mangle)]
pub extern "C" fn zarrsCffiSetThreadCount(threads: usize) -> i32 {
    crate::error::guard(|| {
        REQUESTED_THREADS.store(threads, std::sync::atomic::Ordering::Relaxed);
        let mut slot = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = None;
        Ok(())
    })
}
