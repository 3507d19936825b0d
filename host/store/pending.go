package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/syncplane/syncplane/internal/jsonenc"
)

// PendingCreate is a create sent (or about to be sent) to a target whose
// outcome is not committed yet.
type PendingCreate struct {
	SourceID        string `json:"source_id"`
	IdempotencyKey  string `json:"idempotency_key"`
	TargetEntity    string `json:"target_entity"`
	TargetPartition string `json:"target_partition"`
	// Record is the mapped record as the runner encodes it: JSON, stored
	// as a JSON string, so it must be UTF-8.
	Record     []byte `json:"-"`
	SourceHash string `json:"source_hash"`
	TargetHash string `json:"target_hash"`
}

// AddPending records a batch of creates of partition k before they are
// sent and returns the row that holds them, for Commit.ClearPending.
//
// Pending creates are a log of batches (migration 00006): each batch is
// one new row at the end of the table, its creates encoded in one value,
// and the commit of its outcomes deletes the row. A batch writes its
// records once, in sequence, in one statement, instead of a row per create
// in random places of a B-tree keyed by source id.
func (s *Store) AddPending(ctx context.Context, k PartitionKey, ps []PendingCreate) (int64, error) {
	if len(ps) == 0 {
		return 0, nil
	}
	var id int64
	// The encoding is built in a pooled buffer: the driver copies a blob
	// argument when it binds it, so the buffer is free again once the
	// statement has run.
	buf := pendingBufs.Get().(*[]byte)
	defer pendingBufs.Put(buf)
	*buf = appendPending((*buf)[:0], ps)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO pending_creates (scope, pipeline, source_entity, source_partition, creates, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			key64(k.Pipeline, k.Entity, k.Partition), k.Pipeline, k.Entity, k.Partition, *buf, s.stamp())
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("recording %d pending creates of %s: %w", len(ps), k, err)
	}
	return id, nil
}

// Pending returns the creates of partition k whose outcomes were never
// committed, one per source id (the newest recorded), in source id order,
// and the rows holding them: clearing those rows clears them all.
func (s *Store) Pending(ctx context.Context, k PartitionKey) ([]PendingCreate, []int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, creates FROM pending_creates
		WHERE scope = ? AND pipeline = ? AND source_entity = ? AND source_partition = ? ORDER BY id`,
		key64(k.Pipeline, k.Entity, k.Partition), k.Pipeline, k.Entity, k.Partition)
	if err != nil {
		return nil, nil, fmt.Errorf("listing pending creates of %s: %w", k, err)
	}
	defer rows.Close()
	newest := map[string]int{}
	var (
		out []PendingCreate
		ids []int64
	)
	for rows.Next() {
		var (
			id   int64
			data []byte
		)
		if err := rows.Scan(&id, &data); err != nil {
			return nil, nil, fmt.Errorf("listing pending creates of %s: %w", k, err)
		}
		ps, err := decodePending(data)
		if err != nil {
			return nil, nil, fmt.Errorf("pending creates of %s, row %d: %w", k, id, err)
		}
		ids = append(ids, id)
		for _, p := range ps {
			if i, ok := newest[p.SourceID]; ok {
				out[i] = p
				continue
			}
			newest[p.SourceID] = len(out)
			out = append(out, p)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("listing pending creates of %s: %w", k, err)
	}
	slices.SortFunc(out, func(a, b PendingCreate) int { return strings.Compare(a.SourceID, b.SourceID) })
	return out, ids, nil
}

// pendingJSON is a pending create as stored: a JSON object whose record is
// a string (the store does not read records). Migration 00006 writes the
// same form.
type pendingJSON struct {
	PendingCreate
	Record string `json:"record"`
}

// pendingBufs holds the buffers AddPending encodes batches into.
var pendingBufs = sync.Pool{New: func() any { return new([]byte) }}

// appendPending appends ps to b as a JSON array of pendingJSON.
func appendPending(b []byte, ps []PendingCreate) []byte {
	n := 2
	for _, p := range ps {
		n += 160 + len(p.SourceID) + len(p.IdempotencyKey) + len(p.TargetEntity) + len(p.TargetPartition) + len(p.Record) + len(p.SourceHash) + len(p.TargetHash)
	}
	b = slices.Grow(b, n+n/8)
	b = append(b, '[')
	for i, p := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		for j, f := range [...]struct{ name, v string }{{"source_id", p.SourceID}, {"idempotency_key", p.IdempotencyKey},
			{"target_entity", p.TargetEntity}, {"target_partition", p.TargetPartition}, {"record", string(p.Record)},
			{"source_hash", p.SourceHash}, {"target_hash", p.TargetHash}} {
			if j == 0 {
				b = append(b, '{')
			} else {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, f.name...)
			b = append(b, '"', ':')
			b = jsonenc.AppendString(b, f.v)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// decodePending decodes what appendPending encoded.
func decodePending(data []byte) ([]PendingCreate, error) {
	var js []pendingJSON
	if err := json.Unmarshal(data, &js); err != nil {
		return nil, fmt.Errorf("decoding pending creates: %w", err)
	}
	out := make([]PendingCreate, len(js))
	for i, j := range js {
		out[i] = j.PendingCreate
		out[i].Record = []byte(j.Record)
	}
	return out, nil
}
