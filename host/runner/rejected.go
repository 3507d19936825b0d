package runner

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/host/store"
)

// RejectedRecord is a dead letter decoded: the source record and why it
// was not delivered.
type RejectedRecord struct {
	store.DeadLetter
	Record      connector.Record      `json:"record"`
	Diagnostics connector.Diagnostics `json:"diagnostics"`
}

// Rejected lists the dead letters of a pipeline not yet retried (all of
// them with includeRetried), decoded.
func (r *Runner) Rejected(ctx context.Context, pipeline string, includeRetried bool) ([]RejectedRecord, error) {
	return ListRejected(ctx, r.st, pipeline, includeRetried)
}

// ListRejected lists and decodes the dead letters of a pipeline from a
// store, without a runner (no connector is started).
func ListRejected(ctx context.Context, st *store.Store, pipeline string, includeRetried bool) ([]RejectedRecord, error) {
	dls, err := st.DeadLetters(ctx, pipeline, includeRetried)
	if err != nil {
		return nil, err
	}
	out := make([]RejectedRecord, 0, len(dls))
	for _, d := range dls {
		rec, err := decodeRecord(d.Record)
		if err != nil {
			return nil, fmt.Errorf("dead letter %d: %w", d.ID, err)
		}
		ds, err := DecodeDiagnostics(d.Diagnostics)
		if err != nil {
			return nil, fmt.Errorf("dead letter %d: %w", d.ID, err)
		}
		out = append(out, RejectedRecord{DeadLetter: d, Record: rec, Diagnostics: ds})
	}
	return out, nil
}

// RetryRejected delivers a pipeline's dead letters again, as they were
// read, through the current mapping and the ID map (for a two-way
// pipeline: in the direction each was going, through the links). Each dead letter is
// marked retried in the transaction that commits its new outcome; one
// rejected again gets a new dead letter. Checkpoints do not move.
func (r *Runner) RetryRejected(ctx context.Context, pipeline string) (store.Counts, error) {
	p, err := r.pipeline(pipeline)
	if err != nil {
		return store.Counts{}, err
	}
	rs, err := r.Rejected(ctx, pipeline, false)
	if err != nil {
		return store.Counts{}, err
	}
	if p.TwoWay() {
		return r.retryTwoWay(ctx, p, rs) // twoway_retry.go
	}
	byPart := map[string][]RejectedRecord{}
	for _, rr := range rs {
		if rr.Entity != p.From.Entity {
			continue // the pipeline's source entity changed since
		}
		byPart[rr.Partition] = append(byPart[rr.Partition], rr)
	}
	parts := make([]string, 0, len(byPart))
	for k := range byPart {
		parts = append(parts, k)
	}
	sort.Strings(parts)
	var total store.Counts
	var errs []error
	for _, part := range parts {
		key := store.PartitionKey{Pipeline: p.Name, Entity: p.From.Entity, Partition: part}
		runID, err := r.st.StartRun(ctx, key)
		if err != nil {
			return total, err
		}
		j, err := r.newJob(ctx, p, key, runID)
		if err == nil {
			err = j.retry(ctx, byPart[part])
			total.Add(j.total)
		}
		if ferr := r.st.FinishRun(context.WithoutCancel(ctx), runID, err); ferr != nil && err == nil {
			err = ferr
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("retrying dead letters of %s partition %q: %w", p.Name, part, err))
		}
	}
	return total, errors.Join(errs...)
}

func (j *job) retry(ctx context.Context, rs []RejectedRecord) error {
	size := j.p.BatchSize
	if size <= 0 {
		size = 100
	}
	for start := 0; start < len(rs); start += size {
		part := rs[start:min(start+size, len(rs))]
		changes := make([]connector.Change, len(part))
		ids := make([]int64, len(part))
		for i, rr := range part {
			op := connector.Upsert
			if rr.Record.Deleted {
				op = connector.Delete
			}
			changes[i] = connector.Change{Op: op, Record: rr.Record}
			ids[i] = rr.ID
		}
		if err := j.chunk(ctx, changes, store.Commit{Key: j.key, Retried: ids}, true); err != nil {
			return err
		}
	}
	return nil
}
