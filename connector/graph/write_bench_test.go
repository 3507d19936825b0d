package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

// writeBenchOps is n events spread evenly over the mailboxes, with keys
// unique to run.
func writeBenchOps(run string, mailboxes, n int, start time.Time) []connector.WriteOp {
	ops := make([]connector.WriteOp, n)
	for i := range ops {
		user := fmt.Sprintf("user%d@contoso.com", i%mailboxes+1)
		ops[i] = eventOp(fmt.Sprintf("%s-%d", run, i), user, fmt.Sprintf("bench %s %d", run, i), start.Add(time.Duration(i)*time.Minute))
	}
	return ops
}

// BenchmarkWriteEvents creates 1,000 events across 50 mailboxes (20 each)
// in one Write, against the emulator with 50 ms of latency on every HTTP
// request (not on the requests inside a $batch, which run behind one round
// trip), and reports the wall time against the lower bound:
//
//	bound = latency × max(⌈R / G⌉, max over mailboxes of ⌈n_m / 20⌉)
//
// where R = Σ⌈n_m / 20⌉ is the number of $batch requests the events need
// (20 requests per batch, graph-api-facts §4.5), G the connector's global
// concurrency (64), and a mailbox's batches run one after the other
// because each holds all of the mailbox's concurrency slots (4, §4.1) —
// here 50 × 50 ms / 64 → one round trip, 50 ms. Without batching the same
// bound is latency × max(⌈N / G⌉, ⌈n_m / 4⌉) = 50 ms × 16 = 800 ms.
//
// The latency is the time from a request's arrival at the emulator to its
// answer (graphtest.Options.LatencyIncludesService): the emulator serves
// the request at once and holds the answer back until 50 ms have passed,
// as a client sees a real service's latency — network and service time
// together — the emulator's processing standing for the service's. Before
// it was a delay added ahead of the emulator's processing, which charged
// every round trip the emulator's own CPU time on top of the latency; that
// model is kept as added=50ms.
//
// Sub-benchmarks: latency=0 is the baseline measured in the same run (the
// emulator's and the connector's processing of the same writes without
// latency); latency=50ms is the figure; nobatch=50ms is the same with
// batch=false; added=50ms is the figure's writes with the latency added
// before serving. Metrics: wall-ms per Write, bound-ms, x-bound (wall/bound),
// x-bound+base (wall / (bound + the latency=0 wall)), requests (HTTP
// requests the Write sent; batch parts are inside their batch), cpu-ms
// (CPU time of this process per Write, which other processes' load
// barely moves, unlike wall-ms), gcs (garbage collections of this process
// that ended during a Write, per Write).
//
// Two modes. Without GRAPH_EMULATOR_BIN the emulator runs in this process:
// cpu-ms is the connector's and the emulator's CPU time together, the
// allocations are theirs together, and the collector scans the emulator's store,
// which grows by 1,000 events every Write. With GRAPH_EMULATOR_BIN set to
// a syncplane binary, each sub-benchmark starts the emulator in its own
// process (`syncplane emulate graph --users 50 --latency 50ms
// --latency-includes-service`, or without the last flag for added=50ms),
// as the service is in a deployment: cpu-ms, B/op and allocs/op are then
// the connector's alone; emulator-cpu-ms is the emulator process's CPU
// time per Write, read from /proc before and after each Write (Linux
// only, in ticks of 10 ms, summed over the Writes); emulator-serving-ms is
// the serving CPU time of its --stats-file spread over the timed Writes
// and the warm-up, so it also carries the set-up (sign-in, the directory,
// $metadata) and the warm-up's TLS handshakes; requests are counted as
// they leave this process, the emulator's statistics being read only
// when it ends. The two processes share the machine's cores, so wall-ms
// still includes the emulator's CPU time wherever they contend.
//
// Figure, emulator in this process (go test ./connector/graph/ -run '^$'
// -bench BenchmarkWriteEvents -benchtime 3x -benchmem, three paired runs
// of the two versions on 2 cores shared with other work, load average
// 3.1-3.4; wall times still move by 1.5x from run to run at that load):
// 50 requests per Write.
// Before (the emulator under one store-wide lock, latency added ahead of
// serving, part bodies checked twice): latency=50ms 111-174 ms wall,
// x-bound 2.2-3.5, 109-143 cpu-ms; latency=0 127-165 cpu-ms; 265,000
// allocations and 32-33 MB per Write. After (mailbox locks, latency
// including service time, answers written from the stored data, plain
// bodies decoded without reflection, part bodies delimited and not
// checked twice): latency=50ms 78-114 ms wall, x-bound 1.56-2.27, 77-86
// cpu-ms; added=50ms 88-133 ms, x-bound 1.77-2.65; latency=0 107-119
// cpu-ms; 203,000 allocations and 22.5-23.8 MB per Write. nobatch=50ms
// 880 ms, x-bound 1.10 (904 ms, 1.13 before), 1,000 requests. A Write's
// timeline: its requests are built in 3-12 ms, the first batch is
// answered 54-60 ms later and the last 86-130 ms later — the answers are
// read after they arrive (the read path's decoder, for Stored, about 13%
// of the CPU; TLS and HTTP about 15%; garbage collection, one cycle per
// Write, 25-30%) while the emulator is still serving the slower batches.
// The target, 1.3x (65 ms), is not met: it needs the answers read in
// about 12 ms after they arrive.
//
// Figure, emulator in its own process (GRAPH_EMULATOR_BIN=… go test
// ./connector/graph/ -run '^$' -bench 'BenchmarkWriteEvents/(latency=0|
// latency=50ms)$' -benchtime 30x -benchmem, four paired runs of the two
// versions, load average 5.6-8.5 on 2 cores, where CPU times move by
// ±15% from run to run): 50 requests per Write. latency=50ms, before the
// headers of 2xx batch parts were left unread and the bodies' values
// uncopied: connector 49-60 cpu-ms (median 54), 83,700 allocations and
// 12.3 MB per Write, 0.97-1.17 collections per Write; after: 41-56
// cpu-ms (median 48), 60,500 allocations and 10.8 MB, 0.6-1.07
// collections. The emulator took 80-111 ms of CPU per Write. Of the
// connector's CPU time the read path's decoder (Stored) is about 21%,
// HTTP and TLS about 20%, garbage collection about 15%, the batch
// answers' parsing 5%, the bodies' rendering 3%. nobatch=50ms: 1,000
// requests, 175-177 cpu-ms, 134,000 allocations (140,000 before). Later,
// with the decoder's allocations cut and the batch answers read into the
// client's pooled buffers, giving those buffers back once the parts'
// outcomes are made took latency=50ms from 10.9-11.2 MB to 8.8-9.1 MB
// per Write and from 0.93-1.03 collections to 0.77-0.8 (50,000
// allocations; four paired runs at load average 5.2-10, where the CPU
// times, 36-53 ms, did not separate the two).
// Connector and emulator together spent 120-170 ms of CPU per Write at
// that load: were it the same on a quiet machine, 2 cores could not end
// a Write sooner than 60-85 ms. While the emulator shares the machine,
// the 65 ms target needs their CPU time below 130 ms per Write.
func BenchmarkWriteEvents(b *testing.B) {
	const (
		mailboxes = 50
		events    = 1000
		global    = 64
	)
	external := os.Getenv("GRAPH_EMULATOR_BIN") != ""
	var baseline time.Duration
	for _, tc := range []struct {
		name    string
		latency time.Duration
		batch   bool
		added   bool // the latency is added before the request is served
	}{{"latency=0", 0, true, false}, {"latency=50ms", 50 * time.Millisecond, true, false}, {"nobatch=50ms", 50 * time.Millisecond, false, false},
		{"added=50ms", 50 * time.Millisecond, true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			settings := map[string]any{"max_concurrency": global, "batch": tc.batch}
			var (
				c *Connector
				// requests is the number of HTTP requests sent or served
				// so far.
				requests func() int
				// emulatorCPU is the emulator process's CPU time so far
				// (nil in this process, ok false where not measured).
				emulatorCPU func() (time.Duration, bool)
				stop        func() (graphtest.Stats, time.Duration)
			)
			if external {
				var args []string
				if tc.latency > 0 {
					args = append(args, "--latency", tc.latency.String())
					if !tc.added {
						args = append(args, "--latency-includes-service")
					}
				}
				x := externalEmulator(b, mailboxes, 1, args...)
				maps.Copy(x.settings, settings)
				c = NewWith()
				raw, _ := json.Marshal(x.settings)
				if err := c.Configure(context.Background(), connector.ConfigureRequest{Connection: "test", Settings: raw, Host: &connector.MemoryHost{}}); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { c.Close() })
				// The emulator's statistics are read when it ends: the
				// requests of each Write are counted here as they leave.
				counter := &countingTransport{next: c.client.http.Transport}
				c.client.http.Transport = counter
				requests = func() int { return int(counter.n.Load()) }
				pid := x.cmd.Process.Pid
				emulatorCPU = func() (time.Duration, bool) { return childCPU(pid) }
				stop = x.stop
			} else {
				e := startEmu(b, graphtest.Options{Users: mailboxes, EventsPerUser: 1, ContactsPerUser: 1, TasksPerUser: 1, MessagesPerUser: 1, Seed: 5,
					Latency: tc.latency, LatencyIncludesService: !tc.added})
				c = e.connect(b, settings, nil)
				requests = func() int { return e.srv.Stats().Total }
			}
			ctx := context.Background()
			if _, err := c.ListPartitions(ctx, "event"); err != nil {
				b.Fatal(err)
			}
			start := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Hour)
			// Warm up at full size: schema, selection, token, and the
			// connections the timed writes reuse.
			if _, err := c.Write(ctx, connector.WriteBatch{Entity: "event", Ops: writeBenchOps("warm", mailboxes, events, start)}); err != nil {
				b.Fatal(err)
			}
			perMailbox := (events + mailboxes - 1) / mailboxes
			batches := mailboxes * ((perMailbox + 19) / 20)
			bound := tc.latency * time.Duration(max((batches+global-1)/global, (perMailbox+19)/20))
			if !tc.batch {
				bound = tc.latency * time.Duration(max((events+global-1)/global, (perMailbox+3)/4))
			}
			run := 0
			var wall, cpu, emuCPU time.Duration
			emuMeasured := emulatorCPU != nil
			var sent int
			cycles := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
			var gcs uint64
			for b.Loop() {
				b.StopTimer()
				run++
				ops := writeBenchOps(fmt.Sprint(tc.name, run), mailboxes, events, start)
				before := requests()
				var emuBefore time.Duration
				if emulatorCPU != nil {
					var ok bool
					emuBefore, ok = emulatorCPU()
					emuMeasured = emuMeasured && ok
				}
				b.StartTimer()
				metrics.Read(cycles)
				gcBefore := cycles[0].Value.Uint64()
				began, cpuBefore := time.Now(), processCPU()
				outs, err := c.Write(ctx, connector.WriteBatch{Entity: "event", Ops: ops})
				took, cpuTook := time.Since(began), processCPU()-cpuBefore
				b.StopTimer()
				metrics.Read(cycles)
				gcs += cycles[0].Value.Uint64() - gcBefore
				if err != nil {
					b.Fatal(err)
				}
				for i, o := range outs {
					if o.Status != connector.Created {
						b.Fatalf("op %d: %+v", i, o)
					}
				}
				wall += took
				cpu += cpuTook
				sent += requests() - before
				if emulatorCPU != nil {
					// The emulator's answers are all written when Write
					// returns, and it does nothing between Writes.
					emuAfter, ok := emulatorCPU()
					emuMeasured = emuMeasured && ok
					emuCPU += emuAfter - emuBefore
				}
				b.StartTimer()
			}
			avg := wall / time.Duration(run)
			if tc.latency == 0 {
				baseline = avg
			}
			b.ReportMetric(float64(avg)/1e6, "wall-ms")
			b.ReportMetric(float64(cpu/time.Duration(run))/1e6, "cpu-ms")
			b.ReportMetric(float64(sent)/float64(run), "requests")
			b.ReportMetric(float64(gcs)/float64(run), "gcs")
			if bound > 0 {
				b.ReportMetric(float64(bound)/1e6, "bound-ms")
				b.ReportMetric(float64(avg)/float64(bound), "x-bound")
				if baseline > 0 {
					b.ReportMetric(float64(avg)/float64(bound+baseline), "x-bound+base")
				}
			}
			if stop != nil {
				b.StopTimer()
				c.Close()
				st, serving := stop()
				if emuMeasured {
					b.ReportMetric(float64(emuCPU/time.Duration(run))/1e6, "emulator-cpu-ms")
				}
				if serving >= 0 {
					// Set-up and warm-up included: an upper bound on the
					// emulator's CPU time per Write.
					b.ReportMetric(float64(serving/time.Duration(run+1))/1e6, "emulator-serving-ms")
				}
				b.Logf("the emulator served %d requests (%v), %v of CPU time, over the set-up, the warm-up and %d timed Writes", st.Total, st.Requests, serving, run)
			}
		})
	}
}

