package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"runtime/debug"
	"slices"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/host/config"
	"github.com/syncplane/syncplane/host/store"
	"github.com/syncplane/syncplane/schema"
	"github.com/syncplane/syncplane/transforms"
)

// job is one sync of one source partition.
type job struct {
	r       *Runner
	p       *config.Pipeline
	key     store.PartitionKey
	runID   int64
	src     connector.Client
	tgt     connector.Client
	mapping *transforms.Mapping
	target  *schema.Entity // nil when the target does not describe it
	// resyncing is set while a full resync runs: records seen are marked
	// so the ones not seen can be reconciled at the end.
	resyncing bool
	total     store.Counts
	// group gathers the commits of batches while the change feed is read
	// (see group.go); nil otherwise.
	group *commitGroup
	// seen, while not nil, holds the hashes of the source ids this job has
	// processed, in a partition that had no ID-map rows when the job
	// began: only those can have rows, so only those are looked up.
	seen     map[uint64]struct{}
	seenSeed maphash.Seed
}

// maxSeen bounds seen: past it, every id is looked up in the store.
const maxSeen = 1 << 20

// SyncPartition syncs one partition of a pipeline from its checkpoint to
// the end of the source's changes, records the run, and returns its counts.
func (r *Runner) SyncPartition(ctx context.Context, pipeline, partition string) (store.Counts, error) {
	p, err := r.pipeline(pipeline)
	if err != nil {
		return store.Counts{}, err
	}
	key := store.PartitionKey{Pipeline: p.Name, Entity: p.From.Entity, Partition: partition}
	runID, err := r.st.StartRun(ctx, key)
	if err != nil {
		return store.Counts{}, err
	}
	j, err := r.newJob(ctx, p, key, runID)
	if err == nil {
		err = j.sync(ctx)
	}
	if err != nil {
		err = fmt.Errorf("pipeline %s partition %q: %w", p.Name, partition, err)
		r.log.Error("sync failed", "pipeline", p.Name, "partition", partition, "error", err)
	}
	if ferr := r.st.FinishRun(context.WithoutCancel(ctx), runID, err); ferr != nil && err == nil {
		err = ferr
	}
	var total store.Counts
	if j != nil {
		total = j.total
	}
	return total, err
}

func (r *Runner) newJob(ctx context.Context, p *config.Pipeline, key store.PartitionKey, runID int64) (*job, error) {
	src, err := r.conns.Client(ctx, p.From.Connection)
	if err != nil {
		return nil, err
	}
	tgt, err := r.conns.Client(ctx, p.To.Connection)
	if err != nil {
		return nil, err
	}
	target, err := r.targetEntity(ctx, p, tgt)
	if err != nil {
		return nil, err
	}
	return &job{r: r, p: p, key: key, runID: runID, src: src, tgt: tgt, mapping: r.mappings[p.Name], target: target}, nil
}

