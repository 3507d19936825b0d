// Package runner runs pipelines: it reads a source partition's changes from
// its stored checkpoint, maps them, writes them to the target in batches
// through the ID map, and commits acknowledged batches (ID-map rows, dead
// letters, checkpoint) in one store transaction — consecutive batches of a
// change feed together, up to 10,000 changes or five seconds (group.go).
//
// Delivery is at least once and writes are idempotent: a record whose source
// id is in the ID map is written as an update of its target id, and every
// write carries an idempotency key derived from the pipeline, partition,
// source id and the hash of what is written, so a batch retried after a
// crash updates instead of creating twice. A checkpoint is stored only after
// the target acknowledged every change before it.
//
// RunOnce runs a pipeline directly; Scheduler (river.go) runs the same work
// as River jobs, one per pipeline × partition, on a schedule.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/host/config"
	"github.com/syncplane/syncplane/host/store"
	"github.com/syncplane/syncplane/schema"
	"github.com/syncplane/syncplane/transforms"
)

// Options configure a Runner.
type Options struct {
	// File is the loaded pipeline file.
	File *config.File
	// Store keeps the state.
	Store *store.Store
	// Connectors gives the configured client of each connection.
	Connectors ConnectorSource
	// Logger receives progress and problems; slog.Default() when nil.
	Logger *slog.Logger
	// Progress, when set, is called after every commit with what the
	// batches it committed added. It must be fast and safe for concurrent
	// calls.
	Progress func(pipeline string, partition string, delta store.Counts)
	// Concurrency bounds how many partitions sync at once; 4 when zero.
	Concurrency int
	// WriteAttempts bounds how often a batch is tried when the target
	// answers RATE_LIMITED or UNAVAILABLE before the job fails; 5 when zero.
	WriteAttempts int
	// Backoff is the first wait between attempts (doubling each time), when
	// the target gives no retry-after; 200ms when zero.
	Backoff time.Duration
	// Sleep waits, honouring ctx; a timer when nil (tests inject a fake).
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock naming the day of usage counters; time.Now when nil.
	Now func() time.Time
}

// Runner runs the pipelines of one file. It is safe for concurrent use;
// two syncs of the same partition must not run at once (the scheduler's
// unique jobs and RunOnce ensure it).
type Runner struct {
	opts     Options
	file     *config.File
	st       *store.Store
	conns    ConnectorSource
	log      *slog.Logger
	mappings map[string]*transforms.Mapping

	mu      sync.Mutex
	targets map[string]*schema.Entity // target entity schemas, by pipeline

	groups groups // commit groups of the jobs running (see group.go)
}

