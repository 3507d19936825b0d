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
	// keys holds the keys of an app and mailbox (mailboxKeys).
	keys map[[2]string]mailboxKeys
}

// mailboxKeys are the keys of an app and mailbox in a limiter's maps:
// "{app}|{user}" and, for the upload budget, "up|{app}|{user}".
type mailboxKeys struct{ requests, upload string }

// mailboxKeys returns the keys of app and user, made once rather than for
// every request. l.mu is held.
func (l *limiter) mailboxKeys(app, user string) mailboxKeys {
	k, ok := l.keys[[2]string{app, user}]
	if !ok {
		k.requests = app + "|" + user
		k.upload = "up|" + k.requests
		if l.keys == nil {
			l.keys = map[[2]string]mailboxKeys{}
		}
		l.keys[[2]string{app, user}] = k
	}
	return k
}

type budget struct {
	start time.Time
	used  int
}

func (l *limiter) init() {
	l.inFlight = map[string]int{}
	l.window = map[string]*budget{}
}

const (
	budgetPeriod = 10 * time.Minute
	uploadPeriod = 5 * time.Minute
)

// acquire takes a concurrency slot for the request's app and mailbox, or
// answers 429 itself and reports false.
func (l *limiter) acquire(c *call, user string) (release func(), ok bool) {
	s := c.s
	now := s.now()
	l.mu.Lock()
	keys := l.mailboxKeys(c.tok.app, user)
	key := keys.requests
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
	// "150 megabytes (MB) upload (PATCH, POST, PUT) in a 5-minute period"
	// per app and mailbox (facts §4.1).
	if m := c.r.Method; (m == http.MethodPost || m == http.MethodPatch || m == http.MethodPut) && c.r.ContentLength > 0 {
		ub := l.window[keys.upload]
		if ub == nil || now.Sub(ub.start) >= uploadPeriod || now.Before(ub.start) {
			ub = &budget{start: now}
			l.window[keys.upload] = ub
		}
		if ub.used+int(c.r.ContentLength) > s.opts.MailboxUploadBudget {
			retry := ub.start.Add(uploadPeriod).Sub(now)
			l.mu.Unlock()
			s.stats.add(func(st *Stats) { st.Throttled++ })
			c.w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
			c.writeJSON(http.StatusTooManyRequests, throttleBody(c, now))
			return nil, false
		}
		ub.used += int(c.r.ContentLength)
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

// directoryCost is the resource-unit cost of a directory request (facts
// §4.2, throttling-limits.md: GET users 2, GET groups/{id}/members 3, GET
// groups/{id}/transitiveMembers 5; $select −1, $expand +1, $top < 20 −1).
// Single-object reads and group lists cost 1 and 2 (UNCONFIRMED).
func directoryCost(c *call) int {
	segs := c.segs
	cost := 2
	switch {
	case segs[0] == "users" && len(segs) == 2 && segs[1] != "$count":
		cost = 1
	case segs[0] == "groups" && len(segs) == 2:
		cost = 1
	case segs[0] == "groups" && len(segs) >= 3 && segs[2] == "members":
		cost = 3
	case segs[0] == "groups" && len(segs) >= 3 && segs[2] == "transitiveMembers":
		cost = 5
	}
	if c.query.Has("$select") {
		cost--
	}
	if c.query.Has("$expand") {
		cost++
	}
	if t := c.query.Get("$top"); t != "" {
		if n, err := strconv.Atoi(t); err == nil && n < 20 {
			cost--
		}
	}
	return max(cost, 1)
}

// directoryBudget is the resource units per 10 seconds for an app in the
// tenant: S (< 50 users) 3,500, M (50–500) 5,000, L (> 500) 8,000 (facts §4.2).
func (s *Server) directoryBudget() int {
	if s.opts.DirectoryBudget > 0 {
		return s.opts.DirectoryBudget
	}
	s.mu.Lock()
	n := len(s.users)
	s.mu.Unlock()
	switch {
	case n < 50:
		return 3500
	case n <= 500:
		return 5000
	}
	return 8000
}

const directoryPeriod = 10 * time.Second

// directory charges a directory request against the app's token bucket
// and answers 429 itself when the bucket is empty. Every answer carries
// x-ms-resource-unit, and x-ms-throttle-limit-percentage from 0.8 of the
// budget on (facts §4.2).
func (l *limiter) directory(c *call) bool {
	s := c.s
	cost := directoryCost(c)
	limit := s.directoryBudget()
	now := s.now()
	key := "dir|" + c.tok.app
	l.mu.Lock()
	b := l.window[key]
	if b == nil || now.Sub(b.start) >= directoryPeriod || now.Before(b.start) {
		b = &budget{start: now}
		l.window[key] = b
	}
	if b.used+cost > limit {
		retry := b.start.Add(directoryPeriod).Sub(now)
		l.mu.Unlock()
		s.stats.add(func(st *Stats) { st.Throttled++ })
		c.w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
		c.w.Header().Set("x-ms-throttle-scope", "Tenant_Application/ReadWrite/"+s.TenantID()+"/"+c.tok.app)
		c.writeJSON(http.StatusTooManyRequests, throttleBody(c, now))
		return false
	}
	b.used += cost
	used := b.used
	l.mu.Unlock()
	c.w.Header().Set("x-ms-resource-unit", strconv.Itoa(cost))
	if pct := float64(used) / float64(limit); pct >= 0.8 {
		c.w.Header().Set("x-ms-throttle-limit-percentage", strconv.FormatFloat(pct, 'f', 1, 64))
	}
	return true
}
