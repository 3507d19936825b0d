package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

func graphTime(t time.Time) map[string]any {
	return map[string]any{"dateTime": t.UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"}
}

func attendee(addr string) map[string]any {
	return map[string]any{"type": "required", "emailAddress": map[string]any{"address": addr, "name": addr}}
}

func subjects(chs []connector.Change) map[string][]connector.Change {
	out := map[string][]connector.Change{}
	for _, ch := range chs {
		s, _ := ch.Record.Fields["subject"].(string)
		out[s] = append(out[s], ch)
	}
	return out
}

// TestEmulatorDedup reads overlapping mailboxes in both orders: a meeting
// organized by a selected user arrives once, from the organizer; a meeting
// organized outside the selection arrives from each selected attendee with
// the other selected attendees removed.
func TestEmulatorDedup(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 4})
	u := e.srv.Users()
	a, b, c, outsider := strings.ToLower(u[0].UserPrincipalName), strings.ToLower(u[1].UserPrincipalName), strings.ToLower(u[2].UserPrincipalName), strings.ToLower(u[3].UserPrincipalName)
	start := time.Now().Add(72 * time.Hour).Truncate(time.Hour)
	if _, err := e.srv.PutEvent(a, map[string]any{"subject": "internal", "start": graphTime(start), "end": graphTime(start.Add(time.Hour)),
		"attendees": []any{attendee(b), attendee(c), attendee("x@fabrikam.com")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.PutEvent(outsider, map[string]any{"subject": "external", "start": graphTime(start.Add(2 * time.Hour)), "end": graphTime(start.Add(3 * time.Hour)),
		"attendees": []any{attendee(b), attendee(c), attendee("x@fabrikam.com")}}); err != nil {
		t.Fatal(err)
	}
	for _, order := range [][]string{{a, b, c}, {c, b, a}} {
		conn := e.delegated(t, map[string]any{"users": map[string]any{"list": a + ";" + b + ";" + c}})
		if _, err := conn.ListPartitions(context.Background(), "event"); err != nil {
			t.Fatal(err)
		}
		var all []connector.Change
		for _, mb := range order {
			chs, _, _ := readAll(t, conn, "event", mb, nil)
			all = append(all, chs...)
		}
		bySubject := subjects(all)
		if got := bySubject["internal"]; len(got) != 1 || got[0].Record.Partition != a {
			t.Errorf("order %v: internal meeting emitted %d times (want once, from the organizer %s): %+v", order, len(got), a, got)
		}
		ext := bySubject["external"]
		if len(ext) != 2 {
			t.Fatalf("order %v: external meeting emitted %d times, want once per selected attendee", order, len(ext))
		}
		for _, ch := range ext {
			var addrs []string
			for _, at := range ch.Record.Fields["attendees"].([]any) {
				addrs = append(addrs, strings.ToLower(addressOf(at)))
			}
			got := strings.Join(addrs, ",")
			if want := ch.Record.Partition + ",x@fabrikam.com"; got != want {
				t.Errorf("order %v: %s keeps attendees %s, want %s", order, ch.Record.Partition, got, want)
			}
		}
	}
}

// TestEmulatorSeriesWhole creates a weekly series reaching before the
// window: its occurrences outside the window arrive too.
func TestEmulatorSeriesWhole(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 1})
	conn := e.delegated(t, map[string]any{"window": map[string]any{"past_months": 1, "future_months": 1}})
	mb := strings.ToLower(e.srv.Users()[0].UserPrincipalName)
	if _, err := conn.ListPartitions(context.Background(), "event"); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	first := time.Date(now.Year(), now.Month(), now.Day(), 10, 0, 0, 0, time.UTC).AddDate(0, -3, 0)
	last := first.AddDate(0, 5, 0)
	day := strings.ToLower(first.Weekday().String())
	if _, err := e.srv.PutEvent(mb, map[string]any{"subject": "weekly", "start": graphTime(first), "end": graphTime(first.Add(time.Hour)),
		"recurrence": map[string]any{
			"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{day}},
			"range":   map[string]any{"type": "endDate", "startDate": first.Format(time.DateOnly), "endDate": last.Format(time.DateOnly)},
		}}); err != nil {
		t.Fatal(err)
	}
	want := 0
	for d := first; !d.After(last); d = d.AddDate(0, 0, 7) {
		want++
	}
	chs, _, _ := readAll(t, conn, "event", mb, nil)
	ids := map[string]bool{}
	for _, ch := range subjects(chs)["weekly"] {
		ids[ch.Record.ID] = true
	}
	if len(ids) != want {
		t.Errorf("series occurrences read: %d distinct, want all %d from %s to %s", len(ids), want, first.Format(time.DateOnly), last.Format(time.DateOnly))
	}
}

