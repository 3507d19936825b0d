package graphtest

import (
	"bytes"
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
	s, err := Start(Options{Users: 8, EventsPerUser: 500, Seed: 13, MailboxRequestBudget: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	const tok = "bench-token"
	s.mu.Lock()
	s.tokens[tok] = &accessToken{app: s.defApp, roles: DefaultPermissions, expires: s.now().Add(24 * time.Hour)}
	s.mu.Unlock()
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
// a delta answer's links are) and, with count, counts the events in it.
type headWriter struct {
	h      http.Header
	code   int
	head   []byte
	count  bool
	events int
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
	return len(p), nil
}
