package runner_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/jsonl"
	"github.com/syncplane/syncplane/host/config"
	"github.com/syncplane/syncplane/host/plugin"
	"github.com/syncplane/syncplane/host/runner"
	"github.com/syncplane/syncplane/host/store"
)

// The test binary plays three roles: the tests; a host process
// (SYNCPLANE_TEST_HOST=pipeline file) that runs a pipeline once with its
// connectors as plugin processes; and a plugin process serving the jsonl
// connector (arguments "serve-connector jsonl"), started by that host.
const (
	hostEnv  = "SYNCPLANE_TEST_HOST"
	serveArg = "serve-connector"
)

func crashKills() int {
	if os.Getenv("SYNCPLANE_CRASH_KILLS") == "3" {
		return 3
	}
	return 20
}

func TestMain(m *testing.M) {
	if len(os.Args) >= 3 && os.Args[1] == serveArg {
		connector.Serve(jsonl.New())
		return
	}
	if path := os.Getenv(hostEnv); path != "" {
		if err := hostMain(path); err != nil {
			fmt.Fprintln(os.Stderr, "host:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// hostMain is the host process of the crash test: run every pipeline once.
func hostMain(path string) error {
	ctx := context.Background()
	f, err := config.Load(path)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, f.State, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m, err := plugin.New(plugin.Options{Executable: exe, Args: []string{serveArg}, Logger: log, PluginDir: filepath.Join(filepath.Dir(path), "no-plugins")})
	if err != nil {
		return err
	}
	conns := runner.NewConnections(f, st, m.Open)
	defer conns.Close()
	r, err := runner.New(runner.Options{File: f, Store: st, Connectors: conns, Logger: log,
		Progress: func(_, _ string, d store.Counts) { fmt.Printf("batch %d\n", d.Read) }})
	if err != nil {
		return err
	}
	_, err = r.RunAll(ctx)
	return err
}

// TestCrashSafety kills the host with SIGKILL at random points of a sync,
// twenty times, changing the source along the way, then lets a run
// finish: the target must hold every live source record exactly once,
// with its latest values, and nothing else.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("starts many processes")
	}
	dir := t.TempDir()
	if d := os.Getenv("SYNCPLANE_CRASH_DIR"); d != "" {
		dir = d
	}
	srcDir, dstDir := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	os.MkdirAll(srcDir, 0o755)
	os.MkdirAll(dstDir, 0o755)
	srcSettings := fmt.Sprintf(`{"dir": %q, "entities": {"people": {"key": "id", "modified_field": "updated_at"}}}`, srcDir)
	cfg := fmt.Sprintf(`state: %s
connections:
  src: { connector: jsonl, settings: %s }
  dst: { connector: jsonl, settings: { dir: %q } }
pipelines:
  - name: people
    from: { connection: src, entity: people }
    to:   { connection: dst, entity: contacts }
    mode: one-way
    on_delete: delete
    batch_size: 40
    mapping:
      src: id
      name: name
      rev: rev
`, filepath.Join(dir, "state.db"), srcSettings, dstDir)
	cfgPath := filepath.Join(dir, "syncplane.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src := connector.Local(jsonl.New())
	if err := src.Configure(ctx, connector.ConfigureRequest{Settings: json.RawMessage(srcSettings)}); err != nil {
		t.Fatal(err)
	}
	const n = 1200
	want := map[string]string{} // live source id → name
	write := func(ops []connector.WriteOp) {
		t.Helper()
		outs, err := src.Write(ctx, connector.WriteBatch{Entity: "people", Ops: ops})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range outs {
			if o.Status == connector.Rejected {
				t.Fatal(o.Diagnostics)
			}
		}
	}
	var ops []connector.WriteOp
	for i := range n {
		id, name := fmt.Sprintf("p%05d", i), fmt.Sprintf("Person %d", i)
		want[id] = name
		ops = append(ops, connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: id,
			Record: connector.Record{Fields: map[string]any{"id": id, "name": name, "rev": int64(0)}}})
	}
	write(ops)

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	// runHost runs the host; with killAt >= 0 it is SIGKILLed once killAt
	// batches were committed plus a jitter, or, with startup set, at a
	// random moment of its start-up.
	runHost := func(killAt int, jitter time.Duration, startup bool) (killed bool, batches int) {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), hostEnv+"="+cfgPath)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan struct{}, 1024)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "batch") {
					lines <- struct{}{}
				}
			}
			close(lines)
			io.Copy(io.Discard, out)
		}()
		var timer <-chan time.Time
		if killAt == 0 || startup {
			timer = time.After(jitter)
		}
		for {
			select {
			case _, ok := <-lines:
				if !ok {
					if err := cmd.Wait(); err != nil {
						t.Fatalf("host failed: %v", err)
					}
					return false, batches
				}
				batches++
				if batches == killAt && !startup {
					timer = time.After(jitter)
				}
			case <-timer:
				cmd.Process.Signal(syscall.SIGKILL)
				cmd.Wait()
				for range lines {
					batches++
				}
				return true, batches
			}
		}
	}

	next := n
	kills := 0
	for round := 0; kills < crashKills(); round++ {
		if round > 100 {
			t.Fatalf("only %d kills landed in 100 rounds", kills)
		}
		if round > 0 {
			// Change the source between crashes: updates, deletes, creates.
			var ops []connector.WriteOp
			seen := map[string]bool{}
			for i := 0; i < 60; i++ {
				id := fmt.Sprintf("p%05d", rng.IntN(next))
				if seen[id] {
					continue
				}
				seen[id] = true
				_, live := want[id]
				switch {
				case i%6 == 0:
					id = fmt.Sprintf("p%05d", next)
					next++
					fallthrough
				case !live || i%6 != 1:
					name := fmt.Sprintf("Person %s round %d", id, round)
					want[id] = name
					ops = append(ops, connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: fmt.Sprintf("u%d-%s", round, id),
						Record: connector.Record{Fields: map[string]any{"id": id, "name": name, "rev": int64(round)}}})
				default:
					delete(want, id)
					ops = append(ops, connector.WriteOp{Action: connector.ActionDelete, IdempotencyKey: fmt.Sprintf("d%d-%s", round, id), TargetID: id})
				}
			}
			write(ops)
		}
		// Kill at a random point: during start-up (plugins starting, store
		// opening), or after a random number of committed batches plus a
		// jitter that lands inside the next batch's read, write or commit.
		maxK := 2
		if round == 0 {
			maxK = 25
		}
		startup := rng.IntN(6) == 0
		jitter := time.Duration(rng.IntN(40)) * time.Millisecond
		if startup {
			jitter = time.Duration(rng.IntN(1200)) * time.Millisecond
		}
		killed, batches := runHost(rng.IntN(maxK), jitter, startup)
		if killed {
			kills++
			t.Logf("kill %d (round %d) after %d committed batches, startup=%v", kills, round, batches, startup)
		}
	}
	if killed, _ := runHost(-1, 0, false); killed {
		t.Fatal("final run was killed")
	}

	// Every live source record is in the target exactly once, current.
	data, err := os.ReadFile(filepath.Join(dstDir, "contacts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("target line %q: %v", line, err)
		}
		if rec["_deleted"] == true {
			continue
		}
		id, _ := rec["src"].(string)
		if _, dup := got[id]; dup {
			t.Fatalf("source record %s is in the target twice", id)
		}
		got[id], _ = rec["name"].(string)
	}
	lost, stale, extra := 0, 0, 0
	for id, name := range want {
		g, ok := got[id]
		switch {
		case !ok:
			lost++
		case g != name:
			stale++
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			extra++
		}
	}
	if lost+stale+extra > 0 {
		t.Fatalf("after %d kills: %d lost, %d stale, %d that should be deleted (target %d, source %d)", kills, lost, stale, extra, len(got), len(want))
	}
	t.Logf("after %d kills: %d records in the target, none lost, none duplicated", kills, len(got))
}
