// Package zohoexample_test runs the example pipeline file
// m365-to-zoho.yaml end to end against the Graph and Zoho emulators.
package zohoexample_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/syncplane/syncplane/connector/graph/graphtest"
	"github.com/syncplane/syncplane/connector/zoho/zohotest"
	"github.com/syncplane/syncplane/host/config"
	"github.com/syncplane/syncplane/host/plugin"
	"github.com/syncplane/syncplane/host/runner"
	"github.com/syncplane/syncplane/host/store"
)

func TestExamplePipelinesEndToEnd(t *testing.T) {
	g, err := graphtest.Start(graphtest.Options{Users: 1, Seed: 7, ContactsPerUser: 5, EventsPerUser: 6, TasksPerUser: 3})
	if err != nil {
		t.Fatalf("starting the Graph emulator: %v", err)
	}
	defer g.Close()
	caFile := filepath.Join(t.TempDir(), "graph-ca.pem")
	if err := g.WriteCAFile(caFile); err != nil {
		t.Fatal(err)
	}
	z, err := zohotest.Start(zohotest.Options{})
	if err != nil {
		t.Fatalf("starting the Zoho emulator: %v", err)
	}
	defer z.Close()
	app := g.App()
	for k, v := range map[string]string{
		"GRAPH_ENDPOINT": g.GraphEndpoint(), "GRAPH_AUTHORITY_HOST": g.AuthorityHost(), "GRAPH_CA_FILE": caFile,
		"GRAPH_TENANT_ID": g.TenantID(), "GRAPH_CLIENT_ID": app.ClientID, "GRAPH_CLIENT_SECRET": app.ClientSecret,
		"ZOHO_ACCOUNTS_URL": z.AccountsURL(""), "ZOHO_CA_FILE": z.CAFile(), "ZOHO_CLIENT_ID": z.ClientID(),
		"ZOHO_CLIENT_SECRET": z.ClientSecret(), "ZOHO_REFRESH_TOKEN": z.RefreshToken(),
	} {
		t.Setenv(k, v)
	}
	f, err := config.Load("m365-to-zoho.yaml")
	if err != nil {
		t.Fatalf("loading the example: %v", err)
	}
	f.State = filepath.Join(t.TempDir(), "state.db") // keep the state out of the source tree
	ctx := context.Background()
	st, err := store.Open(ctx, f.State, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := plugin.New(plugin.Options{InProcess: true})
	if err != nil {
		t.Fatal(err)
	}
	conns := runner.NewConnections(f, st, m.Open)
	defer conns.Close()
	r, err := runner.New(runner.Options{File: f, Store: st, Connectors: conns, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]runner.Summary{}
	for _, name := range []string{"contacts-to-zoho", "events-to-zoho", "tasks-to-zoho"} {
		s, err := r.RunOnce(ctx, name)
		if err != nil {
			t.Fatalf("run %s: %v", name, err)
		}
		if len(s.Failed) > 0 || s.Counts.Rejected > 0 || s.Counts.Errors > 0 {
			t.Errorf("run %s: want no failures or rejections, got %+v", name, s)
		}
		sums[name] = s
		t.Logf("%s: %+v", name, s.Counts)
	}
	if n := z.Count("", "Contacts"); n != 5 || sums["contacts-to-zoho"].Counts.Created != 5 {
		t.Errorf("contacts: want 5 in Zoho, got %d (summary %+v)", n, sums["contacts-to-zoho"].Counts)
	}
	if n := z.Count("", "Tasks"); n != 3 {
		t.Errorf("tasks: want 3 in Zoho, got %d", n)
	}
	ev := sums["events-to-zoho"].Counts
	if n := z.Count("", "Events"); n == 0 || int64(n) != ev.Created {
		t.Errorf("events: want as many meetings in Zoho as were created (%d), got %d", ev.Created, n)
	}
	// A second run finds nothing new.
	s, err := r.RunOnce(ctx, "contacts-to-zoho")
	if err != nil || s.Counts.Created != 0 || z.Count("", "Contacts") != 5 {
		t.Errorf("second run: want no new contacts, got %+v %v", s.Counts, err)
	}
}
