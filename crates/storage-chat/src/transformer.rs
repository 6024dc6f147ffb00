//! [`MessageTransformer`]: a [`MessageContext`] turned into the [`ChatAppMessage`] that is
//! stored.

use hotplex_storage_core::ChatAppMessage;

use crate::MessageContext;

/// Turns chat events into stored messages (the Go `MessageTransformer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageTransformer;

impl MessageTransformer {
    /// The message stored for `ctx`: every session field, the engine and provider ids, the
    /// type, content and metadata copied; the sender and recipient set by direction — a
    /// `user_input` message goes from the user (`from_user_id = chat_user_id`) to the bot
    /// (`to_user_id = chat_bot_user_id`), every other type from the bot to the user. `id`,
    /// timestamps and `seq` are left for the store to assign. Does not validate: see
    /// [`MessageContext::validate`].
    ///
    /// ```
    /// use hotplex_storage_chat::{MessageContext, MessageTransformer};
    /// let ctx = MessageContext::final_response("42").with_user("U1").with_bot_user("B1");
    /// let msg = MessageTransformer::to_storage_message(&ctx);
    /// assert_eq!((msg.from_user_id.as_str(), msg.to_user_id.as_str()), ("B1", "U1"));
    /// ```
    pub fn to_storage_message(ctx: &MessageContext) -> ChatAppMessage {
        let (from, to) = if ctx.is_from_user() {
            (&ctx.chat_user_id, &ctx.chat_bot_user_id)
        } else {
            (&ctx.chat_bot_user_id, &ctx.chat_user_id)
        };
        ChatAppMessage {
            chat_session_id: ctx.chat_session_id.clone(),
            chat_platform: ctx.chat_platform.clone(),
            chat_user_id: ctx.chat_user_id.clone(),
            chat_bot_user_id: ctx.chat_bot_user_id.clone(),
            chat_channel_id: ctx.chat_channel_id.clone(),
            chat_thread_id: ctx.chat_thread_id.clone(),
            engine_session_id: ctx.engine_session_id,
            engine_namespace: ctx.engine_namespace.clone(),
            provider_session_id: ctx.provider_session_id.clone(),
            provider_type: ctx.provider_type.clone(),
            message_type: ctx.message_type.clone(),
            from_user_id: from.clone(),
            to_user_id: to.clone(),
            content: ctx.content.clone(),
            metadata: ctx.metadata.clone(),
            ..ChatAppMessage::default()
        }
    }
}
