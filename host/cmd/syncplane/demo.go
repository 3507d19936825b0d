package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/jsonl"
	"github.com/syncplane/syncplane/host/runner"
	"github.com/syncplane/syncplane/host/store"
)

func newDemoCmd() *cobra.Command {
	var (
		dir       string
		source    string
		target    string
		inProcess bool
		verbose   bool
		keep      bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a pipeline end to end on local data, change the source, and run it again",
		Long: "The first command to try. It starts the Microsoft Graph emulator with seeded mailboxes\n" +
			"(events, contacts, tasks) and the Zoho CRM emulator, writes a pipeline file that maps the\n" +
			"mailboxes' contacts into Zoho Contacts and their events into Zoho meetings, and runs it with\n" +
			"the embedded state store and the connectors as plugin processes; then creates, changes and\n" +
			"deletes events in the Graph emulator and runs again, showing that only those changes move.\n" +
			"At the end it says where everything is and how to run it yourself. --target jsonl writes the\n" +
			"events into a JSON Lines file instead of Zoho; --source jsonl uses a JSON Lines calendar and\n" +
			"target instead of the emulators (no network).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch source {
			case "graph":
				return runGraphDemo(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), dir, target, inProcess, verbose, keep)
			case "jsonl":
				if cmd.Flags().Changed("target") && target != "jsonl" {
					return fmt.Errorf("--source jsonl writes into JSON Lines only; drop --target or use --target jsonl")
				}
				return runDemo(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), dir, inProcess, verbose)
			}
			return fmt.Errorf("--source must be graph or jsonl, not %q", source)
		},
	}
	cmd.Flags().StringVar(&source, "source", "graph", "source of the demo: graph (the Graph emulator) or jsonl (a local file)")
	cmd.Flags().StringVar(&target, "target", "zoho", "target of the Graph demo: zoho (the Zoho CRM emulator) or jsonl (a local file)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the emulators running after the demo, so the pipeline file can be run again (Ctrl-C stops)")
	cmd.Flags().StringVar(&dir, "dir", "", "working directory (default: a new temporary directory)")
	cmd.Flags().BoolVar(&inProcess, "in-process", false, "run the connectors inside this process instead of as plugins")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every step of the runner")
	return cmd
}

// demoEvent is one seeded calendar event.
func demoEvent(i int, day time.Time) map[string]any {
	subjects := []string{"Quarterly review", "Customer call: Contoso", "Design sync", "1:1 Anna / Ben", "Sales pipeline",
		"Onboarding: new hire", "Budget planning", "Partner workshop", "Support escalation", "Team lunch", "Roadmap", "Release go/no-go"}
	showAs := []string{"busy", "busy", "tentative", "free", "busy", "oof"}
	people := []string{"anna@contoso.com", "ben@contoso.com", "chris@contoso.com"}
	start := day.Add(time.Duration(9+i%8) * time.Hour).Add(time.Duration(i/8) * 24 * time.Hour)
	return map[string]any{
		"id":          fmt.Sprintf("evt-%03d", i+1),
		"subject":     subjects[i%len(subjects)],
		"start":       start.Format("2006-01-02T15:04:05"),
		"end":         start.Add(time.Hour).Format("2006-01-02T15:04:05"),
		"timeZone":    "W. Europe Standard Time",
		"showAs":      showAs[i%len(showAs)],
		"organizer":   people[i%len(people)],
		"isCancelled": false,
	}
}

const demoEvents = 12

