package sagecrm_test

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/conformance"
	"github.com/syncplane/syncplane/connector/sagecrm"
	"github.com/syncplane/syncplane/connector/sagecrm/sagecrmtest"
)

func TestMain(m *testing.M) { conformance.Main(m, sagecrm.New) }

// variants covers every switch the emulator has for a detail the facts
// mark UNCONFIRMED, so the connector is shown to work with each answer.
var variants = []struct {
	name string
	o    sagecrmtest.Options
	zone string
}{
	{"2024R2-defaults", sagecrmtest.Options{}, ""},
	{"2019R2-no-orderBy", sagecrmtest.Options{Release: sagecrmtest.Release2019R2}, ""},
	{"lowercase-array-errors", sagecrmtest.Options{LowerCaseFields: true, Errors: sagecrmtest.ErrorArray}, ""},
	{"create200-delete204-putonly-partial", sagecrmtest.Options{CreateStatus: 200, DeleteStatus: 204, UpdateVerbs: sagecrmtest.PutOnly, PartialResponse: true}, ""},
	{"patch-only", sagecrmtest.Options{UpdateVerbs: sagecrmtest.PatchOnly}, ""},
	{"child-bumps-person", sagecrmtest.Options{ChildBumpsPerson: true}, ""},
	{"wallclock-where-strict-null", sagecrmtest.Options{WhereIgnoresOffset: true, StrictNull: true}, ""},
	{"no-select-choices-max7", sagecrmtest.Options{NoSelect: true, PrototypeChoices: true, MaxCount: 7}, ""},
	{"2019R2-london-max7", sagecrmtest.Options{Release: sagecrmtest.Release2019R2, MaxCount: 7}, "Europe/London"},
}

type env struct {
	srv   *sagecrmtest.Server
	clock *sagecrmtest.ManualClock
	c     connector.Client
	host  *connector.MemoryHost
	zone  string
}

func newEnv(t *testing.T, o sagecrmtest.Options, zone string, extra map[string]any) *env {
	t.Helper()
	if zone == "" {
		zone = "America/New_York"
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	o.Location = loc
	e := &env{zone: zone, host: &connector.MemoryHost{}}
	if o.Now == nil {
		// Just before the spring-forward gap in New York.
		e.clock = sagecrmtest.NewManualClock(time.Date(2024, 3, 10, 6, 59, 50, 0, time.UTC))
		o.Now = e.clock.Now
	}
	e.srv, err = sagecrmtest.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.srv.Close() })
	e.c = connector.Local(sagecrm.New())
	t.Cleanup(func() { e.c.Close() })
	if err := e.c.Configure(context.Background(), connector.ConfigureRequest{Settings: e.settings(extra), Host: e.host}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return e
}

func (e *env) settings(extra map[string]any) json.RawMessage {
	s := map[string]any{
		"base_url": e.srv.BaseURL(), "username": e.srv.Username(), "password": e.srv.Password(),
		"server_timezone": e.zone, "ca_file": e.srv.CAFile(),
	}
	for k, v := range extra {
		s[k] = v
	}
	b, _ := json.Marshal(s)
	return b
}

// round runs one ReadChanges and returns its changes by record id and the
// last checkpoint.
func (e *env) round(t *testing.T, entity string, cp []byte) (map[string]connector.Change, []connector.Change, []byte) {
	t.Helper()
	byID := map[string]connector.Change{}
	var all []connector.Change
	last := cp
	err := e.c.ReadChanges(context.Background(), connector.ChangesRequest{Entity: entity, Checkpoint: cp}, func(b connector.ChangeBatch) error {
		for _, ch := range b.Changes {
			all = append(all, ch)
			byID[ch.Record.ID] = ch
		}
		if b.Checkpoint == nil {
			t.Fatalf("a batch without checkpoint")
		}
		last = b.Checkpoint
		return nil
	})
	if err != nil {
		t.Fatalf("ReadChanges(%s): %v", entity, err)
	}
	return byID, all, last
}

