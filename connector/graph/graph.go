// Package graph is the Microsoft Graph connector: it reads (and writes)
// calendars, contacts, To Do tasks and mail of the selected Microsoft 365
// mailboxes through the Graph REST API, one partition per mailbox.
//
// Sign-in uses azidentity for application credentials (client secret or
// certificate) and the refresh-token grant for delegated tokens kept in the
// host's secret store (an administrator's, or one per consenting user):
// MSAL Go keeps refresh tokens inside its own cache and offers no call to
// redeem one held elsewhere, so that grant is sent directly. One access
// token per credential is shared by every mailbox and goroutine of the
// connection. National clouds and custom endpoints are settings (cloud,
// authority_host, graph_endpoint, ca_file), so an emulator is just another
// cloud.
//
// # Record identity and the Query field notation
//
// Every record of a mailbox entity carries the field user, the user
// principal name of the mailbox it lives in (the partition), and isDeleted.
// A record is identified by id within its mailbox. Pipelines that address a
// single record write the key fields in the notation
//
//	id|:|AAMkAGI2TG93AAA=|;|user|:|anna@contoso.com|;|
//
// — pairs of field|:|value, each ended by |;|. ParseKeyNotation turns it
// into a connector.QueryRequest: id goes into Match, user becomes the
// Partition. Without user, Query tries every selected mailbox.
//
// # Reading
//
// Events are read with calendarView/delta inside a window of
// window.past_months before and window.future_months after today; the
// checkpoint records the delta link, the window and the day of the last full
// query, and on a new day the window moves and a full query runs. Contacts,
// To Do tasks and messages are read with their per-folder / per-list delta
// queries. See ReadChanges.
//
// Requests go through the connector's own HTTP client: at most
// max_concurrency_per_mailbox requests per mailbox and max_concurrency in
// all, Retry-After honoured (fractional seconds too), exponential back-off
// with jitter on 503/504 and broken connections, and JSON $batch shared
// across mailboxes for the first request of rounds resuming from a delta
// link. The GETs of reads (delta pages and series expansions) wait for
// HTTP slots in one queue: one goes alone while a slot is free; when all
// are taken, those waiting leave four to a $batch as soon as one frees —
// Graph serves four parts of a batch at once whatever their mailboxes
// (graph-api-facts §4.1), so such a batch answers in the time of one
// request while a slot carries four. A GET waiting in the queue holds its
// mailbox's slot, so parts in flight stay within four per mailbox; a part
// answered 429 or 5xx is retried on its own after its Retry-After, and any
// other error answer of a part (410 syncStateNotFound) is the request's
// answer, as it would be alone. Connections read a TLS record at a time,
// so an answer that waits in the socket does not grow crypto/tls's
// buffers (see recordConn).
//
// A round is a pipeline: as soon as a page is delivered, its next page is
// requested, and the series of the pages delivered are expanded
// meanwhile, at most max_concurrency_per_mailbox − 1 at once while pages
// remain (the page request keeps the mailbox's last slot, so the chain of
// pages is never queued behind expansions). Occurrences are delivered as
// they come, between pages, each checkpoint listing the series still
// pending; the round ends once its last page and every series are
// delivered.
//
// Pages are decoded by the connector's decoder (decode.go, jsonscan.go),
// not by msgraph-sdk-go: one pass over the bytes that builds the record
// value types the discovered schema declares (timestamps, dates, int64,
// bytes) as it reads, skips annotations and undeclared properties without
// building them, and accepts exactly what encoding/json accepts (a
// differential fuzz test holds it to the earlier encoding/json-based
// decoder). Decoding a calendarView delta page through msgraph-sdk-go —
// kiota's JSON parse node into models.EventCollectionResponse — took
// 2.7–3.6× the time of a plain encoding/json decode into map[string]any,
// with 6.2× its allocations, and the typed models would still have to become
// maps of record values for the host. The read path therefore keeps its own
// decoder; the write path renders bodies from the shapes of the SDK's typed
// models (see Write).
//
// A page's records go to the host before its series are expanded (the
// series still to expand are listed in the checkpoint), at most
// max(2, GOMAXPROCS) pages are decoded at once and a body is read only when
// a decode slot is free (a $batch carries at most one page, and is read
// when that page can be decoded), so memory follows the decode slots and
// not the number of mailboxes or requests in flight.
//
// # Figures
//
// Measured on a 2-core machine shared with other heavy work (load average
// 9–15 during the runs), so timings are given as ratios measured in the same
// run, interleaved where the benchmark can.
//
// Schema discovery from the real 3.4 MB v1.0-Prod.csdl (parse, convert five
// entities) against a plain encoding/xml token pass over the same bytes:
// time 1.03–1.15× (interleaved), allocations 1.05× (515,273 / 490,544),
// bytes 1.19× (21.3 / 17.9 MB). Target ≤ 2×.
//
//	go test -run '^$' -bench BenchmarkDiscoverSchema -benchtime 30x -count 3 ./connector/graph/
//
// Decoding per record against encoding/json into map[string]any, same
// page, interleaved, load average 11: 0.18–0.34× on a page of 100 real
// 5.4 KB events, 0.18–0.36× on the real 2-event calendarView delta page of
// the docs; 55 allocations per record against encoding/json's 133 (26
// against 68 on the docs page). The earlier encoding/json-based decoder,
// measured in the same runs, took 0.98–1.33× encoding/json. Target ≤ 2×.
//
//	go test -run '^$' -bench 'BenchmarkDecodePage/(docs|100)/(baseline|connector|previous|interleaved)' -benchtime 100x -count 3 ./connector/graph/
//
// Token requests over a 500-mailbox run (client secret, 500 concurrent
// ReadChanges): 1 token request for 1,004 Graph requests — one per
// credential per token lifetime (TestEmulatorTokenExpiresMidRound covers
// renewal).
//
//	go test -run TestEmulatorTokenShared -v ./connector/graph/
//
// No-change round over 500 mailboxes, counted at the emulator: 500
// requests, 1.00 per mailbox-entity, without $batch; 29 requests, 0.06 per
// mailbox-entity, with $batch (the default). Targets ≤ 1 and ≤ 0.1.
//
//	go test -run TestNoChangeRoundRequests -v ./connector/graph/
//
// Initial sync of 200 mailboxes × 500 seeded events (about 171,000 events
// and occurrences in the window) at page size 100 with 50 ms latency on
// every request the emulator serves (each part of a $batch, four at a
// time, not its envelope as well). The lower bound, computed from the
// requests the emulator served (2,170 delta pages and 14,200 series-master
// reads: 16,370 mailbox requests, no 429), is latency × the largest of:
// the delta pages of a mailbox in sequence (12), the most requests of a
// mailbox over its 4 concurrent slots (ceil(83/4) = 21), and all mailbox
// requests over 64 concurrent HTTP requests each serving 4 batch parts at
// a time (ceil(16,370/256) = 64): 3.2 s. Pages and expansions sharing
// batches of four when slots run short, the run makes 4,330 HTTP requests
// (4,050 batches) where it made 6,150–6,430. Interleaved with the previous
// connector at load 0.8–1.8: 9.4–10.0 s, 2.94–3.11× the bound, with
// 13.8–17.7 s of CPU, against 11.2–15.5 s, 3.51–4.85×, with 18.1–20.1 s of
// CPU (at 15:20 the same day, before the emulator's changes, 11.7 s,
// 3.66×). Target ≤ 1.3×: NOT met — the run is CPU-bound on 2 cores: the
// process (connector and in-process emulator) needs at least 7–9 s of
// wall time for its CPU, 2.2–2.8× the bound. For 50 mailboxes (bound
// 1.05 s), interleaved at load 0.5–0.9: 2.33–2.72 s (2.22–2.59×) against
// 2.52–2.80 s (2.40–2.67×), both with 3.5–4.3 s of CPU, again nearly
// CPU-bound (3.2–3.4 s, 3.1–3.3×, at 15:20, when the emulator still
// charged a batch one latency more than its parts). Where latency
// dominates, the pipelined rounds show: 50 mailboxes with 1 s latency took
// 23.3–23.8 s, 1.11–1.13× the bound, against 33.2–33.7 s, 1.58–1.60×, for
// the previous connector in the same runs (load 1–5). Of the CPU, about a
// third is the emulator's (a delta page's events now cost it 4,700
// allocations per 855 events instead of 24,400,
// BenchmarkRenderDeltaEvents), a third the connector's decoding into
// record maps, a sixth the collector.
//
//	GRAPH_BENCH_MAILBOXES=200 GRAPH_BENCH_EVENTS=500 go test -run '^$' -bench BenchmarkInitialSync -benchtime 1x -timeout 30m ./connector/graph/
//	GRAPH_BENCH_MAILBOXES=50 GRAPH_BENCH_EVENTS=500 go test -run '^$' -bench BenchmarkInitialSync -benchtime 1x ./connector/graph/
//	GRAPH_BENCH_MAILBOXES=50 GRAPH_BENCH_EVENTS=500 GRAPH_BENCH_LATENCY_MS=1000 go test -run '^$' -bench BenchmarkInitialSync -benchtime 1x ./connector/graph/
//
// Peak heap while reading 200 against 50 mailboxes (50 events each,
// emulator in its own process, HeapInuse sampled every millisecond), at the
// default max_concurrency 64, interleaved with the previous connector, six
// runs each, at load 3.2–4.9: 15.2–17.2 MB against 9.2–11.4 MB,
// 1.39–1.87×, where the previous connector gave 16.4–18.8 MB against
// 9.9–12.6 MB, 1.43–1.81× (at load 6.4–10.4: 15.8–17.3 against
// 8.5–11.3 MB, 1.42–2.02×, and 17.1–19.8 against 10.4–12.1 MB,
// 1.54–1.85×). Target ≤ 1.3×: NOT met. The mean growth of the live heap
// is 4.6–5.2 MB against 1.8–3.4 MB, with at most 758–801 against 329–433
// goroutines. The peak follows the collector's goal, about twice the heap
// live at the collection before plus the goroutine stacks. Heap profiles
// taken every 50 ms through both reads (means per profile, before this
// change) put the live heap in the connections' TLS and bufio buffers (up
// to max_concurrency + 1 connections: 2.1 MB at 50 mailboxes, 3.6 MB at
// 200),
// the pages being decoded (two decode slots: 0.5 and 1.3 MB; at most two
// decoded pages are held until delivered in both, 0.43–0.63 on average),
// the bodies read (0.3 and 0.5 MB) and the rounds' own state (queued
// GETs, expanders, contexts, headers, checkpoints, goroutine descriptors:
// about 0.4 and 1.4 MB). Connections now read a TLS record at a time
// (recordConn): crypto/tls had grown the input buffer of a connection
// whose answer waited in the socket for a decode slot to several records.
// Part of the ratio is the 50-mailbox read's length: it lasts about half a
// second and peaks while connections are still being opened and grown;
// with 200 events per mailbox (GRAPH_BENCH_EVENTS=200, load 8–10) it
// peaks at 13.0–15.6 MB against 19.7–21.8 MB for 200 mailboxes,
// 1.40–1.63× (previous connector 15.5–18.3 against 21.3–22.4 MB,
// 1.23–1.38×). Tried and not kept, for no change beyond the noise: holding
// the decode slot until the host has taken the page; one expansion worker
// per round while pages remain; bounding the expansions under way across
// rounds to max_concurrency × 4 (at 200 events per mailbox, 853 instead
// of 1,023–1,159 goroutines at most, the same peak and live heap); and,
// also slower in the initial sync, taking the page slot in the round's own
// goroutine. Letting at most max_concurrency rounds run at once brought
// the 200-mailbox peak to 14.5–15.4 MB (1.35–1.43×) but made the
// 200-mailbox initial sync a third slower with a quarter more CPU (fewer
// parts per batch), so it is not done. With connections reading a record
// at a time, a trial build letting at most 64, 80 or 96 rounds run gave
// 12.6–14.8, 13.3–14.5 and 13.8–15.8 MB at 200 mailboxes (1.16–1.61×,
// 1.38–1.50×, 1.38–1.68×) against 16.0–17.9 MB (1.51–1.82×) without a
// bound, interleaved at load 6.6–8.0, while the 200-mailbox initial sync
// made 4,910–5,000, 4,830 and 4,670–4,680 HTTP requests against
// 4,320–4,340 (fewer parts per batch); its wall times, 9–44 s at that load, could not
// be compared, so no bound is kept. A round no longer holds its page's
// body while it waits for the series of its last page (that had made it
// 32–38 MB), a batch carries at most one page and is read only when that
// page can be decoded, and connections per host are bounded by
// max_concurrency + 1.
//
//	go build -o /tmp/syncplane ./host/cmd/syncplane
//	GRAPH_EMULATOR_BIN=/tmp/syncplane go test -run '^$' -bench BenchmarkPeakHeap -benchtime 1x -count 6 ./connector/graph/
package graph

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// Version is the connector's version.
const Version = "0.1.0"

