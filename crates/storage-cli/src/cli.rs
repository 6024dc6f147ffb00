//! The command line, declared with clap's derive API.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Operate a hotplex-storage message store.
///
/// The store is configured by `--config FILE` (the `message_store:` block), then the
/// `HOTPLEX_MESSAGE_STORE_*` environment variables, then the flags below; the default is SQLite
/// at ~/.hotplex/messages.db.
#[derive(Debug, Parser)]
#[command(name = "hotplex-storage", version, about, max_term_width = 100)]
pub(crate) struct Cli {
    /// YAML file with a `message_store:` block.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Backend: memory, sqlite, postgres (overrides config and environment).
    #[arg(long = "type", global = true, value_name = "NAME")]
    pub(crate) store_type: Option<String>,
    /// SQLite database file (`~` expands).
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) sqlite_path: Option<String>,
    /// PostgreSQL connection string.
    #[arg(long, global = true, value_name = "DSN")]
    pub(crate) postgres_dsn: Option<String>,
    /// PostgreSQL level: 1 (one table) or 2 (monthly partitions).
    #[arg(long, global = true, value_name = "LEVEL")]
    pub(crate) postgres_level: Option<u8>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// More log output on stderr (-v info, -vv debug, -vvv trace); `RUST_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Store a few Slack-style conversations (bot answers streamed chunk by chunk, one
    /// interrupted) and show them.
    Demo,
    /// List messages, newest first.
    List(ListArgs),
    /// Find messages whose content contains every term (case-insensitive substrings, so
    /// Chinese and Japanese words work), newest first, with a snippet of each.
    Search(SearchArgs),
    /// The sessions of a user, most recent first.
    Sessions(SessionsArgs),
    /// One message by id.
    Get {
        /// The message id.
        id: String,
    },
    /// Counters of the store.
    Stats,
    /// Health checks; the exit code is 0 healthy, 1 degraded, 2 unhealthy.
    Health,
    /// Export messages as JSON Lines (deleted ones included unless --live-only).
    Export(ExportArgs),
    /// Import JSON Lines, the Go plugin's JSON array export, or the Go plugin's SQLite
    /// database (opened read-only); idempotent and resumable.
    Import {
        /// The file to read (`-` for standard input; a SQLite database needs a path).
        file: PathBuf,
    },
    /// Write a backup (SQLite: a database copy; other backends: JSON Lines), mode 0600.
    Backup {
        /// The backup file; an existing file is replaced atomically.
        path: PathBuf,
    },
    /// Create or upgrade the schema and print the migration status.
    Migrate {
        /// Only print the status; change nothing.
        #[arg(long)]
        status: bool,
    },
    /// Hard-delete messages.
    Purge(PurgeArgs),
    /// Run the chat-bench workload (BENCHMARK.md) on fresh stores of the configured type.
    Bench(BenchArgs),
    /// Serve a read-only web viewer of the store (sessions, threads, search, health) until
    /// Ctrl-C or SIGTERM.
    Serve(ServeArgs),
}

/// `list` options.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only this session.
    #[arg(long)]
    pub(crate) session: Option<String>,
    /// Only this chat user.
    #[arg(long)]
    pub(crate) user: Option<String>,
    /// At most this many messages (0 = all).
    #[arg(long, default_value_t = 50)]
    pub(crate) limit: usize,
    /// Oldest first.
    #[arg(long)]
    pub(crate) ascending: bool,
    /// Include soft-deleted messages.
    #[arg(long)]
    pub(crate) include_deleted: bool,
}

/// `search` options.
#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// The terms, separated by whitespace; every one must occur (`数据库 backup`).
    pub(crate) text: String,
    /// Only this session.
    #[arg(long)]
    pub(crate) session: Option<String>,
    /// Only this chat user.
    #[arg(long)]
    pub(crate) user: Option<String>,
    /// Only this chat platform (`slack`, `feishu`, …).
    #[arg(long)]
    pub(crate) platform: Option<String>,
    /// At most this many hits (1 to 1,000).
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: usize,
    /// Continue after a previous page: the `next_cursor` it printed.
    #[arg(long, value_name = "TOKEN")]
    pub(crate) cursor: Option<String>,
}

/// `sessions` options.
#[derive(Debug, Args)]
pub(crate) struct SessionsArgs {
    /// Chat platform (`slack`, `feishu`, …).
    #[arg(long, default_value = "slack")]
    pub(crate) platform: String,
    /// Chat user id.
    #[arg(long)]
    pub(crate) user: String,
}

/// `export` options.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Output file (mode 0600, replaced atomically); standard output when absent.
    #[arg(long, short)]
    pub(crate) output: Option<PathBuf>,
    /// Only this session.
    #[arg(long)]
    pub(crate) session: Option<String>,
    /// Leave soft-deleted messages out.
    #[arg(long)]
    pub(crate) live_only: bool,
}

/// `purge` options: exactly one of them.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct PurgeArgs {
    /// Hard-delete every message of this session (erasure).
    #[arg(long)]
    pub(crate) session: Option<String>,
    /// Hard-delete soft-deleted messages deleted before this time (RFC 3339) or longer
    /// ago than this duration (`7d`).
    #[arg(long, value_name = "TIME|DURATION")]
    pub(crate) deleted_before: Option<String>,
    /// Hard-delete every message created longer ago than this duration (`90d`).
    #[arg(long, value_name = "DURATION")]
    pub(crate) older_than: Option<String>,
    /// Apply the configured `retention:` policy once.
    #[arg(long)]
    pub(crate) retention: bool,
}

/// `bench` options (defaults: BENCHMARK.md's workload).
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Sessions to generate.
    #[arg(long, default_value_t = 1_000)]
    pub(crate) sessions: usize,
    /// Turns per session (two messages each).
    #[arg(long, default_value_t = 20)]
    pub(crate) turns: usize,
    /// Operations per W3 read kind.
    #[arg(long, default_value_t = 5_000)]
    pub(crate) ops: usize,
    /// Also write the results as JSON to this file.
    #[arg(long = "json-out", value_name = "FILE")]
    pub(crate) json_out: Option<PathBuf>,
}

/// `serve` options.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (an IP literal and a port; port 0 picks a free one). Any address
    /// other than loopback requires a token.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "IP:PORT")]
    pub(crate) addr: std::net::SocketAddr,
    /// Token every request must carry (16 to 256 characters of `A-Z a-z 0-9 - . _ ~`);
    /// prefer the `HOTPLEX_STORAGE_SERVE_TOKEN` variable, which `ps` does not show.
    #[arg(long, value_name = "TOKEN")]
    pub(crate) token: Option<String>,
}
