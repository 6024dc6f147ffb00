//! The conformance cases: one `pub async fn` per rule of the store contract.
//!
//! Each case receives a freshly built and initialised store, exercises one rule of
//! `docs/semantics.md` and panics with a message naming the broken rule. Cases only use the
//! public traits, so they run unchanged against every backend. Run them all with
//! [`conformance_suite!`](crate::conformance_suite); [`CASES`](crate::CASES) lists them.
//!
//! Every case panics when the store under test breaks its rule; that is how it reports.
#![allow(clippy::missing_panics_doc)]

mod batch;
mod concurrency;
mod cursor;
mod hostile;
mod lifecycle;
mod query;
mod retention;
mod search;
mod session;
mod support;
mod validation;
mod write;

pub use batch::*;
pub use concurrency::*;
pub use cursor::*;
pub use hostile::*;
pub use lifecycle::*;
pub use query::*;
pub use retention::*;
pub use search::*;
pub use session::*;
pub use validation::*;
pub use write::*;
