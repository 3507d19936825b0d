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
// in one Write against the emulator with 50 ms of latency, and reports the
// wall time against a lower bound. Two models of the latency:
//
// Per request of the service (parts=50ms, the figure). Each request the
// service runs takes the latency: a plain request, and each part of a
// $batch — not its envelope as well — with a batch's parts run four at a
// time ("Microsoft Graph sends the Outlook service up to four individual
// requests from the batch at a time, regardless of the target mailboxes",
// graph-api-facts §4.1) and at most four requests of a mailbox at once
// (§4.1). This is the model of BenchmarkInitialSync, and the one in which
// the bound depends on the latency, the batching and the per-mailbox
// concurrency limit together:
//
//	bound = latency × max(⌈N / 4G⌉, max over mailboxes of ⌈n_m / 4⌉)
//
// where N is the number of events, n_m those of mailbox m and G the
// connector's global concurrency (64): batches carry four running parts
// on each of G connections, and a mailbox's parts run four at a time,
// batched or not — here max(4, 5) × 50 ms = 250 ms. parts-nobatch=50ms
// is the same without batching: latency × max(⌈N / G⌉, ⌈n_m / 4⌉) = 16 ×
// 50 ms = 800 ms.
//
// Per HTTP request (latency=50ms). The latency is charged to each HTTP
// request, a $batch envelope included, and not to its parts, which all
// run behind that one round trip — a batch then writes 20 events of a
// mailbox in the time of one request, which the service does not do:
//
//	bound = latency × max(⌈R / G⌉, max over mailboxes of ⌈n_m / 20⌉)
//
// where R = Σ⌈n_m / 20⌉ is the number of $batch requests (20 requests per
// batch, §4.5), and a mailbox's batches run one after the other because
// each holds all of the mailbox's four slots — here one round trip, 50
// ms. The latency is the time from a request's arrival at the emulator to
// its answer (graphtest.Options.LatencyIncludesService): the emulator
// serves the request at once and holds the answer back until 50 ms have
// passed, so that its processing stands for the service's. added=50ms
// adds the latency before serving instead; nobatch=50ms is latency=50ms
// with batch=false, bound latency × max(⌈N / G⌉, ⌈n_m / 4⌉) = 800 ms.
// This model leaves the connector 15 ms for everything it and the
// emulator do outside the latency: rendering 1,000 bodies, the emulator's
// creates beyond 50 ms, reading and decoding 1,000 answers.
//
// latency=0 is the baseline measured in the same run (the emulator's and
// the connector's processing of the same writes without latency).
// Metrics: wall-ms per Write, bound-ms, x-bound (wall/bound), x-bound+base
// (wall / (bound + the latency=0 wall)), requests (HTTP requests the Write
// sent; batch parts are inside their batch), cpu-ms (CPU time of this
// process per Write, which other processes' load barely moves, unlike
// wall-ms), gcs (garbage collections of this process that ended during a
// Write, per Write).
//
// Two modes. Without GRAPH_EMULATOR_BIN the emulator runs in this process:
// cpu-ms is the connector's and the emulator's CPU time together, the
// allocations are theirs together, and the collector scans the emulator's store,
// which grows by 1,000 events every Write. With GRAPH_EMULATOR_BIN set to
// a syncplane binary, each sub-benchmark starts the emulator in its own
// process (`syncplane emulate graph --users 50` with `--faults
// kind=latency,latency=50ms` for the per-request model, or `--latency
// 50ms --latency-includes-service`, without the last flag for added=50ms),
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
// Figures, 2 cores (go test ./connector/graph/ -run '^$' -bench
// 'BenchmarkWriteEvents/(latency=0|latency=50ms|parts=50ms|parts-nobatch=50ms)$'
// -benchtime 10x -benchmem, and the same with GRAPH_EMULATOR_BIN), 50
// requests per Write with batching, 1,000 without:
//
//   - parts=50ms: 279-281 ms in this process and 279 ms with the emulator
//     in its own process, 1.12× the 250 ms bound; parts-nobatch=50ms:
//     866-872 ms, 1.08-1.09× its 800 ms bound.
//   - latency=50ms: 69-72 ms in this process, 1.38-1.43× its 50 ms bound;
//     79-83 ms with the emulator in its own process (1.57-1.67×), where
//     the connector takes 36-40 ms of CPU per Write and the emulator
//     49-54. A Write's timeline in this process, before the emulator's
//     create path was cut by about 30%: its 50 batches leave 3-6
//     ms after it starts; the first answer is read at 55-61 ms and the
//     others one after another, the last at 66-107 ms, the answers'
//     reading and decoding (for Stored, the read path's decoder), the
//     emulator's writing of them and the collector sharing the 2 cores.
//
// Earlier figures and what changed them are in the history of this file.
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
		// parts charges the latency to each request the service runs —
		// each part of a $batch, four at a time, not the envelope — as
		// BenchmarkInitialSync does, instead of to each HTTP request.
		parts bool
	}{{"latency=0", 0, true, false, false}, {"latency=50ms", 50 * time.Millisecond, true, false, false}, {"nobatch=50ms", 50 * time.Millisecond, false, false, false},
		{"added=50ms", 50 * time.Millisecond, true, true, false},
		{"parts=50ms", 50 * time.Millisecond, true, false, true}, {"parts-nobatch=50ms", 50 * time.Millisecond, false, false, true}} {
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
				switch {
				case tc.parts:
					args = append(args, "--faults", "kind=latency,latency="+tc.latency.String())
				case tc.latency > 0:
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
				opts := graphtest.Options{Users: mailboxes, EventsPerUser: 1, ContactsPerUser: 1, TasksPerUser: 1, MessagesPerUser: 1, Seed: 5,
					Latency: tc.latency, LatencyIncludesService: !tc.added}
				if tc.parts {
					opts.Latency = 0
				}
				e := startEmu(b, opts)
				c = e.connect(b, settings, nil)
				if tc.parts {
					e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultLatency, Latency: tc.latency})
				}
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
			switch {
			case !tc.batch:
				bound = tc.latency * time.Duration(max((events+global-1)/global, (perMailbox+3)/4))
			case tc.parts:
				// Each part is a request of the service: four of a batch
				// run at once, and four of a mailbox.
				bound = tc.latency * time.Duration(max((events+4*global-1)/(4*global), (perMailbox+3)/4))
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
