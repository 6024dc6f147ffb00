//! The PostgreSQL extensions a migration needs, checked before any pending migration runs: a
//! role that may not create a missing extension gets a `Migration` error naming the missing
//! privilege and the statement a database administrator runs, and nothing is applied.

use hotplex_storage_core::{Result, StorageError};
use postgres::Client;

use crate::error::from_pg;

/// An extension and the first schema version that needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Required {
    /// The extension's name.
    pub(crate) name: &'static str,
    /// The migration that creates it (`CREATE EXTENSION IF NOT EXISTS`).
    pub(crate) since_version: i64,
}

/// Every extension some migration creates.
pub(crate) const REQUIRED: &[Required] = &[Required {
    name: "pg_trgm",
    since_version: 2,
}];

/// What the server says about one extension for the current role.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Probe {
    installed: bool,
    available: bool,
    may_create: bool,
    database: String,
    role: String,
}

/// One round trip: installed, available, and whether the current role may create it (a
/// superuser may; otherwise the extension must be trusted and the role must hold `CREATE` on
/// the database).
const PROBE: &str = "SELECT \
       EXISTS (SELECT 1 FROM pg_extension WHERE extname = $1), \
       EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1), \
       coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) \
         OR (coalesce((SELECT v.trusted FROM pg_available_extension_versions v \
                        JOIN pg_available_extensions a ON a.name = v.name \
                                                     AND a.default_version = v.version \
                       WHERE v.name = $1), false) \
             AND has_database_privilege(current_database(), 'CREATE')), \
       current_database()::text, current_user::text";

fn probe(client: &mut Client, name: &str) -> Result<Probe> {
    let row = client
        .query_one(PROBE, &[&name])
        .map_err(|e| from_pg("migrate: check extensions", e))?;
    Ok(Probe {
        installed: row.get(0),
        available: row.get(1),
        may_create: row.get(2),
        database: row.get(3),
        role: row.get(4),
    })
}

/// The statement a database administrator runs to install `name`.
pub(crate) fn dba_statement(name: &str) -> String {
    format!("CREATE EXTENSION IF NOT EXISTS {name};")
}

/// The refusal for a role that may not create `name` in `database`.
fn refusal(name: &str, version: i64, database: &str, role: &str) -> StorageError {
    StorageError::migration(format!(
        "migration {version} needs the PostgreSQL extension {name}, which is not installed in \
         database {database:?}, and role {role:?} may not create it: that needs the CREATE \
         privilege on the database (or superuser). Nothing was applied. A database \
         administrator runs, connected to database {database:?}: {}  Then start the store \
         again (docs/operations.md, \"Search index\")",
        dba_statement(name)
    ))
}

/// Refuses, before anything is applied, when a pending migration (versions above `current`)
/// needs an extension that is missing and that this role may not create, or that the server
/// does not have.
pub(crate) fn check_pending(client: &mut Client, current: i64, latest: i64) -> Result<()> {
    for required in REQUIRED
        .iter()
        .filter(|r| r.since_version > current && r.since_version <= latest)
    {
        let probe = probe(client, required.name)?;
        if probe.installed {
            continue;
        }
        if !probe.available {
            return Err(StorageError::migration(format!(
                "migration {} needs the PostgreSQL extension {}, which this server does not \
                 have: install PostgreSQL's contrib modules on the server (Debian/Ubuntu: the \
                 postgresql-contrib package; included in most managed services). Nothing was \
                 applied",
                required.since_version, required.name
            )));
        }
        if !probe.may_create {
            return Err(refusal(
                required.name,
                required.since_version,
                &probe.database,
                &probe.role,
            ));
        }
    }
    Ok(())
}
