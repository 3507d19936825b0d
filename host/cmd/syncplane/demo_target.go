package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/syncplane/syncplane/connector/zoho/zohotest"
	"github.com/syncplane/syncplane/host/store"
)

// demoTarget is where the Graph demo writes: the part of the pipeline file
// naming it, and how the demo reads back and shows what it holds.
type demoTarget interface {
	// name says what the target is, for the demo's output.
	name() string
	// config is the pipeline file from the "crm" connection on: the
	// connection and the pipelines (graphDemoPipeline among them).
	config() string
	// pipelines are the pipelines a run runs, in order.
	pipelines() []string
	// meetings returns the live meetings the target holds, by the id of
	// the Graph event each came from.
	meetings(ctx context.Context, st *store.Store) (map[string]map[string]any, error)
	// count is the number of meetings the target holds.
	count() int
	// subjectField names the meeting's subject field in the target.
	subjectField() string
	// show prints up to n meetings as the target holds them.
	show(out io.Writer, meetings map[string]map[string]any, n int)
	// output returns where the meetings can be looked at, writing a
	// snapshot first when the target is a service.
	output(meetings map[string]map[string]any) (string, error)
	// keepHint says how to look at the target while it keeps running.
	keepHint(out io.Writer)
}

// jsonlDemoTarget is a JSON Lines file of meetings.
type jsonlDemoTarget struct{ outDir string }

func (t *jsonlDemoTarget) name() string        { return "JSON Lines" }
func (t *jsonlDemoTarget) pipelines() []string { return []string{graphDemoPipeline} }
func (t *jsonlDemoTarget) subjectField() string {
	return "Subject"
}

func (t *jsonlDemoTarget) config() string {
	return fmt.Sprintf(`  crm:
    connector: jsonl
    settings: { dir: %q }
pipelines:
  - name: %s
    from: { connection: m365, entity: event }
    to:   { connection: crm, entity: meetings }
    mode: one-way
    on_delete: delete
    batch_size: 50
    filter: 'isCancelled != true'
    mapping:
      id: id
      Subject: subject
      Start: { expr: 'start.dateTime', tz: { from: 'start.timeZone', to: 'UTC' } }
      End:   { expr: 'end.dateTime', tz: { from: 'end.timeZone', to: 'UTC' } }
      Organizer: organizer.emailAddress.address
      Mailbox: user
      Status: { expr: showAs, map: { busy: Busy, free: Free, tentative: Tentative }, default: Busy }
`, t.outDir, graphDemoPipeline)
}

func (t *jsonlDemoTarget) file() string { return filepath.Join(t.outDir, "meetings.jsonl") }

func (t *jsonlDemoTarget) meetings(context.Context, *store.Store) (map[string]map[string]any, error) {
	return readMeetings(t.file())
}

func (t *jsonlDemoTarget) count() int {
	m, err := readMeetings(t.file())
	if err != nil {
		return -1
	}
	return len(m)
}

func (t *jsonlDemoTarget) show(out io.Writer, meetings map[string]map[string]any, n int) {
	showRecords(out, "in "+t.file(), meetings, n, []string{"id", "Subject", "Start", "End", "Status", "Mailbox"})
}

func (t *jsonlDemoTarget) output(map[string]map[string]any) (string, error) { return t.file(), nil }

func (t *jsonlDemoTarget) keepHint(io.Writer) {}

// zohoDemoTarget is the Zoho CRM emulator, running in this process: Graph
// contacts become Zoho Contacts, Graph events Zoho Events (meetings) whose
// attendees are invited as participants.
type zohoDemoTarget struct {
	srv    *zohotest.Server
	dir    string
	caFile string
}

// startZohoDemoTarget starts the Zoho emulator and writes its CA and its
// OAuth client secret and refresh token into dir, for the pipeline file.
func startZohoDemoTarget(dir string) (*zohoDemoTarget, error) {
	z, err := zohotest.Start(zohotest.Options{})
	if err != nil {
		return nil, fmt.Errorf("starting the Zoho CRM emulator: %w", err)
	}
	t := &zohoDemoTarget{srv: z, dir: dir, caFile: filepath.Join(dir, "zoho-emulator-ca.pem")}
	files := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{t.caFile, z.CAPEM(), 0o644},
		{filepath.Join(dir, "zoho-client-secret"), []byte(z.ClientSecret()), 0o600},
		{filepath.Join(dir, "zoho-refresh-token"), []byte(z.RefreshToken()), 0o600},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			z.Close()
			return nil, fmt.Errorf("writing %s: %w", f.path, err)
		}
	}
	return t, nil
}

func (t *zohoDemoTarget) close()               { t.srv.Close() }
func (t *zohoDemoTarget) name() string         { return "Zoho CRM" }
func (t *zohoDemoTarget) subjectField() string { return "Event_Title" }

// zohoDemoContacts is the contacts pipeline of the Zoho demo; it runs
// first, so the meetings' participants are contacts Zoho knows.
const zohoDemoContacts = "contacts-to-crm"

