package graphtest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

// TestEventWriteAnswersMatchGet: the answer to a create and to an update
// of an event (written straight from the stored data) has the same
// properties and values as a GET of the event with the same preferences,
// for plain events, meetings, Teams meetings and series, with and without
// the text body preference.
func TestEventWriteAnswersMatchGet(t *testing.T) {
	e := start(t, graphtest.Options{Users: 2})
	e.login()
	begin := time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)
	plain := event("plain", begin, time.Hour)
	meeting := event("meeting", begin.Add(2*time.Hour), time.Hour)
	meeting["body"] = map[string]any{"contentType": "html", "content": "<p>Agenda &amp; notes</p>"}
	meeting["location"] = map[string]any{"displayName": "Room 7"}
	meeting["attendees"] = []any{
		map[string]any{"emailAddress": map[string]any{"address": "user2@contoso.com", "name": "Two"}, "type": "required"},
		map[string]any{"emailAddress": map[string]any{"address": "guest@example.org"}, "type": "optional"},
	}
	meeting["categories"] = []any{"Red", "Blue \"quoted\""}
	meeting["importance"] = "high"
	meeting["transactionId"] = "7E163156-7762-4BEB-A1C6-729EA81755A7"
	teams := event("teams", begin.Add(4*time.Hour), 30*time.Minute)
	teams["isOnlineMeeting"] = true
	teams["onlineMeetingProvider"] = "teamsForBusiness"
	teams["body"] = map[string]any{"contentType": "html", "content": "Join us"}
	series := event("series", begin.Add(6*time.Hour), 30*time.Minute)
	series["start"] = map[string]any{"dateTime": "2026-03-12T15:00:00", "timeZone": "Pacific Standard Time"}
	series["end"] = map[string]any{"dateTime": "2026-03-12T15:30:00", "timeZone": "Pacific Standard Time"}
	series["recurrence"] = map[string]any{
		"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{"thursday"}},
		"range":   map[string]any{"type": "numbered", "startDate": "2026-03-12", "numberOfOccurrences": 4},
	}
	for _, prefer := range [][]string{nil, {"Prefer", `outlook.timezone="W. Europe Standard Time"`}, {"Prefer", `outlook.body-content-type="text"`, "Prefer", `IdType="ImmutableId"`}} {
		for name, body := range map[string]map[string]any{"plain": plain, "meeting": meeting, "teams": teams, "series": series} {
			created := e.do("POST", "/users/user1@contoso.com/events", body, prefer...)
			if created.status != http.StatusCreated {
				t.Fatalf("%s %v: create %d %s", name, prefer, created.status, created.raw)
			}
			id, _ := created.body["id"].(string)
			// The answer's zone is the preferred one, else the one the
			// event was written in (responseZone): the GET asks for it.
			zone := "UTC"
			if st, ok := created.body["start"].(map[string]any); ok {
				zone, _ = st["timeZone"].(string)
			}
			getPrefer := append(append([]string(nil), prefer...), "Prefer", `outlook.timezone="`+zone+`"`)
			compareToGet(t, e, name+" create", created, id, getPrefer)
			updated := e.do("PATCH", "/users/user1@contoso.com/events/"+id, map[string]any{"subject": name + " changed", "showAs": "tentative"}, prefer...)
			if updated.status != http.StatusOK {
				t.Fatalf("%s %v: update %d %s", name, prefer, updated.status, updated.raw)
			}
			compareToGet(t, e, name+" update", updated, id, getPrefer)
		}
	}
}

// compareToGet checks that an answer holds what a GET of the event gives
// (with @odata.context), key for key in the same order.
func compareToGet(t *testing.T, e *env, what string, answer resp, id string, prefer []string) {
	t.Helper()
	got := e.get("/users/user1@contoso.com/events/"+id, prefer...)
	if got.status != http.StatusOK {
		t.Fatalf("%s: get %d %s", what, got.status, got.raw)
	}
	a, _ := json.Marshal(answer.body)
	g, _ := json.Marshal(got.body)
	if !bytes.Equal(a, g) {
		t.Fatalf("%s: answer\n%s\ndiffers from GET\n%s", what, answer.raw, got.raw)
	}
	if !bytes.Equal(bytes.TrimSpace(answer.raw), bytes.TrimSpace(got.raw)) {
		t.Fatalf("%s: answer bytes\n%s\ndiffer from GET\n%s", what, answer.raw, got.raw)
	}
}

