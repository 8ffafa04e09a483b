//! Reads of many chunks from an object store: the fetches run ahead on the I/O runtime, up to
//! `io_concurrency()` requests in flight, while as many threads as a local read uses
//! (`pool::decode_threads`) decode whatever has arrived, in the order it arrives.
//!
//! Before, such a read ran `io_concurrency()` (32) threads that each fetched a chunk and then
//! decoded it: a thread busy decoding kept no request in flight, up to 32 decodes shared the
//! cores, and each decoded in a scratch buffer of its own thread, given back after the call (the
//! benchmark's 8 chunks of 32 MiB faulted in 8 fresh buffers a read: 127-134 ms from moto,
//! against 55 ms from disk).
//!
//! The decoding code is the local read's: a task finds its chunks' bytes here
//! (`take_fetched`, asked by `direct::Plan` before it reads from the store).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Mutex;

use futures::{StreamExt, future, stream};
use zarrs_storage::{Bytes, StorageError, StoreKey};

use crate::error::{FfiResult, FirstError};
use crate::object_reads::Versioned;
use crate::safety::catch_codec_panic;
use crate::url_store::TokioBlockOn;
use zarrs_storage::storage_adapter::async_to_sync::AsyncToSyncBlockOn;

/// What a fetch of one object found: its bytes, None if absent, or the store's error (reported
/// by the task that needs the object, with the task's own label).
type Fetched = Result<Option<Bytes>, StorageError>;

thread_local! {
    /// The objects fetched for the task this thread runs.
    static GIVEN: RefCell<Vec<(StoreKey, Fetched)>> = const { RefCell::new(Vec::new()) };
}

/// The object `key` if it was fetched ahead for the task this thread runs (then the task must not
/// read it again); None if it was not.
pub fn take_fetched(key: &StoreKey) -> Option<Fetched> {
    GIVEN.with(|given| {
        let mut given = given.borrow_mut();
        let at = given.iter().position(|(k, _)| k == key)?;
        Some(given.swap_remove(at).1)
    })
}

/// Forgets what a task was given when it ends (also when it unwinds), giving back what the
/// thread held before: should a task of another read ever run nested on this thread (rayon's work
/// stealing while this task waits), each sees its own objects.
struct Given(Vec<(StoreKey, Fetched)>);

impl Given {
    fn hand(objects: Vec<(StoreKey, Fetched)>) -> Self {
        Given(GIVEN.with(|given| std::mem::replace(&mut *given.borrow_mut(), objects)))
    }
}

impl Drop for Given {
    fn drop(&mut self) {
        let before = std::mem::take(&mut self.0);
        GIVEN.with(|given| *given.borrow_mut() = before);
    }
}

type Receiver<T> = Mutex<tokio::sync::mpsc::Receiver<T>>;

struct CloseOnUnwind<'a, T>(&'a Receiver<T>);

impl<T> Drop for CloseOnUnwind<'_, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).close();
        }
    }
}