func (t *zohoDemoTarget) pipelines() []string { return []string{zohoDemoContacts, graphDemoPipeline} }

func (t *zohoDemoTarget) config() string {
	return fmt.Sprintf(`  crm:
    connector: zoho
    settings:
      data_center: us
      edition: enterprise
      accounts_url: %s
      ca_file: %s
      client_id: %s
      client_secret: ${file:zoho-client-secret}
      refresh_token: ${file:zoho-refresh-token}
      modules: [Contacts, Events]
pipelines:
  - name: %s
    from: { connection: m365, entity: contact }
    to:   { connection: crm, entity: Contacts }
    mode: one-way
    on_delete: delete
    batch_size: 100          # one Zoho write call per batch (at most 100 records)
    mapping:
      Last_Name: 'surname ?? displayName ?? "(no name)"'   # mandatory in Zoho
      First_Name: givenName
      Email: emailAddresses[0].address
      Mobile: mobilePhone
      Title: jobTitle
  - name: %s
    from: { connection: m365, entity: event }
    to:   { connection: crm, entity: Events }
    mode: one-way
    on_delete: delete
    batch_size: 100
    filter: 'isCancelled != true && type != "occurrence"'
    mapping:
      Event_Title: 'subject ?? "(no subject)"'
      # Zoho wants date-times with an offset: tz turns Graph's wall-clock
      # time and zone name into an instant.
      Start_DateTime: { expr: start.dateTime, tz: { from: start.timeZone, to: UTC } }
      End_DateTime: { expr: end.dateTime, tz: { from: end.timeZone, to: UTC } }
      All_day: isAllDay
      Venue: location.displayName
      # Attendees are invited by address; the connector turns the address
      # of a Zoho contact into that contact.
      Participants: 'map((attendees ?? [])[0:50], ({"type": "email", "Email": #.emailAddress.address}))'
`, t.srv.AccountsURL(""), t.caFile, t.srv.ClientID(), zohoDemoContacts, graphDemoPipeline)
}

func (t *zohoDemoTarget) meetings(ctx context.Context, st *store.Store) (map[string]map[string]any, error) {
	ms, err := st.MappingsOf(ctx, graphDemoPipeline, nil)
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[string]any, len(ms))
	for _, m := range ms {
		if rec, ok := t.srv.Get("", "Events", m.TargetID); ok {
			out[m.SourceID] = rec
		}
	}
	return out, nil
}

func (t *zohoDemoTarget) count() int { return t.srv.Count("", "Events") }

func (t *zohoDemoTarget) show(out io.Writer, meetings map[string]map[string]any, n int) {
	showRecords(out, "in Zoho CRM (as its API returns them)", meetings, n,
		[]string{"id", "Event_Title", "Start_DateTime", "End_DateTime", "Participants", "Modified_Time"})
}

// output writes every meeting as Zoho returns it into out/zoho-events.json.
func (t *zohoDemoTarget) output(meetings map[string]map[string]any) (string, error) {
	path := filepath.Join(t.dir, "out", "zoho-events.json")
	recs := make([]map[string]any, 0, len(meetings))
	for _, id := range sortedIDs(meetings) {
		recs = append(recs, meetings[id])
	}
	b, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return path + " (the Zoho emulator's Events after the second run)", nil
}

func (t *zohoDemoTarget) keepHint(out io.Writer) {
	fmt.Fprintf(out, "\nThe Zoho CRM emulator keeps running; to read its meetings through its API:\n")
	fmt.Fprintf(out, "  curl -s --cacert %s %s/oauth/v2/token -d grant_type=refresh_token -d client_id=%s \\\n"+
		"       -d client_secret=$(cat %s) -d refresh_token=$(cat %s)\n",
		t.caFile, t.srv.AccountsURL(""), t.srv.ClientID(), filepath.Join(t.dir, "zoho-client-secret"), filepath.Join(t.dir, "zoho-refresh-token"))
	fmt.Fprintf(out, "  curl -s --cacert %s -H \"Authorization: Zoho-oauthtoken ACCESS_TOKEN\" \\\n"+
		"       '%s/crm/v8/Events?fields=Event_Title,Start_DateTime,End_DateTime'\n", t.caFile, t.srv.APIDomain(""))
}

// showRecords prints up to n records (by source id) with the given fields.
func showRecords(out io.Writer, where string, recs map[string]map[string]any, n int, fields []string) {
	ids := sortedIDs(recs)
	if len(ids) > n {
		ids = ids[:n]
	}
	if len(ids) == 0 {
		return
	}
	fmt.Fprintf(out, "   %d of them %s:\n", len(ids), where)
	for _, id := range ids {
		parts := make([]string, 0, len(fields))
		for _, f := range fields {
			v, ok := recs[id][f]
			if !ok || v == nil {
				continue
			}
			b, _ := json.Marshal(v)
			parts = append(parts, fmt.Sprintf("%q: %s", f, b))
		}
		fmt.Fprintf(out, "     {%s}\n", strings.Join(parts, ", "))
	}
}

func sortedIDs(m map[string]map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
