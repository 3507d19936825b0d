package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/syncplane/syncplane/host/config"
	"github.com/syncplane/syncplane/host/plugin"
	"github.com/syncplane/syncplane/host/runner"
	"github.com/syncplane/syncplane/host/store"
)

// engineFlags are the flags of every command that runs pipelines.
type engineFlags struct {
	config      string
	inProcess   bool
	pluginDir   string
	concurrency int
}

func (f *engineFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.config, "config", "c", "syncplane.yaml", "pipeline file")
	cmd.Flags().BoolVar(&f.inProcess, "in-process", false, "run bundled connectors inside this process instead of as plugins")
	cmd.Flags().StringVar(&f.pluginDir, "plugin-dir", "", "directory of external connectors (default: the user's syncplane plugin directory)")
	cmd.Flags().IntVar(&f.concurrency, "concurrency", 4, "partitions synchronised at once")
}

// engine is a loaded pipeline file with its store, connectors and runner.
type engine struct {
	file   *config.File
	store  *store.Store
	conns  *runner.Connections
	runner *runner.Runner
	log    *slog.Logger
}

// loadConfig loads a pipeline file, turning its errors into one message
// listing each problem.
func loadConfig(path string) (*config.File, error) {
	f, err := config.Load(path)
	if err != nil {
		var es config.Errors
		if errors.As(err, &es) {
			return nil, fmt.Errorf("%s has problems (run `syncplane validate -c %s`):\n%w", path, path, err)
		}
		return nil, err
	}
	return f, nil
}

// openStore opens the state store a pipeline file names.
func openStore(ctx context.Context, f *config.File) (*store.Store, error) {
	return store.Open(ctx, f.State, store.Options{})
}

// openEngine loads the file, opens the store and prepares the connectors
// (started on first use) and the runner.
func openEngine(ctx context.Context, fl engineFlags, log *slog.Logger, stderr io.Writer, progress func(string, string, store.Counts)) (*engine, error) {
	f, err := loadConfig(fl.config)
	if err != nil {
		return nil, err
	}
	return openEngineFile(ctx, f, fl, log, stderr, progress)
}

func openEngineFile(ctx context.Context, f *config.File, fl engineFlags, log *slog.Logger, stderr io.Writer, progress func(string, string, store.Counts)) (*engine, error) {
	st, err := openStore(ctx, f)
	if err != nil {
		return nil, err
	}
	m, err := newPluginManagerOpts(plugin.Options{PluginDir: fl.pluginDir, InProcess: fl.inProcess}, stderr)
	if err != nil {
		st.Close()
		return nil, err
	}
	conns := runner.NewConnections(f, st, m.Open)
	r, err := runner.New(runner.Options{File: f, Store: st, Connectors: conns, Logger: log, Progress: progress, Concurrency: fl.concurrency})
	if err != nil {
		conns.Close()
		st.Close()
		return nil, err
	}
	return &engine{file: f, store: st, conns: conns, runner: r, log: log}, nil
}

// Close stops the connectors and closes the store.
func (e *engine) Close() error {
	return errors.Join(e.conns.Close(), e.store.Close())
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// progressReporter shows a run's progress: a bar per pipeline on a
// terminal, otherwise a structured log line at most every interval.
type progressReporter struct {
	mu       sync.Mutex
	log      *slog.Logger
	w        io.Writer
	tty      bool
	interval time.Duration
	bars     map[string]*progressbar.ProgressBar
	totals   map[string]store.Counts
	logged   map[string]time.Time
}

func newProgressReporter(w io.Writer, log *slog.Logger, quiet bool) *progressReporter {
	return &progressReporter{log: log, w: w, tty: !quiet && isTerminal(w), interval: 2 * time.Second,
		bars: map[string]*progressbar.ProgressBar{}, totals: map[string]store.Counts{}, logged: map[string]time.Time{}}
}

// batch records one committed batch.
func (p *progressReporter) batch(pipeline, partition string, d store.Counts) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.totals[pipeline]
	t.Add(d)
	p.totals[pipeline] = t
	if p.tty {
		bar, ok := p.bars[pipeline]
		if !ok {
			bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription(pipeline),
				progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("records"),
				progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
			p.bars[pipeline] = bar
		}
		_ = bar.Add64(d.Read)
		return
	}
	if time.Since(p.logged[pipeline]) >= p.interval {
		p.logged[pipeline] = time.Now()
		p.log.Info("progress", "pipeline", pipeline, "partition", partition, "read", t.Read, "created", t.Created,
			"updated", t.Updated, "deleted", t.Deleted, "unchanged", t.Unchanged, "rejected", t.Rejected)
	}
}