// TestEmulatorDayRollover moves the window with the clock.
func TestEmulatorDayRollover(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := startEmu(t, graphtest.Options{Users: 1, EventsPerUser: 10, Seed: 2, Now: clock})
	conn := e.delegated(t, nil, WithClock(clock))
	mb := strings.ToLower(e.srv.Users()[0].UserPrincipalName)
	if _, err := conn.ListPartitions(context.Background(), "event"); err != nil {
		t.Fatal(err)
	}
	_, cp, _ := readAll(t, conn, "event", mb, nil)
	var before checkpoint
	json.Unmarshal(cp, &before)
	if before.FullDay != "2026-11-23" || !before.WindowStart.Equal(time.Date(2026, 10, 23, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("first checkpoint %+v", before)
	}
	// Same day: a plain delta round.
	chs, cp, resync := readAll(t, conn, "event", mb, cp)
	if len(chs) != 0 || resync {
		t.Errorf("same day: %d changes, resync %v", len(chs), resync)
	}
	mu.Lock()
	now = now.Add(24 * time.Hour)
	mu.Unlock()
	chs, cp, resync = readAll(t, conn, "event", mb, cp)
	var after checkpoint
	json.Unmarshal(cp, &after)
	if after.FullDay != "2026-11-24" || !after.WindowStart.Equal(time.Date(2026, 10, 24, 0, 0, 0, 0, time.UTC)) || !after.WindowEnd.Equal(time.Date(2027, 5, 25, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("after the day changed: %+v", after)
	}
	if resync {
		t.Error("a moving window is not a resync")
	}
	if len(chs) == 0 {
		t.Error("the full query of the new day returned nothing")
	}
}

// TestEmulatorResyncMidPagination expires every token while a round is
// between pages: the round restarts in full, flagged, and nothing is lost.
func TestEmulatorResyncMidPagination(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 1, EventsPerUser: 20, Seed: 4})
	conn := e.delegated(t, map[string]any{"page_size": 3})
	mb := strings.ToLower(e.srv.Users()[0].UserPrincipalName)
	if _, err := conn.ListPartitions(context.Background(), "event"); err != nil {
		t.Fatal(err)
	}
	all, _, _ := readAll(t, conn, "event", mb, nil)
	batches, flagged := 0, false
	seen := map[string]bool{}
	err := conn.ReadChanges(context.Background(), connector.ChangesRequest{Entity: "event", Partition: mb}, func(b connector.ChangeBatch) error {
		batches++
		if batches == 2 {
			e.srv.ExpireDeltaTokens()
		}
		flagged = flagged || b.FullResync
		for _, ch := range b.Changes {
			seen[ch.Record.ID] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !flagged || len(seen) != len(idsOf(all)) {
		t.Errorf("410 mid-round: flagged %v, %d distinct records, want %d", flagged, len(seen), len(idsOf(all)))
	}
}

func idsOf(chs []connector.Change) map[string]bool {
	m := map[string]bool{}
	for _, ch := range chs {
		m[ch.Record.ID] = true
	}
	return m
}

// TestEmulatorThrottleStorm answers 429 and 503 to the delta query several
// times: the read completes, having waited as asked.
func TestEmulatorThrottleStorm(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 1, EventsPerUser: 5, Seed: 8})
	conn := e.delegated(t, nil)
	mb := strings.ToLower(e.srv.Users()[0].UserPrincipalName)
	if _, err := conn.ListPartitions(context.Background(), "event"); err != nil {
		t.Fatal(err)
	}
	e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultThrottle, Path: "/v1.0/users/*/calendarView/delta", Times: 2, RetryAfter: 300 * time.Millisecond})
	e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultUnavailable, Path: "/v1.0/users/*/calendarView/delta", Times: 1})
	e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultReset, Path: "/v1.0/users/*/calendarView/delta", Times: 1})
	began := time.Now()
	chs, _, _ := readAll(t, conn, "event", mb, nil)
	if len(chs) == 0 {
		t.Fatal("nothing read")
	}
	if e.srv.Faults().Pending() != 0 {
		t.Errorf("%d scripted faults never hit", e.srv.Faults().Pending())
	}
	if took := time.Since(began); took < 600*time.Millisecond {
		t.Errorf("read finished in %s, before the two Retry-After waits of 300ms", took)
	}
}

