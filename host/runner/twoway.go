package runner

// Two-way sync.
//
// A two-way pipeline links side A (its from endpoint) and side B (its to
// endpoint). One round reads the change feeds of every partition of both
// sides from their checkpoints, pairs the changes through the link table
// (store.Link: which A record is which B record, and what the host last
// knew of each), decides per pair what to write, writes both directions in
// batches, writes back created ids where the pipeline asks for it, and
// commits the checkpoints, links, conflicts and dead letters in one store
// transaction. A checkpoint is never committed unless every change before
// it was applied, found unchanged, held as a conflict or dead-lettered: a
// failed round commits nothing and is read again.
//
// Echo suppression: when the host writes a record it keeps, for that side,
// the version the target answered and the hash of the record as the target
// stored it (WriteOutcome.Stored). When the target does not return the
// stored record, the hash is taken from the record when it first comes back
// with that version. A change arriving with the version or the hash the
// host holds is its own write coming back: the link is updated and nothing
// is written. Even without either, a change is only written as the fields
// its mapped form changed since the last sync, so a target's normalisation
// (trimmed text, phone formats) settles after at most one more write.
//
// Conflicts: when both sides of a pair changed since the last sync, the
// fields each side changed are found by mapping the side's last-synced and
// current records and comparing; changes to different fields merge field by
// field. When both changed the same fields the pipeline's policy decides:
// source-wins (A), target-wins (B), newest-wins (the later modification
// time), or manual (both versions are kept as an open conflict and the
// pair is left alone until `syncplane resolve` takes one side for the
// conflicting fields; the other side's other changes are kept). When one
// side deleted what the other changed, delete_conflict decides: the change
// wins (the record is made again where it was deleted), the deletion wins,
// the conflict policy decides, or it is a manual conflict.
//
// Deletes: a deletion goes to the other side following the deleting
// side's delete policy. Under ignore or mark the other side keeps its
// record and the link stays with the deleting side marked gone, so a later
// change of the surviving record writes nothing.
//
// Crash safety: creates are recorded (store.TwoWayPending) with their
// idempotency key before they are sent and re-sent with the same key at
// the start of the next round when the round that sent them did not
// commit; updates are recorded too (store.TwoWayInflight), so that their
// echo is not taken for a change of the side written.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/host/config"
	"github.com/syncplane/syncplane/host/store"
	"github.com/syncplane/syncplane/schema"
	"github.com/syncplane/syncplane/transforms"
)

// twoWayRunEntity is the entity name of a two-way pipeline's runs in the
// run history.
const twoWayRunEntity = "two-way"

// twSide is one side of a two-way pipeline.
type twSide struct {
	idx    int    // 0 for A (from), 1 for B (to)
	name   string // "a" or "b"
	conn   string
	entity string
	client connector.Client
	schema *schema.Entity // nil when the connector does not describe it
	// mapping maps a record of this side to the other side.
	mapping *transforms.Mapping
	// onDelete is what a deletion on this side does on the other side.
	onDelete config.OnDelete
	// writeBack is the field of this side receiving the id of the record
	// created on the other side from a record of this side.
	writeBack string
	// written are the (top-level) fields of this side the other side's
	// mapping writes: the part of a record the link keeps.
	written map[string]bool
}

// writtenFields lists the top-level target fields of a mapping.
func writtenFields(spec transforms.Spec) map[string]bool {
	out := map[string]bool{}
	for _, f := range spec.Fields {
		top, _, _ := strings.Cut(f.Target, ".")
		out[top] = true
	}
	return out
}

// checkpointEntity is the checkpoint table's entity of this side's feeds.
func (s *twSide) checkpointEntity() string { return s.name + ":" + s.entity }

// twChange is the latest change of one record of one side in a round.
type twChange struct {
	rec      connector.Record // Partition set
	deleted  bool
	hash     string
	version  string
	modified time.Time
}

// twPair is what a round knows of one linked pair, or of one new record.
type twPair struct {
	link     *store.Link     // nil for a record not linked yet
	ch       [2]*twChange    // the change of each side, nil when none
	conflict *store.Conflict // the pair's open (or resolved) conflict
	dirty    bool            // the link must be stored
	removed  bool            // the link must be removed
}

// twWrite is one write of a round, with what to do with its outcome.
type twWrite struct {
	pair  *twPair
	from  int // the side whose record it comes from (-1 for write-backs)
	to    int // the side written
	op    connector.WriteOp
	sent  string // hash of the full mapped record (the link's Sent)
	base  connector.Record
	merge map[string]any // the fields written, when a partial update
	// deleting marks a delete (or a mark) propagated from the other side.
	deleting bool
	// recovered marks a pending create of a crashed round sent again.
	recovered bool
	// prevOrigin is, for an update, the link state of its origin side
	// before this round learnt the change: restored when the write is
	// refused, so the change is still a change when retried.
	prevOrigin *store.LinkSide
	// writeBack is set on the create whose new id goes back to the origin.
	writeBack bool
	// srcMapped is the origin record mapped (what a create sends).
	srcMapped map[string]any
	// originSide is, for a create, the link state of its origin record
	// (recorded with the pending create before the write).
	originSide *store.LinkSide
	// originPartition and originID name a create's origin record.
	originPartition, originID string
}

// twRound is one round of a two-way pipeline.
type twRound struct {
	r      *Runner
	p      *config.Pipeline
	sides  [2]*twSide
	runID  int64
	parts  int
	pairs  map[store.LinkKey]*twPair // by A key, or "b\x00"+B key for new B records
	order  []store.LinkKey
	commit store.TwoWayCommit
	n      store.Counts
	writes [2][]*twWrite
	// recovered counts the re-sent pending creates (committed apart).
	recovered store.Counts
	// inflight are the fields written to each side's records by rounds
	// that were never committed (see adoptInflight).
	inflight [2]map[store.LinkKey][]map[string]any
	// noLinks is set when the pipeline had no link when the round began
	// (its first sync): nothing is looked up in the link table.
	noLinks bool
}

