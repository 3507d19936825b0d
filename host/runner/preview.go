package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/syncplane/syncplane/connector"
)

// PreviewRow is one source record and what the mapping makes of it.
type PreviewRow struct {
	Source connector.Record `json:"source"`
	// Target is the mapped record; nil when skipped or failed.
	Target  *connector.Record `json:"target,omitempty"`
	Skipped bool              `json:"skipped,omitempty"`
	// Error is why the record could not be mapped.
	Error string `json:"error,omitempty"`
	// TargetID is the target record the ID map already links it to.
	TargetID string `json:"targetId,omitempty"`
}

var errEnough = errors.New("enough records")

// Preview reads up to limit live records of a pipeline's source (partition
// by partition) and maps them. It writes nothing: neither the target nor
// the state changes.
func (r *Runner) Preview(ctx context.Context, pipeline string, limit int) ([]PreviewRow, error) {
	p, err := r.pipeline(pipeline)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 10
	}
	src, err := r.conns.Client(ctx, p.From.Connection)
	if err != nil {
		return nil, err
	}
	parts, err := r.Partitions(ctx, pipeline)
	if err != nil {
		return nil, err
	}
	m := r.mappings[p.Name]
	var rows []PreviewRow
	add := func(rec connector.Record) error {
		row := PreviewRow{Source: rec.Clone()}
		res, err := m.Apply(ctx, rec)
		switch {
		case err != nil:
			row.Error = err.Error()
		case res.Skipped:
			row.Skipped = true
		default:
			t := res.Record
			row.Target = &t
		}
		if ms, err := r.st.Mappings(ctx, p.Name, p.From.Entity, rec.Partition, []string{rec.ID}); err == nil {
			row.TargetID = ms[rec.ID].TargetID
		}
		rows = append(rows, row)
		if len(rows) >= limit {
			return errEnough
		}
		return nil
	}
	caps := src.Spec().Capabilities
	for _, part := range parts {
		if caps.Read {
			err = src.Read(ctx, connector.ReadRequest{Entity: p.From.Entity, Partition: part.ID, BatchSize: limit}, func(recs []connector.Record) error {
				for _, rec := range recs {
					if err := add(rec); err != nil {
						return err
					}
				}
				return nil
			})
		} else {
			err = src.ReadChanges(ctx, connector.ChangesRequest{Entity: p.From.Entity, Partition: part.ID, BatchSize: limit}, func(b connector.ChangeBatch) error {
				for _, ch := range b.Changes {
					if ch.Op == connector.Delete || ch.Record.Deleted {
						continue
					}
					if err := add(ch.Record); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if errors.Is(err, errEnough) || (err != nil && len(rows) >= limit) {
			return rows, nil
		}
		if err != nil {
			return rows, fmt.Errorf("reading %s partition %q: %w", p.From.Entity, part.ID, err)
		}
	}
	return rows, nil
}
