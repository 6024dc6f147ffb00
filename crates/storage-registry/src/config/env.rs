//! The environment as a configuration layer: one `HOTPLEX_MESSAGE_STORE_*` variable per key
//! (the key path in upper case, `.` as `_`), read into a node tree that is put over the file's.

use hotplex_storage_core::StorageError;
use hotplex_storage_core::config::{ConfigNode, Origin};

use super::ROOT;

/// The prefix of every environment variable: `HOTPLEX_MESSAGE_STORE_` + the key path in
/// upper case with `.` as `_`.
pub const ENV_PREFIX: &str = "HOTPLEX_MESSAGE_STORE_";

/// The variable of the key at `path` below `message_store` (`sqlite.pool_size` →
/// `HOTPLEX_MESSAGE_STORE_SQLITE_POOL_SIZE`).
///
/// ```
/// assert_eq!(
///     hotplex_storage_registry::env_name("sqlite.pool_size"),
///     "HOTPLEX_MESSAGE_STORE_SQLITE_POOL_SIZE"
/// );
/// ```
pub fn env_name(path: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        path.replace('.', "_").to_ascii_uppercase()
    )
}

/// The variables `lookup` defines for `keys` (relative paths), as a `message_store` mapping.
pub(super) fn read(keys: &[String], lookup: &dyn Fn(&str) -> Option<String>) -> ConfigNode {
    let mut root = ConfigNode::map(Origin::Code);
    for path in keys {
        let var = env_name(path);
        let Some(value) = lookup(&var) else { continue };
        let leaf = ConfigNode::text(value, Origin::Env(var));
        match path.split_once('.') {
            Some((section, key)) => {
                let mut child = root
                    .remove(section)
                    .unwrap_or_else(|| ConfigNode::map(Origin::Code));
                child.set(key, leaf);
                root.set(section, child);
            }
            None => root.set(path.clone(), leaf),
        }
    }
    root
}

/// `error` naming the variable that set its key, when one did (a rule across keys, checked
/// after the values were read).
pub(super) fn attribute(error: StorageError, variables: &ConfigNode) -> StorageError {
    match error {
        StorageError::InvalidConfig { key, reason } if !reason.contains("(from ") => {
            let relative = key
                .strip_prefix(ROOT)
                .map_or(key.as_str(), |k| k.trim_start_matches('.'));
            match variables.at(relative).and_then(ConfigNode::variable) {
                Some(var) => {
                    StorageError::invalid_config(key.clone(), format!("{reason} (from {var})"))
                }
                None => StorageError::invalid_config(key, reason),
            }
        }
        other => other,
    }
}
