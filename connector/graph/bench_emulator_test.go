package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

// syncAll runs one ReadChanges round over every partition, all at once
// (the connector's own bounds limit the concurrency), and returns the new
// checkpoints and the number of changes.
func syncAll(tb testing.TB, c *Connector, parts []connector.Partition, cps map[string][]byte) (map[string][]byte, int64) {
	tb.Helper()
	return syncCallers(tb, c, parts, cps, len(parts))
}

// syncCallers is syncAll with at most callers ReadChanges calls at once, as
// the host's runner bounds the partitions it syncs at once: a partition
// starts when an earlier one ends.
func syncCallers(tb testing.TB, c *Connector, parts []connector.Partition, cps map[string][]byte, callers int) (map[string][]byte, int64) {
	tb.Helper()
	var mu sync.Mutex
	var n atomic.Int64
	out := map[string][]byte{}
	var wg sync.WaitGroup
	errs := make(chan error, len(parts))
	slots := make(chan struct{}, max(1, callers))
	for _, p := range parts {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			var last []byte
			err := c.ReadChanges(context.Background(), connector.ChangesRequest{Entity: "event", Partition: p.ID, Checkpoint: cps[p.ID]}, func(b connector.ChangeBatch) error {
				n.Add(int64(len(b.Changes)))
				last = b.Checkpoint
				return nil
			})
			if err != nil {
				errs <- fmt.Errorf("%s: %w", p.ID, err)
				return
			}
			mu.Lock()
			out[p.ID] = last
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return out, n.Load()
}

// TestNoChangeRoundRequests counts the HTTP requests a round without
// changes costs per mailbox and entity, at the emulator: at most one
// without batching, at most 0.1 when rounds share $batch requests.
func TestNoChangeRoundRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("500 mailboxes")
	}
	e := startEmu(t, graphtest.Options{Users: 500, EventsPerUser: 2, Seed: 12})
	for _, tc := range []struct {
		batch bool
		limit float64
	}{{false, 1}, {true, 0.1}} {
		c := e.connect(t, map[string]any{"batch": tc.batch}, nil)
		parts, err := c.ListPartitions(context.Background(), "event")
		skipIfScopeRejected(t, err)
		if err != nil {
			t.Fatal(err)
		}
		cps, _ := syncAll(t, c, parts.Partitions, nil)
		before := e.srv.Stats().Total
		_, n := syncAll(t, c, parts.Partitions, cps)
		reqs := e.srv.Stats().Total - before
		perMailbox := float64(reqs) / float64(len(parts.Partitions))
		t.Logf("no-change round over %d mailboxes, batch %v: %d changes, %d requests, %.2f requests per mailbox-entity", len(parts.Partitions), tc.batch, n, reqs, perMailbox)
		if n != 0 || perMailbox > tc.limit {
			t.Errorf("no-change round (batch %v): %d changes, %.2f requests per mailbox-entity (want 0 and ≤ %.1f)", tc.batch, n, perMailbox, tc.limit)
		}
	}
}

