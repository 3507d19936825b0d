package connector_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/internal/wire/wiretest"
)

// envRole makes the test binary act as a plugin (or a host) instead of
// running the tests; the plugin tests re-execute the test binary with it.
const envRole = "SYNCPLANE_CONNECTOR_TEST_ROLE"

func TestMain(m *testing.M) {
	switch role := os.Getenv(envRole); role {
	case "":
		os.Exit(m.Run())
	case "full":
		connector.Serve(&noisy{Full: &wiretest.Full{}})
	case "minimal":
		connector.Serve(wiretest.Minimal{})
	case "preprint":
		// A library printing on stdout before main reaches Serve.
		fmt.Println("banner printed before Serve")
		connector.Serve(wiretest.Minimal{})
	case "exit":
		fmt.Fprintln(os.Stderr, "boom: settings file /etc/x is missing")
		os.Exit(2)
	case "notplugin":
		fmt.Println("Usage: notplugin [flags]")
	case "otherversion":
		hs := connector.Handshake()
		hs.ProtocolVersion = 99
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig:  hs,
			VersionedPlugins: map[int]plugin.PluginSet{99: {"connector": &nullPlugin{}}},
			GRPCServer:       plugin.DefaultGRPCServer,
		})
	case "host":
		// A host that starts a plugin, prints the plugin's pid and waits to
		// be killed.
		runHost()
	default:
		fmt.Fprintf(os.Stderr, "unknown role %q\n", role)
		os.Exit(2)
	}
}

// noisy is the Full connector plus misbehaviour: it prints to stdout, logs
// at several levels, reports its pid and environment, and exits in the
// middle of reading entity "crash".
type noisy struct{ *wiretest.Full }

func (n *noisy) Configure(ctx context.Context, req connector.ConfigureRequest) error {
	fmt.Println("stdout noise from Configure")
	f := os.NewFile(1, "fd1")
	fmt.Fprintln(f, "raw fd 1 noise")
	slog.Info("configuring", "connection", req.Connection, "token", "redacted")
	slog.Warn("a warning from the plugin", slog.Group("g", "k", 1))
	slog.Debug("debug detail")
	return n.Full.Configure(ctx, req)
}

// ListPartitions of entity "report" answers the plugin's pid and the names
// in its environment.
func (n *noisy) ListPartitions(ctx context.Context, entity string) (connector.Partitions, error) {
	if entity != "report" {
		return n.Full.ListPartitions(ctx, entity)
	}
	var names []string
	for _, kv := range os.Environ() {
		names = append(names, strings.SplitN(kv, "=", 2)[0])
	}
	slices.Sort(names)
	return connector.Partitions{Partitions: []connector.Partition{{ID: strconv.Itoa(os.Getpid()), DisplayName: strings.Join(names, ",")}}}, nil
}

func (n *noisy) Read(ctx context.Context, req connector.ReadRequest, emit func([]connector.Record) error) error {
	if req.Entity != "crash" {
		return n.Full.Read(ctx, req, emit)
	}
	if err := emit([]connector.Record{wiretest.Record(0, 0)}); err != nil {
		return err
	}
	time.Sleep(50 * time.Millisecond)
	os.Exit(3)
	return nil
}

// Close logs, so the host sees that Close ran in the plugin on shutdown.
func (n *noisy) Close() error {
	slog.Info("connector closed")
	return n.Full.Close()
}

type nullPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (nullPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
func (nullPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

// logs collects slog records.
type logs struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *logs) WithAttrs(as []slog.Attr) slog.Handler { return &withAttrs{l, as} }
func (l *logs) WithGroup(string) slog.Handler         { return l }

type withAttrs struct {
	*logs
	as []slog.Attr
}

func (w *withAttrs) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(w.as...)
	return w.logs.Handle(ctx, r)
}
func (w *withAttrs) WithAttrs(as []slog.Attr) slog.Handler {
	return &withAttrs{w.logs, append(slices.Clip(w.as), as...)}
}

// find returns the first record with message msg, with its attributes.
func (l *logs) find(msg string) (slog.Record, map[string]string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if r.Message == msg {
			attrs := map[string]string{}
			r.Attrs(func(a slog.Attr) bool {
				attrs[a.Key] = a.Value.String()
				return true
			})
			return r, attrs, true
		}
	}
	return slog.Record{}, nil, false
}

