package sagecrm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/sagecrm"
	"github.com/syncplane/syncplane/connector/sagecrm/sagecrmtest"
)

// seedPeople inserts n people with one e-mail row each.
func seedPeople(tb testing.TB, s *sagecrmtest.Server, n int) {
	tb.Helper()
	for i := 0; i < n; i++ {
		p, err := s.Insert("person", map[string]any{"pers_firstname": fmt.Sprintf("F%d", i), "pers_lastname": fmt.Sprintf("L%d", i)})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := s.Insert("email", map[string]any{"emai_emailaddress": fmt.Sprintf("p%d@example.test", i), "elink_entityid": 13, "elink_recordid": p, "elink_type": "Business"}); err != nil {
			tb.Fatal(err)
		}
	}
}

type roundCost struct {
	requests, bytes int64
	changes         int
}

// measuredRound runs one ReadChanges with a connector configured with
// settings and returns what crossed the wire.
func measuredRound(tb testing.TB, s *sagecrmtest.Server, settings json.RawMessage, cp []byte) (roundCost, []byte) {
	tb.Helper()
	c := connector.Local(sagecrm.New())
	defer c.Close()
	if err := c.Configure(context.Background(), connector.ConfigureRequest{Settings: settings}); err != nil {
		tb.Fatal(err)
	}
	// Discovery and the orderBy probe are once per connection, not per
	// round: do them before measuring.
	if _, err := c.DiscoverSchema(context.Background(), false); err != nil {
		tb.Fatal(err)
	}
	if err := c.Read(context.Background(), connector.ReadRequest{Entity: "users"}, func([]connector.Record) error { return nil }); err != nil {
		tb.Fatal(err)
	}
	s.ResetStats()
	var cost roundCost
	last := cp
	err := c.ReadChanges(context.Background(), connector.ChangesRequest{Entity: "person", Checkpoint: cp}, func(b connector.ChangeBatch) error {
		cost.changes += len(b.Changes)
		last = b.Checkpoint
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	st := s.Stats()
	cost.requests, cost.bytes = st.Requests, st.RequestBytes+st.ResponseBytes
	return cost, last
}

func settingsFor(s *sagecrmtest.Server, extra map[string]any) json.RawMessage {
	m := map[string]any{"base_url": s.BaseURL(), "username": s.Username(), "password": s.Password(),
		"server_timezone": "America/New_York", "ca_file": s.CAFile(), "page_size": 200}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

// TestFiguresFiftyThousandPeople measures, over 50,000 people (5,000 unless
// SYNCPLANE_FIGURES=1, to keep the default test run short) with one
// e-mail row each, what a round with no change costs and what a
// reconciliation round (deletion detection) costs, on a 2024 R2 server and
// on an older one without orderBy. The counts are logged (go test -v) and
// the no-change round is held to a constant number of small requests: the
// cursor must not read unchanged records again.
func TestFiguresFiftyThousandPeople(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds thousands of people")
	}
	n := 5000
	if os.Getenv("SYNCPLANE_FIGURES") == "1" {
		n = 50000
	}
	for _, v := range []struct {
		name string
		o    sagecrmtest.Options
	}{
		{"2024R2", sagecrmtest.Options{}},
		{"2024R2-select-ignored", sagecrmtest.Options{NoSelect: true}},
		{"2019R2-no-orderBy", sagecrmtest.Options{Release: sagecrmtest.Release2019R2}},
	} {
		t.Run(v.name, func(t *testing.T) {
			clock := sagecrmtest.NewManualClock(time.Date(2024, 6, 3, 9, 0, 0, 0, time.UTC))
			o := v.o
			o.Now = clock.Now
			s, err := sagecrmtest.Start(o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			seedPeople(t, s, n)
			clock.Advance(time.Minute)
			quiet := settingsFor(s, map[string]any{"reconcile_every": 1000})
			first, cp := measuredRound(t, s, quiet, nil)
			if first.changes != n {
				t.Fatalf("first round: expected %d people, got %d", n, first.changes)
			}
			t.Logf("%s first round: %d people, %d requests, %d bytes, checkpoint %d bytes", v.name, first.changes, first.requests, first.bytes, len(cp))
			clock.Advance(time.Minute)
			idle, cp2 := measuredRound(t, s, quiet, cp)
			t.Logf("%s no-change round: %d changes, %d requests, %d bytes", v.name, idle.changes, idle.requests, idle.bytes)
			if idle.changes != 0 || idle.requests > 6 || idle.bytes > 8192 {
				t.Errorf("no-change round over %d people: expected no change in at most 6 small requests (person, email, phone feeds and row counts), got %+v", n, idle)
			}
			// One person deleted, then a reconciliation round.
			if err := s.Delete("person", 777); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute)
			// The row count of the person feed drops: the reconciliation runs
			// in this round although reconcile_every is far away.
			recon, _ := measuredRound(t, s, quiet, cp2)
			t.Logf("%s reconciliation round: %d changes, %d requests, %d bytes", v.name, recon.changes, recon.requests, recon.bytes)
			if recon.changes != 1 {
				t.Errorf("reconciliation round after deleting one person: expected 1 change, got %d", recon.changes)
			}
		})
	}
}