func (j *job) sync(ctx context.Context) error {
	cp, _, err := j.r.st.Checkpoint(ctx, j.key)
	if err != nil {
		return err
	}
	j.resyncing = !cp.ResyncSince.IsZero()
	if err := j.recoverPending(ctx); err != nil {
		return err
	}
	// A partition without ID-map rows (an initial sync) skips looking up
	// the ids it has not met yet.
	if has, err := j.r.st.HasMappings(ctx, j.key); err != nil {
		return err
	} else if !has {
		j.seen, j.seenSeed = map[uint64]struct{}{}, maphash.MakeSeed()
	}
	if j.src.Spec().Capabilities.ReadChanges {
		q := j.startBatches(ctx)
		err = j.src.ReadChanges(ctx, connector.ChangesRequest{
			Entity: j.p.From.Entity, Partition: j.key.Partition, Checkpoint: cp.Checkpoint, BatchSize: j.p.BatchSize,
		}, func(b connector.ChangeBatch) error {
			for _, w := range b.Warnings {
				j.r.log.Warn("source warning", "pipeline", j.p.Name, "partition", j.key.Partition, "warning", w.Error())
			}
			if b.FullResync {
				j.r.log.Info("full resync", "pipeline", j.p.Name, "partition", j.key.Partition)
			}
			// The slice is copied: the connector may reuse its array once
			// emit returns (its records are its own no longer).
			return q.push(ctx, queuedBatch{changes: slices.Clone(b.Changes), checkpoint: append([]byte{}, b.Checkpoint...),
				hasCheckpoint: true, fullResync: b.FullResync})
		})
		if qerr := q.finish(); qerr != nil {
			return fmt.Errorf("reading changes of %s: %w", j.p.From.Entity, qerr)
		}
		if err != nil {
			return fmt.Errorf("reading changes of %s: %w", j.p.From.Entity, err)
		}
	} else {
		// Without a change feed every run is a full read: a full resync.
		if err := j.r.st.Commit(ctx, store.Commit{Key: j.key, BeginResync: true}); err != nil {
			return err
		}
		j.resyncing = true
		q := j.startBatches(ctx)
		err = j.src.Read(ctx, connector.ReadRequest{Entity: j.p.From.Entity, Partition: j.key.Partition, BatchSize: j.p.BatchSize},
			func(recs []connector.Record) error {
				changes := make([]connector.Change, len(recs))
				for i := range recs {
					changes[i] = connector.Change{Op: connector.Upsert, Record: recs[i].Clone()}
				}
				return q.push(ctx, queuedBatch{changes: changes})
			})
		if qerr := q.finish(); qerr != nil {
			return fmt.Errorf("reading %s: %w", j.p.From.Entity, qerr)
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", j.p.From.Entity, err)
		}
	}
	if j.resyncing {
		return j.reconcile(ctx)
	}
	return nil
}

// reconcile ends a full resync: records of the ID map the source did not
// report since the resync began are gone, and follow on_delete.
func (j *job) reconcile(ctx context.Context) error {
	cp, _, err := j.r.st.Checkpoint(ctx, j.key)
	if err != nil {
		return err
	}
	if cp.ResyncSince.IsZero() {
		return nil
	}
	unseen, err := j.r.st.Unseen(ctx, j.key, cp.ResyncSince)
	if err != nil {
		return err
	}
	j.resyncing = false
	changes := make([]connector.Change, len(unseen))
	for i, m := range unseen {
		changes[i] = connector.Change{Op: connector.Delete, Record: connector.Record{ID: m.SourceID, Partition: m.SourcePartition, Deleted: true}}
	}
	if len(unseen) > 0 {
		j.r.log.Info("resync reconciles records no longer in the source", "pipeline", j.p.Name, "partition", j.key.Partition, "records", len(unseen), "on_delete", j.p.OnDelete.String())
	}
	return j.batchWith(ctx, changes, store.Commit{Key: j.key, EndResync: true}, false)
}

// queuedBatch is one source batch waiting to be processed.
type queuedBatch struct {
	changes       []connector.Change
	checkpoint    []byte
	hasCheckpoint bool
	fullResync    bool
}

// batchQueue processes a partition's source batches in a goroutine of its
// own, in the order they were read, while the source reads the next one:
// the source's read and the host's mapping, writing and commit overlap
// instead of taking turns. At most one batch waits while one is processed,
// so a slow target holds the source back. Batches are processed one after
// the other exactly as without the queue, and their commits gathered in
// the job's commit group (group.go), so a checkpoint still follows
// everything before it.
type batchQueue struct {
	ch   chan queuedBatch
	stop chan struct{} // closed when processing failed; err is set
	done chan struct{} // closed when the goroutine returned
	err  error
}

