package transforms

import (
	"errors"
	"strings"
	"testing"

	"github.com/syncplane/syncplane/schema"
)

func str() schema.Type { return schema.Type{Kind: schema.String} }

var emailAddress = schema.Type{Kind: schema.Complex, Name: "microsoft.graph.emailAddress", Fields: []schema.Field{
	{Name: "address", Type: str()}, {Name: "name", Type: str()},
}}

// eventEntity is a reduced Graph event as the Graph connector discovers it.
var eventEntity = &schema.Entity{
	Name: "event",
	Keys: []string{"id"},
	Fields: []schema.Field{
		{Name: "id", Type: str(), ReadOnly: true},
		{Name: "subject", Type: str()},
		{Name: "isCancelled", Type: schema.Type{Kind: schema.Bool}},
		{Name: "showAs", Type: schema.Type{Kind: schema.Enum, Values: []string{"free", "tentative", "busy", "oof", "workingElsewhere", "unknown"}}},
		{Name: "start", Type: schema.Type{Kind: schema.Complex, Fields: []schema.Field{{Name: "dateTime", Type: str()}, {Name: "timeZone", Type: str()}}}},
		{Name: "end", Type: schema.Type{Kind: schema.Complex, Fields: []schema.Field{{Name: "dateTime", Type: str()}, {Name: "timeZone", Type: str()}}}},
		{Name: "attendees", Type: schema.Type{Kind: schema.Collection, Elem: &schema.Type{Kind: schema.Complex, Fields: []schema.Field{
			{Name: "emailAddress", Type: emailAddress}, {Name: "type", Type: str()},
		}}}},
		{Name: "organizer", Type: schema.Type{Kind: schema.Complex, Fields: []schema.Field{{Name: "emailAddress", Type: emailAddress}}}},
		{Name: "reminderMinutesBeforeStart", Type: schema.Type{Kind: schema.Int}},
		{Name: "categories", Type: schema.Type{Kind: schema.Collection, Elem: &schema.Type{Kind: schema.String}}},
		{Name: "extensions", Type: schema.Type{Kind: schema.Any}},
	},
}

// meetingEntity is a CRM-like target.
var meetingEntity = &schema.Entity{
	Name: "meetings",
	Keys: []string{"id"},
	Fields: []schema.Field{
		{Name: "id", Type: str(), ReadOnly: true},
		{Name: "Subject", Type: str()},
		{Name: "Start", Type: schema.Type{Kind: schema.Timestamp}},
		{Name: "Status", Type: schema.Type{Kind: schema.Enum, Values: []string{"Busy", "Free", "Tentative"}}},
		{Name: "Reminder", Type: schema.Type{Kind: schema.Int}},
		{Name: "Cancelled", Type: schema.Type{Kind: schema.Bool}},
		{Name: "Owner", Type: str()},
		{Name: "Address", Type: schema.Type{Kind: schema.Complex, Fields: []schema.Field{{Name: "City", Type: str()}}}},
		{Name: "Extra", Type: schema.Type{Kind: schema.Any}},
	},
}