// BenchmarkInitialSync measures the first sync of GRAPH_BENCH_MAILBOXES
// mailboxes (50) of GRAPH_BENCH_EVENTS events (100) each against the
// emulator with GRAPH_BENCH_LATENCY_MS (50) of latency on every request,
// and reports the wall time as a ratio to a lower bound computed from the
// requests the emulator served during the sync:
//
//   - chain: a mailbox's delta pages are sequential (each page's link comes
//     from the previous one): ceil(delta pages / mailboxes) latencies, plus
//     one when series must be expanded after the last page;
//   - per mailbox: at most max_concurrency_per_mailbox (4) requests of a
//     mailbox run at once: ceil(mailbox requests / 4) latencies for the
//     mailbox with the most requests (batch parts counted one by one);
//   - global: at most max_concurrency (GRAPH_BENCH_CONCURRENCY, by
//     default the connector's 64) HTTP requests at once, and a
//     $batch is served four parts at a time (graph-api-facts §4.1), so at
//     most 4 × max_concurrency mailbox requests run at once: ceil(all
//     mailbox requests / (4 × max_concurrency)) latencies.
//
// The latency is a fault on every path, which the emulator charges to each
// request it serves — to each part of a $batch, four at a time, not to the
// batch's envelope as well — as the global term assumes. The bound is
// latency × the largest of the three.
//
// With GRAPH_EMULATOR_BIN set to a syncplane binary, the emulator runs in
// its own process (`syncplane emulate graph`), as the service does in a
// deployment: cpu-s is then the connector's CPU time alone and
// emulator-cpu-s the emulator's, and the connector's collections do not
// scan the emulator's data. Without it the emulator runs in this process
// and cpu-s is both together. When the CPU time approaches wall-s × the
// cores available, the sync is CPU-bound, not latency-bound: with the
// emulator in its own process, cpu-bound-s is the CPU time of both
// processes over the cores this process may use (GOMAXPROCS) — a second
// lower bound, of the machine rather than of the service — and
// x-cpu-bound the wall time over the larger of the two bounds.
func BenchmarkInitialSync(b *testing.B) {
	mailboxes, events := benchScale(b, "GRAPH_BENCH_MAILBOXES", 50), benchScale(b, "GRAPH_BENCH_EVENTS", 100)
	latency := time.Duration(benchScale(b, "GRAPH_BENCH_LATENCY_MS", 50)) * time.Millisecond
	const (
		page       = 100
		perMailbox = 4
		batchParts = 4
	)
	global := benchScale(b, "GRAPH_BENCH_CONCURRENCY", DefaultMaxConcurrency)
	bench := map[string]any{"page_size": page, "max_concurrency": global, "max_concurrency_per_mailbox": perMailbox, "batch": os.Getenv("GRAPH_BENCH_NO_BATCH") == ""}
	external := os.Getenv("GRAPH_EMULATOR_BIN") != ""
	var e *emu
	if !external {
		e = startEmu(b, graphtest.Options{Users: mailboxes, EventsPerUser: events, Seed: 13})
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		// A connector and, with GRAPH_EMULATOR_BIN, an emulator of its
		// own for each run; stop ends the latency and returns what the
		// emulator served and the CPU it spent serving (-1: not known).
		var (
			c    *Connector
			stop func() (graphtest.Stats, time.Duration)
		)
		if external {
			x := externalEmulator(b, mailboxes, events, "--seed", "13", "--faults", fmt.Sprintf("kind=latency,latency=%v", latency))
			for k, v := range bench {
				x.settings[k] = v
			}
			c = NewWith()
			raw, _ := json.Marshal(x.settings)
			if err := c.Configure(context.Background(), connector.ConfigureRequest{Settings: raw, Host: &connector.MemoryHost{}}); err != nil {
				b.Fatal(err)
			}
			stop = x.stop
		} else {
			c = e.connect(b, bench, nil)
			e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultLatency, Latency: latency})
			stop = func() (graphtest.Stats, time.Duration) {
				e.srv.Faults().Clear()
				return e.srv.Stats(), -1
			}
		}
		parts, err := c.ListPartitions(context.Background(), "event")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.DiscoverSchema(context.Background(), false); err != nil {
			b.Fatal(err)
		}
		if !external {
			e.srv.ResetStats()
		}
		cpuBefore := processCPU()
		b.StartTimer()
		began := time.Now()
		_, n := syncAll(b, c, parts.Partitions, nil)
		took := time.Since(began)
		b.StopTimer()
		cpu := processCPU() - cpuBefore
		c.Close()
		st, emuCPU := stop()
		if n < int64(mailboxes*events) {
			b.Fatalf("read %d events, want at least %d", n, mailboxes*events)
		}
		// Only mailbox requests enter the bound: the set-up's requests to
		// the directory, $metadata and the token endpoint, which the
		// external emulator counts too, are not mailbox requests.
		pages := st.Requests["calendarView.delta"]
		chain := (pages + mailboxes - 1) / mailboxes
		if st.Requests["events.get"]+st.Requests["events.instances"] > 0 {
			chain++
		}
		most, all := 0, 0
		for _, r := range st.PerUser {
			most = max(most, r)
			all += r
		}
		steps := max(chain, (most+perMailbox-1)/perMailbox, (all+global*batchParts-1)/(global*batchParts))
		bound := time.Duration(steps) * latency
		b.ReportMetric(took.Seconds(), "wall-s")
		b.ReportMetric(bound.Seconds(), "bound-s")
		b.ReportMetric(float64(took)/float64(bound), "x-bound")
		b.ReportMetric(cpu.Seconds(), "cpu-s")
		if emuCPU >= 0 {
			b.ReportMetric(emuCPU.Seconds(), "emulator-cpu-s")
			machine := (cpu + emuCPU) / time.Duration(runtime.GOMAXPROCS(0))
			b.ReportMetric(machine.Seconds(), "cpu-bound-s")
			b.ReportMetric(float64(took)/float64(max(bound, machine)), "x-cpu-bound")
		}
		b.ReportMetric(float64(all), "mailbox-requests")
		b.Logf("%d events; requests by kind %v; bound: chain %d, per mailbox ceil(%d/%d), global ceil(%d/%d) latencies of %v; peak concurrent %d, per mailbox %d, throttled %d",
			n, st.Requests, chain, most, perMailbox, all, global*batchParts, latency, st.ConcurrentPeak, st.MailboxConcurrentPeak, st.Throttled)
		b.StartTimer()
	}
}

