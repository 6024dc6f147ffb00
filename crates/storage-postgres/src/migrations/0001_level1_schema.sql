-- hotplex-storage PostgreSQL schema, level 1 (one messages table), version 1.
-- Runs with search_path set to the configured schema. Never edit once released: its checksum
-- is recorded in every database it created.

CREATE TABLE messages (
    seq                 bigserial   NOT NULL,
    id                  text        NOT NULL PRIMARY KEY,
    chat_session_id     text        NOT NULL,
    chat_platform       text        NOT NULL DEFAULT '',
    chat_user_id        text        NOT NULL DEFAULT '',
    chat_bot_user_id    text        NOT NULL DEFAULT '',
    chat_channel_id     text        NOT NULL DEFAULT '',
    chat_thread_id      text        NOT NULL DEFAULT '',
    engine_session_id   uuid        NOT NULL,
    engine_namespace    text        NOT NULL DEFAULT '',
    provider_session_id text        NOT NULL DEFAULT '',
    provider_type       text        NOT NULL DEFAULT '',
    message_type        text        NOT NULL,
    from_user_id        text        NOT NULL DEFAULT '',
    from_user_name      text        NOT NULL DEFAULT '',
    to_user_id          text        NOT NULL DEFAULT '',
    content             text        NOT NULL,
    metadata            text        NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    deleted             boolean     NOT NULL DEFAULT false,
    deleted_at          timestamptz,
    CHECK (deleted OR deleted_at IS NULL)
);

-- list/count by session in (created_at, seq) order, keyset cursors; delete/purge of a session.
CREATE INDEX messages_session_idx ON messages (chat_session_id, created_at, seq);
-- list/count by user, engine session, provider session.
CREATE INDEX messages_user_idx ON messages (chat_user_id, created_at, seq);
CREATE INDEX messages_engine_session_idx ON messages (engine_session_id, created_at, seq);
CREATE INDEX messages_provider_session_idx ON messages (provider_session_id, created_at, seq);
-- unfiltered and time-range lists; purge_messages_before.
CREATE INDEX messages_created_idx ON messages (created_at, seq);
-- purge_deleted_before and the deleted count: soft-deleted rows only.
CREATE INDEX messages_deleted_idx ON messages (deleted_at) WHERE deleted;

CREATE TABLE session_meta (
    chat_session_id  text        NOT NULL PRIMARY KEY,
    chat_platform    text        NOT NULL,
    chat_user_id     text        NOT NULL,
    last_message_id  text        NOT NULL,
    last_message_at  timestamptz NOT NULL,
    last_message_seq bigint      NOT NULL,
    message_count    bigint      NOT NULL CHECK (message_count > 0),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- list_user_sessions: platform + user, most recent first, ties by session id.
CREATE INDEX session_meta_user_idx
    ON session_meta (chat_platform, chat_user_id, last_message_at DESC, chat_session_id);