// TestDeltaAnswersAreCanonical: calendarView delta answers — written in
// place, page and all — are byte for byte what encoding/json writes for
// their content (keys sorted, its escapes and number forms, a newline
// after), through every page of a first round and of a round with changed,
// moved out and deleted events, with and without preferences, directly
// and as parts of a batch.
func TestDeltaAnswersAreCanonical(t *testing.T) {
	e := start(t, graphtest.Options{Users: 2, EventsPerUser: 40, Seed: 5})
	e.login()
	now := e.clock.Now()
	user := "user1@contoso.com"
	window := "/users/" + user + "/calendarView/delta?startDateTime=" + url.QueryEscape(now.AddDate(0, 0, -60).Format(time.RFC3339)) +
		"&endDateTime=" + url.QueryEscape(now.AddDate(0, 0, 60).Format(time.RFC3339))
	canonical := func(what string, raw []byte) {
		t.Helper()
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, raw)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), raw) {
			t.Fatalf("%s: answer\n%s\nis not encoding/json's\n%s", what, raw, buf.Bytes())
		}
	}
	round := func(what, start string, prefer []string) (string, int) {
		t.Helper()
		link, n := start, 0
		for page := 0; ; page++ {
			r := e.get(link, prefer...)
			if r.status != http.StatusOK {
				t.Fatalf("%s page %d: %d %s", what, page, r.status, r.raw)
			}
			canonical(fmt.Sprintf("%s page %d", what, page), r.raw)
			// The same request as a part of a batch: the part's body is
			// the answer as it is.
			var prefs []string
			for i := 1; i < len(prefer); i += 2 {
				prefs = append(prefs, prefer[i])
			}
			part := map[string]any{"id": "1", "method": "GET", "url": strings.TrimPrefix(link, e.srv.GraphEndpoint()+"/v1.0"),
				"headers": map[string]any{"Prefer": strings.Join(prefs, ", ")}}
			b := e.do("POST", "/$batch", map[string]any{"requests": []any{part}})
			if b.status != http.StatusOK || !strings.Contains(string(b.raw), `"status":200}`) {
				t.Fatalf("%s page %d as a batch part: %d %s", what, page, b.status, b.raw)
			}
			canonical(fmt.Sprintf("%s page %d as a batch part", what, page), b.raw)
			n += len(r.values())
			if next, ok := r.body["@odata.nextLink"].(string); ok {
				link = next
				continue
			}
			return r.body["@odata.deltaLink"].(string), n
		}
	}
	for _, prefer := range [][]string{
		{"Prefer", "odata.maxpagesize=7"},
		{"Prefer", `IdType="ImmutableId"`, "Prefer", `outlook.timezone="Pacific Standard Time"`, "Prefer", "odata.maxpagesize=50"},
		{"Prefer", `outlook.body-content-type="text"`},
	} {
		deltaLink, n := round(fmt.Sprintf("first round %q", prefer), window, prefer)
		if n == 0 {
			t.Fatalf("first round %q: no events", prefer)
		}
		// Changes: a subject with characters JSON escapes, an event moved
		// out of the window, a deleted event and a new one.
		evs := e.srv.Instances(user)
		if err := e.srv.PatchEvent(user, evs[0]["id"].(string), map[string]any{"subject": "quote \" back \\ <html> é \u2028 \x01"}); err != nil {
			t.Fatal(err)
		}
		far := map[string]any{"dateTime": now.AddDate(1, 0, 0).Format("2006-01-02T15:04:05"), "timeZone": "UTC"}
		if err := e.srv.PatchEvent(user, evs[1]["id"].(string), map[string]any{"start": far, "end": far}); err != nil {
			t.Fatal(err)
		}
		if err := e.srv.DeleteEvent(user, evs[2]["id"].(string)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.srv.PutEvent(user, event("new", now, time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, n := round(fmt.Sprintf("second round %q", prefer), deltaLink, prefer); n < 4 {
			t.Fatalf("second round %q: %d items, want at least 4", prefer, n)
		}
	}
}
