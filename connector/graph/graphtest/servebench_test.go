package graphtest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// BenchmarkServeDeltaRounds serves first calendarView delta rounds of
// seeded mailboxes, pages of 100, through the whole request path
// (ServeHTTP, authentication, throttling, the page, its answer) into a
// recorder: the emulator's work per event served, without the network.
func BenchmarkServeDeltaRounds(b *testing.B) {
	s, tok := benchServer(b, Options{Users: 8, EventsPerUser: 500, Seed: 13})
	now := s.now()
	window := "?startDateTime=" + url.QueryEscape(now.AddDate(0, 0, -60).Format(time.RFC3339)) +
		"&endDateTime=" + url.QueryEscape(now.AddDate(0, 0, 60).Format(time.RFC3339))
	count := true // events are counted in a first round, before timing
	get := func(u string) *headWriter {
		r := httptest.NewRequest(http.MethodGet, u, nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Prefer", `odata.maxpagesize=100, IdType="ImmutableId"`)
		w := &headWriter{h: http.Header{}, count: count}
		s.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			b.Fatalf("GET %s: %d %s", u, w.code, w.head)
		}
		return w
	}
	round := func() (events int) {
		for _, u := range s.Users() {
			link := s.base + "/v1.0/users/" + u.ID + "/calendarView/delta" + window
			for {
				w := get(link)
				events += w.events
				head := string(w.head)
				i := strings.Index(head, `"@odata.nextLink":"`)
				if i < 0 {
					break
				}
				link = head[i+len(`"@odata.nextLink":"`):]
				link = link[:strings.IndexByte(link, '"')]
			}
		}
		return events
	}
	perRound := round()
	count = false
	rounds := 0
	b.ReportAllocs()
	for b.Loop() {
		round()
		rounds++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rounds*perRound), "ns/event")
}

// headWriter is a ResponseWriter that keeps the start of the body (where
// a delta answer's links are) and, with count, counts the events in it,
// with created the parts of a batch answer that created one.
type headWriter struct {
	h       http.Header
	code    int
	head    []byte
	count   bool
	created bool
	events  int
}

func (w *headWriter) Header() http.Header  { return w.h }
func (w *headWriter) WriteHeader(code int) { w.code = code }
func (w *headWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if len(w.head) < 1024 {
		w.head = append(w.head, p[:min(len(p), 1024)]...)
	}
	if w.count {
		w.events += bytes.Count(p, []byte(`"@odata.type":"#microsoft.graph.event"`))
	}
	if w.created {
		w.events += bytes.Count(p, []byte(`"status":201}`))
	}
	return len(p), nil
}

// BenchmarkServeBatchCreate serves $batch requests of 20 event creates,
// as the connector sends them (the parts' headers, bodies with a
// transactionId, user principal names in the urls), through the whole
// request path into a recorder: the emulator's work per event created
// through a batch, without the network.
func BenchmarkServeBatchCreate(b *testing.B) {
	const users = 50
	s, tok := benchServer(b, Options{Users: users, Seed: 5})
	start := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	n := 0
	batch := func() []byte {
		var body bytes.Buffer
		body.WriteString(`{"requests":[`)
		user := n/maxBatch%users + 1
		for i := range maxBatch {
			if i > 0 {
				body.WriteByte(',')
			}
			t := start.Add(time.Duration(n) * time.Minute)
			fmt.Fprintf(&body, `{"id":"%d","method":"POST","url":"/users/user%d@contoso.com/events",`+
				`"headers":{"Prefer":"IdType=\"ImmutableId\", outlook.timezone=\"UTC\"","Content-Type":"application/json"},`+
				`"body":{"@odata.type":"#microsoft.graph.event","end":{"dateTime":"%s","timeZone":"UTC"},"start":{"dateTime":"%s","timeZone":"UTC"},`+
				`"subject":"bench %d","transactionId":"tx-%08d"}}`,
				i+1, user, t.Add(30*time.Minute).Format("2006-01-02T15:04:05"), t.Format("2006-01-02T15:04:05"), n, n)
			n++
		}
		body.WriteString(`]}`)
		return body.Bytes()
	}
	serve := func(raw []byte) {
		r := httptest.NewRequest(http.MethodPost, s.base+"/v1.0/$batch", bytes.NewReader(raw))
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Content-Type", "application/json")
		w := &headWriter{h: http.Header{}, created: true}
		s.ServeHTTP(w, r)
		if w.code != http.StatusOK || w.events != maxBatch {
			b.Fatalf("$batch: %d, %d parts created: %s", w.code, w.events, w.head)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		raw := batch()
		b.StartTimer()
		serve(raw)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
}

// benchServer starts an emulator for a serving benchmark, with no request
// budget to run out, and returns it with an access token it accepts.
func benchServer(b *testing.B, opts Options) (*Server, string) {
	opts.MailboxRequestBudget = 1 << 30
	s, err := Start(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	const tok = "bench-token"
	s.mu.Lock()
	s.tokens[tok] = &accessToken{app: s.defApp, roles: DefaultPermissions, expires: s.now().Add(24 * time.Hour)}
	s.mu.Unlock()
	return s, tok
}
