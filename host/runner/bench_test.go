package runner_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/jsonl"
	"github.com/syncplane/syncplane/host/config"
	"github.com/syncplane/syncplane/host/runner"
	"github.com/syncplane/syncplane/host/store"
)

// BenchmarkInitialSync measures the initial sync of a jsonl source into an
// in-memory target (connectors in-process) against reading the same
// source alone, in the same iteration. It reports records/s of both and
// sync/read, the host's overhead over the read.
func BenchmarkInitialSync(b *testing.B) {
	const n = 20000
	dir := b.TempDir()
	srcDir := filepath.Join(dir, "src")
	os.MkdirAll(srcDir, 0o755)
	f, err := os.Create(filepath.Join(srcDir, "events.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	for i := range n {
		line, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("e%07d", i), "subject": fmt.Sprintf("Meeting %d", i),
			"start": base.Add(time.Duration(i) * time.Minute).Format(time.RFC3339), "organizer": fmt.Sprintf("u%d@contoso.com", i%50),
			"showAs": "busy", "lastModifiedDateTime": base.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)})
		w.Write(line)
		w.WriteByte('\n')
	}
	w.Flush()
	f.Close()
	srcSettings := fmt.Sprintf(`{"dir": %q, "entities": {"events": {"key": "id", "modified_field": "lastModifiedDateTime"}}}`, srcDir)
	var readTotal, syncTotal time.Duration
	for i := 0; i < b.N; i++ {
		// Read alone.
		src := connector.Local(jsonl.New())
		if err := src.Configure(context.Background(), connector.ConfigureRequest{Settings: json.RawMessage(srcSettings)}); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		got := 0
		if err := src.ReadChanges(context.Background(), connector.ChangesRequest{Entity: "events", BatchSize: 500}, func(cb connector.ChangeBatch) error {
			got += len(cb.Changes)
			return nil
		}); err != nil || got != n {
			b.Fatalf("read %d, %v", got, err)
		}
		readTotal += time.Since(start)

		// The whole pipeline.
		run := filepath.Join(dir, fmt.Sprint("run", i))
		os.MkdirAll(run, 0o755)
		cfgPath := filepath.Join(run, "syncplane.yaml")
		os.WriteFile(cfgPath, []byte(fmt.Sprintf(`state: %s
connections:
  src: { connector: jsonl, settings: %s }
  dst: { connector: mem, settings: {} }
pipelines:
  - name: p
    from: { connection: src, entity: events }
    to:   { connection: dst, entity: people }
    mode: one-way
    batch_size: 500
    mapping:
      Subject: subject
      Start: start
      Owner: organizer
      Status: { expr: showAs, map: { busy: Busy, free: Free }, default: Busy }
      Source: id
`, filepath.Join(run, "state.db"), srcSettings)), 0o644)
		file, err := config.Load(cfgPath)
		if err != nil {
			b.Fatal(err)
		}
		st, err := store.Open(context.Background(), file.State, store.Options{Getenv: func(string) string { return "" }})
		if err != nil {
			b.Fatal(err)
		}
		tgt := newMemTarget()
		conns := runner.NewConnections(file, st, func(_ context.Context, name string) (connector.Client, error) {
			if name == "mem" {
				return connector.Local(tgt), nil
			}
			return connector.Local(jsonl.New()), nil
		})
		r, err := runner.New(runner.Options{File: file, Store: st, Connectors: conns, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		sum, err := r.RunOnce(context.Background(), "p")
		syncTotal += time.Since(start)
		if err != nil || sum.Counts.Created != n {
			b.Fatalf("sync %+v %v", sum.Counts, err)
		}
		conns.Close()
		st.Close()
	}
	b.ReportMetric(float64(n*b.N)/readTotal.Seconds(), "read-records/s")
	b.ReportMetric(float64(n*b.N)/syncTotal.Seconds(), "sync-records/s")
	b.ReportMetric(syncTotal.Seconds()/readTotal.Seconds(), "sync/read")
}
