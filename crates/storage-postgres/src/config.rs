//! [`PostgresConfig`]: which server, database and schema a [`PostgresStore`](crate::PostgresStore)
//! uses, and how. Every setting is described in `docs/configuration.md`.

use std::fmt;
use std::time::Duration;

use hotplex_storage_core::{Result, StorageError, ValidationLimits};
use postgres::config::{Host, SslMode};

/// The default `max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;
/// The largest accepted `max_connections`.
pub const MAX_MAX_CONNECTIONS: u32 = 1000;
/// The default `connect_timeout` (also the pool checkout timeout).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest accepted `connect_timeout`.
pub const MAX_CONNECT_TIMEOUT: Duration = Duration::from_mins(10);
/// The default schema.
pub const DEFAULT_SCHEMA: &str = "public";

/// Configuration of a [`PostgresStore`](crate::PostgresStore).
///
/// Start from a DSN ([`PostgresConfig::from_dsn`], URL or `key=value` form, parsed by
/// `postgres::Config`) or from [`PostgresConfig::new`] and the host/port/user/… setters;
/// [`PostgresStore::new`](crate::PostgresStore::new) validates it without connecting.
/// `Debug` never shows the password.
///
/// ```
/// use hotplex_storage_postgres::PostgresConfig;
/// let config = PostgresConfig::from_dsn("postgres://app:secret@db.internal/chat")?
///     .with_max_connections(16)
///     .with_level(2)
///     .with_schema("hotplex");
/// config.validate()?;
/// assert!(!format!("{config:?}").contains("secret"));
/// # Ok::<(), hotplex_storage_core::StorageError>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct PostgresConfig {
    pg: postgres::Config,
    max_connections: u32,
    connect_timeout: Duration,
    level: u8,
    schema: String,
    limits: ValidationLimits,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl PostgresConfig {
    /// An empty configuration: set at least a host and a user.
    pub fn new() -> Self {
        Self {
            pg: postgres::Config::new(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            level: 1,
            schema: DEFAULT_SCHEMA.to_owned(),
            limits: ValidationLimits::default(),
        }
    }

    /// Parses a DSN: `postgres://user:pass@host:port/db?sslmode=disable` or
    /// `host=… port=… user=… password=… dbname=… sslmode=…`. A `connect_timeout` in the DSN
    /// becomes this config's `connect_timeout`.
    pub fn from_dsn(dsn: &str) -> Result<Self> {
        let pg: postgres::Config = dsn.parse().map_err(|e: postgres::Error| {
            // The driver's parse errors name the offending key, never its value.
            StorageError::invalid_config("postgres.dsn", format!("not a valid DSN: {e}"))
        })?;
        let mut config = Self::new();
        if let Some(timeout) = pg.get_connect_timeout() {
            config.connect_timeout = *timeout;
        }
        config.pg = pg;
        Ok(config)
    }

    /// Adds a host name, an IP address, or (starting with `/`) a Unix socket directory.
    #[must_use]
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.pg.host(&host.into());
        self
    }

    /// Sets the port (default 5432).
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.pg.port(port);
        self
    }

    /// Sets the user.
    #[must_use]
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.pg.user(&user.into());
        self
    }

    /// Sets the password (never shown by `Debug`, errors or logs).
    #[must_use]
    pub fn with_password(mut self, password: impl AsRef<[u8]>) -> Self {
        self.pg.password(password);
        self
    }

    /// Sets the database name (default: the user name).
    #[must_use]
    pub fn with_database(mut self, database: impl Into<String>) -> Self {
        self.pg.dbname(&database.into());
        self
    }

    /// Sets `sslmode` from its name: `disable` or `prefer` (without TLS). `require` is
    /// refused by [`validate`](Self::validate): this build has no TLS connector.
    pub fn with_sslmode(mut self, sslmode: &str) -> Result<Self> {
        let mode = match sslmode.to_ascii_lowercase().as_str() {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            _ => {
                return Err(StorageError::invalid_config(
                    "postgres.sslmode",
                    format!("{sslmode:?} is not one of: disable, prefer, require"),
                ));
            }
        };
        self.pg.ssl_mode(mode);
        Ok(self)
    }

    /// Sets the pool size: at most this many connections (default 10, 1..=1000).
    #[must_use]
    pub fn with_max_connections(mut self, max_connections: u32) -> Self {
        self.max_connections = max_connections;
        self
    }

    /// Sets how long connecting, and waiting for a pooled connection, may take (default 5 s).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the storage level: 1 (one table) or 2 (monthly partitions). Default 1.
    #[must_use]
    pub fn with_level(mut self, level: u8) -> Self {
        self.level = level;
        self
    }

    /// Sets the schema the store's tables live in (default `public`); created if missing.
    #[must_use]
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Sets the message validation limits (default [`ValidationLimits::default`]).
    #[must_use]
    pub fn with_limits(mut self, limits: ValidationLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The message validation limits.
    pub fn limits(&self) -> &ValidationLimits {
        &self.limits
    }

    /// The pool size.
    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }

    /// The connect and pool checkout timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The storage level (1 or 2).
    pub fn level(&self) -> u8 {
        self.level
    }

    /// The schema name (unquoted).
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The schema as a quoted SQL identifier (valid only after [`validate`](Self::validate)).
    pub(crate) fn quoted_schema(&self) -> String {
        format!("\"{}\"", self.schema)
    }

    /// The driver configuration used to connect, with `connect_timeout` applied.
    pub(crate) fn driver_config(&self) -> postgres::Config {
        let mut pg = self.pg.clone();
        pg.connect_timeout(self.connect_timeout);
        if pg.get_application_name().is_none() {
            pg.application_name("hotplex-storage");
        }
        pg
    }

    /// Checks every setting; no I/O.
    pub fn validate(&self) -> Result<()> {
        if self.pg.get_hosts().is_empty() {
            return Err(StorageError::invalid_config(
                "postgres.host",
                "no host given (set a DSN or a host)",
            ));
        }
        if self.pg.get_user().is_none_or(str::is_empty) {
            return Err(StorageError::invalid_config(
                "postgres.user",
                "no user given (set it in the DSN or with with_user)",
            ));
        }
        if self.pg.get_ssl_mode() == SslMode::Require {
            return Err(StorageError::invalid_config(
                "postgres.sslmode",
                "require needs TLS, which this build does not include; use disable or prefer \
                 (or a TLS-terminating proxy)",
            ));
        }
        if !(1..=MAX_MAX_CONNECTIONS).contains(&self.max_connections) {
            return Err(StorageError::invalid_config(
                "postgres.max_connections",
                format!(
                    "{} is outside 1..={MAX_MAX_CONNECTIONS}",
                    self.max_connections
                ),
            ));
        }
        if self.connect_timeout.is_zero() || self.connect_timeout > MAX_CONNECT_TIMEOUT {
            return Err(StorageError::invalid_config(
                "postgres.connect_timeout",
                format!(
                    "{:?} is outside (0, {MAX_CONNECT_TIMEOUT:?}]",
                    self.connect_timeout
                ),
            ));
        }
        if !matches!(self.level, 1 | 2) {
            return Err(StorageError::invalid_config(
                "postgres.level",
                format!(
                    "{} is not 1 (one table) or 2 (monthly partitions)",
                    self.level
                ),
            ));
        }
        if self.limits.max_content_bytes == 0 {
            return Err(StorageError::invalid_config(
                "postgres.limits.max_content_bytes",
                "must be at least 1",
            ));
        }
        validate_schema(&self.schema)
    }
}

