-- hotplex-storage SQLite schema, version 4: the search index without positions.
-- Never edit this file once released: its checksum is recorded in every database it created.
--
-- Version 2 kept every trigram's positions (detail=full) so that a term could be looked up as
-- a phrase of consecutive trigrams. Every candidate is checked against the folded text anyway
-- (SearchPlan::hit decides), so the index only has to return a superset: a term is now looked
-- up as all of its trigrams, anywhere in the message (detail=none). The index shrinks to about
-- a third and each message costs less to index. The migration rebuilds the index from the live
-- messages (the runner's backfill, in batches, in this migration's transaction).

DROP TRIGGER message_search_insert;
DROP TRIGGER message_search_update;
DROP TRIGGER message_search_delete;
DROP TABLE message_search;
DELETE FROM message_search_queue;

CREATE VIRTUAL TABLE message_search USING fts5(
    body,
    content = '',
    contentless_delete = 1,
    detail = none,
    tokenize = 'trigram case_sensitive 1'
);

-- As in versions 2 and 3: deletes never merge segments; a group commit of hundreds of
-- messages is one segment.
INSERT INTO message_search (message_search, rank) VALUES ('deletemerge', 0);
INSERT INTO message_search (message_search, rank) VALUES ('hashsize', 16777216);

-- The triggers of version 3, unchanged.
CREATE TRIGGER message_search_insert AFTER INSERT ON messages
WHEN new.deleted = 0
BEGIN
    INSERT OR REPLACE INTO message_search_queue (seq, body)
    VALUES (new.seq, hotplex_fold(new.content));
END;

CREATE TRIGGER message_search_update AFTER UPDATE OF content, deleted ON messages
BEGIN
    DELETE FROM message_search
    WHERE old.deleted = 0 AND rowid = old.seq
      AND NOT EXISTS (SELECT 1 FROM message_search_queue WHERE seq = old.seq);
    DELETE FROM message_search_queue WHERE seq = old.seq;
    INSERT INTO message_search_queue (seq, body)
    SELECT new.seq, hotplex_fold(new.content) WHERE new.deleted = 0;
END;

CREATE TRIGGER message_search_delete AFTER DELETE ON messages
WHEN old.deleted = 0
BEGIN
    DELETE FROM message_search
    WHERE rowid = old.seq
      AND NOT EXISTS (SELECT 1 FROM message_search_queue WHERE seq = old.seq);
    DELETE FROM message_search_queue WHERE seq = old.seq;
END;
