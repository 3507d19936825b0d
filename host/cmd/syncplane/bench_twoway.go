package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncplane/syncplane/host/plugin"
	"github.com/syncplane/syncplane/host/runner"
)

// twoWayBenchResult is what `syncplane bench --two-way` measured: the same
// initial sync run as a one-way and as a two-way pipeline, alternately,
// over the same source data in the same run.
type twoWayBenchResult struct {
	Source    string `json:"source"`
	Target    string `json:"target"`
	Records   int    `json:"records"`
	BatchSize int    `json:"batchSize"`
	Plugins   bool   `json:"plugins"`
	Runs      int    `json:"runsEach"`
	// OneWaySeconds and TwoWaySeconds are the mean times of the initial
	// sync of each mode.
	OneWaySeconds float64 `json:"oneWaySeconds"`
	TwoWaySeconds float64 `json:"twoWaySeconds"`
	OneWayPerSec  float64 `json:"oneWayRecordsPerSecond"`
	TwoWayPerSec  float64 `json:"twoWayRecordsPerSecond"`
	// Ratio is TwoWaySeconds / OneWaySeconds: the cost of the two-way
	// bookkeeping per record (both change feeds, the link table with each
	// side's record, version and hash) over one-way.
	Ratio float64 `json:"ratio"`
	// EchoRoundSeconds is the round after the two-way sync, which reads the
	// echoes of its own creates back from the target; EchoRoundWrites is
	// what it wrote (0 when echo suppression works).
	EchoRoundSeconds float64 `json:"echoRoundSeconds"`
	EchoRoundWrites  int64   `json:"echoRoundWrites"`
}

// runTwoWayBench measures the two-way overhead: a jsonl target (it has a
// change feed, which a two-way pipeline reads), the source generated once,
// each mode run `runs` times alternately with fresh state and target.
func runTwoWayBench(ctx context.Context, stderr io.Writer, source string, records, batchSize int, inProcess bool, dir string, runs int) (*twoWayBenchResult, error) {
	if source != "jsonl" && source != "graph" {
		return nil, fmt.Errorf("--source must be jsonl or graph, not %q", source)
	}
	if records <= 0 || batchSize <= 0 || runs <= 0 {
		return nil, fmt.Errorf("--records, --batch-size and --runs must be positive")
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "syncplane-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	srcDir := filepath.Join(dir, "source")
	if err := os.MkdirAll(srcDir, 0o755); err != nil {
		return nil, err
	}
	var srcConnector, srcEntity, srcSettings, mapping, reverse string
	switch source {
	case "jsonl":
		if err := writeBenchEvents(filepath.Join(srcDir, "events.jsonl"), records); err != nil {
			return nil, err
		}
		srcConnector, srcEntity = "jsonl", "events"
		srcSettings = fmt.Sprintf(`{"dir": %q, "batch_size": %d, "entities": {"events": {"key": "id", "modified_field": "lastModifiedDateTime"}}}`, srcDir, batchSize)
		mapping = `{ Subject: subject, Start: start, End: end, Owner: organizer, Status: { expr: showAs, map: { busy: Busy, free: Free, tentative: Tentative }, default: Busy } }`
		reverse = `{ subject: Subject, start: Start, end: End, organizer: Owner, showAs: { expr: Status, map: { Busy: busy, Free: free, Tentative: tentative }, default: busy } }`
	case "graph":
		srv, settings, err := startBenchGraph(dir, records)
		if err != nil {
			return nil, err
		}
		defer srv.Close()
		srcConnector, srcEntity, srcSettings = "graph", "event", settings
		records = -1 // the emulator's seed decides
		mapping = `{ Subject: subject, Start: start.dateTime, End: end.dateTime, Owner: organizer.emailAddress.address, Status: { expr: showAs, map: { busy: Busy, free: Free, tentative: Tentative }, default: Busy } }`
		reverse = `{ user: Owner, subject: Subject, start: '{"dateTime": Start, "timeZone": "UTC"}', end: '{"dateTime": End, "timeZone": "UTC"}' }`
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m, err := plugin.New(plugin.Options{Bundled: benchConnectors(), Args: []string{"bench", "serve-connector"}, InProcess: inProcess,
		Logger: log, PluginDir: filepath.Join(dir, "no-plugins")})
	if err != nil {
		return nil, err
	}
	res := &twoWayBenchResult{Source: source, Target: "jsonl", BatchSize: batchSize, Plugins: !inProcess, Runs: runs}
	var total [2]time.Duration
	for i := range 2 * runs {
		mode := []string{"one-way", "two-way"}[i%2]
		run := filepath.Join(dir, fmt.Sprintf("run%d-%s", i/2, mode))
		outDir := filepath.Join(run, "out")
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return nil, err
		}
		// The target entity exists from the start (empty): a two-way
		// pipeline reads its change feed before writing to it.
		if err := os.WriteFile(filepath.Join(outDir, "meetings.jsonl"), nil, 0o644); err != nil {
			return nil, err
		}
		extra := ""
		if mode == "two-way" {
			extra = "    conflict: manual\n    reverse_mapping: " + reverse + "\n"
		}
		cfgPath := filepath.Join(run, "syncplane.yaml")
		cfg := fmt.Sprintf(`state: %s
connections:
  calendar: { connector: %s, settings: %s }
  out: { connector: jsonl, settings: { dir: %q, entities: { meetings: { key: id, modified_field: modified } } } }
pipelines:
  - name: bench
    from: { connection: calendar, entity: %s }
    to:   { connection: out, entity: meetings }
    mode: %s
    on_delete: delete
    batch_size: %d
    mapping: %s
%s`, filepath.Join(run, "state", "syncplane.db"), srcConnector, srcSettings, outDir, srcEntity, mode, batchSize, mapping, extra)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			return nil, err
		}
		d, n, echo, echoWrites, err := timeInitialSync(ctx, cfgPath, m, log, mode == "two-way")
		if err != nil {
			return nil, fmt.Errorf("bench %s: %w", mode, err)
		}
		if records < 0 {
			records = int(n)
		}
		if n != int64(records) {
			return nil, fmt.Errorf("bench %s: the sync created %d records, want %d", mode, n, records)
		}
		total[i%2] += d
		if mode == "two-way" {
			res.EchoRoundSeconds += echo.Seconds() / float64(runs)
			res.EchoRoundWrites += echoWrites
		}
	}
	res.Records = records
	res.OneWaySeconds = total[0].Seconds() / float64(runs)
	res.TwoWaySeconds = total[1].Seconds() / float64(runs)
	res.OneWayPerSec = float64(records) / res.OneWaySeconds
	res.TwoWayPerSec = float64(records) / res.TwoWaySeconds
	res.Ratio = res.TwoWaySeconds / res.OneWaySeconds
	return res, nil
}

