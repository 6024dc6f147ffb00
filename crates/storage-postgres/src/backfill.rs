//! Filling `content_folded` for rows that lack it: rows stored before migration 2, or by an
//! older build since. Runs after the migrations (their lock released) by one process at a time
//! (a session advisory lock taken with `pg_try_advisory_lock`: a process that finds it taken
//! skips the backfill rather than wait), in batches of at most [`BATCH_ROWS`] rows and about
//! [`BATCH_BYTES`] of content, each batch its own transaction, oldest rows first (through the
//! partial index `messages_unfolded_idx`). The fold is core's [`fold`], the one
//! `SearchPlan::hit` applies, so the index can never miss a row `hit` accepts. Until a row is
//! filled, every search treats it as a candidate.

use chrono::{DateTime, Utc};
use hotplex_storage_core::{Result, fold};
use postgres::Client;

use crate::error::{from_pg, from_pg_commit};
use crate::migrations::lock_key;

/// The most rows one batch reads and updates.
pub(crate) const BATCH_ROWS: i64 = 1_000;
/// Content bytes after which a batch stops taking rows (the first row is always taken).
pub(crate) const BATCH_BYTES: i64 = 8 * 1024 * 1024;

/// The oldest unfolded rows, cut once the running content size passes `$2` bytes.
const SELECT_BATCH: &str = "SELECT id, created_at, content FROM (\
       SELECT id, created_at, seq, content, \
         sum(octet_length(content)) OVER (ORDER BY created_at, seq) - octet_length(content) \
           AS before \
       FROM (SELECT id, created_at, seq, content FROM messages \
             WHERE content_folded IS NULL ORDER BY created_at, seq LIMIT $1) oldest) sized \
     WHERE before < $2 ORDER BY created_at, seq";

/// Fills the rows of one batch; a row filled meanwhile is left alone.
const UPDATE_BATCH: &str = "UPDATE messages m SET content_folded = v.folded \
     FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS v(id, created_at, folded) \
     WHERE m.id = v.id AND m.created_at = v.created_at AND m.content_folded IS NULL";

/// [`run`] unless another process is backfilling `schema` (then 0).
pub(crate) fn run_once(client: &mut Client, schema: &str) -> Result<u64> {
    let op = "migrate: backfill lock";
    let key = lock_key("backfill", schema);
    let locked: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
        .map_err(|e| from_pg(op, e))?
        .get(0);
    if !locked {
        tracing::info!(
            schema,
            "another process is backfilling content_folded; skipped"
        );
        return Ok(0);
    }
    let result = run(client, VACUUM_AFTER_ROWS);
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&key]);
    let filled = result?;
    unlocked.map_err(|e| from_pg(op, e))?;
    Ok(filled)
}

/// After filling at least this many rows, the backfill runs `VACUUM (ANALYZE) messages`: the
/// old row versions' entries would otherwise keep `messages_unfolded_idx`, which every search
/// reads, large until autovacuum comes (1M rows filled: 30 MB, 20 ms per search instead of
/// 0.5 ms), and the planner needs the new column's statistics.
pub(crate) const VACUUM_AFTER_ROWS: u64 = 10_000;

/// Fills every unfolded row; returns how many were filled. Vacuums after `vacuum_after` rows
/// or more.
fn run(client: &mut Client, vacuum_after: u64) -> Result<u64> {
    let op = "migrate: backfill content_folded";
    let select = client.prepare(SELECT_BATCH).map_err(|e| from_pg(op, e))?;
    let update = client.prepare(UPDATE_BATCH).map_err(|e| from_pg(op, e))?;
    let mut filled = 0_u64;
    loop {
        let rows = client
            .query(&select, &[&BATCH_ROWS, &BATCH_BYTES])
            .map_err(|e| from_pg(op, e))?;
        if rows.is_empty() {
            break;
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut times = Vec::with_capacity(rows.len());
        let mut folded = Vec::with_capacity(rows.len());
        for row in &rows {
            ids.push(row.get::<_, String>(0));
            times.push(row.get::<_, DateTime<Utc>>(1));
            folded.push(fold(row.get::<_, &str>(2)));
        }
        let changed = client
            .execute(&update, &[&ids, &times, &folded])
            .map_err(|e| from_pg_commit(op, e))?;
        filled += changed;
        tracing::info!(batch = rows.len(), filled, "backfilled content_folded");
        // Every row of the batch was purged meanwhile: stop rather than risk spinning; what
        // is left is filled by the next migrate and found by search meanwhile.
        if changed == 0 {
            break;
        }
    }
    if filled >= vacuum_after {
        client
            .batch_execute("VACUUM (ANALYZE) messages")
            .map_err(|e| from_pg(op, e))?;
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PostgresConfig;
    use crate::connection::connect_dedicated;
    use crate::migrations::migrate;

    /// Three rows as an older build writes them: no `content_folded`.
    const UNFOLDED: &str = "\
        INSERT INTO messages (id, chat_session_id, engine_session_id, message_type, content, \
          created_at, updated_at) \
        SELECT 'u' || g, 's', '00000000-0000-0000-0000-000000000000', 'user_input', \
          'ÄB ' || g || 'Σ', timestamptz '2026-01-01' + g * interval '1 s', \
          timestamptz '2026-01-01' + g * interval '1 s' \
        FROM generate_series(1, 3) g";

    #[test]
    fn batches_stop_after_the_byte_budget_and_fill_with_the_core_fold() {
        let Some(server) = hotplex_storage_testkit::PgServer::shared_or_skip() else {
            return;
        };
        let db = server.create_database().expect("a test database");
        let config = PostgresConfig::from_dsn(&db.dsn()).unwrap();
        config.validate().unwrap();
        let mut client = connect_dedicated(&config).unwrap();
        migrate(&mut client, &config).unwrap();
        client.batch_execute(UNFOLDED).unwrap();
        // Each content is 8 bytes ('Ä' and 'Σ' take 2): a 10-byte budget takes the rows that
        // start before byte 10, the first two; the first row is taken whatever its size.
        let ids = |bytes: i64| -> Vec<String> {
            let mut c = connect_dedicated(&config).unwrap();
            c.query(SELECT_BATCH, &[&BATCH_ROWS, &bytes])
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect()
        };
        assert_eq!(ids(10), ["u1", "u2"]);
        assert_eq!(ids(1), ["u1"]);
        assert_eq!(ids(BATCH_BYTES), ["u1", "u2", "u3"]);

        assert_eq!(run(&mut client, 3).unwrap(), 3);
        let rows = client
            .query(
                "SELECT content, content_folded FROM messages ORDER BY id",
                &[],
            )
            .unwrap();
        for row in &rows {
            assert_eq!(row.get::<_, String>(1), fold(row.get::<_, &str>(0)));
        }
        assert_eq!(rows[0].get::<_, String>(1), "äb 1σ");
        let vacuumed: bool = client
            .query_one(
                "SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables \
                 WHERE relid = 'messages'::regclass",
                &[],
            )
            .unwrap()
            .get(0);
        assert!(vacuumed, "3 rows filled with a threshold of 3 vacuums");
        assert_eq!(run(&mut client, 3).unwrap(), 0, "nothing left");
        drop(client);
        drop(db);
    }
}
