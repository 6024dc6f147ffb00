//! [`parse_duration`]: the one parser of durations in configuration (`100ms`, `5m`, `90d`),
//! and its serde form ([`serde_duration`], [`serde_opt_duration`]) for config structs.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};

use crate::{Result, StorageError};

/// Parses a duration written as one or more `<integer><unit>` parts, units `ms`, `s`, `m`,
/// `h` and `d` (24 h): `100ms`, `5m`, `1h30m`, `90d`. Spaces around the value are ignored.
/// Errors name `key`.
///
/// ```
/// use std::time::Duration;
/// use hotplex_storage_core::config::parse_duration;
/// assert_eq!(parse_duration("retry.initial_delay", "100ms").unwrap(), Duration::from_millis(100));
/// assert_eq!(parse_duration("k", "1h30m").unwrap(), Duration::from_secs(5_400));
/// assert!(parse_duration("streaming.timeout", "5").is_err());
/// ```
pub fn parse_duration(key: &str, text: &str) -> Result<Duration> {
    parse(text).map_err(|reason| StorageError::invalid_config(key, reason))
}

/// [`parse_duration`] without a key: the reason of a failure.
fn parse(text: &str) -> std::result::Result<Duration, String> {
    let error = |why: &str| {
        format!("{text:?} is not a duration ({why}; write e.g. 100ms, 30s, 5m, 1h, 90d)")
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(error("empty"));
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(error("expected a number"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| error("the number is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_mins(1),
            "h" => Duration::from_hours(1),
            "d" => Duration::from_hours(24),
            "" => return Err(error("missing unit")),
            _ => return Err(error("unknown unit")),
        };
        rest = &rest[unit_len..];
        let part = u32::try_from(number)
            .ok()
            .and_then(|n| unit.checked_mul(n))
            .ok_or_else(|| error("too large"))?;
        total = total.checked_add(part).ok_or_else(|| error("too large"))?;
    }
    Ok(total)
}

/// Writes `d` in the form [`parse_duration`] reads, with the largest exact unit (`90d`,
/// `5m`, `1500ms`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Reads a duration written for [`parse_duration`].
struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as 100ms, 30s, 5m, 1h or 90d")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> std::result::Result<Duration, E> {
        parse(text).map_err(E::custom)
    }
}

/// `#[serde(with = "hotplex_storage_core::config::serde_duration")]` for a `Duration` field
/// written as [`parse_duration`] reads it (`5m`); serialised by [`format_duration`].
pub mod serde_duration {
    use std::time::Duration;

    /// Deserializes a duration (`"100ms"`, `"5m"`).
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_str(super::DurationVisitor)
    }

    /// Serializes a duration as [`format_duration`](super::format_duration) writes it.
    #[allow(
        clippy::trivially_copy_pass_by_ref,
        reason = "the signature serde's `with` calls"
    )]
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }
}

/// [`serde_duration`] for an `Option<Duration>` field (absent or `null` is `None`).
pub mod serde_opt_duration {
    use std::time::Duration;

    /// Deserializes an optional duration.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        struct Wrapper(Duration);
        impl<'de> serde::Deserialize<'de> for Wrapper {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                super::serde_duration::deserialize(d).map(Wrapper)
            }
        }
        let wrapped: Option<Wrapper> = serde::Deserialize::deserialize(d)?;
        Ok(wrapped.map(|w| w.0))
    }

    /// Serializes an optional duration.
    #[allow(clippy::ref_option, reason = "the signature serde's `with` calls")]
    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&super::format_duration(*d)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_and_combinations() {
        let p = |t| parse_duration("k", t).unwrap();
        assert_eq!(p("100ms"), Duration::from_millis(100));
        assert_eq!(p("2s"), Duration::from_secs(2));
        assert_eq!(p("5m"), Duration::from_mins(5));
        assert_eq!(p("1h"), Duration::from_hours(1));
        assert_eq!(p("90d"), Duration::from_hours(2160));
        assert_eq!(p(" 1h30m "), Duration::from_mins(90));
        assert_eq!(p("1s500ms"), Duration::from_millis(1_500));
        assert_eq!(p("0s"), Duration::ZERO);
    }

    #[test]
    fn malformed_values_name_the_key() {
        for bad in [
            "",
            "5",
            "ms",
            "5x",
            "-5s",
            "1.5s",
            "5 m",
            "1h-",
            "99999999999999999999s",
        ] {
            let err = parse_duration("message_store.retry.max_delay", bad).unwrap_err();
            assert!(err.is_config_error(), "{bad:?}");
            assert!(
                err.to_string().contains("message_store.retry.max_delay"),
                "{bad:?}: {err}"
            );
        }
        // The edge of one part: u32::MAX units is accepted, one more is not.
        assert!(parse_duration("k", &format!("{}s", u32::MAX)).is_ok());
        assert!(parse_duration("k", &format!("{}s", u64::from(u32::MAX) + 1)).is_err());
    }

    #[test]
    fn format_round_trips() {
        for d in [
            Duration::ZERO,
            Duration::from_millis(1_500),
            Duration::from_mins(5),
            Duration::from_hours(2),
            Duration::from_hours(2160),
        ] {
            assert_eq!(parse_duration("k", &format_duration(d)).unwrap(), d);
        }
        assert_eq!(format_duration(Duration::from_mins(5)), "5m");
    }
}
