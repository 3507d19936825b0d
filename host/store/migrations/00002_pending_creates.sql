-- +goose Up
-- Creates sent to a target whose outcome is not committed yet: written
-- before the batch goes out, deleted in the batch's commit. After a crash
-- between the target's acknowledgement and the commit, the next sync sends
-- them again with the same idempotency keys, so the target answers with the
-- record it already made and the ID map learns its id, even when the source
-- record has changed or gone since.
CREATE TABLE pending_creates (
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

-- +goose Down
DROP TABLE pending_creates;
