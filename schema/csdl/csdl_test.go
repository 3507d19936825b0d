package csdl

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncplane/syncplane/schema"
)

const small = `<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="example.ns" Alias="ex" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EnumType Name="color"><Member Name="red" Value="0"/><Member Name="blue" Value="1"/></EnumType>
      <ComplexType Name="base"><Property Name="a" Type="Edm.String"/></ComplexType>
      <ComplexType Name="derived" BaseType="ex.base"><Property Name="b" Type="Edm.Int32" Nullable="false"/></ComplexType>
      <ComplexType Name="node"><Property Name="label" Type="Edm.String"/><Property Name="next" Type="ex.node"/></ComplexType>
      <ComplexType Name="empty"/>
      <EntityType Name="entity" Abstract="true"><Key><PropertyRef Name="id"/></Key>
        <Property Name="id" Type="Edm.String" Nullable="false"/>
      </EntityType>
      <EntityType Name="thing" BaseType="ex.entity" OpenType="true">
        <Property Name="when" Type="Edm.DateTimeOffset"/>
        <Property Name="day" Type="Edm.Date"/>
        <Property Name="tags" Type="Collection(Edm.String)" Nullable="false"/>
        <Property Name="color" Type="ex.color"/>
        <Property Name="d" Type="example.ns.derived"/>
        <Property Name="list" Type="Collection(ex.derived)"/>
        <Property Name="chain" Type="ex.node"/>
        <Property Name="open" Type="ex.empty"/>
        <NavigationProperty Name="children" Type="Collection(ex.thing)" ContainsTarget="true"/>
        <Annotation Term="Org.OData.Core.V1.Description" String="ignored"/>
      </EntityType>
      <Action Name="doIt"><Parameter Name="x" Type="Edm.String"/></Action>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>`

