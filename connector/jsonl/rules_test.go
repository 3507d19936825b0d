package jsonl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// open configures a jsonl connector on dir with the given entities.
func open(t *testing.T, dir string, entities map[string]any) *jsonlConnector {
	t.Helper()
	set := map[string]any{"dir": dir}
	if entities != nil {
		set["entities"] = entities
	}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	c := New().(*jsonlConnector)
	if err := c.Configure(context.Background(), connector.ConfigureRequest{Settings: raw}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return c
}

var notes = map[string]any{"notes": map[string]any{
	"modified_field": "at",
	"fields": map[string]any{
		"id":   map[string]any{"type": "string"},
		"text": map[string]any{"type": "string", "required": true},
		"n":    map[string]any{"type": "int"},
		"at":   map[string]any{"type": "timestamp"},
	},
}}

func upsert(key, text string) connector.WriteOp {
	return connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "k-" + key, Record: connector.Record{Fields: map[string]any{"id": key, "text": text}}}
}

func write(t *testing.T, c *jsonlConnector, entity string, ops ...connector.WriteOp) []connector.WriteOutcome {
	t.Helper()
	outs, err := c.Write(context.Background(), connector.WriteBatch{Entity: entity, Ops: ops})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return outs
}

func readIDs(t *testing.T, c *jsonlConnector, entity string) []string {
	t.Helper()
	var ids []string
	err := c.Read(context.Background(), connector.ReadRequest{Entity: entity}, func(rs []connector.Record) error {
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return ids
}

func TestFailedRenameLeavesTheFileWhole(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, notes)
	write(t, c, "notes", upsert("a", "first"), upsert("b", "second"))
	path := filepath.Join(dir, "notes.jsonl")
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	// The process "crashes" after the temporary file is complete but before
	// the rename.
	c.ops.rename = func(string, string) error { return errors.New("simulated crash before rename") }
	_, err = c.Write(context.Background(), connector.WriteBatch{Entity: "notes", Ops: []connector.WriteOp{upsert("a", "changed"), upsert("c", "third")}})
	if err == nil {
		t.Fatal("Write with a failing rename: expected an error, got success")
	}
	if connector.CodeOf(err) != connector.Unavailable {
		t.Errorf("Write with a failing rename: expected code UNAVAILABLE, got %s (%v)", connector.CodeOf(err), err)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(before) {
		t.Errorf("after a failed rename the file changed:\nbefore %q\nafter  %q", before, after)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".notes.jsonl.tmp-*")); len(left) != 0 {
		t.Errorf("after a failed rename: expected the temporary file removed, got %q", left)
	}
	if got := readIDs(t, c, "notes"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Read after a failed write: expected [a b], got %q", got)
	}

	// Writes work again once the rename does.
	c.ops = defaultFileOps()
	write(t, c, "notes", upsert("c", "third"))
	if got := readIDs(t, c, "notes"); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("Read after a good write: expected [a b c], got %q", got)
	}
}

func TestLeftoverTempFileIsIgnoredAndCleaned(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, notes)
	write(t, c, "notes", upsert("a", "first"))
	// A writer killed mid-write left half a file behind.
	stale := filepath.Join(dir, ".notes.jsonl.tmp-12345")
	if err := os.WriteFile(stale, []byte(`{"id":"a","text":"fir`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := readIDs(t, c, "notes"); !slices.Equal(got, []string{"a"}) {
		t.Errorf("Read with a leftover temporary file: expected [a], got %q", got)
	}
	s, err := c.DiscoverSchema(context.Background(), false)
	if err != nil {
		t.Fatalf("DiscoverSchema: %v", err)
	}
	if names := s.EntityNames(); !slices.Equal(names, []string{"notes"}) {
		t.Errorf("DiscoverSchema with a leftover temporary file: expected entities [notes], got %q", names)
	}
	write(t, c, "notes", upsert("b", "second"))
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after the next write: expected the leftover %s removed, got %v", stale, err)
	}
}

