package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/jsonl"
	"github.com/syncplane/syncplane/host/config"
	"github.com/syncplane/syncplane/host/runner"
	"github.com/syncplane/syncplane/host/store"
	"github.com/syncplane/syncplane/schema"
)

// memTarget is an in-memory target that honours idempotency keys, as the
// contract requires, and can reject records or fail batches on demand.
type memTarget struct {
	mu      sync.Mutex
	records map[string]connector.Record // by target id
	keys    map[string]string           // idempotency key → target id
	nextID  int
	creates int
	writes  int // Write calls

	// reject returns a diagnostic for records the target refuses.
	reject func(connector.Record) *connector.Diagnostic
	// fail, when it returns an error, fails the batch; applied tells
	// whether the batch was applied before failing (a lost ack).
	fail func(call int) (err error, applied bool)
	// upsertBy, when set, names a field a create matches existing records
	// by (as Zoho's duplicate_check_fields): a match is updated instead.
	upsertBy string
	// countUsage makes Write count a request and a credit per record in
	// the host's value store, as the usage convention says.
	countUsage bool
	host       connector.Host
}

func newMemTarget() *memTarget {
	return &memTarget{records: map[string]connector.Record{}, keys: map[string]string{}}
}

func (m *memTarget) Spec() connector.Spec {
	return connector.Spec{Name: "mem", Version: "1", SettingsSchema: json.RawMessage(`{}`)}
}
func (m *memTarget) Configure(_ context.Context, req connector.ConfigureRequest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.host = req.Host
	return nil
}

// addUsage adds to the day's usage counters in the host's value store.
func (m *memTarget) addUsage(ctx context.Context, credits int64) error {
	key := runner.UsageKey(time.Now())
	day := map[string]any{}
	if b, ok, err := m.host.Values().Get(ctx, key); err != nil {
		return err
	} else if ok {
		if err := json.Unmarshal(b, &day); err != nil {
			return err
		}
	}
	n := func(k string) int64 { f, _ := day[k].(float64); return int64(f) }
	day["requests"], day["credits"] = n("requests")+1, n("credits")+credits
	b, _ := json.Marshal(day)
	return m.host.Values().Put(ctx, key, b)
}
func (m *memTarget) Check(context.Context) connector.Diagnostics { return nil }
func (m *memTarget) DiscoverSchema(context.Context, bool) (*schema.Schema, error) {
	return &schema.Schema{Entities: []schema.Entity{{Name: "people", Keys: []string{"id"},
		Fields: []schema.Field{{Name: "id", Type: schema.Type{Kind: schema.String}}}}}}, nil
}
func (m *memTarget) ListPartitions(context.Context, string) (connector.Partitions, error) {
	return connector.Partitions{Partitions: []connector.Partition{{}}}, nil
}
func (m *memTarget) Close() error { return nil }

func (m *memTarget) Query(_ context.Context, req connector.QueryRequest) ([]connector.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := req.Match["id"].(string); ok {
		if r, ok := m.records[id]; ok {
			return []connector.Record{r.Clone()}, nil
		}
	}
	return nil, nil
}

func (m *memTarget) Write(ctx context.Context, b connector.WriteBatch) ([]connector.WriteOutcome, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writes++
	if m.countUsage {
		if err := m.addUsage(ctx, int64(len(b.Ops))); err != nil {
			return nil, err
		}
	}
	var failErr error
	if m.fail != nil {
		err, applied := m.fail(m.writes)
		if err != nil && !applied {
			return nil, err
		}
		failErr = err
	}
	outs := make([]connector.WriteOutcome, len(b.Ops))
	for i, op := range b.Ops {
		out := connector.WriteOutcome{IdempotencyKey: op.IdempotencyKey}
		if m.reject != nil {
			if d := m.reject(op.Record); d != nil {
				out.Status, out.Diagnostics = connector.Rejected, connector.Diagnostics{d}
				outs[i] = out
				continue
			}
		}
		switch op.Action {
		case connector.ActionDelete:
			delete(m.records, op.TargetID)
			out.Status, out.TargetID = connector.Deleted, op.TargetID
		default:
			id := op.TargetID
			if id == "" {
				id = m.keys[op.IdempotencyKey]
			}
			if id == "" && m.upsertBy != "" {
				for tid, r := range m.records {
					if v := op.Record.Fields[m.upsertBy]; v != nil && r.Fields[m.upsertBy] == v {
						id = tid
						m.keys[op.IdempotencyKey] = id
					}
				}
			}
			rec := op.Record.Clone()
			if id == "" {
				m.nextID++
				m.creates++
				id = fmt.Sprintf("T%d", m.nextID)
				m.keys[op.IdempotencyKey] = id
				out.Status = connector.Created
			} else if old, ok := m.records[id]; ok && equalJSON(old.Fields, withID(rec.Fields, id)) {
				out.Status = connector.Unchanged
			} else {
				out.Status = connector.Updated
			}
			rec.ID = id
			rec.Fields = withID(rec.Fields, id)
			m.records[id] = rec
			out.TargetID = id
		}
		outs[i] = out
	}
	if failErr != nil {
		return nil, failErr
	}
	return outs, nil
}

