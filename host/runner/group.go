package runner

import (
	"context"
	"sync"
	"time"

	"github.com/syncplane/syncplane/host/store"
)

// Group commit. While a partition's change feed is read, the outcomes of
// consecutive batches are committed together, in one transaction, once
// groupRecords changes or groupAge of time have gathered, and when the feed
// ends. Each commit rewrites the ID map's index pages its rows land on, and
// rows keyed by hashed ids land on most of them: a commit of 10,000 rows
// writes hardly more pages than one of 1,000.
//
// Nothing is lost by the wait: creates are in pending_creates before they
// are sent (and sent again with the same idempotency keys after a crash),
// and the checkpoint committed with the group is the last batch's, so a
// crash re-reads the uncommitted batches and writes their changes again.
// While a group waits, the batches after it see its ID-map rows through
// the group (see overlay), and lookup() sees them through the runner.
//
// A group waits up to five seconds: at a few thousand changes per second
// per partition, a one-second group committed four to five times as often
// for the same rows, and each commit rewrote most of the index pages again
// (the ID-map commits of a 171,400-event initial sync took a quarter less
// CPU with five seconds, profiled in the same runs). A crash re-reads at
// most the last five seconds of a feed.
const (
	groupRecords = 10000
	groupAge     = 5 * time.Second
)

// commitGroup gathers the commits of consecutive batches of one partition.
type commitGroup struct {
	key     store.PartitionKey
	first   time.Time // when the first batch joined
	batches int       // commits gathered
	size    int       // changes of the batches gathered
	n       store.Counts
	work    []*pending

	c       store.Commit // everything but Put, Remove and Touch
	removes []string
	touches []string
	touched map[string]bool

	mu sync.Mutex
	// puts are the rows put, in order; rows is the state of each source id
	// the group changes: the index in puts of its last row put, or -1 when
	// the group removes its row.
	puts []store.Mapping
	rows map[string]int
}

func newCommitGroup(key store.PartitionKey, runID int64) *commitGroup {
	g := &commitGroup{key: key, rows: map[string]int{}, touched: map[string]bool{}}
	g.reset(runID)
	return g
}

func (g *commitGroup) reset(runID int64) {
	// The next group reuses the arrays and maps, emptied: a group of
	// 10,000 rows otherwise grows them again from nothing.
	g.mu.Lock()
	clear(g.puts)
	g.puts = g.puts[:0]
	clear(g.rows)
	g.mu.Unlock()
	clear(g.work)
	g.first, g.batches, g.size, g.n, g.work = time.Time{}, 0, 0, store.Counts{}, g.work[:0]
	g.c = store.Commit{Key: g.key, RunID: runID}
	clear(g.touched)
	g.removes, g.touches = nil, nil
}

// empty reports whether nothing waits.
func (g *commitGroup) empty() bool { return g.batches == 0 }

// add takes in one batch's commit. Commits that begin or end a resync or
// mark dead letters retried are not gathered (see job.settle).
func (g *commitGroup) add(c store.Commit, n store.Counts, work []*pending, changes int, now time.Time) {
	if g.batches == 0 {
		g.first = now
	}
	g.batches++
	g.size += changes
	g.n.Add(n)
	g.work = append(g.work, work...)
	g.mu.Lock()
	// A commit removes first, then puts, then touches: a row removed and
	// put again is stored as put; a row put and then removed is removed.
	for _, id := range c.Remove {
		g.removes = append(g.removes, id)
		g.rows[id] = -1
	}
	for _, m := range c.Put {
		g.rows[m.SourceID] = len(g.puts)
		g.puts = append(g.puts, m)
	}
	g.mu.Unlock()
	for _, id := range c.Touch {
		if !g.touched[id] {
			g.touched[id] = true
			g.touches = append(g.touches, id)
		}
	}
	g.c.DeadLetters = append(g.c.DeadLetters, c.DeadLetters...)
	g.c.ClearPending = append(g.c.ClearPending, c.ClearPending...)
	if c.SetCheckpoint {
		g.c.SetCheckpoint, g.c.Checkpoint = true, c.Checkpoint
	}
}

