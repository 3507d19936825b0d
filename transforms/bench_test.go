package transforms

import (
	"context"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
)

// benchEvent is a Graph event as the connector delivers it: nested
// objects, a list of attendees, ~20 top-level fields.
func benchEvent() connector.Record {
	att := func(addr, typ string) map[string]any {
		return map[string]any{"type": typ, "emailAddress": map[string]any{"address": addr, "name": addr}, "status": map[string]any{"response": "accepted"}}
	}
	return connector.Record{ID: "AAMkAGI2TG93AAA=", Partition: "adele@contoso.com", Fields: map[string]any{
		"id": "AAMkAGI2TG93AAA=", "subject": "Quarterly review", "bodyPreview": "Agenda: numbers, plans, questions",
		"isCancelled": false, "isAllDay": false, "isOnlineMeeting": true, "showAs": "busy", "importance": "normal",
		"sensitivity": "normal", "reminderMinutesBeforeStart": int64(15), "categories": []any{"Customer", "Review"},
		"start":     map[string]any{"dateTime": "2024-03-31T10:00:00.0000000", "timeZone": "Pacific Standard Time"},
		"end":       map[string]any{"dateTime": "2024-03-31T11:00:00.0000000", "timeZone": "Pacific Standard Time"},
		"location":  map[string]any{"displayName": "Room 4", "address": map[string]any{"city": "Redmond", "countryOrRegion": "US"}},
		"organizer": map[string]any{"emailAddress": map[string]any{"address": "adele@contoso.com", "name": "Adele Vance"}},
		"attendees": []any{att("megan@contoso.com", "required"), att("lee@fabrikam.com", "optional")},
		"webLink":   "https://outlook.office365.com/owa/?itemid=AAMk", "changeKey": "DwAAABYAAAA",
		"lastModifiedDateTime": time.Date(2024, 3, 20, 8, 0, 0, 0, time.UTC), "user": "adele@contoso.com",
	}}
}

// benchSpec is a 15-field mapping: plain copies, nested paths, string
// functions, two value maps, a time-zone conversion and three lookups.
func benchSpec() Spec {
	return Spec{Filter: "isCancelled == false", Fields: []FieldSpec{
		{Target: "Subject", Expr: "subject"},
		{Target: "Description", Expr: "bodyPreview"},
		{Target: "Start", Expr: "start.dateTime", TZ: &TZSpec{From: "start.timeZone", To: "Europe/Berlin"}},
		{Target: "End", Expr: "end.dateTime", TZ: &TZSpec{From: "end.timeZone", To: "Europe/Berlin"}},
		{Target: "AllDay", Expr: "isAllDay"},
		{Target: "Online", Expr: "isOnlineMeeting"},
		{Target: "Status", Expr: "showAs", Map: map[string]any{"busy": "Busy", "free": "Free", "tentative": "Tentative"}, Default: "Busy", HasDefault: true},
		{Target: "Priority", Expr: "importance", Map: map[string]any{"low": int64(1), "normal": int64(2), "high": int64(3)}, Default: int64(2), HasDefault: true},
		{Target: "Reminder", Expr: "reminderMinutesBeforeStart ?? 0"},
		{Target: "Venue", Expr: `location.displayName + ", " + location.address.city`},
		{Target: "Organizer", Expr: "lower(organizer.emailAddress.address)"},
		{Target: "FirstAttendee", Expr: "attendees[0].emailAddress.address"},
		{Target: "Owner", Expr: `lookup("users-to-crm", user)`},
		{Target: "Account", Expr: `lookup("accounts-to-crm", split(organizer.emailAddress.address, "@")[1])`},
		{Target: "Contact", Expr: `lookup("contacts-to-crm", attendees[0].emailAddress.address) ?? "none"`},
	}}
}

func benchLookup(_ context.Context, pipeline, id string) (string, bool, error) {
	switch pipeline {
	case "users-to-crm":
		return "u-1", true, nil
	case "accounts-to-crm":
		return "a-7", true, nil
	}
	return "", false, nil
}

// BenchmarkApply15Fields measures the per-record cost of the mapping above.
// BenchmarkBaselineCopy15Fields is the same shape of work written by hand in
// Go (15 map reads with the same nested paths, the same three lookups,
// value maps and the zone conversion with a cached location), measured in the
// same run; the ratio is the cost of the mapping language.
func BenchmarkApply15Fields(b *testing.B) {
	m, err := Compile(benchSpec(), Env{Lookup: benchLookup})
	if err != nil {
		b.Fatal(err)
	}
	rec := benchEvent()
	ctx := context.Background()
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		res, err := m.Apply(ctx, rec)
		if err != nil || len(res.Record.Fields) != 15 {
			b.Fatalf("%v %v", res, err)
		}
	}
	reportCPU(b, start)
}

// reportCPU adds the process CPU time per op since start.
func reportCPU(b *testing.B, start time.Duration) {
	if used := cpuTime() - start; used > 0 {
		b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func BenchmarkApply15FieldsParallel(b *testing.B) {
	m, err := Compile(benchSpec(), Env{Lookup: benchLookup})
	if err != nil {
		b.Fatal(err)
	}
	rec := benchEvent()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := m.Apply(ctx, rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkBaselineCopy15Fields(b *testing.B) {
	rec := benchEvent()
	ctx := context.Background()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	pacific, _ := time.LoadLocation("America/Los_Angeles")
	status := map[string]any{"busy": "Busy", "free": "Free", "tentative": "Tentative"}
	prio := map[string]any{"low": int64(1), "normal": int64(2), "high": int64(3)}
	sub := func(m any, k string) any {
		mm, _ := m.(map[string]any)
		return mm[k]
	}
	conv := func(v any) any {
		s, _ := v.(string)
		t, err := time.ParseInLocation("2006-01-02T15:04:05.9999999", s, pacific)
		if err != nil {
			return nil
		}
		return t.In(berlin)
	}
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		f := rec.Fields
		if f["isCancelled"] != false {
			b.Fatal("filtered")
		}
		out := make(map[string]any, 15)
		out["Subject"] = f["subject"]
		out["Description"] = f["bodyPreview"]
		out["Start"] = conv(sub(f["start"], "dateTime"))
		out["End"] = conv(sub(f["end"], "dateTime"))
		out["AllDay"] = f["isAllDay"]
		out["Online"] = f["isOnlineMeeting"]
		out["Status"] = status[f["showAs"].(string)]
		out["Priority"] = prio[f["importance"].(string)]
		out["Reminder"] = f["reminderMinutesBeforeStart"]
		loc := f["location"]
		out["Venue"] = sub(loc, "displayName").(string) + ", " + sub(sub(loc, "address"), "city").(string)
		org := sub(sub(f["organizer"], "emailAddress"), "address").(string)
		out["Organizer"] = toLower(org)
		first := sub(sub(f["attendees"].([]any)[0], "emailAddress"), "address").(string)
		out["FirstAttendee"] = first
		out["Owner"], _, _ = benchLookup(ctx, "users-to-crm", rec.Partition)
		out["Account"], _, _ = benchLookup(ctx, "accounts-to-crm", domainOf(org))
		if c, ok, _ := benchLookup(ctx, "contacts-to-crm", first); ok {
			out["Contact"] = c
		} else {
			out["Contact"] = "none"
		}
		if len(out) != 15 {
			b.Fatal(out)
		}
	}
	reportCPU(b, start)
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func domainOf(s string) string {
	for i := range s {
		if s[i] == '@' {
			return s[i+1:]
		}
	}
	return ""
}
