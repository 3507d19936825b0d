package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncplane/syncplane/host/store"
)

func TestStatusAndResolveConflicts(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(file, []byte(`connections:
  left: { connector: jsonl, settings: { dir: ./left } }
  right: { connector: jsonl, settings: { dir: ./right } }
pipelines:
  - name: people
    from: { connection: left, entity: people }
    to: { connection: right, entity: people }
    mode: two-way
    mapping: { name: name }
    reverse_mapping: { name: name }
  - name: oneway
    from: { connection: left, entity: people }
    to: { connection: right, entity: people }
    mapping: { name: name }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(store.SecretKeyEnv, "")
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "syncplane.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = st.CommitTwoWay(ctx, store.TwoWayCommit{Pipeline: "people", Conflicts: []store.Conflict{{
		AID: "a-1", BID: "b-1", Fields: []string{"name"},
		A: []byte(`{"id":"a-1","fields":{"name":"Ann from a"}}`), BDeleted: true,
	}}})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCmd(t, "status", "-c", file)
	if err != nil {
		t.Fatalf("status: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "Open conflicts (1)") || !strings.Contains(out, "a-1") || !strings.Contains(out, "b-1 (deleted)") {
		t.Errorf("status does not show the conflict:\n%s", out)
	}
	out, _, err = runCmd(t, "status", "-c", file, "--json")
	var rows []statusRow
	if err != nil || json.Unmarshal([]byte(out), &rows) != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	found := false
	for _, r := range rows {
		for _, c := range r.Conflicts {
			found = found || (c.AID == "a-1" && c.BDeleted && strings.Contains(string(c.AVersion), "Ann from a"))
		}
	}
	if !found {
		t.Errorf("status --json lacks the conflict with its versions:\n%s", out)
	}
	out, _, err = runCmd(t, "resolve", "people", "-c", file)
	if err != nil || !strings.Contains(out, "Conflict 1 (open)") || !strings.Contains(out, `"Ann from a"`) || !strings.Contains(out, "(deleted)") {
		t.Errorf("resolve listing: %v\n%s", err, out)
	}
	for _, bad := range [][]string{
		{"resolve", "people", "1", "--take", "c"},
		{"resolve", "people", "1"},
		{"resolve", "people", "7", "--take", "a"},
		{"resolve", "oneway", "1", "--take", "a"},
		{"resolve", "nope", "1", "--take", "a"},
	} {
		if _, _, err := runCmd(t, append(bad, "-c", file)...); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
	out, stderr, err = runCmd(t, "resolve", "people", "1", "--take", "to", "-c", file)
	if err != nil || !strings.Contains(out, "the next run takes the values of right people for the fields both sides changed, keeps the other changes of left people") {
		t.Fatalf("resolve: %v\n%s%s", err, out, stderr)
	}
	out, _, _ = runCmd(t, "status", "-c", file)
	if !strings.Contains(out, "take b at the next run") {
		t.Errorf("status after resolve:\n%s", out)
	}
}
