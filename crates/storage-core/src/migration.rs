//! Migration bookkeeping shared by the SQL backends: which migrations a database needs, and
//! whether it may be opened at all. Pure logic; each backend runs the SQL and stores the history
//! rows in its own `schema_migrations` table.

use crate::{Result, StorageError};

/// One schema migration of a backend: applied once, in version order, never edited after
/// release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Strictly increasing, starting at 1.
    pub version: i64,
    /// Short snake-case description.
    pub name: &'static str,
    /// The SQL text.
    pub sql: &'static str,
}

impl Migration {
    /// The checksum recorded for this migration ([`checksum`] of its SQL).
    pub fn checksum(&self) -> String {
        checksum(self.sql)
    }
}

/// A migration recorded as applied in a database's history table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppliedMigration {
    /// The migration's version.
    pub version: i64,
    /// Its name as recorded.
    pub name: String,
    /// Its checksum as recorded.
    pub checksum: String,
}

/// A database's schema state as `hotplex-storage migrate --status` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MigrationStatus {
    /// The newest applied version (0: none, or a backend without a schema).
    pub current_version: i64,
    /// The newest version this build knows (0 for a backend without a schema, like memory).
    pub latest_version: i64,
    /// The history rows, oldest first.
    pub applied: Vec<AppliedMigration>,
    /// Versions and names this build would apply, in order.
    pub pending: Vec<(i64, String)>,
}

impl MigrationStatus {
    /// True when nothing is pending.
    pub fn is_up_to_date(&self) -> bool {
        self.pending.is_empty()
    }
}

/// FNV-1a (64-bit) of the SQL text with every `\r` removed, as 16 lower-case hex digits.
///
/// Stable across Rust releases and platforms (unlike `DefaultHasher`); ignoring `\r` keeps a
/// checkout with CRLF line endings compatible with databases created from LF sources.
pub fn checksum(sql: &str) -> String {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    let hash = sql
        .bytes()
        .filter(|&b| b != b'\r')
        .fold(OFFSET_BASIS, |hash, b| {
            (hash ^ u64::from(b)).wrapping_mul(PRIME)
        });
    format!("{hash:016x}")
}

/// Checks a database's history against this build's migrations and returns the ones to apply,
/// in order.
///
/// Refuses (`StorageError::Migration`, never transient) a database newer than the build, one
/// with a migration this build does not know, and one whose recorded checksum differs from the
/// build's (a released migration was edited). `backend` names the crate in the messages.
pub fn pending_migrations<'m>(
    backend: &str,
    known: &'m [Migration],
    applied: &[AppliedMigration],
) -> Result<Vec<&'m Migration>> {
    let latest = known.last().map_or(0, |m| m.version);
    if let Some(newest) = applied.iter().map(|a| a.version).max()
        && newest > latest
    {
        return Err(StorageError::migration(format!(
            "database schema version {newest} is newer than this build ({latest}); \
             upgrade {backend} to open it"
        )));
    }
    for recorded in applied {
        let Some(migration) = known.iter().find(|m| m.version == recorded.version) else {
            return Err(StorageError::migration(format!(
                "database has migration {} ({}) that this build does not know",
                recorded.version, recorded.name
            )));
        };
        let expected = migration.checksum();
        if recorded.checksum != expected {
            return Err(StorageError::migration(format!(
                "checksum mismatch for migration {} ({}): the database recorded {}, this \
                 build has {expected}; a released migration was edited",
                recorded.version, recorded.name, recorded.checksum
            )));
        }
    }
    Ok(known
        .iter()
        .filter(|m| !applied.iter().any(|a| a.version == m.version))
        .collect())
}

/// The [`MigrationStatus`] of a database with history `applied` under this build's `known`
/// migrations; refused like [`pending_migrations`].
pub fn migration_status(
    backend: &str,
    known: &[Migration],
    applied: Vec<AppliedMigration>,
) -> Result<MigrationStatus> {
    let pending = pending_migrations(backend, known, &applied)?
        .into_iter()
        .map(|m| (m.version, m.name.to_owned()))
        .collect();
    Ok(MigrationStatus {
        current_version: applied.iter().map(|a| a.version).max().unwrap_or(0),
        latest_version: known.last().map_or(0, |m| m.version),
        applied,
        pending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: Migration = Migration {
        version: 1,
        name: "initial",
        sql: "CREATE TABLE a (x INTEGER);",
    };
    const V2: Migration = Migration {
        version: 2,
        name: "second",
        sql: "CREATE TABLE b (x INTEGER);",
    };

    fn recorded(m: &Migration) -> AppliedMigration {
        AppliedMigration {
            version: m.version,
            name: m.name.to_owned(),
            checksum: m.checksum(),
        }
    }

    #[test]
    fn checksum_is_fnv1a_and_ignores_carriage_returns() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(checksum(""), "cbf29ce484222325");
        assert_eq!(checksum("a"), "af63dc4c8601ec8c");
        assert_eq!(checksum("foobar"), "85944171f73967e8");
        assert_eq!(checksum("x\r\ny\r\n"), checksum("x\ny\n"));
    }

    #[test]
    fn pending_is_what_the_history_lacks_in_order() {
        let none = pending_migrations("b", &[V1, V2], &[]).unwrap();
        assert_eq!(none, vec![&V1, &V2]);
        let one = pending_migrations("b", &[V1, V2], &[recorded(&V1)]).unwrap();
        assert_eq!(one, vec![&V2]);
        let status = migration_status("b", &[V1, V2], vec![recorded(&V1)]).unwrap();
        assert_eq!(status.current_version, 1);
        assert_eq!(status.latest_version, 2);
        assert_eq!(status.pending, vec![(2, "second".to_owned())]);
        assert!(!status.is_up_to_date());
    }

    #[test]
    fn newer_unknown_and_edited_databases_are_refused() {
        let newer =
            pending_migrations("hotplex-x", &[V1], &[recorded(&V1), recorded(&V2)]).unwrap_err();
        assert!(
            newer.to_string().contains(
                "database schema version 2 is newer than this build (1); upgrade hotplex-x"
            ),
            "{newer}"
        );
        let gap = Migration { version: 3, ..V2 };
        let unknown = pending_migrations("b", &[V1, gap], &[recorded(&V2)]).unwrap_err();
        assert!(unknown.to_string().contains("does not know"), "{unknown}");
        let mut edited = recorded(&V1);
        edited.checksum = checksum("something else");
        let err = pending_migrations("b", &[V1], &[edited]).unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        assert!(matches!(err, StorageError::Migration { .. }));
        assert!(!err.is_transient());
    }
}
