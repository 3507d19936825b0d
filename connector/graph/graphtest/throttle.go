package graphtest

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// limiter enforces the Outlook service limits per app id and mailbox
// (facts §4.1, throttling-limits.md: "Four concurrent requests" and "10,000
// API requests in a 10-minute period", applied "to each app ID and mailbox
// combination").
type limiter struct {
	mu       sync.Mutex
	inFlight map[string]int
	window   map[string]*budget
}

type budget struct {
	start time.Time
	used  int
}

func (l *limiter) init() {
	l.inFlight = map[string]int{}
	l.window = map[string]*budget{}
}

const budgetPeriod = 10 * time.Minute

// acquire takes a concurrency slot for the request's app and mailbox, or
// answers 429 itself and reports false.
func (l *limiter) acquire(c *call, user string) (release func(), ok bool) {
	s := c.s
	key := c.tok.app + "|" + user
	now := s.now()
	l.mu.Lock()
	b := l.window[key]
	if b == nil || now.Sub(b.start) >= budgetPeriod || now.Before(b.start) {
		b = &budget{start: now}
		l.window[key] = b
	}
	if b.used >= s.opts.MailboxRequestBudget {
		retry := b.start.Add(budgetPeriod).Sub(now)
		l.mu.Unlock()
		s.stats.add(func(st *Stats) { st.Throttled++ })
		// Body and headers as in graph-examples/throttling-429-response.json
		// and .headers.txt (facts §4.3).
		c.w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
		c.writeJSON(http.StatusTooManyRequests, throttleBody(c, now))
		return nil, false
	}
	if l.inFlight[key] >= s.opts.MailboxConcurrency {
		l.mu.Unlock()
		s.stats.add(func(st *Stats) { st.Throttled++ })
		// OBSERVED (Graph SDK issues): the concurrency limit answers 429
		// ApplicationThrottled "Application is over its MailboxConcurrency
		// limit." with a Retry-After header (facts §4.3: Retry-After on every
		// Outlook limit).
		c.w.Header().Set("Retry-After", "1")
		c.fail(http.StatusTooManyRequests, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
		return nil, false
	}
	b.used++
	l.inFlight[key]++
	peak := l.inFlight[key]
	l.mu.Unlock()
	s.stats.add(func(st *Stats) { st.MailboxConcurrentPeak = max(st.MailboxConcurrentPeak, peak) })
	return func() {
		l.mu.Lock()
		l.inFlight[key]--
		l.mu.Unlock()
	}, true
}

func throttleBody(c *call, now time.Time) map[string]any {
	return map[string]any{"error": map[string]any{
		"code":    "TooManyRequests",
		"message": "Please retry again later.",
		"innerError": map[string]any{
			"code":              "429",
			"date":              now.UTC().Format("2006-01-02T15:04:05"),
			"message":           "Please retry after",
			"request-id":        c.reqID,
			"client-request-id": c.clientID,
			"status":            "429",
		},
	}}
}
