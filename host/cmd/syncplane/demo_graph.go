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
	"time"

	"github.com/syncplane/syncplane/connector/graph/graphtest"
	"github.com/syncplane/syncplane/host/runner"
	"github.com/syncplane/syncplane/host/store"
)

const graphDemoPipeline = "events-to-crm"

// runGraphDemo runs the demo against the Graph emulator started in this
// process: three seeded mailboxes whose events (and, into Zoho, contacts)
// are mapped into the target — the Zoho CRM emulator, also started here,
// or a JSON Lines file — through connectors running as plugin processes.
func runGraphDemo(ctx context.Context, out, stderr io.Writer, dir, target string, inProcess, verbose, keep bool) error {
	started := time.Now()
	if dir == "" {
		d, err := os.MkdirTemp("", "syncplane-demo-")
		if err != nil {
			return fmt.Errorf("creating the demo directory: %w", err)
		}
		dir = d
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	outDir, stateDir := filepath.Join(dir, "out"), filepath.Join(dir, "state")
	for _, d := range []string{outDir, stateDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	srv, err := graphtest.Start(graphtest.Options{Users: 3, Seed: 1, EventsPerUser: 6, ContactsPerUser: 3, TasksPerUser: 3})
	if err != nil {
		return fmt.Errorf("starting the Graph emulator: %w", err)
	}
	defer srv.Close()
	caFile := filepath.Join(dir, "graph-emulator-ca.pem")
	if err := srv.WriteCAFile(caFile); err != nil {
		return err
	}
	// The client secret goes to a file the pipeline references, never into
	// the pipeline file itself.
	app := srv.App()
	secretFile := filepath.Join(dir, "graph-client-secret")
	if err := os.WriteFile(secretFile, []byte(app.ClientSecret), 0o600); err != nil {
		return err
	}
	users := srv.Users()
	events := 0
	for _, u := range users {
		events += len(srv.Events(u.UserPrincipalName))
	}
	fmt.Fprintf(out, "syncplane demo in %s\n\n", dir)
	fmt.Fprintf(out, "1. Started the Microsoft Graph emulator at %s\n   tenant %s, %d mailboxes (%s), %d events, %d contacts and %d tasks each\n",
		srv.GraphEndpoint(), srv.TenantID(), len(users), userList(users), events/len(users), 3, 3)
	var tgt demoTarget
	switch target {
	case "zoho":
		z, err := startZohoDemoTarget(dir)
		if err != nil {
			return err
		}
		defer z.close()
		tgt = z
		fmt.Fprintf(out, "   Started the Zoho CRM emulator: accounts %s, API %s\n", z.srv.AccountsURL(""), z.srv.APIDomain(""))
	case "jsonl":
		tgt = &jsonlDemoTarget{outDir: outDir}
	default:
		return fmt.Errorf("--target must be zoho or jsonl, not %q", target)
	}

	cfgPath := filepath.Join(dir, "syncplane.yaml")
	cfg := fmt.Sprintf(`# Written by syncplane demo. While the emulator runs (syncplane demo --keep),
# run it again with:
#   syncplane run -c %s --once
state: %s
connections:
  m365:
    connector: graph
    settings:
      tenant_id: %s
      client_id: %s
      auth: client_secret
      client_secret: ${file:graph-client-secret}
      cloud: custom
      authority_host: %s
      graph_endpoint: %s
      ca_file: %s
      users: { filter: "userType eq 'Member'" }
%s`, cfgPath, filepath.Join(stateDir, "syncplane.db"), srv.TenantID(), app.ClientID, srv.AuthorityHost(), srv.GraphEndpoint(), caFile, tgt.config())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", cfgPath, err)
	}

	e, mode, err := openDemoEngine(ctx, cfgPath, verbose, inProcess, stderr)
	if err != nil {
		return err
	}
	defer e.Close()
	fmt.Fprintf(out, "2. First run (Graph → %s, connectors %s):\n", tgt.name(), mode)
	if err := runDemoPipelines(ctx, out, e, tgt.pipelines()); err != nil {
		return err
	}
	before, err := tgt.meetings(ctx, e.store)
	if err != nil {
		return err
	}
	tgt.show(out, before, 3)

	// Change the mailboxes: two new events, one changed, one deleted.
	owner := strings.ToLower(users[0].UserPrincipalName)
	other := strings.ToLower(users[1].UserPrincipalName)
	day := srv.Now().UTC().Truncate(24 * time.Hour).Add(48 * time.Hour)
	slot := func(h int) map[string]any {
		return map[string]any{"dateTime": day.Add(time.Duration(h) * time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"}
	}
	newA, err := srv.PutEvent(owner, map[string]any{"subject": "Demo: kickoff with Fabrikam", "start": slot(9), "end": slot(10), "showAs": "busy"})
	if err != nil {
		return fmt.Errorf("creating a demo event: %w", err)
	}
	newB, err := srv.PutEvent(other, map[string]any{"subject": "Demo: contract review", "start": slot(14), "end": slot(15), "showAs": "tentative"})
	if err != nil {
		return fmt.Errorf("creating a demo event: %w", err)
	}
	evs := srv.Events(owner)
	sort.Slice(evs, func(i, j int) bool { return fmt.Sprint(evs[i]["id"]) < fmt.Sprint(evs[j]["id"]) })
	var changed, deleted string
	for _, ev := range evs {
		id := fmt.Sprint(ev["id"])
		if id == newA || ev["type"] == "seriesMaster" || ev["recurrence"] != nil || ev["attendees"] != nil && len(ev["attendees"].([]any)) > 0 {
			continue
		}
		if _, synced := before[id]; !synced {
			continue
		}
		switch {
		case changed == "":
			changed = id
		case deleted == "":
			deleted = id
		}
	}
	if changed == "" || deleted == "" {
		return fmt.Errorf("demo: the seeded mailbox %s has too few plain events to change", owner)
	}
	if err := srv.PatchEvent(owner, changed, map[string]any{"subject": "Demo: moved to Friday", "start": slot(11), "end": slot(12)}); err != nil {
		return fmt.Errorf("changing a demo event: %w", err)
	}
	if err := srv.DeleteEvent(owner, deleted); err != nil {
		return fmt.Errorf("deleting a demo event: %w", err)
	}
	fmt.Fprintf(out, "\n3. Changed the mailboxes in the emulator: created 2 events (%s, %s), changed 1, deleted 1 (%s)\n", owner, other, owner)
	fmt.Fprintf(out, "4. Second run: only those changes move:\n")
	sums, err := runDemoPipelinesSummaries(ctx, out, e, tgt.pipelines())
	if err != nil {
		return err
	}
	after, err := tgt.meetings(ctx, e.store)
	if err != nil {
		return err
	}
	if err := checkGraphDemo(ctx, e.store, tgt, before, after, sums, newA, newB, changed, deleted); err != nil {
		return err
	}
	fmt.Fprintf(out, "   checked: %d meetings before, %d after; the new ones arrived, the changed one reads %q, the deleted one is gone\n",
		len(before), len(after), after[changed][tgt.subjectField()])
	tgt.show(out, map[string]map[string]any{newA: after[newA], changed: after[changed]}, 2)
	output, err := tgt.output(after)
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "\nDone in %s.\n", time.Since(started).Round(100*time.Millisecond))
	fmt.Fprintf(out, "  pipeline file: %s\n", cfgPath)
	fmt.Fprintf(out, "  output:        %s\n", output)
	fmt.Fprintf(out, "  state:         %s (secret key in %s)\n", e.file.State, store.DefaultKeyFile(e.file.State))
	if !keep {
		fmt.Fprintf(out, "The emulators stop with the demo. To run the pipeline file yourself, start the demo with --keep\n")
		fmt.Fprintf(out, "(it keeps the emulators running), then in another terminal:\n")
		fmt.Fprintf(out, "  syncplane run -c %s --once\n  syncplane status -c %s\n  syncplane preview -c %s %s\n", cfgPath, cfgPath, cfgPath, graphDemoPipeline)
		fmt.Fprintf(out, "Other targets and sources: syncplane demo --target jsonl; without network or emulators: syncplane demo --source jsonl\n")
		return nil
	}
	e.Close()
	tgt.keepHint(out)
	fmt.Fprintf(out, "\nThe Graph emulator keeps running at %s; in another terminal try:\n", srv.GraphEndpoint())
	fmt.Fprintf(out, "  syncplane run -c %s --once\n  syncplane status -c %s\n  syncplane preview -c %s %s\n", cfgPath, cfgPath, cfgPath, graphDemoPipeline)
	fmt.Fprintf(out, "Stop with Ctrl-C.\n")
	<-ctx.Done()
	return nil
}

func userList(users []graphtest.User) string {
	names := make([]string, len(users))
	for i, u := range users {
		names[i] = u.UserPrincipalName
	}
	return strings.Join(names, ", ")
}

// readMeetings reads the live records of the output file by id.
func readMeetings(path string) (map[string]map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("demo: reading the output: %w", err)
	}
	out := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return nil, fmt.Errorf("demo: output line %q: %w", line, err)
		}
		if m["_deleted"] == true {
			continue
		}
		id, _ := m["id"].(string)
		out[id] = m
	}
	return out, nil
}

