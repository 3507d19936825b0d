package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/host/config"
	"github.com/syncplane/syncplane/host/runner"
	"github.com/syncplane/syncplane/host/store"
	"github.com/syncplane/syncplane/schema"
)

// memSide is an in-memory service with a change feed that normalises what
// the host writes to it as real services do: text is trimmed and phone
// numbers are reformatted. People editing it directly (Edit, Remove) are
// not normalised. It honours idempotency keys, answers each write with the
// record's new version and, when stored is set, the record as stored.
type memSide struct {
	mu      sync.Mutex
	name    string
	stored  bool // WriteOutcome.Stored is filled
	version bool // WriteOutcome.Version is filled
	recs    map[string]*memRec
	log     []string // change feed: record ids in order of change
	keys    map[string]string
	next    int
	clock   *int64 // shared logical clock for modification times
	ops     int    // write operations received
	// refuse, when set, rejects the writes it returns true for.
	refuse func(connector.WriteOp) bool
}

type memRec struct {
	fields   map[string]any
	version  int
	modified time.Time
	deleted  bool
}

func newMemSide(name string, clock *int64) *memSide {
	return &memSide{name: name, stored: true, version: true, recs: map[string]*memRec{}, keys: map[string]string{}, clock: clock}
}

func (m *memSide) Spec() connector.Spec {
	return connector.Spec{Name: "memside", Version: "1", SettingsSchema: json.RawMessage(`{}`)}
}
func (m *memSide) Configure(context.Context, connector.ConfigureRequest) error { return nil }
func (m *memSide) Check(context.Context) connector.Diagnostics                 { return nil }
func (m *memSide) Close() error                                                { return nil }
func (m *memSide) DiscoverSchema(context.Context, bool) (*schema.Schema, error) {
	str := schema.Type{Kind: schema.String}
	return &schema.Schema{Entities: []schema.Entity{{Name: "items", Keys: []string{"id"}, ModifiedField: "modified", VersionField: "ver",
		Capabilities: schema.Capabilities{Readable: true, Changes: true, Writable: true, Deletable: true},
		Fields: []schema.Field{{Name: "id", Type: str, ReadOnly: true}, {Name: "name", Type: str}, {Name: "phone", Type: str}, {Name: "note", Type: str},
			{Name: "other_id", Type: str}, {Name: "ver", Type: str, ReadOnly: true}, {Name: "modified", Type: schema.Type{Kind: schema.Timestamp}, ReadOnly: true}}}}}, nil
}
func (m *memSide) ListPartitions(context.Context, string) (connector.Partitions, error) {
	return connector.Partitions{Partitions: []connector.Partition{{}}}, nil
}

func (m *memSide) tick() time.Time {
	*m.clock++
	return time.Unix(1_700_000_000+*m.clock, 0).UTC()
}

// record renders a stored record as the feed and Stored show it.
func (m *memSide) record(id string) connector.Record {
	r := m.recs[id]
	f := map[string]any{}
	for k, v := range r.fields {
		f[k] = v
	}
	v := m.name + strconv.Itoa(r.version)
	f["ver"], f["modified"] = v, r.modified
	return connector.Record{ID: id, Fields: f, Version: v, Modified: r.modified, Deleted: r.deleted}
}

func (m *memSide) ReadChanges(_ context.Context, req connector.ChangesRequest, emit func(connector.ChangeBatch) error) error {
	m.mu.Lock()
	from := 0
	if len(req.Checkpoint) > 0 {
		from, _ = strconv.Atoi(string(req.Checkpoint))
	}
	seen := map[string]bool{}
	var b connector.ChangeBatch
	for i := len(m.log) - 1; i >= from; i-- {
		id := m.log[i]
		if seen[id] {
			continue
		}
		seen[id] = true
		rec := m.record(id)
		op := connector.Upsert
		if rec.Deleted {
			op, rec.Fields = connector.Delete, nil
		}
		b.Changes = append(b.Changes, connector.Change{Op: op, Record: rec})
	}
	b.Checkpoint = []byte(strconv.Itoa(len(m.log)))
	m.mu.Unlock()
	return emit(b)
}

// normalise is what the service does to written values.
func normalise(field string, v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	s = strings.TrimSpace(s)
	if field == "phone" {
		var d []rune
		for _, r := range s {
			if r >= '0' && r <= '9' {
				d = append(d, r)
			}
		}
		if len(d) > 3 {
			return string(d[:3]) + "-" + string(d[3:])
		}
		return string(d)
	}
	return s
}

