-- +goose Up
-- Creates of two-way pipelines sent (or about to be sent) whose outcome is
-- not committed yet: written before the batch goes out, deleted in the
-- round's commit. After a crash between the target's acknowledgement and
-- the commit, the next round first sends them again with the same
-- idempotency keys, so the target answers with the record it already made
-- and the link is stored, even when the origin record has changed or gone
-- since. origin is the side the record comes from ('a' or 'b'); the
-- origin_* columns are what the host knew of the origin record when it
-- sent the create (the link's side state).
CREATE TABLE twoway_pending (
    pipeline         TEXT    NOT NULL,
    origin           TEXT    NOT NULL,
    origin_partition TEXT    NOT NULL,
    origin_id        TEXT    NOT NULL,
    idempotency_key  TEXT    NOT NULL,
    target_partition TEXT    NOT NULL,
    record           BLOB    NOT NULL,
    sent             TEXT    NOT NULL,
    origin_record    BLOB    NOT NULL,
    origin_mapped    BLOB    NOT NULL,
    origin_hash      TEXT    NOT NULL,
    origin_version   TEXT    NOT NULL,
    origin_modified  INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (pipeline, origin, origin_partition, origin_id)
) WITHOUT ROWID;

-- Updates of two-way pipelines sent (or about to be sent) in a round not
-- committed yet: the fields written to one side's record. After a crash the
-- record comes back through that side's feed holding them; the next round
-- takes the fields that hold exactly what one of the uncommitted rounds
-- (run) wrote as the host's own
-- write, not as a change of that side (which would otherwise win against a
-- newer change of the other side). Cleared by the round's commit.
CREATE TABLE twoway_inflight (
    pipeline   TEXT    NOT NULL,
    side       TEXT    NOT NULL,
    partition  TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    run        INTEGER NOT NULL,
    fields     BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (pipeline, side, partition, id, run)
) WITHOUT ROWID;

-- A side of a link whose record was deleted while the other side keeps its
-- record (a delete policy of ignore or mark): the link stays, so a later
-- change of the surviving record is not taken for a new record.
ALTER TABLE twoway_links ADD COLUMN a_gone INTEGER NOT NULL DEFAULT 0;
ALTER TABLE twoway_links ADD COLUMN b_gone INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE twoway_links DROP COLUMN b_gone;
ALTER TABLE twoway_links DROP COLUMN a_gone;
DROP TABLE twoway_inflight;
DROP TABLE twoway_pending;
