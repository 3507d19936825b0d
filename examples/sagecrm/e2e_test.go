// Package sagecrmexample_test runs the example pipeline file
// m365-to-sagecrm.yaml end to end against the Graph and Sage CRM emulators.
package sagecrmexample_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector/graph/graphtest"
	"github.com/syncplane/syncplane/connector/sagecrm/sagecrmtest"
	"github.com/syncplane/syncplane/host/config"
	"github.com/syncplane/syncplane/host/plugin"
	"github.com/syncplane/syncplane/host/runner"
	"github.com/syncplane/syncplane/host/store"
)

func TestExamplePipelinesEndToEnd(t *testing.T) {
	g, err := graphtest.Start(graphtest.Options{Users: 1, Seed: 7, ContactsPerUser: 4, EventsPerUser: 5, TasksPerUser: 3})
	if err != nil {
		t.Fatalf("starting the Graph emulator: %v", err)
	}
	defer g.Close()
	caFile := filepath.Join(t.TempDir(), "graph-ca.pem")
	if err := g.WriteCAFile(caFile); err != nil {
		t.Fatal(err)
	}
	s, err := sagecrmtest.Start(sagecrmtest.Options{})
	if err != nil {
		t.Fatalf("starting the Sage CRM emulator: %v", err)
	}
	defer s.Close()
	mailbox := g.Users()[0].UserPrincipalName
	// The CRM user who owns the mailbox.
	owner, err := s.Insert("users", map[string]any{"user_logon": "owner", "user_lastname": "Owner", "user_emailaddress": mailbox})
	if err != nil {
		t.Fatal(err)
	}
	// A meeting with one of the mailbox's contacts, and a task with a due
	// date and a start date.
	contacts := g.Contacts(mailbox)
	if len(contacts) == 0 {
		t.Fatal("the Graph emulator seeded no contacts")
	}
	guest := contacts[0]["emailAddresses"].([]any)[0].(map[string]any)["address"].(string)
	if _, err := g.PutEvent(mailbox, map[string]any{
		"subject":   "Contract review",
		"start":     map[string]any{"dateTime": "2026-11-25T10:00:00", "timeZone": "W. Europe Standard Time"},
		"end":       map[string]any{"dateTime": "2026-11-25T11:00:00", "timeZone": "W. Europe Standard Time"},
		"attendees": []any{map[string]any{"type": "required", "emailAddress": map[string]any{"address": guest, "name": "Guest"}}},
	}); err != nil {
		t.Fatalf("adding an event: %v", err)
	}
	if _, err := g.PutTask(mailbox, map[string]any{
		"title":         "Send the offer",
		"dueDateTime":   map[string]any{"dateTime": "2026-11-30T00:00:00", "timeZone": "UTC"},
		"startDateTime": map[string]any{"dateTime": "2026-11-26T00:00:00", "timeZone": "UTC"},
	}); err != nil {
		t.Fatalf("adding a task: %v", err)
	}
	app := g.App()
	for k, v := range map[string]string{
		"GRAPH_ENDPOINT": g.GraphEndpoint(), "GRAPH_AUTHORITY_HOST": g.AuthorityHost(), "GRAPH_CA_FILE": caFile,
		"GRAPH_TENANT_ID": g.TenantID(), "GRAPH_CLIENT_ID": app.ClientID, "GRAPH_CLIENT_SECRET": app.ClientSecret,
		"SAGECRM_BASE_URL": s.BaseURL(), "SAGECRM_CA_FILE": s.CAFile(), "SAGECRM_USERNAME": s.Username(), "SAGECRM_PASSWORD": s.Password(),
	} {
		t.Setenv(k, v)
	}
	f, err := config.Load("m365-to-sagecrm.yaml")
	if err != nil {
		t.Fatalf("loading the example: %v", err)
	}
	f.State = filepath.Join(t.TempDir(), "state.db")
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
	for _, name := range []string{"contacts-to-sage", "events-to-sage", "tasks-to-sage"} {
		sum, err := r.RunOnce(ctx, name)
		if err != nil {
			t.Fatalf("run %s: %v", name, err)
		}
		if len(sum.Failed) > 0 || sum.Counts.Rejected > 0 || sum.Counts.Errors > 0 {
			t.Errorf("run %s: want no failures or rejections, got %+v", name, sum)
		}
		t.Logf("%s: %+v", name, sum.Counts)
	}
	people := s.Rows("person")
	if len(people) != len(contacts) {
		t.Errorf("people: want %d, got %d", len(contacts), len(people))
	}
	if n := len(s.Rows("email")); n != len(contacts) {
		t.Errorf("email rows: want one per contact (%d), got %d", len(contacts), n)
	}
	var meeting, task map[string]any
	for _, c := range s.Rows("communication") {
		switch c["comm_subject"] {
		case "Contract review":
			meeting = c
		case "Send the offer":
			task = c
		}
	}
	if meeting == nil || task == nil {
		t.Fatalf("want the meeting and the task in Sage CRM, got %d communications", len(s.Rows("communication")))
	}
	// 10:00 in Berlin on 25 November is 09:00 UTC.
	if got := meeting["comm_datetime"].(time.Time); !got.Equal(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)) || meeting["comm_type"] != "Appointment" {
		t.Errorf("meeting: starts %v, type %v", got, meeting["comm_type"])
	}
	if !task["comm_datetime"].(time.Time).Equal(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)) ||
		!task["comm_todatetime"].(time.Time).Equal(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("task: comm_datetime (due) %v, comm_todatetime (start) %v", task["comm_datetime"], task["comm_todatetime"])
	}
	linked := map[string]bool{}
	for _, l := range s.Rows("comm_link") {
		if l["cmli_comm_communicationid"] != meeting["comm_communicationid"] {
			continue
		}
		if l["cmli_comm_personid"] != nil {
			linked["person"] = true
		}
		if l["cmli_comm_userid"] == owner {
			linked["owner"] = true
		}
	}
	if !linked["person"] || !linked["owner"] {
		t.Errorf("meeting links: want the guest's person and the mailbox owner, got %v", linked)
	}
	// A second run of the contacts finds nothing new.
	sum, err := r.RunOnce(ctx, "contacts-to-sage")
	if err != nil || sum.Counts.Created != 0 || len(s.Rows("person")) != len(contacts) {
		t.Errorf("second run: want no new people, got %+v %v", sum.Counts, err)
	}
}