func (m *memSide) Write(_ context.Context, b connector.WriteBatch) ([]connector.WriteOutcome, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	outs := make([]connector.WriteOutcome, len(b.Ops))
	for i, op := range b.Ops {
		m.ops++
		out := connector.WriteOutcome{IdempotencyKey: op.IdempotencyKey}
		id := op.TargetID
		if id == "" {
			id = m.keys[op.IdempotencyKey]
		}
		r := m.recs[id]
		switch {
		case m.refuse != nil && m.refuse(op):
			out.Status = connector.Rejected
			out.Diagnostics = connector.Diagnostics{connector.Errorf(connector.InvalidInput, "refused")}
		case op.Action == connector.ActionDelete:
			if r == nil || r.deleted {
				out.Status, out.TargetID = connector.Deleted, id
				break
			}
			r.deleted, r.version = true, r.version+1
			m.log = append(m.log, id)
			out.Status, out.TargetID = connector.Deleted, id
		case op.TargetID != "" && (r == nil || r.deleted):
			out.Status = connector.Rejected
			out.Diagnostics = connector.Diagnostics{connector.Errorf(connector.NotFound, "no record %s", id)}
		case r == nil || r.deleted && op.TargetID == "":
			m.next++
			id = fmt.Sprintf("%s%d", m.name, m.next)
			m.keys[op.IdempotencyKey] = id
			f := map[string]any{}
			for k, v := range op.Record.Fields {
				f[k] = normalise(k, v)
			}
			m.recs[id] = &memRec{fields: f, version: 1, modified: m.tick()}
			m.log = append(m.log, id)
			out.Status = connector.Created
		default:
			changed := false
			for k, v := range op.Record.Fields {
				nv := normalise(k, v)
				if r.fields[k] != nv {
					r.fields[k], changed = nv, true
				}
			}
			out.Status = connector.Unchanged
			if changed {
				r.version++
				r.modified = m.tick()
				m.log = append(m.log, id)
				out.Status = connector.Updated
			}
		}
		if out.Status != connector.Rejected && out.Status != connector.Deleted {
			out.TargetID = id
			rec := m.record(id)
			if m.version {
				out.Version = rec.Version
			}
			if m.stored {
				out.Stored = &rec
			}
		}
		outs[i] = out
	}
	return outs, nil
}

// Edit creates (id "") or changes a record as a person would, without
// normalisation; it returns the id.
func (m *memSide) Edit(id string, fields map[string]any) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == "" {
		m.next++
		id = fmt.Sprintf("%s%d", m.name, m.next)
		m.recs[id] = &memRec{fields: map[string]any{}}
	}
	r := m.recs[id]
	for k, v := range fields {
		r.fields[k] = v
	}
	r.version++
	r.modified = m.tick()
	m.log = append(m.log, id)
	return id
}

// Remove deletes a record as a person would.
func (m *memSide) Remove(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.recs[id]
	r.deleted, r.version = true, r.version+1
	r.modified = m.tick()
	m.log = append(m.log, id)
}

