package graphtest_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

const u1 = "user1@contoso.com"

func TestEventValidation(t *testing.T) {
	e := start(t, graphtest.Options{Users: 1})
	e.login()
	now := e.clock.Now()
	post := func(body map[string]any) resp { return e.do("POST", "/users/"+u1+"/events", body) }

	expectStatus(t, post(map[string]any{"subject": "no times"}), 400, "ErrorInvalidRequest")
	bad := event("tz", now, time.Hour)
	bad["start"] = map[string]any{"dateTime": "2026-03-10T10:00:00", "timeZone": "Europe/Berlin"}
	expectStatus(t, post(bad), 400, "TimeZoneNotSupportedException")
	bad = event("unknown property", now, time.Hour)
	bad["colour"] = "red"
	expectStatus(t, post(bad), 400, "RequestBodyRead")
	bad = event("enum", now, time.Hour)
	bad["importance"] = "urgent"
	expectStatus(t, post(bad), 400, "RequestBodyRead")
	expectStatus(t, post(event("backwards", now, -time.Hour)), 400, "ErrorInvalidRequest")
	bad = event("attendee", now, time.Hour)
	bad["attendees"] = []any{map[string]any{"emailAddress": map[string]any{"name": "x"}}}
	expectStatus(t, post(bad), 400, "ErrorInvalidRecipients")

	recurring := func(pattern, rng map[string]any) map[string]any {
		b := event("series", now, time.Hour)
		b["recurrence"] = map[string]any{"pattern": pattern, "range": rng}
		return b
	}
	okRange := map[string]any{"type": "numbered", "startDate": "2026-03-10", "numberOfOccurrences": 3}
	expectStatus(t, post(recurring(map[string]any{"type": "weekly", "interval": 1}, okRange)), 400, "ErrorInvalidRequest")
	expectStatus(t, post(recurring(map[string]any{"type": "fortnightly", "interval": 1}, okRange)), 400, "RequestBodyRead")
	expectStatus(t, post(recurring(map[string]any{"type": "daily"}, okRange)), 400, "ErrorInvalidRequest")
	expectStatus(t, post(recurring(map[string]any{"type": "absoluteMonthly", "interval": 1}, okRange)), 400, "ErrorInvalidRequest")
	expectStatus(t, post(recurring(map[string]any{"type": "daily", "interval": 1}, map[string]any{"type": "endDate", "startDate": "2026-03-10"})), 400, "ErrorInvalidRequest")
	expectStatus(t, post(recurring(map[string]any{"type": "daily", "interval": 1}, map[string]any{"type": "numbered", "startDate": "2026-03-10"})), 400, "ErrorInvalidRequest")
	expectStatus(t, post(recurring(map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{"Funday"}}, okRange)), 400, "RequestBodyRead")
	if n := len(e.srv.Events(u1)); n != 0 {
		t.Fatalf("rejected creates left %d events", n)
	}
	expectStatus(t, e.do("PATCH", "/users/"+u1+"/events/not-an-id", map[string]any{"subject": "x"}), 400, "ErrorInvalidIdMalformed")
	expectStatus(t, e.do("PATCH", "/users/"+u1+"/events/AAMkAGI2nosuchAAA=", map[string]any{"subject": "x"}), 404, "ErrorItemNotFound")
}

