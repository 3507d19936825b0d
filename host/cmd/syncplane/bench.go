package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/graph"
	"github.com/syncplane/syncplane/connector/graph/graphtest"
	"github.com/syncplane/syncplane/connector/jsonl"
	"github.com/syncplane/syncplane/host/config"
	"github.com/syncplane/syncplane/host/plugin"
	"github.com/syncplane/syncplane/host/runner"
	"github.com/syncplane/syncplane/host/store"
	"github.com/syncplane/syncplane/schema"
)

// benchResult is what `syncplane bench` measured.
type benchResult struct {
	Source    string `json:"source"`
	Records   int    `json:"records"`
	BatchSize int    `json:"batchSize"`
	Target    string `json:"target"`
	Plugins   bool   `json:"plugins"`
	// ReadSeconds is the read-only baseline: the source's change feed read
	// to the end through the same connector process, mean of two reads.
	ReadSeconds float64 `json:"readSeconds"`
	ReadPerSec  float64 `json:"readRecordsPerSecond"`
	// SyncSeconds is the initial sync end to end: read, map, write through
	// the ID map, commit.
	SyncSeconds float64 `json:"syncSeconds"`
	SyncPerSec  float64 `json:"syncRecordsPerSecond"`
	// ReadCPUSeconds and SyncCPUSeconds are the CPU time this process and
	// the connector plugin processes used in the read (mean of two) and in
	// the sync, CPURatio their ratio: what the pipeline costs beside the
	// read, barely moved by other load (Linux only; zero elsewhere).
	ReadCPUSeconds float64 `json:"readCpuSeconds,omitempty"`
	SyncCPUSeconds float64 `json:"syncCpuSeconds,omitempty"`
	CPURatio       float64 `json:"cpuRatio,omitempty"`
	// Ratio is SyncSeconds / ReadSeconds.
	Ratio  float64      `json:"ratio"`
	Counts store.Counts `json:"counts"`
	// Runs are the runs measured (--runs); with more than one, the figures
	// above are their medians, the ratios the medians of each run's ratio.
	Runs []benchRun `json:"runs"`
}

// benchRun is one run of the bench: a read, the initial sync, a read.
type benchRun struct {
	ReadSeconds    float64 `json:"readSeconds"`
	SyncSeconds    float64 `json:"syncSeconds"`
	Ratio          float64 `json:"ratio"`
	ReadCPUSeconds float64 `json:"readCpuSeconds,omitempty"`
	SyncCPUSeconds float64 `json:"syncCpuSeconds,omitempty"`
	CPURatio       float64 `json:"cpuRatio,omitempty"`
}

// benchConnectors are the connectors the bench runs: the jsonl connector
// and a target that acknowledges and discards, to measure the pipeline
// without a target's own cost.
func benchConnectors() map[string]func() connector.Connector {
	return map[string]func() connector.Connector{
		jsonl.Name: jsonl.New,
		"graph":    graph.New,
		"discard":  func() connector.Connector { return &discardTarget{} },
	}
}