// Connector is the Graph connector. Create it with New; the host calls
// Configure once before anything else.
type Connector struct {
	now func() time.Time

	cfg     *config
	host    connector.Host
	http    *http.Client
	client  *graphClient
	tokens  tokenSource
	connect string

	batch *batcher
	// shapes are the msgraph-sdk-go models' shapes the write path renders
	// bodies from, read from the SDK once per connection.
	shapes *modelShapes
	// expand carries the GETs of reads (pages and series expansions):
	// alone while HTTP slots are free, in batches of servedAtOnce parts
	// when they run short (see partQueue).
	expand *partQueue

	// slotsMu serialises taking several per-mailbox concurrency slots at
	// once for one write $batch (write_send.go), so two batches never wait
	// on each other's half-taken slots.
	slotsMu sync.Mutex

	// pages bounds the pages held at once (see pageSlot).
	pages chan struct{}
	// aheadUsed counts pages requested while series of their round were
	// being expanded (see startFetch).
	aheadUsed atomic.Int64

	schemaMu sync.Mutex
	schema   *schema.Schema

	refreshMu sync.Mutex // serializes selection refreshes
	selMu     sync.Mutex
	selection *selection
	mailboxes map[string]mailboxState
}

// Option adjusts a Connector made by NewWith.
type Option func(*Connector)

