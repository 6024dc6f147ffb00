//! The bad-input corpus: every file of `tests/data/import-corpus/` (malformed, truncated and
//! hostile JSON Lines and Go array exports) is imported into a fresh store, and its outcome
//! must be the one `EXPECTED` records for it: `ok` or a typed `Data` error, how many
//! messages were imported and already present, and which lines (elements) were rejected.
//!
//! Beyond the manifest, for every file: nothing panics; every stored message is valid and is
//! a faithful copy of its input record; no rejected record is stored (nothing half-written);
//! and a second import adds nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hotplex_storage_core::{
    ChatAppMessage, ImportReport, MessageQuery, ReadOnlyStore, StorageError, import_jsonl,
    validate_message,
};
use hotplex_storage_memory::MemoryStore;
use serde_json::Value;

/// What `EXPECTED` says about one file.
#[derive(Debug, PartialEq, Eq)]
struct Expected {
    ok: bool,
    imported: u64,
    already_present: u64,
    rejected: Vec<u64>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/import-corpus")
}

fn manifest() -> BTreeMap<String, Expected> {
    let text = std::fs::read_to_string(corpus_dir().join("EXPECTED")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(cols.len(), 5, "bad EXPECTED line: {l}");
            let number = |s: &str| s.split_once('=').unwrap().1.parse::<u64>().unwrap();
            let rejected = cols[4].strip_prefix("rejected=").unwrap();
            let expected = Expected {
                ok: match cols[1] {
                    "ok" => true,
                    "error" => false,
                    other => panic!("outcome {other} in {l}"),
                },
                imported: number(cols[2]),
                already_present: number(cols[3]),
                rejected: if rejected == "-" {
                    Vec::new()
                } else {
                    rejected.split(',').map(|n| n.parse().unwrap()).collect()
                },
            };
            (cols[0].to_owned(), expected)
        })
        .collect()
}

/// Every message in `store`, soft-deleted ones included, by id.
async fn stored(store: &MemoryStore) -> BTreeMap<String, ChatAppMessage> {
    let all = store
        .list(&MessageQuery::default().with_include_deleted(true))
        .await
        .unwrap();
    all.into_iter().map(|m| (m.id.clone(), m)).collect()
}

/// The records of a file that parse as JSON objects, with their 1-based line (element) number.
fn records(bytes: &[u8], go: bool) -> Vec<(u64, Value)> {
    // The import skips a leading UTF-8 byte order mark; so does this reference reading.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if go {
        let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(bytes) else {
            // Broken array syntax: the parseable prefix is checked through the stored ids.
            return Vec::new();
        };
        (1..).zip(items).collect()
    } else {
        (1..)
            .zip(bytes.split(|&b| b == b'\n'))
            .filter_map(|(n, line)| Some((n, serde_json::from_slice::<Value>(line).ok()?)))
            .collect()
    }
}

/// The id a record names, if it is an object with a string id.
fn record_id(record: &Value, go: bool) -> Option<&str> {
    record.get(if go { "ID" } else { "id" })?.as_str()
}

/// Checks `message` against the JSON `record` it was imported from.
fn assert_faithful(file: &str, message: &ChatAppMessage, record: &Value, go: bool) {
    let text = |json: &str, go_name: &str| {
        record
            .get(if go { go_name } else { json })
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(
        message.chat_session_id,
        text("chat_session_id", "ChatSessionID"),
        "{file}"
    );
    assert_eq!(message.content, text("content", "Content"), "{file}");
    assert_eq!(
        message.from_user_name,
        text("from_user_name", "FromUserName"),
        "{file}"
    );
    assert_eq!(
        message.chat_platform,
        text("chat_platform", "ChatPlatform"),
        "{file}"
    );
    let deleted = record.get(if go { "Deleted" } else { "deleted" });
    assert_eq!(
        message.deleted,
        deleted == Some(&Value::Bool(true)),
        "{file}"
    );
    let metadata = record.get(if go { "Metadata" } else { "metadata" });
    match metadata {
        Some(Value::Object(map)) => assert_eq!(&message.metadata, map, "{file}"),
        _ => assert!(message.metadata.is_empty(), "{file}"),
    }
    if !go && let Ok(parsed) = serde_json::from_value::<ChatAppMessage>(record.clone()) {
        // Every field of the record, except what the store assigns; stores keep timestamps
        // to the microsecond (semantics.md).
        let micros = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.and_then(|t| chrono::DateTime::from_timestamp_micros(t.timestamp_micros()))
        };
        let expected = ChatAppMessage {
            seq: message.seq,
            created_at: micros(parsed.created_at).or(message.created_at),
            updated_at: micros(parsed.updated_at).or(message.updated_at),
            deleted_at: micros(parsed.deleted_at).or(message.deleted_at),
            ..parsed
        };
        assert_eq!(message, &expected, "{file}");
    }
}

