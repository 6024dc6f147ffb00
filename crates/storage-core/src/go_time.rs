//! Go's `time.Time.String()` text, the form the Go plugin's SQLite database holds its
//! timestamps in (modernc.org/sqlite writes a bound `time.Time` with `String()`).
//!
//! The layout is `2006-01-02 15:04:05.999999999 -0700 MST`, plus ` m=±<seconds>.<9 digits>`
//! when the value carries a monotonic clock reading (every `time.Now()` does). What Go can
//! print there, read from its `time` package:
//!
//! | part | what Go prints |
//! |---|---|
//! | year | at least 4 digits, zero-padded (`0001`); more digits past 9999 (`12026`); `-` before negative years (`-0001`) |
//! | fraction | `.` and 1 to 9 digits with trailing zeros removed; nothing when the nanoseconds are 0 |
//! | offset | `+hhmm` or `-hhmm`; seconds of an offset (historic local mean times) are not printed |
//! | zone | the zone's abbreviation (`CST`, `UTC`, `ChST`, `+08`, `-03`), or the offset again (`+0530`) when the zone has none |
//! | monotonic | absent, or ` m=+12.345678901` / ` m=-0.000000001`; the monotonic clock says nothing about the wall time and is ignored |
//!
//! The numeric offset decides the instant; the abbreviation is a label and is not checked.

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};

use crate::{Result, StorageError};

/// Parses Go `time.Time.String()` text (see the module docs) into UTC, keeping all nine
/// digits of the fraction (stores keep microseconds: [`prepare_message`](crate::prepare_message)
/// truncates the rest).
///
/// Anything else fails with [`StorageError::Data`] saying what is wrong: there is no guessing
/// of a zone or of a missing part.
///
/// ```
/// use hotplex_storage_core::parse_go_time;
/// let t = parse_go_time("2026-03-23 18:14:31.123456789 +0800 CST m=+12.345678901")?;
/// assert_eq!(t.to_rfc3339(), "2026-03-23T10:14:31.123456789+00:00");
/// assert_eq!(parse_go_time("2026-03-23 10:14:31 +0000 UTC")?.timestamp(), 1_774_260_871);
/// assert!(parse_go_time("2026-03-23 10:14:31").is_err()); // no offset: not guessed
/// # Ok::<(), hotplex_storage_core::StorageError>(())
/// ```
pub fn parse_go_time(text: &str) -> Result<DateTime<Utc>> {
    parse(text).map_err(|why| {
        StorageError::data(
            "parse Go time",
            format!("{text:?} is not Go time.Time.String() text: {why}"),
        )
    })
}

/// [`parse_go_time`] with the reason as text.
pub(crate) fn parse(text: &str) -> std::result::Result<DateTime<Utc>, String> {
    let mut parts = text.split(' ');
    let mut next = |what: &str| {
        parts
            .next()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| format!("the {what} is missing"))
    };
    let date = parse_date(next("date")?)?;
    let (hour, minute, second, nanos) = parse_clock(next("time of day")?)?;
    let offset = parse_offset(next("UTC offset")?)?;
    let zone = next("zone abbreviation")?;
    if !zone
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-')
    {
        return Err(format!("{zone:?} is not a zone abbreviation"));
    }
    if let Some(monotonic) = parts.next() {
        check_monotonic(monotonic)?;
    }
    if parts.next().is_some() {
        return Err("there is more text after the monotonic clock reading".to_owned());
    }
    let local = date
        .and_hms_nano_opt(hour, minute, second, nanos)
        .ok_or_else(|| format!("{hour:02}:{minute:02}:{second:02} is not a time of day"))?;
    offset
        .from_local_datetime(&local)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| "the instant is outside the supported range".to_owned())
}

/// `[-]YYYY-MM-DD`, the year with at least four digits.
fn parse_date(text: &str) -> std::result::Result<NaiveDate, String> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut fields = unsigned.split('-');
    let (Some(year), Some(month), Some(day), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(format!("{text:?} is not a date (YYYY-MM-DD)"));
    };
    if year.len() < 4 || !digits(year) || !digits(month) || month.len() != 2 {
        return Err(format!("{text:?} is not a date (YYYY-MM-DD)"));
    }
    if !digits(day) || day.len() != 2 {
        return Err(format!("{text:?} is not a date (YYYY-MM-DD)"));
    }
    let magnitude: i32 = year
        .parse()
        .map_err(|_| format!("the year {year} is outside the supported range"))?;
    let year_value = if negative { -magnitude } else { magnitude };
    let (month, day) = (number(month), number(day));
    NaiveDate::from_ymd_opt(year_value, month, day).ok_or_else(|| {
        if NaiveDate::from_ymd_opt(year_value, 1, 1).is_none() {
            format!("the year {year_value} is outside the supported range")
        } else {
            format!("{text:?} is not a calendar date")
        }
    })
}

