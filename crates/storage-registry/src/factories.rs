//! The factories of the compiled-in backends, each brought by its own crate (cargo features
//! `memory`, `sqlite`, `postgres`). PostgreSQL is also registered as `postgresql` (the Go
//! registry's name).

use std::sync::Arc;

use hotplex_storage_core::config::BackendFactory;

/// The built-in backends a build may leave out: a section of one that is not compiled in is
/// accepted as written (the Go README's block names `postgres:` in every build).
pub(crate) const OPTIONAL: &[&str] = &["memory", "sqlite", "postgres"];

/// The factories of the compiled-in backends.
#[allow(
    clippy::vec_init_then_push,
    reason = "each push is behind its own cargo feature"
)]
pub(crate) fn builtin() -> Vec<Arc<dyn BackendFactory>> {
    #[allow(unused_mut, reason = "a build may include no backend")]
    let mut factories: Vec<Arc<dyn BackendFactory>> = Vec::new();
    #[cfg(feature = "memory")]
    factories.push(Arc::new(hotplex_storage_memory::factory()));
    #[cfg(feature = "sqlite")]
    factories.push(Arc::new(hotplex_storage_sqlite::factory()));
    #[cfg(feature = "postgres")]
    factories.push(Arc::new(hotplex_storage_postgres::factory()));
    factories
}
