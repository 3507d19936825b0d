package graph_test

import (
	"fmt"
	"testing"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/conformance"
	"github.com/syncplane/syncplane/connector/graph"
)

// TestConformanceContacts runs the conformance kit — its write checks
// included — on contacts, in-process and as a plugin process.
func TestConformanceContacts(t *testing.T) {
	conformance.Run(t, conformance.Suite{
		New:       graph.New,
		Settings:  emulatorSettings,
		Entity:    "contact",
		Partition: "user1@contoso.com",
		NewRecord: func(i int) connector.Record {
			return connector.Record{Fields: map[string]any{
				"user": "user1@contoso.com", "givenName": fmt.Sprintf("Conformance%d", i), "surname": "Kit",
				"emailAddresses": []any{map[string]any{"address": fmt.Sprintf("kit%d@example.com", i), "name": fmt.Sprintf("Conformance%d Kit", i)}},
			}}
		},
		Mutate: func(r connector.Record) connector.Record {
			r = r.Clone()
			r.Fields["jobTitle"] = "Tester"
			return r
		},
		InvalidRecord: func() (connector.Record, string) {
			return connector.Record{Fields: map[string]any{"givenName": "Nobody", "user": "stranger@fabrikam.com"}}, "user"
		},
	})
}

// TestConformanceTodo runs the conformance kit on To Do tasks, in-process
// and as a plugin process.
func TestConformanceTodo(t *testing.T) {
	conformance.Run(t, conformance.Suite{
		New:       graph.New,
		Settings:  emulatorSettings,
		Entity:    "todoTask",
		Partition: "user1@contoso.com",
		NewRecord: func(i int) connector.Record {
			return connector.Record{Fields: map[string]any{"user": "user1@contoso.com", "title": fmt.Sprintf("Conformance task %d", i), "importance": "normal"}}
		},
		Mutate: func(r connector.Record) connector.Record {
			r = r.Clone()
			r.Fields["title"] = fmt.Sprint(r.Fields["title"], " (done)")
			r.Fields["status"] = "completed"
			return r
		},
		InvalidRecord: func() (connector.Record, string) {
			return connector.Record{Fields: map[string]any{"title": "bad importance", "user": "user1@contoso.com", "importance": "urgent"}}, "importance"
		},
	})
}
