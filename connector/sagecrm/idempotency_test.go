package sagecrm_test

import (
	"context"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/sagecrm"
	"github.com/syncplane/syncplane/connector/sagecrm/sagecrmtest"
)

// TestIdempotencyKeysPruned: a retried create within the retention updates
// the record it made; keys older than IdempotencyRetention are deleted by a
// later write, and a bare id kept by an earlier version goes one retention
// after the first sweep dated it.
func TestIdempotencyKeysPruned(t *testing.T) {
	e := newEnv(t, sagecrmtest.Options{}, "", nil)
	ctx := context.Background()
	if err := e.host.Values().Put(ctx, "idem/company/legacy", []byte("77")); err != nil {
		t.Fatal(err)
	}
	raw := sagecrm.New()
	c := connector.Local(raw)
	t.Cleanup(func() { c.Close() })
	if err := c.Configure(ctx, connector.ConfigureRequest{Settings: e.settings(nil), Host: e.host}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	sagecrm.SetClock(raw, func() time.Time { return now })
	write := func(key, name string) connector.WriteOutcome {
		t.Helper()
		outs, err := c.Write(ctx, connector.WriteBatch{Entity: "company", Ops: []connector.WriteOp{upsert(key, "", map[string]any{"comp_name": name})}})
		if err != nil {
			t.Fatal(err)
		}
		return outs[0]
	}
	kept := func() map[string]bool {
		t.Helper()
		kvs, err := e.host.Values().List(ctx, "idem/")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, kv := range kvs {
			out[kv.Key] = true
		}
		return out
	}
	first := write("old", "Acme")
	if k := kept(); len(k) != 2 || !k["idem/company/old"] || !k["idem/company/legacy"] {
		t.Fatalf("after the first write: want old and legacy kept, got %v", k)
	}
	now = now.Add(6 * 24 * time.Hour)
	if again := write("old", "Acme"); again.TargetID != first.TargetID || again.Status != connector.Unchanged {
		t.Errorf("retry within the retention: want Unchanged %s, got %+v", first.TargetID, again)
	}
	now = now.Add(2 * 24 * time.Hour)
	write("new", "Beta")
	if k := kept(); len(k) != 1 || !k["idem/company/new"] {
		t.Errorf("after eight days: want only new kept (old and legacy past the retention), got %v", k)
	}
	if n := len(e.srv.Rows("company")); n != 2 {
		t.Errorf("want 2 companies, got %d", n)
	}
}
