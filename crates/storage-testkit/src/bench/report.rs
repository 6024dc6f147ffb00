//! [`BenchResult`] and its three printed forms: a line, a markdown table, JSON.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

/// One measured result: a workload (`bench`), a backend, a mode (`seq`, `c16`, `batch500`) or
/// an operation (`list50`, `count`, …), and what was measured.
///
/// ```
/// use std::time::Duration;
/// use hotplex_storage_testkit::bench::BenchResult;
/// let r = BenchResult::new("W1", "sqlite", 40_000, Duration::from_millis(710)).with_mode("c16");
/// assert_eq!(r.line(), "bench=W1 backend=sqlite mode=c16 ops=40000 secs=0.71 ops_per_s=56338");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BenchResult {
    /// The workload: `W1`, `W1b`, `W2`, `W3`, `W4`.
    pub bench: String,
    /// The backend name (`memory`, `sqlite`, …).
    pub backend: String,
    /// The mode of a write workload (`seq`, `c16`, `batch500`).
    pub mode: Option<String>,
    /// The operation of a read workload (`list50`, `count`, …).
    pub op: Option<String>,
    /// Operations (messages, chunks, reads) performed.
    pub ops: u64,
    /// Wall-clock seconds the operations took.
    pub secs: f64,
    /// `ops / secs`.
    pub ops_per_s: f64,
    /// Median latency of one operation, in microseconds.
    pub p50_us: Option<u64>,
    /// 99th-percentile latency of one operation, in microseconds.
    pub p99_us: Option<u64>,
    /// Further `key=value` fields, printed after the standard ones in this order.
    pub extra: Vec<(String, String)>,
}

impl BenchResult {
    /// A result of `ops` operations that took `elapsed`.
    pub fn new(
        bench: impl Into<String>,
        backend: impl Into<String>,
        ops: u64,
        elapsed: Duration,
    ) -> Self {
        let secs = elapsed.as_secs_f64();
        // u64 → f64 loses precision only above 2^53 operations.
        #[allow(clippy::cast_precision_loss)]
        let ops_per_s = if secs > 0.0 { ops as f64 / secs } else { 0.0 };
        Self {
            bench: bench.into(),
            backend: backend.into(),
            mode: None,
            op: None,
            ops,
            secs,
            ops_per_s,
            p50_us: None,
            p99_us: None,
            extra: Vec::new(),
        }
    }

    /// Sets the mode.
    #[must_use]
    pub fn with_mode(mut self, mode: impl Into<String>) -> Self {
        self.mode = Some(mode.into());
        self
    }

    /// Sets the operation.
    #[must_use]
    pub fn with_op(mut self, op: impl Into<String>) -> Self {
        self.op = Some(op.into());
        self
    }

    /// Sets p50 and p99 from per-operation latencies (nearest-rank percentiles).
    #[must_use]
    pub fn with_latencies(mut self, latencies: &mut [Duration]) -> Self {
        latencies.sort_unstable();
        self.p50_us = percentile_us(latencies, 50);
        self.p99_us = percentile_us(latencies, 99);
        self
    }

    /// Appends an extra `key=value` field (blanks in the value become `_`).
    #[must_use]
    #[allow(clippy::needless_pass_by_value)] // `with_extra("rows", 100)` reads better than `&100`
    pub fn with_extra(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        let value = value.to_string().replace(char::is_whitespace, "_");
        self.extra.push((key.into(), value));
        self
    }

    /// The machine-readable line of `BENCHMARK.md`:
    /// `bench=W1 backend=sqlite mode=c16 ops=40000 secs=0.71 ops_per_s=56338` for a timed
    /// run, `bench=W3 backend=sqlite op=list50 ops=5000 ops_per_s=21000 p50_us=41 p99_us=120`
    /// for a result with latencies (whose `secs` is only in the JSON), then any extras.
    pub fn line(&self) -> String {
        let mut line = format!("bench={} backend={}", self.bench, self.backend);
        if let Some(mode) = &self.mode {
            let _ = write!(line, " mode={mode}");
        }
        if let Some(op) = &self.op {
            let _ = write!(line, " op={op}");
        }
        let _ = write!(line, " ops={}", self.ops);
        let has_latencies = self.p50_us.is_some() || self.p99_us.is_some();
        if !has_latencies {
            let _ = write!(line, " secs={:.2}", self.secs);
        }
        let _ = write!(line, " ops_per_s={:.0}", self.ops_per_s);
        if let Some(p50) = self.p50_us {
            let _ = write!(line, " p50_us={p50}");
        }
        if let Some(p99) = self.p99_us {
            let _ = write!(line, " p99_us={p99}");
        }
        for (key, value) in &self.extra {
            let _ = write!(line, " {key}={value}");
        }
        line
    }

