package runner_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/syncplane/syncplane/host/runner"
)

// linked creates one record on side a and syncs it to b; it returns both ids.
func linked(t *testing.T, tw *twoWay) (string, string) {
	t.Helper()
	aid := tw.a.Edit("", map[string]any{"name": "Ann", "phone": "555-1234", "note": "first"})
	tw.round(t)
	tw.round(t)
	lb := tw.b.live()
	if len(lb) != 1 {
		t.Fatalf("want one record on b, got %v", lb)
	}
	return aid, lb[0]
}

func field(t *testing.T, s *memSide, id, f string) any {
	t.Helper()
	r, ok := s.get(id)
	if !ok {
		t.Fatalf("%s: no live record %s", s.name, id)
	}
	return r[f]
}

// quiet asserts that a round writes nothing to either side.
func quiet(t *testing.T, tw *twoWay) {
	t.Helper()
	wa, wb := tw.a.writes(), tw.b.writes()
	s := tw.round(t)
	if tw.a.writes() != wa || tw.b.writes() != wb {
		t.Fatalf("want a round without writes, wrote %d to a and %d to b (%+v)", tw.a.writes()-wa, tw.b.writes()-wb, s.Counts)
	}
}

func TestTwoWayFieldLevelMerge(t *testing.T) {
	for _, policy := range []string{"manual", "source-wins", "target-wins"} {
		t.Run(policy, func(t *testing.T) {
			tw := newTwoWay(t, t.TempDir(), policy, "")
			defer tw.st.Close()
			aid, bid := linked(t, tw)
			tw.a.Edit(aid, map[string]any{"name": "Anna"})
			tw.b.Edit(bid, map[string]any{"phone": "555-9999"})
			tw.round(t)
			for _, s := range []struct {
				side *memSide
				id   string
			}{{tw.a, aid}, {tw.b, bid}} {
				if n, p := field(t, s.side, s.id, "name"), field(t, s.side, s.id, "phone"); n != "Anna" || p != "555-9999" {
					t.Errorf("%s: want both changes merged, got name %v phone %v", s.side.name, n, p)
				}
			}
			cs, err := tw.st.Conflicts(context.Background(), "sync")
			if err != nil || len(cs) != 0 {
				t.Fatalf("want no conflict, got %v %v", cs, err)
			}
			tw.round(t)
			quiet(t, tw)
			tw.check(t)
		})
	}
}

func TestTwoWayConflictPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy  string
		bLater  bool
		want    string
		wantSet bool
	}{
		{"source-wins", true, "from a", true},
		{"target-wins", false, "from b", true},
		{"newest-wins", true, "from b", true},
		{"newest-wins", false, "from a", true},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			tw := newTwoWay(t, t.TempDir(), tc.policy, "")
			defer tw.st.Close()
			aid, bid := linked(t, tw)
			if tc.bLater {
				tw.a.Edit(aid, map[string]any{"note": "from a", "name": "A's name"})
				tw.b.Edit(bid, map[string]any{"note": "from b"})
			} else {
				tw.b.Edit(bid, map[string]any{"note": "from b"})
				tw.a.Edit(aid, map[string]any{"note": "from a", "name": "A's name"})
			}
			tw.round(t)
			if a, b := field(t, tw.a, aid, "note"), field(t, tw.b, bid, "note"); a != tc.want || b != tc.want {
				t.Errorf("want %q on both sides, got a %v, b %v", tc.want, a, b)
			}
			// A's change to a field b did not touch goes across either way.
			if n := field(t, tw.b, bid, "name"); n != "A's name" {
				t.Errorf("want a's name change on b, got %v", n)
			}
			tw.round(t)
			quiet(t, tw)
			tw.check(t)
		})
	}
}

