//! Reading a typed section from a [`ConfigNode`] through serde: a `serde::Deserializer` over the
//! node tree whose errors know the key path and the variable a value came from.
//!
//! Text from the environment (or set by code) is read as whatever the field asks for: `"5"` as a
//! number, `"off"` as a boolean, `"a,b"` as a list. Text from a file is a string only, as YAML
//! typed it, so `max_size_mb: big` is an "invalid type" error.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Unexpected, Visitor};

use super::node::{ConfigNode, ConfigValue, Origin};
use crate::StorageError;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A value that could not be read: the message, the path below the node it was read from, and
/// the variable the value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    path: Vec<Step>,
    message: String,
    variable: Option<String>,
}

impl ConfigError {
    /// The path below the node that was read (`pool_size`, `keys[0].id`); empty for the node
    /// itself.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for step in &self.path {
            match step {
                Step::Key(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
                Step::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
            }
        }
        out
    }

    /// The variable the offending value came from, if any.
    pub fn variable(&self) -> Option<&str> {
        self.variable.as_deref()
    }

    /// `InvalidConfig` whose key is `base` (the node's own path, e.g. `message_store.sqlite`)
    /// joined with [`path`](Self::path), and whose reason names the variable.
    pub fn into_storage_error(self, base: &str) -> StorageError {
        let below = self.path();
        let key = match (base.is_empty(), below.is_empty()) {
            (_, true) => base.to_owned(),
            (true, false) => below,
            (false, false) if below.starts_with('[') => format!("{base}{below}"),
            (false, false) => format!("{base}.{below}"),
        };
        let reason = if self.message.starts_with("unknown field") {
            format!("unknown key ({})", self.message)
        } else {
            self.message
        };
        let reason = match self.variable {
            Some(var) => format!("{reason} (from {var})"),
            None => reason,
        };
        StorageError::invalid_config(key, reason)
    }

    fn within(mut self, step: Step, node: &ConfigNode) -> Self {
        self.path.insert(0, step);
        if self.variable.is_none() {
            self.variable = node.variable().map(str::to_owned);
        }
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path();
        if path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{path}: {}", self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

impl de::Error for ConfigError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            path: Vec::new(),
            message: msg.to_string(),
            variable: None,
        }
    }
}

impl ConfigNode {
    /// Reads this node as `T` (a section struct, a scalar, …). Errors carry the key path below
    /// this node and the variable of the offending value; turn them into `InvalidConfig` with
    /// [`ConfigError::into_storage_error`].
    ///
    /// ```
    /// use hotplex_storage_core::config::{ConfigNode, Origin};
    /// #[derive(serde::Deserialize)]
    /// #[serde(deny_unknown_fields)]
    /// struct Section { pool_size: u32, jitter: bool }
    /// let mut node = ConfigNode::map(Origin::File);
    /// node.set("pool_size", ConfigNode::text("8", Origin::Env("POOL".into())));
    /// node.set("jitter", ConfigNode::text("off", Origin::Env("JITTER".into())));
    /// let section: Section = node.deserialize().unwrap();
    /// assert_eq!((section.pool_size, section.jitter), (8, false));
    /// node.set("pool_size", ConfigNode::text("-1", Origin::Env("POOL".into())));
    /// let err = node.deserialize::<Section>().err().unwrap().into_storage_error("sqlite");
    /// assert!(err.to_string().contains("sqlite.pool_size"), "{err}");
    /// assert!(err.to_string().contains("(from POOL)"), "{err}");
    /// ```
    pub fn deserialize<T: de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        T::deserialize(NodeDeserializer(self)).map_err(|mut e| {
            if e.variable.is_none() {
                e.variable = self.variable().map(str::to_owned);
            }
            e
        })
    }
}

/// The deserializer over one node.
struct NodeDeserializer<'a>(&'a ConfigNode);

impl NodeDeserializer<'_> {
    /// Text that is read by what the field asks for (not only as a string).
    fn lenient_text(&self) -> Option<&str> {
        match (&self.0.value, &self.0.origin) {
            (ConfigValue::Text(t), Origin::Env(_) | Origin::Code) => Some(t.trim()),
            _ => None,
        }
    }
}

fn visit_int<'de, V: Visitor<'de>>(n: i128, visitor: V) -> Result<V::Value, ConfigError> {
    if let Ok(i) = i64::try_from(n) {
        visitor.visit_i64(i)
    } else if let Ok(u) = u64::try_from(n) {
        visitor.visit_u64(u)
    } else {
        visitor.visit_i128(n)
    }
}

