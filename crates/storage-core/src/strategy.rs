//! Storage strategies (which messages to keep, and how) and the [`StrategyStore`] decorator.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    ChatAppMessage, ChatAppMessageStore, ReadOnlyStore, Result, SessionStore, StorageError,
    StoreReceipt, WriteOnlyStore,
};

/// Decides which messages are stored and may rewrite them first.
pub trait StorageStrategy: Send + Sync {
    /// The strategy's name (`default`, `verbose`, `minimal`, …).
    fn name(&self) -> &str;

    /// Whether `msg` is stored at all. A declined message yields
    /// [`StoreOutcome::Filtered`](crate::StoreOutcome::Filtered).
    fn should_store(&self, msg: &ChatAppMessage) -> bool;

    /// Rewrites a message that will be stored. An error aborts the write.
    fn before_store(&self, msg: &mut ChatAppMessage) -> Result<()> {
        let _ = msg;
        Ok(())
    }

    /// Observes a completed write. The message is already stored when this runs: an error is
    /// returned to the caller, but nothing is undone, so reject messages in
    /// [`before_store`](Self::before_store), not here.
    fn after_store(&self, msg: &ChatAppMessage, receipt: &StoreReceipt) -> Result<()> {
        let _ = (msg, receipt);
        Ok(())
    }
}

/// Stores only `user_input` and `final_response`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultStrategy;

impl StorageStrategy for DefaultStrategy {
    fn name(&self) -> &'static str {
        "default"
    }
    fn should_store(&self, msg: &ChatAppMessage) -> bool {
        msg.message_type.is_storable()
    }
}

/// Stores every message type.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerboseStrategy;

impl StorageStrategy for VerboseStrategy {
    fn name(&self) -> &'static str {
        "verbose"
    }
    fn should_store(&self, _msg: &ChatAppMessage) -> bool {
        true
    }
}

/// Stores `user_input` and `final_response` with their metadata dropped.
#[derive(Debug, Clone, Copy, Default)]
pub struct MinimalStrategy;

impl StorageStrategy for MinimalStrategy {
    fn name(&self) -> &'static str {
        "minimal"
    }
    fn should_store(&self, msg: &ChatAppMessage) -> bool {
        msg.message_type.is_storable()
    }
    fn before_store(&self, msg: &mut ChatAppMessage) -> Result<()> {
        msg.metadata.clear();
        Ok(())
    }
}

/// The names [`strategy_by_name`] accepts, sorted.
pub const STRATEGY_NAMES: &[&str] = &["default", "minimal", "verbose"];

/// The built-in strategy called `name`; an empty name means `default`.
///
/// ```
/// use hotplex_storage_core::strategy_by_name;
/// assert_eq!(strategy_by_name("verbose").unwrap().name(), "verbose");
/// assert!(strategy_by_name("debug").err().unwrap().is_config_error());
/// ```
pub fn strategy_by_name(name: &str) -> Result<Arc<dyn StorageStrategy>> {
    match name {
        "" | "default" => Ok(Arc::new(DefaultStrategy)),
        "verbose" => Ok(Arc::new(VerboseStrategy)),
        "minimal" => Ok(Arc::new(MinimalStrategy)),
        other => Err(StorageError::unsupported_type(
            other,
            STRATEGY_NAMES.iter().copied(),
        )),
    }
}

/// Applies a [`StorageStrategy`] to every write of the store it wraps; reads pass through.
///
/// ```
/// # tokio_test_block(async {
/// use hotplex_storage_core::{ChatAppMessage, DefaultStrategy, StoreOutcome, StrategyStore, WriteOnlyStore};
/// # let inner = hotplex_storage_core::__doc_support::NullStore;
/// let store = StrategyStore::new(inner, DefaultStrategy);
/// let thinking = ChatAppMessage::of_type("s", hotplex_storage_core::MessageType::THINKING, "hmm");
/// let receipt = store.store_bot_response(&thinking).await.unwrap();
/// assert_eq!(receipt.outcome, StoreOutcome::Filtered);
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub struct StrategyStore<S> {
    inner: S,
    strategy: Arc<dyn StorageStrategy>,
}

impl<S> StrategyStore<S> {
    /// Wraps `inner` with `strategy`.
    pub fn new(inner: S, strategy: impl StorageStrategy + 'static) -> Self {
        Self::with_shared(inner, Arc::new(strategy))
    }