// runTwoWay runs one round of a two-way pipeline.
func (r *Runner) runTwoWay(ctx context.Context, pipeline string) (Summary, error) {
	start := time.Now()
	sum := Summary{Pipeline: pipeline}
	p, err := r.pipeline(pipeline)
	if err != nil {
		return sum, err
	}
	if err := r.startConnectors(ctx, pipeline); err != nil {
		return sum, err
	}
	key := store.PartitionKey{Pipeline: p.Name, Entity: twoWayRunEntity}
	runID, err := r.st.StartRun(ctx, key)
	if err != nil {
		return sum, err
	}
	rd := &twRound{r: r, p: p, runID: runID, pairs: map[store.LinkKey]*twPair{},
		commit: store.TwoWayCommit{Pipeline: p.Name, RunID: runID}}
	err = rd.setup(ctx)
	if err == nil {
		err = rd.run(ctx)
	}
	if err != nil {
		err = fmt.Errorf("two-way pipeline %s: %w", p.Name, err)
		r.log.Error("two-way sync failed", "pipeline", p.Name, "error", err)
	}
	if ferr := r.st.FinishRun(context.WithoutCancel(ctx), runID, err); ferr != nil && err == nil {
		err = ferr
	}
	sum.Partitions = rd.parts
	if err == nil {
		sum.Counts = rd.n
		sum.Counts.Add(rd.recovered)
	} else {
		sum.Failed = map[string]string{"": err.Error()}
	}
	sum.Duration = time.Since(start)
	return sum, err
}

func (rd *twRound) setup(ctx context.Context) error {
	p, r := rd.p, rd.r
	rev, err := transforms.Compile(p.ReverseMapping, transforms.Env{Pipelines: r.file.PipelineNames(), Lookup: r.st.LookupTarget, Query: r.query})
	if err != nil {
		return fmt.Errorf("compiling the reverse mapping: %w", err)
	}
	rd.sides[0] = &twSide{idx: 0, name: "a", conn: p.From.Connection, entity: p.From.Entity, mapping: r.mappings[p.Name], onDelete: p.OnDelete,
		writeBack: p.WriteBack.FromField, written: writtenFields(p.ReverseMapping)}
	rd.sides[1] = &twSide{idx: 1, name: "b", conn: p.To.Connection, entity: p.To.Entity, mapping: rev, onDelete: p.ReverseOnDelete,
		writeBack: p.WriteBack.ToField, written: writtenFields(p.Mapping)}
	for _, s := range rd.sides {
		c, err := r.conns.Client(ctx, s.conn)
		if err != nil {
			return err
		}
		s.client = c
		sch, err := c.DiscoverSchema(ctx, false)
		if err != nil {
			return fmt.Errorf("discovering the schema of %s: %w", s.conn, err)
		}
		s.schema, _ = sch.Entity(s.entity)
	}
	return nil
}

func (rd *twRound) run(ctx context.Context) error {
	if err := rd.recoverPending(ctx); err != nil {
		return err
	}
	if err := rd.loadInflight(ctx); err != nil {
		return err
	}
	has, err := rd.r.st.HasLinks(ctx, rd.p.Name)
	if err != nil {
		return err
	}
	rd.noLinks = !has
	var changes [2]map[store.LinkKey]*twChange
	for i, s := range rd.sides {
		m, err := rd.read(ctx, s)
		if err != nil {
			return err
		}
		changes[i] = m
	}
	if err := rd.pair(ctx, changes); err != nil {
		return err
	}
	rd.commit.ClearInflight = true
	return rd.finish(ctx)
}

// finish decides every pair of the round, writes both directions and the
// write-backs, and commits.
func (rd *twRound) finish(ctx context.Context) error {
	for _, k := range rd.order {
		if err := rd.decide(ctx, rd.pairs[k]); err != nil {
			return err
		}
	}
	var wbs []*twWrite
	for to := range 2 {
		done, err := rd.write(ctx, to, rd.writes[to])
		if err != nil {
			return err
		}
		wbs = append(wbs, done...)
	}
	// Write-backs of created ids, to the origin side of each create.
	var back [2][]*twWrite
	for _, w := range wbs {
		back[w.to] = append(back[w.to], w)
	}
	for to := range 2 {
		if _, err := rd.write(ctx, to, back[to]); err != nil {
			return err
		}
	}
	for _, k := range rd.order {
		pr := rd.pairs[k]
		switch {
		case pr.removed && pr.link != nil:
			rd.commit.Remove = append(rd.commit.Remove, store.LinkKey{Partition: pr.link.APartition, ID: pr.link.AID})
		case pr.dirty && pr.link != nil && pr.link.AID != "" && pr.link.BID != "":
			rd.commit.Put = append(rd.commit.Put, *pr.link)
		}
	}
	rd.commit.Counts = rd.n
	return rd.r.st.CommitTwoWay(ctx, rd.commit)
}

