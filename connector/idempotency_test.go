package connector

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"
)

// TestIdempotencyKeys: a remembered id is found under its scope and key
// until a sweep past the retention deletes it; sweeps run at most once per
// IdempotencyPruneInterval; a bare id kept by an earlier version is dated
// by the first sweep and goes one retention later; keys outside the prefix
// are left alone.
func TestIdempotencyKeys(t *testing.T) {
	ctx := context.Background()
	h := &MemoryHost{}
	v := h.Values()
	for k, val := range map[string]string{"x/idem/Contacts/legacy": "77", "x/other": "keep", "y/idem/Contacts/a": `{"id":"1","at":1}`} {
		if err := v.Put(ctx, k, []byte(val)); err != nil {
			t.Fatal(err)
		}
	}
	keys := NewIdempotencyKeys(v, "x/idem/", 0)
	if keys.retention != DefaultIdempotencyRetention {
		t.Fatalf("retention 0: want the default, got %v", keys.retention)
	}
	kept := func() []string {
		t.Helper()
		kvs, err := v.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, kv := range kvs {
			m[kv.Key] = true
		}
		return slices.Sorted(maps.Keys(m))
	}
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	if id, ok, err := keys.Lookup(ctx, "Contacts", "legacy"); err != nil || !ok || id != "77" {
		t.Errorf("bare id: want 77, got %q %v %v", id, ok, err)
	}
	if _, ok, err := keys.Lookup(ctx, "Contacts", "none"); err != nil || ok {
		t.Errorf("unknown key: want not found, got %v %v", ok, err)
	}
	if err := keys.Prune(ctx, now); err != nil { // dates legacy at now
		t.Fatal(err)
	}
	if err := keys.Remember(ctx, "Contacts", "k1", "100", now); err != nil {
		t.Fatal(err)
	}
	if id, ok, err := keys.Lookup(ctx, "Contacts", "k1"); err != nil || !ok || id != "100" {
		t.Errorf("remembered id: want 100, got %q %v %v", id, ok, err)
	}
	if _, ok, _ := keys.Lookup(ctx, "Accounts", "k1"); ok {
		t.Errorf("a key of another scope was found")
	}
	if err := keys.Remember(ctx, "Contacts", "k2", "200", now.Add(2*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Past the retention of k1 and legacy, but within the hour of the last
	// sweep: nothing goes.
	keys.lastPrune = now.Add(DefaultIdempotencyRetention + time.Minute)
	if err := keys.Prune(ctx, now.Add(DefaultIdempotencyRetention+30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := kept(); len(got) != 5 {
		t.Errorf("a sweep ran within the interval: %v", got)
	}
	if err := keys.Prune(ctx, now.Add(DefaultIdempotencyRetention+2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, want := kept(), []string{"x/idem/Contacts/k2", "x/other", "y/idem/Contacts/a"}; !slices.Equal(got, want) {
		t.Errorf("after the retention: want %v, got %v", want, got)
	}
	if err := keys.Prune(ctx, now.Add(2*24*time.Hour+DefaultIdempotencyRetention+2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, want := kept(), []string{"x/other", "y/idem/Contacts/a"}; !slices.Equal(got, want) {
		t.Errorf("after k2's retention: want %v, got %v", want, got)
	}
}