func (l *logs) waitFor(t *testing.T, msg string) (slog.Record, map[string]string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if r, a, ok := l.find(msg); ok {
			return r, a
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no log record %q", msg)
	return slog.Record{}, nil
}

func start(t *testing.T, role string, opts ...connector.PluginOpt) (*connector.Plugin, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts = append([]connector.PluginOpt{connector.WithEnv(envRole + "=" + role)}, opts...)
	p, err := connector.StartPlugin(ctx, exec.Command(exe), opts...)
	if p != nil {
		t.Cleanup(func() { _ = p.Close() })
	}
	return p, err
}

func TestPlugin(t *testing.T) {
	l := &logs{}
	t.Setenv("SYNCPLANE_HOST_ONLY_SECRET", "must-not-leak")
	p, err := start(t, "full", connector.WithName("wiretest"), connector.WithLogger(slog.New(l)), connector.WithEnv("SYNCPLANE_REPORT=1"))
	if err != nil {
		t.Fatal(err)
	}
	host := wiretest.NewHost(t)
	wiretest.Exercise(t, p, host)

	t.Run("Logs", func(t *testing.T) {
		r, attrs := l.waitFor(t, "configuring")
		if r.Level != slog.LevelInfo || attrs["connector"] != "wiretest" || attrs["connection"] != "test" {
			t.Errorf("plugin info line arrived as %s %v", r.Level, attrs)
		}
		r, attrs = l.waitFor(t, "a warning from the plugin")
		if r.Level != slog.LevelWarn || attrs["g.k"] != "1" {
			t.Errorf("plugin warning arrived as %s %v", r.Level, attrs)
		}
		if _, _, ok := l.find("debug detail"); !ok {
			t.Errorf("debug line missing although the host logs at every level")
		}
		r, attrs = l.waitFor(t, "stdout noise from Configure")
		if attrs["stream"] != "stdout" || attrs["connector"] != "wiretest" {
			t.Errorf("stdout line arrived as %s %v", r.Level, attrs)
		}
		l.waitFor(t, "raw fd 1 noise")
	})

	t.Run("CleanEnvironment", func(t *testing.T) {
		ps, err := p.ListPartitions(context.Background(), "report")
		if err != nil || len(ps.Partitions) != 1 {
			t.Fatalf("the plugin did not report its environment: %v", err)
		}
		report := ps.Partitions[0].DisplayName
		if strings.Contains(report, "SYNCPLANE_HOST_ONLY_SECRET") {
			t.Errorf("the host's environment leaked into the plugin: %s", report)
		}
		if !strings.Contains(report, "PATH") || !strings.Contains(report, "SYNCPLANE_REPORT") {
			t.Errorf("environment lacks PATH or the passed variable: %s", report)
		}
	})

	t.Run("Close", func(t *testing.T) {
		if p.Exited() {
			t.Fatal("exited before Close")
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if !p.Exited() {
			t.Error("still running after Close")
		}
		l.waitFor(t, "connector closed")
		if _, attrs := l.waitFor(t, "plugin process exited"); attrs["connector"] != "wiretest" {
			t.Errorf("exit record attrs = %v", attrs)
		}
	})
}

func TestPluginUnimplemented(t *testing.T) {
	p, err := start(t, "minimal", connector.WithLogger(slog.New(&logs{})))
	if err != nil {
		t.Fatal(err)
	}
	wiretest.ExerciseUnimplemented(t, p)
}

// Lines printed on stdout before Serve are logged and skipped, not taken
// for a broken handshake.
func TestPluginStdoutBeforeServe(t *testing.T) {
	l := &logs{}
	p, err := start(t, "preprint", connector.WithName("pre"), connector.WithLogger(slog.New(l)))
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec().Name != "minimal" {
		t.Errorf("spec = %+v", p.Spec())
	}
	r, attrs := l.waitFor(t, "banner printed before Serve")
	if r.Level != slog.LevelInfo || attrs["stream"] != "stdout" || attrs["connector"] != "pre" {
		t.Errorf("banner arrived as %s %v", r.Level, attrs)
	}
}

func TestPluginExitsMidRead(t *testing.T) {
	p, err := start(t, "full", connector.WithLogger(slog.New(&logs{})))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Configure(ctx, connector.ConfigureRequest{Settings: []byte(`{"records": 3}`)}); err != nil {
		t.Fatal(err)
	}
	got := 0
	err = p.Read(ctx, connector.ReadRequest{Entity: "crash"}, func(rs []connector.Record) error {
		got += len(rs)
		return nil
	})
	var d *connector.Diagnostic
	if !errors.As(err, &d) || d.Code != connector.Unavailable || !strings.Contains(d.Summary, "exited during Read") {
		t.Fatalf("err = %v, want UNAVAILABLE 'exited during Read'", err)
	}
	if got != 1 {
		t.Errorf("got %d records before the exit, want 1", got)
	}
	if !p.Exited() {
		t.Error("Exited is false after the process ended")
	}
	_, err = p.Query(ctx, connector.QueryRequest{Entity: "item"})
	if connector.CodeOf(err) != connector.Unavailable || !strings.Contains(err.Error(), "exited during Query") {
		t.Errorf("call after exit: err = %v", err)
	}
}

func TestPluginStartErrors(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	quiet := connector.WithLogger(slog.New(&logs{}))
	for _, tc := range []struct {
		role string
		opts []connector.PluginOpt
		want []string
	}{
		{"exit", nil, []string{"exited during the plugin handshake", "boom: settings file /etc/x is missing", exe}},
		{"notplugin", nil, []string{"is not a syncplane connector plugin", `"Usage: notplugin [flags]"`}},
		{"otherversion", nil, []string{"speaks connector protocol 99, this host speaks 1"}},
		{"full", []connector.PluginOpt{connector.WithChecksum(make([]byte, sha256.Size))}, []string{"does not match its SHA-256 checksum"}},
	} {
		t.Run(tc.role, func(t *testing.T) {
			_, err := start(t, tc.role, append(tc.opts, quiet)...)
			if err == nil {
				t.Fatal("started without error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
	t.Run("checksum ok", func(t *testing.T) {
		data, err := os.ReadFile(exe)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if _, err := start(t, "minimal", quiet, connector.WithChecksum(sum[:])); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("not executable", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "syncplane-connector-x")
		if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := connector.StartPlugin(context.Background(), exec.Command(f), quiet)
		if err == nil || !strings.Contains(err.Error(), "chmod +x") {
			t.Errorf("err = %v, want a hint to chmod +x", err)
		}
	})
}

// Started by hand, a plugin says what it is and exits with status 1.
func TestServeWithoutHost(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envRole+"=minimal")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "is a syncplane connector plugin") {
		t.Errorf("exit %v, output %q", err, out)
	}
}

func runHost() {
	exe, _ := os.Executable()
	p, err := connector.StartPlugin(context.Background(), exec.Command(exe),
		connector.WithEnv(envRole+"=full"), connector.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	ps, err := p.ListPartitions(context.Background(), "report")
	if err != nil || len(ps.Partitions) != 1 {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("plugin", ps.Partitions[0].ID)
	time.Sleep(time.Minute)
}

// A host killed with SIGKILL takes its plugins with it.
func TestPluginDiesWithHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal exists on Linux only")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	host := exec.Command(exe)
	host.Env = append(os.Environ(), envRole+"=host")
	out, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = host.Process.Kill()
		t.Fatalf("reading the host's output: %v", err)
	}
	pidText, ok := strings.CutPrefix(strings.TrimSpace(line), "plugin ")
	pid, err := strconv.Atoi(pidText)
	if !ok || err != nil {
		_ = host.Process.Kill()
		t.Fatalf("host said %q", line)
	}
	if !alive(pid) {
		t.Fatalf("plugin %d is not running before the host is killed", pid)
	}
	if err := host.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = host.Wait()
	for i := 0; i < 300 && alive(pid); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("plugin %d outlived its killed host", pid)
	}
}

// alive reports whether pid runs (a zombie counts as dead).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// A plugin killed from outside (SIGKILL) fails the next call with a clear
// UNAVAILABLE diagnostic, and Exited reports it.
func TestPluginKilled(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGKILL")
	}
	p, err := start(t, "full", connector.WithName("victim"), connector.WithLogger(slog.New(&logs{})))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Configure(ctx, connector.ConfigureRequest{Settings: []byte(`{"records": 3}`)}); err != nil {
		t.Fatal(err)
	}
	ps, err := p.ListPartitions(ctx, "report")
	if err != nil || len(ps.Partitions) != 1 {
		t.Fatalf("report: %v", err)
	}
	pid, err := strconv.Atoi(ps.Partitions[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, err = p.Query(ctx, connector.QueryRequest{Entity: "item"})
	var d *connector.Diagnostic
	if !errors.As(err, &d) || d.Code != connector.Unavailable || d.Summary != "connector victim: the plugin process exited during Query" {
		t.Fatalf("err = %v", err)
	}
	if !p.Exited() {
		t.Error("Exited is false after SIGKILL")
	}
}
