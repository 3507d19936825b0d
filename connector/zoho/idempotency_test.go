package zoho_test

import (
	"context"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/zoho"
	"github.com/syncplane/syncplane/connector/zoho/zohotest"
)

// TestIdempotencyKeysPruned: the id kept under an idempotency key serves a
// retried create within the retention, and keys older than
// IdempotencyRetention are deleted by a later write; a bare id kept by an
// earlier version is dated at the first sweep and goes one retention later.
func TestIdempotencyKeysPruned(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	srv := startEmulator(t, zohotest.Options{Now: clock.now, AccessTokenLifetime: 10000 * time.Hour})
	host := &connector.MemoryHost{}
	ctx := context.Background()
	if err := host.Values().Put(ctx, "zoho/idem/Contacts/legacy", []byte("123")); err != nil {
		t.Fatal(err)
	}
	c, raw := openRaw(t, srv, host, nil)
	zoho.SetClock(raw, clock.now)
	keys := func() map[string]bool {
		t.Helper()
		kvs, err := host.Values().List(ctx, "zoho/idem/")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, kv := range kvs {
			out[kv.Key] = true
		}
		return out
	}
	write := func(ops []connector.WriteOp) []connector.WriteOutcome {
		t.Helper()
		outs, err := c.Write(ctx, connector.WriteBatch{Entity: "Contacts", Ops: ops})
		if err != nil {
			t.Fatal(err)
		}
		return outs
	}
	first := write(contactOps("old", 3))
	if k := keys(); len(k) != 4 || !k["zoho/idem/Contacts/old-0"] || !k["zoho/idem/Contacts/legacy"] {
		t.Fatalf("after the first write: want old-0..2 and legacy kept, got %v", k)
	}
	// Within the hour no second sweep runs, so a bare id is still dated
	// from the first.
	clock.add(30 * time.Minute)
	write(contactOps("mid", 1))
	if !keys()["zoho/idem/Contacts/legacy"] {
		t.Fatalf("the bare id kept by an earlier version was deleted without a retention")
	}
	// A retry six days later still finds the record.
	clock.add(6*24*time.Hour - 30*time.Minute)
	if again := write(contactOps("old", 1)); again[0].TargetID != first[0].TargetID || again[0].Status != connector.Updated {
		t.Errorf("retry within the retention: want an update of %s, got %+v", first[0].TargetID, again[0])
	}
	// Past the retention the old keys go; the new ones stay.
	clock.add(2 * 24 * time.Hour)
	write(contactOps("new", 2))
	k := keys()
	if k["zoho/idem/Contacts/old-0"] || k["zoho/idem/Contacts/old-2"] || k["zoho/idem/Contacts/mid-0"] || !k["zoho/idem/Contacts/new-0"] || !k["zoho/idem/Contacts/new-1"] {
		t.Errorf("after eight days: want old-* pruned and new-* kept, got %v", k)
	}
	if k["zoho/idem/Contacts/legacy"] {
		t.Errorf("the bare id kept by an earlier version, dated at the first sweep, outlived the retention")
	}
	clock.add(zoho.IdempotencyRetention + time.Hour)
	write(contactOps("later", 1))
	if k := keys(); len(k) != 1 || !k["zoho/idem/Contacts/later-0"] {
		t.Errorf("after another retention: want only later-0, got %v", k)
	}
}