func runDemo(ctx context.Context, out, stderr io.Writer, dir string, inProcess, verbose bool) error {
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
	srcDir, outDir, stateDir := filepath.Join(dir, "calendar"), filepath.Join(dir, "out"), filepath.Join(dir, "state")
	for _, d := range []string{srcDir, outDir, stateDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	cfgPath := filepath.Join(dir, "syncplane.yaml")
	srcSettings := fmt.Sprintf(`{"dir": %q, "entities": {"events": {"key": "id", "modified_field": "lastModifiedDateTime"}}}`, srcDir)
	cfg := fmt.Sprintf(`# Written by syncplane demo. Run it again with:
#   syncplane run -c %s --once
state: %s
connections:
  calendar:
    connector: jsonl
    settings: %s
  crm:
    connector: jsonl
    settings: { dir: %q }
pipelines:
  - name: events-to-meetings
    from: { connection: calendar, entity: events }
    to:   { connection: crm, entity: meetings }
    mode: one-way
    on_delete: delete
    batch_size: 50
    filter: 'isCancelled == false'
    mapping:
      id: id
      Subject: subject
      Start: { expr: start, tz: { from: timeZone, to: 'UTC' } }
      End:   { expr: end, tz: { from: timeZone, to: 'UTC' } }
      Status: { expr: showAs, map: { busy: Busy, free: Free, tentative: Tentative }, default: Busy }
      Owner: organizer
`, cfgPath, filepath.Join(stateDir, "syncplane.db"), srcSettings, outDir)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", cfgPath, err)
	}

	// The source "service": a calendar the demo edits directly.
	cal := connector.Local(jsonl.New())
	if err := cal.Configure(ctx, connector.ConfigureRequest{Connection: "calendar", Settings: json.RawMessage(srcSettings)}); err != nil {
		return fmt.Errorf("preparing the demo calendar: %w", err)
	}
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	var seed []map[string]any
	for i := range demoEvents {
		seed = append(seed, demoEvent(i, day))
	}
	seed[4]["isCancelled"] = true // one cancelled event, left out by the filter
	if err := writeEvents(ctx, cal, seed...); err != nil {
		return err
	}
	fmt.Fprintf(out, "syncplane demo in %s\n\n", dir)
	fmt.Fprintf(out, "1. Seeded a calendar with %d events (one cancelled) in %s\n", demoEvents, srcDir)

	e, mode, err := openDemoEngine(ctx, cfgPath, verbose, inProcess, stderr)
	if err != nil {
		return err
	}
	defer e.Close()
	fmt.Fprintf(out, "2. First run of pipeline events-to-meetings (connectors %s):\n   ", mode)
	s1, err := e.runner.RunOnce(ctx, "events-to-meetings")
	printSummary(out, s1)
	if err != nil {
		return err
	}

	// Change the source: two new events, one rescheduled, one deleted.
	extra1, extra2 := demoEvent(demoEvents, day), demoEvent(demoEvents+1, day)
	moved := demoEvent(2, day)
	moved["subject"] = "Design sync (moved)"
	moved["start"], moved["end"] = day.Add(30*time.Hour).Format("2006-01-02T15:04:05"), day.Add(31*time.Hour).Format("2006-01-02T15:04:05")
	if err := writeEvents(ctx, cal, extra1, extra2, moved); err != nil {
		return err
	}
	if _, err := cal.Write(ctx, connector.WriteBatch{Entity: "events", Ops: []connector.WriteOp{{
		Action: connector.ActionDelete, IdempotencyKey: "demo-delete-evt-007", TargetID: "evt-007"}}}); err != nil {
		return fmt.Errorf("deleting a demo event: %w", err)
	}
	fmt.Fprintf(out, "\n3. Changed the calendar: created %s and %s, moved %s, deleted evt-007\n", extra1["id"], extra2["id"], moved["id"])
	fmt.Fprintf(out, "4. Second run: only those changes move:\n   ")
	s2, err := e.runner.RunOnce(ctx, "events-to-meetings")
	printSummary(out, s2)
	if err != nil {
		return err
	}
	if err := checkDemo(ctx, e.store, outDir, s2); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nDone in %s.\n", time.Since(started).Round(100*time.Millisecond))
	fmt.Fprintf(out, "  pipeline file: %s\n", cfgPath)
	fmt.Fprintf(out, "  source:        %s\n", filepath.Join(srcDir, "events.jsonl"))
	fmt.Fprintf(out, "  output:        %s\n", filepath.Join(outDir, "meetings.jsonl"))
	fmt.Fprintf(out, "  state:         %s (secret key in %s)\n", e.file.State, store.DefaultKeyFile(e.file.State))
	fmt.Fprintf(out, "Try next:\n")
	fmt.Fprintf(out, "  syncplane status  -c %s\n", cfgPath)
	fmt.Fprintf(out, "  syncplane preview -c %s events-to-meetings\n", cfgPath)
	fmt.Fprintf(out, "  edit %s, then: syncplane run -c %s --once\n", filepath.Join(srcDir, "events.jsonl"), cfgPath)
	return nil
}

// writeEvents upserts events into the demo calendar.
func writeEvents(ctx context.Context, cal connector.Client, events ...map[string]any) error {
	ops := make([]connector.WriteOp, len(events))
	for i, ev := range events {
		ops[i] = connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: fmt.Sprintf("demo-%v-%d", ev["id"], time.Now().UnixNano()),
			Record: connector.Record{Fields: ev}}
	}
	outs, err := cal.Write(ctx, connector.WriteBatch{Entity: "events", Ops: ops})
	if err != nil {
		return fmt.Errorf("writing demo events: %w", err)
	}
	for _, o := range outs {
		if o.Status == connector.Rejected {
			return fmt.Errorf("writing demo events: %v", o.Diagnostics)
		}
	}
	return nil
}

// checkDemo verifies what the second run did and that the output holds one
// meeting per live, non-cancelled event: the demo fails loudly otherwise.
func checkDemo(ctx context.Context, st *store.Store, outDir string, s runner.Summary) error {
	c := s.Counts
	if c.Created != 2 || c.Updated != 1 || c.Deleted != 1 {
		return fmt.Errorf("demo: the second run did not move exactly the changes (created %d, updated %d, deleted %d; want 2, 1, 1)", c.Created, c.Updated, c.Deleted)
	}
	data, err := os.ReadFile(filepath.Join(outDir, "meetings.jsonl"))
	if err != nil {
		return fmt.Errorf("demo: reading the output: %w", err)
	}
	live := 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if !strings.Contains(line, `"_deleted":true`) {
			live++
		}
	}
	// 12 seeded − 1 cancelled + 2 created − 1 deleted.
	if want := demoEvents - 1 + 2 - 1; live != want {
		return fmt.Errorf("demo: the output holds %d meetings, want %d", live, want)
	}
	ms, err := st.MappingsOf(ctx, s.Pipeline, nil)
	if err != nil {
		return err
	}
	if len(ms) != live {
		return fmt.Errorf("demo: the ID map holds %d rows for %d meetings", len(ms), live)
	}
	return nil
}

// openDemoEngine opens the demo's pipeline file with the embedded store,
// logging warnings (everything with verbose) to stderr, and says how the
// connectors run.
func openDemoEngine(ctx context.Context, cfgPath string, verbose, inProcess bool, stderr io.Writer) (*engine, string, error) {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	f, err := loadConfig(cfgPath)
	if err != nil {
		return nil, "", err
	}
	e, err := openEngineFile(ctx, f, engineFlags{inProcess: inProcess, concurrency: 4}, log, stderr, nil)
	if err != nil {
		return nil, "", err
	}
	if inProcess {
		return e, "in-process", nil
	}
	return e, "as plugin processes", nil
}
