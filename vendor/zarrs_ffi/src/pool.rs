//! The thread pool that runs zarrs' parallel decoding, rebuilt in a forked child, and how many of
//! its threads one call may use.
//!
//! zarrs parallelises with rayon. Rayon's global pool does not survive `fork()` (the child has no
//! worker threads, so the next parallel call would hang). Every call that can go parallel runs in this
//! pool via `install`, or (tasks of this library's own code only) on the calling thread with pool
//! threads as helpers (`for_each_with_helpers`); a call from a process whose pid differs from the
//! pool's builds a fresh pool.

use std::ops::Range;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use rayon::{ThreadPool, ThreadPoolBuilder};
use zarrs::array::CodecOptions;

use crate::error::{FfiError, FfiResult, guard};
use crate::process_slot::ProcessSlot;

/// This process's decode pool, loaded without a lock by every parallel call.
static POOL: ProcessSlot<ThreadPool> = ProcessSlot::new();
/// Threads one call may use; 0 means the default (`default_threads()`).
static THREADS_PER_CALL: AtomicUsize = AtomicUsize::new(0);

/// The most threads one call may be given (`zarrsCffiSetThreadCount`, `ZARRS_CFFI_NUM_THREADS`).
const MAX_THREADS: usize = 4096;

/// `ZARRS_CFFI_NUM_THREADS` (at most `MAX_THREADS`), else the number of cores; read once (asking
/// the OS for the core count reads cgroup files: far too slow for every call).
fn default_threads() -> usize {
    static DEFAULT: OnceLock<usize> = OnceLock::new();
    *DEFAULT.get_or_init(|| {
        std::env::var("ZARRS_CFFI_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .map(|n| n.min(MAX_THREADS))
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// Threads one call uses: for a store across a network, at least `io_concurrency()`, since its
/// threads mostly wait for responses (each fetches a chunk, then decodes it while the others'
/// requests are in flight).
pub fn threads_per_call() -> usize {
    let threads = decode_threads();
    if IO_BOUND.get() {
        threads.max(IO_CONCURRENCY.load(Ordering::Relaxed))
    } else {
        threads
    }
}

/// Threads that decode at once in one call: `set_num_threads`, else the default (all cores),
/// whatever the store.
pub fn decode_threads() -> usize {
    match THREADS_PER_CALL.load(Ordering::Relaxed) {
        0 => default_threads(),
        n => n,
    }
}

/// Requests one call on a remote store keeps in flight (`zarrsCffiSetIoConcurrency`).
static IO_CONCURRENCY: AtomicUsize = AtomicUsize::new(DEFAULT_IO_CONCURRENCY);
const DEFAULT_IO_CONCURRENCY: usize = 32;

thread_local! {
    /// Set while this thread runs a call on an array whose store is not a local directory.
    static IO_BOUND: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Mark the current call as one on a remote store (or not); `error::guard` clears the mark when
/// the call ends.
pub fn set_io_bound(io_bound: bool) {
    IO_BOUND.set(io_bound);
}

/// Whether the current call is on a store that is not a local directory.
pub fn io_bound() -> bool {
    IO_BOUND.get()
}

/// Requests one read or write on a remote store (S3, GCS, Azure, HTTP, memory) keeps in flight.
#[unsafe(no_mangle)]
pub extern "C" fn zarrsCffiIoConcurrency() -> usize {
    io_concurrency()
}

pub fn io_concurrency() -> usize {
    IO_CONCURRENCY.load(Ordering::Relaxed)
}

/// Let one read or write on a remote store keep up to `requests` requests in flight (0 restores
/// the default, 32; at most 1024). Local directories are unaffected.
#[unsafe(no_mangle)]
pub extern "C" fn zarrsCffiSetIoConcurrency(requests: usize) -> i32 {
    guard(|| {
        if requests > 1024 {
            return Err(FfiError::invalid(format!(
                "io concurrency {requests} is above the limit of 1024"
            )));
        }
        let requests = if requests == 0 {
            DEFAULT_IO_CONCURRENCY
        } else {
            requests
        };
        IO_CONCURRENCY.store(requests, Ordering::Relaxed);
        Ok(())
    })
}

/// Bytes (decoded when read, encoded when written) a remote call may hold between its requests
/// and its decoding or encoding threads (`prefetch`, `upload`).
const AHEAD_BYTES: usize = 256 << 20;

/// Whether a remote call over `items` objects (`object_bytes` bytes each at most) should run its
/// requests apart from its decoding or encoding threads (`prefetch`, `upload`): more than one
/// object, not inside another call's spread work (whose threads are taken), and objects small
/// enough that a few of them may wait between the two.
pub fn overlaps_requests(items: usize, object_bytes: usize) -> bool {
    items > 1 && !nested() && object_bytes <= AHEAD_BYTES / 4
}

/// Requests such a call keeps in flight: `io_concurrency()`, fewer when objects of
/// `object_bytes` would hold more than `AHEAD_BYTES`.
pub fn requests_in_flight(object_bytes: usize) -> usize {
    io_concurrency()
        .min(AHEAD_BYTES / object_bytes.max(1))
        .max(1)
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

/// This process's id without a system call per use: `std::process::id()` asks the kernel each
/// time (glibc no longer caches it), ~1 us on the benchmark's VM, once per small read. The
/// `pthread_atfork` child handler (`fork_safety`) forgets it in a forked child; if registering
/// the handlers failed, every call asks the kernel.
pub fn process_id() -> u32 {
    match KNOWN_PID.load(Ordering::Relaxed) {
        0 => {
            let pid = std::process::id();
            if fork_safety::registered() {
                KNOWN_PID.store(pid, Ordering::Relaxed);
            }
            pid
        }
        pid => pid,
    }
}

static KNOWN_PID: AtomicU32 = AtomicU32::new(0);

/// The global locks that making the pool or the I/O runtime, or opening a named memory store,
/// takes are held across `fork()`: the forking thread takes them in `prepare` and releases them in
/// the parent and in the child, so a child never inherits one locked by a thread that does not
/// exist there (such a child hung in its first read, about 1 in 1,500 forks while another thread
/// read in a loop). Reads themselves take none of them (`process_slot`).
mod fork_safety {
    use std::cell::RefCell;
    use std::sync::MutexGuard;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::{KNOWN_PID, POOL};

    static REGISTERED: AtomicBool = AtomicBool::new(false);

    type Held = (
        MutexGuard<'static, ()>,
        MutexGuard<'static, ()>,
        MutexGuard<'static, crate::url_store::MemoryStores>,
        MutexGuard<'static, crate::write_locks::Locks>,
    );

    thread_local! {
        /// The locks the forking thread holds between `prepare` and `parent` / `child`.
        static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
    }

    pub fn registered() -> bool {
        REGISTERED.load(Ordering::Relaxed)
    }

    extern "C" fn prepare() {
        // Always in this order (no code path takes them the other way round).
        let pool = POOL.lock_building();
        let runtime = crate::url_store::lock_runtime();
        let memory = crate::url_store::lock_memory_stores();
        // (never held with the others: taken and released before a write enters the pool)
        let write_locks = crate::write_locks::lock_registry();
        HELD.with(|held| *held.borrow_mut() = Some((pool, runtime, memory, write_locks)));
    }

    extern "C" fn parent() {
        HELD.with(|held| drop(held.borrow_mut().take()));
    }

    extern "C" fn child() {
        KNOWN_PID.store(0, Ordering::Relaxed);
        HELD.with(|held| drop(held.borrow_mut().take()));
    }

    unsafe extern "C" {
        fn pthread_atfork(
            prepare: Option<extern "C" fn()>,
            parent: Option<extern "C" fn()>,
            child: Option<extern "C" fn()>,
        ) -> i32;
    }

    extern "C" fn register_at_load() {
        // SAFETY: registers handlers that only take and release this library's locks.
        let ok = unsafe { pthread_atfork(Some(prepare), Some(parent), Some(child)) } == 0;
        REGISTERED.store(ok, Ordering::Relaxed);
    }

    /// Registered when the library is loaded, before any thread of it exists.
    #[used]
    #[unsafe(link_section = ".init_array")]
    static REGISTER_AT_LOAD: extern "C" fn() = register_at_load;
}

fn current_pool() -> FfiResult<Arc<ThreadPool>> {
    // The pool has at least as many threads as one call may use, and never fewer than the
    // default, so that calls from several caller threads run side by side.
    let wanted = threads_per_call().max(default_threads());
    POOL.get_or_make(
        |pool| pool.current_num_threads() >= wanted,
        || {
            ThreadPoolBuilder::new()
                .num_threads(wanted)
                .thread_name(|i| format!("zarrs-cffi-{i}"))
                // A panic escaping a background task (read-ahead) must not abort the process;
                // every task already catches its own, so this is only a backstop.
                .panic_handler(|_| {})
                .build()
                .map_err(|e| FfiError::invalid(format!("cannot start the decode thread pool: {e}")))
        },
    )
}

/// Run `task` on the pool in the background (read-ahead); it must catch its own panics.
pub fn spawn(task: impl FnOnce() + Send + 'static) -> FfiResult {
    current_pool()?.spawn(task);
    Ok(())
}

/// Run `task` once on every thread of this process's pool (if it has one), waiting for all.
pub fn on_every_pool_thread(task: fn()) {
    let Some(pool) = POOL.get(|_| true) else {
        return;
    };
    if rayon::current_thread_index().is_none() {
        pool.broadcast(|_| task());
    }
}

/// Run `task` on every item, on the calling thread and on up to `threads_per_call() - 1` pool
/// threads (`Runs` says who takes which item).
///
/// The caller works from the start instead of handing the items to the pool and sleeping until
/// they are done: on a VM an idle pool thread can take milliseconds to wake (on the benchmark
/// machine 0.5-2 ms on average after 1-500 ms of idleness, up to 5 ms), so a short read that
/// waited for the pool ran hardly faster on two threads than on one (the unaligned raw region:
/// 4.1 ms back to back, 7.4 ms after half a second's pause, 8.3 ms on one thread). A helper that
/// starts after every item is taken returns at once; the caller waits only for helpers still
/// running an item.
///
/// For tasks that run only this library's code: zarrs code that goes parallel itself must run
/// inside the pool (`in_pool`), where its rayon calls stay in this fork-aware pool.
///
/// A call nested in another's work (a pool thread, or the calling thread of an outer call) runs
/// its items on its own thread: the other threads are busy with the outer call's items.
pub fn for_each_with_helpers<T: Sync>(items: &[T], task: impl Fn(&T) + Sync) {
    let helpers = if nested() {
        0
    } else {
        threads_per_call().min(items.len()).saturating_sub(1)
    };
    let runs = Runs::new(items.len(), helpers + 1);
    let work = |me: usize| {
        while let Some(i) = runs.next(me) {
            task(&items[i]);
        }
    };
    if helpers == 0 {
        work(0);
        return;
    }
    let _spreading = Spreading::enter();
    let work_ref: &(dyn Fn(usize) + Sync) = &work;
    // SAFETY: only the lifetime changes. Helpers call `work` only while `Helpers::open`, and
    // `_close` (dropped before `work`, `runs` and the borrowed items and task, also when
    // unwinding) closes it and waits for every helper still inside.
    let work_ptr = unsafe {
        std::mem::transmute::<
            *const (dyn Fn(usize) + Sync + '_),
            *const (dyn Fn(usize) + Sync + 'static),
        >(work_ref)
    };
    let shared = Arc::new(Helpers {
        state: Mutex::new(HelperState {
            open: true,
            running: 0,
        }),
        idle: Condvar::new(),
        work: WorkPtr(work_ptr),
    });
    let _close = CloseAndWait(&shared);
    for me in 1..=helpers {
        let helper = shared.clone();
        if spawn(move || helper.help(me)).is_err() {
            break; // no pool: the caller takes the helpers' runs too
        }
    }
    work(0);
}

/// `for_each_with_helpers` for a task that can fail: every item still runs, and the first
/// error (in time) is returned.
pub fn try_for_each_with_helpers<T: Sync, E: Send>(
    items: &[T],
    task: impl Fn(&T) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let failure = crate::error::FirstError::new();
    for_each_with_helpers(items, |item| {
        if let Err(e) = task(item) {
            failure.record(e);
        }
    });
    failure.into_result()
}

/// Run `task(k, piece)` on every `piece_len`-byte piece `k` of `dest` (the last may be shorter),
/// spread as `for_each_with_helpers` spreads items; the first error is returned, the other
/// pieces still run.
pub fn for_each_piece_with_helpers<E: Send>(
    dest: &mut [u8],
    piece_len: usize,
    task: impl Fn(usize, &mut [u8]) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let len = dest.len();
    let pieces: Vec<usize> = (0..len.div_ceil(piece_len.max(1))).collect();
    let base = crate::region_io::SharedPtr(dest.as_mut_ptr());
    try_for_each_with_helpers(&pieces, |&k| {
        let start = k * piece_len;
        let end = (start + piece_len).min(len);
        // SAFETY: pieces are disjoint parts of `dest`, borrowed for the whole call.
        let piece = unsafe { std::slice::from_raw_parts_mut(base.get().add(start), end - start) };
        task(k, piece)
    })
}

/// Whether this thread already works for a spread call: a pool thread, or the calling thread of
/// a `for_each_with_helpers` call with helpers.
pub fn nested() -> bool {
    rayon::current_thread_index().is_some() || SPREADING.get()
}

/// Whether a call made here would get helpers: more than one thread per call, not nested.
pub fn may_spread() -> bool {
    threads_per_call() > 1 && !nested()
}

thread_local! {
    /// This thread is working through the items of a `for_each_with_helpers` call with helpers.
    static SPREADING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the calling thread as spreading work until dropped (also when unwinding).
struct Spreading;

impl Spreading {
    fn enter() -> Self {
        SPREADING.set(true);
        Spreading
    }
}

impl Drop for Spreading {
    fn drop(&mut self) {
        SPREADING.set(false);
    }
}

/// Items split into one contiguous run per thread. Each thread works through its own run from
/// the front, then takes items from the back of the others' runs. Threads thus work far apart:
/// a sharded read keeps each shard on one thread, and large reads do not write side by side.
/// Taking items in turn instead (one shared counter) was measured slower: two threads loaded
/// and waited on the same shard (the benchmark's sharded whole-array read: 223-267 ms against
/// 170-180 ms before this caller-helps scheme) and the raw whole-array read took 26.5-27.5
/// against 24.5-25 ms.
struct Runs {
    runs: Vec<Mutex<Range<usize>>>,
}

impl Runs {
    fn new(len: usize, threads: usize) -> Self {
        let bound = |k: usize| len * k / threads;
        Self {
            runs: (0..threads)
                .map(|k| Mutex::new(bound(k)..bound(k + 1)))
                .collect(),
        }
    }

    /// The next item for thread `me`, or None when every item is taken.
    fn next(&self, me: usize) -> Option<usize> {
        let lock = |k: usize| self.runs[k].lock().unwrap_or_else(|p| p.into_inner());
        if let Some(item) = lock(me).next() {
            return Some(item);
        }
        let threads = self.runs.len();
        (1..threads).find_map(|k| lock((me + k) % threads).next_back())
    }
}

/// What the caller of `for_each_with_helpers` shares with its helpers.
struct Helpers {
    state: Mutex<HelperState>,
    /// Signalled when the last running helper leaves.
    idle: Condvar,
    work: WorkPtr,
}

struct HelperState {
    /// The caller is still inside `for_each_with_helpers`: `work` may be called.
    open: bool,
    /// Helpers inside `work` right now.
    running: usize,
}

/// The caller's work loop (given the thread's number), its lifetime erased (see
/// `for_each_with_helpers`).
struct WorkPtr(*const (dyn Fn(usize) + Sync));
// SAFETY: the loop is `Sync` and is called only while its caller keeps it alive (`Helpers::open`).
unsafe impl Send for WorkPtr {}
unsafe impl Sync for WorkPtr {}

impl Helpers {
    fn lock(&self) -> MutexGuard<'_, HelperState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run on a pool thread: join the work as thread `me` if the caller is still at it.
    fn help(&self, me: usize) {
        {
            let mut state = self.lock();
            if !state.open {
                return;
            }
            state.running += 1;
        }
        struct Leave<'a>(&'a Helpers);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                let mut state = self.0.lock();
                state.running -= 1;
                if state.running == 0 {
                    self.0.idle.notify_all();
                }
            }
        }
        let _leave = Leave(self);
        // Tasks catch their own panics; this keeps `running` right if one does not.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: `open` was true with `running` counted, so the caller is waiting for this
            // helper before the loop's borrows end.
            unsafe { (*self.work.0)(me) }
        }));
    }
}

/// Closes the work to helpers that have not started and waits for those still running.
struct CloseAndWait<'a>(&'a Helpers);

/// How long the caller polls for its helpers to finish before it sleeps: a sleeping thread here
/// can take milliseconds to wake (see `for_each_with_helpers`), while a helper's last item of a
/// short read (a piece of a chunk file, one small chunk) ends within tens of microseconds.
const POLL_HELPERS: std::time::Duration = std::time::Duration::from_micros(100);

impl Drop for CloseAndWait<'_> {
    fn drop(&mut self) {
        let polling = std::time::Instant::now();
        let mut state = self.0.lock();
        state.open = false;
        while state.running > 0 && polling.elapsed() < POLL_HELPERS {
            drop(state);
            std::thread::yield_now(); // lets other threads of this process have the core
            state = self.0.lock();
        }
        while state.running > 0 {
            state = self.0.idle.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// True unless this is a child forked after the library first ran here.
pub fn in_original_process() -> bool {
    static FIRST_PID: OnceLock<u32> = OnceLock::new();
    let pid = process_id();
    *FIRST_PID.get_or_init(|| pid) == pid
}

/// Run `body` on the calling thread with a scope whose spawned jobs run in the fork-aware pool.
pub fn scope_in_pool<'scope, T>(body: impl FnOnce(&rayon::Scope<'scope>) -> T) -> FfiResult<T> {
    Ok(current_pool()?.in_place_scope(body))
}

/// Run `body` inside the fork-aware pool. The calling thread's remote-store mark goes along:
/// `threads_per_call()` inside `body` (on a pool thread) must give the call's share, or a write
/// to S3 ran on the default 2 threads, 2 requests in flight.
pub fn in_pool<T: Send>(body: impl FnOnce() -> FfiResult<T> + Send) -> FfiResult<T> {
    let io_bound = IO_BOUND.get();
    current_pool()?.install(move || {
        /// Restores the pool thread's own mark, also when `body` unwinds.
        struct Restore(bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                IO_BOUND.set(self.0);
            }
        }
        let _restore = Restore(IO_BOUND.replace(io_bound));
        body()
    })
}

/// Threads one call decodes or encodes with (by default `ZARRS_CFFI_NUM_THREADS`, else all cores).
#[unsafe(no_mangle)]
pub extern "C" fn zarrsCffiThreadCount() -> usize {
    threads_per_call()
}

/// Let one call use `threads` threads from now on (0 restores the default; at most 4096). Calls
/// from several threads at once each get their own share of the pool, which grows to at least
/// `threads`.
#[unsafe(no_mangle)]
pub extern "C" fn zarrsCffiSetThreadCount(threads: usize) -> i32 {
    guard(|| {
        // The pool starts that many threads: SIZE_MAX would never return.
        if threads > MAX_THREADS {
            return Err(FfiError::invalid(format!(
                "thread count {threads} is above the limit of {MAX_THREADS}"
            )));
        }
        THREADS_PER_CALL.store(threads, Ordering::Relaxed);
        Ok(())
    })
}
