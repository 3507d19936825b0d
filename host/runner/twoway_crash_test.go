package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
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
)

// TestTwoWayCrashSafety kills the host with SIGKILL at random points of
// two-way rounds (while creates go out both ways, before their commit),
// changing both sides between the crashes — the records just created
// included — then lets rounds run to convergence: every live record must be
// on both sides exactly once, with its latest values, and nothing else.
//
// Each record's name starts with the id of its origin ("a:N" or "b:N") and
// every edit rewrites the whole name (the jsonl connector replaces a
// record's fields on update, so a field a partial update leaves out would
// not survive); a record is edited only on its own side, so what each side
// must hold at the end is known whatever the interleaving.
func TestTwoWayCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("starts many processes")
	}
	dir := t.TempDir()
	if d := os.Getenv("SYNCPLANE_CRASH_DIR"); d != "" {
		dir = d
	}
	aDir, bDir := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, d := range []string{aDir, bDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	aSettings := fmt.Sprintf(`{"dir": %q, "entities": {"people": {"key": "id", "modified_field": "modified"}}}`, aDir)
	bSettings := fmt.Sprintf(`{"dir": %q, "entities": {"contacts": {"key": "id", "modified_field": "modified"}}}`, bDir)
	cfg := fmt.Sprintf(`state: %s
connections:
  left: { connector: jsonl, settings: %s }
  right: { connector: jsonl, settings: %s }
pipelines:
  - name: tw
    from: { connection: left, entity: people }
    to:   { connection: right, entity: contacts }
    mode: two-way
    conflict: source-wins
    on_delete: delete
    reverse_on_delete: delete
    batch_size: 25
    mapping: { name: name }
    reverse_mapping: { name: name }
`, filepath.Join(dir, "state.db"), aSettings, bSettings)
	cfgPath := filepath.Join(dir, "syncplane.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	type side struct {
		name, entity, dir string
		c                 connector.Client
		ids               map[string]string // origin → id of the live records made on this side
	}
	open := func(name, entity, d, settings string) *side {
		c := connector.Local(jsonl.New())
		if err := c.Configure(ctx, connector.ConfigureRequest{Settings: json.RawMessage(settings)}); err != nil {
			t.Fatal(err)
		}
		return &side{name: name, entity: entity, dir: d, c: c, ids: map[string]string{}}
	}
	sides := []*side{open("a", "people", aDir, aSettings), open("b", "contacts", bDir, bSettings)}
	want := map[string]string{} // live origin → name
	write := func(s *side, ops []connector.WriteOp) {
		t.Helper()
		if len(ops) == 0 {
			return
		}
		outs, err := s.c.Write(ctx, connector.WriteBatch{Entity: s.entity, Ops: ops})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range outs {
			if o.Status == connector.Rejected {
				t.Fatalf("%s: %v", s.name, o.Diagnostics)
			}
		}
	}
	next := 0
	create := func(s *side, round int) connector.WriteOp {
		next++
		origin := fmt.Sprintf("%s:%05d", s.name, next)
		id := fmt.Sprintf("%s%05d", s.name, next)
		s.ids[origin] = id
		want[origin] = fmt.Sprintf("%s round %d", origin, round)
		return connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "t-" + id,
			Record: connector.Record{Fields: map[string]any{"id": id, "name": want[origin]}}}
	}
	for _, s := range sides {
		var ops []connector.WriteOp
		for range 300 {
			ops = append(ops, create(s, 0))
		}
		write(s, ops)
	}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	// runHost runs the host once; with kill set it is SIGKILLed after
	// after (unless it ended before). It returns whether it was killed and
	// how long it ran.
	runHost := func(kill bool, after time.Duration) (bool, time.Duration) {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), hostEnv+"="+cfgPath)
		cmd.Stderr = os.Stderr
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var timer <-chan time.Time
		if kill {
			timer = time.After(after)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("host failed: %v", err)
			}
			return false, time.Since(start)
		case <-timer:
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			return true, time.Since(start)
		}
	}

	full := 3 * time.Second // a run's duration, learnt from runs that end
	kills := 0
	for round := 1; kills < crashKills(); round++ {
		if round > 120 {
			t.Fatalf("only %d kills landed in 120 rounds", kills)
		}
		if round > 1 {
			// Change both sides between crashes, each record on its own
			// side only: creates, updates (of records whose create may be
			// acknowledged but not committed), deletes.
			for _, s := range sides {
				var ops []connector.WriteOp
				origins := make([]string, 0, len(s.ids))
				for o := range s.ids {
					origins = append(origins, o)
				}
				seen := map[string]bool{}
				for i := range 30 {
					switch {
					case i%5 == 0:
						ops = append(ops, create(s, round))
					case len(origins) > 0:
						o := origins[rng.IntN(len(origins))]
						if seen[o] {
							continue
						}
						seen[o] = true
						id := s.ids[o]
						if i%5 == 1 {
							delete(want, o)
							delete(s.ids, o)
							ops = append(ops, connector.WriteOp{Action: connector.ActionDelete, TargetID: id, IdempotencyKey: fmt.Sprintf("d%d-%s", round, id)})
							continue
						}
						want[o] = fmt.Sprintf("%s round %d", o, round)
						ops = append(ops, connector.WriteOp{Action: connector.ActionUpsert, TargetID: id, IdempotencyKey: fmt.Sprintf("u%d-%s", round, id),
							Record: connector.Record{Fields: map[string]any{"id": id, "name": want[o]}}})
					}
				}
				write(s, ops)
			}
		}
		after := time.Duration(rng.Int64N(int64(full)))
		killed, took := runHost(true, after)
		if killed {
			kills++
			t.Logf("kill %d (round %d) after %v", kills, round, after.Round(time.Millisecond))
		} else {
			full = took
		}
	}
	// Rounds until a round finds nothing to do on either side.
	for i := 0; ; i++ {
		if i == 6 {
			t.Fatal("no convergence after 6 rounds without crashes")
		}
		before := [2]string{fileOf(t, aDir, "people"), fileOf(t, bDir, "contacts")}
		if killed, _ := runHost(false, 0); killed {
			t.Fatal("final run was killed")
		}
		if i > 0 && before == [2]string{fileOf(t, aDir, "people"), fileOf(t, bDir, "contacts")} {
			break
		}
	}
	for _, s := range sides {
		got := map[string][]string{} // origin → names of the live records
		for _, rec := range readJSONL(t, filepath.Join(s.dir, s.entity+".jsonl")) {
			if rec["_deleted"] == true {
				continue
			}
			n, _ := rec["name"].(string)
			o, _, _ := strings.Cut(n, " ")
			got[o] = append(got[o], n)
		}
		lost, dup, stale, extra := 0, 0, 0, 0
		var examples []string
		for o, name := range want {
			switch g := got[o]; {
			case len(g) == 0:
				lost++
				examples = append(examples, o+" lost")
			case len(g) > 1:
				dup++
				examples = append(examples, fmt.Sprintf("%s %d times", o, len(g)))
			case g[0] != name:
				stale++
				examples = append(examples, fmt.Sprintf("%s is %q, want %q", o, g[0], name))
			}
		}
		for o := range got {
			if _, ok := want[o]; !ok {
				extra++
				examples = append(examples, o+" should be deleted")
			}
		}
		if lost+dup+stale+extra > 0 {
			if len(examples) > 8 {
				examples = examples[:8]
			}
			t.Errorf("side %s after %d kills: %d lost, %d duplicated, %d stale, %d not deleted (%d live origins): %s",
				s.name, kills, lost, dup, stale, extra, len(want), strings.Join(examples, "; "))
			continue
		}
		t.Logf("side %s after %d kills: %d records, one per live origin, none lost, none duplicated", s.name, kills, len(want))
	}
}

func fileOf(t *testing.T, dir, entity string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, entity+".jsonl"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

func readJSONL(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%s: line %q: %v", path, line, err)
		}
		out = append(out, rec)
	}
	return out
}
