//! The session-id helpers reproduce the Go session manager's version-5 UUID recipe.
//!
//! Expected values were computed independently of this crate, with Python's standard library:
//!
//! ```text
//! python3 -c 'import uuid; print(uuid.uuid5(uuid.NAMESPACE_URL,
//!     "hotplex:session:slack:U123:B456:C789:1712345678.000100"))'
//! ```
//!
//! i.e. `uuid.uuid5(uuid.NAMESPACE_URL, f"{ns}:session:{platform}:{user}:{bot}:{channel}:{thread}")`
//! for session ids and `uuid.uuid5(uuid.NAMESPACE_URL, f"{ns}:provider:{provider}:{engine}")`
//! for provider session ids (recipe: go-plugin-behavior.md §7.6).

use hotplex_storage_chat::{
    DEFAULT_NAMESPACE, MessageContext, chat_session_id, new_engine_session_id, provider_session_id,
};
use uuid::Uuid;

#[test]
fn chat_session_id_matches_values_computed_from_the_go_recipe() {
    let cases = [
        (
            [
                "hotplex",
                "slack",
                "U123",
                "B456",
                "C789",
                "1712345678.000100",
            ],
            "51b568a9-b5c2-571b-ba89-c43c53623f51",
        ),
        // The Slack adapter passes an empty user: one id per thread.
        (
            [
                "hotplex",
                "slack",
                "",
                "B0BOT",
                "C0CHAN",
                "1700000000.123456",
            ],
            "402a092b-f90d-5c4f-a75e-8537c6d41364",
        ),
        // Non-ASCII parts are hashed as UTF-8; an empty thread stays empty.
        (
            ["hotplex", "feishu", "ou_用户", "cli_bot", "oc_群", ""],
            "6734eef7-2fcc-56b7-beea-93e2a0971bb5",
        ),
        (
            ["acme", "slack", "U1", "B1", "C1", "T1"],
            "5da65426-ee93-5059-adfb-46ad09c6dc24",
        ),
    ];
    for ([ns, platform, user, bot, channel, thread], expected) in cases {
        let id = chat_session_id(ns, platform, user, bot, channel, thread);
        assert_eq!(
            id, expected,
            "{ns}:session:{platform}:{user}:{bot}:{channel}:{thread}"
        );
        assert_eq!(Uuid::parse_str(&id).unwrap().get_version_num(), 5);
    }
}

#[test]
fn every_part_changes_the_id() {
    let base = ["hotplex", "slack", "U1", "B1", "C1", "T1"];
    let id = |p: [&str; 6]| chat_session_id(p[0], p[1], p[2], p[3], p[4], p[5]);
    for position in 0..6 {
        let mut changed = base;
        changed[position] = "X";
        assert_ne!(id(changed), id(base), "part {position}");
    }
}

#[test]
fn provider_session_id_matches_values_computed_from_the_go_recipe() {
    let engine = Uuid::parse_str("6f1c2a4e-8b9d-4c3e-9a7b-1d2e3f405162").unwrap();
    assert_eq!(
        provider_session_id("hotplex", "claude", engine),
        "d223b106-98d2-5357-8046-ff3657da4c67"
    );
    assert_eq!(
        provider_session_id("hotplex", "claude-code", Uuid::nil()),
        "9fe560e4-ed00-556f-8cca-f62ea7171274"
    );
}

#[test]
fn a_context_derives_the_session_id_of_its_thread() {
    let ctx = MessageContext::user_input("hi")
        .with_platform("slack")
        .with_user("U123")
        .with_bot_user("B456")
        .with_channel("C789")
        .with_thread("1712345678.000100")
        .with_thread_session(DEFAULT_NAMESPACE);
    assert_eq!(
        ctx.message().chat_session_id,
        "51b568a9-b5c2-571b-ba89-c43c53623f51"
    );
}

#[test]
fn engine_session_ids_are_random_v4() {
    let (a, b) = (new_engine_session_id(), new_engine_session_id());
    assert_ne!(a, b);
    assert_eq!(a.get_version_num(), 4);
}