/// Run `task` for every item once the objects `keys(item)` names (at least one) are fetched
/// whole, on `pool::decode_threads()` pool threads, while the calling thread drives the fetches
/// of the next items; `label` names an item whose task panics, `object_bytes` is the decoded
/// size of one object (at most). Every task runs (a failed fetch is reported by its task); the
/// first error is returned. Once one is known, no new fetch starts.
pub fn fetch_then_run<T: Sync>(
    versioned: &Versioned,
    items: &[T],
    object_bytes: usize,
    keys: impl Fn(&T) -> Vec<StoreKey> + Sync,
    label: impl Fn(&T) -> String + Sync,
    task: impl Fn(&T) -> FfiResult + Sync,
) -> FfiResult {
    // Requests, not items, are kept in flight: an item of several objects waiting for its last
    // one must not hold back the next items' requests.
    let objects: Vec<(usize, StoreKey)> = items
        .iter()
        .enumerate()
        .flat_map(|(i, item)| keys(item).into_iter().map(move |key| (i, key)))
        .collect();
    let mut wanted = vec![0usize; items.len()];
    objects.iter().for_each(|(i, _)| wanted[*i] += 1);
    let wanted = &wanted;
    let in_flight = crate::pool::requests_in_flight(object_bytes);
    let decoders = crate::pool::decode_threads().clamp(1, items.len().max(1));
    let (sender, receiver) =
        tokio::sync::mpsc::channel::<(usize, Vec<(StoreKey, Fetched)>)>(decoders);
    let receiver = Mutex::new(receiver);
    let first_error = FirstError::new();
    let decode = || {
        // A decoder that unwinds closes the channel: the fetcher must not wait for it for ever.
        let _close = CloseOnUnwind(&receiver);
        loop {
            // One decoder waits for the next arrival at a time; the others wait for the lock.
            let next = receiver
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .blocking_recv();
            let Some((i, objects)) = next else {
                return;
            };
            if first_error.failed() {
                continue; // drain: the fetcher must not wait on a full channel
            }
            let _given = Given::hand(objects);
            if let Err(err) = catch_codec_panic(|| label(&items[i]), || task(&items[i])) {
                first_error.record(err);
            }
        }
    };
    let errors = &first_error;
    let fetch = async move {
        let fetches = stream::iter(objects)
            .take_while(|_| future::ready(!errors.failed()))
            .map(|(i, key)| async move {
                let found = versioned.get(&key).await;
                (i, key, found)
            })
            .buffer_unordered(in_flight);
        let mut fetches = std::pin::pin!(fetches);
        // Each item's objects so far; an item goes to the decoders once it has them all.
        let mut arrived: HashMap<usize, Vec<(StoreKey, Fetched)>> = HashMap::new();
        while let Some((i, key, found)) = fetches.next().await {
            let fetched = arrived.entry(i).or_default();
            fetched.push((key, found));
            if fetched.len() == wanted[i] {
                let done = arrived.remove(&i).unwrap_or_default();
                if sender.send((i, done)).await.is_err() {
                    return;
                }
            }
        }
        // `sender` drops here: the decoders stop once they have drained the channel.
    };
    crate::pool::scope_in_pool(|scope| {
        for _ in 0..decoders {
            scope.spawn(|_| decode());
        }
        TokioBlockOn.block_on(fetch);
    })?;
    first_error.into_result()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use object_store::memory::InMemory;
    use object_store::path::Path;
    use object_store::{ObjectStore, ObjectStoreExt};

    use super::*;
    use crate::error::FfiError;

    /// Objects "k/0" .. "k/{n-1}", each holding its number; the odd ones absent when `holes`.
    fn store(n: usize, holes: bool) -> Versioned {
        let memory = Arc::new(InMemory::new());
        for i in (0..n).filter(|i| !holes || i % 2 == 0) {
            let path = Path::from(format!("k/{i}"));
            TokioBlockOn
                .block_on(memory.put(&path, vec![i as u8].into()))
                .unwrap();
        }
        Versioned::new(memory as Arc<dyn ObjectStore>)
    }

    fn key(i: usize) -> StoreKey {
        StoreKey::new(format!("k/{i}")).unwrap()
    }

    #[test]
    fn every_task_gets_its_objects_once() {
        let versioned = store(40, true);
        let items: Vec<usize> = (0..20).collect();
        let ran = AtomicUsize::new(0);
        fetch_then_run(
            &versioned,
            &items,
            1,
            |&item| vec![key(2 * item), key(2 * item + 1)],
            |item| format!("item {item}"),
            |&item| {
                let even = take_fetched(&key(2 * item))
                    .expect("fetched ahead")
                    .unwrap();
                assert_eq!(even.as_deref(), Some(&[(2 * item) as u8][..]));
                let odd = take_fetched(&key(2 * item + 1))
                    .expect("fetched ahead")
                    .unwrap();
                assert!(odd.is_none(), "an absent object is fetched as absent");
                assert!(take_fetched(&key(2 * item)).is_none(), "taken once");
                assert!(take_fetched(&key(0)).is_none() || item == 0, "only its own");
                ran.fetch_add(1, Ordering::Relaxed);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(ran.load(Ordering::Relaxed), items.len());
        assert!(
            take_fetched(&key(0)).is_none(),
            "nothing is left for the caller"
        );
    }

    #[test]
    fn a_nested_task_sees_its_own_objects_and_gives_back_the_outer_ones() {
        let bytes = |b: u8| Ok(Some(Bytes::from(vec![b])));
        let outer = Given::hand(vec![(key(0), bytes(0)), (key(1), bytes(1))]);
        assert!(take_fetched(&key(0)).is_some());
        {
            let _inner = Given::hand(vec![(key(2), bytes(2))]);
            assert!(take_fetched(&key(1)).is_none(), "not the outer task's");
            assert!(take_fetched(&key(2)).is_some());
        }
        let left = take_fetched(&key(1)).expect("given back").unwrap();
        assert_eq!(left.as_deref(), Some(&[1u8][..]));
        drop(outer);
        assert!(take_fetched(&key(1)).is_none());
    }

    #[test]
    fn no_more_tasks_decode_at_once_than_decode_threads() {
        let versioned = store(64, false);
        let items: Vec<usize> = (0..64).collect();
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        fetch_then_run(
            &versioned,
            &items,
            1,
            |&i| vec![key(i)],
            |_| String::new(),
            |_| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(2));
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            },
        )
        .unwrap();
        let most = most.load(Ordering::SeqCst);
        assert!(
            most >= 1 && most <= crate::pool::decode_threads(),
            "{most} at once"
        );
    }

    #[test]
    fn the_first_error_wins_and_a_panic_is_an_error() {
        let versioned = store(8, false);
        let items: Vec<usize> = (0..8).collect();
        let err = fetch_then_run(
            &versioned,
            &items,
            1,
            |&i| vec![key(i)],
            |i| format!("item {i}"),
            |&i| match i {
                3 => Err(FfiError::invalid("item 3 failed")),
                _ => Ok(()),
            },
        )
        .unwrap_err();
        assert!(err.message.contains("item 3 failed"), "{}", err.message);
        let err = fetch_then_run(
            &versioned,
            &items,
            1,
            |&i| vec![key(i)],
            |i| format!("item {i}"),
            |&i| {
                assert_ne!(i, 5, "corrupt");
                Ok(())
            },
        )
        .unwrap_err();
        assert!(err.message.contains("item 5"), "{}", err.message);
    }
}
