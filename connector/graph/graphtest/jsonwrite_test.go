package graphtest

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http/httptest"
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

// TestOccurrenceRenderingMatches renders every occurrence of seeded series
// both ways — from its master's encoded data (appendOccurrence) and
// property by property (appendEvent) — in several zones and id forms, also
// after the masters changed: the bytes are the same.
func TestOccurrenceRenderingMatches(t *testing.T) {
	s, err := Start(Options{Users: 2, EventsPerUser: 80, Seed: 31})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	check := func(phase string) int {
		t.Helper()
		s.mu.RLock()
		defer s.mu.RUnlock()
		n := 0
		for _, box := range s.boxes {
			for _, it := range box.events {
				if it.deleted {
					continue
				}
				for _, tz := range []string{"", "Pacific Standard Time"} {
					for _, immutable := range []bool{false, true} {
						c := &call{s: s, prefer: preferences{immutableID: immutable}}
						base := s.occurrenceBase(box, it)
						if base == nil {
							continue
						}
						n++
						extra := kv{k: "@odata.type", v: "#microsoft.graph.event"}
						want, err1 := c.appendEvent(nil, it, tz, extra)
						got, err2 := c.appendOccurrence(nil, it, base, tz, extra)
						if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
							t.Fatalf("%s: occurrence %s (%s, immutable %v):\n got %s (%v)\nwant %s (%v)", phase, it.id, tz, immutable, got, err2, want, err1)
						}
					}
				}
			}
		}
		return n
	}
	if n := check("seeded"); n == 0 {
		t.Fatal("no occurrence rendered from its master's data: the test does not exercise it")
	}
	// Change every master's subject and add a transactionId (left out of
	// occurrences): the encodings made before must not be used.
	for _, u := range s.Users() {
		for _, ev := range s.Events(u.UserPrincipalName) {
			if ev["type"] != "seriesMaster" {
				continue
			}
			if err := s.PatchEvent(u.UserPrincipalName, ev["id"].(string), map[string]any{"subject": "changed series", "categories": []any{"Blue category"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	check("after the masters changed")
}

// BenchmarkRenderDeltaEvents renders every event of a seeded mailbox as a
// calendarView delta page does (appendEvent, or appendOccurrence from the
// master's encoded data), against building each event's map and encoding
// it (renderEvent + appendJSON) in the same run.
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
	b.Run("delta", func(b *testing.B) {
		var dst []byte
		b.ReportAllocs()
		for b.Loop() {
			for _, it := range items {
				dst = dst[:0]
				if base := s.occurrenceBase(box, it); base != nil {
					dst, _ = c.appendOccurrence(dst, it, base, "", extra)
				} else {
					dst, _ = c.appendEvent(dst, it, "", extra)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/event")
	})
}
