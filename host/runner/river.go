package runner

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/host/store"
)

// FanOutArgs is the job that lists a pipeline's partitions and queues one
// SyncArgs job for each.
type FanOutArgs struct {
	Pipeline string `json:"pipeline"`
}

// Kind names the job kind in the queue.
func (FanOutArgs) Kind() string { return "syncplane_fan_out" }

// InsertOpts makes a fan-out unique per pipeline while one is waiting or
// running.
func (FanOutArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: activeStates}}
}

// SyncArgs is the job that syncs one partition of a pipeline.
type SyncArgs struct {
	Pipeline  string `json:"pipeline"`
	Partition string `json:"partition"`
}

// Kind names the job kind in the queue.
func (SyncArgs) Kind() string { return "syncplane_sync" }

// InsertOpts makes a sync unique per pipeline × partition while one is
// waiting, running or waiting to be retried, so a partition never syncs
// twice at once; a finished sync does not block the next one.
func (SyncArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: activeStates}}
}

// activeStates are the states in which a job blocks a duplicate: River
// requires available, pending, running and scheduled; retryable is added
// so a job waiting for its back-off is not doubled.
var activeStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateScheduled, rivertype.JobStateRetryable,
}

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	// Pipelines are the pipelines to schedule; every pipeline of the file
	// with a schedule when empty. A pipeline without a schedule runs once
	// at start.
	Pipelines []string
	// JobsPath is the SQLite file of the job queue; the store's path with
	// "-jobs" appended when empty.
	JobsPath string
	// MaxWorkers bounds the partitions synced at once; the runner's
	// Concurrency when zero.
	MaxWorkers int
	// MaxAttempts bounds the attempts of a failing sync job; 10 when zero.
	MaxAttempts int
	// PollInterval is how often idle workers look for jobs; 1s when zero.
	PollInterval time.Duration
	// Logger receives River's own messages (warnings and above); the
	// runner's logger when nil.
	Logger *slog.Logger
}

// Scheduler runs a runner's pipelines as River jobs on SQLite: a periodic
// fan-out job per pipeline (its schedule) that queues one unique sync job
// per partition. Sync jobs that fail with RATE_LIMITED or UNAVAILABLE are
// retried with River's back-off, or after the retry-after the service
// asked for; other failures cancel the job (the next scheduled run tries
// again).
type Scheduler struct {
	r      *Runner
	db     *sql.DB
	client *river.Client[*sql.Tx]
	log    *slog.Logger
}

// NewScheduler opens (and migrates) the job queue and prepares the jobs.
func NewScheduler(ctx context.Context, r *Runner, st *store.Store, opts SchedulerOptions) (*Scheduler, error) {
	if opts.JobsPath == "" {
		opts.JobsPath = st.Path() + "-jobs"
	}
	if opts.MaxWorkers <= 0 {
		opts.MaxWorkers = r.opts.Concurrency
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = r.log
	}
	if len(opts.Pipelines) == 0 {
		opts.Pipelines = r.file.PipelineNames()
	}
	db, err := openJobsDB(opts.JobsPath)
	if err != nil {
		return nil, err
	}
	driver := riversqlite.New(db)
	mig, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: quietLogger(opts.Logger)})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("job queue: preparing migrations: %w", err)
	}
	if _, err := mig.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		db.Close()
		return nil, fmt.Errorf("job queue: migrating %s: %w", opts.JobsPath, err)
	}
	s := &Scheduler{r: r, db: db, log: r.log}
	workers := river.NewWorkers()
	river.AddWorker(workers, &fanOutWorker{s: s})
	river.AddWorker(workers, &syncWorker{s: s})
	var periodic []*river.PeriodicJob
	for _, name := range opts.Pipelines {
		p, err := r.pipeline(name)
		if err != nil {
			db.Close()
			return nil, err
		}
		if p.Schedule <= 0 {
			continue
		}
		pipeline := p.Name
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(p.Schedule),
			func() (river.JobArgs, *river.InsertOpts) { return FanOutArgs{Pipeline: pipeline}, nil },
			&river.PeriodicJobOpts{ID: "pipeline:" + pipeline, RunOnStart: true}))
	}
	client, err := river.NewClient(driver, &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: opts.MaxWorkers}},
		Workers:           workers,
		PeriodicJobs:      periodic,
		MaxAttempts:       opts.MaxAttempts,
		FetchPollInterval: opts.PollInterval,
		FetchCooldown:     min(opts.PollInterval, 100*time.Millisecond),
		Logger:            quietLogger(opts.Logger),
		ErrorHandler:      &errorHandler{log: r.log},
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("job queue: %w", err)
	}
	s.client = client
	// Pipelines without a schedule run once at start.
	for _, name := range opts.Pipelines {
		if p, _ := r.pipeline(name); p != nil && p.Schedule <= 0 {
			if _, err := client.Insert(ctx, FanOutArgs{Pipeline: p.Name}, nil); err != nil {
				db.Close()
				return nil, fmt.Errorf("job queue: queueing pipeline %s: %w", p.Name, err)
			}
		}
	}
	return s, nil
}

// quietLogger passes River's warnings and errors only.
func quietLogger(l *slog.Logger) *slog.Logger {
	return slog.New(levelFilter{h: l.Handler(), min: slog.LevelWarn})
}