// countingTransport counts the HTTP requests that go through it.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(r)
}

// CloseIdleConnections closes the idle connections of the transport below,
// as http.Client.CloseIdleConnections expects of a transport.
func (t *countingTransport) CloseIdleConnections() {
	if ci, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// TestWriteNoDuplicatesAfterCommitFaults runs 200 writes of new events,
// each meeting faults injected after the service committed: a 503 or a
// connection reset on single creates, a 503 on a part of a $batch, a 503
// or reset on a whole $batch, and the host sending the batch again. After
// every run each event's transactionId matches exactly one event at the
// emulator.
func TestWriteNoDuplicatesAfterCommitFaults(t *testing.T) {
	runs := 200
	if testing.Short() {
		runs = 40
	}
	e := startEmu(t, graphtest.Options{Users: 3, EventsPerUser: 1, ContactsPerUser: 1, TasksPerUser: 1, MessagesPerUser: 1, Seed: 9})
	users := map[string]any{"list": "user1@contoso.com;user2@contoso.com;user3@contoso.com"}
	batched := e.connect(t, map[string]any{"users": users}, nil)
	single := e.connect(t, map[string]any{"users": users, "batch": false}, nil)
	ctx := context.Background()
	for _, c := range []*Connector{batched, single} {
		c.client.sleep = func(context.Context, time.Duration) error { return nil } // no waiting between retries
		if _, err := c.ListPartitions(ctx, "event"); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Hour)
	kinds := []graphtest.Fault{
		{Kind: graphtest.FaultUnavailable, Path: "/v1.0/users/*/events", Method: "POST", AfterCommit: true, RetryAfter: time.Millisecond},
		{Kind: graphtest.FaultReset, Path: "/v1.0/users/*/events", Method: "POST", AfterCommit: true},
		{Kind: graphtest.FaultGatewayTimeout, Path: "/v1.0/users/*/events", Method: "POST", AfterCommit: true},
		{Kind: graphtest.FaultUnavailable, Path: "/v1.0/$batch", Method: "POST", AfterCommit: true, RetryAfter: time.Millisecond},
		{Kind: graphtest.FaultReset, Path: "/v1.0/$batch", Method: "POST", AfterCommit: true},
	}
	var faults, resent, retriedPosts int
	for run := range runs {
		c := batched
		if run%2 == 1 {
			c = single
		}
		n := 1 + rng.IntN(6)
		var ops []connector.WriteOp
		for i := range n {
			ops = append(ops, eventOp(fmt.Sprintf("dup-%d-%d", run, i), fmt.Sprintf("user%d@contoso.com", 1+rng.IntN(3)), fmt.Sprintf("dup %d %d", run, i), start.Add(time.Duration(i)*time.Hour)))
		}
		e.srv.Faults().Clear()
		for range 1 + rng.IntN(3) {
			f := kinds[rng.IntN(len(kinds))]
			f.Times = 1
			e.srv.Faults().Add(f)
		}
		before := e.srv.Stats().Faults
		times := 1
		if rng.IntN(4) == 0 {
			times = 2 // the host sends the batch again with the same keys
			resent++
		}
		for range times {
			outs, err := c.Write(ctx, connector.WriteBatch{Entity: "event", Ops: ops})
			if err != nil {
				t.Fatalf("run %d: %v", run, err)
			}
			for i, o := range outs {
				if o.Status != connector.Created {
					t.Fatalf("run %d op %d: %+v", run, i, o)
				}
			}
		}
		faults += e.srv.Stats().Faults - before
		for _, op := range ops {
			user := op.Record.Fields["user"].(string)
			posts, events := e.srv.TransactionCreates(user, transactionID("test", op.IdempotencyKey))
			if events != 1 {
				t.Fatalf("run %d: %s has %d events from %d posts", run, op.IdempotencyKey, events, posts)
			}
			if posts > 1 {
				retriedPosts++
			}
		}
	}
	if faults < runs {
		t.Errorf("only %d faults fired in %d runs", faults, runs)
	}
	t.Logf("%d runs: %d faults after commit fired, %d creates were posted more than once, %d batches sent twice by the host; every transactionId has exactly one event", runs, faults, retriedPosts, resent)
}
