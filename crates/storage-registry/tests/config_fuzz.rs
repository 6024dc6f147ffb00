//! Fuzzing configuration parsing with proptest: arbitrary text as YAML, YAML documents built
//! from the real keys with hostile values, and arbitrary values for every
//! `HOTPLEX_MESSAGE_STORE_*` variable. Parsing never panics; a rejected input is an
//! `InvalidConfig` naming a `message_store` key path (or the variable it came from).
//!
//! `PROPTEST_CASES` sets the number of cases (default 256 here); `cargo xtask fuzz` runs many
//! more.

use hotplex_storage_core::StorageError;
use hotplex_storage_registry::{StorageConfig, env_name};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256)
}

/// Every key below `message_store` (from the sections' definitions).
fn keys() -> Vec<String> {
    StorageConfig::new().keys()
}

/// A rejected configuration must be a typed config error naming where it came from.
fn check_error(err: &StorageError) -> Result<(), TestCaseError> {
    match err {
        StorageError::InvalidConfig { key, reason } => {
            prop_assert!(
                key.starts_with("message_store") || key.starts_with("HOTPLEX_MESSAGE_STORE_"),
                "key {key:?} ({reason})"
            );
            prop_assert!(!reason.is_empty());
        }
        StorageError::Io { .. } => {}
        other => prop_assert!(false, "unexpected error kind: {other:?}"),
    }
    Ok(())
}

/// A scalar that stresses YAML and the value parsers.
fn hostile_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        Just(String::new()),
        Just("~".to_owned()),
        Just("null".to_owned()),
        Just("-1".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("1e309".to_owned()),
        Just("NaN".to_owned()),
        Just("5m5m".to_owned()),
        Just("999999999999d".to_owned()),
        Just("${UNDEFINED}".to_owned()),
        Just("${".to_owned()),
        Just("[1, 2".to_owned()),
        Just("{a: b}".to_owned()),
        Just("'quoted".to_owned()),
        Just("&anchor *anchor".to_owned()),
        Just("!!binary aGk=".to_owned()),
        "[0-9]{1,25}(ms|s|m|h|d)?",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        if let Err(e) = StorageConfig::from_yaml_str(&text) {
            check_error(&e)?;
        }
    }

    #[test]
    fn real_keys_with_hostile_values_never_panic(
        picks in prop::collection::vec((0..keys().len(), hostile_value()), 1..6)
    ) {
        let keys = keys();
        let mut yaml = String::from("message_store:\n");
        for (index, value) in &picks {
            let path = keys[*index].as_str();
            let quoted = serde_json::to_string(value).expect("a string serialises");
            match path.split_once('.') {
                Some((section, key)) => {
                    yaml.push_str(&["  ", section, ":\n    ", key, ": ", &quoted, "\n"].concat());
                }
                None => yaml.push_str(&["  ", path, ": ", &quoted, "\n"].concat()),
            }
        }
        match StorageConfig::from_yaml_str(&yaml) {
            Ok(cfg) => {
                // What parsed is internally consistent: a second validation agrees.
                if let Err(e) = cfg.validate() {
                    check_error(&e)?;
                }
            }
            Err(e) => check_error(&e)?,
        }
    }

    #[test]
    fn hostile_environment_values_never_panic(
        index in 0..keys().len(),
        value in hostile_value()
    ) {
        let name = env_name(&keys()[index]);
        let result = StorageConfig::new().with_env(|k| (k == name).then(|| value.clone()));
        if let Err(e) = result {
            check_error(&e)?;
        }
    }
}