// read reads the changes of every partition of a side since its
// checkpoints. A partition read in full (a first sync, a feed that had to
// restart, or a connector without a change feed) reports the records it
// no longer has as deletions.
func (rd *twRound) read(ctx context.Context, s *twSide) (map[store.LinkKey]*twChange, error) {
	parts, err := s.client.ListPartitions(ctx, s.entity)
	if err != nil {
		return nil, fmt.Errorf("listing the partitions of %s: %w", s.entity, err)
	}
	for _, w := range parts.Warnings {
		rd.r.log.Warn("partition listing", "pipeline", rd.p.Name, "side", s.name, "warning", w.Error())
	}
	rd.parts += len(parts.Partitions)
	out := map[store.LinkKey]*twChange{}
	var mu sync.Mutex // guards out, rd.n and rd.commit while partitions are read at once
	add := func(part string, op connector.Operation, rec connector.Record) error {
		rec = rec.Clone()
		if rec.Partition == "" {
			rec.Partition = part
		}
		if rec.Fields == nil {
			rec.Fields = map[string]any{}
		}
		c, err := rd.change(s, op, rec)
		if err != nil {
			return err
		}
		mu.Lock()
		rd.n.Read++
		out[store.LinkKey{Partition: rec.Partition, ID: rec.ID}] = c
		mu.Unlock()
		return nil
	}
	// Partitions are read at once, as many as the runner's concurrency,
	// as one-way syncs of the partitions run.
	var wg sync.WaitGroup
	sem := make(chan struct{}, rd.r.opts.Concurrency)
	errs := make([]error, len(parts.Partitions))
	for i, part := range parts.Partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			errs[i] = rd.readPartition(ctx, s, part.ID, &mu, out, add)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// change is what the round knows of one change of side s.
func (rd *twRound) change(s *twSide, op connector.Operation, rec connector.Record) (*twChange, error) {
	c := &twChange{rec: rec, deleted: op == connector.Delete || rec.Deleted}
	if c.deleted {
		// The time of the deletion, when the feed gives one.
		c.modified = rec.Modified
		return c, nil
	}
	h, err := rd.hash(s, rec.Fields)
	if err != nil {
		return nil, fmt.Errorf("hashing %s record %q: %w", s.entity, rec.ID, err)
	}
	c.hash = h
	c.version = versionOf(s, rec)
	c.modified = modifiedOf(s, rec)
	return c, nil
}

// readPartition reads one partition of a side into out through add; mu
// guards out and the round's commit.
func (rd *twRound) readPartition(ctx context.Context, s *twSide, part string, mu *sync.Mutex, out map[store.LinkKey]*twChange,
	add func(part string, op connector.Operation, rec connector.Record) error) error {
	ck := store.PartitionKey{Pipeline: rd.p.Name, Entity: s.checkpointEntity(), Partition: part}
	cp, _, err := rd.r.st.Checkpoint(ctx, ck)
	if err != nil {
		return err
	}
	full := len(cp.Checkpoint) == 0
	seen := map[string]bool{}
	// An entity the connector describes without a change feed is read in
	// full every round.
	if s.client.Spec().Capabilities.ReadChanges && (s.schema == nil || s.schema.Capabilities.Changes) {
		var last []byte
		got := false
		err = s.client.ReadChanges(ctx, connector.ChangesRequest{Entity: s.entity, Partition: part, Checkpoint: cp.Checkpoint, BatchSize: rd.p.BatchSize},
			func(b connector.ChangeBatch) error {
				for _, w := range b.Warnings {
					rd.r.log.Warn("source warning", "pipeline", rd.p.Name, "side", s.name, "partition", part, "warning", w.Error())
				}
				if b.FullResync {
					full = true
				}
				for _, ch := range b.Changes {
					seen[ch.Record.ID] = true
					if err := add(part, ch.Op, ch.Record); err != nil {
						return err
					}
				}
				last, got = append([]byte{}, b.Checkpoint...), true
				return nil
			})
		if err != nil {
			return fmt.Errorf("reading changes of %s partition %q: %w", s.entity, part, err)
		}
		if got {
			mu.Lock()
			rd.commit.Checkpoints = append(rd.commit.Checkpoints, store.TwoWayCheckpoint{Entity: s.checkpointEntity(), Partition: part, Checkpoint: last})
			mu.Unlock()
		}
	} else {
		full = true
		err = s.client.Read(ctx, connector.ReadRequest{Entity: s.entity, Partition: part, BatchSize: rd.p.BatchSize}, func(recs []connector.Record) error {
			for _, rec := range recs {
				seen[rec.ID] = true
				if err := add(part, connector.Upsert, rec); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading %s partition %q: %w", s.entity, part, err)
		}
	}
	if !full || rd.noLinks {
		return nil
	}
	links, err := rd.r.st.AllLinks(ctx, rd.p.Name, s.name, &part)
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	for _, l := range links {
		id := l.AID
		if s.idx == 1 {
			id = l.BID
		}
		if !seen[id] {
			out[store.LinkKey{Partition: part, ID: id}] = &twChange{rec: connector.Record{ID: id, Partition: part, Deleted: true}, deleted: true}
		}
	}
	return nil
}

// pair groups the changes of both sides by link, and adds the pairs whose
// conflict was resolved since the last round.
func (rd *twRound) pair(ctx context.Context, changes [2]map[store.LinkKey]*twChange) error {
	conflicts, err := rd.r.st.Conflicts(ctx, rd.p.Name)
	if err != nil {
		return err
	}
	open := map[store.LinkKey]*store.Conflict{}
	for i := range conflicts {
		c := &conflicts[i]
		open[store.LinkKey{Partition: c.APartition, ID: c.AID}] = c
	}
	for i, s := range rd.sides {
		byPart := map[string][]string{}
		for k := range changes[i] {
			byPart[k.Partition] = append(byPart[k.Partition], k.ID)
		}
		for _, part := range sortedKeys(byPart) {
			ids := byPart[part]
			sort.Strings(ids)
			var links map[string]store.Link
			if !rd.noLinks {
				var err error
				if links, err = rd.r.st.Links(ctx, rd.p.Name, s.name, part, ids); err != nil {
					return err
				}
			}
			for _, id := range ids {
				ch := changes[i][store.LinkKey{Partition: part, ID: id}]
				l, linked := links[id]
				var k store.LinkKey
				switch {
				case linked:
					k = store.LinkKey{Partition: l.APartition, ID: l.AID}
				case i == 0:
					k = store.LinkKey{Partition: part, ID: id}
				default:
					k = store.LinkKey{Partition: "b\x00" + part, ID: id}
				}
				pr := rd.pairs[k]
				if pr == nil {
					pr = &twPair{}
					if linked {
						lc := l
						pr.link = &lc
						pr.conflict = open[k]
					}
					rd.pairs[k] = pr
					rd.order = append(rd.order, k)
				}
				pr.ch[i] = ch
			}
		}
	}
	// Resolved conflicts whose pair has no new change are applied too.
	for k, c := range open {
		if c.Take == "" || rd.pairs[k] != nil {
			continue
		}
		ls, err := rd.r.st.Links(ctx, rd.p.Name, "a", k.Partition, []string{k.ID})
		if err != nil {
			return err
		}
		pr := &twPair{conflict: c}
		if l, ok := ls[k.ID]; ok {
			pr.link = &l
		}
		rd.pairs[k] = pr
		rd.order = append(rd.order, k)
	}
	sort.Slice(rd.order, func(i, j int) bool {
		a, b := rd.order[i], rd.order[j]
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.ID < b.ID
	})
	return nil
}

// linkSide returns the link's state of side i.
func linkSide(l *store.Link, i int) *store.LinkSide {
	if i == 0 {
		return &l.A
	}
	return &l.B
}

// linkID returns the link's record id and partition of side i.
func linkID(l *store.Link, i int) (partition, id string) {
	if i == 0 {
		return l.APartition, l.AID
	}
	return l.BPartition, l.BID
}

// changed reports whether side i of pr changed since the last sync. A
// change carrying the version or hash the link holds is the host's own
// write coming back (or no change at all): the link learns the record as
// the side holds it, and the change does not count.
func (rd *twRound) changed(ctx context.Context, pr *twPair, i int) (bool, error) {
	c := pr.ch[i]
	if c == nil {
		return false, nil
	}
	if pr.link == nil || c.deleted {
		return true, nil
	}
	ls := linkSide(pr.link, i)
	// The version alone proves an echo only while the host does not know
	// what the side stored: versions that are modification times of
	// one-second resolution (Zoho, Sage CRM) repeat when a person edits the
	// record in the same second as the host's write.
	echo := c.version != "" && c.version == ls.Version && ls.Hash == ""
	if !echo && c.hash != ls.Hash {
		own, err := rd.adoptInflight(pr, i, c.rec)
		if err != nil || !own {
			return true, err
		}
	}
	if ls.Hash != c.hash || ls.Version != c.version || !ls.Modified.Equal(c.modified) || len(ls.Mapped) == 0 {
		var mapped map[string]any
		if res, err := rd.sides[i].mapping.Apply(ctx, c.rec); err == nil && !res.Skipped {
			mapped = res.Record.Fields
		}
		if err := rd.setSide(ls, i, c.rec, c.hash, c.version, c.modified, mapped); err != nil {
			return false, err
		}
		pr.dirty = true
	}
	return false, nil
}

// setSide records what the host now knows of side i of a link: the
// record as the side holds it (kept as the fields the other side's mapping
// writes), its hash, version and modification time, and the record mapped
// towards the other side (nil when unknown).
func (rd *twRound) setSide(ls *store.LinkSide, i int, rec connector.Record, hash, version string, modified time.Time, mapped map[string]any) error {
	// Only the fields: the link holds the id, partition, version and
	// modification time, and a projection without them is, byte for
	// byte, what the other side's mapping made when the side stored what
	// the host wrote (the store then keeps it once).
	proj := connector.Record{Fields: make(map[string]any, len(rd.sides[i].written))}
	for k := range rd.sides[i].written {
		if v, ok := rec.Fields[k]; ok {
			proj.Fields[k] = v
		}
	}
	raw, err := encodeRecord(proj)
	if err != nil {
		return err
	}
	var m []byte
	if mapped != nil {
		if m, err = encodeRecord(connector.Record{Fields: mapped}); err != nil {
			return err
		}
	}
	ls.Record, ls.Mapped, ls.Hash, ls.Version, ls.Modified = raw, m, hash, version, modified
	return nil
}

// decide settles one pair: what to write to each side, or a conflict.
func (rd *twRound) decide(ctx context.Context, pr *twPair) error {
	var ch [2]bool
	for i := range 2 {
		c, err := rd.changed(ctx, pr, i)
		if err != nil {
			return err
		}
		ch[i] = c
	}
	if pr.link == nil {
		// A record not linked yet: create it on the other side.
		for i := range 2 {
			if c := pr.ch[i]; c != nil {
				if c.deleted {
					rd.n.Skipped++
					continue
				}
				if err := rd.create(ctx, pr, i); err != nil {
					return err
				}
			}
		}
		if pr.conflict != nil {
			rd.commit.Close = append(rd.commit.Close, pr.conflict.ID)
		}
		return nil
	}
	if g := goneSide(pr.link); g >= 0 && pr.conflict == nil {
		return rd.decideGone(ctx, pr, g)
	}
	if cf := pr.conflict; cf != nil {
		if cf.Take == "" {
			return rd.keepConflict(pr, ch)
		}
		// Resolved: the taken side wins the conflicting fields (or the
		// deletion); the other side's changes to other fields are kept.
		// Both versions come from the conflict, unless a side changed
		// again since. The link still holds the last-synced records, the
		// base against which each side's changes are found (merge).
		w := 0
		if cf.Take == "b" {
			w = 1
		}
		for i := range 2 {
			if pr.ch[i] != nil {
				continue
			}
			if !conflictDeleted(cf, i) && (len(sideRecord(cf, i)) == 0 || bytes.Equal(sideRecord(cf, i), linkSide(pr.link, i).Record)) {
				continue // this side did not change: nothing of it goes across
			}
			c := &twChange{deleted: conflictDeleted(cf, i)}
			if !c.deleted {
				rec, err := decodeRecord(sideRecord(cf, i))
				if err != nil {
					return fmt.Errorf("conflict %d: %w", cf.ID, err)
				}
				c.rec = rec
				if c.hash, err = rd.hash(rd.sides[i], rec.Fields); err != nil {
					return err
				}
				c.version, c.modified = versionOf(rd.sides[i], rec), modifiedOf(rd.sides[i], rec)
			} else {
				p, id := linkID(pr.link, i)
				c.rec = connector.Record{ID: id, Partition: p, Deleted: true}
			}
			pr.ch[i] = c
		}
		rd.commit.Close = append(rd.commit.Close, cf.ID)
		return rd.win(ctx, pr, w)
	}
	switch {
	case !ch[0] && !ch[1]:
		if pr.ch[0] != nil || pr.ch[1] != nil {
			rd.n.Unchanged++
		}
		return nil
	case ch[0] != ch[1]:
		w := 0
		if ch[1] {
			w = 1
		}
		return rd.win(ctx, pr, w)
	}
	// Both sides changed.
	da, db := pr.ch[0].deleted, pr.ch[1].deleted
	switch {
	case da && db:
		pr.removed = true
		rd.n.Deleted++
		return nil
	case da || db:
		// An update-delete conflict: delete_conflict decides.
		del := 0
		if db {
			del = 1
		}
		w := -1
		switch rd.p.DeleteConflict {
		case config.DeleteConflictChange:
			w = 1 - del
		case config.DeleteConflictDelete:
			w = del
		case config.DeleteConflictPolicy:
			w = rd.policyWinner(pr)
		}
		if w < 0 {
			return rd.keepConflict(pr, ch)
		}
		return rd.win(ctx, pr, w)
	}
	return rd.merge(ctx, pr, -1)
}

// policyWinner returns the side the conflict policy lets win, or -1 for a
// manual policy. Under newest-wins a deletion wins only when its feed gives
// its time and that is later than the change; otherwise the change wins.
func (rd *twRound) policyWinner(pr *twPair) int {
	switch rd.p.Conflict {
	case config.ConflictSourceWins:
		return 0
	case config.ConflictTargetWins:
		return 1
	case config.ConflictNewestWins:
		a, b := pr.ch[0], pr.ch[1]
		switch {
		case a.deleted:
			if !a.modified.IsZero() && !b.modified.IsZero() && a.modified.After(b.modified) {
				return 0
			}
			return 1
		case b.deleted:
			if !a.modified.IsZero() && !b.modified.IsZero() && b.modified.After(a.modified) {
				return 1
			}
			return 0
		case b.modified.After(a.modified):
			return 1
		}
		return 0
	}
	return -1
}

// keepConflict records (or refreshes) the open conflict of a pair: both
// current versions, no write.
func (rd *twRound) keepConflict(pr *twPair, ch [2]bool) error {
	l := pr.link
	cf := store.Conflict{APartition: l.APartition, AID: l.AID, BPartition: l.BPartition, BID: l.BID}
	if pr.conflict != nil {
		cf = *pr.conflict
	} else {
		cf.A, cf.B = l.A.Record, l.B.Record
	}
	for i := range 2 {
		c := pr.ch[i]
		if c == nil || (!ch[i] && pr.conflict == nil) {
			continue
		}
		var raw []byte
		if !c.deleted {
			var err error
			if raw, err = encodeRecord(c.rec); err != nil {
				return err
			}
		}
		if i == 0 {
			cf.A, cf.ADeleted = raw, c.deleted
		} else {
			cf.B, cf.BDeleted = raw, c.deleted
		}
	}
	if pr.conflict == nil {
		cf.Fields = rd.conflictFields(pr)
	}
	rd.commit.Conflicts = append(rd.commit.Conflicts, cf)
	rd.n.Skipped++
	return nil
}

// conflictFields names the to-side fields both sides changed, when both
// records exist.
func (rd *twRound) conflictFields(pr *twPair) []string {
	a, b := pr.ch[0], pr.ch[1]
	if a == nil || b == nil || a.deleted || b.deleted {
		return nil
	}
	d, err := rd.diffs(context.Background(), pr)
	if err != nil {
		return nil
	}
	var out []string
	for f := range d.both[1] {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// sideRecord returns a conflict's record of side i.
func sideRecord(c *store.Conflict, i int) []byte {
	if i == 0 {
		return c.A
	}
	return c.B
}

func conflictDeleted(c *store.Conflict, i int) bool {
	if i == 0 {
		return c.ADeleted
	}
	return c.BDeleted
}

// pairDiffs are the fields each side's change touches, in both field
// spaces.
type pairDiffs struct {
	// mapped[i] is side i's current record mapped to the other side.
	mapped [2]map[string]any
	// changed[i] are the fields of the other side that side i's change
	// alters (its mapped form compared with the last-synced one).
	changed [2]map[string]bool
	// both[j] are fields of side j that both sides changed: side j changed
	// them itself, and the other side's change maps onto them.
	both [2]map[string]bool
	// skipped[i] is set when side i's filter leaves its record out.
	skipped [2]bool
	// base[i] is side i's record as last synced; cur[i] is what side i
	// holds now as far as the host knows (its change this round, else
	// base[i]).
	base [2]connector.Record
	cur  [2]connector.Record
}

// diffs computes what each side of a linked pair changed.
func (rd *twRound) diffs(ctx context.Context, pr *twPair) (*pairDiffs, error) {
	d := &pairDiffs{}
	var cur [2]connector.Record
	for i := range 2 {
		ls := linkSide(pr.link, i)
		base, err := decodeRecord(ls.Record)
		if err != nil {
			return nil, fmt.Errorf("link %s/%s: %w", pr.link.APartition, pr.link.AID, err)
		}
		part, id := linkID(pr.link, i)
		base.ID, base.Partition = id, part
		d.base[i] = base
		cur[i] = base
		if c := pr.ch[i]; c != nil && !c.deleted {
			cur[i] = c.rec
		}
		d.cur[i] = cur[i]
	}
	for i := range 2 {
		s := rd.sides[i]
		d.changed[i] = map[string]bool{}
		if pr.ch[i] == nil || pr.ch[i].deleted {
			// Nothing of this side goes across.
			continue
		}
		now, err := s.mapping.Apply(ctx, cur[i])
		if err != nil {
			return nil, err
		}
		d.skipped[i] = now.Skipped
		d.mapped[i] = now.Record.Fields
		if now.Skipped {
			continue
		}
		// The record mapped at the last sync. When it is unknown (a write
		// whose echo has not come back, to a target that does not say
		// what it stored), the record the host wrote there (the link's
		// base) mapped now stands in for it, so only the fields the side
		// changed since, and those its normalisation altered, count as
		// changed — not every field, which would let an unchanged value
		// overwrite the other side's change. Without a base, every field
		// counts as changed.
		var before map[string]any
		if ls := linkSide(pr.link, i); len(ls.Mapped) > 0 {
			m, err := decodeRecord(ls.Mapped)
			if err != nil {
				return nil, fmt.Errorf("link %s/%s: %w", pr.link.APartition, pr.link.AID, err)
			}
			before = m.Fields
		} else if len(d.base[i].Fields) > 0 {
			if res, err := s.mapping.Apply(ctx, d.base[i]); err == nil && !res.Skipped {
				before = res.Record.Fields
			}
		}
		for f, v := range now.Record.Fields {
			if old, ok := before[f]; !ok || !sameValue(old, v) {
				d.changed[i][f] = true
			}
		}
	}
	for j := range 2 {
		d.both[j] = map[string]bool{}
		o := 1 - j
		if pr.ch[j] == nil || pr.ch[j].deleted {
			continue
		}
		for f := range d.changed[o] {
			// Side j changed f itself when its current value differs from
			// its last-synced one.
			if !sameValue(cur[j].Fields[f], d.base[j].Fields[f]) {
				d.both[j][f] = true
			}
		}
	}
	return d, nil
}

// merge settles a linked pair whose records both exist: changes to
// different fields go both ways; changes to the same fields go the way of
// winner, or of the policy when winner is -1.
func (rd *twRound) merge(ctx context.Context, pr *twPair, winner int) error {
	d, err := rd.diffs(ctx, pr)
	if err != nil {
		return rd.rejectPair(pr, err)
	}
	if len(d.both[0]) == 0 && len(d.both[1]) == 0 {
		for i := range 2 {
			if err := rd.update(ctx, pr, i, d, nil); err != nil {
				return err
			}
		}
		return nil
	}
	w := winner
	if w < 0 {
		w = rd.policyWinner(pr)
	}
	if w < 0 {
		return rd.keepConflict(pr, [2]bool{true, true})
	}
	// The winner's changes all go across; the loser's only where the
	// winner did not change the same fields.
	if err := rd.update(ctx, pr, w, d, nil); err != nil {
		return err
	}
	return rd.update(ctx, pr, 1-w, d, d.both[w])
}

// win applies side w's change (an update or a deletion) to the other side;
// where both sides changed the same fields, w's values win.
func (rd *twRound) win(ctx context.Context, pr *twPair, w int) error {
	c, o := pr.ch[w], 1-w
	if c.deleted {
		return rd.propagateDelete(ctx, pr, w)
	}
	if oc := pr.ch[o]; oc != nil && oc.deleted {
		// The other side deleted the record the winner changed: make it
		// again there, as a new link.
		rd.r.log.Warn("a change wins over a deletion: the record is made again where it was deleted", "pipeline", rd.p.Name,
			"changed", rd.sides[w].name+":"+c.rec.Partition+"/"+c.rec.ID, "deleted", rd.sides[o].name+":"+oc.rec.Partition+"/"+oc.rec.ID)
		pr.removed = true
		np := &twPair{}
		np.ch[w] = c
		rd.pairs[store.LinkKey{Partition: "new\x00" + c.rec.Partition, ID: c.rec.ID}] = np
		return rd.create(ctx, np, w)
	}
	return rd.merge(ctx, pr, w)
}

// update writes the fields side i's change alters to the other side,
// leaving out skip (fields the other side won).
func (rd *twRound) update(ctx context.Context, pr *twPair, i int, d *pairDiffs, skip map[string]bool) error {
	o := 1 - i
	c := pr.ch[i]
	if c == nil || c.deleted {
		return nil
	}
	var mapped map[string]any
	if !d.skipped[i] {
		mapped = d.mapped[i]
	}
	prev := *linkSide(pr.link, i)
	if err := rd.setSide(linkSide(pr.link, i), i, c.rec, c.hash, c.version, c.modified, mapped); err != nil {
		return err
	}
	pr.dirty = true
	if d.skipped[i] {
		rd.n.Skipped++
		return nil
	}
	fields := map[string]any{}
	for f := range d.changed[i] {
		if skip[f] {
			continue
		}
		fields[f] = d.mapped[i][f]
	}
	if len(fields) == 0 {
		rd.n.Unchanged++
		return nil
	}
	sent, err := hashFields(d.mapped[i])
	if err != nil {
		return err
	}
	part, id := linkID(pr.link, o)
	rec := connector.Record{ID: id, Partition: part, Fields: fields}
	// What side o holds after the write is its current record (its own
	// change this round included, not the last-synced one) with these
	// fields merged in.
	rd.writes[o] = append(rd.writes[o], &twWrite{pair: pr, from: i, to: o, sent: sent, base: d.cur[o], merge: fields, prevOrigin: &prev,
		op: connector.WriteOp{Action: connector.ActionUpsert, TargetID: id, Partition: part, Record: rec,
			IdempotencyKey: rd.p.Name + "/" + rd.sides[i].name + "2" + rd.sides[o].name + "/" + part + "/" + id + "/" + sent}})
	return nil
}

// create maps side i's new record to the other side and queues its
// creation.
func (rd *twRound) create(ctx context.Context, pr *twPair, i int) error {
	c, o := pr.ch[i], 1-i
	res, err := rd.sides[i].mapping.Apply(ctx, c.rec)
	if err != nil {
		return rd.rejectChange(i, c.rec, err)
	}
	if res.Skipped {
		rd.n.Skipped++
		return nil
	}
	sent, err := hashFields(res.Record.Fields)
	if err != nil {
		return err
	}
	origin := &store.LinkSide{}
	if err := rd.setSide(origin, i, c.rec, c.hash, c.version, c.modified, res.Record.Fields); err != nil {
		return err
	}
	out := res.Record.Clone() // the connector may keep what it is given
	out.Partition = partitionOf(rd.sides[o], out)
	// The key names the origin record and this round, not the content: it
	// is recorded with the pending create before the write and re-sent as
	// is after a crash (recoverPending), whatever the origin became since,
	// so the target answers with the record it already made. A record made
	// again in a later round (after a deletion) gets a new key.
	key := rd.p.Name + "/" + rd.sides[i].name + "2" + rd.sides[o].name + "/" + c.rec.Partition + "/" + c.rec.ID + "/c" + strconv.FormatInt(rd.runID, 10)
	rd.writes[o] = append(rd.writes[o], &twWrite{pair: pr, from: i, to: o, sent: sent, writeBack: rd.sides[i].writeBack != "", srcMapped: res.Record.Fields,
		originSide: origin, originPartition: c.rec.Partition, originID: c.rec.ID,
		op: connector.WriteOp{Action: connector.ActionUpsert, Partition: out.Partition, Record: out, IdempotencyKey: key}})
	return nil
}

// propagateDelete applies side w's deletion to the other side, following
// the delete policy of side w.
func (rd *twRound) propagateDelete(ctx context.Context, pr *twPair, w int) error {
	o := 1 - w
	pr.removed = true
	part, id := linkID(pr.link, o)
	if oc := pr.ch[o]; oc != nil && oc.deleted {
		rd.n.Deleted++
		return nil
	}
	od := rd.sides[w].onDelete
	if od.Kind != "delete" {
		// The other side keeps its record: the link stays, with this side
		// gone, so a later change of the surviving record is not taken for
		// a new one (decideGone).
		pr.removed = false
		linkSide(pr.link, w).Gone = true
		pr.dirty = true
	}
	switch od.Kind {
	case "ignore":
		rd.n.Skipped++
		return nil
	case "mark":
		rd.writes[o] = append(rd.writes[o], &twWrite{pair: pr, from: w, to: o, deleting: true,
			op: connector.WriteOp{Action: connector.ActionUpsert, TargetID: id, Partition: part,
				Record:         connector.Record{ID: id, Partition: part, Fields: map[string]any{od.Field: true}},
				IdempotencyKey: rd.p.Name + "/" + rd.sides[o].name + "/" + part + "/" + id + "/mark"}})
	default:
		rd.writes[o] = append(rd.writes[o], &twWrite{pair: pr, from: w, to: o, deleting: true,
			op: connector.WriteOp{Action: connector.ActionDelete, TargetID: id, Partition: part,
				Record:         connector.Record{ID: id, Partition: part, Deleted: true},
				IdempotencyKey: rd.p.Name + "/" + rd.sides[o].name + "/" + part + "/" + id + "/delete"}})
	}
	return nil
}

// rejectChange dead-letters a change whose mapping failed.
func (rd *twRound) rejectChange(i int, rec connector.Record, err error) error {
	var fe *transforms.FieldError
	d := connector.Errorf(connector.InvalidInput, "%s", err.Error())
	if errors.As(err, &fe) {
		d = connector.FieldErrorf(connector.InvalidInput, fe.Field, "mapping failed: %s", err.Error())
	}
	return rd.deadLetter(i, rec, connector.Diagnostics{d})
}

func (rd *twRound) rejectPair(pr *twPair, err error) error {
	for i := range 2 {
		if c := pr.ch[i]; c != nil {
			return rd.rejectChange(i, c.rec, err)
		}
	}
	return err
}

func (rd *twRound) deadLetter(i int, rec connector.Record, ds connector.Diagnostics) error {
	return rd.deadLetterAs(rd.sides[i].checkpointEntity(), rec, ds)
}

// writeBackSuffix ends the entity of a refused write-back's dead letter:
// its record is the fields written, not a change to deliver again.
const writeBackSuffix = "#write-back"

func (rd *twRound) deadLetterAs(entity string, rec connector.Record, ds connector.Diagnostics) error {
	raw, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	dj, err := encodeDiagnostics(ds)
	if err != nil {
		return err
	}
	rd.commit.DeadLetters = append(rd.commit.DeadLetters, store.DeadLetter{Entity: entity, Partition: rec.Partition,
		SourceID: rec.ID, Record: raw, Diagnostics: dj})
	rd.n.Rejected++
	return nil
}

// write sends the writes to side to in batches and records their outcomes;
// it returns the creates whose new id goes back to their origin.
func (rd *twRound) write(ctx context.Context, to int, ws []*twWrite) ([]*twWrite, error) {
	size := rd.p.BatchSize
	if size <= 0 {
		size = config.DefaultBatchSize
	}
	s := rd.sides[to]
	// The outcomes of a batch are recorded while the next batch goes out:
	// one goroutine records them, in order; it alone touches the pairs,
	// the counts and the commit's dead letters, while this one only adds
	// to the commit's pending creates.
	type sent struct {
		part []*twWrite
		outs []connector.WriteOutcome
	}
	results := make(chan sent, 1)
	done := make(chan error, 1)
	var failed atomic.Bool
	var back []*twWrite
	go func() {
		var err error
		for b := range results {
			if err != nil {
				continue
			}
			for i, out := range b.outs {
				o := rd.outcome
				if b.part[i].recovered {
					o = rd.recoveredOutcome
				}
				var wb *twWrite
				if wb, err = o(ctx, b.part[i], out); err != nil {
					failed.Store(true)
					break
				}
				if wb != nil {
					back = append(back, wb)
				}
			}
		}
		done <- err
	}()
	send := func() error {
		for start := 0; start < len(ws) && !failed.Load(); start += size {
			part := ws[start:min(start+size, len(ws))]
			ops := make([]connector.WriteOp, len(part))
			var pend []store.TwoWayPending
			var upd []store.TwoWayInflight
			for i, w := range part {
				ops[i] = w.op
				if w.op.TargetID != "" && w.merge != nil {
					raw, err := encodeRecord(connector.Record{Fields: w.merge})
					if err != nil {
						return err
					}
					upd = append(upd, store.TwoWayInflight{Side: s.name, Partition: w.op.Partition, ID: w.op.TargetID, Run: rd.runID, Fields: raw})
				}
				if w.originSide == nil || w.recovered {
					continue
				}
				// The record sent is the origin's mapped record (OriginSide.Mapped).
				pend = append(pend, store.TwoWayPending{Origin: rd.sides[w.from].name, OriginPartition: w.originPartition, OriginID: w.originID,
					IdempotencyKey: w.op.IdempotencyKey, TargetPartition: w.op.Partition, Sent: w.sent, OriginSide: *w.originSide})
				rd.commit.ClearPending = append(rd.commit.ClearPending, store.TwoWayPendingKey{Origin: rd.sides[w.from].name, Partition: w.originPartition, ID: w.originID})
			}
			// Creates are recorded before they go out, so that after a
			// crash between the target's acknowledgement and the commit
			// they are sent again with the same keys (recoverPending)
			// before anything else.
			if err := rd.r.st.AddTwoWayPending(ctx, rd.p.Name, pend, upd); err != nil {
				return err
			}
			outs, err := rd.r.writeWithRetry(ctx, s.client, connector.WriteBatch{Entity: s.entity, Ops: ops}, rd.p.Name)
			if err != nil {
				return err
			}
			results <- sent{part, outs}
		}
		return nil
	}
	err := send()
	close(results)
	if rerr := <-done; err == nil {
		err = rerr
	}
	if err != nil {
		return nil, err
	}
	return back, nil
}

// outcome records what side w.to did with one write.
func (rd *twRound) outcome(ctx context.Context, w *twWrite, out connector.WriteOutcome) (*twWrite, error) {
	s := rd.sides[w.to]
	pr := w.pair
	switch out.Status {
	case connector.Created, connector.Updated, connector.Unchanged:
	case connector.Deleted:
		rd.n.Deleted++
		return nil, nil
	default:
		ds := out.Diagnostics
		if len(ds) == 0 {
			ds = connector.Diagnostics{connector.Errorf(connector.Internal, "the target answered %s without diagnostics", out.Status)}
		}
		if w.from < 0 {
			rd.r.log.Warn("write-back rejected", "pipeline", rd.p.Name, "side", s.name, "record", w.op.TargetID, "diagnostics", ds.Error())
			return nil, rd.deadLetterAs(s.checkpointEntity()+writeBackSuffix, w.op.Record, ds)
		}
		if w.op.TargetID == "" && pr.link == nil {
			return nil, rd.deadLetter(w.from, pr.ch[w.from].rec, ds)
		}
		// A refused update or delete: the pair keeps its last-synced
		// state of the origin (and its link, for a delete), so the change
		// is tried again when the origin changes next or the dead letter
		// is retried.
		if w.prevOrigin != nil {
			*linkSide(pr.link, w.from) = *w.prevOrigin
		}
		if w.deleting {
			pr.removed = false
			linkSide(pr.link, w.to).Gone = false
			linkSide(pr.link, w.from).Gone = false
		}
		return nil, rd.deadLetter(w.from, pr.ch[w.from].rec, ds)
	}
	if w.deleting {
		rd.n.Deleted++
		return nil, nil
	}
	switch out.Status {
	case connector.Created:
		rd.n.Created++
	case connector.Updated:
		rd.n.Updated++
	default:
		rd.n.Unchanged++
	}
	id := out.TargetID
	if id == "" {
		id = w.op.TargetID
	}
	held, hash, heldMapped, err := rd.heldRecord(ctx, w, out, id)
	if err != nil {
		return nil, err
	}
	if w.from < 0 {
		// A write-back: the origin record now holds the other side's id.
		ls := linkSide(pr.link, w.to)
		mapped, sent := ls.Mapped, ls.Sent
		if err := rd.setSide(ls, w.to, held, hash, out.Version, modifiedOf(s, held), heldMapped); err != nil {
			return nil, err
		}
		if heldMapped == nil {
			ls.Mapped = mapped
		}
		ls.Sent = sent
		pr.dirty = true
		return nil, nil
	}
	if pr.link == nil {
		c := pr.ch[w.from]
		// A new link holds a record made now on one side and the origin,
		// which had no link (or whose old link this commit removes): no
		// other link holds either record.
		pr.link = &store.Link{}
		if w.originSide != nil {
			*linkSide(pr.link, w.from) = *w.originSide
		} else if err := rd.setSide(linkSide(pr.link, w.from), w.from, c.rec, c.hash, c.version, c.modified, w.srcMapped); err != nil {
			return nil, err
		}
		if w.from == 0 {
			pr.link.APartition, pr.link.AID = c.rec.Partition, c.rec.ID
			pr.link.BPartition, pr.link.BID = w.op.Partition, id
		} else {
			pr.link.BPartition, pr.link.BID = c.rec.Partition, c.rec.ID
			pr.link.APartition, pr.link.AID = w.op.Partition, id
		}
		rd.order = append(rd.order, store.LinkKey{Partition: "created\x00" + pr.link.APartition, ID: pr.link.AID})
		rd.pairs[rd.order[len(rd.order)-1]] = pr
	}
	ls := linkSide(pr.link, w.to)
	if err := rd.setSide(ls, w.to, held, hash, out.Version, modifiedOf(s, held), heldMapped); err != nil {
		return nil, err
	}
	ls.Sent = w.sent
	pr.dirty = true
	if out.Status != connector.Created {
		return nil, nil
	}
	// Back to the origin: the new id (write_back), and the values the
	// target generated for the new record (a Teams join link) that map to
	// fields the origin record leaves empty. Values the origin has are
	// never overwritten, so the target's normalisation of them causes no
	// write.
	o := w.from
	fill := map[string]any{}
	if w.writeBack {
		fill[rd.sides[o].writeBack] = id
	}
	origin := pr.ch[o].rec.Fields
	for f, v := range heldMapped {
		if _, done := fill[f]; done || isEmpty(v) || !isEmpty(origin[f]) {
			continue
		}
		fill[f] = v
	}
	if len(fill) == 0 {
		return nil, nil
	}
	opart, oid := linkID(pr.link, o)
	base, err := decodeRecord(linkSide(pr.link, o).Record)
	if err != nil {
		return nil, err
	}
	h, err := hashFields(fill)
	if err != nil {
		return nil, err
	}
	return &twWrite{pair: pr, from: -1, to: o, base: base, merge: fill,
		op: connector.WriteOp{Action: connector.ActionUpsert, TargetID: oid, Partition: opart,
			Record:         connector.Record{ID: oid, Partition: opart, Fields: fill},
			IdempotencyKey: rd.p.Name + "/writeback/" + opart + "/" + oid + "/" + h}}, nil
}

// heldRecord is what the target holds after write w, as well as the host
// can tell: the record it stored, else the write merged into what it held,
// else what was sent; with the hash the link keeps (empty when only the
// version will recognise the echo) and the record mapped towards the other
// side when the target said what it stored.
func (rd *twRound) heldRecord(ctx context.Context, w *twWrite, out connector.WriteOutcome, id string) (connector.Record, string, map[string]any, error) {
	s := rd.sides[w.to]
	var held connector.Record
	switch {
	case out.Stored != nil:
		held = out.Stored.Clone()
	case w.merge != nil:
		held = w.base.Clone()
		if held.Fields == nil {
			held.Fields = map[string]any{}
		}
		for f, v := range w.merge {
			held.Fields[f] = v
		}
	default:
		held = w.op.Record.Clone()
	}
	held.ID, held.Partition = id, w.op.Partition
	if held.Fields == nil {
		held.Fields = map[string]any{}
	}
	if out.Version != "" {
		held.Version = out.Version
	}
	// The written record mapped towards the other side, when the target
	// said what it stored (otherwise learnt when the echo comes back).
	var heldMapped map[string]any
	if out.Stored != nil {
		if res, err := s.mapping.Apply(ctx, held); err == nil && !res.Skipped {
			heldMapped = res.Record.Fields
		}
	}
	hash := ""
	if out.Stored != nil || out.Version == "" {
		// Without a version the hash of what was written is the best
		// guess; a normalising target then costs one more write.
		var err error
		if hash, err = rd.hash(s, held.Fields); err != nil {
			return held, "", nil, err
		}
	}
	return held, hash, heldMapped, nil
}

// isEmpty reports a value that carries nothing: nil, "", an empty list or
// object.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// writeWithRetry sends a batch, retrying it with the same idempotency keys
// while the target answers RATE_LIMITED or UNAVAILABLE, honouring
// retry-after.
func (r *Runner) writeWithRetry(ctx context.Context, c connector.Client, b connector.WriteBatch, pipeline string) ([]connector.WriteOutcome, error) {
	wait := r.opts.Backoff
	for attempt := 1; ; attempt++ {
		outs, err := c.Write(ctx, b)
		if err == nil {
			if len(outs) != len(b.Ops) {
				return nil, connector.Errorf(connector.Internal, "the target answered %d outcomes for %d writes", len(outs), len(b.Ops))
			}
			return outs, nil
		}
		if !connector.CodeOf(err).Retryable() || attempt >= r.opts.WriteAttempts || ctx.Err() != nil {
			return nil, fmt.Errorf("writing %d records to %s (attempt %d): %w", len(b.Ops), b.Entity, attempt, err)
		}
		d := wait
		if ra := retryAfter(err); ra > 0 {
			d = ra
		}
		r.log.Warn("target busy; retrying the batch", "pipeline", pipeline, "entity", b.Entity, "attempt", attempt, "wait", d, "error", err)
		if err := r.opts.Sleep(ctx, d); err != nil {
			return nil, err
		}
		wait *= 2
	}
}

// hash is the hash of a side's record fields without its version and
// modification-time fields, which change with every write.
func (rd *twRound) hash(s *twSide, fields map[string]any) (string, error) {
	if s.schema != nil && (s.schema.VersionField != "" || s.schema.ModifiedField != "") {
		_, hv := fields[s.schema.VersionField]
		_, hm := fields[s.schema.ModifiedField]
		if hv || hm {
			cp := make(map[string]any, len(fields))
			for k, v := range fields {
				if k != s.schema.VersionField && k != s.schema.ModifiedField {
					cp[k] = v
				}
			}
			fields = cp
		}
	}
	return hashFields(fields)
}

// versionOf is a record's concurrency token: Record.Version, or the value
// of the entity's version field.
func versionOf(s *twSide, rec connector.Record) string {
	if rec.Version != "" {
		return rec.Version
	}
	if s.schema == nil || s.schema.VersionField == "" {
		return ""
	}
	switch v := rec.Fields[s.schema.VersionField].(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	}
	return ""
}

// modifiedOf is a record's modification time: Record.Modified, or the
// value of the entity's modification-time field.
func modifiedOf(s *twSide, rec connector.Record) time.Time {
	if !rec.Modified.IsZero() {
		return rec.Modified
	}
	if s.schema == nil || s.schema.ModifiedField == "" {
		return time.Time{}
	}
	switch v := rec.Fields[s.schema.ModifiedField].(type) {
	case time.Time:
		return v
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t
			}
		}
	}
	return time.Time{}
}

// partitionOf is the partition of a mapped record on side s: the value of
// its partition field when the entity is partitioned.
func partitionOf(s *twSide, rec connector.Record) string {
	if s.schema == nil || !s.schema.Partitioning.Partitioned {
		return ""
	}
	f := s.schema.Partitioning.Field
	if f == "" {
		f = "user"
	}
	v, _ := rec.Fields[f].(string)
	return v
}

// sameValue compares two field values as the record codec renders them.
func sameValue(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	ha, err1 := hashFields(map[string]any{"v": a})
	hb, err2 := hashFields(map[string]any{"v": b})
	return err1 == nil && err2 == nil && ha == hb
}
