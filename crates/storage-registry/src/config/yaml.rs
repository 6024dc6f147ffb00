//! The YAML form of the configuration: the `message_store:` block read into a [`ConfigNode`]
//! tree. This is the only module that knows `serde_yaml`; swapping it (for `serde_norway`, say)
//! is a change here only. What the keys mean is decided by the sections' serde definitions.

use std::collections::BTreeMap;

use hotplex_storage_core::config::{ConfigNode, ConfigValue, Origin};
use hotplex_storage_core::{Result, StorageError};

use super::ROOT;

/// The `message_store:` block of `text` (`None` when it is empty). A document without the
/// block, bad YAML, or a block that is not a mapping is `InvalidConfig` on `message_store`.
pub(super) fn message_store(text: &str) -> Result<Option<ConfigNode>> {
    let document: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| yaml_error(&e))?;
    let Some(block) = document.as_mapping().and_then(|m| m.get(ROOT)) else {
        return Err(StorageError::invalid_config(
            ROOT,
            "missing: the file has no `message_store:` mapping",
        ));
    };
    let node = to_node(block, ROOT)?;
    match node.value {
        ConfigValue::Null => Ok(None),
        ConfigValue::Map(_) => Ok(Some(node)),
        _ => Err(StorageError::invalid_config(
            ROOT,
            "invalid type: expected a mapping of settings",
        )),
    }
}

/// `value` as a node from the file; `path` names it in errors.
fn to_node(value: &serde_yaml::Value, path: &str) -> Result<ConfigNode> {
    use serde_yaml::Value;
    let value = match value {
        Value::Null => ConfigValue::Null,
        Value::Bool(b) => ConfigValue::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => ConfigValue::Int(i128::from(i)),
            (None, Some(u), _) => ConfigValue::Int(i128::from(u)),
            (None, None, Some(f)) => ConfigValue::Float(f),
            (None, None, None) => {
                return Err(StorageError::invalid_config(path, "not a number"));
            }
        },
        Value::String(s) => ConfigValue::Text(s.clone()),
        Value::Sequence(items) => ConfigValue::List(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| to_node(item, &format!("{path}[{i}]")))
                .collect::<Result<_>>()?,
        ),
        Value::Mapping(map) => {
            let mut entries = BTreeMap::new();
            for (key, item) in map {
                let Some(key) = key.as_str() else {
                    return Err(StorageError::invalid_config(
                        path,
                        format!("a key must be text, not {key:?}"),
                    ));
                };
                let child = to_node(item, &format!("{path}.{key}"))?;
                entries.insert(key.to_owned(), child);
            }
            ConfigValue::Map(entries)
        }
        Value::Tagged(tagged) => return to_node(&tagged.value, path),
    };
    Ok(ConfigNode::new(value, Origin::File))
}

/// `InvalidConfig` for a `serde_yaml` error: the key is the path `serde_yaml` reports, plus the
/// offending field of an "unknown field" error.
fn yaml_error(error: &serde_yaml::Error) -> StorageError {
    let message = error.to_string();
    // serde_yaml writes "path.to.map: message" when it knows the path.
    let (path, reason) = match message.split_once(": ") {
        Some((path, reason)) if is_path(path) => (Some(path), reason.to_owned()),
        _ => (None, message.clone()),
    };
    let unknown = reason
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next());
    let mut key: Vec<&str> = Vec::new();
    key.extend(path);
    key.extend(unknown);
    let key = if key.is_empty() {
        ROOT.to_owned()
    } else {
        key.join(".")
    };
    let reason = if unknown.is_some() {
        format!("unknown key ({reason})")
    } else {
        reason
    };
    StorageError::invalid_config(key, reason)
}

/// Whether `s` looks like the path `serde_yaml` puts before its message (`sqlite.path`,
/// `retry`, `a[0]`), rather than the start of a sentence.
fn is_path(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'))
}