func ids(m map[string]connector.Change) []string {
	var out []string
	for id := range m {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func emails(t *testing.T, r connector.Record) []string {
	t.Helper()
	var out []string
	l, ok := r.Fields["emails"].([]any)
	if !ok {
		t.Fatalf("record %s: emails is %T, want a list", r.ID, r.Fields["emails"])
	}
	for _, it := range l {
		m := it.(map[string]any)
		out = append(out, m["type"].(string)+":"+m["address"].(string))
	}
	sort.Strings(out)
	return out
}

func mustInsert(t *testing.T, s *sagecrmtest.Server, res string, f map[string]any) int64 {
	t.Helper()
	id, err := s.Insert(res, f)
	if err != nil {
		t.Fatalf("seeding %s: %v", res, err)
	}
	return id
}

func TestChangesEveryVariant(t *testing.T) {
	for _, v := range variants {
		o := v.o
		t.Run(v.name, func(t *testing.T) {
			e := newEnv(t, o, v.zone, map[string]any{"reconcile_every": 2, "page_size": 3})
			s := e.srv
			comp := mustInsert(t, s, "company", map[string]any{"comp_name": "Acme"})
			var people []int64
			for i, n := range []string{"Adams", "Baker", "Clark", "Davis", "Evans"} {
				p := mustInsert(t, s, "person", map[string]any{"pers_lastname": n, "pers_companyid": comp})
				mustInsert(t, s, "email", map[string]any{"emai_emailaddress": strings.ToLower(n) + "@x.test", "elink_entityid": 13, "elink_recordid": p, "elink_type": "Business"})
				if i == 0 {
					mustInsert(t, s, "phone", map[string]any{"phon_number": "555-0100", "plink_entityid": 13, "plink_recordid": p, "plink_type": "Mobile"})
				}
				people = append(people, p)
			}
			// Round 1: everything, all sharing one second.
			got, _, cp := e.round(t, "person", nil)
			if len(got) != 5 {
				t.Fatalf("first round: expected 5 people, got %v", ids(got))
			}
			if em := emails(t, got["1"].Record); !slices.Equal(em, []string{"Business:adams@x.test"}) {
				t.Errorf("person 1 emails: %v", em)
			}
			if ph := got["1"].Record.Fields["phones"].([]any); len(ph) != 1 || ph[0].(map[string]any)["number"] != "555-0100" {
				t.Errorf("person 1 phones: %v", ph)
			}
			// Two more in the same second: exactly those arrive.
			p6 := mustInsert(t, s, "person", map[string]any{"pers_lastname": "Fox"})
			p7 := mustInsert(t, s, "person", map[string]any{"pers_lastname": "Gray"})
			got, _, cp = e.round(t, "person", cp)
			if g := ids(got); !slices.Equal(g, []string{itoa(p6), itoa(p7)}) {
				t.Fatalf("same-second round: expected %d and %d only, got %v", p6, p7, g)
			}
			// Time moves on (across the DST gap): nothing changes.
			e.clock.Advance(20 * time.Second)
			got, _, cp = e.round(t, "person", cp)
			if len(got) != 0 {
				t.Fatalf("no-change round: expected nothing, got %v", ids(got))
			}
			// Change Baker's email, give Clark a phone, update Davis.
			bakerMail := findChild(t, s, "email", "elink_recordid", people[1])
			if err := s.Update("email", bakerMail, map[string]any{"emai_emailaddress": "baker@new.test"}); err != nil {
				t.Fatal(err)
			}
			mustInsert(t, s, "phone", map[string]any{"phon_number": "555-0199", "plink_entityid": 13, "plink_recordid": people[2], "plink_type": "Business"})
			if err := s.Update("person", people[3], map[string]any{"pers_firstname": "Dana"}); err != nil {
				t.Fatal(err)
			}
			got, _, cp = e.round(t, "person", cp)
			if g := ids(got); !slices.Equal(g, []string{itoa(people[1]), itoa(people[2]), itoa(people[3])}) {
				t.Fatalf("after child changes: expected %d, %d, %d, got %v", people[1], people[2], people[3], g)
			}
			if em := emails(t, got[itoa(people[1])].Record); !slices.Equal(em, []string{"Business:baker@new.test"}) {
				t.Errorf("Baker's emails: %v", em)
			}
			if got[itoa(people[3])].Record.Fields["pers_firstname"] != "Dana" {
				t.Errorf("Davis: %v", got[itoa(people[3])].Record.Fields)
			}
			// Deletions: Evans goes, Adams loses his email. Seen at the
			// next reconciliation (every 2 rounds), never wrongly.
			e.clock.Advance(10 * time.Second)
			if err := s.Delete("person", people[4]); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete("email", findChild(t, s, "email", "elink_recordid", people[0])); err != nil {
				t.Fatal(err)
			}
			var deletes []string
			adamsSeen := false
			for r := 0; r < 2; r++ {
				_, all, next := e.round(t, "person", cp)
				cp = next
				for _, ch := range all {
					switch {
					case ch.Op == connector.Delete:
						deletes = append(deletes, ch.Record.ID)
					case ch.Record.ID == itoa(people[0]):
						adamsSeen = true
						if em := emails(t, ch.Record); len(em) != 0 && !o.ChildBumpsPerson {
							t.Errorf("Adams after his email was deleted: %v", em)
						}
					}
				}
			}
			if !slices.Equal(deletes, []string{itoa(people[4])}) {
				t.Errorf("deletes within two rounds: expected [%d], got %v", people[4], deletes)
			}
			if !adamsSeen {
				t.Errorf("Adams lost his email: expected him re-emitted")
			}
			// And then quiet again.
			got, _, _ = e.round(t, "person", cp)
			for id, ch := range got {
				t.Errorf("quiet round: unexpected %s of %s", ch.Op, id)
			}
		})
	}
}

func findChild(t *testing.T, s *sagecrmtest.Server, res, parentField string, parent int64) int64 {
	t.Helper()
	for _, r := range s.Rows(res) {
		if r[parentField] == parent {
			for k, v := range r {
				if strings.HasSuffix(k, "id") && strings.HasPrefix(k, res[:4]+"_") {
					return v.(int64)
				}
			}
		}
	}
	t.Fatalf("no %s row for %d", res, parent)
	return 0
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
