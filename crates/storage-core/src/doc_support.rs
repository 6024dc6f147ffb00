//! A do-nothing write store for this crate's examples and unit tests. Not part of the API.

use async_trait::async_trait;
use chrono::Utc;

use crate::{
    ChatAppMessage, Result, StoreReceipt, ValidationLimits, WriteOnlyStore, prepare_message,
};

/// Validates and acknowledges every write without keeping anything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullStore;

#[async_trait]
impl WriteOnlyStore for NullStore {
    async fn store_user_message(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        let row = prepare_message(msg, &ValidationLimits::default(), Utc::now())?;
        Ok(StoreReceipt::stored(row.id))
    }
    async fn store_bot_response(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.store_user_message(msg).await
    }
    async fn store_batch(&self, msgs: &[ChatAppMessage]) -> Result<Vec<StoreReceipt>> {
        let mut receipts = Vec::with_capacity(msgs.len());
        for msg in msgs {
            receipts.push(self.store_user_message(msg).await?);
        }
        Ok(receipts)
    }
}