func TestEventCRUDAndTimeZones(t *testing.T) {
	e := start(t, graphtest.Options{Users: 1})
	e.login()
	body := map[string]any{
		"subject": "Lunch", "body": map[string]any{"contentType": "HTML", "content": "Does noon work?"},
		"start":    map[string]any{"dateTime": "2026-03-12T12:00:00", "timeZone": "Pacific Standard Time"},
		"end":      map[string]any{"dateTime": "2026-03-12T13:00:00", "timeZone": "Pacific Standard Time"},
		"location": map[string]any{"displayName": "Harry's Bar"},
	}
	r := e.do("POST", "/users/"+u1+"/events", body)
	expectStatus(t, r, 201, "")
	id := r.body["id"].(string)
	if r.body["originalStartTimeZone"] != "Pacific Standard Time" || r.body["type"] != "singleInstance" || r.body["isOrganizer"] != true {
		t.Fatalf("created event %v", r.body)
	}
	// Without Prefer the times come back in UTC (PST is UTC-7 in March after DST, 2026-03-08).
	g := e.get("/users/" + u1 + "/events/" + id)
	expectStatus(t, g, 200, "")
	start := g.body["start"].(map[string]any)
	if start["timeZone"] != "UTC" || start["dateTime"] != "2026-03-12T19:00:00.0000000" {
		t.Fatalf("UTC start %v", start)
	}
	g = e.get("/users/"+u1+"/events/"+id, "Prefer", `outlook.timezone="W. Europe Standard Time"`)
	start = g.body["start"].(map[string]any)
	if start["timeZone"] != "W. Europe Standard Time" || start["dateTime"] != "2026-03-12T20:00:00.0000000" {
		t.Fatalf("converted start %v", start)
	}
	if !strings.Contains(g.header.Get("Preference-Applied"), "W. Europe Standard Time") {
		t.Fatalf("Preference-Applied %q", g.header.Get("Preference-Applied"))
	}
	expectStatus(t, e.get("/users/"+u1+"/events/"+id, "Prefer", `outlook.timezone="Asia/Kolkata"`), 400, "TimeZoneNotSupportedException")
	txt := e.get("/users/"+u1+"/events/"+id, "Prefer", `outlook.body-content-type="text"`)
	if b := txt.body["body"].(map[string]any); b["contentType"] != "text" || b["content"] != "Does noon work?" {
		t.Fatalf("text body %v", b)
	}
	if html := g.body["body"].(map[string]any); html["contentType"] != "html" {
		t.Fatalf("default body %v", html)
	}

	// Immutable ids differ from regular ids; both address the event.
	im := e.get("/users/"+u1+"/events/"+id, "Prefer", `IdType="ImmutableId"`)
	imID := im.body["id"].(string)
	if imID == id {
		t.Fatal("immutable id equals the regular id")
	}
	expectStatus(t, e.get("/users/"+u1+"/events/"+imID), 200, "")

	p := e.do("PATCH", "/users/"+u1+"/events/"+id, map[string]any{"subject": "Brunch"})
	expectStatus(t, p, 200, "")
	if p.body["subject"] != "Brunch" || p.body["changeKey"] == r.body["changeKey"] {
		t.Fatalf("patched %v", p.body)
	}
	expectStatus(t, e.do("DELETE", "/users/"+u1+"/events/"+id, nil), 204, "")
	expectStatus(t, e.get("/users/"+u1+"/events/"+id), 404, "ErrorItemNotFound")
}

func TestTeamsMeetingAndTransactionID(t *testing.T) {
	e := start(t, graphtest.Options{Users: 1})
	e.login()
	b := event("Prep", e.clock.Now(), time.Hour)
	b["isOnlineMeeting"] = true
	b["onlineMeetingProvider"] = "teamsForBusiness"
	b["transactionId"] = "tx-1"
	r := e.do("POST", "/users/"+u1+"/events", b)
	expectStatus(t, r, 201, "")
	om, _ := r.body["onlineMeeting"].(map[string]any)
	if join, _ := om["joinUrl"].(string); !strings.HasPrefix(join, "https://teams.microsoft.com/l/meetup-join/") {
		t.Fatalf("onlineMeeting %v", r.body["onlineMeeting"])
	}
	if r.body["transactionId"] != "tx-1" {
		t.Fatalf("transactionId not returned: %v", r.body["transactionId"])
	}
	// A retried create with the same transactionId makes no second event.
	again := e.do("POST", "/users/"+u1+"/events", b)
	expectStatus(t, again, 201, "")
	if again.body["id"] != r.body["id"] {
		t.Fatal("retried create made a second event")
	}
	if posts, events := e.srv.TransactionCreates(u1, "tx-1"); posts != 2 || events != 1 {
		t.Fatalf("TransactionCreates = %d posts, %d events", posts, events)
	}
	id := r.body["id"].(string)
	expectStatus(t, e.do("PATCH", "/users/"+u1+"/events/"+id, map[string]any{"isOnlineMeeting": false}), 400, "ErrorInvalidRequest")
	expectStatus(t, e.do("PATCH", "/users/"+u1+"/events/"+id, map[string]any{"transactionId": "tx-2"}), 400, "ErrorInvalidRequest")
	// Without a transactionId the property is absent (facts §6).
	plain := e.do("POST", "/users/"+u1+"/events", event("plain", e.clock.Now(), time.Hour))
	if _, ok := plain.body["transactionId"]; ok {
		t.Fatal("transactionId returned although the client did not set it")
	}
}

