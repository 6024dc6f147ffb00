//! The chat-app layer of hotplex-storage: what a chat adapter (Slack, Feishu, …) calls to
//! store a conversation with an LLM agent, in the Go plugin's shape
//! (`ChatAdapter → MessageStorePlugin → MessageTransformer → ChatAppMessageStore`).
//!
//! - [`MessageContext`]: a chat event as the adapter sees it, with a builder and
//!   [`validate`](MessageContext::validate) naming the missing field.
//! - [`MessageTransformer`]: a context turned into the stored
//!   [`ChatAppMessage`](hotplex_storage_core::ChatAppMessage).
//! - [`MessageStorePlugin`] and [`PluginConfig`]: user messages, bot responses and token
//!   streams stored through the store stack the plugin is given (strategy and retry are its
//!   layers, built once: `hotplex_storage_registry::stack`) plus the stream buffer; thread history, session
//!   meta, close. A streamed reply that never completes is still stored, marked interrupted.
//! - [`chat_session_id`] and [`provider_session_id`]: the Go session manager's UUID v5 ids.
//! - [`format_history`]: a thread in the Go adapter's `[time] User: …` format.
//!
//! Guarantees and rules: `docs/chat.md`. Why this is its own crate: `docs/ARCHITECTURE.md`.

mod config;
mod context;
#[cfg(feature = "config")]
mod from_config;
mod history;
mod plugin;
mod session_id;
mod transformer;

pub use config::PluginConfig;
pub use context::MessageContext;
pub use history::format_history;
pub use plugin::{MAX_HISTORY_LIMIT, MessageStorePlugin};
pub use session_id::{
    DEFAULT_NAMESPACE, chat_session_id, new_engine_session_id, provider_session_id,
};
pub use transformer::MessageTransformer;
