package schema

import (
	"bytes"
	"strings"
	"testing"
)

func eventEntity() Entity {
	dtz := Type{Kind: Complex, Name: "microsoft.graph.dateTimeTimeZone", Fields: []Field{
		{Name: "dateTime", Type: Type{Kind: String}},
		{Name: "timeZone", Type: Type{Kind: String}},
	}}
	email := Type{Kind: Complex, Name: "microsoft.graph.emailAddress", Fields: []Field{
		{Name: "address", Type: Type{Kind: String}},
		{Name: "name", Type: Type{Kind: String}},
	}}
	attendee := Type{Kind: Complex, Name: "microsoft.graph.attendee", Fields: []Field{
		{Name: "emailAddress", Type: email},
		{Name: "type", Type: Type{Kind: Enum, Values: []string{"required", "optional", "resource"}}},
	}}
	return Entity{
		Name: "event",
		Fields: []Field{
			{Name: "id", Type: Type{Kind: String}, ReadOnly: true},
			{Name: "subject", Type: Type{Kind: String}, Nullable: true},
			{Name: "start", Type: dtz},
			{Name: "attendees", Type: Type{Kind: Collection, Elem: &attendee}},
			{Name: "lastModifiedDateTime", Type: Type{Kind: Timestamp}, ReadOnly: true},
			{Name: "changeKey", Type: Type{Kind: String}, ReadOnly: true},
			{Name: "user", Type: Type{Kind: String}},
		},
		Keys:          []string{"id"},
		ModifiedField: "lastModifiedDateTime",
		VersionField:  "changeKey",
		Capabilities:  Capabilities{Readable: true, Changes: true, Writable: true},
		Partitioning:  Partitioning{Partitioned: true, Field: "user"},
	}
}

func TestLookupResolvesNestedPaths(t *testing.T) {
	e := eventEntity()
	for path, want := range map[string]Kind{
		"subject":                           String,
		"start.dateTime":                    String,
		"attendees":                         Collection,
		"attendees[0].emailAddress.address": String,
		"attendees[0].type":                 Enum,
		"lastModifiedDateTime":              Timestamp,
		"attendees[3].emailAddress":         Complex,
	} {
		got, err := e.Lookup(path)
		if err != nil {
			t.Errorf("Lookup(%q): %v", path, err)
			continue
		}
		if got.Kind != want {
			t.Errorf("Lookup(%q) kind = %s, want %s", path, got.Kind, want)
		}
	}
}

func TestLookupNamesTheMissingSegment(t *testing.T) {
	e := eventEntity()
	for path, want := range map[string]string{
		"subjet":                          `no field "subjet" in event`,
		"start.dateTme":                   `no field "dateTme" in start`,
		"attendees[0].emailAddress.adres": `no field "adres" in attendees[0].emailAddress`,
		"subject[0]":                      `field "subject" is not a collection`,
	} {
		_, err := e.Lookup(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Lookup(%q) error = %v, want it to contain %q", path, err, want)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	bad := Schema{Entities: []Entity{
		{Name: "a", Fields: []Field{{Name: "x", Type: Type{Kind: "strng"}}}, Keys: []string{"id"}},
		{Name: "a", Fields: []Field{{Name: "id", Type: Type{Kind: Complex}}}, Keys: []string{"id"}, ModifiedField: "updated"},
		{Name: "b", Fields: []Field{{Name: "id", Type: Type{Kind: Collection}}}},
		{Name: "c", Fields: []Field{{Name: "id", Type: Type{Kind: String}}}, Keys: []string{"id"}, Partitioning: Partitioning{Partitioned: true}},
	}}
	var msgs []string
	for _, err := range bad.Validate() {
		msgs = append(msgs, err.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		`a.x: invalid kind "strng"`,
		`key field "id" does not exist`,
		`entity "a" is declared twice`,
		`complex type "" has no fields`,
		`modified field "updated" does not exist`,
		`entity "b" has no key fields`,
		`b.id: collection has no element type`,
		`entity "c" is partitioned but names no partition field`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("Validate() misses %q; got:\n%s", want, all)
		}
	}
	good := Schema{Entities: []Entity{eventEntity()}}
	if errs := good.Validate(); len(errs) != 0 {
		t.Errorf("valid schema reported %v", errs)
	}
}

func TestJSONRenderingIsStableAndRoundTrips(t *testing.T) {
	other := Entity{Name: "contact", Fields: []Field{{Name: "id", Type: Type{Kind: String}}}, Keys: []string{"id"}}
	a := Schema{Entities: []Entity{eventEntity(), other}}
	b := Schema{Entities: []Entity{other, eventEntity()}}
	ja, err := a.MarshalIndent()
	if err != nil {
		t.Fatal(err)
	}
	jb, err := b.MarshalIndent()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ja, jb) {
		t.Fatalf("equal schemas rendered differently:\n%s\n---\n%s", ja, jb)
	}
	if i, j := bytes.Index(ja, []byte(`"contact"`)), bytes.Index(ja, []byte(`"event"`)); i < 0 || j < 0 || i > j {
		t.Errorf("entities not ordered by name in:\n%s", ja)
	}
	back, err := Parse(ja)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := back.MarshalIndent()
	if !bytes.Equal(ja, again) {
		t.Errorf("round trip changed the rendering:\n%s\n---\n%s", ja, again)
	}
	if _, err := Parse([]byte(`{"entities":[{"name":"x","fields":[],"keys":["id"],"bogus":1}]}`)); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("Parse accepted an unknown key: %v", err)
	}
}
