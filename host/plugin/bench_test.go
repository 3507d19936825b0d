package plugin

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
)

const (
	benchRecords   = 20000
	benchSize      = 1024
	benchBatchSize = 500
)

func openBench(b *testing.B, inProcess bool, records int, decode bool) connector.Client {
	b.Helper()
	exe := ""
	if !inProcess {
		exe = mustExecutable(b)
	}
	m, err := New(Options{PluginDir: b.TempDir(), Bundled: testFactories(), Executable: exe, Logger: quiet(), InProcess: inProcess})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	c, err := m.Open(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	settings := fmt.Sprintf(`{"records": %d, "size": %d, "json": %t}`, records, benchSize, decode)
	if err := c.Configure(ctx, connector.ConfigureRequest{Settings: []byte(settings)}); err != nil {
		b.Fatal(err)
	}
	return c
}

func mustExecutable(b *testing.B) string {
	m, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	return m.opts.Executable
}

// readOnce reads every record and returns how long it took.
func readOnce(b *testing.B, c connector.Client) time.Duration {
	start := time.Now()
	n := 0
	err := c.Read(context.Background(), connector.ReadRequest{Entity: "item", BatchSize: benchBatchSize}, func(rs []connector.Record) error {
		n += len(rs)
		return nil
	})
	d := time.Since(start)
	if err != nil || n != benchRecords {
		b.Fatalf("read %d records, %v", n, err)
	}
	return d
}

// BenchmarkReadPluginVsInProcess reads the same 20000 records of about 1 KB
// from the same connector in process and over the plugin boundary, in
// batches of 500, alternating within each iteration, and reports both rates
// and their ratio (plugin/in-process).
//
// Two connectors: "copy" hands out records it holds in memory (almost no
// work per record, so the ratio is the boundary's whole overhead);
// "jsondecode" decodes each record from a JSON line first, the work a
// connector reading files or HTTP responses does.
func BenchmarkReadPluginVsInProcess(b *testing.B) {
	for _, mode := range []struct {
		name   string
		decode bool
	}{{"copy", false}, {"jsondecode", true}} {
		b.Run(mode.name, func(b *testing.B) {
			local := openBench(b, true, benchRecords, mode.decode)
			remote := openBench(b, false, benchRecords, mode.decode)
			readOnce(b, local) // warm both paths
			readOnce(b, remote)
			var tLocal, tRemote time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tLocal += readOnce(b, local)
				tRemote += readOnce(b, remote)
			}
			total := float64(benchRecords * b.N)
			localRate := total / tLocal.Seconds()
			remoteRate := total / tRemote.Seconds()
			b.ReportMetric(localRate, "inprocess-rec/s")
			b.ReportMetric(remoteRate, "plugin-rec/s")
			b.ReportMetric(remoteRate/localRate, "plugin/inprocess")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkQueryRoundTrip measures Query by key over the plugin boundary and
// in process, and reports the 50th and 99th percentile latency.
func BenchmarkQueryRoundTrip(b *testing.B) {
	for _, mode := range []struct {
		name      string
		inProcess bool
	}{{"inprocess", true}, {"plugin", false}} {
		b.Run(mode.name, func(b *testing.B) {
			c := openBench(b, mode.inProcess, 1000, false)
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := "r" + strconv.Itoa(i%1000)
				start := time.Now()
				rs, err := c.Query(ctx, connector.QueryRequest{Entity: "item", Match: map[string]any{"id": id}})
				lat = append(lat, time.Since(start))
				if err != nil || len(rs) != 1 || rs[0].ID != id {
					b.Fatalf("query %s: %v, %v", id, rs, err)
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*50/100].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[min(len(lat)*99/100, len(lat)-1)].Microseconds()), "p99-µs")
		})
	}
}
