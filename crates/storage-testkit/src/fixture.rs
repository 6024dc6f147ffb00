//! [`Fixture`]: a store under test plus whatever must outlive it.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use hotplex_storage_core::ChatAppMessageStore;

/// A store under test, and an optional guard that lives exactly as long as the fixture.
///
/// The guard keeps the store's backing resources alive: a `tempfile::TempDir` holding a SQLite
/// file, a throwaway PostgreSQL database that is dropped with it, …. Fields drop in
/// declaration order, so the store is released before its guard.
///
/// ```
/// # use hotplex_storage_testkit::Fixture;
/// # use hotplex_storage_core::ChatAppMessageStore;
/// fn wrap(store: impl ChatAppMessageStore + 'static, dir: std::path::PathBuf) -> Fixture {
///     // Anything `Send + Sync + 'static` can be the guard.
///     Fixture::with_guard(store, dir)
/// }
/// ```
pub struct Fixture {
    /// The store every conformance case runs against.
    pub store: Arc<dyn ChatAppMessageStore>,
    guard: Option<Box<dyn Any + Send + Sync>>,
}

impl Fixture {
    /// A fixture around `store` with nothing else to keep alive.
    pub fn new(store: impl ChatAppMessageStore + 'static) -> Self {
        Self {
            store: Arc::new(store),
            guard: None,
        }
    }

    /// A fixture around `store` that also owns `guard` (dropped after the store).
    pub fn with_guard(
        store: impl ChatAppMessageStore + 'static,
        guard: impl Any + Send + Sync,
    ) -> Self {
        Self {
            store: Arc::new(store),
            guard: Some(Box::new(guard)),
        }
    }

    /// A fixture around an already shared store.
    pub fn from_arc(store: Arc<dyn ChatAppMessageStore>) -> Self {
        Self { store, guard: None }
    }

    /// True when the fixture owns a guard.
    pub fn has_guard(&self) -> bool {
        self.guard.is_some()
    }
}

impl<S: ChatAppMessageStore + 'static> From<S> for Fixture {
    fn from(store: S) -> Self {
        Self::new(store)
    }
}

impl fmt::Debug for Fixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixture")
            .field("store", &self.store.name())
            .field("guard", &self.guard.is_some())
            .finish()
    }
}