func TestSeriesOccurrencesExceptionsAndDelta(t *testing.T) {
	e := start(t, graphtest.Options{Users: 1})
	e.login()
	now := e.clock.Now() // Tuesday 2026-03-10 09:00 UTC
	b := event("Weekly", now.Add(time.Hour), time.Hour)
	b["recurrence"] = map[string]any{
		"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{"Tuesday", "Thursday"}},
		"range":   map[string]any{"type": "numbered", "startDate": "2026-03-10", "numberOfOccurrences": 4},
	}
	r := e.do("POST", "/users/"+u1+"/events", b, "Prefer", `IdType="ImmutableId"`)
	expectStatus(t, r, 201, "")
	if r.body["type"] != "seriesMaster" {
		t.Fatalf("type %v", r.body["type"])
	}
	master := r.body["id"].(string)
	rec := r.body["recurrence"].(map[string]any)
	if rec["pattern"].(map[string]any)["firstDayOfWeek"] != "sunday" || rec["range"].(map[string]any)["recurrenceTimeZone"] != "UTC" {
		t.Fatalf("recurrence echo %v", rec)
	}
	inst := e.get("/users/"+u1+"/events/"+master+"/instances?startDateTime=2026-03-01T00:00:00Z&endDateTime=2026-04-01T00:00:00Z", "Prefer", `IdType="ImmutableId"`)
	expectStatus(t, inst, 200, "")
	occ := inst.values()
	wantDays := []string{"2026-03-10", "2026-03-12", "2026-03-17", "2026-03-19"}
	if len(occ) != 4 {
		t.Fatalf("instances: %d, want 4", len(occ))
	}
	for i, o := range occ {
		if o["seriesMasterId"] != master || o["type"] != "occurrence" || !strings.HasPrefix(o["start"].(map[string]any)["dateTime"].(string), wantDays[i]+"T10:00") {
			t.Fatalf("occurrence %d: %v", i, o)
		}
	}
	expectStatus(t, e.get("/users/"+u1+"/events/"+master+"/instances"), 400, "ErrorInvalidParameter")

	window := "/users/" + u1 + "/calendarView/delta?startDateTime=2026-03-01T00:00:00Z&endDateTime=2026-04-01T00:00:00Z"
	items, dl := e.deltaRound(window, "Prefer", `IdType="ImmutableId"`)
	if len(items) != 4 {
		t.Fatalf("calendarView delta returned %d items, want the 4 occurrences and no master", len(items))
	}
	// Move one occurrence (it becomes an exception), cancel another.
	moved := occ[1]["id"].(string)
	if err := e.srv.PatchEvent(u1, moved, map[string]any{
		"start": map[string]any{"dateTime": "2026-03-13T15:00:00", "timeZone": "UTC"},
		"end":   map[string]any{"dateTime": "2026-03-13T16:00:00", "timeZone": "UTC"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.DeleteEvent(u1, occ[2]["id"].(string)); err != nil {
		t.Fatal(err)
	}
	items, dl = e.deltaRound(dl, "Prefer", `IdType="ImmutableId"`)
	if len(items) != 2 {
		t.Fatalf("after exception + cancel: %d items: %v", len(items), items)
	}
	for _, it := range items {
		switch it["id"] {
		case moved:
			if it["type"] != "exception" || it["start"].(map[string]any)["dateTime"] != "2026-03-13T15:00:00.0000000" {
				t.Fatalf("exception %v", it)
			}
		case occ[2]["id"]:
			if it["@removed"] == nil {
				t.Fatalf("cancelled occurrence %v", it)
			}
		default:
			t.Fatalf("unexpected item %v", it)
		}
	}
	// A series edit reaches every remaining instance.
	if err := e.srv.PatchEvent(u1, master, map[string]any{"subject": "Weekly (renamed)"}); err != nil {
		t.Fatal(err)
	}
	items, _ = e.deltaRound(dl, "Prefer", `IdType="ImmutableId"`)
	if len(items) != 3 {
		t.Fatalf("after the series edit: %d items, want 3", len(items))
	}
	for _, it := range items {
		if it["subject"] != "Weekly (renamed)" {
			t.Fatalf("series edit not applied: %v", it)
		}
	}
}

func TestAttendeeCopies(t *testing.T) {
	e := start(t, graphtest.Options{Users: 2})
	e.login()
	b := event("Meeting", e.clock.Now().Add(24*time.Hour), time.Hour)
	b["attendees"] = []any{map[string]any{"type": "required", "emailAddress": map[string]any{"address": "user2@contoso.com", "name": "Two"}}}
	id, err := e.srv.PutEvent(u1, b)
	if err != nil {
		t.Fatal(err)
	}
	org, _ := e.srv.Event(u1, id)
	copies := e.srv.Events("user2@contoso.com")
	if len(copies) != 1 {
		t.Fatalf("attendee has %d events", len(copies))
	}
	cp := copies[0]
	if cp["id"] == id || cp["iCalUId"] != org["iCalUId"] || cp["isOrganizer"] != false {
		t.Fatalf("copy %v", cp)
	}
	if cp["organizer"].(map[string]any)["emailAddress"].(map[string]any)["address"] != "user1@contoso.com" {
		t.Fatalf("copy organizer %v", cp["organizer"])
	}
	window := "/users/user2@contoso.com/calendarView/delta?startDateTime=" + url.QueryEscape(e.clock.Now().Format(time.RFC3339)) +
		"&endDateTime=" + url.QueryEscape(e.clock.Now().AddDate(0, 1, 0).Format(time.RFC3339))
	items, dl := e.deltaRound(window)
	if len(items) != 1 {
		t.Fatalf("attendee delta %d items", len(items))
	}
	if err := e.srv.DeleteEvent(u1, id); err != nil {
		t.Fatal(err)
	}
	items, _ = e.deltaRound(dl)
	if len(items) != 1 || items[0]["isCancelled"] != true {
		t.Fatalf("after the organizer deleted the meeting: %v", items)
	}
}