func withID(f map[string]any, id string) map[string]any {
	out := make(map[string]any, len(f)+1)
	for k, v := range f {
		out[k] = v
	}
	out["id"] = id
	return out
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// bySource returns the target records keyed by their "src" field, failing
// on a duplicate.
func (m *memTarget) bySource(t *testing.T) map[string]connector.Record {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]connector.Record{}
	for _, r := range m.records {
		src, _ := r.Fields["src"].(string)
		if _, dup := out[src]; dup {
			t.Fatalf("source record %s is in the target twice", src)
		}
		out[src] = r
	}
	return out
}

// fixture is a jsonl source, a memTarget and a store.
type fixture struct {
	t       *testing.T
	dir     string
	srcDir  string
	src     connector.Client // a second client on the source directory, for edits
	target  *memTarget
	st      *store.Store
	file    *config.File
	conns   *runner.Connections
	sleeps  []time.Duration
	runner  *runner.Runner
	onDel   string
	mapping string
}

const sourceSettings = `{"dir": %q, "entities": {"people": {"key": "id", "modified_field": "updated_at"}}}`

func newFixture(t *testing.T, onDelete string) *fixture {
	return newFixtureMapping(t, onDelete, "")
}

func newFixtureMapping(t *testing.T, onDelete, extraMapping string) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), target: newMemTarget(), onDel: onDelete, mapping: extraMapping}
	f.srcDir = filepath.Join(f.dir, "src")
	if err := os.MkdirAll(f.srcDir, 0o755); err != nil {
		t.Fatal(err)
	}
	f.src = connector.Local(jsonl.New())
	if err := f.src.Configure(context.Background(), connector.ConfigureRequest{Settings: json.RawMessage(fmt.Sprintf(sourceSettings, f.srcDir))}); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`state: %s
connections:
  src:
    connector: jsonl
    settings: %s
  dst:
    connector: mem
    settings: {}
pipelines:
  - name: people
    from: { connection: src, entity: people }
    to:   { connection: dst, entity: people }
    mode: one-way
    on_delete: %s
    batch_size: 3
    mapping:
      src: id
      name: name
%s`, filepath.Join(f.dir, "state.db"), fmt.Sprintf(sourceSettings, f.srcDir), onDelete, extraMapping)
	path := filepath.Join(f.dir, "syncplane.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := config.Load(path)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	f.file = file
	st, err := store.Open(context.Background(), file.State, store.Options{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	f.conns = runner.NewConnections(file, st, func(_ context.Context, name string) (connector.Client, error) {
		switch name {
		case "jsonl":
			return connector.Local(jsonl.New()), nil
		case "mem":
			return connector.Local(f.target), nil
		}
		return nil, fmt.Errorf("unknown connector %s", name)
	})
	t.Cleanup(func() { f.conns.Close() })
	r, err := runner.New(runner.Options{File: file, Store: st, Connectors: f.conns,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Sleep:  func(_ context.Context, d time.Duration) error { f.sleeps = append(f.sleeps, d); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.runner = r
	return f
}

// put upserts source records through the jsonl connector (which stamps
// updated_at, feeding the change feed).
func (f *fixture) put(recs ...map[string]any) {
	f.t.Helper()
	ops := make([]connector.WriteOp, len(recs))
	for i, r := range recs {
		ops[i] = connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: fmt.Sprint(r["id"]), Record: connector.Record{Fields: r}}
	}
	outs, err := f.src.Write(context.Background(), connector.WriteBatch{Entity: "people", Ops: ops})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, o := range outs {
		if o.Status == connector.Rejected {
			f.t.Fatalf("source write rejected: %v", o.Diagnostics)
		}
	}
}

func (f *fixture) del(ids ...string) {
	f.t.Helper()
	ops := make([]connector.WriteOp, len(ids))
	for i, id := range ids {
		ops[i] = connector.WriteOp{Action: connector.ActionDelete, IdempotencyKey: "del-" + id, TargetID: id}
	}
	if _, err := f.src.Write(context.Background(), connector.WriteBatch{Entity: "people", Ops: ops}); err != nil {
		f.t.Fatal(err)
	}
}

func people(n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"id": fmt.Sprintf("p%02d", i), "name": fmt.Sprintf("Person %d", i), "tier": "gold"}
	}
	return out
}

func (f *fixture) run() (runner.Summary, error) {
	return f.runner.RunOnce(context.Background(), "people")
}

func (f *fixture) mustRun() store.Counts {
	f.t.Helper()
	s, err := f.run()
	if err != nil {
		f.t.Fatalf("run: %v", err)
	}
	return s.Counts
}

func (f *fixture) checkpoint() []byte {
	cp, _, err := f.st.Checkpoint(context.Background(), store.PartitionKey{Pipeline: "people", Entity: "people"})
	if err != nil {
		f.t.Fatal(err)
	}
	return cp.Checkpoint
}

func sortedIDs(m map[string]connector.Record) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestIncrementalSync(t *testing.T) {
	f := newFixture(t, "delete")
	f.put(people(7)...)
	c := f.mustRun()
	if c.Read != 7 || c.Created != 7 {
		t.Fatalf("first run counts %+v, want 7 read and created", c)
	}
	if got := f.target.bySource(t); len(got) != 7 || got["p03"].Fields["name"] != "Person 3" {
		t.Fatalf("target after first run: %v", got)
	}
	// Nothing changed: nothing read, nothing written.
	writes := f.target.writes
	c = f.mustRun()
	if c != (store.Counts{}) || f.target.writes != writes {
		t.Fatalf("idle run counts %+v, writes %d→%d", c, writes, f.target.writes)
	}
	// One change, one new, one delete: only those move.
	f.put(map[string]any{"id": "p01", "name": "Renamed"}, map[string]any{"id": "p99", "name": "New"})
	f.del("p05")
	c = f.mustRun()
	if c.Read != 3 || c.Created != 1 || c.Updated != 1 || c.Deleted != 1 {
		t.Fatalf("incremental counts %+v", c)
	}
	got := f.target.bySource(t)
	if len(got) != 7 || got["p01"].Fields["name"] != "Renamed" || got["p99"].Fields["name"] != "New" {
		t.Fatalf("target after changes: %v", sortedIDs(got))
	}
	if _, ok := got["p05"]; ok {
		t.Fatal("deleted source record still in target")
	}
	if f.target.creates != 8 {
		t.Fatalf("target created %d records, want 8", f.target.creates)
	}
	runs, _ := f.st.LastRuns(context.Background(), "people")
	if len(runs) != 1 || runs[0].Status != store.RunOK || runs[0].Read != 3 {
		t.Fatalf("run history %+v", runs)
	}
}

func TestCheckpointAdvancesOnlyAfterAck(t *testing.T) {
	f := newFixture(t, "delete")
	f.put(people(5)...)
	// The target fails the second batch, without applying it.
	f.target.fail = func(call int) (error, bool) {
		if call == 2 {
			return connector.Errorf(connector.Internal, "disk on fire"), false
		}
		return nil, false
	}
	if _, err := f.run(); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("run error = %v", err)
	}
	// Batch size 3: the source's first batch (p00–p02) was acknowledged and
	// its checkpoint committed; the second (p03, p04) failed, so the
	// checkpoint stays after p02.
	if cp := string(f.checkpoint()); !strings.Contains(cp, `"p02"`) {
		t.Fatalf("checkpoint %s, want the one after p02", cp)
	}
	f.target.fail = nil
	c := f.mustRun()
	if c.Read != 2 || c.Created != 2 {
		t.Fatalf("second run counts %+v, want 2 read, 2 created", c)
	}
	if got := f.target.bySource(t); len(got) != 5 {
		t.Fatalf("target has %d records", len(got))
	}
	if cp := string(f.checkpoint()); !strings.Contains(cp, `"p04"`) {
		t.Fatalf("checkpoint %s, want the one after p04", cp)
	}
	if f.checkpoint() == nil {
		t.Fatal("no checkpoint after a successful run")
	}
}

func TestRetriedBatchDoesNotDuplicate(t *testing.T) {
	f := newFixture(t, "delete")
	f.put(people(6)...)
	// The target applies the first batch but the acknowledgement is lost
	// (UNAVAILABLE): the runner sends the same batch again.
	f.target.fail = func(call int) (error, bool) {
		if call == 1 {
			return connector.Errorf(connector.Unavailable, "connection reset"), true
		}
		return nil, false
	}
	c := f.mustRun()
	if c.Read != 6 {
		t.Fatalf("counts %+v", c)
	}
	if got := f.target.bySource(t); len(got) != 6 || f.target.creates != 6 {
		t.Fatalf("target has %d records, %d creates; want 6 and 6", len(got), f.target.creates)
	}
	if len(f.sleeps) != 1 {
		t.Fatalf("slept %v, want one back-off", f.sleeps)
	}

	// A failure after the target applied a batch, that fails the run (a
	// crash between ack and commit): the next run re-sends from the old
	// checkpoint and still creates nothing twice.
	f.put(map[string]any{"id": "q1", "name": "Q1"}, map[string]any{"id": "q2", "name": "Q2"})
	f.target.fail = func(call int) (error, bool) {
		return connector.Errorf(connector.Internal, "crash after write"), true
	}
	if _, err := f.run(); err == nil {
		t.Fatal("run succeeded")
	}
	f.target.fail = nil
	// Before the next run the source changes one of them and deletes the
	// other: the target must neither get a second q1 (its content, hence
	// its write, changed) nor keep an orphaned q2.
	f.put(map[string]any{"id": "q1", "name": "Q1 changed"})
	f.del("q2")
	f.mustRun()
	got := f.target.bySource(t)
	if len(got) != 7 || f.target.creates != 8 || got["q1"].Fields["name"] != "Q1 changed" {
		t.Fatalf("target has %d records (want 7), %d creates (want 8), q1 %v", len(got), f.target.creates, got["q1"].Fields)
	}
	if _, ok := got["q2"]; ok {
		t.Fatal("q2 was deleted in the source but left in the target")
	}
}

func TestRateLimitHonoursRetryAfter(t *testing.T) {
	f := newFixture(t, "delete")
	f.put(people(2)...)
	f.target.fail = func(call int) (error, bool) {
		if call <= 2 {
			return connector.Errorf(connector.RateLimited, "throttled").WithRetryAfter(7 * time.Second), false
		}
		return nil, false
	}
	c := f.mustRun()
	if c.Created != 2 {
		t.Fatalf("counts %+v", c)
	}
	if len(f.sleeps) != 2 || f.sleeps[0] != 7*time.Second || f.sleeps[1] != 7*time.Second {
		t.Fatalf("slept %v, want the retry-after twice", f.sleeps)
	}
	// Without a retryable code there is no retry.
	f.sleeps = nil
	f.put(map[string]any{"id": "x", "name": "X"})
	f.target.fail = func(int) (error, bool) { return connector.Errorf(connector.PermissionDenied, "no"), false }
	if _, err := f.run(); err == nil || len(f.sleeps) != 0 {
		t.Fatalf("err %v, sleeps %v", err, f.sleeps)
	}
}

func TestRejectedRecordsAreDeadLettered(t *testing.T) {
	f := newFixture(t, "delete")
	f.put(people(5)...)
	f.target.reject = func(r connector.Record) *connector.Diagnostic {
		if r.Fields["src"] == "p02" {
			return connector.FieldErrorf(connector.InvalidInput, "name", "name is not allowed")
		}
		return nil
	}
	c := f.mustRun()
	if c.Created != 4 || c.Rejected != 1 {
		t.Fatalf("counts %+v, want 4 created 1 rejected", c)
	}
	if f.checkpoint() == nil {
		t.Fatal("a rejected record held back the checkpoint")
	}
	rs, err := f.runner.Rejected(context.Background(), "people", false)
	if err != nil || len(rs) != 1 {
		t.Fatalf("rejected = %+v %v", rs, err)
	}
	r := rs[0]
	if r.SourceID != "p02" || r.Record.Fields["name"] != "Person 2" || len(r.Diagnostics) != 1 || r.Diagnostics[0].Field != "name" || r.Diagnostics[0].Code != connector.InvalidInput {
		t.Fatalf("dead letter %+v %+v", r, r.Diagnostics)
	}
	// The record is not lost: once the target accepts it, a retry delivers it.
	f.target.reject = nil
	c, err = f.runner.RetryRejected(context.Background(), "people")
	if err != nil || c.Created != 1 {
		t.Fatalf("retry = %+v %v", c, err)
	}
	if got := f.target.bySource(t); len(got) != 5 {
		t.Fatalf("target has %d records after retry", len(got))
	}
	if rs, _ := f.runner.Rejected(context.Background(), "people", false); len(rs) != 0 {
		t.Fatalf("dead letters left after retry: %+v", rs)
	}
	// Retrying again does nothing.
	if c, err := f.runner.RetryRejected(context.Background(), "people"); err != nil || c != (store.Counts{}) {
		t.Fatalf("second retry = %+v %v", c, err)
	}
}

// TestTwoSourcesOntoOneTargetRecord: a target that matches two source
// records onto one of its records (an upsert by e-mail) costs the second
// source record a CONFLICT dead letter, not the batch.
func TestTwoSourcesOntoOneTargetRecord(t *testing.T) {
	f := newFixtureMapping(t, "delete", "      email: email\n")
	f.target.upsertBy = "email"
	recs := people(6) // batches of 3: p00–p02, p03–p05
	for i, r := range recs {
		r["email"] = fmt.Sprintf("p%d@example.com", i)
	}
	recs[2]["email"] = recs[0]["email"] // in the same batch as its twin
	recs[4]["email"] = recs[1]["email"] // in a later batch than its twin
	f.put(recs...)
	s, err := f.run()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if c := s.Counts; c.Read != 6 || c.Created != 4 || c.Updated != 0 || c.Rejected != 2 {
		t.Fatalf("counts %+v, want read 6, created 4, rejected 2", c)
	}
	rs, err := f.runner.Rejected(context.Background(), "people", false)
	if err != nil || len(rs) != 2 {
		t.Fatalf("rejected = %+v %v", rs, err)
	}
	ms, err := f.st.MappingsOf(context.Background(), "people", nil)
	if err != nil {
		t.Fatal(err)
	}
	targetOf := map[string]string{}
	for _, m := range ms {
		targetOf[m.SourceID] = m.TargetID
	}
	if len(ms) != 4 || targetOf["p02"] != "" || targetOf["p04"] != "" {
		t.Fatalf("ID map %v, want p00, p01, p03, p05", targetOf)
	}
	for i, want := range [][2]string{{"p02", "p00"}, {"p04", "p01"}} {
		r := rs[i]
		d := r.Diagnostics[0]
		if r.SourceID != want[0] || d.Code != connector.Conflict || r.Record.Fields["name"] == nil {
			t.Fatalf("dead letter %d: %+v %+v", i, r.DeadLetter, d)
		}
		for _, id := range []string{want[0], want[1], targetOf[want[1]]} {
			if !strings.Contains(d.Summary, id) {
				t.Errorf("dead letter of %s: summary %q does not name %s", want[0], d.Summary, id)
			}
		}
	}
	// The checkpoint moved past the batch: nothing is read again.
	if c := f.mustRun(); c.Read != 0 {
		t.Fatalf("second run read %d records", c.Read)
	}
	// Once the source tells the twins apart, p04 goes through.
	recs[4]["email"] = "p4@example.com"
	f.put(recs[4])
	if c := f.mustRun(); c.Created != 1 || c.Rejected != 0 {
		t.Fatalf("after the fix: %+v", c)
	}
	// (The twins' writes overwrote their owners' records in the target, as
	// such a target does; the ID map still knows one owner per record.)
	f.target.mu.Lock()
	n := len(f.target.records)
	f.target.mu.Unlock()
	if n != 5 {
		t.Fatalf("target holds %d records, want 5", n)
	}
}

// TestSummaryReportsUsage: the summary shows what the connections' usage
// counters grew by during the run, not their day totals.
func TestSummaryReportsUsage(t *testing.T) {
	f := newFixture(t, "delete")
	f.target.countUsage = true
	// Earlier today the target already used some; a member that is not an
	// integer counter is ignored.
	vs := f.st.Host("dst").Values()
	if err := vs.Put(context.Background(), runner.UsageKey(time.Now()), []byte(`{"credits":500,"requests":3,"plan":"free"}`)); err != nil {
		t.Fatal(err)
	}
	f.put(people(7)...) // batches of 3: three Write calls
	s, err := f.run()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int64{"dst": {"credits": 7, "requests": 3}}
	if !equalJSON(s.Usage, want) {
		t.Fatalf("usage %v, want %v", s.Usage, want)
	}
	// Nothing to write: nothing used.
	if s, err := f.run(); err != nil || s.Usage != nil {
		t.Fatalf("second run: usage %v, err %v", s.Usage, err)
	}
}

func TestMappingFailureIsDeadLetteredWithFieldPath(t *testing.T) {
	f := newFixtureMapping(t, "delete", "      tier: { expr: tier, map: { gold: G } }\n")
	recs := people(3)
	recs[1]["tier"] = "bronze"
	f.put(recs...)
	c := f.mustRun()
	if c.Created != 2 || c.Rejected != 1 {
		t.Fatalf("counts %+v", c)
	}
	rs, err := f.runner.Rejected(context.Background(), "people", false)
	if err != nil || len(rs) != 1 || rs[0].SourceID != "p01" || rs[0].Diagnostics[0].Field != "tier" {
		t.Fatalf("rejected %+v %v", rs, err)
	}
	if !strings.Contains(rs[0].Diagnostics[0].Summary, "syncplane.yaml") {
		t.Fatalf("diagnostic does not point into the pipeline file: %s", rs[0].Diagnostics[0].Summary)
	}
}

func TestOnDeletePolicies(t *testing.T) {
	for _, tc := range []struct {
		policy string
		check  func(t *testing.T, got map[string]connector.Record, c store.Counts)
	}{
		{"delete", func(t *testing.T, got map[string]connector.Record, c store.Counts) {
			if _, ok := got["p01"]; ok || c.Deleted != 1 {
				t.Fatalf("delete: record kept (%v) or counts %+v", ok, c)
			}
		}},
		{"ignore", func(t *testing.T, got map[string]connector.Record, c store.Counts) {
			if _, ok := got["p01"]; !ok || c.Deleted != 0 || c.Skipped != 1 {
				t.Fatalf("ignore: record gone (%v) or counts %+v", !ok, c)
			}
		}},
		{"mark:gone", func(t *testing.T, got map[string]connector.Record, c store.Counts) {
			r, ok := got["p01"]
			if !ok || r.Fields["gone"] != true || r.Fields["name"] != "Person 1" || c.Deleted != 1 {
				t.Fatalf("mark: record %v %+v, counts %+v", ok, r.Fields, c)
			}
		}},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			f := newFixture(t, tc.policy)
			f.put(people(3)...)
			f.mustRun()
			f.del("p01")
			c := f.mustRun()
			got := f.target.bySource(t)
			if len(got) < 2 {
				t.Fatalf("other records lost: %v", sortedIDs(got))
			}
			tc.check(t, got, c)
		})
	}
}