/// Imports one corpus file and checks everything but the manifest; returns what happened.
async fn import_file(path: &Path) -> (Expected, Vec<u8>) {
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let bytes = std::fs::read(path).unwrap();
    let go = file.starts_with("go_");
    let store = MemoryStore::new();
    let outcome = import_jsonl(&store, bytes.as_slice()).await;
    let report = match &outcome {
        Ok(report) => report.clone(),
        Err(StorageError::Data { message, .. }) => {
            assert!(message.contains("imported"), "{file}: {message}");
            ImportReport::default()
        }
        Err(other) => panic!("{file}: not a typed data error: {other:?}"),
    };
    let messages = stored(&store).await;
    let records = records(&bytes, go);
    let rejected: BTreeSet<u64> = report.rejected.iter().map(|r| r.line).collect();
    for message in messages.values() {
        validate_message(message).unwrap_or_else(|e| panic!("{file}: stored invalid: {e}"));
        if let Some((_, record)) = records
            .iter()
            .find(|(n, r)| !rejected.contains(n) && record_id(r, go) == Some(&message.id))
        {
            assert_faithful(&file, message, record, go);
        } else {
            assert!(
                records.is_empty(),
                "{file}: stored {:?}, which no accepted record holds",
                message.id
            );
            let id = serde_json::to_string(&message.id).unwrap();
            assert!(
                bytes.windows(id.len()).any(|w| w == id.as_bytes()),
                "{file}: stored {:?}, which the input does not hold",
                message.id
            );
        }
    }
    // No rejected record is stored, unless an accepted record has the same id.
    let accepted_ids: BTreeSet<&str> = records
        .iter()
        .filter(|(n, _)| !rejected.contains(n))
        .filter_map(|(_, r)| record_id(r, go))
        .collect();
    for (n, record) in &records {
        if rejected.contains(n)
            && let Some(id) = record_id(record, go)
            && !accepted_ids.contains(id)
        {
            assert!(
                !messages.contains_key(id),
                "{file}: rejected line {n} was stored"
            );
        }
    }
    if outcome.is_ok() {
        assert_eq!(messages.len() as u64, report.imported, "{file}: {report:?}");
    }
    // A second import adds nothing and fails the same way.
    let again = import_jsonl(&store, bytes.as_slice()).await;
    assert_eq!(again.is_ok(), outcome.is_ok(), "{file}");
    if let Ok(again) = again {
        assert_eq!(again.imported, 0, "{file}: {again:?}");
        assert_eq!(again.rejected, report.rejected, "{file}");
    }
    assert_eq!(
        stored(&store).await,
        messages,
        "{file}: the second import changed the store"
    );
    let summary = Expected {
        ok: outcome.is_ok(),
        imported: if outcome.is_ok() {
            report.imported
        } else {
            messages.len() as u64
        },
        already_present: report.already_present,
        rejected: report.rejected.iter().map(|r| r.line).collect(),
    };
    (summary, bytes)
}

#[tokio::test]
async fn every_corpus_file_imports_as_expected() {
    let expected = manifest();
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "EXPECTED")
        .collect();
    files.sort();
    assert!(files.len() >= 30, "{} files", files.len());
    let mut mismatches = Vec::new();
    let mut seen = BTreeSet::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (actual, _) = import_file(path).await;
        let rejected = if actual.rejected.is_empty() {
            "-".to_owned()
        } else {
            actual
                .rejected
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let line = format!(
            "{name} {} imported={} already={} rejected={rejected}",
            if actual.ok { "ok" } else { "error" },
            actual.imported,
            actual.already_present
        );
        match expected.get(&name) {
            Some(e) if *e == actual => {}
            _ => mismatches.push(line),
        }
        seen.insert(name);
    }
    let missing: Vec<_> = expected.keys().filter(|k| !seen.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "EXPECTED names files that do not exist: {missing:?}"
    );
    assert!(
        mismatches.is_empty(),
        "outcomes differ from EXPECTED (actual lines follow):\n{}",
        mismatches.join("\n")
    );
}