func newBenchCmd() *cobra.Command {
	var (
		source    string
		records   int
		batchSize int
		target    string
		inProcess bool
		dir       string
		asJSON    bool
		cpuProf   string
		memProf   string
		runs      int
		plugProf  string
		twoWay    int
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure an initial sync end to end against a read-only baseline over the same data",
		Long: "Generate N calendar events in a JSON Lines source, read them once as a baseline (the\n" +
			"connector's change feed, no mapping, no writes), then run the initial sync of a pipeline\n" +
			"(mapping, ID map, batch commits) into the target, with the connectors as plugin processes.\n" +
			"Prints records per second for both and their ratio. --target jsonl writes a JSON Lines file\n" +
			"(which rewrites its file on every batch: use large batches); --target discard acknowledges\n" +
			"and drops every record, isolating the host's own cost.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if twoWay > 0 { // bench_twoway.go
				return runTwoWayBenchCmd(cmd, source, records, batchSize, inProcess, dir, asJSON, twoWay)
			}
			var prof, readProf io.Writer
			if cpuProf != "" {
				f, err := os.Create(cpuProf)
				if err != nil {
					return fmt.Errorf("creating the CPU profile: %w", err)
				}
				prof = f
				defer f.Close()
				rf, err := os.Create(cpuProf + ".read")
				if err != nil {
					return fmt.Errorf("creating the CPU profile of the read: %w", err)
				}
				readProf = rf
				defer rf.Close()
			}
			res, err := runBench(cmd.Context(), cmd.ErrOrStderr(), source, records, batchSize, runs, target, inProcess, dir, benchProfiles{sync: prof, read: readProf, mem: memProf}, plugProf)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			mode := "plugin processes"
			if !res.Plugins {
				mode = "in-process"
			}
			fmt.Fprintf(out, "initial sync of %d events, %s → %s, batch size %d, connectors as %s\n", res.Records, res.Source, res.Target, res.BatchSize, mode)
			if len(res.Runs) > 1 {
				for i, r := range res.Runs {
					fmt.Fprintf(out, "  run %d: read %.2fs, pipeline %.2fs, ratio %.2f×", i+1, r.ReadSeconds, r.SyncSeconds, r.Ratio)
					if r.CPURatio > 0 {
						fmt.Fprintf(out, "; CPU read %.2fs, pipeline %.2fs, ratio %.2f×", r.ReadCPUSeconds, r.SyncCPUSeconds, r.CPURatio)
					}
					fmt.Fprintln(out)
				}
				fmt.Fprintf(out, "medians of %d runs:\n", len(res.Runs))
			}
			fmt.Fprintf(out, "  read only (baseline): %8.2fs  %10.0f records/s\n", res.ReadSeconds, res.ReadPerSec)
			fmt.Fprintf(out, "  pipeline end to end:  %8.2fs  %10.0f records/s\n", res.SyncSeconds, res.SyncPerSec)
			fmt.Fprintf(out, "  ratio pipeline/read:  %8.2f× (target ≤ 1.5×)\n", res.Ratio)
			if res.CPURatio > 0 {
				fmt.Fprintf(out, "  CPU, this process and the plugins: read %.2fs, pipeline %.2fs, ratio %.2f×\n", res.ReadCPUSeconds, res.SyncCPUSeconds, res.CPURatio)
			}
			fmt.Fprintf(out, "  created %d, rejected %d\n", res.Counts.Created, res.Counts.Rejected)
			return nil
		},
	}
	cmd.Flags().StringVar(&source, "source", "jsonl", "source: jsonl (a generated file) or graph (the Graph emulator in this process, 0 latency)")
	cmd.Flags().IntVar(&records, "records", 100_000, "number of events")
	cmd.Flags().IntVar(&batchSize, "batch-size", 1000, "pipeline batch size")
	cmd.Flags().IntVar(&runs, "runs", 1, "measure this many runs (read, sync into a new state store, read) and print each and their medians")
	cmd.Flags().StringVar(&target, "target", "jsonl", "target connector: jsonl or discard")
	cmd.Flags().BoolVar(&inProcess, "in-process", false, "run the connectors inside this process instead of as plugins")
	cmd.Flags().StringVar(&dir, "dir", "", "working directory (default: a temporary directory, removed after)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the figures as JSON")
	cmd.Flags().IntVar(&twoWay, "two-way", 0, "instead: time the initial sync as one-way and as two-way pipelines (jsonl target), this many runs of each, and print the two-way overhead")
	cmd.Flags().StringVar(&cpuProf, "cpuprofile", "", "write a CPU profile of this process during the timed sync to this file, and one of the second baseline read to FILE.read (with --in-process they cover the connectors too)")
	cmd.Flags().StringVar(&memProf, "memprofile", "", "write this process's allocation profile just before the timed sync to FILE.before and after it to FILE (compare with go tool pprof -base FILE.before FILE)")
	cmd.Flags().StringVar(&plugProf, "plugin-cpuprofile", "", "write a CPU profile of every connector plugin process, for its whole life, into this directory (NAME-PID.prof)")
	cmd.AddCommand(&cobra.Command{
		Use:    "serve-connector NAME",
		Short:  "Serve a bench connector as a plugin process (started by bench)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			f, ok := benchConnectors()[args[0]]
			if !ok {
				return fmt.Errorf("no bench connector %q", args[0])
			}
			if dir := os.Getenv(benchProfileEnv); dir != "" {
				pf, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.prof", args[0], os.Getpid())))
				if err != nil {
					return fmt.Errorf("creating the plugin's CPU profile: %w", err)
				}
				defer pf.Close()
				if err := pprof.StartCPUProfile(pf); err != nil {
					return fmt.Errorf("starting the plugin's CPU profile: %w", err)
				}
				// Serve returns when the host shuts the plugin down.
				defer pprof.StopCPUProfile()
			}
			connector.Serve(f())
			return nil
		},
	})
	return cmd
}