// TestEmulatorOtherEntities reads contacts, To Do tasks and messages with
// their delta queries: creates, updates and deletes arrive.
func TestEmulatorOtherEntities(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 1, ContactsPerUser: 4, TasksPerUser: 4, MessagesPerUser: 4, Seed: 6})
	conn := e.delegated(t, map[string]any{"page_size": 2})
	mb := strings.ToLower(e.srv.Users()[0].UserPrincipalName)
	if _, err := conn.ListPartitions(context.Background(), "contact"); err != nil {
		t.Fatal(err)
	}
	type ops struct {
		put    func() (string, error)
		patch  func(id string) error
		delete func(id string) error
	}
	cases := map[string]ops{
		"contact": {
			put: func() (string, error) {
				return e.srv.PutContact(mb, map[string]any{"givenName": "New", "surname": "Contact"})
			},
			patch:  func(id string) error { return e.srv.PatchContact(mb, id, map[string]any{"jobTitle": "Buyer"}) },
			delete: func(id string) error { return e.srv.DeleteContact(mb, id) },
		},
		"todoTask": {
			put:    func() (string, error) { return e.srv.PutTask(mb, map[string]any{"title": "New task"}) },
			patch:  func(id string) error { return e.srv.PatchTask(mb, id, map[string]any{"title": "Renamed"}) },
			delete: func(id string) error { return e.srv.DeleteTask(mb, id) },
		},
		"message": {
			put: func() (string, error) {
				return e.srv.PutMessage(mb, "", map[string]any{"subject": "Hello", "from": attendee("x@fabrikam.com")})
			},
			patch:  func(id string) error { return e.srv.PatchMessage(mb, id, map[string]any{"isRead": true}) },
			delete: func(id string) error { return e.srv.DeleteMessage(mb, id) },
		},
	}
	for entity, o := range cases {
		t.Run(entity, func(t *testing.T) {
			first, cp, _ := readAll(t, conn, entity, mb, nil)
			if len(first) != 4 {
				t.Fatalf("initial %s read: %d changes, want the 4 seeded", entity, len(first))
			}
			id, err := o.put()
			if err != nil {
				t.Fatal(err)
			}
			patched, gone := first[0].Record.ID, first[1].Record.ID
			if err := o.patch(patched); err != nil {
				t.Fatal(err)
			}
			if err := o.delete(gone); err != nil {
				t.Fatal(err)
			}
			next, _, _ := readAll(t, conn, entity, mb, cp)
			got := map[string]connector.Operation{}
			for _, ch := range next {
				got[ch.Record.ID] = ch.Op
				if ch.Record.Fields["user"] != mb {
					t.Errorf("record without its mailbox: %+v", ch.Record.Fields)
				}
			}
			if got[id] != connector.Upsert || got[patched] != connector.Upsert || got[gone] != connector.Delete {
				t.Errorf("%s round 2: created %v, updated %v, deleted %v (%d changes: %v; ids %s %s %s)", entity, got[id], got[patched], got[gone], len(next), got, id, patched, gone)
			}
		})
	}
}

// TestEmulatorQueryNotation looks an event up with the key notation, with
// and without the mailbox.
func TestEmulatorQueryNotation(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 3, EventsPerUser: 2, Seed: 11})
	conn := e.delegated(t, nil)
	ctx := context.Background()
	parts, err := conn.ListPartitions(ctx, "event")
	if err != nil {
		t.Fatal(err)
	}
	mb := parts.Partitions[2].ID
	chs, _, _ := readAll(t, conn, "event", mb, nil)
	id := chs[0].Record.ID
	for _, notation := range []string{FormatKeyNotation(id, mb), "id|:|" + id + "|;|"} {
		q, err := ParseKeyNotation("event", notation)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := conn.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].ID != id || recs[0].Fields["user"] != mb {
			t.Errorf("%s: %d records", notation, len(recs))
		}
	}
	q, _ := ParseKeyNotation("event", FormatKeyNotation("AAkALgAAnotthere", mb))
	if recs, err := conn.Query(ctx, q); err != nil || len(recs) != 0 {
		t.Errorf("unknown id: %v %v", recs, err)
	}
}