// benchScale reads a size from the environment, or returns def.
func benchScale(tb testing.TB, env string, def int) int {
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q is not a positive number", env, v)
	}
	return n
}

// extEmulator is an emulator in its own process (see externalEmulator).
type extEmulator struct {
	// settings connect a connector to it.
	settings map[string]any
	cmd      *exec.Cmd
	stats    string // its --stats-file
	tb       testing.TB
}

// externalEmulator runs `syncplane emulate graph` (the binary named by
// GRAPH_EMULATOR_BIN) as its own process, so the heap and CPU time
// measured here are the connector's alone, with the production $metadata
// when ../shared is present and args added to its command line.
func externalEmulator(tb testing.TB, users, events int, args ...string) *extEmulator {
	bin := os.Getenv("GRAPH_EMULATOR_BIN")
	if bin == "" {
		tb.Skip("skipping: set GRAPH_EMULATOR_BIN to a syncplane binary; the emulator must run in its own process for the heap to be the connector's")
	}
	dir := tb.TempDir()
	x := &extEmulator{stats: filepath.Join(dir, "stats.json"), tb: tb}
	ca := filepath.Join(dir, "ca.pem")
	args = append([]string{"emulate", "graph", "--users", strconv.Itoa(users), "--events", strconv.Itoa(events),
		"--contacts", "0", "--tasks", "0", "--messages", "0", "--json", "--ca-file", ca, "--stats-file", x.stats}, args...)
	if meta := realMetadata(tb); meta != nil {
		path := filepath.Join(dir, "metadata.xml")
		if err := os.WriteFile(path, meta, 0o600); err != nil {
			tb.Fatal(err)
		}
		args = append(args, "--metadata", path)
	}
	x.cmd = exec.Command(bin, args...)
	x.cmd.Stderr = os.Stderr
	out, err := x.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := x.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if x.cmd.ProcessState == nil {
			x.cmd.Process.Kill()
			x.cmd.Wait()
		}
	})
	var info struct {
		GraphEndpoint string `json:"graph_endpoint"`
		AuthorityHost string `json:"authority_host"`
		TenantID      string `json:"tenant_id"`
		ClientID      string `json:"client_id"`
		ClientSecret  string `json:"client_secret"`
	}
	if err := json.NewDecoder(out).Decode(&info); err != nil {
		tb.Fatalf("reading the emulator's connection details: %v", err)
	}
	go io.Copy(io.Discard, out)
	x.settings = map[string]any{
		"tenant_id": info.TenantID, "client_id": info.ClientID, "auth": "client_secret", "client_secret": info.ClientSecret,
		"cloud": "custom", "authority_host": info.AuthorityHost, "graph_endpoint": info.GraphEndpoint, "ca_file": ca,
		"users": map[string]any{"filter": "userType eq 'Member'"},
	}
	return x
}