// TestSharedTimestampCheckpoint resumes from every checkpoint of a feed
// whose records share timestamps, with batches that split the groups.
func TestSharedTimestampCheckpoint(t *testing.T) {
	dir := t.TempDir()
	lines := []string{
		`{"id":"d","text":"x","at":"2026-03-01T10:00:00Z"}`,
		`{"id":"b","text":"x","at":"2026-03-01T10:00:00Z"}`,
		`{"id":"a","text":"x","at":"2026-03-01T10:00:00Z"}`,
		`{"id":"c","text":"x","at":"2026-03-01T09:00:00Z"}`,
		`{"id":"e","text":"x","at":"2026-03-01T11:00:00+01:00"}`, // 10:00Z as well
		`{"id":"f","text":"x","at":"2026-03-01T12:00:00Z"}`,
		`{"id":"g","_deleted":true,"at":"2026-03-01T12:00:00Z"}`,
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := open(t, dir, notes)
	want := []string{"upsert c", "upsert a", "upsert b", "upsert d", "upsert e", "upsert f", "delete g"}

	type step struct {
		changes []string
		cp      []byte
	}
	feed := func(cp []byte, size int) []step {
		var out []step
		err := c.ReadChanges(context.Background(), connector.ChangesRequest{Entity: "notes", Checkpoint: cp, BatchSize: size}, func(b connector.ChangeBatch) error {
			s := step{cp: b.Checkpoint}
			for _, ch := range b.Changes {
				s.changes = append(s.changes, fmt.Sprintf("%s %s", ch.Op, ch.Record.ID))
			}
			out = append(out, s)
			return nil
		})
		if err != nil {
			t.Fatalf("ReadChanges: %v", err)
		}
		return out
	}
	flat := func(ss []step) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.changes...)
		}
		return out
	}
	for _, size := range []int{1, 2, 3} {
		steps := feed(nil, size)
		if got := flat(steps); !slices.Equal(got, want) {
			t.Fatalf("batch size %d: expected %q, got %q", size, want, got)
		}
		done := 0
		for i, s := range steps {
			done += len(s.changes)
			if got := flat(feed(s.cp, size)); !slices.Equal(got, want[done:]) {
				t.Errorf("batch size %d, resuming after batch %d: expected %q, got %q", size, i, want[done:], got)
			}
		}
	}

	// A later write sorts after every checkpoint taken so far, even when the
	// clock is behind the file's newest time.
	c.now = func() time.Time { return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) }
	steps := feed(nil, 0)
	last := steps[len(steps)-1].cp
	write(t, c, "notes", upsert("a", "changed"))
	if got := flat(feed(last, 0)); !slices.Equal(got, []string{"upsert a"}) {
		t.Errorf("after updating a with a clock behind the file: expected [upsert a], got %q", got)
	}
}

func TestBadLinesNameFileAndLine(t *testing.T) {
	cases := []struct {
		name, line, want string
	}{
		{"not json", `{"id":"x",`, "not a JSON object"},
		{"array", `[1,2]`, "not a JSON object"},
		{"null", `null`, "not a JSON object: null"},
		{"trailing", `{"id":"x","text":"t"} {}`, "unexpected data after the JSON object"},
		{"no key", `{"text":"t"}`, `key field "id" is missing`},
		{"wrong type", `{"id":"x","text":"t","n":"seven"}`, `field "n": want int, got string`},
		{"fraction in int", `{"id":"x","text":"t","n":1.5}`, `field "n": want an integer, got 1.5`},
		{"bad timestamp", `{"id":"x","text":"t","at":"yesterday"}`, `field "at": want an RFC 3339 timestamp`},
		{"undeclared", `{"id":"x","text":"t","colour":"red"}`, `field "colour" is not declared in entities.notes.fields`},
		{"required", `{"id":"x"}`, `required field "text" is missing`},
		{"marker", `{"id":"x","text":"t","_deleted":"yes"}`, `tombstone marker "_deleted" must be true or false`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "notes.jsonl")
			content := `{"id":"a","text":"ok"}` + "\n\n" + tc.line + "\n"
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			c := open(t, dir, notes)
			err := c.Read(context.Background(), connector.ReadRequest{Entity: "notes"}, func([]connector.Record) error { return nil })
			if err == nil {
				t.Fatalf("Read of %q: expected an error, got none", tc.line)
			}
			msg := err.Error()
			if !strings.Contains(msg, path+":3:") || !strings.Contains(msg, tc.want) {
				t.Errorf("Read of %q: expected an error naming %s:3 and saying %q, got %q", tc.line, path, tc.want, msg)
			}
			if connector.CodeOf(err) != connector.InvalidInput {
				t.Errorf("expected code INVALID_INPUT, got %s", connector.CodeOf(err))
			}
			// A write refuses to rewrite a file it cannot read, rather than drop lines.
			if _, err := c.Write(context.Background(), connector.WriteBatch{Entity: "notes", Ops: []connector.WriteOp{upsert("z", "z")}}); err == nil || !strings.Contains(err.Error(), path+":3:") {
				t.Errorf("Write to a file with a bad line: expected the same error, got %v", err)
			}
		})
	}
}

