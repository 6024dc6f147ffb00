//! Peak resident memory of an export: exporting 120 MiB of large messages raises the process's
//! high-water mark by at most one export page (`EXPORT_PAGE_BYTES`) plus a fixed allowance for
//! one serialised line and the allocator, not by the size of the data.
//!
//! Linux only (`/proc/self/clear_refs` resets `VmHWM`). One test in its own binary, so no other
//! test's allocations run beside it.

#![cfg(target_os = "linux")]

use hotplex_storage_core::{
    ChatAppMessage, EXPORT_PAGE_BYTES, MessageQuery, WriteOnlyStore, export_jsonl,
};
use hotplex_storage_memory::MemoryStore;

/// A `/proc/self/status` field in bytes (the kernel reports kB).
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a number in {line:?}"));
    kb * 1024
}

#[test]
fn exporting_large_messages_holds_one_page_not_the_table() {
    const MESSAGES: usize = 60;
    const CONTENT: usize = 2 * 1024 * 1024;
    /// One serialised 2 MiB line, its escaping and the allocator's own slack.
    const ALLOWANCE: u64 = 16 * 1024 * 1024;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = MemoryStore::new();
    runtime.block_on(async {
        for i in 0..MESSAGES {
            let content = char::from(b'a' + u8::try_from(i % 26).unwrap())
                .to_string()
                .repeat(CONTENT);
            store
                .store_user_message(&ChatAppMessage::user("s", content).with_id(format!("m{i}")))
                .await
                .unwrap();
        }
    });
    // Reset the high-water mark to the current resident set (the 120 MiB store included).
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let before = status_bytes("VmRSS:");
    let written = runtime.block_on(async {
        export_jsonl(&store, &MessageQuery::default(), &mut std::io::sink())
            .await
            .unwrap()
    });
    assert_eq!(written, MESSAGES as u64);
    let peak = status_bytes("VmHWM:");
    let grown = peak.saturating_sub(before);
    let bound = EXPORT_PAGE_BYTES + ALLOWANCE;
    assert!(
        grown <= bound,
        "exporting {} MiB raised peak RSS by {} MiB (bound {} MiB)",
        (MESSAGES * CONTENT) >> 20,
        grown >> 20,
        bound >> 20
    );
}
