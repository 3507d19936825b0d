-- +goose Up
-- Two-way links: which record of the from side (a) and which of the to side
-- (b) of a two-way pipeline are the same thing, with what the host last
-- knew of each side: the record as that side holds it (tagged JSON, the
-- base of field-level merges), its hash, the concurrency token and the
-- modification time, and the hash of what the host last wrote to it. A
-- change that comes back with the version or the hash the host wrote is
-- the host's own write (an echo) and is not written again.
CREATE TABLE twoway_links (
    pipeline    TEXT    NOT NULL,
    a_partition TEXT    NOT NULL,
    a_id        TEXT    NOT NULL,
    b_partition TEXT    NOT NULL,
    b_id        TEXT    NOT NULL,
    a_record    BLOB    NOT NULL,
    b_record    BLOB    NOT NULL,
    a_mapped    BLOB    NOT NULL DEFAULT '',
    b_mapped    BLOB    NOT NULL DEFAULT '',
    a_hash      TEXT    NOT NULL DEFAULT '',
    b_hash      TEXT    NOT NULL DEFAULT '',
    a_version   TEXT    NOT NULL DEFAULT '',
    b_version   TEXT    NOT NULL DEFAULT '',
    a_sent      TEXT    NOT NULL DEFAULT '',
    b_sent      TEXT    NOT NULL DEFAULT '',
    a_modified  INTEGER NOT NULL DEFAULT 0,
    b_modified  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
-- A rowid table: its rows hold two records each, too large for a table
-- without rowid (https://sqlite.org/withoutrowid.html §4).
CREATE UNIQUE INDEX twoway_links_a ON twoway_links (pipeline, a_partition, a_id);
CREATE UNIQUE INDEX twoway_links_b ON twoway_links (pipeline, b_partition, b_id);

-- Conflicts of two-way pipelines: both sides of a link changed the same
-- fields (or one deleted what the other changed) since the last sync. An
-- open conflict (closed_at NULL) holds both current versions (empty when
-- deleted) and blocks writes of its pair until `syncplane resolve` sets
-- take to 'a' or 'b'; the next sync applies that side and closes it.
CREATE TABLE twoway_conflicts (
    id          INTEGER PRIMARY KEY,
    pipeline    TEXT    NOT NULL,
    a_partition TEXT    NOT NULL,
    a_id        TEXT    NOT NULL,
    b_partition TEXT    NOT NULL,
    b_id        TEXT    NOT NULL,
    a_record    BLOB    NOT NULL,
    b_record    BLOB    NOT NULL,
    a_deleted   INTEGER NOT NULL DEFAULT 0,
    b_deleted   INTEGER NOT NULL DEFAULT 0,
    fields      TEXT    NOT NULL DEFAULT '',
    take        TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    resolved_at INTEGER,
    closed_at   INTEGER
);
CREATE UNIQUE INDEX twoway_conflicts_open ON twoway_conflicts (pipeline, a_partition, a_id) WHERE closed_at IS NULL;

-- +goose Down
DROP TABLE twoway_conflicts;
DROP TABLE twoway_links;
