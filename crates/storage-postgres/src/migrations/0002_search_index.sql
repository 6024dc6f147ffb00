-- hotplex-storage PostgreSQL schema, both levels, version 2: the search index.
-- Runs with search_path set to the configured schema. Never edit once released: its checksum
-- is recorded in every database it created.
--
-- `content_folded` holds the content folded by hotplex_storage_core::fold (written by the
-- store statement; rows older than this migration are backfilled by the migration runner in
-- batches, and stay search candidates while NULL). The trigram index is over that column, not
-- lower(content), whose folding depends on the server's locale. At level 2 both indexes are
-- created on the partitioned parent, so every partition (new months and DEFAULT) has them.

-- Stores of other schemas of this database may migrate at the same moment (each under its own
-- lock): one creates the extension, the others wait here until it commits, then find it.
SELECT pg_advisory_xact_lock(hashtext('hotplex-storage/create-extension/pg_trgm'));

-- Installed in this schema unless a DBA already installed it (in any schema of the database).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE messages ADD COLUMN content_folded text;

-- The operator class is looked up in the extension's schema, wherever that is.
DO $$
DECLARE
    trgm_schema name;
BEGIN
    SELECT n.nspname INTO STRICT trgm_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_trgm';
    EXECUTE format(
        'CREATE INDEX messages_content_trgm_idx ON messages USING gin (content_folded %I.gin_trgm_ops)',
        trgm_schema);
END
$$;

-- Rows not folded yet (older than this migration, or written by an older build): found by
-- the backfill, and by every search as candidates. Empty in normal operation.
CREATE INDEX messages_unfolded_idx ON messages (created_at, seq) WHERE content_folded IS NULL;
