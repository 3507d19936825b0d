package conformance_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/conformance"
	"github.com/syncplane/syncplane/connector/jsonl"
	"github.com/syncplane/syncplane/schema"
)

func TestMain(m *testing.M) { conformance.Main(m, jsonl.New) }

func settings(t *testing.T) json.RawMessage {
	s, _ := json.Marshal(map[string]any{
		"dir": t.TempDir(),
		"entities": map[string]any{"people": map[string]any{
			"modified_field": "changed",
			"fields": map[string]any{
				"id":      map[string]any{"type": "string"},
				"name":    map[string]any{"type": "string", "required": true},
				"age":     map[string]any{"type": "int"},
				"changed": map[string]any{"type": "timestamp"},
			},
		}},
	})
	return s
}

func person(i int) connector.Record {
	return connector.Record{Fields: map[string]any{"id": fmt.Sprintf("p%d", i), "name": fmt.Sprintf("Person %d", i), "age": int64(i)}}
}

func suite(newC func() connector.Connector) conformance.Suite {
	return conformance.Suite{
		New:       newC,
		Settings:  settings,
		Entity:    "people",
		NewRecord: person,
		Mutate: func(r connector.Record) connector.Record {
			r = r.Clone()
			r.Fields["name"] = "Renamed"
			return r
		},
		InvalidRecord: func() (connector.Record, string) {
			r := person(7)
			delete(r.Fields, "name")
			return r, "name"
		},
	}
}

// TestKitPassesJSONL runs the kit, in both modes, against the jsonl
// connector with an entity whose key is not declared required.
func TestKitPassesJSONL(t *testing.T) {
	conformance.Run(t, suite(jsonl.New))
}

// A mutant is the jsonl connector with one defect; the kit must fail it in
// the named check, with a message containing want.
var mutants = map[string]struct {
	make func() connector.Connector
	fail string // the failing subtest
	want string // a part of the failure message
}{
	"repeats-changes": {
		func() connector.Connector {
			return &mutant{Connector: jsonl.New(), changes: func(req *connector.ChangesRequest) { req.Checkpoint = nil }}
		},
		"changes/resume", "a change before the checkpoint was repeated",
	},
	"loses-changes": {
		func() connector.Connector {
			return &mutant{Connector: jsonl.New(), dropFirst: true}
		},
		"changes/resume", "a change after the checkpoint was lost",
	},
	"duplicates-on-retry": {
		func() connector.Connector {
			n := 0
			return &mutant{Connector: jsonl.New(), write: func(b *connector.WriteBatch) {
				for i := range b.Ops {
					if b.Ops[i].Action == connector.ActionUpsert && b.Ops[i].TargetID == "" {
						n++
						b.Ops[i].Record.Fields["id"] = fmt.Sprintf("fresh-%d", n)
					}
				}
			}}
		},
		"write/retry", "the retry duplicated records",
	},
	"replaces-on-update": {
		func() connector.Connector {
			return &mutant{Connector: jsonl.New(), write: func(b *connector.WriteBatch) {
				for i := range b.Ops {
					if b.Ops[i].Action == connector.ActionUpsert && b.Ops[i].TargetID != "" {
						if _, ok := b.Ops[i].Record.Fields["age"]; !ok {
							b.Ops[i].Record.Fields["age"] = nil
						}
					}
				}
			}}
		},
		"write/partial_update", "expected the fields left out to keep their values",
	},
	"advertises-subscribe": {
		func() connector.Connector {
			return &mutant{Connector: jsonl.New(), spec: func(s *connector.Spec) { s.Capabilities.Subscribe = true }}
		},
		"spec", "advertised in Spec but the connector does not implement connector.Subscriber",
	},
	"unnamed-setting": {
		func() connector.Connector {
			return &mutant{Connector: jsonl.New(), configure: func(err error) error {
				if err != nil {
					return errors.New("bad settings")
				}
				return nil
			}}
		},
		"settings-required/dir", `expected a diagnostic with Field "dir"`,
	},
	"leaks-goroutine": {
		func() connector.Connector {
			return &mutant{Connector: jsonl.New(), configure: func(err error) error {
				go func() { time.Sleep(time.Hour) }()
				return err
			}}
		},
		"goroutines", "after the connection closed",
	},
	"wrong-kind": {
		func() connector.Connector {
			return &mutant{Connector: jsonl.New(), read: func(r *connector.Record) {
				r.Fields["age"] = fmt.Sprint(r.Fields["age"])
			}}
		},
		"records-match-schema", `field "age": schema kind int expects a int64 value, got string`,
	},
	"loses-update": {
		func() connector.Connector {
			return &mutant{Connector: jsonl.New(), write: func(b *connector.WriteBatch) {
				for i := range b.Ops {
					if b.Ops[i].TargetID != "" && b.Ops[i].Record.Fields != nil {
						b.Ops[i].Record.Fields["name"] = "Person 0"
					}
				}
			}}
		},
		"write/update", "expected status [updated], got unchanged",
	},
	"version-not-read-back": {
		func() connector.Connector {
			return &mutant{Connector: jsonl.New(), read: func(r *connector.Record) { r.Version = "other-" + r.Version }}
		},
		"write/create", "they should be equal so the host recognises its own write",
	},
	"wrong-query": {
		func() connector.Connector {
			return &mutant{Connector: jsonl.New(), query: func(req *connector.QueryRequest) { req.Match = nil }}
		},
		"query", "expected exactly record",
	},
}