/// `HH:MM:SS` with an optional `.` and 1 to 9 fraction digits.
fn parse_clock(text: &str) -> std::result::Result<(u32, u32, u32, u32), String> {
    let bad = || format!("{text:?} is not a time of day (HH:MM:SS[.fraction])");
    let (clock, fraction) = match text.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (text, None),
    };
    let fields: Vec<&str> = clock.split(':').collect();
    let [hour, minute, second] = fields.as_slice() else {
        return Err(bad());
    };
    if [hour, minute, second]
        .iter()
        .any(|f| f.len() != 2 || !digits(f))
    {
        return Err(bad());
    }
    let nanos = match fraction {
        None => 0,
        Some(f) if (1..=9).contains(&f.len()) && digits(f) => {
            // Digits right-padded to nanoseconds: ".5" is 500_000_000 ns.
            number(f) * 10_u32.pow(9 - u32::try_from(f.len()).unwrap_or(9))
        }
        Some(_) => return Err(bad()),
    };
    Ok((number(hour), number(minute), number(second), nanos))
}

/// `+hhmm` or `-hhmm`, less than a day.
fn parse_offset(text: &str) -> std::result::Result<FixedOffset, String> {
    let bad = || format!("{text:?} is not a UTC offset (+hhmm or -hhmm)");
    let (sign, hhmm) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(bad()),
    };
    if hhmm.len() != 4 || !digits(hhmm) {
        return Err(bad());
    }
    let (hours, minutes) = (number(&hhmm[..2]), number(&hhmm[2..]));
    if minutes >= 60 {
        return Err(bad());
    }
    let seconds = i32::try_from(hours * 3600 + minutes * 60).map_err(|_| bad())?;
    FixedOffset::east_opt(sign * seconds)
        .ok_or_else(|| format!("{text:?} is not a UTC offset of less than a day"))
}

/// `m=±<digits>.<9 digits>`.
fn check_monotonic(text: &str) -> std::result::Result<(), String> {
    let reading = text
        .strip_prefix("m=+")
        .or_else(|| text.strip_prefix("m=-"))
        .and_then(|r| r.split_once('.'));
    match reading {
        Some((seconds, nanos))
            if !seconds.is_empty() && digits(seconds) && nanos.len() == 9 && digits(nanos) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "{text:?} is not a monotonic clock reading (m=±seconds.nnnnnnnnn)"
        )),
    }
}

fn digits(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit())
}

/// The value of at most nine ASCII digits (checked by the caller).
fn number(text: &str) -> u32 {
    text.bytes().fold(0, |n, b| n * 10 + u32::from(b - b'0'))
}

#[cfg(test)]
mod tests {
    use chrono::{Datelike, Timelike};
    use proptest::prelude::*;

    use super::*;

    fn utc(text: &str) -> String {
        parse_go_time(text).unwrap().to_rfc3339()
    }

    #[test]
    fn what_go_prints_parses_to_utc() {
        for (go, expected) in [
            (
                "2026-03-23 18:14:31.123456789 +0800 CST m=+12.345678901",
                "2026-03-23T10:14:31.123456789+00:00",
            ),
            ("2026-03-23 10:14:31 +0000 UTC", "2026-03-23T10:14:31+00:00"),
            (
                "2026-03-23 15:44:31.5 +0530 +0530",
                "2026-03-23T10:14:31.500+00:00",
            ),
            (
                "2026-03-23 07:14:31.000001 -0300 -03 m=+0.000000001",
                "2026-03-23T10:14:31.000001+00:00",
            ),
            (
                "2026-03-23 20:14:31.12 +1000 ChST m=-1.000000000",
                "2026-03-23T10:14:31.120+00:00",
            ),
            // Crossing a date line and a year boundary in UTC.
            ("2027-01-01 00:30:00 +1400 +14", "2026-12-31T10:30:00+00:00"),
            (
                "2026-12-31 23:59:59.999999999 -1200 -12 m=+123456.000000000",
                "2027-01-01T11:59:59.999999999+00:00",
            ),
            // Go's zero time and years Go pads or extends.
            ("0001-01-01 00:00:00 +0000 UTC", "0001-01-01T00:00:00+00:00"),
            (
                "12026-03-23 10:14:31 +0000 UTC",
                "+12026-03-23T10:14:31+00:00",
            ),
            (
                "-0001-03-23 10:14:31 +0000 UTC",
                "-0001-03-23T10:14:31+00:00",
            ),
        ] {
            assert_eq!(utc(go), expected, "{go}");
        }
    }

