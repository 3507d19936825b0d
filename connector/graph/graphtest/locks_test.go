package graphtest_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

// TestConcurrentEventWritesAcrossMailboxes creates, updates and deletes
// events in three mailboxes at once — meetings with attendees in the other
// mailboxes among them, which write attendee copies there — while the
// mailboxes' calendars are read through calendarView and its delta. Run
// with -race, it checks the locking of the mailboxes (routeMailbox); every
// mailbox ends with its own events and a copy of every meeting it was
// invited to.
func TestConcurrentEventWritesAcrossMailboxes(t *testing.T) {
	e := start(t, graphtest.Options{Users: 3})
	e.login()
	users := []string{"user1@contoso.com", "user2@contoso.com", "user3@contoso.com"}
	begin := time.Date(2026, 3, 11, 9, 0, 0, 0, time.UTC)
	const perUser = 12
	type failure struct {
		what   string
		status int
		raw    string
	}
	failures := make(chan failure, 100)
	var wg sync.WaitGroup
	for ui, u := range users {
		// Two writers and one reader per mailbox: within its four
		// concurrent requests (graph-api-facts §4.1).
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perUser / 2 {
					n := w*perUser/2 + i
					body := event(fmt.Sprintf("%s %d", u, n), begin.Add(time.Duration(n)*time.Hour), 30*time.Minute)
					if n%3 == 0 {
						other := users[(ui+1)%len(users)]
						body["attendees"] = []any{map[string]any{"emailAddress": map[string]any{"address": other}, "type": "required"}}
					}
					r := e.do("POST", "/users/"+u+"/events", body)
					if r.status != http.StatusCreated {
						failures <- failure{"create in " + u, r.status, string(r.raw)}
						continue
					}
					id, _ := r.body["id"].(string)
					r = e.do("PATCH", "/users/"+u+"/events/"+id, map[string]any{"subject": fmt.Sprintf("%s %d changed", u, n)})
					if r.status != http.StatusOK {
						failures <- failure{"update in " + u, r.status, string(r.raw)}
					}
					if n%4 == 1 {
						if r = e.do("DELETE", "/users/"+u+"/events/"+id, nil); r.status != http.StatusNoContent {
							failures <- failure{"delete in " + u, r.status, string(r.raw)}
						}
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			window := "startDateTime=2026-03-01T00:00:00Z&endDateTime=2026-04-01T00:00:00Z"
			for range 6 {
				if r := e.get("/users/" + u + "/calendarView?" + window); r.status != http.StatusOK {
					failures <- failure{"calendarView of " + u, r.status, string(r.raw)}
				}
				if r := e.get("/users/" + u + "/calendarView/delta?" + window); r.status != http.StatusOK {
					failures <- failure{"delta of " + u, r.status, string(r.raw)}
				}
			}
		}()
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Errorf("%s: %d %s", f.what, f.status, f.raw)
	}
	for ui, u := range users {
		own, invited := 0, 0
		for _, ev := range e.srv.Events(u) {
			if org, _ := ev["isOrganizer"].(bool); org {
				own++
			} else if c, _ := ev["isCancelled"].(bool); !c {
				invited++
			}
		}
		// Events n%4 == 1 are deleted: 3 of 12. Meetings n%3 == 0 (0, 3,
		// 6, 9) invite the next user; 9 is also deleted, which cancels
		// its copy.
		if own != perUser-3 {
			t.Errorf("%s organizes %d events, want %d", u, own, perUser-3)
		}
		if invited != 3 {
			t.Errorf("%s has %d meeting copies from %s, want 3", u, invited, users[(ui+len(users)-1)%len(users)])
		}
	}
}

// TestLatencyIncludesService: with LatencyIncludesService a request is
// answered no sooner than the latency after it arrived, and it holds its
// mailbox slot until then, so a fifth and sixth parallel request are
// throttled as with the latency added before serving.
func TestLatencyIncludesService(t *testing.T) {
	const latency = 300 * time.Millisecond
	e := start(t, graphtest.Options{Users: 1, Latency: latency, LatencyIncludesService: true})
	e.login()
	began := time.Now()
	if r := e.get("/users/user1@contoso.com/contacts"); r.status != http.StatusOK {
		t.Fatalf("contacts: %d %s", r.status, r.raw)
	}
	if took := time.Since(began); took < latency {
		t.Fatalf("answered after %v, want at least %v", took, latency)
	}
	var wg sync.WaitGroup
	statuses := make(chan int, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- e.get("/users/user1@contoso.com/contacts").status
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[200] != 4 || count[429] != 2 {
		t.Fatalf("statuses %v, want four 200 and two 429", count)
	}
}