// startBatches starts processing the batches pushed to the returned
// queue; finish it before reading the job's state.
func (j *job) startBatches(ctx context.Context) *batchQueue {
	q := &batchQueue{ch: make(chan queuedBatch, 1), stop: make(chan struct{}), done: make(chan struct{})}
	j.group = newCommitGroup(j.key, j.runID)
	j.r.groups.register(j.p.Name, j.group)
	go func() {
		defer close(q.done)
		defer func() {
			j.r.groups.unregister(j.p.Name, j.group)
			j.group = nil
		}()
		fail := func(err error) {
			// What the batches before the failed one gathered was
			// acknowledged by the target: keep it.
			if ferr := j.flush(context.WithoutCancel(ctx)); ferr != nil {
				j.r.log.Warn("committing the batches before a failed one", "pipeline", j.p.Name, "partition", j.key.Partition, "error", ferr)
			}
			q.err = err
			close(q.stop)
			for range q.ch { // let push and finish return
			}
		}
		defer func() {
			if p := recover(); p != nil {
				fail(fmt.Errorf("processing a batch panicked: %v\n%s", p, debug.Stack()))
			}
		}()
		for b := range q.ch {
			if b.fullResync {
				j.resyncing = true
			}
			if err := j.batch(ctx, b.changes, b.checkpoint, b.hasCheckpoint, b.fullResync); err != nil {
				fail(err)
				return
			}
		}
		if err := j.flush(ctx); err != nil {
			fail(err)
		}
	}()
	return q
}

