package jsonl_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/conformance"
	"github.com/syncplane/syncplane/connector/jsonl"
)

func TestMain(m *testing.M) { conformance.Main(m, jsonl.New) }

// contactsSettings declares a contacts entity with typed fields in a fresh
// directory.
func contactsSettings(t *testing.T) json.RawMessage {
	s, err := json.Marshal(map[string]any{
		"dir": t.TempDir(),
		"entities": map[string]any{
			"contacts": map[string]any{
				"key":            "id",
				"modified_field": "updated_at",
				"fields": map[string]any{
					"id":         map[string]any{"type": "string", "required": true},
					"name":       map[string]any{"type": "string", "required": true},
					"age":        map[string]any{"type": "int"},
					"score":      map[string]any{"type": "double"},
					"birthday":   map[string]any{"type": "date"},
					"met_at":     map[string]any{"type": "timestamp"},
					"tier":       map[string]any{"type": "enum", "values": []string{"gold", "silver"}},
					"updated_at": map[string]any{"type": "timestamp", "read_only": true},
				},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func contact(i int) connector.Record {
	return connector.Record{Fields: map[string]any{
		"id":       fmt.Sprintf("c-%03d", i),
		"name":     fmt.Sprintf("Contact %d", i),
		"age":      int64(20 + i),
		"score":    float64(i) + 0.5,
		"birthday": connector.Date{Year: 1990, Month: time.March, Day: 1 + i%28},
		"met_at":   time.Date(2026, 1, 1+i%28, 9, 30, 0, 0, time.FixedZone("", 3600)),
		"tier":     "silver",
	}}
}

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Suite{
		New:       jsonl.New,
		Settings:  contactsSettings,
		Entity:    "contacts",
		NewRecord: contact,
		Mutate: func(r connector.Record) connector.Record {
			r = r.Clone()
			r.Fields["name"] = r.Fields["name"].(string) + " (renamed)"
			r.Fields["tier"] = "gold"
			return r
		},
		InvalidRecord: func() (connector.Record, string) {
			r := contact(99)
			r.Fields["age"] = "ninety-nine"
			return r, "age"
		},
	})
}