    #[test]
    fn anything_else_is_an_error_not_a_guess() {
        for (text, says) in [
            ("", "date is missing"),
            ("2026-03-23 10:14:31", "UTC offset is missing"),
            ("2026-03-23 10:14:31 +0800", "zone abbreviation is missing"),
            ("2026-03-23T10:14:31Z", "not a date"),
            ("2026-03-23 10:14:31 +08:00 CST", "not a UTC offset"),
            ("2026-03-23 10:14:31 0800 CST", "not a UTC offset"),
            ("2026-03-23 10:14:31 +2400 X", "less than a day"),
            ("2026-03-23 10:14:31 +0860 X", "not a UTC offset"),
            (
                "2026-03-23 10:14:31 +0800 m=+1.000000000",
                "not a zone abbreviation",
            ),
            ("2026-03-23 10:14:31 +0800 CST m=+1.5", "not a monotonic"),
            (
                "2026-03-23 10:14:31 +0800 CST m=1.000000000",
                "not a monotonic",
            ),
            (
                "2026-03-23 10:14:31 +0800 CST m=+1.000000000 x",
                "more text",
            ),
            ("2026-03-23 10:14:31 +0800 C/T", "not a zone abbreviation"),
            ("2026-03-23  10:14:31 +0800 CST", "time of day is missing"),
            ("2026-3-23 10:14:31 +0800 CST", "not a date"),
            ("26-03-23 10:14:31 +0800 CST", "not a date"),
            ("2026-02-30 10:14:31 +0800 CST", "not a calendar date"),
            ("2026-03-23 24:00:00 +0800 CST", "not a time of day"),
            ("2026-03-23 10:14:60 +0800 CST", "not a time of day"),
            ("2026-03-23 10:14:31. +0800 CST", "not a time of day"),
            (
                "2026-03-23 10:14:31.1234567890 +0800 CST",
                "not a time of day",
            ),
            ("2026-03-23 10:14 +0800 CST", "not a time of day"),
            (
                "9999999-01-01 00:00:00 +0000 UTC",
                "outside the supported range",
            ),
            (
                "99999999999-01-01 00:00:00 +0000 UTC",
                "outside the supported range",
            ),
            ("1711111111", "not a date"),
            ("2026-03-23 10:14:31 +0800 CST ", "not a monotonic"),
        ] {
            let err = parse_go_time(text).unwrap_err();
            assert!(
                matches!(err, StorageError::Data { .. }),
                "{text:?}: {err:?}"
            );
            assert!(err.to_string().contains(says), "{text:?}: {err}");
        }
    }

    /// Go's `String()` of `t` shown in a zone of `offset_minutes`, written the way Go's
    /// `time` package formats it (an independent implementation of the layout).
    fn go_string(t: DateTime<Utc>, offset_minutes: i32, zone: &str, mono: Option<i64>) -> String {
        let local = t.with_timezone(&FixedOffset::east_opt(offset_minutes * 60).unwrap());
        let year = local.year();
        let mut s = if year < 0 {
            format!("-{:04}", -year)
        } else {
            format!("{year:04}")
        };
        s.push_str(&local.format("-%m-%d %H:%M:%S").to_string());
        let nanos = local.nanosecond();
        if nanos != 0 {
            let fraction = format!("{nanos:09}");
            s.push('.');
            s.push_str(fraction.trim_end_matches('0'));
        }
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let abs = offset_minutes.abs();
        let numeric = format!("{sign}{:02}{:02}", abs / 60, abs % 60);
        s.push(' ');
        s.push_str(&numeric);
        s.push(' ');
        s.push_str(if zone.is_empty() { &numeric } else { zone });
        if let Some(m) = mono {
            let sign = if m < 0 { '-' } else { '+' };
            let m = m.unsigned_abs();
            let (seconds, nanos) = (m / 1_000_000_000, m % 1_000_000_000);
            s = format!("{s} m={sign}{seconds}.{nanos:09}");
        }
        s
    }

    proptest! {
        #[test]
        fn every_go_rendering_round_trips(
            secs in -62_135_596_800_i64..253_402_300_799,
            nanos in prop_oneof![Just(0_u32), 0_u32..1_000_000_000],
            offset in -(23 * 60 + 59)..=(23 * 60 + 59),
            zone in prop_oneof![Just(String::new()), "[A-Z][A-Za-z]{1,4}", "[+-][0-9]{2}"],
            mono in proptest::option::of(any::<i64>()),
        ) {
            let t = Utc.timestamp_opt(secs, nanos).unwrap();
            let text = go_string(t, offset, &zone, mono);
            prop_assert_eq!(parse_go_time(&text).unwrap(), t, "{}", text);
        }
    }
}
