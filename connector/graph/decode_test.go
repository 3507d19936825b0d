package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/graph/graphtest"
	"github.com/syncplane/syncplane/schema"
)

// exampleEntity says which entity decodes an example file, by name.
func exampleEntity(name string) string {
	switch {
	case strings.HasPrefix(name, "event-"):
		return "event"
	case strings.HasPrefix(name, "contact-"):
		return "contact"
	case strings.HasPrefix(name, "todotask-"):
		return "todoTask"
	case strings.HasPrefix(name, "message-"):
		return "message"
	case strings.HasPrefix(name, "user-delta"):
		return "user"
	case strings.Contains(name, "delta"):
		return "other" // group and driveItem delta: decoded without a schema
	}
	return ""
}

// placeholderExamples are documentation examples whose items hold
// placeholders instead of values ("datetime-value") or lack an id; the
// decoder must report those items as warnings, not fail the page.
var placeholderExamples = map[string]bool{
	"event-delta-response-1.json":   true,
	"contact-delta-response-1.json": true,
	"message-delta-response-1.json": true,
}

func TestDecodeEveryExample(t *testing.T) {
	s := realSchema(t)
	dir := filepath.Join(sharedDir(t), "reference", "graph-examples")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s: %v", dir, err)
	}
	decoded := 0
	for _, f := range files {
		name := filepath.Base(f)
		ent := exampleEntity(name)
		if ent == "" || strings.HasPrefix(name, "OBSERVED-") || strings.Contains(name, "request") || strings.Contains(name, "error") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var dec *decoder
			if e, ok := s.Entity(ent); ok {
				dec = newDecoder(e)
			} else {
				dec = newDecoder(&schema.Entity{Name: ent})
			}
			var items []deltaItem
			var warns connector.Diagnostics
			if isCollection(body) {
				page, w, err := dec.decodePage(body)
				if err != nil {
					t.Fatal(err)
				}
				if page.NextLink == "" && page.DeltaLink == "" && strings.Contains(name, "delta") {
					t.Errorf("delta page without nextLink or deltaLink")
				}
				items, warns = page.Items, w
			} else {
				it, err := dec.decodeOne(body)
				if err != nil {
					t.Fatal(err)
				}
				items = []deltaItem{it}
			}
			if placeholderExamples[name] {
				if len(warns) == 0 {
					t.Errorf("placeholder example decoded without warnings")
				}
				return
			}
			if len(warns) > 0 {
				t.Fatalf("warnings: %v", warns)
			}
			for _, it := range items {
				decoded++
				if it.Removed != "" {
					continue
				}
				rec := record(it, "samanthab@contoso.onmicrosoft.com")
				if err := rec.Normalize(); err != nil {
					t.Errorf("record %s does not normalize: %v", it.ID, err)
				}
				if _, ok := rec.Fields["@odata.etag"]; ok {
					t.Errorf("annotation kept")
				}
				for _, k := range []string{"lastModifiedDateTime", "createdDateTime", "receivedDateTime"} {
					if v, ok := rec.Fields[k]; ok && v != nil {
						if _, isTime := v.(time.Time); !isTime {
							t.Errorf("%s is %T, want time.Time", k, v)
						}
					}
				}
			}
		})
	}
	if decoded < 10 {
		t.Errorf("only %d items decoded across the examples", decoded)
	}
}

// mallocs is the number of heap allocations made so far.
func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

func isCollection(body []byte) bool {
	var probe map[string]json.RawMessage
	_ = json.Unmarshal(body, &probe)
	_, ok := probe["value"]
	return ok
}