func TestTwoWayManualConflictAndResolve(t *testing.T) {
	ctx := context.Background()
	for _, take := range []string{"a", "b"} {
		t.Run("take "+take, func(t *testing.T) {
			tw := newTwoWay(t, t.TempDir(), "manual", "")
			defer tw.st.Close()
			aid, bid := linked(t, tw)
			tw.a.Edit(aid, map[string]any{"note": "from a"})
			tw.b.Edit(bid, map[string]any{"note": "from b"})
			quiet(t, tw) // a manual conflict writes nothing
			cs, err := tw.st.Conflicts(ctx, "sync")
			if err != nil || len(cs) != 1 {
				t.Fatalf("want one open conflict, got %v %v", cs, err)
			}
			c := cs[0]
			if c.AID != aid || c.BID != bid || len(c.Fields) != 1 || c.Fields[0] != "note" || c.Take != "" {
				t.Fatalf("conflict %+v: want pair %s ↔ %s on field note, unresolved", c, aid, bid)
			}
			quiet(t, tw) // still open: still nothing
			if err := tw.st.ResolveConflict(ctx, "sync", c.ID, take); err != nil {
				t.Fatal(err)
			}
			if err := tw.st.ResolveConflict(ctx, "sync", c.ID+100, take); err == nil {
				t.Error("resolving an unknown conflict: want an error")
			}
			tw.round(t)
			want := "from " + take
			if a, b := field(t, tw.a, aid, "note"), field(t, tw.b, bid, "note"); a != want || b != want {
				t.Errorf("want %q on both sides, got a %v, b %v", want, a, b)
			}
			if cs, _ := tw.st.Conflicts(ctx, "sync"); len(cs) != 0 {
				t.Errorf("want the conflict closed, got %+v", cs)
			}
			tw.round(t)
			quiet(t, tw)
			tw.check(t)
		})
	}
}

// TestTwoWayDeleteAgainstChange: one side deletes a linked record the other
// side changes (in either order); delete_conflict decides, by default the
// change (the record is made again where it was deleted), or manual under
// the manual conflict policy.
func TestTwoWayDeleteAgainstChange(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		policy, deleteConflict string // deleteConflict "" is the default
		deleteOn               string // the side deleting; the other changes
		deleteLast             bool   // the deletion happens after the change
		survives               bool   // the record exists on both sides after
	}{
		{"source-wins", "", "a", false, true},
		{"source-wins", "", "b", true, true},
		{"newest-wins", "", "a", true, true},
		{"target-wins", "", "b", false, true},
		{"source-wins", "change-wins", "a", true, true},
		{"target-wins", "delete-wins", "a", false, false},
		{"source-wins", "delete-wins", "b", true, false},
		{"source-wins", "policy", "a", false, false},
		{"source-wins", "policy", "b", false, true},
		{"target-wins", "policy", "a", true, true},
		{"target-wins", "policy", "b", true, false},
		{"newest-wins", "policy", "a", true, false},
		{"newest-wins", "policy", "a", false, true},
		{"newest-wins", "policy", "b", true, false},
		{"newest-wins", "policy", "b", false, true},
		{"manual", "", "a", false, false}, // resolved for the deleting side
		{"manual", "", "b", true, true},   // resolved for the changing side
		{"source-wins", "manual", "a", false, true},
	} {
		name := fmt.Sprintf("%s/%s/delete on %s/delete last %v", tc.policy, tc.deleteConflict, tc.deleteOn, tc.deleteLast)
		t.Run(name, func(t *testing.T) {
			extra := ""
			if tc.deleteConflict != "" {
				extra = "    delete_conflict: " + tc.deleteConflict + "\n"
			}
			tw := newTwoWay(t, t.TempDir(), tc.policy, extra)
			defer tw.st.Close()
			aid, bid := linked(t, tw)
			del, chg := func() { tw.a.Remove(aid) }, func() { tw.b.Edit(bid, map[string]any{"note": "changed"}) }
			if tc.deleteOn == "b" {
				del, chg = func() { tw.b.Remove(bid) }, func() { tw.a.Edit(aid, map[string]any{"note": "changed"}) }
			}
			if tc.deleteLast {
				chg()
				del()
			} else {
				del()
				chg()
			}
			tw.round(t)
			if tc.policy == "manual" || tc.deleteConflict == "manual" {
				cs, err := tw.st.Conflicts(ctx, "sync")
				if err != nil || len(cs) != 1 || cs[0].ADeleted != (tc.deleteOn == "a") || cs[0].BDeleted != (tc.deleteOn == "b") {
					t.Fatalf("want one conflict with %s deleted, got %+v %v", tc.deleteOn, cs, err)
				}
				if len(tw.a.live())+len(tw.b.live()) != 1 {
					t.Fatalf("an open conflict must write nothing: a %v b %v", tw.a.live(), tw.b.live())
				}
				take := tc.deleteOn // the deletion
				if tc.survives {
					take = map[string]string{"a": "b", "b": "a"}[tc.deleteOn] // the change
				}
				if err := tw.st.ResolveConflict(ctx, "sync", cs[0].ID, take); err != nil {
					t.Fatal(err)
				}
				tw.round(t)
			}
			tw.round(t)
			la, lb := tw.a.live(), tw.b.live()
			if tc.survives {
				if len(la) != 1 || len(lb) != 1 {
					t.Fatalf("want the changed record on both sides, got a %v b %v", la, lb)
				}
				if a, b := field(t, tw.a, la[0], "note"), field(t, tw.b, lb[0], "note"); a != "changed" || b != "changed" {
					t.Errorf("want the change on both sides, got %v and %v", a, b)
				}
			} else if len(la) != 0 || len(lb) != 0 {
				t.Fatalf("want the record deleted on both sides, got a %v b %v", la, lb)
			}
			quiet(t, tw)
			tw.check(t)
		})
	}
}

