-- +goose Up
-- Checkpoints: the opaque position of a change feed, per pipeline × entity
-- × partition, committed only after the target acknowledged what came
-- before it. resync_since is set while a full resync is in progress: the
-- ID-map rows not seen since then are reconciled when the resync ends.
CREATE TABLE checkpoints (
    pipeline     TEXT    NOT NULL,
    entity       TEXT    NOT NULL,
    partition    TEXT    NOT NULL,
    checkpoint   BLOB,
    resync_since INTEGER,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (pipeline, entity, partition)
) WITHOUT ROWID;

-- The ID map: which target record a source record became, with the hashes
-- of what was last read from the source and last written to the target.
-- seen_at is the last time the source reported the record (upsert).
CREATE TABLE id_map (
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
CREATE UNIQUE INDEX id_map_target ON id_map (pipeline, target_entity, target_partition, target_id);
CREATE INDEX id_map_source_id ON id_map (pipeline, source_id);

-- Secrets of connections, AES-256-GCM encrypted (nonce || ciphertext), the
-- connection and name bound as additional data.
CREATE TABLE secrets (
    connection TEXT NOT NULL,
    name       TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (connection, name)
) WITHOUT ROWID;

-- Connector-private values, per connection.
CREATE TABLE connector_values (
    connection TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (connection, key)
) WITHOUT ROWID;

-- Store-wide facts, such as the check value of the secret key.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

-- Run history: one row per sync of a pipeline × entity × partition.
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    pipeline    TEXT    NOT NULL,
    entity      TEXT    NOT NULL,
    partition   TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    status      TEXT    NOT NULL,
    read        INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL DEFAULT 0,
    updated     INTEGER NOT NULL DEFAULT 0,
    deleted     INTEGER NOT NULL DEFAULT 0,
    unchanged   INTEGER NOT NULL DEFAULT 0,
    rejected    INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0,
    errors      INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX runs_pipeline ON runs (pipeline, entity, partition, id);

-- Dead letters: records the target rejected or the mapping could not map,
-- with the raw source record and the diagnostics.
CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY,
    pipeline    TEXT    NOT NULL,
    entity      TEXT    NOT NULL,
    partition   TEXT    NOT NULL,
    source_id   TEXT    NOT NULL,
    record      TEXT    NOT NULL,
    diagnostics TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    retried     INTEGER NOT NULL DEFAULT 0,
    retried_at  INTEGER
);
CREATE INDEX dead_letters_pipeline ON dead_letters (pipeline, retried, id);

-- +goose Down
DROP TABLE dead_letters;
DROP TABLE runs;
DROP TABLE meta;
DROP TABLE connector_values;
DROP TABLE secrets;
DROP TABLE id_map;
DROP TABLE checkpoints;