func TestCompileChecksAgainstSchema(t *testing.T) {
	at := func(col int) Position { return Position{File: "p.yaml", Line: 10, Column: col} }
	for _, tc := range []struct {
		name string
		spec FieldSpec
		want string // the rendered error
	}{
		{"unknown source field", FieldSpec{Target: "Subject", Expr: "subjet", Pos: at(7), ExprPos: at(16)},
			`p.yaml:10:16: Subject: source event has no field "subjet" (did you mean subject?)`},
		{"unknown nested field", FieldSpec{Target: "Subject", Expr: `"x" + start.dateTme`, Pos: at(7), ExprPos: at(16)},
			`p.yaml:10:28: Subject: start has no field "dateTme" (did you mean dateTime?)`},
		{"deep path through a list", FieldSpec{Target: "Owner", Expr: "attendees[0].emailAddress.adress", Pos: at(7), ExprPos: at(14)},
			`p.yaml:10:40: Owner: attendees[].emailAddress has no field "adress" (did you mean address?)`},
		{"member of a list without index", FieldSpec{Target: "Owner", Expr: "attendees.emailAddress", Pos: at(7), ExprPos: at(14)},
			`p.yaml:10:24: Owner: attendees is a list; index it (attendees[0].emailAddress) or use a list function`},
		{"indexing a scalar", FieldSpec{Target: "Owner", Expr: "subject.foo", Pos: at(7), ExprPos: at(14)},
			`p.yaml:10:22: Owner: subject is a string and has no field "foo"`},
		{"type error found by the checker", FieldSpec{Target: "Reminder", Expr: "reminderMinutesBeforeStart + subject", Pos: at(7), ExprPos: at(17)},
			`p.yaml:10:44: Reminder: invalid operation: + (mismatched types int64 and string) in "reminderMinutesBeforeStart + subject"`},
		{"unknown target field", FieldSpec{Target: "Subjcet", Expr: "subject", Pos: at(7)},
			`p.yaml:10:7: Subjcet: target meetings has no field "Subjcet" (did you mean Subject?)`},
		{"unknown nested target field", FieldSpec{Target: "Address.Cty", Expr: "subject", Pos: at(7)},
			`p.yaml:10:7: Address.Cty: target Address has no field "Cty" (did you mean City?)`},
		{"read-only target", FieldSpec{Target: "id", Expr: "subject", Pos: at(7)},
			`p.yaml:10:7: id: target field is read-only`},
		{"result type mismatch", FieldSpec{Target: "Reminder", Expr: "isCancelled", Pos: at(7)},
			`p.yaml:10:7: Reminder: expression yields a bool but the target field is a int`},
		{"nested result type mismatch", FieldSpec{Target: "Reminder", Expr: "start.dateTime", Pos: at(7)},
			`p.yaml:10:7: Reminder: expression yields a string but the target field is a int`},
		{"list into a scalar", FieldSpec{Target: "Subject", Expr: "attendees", Pos: at(7)},
			`p.yaml:10:7: Subject: expression yields a list but the target field is a string`},
		{"picklist value", FieldSpec{Target: "Status", Expr: "showAs", Map: map[string]any{"busy": "Busy", "free": "Fre"}, Pos: at(7)},
			`p.yaml:10:7: Status: mapped value "Fre" is not a value of the target picklist (did you mean Free?)`},
		{"picklist default", FieldSpec{Target: "Status", Expr: "showAs", Map: map[string]any{"busy": "Busy"}, Default: "busy", HasDefault: true, Pos: at(7)},
			`p.yaml:10:7: Status: default "busy" is not a value of the target picklist (did you mean Busy?)`},
		{"lookup of an unknown pipeline", FieldSpec{Target: "Owner", Expr: `lookup("user-to-crm", user)`, Pos: at(7), ExprPos: at(14)},
			`p.yaml:10:21: Owner: lookup: no pipeline named "user-to-crm" (did you mean users-to-crm?)`},
		{"unknown zone name", FieldSpec{Target: "Start", Expr: "start.dateTime", TZ: &TZSpec{From: "start.timeZone", To: "Europe/Berln"}, Pos: at(7)},
			`p.yaml:10:7: Start: tz.to: unknown time zone "Europe/Berln" (did you mean Europe/Berlin?)`},
		{"unknown field in a tz expression", FieldSpec{Target: "Start", Expr: "start.dateTime", TZ: &TZSpec{From: "start.timezone", To: "UTC"}, Pos: at(7)},
			`p.yaml:10:13: Start: start has no field "timezone" (did you mean timeZone?)`},
		{"syntax error", FieldSpec{Target: "Subject", Expr: "subject +", Pos: at(7), ExprPos: at(16)},
			`p.yaml:10:24: Subject: unexpected token EOF in "subject +"`},
		{"reserved name", FieldSpec{Target: "Subject", Expr: "__ctx", Pos: at(7), ExprPos: at(16)},
			`p.yaml:10:16: Subject: reserved name "__ctx"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(Spec{Fields: []FieldSpec{tc.spec}}, Env{Source: eventEntity, Target: meetingEntity, Pipelines: []string{"users-to-crm", "events-to-crm"}})
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("err = %v, want Errors", err)
			}
			if len(es) != 1 || es[0].Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestCompileAcceptsValidMappingsAgainstSchema(t *testing.T) {
	spec := Spec{Filter: "isCancelled == false && showAs != nil", Fields: []FieldSpec{
		{Target: "Subject", Expr: `subject ?? "(no subject)"`},
		{Target: "Start", Expr: "start.dateTime", TZ: &TZSpec{From: "start.timeZone", To: "W. Europe Standard Time"}},
		{Target: "Status", Expr: "showAs", Map: map[string]any{"busy": "Busy", "free": "Free"}, Default: "Tentative", HasDefault: true},
		{Target: "Reminder", Expr: "reminderMinutesBeforeStart * 2"},
		{Target: "Cancelled", Expr: "isCancelled"},
		{Target: "Owner", Expr: `lookup("users-to-crm", organizer.emailAddress.address) ?? user`},
		{Target: "Address.City", Expr: `upper(split(attendees[0].emailAddress.address, "@")[1])`},
		{Target: "Extra", Expr: `{"cats": categories, "ext": extensions.whatever.below, "n": len(filter(attendees, .type == "required"))}`},
		{Target: "id", HasDefault: true, Default: nil, Expr: ""},
	}}
	// id is read-only in the target: drop it from this otherwise valid spec.
	spec.Fields = spec.Fields[:len(spec.Fields)-1]
	if _, err := Compile(spec, Env{Source: eventEntity, Target: meetingEntity, Pipelines: []string{"users-to-crm"}}); err != nil {
		t.Fatalf("Compile: %v", err)
	}
}

func TestCompileReportsEveryError(t *testing.T) {
	_, err := Compile(Spec{Filter: "isCanceled", FilterPos: Position{Line: 3, Column: 13}, Fields: []FieldSpec{
		{Target: "Subject", Expr: "subjet", Pos: Position{Line: 5}},
		{Target: "Subject", Expr: "subject", Pos: Position{Line: 6}},
		{Target: "Owner", Pos: Position{Line: 7}},
	}}, Env{Source: eventEntity, Target: meetingEntity})
	var es Errors
	if !errors.As(err, &es) || len(es) != 4 {
		t.Fatalf("want 4 errors, got %v", err)
	}
	for i, want := range []string{"isCanceled", "subjet", "defined twice", "no expression"} {
		if !strings.Contains(es[i].Error(), want) {
			t.Errorf("error %d = %q, want it to mention %q", i, es[i].Error(), want)
		}
	}
}

func TestOverlappingTargets(t *testing.T) {
	_, err := Compile(Spec{Fields: []FieldSpec{
		{Target: "Address", Expr: "a", Pos: Position{Line: 1}},
		{Target: "Address.City", Expr: "b", Pos: Position{Line: 2}},
		{Target: "AddressLine", Expr: "c", Pos: Position{Line: 3}},
	}}, Env{})
	if err == nil || !strings.Contains(err.Error(), "Address.City: target field overlaps Address") || strings.Contains(err.Error(), "AddressLine") {
		t.Errorf("err = %v", err)
	}
}

func TestRequiredTargetFields(t *testing.T) {
	target := *meetingEntity
	target.Fields = append([]schema.Field(nil), meetingEntity.Fields...)
	for i := range target.Fields {
		if name := target.Fields[i].Name; name == "Subject" || name == "Owner" || name == "id" {
			target.Fields[i].Required = true // id is read-only and a key: never asked for
		}
	}
	_, err := Compile(Spec{MappingPos: Position{Line: 4, Column: 5}, Fields: []FieldSpec{{Target: "Subject", Expr: "subject"}}},
		Env{Source: eventEntity, Target: &target})
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || !es[0].Whole || es[0].Pos.Line != 4 ||
		es[0].Msg != "target meetings requires field Owner on create, and the mapping does not set it" {
		t.Errorf("err = %#v", err)
	}
}
