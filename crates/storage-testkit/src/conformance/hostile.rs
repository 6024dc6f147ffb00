//! Hostile input: strings that break naive SQL or pattern matching, stored and matched
//! faithfully in every field and filter, and one user with very many sessions.

use chrono::Duration;
use hotplex_storage_core::{ChatAppMessage, MessageQuery, MessageType};

use super::support::{
    Store, at, count, delete_session, get, list_ids, meta, put_batch, put_new, strings,
    user_sessions,
};

/// Strings that would change the meaning of SQL, LIKE patterns, placeholders or JSON paths
/// if any backend formatted them into a statement instead of binding them.
pub const HOSTILE_STRINGS: &[&str] = &[
    "'; DROP TABLE messages; --",
    "\" OR \"1\"=\"1",
    "' OR '1'='1' --",
    "x') UNION SELECT * FROM session_meta --",
    "%",
    "_",
    "%_%\\",
    "\\'",
    "$1",
    "?1",
    ":name",
    "@p1",
    "{\"$gt\": \"\"}",
    "$.metadata",
    "''",
    "\u{2019} \u{ff07} \u{201c}",
    "line\nbreak\r\ttab",
    "/* comment */ --",
    "messages\"; DELETE FROM \"messages",
];

/// Every hostile string, used as the value of every text field of a message (and as its id
/// and session), is stored and read back byte for byte, and each filter matches it exactly —
/// only its own message, never everything (`%`, `' OR '1'='1`) or nothing.
pub async fn hostile_strings_stored_and_matched_faithfully(store: Store) {
    let mut stored = Vec::new();
    for (i, text) in HOSTILE_STRINGS.iter().enumerate() {
        let secs = i64::try_from(i).expect("few strings");
        let mut msg = ChatAppMessage::user(*text, *text)
            .with_id(format!("{text}#{i}"))
            .with_platform(*text)
            .with_user(*text)
            .with_provider(*text, *text)
            .with_metadata_entry(*text, *text)
            .with_created_at(at(secs));
        msg.chat_bot_user_id = (*text).to_owned();
        msg.chat_channel_id = (*text).to_owned();
        msg.chat_thread_id = (*text).to_owned();
        msg.engine_namespace = (*text).to_owned();
        msg.from_user_id = (*text).to_owned();
        msg.from_user_name = (*text).to_owned();
        msg.to_user_id = (*text).to_owned();
        msg.message_type = MessageType::new(*text);
        let id = put_new(&store, &msg).await;
        assert_eq!(id, msg.id, "a caller id is kept: {text:?}");
        stored.push(msg);
    }
    let total = u64::try_from(HOSTILE_STRINGS.len()).expect("few strings");
    assert_eq!(count(&store, &MessageQuery::default()).await, total);
    for msg in &stored {
        let text = msg.content.as_str();
        let back = get(&store, &msg.id).await;
        assert_eq!(back.content, msg.content, "content of {text:?}");
        assert_eq!(back.chat_session_id, msg.chat_session_id);
        assert_eq!(back.chat_platform, msg.chat_platform);
        assert_eq!(back.chat_bot_user_id, msg.chat_bot_user_id);
        assert_eq!(back.chat_channel_id, msg.chat_channel_id);
        assert_eq!(back.chat_thread_id, msg.chat_thread_id);
        assert_eq!(back.engine_namespace, msg.engine_namespace);
        assert_eq!(back.from_user_name, msg.from_user_name);
        assert_eq!(back.to_user_id, msg.to_user_id);
        assert_eq!(back.message_type, msg.message_type);
        assert_eq!(back.metadata, msg.metadata, "metadata of {text:?}");
        let only = vec![msg.id.clone()];
        let queries = [
            MessageQuery::for_session(text),
            MessageQuery {
                chat_user_id: Some(text.to_owned()),
                ..MessageQuery::default()
            },
            MessageQuery {
                provider_type: Some(text.to_owned()),
                ..MessageQuery::default()
            },
            MessageQuery {
                provider_session_id: Some(text.to_owned()),
                ..MessageQuery::default()
            },
            MessageQuery::default().with_message_types([MessageType::new(text)]),
        ];
        for query in &queries {
            assert_eq!(list_ids(&store, query).await, only, "{query:?}");
            assert_eq!(count(&store, query).await, 1, "{query:?}");
        }
        assert_eq!(
            meta(&store, text).await.message_count,
            1,
            "meta of {text:?}"
        );
        assert_eq!(
            user_sessions(&store, text, text).await,
            strings(&[text]),
            "list_user_sessions of {text:?}"
        );
    }
    // Deleting one hostile session touches only it.
    let victim = HOSTILE_STRINGS[0];
    assert_eq!(delete_session(&store, victim).await, 1);
    assert_eq!(count(&store, &MessageQuery::default()).await, total - 1);
    assert!(
        store
            .purge_session(HOSTILE_STRINGS[4])
            .await
            .expect("purge_session")
            == 1,
        "purge_session(\"%\") removes only the session named \"%\""
    );
    assert_eq!(count(&store, &MessageQuery::default()).await, total - 2);
}

/// Sessions stored per batch by [`ten_thousand_sessions_for_one_user`].
const SESSIONS_PER_BATCH: usize = 1_000;

/// One user with 10,000 sessions: `list_user_sessions` returns all of them, most recent first,
/// and deleting one leaves the others.
pub async fn ten_thousand_sessions_for_one_user(store: Store) {
    const SESSIONS: usize = 10_000;
    let mut expected = Vec::with_capacity(SESSIONS);
    for chunk in 0..SESSIONS / SESSIONS_PER_BATCH {
        let batch: Vec<ChatAppMessage> = (0..SESSIONS_PER_BATCH)
            .map(|j| {
                let n = chunk * SESSIONS_PER_BATCH + j;
                let micros = i64::try_from(n).expect("small");
                ChatAppMessage::user(format!("many-{n:05}"), "hi")
                    .with_platform("slack")
                    .with_user("U-many")
                    .with_created_at(at(0) + Duration::microseconds(micros))
            })
            .collect();
        put_batch(&store, &batch).await;
        expected.extend(batch.into_iter().map(|m| m.chat_session_id));
    }
    expected.reverse();
    let listed = user_sessions(&store, "slack", "U-many").await;
    assert_eq!(listed.len(), SESSIONS, "every session is listed");
    assert!(listed == expected, "sessions are listed most recent first");
    assert_eq!(delete_session(&store, "many-05000").await, 1);
    let listed = user_sessions(&store, "slack", "U-many").await;
    assert_eq!(listed.len(), SESSIONS - 1);
    assert!(!listed.iter().any(|s| s == "many-05000"));
    assert!(user_sessions(&store, "slack", "U-other").await.is_empty());
}
