//! [`serde_from_str`]: a setting written as text and read with its type's `FromStr` (the one
//! parser of its values, with the error message that lists the accepted ones).

/// `#[serde(with = "hotplex_storage_core::config::serde_from_str")]` for a field whose type
/// parses with `FromStr<Err = StorageError>` and prints with `Display` (`synchronous: full`).
pub mod serde_from_str {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::Deserialize as _;
    use serde::de::Error as _;

    use crate::StorageError;

    /// Reads the text and parses it; a refusal keeps the parser's reason.
    pub fn deserialize<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: serde::Deserializer<'de>,
        T: FromStr<Err = StorageError>,
    {
        let text = String::deserialize(d)?;
        text.parse().map_err(|e: StorageError| match e {
            StorageError::InvalidConfig { reason, .. } => D::Error::custom(reason),
            other => D::Error::custom(other),
        })
    }

    /// Writes the value's `Display` form.
    pub fn serialize<S: serde::Serializer, T: Display>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }
}