macro_rules! lenient_number {
    ($($method:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfigError> {
            match self.lenient_text() {
                Some(text) => match text.parse::<i128>() {
                    Ok(n) => visit_int(n, visitor),
                    Err(_) => Err(de::Error::invalid_type(Unexpected::Str(text), &visitor)),
                },
                None => self.deserialize_any(visitor),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for NodeDeserializer<'_> {
    type Error = ConfigError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfigError> {
        match &self.0.value {
            ConfigValue::Null => visitor.visit_unit(),
            ConfigValue::Bool(b) => visitor.visit_bool(*b),
            ConfigValue::Int(n) => visit_int(*n, visitor),
            ConfigValue::Float(f) => visitor.visit_f64(*f),
            ConfigValue::Text(t) => visitor.visit_str(t),
            ConfigValue::List(items) => visitor.visit_seq(Seq {
                items: items.iter().enumerate(),
            }),
            ConfigValue::Map(map) => visitor.visit_map(Map {
                entries: map.iter(),
                value: None,
            }),
        }
    }

    lenient_number!(
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128
    );

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfigError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfigError> {
        match self.lenient_text() {
            Some(text) => match text.parse::<f64>() {
                Ok(f) => visitor.visit_f64(f),
                Err(_) => Err(de::Error::invalid_type(Unexpected::Str(text), &visitor)),
            },
            None => self.deserialize_any(visitor),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfigError> {
        match self.lenient_text() {
            Some(text) => match text.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => visitor.visit_bool(true),
                "false" | "0" | "no" | "off" => visitor.visit_bool(false),
                _ => Err(de::Error::invalid_type(Unexpected::Str(text), &visitor)),
            },
            None => self.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfigError> {
        match self.0.value {
            ConfigValue::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfigError> {
        match (&self.0.value, &self.0.origin) {
            // A list from the environment: comma-separated, blanks ignored.
            (ConfigValue::Text(text), Origin::Env(_) | Origin::Code) => {
                let items: Vec<ConfigNode> = text
                    .split(',')
                    .map(str::trim)
                    .filter(|part| !part.is_empty())
                    .map(|part| ConfigNode::text(part, self.0.origin.clone()))
                    .collect();
                visitor.visit_seq(Seq {
                    items: items.iter().enumerate(),
                })
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConfigError> {
        match &self.0.value {
            ConfigValue::Text(text) => visitor.visit_enum(text.trim().into_deserializer()),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ConfigError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfigError> {
        visitor.visit_unit()
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConfigError> {
        self.deserialize_map(visitor)
    }

    /// Only a mapping: serde would otherwise read a struct from a list, field by field.
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfigError> {
        let unexpected = match &self.0.value {
            ConfigValue::Map(_) => return self.deserialize_any(visitor),
            ConfigValue::List(_) => Unexpected::Seq,
            ConfigValue::Null => Unexpected::Unit,
            ConfigValue::Bool(b) => Unexpected::Bool(*b),
            ConfigValue::Int(_) => Unexpected::Other("an integer"),
            ConfigValue::Float(f) => Unexpected::Float(*f),
            ConfigValue::Text(t) => Unexpected::Str(t),
        };
        Err(de::Error::invalid_type(unexpected, &visitor))
    }

    serde::forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct tuple tuple_struct identifier
    }
}

/// The items of a list.
struct Seq<'a, I: Iterator<Item = (usize, &'a ConfigNode)>> {
    items: I,
}

impl<'de, 'a, I: Iterator<Item = (usize, &'a ConfigNode)>> de::SeqAccess<'de> for Seq<'a, I> {
    type Error = ConfigError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ConfigError> {
        let Some((index, node)) = self.items.next() else {
            return Ok(None);
        };
        seed.deserialize(NodeDeserializer(node))
            .map(Some)
            .map_err(|e| e.within(Step::Index(index), node))
    }
}

/// The entries of a mapping.
struct Map<'a> {
    entries: std::collections::btree_map::Iter<'a, String, ConfigNode>,
    value: Option<(&'a str, &'a ConfigNode)>,
}

impl<'de> de::MapAccess<'de> for Map<'_> {
    type Error = ConfigError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ConfigError> {
        let Some((key, node)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some((key, node));
        let key_de: de::value::StrDeserializer<'_, ConfigError> = key.as_str().into_deserializer();
        seed.deserialize(key_de)
            .map(Some)
            .map_err(|e| e.within(Step::Key(key.clone()), node))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, ConfigError> {
        let (key, node) = self
            .value
            .take()
            .ok_or_else(|| <ConfigError as de::Error>::custom("a value without a key"))?;
        seed.deserialize(NodeDeserializer(node))
            .map_err(|e| e.within(Step::Key(key.to_owned()), node))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Section {
        size: u64,
        ratio: f64,
        on: bool,
        name: String,
        hosts: Vec<String>,
        maybe: Option<u8>,
        mode: Mode,
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        #[default]
        Fast,
        SlowAndSteady,
    }

    impl Default for Section {
        fn default() -> Self {
            Self {
                size: 1,
                ratio: 2.0,
                on: true,
                name: "n".into(),
                hosts: Vec::new(),
                maybe: None,
                mode: Mode::Fast,
            }
        }
    }

    fn env(value: &str) -> ConfigNode {
        ConfigNode::text(value, Origin::Env("VAR".into()))
    }

    fn file(value: ConfigValue) -> ConfigNode {
        ConfigNode::new(value, Origin::File)
    }

    fn section(entries: Vec<(&str, ConfigNode)>) -> ConfigNode {
        let map: BTreeMap<String, ConfigNode> = entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        file(ConfigValue::Map(map))
    }

    #[test]
    fn environment_text_is_read_as_the_field_asks() {
        let node = section(vec![
            ("size", env(" 42 ")),
            ("ratio", env("3.5")),
            ("on", env("No")),
            ("name", env("007")),
            ("hosts", env("a, b,,c")),
            ("maybe", env("9")),
            ("mode", env("slow_and_steady")),
        ]);
        let read: Section = node.deserialize().unwrap();
        assert_eq!(
            read,
            Section {
                size: 42,
                ratio: 3.5,
                on: false,
                name: "007".into(),
                hosts: vec!["a".into(), "b".into(), "c".into()],
                maybe: Some(9),
                mode: Mode::SlowAndSteady,
            }
        );
    }

    #[test]
    fn file_values_keep_their_yaml_types() {
        let node = section(vec![
            ("size", file(ConfigValue::Int(7))),
            ("ratio", file(ConfigValue::Int(2))),
            (
                "hosts",
                file(ConfigValue::List(vec![file(ConfigValue::Text("h".into()))])),
            ),
        ]);
        let read: Section = node.deserialize().unwrap();
        assert_eq!((read.size, read.hosts), (7, vec!["h".to_owned()]));
        assert!((read.ratio - 2.0).abs() < f64::EPSILON);
        let bad = section(vec![("size", file(ConfigValue::Text("big".into())))]);
        let err = bad.deserialize::<Section>().unwrap_err();
        assert_eq!(err.path(), "size");
        assert!(
            err.to_string().contains("invalid type: string \"big\""),
            "{err}"
        );
        assert_eq!(err.variable(), None);
    }

    #[test]
    fn errors_name_the_path_and_the_variable() {
        let err = section(vec![("size", env("-1"))])
            .deserialize::<Section>()
            .unwrap_err()
            .into_storage_error("message_store.sqlite");
        let StorageError::InvalidConfig { key, reason } = err else {
            panic!("{err:?}")
        };
        assert_eq!(key, "message_store.sqlite.size");
        assert!(reason.contains("invalid value: integer `-1`"), "{reason}");
        assert!(reason.ends_with("(from VAR)"), "{reason}");
        let err = section(vec![("sise", file(ConfigValue::Int(1)))])
            .deserialize::<Section>()
            .unwrap_err()
            .into_storage_error("s");
        assert!(err.to_string().contains("s.sise"), "{err}");
        assert!(err.to_string().contains("unknown key"), "{err}");
        let err = section(vec![("on", env("maybe"))])
            .deserialize::<Section>()
            .unwrap_err();
        assert_eq!(err.path(), "on");
        let err = section(vec![(
            "hosts",
            file(ConfigValue::List(vec![file(ConfigValue::Int(1))])),
        )])
        .deserialize::<Section>()
        .unwrap_err()
        .into_storage_error("p");
        assert!(err.to_string().contains("p.hosts[0]"), "{err}");
        let err = file(ConfigValue::List(vec![]))
            .deserialize::<Section>()
            .unwrap_err()
            .into_storage_error("retry");
        let StorageError::InvalidConfig { key, reason } = err else {
            panic!("{err:?}")
        };
        assert_eq!(key, "retry");
        assert!(reason.contains("invalid type: sequence"), "{reason}");
    }
}
