package zoho_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/conformance"
	"github.com/syncplane/syncplane/connector/zoho"
	"github.com/syncplane/syncplane/connector/zoho/zohotest"
)

func TestMain(m *testing.M) { conformance.Main(m, zoho.New) }

// startEmulator starts a fresh emulator for one test.
func startEmulator(t *testing.T, opts zohotest.Options) *zohotest.Server {
	t.Helper()
	srv, err := zohotest.Start(opts)
	if err != nil {
		t.Fatalf("starting the Zoho emulator: %v", err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// settingsFor returns connector settings pointing at the emulator through
// its ordinary settings: accounts_url and ca_file; api_domain comes from
// the token response.
func settingsFor(srv *zohotest.Server, extra map[string]any) json.RawMessage {
	s := map[string]any{
		"data_center":   "us",
		"client_id":     srv.ClientID(),
		"client_secret": srv.ClientSecret(),
		"refresh_token": srv.RefreshToken(),
		"accounts_url":  srv.AccountsURL(""),
		"ca_file":       srv.CAFile(),
	}
	for k, v := range extra {
		s[k] = v
	}
	b, _ := json.Marshal(s)
	return b
}

func contact(i int) connector.Record {
	return connector.Record{Fields: map[string]any{
		"First_Name":  "Ann",
		"Last_Name":   fmt.Sprintf("Lee %d", i),
		"Email":       fmt.Sprintf("ann.lee%d@example.com", i),
		"Lead_Source": "Trade Show",
	}}
}

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Suite{
		New: zoho.New,
		Settings: func(t *testing.T) json.RawMessage {
			return settingsFor(startEmulator(t, zohotest.Options{}), nil)
		},
		Entity:    "Contacts",
		NewRecord: contact,
		Mutate: func(r connector.Record) connector.Record {
			r = r.Clone()
			r.Fields["Title"] = "Head of Renaming"
			return r
		},
		InvalidRecord: func() (connector.Record, string) {
			r := contact(99)
			delete(r.Fields, "Last_Name")
			return r, "Last_Name"
		},
	})
}

func meeting(i int) connector.Record {
	start := time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * 24 * time.Hour)
	return connector.Record{Fields: map[string]any{
		"Event_Title":    fmt.Sprintf("Meeting %d", i),
		"Start_DateTime": start,
		"End_DateTime":   start.Add(time.Hour),
		"Venue":          "Room 1",
	}}
}

// TestConformanceEvents runs the kit on Events, which Zoho cannot upsert
// (§A3.5): creates are inserts, retries are recognised by idempotency key.
func TestConformanceEvents(t *testing.T) {
	conformance.Run(t, conformance.Suite{
		New: zoho.New,
		Settings: func(t *testing.T) json.RawMessage {
			return settingsFor(startEmulator(t, zohotest.Options{}), nil)
		},
		Entity:    "Events",
		NewRecord: meeting,
		Mutate: func(r connector.Record) connector.Record {
			r = r.Clone()
			r.Fields["Venue"] = "Room 2"
			return r
		},
		InvalidRecord: func() (connector.Record, string) {
			r := meeting(9)
			r.Fields["End_DateTime"] = r.Fields["Start_DateTime"].(time.Time).Add(-time.Hour)
			return r, "End_DateTime"
		},
	})
}
