//! chat-bench: the workload of `BENCHMARK.md`, generic runners, and result formatting.
//!
//! - [`Workload`] generates exactly the benchmark's data: `S` sessions × `T` turns, each turn
//!   a `user_input` then a `final_response`, deterministic content of known byte length.
//! - [`stream_chunks`] generates the W2 token chunks (4–16 bytes each).
//! - [`run_w1`], [`run_w1b`], [`run_w3`] and [`run_w4`] run the workloads against any
//!   `Arc<dyn ChatAppMessageStore>` and return [`BenchResult`]s; [`fill`] appends to a W4
//!   database.
//! - [`run_w5`] runs W5's searches ([`SearchOp`]) beside a backend's hand-written
//!   [`SearchFloor`], and checks both found the same messages; [`scale_ratios`] gives W4's
//!   and W5's 1M / 10k.
//! - [`BenchResult::line`], [`table`] and [`to_json`] print them in the `BENCHMARK.md` forms;
//!   [`machine_summary`] and [`peak_rss_bytes`] describe what was measured.
//! - [`BenchArgs`] parses the command line every chat-bench target shares.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn hotplex_storage_core::ChatAppMessageStore>)
//! # -> hotplex_storage_core::Result<()> {
//! use hotplex_storage_testkit::bench::{self, Mode, Workload};
//! let workload = Workload::default(); // 1,000 sessions × 20 turns = 40,000 messages
//! let mut results = vec![bench::run_w1(store.clone(), &workload, Mode::Seq).await?];
//! results.extend(bench::run_w3(store, &workload, 5_000, bench::DEFAULT_SEED).await?);
//! for r in &results {
//!     println!("{}", r.line());
//! }
//! println!("{}", bench::table(&results));
//! println!("{}", bench::machine_summary());
//! # Ok(())
//! # }
//! ```

mod args;
mod machine;
mod report;
mod rng;
mod run;
mod scale;
mod search;
mod workload;

pub use args::BenchArgs;
pub use machine::{Machine, machine_summary, peak_rss_bytes};
pub use report::{BenchResult, ScaleRatio, fmt_ratio, scale_ratios, table, to_json};
pub use rng::SplitMix64;
pub use run::{
    DEFAULT_SEED, Mode, ReadDraws, ReadOp, reads_result, run_reads, run_spawn_blocking_hop, run_w1,
    run_w1b, run_w3, run_w4, store_each,
};
pub use scale::{FILL_BATCH, SCALE_SIZES, SCALE_SMOKE_SIZES, fill, scale_sizes};
pub use search::{
    SearchFloor, SearchOp, SearchScope, SearchTerm, TermCounts, W5_LIMIT, W5_SLICE, W5Options,
    like_floor_args, median_ratio, print_w5_table, run_w5, w5_table,
};
pub use workload::{
    GREETING, GREETING_EVERY, NEEDLE, NEEDLE_MESSAGES, PLATFORM, RARE_WORD, RARE_WORD_EVERY,
    W2_CHUNKS_PER_STREAM, W2_STREAMS, Workload, content, content_len, messages_containing,
    stream_chunks,
};
