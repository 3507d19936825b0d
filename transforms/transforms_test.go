package transforms

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
)

func event() connector.Record {
	return connector.Record{ID: "AAMk1", Partition: "adele@contoso.com", Fields: map[string]any{
		"subject":     "Quarterly review",
		"isCancelled": false,
		"showAs":      "busy",
		"start":       map[string]any{"dateTime": "2024-03-31T10:00:00.0000000", "timeZone": "Pacific Standard Time"},
		"attendees": []any{
			map[string]any{"emailAddress": map[string]any{"address": "megan@contoso.com", "name": "Megan"}},
		},
		"organizer": map[string]any{"emailAddress": map[string]any{"address": "adele@contoso.com"}},
	}}
}

func TestApplyBasics(t *testing.T) {
	m, err := Compile(Spec{
		Filter: "isCancelled == false",
		Fields: []FieldSpec{
			{Target: "Subject", Expr: "subject"},
			{Target: "Start", Expr: "start.dateTime", TZ: &TZSpec{From: "start.timeZone", To: "Europe/Berlin"}},
			{Target: "First", Expr: "attendees[0].emailAddress.address"},
			{Target: "Second", Expr: "attendees[1].emailAddress.address"},
			{Target: "Status", Expr: "showAs", Map: map[string]any{"busy": "Busy", "free": "Free"}, Default: "Free", HasDefault: true},
			{Target: "Owner", Expr: `lookup("users", user)`},
			{Target: "Source.id", Expr: "id"},
		},
	}, Env{Lookup: func(_ context.Context, p, id string) (string, bool, error) {
		if p == "users" && id == "adele@contoso.com" {
			return "crm-42", true, nil
		}
		return "", false, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Apply(context.Background(), event())
	if err != nil {
		t.Fatal(err)
	}
	got := res.Record.Fields
	berlin, _ := time.LoadLocation("Europe/Berlin")
	wantStart := time.Date(2024, 3, 31, 19, 0, 0, 0, berlin) // 10:00 PDT = 17:00Z = 19:00 CEST
	if s, ok := got["Start"].(time.Time); !ok || !s.Equal(wantStart) || s.Location().String() != "Europe/Berlin" {
		t.Errorf("Start = %v, want %v", got["Start"], wantStart)
	}
	for k, want := range map[string]any{"Subject": "Quarterly review", "First": "megan@contoso.com", "Second": nil, "Status": "Busy", "Owner": "crm-42"} {
		if got[k] != want {
			t.Errorf("%s = %#v, want %#v", k, got[k], want)
		}
	}
	if src, _ := got["Source"].(map[string]any); src["id"] != "AAMk1" {
		t.Errorf("Source = %#v", got["Source"])
	}
	if res.Record.ID != "" || res.Skipped {
		t.Errorf("record = %+v", res)
	}

	cancelled := event()
	cancelled.Fields["isCancelled"] = true
	if res, err := m.Apply(context.Background(), cancelled); err != nil || !res.Skipped {
		t.Errorf("cancelled event: %+v, %v; want skipped", res, err)
	}
}

func TestRunTimeFailureIsFieldError(t *testing.T) {
	m, err := Compile(Spec{Fields: []FieldSpec{
		{Target: "Subject", Expr: "subject"},
		{Target: "Bad", Expr: "subject + 1", Pos: Position{File: "p.yaml", Line: 9, Column: 7}},
	}}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Apply(context.Background(), event())
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v (%T), want *FieldError", err, err)
	}
	if fe.Field != "Bad" || fe.Pos.Line != 9 {
		t.Errorf("FieldError = %+v", fe)
	}
}
