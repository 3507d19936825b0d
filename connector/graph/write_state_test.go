package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

// TestWriteStateExpires: the created/, occurrence/ and series/ entries the
// write path keeps are deleted by later writes once past their lifetime —
// created/ entries a retention after the create, an occurrence's entry a
// retention after its start left the sync window, a series' when all its
// occurrences' did — while entries of earlier versions (no date) are dated
// and kept, and what is still in its lifetime stays.
func TestWriteStateExpires(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e := startEmu(t, graphtest.Options{Users: 1, Now: clock})
	conn := e.delegated(t, nil, WithClock(clock))
	ctx := context.Background()
	vals := conn.host.Values()
	const user = "user1@contoso.com"
	for _, ent := range []string{"contact", "event"} {
		if _, err := conn.ListPartitions(ctx, ent); err != nil {
			t.Fatal(err)
		}
	}
	count := func() map[string]int {
		t.Helper()
		n, err := conn.writeStateKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	contact := func(key string) {
		t.Helper()
		out := writeOne(t, conn, "contact", connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: key,
			Record: connector.Record{Fields: map[string]any{"user": user, "givenName": key}}})
		if out.Status != connector.Created {
			t.Fatalf("%s: %+v", key, out)
		}
	}
	contact("c1")
	contact("c2")
	start := now.Add(24 * time.Hour)
	series := writeOne(t, conn, "event", connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "s1", Record: connector.Record{Fields: map[string]any{
		"user": user, "subject": "daily", "start": graphTime(start), "end": graphTime(start.Add(time.Hour)),
		"recurrence": map[string]any{
			"pattern": map[string]any{"type": "daily", "interval": int64(1)},
			"range":   map[string]any{"type": "numbered", "startDate": start.Format(time.DateOnly), "numberOfOccurrences": int64(3)},
		}}}})
	if series.Status != connector.Created {
		t.Fatalf("series: %+v", series)
	}
	// Entries as an earlier version kept them: no date.
	_ = vals.Put(ctx, "created/contact/legacy", []byte(`{"mailbox":"`+user+`","id":"AAMkold"}`))
	_ = vals.Put(ctx, "occurrence/"+user+"/legacy-occ", []byte("legacy-master"))
	if got := count(); got["created"] != 3 || got["occurrence"] != 4 || got["series"] != 1 {
		t.Fatalf("after the writes: %v", got)
	}

	// Two days on: nothing has expired; the undated entries get a date and
	// the legacy occurrence still finds its master.
	advance(48 * time.Hour)
	contact("c3")
	if got := count(); got["created"] != 4 || got["occurrence"] != 4 || got["series"] != 1 {
		t.Fatalf("two days on: %v", got)
	}
	var legacy createdRef
	b, _, _ := vals.Get(ctx, "created/contact/legacy")
	if json.Unmarshal(b, &legacy); legacy.At != now.Unix() || legacy.ID != "AAMkold" {
		t.Fatalf("legacy created entry not dated: %s", b)
	}
	if ts := conn.eventTombstone(ctx, "legacy-occ", user); ts.Fields["seriesMasterId"] != "legacy-master" {
		t.Fatalf("legacy occurrence tombstone: %v", ts.Fields)
	}
	occ, _ := conn.SeriesOccurrences(ctx, user, series.TargetID)
	if ts := conn.eventTombstone(ctx, occ[1], user); ts.Fields["seriesMasterId"] != series.TargetID {
		t.Fatalf("occurrence tombstone: %v", ts.Fields)
	}

	// Six more days: c1, c2 (8 days old) go, the legacy entry (dated 6
	// days ago) and c3 stay. The occurrences started 5–7 days ago, inside
	// the one-month window: they stay.
	advance(6 * 24 * time.Hour)
	contact("c4")
	if got := count(); got["created"] != 3 || got["occurrence"] != 4 || got["series"] != 1 {
		t.Fatalf("eight days on: %v", got)
	}
	if _, ok, _ := vals.Get(ctx, createdKey("contact", "c1")); ok {
		t.Fatal("c1's entry outlived its lifetime")
	}
	// A sweep runs at most once an hour: a write within it deletes nothing.
	_ = vals.Put(ctx, createdKey("contact", "stale"), []byte(fmt.Sprintf(`{"mailbox":"%s","id":"x","at":%d}`, user, now.Add(-30*24*time.Hour).Unix())))
	contact("c5")
	if got := count(); got["created"] != 5 {
		t.Fatalf("a second sweep within the hour: %v", got)
	}

	// Past the window (one month) and a retention beyond the last
	// occurrence: the occurrences and the series go, with every created/
	// entry but the newest.
	advance(50 * 24 * time.Hour)
	contact("c6")
	if got := count(); got["created"] != 1 || got["occurrence"] != 0 || got["series"] != 0 {
		t.Fatalf("fifty days on: %v", got)
	}
	if occ, _ := conn.SeriesOccurrences(ctx, user, series.TargetID); len(occ) != 0 {
		t.Fatalf("series entry outlived its occurrences: %v", occ)
	}
}

// TestWriteStateSweepBounded: one Write deletes at most sweepBudget
// expired entries; the sweep goes on at the next calls until none is left,
// and only then waits for the next interval.
func TestWriteStateSweepBounded(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := startEmu(t, graphtest.Options{Users: 1, Now: clock})
	conn := e.delegated(t, nil, WithClock(clock))
	ctx := context.Background()
	vals := conn.host.Values()
	old := now.Add(-30 * 24 * time.Hour).Unix()
	const stale = 2*sweepBudget + 200
	for i := range stale {
		_ = vals.Put(ctx, createdKey("contact", fmt.Sprint("old-", i)), []byte(fmt.Sprintf(`{"mailbox":"user1@contoso.com","id":"x%d","at":%d}`, i, old)))
	}
	if _, err := conn.ListPartitions(ctx, "contact"); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{stale - sweepBudget + 1, stale - 2*sweepBudget + 2, 3, 4} {
		writeOne(t, conn, "contact", connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: fmt.Sprint("new-", i),
			Record: connector.Record{Fields: map[string]any{"user": "user1@contoso.com", "givenName": "N"}}})
		n, _ := conn.writeStateKeys(ctx)
		if n["created"] != want {
			t.Fatalf("after write %d: %d created/ entries, want %d", i+1, n["created"], want)
		}
	}
}
