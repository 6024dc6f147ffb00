//! `MessageContext::validate` names each missing or invalid field; `MessageTransformer` sets
//! the sender by direction and copies every session field.

mod support;

use hotplex_storage_chat::{MessageContext, MessageTransformer};
use hotplex_storage_core::{MessageType, StorageError};
use support::{bot_ctx, user_ctx};
use uuid::Uuid;

fn field_of(result: hotplex_storage_core::Result<()>) -> String {
    match result {
        Err(StorageError::InvalidMessage { field, .. }) => field,
        other => panic!("expected InvalidMessage, got {other:?}"),
    }
}

#[test]
fn complete_contexts_are_valid() {
    user_ctx("s1", "U1", "hello").validate().unwrap();
    bot_ctx("s1", "U1").with_content("hi").validate().unwrap();
    // Slack's bot responses carry no user; a user message needs no bot user.
    bot_ctx("s1", "").with_content("hi").validate().unwrap();
    user_ctx("s1", "U1", "hello")
        .with_bot_user("")
        .validate()
        .unwrap();
    // Optional fields may be empty.
    let sparse = user_ctx("s1", "U1", "hello")
        .with_channel("")
        .with_thread("")
        .with_engine_namespace("")
        .with_provider("", "provider-1")
        .with_metadata(hotplex_storage_core::Metadata::new());
    sparse.validate().unwrap();
}

#[test]
fn each_missing_field_is_named() {
    let user = user_ctx("s1", "U1", "hello");
    let bot = bot_ctx("s1", "U1").with_content("hi");
    let cases: Vec<(&str, MessageContext)> = vec![
        ("chat_session_id", user.clone().with_session("")),
        ("chat_platform", user.clone().with_platform("")),
        (
            "message_type",
            user.clone().with_message_type(MessageType::new("")),
        ),
        ("chat_user_id", user.clone().with_user("")),
        ("chat_bot_user_id", bot.clone().with_bot_user("")),
        (
            "engine_session_id",
            user.clone().with_engine_session(Uuid::nil()),
        ),
        (
            "engine_session_id",
            bot.clone().with_engine_session(Uuid::nil()),
        ),
        (
            "provider_session_id",
            user.clone().with_provider("claude-code", ""),
        ),
        ("content", user.clone().with_content("")),
        ("content", bot.clone().with_content("")),
    ];
    for (field, ctx) in cases {
        assert_eq!(field_of(ctx.validate()), field, "{ctx:?}");
    }
}

#[test]
fn a_stream_template_needs_everything_but_content() {
    let template = bot_ctx("s1", "U1");
    template.validate_template().unwrap();
    assert_eq!(field_of(template.validate()), "content");
    assert_eq!(
        field_of(template.clone().with_provider("x", "").validate_template()),
        "provider_session_id"
    );
}

#[test]
fn limits_of_the_stored_message_are_checked_at_their_edge() {
    let at_limit = "u".repeat(256);
    user_ctx("s1", &at_limit, "hello").validate().unwrap();
    let over = "u".repeat(257);
    assert_eq!(
        field_of(user_ctx("s1", &over, "hello").validate()),
        "chat_user_id"
    );
    assert_eq!(
        field_of(user_ctx(&over, "U1", "hello").validate()),
        "chat_session_id"
    );
    assert_eq!(
        field_of(
            user_ctx("s1", "U1", "hello")
                .with_channel(over.clone())
                .validate()
        ),
        "chat_channel_id"
    );

    let max = hotplex_storage_core::ValidationLimits::DEFAULT_MAX_CONTENT_BYTES;
    user_ctx("s1", "U1", &"x".repeat(max)).validate().unwrap();
    assert_eq!(
        field_of(user_ctx("s1", "U1", &"x".repeat(max + 1)).validate()),
        "content"
    );
    assert_eq!(field_of(user_ctx("s1", "U1", "a\0b").validate()), "content");
    let huge = "m".repeat(hotplex_storage_core::ValidationLimits::DEFAULT_MAX_METADATA_BYTES);
    assert_eq!(
        field_of(
            user_ctx("s1", "U1", "hello")
                .with_metadata_entry("big", huge)
                .validate()
        ),
        "metadata"
    );
}

#[test]
fn the_transformer_sends_user_messages_from_the_user_and_the_rest_from_the_bot() {
    let user = user_ctx("s1", "U1", "hello");
    let msg = MessageTransformer::to_storage_message(&user);
    assert_eq!(msg.message_type, MessageType::USER_INPUT);
    assert_eq!(
        (msg.from_user_id.as_str(), msg.to_user_id.as_str()),
        ("U1", "B0BOT")
    );

    for kind in [
        MessageType::FINAL_RESPONSE,
        MessageType::THINKING,
        MessageType::ERROR,
    ] {
        let bot = bot_ctx("s1", "U1")
            .with_message_type(kind.clone())
            .with_content("x");
        let msg = MessageTransformer::to_storage_message(&bot);
        assert_eq!(msg.message_type, kind);
        assert_eq!(
            (msg.from_user_id.as_str(), msg.to_user_id.as_str()),
            ("B0BOT", "U1")
        );
    }
}

#[test]
fn the_transformer_copies_every_session_field_and_leaves_identity_to_the_store() {
    let engine = Uuid::new_v4();
    let ctx = user_ctx("s1", "U1", "hello")
        .with_platform("feishu")
        .with_channel("C9")
        .with_thread("T9")
        .with_engine_session(engine)
        .with_engine_namespace("ns")
        .with_provider("claude-code", "p-9")
        .with_metadata_entry("lang", "en");
    let msg = MessageTransformer::to_storage_message(&ctx);
    assert_eq!(msg.chat_session_id, "s1");
    assert_eq!(msg.chat_platform, "feishu");
    assert_eq!(msg.chat_user_id, "U1");
    assert_eq!(msg.chat_bot_user_id, "B0BOT");
    assert_eq!(msg.chat_channel_id, "C9");
    assert_eq!(msg.chat_thread_id, "T9");
    assert_eq!(msg.engine_session_id, engine);
    assert_eq!(msg.engine_namespace, "ns");
    assert_eq!(msg.provider_type, "claude-code");
    assert_eq!(msg.provider_session_id, "p-9");
    assert_eq!(msg.content, "hello");
    assert_eq!(msg.metadata["lang"], "en");
    assert_eq!(msg.metadata["client"], "test");
    assert!(msg.id.is_empty());
    assert!(msg.created_at.is_none() && msg.updated_at.is_none());
    assert_eq!(msg.seq, 0);
    assert!(!msg.deleted);
}
