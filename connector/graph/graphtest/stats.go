package graphtest

import (
	"maps"
	"sync"
)

// Stats are counters for figures and tests.
type Stats struct {
	// TokenRequests counts requests to the token endpoint.
	TokenRequests int
	// Requests counts Graph requests by kind: "users", "groups",
	// "calendarView.delta", "events.get", "events.post", "events.patch",
	// "events.delete", "events.instances", "contacts.delta", "contacts.get",
	// ..., "tasks.delta", "messages.delta", "batch", "metadata". Requests
	// inside a $batch count under their own kind as well.
	Requests map[string]int
	// PerUser counts mailbox requests by user id.
	PerUser map[string]int
	// Total counts every HTTP request (Graph, identity, batch parts excluded).
	Total int
	// ConcurrentPeak is the highest number of HTTP requests in flight at once.
	ConcurrentPeak int
	// MailboxConcurrentPeak is the highest number of requests in flight for
	// one app and mailbox.
	MailboxConcurrentPeak int
	// Throttled counts answers 429 given by the throttling rules (not by
	// scripted faults).
	Throttled int
	// Faults counts scripted faults that fired.
	Faults int
}

type statsCollector struct {
	mu sync.Mutex
	st Stats
	in int
}

func (c *statsCollector) init() {
	c.st.Requests = map[string]int{}
	c.st.PerUser = map[string]int{}
}

func (c *statsCollector) begin() {
	c.mu.Lock()
	c.in++
	c.st.Total++
	c.st.ConcurrentPeak = max(c.st.ConcurrentPeak, c.in)
	c.mu.Unlock()
}

func (c *statsCollector) end() {
	c.mu.Lock()
	c.in--
	c.mu.Unlock()
}

func (c *statsCollector) count(kind, user string) {
	c.mu.Lock()
	c.st.Requests[kind]++
	if user != "" {
		c.st.PerUser[user]++
	}
	c.mu.Unlock()
}

func (c *statsCollector) countToken() {
	c.mu.Lock()
	c.st.TokenRequests++
	c.mu.Unlock()
}

func (c *statsCollector) add(f func(*Stats)) {
	c.mu.Lock()
	f(&c.st)
	c.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	st := s.stats.st
	st.Requests = maps.Clone(st.Requests)
	st.PerUser = maps.Clone(st.PerUser)
	return st
}

// ResetStats zeroes the counters (between phases of a benchmark).
func (s *Server) ResetStats() {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	in := s.stats.in
	s.stats.st = Stats{}
	s.stats.init()
	s.stats.in = in
}