func TestParseSmall(t *testing.T) {
	doc, err := Parse(strings.NewReader(small))
	if err != nil {
		t.Fatal(err)
	}
	thing, ok := doc.Type("ex.thing")
	if !ok {
		t.Fatal("ex.thing not found by alias")
	}
	if thing.BaseType != "example.ns.entity" || !thing.OpenType || thing.Kind != EntityType {
		t.Fatalf("thing = %+v", thing)
	}
	props, err := doc.PropertiesOf(thing)
	if err != nil {
		t.Fatal(err)
	}
	if props[0].Name != "id" || props[0].Nullable {
		t.Fatalf("inherited id first and not nullable, got %+v", props[0])
	}
	key, _ := doc.KeyOf(thing)
	if len(key) != 1 || key[0] != "id" {
		t.Fatalf("key = %v", key)
	}
	ent, err := doc.Entity("example.ns.thing", ConvertOptions{Name: "thing"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]schema.Kind{"id": schema.String, "when": schema.Timestamp, "day": schema.Date,
		"tags": schema.Collection, "color": schema.Enum, "d": schema.Complex, "list": schema.Collection,
		"chain": schema.Complex, "open": schema.Any}
	if len(ent.Fields) != len(want) {
		t.Fatalf("fields %v, want %d (navigation left out)", fieldNames(ent.Fields), len(want))
	}
	for _, f := range ent.Fields {
		if want[f.Name] != f.Type.Kind {
			t.Errorf("field %s kind %s, want %s", f.Name, f.Type.Kind, want[f.Name])
		}
	}
	if typ, err := ent.Lookup("d.a"); err != nil || typ.Kind != schema.String {
		t.Errorf("d.a (inherited from base complex type): %v %v", typ, err)
	}
	if typ, err := ent.Lookup("list[0].b"); err != nil || typ.Kind != schema.Int {
		t.Errorf("list[0].b: %v %v", typ, err)
	}
	// node refers to itself: the recursion stops at the first repeat.
	if typ, err := ent.Lookup("chain.next"); err != nil || typ.Kind != schema.Any {
		t.Errorf("chain.next must be Any (recursive type), got %v %v", typ, err)
	}
	if c, _ := ent.Lookup("color"); strings.Join(c.Values, ",") != "red,blue" {
		t.Errorf("enum values %v", c.Values)
	}
	ent.Partitioning = schema.Partitioning{}
	s := schema.Schema{Entities: []schema.Entity{ent}}
	if errs := s.Validate(); len(errs) > 0 {
		t.Fatalf("converted entity invalid: %v", errs)
	}
	ent2, err := doc.Entity("ex.thing", ConvertOptions{Navigation: true, Omit: []string{"when"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ent2.Field("children"); !ok {
		t.Error("Navigation option: children missing")
	}
	if _, ok := ent2.Field("when"); ok {
		t.Error("Omit: when still present")
	}
}

func fieldNames(fs []schema.Field) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

func TestParseErrors(t *testing.T) {
	wrap := func(inner string) string {
		return `<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>` + inner + `</edmx:DataServices></edmx:Edmx>`
	}
	cases := []struct{ name, doc, want string }{
		{"not xml", "hello <", "reading XML"},
		{"wrong root", `<foo/>`, "root element is <foo>"},
		{"no schema", wrap(""), "declares no <Schema>"},
		{"schema without namespace", wrap(`<Schema/>`), "without Namespace"},
		{"type without name", wrap(`<Schema Namespace="n"><EntityType/></Schema>`), "without Name"},
		{"property without type", wrap(`<Schema Namespace="n"><ComplexType Name="c"><Property Name="p"/></ComplexType></Schema>`), "property p without Type"},
		{"bad collection", wrap(`<Schema Namespace="n"><ComplexType Name="c"><Property Name="p" Type="Collection(Edm.String"/></ComplexType></Schema>`), "malformed type"},
		{"duplicate", wrap(`<Schema Namespace="n"><ComplexType Name="c"/><ComplexType Name="c"/></Schema>`), "declared twice"},
		{"truncated", `<edmx:Edmx xmlns:edmx="x"><edmx:DataServices><Schema Namespace="n"><EntityType Name="e">`, "unexpected EOF"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestEntityErrors(t *testing.T) {
	doc, err := Parse(strings.NewReader(strings.Replace(small, `<ComplexType Name="empty"/>`,
		`<ComplexType Name="empty"/><ComplexType Name="loop1" BaseType="ex.loop2"/><ComplexType Name="loop2" BaseType="ex.loop1"/>
		<EntityType Name="bad"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.String"/><Property Name="x" Type="ex.missing"/></EntityType>
		<EntityType Name="cyc"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.String"/><Property Name="x" Type="ex.loop1"/></EntityType>`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"ex.nothing": "not declared",
		"ex.color":   "not an EntityType",
		"ex.bad":     "example.ns.missing is not declared",
		"ex.cyc":     "inheritance cycle",
	} {
		if _, err := doc.Entity(name, ConvertOptions{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Entity(%s) err = %v, want %q", name, err, want)
		}
	}
}

// sharedTestdata finds ../shared/testdata/graph/NAME from the repository, or
// skips the test.
func sharedTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	for dir := "."; ; dir = filepath.Join(dir, "..") {
		abs, _ := filepath.Abs(dir)
		p := filepath.Join(abs, "..", "shared", "testdata", "graph", name)
		if b, err := os.ReadFile(p); err == nil {
			return b
		}
		if _, err := os.Stat(filepath.Join(abs, "go.mod")); err == nil || abs == "/" {
			tb.Skipf("skipping: %s not found in ../shared/testdata/graph next to the repository (the shared reference data is absent)", name)
		}
	}
}

// The entities a Graph connector discovers, with complex fields that must be
// resolved to fields (not left open).
var graphChecks = map[string][]string{
	"microsoft.graph.event":    {"start.dateTime", "start.timeZone", "attendees[0].emailAddress.address", "attendees[0].status.response", "organizer.emailAddress.name", "recurrence.pattern.daysOfWeek", "recurrence.range.numberOfOccurrences", "location.address.city", "body.content", "lastModifiedDateTime", "changeKey", "id"},
	"microsoft.graph.contact":  {"emailAddresses[0].address", "businessAddress.street", "lastModifiedDateTime", "changeKey", "birthday"},
	"microsoft.graph.todoTask": {"dueDateTime.dateTime", "body.content", "status", "lastModifiedDateTime"},
	"microsoft.graph.user":     {"userPrincipalName", "mail", "userType"},
	"microsoft.graph.message":  {"from.emailAddress.address", "toRecipients[0].emailAddress.address", "receivedDateTime", "changeKey"},
}

func TestRealGraphMetadata(t *testing.T) {
	for _, file := range []string{"v1.0-Prod.csdl", "v1.0-Fairfax.csdl"} {
		t.Run(file, func(t *testing.T) {
			data := sharedTestdata(t, file)
			doc, err := Parse(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if n := len(doc.TypeNames()); n < 2000 {
				t.Errorf("only %d types parsed", n)
			}
			var s schema.Schema
			for typ, paths := range graphChecks {
				ent, err := doc.Entity(typ, ConvertOptions{})
				if err != nil {
					t.Fatalf("%s: %v", typ, err)
				}
				if len(ent.Keys) != 1 || ent.Keys[0] != "id" {
					t.Errorf("%s keys %v", typ, ent.Keys)
				}
				for _, p := range paths {
					if _, err := ent.Lookup(p); err != nil {
						t.Errorf("%s: %s: %v", typ, p, err)
					}
				}
				s.Entities = append(s.Entities, ent)
			}
			if errs := s.Validate(); len(errs) > 0 {
				t.Fatalf("converted Graph entities invalid: %v", errs)
			}
			ev, _ := s.Entity("event")
			if ty, _ := ev.Lookup("lastModifiedDateTime"); ty.Kind != schema.Timestamp {
				t.Errorf("event.lastModifiedDateTime kind %s", ty.Kind)
			}
			if ty, _ := ev.Lookup("showAs"); ty.Kind != schema.Enum || len(ty.Values) < 5 {
				t.Errorf("event.showAs = %+v", ty)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(small))
	f.Add([]byte(`<edmx:Edmx><edmx:DataServices><Schema Namespace="a" Alias="b"><ComplexType Name="c" BaseType="b.c"><Property Name="p" Type="b.c"/></ComplexType><EntityType Name="e" BaseType="b.e"><Property Name="x" Type="Collection(b.c)"/></EntityType></Schema></edmx:DataServices></edmx:Edmx>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		// Whatever parsed converts without panicking or looping, and what
		// converts is a valid schema entity whenever it has a key.
		for _, name := range doc.TypeNames() {
			typ, _ := doc.Type(name)
			if typ.Kind != EntityType {
				continue
			}
			ent, err := doc.Entity(name, ConvertOptions{MaxDepth: 6})
			if err != nil || len(ent.Keys) == 0 {
				continue
			}
			keysExist := true
			for _, k := range ent.Keys {
				if _, ok := ent.Field(k); !ok {
					keysExist = false
				}
			}
			if !keysExist {
				continue
			}
			s := schema.Schema{Entities: []schema.Entity{ent}}
			for _, e := range s.Validate() {
				// Duplicate names within the document are legal XML but
				// not a valid schema; everything else must validate.
				if !strings.Contains(e.Error(), "declared twice") && !strings.Contains(e.Error(), "has no name") {
					t.Fatalf("%s converted to an invalid entity: %v", name, e)
				}
			}
		}
	})
}

// discoverGraph is the work a Graph connector's schema discovery does: parse
// the document and convert the entities it offers.
func discoverGraph(data []byte) error {
	doc, err := Parse(bytes.NewReader(data))
	if err != nil {
		return err
	}
	for typ := range graphChecks {
		if _, err := doc.Entity(typ, ConvertOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// tokenPass is the baseline: a plain encoding/xml token pass over the bytes.
func tokenPass(data []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// BenchmarkDiscovery compares discovery on the real production $metadata
// with a plain token pass over the same bytes. Compare the two sub-benchmark
// results (ns/op and allocs/op) as a ratio.
func BenchmarkDiscovery(b *testing.B) {
	data := sharedTestdata(b, "v1.0-Prod.csdl")
	b.Run("baseline-xml-token-pass", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if err := tokenPass(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("csdl-discovery", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if err := discoverGraph(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
