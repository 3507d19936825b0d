package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
)

// envPlugin is set in the environment of the test binary the kit
// re-executes; Main then serves the connector instead of running tests.
const envPlugin = "SYNCPLANE_CONFORMANCE_PLUGIN"

// mainInstalled records that the test binary's TestMain went through Main,
// so the binary can be re-executed as a plugin. A TestMain is process-wide
// by nature; this flag is the kit's only package state.
var mainInstalled atomic.Bool

// Suite describes the connector under test. New, Settings and Entity are
// required; the other fields enable the checks that need them, and a check
// whose inputs are missing is skipped with a message saying which field
// would turn it on.
type Suite struct {
	// New returns a fresh, unconfigured connector.
	New func() connector.Connector
	// Settings returns the settings of a fresh, empty connection (a new
	// t.TempDir, a reset emulator). It is called once per check.
	Settings func(t *testing.T) json.RawMessage
	// Entity is the entity the checks read, write and query.
	Entity string
	// Partition is the partition the checks use; "" for an unpartitioned
	// entity.
	Partition string
	// NewRecord returns the i-th record to create. Different i must give
	// different records (different keys when the key is a field).
	NewRecord func(i int) connector.Record
	// Mutate returns a copy of r with at least one writable value changed.
	Mutate func(r connector.Record) connector.Record
	// InvalidRecord, when set, returns a record the connector must reject
	// and the field its rejection must name.
	InvalidRecord func() (connector.Record, string)
	// Source, when set, makes changes at the source by other means than the
	// connector's Write (an emulator's API), for connectors that cannot
	// write. Without it the kit makes changes through Write.
	Source func(t *testing.T, settings json.RawMessage) Source
	// Timeout bounds each check; the default is one minute.
	Timeout time.Duration
	// SkipPlugin, when not empty, skips the plugin-process run and is the
	// reason given. Leave it empty: both runs are the point of the kit.
	SkipPlugin string
}

// Source creates, updates and deletes records at the source of a
// connection. The ids are the ids the connector reports in Record.ID.
type Source interface {
	// Create adds r at the source and returns its id.
	Create(ctx context.Context, r connector.Record) (id string, err error)
	// Update replaces the values of record id with those of r.
	Update(ctx context.Context, id string, r connector.Record) error
	// Delete removes record id, so that the change feed reports a delete.
	Delete(ctx context.Context, id string) error
}

// Main is the TestMain of a connector's conformance tests:
//
//	func TestMain(m *testing.M) { conformance.Main(m, mypkg.New) }
//
// When the kit re-executes the test binary to run the connector as a plugin
// process, Main serves newConnector() with connector.Serve and exits; in the
// normal run it runs the tests.
func Main(m *testing.M, newConnector func() connector.Connector) {
	if os.Getenv(envPlugin) != "" {
		connector.Serve(newConnector())
		os.Exit(0)
	}
	mainInstalled.Store(true)
	os.Exit(m.Run())
}

// Run runs every check of the kit twice: against the connector in-process
// (connector.Local) and as a real plugin process (this test binary
// re-executed through Main and started with connector.StartPlugin). Each
// check is a subtest; a failure says what was expected and what came back.
func Run(t *testing.T, s Suite) {
	t.Helper()
	if os.Getenv(envPlugin) != "" {
		t.Fatalf("this test binary was started as a connector plugin but TestMain did not serve it; add: func TestMain(m *testing.M) { conformance.Main(m, New) }")
	}
	if s.New == nil || s.Settings == nil || s.Entity == "" {
		t.Fatalf("conformance.Suite needs New, Settings and Entity")
	}
	if s.Timeout == 0 {
		s.Timeout = time.Minute
	}
	t.Run("in-process", func(t *testing.T) {
		runChecks(t, &kit{s: s, mode: "in-process", start: func(t *testing.T) connector.Client {
			return connector.Local(s.New())
		}})
	})
	t.Run("plugin", func(t *testing.T) {
		if s.SkipPlugin != "" {
			t.Skipf("plugin run skipped: %s", s.SkipPlugin)
		}
		if !mainInstalled.Load() {
			t.Fatalf("the plugin run re-executes this test binary as the connector's plugin, which needs TestMain to call conformance.Main: func TestMain(m *testing.M) { conformance.Main(m, New) }")
		}
		runChecks(t, &kit{s: s, mode: "plugin", start: startPlugin})
	})
}

// kit is one run of the checks in one mode.
type kit struct {
	s     Suite
	mode  string
	start func(t *testing.T) connector.Client
}

