package sagecrm_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/conformance"
	"github.com/syncplane/syncplane/connector/sagecrm"
	"github.com/syncplane/syncplane/connector/sagecrm/sagecrmtest"
)

// conformanceSuite runs the kit on person (with email and phone rows)
// against a fresh emulator per check, with the default reconcile_every: the
// kit expects a delete in the very next round, which the row count of the
// person feed triggers.
func conformanceSuite(o sagecrmtest.Options) conformance.Suite {
	return conformance.Suite{
		New: sagecrm.New,
		Settings: func(t *testing.T) json.RawMessage {
			s, err := sagecrmtest.Start(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			b, _ := json.Marshal(map[string]any{
				"base_url": s.BaseURL(), "username": s.Username(), "password": s.Password(),
				"server_timezone": "America/New_York", "ca_file": s.CAFile(),
			})
			return b
		},
		Entity: "person",
		NewRecord: func(i int) connector.Record {
			return connector.Record{Fields: map[string]any{
				"pers_firstname": fmt.Sprintf("First%d", i),
				"pers_lastname":  fmt.Sprintf("Last%d", i),
				"pers_title":     "Engineer",
				"emails":         []any{map[string]any{"type": "Business", "address": fmt.Sprintf("p%d@example.test", i)}},
				"phones":         []any{map[string]any{"type": "Mobile", "number": fmt.Sprintf("555-01%02d", i)}},
			}}
		},
		Mutate: func(r connector.Record) connector.Record {
			r = r.Clone()
			r.Fields["pers_title"] = "Manager"
			r.Fields["emails"] = []any{map[string]any{"type": "Business", "address": "changed@example.test"}, map[string]any{"type": "Private", "address": "home@example.test"}}
			return r
		},
		InvalidRecord: func() (connector.Record, string) {
			return connector.Record{Fields: map[string]any{"pers_firstname": "NoLastName"}}, "pers_lastname"
		},
	}
}

func TestConformance(t *testing.T) {
	conformance.Run(t, conformanceSuite(sagecrmtest.Options{}))
}

func TestConformanceBefore2024R2(t *testing.T) {
	conformance.Run(t, conformanceSuite(sagecrmtest.Options{Release: sagecrmtest.Release2019R2, LowerCaseFields: true, UpdateVerbs: sagecrmtest.PutOnly, CreateStatus: 200, Errors: sagecrmtest.ErrorArray}))
}
