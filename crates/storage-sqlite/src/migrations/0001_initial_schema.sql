-- hotplex-storage SQLite schema, version 1.
-- Timestamps are INTEGER microseconds since the Unix epoch, UTC.
-- Never edit this file once released: its checksum is recorded in every database it created.

CREATE TABLE messages (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT    NOT NULL UNIQUE,
    chat_session_id     TEXT    NOT NULL,
    chat_platform       TEXT    NOT NULL DEFAULT '',
    chat_user_id        TEXT    NOT NULL DEFAULT '',
    chat_bot_user_id    TEXT    NOT NULL DEFAULT '',
    chat_channel_id     TEXT    NOT NULL DEFAULT '',
    chat_thread_id      TEXT    NOT NULL DEFAULT '',
    engine_session_id   TEXT    NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    engine_namespace    TEXT    NOT NULL DEFAULT '',
    provider_session_id TEXT    NOT NULL DEFAULT '',
    provider_type       TEXT    NOT NULL DEFAULT '',
    message_type        TEXT    NOT NULL,
    from_user_id        TEXT    NOT NULL DEFAULT '',
    from_user_name      TEXT    NOT NULL DEFAULT '',
    to_user_id          TEXT    NOT NULL DEFAULT '',
    content             TEXT    NOT NULL,
    metadata            TEXT    NOT NULL DEFAULT '{}',
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    deleted             INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    deleted_at          INTEGER,
    CHECK (deleted = 1 OR deleted_at IS NULL)
) STRICT;

-- list/count by session, newest or oldest first, keyset cursors; delete/purge of a session.
CREATE INDEX idx_messages_session ON messages (chat_session_id, created_at, seq);
-- list/count by user.
CREATE INDEX idx_messages_user ON messages (chat_user_id, created_at, seq);
-- list/count by engine session and by provider session.
CREATE INDEX idx_messages_engine_session ON messages (engine_session_id, created_at, seq);
CREATE INDEX idx_messages_provider_session ON messages (provider_session_id, created_at, seq);
-- unfiltered and time-range lists, cursors over the whole store.
CREATE INDEX idx_messages_created ON messages (created_at, seq);
-- retention (purge_deleted_before) and the deleted-message count: soft-deleted rows only.
CREATE INDEX idx_messages_deleted ON messages (deleted_at) WHERE deleted = 1;

CREATE TABLE session_meta (
    chat_session_id  TEXT    NOT NULL PRIMARY KEY,
    chat_platform    TEXT    NOT NULL,
    chat_user_id     TEXT    NOT NULL,
    last_message_id  TEXT    NOT NULL,
    last_message_at  INTEGER NOT NULL,
    last_message_seq INTEGER NOT NULL,
    message_count    INTEGER NOT NULL CHECK (message_count > 0),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- list_user_sessions: platform + user, most recent first, ties by session id.
CREATE INDEX idx_session_meta_user
    ON session_meta (chat_platform, chat_user_id, last_message_at DESC, chat_session_id);