func startPlugin(t *testing.T) connector.Client { return Plugin(t) }

// Plugin starts the connector as a plugin process — this test binary
// re-executed, which Main turns into the plugin — and returns the host's
// client for it, closed when tb ends. It needs TestMain to call Main. Use it
// to measure a connector across the plugin boundary in a benchmark.
func Plugin(tb testing.TB) connector.Client {
	t := tb
	t.Helper()
	if !mainInstalled.Load() {
		t.Fatalf("conformance.Plugin re-executes this test binary as the connector's plugin, which needs TestMain to call conformance.Main")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("finding the test binary to start as a plugin: %v", err)
	}
	logs := &testLog{t: t}
	t.Cleanup(logs.stop) // registered first, so it runs after the plugin is closed
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := connector.StartPlugin(ctx, exec.Command(exe),
		connector.WithName("conformance"),
		connector.WithEnv(envPlugin+"=1"),
		connector.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		t.Fatalf("starting the connector as a plugin process: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// testLog sends plugin log lines to t.Log until the test ends.
type testLog struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.t.Log("plugin: " + strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (l *testLog) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
}

var _ io.Writer = (*testLog)(nil)

// ctx returns a context bounded by the suite's timeout for one check.
func (k *kit) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), k.s.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// conn is a configured connection for one check.
type conn struct {
	c        connector.Client
	spec     connector.Spec
	settings json.RawMessage
	closed   bool
}

func (c *conn) close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	return c.c.Close()
}

// open starts a client, configures it with fresh settings and closes it when
// the test ends.
func (k *kit) open(t *testing.T, ctx context.Context) *conn {
	t.Helper()
	// Settings first, so that what they set up (a directory, an emulator)
	// is torn down after the connector is closed.
	settings := k.s.Settings(t)
	c := k.start(t)
	cn := &conn{c: c, spec: c.Spec(), settings: settings}
	t.Cleanup(func() {
		if err := cn.close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := c.Configure(ctx, connector.ConfigureRequest{Connection: "conformance", Settings: cn.settings, Host: &connector.MemoryHost{}}); err != nil {
		t.Fatalf("Configure with Suite.Settings: expected success, got %v", err)
	}
	return cn
}

// source returns how the check makes changes at the source, or skips the
// check when there is no way.
func (k *kit) source(t *testing.T, cn *conn) Source {
	t.Helper()
	if k.s.Source != nil {
		return k.s.Source(t, cn.settings)
	}
	if !cn.spec.Capabilities.Write {
		t.Skip("skipped: the connector does not advertise Write and Suite.Source is nil, so the kit cannot make records at the source")
	}
	if k.s.NewRecord == nil {
		t.Skip("skipped: Suite.NewRecord is nil, so the kit has no records to write")
	}
	return &writeSource{c: cn.c, entity: k.s.Entity, partition: k.s.Partition, prefix: fmt.Sprintf("conformance-%d", time.Now().UnixNano())}
}

// writeSource makes changes through the connector's own Write.
type writeSource struct {
	c         connector.Client
	entity    string
	partition string
	prefix    string
	n         int
}

func (w *writeSource) write(ctx context.Context, op connector.WriteOp) (connector.WriteOutcome, error) {
	w.n++
	op.IdempotencyKey = fmt.Sprintf("%s-%d", w.prefix, w.n)
	op.Partition = w.partition
	outs, err := w.c.Write(ctx, connector.WriteBatch{Entity: w.entity, Ops: []connector.WriteOp{op}})
	if err != nil {
		return connector.WriteOutcome{}, err
	}
	if len(outs) != 1 {
		return connector.WriteOutcome{}, fmt.Errorf("Write of one op returned %d outcomes", len(outs))
	}
	if outs[0].Status == connector.Rejected {
		return outs[0], fmt.Errorf("%s of %q rejected: %v", op.Action, op.TargetID, outs[0].Diagnostics)
	}
	return outs[0], nil
}

func (w *writeSource) Create(ctx context.Context, r connector.Record) (string, error) {
	out, err := w.write(ctx, connector.WriteOp{Action: connector.ActionUpsert, Record: r})
	return out.TargetID, err
}

func (w *writeSource) Update(ctx context.Context, id string, r connector.Record) error {
	_, err := w.write(ctx, connector.WriteOp{Action: connector.ActionUpsert, TargetID: id, Record: r})
	return err
}

func (w *writeSource) Delete(ctx context.Context, id string) error {
	_, err := w.write(ctx, connector.WriteOp{Action: connector.ActionDelete, TargetID: id})
	return err
}
