//! The `migrate` progress bar: the SQLite backend reports how far a migration's data step
//! (building the search index) got as `tracing` events; a layer installed by `main` moves the
//! bar that `migrate` shows while it runs. No other command shows one.

use std::sync::{Mutex, PoisonError};

use indicatif::{ProgressBar, ProgressStyle};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// The target of the backend's progress events
/// (`hotplex_storage_sqlite::MIGRATION_PROGRESS_TARGET`).
pub(crate) const TARGET: &str = "hotplex_storage::migration_progress";

/// The bar of the `migrate` running now, if any.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Shows progress events on `bar` until [`finish`].
pub(crate) fn start(bar: ProgressBar) {
    if let Ok(style) =
        ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} messages {elapsed}")
    {
        bar.set_style(style);
    }
    bar.set_message("building the search index");
    *BAR.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar);
}

/// Removes the bar (and returns it).
pub(crate) fn finish() -> Option<ProgressBar> {
    let bar = BAR.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    bar
}

/// The layer that moves the bar; it sees only [`TARGET`] events.
pub(crate) struct ProgressLayer;

impl<S: Subscriber> Layer<S> for ProgressLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != TARGET {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if let Some(bar) = &*BAR.lock().unwrap_or_else(PoisonError::into_inner) {
            if let Some(total) = fields.total {
                bar.set_length(total);
            }
            if let Some(done) = fields.done {
                bar.set_position(done);
            }
        }
    }
}

/// The `done` and `total` fields of an event.
#[derive(Default)]
struct Fields {
    done: Option<u64>,
    total: Option<u64>,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "done" => self.done = Some(value),
            "total" => self.total = Some(value),
            _ => {}
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn progress_events_move_the_bar_and_others_do_not() {
        let subscriber = tracing_subscriber::registry().with(ProgressLayer);
        tracing::subscriber::with_default(subscriber, || {
            let bar = ProgressBar::hidden();
            start(bar.clone());
            tracing::info!(target: TARGET, version = 2_i64, done = 0_u64, total = 25_000_u64, "x");
            tracing::info!(target: TARGET, version = 2_i64, done = 10_000_u64, total = 25_000_u64, "x");
            tracing::info!(target: "other", done = 99_u64, total = 100_u64, "x");
            assert_eq!(bar.length(), Some(25_000));
            assert_eq!(bar.position(), 10_000);
            assert!(finish().is_some());
        });
        assert!(finish().is_none());
    }
}