func TestSettingsErrorsNameEachField(t *testing.T) {
	cases := []struct {
		name     string
		settings string
		fields   []string
	}{
		{"missing dir", `{}`, []string{"dir"}},
		{"unknown setting", `{"dir":"/tmp","colour":1}`, []string{"colour"}},
		{"wrong type", `{"dir":5}`, []string{"dir"}},
		{"bad field type", `{"dir":"/tmp","entities":{"a":{"fields":{"id":{"type":"string"},"x":{"type":"text"}}}}}`, []string{"entities.a.fields.x.type"}},
		{"enum without values", `{"dir":"/tmp","entities":{"a":{"fields":{"id":{"type":"string"},"x":{"type":"enum"}}}}}`, []string{"entities.a.fields.x.values"}},
		{"key not declared", `{"dir":"/tmp","entities":{"a":{"key":"code","fields":{"id":{"type":"string"}}}}}`, []string{"entities.a.key"}},
		{"modified not timestamp", `{"dir":"/tmp","entities":{"a":{"modified_field":"m","fields":{"id":{"type":"string"},"m":{"type":"string"}}}}}`, []string{"entities.a.fields.m.type"}},
		{"two problems", `{"batch_size":0,"entities":{"a/b":{}}}`, []string{"dir", "batch_size", "entities"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := New().Configure(context.Background(), connector.ConfigureRequest{Settings: json.RawMessage(tc.settings)})
			if err == nil {
				t.Fatalf("Configure(%s): expected diagnostics, got success", tc.settings)
			}
			ds := connector.AsDiagnostics(err)
			var got []string
			for _, d := range ds {
				got = append(got, d.Field)
				if d.Code != connector.InvalidInput {
					t.Errorf("diagnostic %v: expected code INVALID_INPUT", d)
				}
			}
			for _, f := range tc.fields {
				found := false
				for _, g := range got {
					found = found || g == f || strings.HasPrefix(g, f+".")
				}
				if !found {
					t.Errorf("Configure(%s): expected a diagnostic for %q, got fields %q (%v)", tc.settings, f, got, err)
				}
			}
		})
	}
}

