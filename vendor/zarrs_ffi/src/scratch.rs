//! Per-thread buffers reused from chunk to chunk within a call, given back after it.
//!
//! Decoding and encoding reuse per-thread buffers (fresh memory costs a page fault per page). A
//! buffer grows to the largest chunk it handled; left at that size, every pool thread and calling
//! thread would keep the largest chunk ever read or written (float64 chunks of 4096 x 4096: 128
//! MiB per buffer and thread, ~900 MiB held after everything was closed). So after each call of
//! the C API (`error::guard`) buffers larger than `CAP` are freed: the calling thread's at once,
//! the pool threads' by a broadcast when any of them holds one. Not after each pool task: a large
//! read spreads many tasks over the same threads, and each would allocate its buffers afresh.

use std::cell::{Cell, RefCell, RefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Buffers up to this capacity are kept between calls (one each of the buffers below per thread).
pub const CAP: usize = 4 << 20;

/// Threads holding a buffer larger than `CAP`.
static OVERSIZED_THREADS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static OVERSIZED_HERE: Cell<bool> = const { Cell::new(false) };
}

/// A reused per-thread byte buffer (declare it in `thread_local!` and list it in
/// `trim_this_thread`).
pub struct Buffer(RefCell<Vec<u8>>);

impl Buffer {
    pub const fn new() -> Self {
        Self(RefCell::new(Vec::new()))
    }

    /// The buffer (not re-entrant: one borrow at a time per thread and buffer).
    pub fn borrow_mut(&self) -> BufferGuard<'_> {
        BufferGuard(self.0.borrow_mut())
    }

    fn trim(&self) -> bool {
        match self.0.try_borrow_mut() {
            Ok(mut buffer) => {
                if buffer.capacity() > CAP {
                    *buffer = Vec::new();
                }
                true
            }
            Err(_) => false, // in use (cannot happen between calls): trimmed next time
        }
    }
}

pub struct BufferGuard<'a>(RefMut<'a, Vec<u8>>);

impl std::ops::Deref for BufferGuard<'_> {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl std::ops::DerefMut for BufferGuard<'_> {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl Drop for BufferGuard<'_> {
    fn drop(&mut self) {
        if self.0.capacity() > CAP && !OVERSIZED_HERE.get() {
            OVERSIZED_HERE.set(true);
            OVERSIZED_THREADS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Free this thread's buffers that grew past `CAP`.
pub fn trim_this_thread() {
    if !OVERSIZED_HERE.get() {
        return;
    }
    let buffers: [&'static std::thread::LocalKey<Buffer>; 6] = [
        &crate::region_io::SCRATCH,
        &crate::direct::ENCODED,
        &crate::encode::ENCODED,
        &crate::encode::INNER,
        &crate::row_groups::GROUP,
        &crate::blosc_blocks::BLOCK,
    ];
    // Every buffer is trimmed (no short circuit); all must have been free to clear the mark.
    let mut all = true;
    for buffer in buffers {
        all &= buffer.with(Buffer::trim);
    }
    if all {
        OVERSIZED_HERE.set(false);
        OVERSIZED_THREADS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// After a call of the C API: free this thread's large buffers, and the pool threads' if any
/// holds one.
pub fn trim_after_call() {
    trim_this_thread();
    if OVERSIZED_THREADS.load(Ordering::Relaxed) > 0 {
        crate::pool::on_every_pool_thread(trim_this_thread);
    }
}