// push queues a batch, waiting while another one waits; it returns the
// processing error once processing failed, which ends the source's read.
func (q *batchQueue) push(ctx context.Context, b queuedBatch) error {
	select {
	case <-q.stop:
		return q.err
	default:
	}
	select {
	case q.ch <- b:
		return nil
	case <-q.stop:
		return q.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finish waits until every queued batch is processed and returns the
// processing error, if any.
func (q *batchQueue) finish() error {
	close(q.ch)
	<-q.done
	return q.err
}

// batch processes one source batch in chunks of the pipeline's batch size;
// the source checkpoint is committed with the last chunk.
func (j *job) batch(ctx context.Context, changes []connector.Change, checkpoint []byte, hasCheckpoint, beginResync bool) error {
	return j.batchWith(ctx, changes, store.Commit{Key: j.key, SetCheckpoint: hasCheckpoint, Checkpoint: checkpoint, BeginResync: beginResync}, true)
}

// batchWith splits changes into chunks; the first chunk's commit carries
// the begin-resync mark, the last one the rest of final.
func (j *job) batchWith(ctx context.Context, changes []connector.Change, final store.Commit, countRead bool) error {
	size := j.p.BatchSize
	if size <= 0 {
		size = config.DefaultBatchSize
	}
	if len(changes) == 0 {
		if final.SetCheckpoint || final.BeginResync || final.EndResync || len(final.Retried) > 0 {
			// Through the group: a checkpoint must not pass batches still
			// waiting in it.
			return j.settle(ctx, final, store.Counts{}, nil, 0)
		}
		return nil
	}
	for start := 0; start < len(changes); start += size {
		end := min(start+size, len(changes))
		c := store.Commit{Key: j.key, RunID: j.runID}
		if start == 0 {
			c.BeginResync = final.BeginResync
		}
		if end == len(changes) {
			c.SetCheckpoint, c.Checkpoint, c.EndResync, c.Retried = final.SetCheckpoint, final.Checkpoint, final.EndResync, final.Retried
		}
		if err := j.chunk(ctx, changes[start:end], c, countRead); err != nil {
			return err
		}
	}
	return nil
}

// mayHaveRows returns the ids that may have ID-map rows, and notes them
// as seen: all of them, unless the partition had no rows when the job
// began, in which case only the ones this job met before.
func (j *job) mayHaveRows(ids []string) []string {
	if j.seen == nil {
		return ids
	}
	var out []string
	for _, id := range ids {
		h := maphash.String(j.seenSeed, id)
		if _, ok := j.seen[h]; ok {
			out = append(out, id)
			continue
		}
		j.seen[h] = struct{}{}
	}
	if len(j.seen) > maxSeen {
		j.seen = nil
	}
	return out
}

// pending is one change on its way to the target.
type pending struct {
	change   connector.Change
	existing *store.Mapping
	op       connector.WriteOp
	mark     bool // a delete carried out as an update setting the mark field
	// recovered is a create re-sent after a crash (see recoverPending).
	recovered bool
	srcHash   string
	tgtHash   string
	// status is the target's answer, once known.
	status connector.Status
}

// chunk maps, writes and commits at most one batch of changes.
func (j *job) chunk(ctx context.Context, changes []connector.Change, c store.Commit, countRead bool) error {
	var n store.Counts
	if countRead {
		n.Read = int64(len(changes))
	}
	// A record changed twice in one batch is written once, as last seen.
	last := make(map[string]int, len(changes))
	for i, ch := range changes {
		last[ch.Record.ID] = i
	}
	ids := make([]string, 0, len(last))
	for id := range last {
		ids = append(ids, id)
	}
	known, err := j.r.st.Mappings(ctx, j.p.Name, j.key.Entity, j.key.Partition, j.mayHaveRows(ids))
	if err != nil {
		return err
	}
	if j.group != nil {
		j.group.overlay(known, ids)
	}
	var work []*pending
	for i, ch := range changes {
		if last[ch.Record.ID] != i {
			continue
		}
		var existing *store.Mapping
		if m, ok := known[ch.Record.ID]; ok {
			existing = &m
		}
		pd, err := j.prepare(ctx, ch, existing, &c, &n)
		if err != nil {
			return err
		}
		if pd != nil {
			work = append(work, pd)
		}
	}
	if len(work) > 0 {
		ops := make([]connector.WriteOp, len(work))
		creates := make([]store.PendingCreate, 0, len(work))
		for i, pd := range work {
			ops[i] = pd.op
			if pd.op.Action == connector.ActionUpsert && pd.op.TargetID == "" {
				raw, err := encodeRecord(pd.op.Record)
				if err != nil {
					return err
				}
				creates = append(creates, store.PendingCreate{SourceID: pd.change.Record.ID, IdempotencyKey: pd.op.IdempotencyKey,
					TargetEntity: j.p.To.Entity, TargetPartition: pd.op.Partition, Record: raw, SourceHash: pd.srcHash, TargetHash: pd.tgtHash})
			}
		}
		// Creates are recorded before they go out, so that after a crash
		// between the target's acknowledgement and the commit they are sent
		// again with the same keys (recoverPending) before anything else.
		row, err := j.r.st.AddPending(ctx, j.key, creates)
		if err != nil {
			return err
		}
		if row != 0 {
			c.ClearPending = append(c.ClearPending, row)
		}
		outs, err := j.write(ctx, connector.WriteBatch{Entity: j.p.To.Entity, Ops: ops})
		if err != nil {
			return err
		}
		c.Put = slices.Grow(c.Put, len(outs))
		for i, out := range outs {
			j.outcome(work[i], out, &c, &n)
		}
	}
	return j.settle(ctx, c, n, work, len(changes))
}

// prepare turns a change into a write, or settles it without one.
func (j *job) prepare(ctx context.Context, ch connector.Change, existing *store.Mapping, c *store.Commit, n *store.Counts) (*pending, error) {
	rec := ch.Record
	if ch.Op == connector.Delete || rec.Deleted {
		return j.prepareDelete(ctx, ch, existing, c, n)
	}
	res, err := j.mapping.Apply(ctx, rec)
	if err != nil {
		var fe *transforms.FieldError
		d := connector.Errorf(connector.InvalidInput, "%s", err.Error())
		if errors.As(err, &fe) {
			d = connector.FieldErrorf(connector.InvalidInput, fe.Field, "mapping failed: %s", err.Error())
		}
		dl, derr := j.deadLetter(rec, connector.Diagnostics{d})
		if derr != nil {
			return nil, derr
		}
		c.DeadLetters = append(c.DeadLetters, dl)
		n.Rejected++
		return nil, nil
	}
	if res.Skipped {
		n.Skipped++
		if existing != nil && j.resyncing {
			c.Touch = append(c.Touch, rec.ID)
		}
		return nil, nil
	}
	tgtHash, err := hashFields(res.Record.Fields)
	if err != nil {
		return nil, fmt.Errorf("hashing the mapped record %q: %w", rec.ID, err)
	}
	if existing != nil && existing.TargetHash == tgtHash {
		// The target already holds exactly this: nothing to write.
		n.Unchanged++
		if j.resyncing {
			c.Touch = append(c.Touch, rec.ID)
		}
		return nil, nil
	}
	srcHash, err := sourceHash(rec)
	if err != nil {
		return nil, fmt.Errorf("hashing source record %q: %w", rec.ID, err)
	}
	out := res.Record
	out.Partition = j.targetPartition(out)
	pd := &pending{change: ch, existing: existing, srcHash: srcHash, tgtHash: tgtHash}
	pd.op = connector.WriteOp{
		Action:         connector.ActionUpsert,
		IdempotencyKey: j.idempotencyKey(rec.ID, tgtHash),
		Partition:      out.Partition,
		Record:         out,
	}
	if existing != nil {
		pd.op.TargetID = existing.TargetID
		pd.op.Record.ID = existing.TargetID
		if pd.op.Partition == "" {
			pd.op.Partition = existing.TargetPartition
		}
	}
	return pd, nil
}

func (j *job) prepareDelete(ctx context.Context, ch connector.Change, existing *store.Mapping, c *store.Commit, n *store.Counts) (*pending, error) {
	if existing == nil {
		// Never delivered (or already deleted): nothing to delete.
		n.Skipped++
		return nil, nil
	}
	switch j.p.OnDelete.Kind {
	case "ignore":
		n.Skipped++
		return nil, nil
	case "mark":
		stored, found, err := j.targetRecord(ctx, existing)
		if err != nil {
			return nil, err
		}
		if !found {
			c.Remove = append(c.Remove, ch.Record.ID)
			n.Deleted++
			return nil, nil
		}
		stored.Fields[j.p.OnDelete.Field] = true
		stored.ID = existing.TargetID
		return &pending{change: ch, existing: existing, mark: true, op: connector.WriteOp{
			Action: connector.ActionUpsert, IdempotencyKey: j.idempotencyKey(ch.Record.ID, "mark"),
			TargetID: existing.TargetID, Partition: existing.TargetPartition, Record: stored,
		}}, nil
	default: // "delete", and the default policy
		return &pending{change: ch, existing: existing, op: connector.WriteOp{
			Action: connector.ActionDelete, IdempotencyKey: j.idempotencyKey(ch.Record.ID, "delete"),
			TargetID: existing.TargetID, Partition: existing.TargetPartition,
			Record: connector.Record{ID: existing.TargetID, Deleted: true},
		}}, nil
	}
}

// targetRecord reads the target record a mapping points to, by the target
// entity's key field.
func (j *job) targetRecord(ctx context.Context, m *store.Mapping) (connector.Record, bool, error) {
	if j.target == nil || len(j.target.Keys) == 0 {
		return connector.Record{}, false, fmt.Errorf("on_delete mark:%s needs the target entity %s to name its key field", j.p.OnDelete.Field, j.p.To.Entity)
	}
	recs, err := j.tgt.Query(ctx, connector.QueryRequest{Entity: j.p.To.Entity, Partition: m.TargetPartition,
		Match: map[string]any{j.target.Keys[0]: m.TargetID}, Limit: 1})
	if err != nil {
		return connector.Record{}, false, fmt.Errorf("reading target record %s to mark it deleted: %w", m.TargetID, err)
	}
	if len(recs) == 0 {
		return connector.Record{}, false, nil
	}
	rec := recs[0].Clone()
	if rec.Fields == nil {
		rec.Fields = map[string]any{}
	}
	return rec, true, nil
}

// commit stores c with the counts n. The ID map holds one source record
// per target record: when the target put two source records onto one of
// its records (an upsert matching an existing record by a duplicate-check
// field, say), the ID-map rows the store refuses are taken out of the
// commit and their source records become dead letters with a CONFLICT
// diagnostic naming both source ids and the target id; the rest of the
// batch and the checkpoint commit. A dead letter keeps the record for
// `syncplane rejected` and its retry, so moving the checkpoint past it
// loses nothing.
func (j *job) commit(ctx context.Context, c *store.Commit, n *store.Counts, work []*pending) error {
	for {
		c.Counts = *n
		err := j.r.st.Commit(ctx, *c)
		var ce *store.ConflictError
		if !errors.As(err, &ce) {
			return err
		}
		refused := make(map[string]store.TargetConflict, len(ce.Conflicts))
		for _, tc := range ce.Conflicts {
			if tc.Row.SourceEntity == j.key.Entity && tc.Row.SourcePartition == j.key.Partition {
				refused[tc.Row.SourceID] = tc
			}
		}
		keep := make([]store.Mapping, 0, len(c.Put))
		for _, m := range c.Put {
			if _, ok := refused[m.SourceID]; !ok {
				keep = append(keep, m)
			}
		}
		if len(keep) == len(c.Put) {
			return err // nothing to take out: the store's error stands
		}
		c.Put = keep
		for _, pd := range work {
			tc, ok := refused[pd.change.Record.ID]
			if !ok {
				continue
			}
			j.refuse(pd, tc, c, n)
		}
	}
}

// refuse turns a write whose ID-map row the store refused into a dead
// letter (see commit).
func (j *job) refuse(pd *pending, tc store.TargetConflict, c *store.Commit, n *store.Counts) {
	switch pd.status {
	case connector.Created:
		n.Created--
	case connector.Updated:
		n.Updated--
	case connector.Unchanged:
		n.Unchanged--
	}
	srcID := pd.change.Record.ID
	d := connector.Errorf(connector.Conflict, "source record %s and source record %s both map to %s record %s; the ID map keeps %s, so %s is not delivered",
		tc.Owner.SourceID, srcID, tc.Row.TargetEntity, tc.Row.TargetID, tc.Owner.SourceID, srcID).
		WithDetail("the target answered %s for %s with the record %s already mapped from %s (source partition %q) in pipeline %s; "+
			"the target probably matched both by a duplicate-check field: make the mapping give them distinct values, or filter one out, then retry with `syncplane rejected %s --retry`",
			pd.status, srcID, tc.Row.TargetID, tc.Owner.SourceID, tc.Owner.SourcePartition, j.p.Name, j.p.Name)
	j.r.log.Warn("two source records map to one target record", "pipeline", j.p.Name, "partition", j.key.Partition,
		"source", srcID, "held_by", tc.Owner.SourceID, "target", tc.Row.TargetID)
	if pd.recovered {
		// A re-sent create: its source record is read again after this
		// and dead-lettered then.
		return
	}
	n.Rejected++
	dl, err := j.deadLetter(pd.change.Record, connector.Diagnostics{d})
	if err != nil {
		dl = store.DeadLetter{Entity: j.key.Entity, Partition: j.key.Partition, SourceID: srcID,
			Record: []byte(`{}`), Diagnostics: []byte(fmt.Sprintf(`[{"code":"CONFLICT","summary":%q}]`, d.Summary))}
	}
	c.DeadLetters = append(c.DeadLetters, dl)
	if pd.existing != nil && j.resyncing {
		c.Touch = append(c.Touch, srcID)
	}
}

// outcome records what the target did with one write.
func (j *job) outcome(pd *pending, out connector.WriteOutcome, c *store.Commit, n *store.Counts) {
	pd.status = out.Status
	srcID := pd.change.Record.ID
	put := func() {
		tid := out.TargetID
		if tid == "" {
			tid = pd.op.TargetID
		}
		c.Put = append(c.Put, store.Mapping{
			SourceEntity: j.key.Entity, SourcePartition: j.key.Partition, SourceID: srcID,
			TargetEntity: j.p.To.Entity, TargetPartition: pd.op.Partition, TargetID: tid,
			SourceHash: pd.srcHash, TargetHash: pd.tgtHash, TargetVersion: out.Version,
		})
	}
	switch out.Status {
	case connector.Created:
		n.Created++
		put()
	case connector.Updated:
		if pd.mark {
			n.Deleted++
			c.Remove = append(c.Remove, srcID)
			return
		}
		n.Updated++
		put()
	case connector.Unchanged:
		n.Unchanged++
		if pd.mark {
			c.Remove = append(c.Remove, srcID)
			return
		}
		put()
	case connector.Deleted:
		n.Deleted++
		c.Remove = append(c.Remove, srcID)
	default: // Rejected, or a status this host does not know
		if pd.recovered {
			// The source record is read again after this (the checkpoint
			// never passed it) and dead-lettered then if still refused.
			j.r.log.Warn("re-sent create rejected", "pipeline", j.p.Name, "partition", j.key.Partition, "source", srcID, "diagnostics", out.Diagnostics.Error())
			return
		}
		n.Rejected++
		ds := out.Diagnostics
		if len(ds) == 0 {
			ds = connector.Diagnostics{connector.Errorf(connector.Internal, "the target answered %s without diagnostics", out.Status)}
		}
		dl, err := j.deadLetter(pd.change.Record, ds)
		if err != nil {
			dl = store.DeadLetter{Entity: j.key.Entity, Partition: j.key.Partition, SourceID: srcID,
				Record: []byte(`{}`), Diagnostics: []byte(fmt.Sprintf(`[{"code":"INTERNAL","summary":%q}]`, err.Error()))}
		}
		c.DeadLetters = append(c.DeadLetters, dl)
		if pd.existing != nil && j.resyncing {
			c.Touch = append(c.Touch, srcID)
		}
	}
}

// write sends a batch, retrying it with the same idempotency keys while the
// target answers RATE_LIMITED or UNAVAILABLE, honouring retry-after.
func (j *job) write(ctx context.Context, b connector.WriteBatch) ([]connector.WriteOutcome, error) {
	wait := j.r.opts.Backoff
	for attempt := 1; ; attempt++ {
		outs, err := j.tgt.Write(ctx, b)
		if err == nil {
			if len(outs) != len(b.Ops) {
				return nil, connector.Errorf(connector.Internal, "the target answered %d outcomes for %d writes", len(outs), len(b.Ops))
			}
			return outs, nil
		}
		if !connector.CodeOf(err).Retryable() || attempt >= j.r.opts.WriteAttempts || ctx.Err() != nil {
			return nil, fmt.Errorf("writing %d records to %s (attempt %d): %w", len(b.Ops), j.p.To.Entity, attempt, err)
		}
		d := wait
		if ra := retryAfter(err); ra > 0 {
			d = ra
		}
		j.r.log.Warn("target busy; retrying the batch", "pipeline", j.p.Name, "partition", j.key.Partition, "attempt", attempt, "wait", d, "error", err)
		if err := j.r.opts.Sleep(ctx, d); err != nil {
			return nil, err
		}
		wait *= 2
	}
}

// retryAfter returns the largest retry-after among err's diagnostics.
func retryAfter(err error) time.Duration {
	var max time.Duration
	for _, d := range connector.AsDiagnostics(err) {
		if d.RetryAfter > max {
			max = d.RetryAfter
		}
	}
	return max
}

// targetPartition is the target partition of a mapped record: the value of
// the target entity's partition field, when it is partitioned.
func (j *job) targetPartition(rec connector.Record) string {
	if j.target == nil || !j.target.Partitioning.Partitioned {
		return ""
	}
	f := j.target.Partitioning.Field
	if f == "" {
		f = "user"
	}
	s, _ := rec.Fields[f].(string)
	return s
}

// idempotencyKey is stable for one logical write: the same content for the
// same source record in the same pipeline and partition.
func (j *job) idempotencyKey(sourceID, what string) string {
	return j.p.Name + "/" + j.key.Partition + "/" + sourceID + "/" + what
}

// diagJSON is a diagnostic as stored with a dead letter.
type diagJSON struct {
	Severity   string `json:"severity"`
	Code       string `json:"code"`
	Summary    string `json:"summary"`
	Detail     string `json:"detail,omitempty"`
	Field      string `json:"field,omitempty"`
	RetryAfter string `json:"retryAfter,omitempty"`
}

func encodeDiagnostics(ds connector.Diagnostics) ([]byte, error) {
	out := make([]diagJSON, len(ds))
	for i, d := range ds {
		out[i] = diagJSON{Severity: string(d.Severity), Code: string(d.Code), Summary: d.Summary, Detail: d.Detail, Field: d.Field}
		if d.RetryAfter > 0 {
			out[i].RetryAfter = d.RetryAfter.String()
		}
	}
	return json.Marshal(out)
}

// DecodeDiagnostics parses the diagnostics stored with a dead letter.
func DecodeDiagnostics(data []byte) (connector.Diagnostics, error) {
	var in []diagJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("decoding stored diagnostics: %w", err)
	}
	out := make(connector.Diagnostics, len(in))
	for i, d := range in {
		out[i] = &connector.Diagnostic{Severity: connector.Severity(d.Severity), Code: connector.Code(d.Code), Summary: d.Summary, Detail: d.Detail, Field: d.Field}
		if d.RetryAfter != "" {
			out[i].RetryAfter, _ = time.ParseDuration(d.RetryAfter)
		}
	}
	return out, nil
}

func (j *job) deadLetter(rec connector.Record, ds connector.Diagnostics) (store.DeadLetter, error) {
	raw, err := encodeRecord(rec)
	if err != nil {
		return store.DeadLetter{}, err
	}
	dj, err := encodeDiagnostics(ds)
	if err != nil {
		return store.DeadLetter{}, err
	}
	return store.DeadLetter{Entity: j.key.Entity, Partition: j.key.Partition, SourceID: rec.ID, Record: raw, Diagnostics: dj}, nil
}

// recoverPending re-sends the creates a crashed sync sent without
// committing their outcomes, with their original idempotency keys: the
// target answers with the records it already made (or makes them now), and
// the ID map learns their ids before the changes are read again.
func (j *job) recoverPending(ctx context.Context) error {
	ps, rows, err := j.r.st.Pending(ctx, j.key)
	if err != nil || len(rows) == 0 {
		return err
	}
	if len(ps) == 0 { // rows holding no creates
		return j.r.st.Commit(ctx, store.Commit{Key: j.key, ClearPending: rows})
	}
	j.r.log.Info("re-sending creates whose outcome was not recorded", "pipeline", j.p.Name, "partition", j.key.Partition, "records", len(ps))
	size := j.p.BatchSize
	if size <= 0 {
		size = config.DefaultBatchSize
	}
	for start := 0; start < len(ps); start += size {
		part := ps[start:min(start+size, len(ps))]
		c := store.Commit{Key: j.key, RunID: j.runID}
		if start+size >= len(ps) {
			// A row holds a batch's creates, which chunks may split: the
			// rows are cleared with the last chunk. A crash before that
			// sends them all again, with the same keys.
			c.ClearPending = rows
		}
		work := make([]*pending, len(part))
		ops := make([]connector.WriteOp, len(part))
		for i, p := range part {
			rec, err := decodeRecord(p.Record)
			if err != nil {
				return fmt.Errorf("pending create of %s: %w", p.SourceID, err)
			}
			work[i] = &pending{recovered: true, srcHash: p.SourceHash, tgtHash: p.TargetHash,
				change: connector.Change{Op: connector.Upsert, Record: connector.Record{ID: p.SourceID, Partition: j.key.Partition}},
				op:     connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: p.IdempotencyKey, Partition: p.TargetPartition, Record: rec}}
			ops[i] = work[i].op
		}
		outs, err := j.write(ctx, connector.WriteBatch{Entity: j.p.To.Entity, Ops: ops})
		if err != nil {
			return err
		}
		var n store.Counts
		for i, out := range outs {
			j.outcome(work[i], out, &c, &n)
		}
		if err := j.commit(ctx, &c, &n, work); err != nil {
			return err
		}
		j.total.Add(n)
	}
	return nil
}

// sourceHash identifies the state of the source record that was read: its
// version (the source's concurrency token, which changes with every change
// of the record) when it has one, which costs nothing, else the hash of its
// fields.
func sourceHash(rec connector.Record) (string, error) {
	if rec.Version != "" {
		return "v:" + rec.Version, nil
	}
	return hashFields(rec.Fields)
}