// TestEmulatorTokenExpiresMidRound lets the access token expire at the
// service between two pages while the connector still believes it valid:
// Graph's 401 makes the connector fetch a new token and go on.
func TestEmulatorTokenExpiresMidRound(t *testing.T) {
	var mu sync.Mutex
	skew := time.Duration(0)
	emuClock := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(skew) }
	e := startEmu(t, graphtest.Options{Users: 1, EventsPerUser: 12, Seed: 21, Now: emuClock})
	conn := e.delegated(t, map[string]any{"page_size": 3})
	mb := strings.ToLower(e.srv.Users()[0].UserPrincipalName)
	if _, err := conn.ListPartitions(context.Background(), "event"); err != nil {
		t.Fatal(err)
	}
	tokensBefore := e.srv.Stats().TokenRequests
	batches, n := 0, 0
	err := conn.ReadChanges(context.Background(), connector.ChangesRequest{Entity: "event", Partition: mb}, func(b connector.ChangeBatch) error {
		batches++
		n += len(b.Changes)
		if batches == 1 {
			mu.Lock()
			skew = 2 * time.Hour // past the access token's lifetime, not the refresh token's
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("token expiry mid-round: %v", err)
	}
	if got := e.srv.Stats().TokenRequests - tokensBefore; got != 1 || batches < 3 || n == 0 {
		t.Errorf("token requests during the round %d (want 1 renewal), %d batches, %d changes", got, batches, n)
	}
}

// TestEmulatorPendingSeriesResume reads a mailbox whose series run outside
// the window, crashing after each batch in turn and resuming from the last
// checkpoint delivered: a page's batch comes before its series' occurrences
// outside the window (its checkpoint lists those series as pending), and
// every crash point still delivers each record exactly once.
func TestEmulatorPendingSeriesResume(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 1})
	conn := e.delegated(t, map[string]any{"window": map[string]any{"past_months": 1, "future_months": 1}, "page_size": 5})
	mb := strings.ToLower(e.srv.Users()[0].UserPrincipalName)
	ctx := context.Background()
	if _, err := conn.ListPartitions(ctx, "event"); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for s := range 3 {
		first := time.Date(now.Year(), now.Month(), now.Day(), 9+s, 0, 0, 0, time.UTC).AddDate(0, -2, s)
		last := first.AddDate(0, 4, 0)
		if _, err := e.srv.PutEvent(mb, map[string]any{"subject": fmt.Sprint("weekly ", s), "start": graphTime(first), "end": graphTime(first.Add(time.Hour)),
			"recurrence": map[string]any{
				"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{strings.ToLower(first.Weekday().String())}},
				"range":   map[string]any{"type": "endDate", "startDate": first.Format(time.DateOnly), "endDate": last.Format(time.DateOnly)},
			}}); err != nil {
			t.Fatal(err)
		}
	}
	all, _, _ := readAll(t, conn, "event", mb, nil)
	want := map[string]bool{}
	for _, ch := range all {
		want[ch.Record.ID] = true
	}
	var batches int
	pendingSeen := false
	if err := conn.ReadChanges(ctx, connector.ChangesRequest{Entity: "event", Partition: mb}, func(b connector.ChangeBatch) error {
		batches++
		var cp checkpoint
		if json.Unmarshal(b.Checkpoint, &cp) == nil && len(cp.Pending) > 0 {
			pendingSeen = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !pendingSeen {
		t.Fatal("no checkpoint listed pending series: the test does not exercise them")
	}
	errCrash := errors.New("host crashed")
	for crashAt := 1; crashAt < batches; crashAt++ {
		c := e.delegated(t, map[string]any{"window": map[string]any{"past_months": 1, "future_months": 1}, "page_size": 5})
		if _, err := c.ListPartitions(ctx, "event"); err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		var cp []byte
		n := 0
		err := c.ReadChanges(ctx, connector.ChangesRequest{Entity: "event", Partition: mb}, func(b connector.ChangeBatch) error {
			if n++; n > crashAt {
				return errCrash
			}
			for _, ch := range b.Changes {
				got[ch.Record.ID]++
			}
			cp = b.Checkpoint
			return nil
		})
		// Series are expanded while the next pages are read, and their
		// occurrences are delivered as they come: how many batches a
		// round takes depends on timing, so this round may end before
		// crashAt (then resuming from its last checkpoint finds nothing).
		if err != nil && !errors.Is(err, errCrash) {
			t.Fatalf("crash after batch %d: %v", crashAt, err)
		}
		rest, _, _ := readAll(t, c, "event", mb, cp)
		for _, ch := range rest {
			got[ch.Record.ID]++
		}
		for id := range want {
			if got[id] != 1 {
				t.Errorf("crash after batch %d of %d: %s delivered %d times", crashAt, batches, id, got[id])
			}
		}
		if len(got) != len(want) {
			t.Errorf("crash after batch %d: %d records, want %d", crashAt, len(got), len(want))
		}
	}
}
