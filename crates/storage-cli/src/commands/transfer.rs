//! `export`, `import` (JSON Lines, the Go plugin's JSON export or its SQLite database) and
//! `backup`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use hotplex_storage_core::{
    ChatAppMessageStore, MessageQuery, PrivateTempFile, Result, SQLITE_HEADER, StorageError,
    ValidationLimits, export_jsonl_with_progress, import_jsonl_with_progress, is_sqlite_header,
};
use hotplex_storage_registry::StorageConfig;

use super::with_store;

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

/// `import`: the Go plugin's SQLite database (recognised by its header), JSON Lines or a Go
/// export; exit 1 when some lines or rows were rejected.
pub(crate) async fn import(cfg: &StorageConfig, file: &Path, json: bool) -> Result<ExitCode> {
    if file == Path::new("-") {
        let mut stdin = BufReader::new(std::io::stdin());
        let head = stdin
            .fill_buf()
            .map_err(|e| StorageError::io("import: read standard input", e))?;
        if is_sqlite_header(head) {
            return Err(StorageError::data(
                "import",
                "standard input is a SQLite database: pass its path instead, so that it is \
                 opened read-only",
            ));
        }
        return with_store(cfg, |store| import_records(store, stdin, json)).await;
    }
    let mut input =
        File::open(file).map_err(|e| StorageError::io(format!("open {}", file.display()), e))?;
    let mut head = Vec::with_capacity(SQLITE_HEADER.len());
    (&mut input)
        .take(SQLITE_HEADER.len() as u64)
        .read_to_end(&mut head)
        .map_err(|e| StorageError::io(format!("read {}", file.display()), e))?;
    if is_sqlite_header(&head) {
        return go_database::import(cfg, file, json).await;
    }
    input
        .rewind()
        .map_err(|e| StorageError::io(format!("read {}", file.display()), e))?;
    with_store(cfg, |store| {
        import_records(store, BufReader::new(input), json)
    })
    .await
}

/// Imports JSON Lines or a Go export from `input` and prints the report.
async fn import_records(
    store: Arc<dyn ChatAppMessageStore>,
    input: impl BufRead + Send,
    json: bool,
) -> Result<ExitCode> {
    let bar = progress("records");
    let mut tick = |n| bar.set_position(n);
    let limits = ValidationLimits::default();
    let report = import_jsonl_with_progress(store.as_ref(), input, &limits, &mut tick).await?;
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

/// The Go plugin's SQLite database, through the registry's read-only `GoDatabase`.
#[cfg(feature = "sqlite")]
mod go_database {
    use std::path::Path;
    use std::process::ExitCode;

    use hotplex_storage_core::{
        GoImportReport, Result, StorageError, ValidationLimits, import_go_rows,
    };
    use hotplex_storage_registry::{GoDatabase, GoDatabaseSummary, StorageConfig};

    use crate::commands::with_store;
    use crate::output::{print_json, progress_of};

    /// Opens `file` read-only (its schema checked before the store is opened), imports every
    /// row and prints the summary.
    pub(super) async fn import(cfg: &StorageConfig, file: &Path, json: bool) -> Result<ExitCode> {
        let limits = ValidationLimits::default();
        let mut db = GoDatabase::open(file)?
            .with_max_value_bytes(u64::try_from(limits.max_content_bytes).unwrap_or(u64::MAX));
        refuse_same_file(cfg, file)?;
        let summary = db.summary().clone();
        with_store(cfg, |store| async move {
            let bar = progress_of("rows", summary.rows);
            let mut processed = 0;
            let result = import_go_rows(store.as_ref(), &mut db, &limits, &mut |n| {
                processed = n;
                bar.set_position(n);
            })
            .await;
            bar.finish_and_clear();
            let report = result.inspect_err(|_| {
                eprintln!(
                    "note: {processed} of {} rows were processed before the error; the import \
                     is idempotent: run it again to continue",
                    summary.rows
                );
            })?;
            if json {
                print_json(&as_json(file, &summary, &report)?)?;
            } else {
                print_text(file, &summary, &report);
            }
            Ok(if report.skipped.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        })
        .await
    }

    /// Importing into the file being read would make the store migrate the Go database.
    fn refuse_same_file(cfg: &StorageConfig, source: &Path) -> Result<()> {
        let Some(target) = cfg.sqlite_path().filter(|_| cfg.store_type == "sqlite") else {
            return Ok(());
        };
        let target = Path::new(target);
        match (std::fs::canonicalize(source), std::fs::canonicalize(target)) {
            (Ok(a), Ok(b)) if a == b => Err(StorageError::invalid_config(
                "sqlite.path",
                format!(
                    "{} is the Go database being imported: import it into another database file",
                    b.display()
                ),
            )),
            _ => Ok(()),
        }
    }

    fn as_json(
        file: &Path,
        summary: &GoDatabaseSummary,
        report: &GoImportReport,
    ) -> Result<serde_json::Value> {
        let mut value = serde_json::to_value(report)
            .map_err(|e| StorageError::data("print JSON", e.to_string()))?;
        if let Some(object) = value.as_object_mut() {
            object.insert("source".into(), "go-sqlite".into());
            object.insert("file".into(), file.display().to_string().into());
            object.insert(
                "database".into(),
                serde_json::json!({
                    "rows": summary.rows,
                    "deleted_rows": summary.deleted_rows,
                    "session_metas": summary.session_metas,
                    "session_metas_disagreeing": summary.session_metas_disagreeing,
                    "ignored_columns": summary.ignored_columns,
                }),
            );
        }
        Ok(value)
    }

    fn print_text(file: &Path, summary: &GoDatabaseSummary, report: &GoImportReport) {
        let metas = match (summary.session_metas, summary.session_metas_disagreeing) {
            (Some(all), Some(disagreeing)) => format!(
                "; session_metadata: {all} sessions, {disagreeing} disagreeing with their \
                 messages (metas are rebuilt from the imported messages)"
            ),
            _ => "; no session_metadata table".to_owned(),
        };
        println!(
            "Go plugin database {}: {} rows ({} deleted){metas}",
            file.display(),
            summary.rows,
            summary.deleted_rows
        );
        println!(
            "imported {}, already present {}, filtered {}, skipped {}",
            report.imported,
            report.already_present,
            report.filtered,
            report.skipped.len()
        );
        if !summary.ignored_columns.is_empty() {
            eprintln!(
                "warning: columns the Go plugin never had are not imported: {}",
                summary.ignored_columns.join(", ")
            );
        }
        for s in &report.skipped {
            eprintln!("row {} (id {:?}): skipped: {}", s.rowid, s.id, s.reason);
        }
        for n in &report.notes {
            eprintln!("row {} (id {:?}): note: {}", n.rowid, n.id, n.reason);
        }
    }
}

/// Without the `sqlite` feature a Go database cannot be read.
#[cfg(not(feature = "sqlite"))]
mod go_database {
    use std::path::Path;
    use std::process::ExitCode;

    use hotplex_storage_core::{Result, StorageError};
    use hotplex_storage_registry::StorageConfig;

    pub(super) async fn import(_: &StorageConfig, file: &Path, _: bool) -> Result<ExitCode> {
        Err(StorageError::data(
            "import",
            format!(
                "{} is a SQLite database, and this build has no SQLite support (cargo feature \
                 `sqlite`)",
                file.display()
            ),
        ))
    }
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
