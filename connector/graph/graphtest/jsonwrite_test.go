package graphtest

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// stdJSON is what the emulator wrote before appendJSON: encoding/json with
// HTML escaping off, without the trailing newline.
func stdJSON(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
}

func checkSameJSON(t *testing.T, what string, v any) {
	t.Helper()
	want := stdJSON(t, v)
	got, err := appendJSON(nil, v)
	if err != nil {
		t.Fatalf("%s: appendJSON: %v", what, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: appendJSON wrote\n%s\nencoding/json writes\n%s", what, got, want)
	}
}

// TestAppendJSONMatchesEncoding holds appendJSON to encoding/json's bytes
// for the emulator's rendered items, the documentation's examples and
// values chosen for their escapes and number forms.
func TestAppendJSONMatchesEncoding(t *testing.T) {
	tricky := []any{
		"", "plain", `quote " and backslash \`, "<html> & </html>", "tab\tnew\nline\rcr\bbs\fff",
		"\x00\x01\x1f\x7f", "caf\u00e9 \u65e5\u672c", "line\u2028para\u2029", "bad \xff utf8 \xe2\x82",
		"emoji \U0001F600", 0.0, -0.0, 1.0, -1.5, 1e20, 1e21, 123456789e15, 1e-6, 1e-7, 5e-324,
		math.MaxFloat64, 0.1, 1.0 / 3, int64(math.MaxInt64), int64(math.MinInt64), 42, int32(-7),
		true, false, nil, []any{}, []any(nil), map[string]any{}, map[string]any(nil), []string{"a", "b"},
		[]string(nil), []map[string]any{{"b": 1.0, "a": "x"}}, map[string]any{"é": 1.0, "Z": 2.0, "a": 3.0, "@odata.x": 4.0},
		map[string]string{"k": "v<"}, time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), json.Number("12.50"),
		renderedJSON(`{"a":[1,2]}`),
	}
	for i, v := range tricky {
		checkSameJSON(t, "value "+itoa(i), v)
		checkSameJSON(t, "nested value "+itoa(i), map[string]any{"v": v, "list": []any{v, v}})
	}

	s, err := Start(Options{Users: 3, EventsPerUser: 40, ContactsPerUser: 5, TasksPerUser: 5, MessagesPerUser: 5, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.mu.Lock()
	for _, box := range s.boxes {
		for _, it := range box.events {
			for _, tz := range []string{"", "Pacific Standard Time"} {
				checkSameJSON(t, "event "+it.id, s.renderEvent(it, tz, tz == ""))
			}
		}
		for _, co := range []*collection{&contactsColl, &tasksColl, &messagesColl} {
			for _, it := range co.items(box) {
				checkSameJSON(t, co.kind+" "+it.id, co.render(it, true))
			}
		}
	}
	s.mu.Unlock()
	checkAppendEvent(t, s)

	dir := filepath.Join("..", "..", "..", "..", "shared", "reference", "graph-examples")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Logf("skipping the documentation examples: %s is absent", dir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if json.Unmarshal(b, &v) != nil {
			continue // some examples are not pure JSON (comments, placeholders)
		}
		checkSameJSON(t, filepath.Base(f), v)
	}
}

// checkAppendEvent holds appendEvent, which writes an event straight from
// its stored data, to the JSON of the rendered map, for every Prefer
// combination that changes a rendering.
func checkAppendEvent(t *testing.T, s *Server) {
	t.Helper()
	// A series with an exception and an HTML body, so every branch of the
	// rendering is met.
	user := "user1@contoso.com"
	at := time.Now().UTC().Truncate(time.Hour).Add(48 * time.Hour)
	id, err := s.PutEvent(user, map[string]any{"subject": "Weekly <b>", "body": map[string]any{"contentType": "html", "content": "<p>Hello &amp; \u2028</p>"},
		"start":      map[string]any{"dateTime": at.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"end":        map[string]any{"dateTime": at.Add(time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"recurrence": map[string]any{"pattern": map[string]any{"type": "daily", "interval": 1}, "range": map[string]any{"type": "numbered", "startDate": at.Format("2006-01-02"), "numberOfOccurrences": 3}}})
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	box, _ := s.boxOf(user)
	for _, occ := range box.events {
		if occ.master == intID(id) {
			if _, e := s.patchEvent(box, occ, map[string]any{"subject": "moved"}); e != nil {
				t.Fatal(e)
			}
			break
		}
	}
	for _, box := range s.boxes {
		for _, it := range box.events {
			for _, p := range []preferences{{}, {immutableID: true, timeZone: "Pacific Standard Time"}, {bodyText: true}} {
				c := &call{s: s, w: httptest.NewRecorder(), prefer: p}
				tz := p.timeZone
				m := c.renderEvent(it, tz)
				m["@odata.type"] = "#microsoft.graph.event"
				want := stdJSON(t, m)
				c = &call{s: s, w: httptest.NewRecorder(), prefer: p}
				got, err := c.appendEvent(nil, it, tz, kv{k: "@odata.type", v: "#microsoft.graph.event"})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("event %s (%s) with %+v: appendEvent wrote\n%s\nthe rendered map is\n%s", it.id, it.etype, p, got, want)
				}
			}
		}
	}
}

// TestAppendJSONErrors: values encoding/json refuses are refused.
func TestAppendJSONErrors(t *testing.T) {
	for _, v := range []any{math.NaN(), math.Inf(1), map[string]any{"x": math.Inf(-1)}, func() {}} {
		if _, err := appendJSON(nil, v); err == nil {
			t.Errorf("appendJSON(%T) gave no error", v)
		}
	}
}

// TestKeyOrder: ordering by rank gives slices.Sort's order, and names
// outside the known ones fall back to sorting.
func TestKeyOrder(t *testing.T) {
	o := newKeyOrder([]string{"b", "a", "@x", "Z", "é"}, []string{"a", "c"})
	for _, keys := range [][]string{{"c", "a", "@x"}, {"é", "Z", "b"}, {"unknown", "a", "b"}, {}, {"a"}} {
		want := slices.Clone(keys)
		slices.Sort(want)
		got := slices.Clone(keys)
		o.sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("sort(%q) = %q, want %q", keys, got, want)
		}
	}
}

// TestStoredRenderingMatches renders every event of a seeded tenant
// three ways — from its stored encoding (appendEvent), from its map
// property by property (appendEventData) and as the map encoded
// (renderEvent, project, appendJSON) — in several zones, id forms, body
// types and $selects: the bytes are the same. It does so again after each
// kind of change (masters, occurrences becoming exceptions, cancelled
// occurrences, attendee copies made and cancelled, new series, deleted
// series), and every event must have an encoding of its current data:
// the changes keep them.
func TestStoredRenderingMatches(t *testing.T) {
	s, err := Start(Options{Users: 3, EventsPerUser: 60, Seed: 31})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	check := func(phase string) {
		t.Helper()
		s.mu.RLock()
		defer s.mu.RUnlock()
		kinds := map[string]int{}
		for _, box := range s.boxes {
			for _, it := range box.events {
				if it.deleted {
					continue
				}
				if it.storedFor() == nil {
					t.Fatalf("%s: %s %s has no encoding of its data", phase, it.etype, it.id)
				}
				kinds[it.etype]++
				for _, tz := range []string{"", "Pacific Standard Time"} {
					for _, p := range []preferences{{}, {immutableID: true}, {bodyText: true}} {
						for _, sel := range [][]string{nil, {"recurrence", "id"}, {"SUBJECT", "id", "transactionId"}} {
							rec := httptest.NewRecorder()
							c := &call{s: s, w: rec, prefer: p}
							extra := kv{k: "@odata.type", v: "#microsoft.graph.event"}
							got, err1 := c.appendEventSelect(nil, it, tz, sel, extra)
							m := project(c.renderEvent(it, tz), sel, nil)
							m[extra.k] = extra.v
							want, err2 := appendJSON(nil, m)
							if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
								t.Fatalf("%s: %s %s (%q, %+v, $select %q):\n got %s (%v)\nwant %s (%v)", phase, it.etype, it.id, tz, p, sel, got, err1, want, err2)
							}
							if sel == nil {
								data, err := c.appendEventData(nil, it, tz, extra)
								if err != nil || !bytes.Equal(data, want) {
									t.Fatalf("%s: %s %s (%q, %+v) from its map:\n got %s (%v)\nwant %s", phase, it.etype, it.id, tz, p, data, err, want)
								}
							}
						}
					}
				}
			}
		}
		for _, k := range []string{"singleInstance", "seriesMaster", "occurrence"} {
			if kinds[k] == 0 {
				t.Fatalf("%s: no %s rendered (%v): the test does not exercise it", phase, k, kinds)
			}
		}
	}
	check("seeded")
	users := s.Users()
	u0, u1 := users[0].UserPrincipalName, users[1].UserPrincipalName
	var masters, singles []string
	for _, ev := range s.Events(u0) {
		switch ev["type"] {
		case "seriesMaster":
			masters = append(masters, ev["id"].(string))
		case "singleInstance":
			singles = append(singles, ev["id"].(string))
		}
	}
	if len(masters) < 3 || len(singles) < 2 {
		t.Fatalf("seeded %d series and %d single events, want 3 and 2", len(masters), len(singles))
	}
	// A master's subject and categories: its occurrences share its data.
	if err := s.PatchEvent(u0, masters[0], map[string]any{"subject": "changed series", "categories": []any{"Blue category"}}); err != nil {
		t.Fatal(err)
	}
	check("master changed")
	// One occurrence becomes an exception, another is cancelled.
	var occ []string
	for _, ev := range s.Instances(u0) {
		if ev["seriesMasterId"] == masters[1] {
			occ = append(occ, ev["id"].(string))
		}
	}
	if len(occ) < 2 {
		t.Fatalf("series %s has %d occurrences", masters[1], len(occ))
	}
	if err := s.PatchEvent(u0, occ[0], map[string]any{"subject": "moved", "location": map[string]any{"displayName": "Elsewhere"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEvent(u0, occ[1]); err != nil {
		t.Fatal(err)
	}
	check("exception and cancellation")
	// A meeting with an attendee of the tenant: a copy in their calendar,
	// then cancelled there when the attendee is removed (the copy's data
	// changes in place).
	attendee := []any{map[string]any{"emailAddress": map[string]any{"address": users[1].Mail, "name": users[1].DisplayName}}}
	id, err := s.PutEvent(u0, map[string]any{"subject": "meeting", "transactionId": "tx-1",
		"start": map[string]any{"dateTime": "2026-12-01T10:00:00", "timeZone": "UTC"},
		"end":   map[string]any{"dateTime": "2026-12-01T11:00:00", "timeZone": "UTC"},
		"recurrence": map[string]any{"pattern": map[string]any{"type": "daily", "interval": int64(1)},
			"range": map[string]any{"type": "numbered", "startDate": "2026-12-01", "numberOfOccurrences": int64(3)}},
		"attendees": attendee})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PatchEvent(u0, singles[0], map[string]any{"attendees": attendee, "isOnlineMeeting": true}); err != nil {
		t.Fatal(err)
	}
	check("meetings copied")
	if err := s.PatchEvent(u0, id, map[string]any{"attendees": []any{}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PatchEvent(u0, singles[0], map[string]any{"attendees": []any{}}); err != nil {
		t.Fatal(err)
	}
	check("copies cancelled")
	// The series' time moves (its occurrences are made again) and a
	// series is deleted.
	if err := s.PatchEvent(u0, masters[1], map[string]any{"start": map[string]any{"dateTime": "2026-12-02T09:00:00", "timeZone": "W. Europe Standard Time"},
		"end": map[string]any{"dateTime": "2026-12-02T09:30:00", "timeZone": "W. Europe Standard Time"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEvent(u0, masters[2]); err != nil {
		t.Fatal(err)
	}
	check("series moved and deleted")
	_ = u1
}

// TestAppendQueryEscape holds appendQueryEscape to url.QueryEscape.
func TestAppendQueryEscape(t *testing.T) {
	for _, s := range []string{"", "AAkALgAAabc-_xyzAAA=", "a b+c&d=e/f?g#h%i~j.k", "é\x00\xff\"'<>", "AAMkAGI2x_2026-12-01AAA="} {
		if got, want := string(appendQueryEscape(nil, []byte(s))), url.QueryEscape(s); got != want {
			t.Errorf("appendQueryEscape(%q) = %q, want %q", s, got, want)
		}
	}
}

// FuzzAppendGraphTime holds appendGraphTime to appendQuotedTime in
// graphTimeLayout, in UTC and in zones, years outside 0-9999 included.
func FuzzAppendGraphTime(f *testing.F) {
	f.Add(int64(1795000000), int64(123456789), uint8(0))
	f.Add(int64(-62135596800), int64(0), uint8(1))
	f.Add(int64(253402300799), int64(999999999), uint8(2))
	f.Add(int64(-70000000000), int64(5), uint8(3))
	zones := []string{"UTC", "Pacific Standard Time", "India Standard Time", "Newfoundland Standard Time"}
	f.Fuzz(func(t *testing.T, sec, nsec int64, z uint8) {
		loc, _, _ := zone(zones[int(z)%len(zones)])
		tm := time.Unix(sec, nsec%1e9).In(loc)
		for _, utc := range []bool{false, true} {
			layout := graphTimeLayout
			if utc {
				layout += "Z"
			}
			if got, want := appendGraphTime(nil, tm, utc), appendQuotedTime(nil, tm, layout); !bytes.Equal(got, want) {
				t.Errorf("appendGraphTime(%v, %v) = %s, want %s", tm, utc, got, want)
			}
		}
	})
}

// FuzzAppendQueryEscape holds appendQueryEscape to url.QueryEscape.
func FuzzAppendQueryEscape(f *testing.F) {
	f.Add("AAkALgAAabc-_xyzAAA=")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendQueryEscape(nil, []byte(s))), url.QueryEscape(s); got != want {
			t.Errorf("appendQueryEscape(%q) = %q, want %q", s, got, want)
		}
	})
}

// BenchmarkRenderDeltaEvents renders every event of a seeded mailbox as a
// calendarView delta page does (appendEvent: the stored properties from
// their encoding), against encoding each event's map property by property
// (appendEventData) and building each event's map and encoding it
// (renderEvent + appendJSON) in the same run.
func BenchmarkRenderDeltaEvents(b *testing.B) {
	s, err := Start(Options{Users: 1, EventsPerUser: 500, Seed: 13})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	var box *mailbox
	for _, bx := range s.boxes {
		box = bx
	}
	var items []*item
	for _, it := range box.events {
		if !it.deleted && it.etype != "seriesMaster" {
			items = append(items, it)
		}
	}
	c := &call{s: s, prefer: preferences{immutableID: true}}
	extra := kv{k: "@odata.type", v: "#microsoft.graph.event"}
	b.Run("map", func(b *testing.B) {
		var dst []byte
		b.ReportAllocs()
		for b.Loop() {
			for _, it := range items {
				m := c.renderEvent(it, "")
				m["@odata.type"] = extra.v
				dst, _ = appendJSON(dst[:0], m)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/event")
	})
	b.Run("data", func(b *testing.B) {
		var dst []byte
		b.ReportAllocs()
		for b.Loop() {
			for _, it := range items {
				dst, _ = c.appendEventData(dst[:0], it, "", extra)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/event")
	})
	b.Run("delta", func(b *testing.B) {
		var dst []byte
		b.ReportAllocs()
		for b.Loop() {
			for _, it := range items {
				dst, _ = c.appendEvent(dst[:0], it, "", extra)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/event")
	})
}

// BenchmarkSeedEvents seeds a tenant of 20 mailboxes of 500 events: what
// storing events costs, their encoding (storedJSON) included.
func BenchmarkSeedEvents(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		s, err := Start(Options{Users: 20, EventsPerUser: 500, Seed: 13})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// TestPropNameSets: encodings of data maps with the same property names
// share one name set; other names, even joined to the same text, get
// their own.
func TestPropNameSets(t *testing.T) {
	var ps propNameSets
	a, _ := ps.intern([]string{"ab", "c"}, nil)
	b, _ := ps.intern([]string{"a", "bc"}, nil)
	a2, _ := ps.intern([]string{"ab", "c"}, nil)
	r, _ := ps.intern([]string{"recurrence", "x\"y"}, nil)
	if a != a2 || a == b {
		t.Fatalf("intern: same names give %p and %p, other names %p", a, a2, b)
	}
	if !slices.Equal(b.names, []string{"a", "bc"}) || string(b.heads) != `"a":"bc":` || b.recurrence {
		t.Errorf("names %q heads %s recurrence %v", b.names, b.heads, b.recurrence)
	}
	if string(r.head(1)) != `"x\"y":` || !r.recurrence {
		t.Errorf("head(1) = %s, recurrence %v", r.head(1), r.recurrence)
	}
}

// TestSortFields: fields after the sorted ones are put in place, and of
// fields of one name the last is kept, as appendJSONOverlay keeps it.
func TestSortFields(t *testing.T) {
	fs := []kv{{k: "a"}, {k: "c", v: 1}, {k: "e"}, {k: "b"}, {k: "c", v: 2}, {k: "@x"}, {k: "f"}, {k: "b", v: 3}}
	got := sortFields(fs, 3)
	want := []kv{{k: "@x"}, {k: "a"}, {k: "b", v: 3}, {k: "c", v: 2}, {k: "e"}, {k: "f"}}
	if len(got) != len(want) {
		t.Fatalf("sortFields = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].k != want[i].k || got[i].v != want[i].v {
			t.Fatalf("sortFields = %v, want %v", got, want)
		}
	}
}
