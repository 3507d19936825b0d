package graph_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/conformance"
	"github.com/syncplane/syncplane/connector/graph"
	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

func TestMain(m *testing.M) { conformance.Main(m, graph.New) }

// emulatorSettings starts a fresh emulator for t and returns settings that
// point the connector at it, with the real production $metadata when
// ../shared is present.
func emulatorSettings(t *testing.T) json.RawMessage {
	t.Helper()
	var meta []byte
	if dir, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "testdata", "graph", "v1.0-Prod.csdl")); err == nil {
		meta, _ = os.ReadFile(dir)
	}
	srv, err := graphtest.Start(graphtest.Options{Users: 2, Seed: 7, Metadata: meta})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := srv.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	app := srv.App()
	raw, _ := json.Marshal(map[string]any{
		"tenant_id": srv.TenantID(), "client_id": app.ClientID, "auth": "client_secret", "client_secret": app.ClientSecret,
		"cloud": "custom", "authority_host": srv.AuthorityHost(), "graph_endpoint": srv.GraphEndpoint(), "ca_file": ca,
		"users": map[string]any{"list": "user1@contoso.com;user2@contoso.com"},
	})
	return raw
}

func TestConformanceEvents(t *testing.T) {
	day := time.Now().UTC().AddDate(0, 0, 3).Truncate(24 * time.Hour)
	conformance.Run(t, conformance.Suite{
		New:       graph.New,
		Settings:  emulatorSettings,
		Entity:    "event",
		Partition: "user1@contoso.com",
		NewRecord: func(i int) connector.Record {
			start := day.Add(time.Duration(9+i) * time.Hour)
			return connector.Record{Fields: map[string]any{
				"subject": fmt.Sprintf("Conformance %d", i),
				"user":    "user1@contoso.com",
				"start":   map[string]any{"dateTime": start.Format("2006-01-02T15:04:05.0000000"), "timeZone": "UTC"},
				"end":     map[string]any{"dateTime": start.Add(30 * time.Minute).Format("2006-01-02T15:04:05.0000000"), "timeZone": "UTC"},
			}}
		},
		Mutate: func(r connector.Record) connector.Record {
			r = r.Clone()
			r.Fields["subject"] = fmt.Sprint(r.Fields["subject"], " (moved)")
			return r
		},
		InvalidRecord: func() (connector.Record, string) {
			return connector.Record{Fields: map[string]any{"subject": "no mailbox", "user": "stranger@fabrikam.com"}}, "user"
		},
	})
}