/// A schema name must be a plain lower-case identifier (`[a-z_][a-z0-9_]*`, at most 63
/// bytes, not `pg_*`), so that quoting it is exact and it never needs escaping.
fn validate_schema(schema: &str) -> Result<()> {
    let reason = if schema.is_empty() {
        Some("is empty")
    } else if schema.len() > 63 {
        Some("is longer than 63 bytes")
    } else if schema.starts_with("pg_") {
        Some("starts with pg_, which PostgreSQL reserves")
    } else if !schema
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        || schema.as_bytes()[0].is_ascii_digit()
    {
        Some("is not an identifier of a-z, 0-9 and _ (not starting with a digit)")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(StorageError::invalid_config(
            "postgres.schema",
            format!("{schema:?} {reason}"),
        )),
        None => Ok(()),
    }
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts: Vec<String> = self
            .pg
            .get_hosts()
            .iter()
            .map(|h| match h {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        f.debug_struct("PostgresConfig")
            .field("hosts", &hosts)
            .field("ports", &self.pg.get_ports())
            .field("user", &self.pg.get_user())
            .field("password", &self.pg.get_password().map(|_| "<redacted>"))
            .field("database", &self.pg.get_dbname())
            .field("sslmode", &self.pg.get_ssl_mode())
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .field("level", &self.level)
            .field("schema", &self.schema)
            .field("limits", &self.limits)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> PostgresConfig {
        PostgresConfig::new()
            .with_host("localhost")
            .with_user("app")
    }

    #[test]
    fn url_and_key_value_dsns_parse() {
        let url =
            PostgresConfig::from_dsn("postgres://app:pw@db:6543/chat?connect_timeout=3").unwrap();
        url.validate().unwrap();
        assert_eq!(url.pg.get_ports(), &[6543]);
        assert_eq!(url.pg.get_dbname(), Some("chat"));
        assert_eq!(url.connect_timeout(), Duration::from_secs(3));
        let kv =
            PostgresConfig::from_dsn("host=/tmp/s port=5 user=u dbname=d sslmode=disable").unwrap();
        kv.validate().unwrap();
        assert_eq!(kv.pg.get_user(), Some("u"));
        let err = PostgresConfig::from_dsn("postgres://app:pw@db:notaport/chat").unwrap_err();
        assert!(err.is_config_error(), "{err}");
        assert!(!err.to_string().contains("pw"), "{err}");
    }

    #[test]
    fn password_never_appears_in_debug() {
        let config = PostgresConfig::from_dsn("postgres://app:hunter2-secret@db/chat").unwrap();
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        let built = valid().with_password("s3cr3t-pw");
        assert!(!format!("{built:?}").contains("s3cr3t"));
    }

    #[test]
    fn every_limit_is_enforced_at_its_edge() {
        assert!(valid().with_max_connections(1).validate().is_ok());
        assert!(
            valid()
                .with_max_connections(MAX_MAX_CONNECTIONS)
                .validate()
                .is_ok()
        );
        for bad in [0, MAX_MAX_CONNECTIONS + 1] {
            let err = valid().with_max_connections(bad).validate().unwrap_err();
            assert!(
                err.to_string().contains("postgres.max_connections"),
                "{err}"
            );
        }
        assert!(
            valid()
                .with_connect_timeout(MAX_CONNECT_TIMEOUT)
                .validate()
                .is_ok()
        );
        for bad in [
            Duration::ZERO,
            MAX_CONNECT_TIMEOUT + Duration::from_millis(1),
        ] {
            assert!(valid().with_connect_timeout(bad).validate().is_err());
        }
        for level in [1, 2] {
            assert!(valid().with_level(level).validate().is_ok());
        }
        for level in [0, 3] {
            assert!(
                valid()
                    .with_level(level)
                    .validate()
                    .unwrap_err()
                    .is_config_error()
            );
        }
        assert!(PostgresConfig::new().with_user("u").validate().is_err());
        assert!(PostgresConfig::new().with_host("h").validate().is_err());
    }

    #[test]
    fn schema_must_be_a_plain_identifier() {
        for good in ["public", "hotplex", "_a1", &"a".repeat(63)] {
            assert!(valid().with_schema(good).validate().is_ok(), "{good}");
        }
        for bad in [
            "",
            "Public",
            "1abc",
            "a-b",
            "a\"b",
            "x; DROP TABLE y",
            "pg_temp",
            &"a".repeat(64),
        ] {
            let err = valid().with_schema(bad).validate().unwrap_err();
            assert!(err.to_string().contains("postgres.schema"), "{bad}: {err}");
        }
    }

    #[test]
    fn sslmode_require_is_refused_without_tls() {
        assert!(valid().with_sslmode("disable").unwrap().validate().is_ok());
        assert!(valid().with_sslmode("Prefer").unwrap().validate().is_ok());
        let err = valid()
            .with_sslmode("require")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("TLS"), "{err}");
        assert!(valid().with_sslmode("verify-full").is_err());
        let dsn = PostgresConfig::from_dsn("host=h user=u sslmode=require").unwrap();
        assert!(dsn.validate().is_err());
    }
}
