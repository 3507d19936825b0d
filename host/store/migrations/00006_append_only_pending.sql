-- +goose Up
-- Pending creates become a log of batches: each batch of creates is one
-- new row at the end of a rowid table, its creates in one JSON array
-- (objects of source_id, idempotency_key, target_entity,
-- target_partition, record — a string —, source_hash, target_hash), and
-- the commit of the batch's outcomes deletes the row. Keyed by source id,
-- every batch wrote its records into random places of a B-tree and deleted
-- them again, which rewrote most of its pages on every commit. A source id
-- may be pending in more than one row; the newest is the create that
-- counts. Each create pending before this migration becomes a row of its
-- own.
--   scope = syncplane_key64(pipeline, source_entity, source_partition)
CREATE TABLE pending_batches (
    id               INTEGER PRIMARY KEY,
    scope            INTEGER NOT NULL,
    pipeline         TEXT    NOT NULL,
    source_entity    TEXT    NOT NULL,
    source_partition TEXT    NOT NULL,
    creates          BLOB    NOT NULL,
    created_at       INTEGER NOT NULL
);
INSERT INTO pending_batches (scope, pipeline, source_entity, source_partition, creates, created_at)
SELECT syncplane_key64(pipeline, source_entity, source_partition), pipeline, source_entity, source_partition,
    json_array(json_object('source_id', source_id, 'idempotency_key', idempotency_key, 'target_entity', target_entity,
        'target_partition', target_partition, 'record', CAST(record AS TEXT), 'source_hash', source_hash, 'target_hash', target_hash)),
    created_at
FROM pending_creates ORDER BY pipeline, source_entity, source_partition, source_id;
DROP TABLE pending_creates;
ALTER TABLE pending_batches RENAME TO pending_creates;
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
-- The newest create of a source id wins, as it does in the log.
INSERT OR REPLACE INTO pending_keyed
SELECT p.pipeline, p.source_entity, p.source_partition, c.value ->> 'source_id', c.value ->> 'idempotency_key', c.value ->> 'target_entity',
    c.value ->> 'target_partition', CAST(c.value ->> 'record' AS BLOB), c.value ->> 'source_hash', c.value ->> 'target_hash', p.created_at
FROM pending_creates p, json_each(p.creates) c ORDER BY p.id, c.key;
DROP TABLE pending_creates;
ALTER TABLE pending_keyed RENAME TO pending_creates;