// done ends a pipeline's bar.
func (p *progressReporter) done(pipeline string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if bar, ok := p.bars[pipeline]; ok {
		_ = bar.Finish()
		delete(p.bars, pipeline)
	}
}

// printSummary renders one pipeline's summary line.
func printSummary(w io.Writer, s runner.Summary) {
	c := s.Counts
	fmt.Fprintf(w, "%s: %d partition(s), read %d, created %d, updated %d, deleted %d, unchanged %d, rejected %d, skipped %d (%s)%s\n",
		s.Pipeline, s.Partitions, c.Read, c.Created, c.Updated, c.Deleted, c.Unchanged, c.Rejected, c.Skipped, s.Duration.Round(time.Millisecond),
		usageText(s.Usage))
	for part, msg := range s.Failed {
		fmt.Fprintf(w, "  partition %q failed: %s\n", part, msg)
	}
	if c.Rejected > 0 {
		fmt.Fprintf(w, "  %d record(s) rejected: see `syncplane rejected %s`\n", c.Rejected, s.Pipeline)
	}
}

// usageText renders what a run's connections used, as
// "; used: crm credits 7, requests 3; m365 requests 12", or "" when they
// count nothing.
func usageText(u map[string]map[string]int64) string {
	var b strings.Builder
	for _, conn := range slices.Sorted(maps.Keys(u)) {
		b.WriteString("; ")
		if b.Len() == 2 {
			b.Reset()
			b.WriteString("; used: ")
		}
		b.WriteString(conn)
		for i, name := range slices.Sorted(maps.Keys(u[conn])) {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, " %s %d", name, u[conn][name])
		}
	}
	return b.String()
}

func newRunCmd() *cobra.Command {
	var (
		fl       engineFlags
		once     bool
		pipeline string
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the pipelines of a file: once (--once) or on their schedules until interrupted",
		Long: "Run the pipelines of a pipeline file. With --once every pipeline (or the one named by\n" +
			"--pipeline) is synchronised once, partition by partition, and a summary is printed.\n" +
			"Without --once the pipelines run as scheduled jobs (their `schedule`), each partition a job,\n" +
			"retried with back-off when a service is busy, until the command is interrupted.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			stderr := cmd.ErrOrStderr()
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			prog := newProgressReporter(stderr, log, asJSON)
			e, err := openEngine(ctx, fl, log, stderr, prog.batch)
			if err != nil {
				return err
			}
			defer e.Close()
			names := e.file.PipelineNames()
			if pipeline != "" {
				if _, ok := e.file.Pipeline(pipeline); !ok {
					return fmt.Errorf("no pipeline named %q in %s (pipelines: %v)", pipeline, fl.config, names)
				}
				names = []string{pipeline}
			}
			if !once {
				return runScheduled(ctx, e, names, cmd.OutOrStdout())
			}
			var sums []runner.Summary
			failed := false
			for _, name := range names {
				s, err := e.runner.RunOnce(ctx, name)
				prog.done(name)
				if err != nil {
					failed = true
					if s.Failed == nil {
						s.Failed = map[string]string{"": err.Error()}
					}
				}
				sums = append(sums, s)
				if !asJSON {
					printSummary(cmd.OutOrStdout(), s)
				}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(sums); err != nil {
					return err
				}
			}
			if failed {
				return exitError{code: 1}
			}
			return nil
		},
	}
	fl.register(cmd)
	cmd.Flags().BoolVar(&once, "once", false, "synchronise once and exit")
	cmd.Flags().StringVar(&pipeline, "pipeline", "", "run only this pipeline")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summaries as JSON (and no progress bar)")
	return cmd
}

// runScheduled runs the pipelines as scheduled River jobs until ctx ends.
func runScheduled(ctx context.Context, e *engine, names []string, out io.Writer) error {
	sched, err := runner.NewScheduler(ctx, e.runner, e.store, runner.SchedulerOptions{Pipelines: names, Logger: e.log})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "running %d pipeline(s) on their schedules; stop with Ctrl-C\n", len(names))
	if err := sched.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
