//! Conformance suite and chat-bench workload shared by every hotplex-storage backend.
//!
//! # Conformance
//!
//! [`conformance`](mod@conformance) holds one `async fn` per rule of the store contract (`DESIGN.md` and
//! `docs/semantics.md`): round trips, identity, every query filter, cursors, session metas,
//! soft delete and purges, validation edges, batches, concurrency and lifecycle. Each takes an
//! `Arc<dyn ChatAppMessageStore>` that was just initialised and panics with a clear message
//! when the store breaks the rule. [`CASES`] names them all.
//!
//! A backend runs the whole suite with one macro call in an integration test; it stamps one
//! `#[test]` per case (on a four-worker multi-thread tokio runtime that the testkit brings, so
//! the backend needs no tokio dependency of its own), builds a fresh [`Fixture`] per test from
//! the async factory expression, calls `initialize()` and runs the case:
//!
//! ```no_run
//! // crates/storage-memory/tests/conformance.rs
//! use hotplex_storage_memory::MemoryStore;
//! hotplex_storage_testkit::conformance_suite!(async {
//!     hotplex_storage_testkit::Fixture::new(MemoryStore::new())
//! });
//! # fn main() {}
//! ```
//!
//! Invoke it inside several modules to run the suite against several configurations (a SQLite
//! file and `:memory:`, say); keep per-test resources alive with [`Fixture::with_guard`].
//!
//! # Differential tests
//!
//! [`differential::check`] runs random operation sequences against the in-memory reference
//! model and a backend, comparing every result; proptest shrinks any difference to a minimal
//! sequence.
//!
//! # chat-bench
//!
//! [`bench`](mod@bench) generates the chat-bench workload of `BENCHMARK.md` exactly, runs its workloads
//! against any `Arc<dyn ChatAppMessageStore>`, and prints results as machine-readable lines,
//! a markdown table or JSON.

pub mod bench;
pub mod conformance;
pub mod differential;
mod fixture;
mod postgres_server;

pub use fixture::Fixture;
pub use postgres_server::{PgDatabase, PgServer};

/// The names of every conformance case, in suite order. [`conformance_suite!`] stamps one
/// test per name, and [`conformance`] has one function per name.
pub const CASES: &[&str] = __conformance_cases!(__conformance_names {});

#[doc(hidden)]
pub mod __private {
    //! What the exported macros expand to. Not part of the API.

    use std::future::Future;
    use std::sync::Arc;

    use hotplex_storage_core::ChatAppMessageStore;

    use crate::Fixture;

    pub use tokio;

    /// Runs one conformance case on a fresh four-worker multi-thread runtime: builds the
    /// fixture, initialises the store, runs the case, then drops the fixture.
    ///
    /// # Panics
    /// When the runtime cannot be built, `initialize()` fails, or the case fails.
    pub fn run_case<Factory, FixtureFuture, Case, CaseFuture>(
        name: &str,
        factory: Factory,
        case: Case,
    ) where
        Factory: FnOnce() -> FixtureFuture,
        FixtureFuture: Future,
        FixtureFuture::Output: Into<Fixture>,
        Case: FnOnce(Arc<dyn ChatAppMessageStore>) -> CaseFuture,
        CaseFuture: Future<Output = ()>,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{name}: cannot build a tokio runtime: {e}"));
        runtime.block_on(async {
            let fixture: Fixture = factory().await.into();
            if let Err(e) = fixture.store.initialize().await {
                panic!("{name}: initialize() failed: {e}");
            }
            case(Arc::clone(&fixture.store)).await;
            drop(fixture);
        });
    }
}