func TestTwoWayDeletesAndDeletePolicies(t *testing.T) {
	tw := newTwoWay(t, t.TempDir(), "manual", "    reverse_on_delete: ignore\n")
	defer tw.st.Close()
	aid, bid := linked(t, tw)
	tw.a.Remove(aid)
	tw.round(t)
	if len(tw.b.live()) != 0 {
		t.Fatalf("a delete on a (on_delete: delete) must delete on b")
	}
	quiet(t, tw)
	aid, bid = linked(t, tw)
	tw.b.Remove(bid)
	tw.round(t)
	if l := tw.a.live(); len(l) != 1 || l[0] != aid {
		t.Fatalf("reverse_on_delete: ignore must keep a, got %v", l)
	}
	quiet(t, tw)
}

func TestTwoWayWriteBack(t *testing.T) {
	tw := newTwoWay(t, t.TempDir(), "manual", "    write_back: { to_field: other_id, from_field: other_id }\n")
	defer tw.st.Close()
	bid := tw.b.Edit("", map[string]any{"name": "Bo", "phone": "555 1111", "note": ""})
	aid := tw.a.Edit("", map[string]any{"name": "Al", "phone": "555 2222", "note": ""})
	tw.round(t)
	tw.round(t)
	tw.round(t)
	la, lb := tw.a.live(), tw.b.live()
	if len(la) != 2 || len(lb) != 2 {
		t.Fatalf("want two records each side, got %v %v", la, lb)
	}
	links, err := tw.st.AllLinks(context.Background(), "sync", "a", nil)
	if err != nil || len(links) != 2 {
		t.Fatal(links, err)
	}
	for _, l := range links {
		switch {
		case l.BID == bid:
			// Created on a from b: b learns a's id.
			if got := tw.b.raw(bid, "other_id"); got != l.AID {
				t.Errorf("b %s: other_id %v, want the created a id %s", bid, got, l.AID)
			}
		case l.AID == aid:
			if got := tw.a.raw(aid, "other_id"); got != l.BID {
				t.Errorf("a %s: other_id %v, want the created b id %s", aid, got, l.BID)
			}
		default:
			t.Errorf("unexpected link %+v", l)
		}
	}
	quiet(t, tw)
}

// raw returns a stored field as is.
func (m *memSide) raw(id, f string) any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.recs[id].fields[f]
}

// TestTwoWayOnScheduler: the scheduler runs a two-way pipeline as one job
// per round (the fan-out job itself), queuing no per-partition sync job.
func TestTwoWayOnScheduler(t *testing.T) {
	tw := newTwoWay(t, t.TempDir(), "manual", "")
	defer tw.st.Close()
	tw.a.Edit("", map[string]any{"name": "Ann", "phone": "5551234", "note": "n"})
	tw.b.Edit("", map[string]any{"name": "Bob", "phone": "5554321", "note": "m"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := runner.NewScheduler(ctx, tw.r, tw.st, runner.SchedulerOptions{PollInterval: 50 * time.Millisecond})
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
			done = ev.Job.Kind == (runner.FanOutArgs{}).Kind()
		case <-ctx.Done():
			t.Fatalf("the two-way job did not finish; events %v", kinds)
		}
	}
	if len(kinds) != 1 || kinds[0] != "job_completed:syncplane_fan_out" {
		t.Fatalf("want one completed two-way job, got %v", kinds)
	}
	if len(tw.a.live()) != 2 || len(tw.b.live()) != 2 {
		t.Fatalf("want both records on both sides, got a %v b %v", tw.a.live(), tw.b.live())
	}
}