// stop interrupts the emulator and returns what it served after seeding
// and the CPU time it spent serving (-1 where it could not measure it).
func (x *extEmulator) stop() (graphtest.Stats, time.Duration) {
	x.tb.Helper()
	if err := x.cmd.Process.Signal(os.Interrupt); err != nil {
		x.tb.Fatal(err)
	}
	if err := x.cmd.Wait(); err != nil {
		x.tb.Fatalf("the emulator ended with %v", err)
	}
	data, err := os.ReadFile(x.stats)
	if err != nil {
		x.tb.Fatal(err)
	}
	var st struct {
		Requests          map[string]int `json:"requests"`
		PerUser           map[string]int `json:"per_user"`
		Total             int            `json:"total"`
		ConcurrentPeak    int            `json:"concurrent_peak"`
		MailboxPeak       int            `json:"mailbox_concurrent_peak"`
		Throttled         int            `json:"throttled"`
		ServingCPUSeconds float64        `json:"serving_cpu_seconds"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		x.tb.Fatalf("the emulator's statistics: %v", err)
	}
	cpu := time.Duration(-1)
	if st.ServingCPUSeconds >= 0 {
		cpu = time.Duration(st.ServingCPUSeconds * float64(time.Second))
	}
	return graphtest.Stats{Requests: st.Requests, PerUser: st.PerUser, Total: st.Total, ConcurrentPeak: st.ConcurrentPeak,
		MailboxConcurrentPeak: st.MailboxPeak, Throttled: st.Throttled}, cpu
}

// BenchmarkPeakHeap reads GRAPH_BENCH_SMALL (50) and then GRAPH_BENCH_LARGE
// (200) mailboxes of GRAPH_BENCH_EVENTS (50) events each from an emulator in
// its own process, and reports the growth of this process's heap during
// the read over the heap before it, sampled every millisecond, and the
// ratio of the two. These two runs call ReadChanges for all their
// mailboxes at once; a third reads the large set with at most as many
// calls at once as the small set has mailboxes (a partition starting when another ends,
// as the host's runner bounds the partitions it syncs), so that the ratio
// of that run to the small one (ratio-callers-large/small) compares equal
// work in flight: growth there would be state accumulated per mailbox
// read, not per mailbox being read. Beside the peak it reports the mean
// growth of the live heap (the bytes marked at the last collection,
// sampled with the peak) and its ratio, and the most goroutines at once:
// the peak follows the collector's goal, about twice the live heap plus
// the goroutine stacks, so the live heap shows what the read holds apart
// from when the collector ran. Changes are discarded as they arrive, as a
// host that streams them to a target would. GRAPH_BENCH_CONCURRENCY sets
// max_concurrency (default: the connector's default). With
// GRAPH_BENCH_HEAPPROFILE=f set, each run writes a heap profile to f.N (N
// mailboxes; f.N-C for the bounded run) each time the peak grows by a
// tenth (the objects live at the collection before the peak). Each run
// logs the live heap, the collector's goal and the goroutine stacks at its
// peak.
func BenchmarkPeakHeap(b *testing.B) {
	events := benchScale(b, "GRAPH_BENCH_EVENTS", 50)
	small, large := benchScale(b, "GRAPH_BENCH_SMALL", 50), benchScale(b, "GRAPH_BENCH_LARGE", 200)
	type run struct{ mailboxes, callers int }
	runs := []run{{small, small}, {large, large}}
	if large > small {
		// The bounded run differs from the small one only when the large
		// set is larger.
		runs = append(runs, run{large, small})
	}
	peak, meanLive, maxGoroutines := map[run]float64{}, map[run]float64{}, map[run]int{}
	if os.Getenv("GRAPH_BENCH_HEAPPROFILE") != "" {
		// A finer sampling than the default 512 KB, so the profile shows
		// the small objects each round holds.
		runtime.MemProfileRate = 256
	}
	for _, r := range runs {
		mailboxes := r.mailboxes
		name := strconv.Itoa(mailboxes)
		if r.callers < mailboxes {
			name += "-" + strconv.Itoa(r.callers)
		}
		settings := externalEmulator(b, mailboxes, events).settings
		if v := os.Getenv("GRAPH_BENCH_CONCURRENCY"); v != "" {
			settings["max_concurrency"] = benchScale(b, "GRAPH_BENCH_CONCURRENCY", DefaultMaxConcurrency)
		}
		c := NewWith()
		raw, _ := json.Marshal(settings)
		if err := c.Configure(context.Background(), connector.ConfigureRequest{Settings: raw, Host: &connector.MemoryHost{}}); err != nil {
			b.Fatal(err)
		}
		parts, err := c.ListPartitions(context.Background(), "event")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.DiscoverSchema(context.Background(), false); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		// The live heap (marked at each collection) beside the peak: the
		// peak follows the collector's goal, about twice the live heap of
		// the collection before plus the goroutine stacks, while the live
		// heap is what the read holds.
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/goal:bytes"}}
		metrics.Read(live)
		baseLive := live[0].Value.Uint64()
		var atPeak [3]uint64 // live heap, goal and stacks when the peak was seen
		var liveSum float64
		var liveN, goroutines int
		var top atomic.Uint64
		var profiled uint64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					var m runtime.MemStats
					runtime.ReadMemStats(&m)
					metrics.Read(live)
					liveSum += float64(live[0].Value.Uint64()) - float64(baseLive)
					liveN++
					goroutines = max(goroutines, runtime.NumGoroutine())
					if m.HeapInuse > top.Load() {
						top.Store(m.HeapInuse)
						atPeak = [3]uint64{live[0].Value.Uint64(), live[1].Value.Uint64(), m.StackInuse}
						if prof := os.Getenv("GRAPH_BENCH_HEAPPROFILE"); prof != "" && m.HeapInuse > profiled*11/10 {
							// The profile shows the objects live at the
							// last collection before this peak.
							profiled = m.HeapInuse
							if f, err := os.Create(prof + "." + name); err == nil {
								_ = pprof.Lookup("heap").WriteTo(f, 0)
								f.Close()
							}
						}
					}
				}
			}
		}()
		_, n := syncCallers(b, c, parts.Partitions, nil, r.callers)
		close(stop)
		<-done
		c.Close()
		if n < int64(mailboxes*events) {
			b.Fatalf("read %d events from %d mailboxes, want at least %d", n, mailboxes, mailboxes*events)
		}
		peak[r] = (float64(top.Load()) - float64(base)) / (1 << 20)
		meanLive[r] = liveSum / float64(max(1, liveN)) / (1 << 20)
		maxGoroutines[r] = goroutines
		b.Logf("%d mailboxes, %d at once: at the peak, live heap at the last collection %.1f MB, goal %.1f MB, stacks %.1f MB", mailboxes, r.callers,
			float64(atPeak[0])/(1<<20), float64(atPeak[1])/(1<<20), float64(atPeak[2])/(1<<20))
	}
	for b.Loop() {
	}
	s, l := runs[0], runs[1]
	b.ReportMetric(peak[s], fmt.Sprintf("MB-peak-growth-%d", small))
	b.ReportMetric(peak[l], fmt.Sprintf("MB-peak-growth-%d", large))
	b.ReportMetric(peak[l]/peak[s], "ratio-large/small")
	b.ReportMetric(meanLive[s], fmt.Sprintf("MB-live-mean-growth-%d", small))
	b.ReportMetric(meanLive[l], fmt.Sprintf("MB-live-mean-growth-%d", large))
	b.ReportMetric(meanLive[l]/meanLive[s], "ratio-live-large/small")
	b.ReportMetric(float64(maxGoroutines[s]), fmt.Sprintf("goroutines-max-%d", small))
	b.ReportMetric(float64(maxGoroutines[l]), fmt.Sprintf("goroutines-max-%d", large))
	if len(runs) > 2 {
		lc := runs[2]
		b.ReportMetric(peak[lc], fmt.Sprintf("MB-peak-growth-%d-by-%d", large, small))
		b.ReportMetric(peak[lc]/peak[s], "ratio-callers-large/small")
		b.ReportMetric(meanLive[lc]/meanLive[s], "ratio-callers-live-large/small")
	}
}

// TestBatchedRoundsCarryChanges runs concurrent rounds that share $batch
// requests while some mailboxes changed, and then after every token
// expired: each mailbox gets its own changes, and expired tokens still
// give full resyncs.
func TestBatchedRoundsCarryChanges(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 30, EventsPerUser: 2, Seed: 15})
	c := e.connect(t, nil, nil)
	parts, err := c.ListPartitions(context.Background(), "event")
	skipIfScopeRejected(t, err)
	if err != nil {
		t.Fatal(err)
	}
	cps, _ := syncAll(t, c, parts.Partitions, nil)
	start := time.Now().Add(24 * time.Hour).Truncate(time.Hour)
	want := map[string]string{}
	for i, p := range parts.Partitions {
		if i%4 == 0 {
			id, err := e.srv.PutEvent(p.ID, map[string]any{"subject": "new in " + p.ID, "start": graphTime(start), "end": graphTime(start.Add(time.Hour))})
			if err != nil {
				t.Fatal(err)
			}
			want[p.ID] = id
		}
	}
	got := map[string][]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	before := e.srv.Stats().Total
	for _, p := range parts.Partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.ReadChanges(context.Background(), connector.ChangesRequest{Entity: "event", Partition: p.ID, Checkpoint: cps[p.ID]}, func(b connector.ChangeBatch) error {
				mu.Lock()
				defer mu.Unlock()
				for _, ch := range b.Changes {
					got[p.ID] = append(got[p.ID], ch.Record.ID)
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, p := range parts.Partitions {
		ids := got[p.ID]
		if w, ok := want[p.ID]; ok != (len(ids) == 1) || ok && ids[0] != w {
			t.Errorf("%s: changes %v, want %q", p.ID, ids, w)
		}
	}
	if reqs := e.srv.Stats().Total - before; reqs >= len(parts.Partitions) {
		t.Errorf("%d requests for %d mailboxes: the rounds did not share batches", reqs, len(parts.Partitions))
	}
	e.srv.ExpireDeltaTokens()
	var flagged atomic.Int32
	for _, p := range parts.Partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.ReadChanges(context.Background(), connector.ChangesRequest{Entity: "event", Partition: p.ID, Checkpoint: cps[p.ID]}, func(b connector.ChangeBatch) error {
				if b.FullResync {
					flagged.Add(1)
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if int(flagged.Load()) != len(parts.Partitions) {
		t.Errorf("%d of %d mailboxes resynced after their tokens expired", flagged.Load(), len(parts.Partitions))
	}
}

// TestReadsShareBatchesWhenSlotsRunShort reads several mailboxes at once
// through one HTTP slot, so delta pages and series expansions wait for it
// and leave in $batch requests of up to four parts: every mailbox gets
// the same records as when read alone, also when delta parts are answered
// 429 inside the batch (retried on their own after Retry-After) and when
// every token expires between pages (410 inside the batch: a full resync,
// flagged).
func TestReadsShareBatchesWhenSlotsRunShort(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 6, EventsPerUser: 40, Seed: 21})
	ref := e.connect(t, map[string]any{"batch": false}, nil)
	parts, err := ref.ListPartitions(context.Background(), "event")
	skipIfScopeRejected(t, err)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]bool{}
	for _, p := range parts.Partitions {
		chs, _, _ := readAll(t, ref, "event", p.ID, nil)
		want[p.ID] = idsOf(chs)
	}
	read := func(c *Connector, onBatch func(mailbox string, n int)) (map[string]map[string]bool, map[string]bool) {
		var mu sync.Mutex
		got, flagged := map[string]map[string]bool{}, map[string]bool{}
		var wg sync.WaitGroup
		for _, p := range parts.Partitions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := 0
				err := c.ReadChanges(context.Background(), connector.ChangesRequest{Entity: "event", Partition: p.ID}, func(b connector.ChangeBatch) error {
					n++
					mu.Lock()
					defer mu.Unlock()
					if got[p.ID] == nil {
						got[p.ID] = map[string]bool{}
					}
					for _, ch := range b.Changes {
						got[p.ID][ch.Record.ID] = true
					}
					flagged[p.ID] = flagged[p.ID] || b.FullResync
					if onBatch != nil {
						onBatch(p.ID, n)
					}
					return nil
				})
				if err != nil {
					t.Errorf("%s: %v", p.ID, err)
				}
			}()
		}
		wg.Wait()
		return got, flagged
	}
	check := func(phase string, got map[string]map[string]bool) {
		t.Helper()
		for _, p := range parts.Partitions {
			if len(got[p.ID]) != len(want[p.ID]) {
				t.Errorf("%s: %s got %d records, want %d", phase, p.ID, len(got[p.ID]), len(want[p.ID]))
				continue
			}
			for id := range want[p.ID] {
				if !got[p.ID][id] {
					t.Errorf("%s: %s lacks %s", phase, p.ID, id)
				}
			}
		}
	}
	c := e.connect(t, map[string]any{"max_concurrency": 1, "page_size": 5}, nil)
	if _, err := c.ListPartitions(context.Background(), "event"); err != nil {
		t.Fatal(err)
	}

	e.srv.ResetStats()
	got, _ := read(c, nil)
	check("plain", got)
	st := e.srv.Stats()
	if st.Requests["batch"] == 0 || st.Total >= st.Requests["calendarView.delta"]+st.Requests["events.get"] {
		t.Errorf("reads through one HTTP slot did not share batches: %v, %d HTTP requests", st.Requests, st.Total)
	}

	e.srv.ResetStats()
	e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultThrottle, Path: "/v1.0/users/*/calendarView/delta", Times: 4, RetryAfter: 20 * time.Millisecond})
	got, _ = read(c, nil)
	check("429 inside batches", got)
	if n := e.srv.Faults().Pending(); n != 0 {
		t.Errorf("%d throttling faults never hit", n)
	}
	if st := e.srv.Stats(); st.Faults < 4 || st.Requests["batch"] == 0 {
		t.Errorf("faults fired %d (want ≥ 4), batches %d", st.Faults, st.Requests["batch"])
	}
	e.srv.Faults().Clear()

	var once sync.Once
	got, flagged := read(c, func(_ string, n int) {
		if n == 2 {
			once.Do(e.srv.ExpireDeltaTokens)
		}
	})
	check("410 inside batches", got)
	resynced := 0
	for _, f := range flagged {
		if f {
			resynced++
		}
	}
	if resynced == 0 {
		t.Error("no round restarted flagged after every token expired mid-round")
	}
}

// TestReadsCancelledInQueue cancels reads of several mailboxes while
// their GETs wait for the one HTTP slot or ride a batch: every read
// returns, and once the answers in flight are in, no page, decode, HTTP or
// mailbox slot stays taken, so later reads go through.
func TestReadsCancelledInQueue(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 6, EventsPerUser: 40, Seed: 22})
	c := e.connect(t, map[string]any{"max_concurrency": 1, "page_size": 5}, nil)
	parts, err := c.ListPartitions(context.Background(), "event")
	skipIfScopeRejected(t, err)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DiscoverSchema(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultLatency, Latency: 30 * time.Millisecond})
	for _, after := range []time.Duration{10 * time.Millisecond, 45 * time.Millisecond, 120 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), after)
		var wg sync.WaitGroup
		for _, p := range parts.Partitions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = c.ReadChanges(ctx, connector.ChangesRequest{Entity: "event", Partition: p.ID}, func(connector.ChangeBatch) error { return nil })
			}()
		}
		wg.Wait()
		cancel()
		deadline := time.Now().Add(5 * time.Second)
		for {
			busy := len(c.pages) + len(c.client.decoding) + len(c.client.global)
			for _, p := range parts.Partitions {
				busy += len(c.client.slot(p.ID))
			}
			if busy == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cancelled after %v: %d pages, %d decodes, %d HTTP slots still taken", after, len(c.pages), len(c.client.decoding), len(c.client.global))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	e.srv.Faults().Clear()
	got, n := syncAll(t, c, parts.Partitions, nil)
	if len(got) != len(parts.Partitions) || n == 0 {
		t.Errorf("after cancelled reads: %d mailboxes read, %d changes", len(got), n)
	}
}
