package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncplane/syncplane/connector"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newManager returns a manager whose bundled connectors are served by the
// test binary (see TestMain) and whose plugin directory is dir.
func newManager(t *testing.T, dir string, inProcess bool) *Manager {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Options{PluginDir: dir, Bundled: testFactories(), Executable: exe, Logger: quiet(), InProcess: inProcess})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// writeExternal writes an external connector script into dir, and its
// checksum file unless sum is "none"; sum "" means the right one.
func writeExternal(t *testing.T, dir, name, script string, mode os.FileMode, sum string) string {
	t.Helper()
	path := filepath.Join(dir, ExecutablePrefix+name)
	if err := os.WriteFile(path, []byte(script), mode); err != nil {
		t.Fatal(err)
	}
	if sum == "none" {
		return path
	}
	if sum == "" {
		h := sha256.Sum256([]byte(script))
		sum = hex.EncodeToString(h[:])
	}
	if err := os.WriteFile(path+ChecksumSuffix, []byte(sum+"  "+filepath.Base(path)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func externalScript(t *testing.T) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return "#!/bin/sh\nexec '" + exe + "' connector serve bench\n"
}

func TestListAndLookup(t *testing.T) {
	dir := t.TempDir()
	writeExternal(t, dir, "acme", externalScript(t), 0o755, "")
	writeExternal(t, dir, "bench", externalScript(t), 0o755, "") // shadowed by the bundled one
	if err := os.Mkdir(filepath.Join(dir, ExecutablePrefix+"dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, dir, false)
	infos, err := m.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[0].Name != "acme" || infos[0].Bundled || infos[1].Name != "bench" || !infos[1].Bundled {
		t.Errorf("List = %+v", infos)
	}
	_, err = m.Lookup("bnch")
	if err == nil || !strings.Contains(err.Error(), `did you mean "bench"?`) || !strings.Contains(err.Error(), "acme, bench") {
		t.Errorf("typo: err = %v", err)
	}
	_, err = m.Lookup("salesforce")
	if err == nil || strings.Contains(err.Error(), "did you mean") || !strings.Contains(err.Error(), "known connectors: acme, bench") {
		t.Errorf("unknown: err = %v", err)
	}
	empty, err := New(Options{PluginDir: filepath.Join(dir, "missing"), Bundled: testFactories(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if infos, err := empty.List(); err != nil || len(infos) != 1 {
		t.Errorf("missing plugin dir: %v, %v", infos, err)
	}
}

func TestDefaultPluginDir(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/data")
	if got := DefaultPluginDir(); got != "/data/syncplane/plugins" {
		t.Errorf("with XDG_DATA_HOME: %s", got)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/u")
	if got := DefaultPluginDir(); got != "/home/u/.local/share/syncplane/plugins" {
		t.Errorf("without XDG_DATA_HOME: %s", got)
	}
}

func readAll(ctx context.Context, c connector.Client, entity string) (int, error) {
	n := 0
	err := c.Read(ctx, connector.ReadRequest{Entity: entity, BatchSize: 10}, func(rs []connector.Record) error {
		n += len(rs)
		return nil
	})
	return n, err
}

// A plugin that exits fails the running call with a clear error; the next
// call starts and configures a new process.
func TestRestartAfterExit(t *testing.T) {
	m := newManager(t, t.TempDir(), false)
	ctx := context.Background()
	c, err := m.Open(ctx, "bench")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Configure(ctx, connector.ConfigureRequest{Settings: []byte(`{"records": 25, "size": 100}`)}); err != nil {
		t.Fatal(err)
	}
	if n, err := readAll(ctx, c, "item"); err != nil || n != 25 {
		t.Fatalf("read %d, %v", n, err)
	}
	_, err = readAll(ctx, c, "crash")
	if connector.CodeOf(err) != connector.Unavailable || !strings.Contains(err.Error(), "connector bench: the plugin process exited during Read") {
		t.Fatalf("crash: err = %v", err)
	}
	// Configured again with the same settings: 25 records.
	if n, err := readAll(ctx, c, "item"); err != nil || n != 25 {
		t.Fatalf("after restart: read %d, %v", n, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(ctx, c, "item"); !errors.Is(err, errClosed) {
		t.Errorf("after Close: err = %v", err)
	}
}

func TestInProcess(t *testing.T) {
	m := newManager(t, t.TempDir(), true)
	ctx := context.Background()
	c, err := m.Open(ctx, "bench")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Configure(ctx, connector.ConfigureRequest{Settings: []byte(`{"records": 7, "size": 10}`)}); err != nil {
		t.Fatal(err)
	}
	if n, err := readAll(ctx, c, "item"); err != nil || n != 7 {
		t.Fatalf("read %d, %v", n, err)
	}
}

func TestExternal(t *testing.T) {
	dir := t.TempDir()
	script := externalScript(t)
	writeExternal(t, dir, "good", script, 0o755, "")
	writeExternal(t, dir, "tampered", script, 0o755, strings.Repeat("ab", 32))
	writeExternal(t, dir, "nosum", script, 0o755, "none")
	writeExternal(t, dir, "badsum", script, 0o755, "xyz")
	writeExternal(t, dir, "noexec", script, 0o644, "")
	writeExternal(t, dir, "hello", "#!/bin/sh\necho hello world\n", 0o755, "")
	m := newManager(t, dir, false)
	ctx := context.Background()

	spec, info, err := m.Spec(ctx, "good")
	if err != nil || spec.Name != "bench" || info.Bundled || info.Path != filepath.Join(dir, ExecutablePrefix+"good") {
		t.Errorf("good: %+v %+v %v", spec, info, err)
	}
	for name, want := range map[string]string{
		"tampered": "does not match its SHA-256 checksum",
		"nosum":    "syncplane-connector-nosum.sha256 is missing; create it with",
		"badsum":   "does not start with a SHA-256 digest",
		"noexec":   "is not an executable file; make it executable with chmod +x",
		"hello":    `is not a syncplane connector plugin (its first output line was "hello world"`,
	} {
		_, err := m.Open(ctx, name)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "connector "+name) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line naming the connector with %q", name, err, want)
		}
	}
	// In-process mode cannot run an external connector; it starts a process.
	mi := newManager(t, dir, true)
	c, err := mi.Open(ctx, "good")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Configure(ctx, connector.ConfigureRequest{Settings: []byte(`{"records": 3, "size": 10}`)}); err != nil {
		t.Fatal(err)
	}
	if n, err := readAll(ctx, c, "item"); err != nil || n != 3 {
		t.Fatalf("external read %d, %v", n, err)
	}
}

// Calls racing after an exit start one new process between them.
func TestConcurrentCallsRestartOnce(t *testing.T) {
	m := newManager(t, t.TempDir(), false)
	ctx := context.Background()
	c, err := m.Open(ctx, "bench")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Configure(ctx, connector.ConfigureRequest{Settings: []byte(`{"records": 30, "size": 50}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(ctx, c, "crash"); connector.CodeOf(err) != connector.Unavailable {
		t.Fatalf("crash: err = %v", err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			n, err := readAll(ctx, c, "item")
			if err == nil && n != 30 {
				err = fmt.Errorf("read %d records, want 30", n)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if r := c.(*restarting); r.restarts != 1 {
		t.Errorf("%d restarts, want 1", r.restarts)
	}
}

func TestNetworkEnv(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://proxy:3128")
	t.Setenv("SSL_CERT_FILE", "/etc/ca.pem")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "x")
	env := NetworkEnv()
	joined := strings.Join(env, " ")
	if !strings.Contains(joined, "HTTPS_PROXY=http://proxy:3128") || !strings.Contains(joined, "SSL_CERT_FILE=/etc/ca.pem") || strings.Contains(joined, "AWS") {
		t.Errorf("NetworkEnv = %v", env)
	}
	m, err := New(Options{Logger: quiet(), Bundled: testFactories()})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.opts.Env) != len(env) {
		t.Errorf("default Env = %v, want %v", m.opts.Env, env)
	}
}