// benchProfileEnv names, in a bench plugin's environment, the directory
// its CPU profile goes to (see --plugin-cpuprofile).
const benchProfileEnv = "SYNCPLANE_BENCH_CPUPROFILE_DIR"

// benchProfiles are where the CPU profiles of the timed sync and of the
// second baseline read go; nil writes none.
// mem, when set, is where the allocation profiles go: mem+".before" just
// before the timed sync and mem after it (compare with pprof -base).
type benchProfiles struct {
	sync, read io.Writer
	mem        string
}

// writeHeapProfile writes the allocation profile to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating the allocation profile: %w", err)
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("writing the allocation profile: %w", err)
	}
	return f.Close()
}

func runBench(ctx context.Context, stderr io.Writer, source string, records, batchSize, runs int, target string, inProcess bool, dir string, profs benchProfiles, pluginProfDir string) (*benchResult, error) {
	if source != "jsonl" && source != "graph" {
		return nil, fmt.Errorf("--source must be jsonl or graph, not %q", source)
	}
	if target != "jsonl" && target != "discard" {
		return nil, fmt.Errorf("--target must be jsonl or discard, not %q", target)
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
	srcDir, outDir := filepath.Join(dir, "source"), filepath.Join(dir, "out")
	for _, d := range []string{srcDir, outDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	srcConnector, srcEntity := "jsonl", "events"
	var srcSettings, srcMapping string
	switch source {
	case "jsonl":
		if err := writeBenchEvents(filepath.Join(srcDir, "events.jsonl"), records); err != nil {
			return nil, err
		}
		srcSettings = fmt.Sprintf(`{"dir": %q, "batch_size": %d, "entities": {"events": {"key": "id", "modified_field": "lastModifiedDateTime"}}}`, srcDir, batchSize)
		srcMapping = `
      Subject: subject
      Start: start
      End: end
      Owner: organizer
      Status: { expr: showAs, map: { busy: Busy, free: Free, tentative: Tentative }, default: Busy }
      Source: id`
	case "graph":
		srv, settings, err := startBenchGraph(dir, records)
		if err != nil {
			return nil, err
		}
		defer srv.Close()
		srcConnector, srcEntity, srcSettings = "graph", "event", settings
		records = -1 // the emulator's seed decides: series and shared meetings change the count
		srcMapping = `
      Subject: subject
      Start: start.dateTime
      End: end.dateTime
      Owner: organizer.emailAddress.address
      Status: { expr: showAs, map: { busy: Busy, free: Free, tentative: Tentative }, default: Busy }
      Source: id`
	}
	tgtConnector, tgtSettings := "jsonl", fmt.Sprintf(`{"dir": %q}`, outDir)
	if target == "discard" {
		tgtConnector, tgtSettings = "discard", `{}`
	}
	cfgPath := filepath.Join(dir, "syncplane.yaml")
	cfg := fmt.Sprintf(`state: %s
connections:
  calendar: { connector: %s, settings: %s }
  out: { connector: %s, settings: %s }
pipelines:
  - name: bench
    from: { connection: calendar, entity: %s }
    to:   { connection: out, entity: meetings }
    mode: one-way
    on_delete: delete
    batch_size: %d
    mapping:%s
`, filepath.Join(dir, "state", "syncplane.db"), srcConnector, srcSettings, tgtConnector, tgtSettings, srcEntity, batchSize, srcMapping)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	f, err := loadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	env := plugin.NetworkEnv()
	if pluginProfDir != "" {
		abs, err := filepath.Abs(pluginProfDir)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, err
		}
		env = append(env, benchProfileEnv+"="+abs)
	}
	m, err := plugin.New(plugin.Options{Bundled: benchConnectors(), Args: []string{"bench", "serve-connector"}, InProcess: inProcess,
		Logger: log, PluginDir: filepath.Join(dir, "no-plugins"), Env: env})
	if err != nil {
		return nil, err
	}

	// Baseline: the source's change feed read to the end, nothing else.
	readOnce := func() (time.Duration, time.Duration, int, error) {
		c, err := m.Open(ctx, srcConnector)
		if err != nil {
			return 0, 0, 0, err
		}
		defer c.Close()
		if err := c.Configure(ctx, connector.ConfigureRequest{Connection: "calendar", Settings: json.RawMessage(srcSettings), Host: &connector.MemoryHost{}}); err != nil {
			return 0, 0, 0, err
		}
		// Warm the connection before timing, as the sync's connectors are.
		parts, err := c.ListPartitions(ctx, srcEntity)
		if err != nil {
			return 0, 0, 0, err
		}
		// Read the partitions as the runner does: up to 4 at once.
		var (
			mu   sync.Mutex
			n    int
			errs []error
			wg   sync.WaitGroup
			sem  = make(chan struct{}, 4)
		)
		cpu0, _ := treeCPU()
		start := time.Now()
		for _, p := range parts.Partitions {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				err := c.ReadChanges(ctx, connector.ChangesRequest{Entity: srcEntity, Partition: p.ID, BatchSize: batchSize}, func(b connector.ChangeBatch) error {
					mu.Lock()
					n += len(b.Changes)
					mu.Unlock()
					return nil
				})
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		took := time.Since(start)
		cpu1, _ := treeCPU() // before the plugin process ends
		return took, cpu1 - cpu0, n, errors.Join(errs...)
	}
	if _, _, _, err := readOnce(); err != nil { // warm-up: page cache, code paths
		return nil, fmt.Errorf("bench: reading the source: %w", err)
	}

	// One run: a read, the initial sync into a new state store (and an
	// empty target), another read. The profiles cover the first run.
	measure := func(i int) (benchRun, store.Counts, error) {
		read1, readCPU1, n, err := readOnce()
		if err != nil {
			return benchRun{}, store.Counts{}, err
		}
		if records >= 0 && n != records {
			return benchRun{}, store.Counts{}, fmt.Errorf("bench: the baseline read %d records, want %d", n, records)
		}
		records = n
		for _, d := range []string{filepath.Join(dir, "state"), outDir} {
			if err := os.RemoveAll(d); err != nil {
				return benchRun{}, store.Counts{}, err
			}
		}
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return benchRun{}, store.Counts{}, err
		}
		st, err := openStore(ctx, f)
		if err != nil {
			return benchRun{}, store.Counts{}, err
		}
		defer st.Close()
		conns := runner.NewConnections(f, st, m.Open)
		defer conns.Close()
		r, err := runner.New(runner.Options{File: f, Store: st, Connectors: conns, Logger: log})
		if err != nil {
			return benchRun{}, store.Counts{}, err
		}
		// Start both connectors before timing, as the baseline does.
		for _, name := range []string{"calendar", "out"} {
			if _, err := conns.Client(ctx, name); err != nil {
				return benchRun{}, store.Counts{}, err
			}
		}
		first := i == 0
		if first && profs.mem != "" {
			if err := writeHeapProfile(profs.mem + ".before"); err != nil {
				return benchRun{}, store.Counts{}, err
			}
		}
		if first && profs.sync != nil {
			if err := pprof.StartCPUProfile(profs.sync); err != nil {
				return benchRun{}, store.Counts{}, fmt.Errorf("starting the CPU profile: %w", err)
			}
		}
		cpu0, cpuOK := treeCPU()
		start := time.Now()
		sum, err := r.RunOnce(ctx, "bench")
		syncDur := time.Since(start)
		cpu1, _ := treeCPU()
		if first && profs.sync != nil {
			pprof.StopCPUProfile()
		}
		if first && profs.mem != "" {
			if err := writeHeapProfile(profs.mem); err != nil {
				return benchRun{}, store.Counts{}, err
			}
		}
		if err != nil {
			return benchRun{}, store.Counts{}, err
		}
		if sum.Counts.Created != int64(records) {
			return benchRun{}, store.Counts{}, fmt.Errorf("bench: the sync created %d records, want %d (counts %+v)", sum.Counts.Created, records, sum.Counts)
		}
		if first && profs.read != nil {
			if err := pprof.StartCPUProfile(profs.read); err != nil {
				return benchRun{}, store.Counts{}, fmt.Errorf("starting the CPU profile of the read: %w", err)
			}
		}
		read2, readCPU2, _, err := readOnce()
		if first && profs.read != nil {
			pprof.StopCPUProfile()
		}
		if err != nil {
			return benchRun{}, store.Counts{}, err
		}
		readDur := (read1 + read2) / 2
		run := benchRun{ReadSeconds: readDur.Seconds(), SyncSeconds: syncDur.Seconds(), Ratio: syncDur.Seconds() / readDur.Seconds()}
		if cpuOK {
			run.ReadCPUSeconds, run.SyncCPUSeconds = ((readCPU1 + readCPU2) / 2).Seconds(), (cpu1 - cpu0).Seconds()
			run.CPURatio = run.SyncCPUSeconds / run.ReadCPUSeconds
		}
		return run, sum.Counts, nil
	}
	res := &benchResult{Source: source, BatchSize: batchSize, Target: target, Plugins: !inProcess}
	for i := range runs {
		run, counts, err := measure(i)
		if err != nil {
			return nil, err
		}
		res.Runs, res.Counts = append(res.Runs, run), counts
	}
	res.Records = records
	med := func(v func(benchRun) float64) float64 {
		xs := make([]float64, len(res.Runs))
		for i, r := range res.Runs {
			xs[i] = v(r)
		}
		slices.Sort(xs)
		if len(xs)%2 == 1 {
			return xs[len(xs)/2]
		}
		return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
	}
	res.ReadSeconds, res.SyncSeconds = med(func(r benchRun) float64 { return r.ReadSeconds }), med(func(r benchRun) float64 { return r.SyncSeconds })
	res.ReadPerSec, res.SyncPerSec = float64(records)/res.ReadSeconds, float64(records)/res.SyncSeconds
	res.Ratio = med(func(r benchRun) float64 { return r.Ratio })
	res.ReadCPUSeconds, res.SyncCPUSeconds = med(func(r benchRun) float64 { return r.ReadCPUSeconds }), med(func(r benchRun) float64 { return r.SyncCPUSeconds })
	res.CPURatio = med(func(r benchRun) float64 { return r.CPURatio })
	return res, nil
}

// writeBenchEvents writes n calendar events as JSON Lines.
func writeBenchEvents(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	shows := []string{"busy", "free", "tentative", "oof"}
	enc := json.NewEncoder(w)
	for i := range n {
		start := base.Add(time.Duration(i%5000) * time.Hour)
		ev := map[string]any{
			"id":                   fmt.Sprintf("AAMkAGI2TG93-%07d", i),
			"subject":              fmt.Sprintf("Meeting %d", i),
			"start":                start.Format("2006-01-02T15:04:05"),
			"end":                  start.Add(time.Hour).Format("2006-01-02T15:04:05"),
			"organizer":            fmt.Sprintf("user%d@contoso.com", i%200),
			"showAs":               shows[i%len(shows)],
			"isCancelled":          false,
			"lastModifiedDateTime": base.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano),
		}
		if err := enc.Encode(ev); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// discardTarget acknowledges every write as created (ids derived from the
// idempotency keys, so retries are idempotent) and keeps nothing.
type discardTarget struct{}

func (*discardTarget) Spec() connector.Spec {
	return connector.Spec{Name: "discard", Version: "1", DisplayName: "Discard (bench target)",
		SettingsSchema: json.RawMessage(`{"type":"object","additionalProperties":false}`)}
}
func (*discardTarget) Configure(context.Context, connector.ConfigureRequest) error { return nil }
func (*discardTarget) Check(context.Context) connector.Diagnostics                 { return nil }
func (*discardTarget) DiscoverSchema(context.Context, bool) (*schema.Schema, error) {
	return &schema.Schema{Entities: []schema.Entity{{Name: "meetings", Keys: []string{"id"},
		Fields:       []schema.Field{{Name: "id", Type: schema.Type{Kind: schema.String}}},
		Capabilities: schema.Capabilities{Writable: true, Deletable: true}}}}, nil
}
func (*discardTarget) ListPartitions(context.Context, string) (connector.Partitions, error) {
	return connector.Partitions{Partitions: []connector.Partition{{}}}, nil
}
func (*discardTarget) Close() error { return nil }
func (*discardTarget) Write(_ context.Context, b connector.WriteBatch) ([]connector.WriteOutcome, error) {
	out := make([]connector.WriteOutcome, len(b.Ops))
	for i, op := range b.Ops {
		id := op.TargetID
		st := connector.Updated
		if id == "" {
			id, st = op.IdempotencyKey, connector.Created
		}
		if op.Action == connector.ActionDelete {
			st = connector.Deleted
		}
		out[i] = connector.WriteOutcome{IdempotencyKey: op.IdempotencyKey, Status: st, TargetID: id}
	}
	return out, nil
}

var _ config.SchemaSource = (*connectorSource)(nil)

// startBenchGraph starts the Graph emulator seeded with about records
// events over 20 mailboxes (one when fewer), without a request budget, and
// returns it with the graph connector settings that reach it (its CA file
// written into dir).
func startBenchGraph(dir string, records int) (*graphtest.Server, string, error) {
	users := 20
	if records < users {
		users = 1
	}
	srv, err := graphtest.Start(graphtest.Options{Users: users, Seed: 1, EventsPerUser: records / users, MailboxRequestBudget: 1 << 30})
	if err != nil {
		return nil, "", fmt.Errorf("starting the Graph emulator: %w", err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := srv.WriteCAFile(caFile); err != nil {
		srv.Close()
		return nil, "", err
	}
	app := srv.App()
	b, err := json.Marshal(map[string]any{"tenant_id": srv.TenantID(), "client_id": app.ClientID, "auth": "client_secret",
		"client_secret": app.ClientSecret, "cloud": "custom", "authority_host": srv.AuthorityHost(), "graph_endpoint": srv.GraphEndpoint(),
		"ca_file": caFile, "users": map[string]any{"filter": "userType eq 'Member'"}, "page_size": 1000})
	if err != nil {
		srv.Close()
		return nil, "", err
	}
	return srv, string(b), nil
}
