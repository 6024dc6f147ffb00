//! The store's health checks and counters.

use hotplex_storage_core::{CheckStatus, HealthCheckResult, HealthStatus, StorageMetrics};
use maud::{Markup, html};

use super::layout::{page, when};

/// The health page: the report's checks, then the metrics.
pub(crate) fn health(
    name: &str,
    version: &str,
    report: &HealthCheckResult,
    metrics: Result<&StorageMetrics, &str>,
) -> Markup {
    let (status, class) = match report.status {
        HealthStatus::Healthy => ("healthy", "ok"),
        HealthStatus::Degraded => ("degraded", "warn"),
        HealthStatus::Unhealthy => ("unhealthy", "bad"),
    };
    page(
        "Health",
        &html! {
            h1 { "Health " span.badge.(class) { (status) } }
            p.lead {
                "Store " strong { (name) } " " (version) " · checked " (when(report.timestamp))
                " in " (format_ms(report.latency))
            }
            table.checks {
                thead { tr { th { "Check" } th { "Status" } th { "Detail" } th.num { "Time" } } }
                tbody {
                    @for (check_name, check) in &report.checks {
                        @let (label, class) = match check.status {
                            CheckStatus::Pass => ("pass", "ok"),
                            CheckStatus::Warn => ("warn", "warn"),
                            CheckStatus::Fail => ("fail", "bad"),
                        };
                        tr {
                            td { (check_name) }
                            td { span.badge.(class) { (label) } }
                            td { (check.message) }
                            td.num { (format_ms(check.latency)) }
                        }
                    }
                }
            }
            h2 { "Counters" }
            @match metrics {
                Ok(m) => table.counters {
                    tbody {
                        tr { th { "live messages" } td.num { (m.total_messages) } }
                        tr { th { "deleted messages" } td.num { (m.deleted_messages) } }
                        tr { th { "sessions" } td.num { (m.total_sessions) } }
                        tr { th { "storage bytes" } td.num { (m.storage_size_bytes) } }
                        tr { th { "uptime of this viewer's store" } td.num { (format!("{:.0} s", m.uptime.as_secs_f64())) } }
                        @for (k, v) in &m.extra {
                            tr { th { (k) } td.num { (v) } }
                        }
                    }
                },
                Err(e) => p.error { "The counters could not be read: " (e) },
            }
        },
    )
}

/// A duration in milliseconds with two decimals.
fn format_ms(d: std::time::Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1_000.0)
}
