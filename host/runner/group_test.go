package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/host/config"
	"github.com/syncplane/syncplane/host/runner"
	"github.com/syncplane/syncplane/host/store"
	"github.com/syncplane/syncplane/schema"
)

// scriptSource is a change feed that emits the batches it is given, each
// with its index as checkpoint, starting after the checkpoint it gets.
type scriptSource struct {
	batches [][]connector.Change
}

func (s *scriptSource) Spec() connector.Spec {
	return connector.Spec{Name: "script", Version: "1", SettingsSchema: json.RawMessage(`{}`),
		Capabilities: connector.Capabilities{ReadChanges: true}}
}
func (s *scriptSource) Configure(context.Context, connector.ConfigureRequest) error { return nil }
func (s *scriptSource) Check(context.Context) connector.Diagnostics                 { return nil }
func (s *scriptSource) DiscoverSchema(context.Context, bool) (*schema.Schema, error) {
	return &schema.Schema{Entities: []schema.Entity{{Name: "people", Keys: []string{"id"},
		Fields: []schema.Field{{Name: "id", Type: schema.Type{Kind: schema.String}}, {Name: "name", Type: schema.Type{Kind: schema.String}},
			{Name: "boss", Type: schema.Type{Kind: schema.String}}}}}}, nil
}
func (s *scriptSource) ListPartitions(context.Context, string) (connector.Partitions, error) {
	return connector.Partitions{Partitions: []connector.Partition{{}}}, nil
}
func (s *scriptSource) Close() error { return nil }
func (s *scriptSource) ReadChanges(_ context.Context, req connector.ChangesRequest, emit func(connector.ChangeBatch) error) error {
	next := 0
	if len(req.Checkpoint) > 0 {
		fmt.Sscan(string(req.Checkpoint), &next)
		next++
	}
	for i := next; i < len(s.batches); i++ {
		if err := emit(connector.ChangeBatch{Changes: s.batches[i], Checkpoint: []byte(fmt.Sprint(i))}); err != nil {
			return err
		}
	}
	return nil
}

func upsert(id, name, boss string) connector.Change {
	f := map[string]any{"id": id, "name": name}
	if boss != "" {
		f["boss"] = boss
	}
	return connector.Change{Op: connector.Upsert, Record: connector.Record{ID: id, Fields: f}}
}

func deletion(id string) connector.Change {
	return connector.Change{Op: connector.Delete, Record: connector.Record{ID: id, Deleted: true}}
}

// groupFixture runs a pipeline from a scriptSource into a memTarget.
type groupFixture struct {
	src     *scriptSource
	target  *memTarget
	st      *store.Store
	runner  *runner.Runner
	commits int // Progress calls: one per commit
}

