package runner_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/host/config"
	"github.com/syncplane/syncplane/host/runner"
	"github.com/syncplane/syncplane/host/store"
)

// benchPipeline runs one pipeline (one-way or two-way) between two fresh
// in-memory sides, the first holding n records, and returns the time of the
// initial sync and of a second round after every record changed on side a.
func benchPipeline(b *testing.B, dir, mode string, n int) (initial, changes time.Duration) {
	b.Helper()
	var clock int64
	a, bb := newMemSide("a", &clock), newMemSide("b", &clock)
	ids := make([]string, n)
	for i := range n {
		ids[i] = a.Edit("", map[string]any{"name": fmt.Sprintf("Person %d", i), "phone": fmt.Sprintf("555%07d", i), "note": "first"})
	}
	extra := ""
	if mode == "two-way" {
		extra = "    conflict: manual\n    reverse_mapping: { name: name, phone: phone, note: note }\n"
	}
	cfg := fmt.Sprintf(`state: %s
connections:
  left: { connector: memside }
  right: { connector: memside }
pipelines:
  - name: sync
    from: { connection: left, entity: items }
    to: { connection: right, entity: items }
    mode: %s
    batch_size: 500
    mapping: { name: name, phone: phone, note: note }
%s`, filepath.Join(dir, "state.db"), mode, extra)
	f, err := config.Parse(filepath.Join(dir, "p.yaml"), []byte(cfg), config.Options{})
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(context.Background(), f.State, store.Options{SecretKey: make([]byte, 32)})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	// Both connections use connector "memside": they are opened in order,
	// left (a) first.
	opened := 0
	conns := runner.NewConnections(f, st, func(context.Context, string) (connector.Client, error) {
		opened++
		if opened == 1 {
			return connector.Local(a), nil
		}
		return connector.Local(bb), nil
	})
	defer conns.Close()
	for _, c := range []string{"left", "right"} {
		if _, err := conns.Client(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
	r, err := runner.New(runner.Options{File: f, Store: st, Connectors: conns, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	s, err := r.RunOnce(ctx, "sync")
	initial = time.Since(start)
	if err != nil || s.Counts.Created != int64(n) {
		b.Fatalf("%s initial sync: %+v %v", mode, s.Counts, err)
	}
	if mode == "two-way" {
		// The echoes of the creates, as the next scheduled round sees them.
		if s, err := r.RunOnce(ctx, "sync"); err != nil || s.Counts.Created+s.Counts.Updated != 0 {
			b.Fatalf("two-way echo round: %+v %v", s.Counts, err)
		}
	}
	for _, id := range ids {
		a.Edit(id, map[string]any{"note": "second"})
	}
	start = time.Now()
	s, err = r.RunOnce(ctx, "sync")
	changes = time.Since(start)
	if err != nil || s.Counts.Updated != int64(n) {
		b.Fatalf("%s change round: %+v %v", mode, s.Counts, err)
	}
	return initial, changes
}

// BenchmarkTwoWayOverhead measures the two-way bookkeeping (reading both
// change feeds, the link table with each side's last-synced record,
// version and hash, echo detection) against a one-way pipeline over the
// same records between the same in-memory services, in the same iteration:
// the initial sync of n records, and a round after all of them changed.
// The two-way figure excludes its echo round (which writes nothing).
func BenchmarkTwoWayOverhead(b *testing.B) {
	const n = 5000
	var one, two [2]time.Duration
	for i := 0; i < b.N; i++ {
		oi, oc := benchPipeline(b, b.TempDir(), "one-way", n)
		ti, tc := benchPipeline(b, b.TempDir(), "two-way", n)
		one[0] += oi
		one[1] += oc
		two[0] += ti
		two[1] += tc
	}
	recs := float64(n * b.N)
	b.ReportMetric(recs/one[0].Seconds(), "one-way-initial-records/s")
	b.ReportMetric(recs/two[0].Seconds(), "two-way-initial-records/s")
	b.ReportMetric(two[0].Seconds()/one[0].Seconds(), "two/one-initial")
	b.ReportMetric(recs/one[1].Seconds(), "one-way-update-records/s")
	b.ReportMetric(recs/two[1].Seconds(), "two-way-update-records/s")
	b.ReportMetric(two[1].Seconds()/one[1].Seconds(), "two/one-update")
}