// timeInitialSync runs the pipeline "bench" of a file once with fresh
// state, timing it after both connectors started; for a two-way pipeline
// it then runs the echo round and counts what it wrote.
func timeInitialSync(ctx context.Context, cfgPath string, m *plugin.Manager, log *slog.Logger, twoWay bool) (d time.Duration, created int64, echo time.Duration, echoWrites int64, err error) {
	f, err := loadConfig(cfgPath)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	st, err := openStore(ctx, f)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer st.Close()
	conns := runner.NewConnections(f, st, m.Open)
	defer conns.Close()
	r, err := runner.New(runner.Options{File: f, Store: st, Connectors: conns, Logger: log})
	if err != nil {
		return 0, 0, 0, 0, err
	}
	for _, name := range []string{"calendar", "out"} {
		if _, err := conns.Client(ctx, name); err != nil {
			return 0, 0, 0, 0, err
		}
	}
	start := time.Now()
	sum, err := r.RunOnce(ctx, "bench")
	d = time.Since(start)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	if twoWay {
		start = time.Now()
		s, err := r.RunOnce(ctx, "bench")
		echo = time.Since(start)
		if err != nil {
			return 0, 0, 0, 0, fmt.Errorf("the echo round: %w", err)
		}
		echoWrites = s.Counts.Created + s.Counts.Updated + s.Counts.Deleted
	}
	return d, sum.Counts.Created, echo, echoWrites, nil
}

// printTwoWayBench prints the two-way figures.
func printTwoWayBench(w io.Writer, res *twoWayBenchResult) {
	mode := "plugin processes"
	if !res.Plugins {
		mode = "in-process"
	}
	fmt.Fprintf(w, "initial sync of %d events, %s → %s, batch size %d, connectors as %s, %d runs of each mode alternately\n",
		res.Records, res.Source, res.Target, res.BatchSize, mode, res.Runs)
	fmt.Fprintf(w, "  one-way:  %8.2fs  %10.0f records/s\n", res.OneWaySeconds, res.OneWayPerSec)
	fmt.Fprintf(w, "  two-way:  %8.2fs  %10.0f records/s\n", res.TwoWaySeconds, res.TwoWayPerSec)
	fmt.Fprintf(w, "  ratio two-way/one-way: %.3f× (overhead %+.1f%%, target ≤ +20%%)\n", res.Ratio, (res.Ratio-1)*100)
	fmt.Fprintf(w, "  two-way echo round: %.2fs, %d writes (0 expected)\n", res.EchoRoundSeconds, res.EchoRoundWrites)
}

// runTwoWayBenchCmd is `syncplane bench --two-way RUNS`.
func runTwoWayBenchCmd(cmd *cobra.Command, source string, records, batchSize int, inProcess bool, dir string, asJSON bool, runs int) error {
	res, err := runTwoWayBench(cmd.Context(), cmd.ErrOrStderr(), source, records, batchSize, inProcess, dir, runs)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printTwoWayBench(cmd.OutOrStdout(), res)
	return nil
}