func TestFullResyncReconcilesVanishedRecords(t *testing.T) {
	f := newFixture(t, "delete")
	f.put(people(4)...)
	f.mustRun()
	// p02 vanishes from the source without a tombstone (its line is
	// removed by hand) and the checkpoint is no longer readable: the
	// connector answers with a full resync.
	path := filepath.Join(f.srcDir, "people.jsonl")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if !strings.Contains(line, `"p02"`) {
			kept = append(kept, line)
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(kept, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	key := store.PartitionKey{Pipeline: "people", Entity: "people"}
	if err := f.st.Commit(context.Background(), store.Commit{Key: key, SetCheckpoint: true, Checkpoint: []byte("garbage")}); err != nil {
		t.Fatal(err)
	}
	c := f.mustRun()
	if c.Deleted != 1 || c.Created != 0 || c.Unchanged != 3 {
		t.Fatalf("resync counts %+v, want 1 deleted, 3 unchanged", c)
	}
	got := f.target.bySource(t)
	if _, ok := got["p02"]; ok || len(got) != 3 {
		t.Fatalf("target after resync: %v", sortedIDs(got))
	}
	cp, _, _ := f.st.Checkpoint(context.Background(), key)
	if !cp.ResyncSince.IsZero() || string(cp.Checkpoint) == "garbage" {
		t.Fatalf("resync not finished: %+v", cp)
	}
	// Reset also resyncs: p03 removed by hand is reconciled.
	data, _ = os.ReadFile(path)
	kept = kept[:0]
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if !strings.Contains(line, `"p03"`) {
			kept = append(kept, line)
		}
	}
	os.WriteFile(path, []byte(strings.Join(kept, "\n")+"\n"), 0o644)
	time.Sleep(2 * time.Millisecond) // seen_at has millisecond resolution
	if _, err := f.st.Reset(context.Background(), "people", nil); err != nil {
		t.Fatal(err)
	}
	c = f.mustRun()
	if c.Deleted != 1 || c.Read != 2 {
		t.Fatalf("after reset counts %+v", c)
	}
}

func TestPreviewWritesNothing(t *testing.T) {
	f := newFixture(t, "delete")
	f.put(people(5)...)
	rows, err := f.runner.Preview(context.Background(), "people", 3)
	if err != nil || len(rows) != 3 {
		t.Fatalf("preview = %d rows, %v", len(rows), err)
	}
	if rows[0].Target == nil || rows[0].Target.Fields["src"] != rows[0].Source.ID {
		t.Fatalf("row %+v", rows[0])
	}
	if f.target.writes != 0 || f.checkpoint() != nil {
		t.Fatal("preview wrote something")
	}
}

func TestSchedulerRunsAndRetriesAfterRetryAfter(t *testing.T) {
	f := newFixture(t, "delete")
	f.put(people(4)...)
	// Five throttled answers exhaust the in-job retries (fake sleeps); the
	// job is then snoozed for the retry-after and succeeds on its next run.
	f.target.fail = func(call int) (error, bool) {
		if call <= 5 {
			return connector.Errorf(connector.RateLimited, "throttled").WithRetryAfter(time.Second), false
		}
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := runner.NewScheduler(ctx, f.runner, f.st, runner.SchedulerOptions{PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	events, stop := s.Subscribe()
	defer stop()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	var kinds []string
	for done := false; !done; {
		select {
		case ev := <-events:
			kinds = append(kinds, string(ev.Kind)+":"+ev.Job.Kind)
			done = ev.Job.Kind == (runner.SyncArgs{}).Kind() && ev.Kind == "job_completed"
		case <-ctx.Done():
			t.Fatalf("no sync job completed; events %v", kinds)
		}
	}
	if !contains(kinds, "job_snoozed:syncplane_sync") {
		t.Fatalf("the throttled job was not snoozed: %v", kinds)
	}
	if got := f.target.bySource(t); len(got) != 4 {
		t.Fatalf("target has %d records", len(got))
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// TestCanceledStartIsNotRemembered: a connector start cut short by its
// caller's context is tried again by the next caller.
func TestCanceledStartIsNotRemembered(t *testing.T) {
	f := newFixture(t, "delete")
	starts := 0
	conns := runner.NewConnections(f.file, f.st, func(ctx context.Context, name string) (connector.Client, error) {
		starts++
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return connector.Local(f.target), nil
	})
	defer conns.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := conns.Client(ctx, "dst"); err == nil {
		t.Fatal("start with a canceled context succeeded")
	}
	if _, err := conns.Client(context.Background(), "dst"); err != nil || starts != 2 {
		t.Fatalf("second start: %v after %d starts", err, starts)
	}
}
