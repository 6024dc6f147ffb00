-- hotplex-storage SQLite schema, version 4: the search index without positions.
-- Never edit this file once released: its checksum is recorded in every database it created.
--
-- Version 2 kept every trigram's positions (detail=full) so that a term could be looked up as
-- a phrase of consecutive trigrams. Every candidate is checked against the folded text anyway
-- (SearchPlan::hit decides), so the index only has to return a superset: a term is now looked
-- up as all of its trigrams, anywhere in the message (detail=none). The index shrinks to about
-- a third and each message costs less to index. The migration rebuilds the index from the live
-- messages (the runner's backfill, in batches, in this migration's transaction).

-- The triggers of version 3 stay: they name message_search, which is only looked up when they
-- run, so they write to the new table.
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