func TestDecodeTypes(t *testing.T) {
	s := realSchema(t)
	ev, _ := s.Entity("event")
	body := []byte(`{"value":[
	 {"id":"A","@odata.etag":"W/\"x\"","lastModifiedDateTime":"2024-05-01T10:20:30.1234567Z","reminderMinutesBeforeStart":15,
	  "start":{"dateTime":"2024-05-02T09:00:00.0000000","timeZone":"UTC"},"isAllDay":false,"changeKey":"ck1",
	  "attendees":[{"type":"required","emailAddress":{"address":"a@contoso.com","name":"A"},"status":{"response":"none","time":"0001-01-01T00:00:00Z"}}],
	  "location":{"coordinates":{"latitude":47.6105,"longitude":-122}}},
	 {"id":"B","@removed":{"reason":"deleted"}}],
	 "@odata.deltaLink":"https://g/v1.0/users/x/calendarView/delta?$deltatoken=T"}`)
	page, warns, err := newDecoder(ev).decodePage(body)
	if err != nil || len(warns) > 0 {
		t.Fatal(err, warns)
	}
	if page.DeltaLink == "" || len(page.Items) != 2 || page.Items[1].Removed != "deleted" {
		t.Fatalf("page = %+v", page)
	}
	rec := record(page.Items[0], "u@contoso.com")
	if ts, ok := rec.Fields["lastModifiedDateTime"].(time.Time); !ok || ts.Nanosecond() != 123456700 {
		t.Errorf("lastModifiedDateTime = %#v", rec.Fields["lastModifiedDateTime"])
	}
	if rec.Version != "ck1" || rec.Modified.IsZero() || rec.Fields["user"] != "u@contoso.com" || rec.Fields["isDeleted"] != false {
		t.Errorf("record = %+v", rec)
	}
	if n, ok := rec.Fields["reminderMinutesBeforeStart"].(int64); !ok || n != 15 {
		t.Errorf("reminderMinutesBeforeStart = %#v", rec.Fields["reminderMinutesBeforeStart"])
	}
	coord := rec.Fields["location"].(map[string]any)["coordinates"].(map[string]any)
	if _, ok := coord["longitude"].(float64); !ok {
		t.Errorf("longitude (Edm.Double written as an integer) = %#v, want float64", coord["longitude"])
	}
	att := rec.Fields["attendees"].([]any)[0].(map[string]any)
	if _, ok := att["status"].(map[string]any)["time"].(time.Time); !ok {
		t.Errorf("attendees[0].status.time not a timestamp")
	}
	if _, ok := rec.Fields["start"].(map[string]any)["dateTime"].(string); !ok {
		t.Errorf("start.dateTime (Edm.String in dateTimeTimeZone) must stay a string")
	}
	// A bad timestamp spoils one item, not the page.
	bad := []byte(`{"value":[{"id":"C","lastModifiedDateTime":"yesterday"},{"id":"D"}],"@odata.deltaLink":"x"}`)
	page, warns, err = newDecoder(ev).decodePage(bad)
	if err != nil || len(warns) != 1 || len(page.Items) != 1 || page.Items[0].ID != "D" {
		t.Fatalf("bad item: page=%+v warns=%v err=%v", page, warns, err)
	}
	if !strings.Contains(warns[0].Detail, "lastModifiedDateTime") {
		t.Errorf("warning does not name the field: %v", warns[0])
	}
	if _, _, err := newDecoder(ev).decodePage([]byte(`{"value":[`)); err == nil {
		t.Error("truncated page decoded")
	}
}

// emulatorPage is the first calendarView delta page, of 100 events, that
// the emulator serves for a mailbox seeded as BenchmarkInitialSync seeds
// them: the page shape whose decoding that benchmark measures.
func emulatorPage(b *testing.B) []byte {
	e := startEmu(b, graphtest.Options{Users: 1, EventsPerUser: 100, Seed: 13})
	c := e.connect(b, map[string]any{"page_size": 100}, nil)
	ctx := context.Background()
	parts, err := c.ListPartitions(ctx, "event")
	if err != nil {
		b.Fatal(err)
	}
	mailbox := parts.Partitions[0].ID
	start, end := c.window(c.now())
	link, err := c.initialLink(ctx, "event", mailbox, start, end)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := c.client.do(ctx, request{method: http.MethodGet, url: link, header: c.preferHeader(100, "event"), mailbox: mailbox})
	if err != nil {
		b.Fatal(err)
	}
	return resp.body
}

