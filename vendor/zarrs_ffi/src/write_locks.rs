//! Writes to one array from several threads of this process lose nothing.
//!
//! A write that covers part of a chunk reads the chunk, changes its part and stores it again. Two
//! such writes of one chunk at once both read the old chunk and the second store drops the first
//! one's part: eight threads writing their own rows of one chunk lost an update in 87% of trials.
//! So each array (named by its store and path, whichever handle writes it) has a readers-writer
//! lock: a write of whole chunks only (stored without reading, so writes of disjoint chunks stay
//! parallel) takes it shared; a write with any partly covered chunk takes it exclusively.
//!
//! The lock is taken on the calling thread, before the write enters the thread pool, and no pool
//! thread takes one, so a lock holder never waits for a task that waits for the lock. Reads take
//! none: a chunk is replaced whole (rename, PUT), so a reader sees the old or the new chunk.
//! Other processes are not covered (as in zarr-python, zarrs and tensorstore's non-transactional
//! writes).
//!
//! A write made of several calls (zarrs-cffi's Python layer reads the chunks of a strided or
//! point selection, changes them and stores them) holds the lock exclusively from
//! `zarrsCffiArrayBeginWrite` to `zarrsCffiArrayEndWrite`; writes on that thread meanwhile go
//! ahead under it (`HELD`), others wait.
//!
//! After `fork()` a lock may be held by a thread that does not exist in the child; the child
//! starts with locks of its own (`by_array` is per process), and the registry's own mutex is held
//! across `fork()` by the handlers in `pool`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use parking_lot::RwLock;

use crate::error::{FfiError, FfiResult};
use crate::pool::process_id;

thread_local! {
    /// The locks this thread holds exclusively between `begin_write` and `end_write` (a name
    /// once per `begin_write`: they nest).
    static HELD: RefCell<Vec<(String, Arc<RwLock<()>>)>> = const { RefCell::new(Vec::new()) };
}

fn held_here(array: &str) -> bool {
    HELD.with(|held| held.borrow().iter().any(|(name, _)| name == array))
}

/// The locks of the arrays written in this process, by array.
pub struct Locks {
    /// The process the locks belong to.
    pid: u32,
    by_array: BTreeMap<String, Arc<RwLock<()>>>,
    /// Prune unused locks when the map grows past this.
    prune_at: usize,
}

static LOCKS: Mutex<Locks> = Mutex::new(Locks {
    pid: 0,
    by_array: BTreeMap::new(),
    prune_at: 64,
});

/// The registry's mutex (the `fork` handlers hold it across `fork()`).
pub fn lock_registry() -> MutexGuard<'static, Locks> {
    LOCKS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The lock of the array named `array` in this process.
fn lock_of(array: &str) -> Arc<RwLock<()>> {
    let mut locks = lock_registry();
    let pid = process_id();
    if locks.pid != pid {
        // Inherited across fork: some may be held by threads that are not here. Leaked.
        std::mem::forget(std::mem::take(&mut locks.by_array));
        locks.pid = pid;
    }
    if locks.by_array.len() >= locks.prune_at {
        // Keep the locks a writer holds (or waits for) now; the others are made again on use.
        locks.by_array.retain(|_, lock| Arc::strong_count(lock) > 1);
        locks.prune_at = (locks.by_array.len() * 2).max(64);
    }
    if let Some(lock) = locks.by_array.get(array) {
        return lock.clone(); // (no allocation for the name on this, the usual, path)
    }
    let lock = Arc::<RwLock<()>>::default();
    locks.by_array.insert(array.to_string(), lock.clone());
    lock
}

/// What a write stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Covers {
    /// Whole chunks (or shards) only: each is stored without reading it first.
    WholeChunks,
    /// Some chunk only partly: it is read, modified and stored.
    PartsOfChunks,
}

/// Run `write` of the array named `array` under its lock (held already if this thread began a
/// write of it).
pub fn with_write_lock<T>(array: &str, covers: Covers, write: impl FnOnce() -> T) -> T {
    if held_here(array) {
        return write();
    }
    let lock = lock_of(array);
    match covers {
        Covers::WholeChunks => {
            let _shared = lock.read();
            write()
        }
        Covers::PartsOfChunks => {
            let _exclusive = lock.write();
            write()
        }
    }
}

