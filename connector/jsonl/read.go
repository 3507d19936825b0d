package jsonl

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

func (r *row) record() connector.Record {
	return connector.Record{ID: r.key, Fields: r.fields, Deleted: r.deleted, Version: r.version, Modified: r.modified}
}

func batchSize(s *settings, asked int) int {
	if asked > 0 {
		return asked
	}
	return s.BatchSize
}

// Read emits every live record of the entity in file order. With
// ModifiedSince it emits those whose modified field is at or after it; that
// needs a declared modified_field.
func (c *jsonlConnector) Read(ctx context.Context, req connector.ReadRequest, emit func([]connector.Record) error) error {
	s, d, err := c.def(req.Entity, false)
	if err != nil {
		return err
	}
	if err := checkPartition(req.Partition); err != nil {
		return err
	}
	if !req.ModifiedSince.IsZero() && d.modified == "" {
		return connector.Errorf(connector.InvalidInput,
			"entity %q has no modified_field in settings, so it cannot be read modified-since", d.name)
	}
	t, err := loadTable(ctx, s.Dir, d)
	if err != nil {
		return err
	}
	size := batchSize(s, req.BatchSize)
	batch := make([]connector.Record, 0, min(size, len(t.rows)))
	for _, rw := range t.rows {
		if rw.deleted || (!req.ModifiedSince.IsZero() && rw.modified.Before(req.ModifiedSince)) {
			continue
		}
		batch = append(batch, rw.record())
		if len(batch) == size {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := emit(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		return emit(batch)
	}
	return nil
}

// checkpoint is the position of the last change a ChangeBatch holds: its
// modification time and key. Changes are ordered by (modified, key), so
// records sharing a timestamp are neither skipped nor repeated.
type checkpoint struct {
	V        int       `json:"v"`
	Entity   string    `json:"entity"`
	Modified time.Time `json:"modified"`
	Key      string    `json:"key"`
}

const checkpointVersion = 1

func (cp checkpoint) before(rw *row) bool {
	if c := rw.modified.Compare(cp.Modified); c != 0 {
		return c > 0
	}
	return rw.key > cp.Key
}

func parseCheckpoint(entity string, b []byte) (checkpoint, bool) {
	var cp checkpoint
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cp); err != nil || cp.V != checkpointVersion || cp.Entity != entity {
		return checkpoint{}, false
	}
	return cp, true
}

func (cp checkpoint) encode() []byte {
	b, err := json.Marshal(cp)
	if err != nil {
		panic(fmt.Sprintf("encoding a checkpoint cannot fail: %v", err))
	}
	return b
}

// ReadChanges emits the records and tombstones whose (modified, key)
// position is after the checkpoint, ordered by that position, each batch
// followed by the position of its last change. A nil checkpoint yields the
// whole file, tombstones included as deletes; a checkpoint this connector
// cannot read (another entity's, or not one of its checkpoints) yields the
// whole file with FullResync set on the first batch.
func (c *jsonlConnector) ReadChanges(ctx context.Context, req connector.ChangesRequest, emit func(connector.ChangeBatch) error) error {
	s, d, err := c.def(req.Entity, false)
	if err != nil {
		return err
	}
	if err := checkPartition(req.Partition); err != nil {
		return err
	}
	if d.modified == "" {
		return connector.Errorf(connector.InvalidInput,
			"entity %q has no modified_field in settings, so it has no change feed; use Read", d.name)
	}
	cp := checkpoint{V: checkpointVersion, Entity: d.name}
	resync := false
	if len(req.Checkpoint) > 0 {
		var ok bool
		if cp, ok = parseCheckpoint(d.name, req.Checkpoint); !ok {
			cp, resync = checkpoint{V: checkpointVersion, Entity: d.name}, true
		}
	}
	t, err := loadTable(ctx, s.Dir, d)
	if err != nil {
		return err
	}
	var after []*row
	for _, rw := range t.rows {
		if cp.before(rw) {
			after = append(after, rw)
		}
	}
	slices.SortFunc(after, func(a, b *row) int {
		if c := a.modified.Compare(b.modified); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	if len(after) == 0 {
		if resync {
			return emit(connector.ChangeBatch{Checkpoint: cp.encode(), FullResync: true})
		}
		return nil
	}
	size := batchSize(s, req.BatchSize)
	for start := 0; start < len(after); start += size {
		if err := ctx.Err(); err != nil {
			return err
		}
		part := after[start:min(start+size, len(after))]
		b := connector.ChangeBatch{Changes: make([]connector.Change, len(part)), FullResync: resync && start == 0}
		for i, rw := range part {
			op := connector.Upsert
			if rw.deleted {
				op = connector.Delete
			}
			b.Changes[i] = connector.Change{Op: op, Record: rw.record()}
		}
		last := part[len(part)-1]
		b.Checkpoint = checkpoint{V: checkpointVersion, Entity: d.name, Modified: last.modified, Key: last.key}.encode()
		if err := emit(b); err != nil {
			return err
		}
	}
	return nil
}

// Query returns the live records whose fields equal every value of Match,
// in file order, at most Limit of them (0: all). Match values are converted
// to the field's declared type first, so "2024-05-01T10:00:00Z" matches a
// timestamp field; a field the entity does not have is an INVALID_INPUT
// diagnostic naming it.
func (c *jsonlConnector) Query(ctx context.Context, req connector.QueryRequest) ([]connector.Record, error) {
	s, d, err := c.def(req.Entity, false)
	if err != nil {
		return nil, err
	}
	if err := checkPartition(req.Partition); err != nil {
		return nil, err
	}
	t, err := loadTable(ctx, s.Dir, d)
	if err != nil {
		return nil, err
	}
	match := make(map[string]any, len(req.Match))
	for name, v := range req.Match {
		f, ok := t.fields[name]
		if !ok {
			if d.fields == nil {
				return []connector.Record{}, nil // no record of an inferred entity has it
			}
			return nil, connector.FieldErrorf(connector.InvalidInput, name, "entity %q has no field %q", d.name, name)
		}
		if name == d.key {
			k, err := keyString(v)
			if err != nil {
				return nil, connector.FieldErrorf(connector.InvalidInput, name, "key %v", err)
			}
			match[name] = k
			continue
		}
		f.required = false
		cv, err := coerce(f, v)
		if err != nil {
			return nil, connector.FieldErrorf(connector.InvalidInput, name, "match value for %q: %v", name, err)
		}
		if f.kind == schema.Any || f.kind == schema.Collection {
			cv = fileNumbers(cv) // as a file read gives it
		}
		match[name] = cv
	}
	out := []connector.Record{}
	for _, rw := range t.rows {
		if rw.deleted || !matches(d, rw, match) {
			continue
		}
		out = append(out, rw.record())
		if req.Limit > 0 && len(out) == req.Limit {
			break
		}
	}
	return out, nil
}

func matches(d *entityDef, rw *row, match map[string]any) bool {
	for name, want := range match {
		if name == d.key {
			if rw.key != want {
				return false
			}
			continue
		}
		got, ok := rw.fields[name]
		if !ok || !connector.ValuesEqual(got, want) {
			return false
		}
	}
	return true
}

// fileNumbers returns v with every integral float64 (at any depth) as the
// int64 a file read gives for it (plainValue): the file has one number
// type, so 3 and 3.0 are the same value in it. Query turns a match value
// of a field of kind any or list into that form, since the rows it
// compares with come from the file and connector.ValuesEqual tells an
// int64 from a float64. Values without such a double are returned as
// they are.
func fileNumbers(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(x)
		}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = fileNumbers(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = fileNumbers(e)
		}
		return out
	}
	return v
}
