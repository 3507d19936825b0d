// Package twowayexample_test runs the two-way example pipelines end to end:
// Microsoft 365 (the Graph emulator) ⇄ Zoho CRM and ⇄ Sage CRM (their
// emulators), with the real connectors in-process.
package twowayexample_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/syncplane/syncplane/connector/graph/graphtest"
	"github.com/syncplane/syncplane/host/config"
	"github.com/syncplane/syncplane/host/plugin"
	"github.com/syncplane/syncplane/host/runner"
	"github.com/syncplane/syncplane/host/store"
	"github.com/syncplane/syncplane/schema"
)

// mailbox is the Outlook user who owns the CRM meetings: the same address
// in the directory and in the CRM.
const mailbox = "anna@example.com"

// startGraph starts the Graph emulator with one mailbox and sets the
// GRAPH_* variables the example files read.
func startGraph(t *testing.T) *graphtest.Server {
	t.Helper()
	g, err := graphtest.Start(graphtest.Options{Users: 0, Seed: 11})
	if err != nil {
		t.Fatalf("starting the Graph emulator: %v", err)
	}
	t.Cleanup(g.Close)
	g.AddUser(graphtest.User{UserPrincipalName: mailbox, Mail: mailbox, DisplayName: "Anna Sales", UserType: "Member", HasMailbox: true, AccountEnabled: true})
	caFile := filepath.Join(t.TempDir(), "graph-ca.pem")
	if err := g.WriteCAFile(caFile); err != nil {
		t.Fatal(err)
	}
	app := g.App()
	for k, v := range map[string]string{
		"GRAPH_ENDPOINT": g.GraphEndpoint(), "GRAPH_AUTHORITY_HOST": g.AuthorityHost(), "GRAPH_CA_FILE": caFile,
		"GRAPH_TENANT_ID": g.TenantID(), "GRAPH_CLIENT_ID": app.ClientID, "GRAPH_CLIENT_SECRET": app.ClientSecret,
	} {
		t.Setenv(k, v)
	}
	return g
}

// graphWrites counts the event writes the Graph emulator answered.
func graphWrites(g *graphtest.Server) int {
	st := g.Stats()
	return st.Requests["events.post"] + st.Requests["events.patch"] + st.Requests["events.delete"]
}

// harness runs one example file's pipeline with the connectors in-process.
type harness struct {
	t     *testing.T
	file  *config.File
	st    *store.Store
	conns *runner.Connections
	m     *plugin.Manager
	r     *runner.Runner
}

func newHarness(t *testing.T, path string) *harness {
	t.Helper()
	f, err := config.Load(path)
	if err != nil {
		t.Fatalf("loading the example: %v", err)
	}
	f.State = filepath.Join(t.TempDir(), "state.db") // keep the state out of the source tree
	ctx := context.Background()
	st, err := store.Open(ctx, f.State, store.Options{SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m, err := plugin.New(plugin.Options{InProcess: true})
	if err != nil {
		t.Fatal(err)
	}
	conns := runner.NewConnections(f, st, m.Open)
	t.Cleanup(func() { conns.Close() })
	h := &harness{t: t, file: f, st: st, conns: conns, m: m}
	if errs := f.Validate(ctx, h); len(errs) > 0 {
		t.Fatalf("the example does not validate:\n%v", errs)
	}
	h.r, err = runner.New(runner.Options{File: f, Store: st, Connectors: conns, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// SettingsSchema serves validation: the connector's settings schema.
func (h *harness) SettingsSchema(ctx context.Context, name string) (json.RawMessage, error) {
	c, err := h.m.Open(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", config.ErrUnknownConnector, name, err)
	}
	defer c.Close()
	return c.Spec().SettingsSchema, nil
}

// Schema serves validation: the connection's discovered schema.
func (h *harness) Schema(ctx context.Context, connection string) (*schema.Schema, error) {
	c, err := h.conns.Client(ctx, connection)
	if err != nil {
		return nil, err
	}
	return c.DiscoverSchema(ctx, false)
}

// round runs the pipeline once and fails on any failure or rejection.
func (h *harness) round(name string) runner.Summary {
	h.t.Helper()
	s, err := h.r.RunOnce(context.Background(), name)
	if err != nil {
		h.t.Fatalf("run %s: %v", name, err)
	}
	if s.Counts.Rejected > 0 || len(s.Failed) > 0 {
		rej, _ := h.st.DeadLetters(context.Background(), name, false)
		for _, d := range rej {
			h.t.Logf("dead letter %s %s: %s", d.Entity, d.SourceID, d.Diagnostics)
		}
		h.t.Fatalf("run %s: want no rejections, got %+v", name, s)
	}
	h.t.Logf("%s: %+v", name, s.Counts)
	return s
}

// link returns the link of a record of side ("a" or "b").
func (h *harness) link(pipeline, side, id string) (store.Link, bool) {
	h.t.Helper()
	ls, err := h.st.AllLinks(context.Background(), pipeline, "a", nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, l := range ls {
		if (side == "a" && l.AID == id) || (side == "b" && l.BID == id) {
			return l, true
		}
	}
	return store.Link{}, false
}

func (h *harness) links(pipeline string) int {
	ls, err := h.st.AllLinks(context.Background(), pipeline, "a", nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return len(ls)
}

var _ config.SchemaSource = (*harness)(nil)
