-- hotplex-storage SQLite schema, version 3: the search index is written once per transaction.
-- Never edit this file once released: its checksum is recorded in every database it created.
--
-- FTS5 writes its pending terms to disk at every savepoint and at the end of every statement
-- that opens one, so the triggers of version 2 turned each message of a group commit (each
-- in its savepoint) into one index segment of its own, and the segment merges that follow.
-- From version 3 the triggers put the folded text of each live row the index lacks in
-- message_search_queue, and the writer moves the whole queue into message_search at the end
-- of each transaction (one flush per commit). Invariant: at every commit the queue is empty
-- and message_search holds exactly the live messages. The triggers still call hotplex_fold, so
-- a connection without it (a plain sqlite3 shell) cannot write messages at all.

CREATE TABLE message_search_queue (
    seq  INTEGER NOT NULL PRIMARY KEY,
    body TEXT    NOT NULL
) STRICT;

DROP TRIGGER message_search_insert;
DROP TRIGGER message_search_update;
DROP TRIGGER message_search_delete;

-- A live message is queued in the transaction that stores it; a message stored already
-- deleted (an import) never is.
CREATE TRIGGER message_search_insert AFTER INSERT ON messages
WHEN new.deleted = 0
BEGIN
    INSERT OR REPLACE INTO message_search_queue (seq, body)
    VALUES (new.seq, hotplex_fold(new.content));
END;

-- A soft delete (or any change of content or of the deleted flag): the old text leaves the
-- index (or the queue, when it never reached the index), and the new one is queued when live.
CREATE TRIGGER message_search_update AFTER UPDATE OF content, deleted ON messages
BEGIN
    DELETE FROM message_search
    WHERE old.deleted = 0 AND rowid = old.seq
      AND NOT EXISTS (SELECT 1 FROM message_search_queue WHERE seq = old.seq);
    DELETE FROM message_search_queue WHERE seq = old.seq;
    INSERT INTO message_search_queue (seq, body)
    SELECT new.seq, hotplex_fold(new.content) WHERE new.deleted = 0;
END;

-- Purges and retention: a live row leaves the index (or the queue) with the row.
CREATE TRIGGER message_search_delete AFTER DELETE ON messages
WHEN old.deleted = 0
BEGIN
    DELETE FROM message_search
    WHERE rowid = old.seq
      AND NOT EXISTS (SELECT 1 FROM message_search_queue WHERE seq = old.seq);
    DELETE FROM message_search_queue WHERE seq = old.seq;
END;

-- FTS5 also writes a segment whenever its pending terms pass 'hashsize' bytes (1 MiB by
-- default, a few long messages of trigrams). 16 MiB lets a group commit of hundreds of
-- messages become one segment; the memory is held only until the end of the transaction.
INSERT INTO message_search (message_search, rank) VALUES ('hashsize', 16777216);
