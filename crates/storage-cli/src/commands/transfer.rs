//! `export`, `import` and `backup`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use hotplex_storage_core::{
    ChatAppMessageStore, MessageQuery, PrivateTempFile, Result, StorageError, ValidationLimits,
    export_jsonl_with_progress, import_jsonl_with_progress,
};

use crate::cli::ExportArgs;
use crate::output::{print_json, progress};

/// `export`: JSON Lines to a file (0600, replaced atomically) or standard output.
pub(crate) async fn export(
    store: Arc<dyn ChatAppMessageStore>,
    args: &ExportArgs,
    json: bool,
) -> Result<ExitCode> {
    let query = MessageQuery {
        chat_session_id: args.session.clone(),
        ..MessageQuery::default()
    }
    .with_include_deleted(!args.live_only);
    let bar = progress("exported");
    let mut tick = |n| bar.set_position(n);
    let written = if let Some(path) = &args.output {
        let mut temp = PrivateTempFile::beside(path)?;
        let written = {
            let mut out = BufWriter::new(temp.file());
            let n = export_jsonl_with_progress(store.as_ref(), &query, &mut out, &mut tick).await?;
            out.into_inner()
                .map_err(|e| StorageError::io("export: flush", e.into_error()))?;
            n
        };
        temp.commit()?;
        written
    } else {
        let mut out = BufWriter::new(std::io::stdout());
        let n = export_jsonl_with_progress(store.as_ref(), &query, &mut out, &mut tick).await?;
        out.flush()
            .map_err(|e| StorageError::io("export: write standard output", e))?;
        n
    };
    bar.finish_and_clear();
    // The summary goes to stderr when the messages themselves are on stdout.
    if args.output.is_some() && json {
        print_json(&serde_json::json!({"exported": written}))?;
    } else {
        eprintln!("exported {written} messages");
    }
    Ok(ExitCode::SUCCESS)
}

/// `import`: JSON Lines or a Go export; exit 1 when some lines were rejected.
pub(crate) async fn import(
    store: Arc<dyn ChatAppMessageStore>,
    file: &Path,
    json: bool,
) -> Result<ExitCode> {
    let bar = progress("records");
    let mut tick = |n| bar.set_position(n);
    let limits = ValidationLimits::default();
    let report = if file == Path::new("-") {
        let stdin = BufReader::new(std::io::stdin());
        import_jsonl_with_progress(store.as_ref(), stdin, &limits, &mut tick).await?
    } else {
        let input = File::open(file)
            .map_err(|e| StorageError::io(format!("open {}", file.display()), e))?;
        import_jsonl_with_progress(store.as_ref(), BufReader::new(input), &limits, &mut tick)
            .await?
    };
    bar.finish_and_clear();
    if json {
        print_json(&report)?;
    } else {
        println!(
            "imported {}, already present {}, filtered {}, rejected {}",
            report.imported,
            report.already_present,
            report.filtered,
            report.rejected.len()
        );
        for r in &report.rejected {
            eprintln!("line {}: {}", r.line, r.reason);
        }
    }
    Ok(if report.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `backup`: through `ChatAppMessageStore::backup_to`.
pub(crate) async fn backup(
    store: Arc<dyn ChatAppMessageStore>,
    path: &Path,
    json: bool,
) -> Result<ExitCode> {
    let bar = progress("backing up");
    let report = store.backup_to(path).await?;
    bar.finish_and_clear();
    if json {
        print_json(&report)?;
    } else {
        println!(
            "backup of {} messages ({}, {} bytes) written to {}",
            report.messages,
            report.format.as_str(),
            report.bytes,
            report.path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
