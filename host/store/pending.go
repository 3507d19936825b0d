package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
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
	// Rows are the stored rows this create stands for (set by Pending):
	// its own and those of older creates of the same source id it
	// supersedes. Commit.ClearPending takes them.
	Rows []int64
}

// AddPending records creates of partition k before they are sent and
// returns their row ids, in the order of ps, for Commit.ClearPending.
//
// Pending creates are an append-only log (migration 00006): each create is
// a new row at the end of the table, and a commit deletes its batch's rows
// by id, so a batch writes its records once, in sequence, instead of into
// random places of a B-tree keyed by source id.
func (s *Store) AddPending(ctx context.Context, k PartitionKey, ps []PendingCreate) ([]int64, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	now := s.stamp()
	scope := key64(k.Pipeline, k.Entity, k.Partition)
	ids := make([]int64, 0, len(ps))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// Ids are given, not left to SQLite, so that they are known
		// without reading them back: the store has one writer, so no
		// other row can take them inside this transaction.
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM pending_creates`).Scan(&last); err != nil {
			return fmt.Errorf("reading the last pending create: %w", err)
		}
		for part := range chunks(ps, putChunk) {
			args := make([]any, 0, len(part)*pendingColumns)
			for _, p := range part {
				last++
				ids = append(ids, last)
				args = append(args, last, scope, k.Pipeline, k.Entity, k.Partition, p.SourceID, p.IdempotencyKey,
					p.TargetEntity, p.TargetPartition, nonNil(p.Record), p.SourceHash, p.TargetHash, now)
			}
			if _, err := s.exec(ctx, tx, pendingQuery(len(part)), args...); err != nil {
				return fmt.Errorf("%d pending creates: %w", len(part), err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recording pending creates of %s: %w", k, err)
	}
	return ids, nil
}

// Pending returns the creates of partition k whose outcomes were never
// committed, one per source id (the newest recorded), in source id order.
func (s *Store) Pending(ctx context.Context, k PartitionKey) ([]PendingCreate, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, source_id, idempotency_key, target_entity, target_partition, record, source_hash, target_hash
		FROM pending_creates WHERE scope = ? AND pipeline = ? AND source_entity = ? AND source_partition = ? ORDER BY id`,
		key64(k.Pipeline, k.Entity, k.Partition), k.Pipeline, k.Entity, k.Partition)
	if err != nil {
		return nil, fmt.Errorf("listing pending creates of %s: %w", k, err)
	}
	defer rows.Close()
	newest := map[string]int{}
	var out []PendingCreate
	for rows.Next() {
		var p PendingCreate
		var id int64
		if err := rows.Scan(&id, &p.SourceID, &p.IdempotencyKey, &p.TargetEntity, &p.TargetPartition, &p.Record, &p.SourceHash, &p.TargetHash); err != nil {
			return nil, fmt.Errorf("listing pending creates of %s: %w", k, err)
		}
		if i, ok := newest[p.SourceID]; ok {
			p.Rows = append(out[i].Rows, id)
			out[i] = p
			continue
		}
		p.Rows = []int64{id}
		newest[p.SourceID] = len(out)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing pending creates of %s: %w", k, err)
	}
	slices.SortFunc(out, func(a, b PendingCreate) int { return strings.Compare(a.SourceID, b.SourceID) })
	return out, nil
}

// pendingColumns is the number of values of one pending create.
const pendingColumns = 13

// pendingQuery is the insert of n pending creates.
func pendingQuery(n int) string {
	return `INSERT INTO pending_creates (id, scope, pipeline, source_entity, source_partition, source_id, idempotency_key,
		target_entity, target_partition, record, source_hash, target_hash, created_at) VALUES ` + placeholders(n, pendingColumns)
}