// live returns the ids of the records not deleted, sorted.
func (m *memSide) live() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for id, r := range m.recs {
		if !r.deleted {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// get returns a live record's fields normalised (for comparisons).
func (m *memSide) get(id string) (map[string]any, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[id]
	if !ok || r.deleted {
		return nil, false
	}
	out := map[string]any{}
	for _, k := range []string{"name", "phone", "note"} {
		if v, ok := r.fields[k]; ok && v != nil {
			out[k] = normalise(k, v)
		}
	}
	return out, true
}

func (m *memSide) writes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ops
}

// twoWay is a two-way pipeline between two memSides.
type twoWay struct {
	a, b   *memSide
	st     *store.Store
	r      *runner.Runner
	conns  *runner.Connections
	file   *config.File
	clock  int64
	extras string
}

const twoWayFile = `state: %s
connections:
  left: { connector: memside }
  right: { connector: memside }
pipelines:
  - name: sync
    from: { connection: left, entity: items }
    to: { connection: right, entity: items }
    mode: two-way
    conflict: %s
    batch_size: 4
    mapping: { name: name, phone: phone, note: note }
    reverse_mapping: { name: name, phone: phone, note: note }
%s`

// fataler is what the helpers need of a *testing.T or a *rapid.T.
type fataler interface {
	Fatalf(format string, args ...any)
}

// newTwoWay sets up a pipeline in dir; close its store when done.
func newTwoWay(t fataler, dir, policy, extra string) *twoWay {
	tw := &twoWay{}
	tw.a, tw.b = newMemSide("a", &tw.clock), newMemSide("b", &tw.clock)
	f, err := config.Parse(filepath.Join(dir, "p.yaml"), []byte(fmt.Sprintf(twoWayFile, filepath.Join(dir, "state.db"), policy, extra)), config.Options{})
	if err != nil {
		t.Fatalf("%v", err)
	}
	tw.file = f
	tw.st, err = store.Open(context.Background(), f.State, store.Options{SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatalf("%v", err)
	}
	conns := 0
	tw.conns = runner.NewConnections(f, tw.st, func(context.Context, string) (connector.Client, error) {
		conns++
		if conns == 1 {
			return connector.Local(tw.a), nil
		}
		return connector.Local(tw.b), nil
	})
	// Connections open lazily; open left first so it gets side a.
	if _, err := tw.conns.Client(context.Background(), "left"); err != nil {
		t.Fatalf("%v", err)
	}
	if _, err := tw.conns.Client(context.Background(), "right"); err != nil {
		t.Fatalf("%v", err)
	}
	tw.r, err = runner.New(runner.Options{File: f, Store: tw.st, Connectors: tw.conns, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatalf("%v", err)
	}
	return tw
}

func (tw *twoWay) round(t fataler) runner.Summary {
	s, err := tw.r.RunOnce(context.Background(), "sync")
	if err != nil {
		t.Fatalf("two-way round: %v", err)
	}
	return s
}

// check asserts that both sides hold the same records (after
// normalisation), each once, linked pairwise.
func (tw *twoWay) check(t fataler) {
	links, err := tw.st.AllLinks(context.Background(), "sync", "a", nil)
	if err != nil {
		t.Fatalf("%v", err)
	}
	la, lb := tw.a.live(), tw.b.live()
	if len(links) != len(la) || len(links) != len(lb) {
		t.Fatalf("want as many links as records on each side: %d links, %d on a (%v), %d on b (%v)", len(links), len(la), la, len(lb), lb)
	}
	seenB := map[string]bool{}
	for _, l := range links {
		ra, okA := tw.a.get(l.AID)
		rb, okB := tw.b.get(l.BID)
		if !okA || !okB {
			t.Fatalf("link %s ↔ %s: a present %v, b present %v", l.AID, l.BID, okA, okB)
		}
		if seenB[l.BID] {
			t.Fatalf("b record %s linked twice", l.BID)
		}
		seenB[l.BID] = true
		if fmt.Sprint(ra) != fmt.Sprint(rb) {
			t.Fatalf("link %s ↔ %s differ: a %v, b %v", l.AID, l.BID, ra, rb)
		}
	}
}

func TestTwoWayProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		policy := rapid.SampledFrom([]string{"source-wins", "target-wins", "newest-wins"}).Draw(rt, "policy")
		tw := newTwoWay(rt, t.TempDir(), policy, "")
		defer tw.st.Close()
		tw.a.stored = rapid.Bool().Draw(rt, "a stored")
		tw.a.version = rapid.Bool().Draw(rt, "a version")
		tw.b.stored = rapid.Bool().Draw(rt, "b stored")
		tw.b.version = rapid.Bool().Draw(rt, "b version")
		text := rapid.SampledFrom([]string{"ann", " ann ", "bob", "bob  ", "cy"})
		phone := rapid.SampledFrom([]string{"5551234", "555 1234", "(555) 1234", "12"})
		field := rapid.SampledFrom([]string{"name", "phone", "note"})
		value := func(rt *rapid.T, f string) any {
			if f == "phone" {
				return phone.Draw(rt, "phone")
			}
			return text.Draw(rt, f)
		}
		steps := rapid.IntRange(1, 30).Draw(rt, "steps")
		for range steps {
			side := tw.a
			if rapid.Bool().Draw(rt, "side b") {
				side = tw.b
			}
			live := side.live()
			switch op := rapid.IntRange(0, 4).Draw(rt, "op"); {
			case op == 0 || len(live) == 0:
				side.Edit("", map[string]any{"name": value(rt, "name"), "phone": value(rt, "phone"), "note": value(rt, "note")})
			case op == 1:
				side.Remove(rapid.SampledFrom(live).Draw(rt, "victim"))
			case op == 2:
				tw.round(rt)
			default:
				f := field.Draw(rt, "field")
				side.Edit(rapid.SampledFrom(live).Draw(rt, "record"), map[string]any{f: value(rt, f)})
			}
		}
		// Without new edits the sides converge within a few rounds.
		for range 4 {
			tw.round(rt)
		}
		tw.check(rt)
		wa, wb := tw.a.writes(), tw.b.writes()
		s := tw.round(rt)
		if tw.a.writes() != wa || tw.b.writes() != wb {
			rt.Fatalf("a round after convergence wrote: %d to a, %d to b (%+v)", tw.a.writes()-wa, tw.b.writes()-wb, s.Counts)
		}
	})
}

// TestTwoWayNormalisationSettles: a record created on each side, synced once
// each way, and a third round writes nothing at either side.
func TestTwoWayNormalisationSettles(t *testing.T) {
	for _, tc := range []struct {
		name            string
		stored, version bool
	}{{"stored and version", true, true}, {"version only", false, true}, {"stored only", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			tw := newTwoWay(t, t.TempDir(), "manual", "")
			defer tw.st.Close()
			for _, s := range []*memSide{tw.a, tw.b} {
				s.stored, s.version = tc.stored, tc.version
			}
			tw.a.Edit("", map[string]any{"name": "  Ann ", "phone": "(555) 1234", "note": "x "})
			tw.b.Edit("", map[string]any{"name": "Bob", "phone": "555 9876", "note": " y"})
			tw.round(t) // a → b and b → a
			tw.round(t) // the echoes come back
			tw.check(t)
			wa, wb := tw.a.writes(), tw.b.writes()
			tw.round(t)
			if tw.a.writes() != wa || tw.b.writes() != wb {
				t.Fatalf("third round wrote %d to a and %d to b", tw.a.writes()-wa, tw.b.writes()-wb)
			}
			if wa != 1 || wb != 1 {
				t.Errorf("want exactly one write at each side (the creates), got %d at a and %d at b", wa, wb)
			}
		})
	}
}
