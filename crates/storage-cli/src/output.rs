//! Output helpers: JSON or text on stdout, progress bars on stderr only when it is a terminal.

use std::io::IsTerminal;

use hotplex_storage_core::{ChatAppMessage, Result, StorageError, truncate_for_log};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| StorageError::data("print JSON", e.to_string()))?;
    println!("{text}");
    Ok(())
}

/// One message as a text line: time, type, id, session and the start of the content.
pub(crate) fn message_line(msg: &ChatAppMessage) -> String {
    let at = msg.created_at.map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
    );
    let deleted = if msg.deleted { " [deleted]" } else { "" };
    format!(
        "{at}  {:<15} {}  {}  {}{deleted}",
        msg.message_type.as_str(),
        msg.id,
        msg.chat_session_id,
        truncate_for_log(&msg.content.replace('\n', " "), 80)
    )
}

/// A progress counter on stderr labelled `what`, hidden unless stderr is a terminal.
pub(crate) fn progress(what: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}: {pos} {elapsed}") {
        bar.set_style(style);
    }
    bar.set_message(what);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// A progress bar of `total` items on stderr labelled `what`, hidden unless stderr is a
/// terminal.
#[cfg(feature = "sqlite")]
pub(crate) fn progress_of(what: &'static str, total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{msg}: [{bar:40}] {pos}/{len} {elapsed} (eta {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
