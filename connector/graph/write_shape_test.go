package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

// shapeCorpus is the write bodies the shape test renders: Graph's own
// create-event examples (when ../shared is there), and the events,
// contacts and tasks of an emulator read back as the read path decodes
// them and turned into write bodies as Write does, each also with enum
// members in other spellings, top-level nulls, empty collections and
// values the models refuse or drop.
func shapeCorpus(t *testing.T) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	if dir, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "reference", "graph-examples")); err == nil {
		for _, name := range []string{"event-create-online-meeting-request.json", "event-create-recurring-request.json", "event-create-request-1.json"} {
			raw, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				continue
			}
			var body map[string]any
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatal(err)
			}
			out["event"] = append(out["event"], body)
		}
	}
	e := startEmu(t, graphtest.Options{Users: 6, EventsPerUser: 40, ContactsPerUser: 25, TasksPerUser: 25, MessagesPerUser: 1, Seed: 21})
	conn := e.connect(t, nil, nil)
	ctx := context.Background()
	for _, entity := range []string{"event", "contact", "todoTask"} {
		ent, err := conn.entitySchema(ctx, entity)
		if err != nil {
			t.Fatal(err)
		}
		dec := newDecoder(ent)
		for _, u := range e.srv.Users() {
			var items []map[string]any
			switch entity {
			case "event":
				items = e.srv.Events(u.UserPrincipalName)
			case "contact":
				items = e.srv.Contacts(u.UserPrincipalName)
			default:
				items = e.srv.Tasks(u.UserPrincipalName)
			}
			for _, m := range items {
				raw, _ := json.Marshal(m)
				it, err := dec.decodeOne(raw)
				if err != nil {
					t.Fatal(err)
				}
				body, d := writeBody(ent, connector.Record{Fields: it.Fields})
				if d != nil {
					t.Fatal(d)
				}
				out[entity] = append(out[entity], body)
			}
		}
	}
	// Variants: other enum spellings, nulls, empty collections, and values
	// the models refuse (these must be rejected alike).
	out["event"] = append(out["event"],
		map[string]any{"subject": "x", "showAs": "Busy", "importance": "HIGH", "sensitivity": "private", "location": nil, "categories": []any{}},
		map[string]any{"subject": "x", "isOnlineMeeting": true, "onlineMeetingProvider": "TeamsForBusiness", "attendees": []any{}},
		map[string]any{"recurrence": map[string]any{"pattern": map[string]any{"type": "Weekly", "interval": int64(2), "daysOfWeek": []any{"Monday", "WEDNESDAY"}, "firstDayOfWeek": "sunday"},
			"range": map[string]any{"type": "noEnd", "startDate": "2026-01-05", "recurrenceTimeZone": nil}}},
		map[string]any{"subject": "x", "onlineMeetingProvider": "zoom"},
		map[string]any{"attendees": []any{map[string]any{"type": "mandatory", "emailAddress": map[string]any{"address": "a@b.c"}}}},
		map[string]any{"recurrence": map[string]any{"pattern": map[string]any{"type": "daily", "interval": 1.5}}},
		map[string]any{"subject": 12},
		map[string]any{"start": map[string]any{"dateTime": "2026-01-05T10:00:00", "timeZone": "UTC", "colour": "red"}},
		map[string]any{"location": map[string]any{"displayName": "Room", "@odata.type": "#microsoft.graph.location"}},
		map[string]any{"attendees": []any{nil}},
		map[string]any{"body": map[string]any{"contentType": "HTML", "content": "<p>\"quoted\" \\ \u0001 caf\u00e9 \xff</p>"}},
	)
	out["contact"] = append(out["contact"],
		map[string]any{"givenName": "Ada", "birthday": "1815-12-10T00:00:00Z", "emailAddresses": []any{map[string]any{"address": "ada@example.com", "name": nil}}},
		map[string]any{"givenName": "Ada", "birthday": "1815-12-10T00:00:00.5Z"},
		map[string]any{"givenName": "Ada", "birthday": "1815-12-10"},
		map[string]any{"givenName": "Ada", "children": []any{"a", int64(3)}},
		map[string]any{"givenName": nil, "homeAddress": map[string]any{}, "businessPhones": []any{}},
	)
	out["todoTask"] = append(out["todoTask"],
		map[string]any{"title": "Call", "importance": "High", "status": "InProgress", "isReminderOn": true},
		map[string]any{"title": "x", "isReminderOn": "yes"},
		map[string]any{"title": "x", "status": "done"},
		map[string]any{"title": "x", "dueDateTime": map[string]any{"dateTime": "2026-12-01T09:00:00", "timeZone": "UTC"}, "recurrence": nil},
	)
	return out
}

// TestShapeBodiesMatchModels renders every corpus body, with and without
// a stamp, through the shapes (encodeBody with shapes) and through the
// models (encodeModels): the bodies are equal as JSON, and a body one
// refuses the other refuses naming the same field. Most of the corpus must
// take the shape path, or the comparison would prove little.
func TestShapeBodiesMatchModels(t *testing.T) {
	corpus := shapeCorpus(t)
	ms := newModelShapes()
	total, shaped := 0, 0
	for entity, bodies := range corpus {
		for i, body := range bodies {
			for _, stamp := range []string{"", "6f0c2a4e-1b3d-4c5e-8f7a-9b0c1d2e3f40"} {
				total++
				if _, err := ms.renderShaped(entity, body, stamp); err == nil {
					shaped++
				}
				fast, fd := encodeBody(ms, entity, body, stamp)
				slow, sd := encodeModels(entity, body, stamp)
				name := fmt.Sprintf("%s %d stamp=%q", entity, i, stamp)
				if (fd == nil) != (sd == nil) || fd != nil && (fd.Field != sd.Field || fd.Code != sd.Code) {
					t.Errorf("%s: diagnostics differ: shapes %v, models %v", name, fd, sd)
					continue
				}
				if fd != nil {
					continue
				}
				var a, b any
				if err := json.Unmarshal(fast, &a); err != nil {
					t.Fatalf("%s: the shape body is not JSON: %v\n%s", name, err, fast)
				}
				_ = json.Unmarshal(slow, &b)
				if !reflect.DeepEqual(a, b) {
					t.Errorf("%s: bodies differ\nshapes %s\nmodels %s", name, fast, slow)
				}
			}
		}
	}
	if total < 1000 || shaped*10 < total*9 {
		t.Errorf("%d of %d bodies took the shape path", shaped, total)
	}
	t.Logf("%d bodies compared, %d rendered from the shapes", total, shaped)
}
