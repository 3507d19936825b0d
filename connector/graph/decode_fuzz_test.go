package graph

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// The oracle: the decoder as it was before the one-pass decoder, kept
// word for word — encoding/json into maps, then conversion in place. The
// decoder must give the same pages, items, warnings and errors.

func oracleDecodePage(d *decoder, body []byte) (deltaPage, connector.Diagnostics, error) {
	var raw struct {
		Value     []map[string]any `json:"value"`
		NextLink  string           `json:"@odata.nextLink"`
		DeltaLink string           `json:"@odata.deltaLink"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return deltaPage{}, nil, fmt.Errorf("decoding a page of %s: %w", d.entity, err)
	}
	p := deltaPage{NextLink: raw.NextLink, DeltaLink: raw.DeltaLink, Items: make([]deltaItem, 0, len(raw.Value))}
	var warns connector.Diagnostics
	for i, m := range raw.Value {
		it, err := oracleItem(d, m)
		if err != nil {
			warns = append(warns, connector.Warnf(connector.Internal, "item %d of a %s page cannot be decoded; skipped", i, d.entity).WithDetail("%v", err))
			continue
		}
		p.Items = append(p.Items, it)
	}
	return p, warns, nil
}

func oracleDecodeOne(d *decoder, body []byte) (deltaItem, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return deltaItem{}, fmt.Errorf("decoding a %s: %w", d.entity, err)
	}
	return oracleItem(d, m)
}

func oracleItem(d *decoder, m map[string]any) (deltaItem, error) {
	id, _ := m["id"].(string)
	if id == "" {
		return deltaItem{}, fmt.Errorf("item has no id")
	}
	if rm, ok := m["@removed"].(map[string]any); ok {
		reason, _ := rm["reason"].(string)
		if reason == "" {
			reason = "deleted"
		}
		return deltaItem{ID: id, Removed: reason}, nil
	}
	for k, v := range m {
		if strings.HasPrefix(k, "@") || strings.Contains(k, "@odata.") {
			delete(m, k)
			continue
		}
		ft, known := d.fields[k]
		if !known && len(d.fields) > 0 {
			delete(m, k)
			continue
		}
		cv, err := oracleConvert(v, ft)
		if err != nil {
			return deltaItem{}, fmt.Errorf("field %s: %w", k, err)
		}
		m[k] = cv
	}
	return deltaItem{ID: id, Fields: m}, nil
}

func oracleConvert(v any, t *schema.Type) (any, error) {
	switch x := v.(type) {
	case nil, bool:
		return x, nil
	case string:
		if t == nil {
			return x, nil
		}
		switch t.Kind {
		case schema.Timestamp:
			ts, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				return nil, fmt.Errorf("%q is not a timestamp", x)
			}
			return ts, nil
		case schema.Date:
			dt, err := connector.ParseDate(x)
			if err != nil {
				return nil, err
			}
			return dt, nil
		case schema.Bool:
			if b, err := strconv.ParseBool(x); err == nil {
				return b, nil
			}
			return nil, fmt.Errorf("%q is not a boolean", x)
		case schema.Bytes:
			b, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return nil, fmt.Errorf("not base64: %w", err)
			}
			return b, nil
		}
		return x, nil
	case float64:
		if t != nil && t.Kind == schema.Double {
			return x, nil
		}
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), nil
		}
		if t != nil && t.Kind == schema.Int {
			return nil, fmt.Errorf("%v is not an integer", x)
		}
		return x, nil
	case []any:
		var elem *schema.Type
		if t != nil && t.Kind == schema.Collection {
			elem = t.Elem
		}
		for i, e := range x {
			c, err := oracleConvert(e, elem)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			x[i] = c
		}
		return x, nil
	case map[string]any:
		var fields []schema.Field
		if t != nil && t.Kind == schema.Complex {
			fields = t.Fields
		}
		for k, e := range x {
			if strings.HasPrefix(k, "@odata.") {
				delete(x, k)
				continue
			}
			var ft *schema.Type
			for i := range fields {
				if fields[i].Name == k {
					ft = &fields[i].Type
					break
				}
			}
			switch e.(type) {
			case string, map[string]any, []any, float64:
			default:
				continue
			}
			c, err := oracleConvert(e, ft)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			x[k] = c
		}
		return x, nil
	}
	return nil, fmt.Errorf("unexpected JSON value %T", v)
}

// oracleItemErrors lists every error oracleItem may give for m (it walks
// maps in Go's random order, so with several bad members any one of them
// may be named). m is not changed.
func oracleItemErrors(d *decoder, m map[string]any) []string {
	if m == nil {
		return []string{"item has no id"}
	}
	if id, _ := m["id"].(string); id == "" {
		return []string{"item has no id"}
	}
	if _, ok := m["@removed"].(map[string]any); ok {
		return nil
	}
	var out []string
	for k, v := range m {
		if strings.HasPrefix(k, "@") || strings.Contains(k, "@odata.") {
			continue
		}
		ft, known := d.fields[k]
		if !known && len(d.fields) > 0 {
			continue
		}
		for _, e := range oracleErrors(v, ft) {
			out = append(out, "field "+k+": "+e)
		}
	}
	return out
}

func oracleErrors(v any, t *schema.Type) []string {
	switch x := v.(type) {
	case string, float64:
		if _, err := oracleConvert(x, t); err != nil {
			return []string{err.Error()}
		}
	case []any:
		var elem *schema.Type
		if t != nil && t.Kind == schema.Collection {
			elem = t.Elem
		}
		for i, e := range x {
			if errs := oracleErrors(e, elem); len(errs) > 0 {
				for j := range errs {
					errs[j] = fmt.Sprintf("[%d]: %s", i, errs[j])
				}
				return errs
			}
		}
	case map[string]any:
		var fields []schema.Field
		if t != nil && t.Kind == schema.Complex {
			fields = t.Fields
		}
		var out []string
		for k, e := range x {
			if strings.HasPrefix(k, "@odata.") {
				continue
			}
			var ft *schema.Type
			for i := range fields {
				if fields[i].Name == k {
					ft = &fields[i].Type
					break
				}
			}
			for _, s := range oracleErrors(e, ft) {
				out = append(out, k+": "+s)
			}
		}
		return out
	}
	return nil
}

// sameValue is reflect.DeepEqual that also tells -0 from +0.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) || (x == nil) != (y == nil) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) || (x == nil) != (y == nil) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func sameItem(a, b deltaItem) bool {
	return a.ID == b.ID && a.Removed == b.Removed && (a.Fields == nil) == (b.Fields == nil) &&
		(a.Fields == nil || sameValue(a.Fields, b.Fields))
}

// checkPage holds decodePage to the oracle on body.
func checkPage(t testing.TB, d *decoder, body []byte) {
	t.Helper()
	got, gotWarns, gotErr := d.decodePage(body)
	want, wantWarns, wantErr := oracleDecodePage(d, body)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("%s page %q: error %v, oracle %v", d.entity, body, gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	if got.NextLink != want.NextLink || got.DeltaLink != want.DeltaLink {
		t.Fatalf("%s page %q: links %q %q, oracle %q %q", d.entity, body, got.NextLink, got.DeltaLink, want.NextLink, want.DeltaLink)
	}
	if len(got.Items) != len(want.Items) || (got.Items == nil) != (want.Items == nil) {
		t.Fatalf("%s page %q: %d items, oracle %d", d.entity, body, len(got.Items), len(want.Items))
	}
	for i := range got.Items {
		if !sameItem(got.Items[i], want.Items[i]) {
			t.Fatalf("%s page %q: item %d\n got %#v\nwant %#v", d.entity, body, i, got.Items[i], want.Items[i])
		}
	}
	if len(gotWarns) != len(wantWarns) {
		t.Fatalf("%s page %q: warnings %v, oracle %v", d.entity, body, gotWarns, wantWarns)
	}
	var raw struct {
		Value []map[string]any `json:"value"`
	}
	if len(gotWarns) > 0 {
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Fatal(err)
		}
	}
	for i := range gotWarns {
		g, w := gotWarns[i], wantWarns[i]
		if g.Summary != w.Summary || g.Code != w.Code || g.Severity != w.Severity {
			t.Fatalf("%s page %q: warning %d %+v, oracle %+v", d.entity, body, i, g, w)
		}
		if g.Detail != w.Detail {
			var n int
			if _, err := fmt.Sscanf(g.Summary, "item %d of", &n); err != nil {
				t.Fatal(err)
			}
			if possible := oracleItemErrors(d, raw.Value[n]); !slices.Contains(possible, g.Detail) {
				t.Fatalf("%s page %q: warning %d detail %q, oracle may say only %q", d.entity, body, i, g.Detail, possible)
			}
		}
	}
}

// checkOne holds decodeOne to the oracle on body.
func checkOne(t testing.TB, d *decoder, body []byte) {
	t.Helper()
	got, gotErr := d.decodeOne(body)
	want, wantErr := oracleDecodeOne(d, body)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%s item %q: error %v, oracle %v", d.entity, body, gotErr, wantErr)
	}
	if gotErr != nil {
		if gotErr.Error() == wantErr.Error() {
			return
		}
		var m map[string]any
		if json.Unmarshal(body, &m) == nil && slices.Contains(oracleItemErrors(d, m), gotErr.Error()) {
			return
		}
		t.Fatalf("%s item %q: error %v, oracle %v", d.entity, body, gotErr, wantErr)
	}
	if !sameItem(got, want) {
		t.Fatalf("%s item %q:\n got %#v\nwant %#v", d.entity, body, got, want)
	}
	// decoder.item, for maps encoding/json made, agrees too.
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s item %q: decoded, but encoding/json says %v", d.entity, body, err)
	}
	if viaMap, err := d.item(m); err != nil || !sameItem(viaMap, got) {
		t.Fatalf("%s item %q: item() gives %#v, %v; decodeOne %#v", d.entity, body, viaMap, err, got)
	}
}

// equivalenceDecoders are the decoders the equivalence tests run: the
// mailbox entities and user of the real schema, and a decoder without a
// schema (group and driveItem pages).
func equivalenceDecoders(t testing.TB) []*decoder {
	s := realSchema(t)
	var out []*decoder
	for _, name := range []string{"event", "contact", "todoTask", "message", "user"} {
		e, ok := s.Entity(name)
		if !ok {
			t.Fatalf("entity %s not in the schema", name)
		}
		out = append(out, newDecoder(e))
	}
	return append(out, newDecoder(&schema.Entity{Name: "other"}))
}

// equivalenceBodies are the JSON files of ../shared/reference/graph-examples
// and ../shared/testdata.
func equivalenceBodies(t testing.TB) map[string][]byte {
	dir := sharedDir(t)
	out := map[string][]byte{}
	for _, root := range []string{filepath.Join(dir, "reference", "graph-examples"), filepath.Join(dir, "testdata")} {
		err := filepath.WalkDir(root, func(path string, de os.DirEntry, err error) error {
			if err != nil || de.IsDir() || !strings.HasSuffix(path, ".json") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			out[path] = b
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d JSON files under %s", len(out), dir)
	}
	return out
}

// TestDecodeEquivalenceExamples decodes every page and item of the real
// examples with every decoder, as a page and as a single item, and holds
// the result to the oracle; each item of every page is also decoded alone.
func TestDecodeEquivalenceExamples(t *testing.T) {
	decs := equivalenceDecoders(t)
	items := 0
	for path, body := range equivalenceBodies(t) {
		var page struct {
			Value []json.RawMessage `json:"value"`
		}
		_ = json.Unmarshal(body, &page)
		for _, d := range decs {
			checkPage(t, d, body)
			checkOne(t, d, body)
			for _, it := range page.Value {
				checkOne(t, d, it)
				items++
			}
		}
		_ = path
	}
	if items < 50 {
		t.Errorf("only %d items checked", items)
	}
}

// trickyBodies are pages and items at the edges of JSON and of the
// conversions; the fuzz test starts from them too.
var trickyBodies = []string{
	``, ` `, `null`, ` null `, `{}`, `[]`, `"x"`, `1`, `true`, `{"value":[]}`, `{"value":null}`,
	`{"value":[null]}`, `{"value":[1]}`, `{"value":["x"]}`, `{"value":{}}`, `{"value":7}`,
	`{"value":[{}]}`, `{"value":[{"id":""}]}`, `{"value":[{"id":7}]}`, `{"value":[{"id":null}]}`,
	`{"VALUE":[{"id":"a"}],"@ODATA.NEXTLINK":"n"}`, `{"@odata.nextLin\u212a":"kelvin"}`,
	`{"value":[{"id":"a","x":1}],"value":[{"id":"b"}]}`,
	`{"value":[{"id":"a"},{"id":"b","y":2}],"value":[{"z":3}],"value":[{"id":"c"},{"w":4}]}`,
	`{"value":[{"id":"a"}],"value":[],"value":[{"x":1}]}`,
	`{"value":[{"id":"a"}],"value":null,"value":[{"x":1}]}`,
	`{"value":[{"id":"a"}],"value":[null],"value":[{"x":1}]}`,
	`{"@odata.nextLink":"a","@odata.nextLink":null}`, `{"@odata.nextLink":1}`, `{"@odata.deltaLink":{}}`,
	`{"value":[]} x`, `{"value":[]}}`, `{"value":[],}`, `{"value":[1,]}`, `{"a":1 "b":2}`, `{"a" 1}`,
	`{"value":[{"id":"a","@odata.etag":1e400}]}`, `{"x":1e400}`, `{"value":[{"id":"a","n":1e400}]}`,
	`{"value":[{"id":"a","n":-0,"m":-0.0,"o":1e2,"p":1.5,"q":12345678901234567890,"r":9007199254740993}]}`,
	`{"value":[{"id":"a","n":01}]}`, `{"value":[{"id":"a","n":-}]}`, `{"value":[{"id":"a","n":1.}]}`,
	`{"value":[{"id":"a","n":1e}]}`, `{"value":[{"id":"a","n":.5}]}`, `{"value":[{"id":"a","n":+1}]}`,
	`{"value":[{"id":"a","t":tru}]}`, `{"value":[{"id":"a","t":nul}]}`, `{"value":[{"id":"a","t":True}]}`,
	`{"value":[{"id":"a\ud83d\ude00","s":"\ud83d","u":"\ude00x","v":"\ud83d\u0041","w":"\uD83D\uDE00\uFFFD"}]}`,
	`{"value":[{"id":"a","s":"\u00e9\u0000\/\b\f\n\r\t\"\\"}]}`, `{"value":[{"id":"a","s":"\x"}]}`,
	`{"value":[{"id":"a","s":"\u12"}]}`, `{"value":[{"id":"a","s":"\u12G4"}]}`,
	"{\"value\":[{\"id\":\"a\",\"s\":\"tab\there\"}]}", "{\"value\":[{\"id\":\"a\",\"s\":\"bad \xff\xfe utf8 \xed\xa0\x80 \xc3\"}]}",
	"{\"value\":[{\"id\":\"\xe2\x82\",\"k\xff\":1}]}", "\xef\xbb\xbf{}", "{\"value\":[{\"id\":\"a\",\"s\":\"\x7f\u007f\"}]}",
	`{"value":[{"id":"a","start":"bad","start":"2024-01-01T00:00:00Z"}]}`,
	`{"value":[{"id":"a","lastModifiedDateTime":"2024-01-01T00:00:00Z","lastModifiedDateTime":"bad"}]}`,
	`{"value":[{"id":"a","lastModifiedDateTime":"bad1","lastModifiedDateTime":"bad2"}]}`,
	`{"id":"a","attendees":[{"status":{"time":"x","time":"y"}}]}`,
	`{"value":[{"id":"a","lastModifiedDateTime":"2024-05-01T10:20:30.1234567+02:00","createdDateTime":"x","changeKey":"y"}]}`,
	`{"value":[{"id":"a","lastModifiedDateTime":"2024-05-01T10:20:30.1234567+02:00","createdDateTime":"x","reminderMinutesBeforeStart":1.5}]}`,
	`{"value":[{"id":"a","reminderMinutesBeforeStart":1e300,"isAllDay":"true","isReminderOn":"yes"}]}`,
	`{"value":[{"id":"a","attendees":[{"status":{"time":"x"}},{"status":{"time":"y","response":1}}]}]}`,
	`{"value":[{"id":"a","location":{"coordinates":{"latitude":1,"longitude":-0,"@odata.type":"x"},"x":{"y":1.0}}}]}`,
	`{"value":[{"id":"a","@removed":{"reason":"changed"}},{"id":"b","@removed":{}},{"id":"c","@removed":{"reason":1}},{"id":"d","@removed":null,"subject":"s"}]}`,
	`{"value":[{"id":"a","@removed":{"reason":"changed","reason":null}}]}`,
	`{"value":[{"id":"a","@removed":"x","lastModifiedDateTime":"bad"}]}`,
	`{"value":[{"id":"a","@removed":{"reason":"deleted"},"lastModifiedDateTime":"bad"}]}`,
	`{"value":[{"id":"a","subject@odata.type":"x","@odata.etag":"e","@x":1,"a@odata.b":2}]}`,
	`{"value":[{"id":"a","birthday":"2024-02-30","singleValueExtendedProperties":[]}]}`,
	`{"value":[{"id":"a","birthday":"2024-02-03T00:00:00Z"}]}`,
	`{"value":[{"id":"a","dueDateTime":{"dateTime":"2024-01-01T00:00:00","timeZone":"UTC"}}]}`,
	`{"id":"a","hasAttachments":"1","isRead":"F","importance":"high"}`,
	`{"id":"a","contentBytes":"aGVsbG8=","photo":"!!"}`,
	`{"id":"a"} {"id":"b"}`, `{"id":"a"`, `{"id":"a",}`, `{"id"}`, `{"id":"a","b":[1,2,3,{"c":[[]]}]}`,
	`{"id":"a","x":{"y":{"@odata.type":"t","z":1}}}`, `{"id":"a","x":{},"y":[],"z":""}`,
	// Values recurring across items and kinds (the decoder caches them
	// by kind), and items whose members change places (the decoder
	// expects those of the item before).
	`{"value":[{"id":"a","subject":"2024-01-01T00:00:00Z","createdDateTime":"2024-01-01T00:00:00Z","lastModifiedDateTime":"2024-01-01T00:00:00Z"},` +
		`{"id":"b","createdDateTime":"2024-01-01T00:00:00Z","subject":"2024-01-01T00:00:00Z","birthday":"2024-01-01","categories":["2024-01-01"]}]}`,
	`{"value":[{"id":"a","lastModifiedDateTime":"bad"},{"id":"b","lastModifiedDateTime":"bad"},{"id":"c","lastModifiedDateTime":"2024-01-01T00:00:00Z"},{"id":"d","birthday":"2024-01-01T00:00:00Z"}]}`,
	`{"value":[{"@odata.etag":"e","id":"a","subject":"s","isAllDay":true,"categories":[]},{"subject":"t","@odata.etag":"e","isAllDay":"false","id":"b","categories":[]},` +
		`{"@odata.etag":"e","subject":"u","id":"c","subject":1},{"@odata.etag":"e","id":"d","subj\u0065ct":"v","x":1,"isAllDay":2},{"id":"e","@odata.etag":"e","subject":"w","@removed":{}}]}`,
	`{"value":[{"id":"a","start":{"dateTime":"2024-01-01T09:00:00.0000000","timeZone":"W. Europe Standard Time"},"originalStartTimeZone":"W. Europe Standard Time"},` +
		`{"id":"b","originalStartTimeZone":"W. Europe Standard Time","start":{"timeZone":"W. Europe Standard Time","dateTime":"2024-01-01T09:00:00.0000000"}}]}`,
}

// TestDecodeEquivalenceTricky holds the decoder to the oracle on the
// tricky bodies, and checks some of the answers outright.
func TestDecodeEquivalenceTricky(t *testing.T) {
	decs := equivalenceDecoders(t)
	for _, b := range trickyBodies {
		for _, d := range decs {
			checkPage(t, d, []byte(b))
			checkOne(t, d, []byte(b))
		}
	}
	// Nesting: encoding/json accepts 10,000 levels and no more.
	for _, depth := range []int{9999, 10000, 10001, 10002} {
		inner := strings.Repeat("[", depth-3) + strings.Repeat("]", depth-3)
		body := []byte(`{"value":[{"id":"a","x":` + inner + `}]}`)
		for _, d := range decs {
			checkPage(t, d, body)
		}
		_, _, err := decs[0].decodePage(body)
		if (err == nil) != (depth <= 10000) {
			t.Errorf("depth %d: error %v", depth, err)
		}
	}
	// Outright: a few answers, in case oracle and decoder went wrong alike.
	ev := decs[0]
	if _, _, err := ev.decodePage([]byte(`{"value":[]} x`)); err == nil {
		t.Error("trailing garbage accepted")
	}
	if _, _, err := ev.decodePage([]byte("{\"value\":[{\"id\":\"a\",\"subject\":\"a\tb\"}]}")); err == nil {
		t.Error("control character in a string accepted")
	}
	p, _, err := ev.decodePage([]byte("{\"value\":[{\"id\":\"a\",\"subject\":\"\xff\\ud800\\ud83d\\ude00\"}]}"))
	if err != nil || p.Items[0].Fields["subject"] != "\uFFFD\uFFFD\U0001F600" {
		t.Errorf("subject = %q, %v", p.Items[0].Fields["subject"], err)
	}
}

// FuzzDecodeEquivalence holds decodePage and decodeOne to the oracle on
// arbitrary bodies, starting from the real examples and the tricky bodies.
func FuzzDecodeEquivalence(f *testing.F) {
	for _, b := range equivalenceBodies(f) {
		f.Add(b)
	}
	for _, b := range trickyBodies {
		f.Add([]byte(b))
	}
	decs := equivalenceDecoders(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, d := range decs {
			checkPage(t, d, body)
			checkOne(t, d, body)
		}
	})
}

// TestDecodeKeepsNoReferenceToInput checks that records own their
// strings: overwriting a page body after decoding it, and decoding other
// pages meanwhile (which reuses the pooled working memory), leaves the
// records as the oracle decodes the original body.
func TestDecodeKeepsNoReferenceToInput(t *testing.T) {
	decs := equivalenceDecoders(t)
	bodies := equivalenceBodies(t)
	for _, extra := range trickyBodies {
		bodies[extra] = []byte(extra)
	}
	for name, original := range bodies {
		for _, d := range decs {
			body := slices.Clone(original)
			got, _, gotErr := d.decodePage(body)
			one, oneErr := d.decodeOne(body)
			for i := range body {
				body[i] = 'x'
			}
			for _, other := range trickyBodies[:20] {
				_, _, _ = d.decodePage([]byte(other))
			}
			want, _, wantErr := oracleDecodePage(d, original)
			if (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("%s: %v, oracle %v", name, gotErr, wantErr)
			}
			for i := range got.Items {
				if !sameItem(got.Items[i], want.Items[i]) {
					t.Fatalf("%s: item %d changed with the body: %#v", name, i, got.Items[i])
				}
			}
			wantOne, wantOneErr := oracleDecodeOne(d, original)
			if oneErr == nil && (wantOneErr != nil || !sameItem(one, wantOne)) {
				t.Fatalf("%s: item changed with the body: %#v", name, one)
			}
		}
	}
}

// TestDecodeConcurrently decodes pages with one decoder from several
// goroutines at once (write runs share a decoder between their jobs).
func TestDecodeConcurrently(t *testing.T) {
	ev := equivalenceDecoders(t)[0]
	bodies := equivalenceBodies(t)
	var pages [][]byte
	for _, b := range bodies {
		pages = append(pages, b)
	}
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		go func(g int) {
			for k := 0; k < 20; k++ {
				body := pages[(g+k)%len(pages)]
				got, _, gotErr := ev.decodePage(body)
				want, _, wantErr := oracleDecodePage(ev, body)
				if (gotErr == nil) != (wantErr == nil) || len(got.Items) != len(want.Items) {
					errs <- fmt.Sprintf("%q: %v / %v", body, gotErr, wantErr)
					return
				}
				for i := range got.Items {
					if !sameItem(got.Items[i], want.Items[i]) {
						errs <- fmt.Sprintf("item %d differs: %#v", i, got.Items[i])
						return
					}
				}
			}
			errs <- ""
		}(g)
	}
	for g := 0; g < 8; g++ {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}

// seriesMasterBodies are series master answers in the plain form and in
// the forms decodeSeriesMaster leaves to encoding/json.
var seriesMasterBodies = []string{
	`{"recurrence":{"pattern":{"type":"weekly","interval":1,"daysOfWeek":["monday"]},"range":{"type":"endDate","startDate":"2024-01-01","endDate":"2024-06-30","recurrenceTimeZone":"UTC","numberOfOccurrences":0}}}`,
	`{"@odata.context":"x","@odata.etag":"W/\"1\"","id":"AAMk=","recurrence":{"range":{"type":"noEnd","startDate":"2024-01-01"}},"subject":"s","n":1e400}`,
	`{"recurrence":null}`, `{}`, `null`, `[]`, `{"recurrence":{}}`, `{"recurrence":{"range":null}}`,
	`{"recurrence":{"range":{"type":null,"startDate":"2024-01-01","endDate":null}}}`,
	`{"recurrence":{"range":{"type":"endDate","startDate":"2024-01-01"}},"recurrence":null}`,
	`{"recurrence":{"range":{"startDate":"a"}},"recurrence":{"range":{"endDate":"b"}}}`,
	`{"Recurrence":{"range":{"startDate":"2024-01-01"}}}`, `{"recurrence":{"RANGE":{"startDate":"2024-01-01"}}}`,
	`{"recurrence":{"range":{"StartDate":"2024-01-01","startDate":"2024-01-02"}}}`,
	`{"recurrence":{"range":{"startDate":"2024-01-01","startDate":"2024-01-02"}}}`,
	`{"recurrence":{"range":{"startDate":"\u0032024-01-01","type":"end\"Date"}}}`,
	"{\"recurrence\":{\"range\":{\"startDate\":\"2024-01-01\xff\"}}}", `{"re\u0063urrence":{"range":{"startDate":"x"}}}`,
	`{"recurrence":5}`, `{"recurrence":{"range":7}}`, `{"recurrence":{"range":{"startDate":7}}}`,
	`{"recurrence":{"range":{"startDate":"2024-01-01"}}} x`, `{"recurrence":{"range":{"startDate":"2024-01-01"}}`,
	`{"recurrence":[{"range":{}}]}`, `{"recurrence":{"range":{"startDate":"2024-01-01"},"range":{}}}`,
	`{"recurrenc\u212a":{}}`, `{"x":{"recurrence":{"range":{"startDate":"y"}}}}`,
}

// checkSeriesMaster holds decodeSeriesMaster to json.Unmarshal on body.
func checkSeriesMaster(t *testing.T, body []byte) {
	t.Helper()
	got, gotErr := decodeSeriesMaster(body)
	var want seriesMaster
	wantErr := json.Unmarshal(body, &want)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("%q: error %v, encoding/json %v", body, gotErr, wantErr)
	}
	if gotErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: %+v, encoding/json %+v", body, got.Recurrence, want.Recurrence)
	}
}

// TestDecodeSeriesMaster holds the series master decoder to encoding/json,
// and checks that the plain form is read without it.
func TestDecodeSeriesMaster(t *testing.T) {
	for _, b := range seriesMasterBodies {
		checkSeriesMaster(t, []byte(b))
	}
	m, ok := scanSeriesMaster([]byte(seriesMasterBodies[0]))
	if !ok || m.Recurrence == nil || m.Recurrence.Range != (recurrenceRange{Type: "endDate", StartDate: "2024-01-01", EndDate: "2024-06-30"}) {
		t.Errorf("plain form: %+v, %v", m.Recurrence, ok)
	}
}

// FuzzDecodeSeriesMaster holds the series master decoder to encoding/json
// on arbitrary answers.
func FuzzDecodeSeriesMaster(f *testing.F) {
	for _, b := range seriesMasterBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSeriesMaster(t, body)
	})
}
