package graphtest_test

import (
	"fmt"
	"net/url"
	"sort"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

// TestDeltaReplicaConverges applies random interleavings of mutations (from
// the Outlook side and through the API, on single events and series) and
// delta rounds, and checks after every round that a replica built only from
// the delta answers equals the calendar: nothing lost, nothing left over.
func TestDeltaReplicaConverges(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		e := start(t, graphtest.Options{Users: 2})
		e.login()
		now := e.clock.Now()
		from, to := now.AddDate(0, -2, 0), now.AddDate(0, 2, 0)
		window := "/users/" + u1 + "/calendarView/delta?startDateTime=" + url.QueryEscape(from.Format(time.RFC3339)) +
			"&endDateTime=" + url.QueryEscape(to.Format(time.RFC3339))
		pageSize := fmt.Sprintf("odata.maxpagesize=%d", rapid.IntRange(1, 7).Draw(rt, "pagesize"))
		replica := map[string]string{} // id -> subject
		link := window
		apply := func() {
			items, dl := e.deltaRound(link, "Prefer", `IdType="ImmutableId"`, "Prefer", pageSize)
			link = dl
			for _, it := range items {
				id := it["id"].(string)
				if it["@removed"] != nil {
					delete(replica, id)
					continue
				}
				replica[id] = it["subject"].(string)
			}
		}
		check := func(step int) {
			want := map[string]string{}
			for _, inst := range e.srv.Instances(u1) {
				start, _ := time.Parse("2006-01-02T15:04:05.0000000", inst["start"].(map[string]any)["dateTime"].(string))
				end, _ := time.Parse("2006-01-02T15:04:05.0000000", inst["end"].(map[string]any)["dateTime"].(string))
				if start.Before(to) && end.After(from) {
					want[inst["id"].(string)] = inst["subject"].(string)
				}
			}
			if len(want) != len(replica) {
				rt.Fatalf("step %d: replica has %d events, calendar %d\nreplica %v\nwant %v", step, len(replica), len(want), keys(replica), keys(want))
			}
			for id, subj := range want {
				if replica[id] != subj {
					rt.Fatalf("step %d: event %s: replica %q, calendar %q", step, id, replica[id], subj)
				}
			}
		}
		apply()
		check(0)
		steps := rapid.IntRange(1, 25).Draw(rt, "steps")
		for step := 1; step <= steps; step++ {
			instances := e.srv.Instances(u1)
			masters := e.srv.Events(u1)
			switch op := rapid.IntRange(0, 7).Draw(rt, "op"); op {
			case 0, 1: // create a single event, maybe outside the window
				off := time.Duration(rapid.IntRange(-100*24, 100*24).Draw(rt, "hours")) * time.Hour
				if _, err := e.srv.PutEvent(u1, event(fmt.Sprintf("s%d", step), now.Add(off), time.Hour)); err != nil {
					rt.Fatal(err)
				}
			case 2: // create a weekly series
				b := event(fmt.Sprintf("series%d", step), now, time.Hour)
				startDay := now.AddDate(0, 0, rapid.IntRange(-70, 50).Draw(rt, "seriesStart"))
				b["start"] = map[string]any{"dateTime": startDay.Format("2006-01-02T15:04:05"), "timeZone": "UTC"}
				b["end"] = map[string]any{"dateTime": startDay.Add(time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"}
				b["recurrence"] = map[string]any{
					"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{startDay.Weekday().String()}},
					"range":   map[string]any{"type": "numbered", "startDate": startDay.Format("2006-01-02"), "numberOfOccurrences": rapid.IntRange(1, 8).Draw(rt, "n")},
				}
				if _, err := e.srv.PutEvent(u1, b); err != nil {
					rt.Fatal(err)
				}
			case 3, 4: // rename or move an instance (occurrences become exceptions)
				if len(instances) == 0 {
					continue
				}
				it := instances[rapid.IntRange(0, len(instances)-1).Draw(rt, "pick")]
				patch := map[string]any{"subject": fmt.Sprintf("renamed%d", step)}
				if op == 4 {
					at := now.Add(time.Duration(rapid.IntRange(-90*24, 90*24).Draw(rt, "moveTo")) * time.Hour)
					patch["start"] = map[string]any{"dateTime": at.Format("2006-01-02T15:04:05"), "timeZone": "UTC"}
					patch["end"] = map[string]any{"dateTime": at.Add(30 * time.Minute).Format("2006-01-02T15:04:05"), "timeZone": "UTC"}
				}
				if err := e.srv.PatchEvent(u1, it["id"].(string), patch); err != nil {
					rt.Fatal(err)
				}
			case 5: // delete an instance (cancels an occurrence)
				if len(instances) == 0 {
					continue
				}
				it := instances[rapid.IntRange(0, len(instances)-1).Draw(rt, "pickDel")]
				if err := e.srv.DeleteEvent(u1, it["id"].(string)); err != nil {
					rt.Fatal(err)
				}
			case 6: // edit or delete a whole series through the API
				var series []map[string]any
				for _, m := range masters {
					if m["type"] == "seriesMaster" {
						series = append(series, m)
					}
				}
				if len(series) == 0 {
					continue
				}
				m := series[rapid.IntRange(0, len(series)-1).Draw(rt, "pickSeries")]
				if rapid.Bool().Draw(rt, "deleteSeries") {
					expectStatus(t, e.do("DELETE", "/users/"+u1+"/events/"+m["id"].(string), nil), 204, "")
				} else {
					expectStatus(t, e.do("PATCH", "/users/"+u1+"/events/"+m["id"].(string), map[string]any{"subject": fmt.Sprintf("series-renamed%d", step)}), 200, "")
				}
			case 7: // a delta round in the middle of changes
				apply()
				check(step)
			}
		}
		apply()
		check(steps + 1)
		// A further round without changes is empty.
		if items, _ := e.deltaRound(link); len(items) != 0 {
			rt.Fatalf("round without changes returned %d items", len(items))
		}
	})
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestConcurrentReadsAndWrites runs delta reads and event changes at the
// same time (run with -race: answers are encoded outside the store's lock).
func TestConcurrentReadsAndWrites(t *testing.T) {
	e := start(t, graphtest.Options{Users: 2, EventsPerUser: 20, Seed: 3})
	e.login()
	now := e.clock.Now()
	window := "/users/" + u1 + "/calendarView/delta?startDateTime=" + url.QueryEscape(now.AddDate(0, -2, 0).Format(time.RFC3339)) +
		"&endDateTime=" + url.QueryEscape(now.AddDate(0, 2, 0).Format(time.RFC3339))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 60; i++ {
			insts := e.srv.Instances(u1)
			if len(insts) == 0 {
				continue
			}
			id := insts[i%len(insts)]["id"].(string)
			_ = e.srv.PatchEvent(u1, id, map[string]any{"subject": fmt.Sprintf("c%d", i),
				"body":      map[string]any{"contentType": "text", "content": fmt.Sprint(i)},
				"attendees": []any{map[string]any{"emailAddress": map[string]any{"address": "user2@contoso.com"}}}})
			if i%10 == 0 {
				_, _ = e.srv.PutEvent(u1, event("new", now.Add(time.Duration(i)*time.Hour), time.Hour))
			}
		}
	}()
	for i := 0; i < 4; i++ {
		e.deltaRound(window, "Prefer", "odata.maxpagesize=5")
	}
	<-done
}
