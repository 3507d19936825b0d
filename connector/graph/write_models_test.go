package graph

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestEncodeBodyExamples renders Graph's own create-event request examples
// (a Teams meeting, a weekly series) through the SDK models: the body is
// the example with enum members in the SDK's spelling ("HTML" → "html",
// "Monday" → "monday", which Graph treats alike) and the transactionId.
func TestEncodeBodyExamples(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "reference", "graph-examples")
	for _, name := range []string{"event-create-online-meeting-request.json", "event-create-recurring-request.json", "event-create-request-1.json"} {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Skipf("skipping: %v", err)
			}
			var body map[string]any
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatal(err)
			}
			out, d := encodeBody(nil, "event", body, "7e1a5b7c-0000-4000-8000-000000000001")
			if d != nil {
				t.Fatal(d)
			}
			var got map[string]any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			// The models name their type (@odata.type), as the SDK sends
			// them; Graph accepts the annotation.
			got = withoutODataType(got).(map[string]any)
			want := normaliseEnums(body).(map[string]any)
			want["transactionId"] = "7e1a5b7c-0000-4000-8000-000000000001"
			if !reflect.DeepEqual(got, want) {
				t.Errorf("rendered\n%s\nwant\n%v", out, want)
			}
		})
	}
}

// normaliseEnums lower-cases the enum members the examples spell otherwise.
func normaliseEnums(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if s, ok := e.(string); ok && (k == "contentType") {
				e = strings.ToLower(s)
			}
			if k == "daysOfWeek" {
				var days []any
				for _, d := range e.([]any) {
					days = append(days, strings.ToLower(d.(string)))
				}
				e = days
			}
			out[k] = normaliseEnums(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normaliseEnums(e)
		}
		return out
	}
	return v
}

func TestEncodeBodyRejectsAndKeeps(t *testing.T) {
	// An enum member the model does not know is rejected, naming the field,
	// instead of being dropped silently.
	_, d := encodeBody(nil, "event", map[string]any{"subject": "x", "isOnlineMeeting": true, "onlineMeetingProvider": "zoom"}, "")
	if d == nil || d.Field != "onlineMeetingProvider" {
		t.Errorf("unknown provider: %v", d)
	}
	_, d = encodeBody(nil, "event", map[string]any{"attendees": []any{map[string]any{"type": "mandatory", "emailAddress": map[string]any{"address": "a@b.c"}}}}, "")
	if d == nil || d.Field != "attendees[0].type" {
		t.Errorf("unknown attendee type: %v", d)
	}
	// Kiota reads an unknown member inside an enum collection as the first
	// member; that is caught too.
	_, d = encodeBody(nil, "event", map[string]any{"recurrence": map[string]any{"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{"friday", "Funday"}}}}, "")
	if d == nil || d.Field != "recurrence.pattern.daysOfWeek[1]" {
		t.Errorf("unknown day: %v", d)
	}
	// A value of the wrong type names its field.
	_, d = encodeBody(nil, "todoTask", map[string]any{"title": "x", "isReminderOn": "yes"}, "")
	if d == nil || d.Field != "isReminderOn" {
		t.Errorf("wrong type: %v", d)
	}
	// Case-insensitive enum members are spelt as the SDK spells them;
	// top-level nulls (clearing a property on PATCH) are kept.
	out, d := encodeBody(nil, "event", map[string]any{"onlineMeetingProvider": "TeamsForBusiness", "isOnlineMeeting": true, "location": nil, "showAs": "Busy"}, "")
	if d != nil {
		t.Fatal(d)
	}
	var got map[string]any
	_ = json.Unmarshal(out, &got)
	if got["onlineMeetingProvider"] != "teamsForBusiness" || got["showAs"] != "busy" || got["isOnlineMeeting"] != true {
		t.Errorf("rendered %s", out)
	}
	if v, ok := got["location"]; !ok || v != nil {
		t.Errorf("null location not kept: %s", out)
	}
	// Contacts and To Do tasks go through their models too.
	out, d = encodeBody(nil, "contact", map[string]any{"givenName": "Ada", "emailAddresses": []any{map[string]any{"address": "ada@example.com"}}, "birthday": "1815-12-10T00:00:00Z"}, "")
	if d != nil || !strings.Contains(string(out), `"givenName":"Ada"`) || !strings.Contains(string(out), "1815-12-10") {
		t.Errorf("contact %s %v", out, d)
	}
	out, d = encodeBody(nil, "todoTask", map[string]any{"title": "Call", "importance": "high", "dueDateTime": map[string]any{"dateTime": "2026-12-01T09:00:00", "timeZone": "UTC"}}, "")
	if d != nil || !strings.Contains(string(out), `"importance":"high"`) || !strings.Contains(string(out), `"dueDateTime"`) {
		t.Errorf("todo %s %v", out, d)
	}
}

func withoutODataType(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if k != "@odata.type" {
				out[k] = withoutODataType(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = withoutODataType(e)
		}
		return out
	}
	return v
}

// BenchmarkEncodeBody measures rendering an event body through the SDK
// models (kiota parse node, model, kiota serialization writer; sdk-models)
// and from the models' shapes (sdk-shapes, what Write uses) against
// encoding/json on the same map, the baseline, in the same run.
func BenchmarkEncodeBody(b *testing.B) {
	body := map[string]any{
		"subject": "Prep for customer meeting", "body": map[string]any{"contentType": "HTML", "content": "Does this time work for you?"},
		"start":                 map[string]any{"dateTime": "2019-11-20T13:00:00", "timeZone": "Pacific Standard Time"},
		"end":                   map[string]any{"dateTime": "2019-11-20T14:00:00", "timeZone": "Pacific Standard Time"},
		"location":              map[string]any{"displayName": "Cordova conference room"},
		"attendees":             []any{map[string]any{"emailAddress": map[string]any{"address": "AdeleV@contoso.OnMicrosoft.com", "name": "Adele Vance"}, "type": "required"}},
		"allowNewTimeProposals": true, "isOnlineMeeting": true, "onlineMeetingProvider": "teamsForBusiness",
		"recurrence": map[string]any{"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{"Monday"}},
			"range": map[string]any{"type": "endDate", "startDate": "2017-09-04", "endDate": "2017-12-31"}},
	}
	var sdk, plain time.Duration
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(body); err != nil {
				b.Fatal(err)
			}
		}
		plain = b.Elapsed() / time.Duration(b.N)
	})
	// exact spells the enum members as the SDK does (as records read from
	// Graph do); the body above spells two as Graph's examples do, which
	// costs a second and third pass.
	exact := normaliseEnums(body).(map[string]any)
	ms := newModelShapes()
	for _, tc := range []struct {
		name   string
		body   map[string]any
		shapes *modelShapes
	}{{"sdk-models-exact", exact, nil}, {"sdk-models-mixed-case", body, nil}, {"sdk-shapes-exact", exact, ms}, {"sdk-shapes-mixed-case", body, ms}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, d := encodeBody(tc.shapes, "event", tc.body, "7e1a5b7c-0000-4000-8000-000000000001"); d != nil {
					b.Fatal(d)
				}
			}
			sdk = b.Elapsed() / time.Duration(b.N)
			if plain > 0 {
				b.ReportMetric(float64(sdk)/float64(plain), "x-encoding-json")
			}
		})
	}
}
