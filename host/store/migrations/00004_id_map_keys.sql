-- +goose Up
-- The ID map keyed by fixed-size hashes of its ids (see keys.go): rows are
-- appended in a rowid table, and the indexes hold 8- and 16-byte keys
-- instead of ids of about 150 characters, so a batch commit writes a few
-- hundred pages instead of thousands. Every column of the earlier table is
-- kept, with the same meaning.
--   source_scope = syncplane_key64(pipeline, source_entity, source_partition)
--   source_key   = syncplane_key128(source_id)      (unique in its scope)
--   lookup_key   = syncplane_key64(pipeline, source_id)
--   target_key   = syncplane_key128(pipeline, target_entity, target_partition, target_id)
CREATE TABLE id_map_keyed (
    id               INTEGER PRIMARY KEY,
    source_scope     INTEGER NOT NULL,
    source_key       BLOB    NOT NULL,
    lookup_key       INTEGER NOT NULL,
    target_key       BLOB    NOT NULL,
    pipeline         TEXT    NOT NULL,
    source_entity    TEXT    NOT NULL,
    source_partition TEXT    NOT NULL,
    source_id        TEXT    NOT NULL,
    target_entity    TEXT    NOT NULL,
    target_partition TEXT    NOT NULL,
    target_id        TEXT    NOT NULL,
    source_hash      TEXT    NOT NULL DEFAULT '',
    target_hash      TEXT    NOT NULL DEFAULT '',
    target_version   TEXT    NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    seen_at          INTEGER NOT NULL
);
INSERT INTO id_map_keyed (source_scope, source_key, lookup_key, target_key, pipeline, source_entity, source_partition, source_id,
    target_entity, target_partition, target_id, source_hash, target_hash, target_version, created_at, updated_at, seen_at)
SELECT syncplane_key64(pipeline, source_entity, source_partition), syncplane_key128(source_id), syncplane_key64(pipeline, source_id),
    syncplane_key128(pipeline, target_entity, target_partition, target_id), pipeline, source_entity, source_partition, source_id,
    target_entity, target_partition, target_id, source_hash, target_hash, target_version, created_at, updated_at, seen_at
FROM id_map ORDER BY pipeline, source_entity, source_partition, source_id;
DROP TABLE id_map;
ALTER TABLE id_map_keyed RENAME TO id_map;
CREATE UNIQUE INDEX id_map_source ON id_map (source_scope, source_key);
CREATE UNIQUE INDEX id_map_target ON id_map (target_key);
CREATE INDEX id_map_lookup ON id_map (lookup_key);

-- +goose Down
CREATE TABLE id_map_text (
    pipeline         TEXT    NOT NULL,
    source_entity    TEXT    NOT NULL,
    source_partition TEXT    NOT NULL,
    source_id        TEXT    NOT NULL,
    target_entity    TEXT    NOT NULL,
    target_partition TEXT    NOT NULL,
    target_id        TEXT    NOT NULL,
    source_hash      TEXT    NOT NULL DEFAULT '',
    target_hash      TEXT    NOT NULL DEFAULT '',
    target_version   TEXT    NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    seen_at          INTEGER NOT NULL,
    PRIMARY KEY (pipeline, source_entity, source_partition, source_id)
) WITHOUT ROWID;
INSERT INTO id_map_text SELECT pipeline, source_entity, source_partition, source_id, target_entity, target_partition, target_id,
    source_hash, target_hash, target_version, created_at, updated_at, seen_at FROM id_map;
DROP TABLE id_map;
ALTER TABLE id_map_text RENAME TO id_map;
CREATE UNIQUE INDEX id_map_target ON id_map (pipeline, target_entity, target_partition, target_id);
CREATE INDEX id_map_source_id ON id_map (pipeline, source_id);
