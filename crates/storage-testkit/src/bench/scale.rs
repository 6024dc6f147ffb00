//! The databases W4 and W5 measure at growing sizes: the sizes, and appending to reach one.

use std::time::Instant;

use hotplex_storage_core::{ChatAppMessage, ChatAppMessageStore, Result};

use super::{BenchResult, Workload, run::expect_stored};

/// W4's and W5's database sizes in messages (`BENCHMARK.md`).
pub const SCALE_SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];

/// The sizes of the smoke run.
pub const SCALE_SMOKE_SIZES: [usize; 2] = [400, 2_000];

/// Messages per `store_batch` call while [`fill`] appends.
pub const FILL_BATCH: usize = 500;

/// The sizes to measure, smallest first: [`SCALE_SIZES`] (or [`SCALE_SMOKE_SIZES`]), those
/// at or above `max` replaced by `max` itself.
///
/// ```
/// use hotplex_storage_testkit::bench::scale_sizes;
/// assert_eq!(scale_sizes(false, None), [10_000, 100_000, 1_000_000]);
/// assert_eq!(scale_sizes(false, Some(50_000)), [10_000, 50_000]);
/// assert_eq!(scale_sizes(true, Some(100)), [100]);
/// ```
pub fn scale_sizes(smoke: bool, max: Option<usize>) -> Vec<usize> {
    let all: &[usize] = if smoke {
        &SCALE_SMOKE_SIZES
    } else {
        &SCALE_SIZES
    };
    let max = max.unwrap_or(usize::MAX);
    let mut sizes: Vec<usize> = all.iter().copied().filter(|&n| n < max).collect();
    if all.iter().any(|&n| n >= max) {
        sizes.push(max);
    }
    sizes
}

/// Appends messages `from..` of `workload` to `store` with `store_batch` in batches of
/// [`FILL_BATCH`], failing unless each is a fresh write: how W4 and W5 grow their database
/// from one size to the next. The time includes generating the messages. The result is
/// `bench=W4 mode=fill-batch500` with `messages=` the total afterwards.
///
/// # Errors
/// The store's error, or `Data` when a message was not `Stored`.
pub async fn fill(
    store: &dyn ChatAppMessageStore,
    workload: &Workload,
    from: usize,
) -> Result<BenchResult> {
    let end = workload.message_count();
    let started = Instant::now();
    let mut next = from;
    while next < end {
        let upto = (next + FILL_BATCH).min(end);
        let batch: Vec<ChatAppMessage> = (next..upto).map(|i| workload.message(i)).collect();
        for receipt in store.store_batch(&batch).await? {
            expect_stored(&receipt)?;
        }
        next = upto;
    }
    let added = u64::try_from(end.saturating_sub(from)).unwrap_or(u64::MAX);
    Ok(
        BenchResult::new("W4", store.name(), added, started.elapsed())
            .with_mode(format!("fill-batch{FILL_BATCH}"))
            .with_extra("messages", end),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotplex_storage_core::{MessageQuery, ReadOnlyStore};
    use hotplex_storage_memory::MemoryStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fill_appends_the_missing_messages() {
        let store = MemoryStore::new();
        let small = Workload::new(3, 5);
        let first = fill(&store, &small, 0).await.unwrap();
        assert_eq!(first.ops, 30);
        let big = Workload::new(30, 5);
        let second = fill(&store, &big, small.message_count()).await.unwrap();
        assert_eq!(second.ops, 270);
        assert_eq!(second.extra, [("messages".to_owned(), "300".to_owned())]);
        assert_eq!(store.count(&MessageQuery::default()).await.unwrap(), 300);
        let none = fill(&store, &big, big.message_count()).await.unwrap();
        assert_eq!(none.ops, 0);
    }

    #[test]
    fn sizes_are_capped() {
        assert_eq!(scale_sizes(true, None), [400, 2_000]);
        assert_eq!(scale_sizes(false, Some(1_000_000)), SCALE_SIZES);
        assert_eq!(scale_sizes(false, Some(5)), [5]);
    }
}
