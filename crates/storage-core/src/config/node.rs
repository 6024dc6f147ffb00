//! [`ConfigNode`]: a configuration value as read (a YAML scalar, list or mapping, or the text of
//! an environment variable), with where it came from, so that an error can name its variable.

use std::collections::BTreeMap;

use crate::{Result, StorageError};

/// Where a [`ConfigNode`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A configuration file (YAML).
    File,
    /// The environment variable of this name.
    Env(String),
    /// Set by code (a builder, a command-line flag).
    Code,
}

/// A configuration value.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    /// `null`, `~`, or an empty value.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A number with a fraction.
    Float(f64),
    /// Text. From the environment it is read as whatever the setting expects (a number, a
    /// boolean, a comma-separated list); from a file it is a string only.
    Text(String),
    /// A sequence.
    List(Vec<ConfigNode>),
    /// A mapping from key to value.
    Map(BTreeMap<String, ConfigNode>),
}

/// A [`ConfigValue`] and its [`Origin`]. Backends read their section from it through serde
/// ([`ConfigNode::deserialize`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigNode {
    /// The value.
    pub value: ConfigValue,
    /// Where it came from.
    pub origin: Origin,
}

impl Default for ConfigNode {
    /// An empty mapping set by code.
    fn default() -> Self {
        Self::map(Origin::Code)
    }
}

impl ConfigNode {
    /// A node of `value` from `origin`.
    pub fn new(value: ConfigValue, origin: Origin) -> Self {
        Self { value, origin }
    }

    /// Text from `origin`.
    pub fn text(text: impl Into<String>, origin: Origin) -> Self {
        Self::new(ConfigValue::Text(text.into()), origin)
    }

    /// An empty mapping from `origin`.
    pub fn map(origin: Origin) -> Self {
        Self::new(ConfigValue::Map(BTreeMap::new()), origin)
    }

    /// The entries of a mapping; `None` for any other value.
    pub fn entries(&self) -> Option<&BTreeMap<String, ConfigNode>> {
        match &self.value {
            ConfigValue::Map(map) => Some(map),
            _ => None,
        }
    }

    /// The value at `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&ConfigNode> {
        self.entries()?.get(key)
    }

    /// The node at the dotted `path` (`"sqlite.path"`) below this one.
    pub fn at(&self, path: &str) -> Option<&ConfigNode> {
        path.split('.')
            .filter(|part| !part.is_empty())
            .try_fold(self, |node, part| node.get(part))
    }

    /// Sets `key` of a mapping to `value`, replacing what was there (a node that is not a
    /// mapping becomes one).
    pub fn set(&mut self, key: impl Into<String>, value: ConfigNode) {
        if !matches!(self.value, ConfigValue::Map(_)) {
            self.value = ConfigValue::Map(BTreeMap::new());
        }
        if let ConfigValue::Map(map) = &mut self.value {
            map.insert(key.into(), value);
        }
    }

    /// Removes `key` from a mapping and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<ConfigNode> {
        match &mut self.value {
            ConfigValue::Map(map) => map.remove(key),
            _ => None,
        }
    }

    /// Applies `f` to every text value below (and including) this node.
    pub fn try_for_each_text(
        &mut self,
        f: &mut dyn FnMut(&mut String, &Origin) -> Result<()>,
    ) -> Result<()> {
        match &mut self.value {
            ConfigValue::Text(text) => f(text, &self.origin),
            ConfigValue::List(items) => items.iter_mut().try_for_each(|i| i.try_for_each_text(f)),
            ConfigValue::Map(map) => map.values_mut().try_for_each(|i| i.try_for_each_text(f)),
            ConfigValue::Null
            | ConfigValue::Bool(_)
            | ConfigValue::Int(_)
            | ConfigValue::Float(_) => Ok(()),
        }
    }

    /// The variable this node (or, for a mapping, the first of its values) came from.
    pub fn variable(&self) -> Option<&str> {
        match &self.origin {
            Origin::Env(var) => Some(var),
            Origin::File | Origin::Code => None,
        }
    }

    /// A node holding `value` serialised (through `serde_json`), as set by code: how a typed
    /// section becomes a node again, e.g. to put environment values over it.
    pub fn from_serialize<T: serde::Serialize>(key: &str, value: &T) -> Result<Self> {
        let json = serde_json::to_value(value)
            .map_err(|e| StorageError::invalid_config(key, format!("cannot be written: {e}")))?;
        Ok(Self::from_json(json, &Origin::Code))
    }

    /// A node from a JSON value, every part from `origin`.
    pub fn from_json(json: serde_json::Value, origin: &Origin) -> Self {
        use serde_json::Value;
        let value = match json {
            Value::Null => ConfigValue::Null,
            Value::Bool(b) => ConfigValue::Bool(b),
            Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => ConfigValue::Int(i128::from(i)),
                (None, Some(u), _) => ConfigValue::Int(i128::from(u)),
                (None, None, f) => ConfigValue::Float(f.unwrap_or(f64::NAN)),
            },
            Value::String(s) => ConfigValue::Text(s),
            Value::Array(items) => ConfigValue::List(
                items
                    .into_iter()
                    .map(|i| Self::from_json(i, origin))
                    .collect(),
            ),
            Value::Object(map) => ConfigValue::Map(
                map.into_iter()
                    .map(|(k, v)| (k, Self::from_json(v, origin)))
                    .collect(),
            ),
        };
        Self::new(value, origin.clone())
    }

    /// Puts every entry of `other` over this mapping, recursively (a mapping in both is merged;
    /// anything else is replaced).
    pub fn merge(&mut self, other: ConfigNode) {
        match (&mut self.value, other.value) {
            (ConfigValue::Map(mine), ConfigValue::Map(theirs)) => {
                for (key, value) in theirs {
                    match mine.get_mut(&key) {
                        Some(existing) => existing.merge(value),
                        None => {
                            mine.insert(key, value);
                        }
                    }
                }
            }
            (_, value) => {
                self.value = value;
                self.origin = other.origin;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_set_merge_and_json() {
        let mut node = ConfigNode::map(Origin::File);
        node.set("a", ConfigNode::text("1", Origin::File));
        let mut inner = ConfigNode::map(Origin::File);
        inner.set("b", ConfigNode::text("x", Origin::File));
        node.set("s", inner);
        assert_eq!(
            node.at("s.b").map(|n| &n.value),
            Some(&ConfigValue::Text("x".into()))
        );
        assert!(node.at("s.c").is_none());
        let mut env = ConfigNode::map(Origin::Code);
        let mut inner = ConfigNode::map(Origin::Code);
        inner.set("c", ConfigNode::text("y", Origin::Env("V".into())));
        env.set("s", inner);
        node.merge(env);
        assert!(node.at("s.b").is_some(), "merged, not replaced");
        assert_eq!(node.at("s.c").and_then(ConfigNode::variable), Some("V"));
        let json = ConfigNode::from_json(
            serde_json::json!({"n": 5, "f": 1.5, "l": [true]}),
            &Origin::Code,
        );
        assert_eq!(json.at("n").map(|n| &n.value), Some(&ConfigValue::Int(5)));
        assert_eq!(
            json.at("f").map(|n| &n.value),
            Some(&ConfigValue::Float(1.5))
        );
        assert_eq!(
            node.remove("a").map(|n| n.value),
            Some(ConfigValue::Text("1".into()))
        );
    }
}