// due reports whether the group should be committed now.
func (g *commitGroup) due(now time.Time) bool {
	return g.size >= groupRecords || g.batches > 0 && now.Sub(g.first) >= groupAge
}

// commit builds the group's commit: the rows as they stand at the end of
// the gathered batches, each source id once.
func (g *commitGroup) commit() store.Commit {
	c := g.c
	g.mu.Lock()
	defer g.mu.Unlock()
	c.Remove = g.removes
	c.Touch = g.touches
	c.Put = make([]store.Mapping, 0, len(g.rows))
	for i, m := range g.puts {
		if g.rows[m.SourceID] == i {
			c.Put = append(c.Put, m)
		}
	}
	return c
}

// overlay applies the group's rows to known, the stored rows of ids.
func (g *commitGroup) overlay(known map[string]store.Mapping, ids []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.rows) == 0 {
		return
	}
	for _, id := range ids {
		i, ok := g.rows[id]
		switch {
		case !ok:
		case i < 0:
			delete(known, id)
		default:
			known[id] = g.puts[i]
		}
	}
}

// target returns the target id the group maps sourceID to: found reports
// whether the group holds sourceID at all, ok whether it maps it.
func (g *commitGroup) target(sourceID string) (id string, ok, found bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	i, found := g.rows[sourceID]
	if !found || i < 0 {
		return "", false, found
	}
	return g.puts[i].TargetID, true, true
}

// settle commits a batch's outcomes: through the job's group while the
// change feed is read, else at once.
func (j *job) settle(ctx context.Context, c store.Commit, n store.Counts, work []*pending, changes int) error {
	g := j.group
	if g == nil || c.BeginResync || c.EndResync || len(c.Retried) > 0 {
		if err := j.flush(ctx); err != nil {
			return err
		}
		return j.commitNow(ctx, c, n, work)
	}
	now := j.r.opts.Now()
	g.add(c, n, work, changes, now)
	if g.due(now) {
		return j.flush(ctx)
	}
	return nil
}

// flush commits what the job's group gathered.
func (j *job) flush(ctx context.Context) error {
	g := j.group
	if g == nil || g.empty() {
		return nil
	}
	c, n, work := g.commit(), g.n, g.work
	if err := j.commitNow(ctx, c, n, work); err != nil {
		return err
	}
	g.reset(j.runID)
	return nil
}

// commitNow commits c and counts its outcomes.
func (j *job) commitNow(ctx context.Context, c store.Commit, n store.Counts, work []*pending) error {
	c.RunID = j.runID
	if err := j.commit(ctx, &c, &n, work); err != nil {
		return err
	}
	j.total.Add(n)
	if j.r.opts.Progress != nil {
		j.r.opts.Progress(j.p.Name, j.key.Partition, n)
	}
	return nil
}

// groups are the commit groups of the jobs running, by pipeline, for
// lookup() to see rows not committed yet.
type groups struct {
	mu sync.Mutex
	m  map[string]map[*commitGroup]bool
}

func (gs *groups) register(pipeline string, g *commitGroup) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.m == nil {
		gs.m = map[string]map[*commitGroup]bool{}
	}
	if gs.m[pipeline] == nil {
		gs.m[pipeline] = map[*commitGroup]bool{}
	}
	gs.m[pipeline][g] = true
}

func (gs *groups) unregister(pipeline string, g *commitGroup) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	delete(gs.m[pipeline], g)
}

// target returns what a waiting group says of sourceID in pipeline.
func (gs *groups) target(pipeline, sourceID string) (id string, ok, found bool) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	for g := range gs.m[pipeline] {
		if id, ok, found := g.target(sourceID); found {
			return id, ok, true
		}
	}
	return "", false, false
}

// lookup serves the mapping function lookup(): the target id of a source
// record of pipeline, from a commit group waiting, else the ID map.
func (r *Runner) lookup(ctx context.Context, pipeline, sourceID string) (string, bool, error) {
	if id, ok, found := r.groups.target(pipeline, sourceID); found {
		return id, ok, nil
	}
	return r.st.LookupTarget(ctx, pipeline, sourceID)
}
