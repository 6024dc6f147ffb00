//! [`StoreReceipt`] and [`StoreOutcome`]: what a write did.

use serde::{Deserialize, Serialize};

/// What happened to one message handed to a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreOutcome {
    /// The message was written.
    Stored,
    /// A message with this id already existed; nothing changed.
    AlreadyStored,
    /// The storage strategy declined the message; nothing was written.
    Filtered,
}

/// The acknowledgement of one message write.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoreReceipt {
    /// The message id (assigned by the store when the input had none). Empty only for a
    /// filtered message that arrived without an id.
    pub id: String,
    /// What happened.
    pub outcome: StoreOutcome,
}

impl StoreReceipt {
    /// A receipt for a written message.
    pub fn stored(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            outcome: StoreOutcome::Stored,
        }
    }

    /// A receipt for an id that already existed.
    pub fn already_stored(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            outcome: StoreOutcome::AlreadyStored,
        }
    }

    /// A receipt for a message the strategy declined.
    pub fn filtered(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            outcome: StoreOutcome::Filtered,
        }
    }

    /// True when the message is in the store after this call (`Stored` or `AlreadyStored`).
    pub fn is_persisted(&self) -> bool {
        matches!(
            self.outcome,
            StoreOutcome::Stored | StoreOutcome::AlreadyStored
        )
    }
}
