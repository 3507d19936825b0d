package config

import (
	"context"
	"strings"
	"testing"

	"github.com/syncplane/syncplane/schema"
)

// twoWayFile is a valid two-way pipeline over the fake source's entities,
// made readable and writable on both sides.
const twoWayFile = `connections:
  m365:
    connector: graph
    settings: { tenant_id: contoso }
  out:
    connector: jsonl
    settings: { dir: ./out }
pipelines:
  - name: meetings
    from: { connection: m365, entity: event }
    to: { connection: out, entity: meetings }
    mode: two-way
    conflict: newest-wins
    reverse_on_delete: delete
    mapping:
      Subject: subject
      Owner: user
    reverse_mapping:
      subject: Subject
      user: Owner
    write_back: { to_field: Account }
`

func twoWaySource() *fakeSource {
	src := newFakeSource()
	ev := event
	ev.Fields = append([]schema.Field(nil), event.Fields...)
	ev.Fields[1].Required = true // subject
	ev.Capabilities = schema.Capabilities{Readable: true, Changes: true, Writable: true, Deletable: true}
	ev.Partitioning = schema.Partitioning{Partitioned: true, Field: "user"}
	ev.ModifiedField = "lastModifiedDateTime"
	ev.Fields = append(ev.Fields, schema.Field{Name: "lastModifiedDateTime", Type: schema.Type{Kind: schema.Timestamp}, ReadOnly: true})
	mt := meetings
	mt.Capabilities = schema.Capabilities{Readable: true, Changes: true, Writable: true, Deletable: true}
	mt.ModifiedField = "Modified"
	mt.Fields = append(append([]schema.Field(nil), meetings.Fields...), schema.Field{Name: "Modified", Type: schema.Type{Kind: schema.Timestamp}, ReadOnly: true})
	src.schemas["m365"] = &schema.Schema{Entities: []schema.Entity{ev}}
	src.schemas["out"] = &schema.Schema{Entities: []schema.Entity{mt, accounts}}
	return src
}

func TestTwoWayValidation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new string
		want     []string
	}{
		{"valid", "", "", nil},
		{"reverse mapping without the partition field", "      user: Owner\n", "",
			[]string{`p.yaml:18:5: reverse_mapping: event is partitioned by user; the mapping must set user so that a created record has a partition`}},
		{"reverse mapping without a required field", "      subject: Subject\n", "",
			[]string{`target event requires field subject on create, and the mapping does not set it`}},
		{"reverse mapping of an unknown field", "subject: Subject", "subjct: Subject",
			[]string{`reverse_mapping subjct:`, `(did you mean subject?)`}},
		{"reverse mapping reading an unknown field", "subject: Subject", "subject: Subjet",
			[]string{`reverse_mapping subject:`, `Subjet`}},
		{"unknown write-back field", "to_field: Account", "to_field: Acount",
			[]string{`p.yaml:21:29: write_back.to_field: meetings has no field "Acount" (did you mean Account?)`}},
		{"read-only write-back field", "to_field: Account", "to_field: id",
			[]string{`p.yaml:21:29: write_back.to_field: field id of meetings is read-only`}},
		{"reverse mark on an unknown field", "reverse_on_delete: delete", "reverse_on_delete: 'mark:isCancelld'",
			[]string{`reverse_on_delete: event has no field "isCancelld" (did you mean isCancelled?)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := twoWayFile
			if tc.old != "" {
				if !strings.Contains(src, tc.old) {
					t.Fatalf("test bug: %q not in the file", tc.old)
				}
				src = strings.Replace(src, tc.old, tc.new, 1)
			}
			f, err := Parse("p.yaml", []byte(src), Options{})
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if p := f.Pipelines[0]; !p.TwoWay() || p.Conflict != ConflictNewestWins || p.ReverseOnDelete.Kind == "" {
				t.Fatalf("decoded %+v", p)
			}
			errs := f.Validate(context.Background(), twoWaySource())
			if len(tc.want) == 0 {
				if len(errs) > 0 {
					t.Fatalf("want no errors, got:\n%v", errs)
				}
				return
			}
			if len(errs) == 0 {
				t.Fatal("want an error, got none")
			}
			for _, w := range tc.want {
				if !strings.Contains(errs.Error(), w) {
					t.Errorf("errors %q do not contain %q", errs.Error(), w)
				}
			}
		})
	}
}

func TestTwoWayNeedsWritableFromSide(t *testing.T) {
	f, err := Parse("p.yaml", []byte(twoWayFile), Options{})
	if err != nil {
		t.Fatal(err)
	}
	src := twoWaySource()
	src.schemas["m365"].Entities[0].Capabilities.Writable = false
	src.schemas["m365"].Entities[0].Capabilities.Deletable = false
	errs := f.Validate(context.Background(), src)
	got := errs.Error()
	for _, w := range []string{"two-way: entity event of connection m365 cannot be written", "reverse_on_delete: delete (the default), but entity event of connection m365 cannot be deleted"} {
		if !strings.Contains(got, w) {
			t.Errorf("want an error containing %q, got:\n%s", w, got)
		}
	}
}

// TestTwoWayDeleteConflict: delete_conflict defaults to change-wins, or to
// manual under the manual conflict policy; an explicit value is kept, an
// unknown one is refused by the schema, and one-way pipelines may not set it.
func TestTwoWayDeleteConflict(t *testing.T) {
	for _, tc := range []struct {
		old, new string
		want     string // the decoded value, or an error substring after "!"
	}{
		{"", "", DeleteConflictChange},
		{"conflict: newest-wins", "conflict: manual", DeleteConflictManual},
		{"conflict: newest-wins", "conflict: manual\n    delete_conflict: delete-wins", DeleteConflictDelete},
		{"conflict: newest-wins", "conflict: newest-wins\n    delete_conflict: policy", DeleteConflictPolicy},
		{"conflict: newest-wins", "conflict: newest-wins\n    delete_conflict: newest", "!delete_conflict"},
	} {
		src := strings.Replace(twoWayFile, tc.old, tc.new, 1)
		f, err := Parse("p.yaml", []byte(src), Options{})
		if strings.HasPrefix(tc.want, "!") {
			if err == nil || !strings.Contains(err.Error(), tc.want[1:]) {
				t.Errorf("%q: want an error naming %s, got %v", tc.new, tc.want[1:], err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.new, err)
		}
		if got := f.Pipelines[0].DeleteConflict; got != tc.want {
			t.Errorf("%q: delete_conflict %q, want %q", tc.new, got, tc.want)
		}
	}
	oneWay := `connections:
  m365: { connector: graph, settings: { tenant_id: contoso } }
  out: { connector: jsonl, settings: { dir: ./out } }
pipelines:
  - name: meetings
    from: { connection: m365, entity: event }
    to: { connection: out, entity: meetings }
    delete_conflict: manual
    mapping: { Subject: subject }
`
	if _, err := Parse("p.yaml", []byte(oneWay), Options{}); err == nil || !strings.Contains(err.Error(), "delete_conflict applies to two-way pipelines only") {
		t.Errorf("one-way with delete_conflict: want an error, got %v", err)
	}
}
