package graph

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
)

func TestTransactionID(t *testing.T) {
	a, b := transactionID("crm", "key-1"), transactionID("crm", "key-1")
	if a != b || len(a) != 36 {
		t.Fatalf("not stable: %s %s", a, b)
	}
	if transactionID("crm", "key-2") == a || transactionID("other", "key-1") == a {
		t.Error("different keys or connections share a transactionId")
	}
}

func TestWriteBody(t *testing.T) {
	s := realSchema(t)
	ev, _ := s.Entity("event")
	when := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	body, d := writeBody(ev, connector.Record{Fields: map[string]any{
		"id": "X", "changeKey": "ck", "user": "a@b.c", "isDeleted": false, "subject": "Hi",
		"start":         map[string]any{"dateTime": "2026-11-23T09:00:00", "timeZone": "UTC"},
		"originalStart": when,
		"attendees":     []any{map[string]any{"emailAddress": map[string]any{"address": "x@y.z"}}},
	}})
	if d != nil {
		t.Fatal(d)
	}
	for _, k := range []string{"id", "changeKey", "user", "isDeleted", "originalStart"} {
		if _, ok := body[k]; ok {
			t.Errorf("%s sent", k)
		}
	}
	if body["subject"] != "Hi" || body["attendees"] == nil {
		t.Errorf("body %v", body)
	}
	_, d = writeBody(ev, connector.Record{Fields: map[string]any{"subjekt": "typo"}})
	if d == nil || d.Field != "subjekt" || d.Code != connector.InvalidInput {
		t.Errorf("unknown field: %v", d)
	}
	if v := wireValue(map[string]any{"t": when, "d": connector.Date{Year: 2026, Month: 1, Day: 2}}).(map[string]any); v["t"] != "2026-11-23T09:00:00Z" || v["d"] != "2026-01-02" {
		t.Errorf("wire values %v", v)
	}
	// Objects and arrays render as JSON alike whether or not they hold
	// something to render; a null object or array inside a value is
	// rendered empty, as it always was.
	for _, tc := range []struct {
		in   any
		want string
	}{
		{map[string]any{"dateTime": "2026-11-23T09:00:00", "timeZone": "UTC"}, `{"dateTime":"2026-11-23T09:00:00","timeZone":"UTC"}`},
		{map[string]any{"a": []any{"x", 1.5, map[string]any{"b": nil}}}, `{"a":["x",1.5,{"b":null}]}`},
		{map[string]any{"a": map[string]any(nil), "b": []any(nil), "c": []any{map[string]any(nil)}}, `{"a":{},"b":[],"c":[{}]}`},
		{map[string]any{"a": []any{when, []byte("hi")}}, `{"a":["2026-11-23T09:00:00Z","aGk="]}`},
		{map[string]any(nil), `{}`},
		{[]any(nil), `[]`},
	} {
		got, err := json.Marshal(wireValue(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("wireValue(%#v) renders %s (%v), want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestTargetMailbox(t *testing.T) {
	op := connector.WriteOp{Record: connector.Record{Fields: map[string]any{"organizer": map[string]any{"emailAddress": map[string]any{"address": "Anna@Contoso.com"}}}}}
	if mb, f := targetMailbox("event", op); mb != "anna@contoso.com" || f != "organizer.emailAddress.address" {
		t.Errorf("organizer: %s %s", mb, f)
	}
	op.Record.Fields["user"] = "bob@contoso.com"
	if mb, f := targetMailbox("event", op); mb != "bob@contoso.com" || f != "user" {
		t.Errorf("user field: %s %s", mb, f)
	}
	op.Partition = "carl@contoso.com"
	if mb, _ := targetMailbox("event", op); mb != "bob@contoso.com" {
		t.Errorf("the user field must win over the partition: %s", mb)
	}
	delete(op.Record.Fields, "user")
	delete(op.Record.Fields, "organizer")
	if mb, _ := targetMailbox("event", op); mb != "carl@contoso.com" {
		t.Errorf("partition: %s", mb)
	}
	if mb, _ := targetMailbox("contact", connector.WriteOp{Record: connector.Record{Fields: map[string]any{}}}); mb != "" {
		t.Errorf("no mailbox: %s", mb)
	}
}
