package graphtest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
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
