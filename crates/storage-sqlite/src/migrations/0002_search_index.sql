-- hotplex-storage SQLite schema, version 2: the search index.
-- Never edit this file once released: its checksum is recorded in every database it created.
--
-- message_search holds hotplex_fold(content) of every live message, keyed by messages.seq
-- (its rowid). Contentless (content=''): the text is not stored twice, only the trigram
-- index; contentless_delete=1 lets the triggers delete rows by rowid. hotplex_fold is
-- registered by the store on every connection it opens (core's fold: one character to one).
-- The migration runner fills the index for the rows that already exist, in batches.

CREATE VIRTUAL TABLE message_search USING fts5(
    body,
    content = '',
    contentless_delete = 1,
    tokenize = 'trigram case_sensitive 1'
);

-- Deletes only record tombstones; they never start a merge of the segments they touch
-- (FTS5's default, 10 % deleted rows, would rewrite whole segments inside a soft delete or a
-- purge, growing the file exactly when a full database is being freed). Tombstoned rows are
-- dropped when stores merge segments (automerge).
INSERT INTO message_search (message_search, rank) VALUES ('deletemerge', 0);

-- A live message enters the index in the transaction that stores it; a message stored
-- already deleted (an import) never does.
CREATE TRIGGER message_search_insert AFTER INSERT ON messages
WHEN new.deleted = 0
BEGIN
    INSERT INTO message_search (rowid, body) VALUES (new.seq, hotplex_fold(new.content));
END;

-- A soft delete (or any change of content or of the deleted flag) takes the old row out and
-- puts the new one in when it is live.
CREATE TRIGGER message_search_update AFTER UPDATE OF content, deleted ON messages
BEGIN
    DELETE FROM message_search WHERE old.deleted = 0 AND rowid = old.seq;
    INSERT INTO message_search (rowid, body)
        SELECT new.seq, hotplex_fold(new.content) WHERE new.deleted = 0;
END;

-- Purges and retention: a live row leaves the index with the row.
CREATE TRIGGER message_search_delete AFTER DELETE ON messages
WHEN old.deleted = 0
BEGIN
    DELETE FROM message_search WHERE rowid = old.seq;
END;
