-- +goose Up
-- Pending creates become an append-only log: each create is a new row at
-- the end of a rowid table, cleared by its row id in the batch's commit.
-- Keyed by source id, every batch wrote its records into random places of
-- a B-tree and deleted them again, which rewrote most of its pages on
-- every commit. The same source id may now be pending in more than one
-- row; the newest row (highest id) is the create that counts.
--   scope = syncplane_key64(pipeline, source_entity, source_partition)
CREATE TABLE pending_log (
    id               INTEGER PRIMARY KEY,
    scope            INTEGER NOT NULL,
    pipeline         TEXT    NOT NULL,
    source_entity    TEXT    NOT NULL,
    source_partition TEXT    NOT NULL,
    source_id        TEXT    NOT NULL,
    idempotency_key  TEXT    NOT NULL,
    target_entity    TEXT    NOT NULL,
    target_partition TEXT    NOT NULL,
    record           BLOB    NOT NULL,
    source_hash      TEXT    NOT NULL,
    target_hash      TEXT    NOT NULL,
    created_at       INTEGER NOT NULL
);
INSERT INTO pending_log (scope, pipeline, source_entity, source_partition, source_id, idempotency_key, target_entity, target_partition,
    record, source_hash, target_hash, created_at)
SELECT syncplane_key64(pipeline, source_entity, source_partition), pipeline, source_entity, source_partition, source_id, idempotency_key,
    target_entity, target_partition, record, source_hash, target_hash, created_at
FROM pending_creates ORDER BY pipeline, source_entity, source_partition, source_id;
DROP TABLE pending_creates;
ALTER TABLE pending_log RENAME TO pending_creates;
-- Rows of a partition are appended in id order, so this index grows at its
-- end.
CREATE INDEX pending_creates_scope ON pending_creates (scope);

-- The ID map loses one of its indexes keyed by hashes, whose entries land
-- in random places: the 16-byte key of the source id first serves both
-- finding a record in its scope (source_key, source_scope) and lookup()
-- by pipeline and source id across scopes (source_key, then the ids
-- compared), so lookup_key is dropped.
DROP INDEX id_map_lookup;
DROP INDEX id_map_source;
ALTER TABLE id_map DROP COLUMN lookup_key;
CREATE UNIQUE INDEX id_map_source ON id_map (source_key, source_scope);
-- Unseen reads a scope's rows not seen since a time. The rows a commit
-- puts or touches share its scope and time, so they enter this index at
-- one place.
CREATE INDEX id_map_seen ON id_map (source_scope, seen_at);

-- +goose Down
DROP INDEX id_map_seen;
DROP INDEX id_map_source;
ALTER TABLE id_map ADD COLUMN lookup_key INTEGER NOT NULL DEFAULT 0;
UPDATE id_map SET lookup_key = syncplane_key64(pipeline, source_id);
CREATE UNIQUE INDEX id_map_source ON id_map (source_scope, source_key);
CREATE INDEX id_map_lookup ON id_map (lookup_key);

CREATE TABLE pending_keyed (
    pipeline         TEXT    NOT NULL,
    source_entity    TEXT    NOT NULL,
    source_partition TEXT    NOT NULL,
    source_id        TEXT    NOT NULL,
    idempotency_key  TEXT    NOT NULL,
    target_entity    TEXT    NOT NULL,
    target_partition TEXT    NOT NULL,
    record           BLOB    NOT NULL,
    source_hash      TEXT    NOT NULL,
    target_hash      TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (pipeline, source_entity, source_partition, source_id)
) WITHOUT ROWID;
-- The newest row of a source id wins, as it does in the log.
INSERT OR REPLACE INTO pending_keyed SELECT pipeline, source_entity, source_partition, source_id, idempotency_key, target_entity,
    target_partition, record, source_hash, target_hash, created_at FROM pending_creates ORDER BY id;
DROP TABLE pending_creates;
ALTER TABLE pending_keyed RENAME TO pending_creates;