// WithClock sets the clock used for the calendar window and token expiry.
func WithClock(now func() time.Time) Option { return func(c *Connector) { c.now = now } }

// New returns an unconfigured Graph connector.
func New() connector.Connector { return NewWith() }

// NewWith returns an unconfigured Graph connector with options.
func NewWith(opts ...Option) *Connector {
	c := &Connector{now: time.Now, mailboxes: map[string]mailboxState{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Spec describes the connector and its settings; secrets are marked.
func (c *Connector) Spec() connector.Spec {
	return connector.Spec{
		Name:            "graph",
		Version:         Version,
		ProtocolVersion: connector.ProtocolVersion,
		DisplayName:     "Microsoft 365 (Microsoft Graph)",
		Description:     "Calendars, contacts, To Do tasks and mail of Microsoft 365 mailboxes through Microsoft Graph.",
		SettingsSchema:  json.RawMessage(settingsSchema),
		SecretSettings:  []string{"/client_secret", "/certificate_password"},
	}
}

// Configure validates the settings (each problem a diagnostic naming its
// field) and prepares sign-in. It does not reach the network: Check does.
func (c *Connector) Configure(ctx context.Context, req connector.ConfigureRequest) error {
	cfg, err := parseSettings(req.Settings)
	if err != nil {
		return err
	}
	hc, err := newHTTPClient(cfg.caPEM, cfg.MaxConcurrency+1)
	if err != nil {
		return connector.FieldErrorf(connector.InvalidInput, "ca_file", "%v", err)
	}
	host := req.Host
	if host == nil {
		host = &connector.MemoryHost{}
	}
	var tokens tokenSource
	switch cfg.Auth {
	case AuthClientSecret, AuthClientCertificate:
		at, err := newAppTokens(cfg, hc, c.now)
		if err != nil {
			return err
		}
		tokens = at
	case AuthAdminRefreshToken, AuthUserConsent:
		tokens = &refreshTokens{cfg: cfg, hc: hc, secrets: host.Secrets(), now: c.now, entries: map[string]*cachedToken{}}
	}
	c.cfg, c.host, c.http, c.tokens, c.connect = cfg, host, hc, tokens, req.Connection
	c.client = newGraphClient(hc, cfg, tokens)
	c.shapes = newModelShapes()
	c.pages = make(chan struct{}, cfg.MaxConcurrency)
	if cfg.Auth != AuthUserConsent && !cfg.noBatch {
		// Per-user tokens cannot share a batch across mailboxes.
		c.batch = &batcher{c: c.client}
		c.expand = newPartQueue(c.client)
	}
	return nil
}

func (c *Connector) configured() error {
	if c.cfg == nil {
		return connector.Errorf(connector.Internal, "the Graph connector is not configured")
	}
	return nil
}

// Close releases idle connections.
func (c *Connector) Close() error {
	if c.http != nil {
		c.http.CloseIdleConnections()
	}
	return nil
}

// subjectErr converts an error from the client into a diagnostic about
// subject, keeping diagnostics and context errors as they are.
func subjectErr(err error, subject string) error {
	var ge *graphError
	if errors.As(err, &ge) {
		return ge.diagnostic(subject)
	}
	return err
}
