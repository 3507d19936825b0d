package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

// TestSchemaCommandGraph runs `syncplane schema` for the Graph connector
// against the emulator (its built-in $metadata): the entity table, one
// entity's fields, and --json.
func TestSchemaCommandGraph(t *testing.T) {
	srv, err := graphtest.Start(graphtest.Options{Users: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := srv.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	app := srv.App()
	settings, _ := json.Marshal(map[string]any{
		"tenant_id": srv.TenantID(), "client_id": app.ClientID, "auth": "client_secret", "client_secret": app.ClientSecret,
		"cloud": "custom", "authority_host": srv.AuthorityHost(), "graph_endpoint": srv.GraphEndpoint(), "ca_file": ca,
		"users": map[string]any{"filter": "userType eq 'Member'"},
	})
	file := filepath.Join(dir, "settings.json")
	if err := os.WriteFile(file, settings, 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCmd(t, "schema", "--connector", "graph", "--settings", file, "--in-process")
	if err != nil {
		t.Fatalf("schema: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 6 || !strings.HasPrefix(lines[0], "ENTITY") || !strings.Contains(lines[0], "PARTITION") {
		t.Fatalf("table:\n%s", out)
	}
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		rows[f[0]] = f
	}
	for _, name := range []string{"event", "contact", "todoTask", "message"} {
		r := rows[name]
		if len(r) < 7 || r[2] != "id" || r[3] != "lastModifiedDateTime" || r[5] != "user" {
			t.Errorf("row of %s: %v", name, r)
		}
	}
	if _, ok := rows["user"]; !ok {
		t.Errorf("no user row:\n%s", out)
	}
	out, _, err = runCmd(t, "schema", "--connector", "graph", "--settings", file, "--in-process", "event")
	if err != nil || !strings.Contains(out, "FIELD") || !strings.Contains(out, "  dateTime") || !strings.Contains(out, "attendees") {
		t.Errorf("event fields (%v):\n%s", err, out)
	}
	out, _, err = runCmd(t, "schema", "--connector", "graph", "--settings", file, "--in-process", "--json")
	var s struct {
		Entities []struct {
			Name   string `json:"name"`
			Fields []any  `json:"fields"`
		} `json:"entities"`
	}
	if err != nil || json.Unmarshal([]byte(out), &s) != nil || len(s.Entities) != 5 {
		t.Errorf("--json (%v): %d entities\n%.400s", err, len(s.Entities), out)
	}
	if _, _, err := runCmd(t, "schema", "--connector", "graph", "--settings", file, "--in-process", "nosuch"); err == nil || !strings.Contains(err.Error(), "event") {
		t.Errorf("unknown entity: %v", err)
	}
}
