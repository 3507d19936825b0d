package sagecrm_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/sagecrm"
	"github.com/syncplane/syncplane/connector/sagecrm/sagecrmtest"
)

// TestChangeFeedProperty interleaves inserts, updates, e-mail changes and
// deletes with clock steps of zero to a few seconds (so many changes share
// a second, also after a round has read it) and change rounds, then lets
// the clock settle. Invariants: no round delivers a record identical to its
// last delivery (nothing unchanged is read again), and once settled the
// delivered state equals the server's (nothing is lost, deletes arrive).
func TestChangeFeedProperty(t *testing.T) {
	for _, v := range []struct {
		name string
		o    sagecrmtest.Options
	}{
		{"2024R2", sagecrmtest.Options{}},
		{"2019R2", sagecrmtest.Options{Release: sagecrmtest.Release2019R2, MaxCount: 3}},
	} {
		t.Run(v.name, func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) { changeFeedScenario(t, rt, v.o) })
		})
	}
}

type seen struct {
	fields  map[string]any
	deleted bool
}

func changeFeedScenario(t *testing.T, rt *rapid.T, o sagecrmtest.Options) {
	clock := sagecrmtest.NewManualClock(time.Date(2024, 11, 3, 5, 59, 0, 0, time.UTC)) // around the repeated hour in New York
	o.Now = clock.Now
	s, err := sagecrmtest.Start(o)
	if err != nil {
		rt.Fatal(err)
	}
	defer s.Close()
	c := connector.Local(sagecrm.New())
	defer c.Close()
	settings := settingsFor(s, map[string]any{"reconcile_every": 1, "page_size": 2})
	if err := c.Configure(context.Background(), connector.ConfigureRequest{Settings: settings}); err != nil {
		rt.Fatal(err)
	}
	state := map[string]seen{}
	var cp []byte
	round := func(label string) {
		err := c.ReadChanges(context.Background(), connector.ChangesRequest{Entity: "person", Checkpoint: cp}, func(b connector.ChangeBatch) error {
			for _, ch := range b.Changes {
				id := ch.Record.ID
				if ch.Op == connector.Delete {
					state[id] = seen{deleted: true}
					continue
				}
				f := map[string]any{"pers_lastname": ch.Record.Fields["pers_lastname"], "pers_updateddate": ch.Record.Fields["pers_updateddate"], "emails": ch.Record.Fields["emails"]}
				if prev, ok := state[id]; ok && !prev.deleted && reflect.DeepEqual(prev.fields, f) {
					rt.Fatalf("%s: person %s delivered again unchanged: %v", label, id, f)
				}
				state[id] = seen{fields: f}
			}
			cp = b.Checkpoint
			return nil
		})
		if err != nil {
			rt.Fatalf("%s: %v", label, err)
		}
	}
	var live []int64
	n := 0
	steps := rapid.IntRange(1, 40).Draw(rt, "steps")
	for i := 0; i < steps; i++ {
		n++
		switch op := rapid.IntRange(0, 5).Draw(rt, "op"); {
		case op == 0 || len(live) == 0:
			p, err := s.Insert("person", map[string]any{"pers_lastname": fmt.Sprintf("L%d", n)})
			if err != nil {
				rt.Fatal(err)
			}
			if _, err := s.Insert("email", map[string]any{"emai_emailaddress": fmt.Sprintf("e%d@x.test", n), "elink_entityid": 13, "elink_recordid": p, "elink_type": "Business"}); err != nil {
				rt.Fatal(err)
			}
			live = append(live, p)
		case op == 1:
			p := live[rapid.IntRange(0, len(live)-1).Draw(rt, "who")]
			if err := s.Update("person", p, map[string]any{"pers_lastname": fmt.Sprintf("L%d", n)}); err != nil {
				rt.Fatal(err)
			}
		case op == 2:
			p := live[rapid.IntRange(0, len(live)-1).Draw(rt, "who")]
			for _, e := range s.Rows("email") {
				if e["elink_recordid"] == p {
					if err := s.Update("email", e["emai_emailid"].(int64), map[string]any{"emai_emailaddress": fmt.Sprintf("e%d@x.test", n)}); err != nil {
						rt.Fatal(err)
					}
				}
			}
		case op == 3:
			k := rapid.IntRange(0, len(live)-1).Draw(rt, "who")
			if err := s.Delete("person", live[k]); err != nil {
				rt.Fatal(err)
			}
			live = append(live[:k], live[k+1:]...)
		case op == 4:
			clock.Advance(time.Duration(rapid.IntRange(0, 4).Draw(rt, "seconds")) * time.Second)
		default:
			round(fmt.Sprintf("round at step %d", i))
		}
	}
	clock.Advance(10 * time.Second)
	round("settling round 1")
	round("settling round 2")
	for _, p := range live {
		id := fmt.Sprint(p)
		row, _ := s.Get("person", p)
		got := state[id]
		if got.deleted || got.fields == nil {
			rt.Fatalf("person %s exists but was not delivered (state %+v)", id, got)
		}
		if got.fields["pers_lastname"] != row["pers_lastname"] {
			rt.Fatalf("person %s: delivered last name %v, server has %v", id, got.fields["pers_lastname"], row["pers_lastname"])
		}
		var want []any
		for _, e := range s.Rows("email") {
			if e["elink_recordid"] == p {
				want = append(want, map[string]any{"type": "Business", "address": e["emai_emailaddress"]})
			}
		}
		if !reflect.DeepEqual(got.fields["emails"], want) && !(len(want) == 0 && len(got.fields["emails"].([]any)) == 0) {
			rt.Fatalf("person %s: delivered emails %v, server has %v", id, got.fields["emails"], want)
		}
	}
	alive := map[string]bool{}
	for _, p := range live {
		alive[fmt.Sprint(p)] = true
	}
	for id, sn := range state {
		if !alive[id] && !sn.deleted {
			rt.Fatalf("person %s was deleted at the server but no delete was delivered", id)
		}
	}
}
