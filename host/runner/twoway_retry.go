package runner

import (
	"context"
	"fmt"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/host/config"
	"github.com/syncplane/syncplane/host/store"
)

// retryTwoWay delivers the dead letters of a two-way pipeline again, each
// in the direction it was going: a record of side a (entity "a:ENTITY") to
// side b and the other way round. They go through the links as the
// changes of one round do (a create for a record not linked yet, the
// changed fields for a linked one, a deletion following the delete
// policy), without reading the change feeds or moving a checkpoint; the
// dead letters are marked retried in the commit of their outcomes, and one
// refused again gets a new dead letter. A dead letter older than what the
// link has since learnt of its record (a later change already synced) is
// marked retried without a write, so a retry never brings back old values.
// Refused write-backs of created ids are listed but not retried.
func (r *Runner) retryTwoWay(ctx context.Context, p *config.Pipeline, rs []RejectedRecord) (store.Counts, error) {
	key := store.PartitionKey{Pipeline: p.Name, Entity: twoWayRunEntity}
	runID, err := r.st.StartRun(ctx, key)
	if err != nil {
		return store.Counts{}, err
	}
	rd := &twRound{r: r, p: p, runID: runID, pairs: map[store.LinkKey]*twPair{},
		commit: store.TwoWayCommit{Pipeline: p.Name, RunID: runID}}
	err = rd.setup(ctx)
	if err == nil {
		err = rd.retry(ctx, rs)
	}
	if err != nil {
		err = fmt.Errorf("retrying dead letters of two-way pipeline %s: %w", p.Name, err)
	}
	if ferr := r.st.FinishRun(context.WithoutCancel(ctx), runID, err); ferr != nil && err == nil {
		err = ferr
	}
	n := rd.n
	n.Add(rd.recovered)
	return n, err
}

func (rd *twRound) retry(ctx context.Context, rs []RejectedRecord) error {
	if err := rd.recoverPending(ctx); err != nil {
		return err
	}
	if err := rd.loadInflight(ctx); err != nil {
		return err
	}
	var changes [2]map[store.LinkKey]*twChange
	for i := range changes {
		changes[i] = map[store.LinkKey]*twChange{}
	}
	for _, rr := range rs {
		i := -1
		for j, s := range rd.sides {
			if rr.Entity == s.checkpointEntity() {
				i = j
			}
		}
		if i < 0 {
			continue // a write-back, or an entity the pipeline no longer has
		}
		rec := rr.Record
		if rec.Partition == "" {
			rec.Partition = rr.Partition
		}
		if rec.Fields == nil {
			rec.Fields = map[string]any{}
		}
		op := connector.Upsert
		if rec.Deleted {
			op = connector.Delete
		}
		c, err := rd.change(rd.sides[i], op, rec)
		if err != nil {
			return err
		}
		// Dead letters come oldest first: the latest of a record counts.
		changes[i][store.LinkKey{Partition: rec.Partition, ID: rec.ID}] = c
		rd.commit.Retried = append(rd.commit.Retried, rr.ID)
		rd.n.Read++
	}
	if err := rd.pair(ctx, changes); err != nil {
		return err
	}
	for _, k := range rd.order {
		pr := rd.pairs[k]
		if pr.link == nil {
			continue
		}
		for i, c := range pr.ch {
			if c == nil || c.modified.IsZero() {
				continue
			}
			if ls := linkSide(pr.link, i); ls.Modified.After(c.modified) {
				pr.ch[i] = nil // superseded by a later change already synced
				rd.n.Skipped++
			}
		}
	}
	// Updates in flight of crashed rounds stay for the next round, whose
	// feeds bring their echoes.
	return rd.finish(ctx)
}