// BenchmarkDecodePage compares, in one run, four ways to decode a
// calendarView delta page: a plain encoding/json decode into map[string]any
// (the baseline), the connector's one-pass decoder (typed records), the
// decoder it replaced (encoding/json into maps, then conversion in place;
// the oracle of decode_fuzz_test.go), and msgraph-sdk-go's path (kiota's
// JSON parse node into models.EventCollectionResponse). Three pages:
// "docs" is the real first page of concepts/delta-query-events.md (2
// events), "100" holds 100 copies of the real event of event-get.md (5.4 KB
// each) under a calendarView delta link, and "emulator" is a page of 100
// events as the emulator serves them to BenchmarkInitialSync (1.7 KB
// each). Compare ns/op and allocs/op of the sub-benchmarks of each page as
// ratios; ns/record is ns/op divided by the page's events.
func BenchmarkDecodePage(b *testing.B) {
	s := realSchema(b)
	ev, _ := s.Entity("event")
	dir := filepath.Join(sharedDir(b), "reference", "graph-examples")
	body, err := os.ReadFile(filepath.Join(dir, "event-get-response-1.json"))
	if err != nil {
		b.Fatal(err)
	}
	docsPage, err := os.ReadFile(filepath.Join(dir, "event-delta-calendarview-round1-page1.json"))
	if err != nil {
		b.Fatal(err)
	}
	// A page of 100 copies of a real, large event body.
	var buf bytes.Buffer
	buf.WriteString(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Collection(event)","@odata.deltaLink":"https://graph.microsoft.com/v1.0/users/x/calendarView/delta?$deltatoken=abc","value":[`)
	for i := 0; i < 100; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(bytes.TrimSpace(body))
	}
	buf.WriteString("]}")
	for _, pg := range []struct {
		name   string
		page   []byte
		events int
	}{{"docs", docsPage, 2}, {"100", buf.Bytes(), 100}, {"emulator", emulatorPage(b), 100}} {
		page, n := pg.page, pg.events
		perRecord := func(b *testing.B, mallocs0 uint64) {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/record")
			b.ReportMetric(float64(mallocs()-mallocs0)/float64(b.N)/float64(n), "allocs/record")
		}
		b.Run(pg.name+"/baseline-json-map", func(b *testing.B) {
			b.SetBytes(int64(len(page)))
			b.ReportAllocs()
			m0 := mallocs()
			for b.Loop() {
				var m map[string]any
				if err := json.Unmarshal(page, &m); err != nil {
					b.Fatal(err)
				}
			}
			perRecord(b, m0)
		})
		b.Run(pg.name+"/connector-decode", func(b *testing.B) {
			b.SetBytes(int64(len(page)))
			b.ReportAllocs()
			dec := newDecoder(ev)
			m0 := mallocs()
			for b.Loop() {
				p, w, err := dec.decodePage(page)
				if err != nil || len(w) > 0 || len(p.Items) != n {
					b.Fatal(err, w)
				}
				for _, it := range p.Items {
					_ = record(it, "u@contoso.com")
				}
			}
			perRecord(b, m0)
		})
		b.Run(pg.name+"/previous-decode", func(b *testing.B) {
			b.SetBytes(int64(len(page)))
			b.ReportAllocs()
			dec := newDecoder(ev)
			m0 := mallocs()
			for b.Loop() {
				p, w, err := oracleDecodePage(dec, page)
				if err != nil || len(w) > 0 || len(p.Items) != n {
					b.Fatal(err, w)
				}
				for _, it := range p.Items {
					_ = record(it, "u@contoso.com")
				}
			}
			perRecord(b, m0)
		})
		// The four in turn within each iteration, so that a machine whose
		// load changes during the run still gives fair ratios.
		b.Run(pg.name+"/interleaved-ratios", func(b *testing.B) {
			dec := newDecoder(ev)
			var base, conn, prev, kiota time.Duration
			for b.Loop() {
				t0 := time.Now()
				var m map[string]any
				if err := json.Unmarshal(page, &m); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				p, _, err := dec.decodePage(page)
				if err != nil || len(p.Items) != n {
					b.Fatal(err)
				}
				for _, it := range p.Items {
					_ = record(it, "u@contoso.com")
				}
				t2 := time.Now()
				if got, _, err := kiotaDecodePage(page); err != nil || got != n {
					b.Fatal(err)
				}
				t3 := time.Now()
				po, _, err := oracleDecodePage(dec, page)
				if err != nil || len(po.Items) != n {
					b.Fatal(err)
				}
				for _, it := range po.Items {
					_ = record(it, "u@contoso.com")
				}
				t4 := time.Now()
				base, conn, kiota, prev = base+t1.Sub(t0), conn+t2.Sub(t1), kiota+t3.Sub(t2), prev+t4.Sub(t3)
			}
			b.ReportMetric(float64(conn)/float64(base), "connector/json")
			b.ReportMetric(float64(prev)/float64(base), "previous/json")
			b.ReportMetric(float64(conn)/float64(prev), "connector/previous")
			b.ReportMetric(float64(kiota)/float64(base), "kiota/json")
			b.ReportMetric(float64(kiota)/float64(conn), "kiota/connector")
		})
		b.Run(pg.name+"/msgraph-sdk-kiota", func(b *testing.B) {
			b.SetBytes(int64(len(page)))
			b.ReportAllocs()
			m0 := mallocs()
			for b.Loop() {
				got, link, err := kiotaDecodePage(page)
				if err != nil || got != n || link == "" {
					b.Fatalf("kiota: %d events, link %q, %v", got, link, err)
				}
			}
			perRecord(b, m0)
		})
	}
}