func TestInferredEntity(t *testing.T) {
	dir := t.TempDir()
	content := `{"id":1,"price":3,"tags":["a"],"ok":true,"extra":{"x":1}}
{"id":2,"price":2.5,"tags":[],"ok":false,"note":null,"when":"2026-01-01T00:00:00Z"}
`
	if err := os.WriteFile(filepath.Join(dir, "items.jsonl"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	c := open(t, dir, nil)
	s, err := c.DiscoverSchema(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if errs := s.Validate(); len(errs) > 0 {
		t.Fatalf("inferred schema is invalid: %v", errs)
	}
	e, ok := s.Entity("items")
	if !ok {
		t.Fatalf("expected entity items, got %q", s.EntityNames())
	}
	want := map[string]schema.Kind{"id": schema.Int, "price": schema.Double, "tags": schema.Collection, "ok": schema.Bool, "extra": schema.Any, "note": schema.Any, "when": schema.String}
	for name, k := range want {
		f, ok := e.Field(name)
		if !ok || f.Type.Kind != k {
			t.Errorf("inferred field %s: expected kind %s, got %+v", name, k, f)
		}
	}
	if e.Capabilities.Changes {
		t.Errorf("an entity without modified_field: expected no change feed")
	}
	var recs []connector.Record
	if err := c.Read(context.Background(), connector.ReadRequest{Entity: "items"}, func(rs []connector.Record) error {
		recs = append(recs, rs...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if p, ok := recs[0].Fields["price"].(float64); !ok || p != 3 {
		t.Errorf("price 3 in a double field: expected float64(3), got %T %v", recs[0].Fields["price"], recs[0].Fields["price"])
	}
	if id, ok := recs[1].Fields["id"].(int64); !ok || id != 2 || recs[1].ID != "2" {
		t.Errorf("integral id: expected int64 2 and ID \"2\", got %T %v and %q", recs[1].Fields["id"], recs[1].Fields["id"], recs[1].ID)
	}
	err = c.ReadChanges(context.Background(), connector.ChangesRequest{Entity: "items"}, func(connector.ChangeBatch) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "no modified_field") {
		t.Errorf("ReadChanges on an entity without modified_field: expected an error saying so, got %v", err)
	}
}

func TestDeclaredValuesConvert(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, map[string]any{"e": map[string]any{"fields": map[string]any{
		"id": map[string]any{"type": "int"},
		"d":  map[string]any{"type": "double"},
		"ts": map[string]any{"type": "timestamp"},
		"dt": map[string]any{"type": "date"},
		"b":  map[string]any{"type": "bytes"},
	}}})
	ts := time.Date(2026, 5, 1, 10, 0, 0, 123456789, time.FixedZone("", -5*3600))
	outs := write(t, c, "e", connector.WriteOp{Action: connector.ActionUpsert, Record: connector.Record{Fields: map[string]any{
		"id": int64(7), "d": int64(2), "ts": ts, "dt": connector.Date{Year: 2026, Month: 2, Day: 3}, "b": []byte{0, 1, 2},
	}}})
	if outs[0].Status != connector.Created || outs[0].TargetID != "7" {
		t.Fatalf("create: expected Created with TargetID 7, got %s %q %v", outs[0].Status, outs[0].TargetID, outs[0].Diagnostics)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "e.jsonl"))
	if want := `{"b":"AAEC","d":2,"dt":"2026-02-03","id":7,"ts":"2026-05-01T10:00:00.123456789-05:00"}` + "\n"; string(raw) != want {
		t.Errorf("file content: expected %s, got %s", want, raw)
	}
	recs, err := c.Query(context.Background(), connector.QueryRequest{Entity: "e", Match: map[string]any{"ts": "2026-05-01T15:00:00.123456789Z"}})
	if err != nil || len(recs) != 1 {
		t.Fatalf("Query by the same instant in UTC: expected 1 record, got %d, %v", len(recs), err)
	}
	r := recs[0]
	if v, ok := r.Fields["d"].(float64); !ok || v != 2 {
		t.Errorf("d: expected float64 2, got %T %v", r.Fields["d"], r.Fields["d"])
	}
	if v, ok := r.Fields["ts"].(time.Time); !ok || !v.Equal(ts) {
		t.Errorf("ts: expected %v, got %T %v", ts, r.Fields["ts"], r.Fields["ts"])
	}
	if v, ok := r.Fields["dt"].(connector.Date); !ok || v.String() != "2026-02-03" {
		t.Errorf("dt: expected date 2026-02-03, got %T %v", r.Fields["dt"], r.Fields["dt"])
	}
	if v, ok := r.Fields["b"].([]byte); !ok || string(v) != "\x00\x01\x02" {
		t.Errorf("b: expected bytes 00 01 02, got %T %v", r.Fields["b"], r.Fields["b"])
	}
	bad := write(t, c, "e", connector.WriteOp{Action: connector.ActionUpsert, TargetID: "x"})
	if bad[0].Status != connector.Rejected || len(bad[0].Diagnostics) != 1 || bad[0].Diagnostics[0].Field != "id" {
		t.Errorf("TargetID x for an int key: expected Rejected naming id, got %s %v", bad[0].Status, bad[0].Diagnostics)
	}
}

func TestIdempotencyKeyIsTheKeyOfARecordWithout(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, nil)
	op := connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "run-1/rec-9", Record: connector.Record{Fields: map[string]any{"name": "x"}}}
	first := write(t, c, "things", op)
	again := write(t, c, "things", op)
	if first[0].Status != connector.Created || again[0].Status != connector.Unchanged {
		t.Errorf("create then retry: expected created, unchanged; got %s, %s", first[0].Status, again[0].Status)
	}
	if first[0].TargetID != "run-1/rec-9" || again[0].TargetID != first[0].TargetID {
		t.Errorf("TargetIDs: expected run-1/rec-9 twice, got %q and %q", first[0].TargetID, again[0].TargetID)
	}
	if ids := readIDs(t, c, "things"); len(ids) != 1 {
		t.Errorf("after a retried create: expected 1 record, got %q", ids)
	}
	noKey := write(t, c, "things", connector.WriteOp{Action: connector.ActionUpsert, Record: connector.Record{Fields: map[string]any{"name": "y"}}})
	if noKey[0].Status != connector.Rejected || noKey[0].Diagnostics[0].Field != "id" {
		t.Errorf("a record with no key and no idempotency key: expected Rejected naming id, got %s %v", noKey[0].Status, noKey[0].Diagnostics)
	}
}

func TestWriteRules(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, notes)
	outs := write(t, c, "notes",
		upsert("a", "one"),
		connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "bad", Record: connector.Record{Fields: map[string]any{"id": "b", "n": "many", "colour": "red"}}},
		upsert("c", "three"),
		connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "ro", Record: connector.Record{Fields: map[string]any{"id": "d", "text": "four", "at": "2000-01-01T00:00:00Z"}}},
	)
	got := []connector.Status{outs[0].Status, outs[1].Status, outs[2].Status, outs[3].Status}
	if !slices.Equal(got, []connector.Status{connector.Created, connector.Rejected, connector.Created, connector.Created}) {
		t.Fatalf("statuses: expected created, rejected, created, created; got %v", got)
	}
	var fields []string
	for _, d := range outs[1].Diagnostics {
		fields = append(fields, d.Field)
	}
	slices.Sort(fields)
	if !slices.Equal(fields, []string{"colour", "n", "text"}) {
		t.Errorf("rejected record: expected diagnostics for colour, n and text, got %q (%v)", fields, outs[1].Diagnostics)
	}
	if at := outs[3].Stored.Fields["at"].(time.Time); at.Year() == 2000 {
		t.Errorf("read-only modified field: expected the connector's stamp, got the written %v", at)
	}
	if outs[0].Version == "" || outs[0].Stored == nil {
		t.Errorf("outcome: expected a version and the stored record, got %+v", outs[0])
	}

	same := write(t, c, "notes", upsert("a", "one"))
	if same[0].Status != connector.Unchanged || same[0].Version != outs[0].Version {
		t.Errorf("same values again: expected unchanged with version %q, got %s %q", outs[0].Version, same[0].Status, same[0].Version)
	}
	upd := write(t, c, "notes", connector.WriteOp{Action: connector.ActionUpsert, TargetID: "a", Record: connector.Record{Fields: map[string]any{"text": "uno"}}})
	if upd[0].Status != connector.Updated || upd[0].Version == outs[0].Version {
		t.Errorf("update by TargetID: expected updated with a new version, got %s %q", upd[0].Status, upd[0].Version)
	}
	clash := write(t, c, "notes", connector.WriteOp{Action: connector.ActionUpsert, TargetID: "a", Record: connector.Record{Fields: map[string]any{"id": "z", "text": "t"}}})
	if clash[0].Status != connector.Rejected {
		t.Errorf("record key differing from TargetID: expected rejected, got %s", clash[0].Status)
	}
	del := write(t, c, "notes", connector.WriteOp{Action: connector.ActionDelete, TargetID: "c"}, connector.WriteOp{Action: connector.ActionDelete, TargetID: "never"})
	if del[0].Status != connector.Deleted || del[1].Status != connector.Deleted {
		t.Errorf("delete existing and absent: expected deleted twice, got %s, %s", del[0].Status, del[1].Status)
	}
	if ids := readIDs(t, c, "notes"); !slices.Equal(ids, []string{"a", "d"}) {
		t.Errorf("after deleting c: expected [a d], got %q", ids)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "notes.jsonl"))
	if !strings.Contains(string(raw), `{"_deleted":true,"at":`) || !strings.Contains(string(raw), `"id":"c"}`) {
		t.Errorf("file after delete: expected a tombstone line for c, got\n%s", raw)
	}
	again := write(t, c, "notes", upsert("c", "back"))
	if again[0].Status != connector.Created {
		t.Errorf("writing over a tombstone: expected created, got %s", again[0].Status)
	}
}

