//! Inner chunks of one shard that a read wants, fetched from an object store together: the byte
//! ranges of the wanted inner chunks, sorted, with nearby ones merged into one request (a row of
//! inner chunks is one range of the shard). Without this, a read of k inner chunks of a shard made
//! k range requests.
//!
//! The first task of a read that needs an inner chunk of a shard fetches the spans of all the
//! inner chunks the read wants of it (concurrently, tied to the shard's version like single inner
//! chunks); the read's other tasks for that shard wait for it and take their bytes.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use futures::{StreamExt, stream};

use super::shard::Shard;
use super::*;

/// Ranges closer than this are one request: reading up to 64 KiB that nobody wants costs less than
/// a round trip to an object store (0.5 ms at 1 Gbit/s, against 10-100 ms a request).
const MERGE_GAP: u64 = 64 << 10;
/// A merged range stops growing past this, so that a large read still runs several requests at
/// once instead of one long one.
const MAX_SPAN: u64 = 8 << 20;

/// What a fetch found for one inner chunk.
enum Outcome {
    Bytes(Bytes),
    /// The shard has another version than its index's.
    Changed,
    /// The store's error (reported by the task that needs the inner chunk, with its label).
    Failed(String),
}

/// What the fetches of one shard's spans found, by inner chunk; set by the first task that needs it.
type ShardSpans = OnceLock<Mutex<HashMap<usize, Outcome>>>;

/// The wanted inner chunks of each shard of one read, and what their fetches found.
pub struct ReadSpans {
    /// Shard key -> positions (C order within the shard) of the inner chunks the read wants.
    wanted: HashMap<StoreKey, Vec<usize>>,
    fetched: Mutex<HashMap<StoreKey, Arc<ShardSpans>>>,
}

impl ReadSpans {
    /// The spans of a read of `units` (inner chunk indices) of `array`: only shards with at least
    /// two wanted inner chunks (one alone is one request anyway).
    pub fn of(array: &RwArray, plan: &Plan, units: &[Vec<u64>]) -> Self {
        let mut wanted: HashMap<StoreKey, Vec<usize>> = HashMap::new();
        for unit in units {
            let (shard, within) = ShardReader::locate(plan, unit);
            wanted
                .entry(array.chunk_key(&shard))
                .or_default()
                .push(within);
        }
        wanted.retain(|_, within| within.len() > 1);
        Self {
            wanted,
            fetched: Mutex::new(HashMap::new()),
        }
    }

    /// The bytes of inner chunk `within` of the shard at `key` (`shard`, read by version `etag`),
    /// fetched with the read's other inner chunks of that shard; None if this read does not fetch
    /// it that way (then the caller makes its own request).
    pub(super) fn take(
        &self,
        versioned: &Versioned,
        key: &StoreKey,
        shard: &Shard,
        etag: &str,
        within: usize,
        label: &dyn Fn() -> String,
    ) -> Option<FfiResult<Conditional>> {
        let wanted = self.wanted.get(key)?;
        let slot = self
            .fetched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let outcomes = slot.get_or_init(|| Mutex::new(fetch(versioned, key, shard, etag, wanted)));
        let outcome = outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&within)?;
        Some(match outcome {
            Outcome::Bytes(bytes) => Ok(Conditional::Bytes(bytes)),
            Outcome::Changed => Ok(Conditional::Changed),
            Outcome::Failed(message) => Err(storage_error(label, StorageError::Other(message))),
        })
    }
}

/// Fetch the wanted inner chunks of `shard` in merged spans. Entries that are absent or do not fit
/// in the shard are left out: the task that needs one reads it alone (and reports it).
fn fetch(
    versioned: &Versioned,
    key: &StoreKey,
    shard: &Shard,
    etag: &str,
    wanted: &[usize],
) -> HashMap<usize, Outcome> {
    let mut parts: Vec<(u64, u64, usize)> = wanted
        .iter()
        .filter_map(|&within| {
            let (offset, length) = (shard.index[2 * within], shard.index[2 * within + 1]);
            let end = offset.checked_add(length)?;
            (length > 0 && length <= MAX_SPAN && end <= shard.size).then_some((offset, end, within))
        })
        .collect();
    parts.sort_unstable();
    let spans = merged(&parts);
    let requests = spans.iter().map(|span| async move {
        let (start, end) = (
            span[0].0,
            span.iter().map(|p| p.1).max().expect("not empty"),
        );
        let read = versioned.get_if_version(key, start..end, etag).await;
        span.iter()
            .map(|&(offset, stop, within)| {
                let outcome = match &read {
                    Ok(Conditional::Bytes(bytes)) => Outcome::Bytes(
                        bytes.slice((offset - start) as usize..(stop - start) as usize),
                    ),
                    Ok(Conditional::Changed) => Outcome::Changed,
                    Err(e) => Outcome::Failed(e.to_string()),
                };
                (within, outcome)
            })
            .collect::<Vec<_>>()
    });
    let concurrency = crate::pool::io_concurrency().max(1);
    TokioBlockOn
        .block_on(
            stream::iter(requests)
                .buffer_unordered(concurrency)
                .collect::<Vec<_>>(),
        )
        .into_iter()
        .flatten()
        .collect()
}

/// `parts` (start, end, within), sorted by start, grouped into spans of nearby parts.
fn merged(parts: &[(u64, u64, usize)]) -> Vec<&[(u64, u64, usize)]> {
    let mut spans = Vec::new();
    let mut first = 0;
    let mut end = 0u64;
    for (i, &(start, stop, _)) in parts.iter().enumerate() {
        let span_start = parts[first].0;
        if i > first && (start > end.saturating_add(MERGE_GAP) || stop - span_start > MAX_SPAN) {
            spans.push(&parts[first..i]);
            first = i;
            end = 0;
        }
        end = end.max(stop);
    }
    if first < parts.len() {
        spans.push(&parts[first..]);
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearby_ranges_merge_far_and_large_ones_do_not() {
        let kib = 1 << 10;
        let parts = [
            (0, 10 * kib, 0),
            (10 * kib, 20 * kib, 1),              // adjacent
            (40 * kib, 50 * kib, 2),              // 20 KiB gap: merged
            (200 * kib, 210 * kib, 3),            // 150 KiB gap: a new span
            (210 * kib, 210 * kib + MAX_SPAN, 4), // would make the span too long: a new one
        ];
        let spans: Vec<Vec<usize>> = merged(&parts)
            .iter()
            .map(|s| s.iter().map(|p| p.2).collect())
            .collect();
        assert_eq!(spans, vec![vec![0, 1, 2], vec![3], vec![4]]);
        assert!(merged(&[]).is_empty());
    }
}