/// Stamps one `#[test]` per conformance case (see [`CASES`]) into the current module.
///
/// `$factory` is an async expression evaluating to a [`Fixture`] (or to a store, which is
/// wrapped with [`Fixture::new`]); it is evaluated anew, inside the test's runtime, for every
/// test. Each test builds the fixture, calls `initialize()` (which must succeed) and runs the
/// case named like the test on a four-worker multi-thread tokio runtime.
///
/// ```no_run
/// # use hotplex_storage_memory::MemoryStore as MyStore;
/// mod on_file {
///     # use super::MyStore;
///     hotplex_storage_testkit::conformance_suite!(async {
///         let dir = tempfile::tempdir().unwrap();
///         let store = MyStore::new(); // e.g. a store opening dir.path().join("chat.db")
///         hotplex_storage_testkit::Fixture::with_guard(store, dir)
///     });
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! conformance_suite {
    ($factory:expr $(,)?) => {
        $crate::__conformance_cases!(__conformance_tests { $factory });
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ({ $factory:expr } $($case:ident,)*) => {
        $(
            #[test]
            fn $case() {
                $crate::__private::run_case(
                    ::core::stringify!($case),
                    || $factory,
                    $crate::conformance::$case,
                );
            }
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_names {
    ({} $($case:ident,)*) => {
        &[$(::core::stringify!($case)),*]
    };
}

/// The one list of conformance cases; both [`CASES`] and [`conformance_suite!`] expand it.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($callback:ident { $($args:tt)* }) => {
        $crate::$callback! {
            { $($args)* }
            round_trip_every_field,
            metadata_numbers_round_trip_exactly,
            timestamps_truncated_to_micros,
            caller_created_at_kept,
            generated_ids_are_unique_uuidv7,
            caller_ids_kept,
            seq_strictly_increasing,
            restore_existing_id_is_already_stored,
            restore_after_soft_delete_not_resurrected,
            user_and_bot_writes_behave_the_same,
            unicode_round_trip,
            empty_content_allowed,
            metadata_value_types_round_trip,
            defaults_round_trip,
            filter_by_session,
            filter_by_user,
            filter_by_engine_session_id,
            filter_by_provider_type,
            filter_by_provider_session_id,
            filter_start_time_inclusive,
            filter_end_time_inclusive,
            filter_time_range,
            filter_time_bounds_below_a_microsecond,
            filter_single_message_type,
            filter_multiple_message_types,
            filters_combined,
            empty_store_lists_nothing,
            list_limit,
            list_offset,
            list_limit_and_offset,
            order_by_created_at,
            order_ties_broken_by_seq,
            include_deleted_in_list_and_count,
            count_ignores_paging,
            invalid_query_time_range,
            invalid_query_cursor_window,
            invalid_query_filter_values,
            cursor_forward_paging_shared_timestamp,
            cursor_backward_paging_shared_timestamp,
            cursor_paging_mixed_timestamps,
            cursor_window_after_and_before,
            cursor_direction_independent,
            cursor_with_filters,
            session_meta_after_stores,
            session_meta_last_follows_newest,
            session_meta_fills_empty_platform_and_user,
            session_meta_unknown_is_not_found,
            session_meta_gone_after_delete_session,
            session_meta_fresh_after_restore_into_deleted_session,
            stored_deleted_message_creates_no_meta,
            list_user_sessions_most_recent_first,
            list_user_sessions_isolation,
            list_user_sessions_excludes_deleted,
            list_user_sessions_late_user,
            get_absent_is_not_found,
            get_deleted_is_not_found,
            delete_session_counts,
            delete_session_marks_rows,
            purge_session_removes_everything,
            purge_deleted_before_strict_cutoff,
            purge_deleted_before_leaves_live,
            purge_messages_before_strict_cutoff,
            purge_messages_before_keeps_session_meta_exact,
            purge_messages_before_removes_deleted_rows_too,
            retention_policy_applies_both_limits,
            backup_to_writes_every_message,
            retention_and_backup_fail_when_closed,
            search_ascii_case_insensitive_substrings,
            search_every_term_must_occur,
            search_unicode_case_folding,
            search_chinese_terms_of_every_length,
            search_japanese_and_emoji,
            search_metacharacters_are_literal,
            search_filters,
            search_cursor_paging_newest_first,
            search_never_finds_deleted_or_purged,
            search_snippet_around_first_match,
            search_limits_and_invalid_queries,
            search_hostile_text_and_closed_store,
            content_size_limit_edge,
            session_id_length_edge,
            short_field_length_edge,
            empty_session_id_rejected,
            empty_message_type_rejected,
            nul_in_content_rejected,
            nul_in_short_field_rejected,
            nul_in_nested_metadata_rejected,
            nul_in_metadata_key_rejected,
            metadata_size_limit_edge,
            metadata_depth_limit_edge,
            deleted_at_on_live_message_rejected,
            hostile_strings_stored_and_matched_faithfully,
            ten_thousand_sessions_for_one_user,
            batch_is_atomic,
            batch_receipts_in_order,
            batch_duplicate_id_inside,
            batch_with_already_stored_id,
            batch_empty,
            batch_updates_session_meta,
            concurrent_writers_one_session,
            concurrent_writers_many_sessions,
            concurrent_restore_same_id,
            concurrent_batches_visible_atomically,
            close_then_every_call_fails,
            closed_store_answers_closed_before_validating_input,
            closed_store_is_unhealthy,
            health_check_healthy_when_open,
            metrics_counts,
            name_and_version,
            initialize_is_idempotent,
        }
    };
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::CASES;

    /// Every `pub async fn` of the conformance modules is a listed case, and every listed
    /// case is one of them: none can be forgotten by the macro.
    #[test]
    fn cases_match_the_conformance_functions() {
        let sources = [
            include_str!("conformance/hostile.rs"),
            include_str!("conformance/write.rs"),
            include_str!("conformance/query.rs"),
            include_str!("conformance/cursor.rs"),
            include_str!("conformance/session.rs"),
            include_str!("conformance/validation.rs"),
            include_str!("conformance/batch.rs"),
            include_str!("conformance/concurrency.rs"),
            include_str!("conformance/lifecycle.rs"),
            include_str!("conformance/retention.rs"),
            include_str!("conformance/search.rs"),
        ];
        let defined: BTreeSet<&str> = sources
            .iter()
            .flat_map(|src| src.lines())
            .filter_map(|line| line.strip_prefix("pub async fn "))
            .filter_map(|rest| rest.split('(').next())
            .collect();
        let listed: BTreeSet<&str> = CASES.iter().copied().collect();
        assert_eq!(listed.len(), CASES.len(), "CASES has duplicates");
        assert_eq!(
            defined, listed,
            "CASES and the conformance functions differ"
        );
        assert!(CASES.len() >= 60, "the suite has {} cases", CASES.len());
    }

    #[test]
    fn the_module_list_covers_every_source_file() {
        let files: BTreeSet<String> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/conformance"))
                .expect("read src/conformance")
                .map(|e| {
                    e.expect("dir entry")
                        .file_name()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
        let known: BTreeSet<String> = [
            "mod.rs",
            "support.rs",
            "hostile.rs",
            "write.rs",
            "query.rs",
            "cursor.rs",
            "session.rs",
            "validation.rs",
            "batch.rs",
            "concurrency.rs",
            "lifecycle.rs",
            "retention.rs",
            "search.rs",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(
            files, known,
            "a conformance file is missing from the CASES check"
        );
    }
}