// TestKitFailsMutants runs the kit against each mutant in a child process
// and checks that it fails where it should, saying why.
func TestKitFailsMutants(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child test process per mutant")
	}
	for name, m := range mutants {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutant$", "-test.v")
			cmd.Env = append(os.Environ(), "CONFORMANCE_MUTANT="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the kit passed mutant %q; expected a failure in %s:\n%s", name, m.fail, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestMutant/in-process/"+m.fail) {
				t.Errorf("mutant %q: expected check %s to fail, got:\n%s", name, m.fail, out)
			}
			if !strings.Contains(string(out), m.want) {
				t.Errorf("mutant %q: expected the failure to say %q, got:\n%s", name, m.want, out)
			}
		})
	}
}

// TestMutant is the child of TestKitFailsMutants.
func TestMutant(t *testing.T) {
	name := os.Getenv("CONFORMANCE_MUTANT")
	if name == "" {
		t.Skip("run by TestKitFailsMutants")
	}
	s := suite(mutants[name].make)
	s.SkipPlugin = "mutants run in-process only"
	conformance.Run(t, s)
}

// mutant wraps a connector and bends one behaviour.
type mutant struct {
	connector.Connector
	spec      func(*connector.Spec)
	configure func(error) error
	changes   func(*connector.ChangesRequest)
	dropFirst bool
	write     func(*connector.WriteBatch)
	read      func(*connector.Record)
	query     func(*connector.QueryRequest)
}

func (m *mutant) Spec() connector.Spec {
	s := m.Connector.Spec()
	if m.spec != nil {
		m.spec(&s)
	}
	return s
}

func (m *mutant) Configure(ctx context.Context, req connector.ConfigureRequest) error {
	err := m.Connector.Configure(ctx, req)
	if m.configure != nil {
		return m.configure(err)
	}
	return err
}

func (m *mutant) Read(ctx context.Context, req connector.ReadRequest, emit func([]connector.Record) error) error {
	return m.Connector.(connector.Reader).Read(ctx, req, func(rs []connector.Record) error {
		if m.read != nil {
			for i := range rs {
				m.read(&rs[i])
			}
		}
		return emit(rs)
	})
}

func (m *mutant) ReadChanges(ctx context.Context, req connector.ChangesRequest, emit func(connector.ChangeBatch) error) error {
	resumed := req.Checkpoint != nil
	if m.changes != nil {
		m.changes(&req)
	}
	first := true
	return m.Connector.(connector.ChangeReader).ReadChanges(ctx, req, func(b connector.ChangeBatch) error {
		if m.dropFirst && resumed && first && len(b.Changes) > 0 {
			b.Changes = b.Changes[1:]
		}
		first = false
		return emit(b)
	})
}

func (m *mutant) Write(ctx context.Context, b connector.WriteBatch) ([]connector.WriteOutcome, error) {
	if m.write != nil {
		m.write(&b)
	}
	return m.Connector.(connector.Writer).Write(ctx, b)
}

func (m *mutant) Query(ctx context.Context, req connector.QueryRequest) ([]connector.Record, error) {
	if m.query != nil {
		m.query(&req)
	}
	return m.Connector.(connector.Querier).Query(ctx, req)
}

func (m *mutant) DiscoverSchema(ctx context.Context, refresh bool) (*schema.Schema, error) {
	return m.Connector.DiscoverSchema(ctx, refresh)
}
