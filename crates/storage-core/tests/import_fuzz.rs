//! Fuzzing the import parser with proptest: arbitrary bytes, and valid JSON Lines and Go
//! exports with bytes flipped, cut, inserted or removed. Whatever the input, `import_jsonl`
//! never panics, answers `Ok` with a consistent report or a `Data`/`Io` error (only for a Go
//! export's broken array syntax), and everything it stored is a valid, readable message.
//!
//! `PROPTEST_CASES` sets the number of cases (default 256 here); `cargo xtask fuzz` runs many
//! more. A failing input is kept by proptest under `proptest-regressions/` and replayed first.

use hotplex_storage_core::{
    ChatAppMessage, MessageQuery, ReadOnlyStore, StorageError, validate_message,
};
use hotplex_storage_memory::MemoryStore;
use proptest::prelude::*;

/// A valid export of a few messages: JSON Lines, or the Go array format.
fn valid_input(go: bool) -> Vec<u8> {
    let msgs: Vec<ChatAppMessage> = (0..4)
        .map(|i| {
            ChatAppMessage::user(format!("s{}", i % 2), format!("hello {i} 你好 \"q\" \\"))
                .with_id(format!("m{i}"))
                .with_metadata_entry("n", i)
        })
        .collect();
    if go {
        let elements: Vec<String> = msgs
            .iter()
            .map(|m| {
                format!(
                    r#"{{"ID":"{}","ChatSessionID":"{}","MessageType":"user_input","Content":{},"Metadata":{{"n":1}}}}"#,
                    m.id,
                    m.chat_session_id,
                    serde_json::to_string(&m.content).unwrap()
                )
            })
            .collect();
        format!("[\n  {}\n]\n", elements.join(",\n  ")).into_bytes()
    } else {
        msgs.iter()
            .map(|m| serde_json::to_string(m).unwrap() + "\n")
            .collect::<String>()
            .into_bytes()
    }
}

/// One edit of an input.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Cut(usize),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Flip(at, b)),
        any::<usize>().prop_map(Edit::Cut),
        (
            any::<usize>(),
            prop::collection::vec(
                prop_oneof![
                    Just(b'['),
                    Just(b']'),
                    Just(b'{'),
                    Just(b'}'),
                    Just(b'"'),
                    Just(b'\\'),
                    Just(b','),
                    Just(b'\n'),
                    Just(b'n'),
                    Just(0u8),
                    any::<u8>()
                ],
                1..8
            )
        )
            .prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        (any::<usize>(), 1usize..16).prop_map(|(at, n)| Edit::Remove(at, n)),
    ]
}

fn apply(mut input: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = input.len().max(1);
        match edit {
            Edit::Flip(at, b) => {
                if !input.is_empty() {
                    let at = at % input.len();
                    input[at] ^= b | 1;
                }
            }
            Edit::Cut(at) => input.truncate(at % len),
            Edit::Insert(at, bytes) => {
                let at = at % (input.len() + 1);
                input.splice(at..at, bytes.iter().copied());
            }
            Edit::Remove(at, n) => {
                if !input.is_empty() {
                    let at = at % input.len();
                    let end = (at + n).min(input.len());
                    input.drain(at..end);
                }
            }
        }
    }
    input
}

/// Imports `input` and checks the contract; returns a description of a violation, if any.
fn check(input: &[u8]) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = MemoryStore::new();
        match hotplex_storage_core::import_jsonl(&store, input).await {
            Ok(report) => {
                let stored = store
                    .count(&MessageQuery::default().with_include_deleted(true))
                    .await
                    .expect("count");
                prop_assert_eq!(stored, report.imported, "{:?}", report);
                for r in &report.rejected {
                    prop_assert!(r.line >= 1, "line numbers start at 1: {:?}", r);
                    prop_assert!(!r.reason.is_empty());
                }
            }
            Err(StorageError::Data { .. } | StorageError::Io { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error kind: {other:?}"),
        }
        let all = store
            .list(&MessageQuery::default().with_include_deleted(true))
            .await
            .expect("list");
        for msg in all {
            let mut check = msg.clone();
            check.seq = 0;
            prop_assert!(
                validate_message(&check).is_ok() || msg.deleted,
                "stored an invalid message: {:?}",
                msg
            );
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..2048)) {
        check(&input)?;
    }

    #[test]
    fn edited_exports_never_panic(go in any::<bool>(), edits in prop::collection::vec(edit(), 0..6)) {
        let input = apply(valid_input(go), &edits);
        check(&input)?;
    }
}

#[test]
fn the_unedited_inputs_import_fully() {
    for go in [false, true] {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let report = runtime.block_on(async {
            let store = MemoryStore::new();
            hotplex_storage_core::import_jsonl(&store, &valid_input(go)[..])
                .await
                .unwrap()
        });
        assert_eq!(report.imported, 4, "go={go}: {report:?}");
        assert!(report.rejected.is_empty(), "{report:?}");
    }
}