    /// Wraps `inner` with a shared strategy (e.g. from [`strategy_by_name`]).
    pub fn with_shared(inner: S, strategy: Arc<dyn StorageStrategy>) -> Self {
        Self { inner, strategy }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The strategy in force.
    pub fn strategy(&self) -> &dyn StorageStrategy {
        self.strategy.as_ref()
    }
}

impl<S: WriteOnlyStore> StrategyStore<S> {
    async fn store_one(&self, msg: &ChatAppMessage, bot: bool) -> Result<StoreReceipt> {
        if !self.strategy.should_store(msg) {
            return Ok(StoreReceipt::filtered(msg.id.clone()));
        }
        let mut msg = msg.clone();
        self.strategy.before_store(&mut msg)?;
        let receipt = if bot {
            self.inner.store_bot_response(&msg).await?
        } else {
            self.inner.store_user_message(&msg).await?
        };
        msg.id.clone_from(&receipt.id);
        self.strategy.after_store(&msg, &receipt)?;
        Ok(receipt)
    }
}

#[async_trait]
impl<S: WriteOnlyStore> WriteOnlyStore for StrategyStore<S> {
    async fn store_user_message(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.store_one(msg, false).await
    }

    async fn store_bot_response(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.store_one(msg, true).await
    }

    async fn store_batch(&self, msgs: &[ChatAppMessage]) -> Result<Vec<StoreReceipt>> {
        let mut kept = Vec::with_capacity(msgs.len());
        let mut kept_positions = Vec::with_capacity(msgs.len());
        let mut receipts: Vec<Option<StoreReceipt>> = Vec::with_capacity(msgs.len());
        for (position, msg) in msgs.iter().enumerate() {
            if self.strategy.should_store(msg) {
                let mut msg = msg.clone();
                self.strategy.before_store(&mut msg)?;
                kept.push(msg);
                kept_positions.push(position);
                receipts.push(None);
            } else {
                receipts.push(Some(StoreReceipt::filtered(msg.id.clone())));
            }
        }
        if !kept.is_empty() {
            let stored = self.inner.store_batch(&kept).await?;
            for ((position, mut msg), receipt) in kept_positions.into_iter().zip(kept).zip(stored) {
                msg.id.clone_from(&receipt.id);
                self.strategy.after_store(&msg, &receipt)?;
                receipts[position] = Some(receipt);
            }
        }
        receipts
            .into_iter()
            .map(|r| {
                r.ok_or_else(|| {
                    StorageError::query("store_batch", "inner store returned too few receipts")
                })
            })
            .collect()
    }
}

crate::delegate_store!([<S: ReadOnlyStore>] ReadOnlyStore for StrategyStore<S> => field inner);
crate::delegate_store!([<S: SessionStore>] SessionStore for StrategyStore<S> => field inner);
crate::delegate_store!([<S: ChatAppMessageStore>] ChatAppMessageStore for StrategyStore<S> => field inner);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{__doc_support::NullStore, MessageType, StoreOutcome};

    #[tokio::test]
    async fn default_filters_intermediate_types_visibly() {
        let store = StrategyStore::new(NullStore, DefaultStrategy);
        let r = store
            .store_user_message(&ChatAppMessage::user("s", "hi"))
            .await
            .unwrap();
        assert_eq!(r.outcome, StoreOutcome::Stored);
        let tool = ChatAppMessage::of_type("s", MessageType::TOOL_USE, "ls").with_id("t1");
        let r = store.store_bot_response(&tool).await.unwrap();
        assert_eq!(r, StoreReceipt::filtered("t1"));
    }

    #[tokio::test]
    async fn batch_keeps_order_and_filters_per_message() {
        let store = StrategyStore::new(NullStore, DefaultStrategy);
        let msgs = [
            ChatAppMessage::user("s", "a"),
            ChatAppMessage::of_type("s", MessageType::THINKING, "b"),
            ChatAppMessage::bot("s", "c"),
        ];
        let outcomes: Vec<_> = store
            .store_batch(&msgs)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.outcome)
            .collect();
        assert_eq!(
            outcomes,
            [
                StoreOutcome::Stored,
                StoreOutcome::Filtered,
                StoreOutcome::Stored
            ]
        );
    }

    #[test]
    fn minimal_drops_metadata_and_verbose_keeps_everything() {
        let mut m = ChatAppMessage::user("s", "c").with_metadata_entry("k", 1);
        MinimalStrategy.before_store(&mut m).unwrap();
        assert!(m.metadata.is_empty());
        assert!(VerboseStrategy.should_store(&ChatAppMessage::of_type("s", MessageType::RAW, "")));
        assert!(!MinimalStrategy.should_store(&ChatAppMessage::of_type("s", MessageType::RAW, "")));
        let err = strategy_by_name("debug").err().unwrap();
        assert!(err.to_string().contains("default, minimal, verbose"));
    }
}
