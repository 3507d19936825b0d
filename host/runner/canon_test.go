package runner

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
)

// randValue returns a random field value of the documented value types,
// nested up to depth.
func randValue(r *rand.Rand, depth int) any {
	strs := []string{"", "plain", "Ünïcødé ✓", "<b>&amp;</b>", "quote\" back\\slash", "ctl\x01\b\f\n\r\t", "bad\xffutf8", "line\u2028sep\u2029",
		"$dollar", "emoji 😀", "tab\tand\x7f"}
	floats := []float64{0, -0.0, 1.5, -2.25, 3, 1e21, 1e20, 1e-7, 1.5e-7, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1), math.Inf(-1)}
	n := 10
	if depth <= 0 {
		n = 8
	}
	switch r.IntN(n) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return strs[r.IntN(len(strs))]
	case 3:
		return r.Int64() - r.Int64()
	case 4:
		return floats[r.IntN(len(floats))]
	case 5:
		b := make([]byte, r.IntN(6))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	case 6:
		return time.Date(2026, 1, 2, 3, 4, 5, r.IntN(1e9), time.FixedZone("x", 3600*(r.IntN(5)-2)))
	case 7:
		return connector.Date{Year: 2026, Month: time.March, Day: 1 + r.IntN(28)}
	case 8:
		l := make([]any, r.IntN(4))
		for i := range l {
			l[i] = randValue(r, depth-1)
		}
		if r.IntN(5) == 0 {
			return []any(nil)
		}
		return l
	default:
		m := map[string]any{}
		for i := range r.IntN(5) {
			k := strs[r.IntN(len(strs))] + fmt.Sprint(i)
			m[k] = randValue(r, depth-1)
		}
		return m
	}
}

// TestAppendTaggedIsJSONOfTag: the direct encoder gives the bytes of
// json.Marshal(tag(v)), so hashes stay what earlier versions stored.
func TestAppendTaggedIsJSONOfTag(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		fields := map[string]any{}
		for j := range r.IntN(12) {
			fields[fmt.Sprintf("f%d", j)] = randValue(r, 3)
		}
		tagged, err := tagMap(fields)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(tagged)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendTaggedMap(nil, fields)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("case %d: %v\n got %s\nwant %s", i, fields, got, want)
		}
	}
}

func BenchmarkHashFields(b *testing.B) {
	fields := map[string]any{"subject": "Quarterly review with Contoso", "start": map[string]any{"dateTime": "2026-01-05T09:00:00.0000000", "timeZone": "UTC"},
		"end": map[string]any{"dateTime": "2026-01-05T10:00:00.0000000", "timeZone": "UTC"}, "isAllDay": false, "showAs": "busy",
		"organizer":  map[string]any{"emailAddress": map[string]any{"address": "anna@contoso.com", "name": "Anna"}},
		"attendees":  []any{map[string]any{"type": "required", "emailAddress": map[string]any{"address": "ben@contoso.com", "name": "Ben"}}},
		"importance": "normal", "sensitivity": "normal", "isCancelled": false, "changeKey": "DwAAABYAAAB", "categories": []any{},
		"lastModifiedDateTime": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "bodyPreview": "Agenda: numbers, plans & next steps", "sequence": int64(3)}
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			if _, err := hashFields(fields); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tag+json.Marshal", func(b *testing.B) {
		for b.Loop() {
			t, _ := tagMap(fields)
			if _, err := json.Marshal(t); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestEncodeRecordIsJSONOfRecord: encodeRecord writes what json.Marshal of
// recordJSON wrote, and decodeRecord reads it back.
func TestEncodeRecordIsJSONOfRecord(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		rec := connector.Record{ID: fmt.Sprintf("id<%d>", i), Fields: map[string]any{"a": randValue(r, 2), "b": randValue(r, 2)}}
		if r.IntN(2) == 0 {
			rec.Partition, rec.Version, rec.Deleted = "u@x", "v&1", true
			rec.Modified = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
		}
		fields, err := tagMap(rec.Fields)
		if err != nil {
			t.Fatal(err)
		}
		j := recordJSON{ID: rec.ID, Partition: rec.Partition, Version: rec.Version, Deleted: rec.Deleted, Fields: fields}
		if !rec.Modified.IsZero() {
			j.Modified = rec.Modified.Format(time.RFC3339Nano)
		}
		want, _ := json.Marshal(j)
		got, err := encodeRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("got %s\nwant %s", got, want)
		}
		back, err := decodeRecord(got)
		if err != nil || back.ID != rec.ID || back.Deleted != rec.Deleted || !back.Modified.Equal(rec.Modified) {
			t.Fatalf("decoded %+v %v", back, err)
		}
	}
}