func newGroupFixture(t *testing.T, now func() time.Time, batches ...[]connector.Change) *groupFixture {
	t.Helper()
	dir := t.TempDir()
	f := &groupFixture{src: &scriptSource{batches: batches}, target: newMemTarget()}
	cfg := fmt.Sprintf(`state: %s
connections:
  src: { connector: script, settings: {} }
  dst: { connector: mem, settings: {} }
pipelines:
  - name: people
    from: { connection: src, entity: people }
    to:   { connection: dst, entity: people }
    mode: one-way
    on_delete: delete
    batch_size: 10
    mapping:
      src: id
      name: name
      boss: lookup("people", boss)
`, filepath.Join(dir, "state.db"))
	path := filepath.Join(dir, "syncplane.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := config.Load(path)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	st, err := store.Open(context.Background(), file.State, store.Options{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	conns := runner.NewConnections(file, st, func(_ context.Context, name string) (connector.Client, error) {
		switch name {
		case "script":
			return connector.Local(f.src), nil
		case "mem":
			return connector.Local(f.target), nil
		}
		return nil, fmt.Errorf("unknown connector %s", name)
	})
	t.Cleanup(func() { conns.Close() })
	var mu sync.Mutex
	f.runner, err = runner.New(runner.Options{File: file, Store: st, Connectors: conns, Now: now,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Sleep:    func(context.Context, time.Duration) error { return nil },
		Progress: func(string, string, store.Counts) { mu.Lock(); f.commits++; mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *groupFixture) idMap(t *testing.T) map[string]string {
	t.Helper()
	rows, err := f.st.MappingsOf(context.Background(), "people", nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range rows {
		out[m.SourceID] = m.TargetID
	}
	return out
}

func (f *groupFixture) checkpoint(t *testing.T) string {
	t.Helper()
	cp, _, err := f.st.Checkpoint(context.Background(), store.PartitionKey{Pipeline: "people", Entity: "people"})
	if err != nil {
		t.Fatal(err)
	}
	return string(cp.Checkpoint)
}

// TestGroupedBatchesSeeEarlierOnes: batches committed together still see
// what the batches before them did — a record created in one and changed
// in the next is updated, not created twice; one created and deleted
// leaves nothing; lookup() finds a record created two batches earlier —
// and the ID map and checkpoint end as if each batch had been committed
// on its own.
func TestGroupedBatchesSeeEarlierOnes(t *testing.T) {
	f := newGroupFixture(t, nil,
		[]connector.Change{upsert("a", "Anna", ""), upsert("b", "Bob", "")},
		[]connector.Change{upsert("a", "Anna Lee", ""), deletion("b")},
		[]connector.Change{upsert("c", "Cem", "a"), upsert("b", "Bob again", "")},
	)
	s, err := f.runner.RunOnce(context.Background(), "people")
	if err != nil {
		t.Fatal(err)
	}
	if f.commits != 1 {
		t.Fatalf("%d commits, want the three batches in one", f.commits)
	}
	c := s.Counts
	if c.Read != 6 || c.Created != 4 || c.Updated != 1 || c.Deleted != 1 {
		t.Fatalf("counts %+v, want 6 read, 4 created (a, b, c, b again), 1 updated, 1 deleted", c)
	}
	got := f.target.bySource(t)
	if len(got) != 3 || got["a"].Fields["name"] != "Anna Lee" || got["b"].Fields["name"] != "Bob again" {
		t.Fatalf("target %v", got)
	}
	ids := f.idMap(t)
	if len(ids) != 3 || ids["a"] != got["a"].ID || ids["b"] != got["b"].ID || ids["c"] != got["c"].ID {
		t.Fatalf("ID map %v, target %v", ids, got)
	}
	if boss := got["c"].Fields["boss"]; boss != got["a"].ID {
		t.Fatalf("c's boss = %v, want a's target id %s (lookup of a row not committed yet)", boss, got["a"].ID)
	}
	if cp := f.checkpoint(t); cp != "2" {
		t.Fatalf("checkpoint %q, want 2", cp)
	}
	if f.target.creates != 4 {
		t.Fatalf("%d creates at the target, want 4", f.target.creates)
	}
}

// TestGroupCommitsBeforeAFailure: when a batch fails, the batches gathered
// before it are committed (the target acknowledged them), so the next run
// starts after them and writes nothing twice.
func TestGroupCommitsBeforeAFailure(t *testing.T) {
	f := newGroupFixture(t, nil,
		[]connector.Change{upsert("a", "Anna", ""), upsert("b", "Bob", "")},
		[]connector.Change{upsert("c", "Cem", "")},
		[]connector.Change{upsert("d", "Dora", "")},
	)
	f.target.fail = func(call int) (error, bool) {
		if call == 3 {
			return connector.Errorf(connector.Internal, "disk on fire"), false
		}
		return nil, false
	}
	if _, err := f.runner.RunOnce(context.Background(), "people"); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("run error = %v", err)
	}
	if cp := f.checkpoint(t); cp != "1" {
		t.Fatalf("checkpoint %q, want 1 (after the two acknowledged batches)", cp)
	}
	if ids := f.idMap(t); len(ids) != 3 {
		t.Fatalf("ID map %v, want a, b, c", ids)
	}
	f.target.fail = nil
	s, err := f.runner.RunOnce(context.Background(), "people")
	if err != nil {
		t.Fatal(err)
	}
	if s.Counts.Read != 1 || s.Counts.Created != 1 || f.target.creates != 4 || len(f.target.bySource(t)) != 4 {
		t.Fatalf("second run %+v, %d creates at the target; want 1 read and created, 4 creates", s.Counts, f.target.creates)
	}
}

// TestGroupCommitsWhenDue: a group is committed once it has waited
// groupAge, so a long feed's checkpoint keeps moving.
func TestGroupCommitsWhenDue(t *testing.T) {
	var mu sync.Mutex
	clock := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { // every reading of the clock is 0.6 groupAge later
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(runner.GroupAge * 6 / 10)
		return clock
	}
	var batches [][]connector.Change
	for i := range 6 {
		batches = append(batches, []connector.Change{upsert(fmt.Sprint("p", i), "P", "")})
	}
	f := newGroupFixture(t, now, batches...)
	if _, err := f.runner.RunOnce(context.Background(), "people"); err != nil {
		t.Fatal(err)
	}
	if f.commits < 2 || f.commits > 4 {
		t.Fatalf("%d commits of 6 batches a clock reading 0.6 groupAge apart, want 3 (each group of two waited 1.2 groupAge)", f.commits)
	}
	if cp := f.checkpoint(t); cp != "5" || len(f.idMap(t)) != 6 {
		t.Fatalf("checkpoint %q, ID map %v", cp, f.idMap(t))
	}
}

// TestInitialSyncFindsRecordsItWrote: a partition without ID-map rows
// skips looking up ids it has not met, but a record met again after its
// row was committed is found and updated, not created twice.
func TestInitialSyncFindsRecordsItWrote(t *testing.T) {
	var mu sync.Mutex
	clock := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { // every reading 2 groupAge later: a group commits when its second batch joins
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(2 * runner.GroupAge)
		return clock
	}
	f := newGroupFixture(t, now,
		[]connector.Change{upsert("a", "Anna", "")},
		[]connector.Change{upsert("b", "Bob", "")},
		[]connector.Change{upsert("a", "Anna Lee", ""), upsert("c", "Cem", "")},
	)
	s, err := f.runner.RunOnce(context.Background(), "people")
	if err != nil {
		t.Fatal(err)
	}
	if f.commits != 2 {
		t.Fatalf("%d commits, want 2 (batches 1 and 2, then 3, which meets a again)", f.commits)
	}
	if s.Counts.Created != 3 || s.Counts.Updated != 1 || f.target.creates != 3 {
		t.Fatalf("counts %+v, %d creates at the target; want 3 created, 1 updated", s.Counts, f.target.creates)
	}
	if got := f.target.bySource(t); got["a"].Fields["name"] != "Anna Lee" {
		t.Fatalf("a = %v", got["a"].Fields)
	}
}

// TestEmptyBatchCheckpointJoinsTheGroup: a batch with no changes but a
// checkpoint waits in the group like any other, so the checkpoints stored
// follow the batches in order and never pass batches still waiting.
func TestEmptyBatchCheckpointJoinsTheGroup(t *testing.T) {
	f := newGroupFixture(t, nil,
		[]connector.Change{upsert("a", "Anna", "")},
		nil,
		[]connector.Change{upsert("b", "Bob", "")},
	)
	f.target.fail = func(call int) (error, bool) {
		if call == 2 {
			return connector.Errorf(connector.Internal, "disk on fire"), false
		}
		return nil, false
	}
	if _, err := f.runner.RunOnce(context.Background(), "people"); err == nil {
		t.Fatal("run succeeded")
	}
	if cp := f.checkpoint(t); cp != "1" {
		t.Fatalf("checkpoint %q, want 1 (the empty batch after a's)", cp)
	}
	if ids := f.idMap(t); len(ids) != 1 || ids["a"] == "" {
		t.Fatalf("ID map %v, want a", ids)
	}
}
