//! `serve`: a read-only web viewer of the configured store — recent sessions, a user's
//! sessions, threads, search and health — until Ctrl-C or SIGTERM.
//!
//! Server-rendered HTML (axum, maud) without any script. The modules, one job each:
//! [`options`] (address and token, checked before anything opens), [`auth`] (token and
//! loopback-host guard), [`headers`] (security headers, GET/HEAD only), [`params`] (strict
//! query parameters), [`routes`] (the pages' handlers), [`pages`] (the templates),
//! [`links`] (URLs), [`highlight`] (search matches), [`error`] (statuses). Usage and the
//! security model: docs/operations.md "Viewer".

mod auth;
mod error;
mod headers;
mod highlight;
mod links;
mod options;
mod pages;
mod params;
mod routes;
#[cfg(test)]
mod tests;

use std::io::Write;
use std::process::ExitCode;

use hotplex_storage_core::{Result, StorageError};
use hotplex_storage_registry::StorageConfig;
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use options::ServeOptions;

/// Runs the viewer: checks the options (a non-loopback address without a token is refused
/// here, before the store is opened), listens, opens the store, prints the address on stdout
/// and serves until Ctrl-C or SIGTERM, then finishes the requests in flight and closes the
/// store.
pub(crate) async fn run(
    cfg: &StorageConfig,
    args: &ServeArgs,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<ExitCode> {
    let options = ServeOptions::resolve(args, lookup)?;
    let shutdown = Shutdown::install()?;
    let listener = TcpListener::bind(options.addr)
        .await
        .map_err(|e| StorageError::io(format!("listen on {}", options.addr), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| StorageError::io("read the listening address", e))?;
    super::with_store(cfg, |store| async move {
        let app = routes::router(store.clone(), auth::Access::new(options.token.clone()));
        let access = if options.token.is_some() {
            " (token required: open it once with ?token=<the token>)"
        } else {
            ""
        };
        println!(
            "hotplex-storage viewer: http://{local}/{access} on the {} store; Ctrl-C stops it",
            store.name()
        );
        let _ = std::io::stdout().flush();
        tracing::info!(addr = %local, backend = store.name(), "viewer listening");
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.wait())
            .await
            .map_err(|e| StorageError::io("serve HTTP", e))?;
        tracing::info!("viewer stopped");
        Ok(ExitCode::SUCCESS)
    })
    .await
}

/// Ctrl-C (SIGINT) and SIGTERM, listened for from the start so that a signal sent as soon as
/// the address is printed already stops the server gracefully.
struct Shutdown {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Shutdown {
    /// Installs the handlers.
    fn install() -> Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let handler = |kind, name: &str| {
            signal(kind).map_err(|e| StorageError::io(format!("listen for {name}"), e))
        };
        Ok(Self {
            interrupt: handler(SignalKind::interrupt(), "SIGINT")?,
            terminate: handler(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    /// Resolves at the first of the two signals.
    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => tracing::info!("SIGINT: stopping the viewer"),
            _ = self.terminate.recv() => tracing::info!("SIGTERM: stopping the viewer"),
        }
    }
}