func TestConcurrentWritersInOneProcess(t *testing.T) {
	dir := t.TempDir()
	a, b := open(t, dir, notes), open(t, dir, notes)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for w, c := range []*jsonlConnector{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				op := upsert(fmt.Sprintf("w%d-%02d", w, i), "x")
				if _, err := c.Write(context.Background(), connector.WriteBatch{Entity: "notes", Ops: []connector.WriteOp{op}}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Write: %v", err)
	}
	if ids := readIDs(t, a, "notes"); len(ids) != 40 {
		t.Errorf("two writers × 20 records: expected 40 records, got %d: a write was lost", len(ids))
	}
}

func TestLastLineWinsAndAppendedTombstone(t *testing.T) {
	dir := t.TempDir()
	content := `{"id":"a","text":"old","at":"2026-01-01T00:00:00Z"}
{"id":"b","text":"b","at":"2026-01-01T00:00:00Z"}
{"id":"a","text":"new","at":"2026-01-02T00:00:00Z"}
{"id":"b","_deleted":true,"at":"2026-01-03T00:00:00Z"}
`
	if err := os.WriteFile(filepath.Join(dir, "notes.jsonl"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	c := open(t, dir, notes)
	recs, err := c.Query(context.Background(), connector.QueryRequest{Entity: "notes", Match: map[string]any{"id": "a"}})
	if err != nil || len(recs) != 1 || recs[0].Fields["text"] != "new" {
		t.Fatalf("Query a: expected the last line's record (text new), got %v %v", recs, err)
	}
	if ids := readIDs(t, c, "notes"); !slices.Equal(ids, []string{"a"}) {
		t.Errorf("Read: expected [a] (b has a tombstone), got %q", ids)
	}
	if _, err := c.Query(context.Background(), connector.QueryRequest{Entity: "notes", Match: map[string]any{"nope": 1}}); connector.CodeOf(err) != connector.InvalidInput {
		t.Errorf("Query on an undeclared field: expected INVALID_INPUT, got %v", err)
	}
	if err := c.Read(context.Background(), connector.ReadRequest{Entity: "notes", Partition: "x"}, func([]connector.Record) error { return nil }); connector.CodeOf(err) != connector.NotFound {
		t.Errorf("Read of partition x: expected NOT_FOUND, got %v", err)
	}
	if err := c.Read(context.Background(), connector.ReadRequest{Entity: "ghosts"}, func([]connector.Record) error { return nil }); connector.CodeOf(err) != connector.NotFound {
		t.Errorf("Read of an entity with no file and no declaration: expected NOT_FOUND, got %v", err)
	}
	var since []string
	if err := c.Read(context.Background(), connector.ReadRequest{Entity: "notes", ModifiedSince: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}, func(rs []connector.Record) error {
		for _, r := range rs {
			since = append(since, r.ID)
		}
		return nil
	}); err != nil || !slices.Equal(since, []string{"a"}) {
		t.Errorf("Read modified since Jan 2: expected [a], got %q %v", since, err)
	}
}

func TestCheck(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent")
	c := open(t, missing, nil)
	ds := c.Check(context.Background())
	if len(ds) != 1 || ds[0].Code != connector.NotFound || ds[0].Field != "dir" {
		t.Errorf("Check on a missing dir: expected one NOT_FOUND diagnostic on dir, got %v", ds)
	}
	if _, err := c.Write(context.Background(), connector.WriteBatch{Entity: "x", Ops: []connector.WriteOp{upsert("a", "b")}}); connector.CodeOf(err) != connector.NotFound {
		t.Errorf("Write into a missing dir: expected NOT_FOUND, got %v", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "broken.jsonl"), []byte("{\n"), 0o644)
	ds = open(t, dir, nil).Check(context.Background())
	if len(ds) != 1 || !strings.Contains(ds[0].Summary, "broken.jsonl:1:") {
		t.Errorf("Check with a broken file: expected one diagnostic naming broken.jsonl:1, got %v", ds)
	}
}

func TestInferredFieldsWithChangeFeed(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, map[string]any{"log": map[string]any{"key": "ref", "modified_field": "seen"}})
	write(t, c, "log",
		connector.WriteOp{Action: connector.ActionUpsert, Record: connector.Record{Fields: map[string]any{"ref": int64(1), "msg": "a", "seen": "ignored"}}},
		connector.WriteOp{Action: connector.ActionUpsert, Record: connector.Record{Fields: map[string]any{"ref": int64(2), "msg": "b"}}},
	)
	s, err := c.DiscoverSchema(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := s.Entity("log")
	if f, ok := e.Field("seen"); !ok || f.Type.Kind != schema.Timestamp || !f.ReadOnly || !e.Capabilities.Changes {
		t.Errorf("inferred entity with modified_field: expected a read-only timestamp field and a change feed, got %+v", e)
	}
	if f, _ := e.Field("ref"); f.Type.Kind != schema.Int || !f.Required {
		t.Errorf("inferred key ref: expected a required int, got %+v", f)
	}
	var got []string
	err = c.ReadChanges(context.Background(), connector.ChangesRequest{Entity: "log"}, func(b connector.ChangeBatch) error {
		for _, ch := range b.Changes {
			if _, ok := ch.Record.Fields["seen"].(time.Time); !ok {
				t.Errorf("change %s: expected a stamped time in seen, got %T", ch.Record.ID, ch.Record.Fields["seen"])
			}
			got = append(got, ch.Record.ID)
		}
		return nil
	})
	if err != nil || !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("ReadChanges: expected [1 2], got %q %v", got, err)
	}
}

// FuzzReadLines feeds arbitrary file content to the reader: it must return
// records or an INVALID_INPUT error naming the file and a line, never panic.
func FuzzReadLines(f *testing.F) {
	f.Add([]byte(`{"id":"a","text":"x","n":1}` + "\n"))
	f.Add([]byte(`{"id":1.0,"text":"x","at":"2026-01-01T00:00:00Z"}` + "\n\n" + `{"id":"b","_deleted":true}`))
	f.Add([]byte(`{"id":"a"} trailing`))
	f.Add([]byte("[]\nnull\n{\"id\":{}}"))
	f.Fuzz(func(t *testing.T, content []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "notes.jsonl")
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, ents := range []map[string]any{notes, nil} {
			c := open(t, dir, ents)
			err := c.Read(context.Background(), connector.ReadRequest{Entity: "notes"}, func(rs []connector.Record) error {
				for _, r := range rs {
					if r.ID == "" {
						t.Errorf("record with an empty ID")
					}
					if err := r.Normalize(); err != nil {
						t.Errorf("record %q holds a value outside the record types: %v", r.ID, err)
					}
				}
				return nil
			})
			if err != nil && (connector.CodeOf(err) != connector.InvalidInput || !strings.Contains(err.Error(), path+":")) {
				t.Errorf("error: expected INVALID_INPUT naming %s:LINE, got %v", path, err)
			}
		}
	})
}

func TestReadOnlyDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes into read-only directories")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.jsonl"), []byte(`{"id":"a","text":"x"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	c := open(t, dir, notes)
	ds := c.Check(context.Background())
	if len(ds) != 1 || ds[0].Severity != connector.Warning || ds[0].Code != connector.PermissionDenied || ds[0].Field != "dir" {
		t.Errorf("Check on a read-only dir: expected one PERMISSION_DENIED warning on dir, got %v", ds)
	}
	if ids := readIDs(t, c, "notes"); !slices.Equal(ids, []string{"a"}) {
		t.Errorf("Read from a read-only dir: expected [a], got %q", ids)
	}
	if _, err := c.Write(context.Background(), connector.WriteBatch{Entity: "notes", Ops: []connector.WriteOp{upsert("b", "y")}}); connector.CodeOf(err) != connector.PermissionDenied {
		t.Errorf("Write into a read-only dir: expected PERMISSION_DENIED, got %v", err)
	}
}

func TestPermissionFailureIsNotRetryable(t *testing.T) {
	c := open(t, t.TempDir(), notes)
	c.ops.rename = func(o, n string) error { return &os.LinkError{Op: "rename", Old: o, New: n, Err: os.ErrPermission} }
	_, err := c.Write(context.Background(), connector.WriteBatch{Entity: "notes", Ops: []connector.WriteOp{upsert("a", "x")}})
	if code := connector.CodeOf(err); code != connector.PermissionDenied || code.Retryable() {
		t.Errorf("Write whose rename is refused: expected PERMISSION_DENIED (not retryable), got %v", err)
	}
}

func TestGlobCharactersInDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "exports [2026]*")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := open(t, dir, nil)
	stale := filepath.Join(dir, ".things.jsonl.tmp-1")
	os.WriteFile(stale, []byte("{"), 0o600)
	write(t, c, "things", upsert("1", "x"))
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover temporary file in a dir named %q: expected it removed, got %v", dir, err)
	}
	// Keys of mixed types (a string, an integer) and a tombstone still read.
	write(t, c, "things", connector.WriteOp{Action: connector.ActionUpsert, Record: connector.Record{Fields: map[string]any{"id": int64(2)}}})
	write(t, c, "things", connector.WriteOp{Action: connector.ActionDelete, TargetID: "1"})
	if ids := readIDs(t, c, "things"); !slices.Equal(ids, []string{"2"}) {
		t.Errorf("after deleting 1: expected [2], got %q", ids)
	}
}

// TestQueryNumbersOfKindAny: a file has one number type, so a Query on a
// field of kind any (or a list) matches 3 and 3.0 alike, before and after
// the file is read again (which gives integral numbers back as int64),
// while values compare strictly otherwise.
func TestQueryNumbersOfKindAny(t *testing.T) {
	dir := t.TempDir()
	entities := map[string]any{"e": map[string]any{"fields": map[string]any{
		"id": map[string]any{"type": "string"},
		"v":  map[string]any{"type": "any"},
	}}}
	c := open(t, dir, entities)
	write(t, c, "e",
		connector.WriteOp{Action: connector.ActionUpsert, Record: connector.Record{Fields: map[string]any{"id": "a", "v": 3.0}}},
		connector.WriteOp{Action: connector.ActionUpsert, Record: connector.Record{Fields: map[string]any{"id": "b", "v": map[string]any{"n": int64(2), "l": []any{1.5, 4.0}}}}},
		connector.WriteOp{Action: connector.ActionUpsert, Record: connector.Record{Fields: map[string]any{"id": "c", "v": "3"}}},
	)
	query := func(c *jsonlConnector, v any) []string {
		t.Helper()
		recs, err := c.Query(context.Background(), connector.QueryRequest{Entity: "e", Match: map[string]any{"v": v}})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		return ids
	}
	for round, c := range []*jsonlConnector{c, open(t, dir, entities)} {
		for _, v := range []any{int64(3), 3.0} {
			if got := query(c, v); !slices.Equal(got, []string{"a"}) {
				t.Errorf("round %d: Query v=%T %v: want [a], got %v", round, v, v, got)
			}
		}
		if got := query(c, map[string]any{"n": 2.0, "l": []any{1.5, int64(4)}}); !slices.Equal(got, []string{"b"}) {
			t.Errorf("round %d: Query by an object with the same numbers: want [b], got %v", round, got)
		}
		if got := query(c, 3.5); len(got) != 0 {
			t.Errorf("round %d: Query v=3.5: want nothing, got %v", round, got)
		}
	}
}

// TestUpdateSetsOnlyTheFieldsItCarries: an update is a merge — fields the
// record leaves out keep their stored values, a field sent as null is
// cleared — so a two-way pipeline's update of the changed fields alone
// loses nothing.
func TestUpdateSetsOnlyTheFieldsItCarries(t *testing.T) {
	c := open(t, t.TempDir(), notes)
	first := write(t, c, "notes", connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "k",
		Record: connector.Record{Fields: map[string]any{"id": "a", "text": "one", "n": int64(7)}}})
	if first[0].Status != connector.Created {
		t.Fatalf("create: got %s %v", first[0].Status, first[0].Diagnostics)
	}
	upd := write(t, c, "notes", connector.WriteOp{Action: connector.ActionUpsert, TargetID: "a",
		Record: connector.Record{Fields: map[string]any{"n": int64(8)}}})
	if upd[0].Status != connector.Updated {
		t.Fatalf("update of n alone: expected updated, got %s %v", upd[0].Status, upd[0].Diagnostics)
	}
	if got := upd[0].Stored.Fields; got["text"] != "one" || got["n"] != int64(8) {
		t.Errorf("update of n alone: expected text one and n 8, got %v", got)
	}
	clr := write(t, c, "notes", connector.WriteOp{Action: connector.ActionUpsert, TargetID: "a",
		Record: connector.Record{Fields: map[string]any{"n": nil}}})
	if clr[0].Status != connector.Updated {
		t.Fatalf("clearing n: expected updated, got %s %v", clr[0].Status, clr[0].Diagnostics)
	}
	if got := clr[0].Stored.Fields; got["text"] != "one" || got["n"] != nil {
		t.Errorf("clearing n: expected text one and n null, got %v", got)
	}
	same := write(t, c, "notes", connector.WriteOp{Action: connector.ActionUpsert, TargetID: "a",
		Record: connector.Record{Fields: map[string]any{"text": "one"}}})
	if same[0].Status != connector.Unchanged {
		t.Errorf("update to the stored value: expected unchanged, got %s", same[0].Status)
	}
}
