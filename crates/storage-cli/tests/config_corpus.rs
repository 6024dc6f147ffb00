//! The malformed-configuration corpus: every YAML file of `tests/data/config-corpus/` is
//! parsed with `StorageConfig::from_yaml_file`, and its outcome must be the one `EXPECTED`
//! records: `ok`, `invalid <key path>` (an `InvalidConfig` naming that key) or `io` (a file
//! that is not UTF-8). Nothing may panic. Hostile environment values are checked the same
//! way through `StorageConfig::with_env` with an injected lookup: each is an `InvalidConfig`
//! naming the variable or its key path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hotplex_storage_core::StorageError;
use hotplex_storage_registry::StorageConfig;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config-corpus")
}

/// The outcome of parsing, as `EXPECTED` writes it.
fn outcome(result: &Result<StorageConfig, StorageError>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(StorageError::InvalidConfig { key, .. }) => format!("invalid {key}"),
        Err(StorageError::Io { .. }) => "io".to_owned(),
        Err(other) => panic!("not a typed configuration error: {other:?}"),
    }
}

#[test]
fn every_config_corpus_file_parses_as_expected() {
    let text = std::fs::read_to_string(corpus_dir().join("EXPECTED")).unwrap();
    let expected: BTreeMap<&str, &str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_once(' ').unwrap_or((l, "")))
        .collect();
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "{} files", files.len());
    let mut mismatches = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let result = std::panic::catch_unwind(|| StorageConfig::from_yaml_file(path))
            .unwrap_or_else(|_| panic!("{name}: parsing panicked"));
        if let Err(StorageError::InvalidConfig { reason, .. }) = &result {
            assert!(
                reason.contains(&name),
                "{name}: the file is named: {reason}"
            );
        }
        let actual = outcome(&result);
        if expected.get(name.as_str()) != Some(&actual.as_str()) {
            mismatches.push(format!("{name} {actual}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "outcomes differ from EXPECTED (actual lines follow):\n{}",
        mismatches.join("\n")
    );
    assert_eq!(
        expected.len(),
        files.len(),
        "EXPECTED lists every file once"
    );
}

/// Hostile values that `with_env` accepts: they are rejected later, when the store is opened
/// (`hostile_values_rejected_when_opened`).
const ACCEPTED_BY_WITH_ENV: &[&str] = &[
    "HOTPLEX_MESSAGE_STORE_TYPE=\"sqlite\\0\"",
    "HOTPLEX_MESSAGE_STORE_TYPE=\"' OR 1=1 --\"",
];

#[test]
fn hostile_values_rejected_when_opened() {
    for store_type in ["sqlite\0", "' OR 1=1 --"] {
        let config = StorageConfig::default()
            .with_env(|k| match k {
                "HOME" => Some("/home/hx".to_owned()),
                "HOTPLEX_MESSAGE_STORE_TYPE" => Some(store_type.to_owned()),
                _ => None,
            })
            .unwrap();
        let err = hotplex_storage_registry::build(&config)
            .err()
            .unwrap_or_else(|| panic!("type {store_type:?} was built"));
        assert!(err.is_config_error(), "{store_type:?}: {err:?}");
    }
    let parsed = StorageConfig::from_yaml_file(corpus_dir().join("bad_type_name.yaml")).unwrap();
    let err = hotplex_storage_registry::build(&parsed)
        .err()
        .expect("refused");
    assert!(err.is_config_error(), "{err:?}");
}

#[test]
fn hostile_environment_values_are_typed_errors_naming_the_variable() {
    let cases: &[(&str, &str)] = &[
        ("HOTPLEX_MESSAGE_STORE_TYPE", "sqlite\0"),
        ("HOTPLEX_MESSAGE_STORE_TYPE", "' OR 1=1 --"),
        ("HOTPLEX_MESSAGE_STORE_SQLITE_MAX_SIZE_MB", "-1"),
        ("HOTPLEX_MESSAGE_STORE_SQLITE_MAX_SIZE_MB", "1e999"),
        (
            "HOTPLEX_MESSAGE_STORE_SQLITE_MAX_SIZE_MB",
            "99999999999999999999999",
        ),
        (
            "HOTPLEX_MESSAGE_STORE_SQLITE_SYNCHRONOUS",
            "FULL; PRAGMA writable_schema=1",
        ),
        ("HOTPLEX_MESSAGE_STORE_STREAMING_TIMEOUT", "-5m"),
        ("HOTPLEX_MESSAGE_STORE_STREAMING_TIMEOUT", "5"),
        ("HOTPLEX_MESSAGE_STORE_RETRY_MULTIPLIER", "NaN"),
        ("HOTPLEX_MESSAGE_STORE_RETRY_MULTIPLIER", "inf"),
        ("HOTPLEX_MESSAGE_STORE_RETRY_MAX_ATTEMPTS", ""),
        ("HOTPLEX_MESSAGE_STORE_ENABLED", "yes please"),
        (
            "HOTPLEX_MESSAGE_STORE_SQLITE_PATH",
            "${NOT_SET_ANYWHERE_HX}/x.db",
        ),
    ];
    let mut accepted = Vec::new();
    for &(var, value) in cases {
        let lookup = |k: &str| match k {
            "HOME" => Some("/home/hx".to_owned()),
            _ => (k == var).then(|| value.to_owned()),
        };
        let result = std::panic::catch_unwind(|| StorageConfig::default().with_env(lookup))
            .unwrap_or_else(|_| panic!("{var}={value:?} panicked"));
        match result {
            Ok(_) => accepted.push(format!("{var}={value:?}")),
            Err(StorageError::InvalidConfig { key, reason }) => assert!(
                key.contains(var) || reason.contains(var) || key.starts_with("message_store."),
                "{var}={value:?}: {key}: {reason}"
            ),
            Err(other) => panic!("{var}={value:?}: not a typed configuration error: {other:?}"),
        }
    }
    assert_eq!(accepted, ACCEPTED_BY_WITH_ENV, "values with_env accepts");
}