    /// This result as a JSON object with the line's field names (`secs` always present,
    /// absent optional fields omitted, extras as strings).
    pub fn to_json(&self) -> Value {
        let mut object = json!({
            "bench": self.bench,
            "backend": self.backend,
            "ops": self.ops,
            "secs": self.secs,
            "ops_per_s": self.ops_per_s,
        });
        if let Some(map) = object.as_object_mut() {
            if let Some(mode) = &self.mode {
                map.insert("mode".into(), mode.clone().into());
            }
            if let Some(op) = &self.op {
                map.insert("op".into(), op.clone().into());
            }
            if let Some(p50) = self.p50_us {
                map.insert("p50_us".into(), p50.into());
            }
            if let Some(p99) = self.p99_us {
                map.insert("p99_us".into(), p99.into());
            }
            for (key, value) in &self.extra {
                map.insert(key.clone(), value.clone().into());
            }
        }
        object
    }
}

/// The nearest-rank percentile of sorted latencies, in whole microseconds.
fn percentile_us(sorted: &[Duration], percent: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    let d = sorted[rank.min(sorted.len()) - 1];
    Some(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The results as a markdown table (the form of `docs/benchmarks.md`).
pub fn table(results: &[BenchResult]) -> String {
    let mut out = String::from(
        "| bench | backend | mode/op | ops | secs | ops/s | p50 µs | p99 µs | extra |\n\
         |---|---|---|---:|---:|---:|---:|---:|---|\n",
    );
    let opt = |v: Option<u64>| v.map_or_else(|| "–".to_owned(), |v| v.to_string());
    for r in results {
        let kind = match (&r.mode, &r.op) {
            (Some(m), Some(o)) => format!("{m}/{o}"),
            (Some(k), None) | (None, Some(k)) => k.clone(),
            (None, None) => "–".to_owned(),
        };
        let extra: Vec<String> = r.extra.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} | {:.0} | {} | {} | {} |",
            r.bench,
            r.backend,
            kind,
            r.ops,
            r.secs,
            r.ops_per_s,
            opt(r.p50_us),
            opt(r.p99_us),
            extra.join(" ")
        );
    }
    out
}

/// A ratio with two decimals (`1.07`), `–` when undefined.
pub fn fmt_ratio(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}"))
}

/// How the latency of one operation grew from a small database to a big one (W4, W5:
/// `BENCHMARK.md`'s 1M / 10k).
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleRatio {
    /// The workload (`W4`, `W5`).
    pub bench: String,
    /// The backend (`sqlite`, `rusqlite`, …).
    pub backend: String,
    /// The operation.
    pub op: String,
    /// Messages in the small database.
    pub small: usize,
    /// Messages in the big database.
    pub big: usize,
    /// Big p50 ÷ small p50.
    pub p50: Option<f64>,
    /// Big p99 ÷ small p99.
    pub p99: Option<f64>,
}

impl ScaleRatio {
    /// `bench=W4 backend=sqlite op=list50 ratio=1000000/10000 p50_ratio=1.07 p99_ratio=1.35`.
    pub fn line(&self) -> String {
        format!(
            "bench={} backend={} op={} ratio={}/{} p50_ratio={} p99_ratio={}",
            self.bench,
            self.backend,
            self.op,
            self.big,
            self.small,
            fmt_ratio(self.p50),
            fmt_ratio(self.p99)
        )
    }

    /// This ratio as a JSON object.
    pub fn to_json(&self) -> Value {
        json!({
            "bench": self.bench,
            "backend": self.backend,
            "op": self.op,
            "small_messages": self.small,
            "big_messages": self.big,
            "p50_ratio": self.p50,
            "p99_ratio": self.p99,
        })
    }
}