// New compiles every pipeline's mapping and returns a runner.
func New(opts Options) (*Runner, error) {
	if opts.File == nil || opts.Store == nil || opts.Connectors == nil {
		return nil, errors.New("runner: File, Store and Connectors are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.WriteAttempts <= 0 {
		opts.WriteAttempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 200 * time.Millisecond
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Runner{opts: opts, file: opts.File, st: opts.Store, conns: opts.Connectors, log: opts.Logger,
		mappings: map[string]*transforms.Mapping{}, targets: map[string]*schema.Entity{}}
	names := opts.File.PipelineNames()
	for i := range opts.File.Pipelines {
		p := &opts.File.Pipelines[i]
		m, err := transforms.Compile(p.Mapping, transforms.Env{
			Pipelines: names,
			Lookup:    r.lookup,
			Query:     r.query,
		})
		if err != nil {
			return nil, fmt.Errorf("compiling the mapping of pipeline %s: %w", p.Name, err)
		}
		r.mappings[p.Name] = m
	}
	return r, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// query serves the mapping's "query data" step.
func (r *Runner) query(ctx context.Context, connection string, req connector.QueryRequest) ([]connector.Record, error) {
	c, err := r.conns.Client(ctx, connection)
	if err != nil {
		return nil, err
	}
	return c.Query(ctx, req)
}

func (r *Runner) pipeline(name string) (*config.Pipeline, error) {
	p, ok := r.file.Pipeline(name)
	if !ok {
		return nil, fmt.Errorf("no pipeline named %q in %s (pipelines: %v)", name, r.file.Path, r.file.PipelineNames())
	}
	return p, nil
}

// Summary is what one run of a pipeline did, over all its partitions.
type Summary struct {
	Pipeline   string            `json:"pipeline"`
	Partitions int               `json:"partitions"`
	Counts     store.Counts      `json:"counts"`
	Failed     map[string]string `json:"failed,omitempty"` // partition → error
	Duration   time.Duration     `json:"duration"`
	// Usage is what the pipeline's connections counted during the run
	// (their per-day usage counters, see UsageKey), by connection and
	// counter; nil when they count nothing.
	Usage map[string]map[string]int64 `json:"usage,omitempty"`
}

// Partitions lists the source partitions of a pipeline, as the source
// connector resolves them now.
func (r *Runner) Partitions(ctx context.Context, pipeline string) ([]connector.Partition, error) {
	p, err := r.pipeline(pipeline)
	if err != nil {
		return nil, err
	}
	src, err := r.conns.Client(ctx, p.From.Connection)
	if err != nil {
		return nil, err
	}
	parts, err := src.ListPartitions(ctx, p.From.Entity)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: listing the partitions of %s: %w", p.Name, p.From.Entity, err)
	}
	for _, w := range parts.Warnings {
		r.log.Warn("partition listing", "pipeline", p.Name, "warning", w.Error())
	}
	return parts.Partitions, nil
}

// RunOnce syncs every partition of a pipeline once, at most Concurrency at
// a time, and returns the summary, with the usage its connections counted
// meanwhile. A failing partition does not stop the others; the error lists
// every failure.
func (r *Runner) RunOnce(ctx context.Context, pipeline string) (Summary, error) {
	return r.withUsage(ctx, pipeline, func() (Summary, error) {
		if p, ok := r.file.Pipeline(pipeline); ok && p.TwoWay() {
			return r.runTwoWay(ctx, pipeline) // both sides in one round: twoway.go
		}
		return r.runOneWay(ctx, pipeline)
	})
}

// runOneWay syncs every partition of a one-way pipeline once.
func (r *Runner) runOneWay(ctx context.Context, pipeline string) (Summary, error) {
	start := time.Now()
	sum := Summary{Pipeline: pipeline}
	if err := r.startConnectors(ctx, pipeline); err != nil {
		return sum, err
	}
	parts, err := r.Partitions(ctx, pipeline)
	if err != nil {
		return sum, err
	}
	sum.Partitions = len(parts)
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		sem  = make(chan struct{}, r.opts.Concurrency)
		errs []error
	)
	for _, part := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				mu.Lock()
				errs = append(errs, ctx.Err())
				mu.Unlock()
				return
			}
			defer func() { <-sem }()
			c, err := r.SyncPartition(ctx, pipeline, part.ID)
			mu.Lock()
			defer mu.Unlock()
			sum.Counts.Add(c)
			if err != nil {
				if sum.Failed == nil {
					sum.Failed = map[string]string{}
				}
				sum.Failed[part.ID] = err.Error()
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	sum.Duration = time.Since(start)
	return sum, errors.Join(errs...)
}

// RunAll runs every pipeline of the file once, in file order, and returns
// one summary per pipeline.
func (r *Runner) RunAll(ctx context.Context) ([]Summary, error) {
	var out []Summary
	var errs []error
	for _, name := range r.file.PipelineNames() {
		s, err := r.RunOnce(ctx, name)
		out = append(out, s)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// targetEntity returns the discovered schema of a pipeline's target entity,
// or nil when the target does not describe it.
func (r *Runner) targetEntity(ctx context.Context, p *config.Pipeline, tgt connector.Client) (*schema.Entity, error) {
	r.mu.Lock()
	e, ok := r.targets[p.Name]
	r.mu.Unlock()
	if ok {
		return e, nil
	}
	sch, err := tgt.DiscoverSchema(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("discovering the schema of %s: %w", p.To.Connection, err)
	}
	e, _ = sch.Entity(p.To.Entity)
	r.mu.Lock()
	r.targets[p.Name] = e
	r.mu.Unlock()
	return e, nil
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// startConnectors starts a pipeline's source and target connectors at the
// same time: plugin start-up dominates short runs.
func (r *Runner) startConnectors(ctx context.Context, pipeline string) error {
	p, err := r.pipeline(pipeline)
	if err != nil {
		return err
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, conn := range []string{p.From.Connection, p.To.Connection} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = r.conns.Client(ctx, conn)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
