//! [`field_names`]: the keys of a section, read from the serde definition of its struct, so
//! that the list of keys (for environment variables and the docs) is never written twice.

use std::fmt;

use serde::de::{self, Visitor};

/// The keys `T` reads: the field names its derived `Deserialize` passes to
/// `deserialize_struct` (renames applied, `#[serde(skip)]` fields left out). Empty for a type
/// that is not a struct.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Section {
///     pool_size: u32,
///     #[serde(rename = "type")]
///     kind: String,
///     #[serde(skip)]
///     _hidden: (),
/// }
/// assert_eq!(hotplex_storage_core::config::field_names::<Section>(), ["pool_size", "type"]);
/// ```
pub fn field_names<'de, T: de::Deserialize<'de>>() -> &'static [&'static str] {
    match T::deserialize(Probe) {
        Err(Found(fields)) => fields,
        Ok(_) => &[],
    }
}

/// The "error" that carries the field names out of `deserialize_struct`.
#[derive(Debug)]
struct Found(&'static [&'static str]);

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fields {:?}", self.0)
    }
}

impl std::error::Error for Found {}

impl de::Error for Found {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Found(&[])
    }
}

/// A deserializer that answers nothing and reports the fields it was asked for.
struct Probe;

impl<'de> de::Deserializer<'de> for Probe {
    type Error = Found;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Found> {
        Err(Found(&[]))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Found> {
        Err(Found(fields))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}