type levelFilter struct {
	h   slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.h.Enabled(ctx, l)
}
func (f levelFilter) Handle(ctx context.Context, r slog.Record) error { return f.h.Handle(ctx, r) }
func (f levelFilter) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFilter{h: f.h.WithAttrs(a), min: f.min}
}
func (f levelFilter) WithGroup(n string) slog.Handler {
	return levelFilter{h: f.h.WithGroup(n), min: f.min}
}

// openJobsDB opens the queue's SQLite file with one connection, as River's
// SQLite driver recommends.
func openJobsDB(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("job queue: opening %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// Enqueue queues a run of pipeline now (all its partitions).
func (s *Scheduler) Enqueue(ctx context.Context, pipeline string) error {
	if _, err := s.r.pipeline(pipeline); err != nil {
		return err
	}
	if _, err := s.client.Insert(ctx, FanOutArgs{Pipeline: pipeline}, nil); err != nil {
		return fmt.Errorf("queueing pipeline %s: %w", pipeline, err)
	}
	return nil
}

// EnqueuePartition queues a sync of one partition now; a sync of it
// already waiting or running absorbs the request.
func (s *Scheduler) EnqueuePartition(ctx context.Context, pipeline, partition string) error {
	if _, err := s.client.Insert(ctx, SyncArgs{Pipeline: pipeline, Partition: partition}, nil); err != nil {
		return fmt.Errorf("queueing pipeline %s partition %q: %w", pipeline, partition, err)
	}
	return nil
}

// Run works jobs until ctx ends, then stops: running syncs get up to 30s
// to finish (their committed batches are kept either way).
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.db.Close()
	if err := s.client.Start(ctx); err != nil {
		return fmt.Errorf("starting the job queue: %w", err)
	}
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.client.Stop(stopCtx); err != nil {
		return fmt.Errorf("stopping the job queue: %w", err)
	}
	return ctx.Err()
}

// Start works jobs in the background until Stop.
func (s *Scheduler) Start(ctx context.Context) error { return s.client.Start(ctx) }

// Stop stops working jobs and closes the queue.
func (s *Scheduler) Stop(ctx context.Context) error {
	err := s.client.Stop(ctx)
	return errors.Join(err, s.db.Close())
}

// Subscribe returns a channel of finished jobs, for tests and progress.
func (s *Scheduler) Subscribe() (<-chan *river.Event, func()) {
	return s.client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled, river.EventKindJobSnoozed)
}

type fanOutWorker struct {
	river.WorkerDefaults[FanOutArgs]
	s *Scheduler
}

// Timeout leaves a two-way round (run by the fan-out job itself) as long as
// it needs; a fan-out of a one-way pipeline keeps River's default.
func (w *fanOutWorker) Timeout(job *river.Job[FanOutArgs]) time.Duration {
	if p, err := w.s.r.pipeline(job.Args.Pipeline); err == nil && p.TwoWay() {
		return -1
	}
	return 0
}

func (w *fanOutWorker) Work(ctx context.Context, job *river.Job[FanOutArgs]) error {
	if p, err := w.s.r.pipeline(job.Args.Pipeline); err == nil && p.TwoWay() {
		// One job per two-way pipeline, unique by pipeline: its round
		// covers every partition of both sides.
		_, err := w.s.r.RunOnce(ctx, job.Args.Pipeline)
		return jobError(err)
	}
	parts, err := w.s.r.Partitions(ctx, job.Args.Pipeline)
	if err != nil {
		return jobError(err)
	}
	params := make([]river.InsertManyParams, len(parts))
	for i, p := range parts {
		params[i] = river.InsertManyParams{Args: SyncArgs{Pipeline: job.Args.Pipeline, Partition: p.ID}}
	}
	if len(params) == 0 {
		return nil
	}
	client := river.ClientFromContext[*sql.Tx](ctx)
	if _, err := client.InsertMany(ctx, params); err != nil {
		return fmt.Errorf("queueing the partitions of %s: %w", job.Args.Pipeline, err)
	}
	return nil
}

type syncWorker struct {
	river.WorkerDefaults[SyncArgs]
	s *Scheduler
}

// Timeout leaves a sync as long as it needs: it commits batch by batch.
func (w *syncWorker) Timeout(*river.Job[SyncArgs]) time.Duration { return -1 }

func (w *syncWorker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	_, err := w.s.r.SyncPartition(ctx, job.Args.Pipeline, job.Args.Partition)
	return jobError(err)
}

// jobError tells River what to do with a failure: wait for the
// retry-after the service asked for, retry with back-off when the failure
// is temporary or did not come from a connector, and give up when a
// connector said retrying cannot help.
func jobError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var d *connector.Diagnostic
	if !errors.As(err, &d) {
		return err // not from a connector (a busy database): retry with back-off
	}
	if !connector.CodeOf(err).Retryable() {
		return river.JobCancel(err)
	}
	if ra := retryAfter(err); ra > 0 {
		return river.JobSnooze(ra)
	}
	return err
}

type errorHandler struct{ log *slog.Logger }

func (h *errorHandler) HandleError(_ context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	h.log.Warn("sync job failed", "job", job.ID, "kind", job.Kind, "attempt", job.Attempt, "error", err)
	return nil
}

func (h *errorHandler) HandlePanic(_ context.Context, job *rivertype.JobRow, v any, trace string) *river.ErrorHandlerResult {
	h.log.Error("sync job panicked", "job", job.ID, "kind", job.Kind, "panic", v, "trace", trace)
	return nil
}
