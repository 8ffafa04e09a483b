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

    /// Run `body` with the buffer moved out of its slot: no borrow is held while `body` runs, so a
    /// zarrs call inside it that runs another task of this library on this thread (rayon's work
    /// stealing) finds the slot empty and uses a buffer of its own, where a held borrow would
    /// make that task fail. The larger of the two buffers goes back into the slot.
    pub fn with_taken<T>(&self, body: impl FnOnce(&mut Vec<u8>) -> T) -> T {
        struct PutBack<'a>(&'a Buffer, Vec<u8>);
        impl Drop for PutBack<'_> {
            fn drop(&mut self) {
                // (also on unwind: the buffer is kept, not leaked)
                let mut slot = BufferGuard(self.0.0.borrow_mut());
                if slot.capacity() < self.1.capacity() {
                    *slot = std::mem::take(&mut self.1);
                }
            }
        }
        let taken = std::mem::take(&mut *self.0.borrow_mut());
        let mut put_back = PutBack(self, taken);
        body(&mut put_back.1)
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

#[cfg(test)]
mod tests {
    use super::Buffer;

    thread_local! {
        static TEST: Buffer = const { Buffer::new() };
    }

    #[test]
    fn a_taken_buffer_can_be_used_again_inside() {
        let sum = TEST.with(|outer| {
            outer.with_taken(|a| {
                a.resize(64, 1);
                // Re-entered on the same thread (as by work stealing): a buffer of its own.
                let inner = TEST.with(|b| {
                    b.with_taken(|b| {
                        assert!(b.is_empty());
                        b.resize(8, 2);
                        b.iter().map(|&x| u64::from(x)).sum::<u64>()
                    })
                });
                inner + a.iter().map(|&x| u64::from(x)).sum::<u64>()
            })
        });
        assert_eq!(sum, 16 + 64);
        // The larger buffer is the one kept.
        TEST.with(|b| b.with_taken(|b| assert_eq!(b.len(), 64)));
    }
}
