package store

import (
	"context"
	"database/sql"
	"fmt"
)

// PendingCreate is a create sent (or about to be sent) to a target whose
// outcome is not committed yet.
type PendingCreate struct {
	SourceID        string
	IdempotencyKey  string
	TargetEntity    string
	TargetPartition string
	// Record is the mapped record as the runner encodes it.
	Record     []byte
	SourceHash string
	TargetHash string
}

// AddPending records creates of partition k before they are sent. Commit
// with ClearPending removes them once their outcomes are stored.
func (s *Store) AddPending(ctx context.Context, k PartitionKey, ps []PendingCreate) error {
	if len(ps) == 0 {
		return nil
	}
	now := s.stamp()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for part := range chunks(ps, putChunk) {
			args := make([]any, 0, len(part)*11)
			for _, p := range part {
				args = append(args, k.Pipeline, k.Entity, k.Partition, p.SourceID, p.IdempotencyKey,
					p.TargetEntity, p.TargetPartition, nonNil(p.Record), p.SourceHash, p.TargetHash, now)
			}
			if _, err := s.exec(ctx, tx, pendingQuery(len(part)), args...); err != nil {
				return fmt.Errorf("%d pending creates: %w", len(part), err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording pending creates of %s: %w", k, err)
	}
	return nil
}

// Pending returns the creates of partition k whose outcomes were never
// committed, in source id order.
func (s *Store) Pending(ctx context.Context, k PartitionKey) ([]PendingCreate, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT source_id, idempotency_key, target_entity, target_partition, record, source_hash, target_hash
		FROM pending_creates WHERE pipeline = ? AND source_entity = ? AND source_partition = ? ORDER BY source_id`, k.Pipeline, k.Entity, k.Partition)
	if err != nil {
		return nil, fmt.Errorf("listing pending creates of %s: %w", k, err)
	}
	defer rows.Close()
	var out []PendingCreate
	for rows.Next() {
		var p PendingCreate
		if err := rows.Scan(&p.SourceID, &p.IdempotencyKey, &p.TargetEntity, &p.TargetPartition, &p.Record, &p.SourceHash, &p.TargetHash); err != nil {
			return nil, fmt.Errorf("listing pending creates of %s: %w", k, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// pendingQuery is the upsert of n pending creates.
func pendingQuery(n int) string {
	return `INSERT INTO pending_creates (pipeline, source_entity, source_partition, source_id, idempotency_key,
		target_entity, target_partition, record, source_hash, target_hash, created_at) VALUES ` + placeholders(n, 11) + `
		ON CONFLICT (pipeline, source_entity, source_partition, source_id) DO UPDATE SET idempotency_key = excluded.idempotency_key,
		target_entity = excluded.target_entity, target_partition = excluded.target_partition, record = excluded.record,
		source_hash = excluded.source_hash, target_hash = excluded.target_hash`
}
