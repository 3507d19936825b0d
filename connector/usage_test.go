package connector

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"
)

func usageOf(t *testing.T, h Host, key string) map[string]json.RawMessage {
	t.Helper()
	b, ok, err := h.Values().Get(context.Background(), key)
	if err != nil || !ok {
		t.Fatalf("no %s in the value store (%v)", key, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s is not a JSON object: %s", key, b)
	}
	return m
}

// TestAddUsage: counters add up per UTC day under usage/YYYY-MM-DD, other
// members of the day's object are kept, a member that is not an integer
// or a value that is not an object starts again, and zero deltas write
// nothing.
func TestAddUsage(t *testing.T) {
	ctx := context.Background()
	h := &MemoryHost{}
	// 23:30 at -02:00 is the next UTC day.
	at := time.Date(2026, 5, 1, 23, 30, 0, 0, time.FixedZone("", -2*3600))
	if k := UsageKey(at); k != "usage/2026-05-02" {
		t.Fatalf("UsageKey: want usage/2026-05-02, got %s", k)
	}
	if err := h.Values().Put(ctx, "usage/2026-05-02", []byte(`{"credits":9,"note":"kept","requests":"x"}`)); err != nil {
		t.Fatal(err)
	}
	if err := AddUsage(ctx, h, at, map[string]int64{"requests": 3, "credits": 2}); err != nil {
		t.Fatal(err)
	}
	if err := AddUsage(ctx, h, at.Add(time.Minute), map[string]int64{"requests": 4, "throttled": 0}); err != nil {
		t.Fatal(err)
	}
	m := usageOf(t, h, "usage/2026-05-02")
	if string(m["requests"]) != "7" || string(m["credits"]) != "11" || string(m["note"]) != `"kept"` || string(m["throttled"]) != "0" {
		t.Errorf("day totals: got %v", m)
	}
	if err := AddUsage(ctx, h, at.Add(24*time.Hour), map[string]int64{"requests": 0}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := h.Values().Get(ctx, "usage/2026-05-03"); ok {
		t.Errorf("a zero delta wrote the next day's totals")
	}
	for _, bad := range []string{`[1,2]`, `null`, `not json`} {
		if err := h.Values().Put(ctx, "usage/2026-06-01", []byte(bad)); err != nil {
			t.Fatal(err)
		}
		if err := AddUsage(ctx, h, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), map[string]int64{"requests": 5}); err != nil {
			t.Fatalf("over %s: %v", bad, err)
		}
		if m := usageOf(t, h, "usage/2026-06-01"); len(m) != 1 || string(m["requests"]) != "5" {
			t.Errorf("over %s: want a new day {requests:5}, got %v", bad, m)
		}
	}
}

// failingValues fails every Put while fail is set.
type failingValues struct {
	MemoryStore
	mu   sync.Mutex
	fail bool
}

func (f *failingValues) Put(ctx context.Context, k string, v []byte) error {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return errors.New("store down")
	}
	return f.MemoryStore.Put(ctx, k, v)
}

type valuesHost struct{ v Store }

func (h valuesHost) Secrets() Store { return &MemoryStore{} }
func (h valuesHost) Values() Store  { return h.v }

// TestUsageSaver: each Save adds what the running counters gained since
// the last successful one; a failed Save's gain is added by the next, and
// concurrent saves add every gain exactly once.
func TestUsageSaver(t *testing.T) {
	ctx := context.Background()
	fv := &failingValues{}
	h := valuesHost{fv}
	day := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	total := map[string]int64{"requests": 0}
	bump := func(n int64) {
		mu.Lock()
		total["requests"] += n
		mu.Unlock()
	}
	totals := func() map[string]int64 {
		mu.Lock()
		defer mu.Unlock()
		return map[string]int64{"requests": total["requests"]}
	}
	var s UsageSaver
	bump(5)
	if err := s.Save(ctx, h, day, totals); err != nil {
		t.Fatal(err)
	}
	bump(2)
	fv.fail = true
	if err := s.Save(ctx, h, day, totals); err == nil {
		t.Fatal("Save over a failing store: want an error")
	}
	fv.fail = false
	bump(1)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			bump(1)
			if err := s.Save(ctx, h, day, totals); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if m := usageOf(t, h, UsageKey(day)); string(m["requests"]) != "28" {
		t.Errorf("want 5+2+1+20 = 28 requests in the day's totals, got %s", m["requests"])
	}
}