/// Hold the lock of the array named `array` exclusively on this thread until `end_write`.
pub fn begin_write(array: &str) {
    let held = HELD.with(|held| {
        let held = held.borrow();
        let found = held.iter().find(|(name, _)| name == array);
        found.map(|(_, lock)| lock.clone())
    });
    let lock = held.unwrap_or_else(|| {
        let lock = lock_of(array);
        // Released by `end_write` (`force_unlock_write`), on this thread.
        std::mem::forget(lock.write());
        lock
    });
    HELD.with(|held| held.borrow_mut().push((array.to_string(), lock)));
}

/// End this thread's innermost `begin_write` of the array named `array`.
pub fn end_write(array: &str) -> FfiResult {
    let lock = HELD.with(|held| {
        let mut held = held.borrow_mut();
        let at = held.iter().rposition(|(name, _)| name == array)?;
        let (_, lock) = held.remove(at);
        let still_held = held.iter().any(|(name, _)| name == array);
        Some((!still_held).then_some(lock))
    });
    match lock {
        None => Err(FfiError::invalid(
            "no write of this array was begun on this thread (zarrsCffiArrayBeginWrite)",
        )),
        Some(Some(lock)) => {
            // SAFETY: locked exclusively by `begin_write` on this thread, its guard forgotten;
            // no other `begin_write` of this array on this thread is still open.
            unsafe { lock.force_unlock_write() };
            Ok(())
        }
        Some(None) => Ok(()), // an outer begin_write still holds it
    }
}

/// The name of the array at `path` in the store named `store`, the same however the array is
/// reached (`file:/d/a.zarr` + `/t` and `file:/d/a.zarr/t` + `/` name one array).
pub fn array_name(store: &str, path: &str) -> String {
    let path = path.trim_matches('/');
    let store = store.trim_end_matches('/');
    if path.is_empty() {
        store.to_string()
    } else {
        format!("{store}/{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn one_array_however_it_is_reached() {
        assert_eq!(array_name("file:/d/a.zarr", "/t"), "file:/d/a.zarr/t");
        assert_eq!(array_name("file:/d/a.zarr/t/", "/"), "file:/d/a.zarr/t");
        assert_ne!(
            array_name("file:/d/a.zarr", "/t"),
            array_name("file:/d/b.zarr", "/t")
        );
    }

    #[test]
    fn partial_writes_exclude_each_other_and_whole_chunk_writes() {
        let inside = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for i in 0..8 {
                let (inside, most) = (&inside, &most);
                scope.spawn(move || {
                    for _ in 0..50 {
                        let covers = if i % 2 == 0 {
                            Covers::PartsOfChunks
                        } else {
                            Covers::WholeChunks
                        };
                        with_write_lock("test:/exclusive", covers, || {
                            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            if covers == Covers::PartsOfChunks {
                                assert_eq!(now, 1, "a partial write ran beside another write");
                            }
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::yield_now();
                            inside.fetch_sub(1, Ordering::SeqCst);
                        });
                    }
                });
            }
        });
        assert!(most.load(Ordering::SeqCst) >= 1);
    }

    #[test]
    fn whole_chunk_writes_run_side_by_side() {
        let barrier = std::sync::Barrier::new(2);
        // Both inside at once, or the barrier would wait for ever.
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    with_write_lock("test:/shared", Covers::WholeChunks, || barrier.wait());
                });
            }
        });
    }

    #[test]
    fn a_begun_write_excludes_other_threads_and_nests_on_its_own() {
        let name = "test:/begun";
        begin_write(name);
        begin_write(name);
        // Writes on this thread go ahead under it.
        with_write_lock(name, Covers::PartsOfChunks, || ());
        end_write(name).unwrap();
        let other = std::thread::spawn(move || {
            let lock = lock_of(name);
            lock.try_write().is_none() && lock.try_read().is_none()
        });
        assert!(
            other.join().unwrap(),
            "still held after the inner end_write"
        );
        end_write(name).unwrap();
        let other = std::thread::spawn(move || lock_of(name).try_write().is_some());
        assert!(other.join().unwrap(), "released by the outer end_write");
        assert!(end_write(name).is_err(), "an end without a begin");
    }

    #[test]
    fn unused_locks_are_pruned() {
        for i in 0..1000 {
            with_write_lock(&format!("test:/many/{i}"), Covers::WholeChunks, || ());
        }
        assert!(lock_registry_len() < 200);
    }

    fn lock_registry_len() -> usize {
        LOCKS.lock().unwrap().by_array.len()
    }
}
