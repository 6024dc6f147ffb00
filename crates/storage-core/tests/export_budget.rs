//! Export pages are bounded in bytes: a store wrapper records the bytes of every page
//! `export_jsonl` asks for, with large messages, and the test checks them against
//! [`EXPORT_PAGE_BYTES`] (pages of messages no larger than the ones before) and
//! [`EXPORT_MAX_PAGE_BYTES`] (any page of valid messages).

use std::sync::Mutex;

use async_trait::async_trait;
use hotplex_storage_core::{
    ChatAppMessage, EXPORT_MAX_PAGE_BYTES, EXPORT_PAGE_BYTES, MessageQuery, ReadOnlyStore, Result,
    SearchHit, SearchQuery, ValidationLimits, WriteOnlyStore, export_jsonl, export_page_limit,
};
use hotplex_storage_memory::MemoryStore;

/// A read-only view of a store that records the bytes and length of every page it returns.
struct PageMeter {
    inner: MemoryStore,
    pages: Mutex<Vec<(usize, u64)>>,
}

#[async_trait]
impl ReadOnlyStore for PageMeter {
    async fn get(&self, message_id: &str) -> Result<ChatAppMessage> {
        self.inner.get(message_id).await
    }

    async fn list(&self, query: &MessageQuery) -> Result<Vec<ChatAppMessage>> {
        let page = self.inner.list(query).await?;
        let bytes = page.iter().map(ChatAppMessage::approx_bytes).sum();
        self.pages.lock().unwrap().push((page.len(), bytes));
        Ok(page)
    }

    async fn count(&self, query: &MessageQuery) -> Result<u64> {
        self.inner.count(query).await
    }

    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>> {
        self.inner.search(query).await
    }
}

/// A message of about `bytes` bytes of content.
fn message(i: usize, bytes: usize) -> ChatAppMessage {
    let fill = char::from(b'a' + u8::try_from(i % 26).unwrap());
    ChatAppMessage::user("s1", fill.to_string().repeat(bytes)).with_id(format!("m{i:05}"))
}

async fn meter(messages: &[ChatAppMessage]) -> PageMeter {
    let inner = MemoryStore::new();
    for chunk in messages.chunks(16) {
        inner.store_batch(chunk).await.unwrap();
    }
    PageMeter {
        inner,
        pages: Mutex::new(Vec::new()),
    }
}

/// A writer that only counts lines (the export's output is not what is measured).
#[derive(Default)]
struct LineCounter(usize);

impl std::io::Write for LineCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.split(|&b| b == b'\n').count() - 1;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Exports everything, checks the output holds every message once, returns the pages.
async fn export_pages(store: &PageMeter, expected: usize) -> Vec<(usize, u64)> {
    let mut out = LineCounter::default();
    let n = export_jsonl(store, &MessageQuery::default(), &mut out)
        .await
        .unwrap();
    assert_eq!(n, expected as u64);
    assert_eq!(out.0, expected);
    store.pages.lock().unwrap().clone()
}

#[tokio::test]
async fn large_messages_stay_within_the_page_budget() {
    // 48 messages of 2 MiB: 96 MiB in all, three times the page budget.
    let messages: Vec<_> = (0..48).map(|i| message(i, 2 * 1024 * 1024)).collect();
    let store = meter(&messages).await;
    let pages = export_pages(&store, messages.len()).await;
    assert!(pages.len() >= 3, "{pages:?}");
    for &(len, bytes) in &pages {
        assert!(
            bytes <= EXPORT_PAGE_BYTES,
            "page of {len} messages holds {bytes} bytes"
        );
    }
    // The first page is sized for the largest valid message; later ones fill the budget.
    assert_eq!(pages[0].0, export_page_limit(largest_valid()));
    assert_eq!(pages[0].0, 7);
    assert!(pages[1].1 > EXPORT_PAGE_BYTES / 2, "{pages:?}");
}

#[tokio::test]
async fn a_run_of_large_messages_after_small_ones_stays_within_the_hard_bound() {
    // Small messages grow the page to its largest size (the first page is sized for the
    // largest valid message, the second for small ones); then every message is large.
    let small = export_page_limit(largest_valid()) + export_page_limit(1);
    let mut messages: Vec<_> = (0..small).map(|i| message(i, 16)).collect();
    messages.extend((small..small + 70).map(|i| message(i, 1024 * 1024)));
    let store = meter(&messages).await;
    let pages = export_pages(&store, messages.len()).await;
    let largest_page = pages.iter().map(|&(_, b)| b).max().unwrap();
    assert!(
        largest_page > EXPORT_PAGE_BYTES,
        "the run after small messages exceeds the soft budget: {pages:?}"
    );
    assert!(largest_page <= EXPORT_MAX_PAGE_BYTES, "{pages:?}");
    // Once a large message has been seen, the pages are back within the soft budget.
    let after = pages
        .iter()
        .skip_while(|&&(_, b)| b <= EXPORT_PAGE_BYTES)
        .skip(1);
    for &(len, bytes) in after {
        assert!(
            bytes <= EXPORT_PAGE_BYTES,
            "page of {len} holds {bytes} bytes"
        );
    }
}

/// The largest `approx_bytes` of a message valid under the default limits: 14 short fields
/// and the content at their limits, metadata of numbers (8 counted bytes per 2 JSON bytes).
fn largest_valid() -> u64 {
    let limits = ValidationLimits::default();
    let metadata_worst = u64::try_from(limits.max_metadata_bytes).unwrap() * 4;
    u64::try_from(limits.max_content_bytes + 14 * limits.max_field_bytes).unwrap() + metadata_worst
}

#[test]
fn the_hard_bound_holds_for_the_largest_valid_message() {
    let largest = largest_valid();
    // Whatever was seen before, a page of messages this large fits the hard bound.
    for seen in [0, 1, 100, 4096, 1 << 20, largest, u64::MAX] {
        let n = u64::try_from(export_page_limit(seen)).unwrap();
        assert!(n >= 1);
        assert!(
            n * largest <= EXPORT_MAX_PAGE_BYTES,
            "seen {seen}: {n} messages"
        );
    }
    // And at the soft budget's edge the page holds exactly budget / largest seen.
    assert_eq!(export_page_limit(EXPORT_PAGE_BYTES), 1);
    assert_eq!(export_page_limit(EXPORT_PAGE_BYTES / 2), 2);
    assert_eq!(export_page_limit(EXPORT_PAGE_BYTES / 2 + 1), 1);
}