// runDemoPipelines runs pipelines once each, printing their summaries.
func runDemoPipelines(ctx context.Context, out io.Writer, e *engine, names []string) error {
	_, err := runDemoPipelinesSummaries(ctx, out, e, names)
	return err
}

func runDemoPipelinesSummaries(ctx context.Context, out io.Writer, e *engine, names []string) (map[string]runner.Summary, error) {
	sums := map[string]runner.Summary{}
	for _, name := range names {
		fmt.Fprint(out, "   ")
		s, err := e.runner.RunOnce(ctx, name)
		printSummary(out, s)
		if err != nil {
			return sums, err
		}
		sums[name] = s
	}
	return sums, nil
}

// checkGraphDemo verifies that the second run moved exactly the changes:
// the demo fails loudly otherwise.
func checkGraphDemo(ctx context.Context, st *store.Store, tgt demoTarget, before, after map[string]map[string]any, sums map[string]runner.Summary, newA, newB, changed, deleted string) error {
	for name, s := range sums {
		if name == graphDemoPipeline {
			continue
		}
		// Nothing else changed in the mailboxes: the other pipelines move nothing.
		if c := s.Counts; c.Created+c.Updated+c.Deleted+c.Rejected != 0 {
			return fmt.Errorf("demo: pipeline %s moved records in the second run though its source did not change: %+v", name, c)
		}
	}
	s := sums[graphDemoPipeline]
	c := s.Counts
	if c.Created != 2 || c.Updated != 1 || c.Deleted != 1 {
		return fmt.Errorf("demo: the second run did not move exactly the changes (created %d, updated %d, deleted %d; want 2, 1, 1)", c.Created, c.Updated, c.Deleted)
	}
	for _, id := range []string{newA, newB, changed} {
		if _, ok := after[id]; !ok {
			return fmt.Errorf("demo: event %s is missing from the output", id)
		}
	}
	if _, ok := after[deleted]; ok {
		return fmt.Errorf("demo: deleted event %s is still in the output", deleted)
	}
	if got := after[changed][tgt.subjectField()]; got != "Demo: moved to Friday" {
		return fmt.Errorf("demo: changed event has subject %v", got)
	}
	if len(after) != len(before)+1 {
		return fmt.Errorf("demo: the output holds %d meetings, want %d", len(after), len(before)+1)
	}
	ms, err := st.MappingsOf(ctx, s.Pipeline, nil)
	if err != nil {
		return err
	}
	if len(ms) != len(after) {
		return fmt.Errorf("demo: the ID map holds %d rows for %d meetings", len(ms), len(after))
	}
	if n := tgt.count(); n != len(after) {
		return fmt.Errorf("demo: the target holds %d meetings, want %d", n, len(after))
	}
	return nil
}
