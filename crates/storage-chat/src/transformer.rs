//! [`MessageTransformer`]: a [`MessageContext`] turned into the [`ChatAppMessage`] that is
//! stored.

use hotplex_storage_core::ChatAppMessage;

use crate::MessageContext;

/// Turns chat events into stored messages (the Go `MessageTransformer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageTransformer;

impl MessageTransformer {
    /// The message stored for `ctx`: the message the context wraps, with the sender and
    /// recipient set by direction — a
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
        let mut msg = ctx.message().clone();
        let (from, to) = if ctx.is_from_user() {
            (&msg.chat_user_id, &msg.chat_bot_user_id)
        } else {
            (&msg.chat_bot_user_id, &msg.chat_user_id)
        };
        (msg.from_user_id, msg.to_user_id) = (from.clone(), to.clone());
        msg
    }
}