/// The [`ScaleRatio`] of every result in `big` that has a counterpart (same bench, backend
/// and operation) with latencies in `small`, in `big`'s order.
///
/// ```
/// use std::time::Duration;
/// use hotplex_storage_testkit::bench::{BenchResult, scale_ratios};
/// let at = |us: u64| {
///     BenchResult::new("W4", "sqlite", 1, Duration::from_micros(us))
///         .with_op("count")
///         .with_latencies(&mut [Duration::from_micros(us)])
/// };
/// let ratios = scale_ratios(10_000, &[at(20)], 1_000_000, &[at(30)]);
/// assert_eq!(ratios[0].p50, Some(1.5));
/// assert_eq!(
///     ratios[0].line(),
///     "bench=W4 backend=sqlite op=count ratio=1000000/10000 p50_ratio=1.50 p99_ratio=1.50"
/// );
/// ```
pub fn scale_ratios(
    small_messages: usize,
    small: &[BenchResult],
    big_messages: usize,
    big: &[BenchResult],
) -> Vec<ScaleRatio> {
    let div = |b: Option<u64>, s: Option<u64>| match (b, s) {
        // Microsecond latencies: far below 2^53.
        #[allow(clippy::cast_precision_loss)]
        (Some(b), Some(s)) if s > 0 => Some(b as f64 / s as f64),
        _ => None,
    };
    big.iter()
        .filter_map(|b| {
            let s = small.iter().find(|s| {
                s.bench == b.bench && s.backend == b.backend && s.op == b.op && s.p50_us.is_some()
            })?;
            Some(ScaleRatio {
                bench: b.bench.clone(),
                backend: b.backend.clone(),
                op: b.op.clone()?,
                small: small_messages,
                big: big_messages,
                p50: div(b.p50_us, s.p50_us),
                p99: div(b.p99_us, s.p99_us),
            })
        })
        .collect()
}

/// The results as a JSON array of [`BenchResult::to_json`] objects (for `--json FILE`).
pub fn to_json(results: &[BenchResult]) -> Value {
    Value::Array(results.iter().map(BenchResult::to_json).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_the_benchmark_examples() {
        let w1 =
            BenchResult::new("W1", "sqlite", 40_000, Duration::from_millis(710)).with_mode("c16");
        assert_eq!(
            w1.line(),
            "bench=W1 backend=sqlite mode=c16 ops=40000 secs=0.71 ops_per_s=56338"
        );
        let mut w3 = BenchResult::new(
            "W3",
            "sqlite",
            5_000,
            Duration::from_secs_f64(5_000.0 / 21_000.0),
        )
        .with_op("list50");
        w3.p50_us = Some(41);
        w3.p99_us = Some(120);
        assert_eq!(
            w3.line(),
            "bench=W3 backend=sqlite op=list50 ops=5000 ops_per_s=21000 p50_us=41 p99_us=120"
        );
        let w2 = BenchResult::new("W2", "memory", 10, Duration::from_secs(1))
            .with_mode("complete_only")
            .with_extra("rows", 100)
            .with_extra("note", "two words");
        assert!(
            w2.line().ends_with("ops_per_s=10 rows=100 note=two_words"),
            "{}",
            w2.line()
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut lat: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let r = BenchResult::new("W3", "m", 100, Duration::from_millis(5)).with_latencies(&mut lat);
        assert_eq!((r.p50_us, r.p99_us), (Some(50), Some(99)));
        let mut one = vec![Duration::from_micros(7)];
        let r = BenchResult::new("W3", "m", 1, Duration::ZERO).with_latencies(&mut one);
        assert_eq!((r.p50_us, r.p99_us), (Some(7), Some(7)));
        assert!(r.ops_per_s.abs() < f64::EPSILON, "no division by zero");
        let r = BenchResult::new("W3", "m", 0, Duration::ZERO).with_latencies(&mut []);
        assert_eq!(r.p50_us, None);
    }

    #[test]
    fn table_and_json_carry_every_result() {
        let results = [
            BenchResult::new("W1", "memory", 4, Duration::from_secs(2)).with_mode("seq"),
            BenchResult::new("W3", "memory", 3, Duration::from_secs(1))
                .with_op("get")
                .with_latencies(&mut [Duration::from_micros(3)]),
        ];
        let t = table(&results);
        assert_eq!(t.lines().count(), 4);
        assert!(
            t.contains("| W1 | memory | seq | 4 | 2.00 | 2 | – | – |  |"),
            "{t}"
        );
        assert!(
            t.contains("| W3 | memory | get | 3 | 1.00 | 3 | 3 | 3 |"),
            "{t}"
        );
        let j = to_json(&results);
        assert_eq!(j[0]["mode"], "seq");
        assert_eq!(j[0]["ops_per_s"], 2.0);
        assert!(j[0].get("op").is_none());
        assert_eq!(j[1]["op"], "get");
        assert_eq!(j[1]["p99_us"], 3);
        assert_eq!(j[1]["secs"], 1.0);
    }
}
