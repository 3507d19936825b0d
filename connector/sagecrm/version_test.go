package sagecrm_test

import (
	"context"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/sagecrm/sagecrmtest"
)

// readBack returns the record ReadChanges emits for id in a full round, and
// the value of the entity's version field rendered as WriteOutcome.Version
// renders it.
func (e *env) readBack(t *testing.T, entity, id string) (connector.Record, string) {
	t.Helper()
	s, err := e.c.DiscoverSchema(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	ent, ok := s.Entity(entity)
	if !ok || ent.VersionField == "" {
		t.Fatalf("entity %s has no version field in the schema", entity)
	}
	got, _, _ := e.round(t, entity, nil)
	ch, ok := got[id]
	if !ok {
		t.Fatalf("%s %s is not in a full round of changes", entity, id)
	}
	switch v := ch.Record.Fields[ent.VersionField].(type) {
	case time.Time:
		return ch.Record, v.UTC().Format(time.RFC3339)
	case string:
		return ch.Record, v
	}
	t.Fatalf("%s %s: version field %s is %T", entity, id, ent.VersionField, ch.Record.Fields[ent.VersionField])
	return connector.Record{}, ""
}

// TestWriteVersionIsReadBack: every write outcome carries the version the
// record has when ReadChanges reads it next (in Record.Version and in the
// schema's version field), including after linked rows were written and
// when the server answers an update with the fields sent only; an update
// that changes nothing is Unchanged and sends no update.
func parseID(t *testing.T, s string) int64 {
	t.Helper()
	n, err := parseInt(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWriteVersionIsReadBack(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			// A clock that moves one second at every reading, so each
			// change the server makes gets its own updated date.
			clock := sagecrmtest.NewManualClock(time.Date(2024, 3, 10, 6, 59, 0, 0, time.UTC))
			opts := v.o
			opts.Now = func() time.Time {
				now := clock.Now()
				clock.Set(now.Add(time.Second))
				return now
			}
			e := newEnv(t, opts, v.zone, nil)
			e.clock = clock
			check := func(step, entity string, o connector.WriteOutcome, want connector.Status) connector.Record {
				t.Helper()
				if o.Status != want || o.TargetID == "" {
					t.Fatalf("%s: expected %v with an id, got %+v", step, want, o)
				}
				rec, field := e.readBack(t, entity, o.TargetID)
				if o.Version == "" || o.Version != rec.Version || o.Version != field {
					t.Fatalf("%s: outcome version %q, read back Version %q and version field %q", step, o.Version, rec.Version, field)
				}
				return rec
			}
			person := e.write(t, "person", upsert("v1", "", map[string]any{"pers_lastname": "Lee",
				"emails": []any{map[string]any{"type": "Business", "address": "lee@x.test"}}}))[0]
			check("create person with an e-mail row", "person", person, connector.Created)
			id := person.TargetID

			e.clock.Advance(3 * time.Second)
			o := e.write(t, "person", upsert("", id, map[string]any{"pers_firstname": "Ann"}))[0]
			check("update person", "person", o, connector.Updated)
			if o.Version == person.Version {
				t.Errorf("update person: the version did not move (%s)", o.Version)
			}

			e.clock.Advance(3 * time.Second)
			o = e.write(t, "person", upsert("", id, map[string]any{"emails": []any{map[string]any{"type": "Business", "address": "ann@x.test"}}}))[0]
			check("change the e-mail row only", "person", o, connector.Updated)

			// The same values again: nothing is sent, the updated date stays.
			e.clock.Advance(3 * time.Second)
			before := e.srv.Rows("person")[0]["pers_updateddate"]
			e.clock.Advance(3 * time.Second)
			o = e.write(t, "person", upsert("", id, map[string]any{"pers_firstname": "Ann", "pers_lastname": "Lee",
				"emails": []any{map[string]any{"type": "Business", "address": "ann@x.test"}}}))[0]
			check("unchanged person", "person", o, connector.Unchanged)
			if after := e.srv.Rows("person")[0]["pers_updateddate"]; after != before {
				t.Errorf("unchanged person: the server's updated date moved from %v to %v, so an update was sent", before, after)
			}
			// Someone changes the e-mail row alone: the person's version
			// moves, even where the server keeps pers_updateddate.
			mail := findChild(t, e.srv, "email", "elink_recordid", parseID(t, id))
			if err := e.srv.Update("email", mail, map[string]any{"emai_emailaddress": "ann@elsewhere.test"}); err != nil {
				t.Fatal(err)
			}
			if rec, _ := e.readBack(t, "person", id); rec.Version == o.Version {
				t.Errorf("a changed e-mail row left the person's version at %s", rec.Version)
			}
			if o.Stored == nil || o.Stored.Fields["emails"] == nil {
				t.Errorf("unchanged person: Stored should be the record with its e-mail rows, got %+v", o.Stored)
			}

			e.clock.Advance(3 * time.Second)
			comp := e.write(t, "company", upsert("c1", "", map[string]any{"comp_name": "Acme"}))[0]
			rec := check("create company", "company", comp, connector.Created)
			if comp.Stored == nil || comp.Stored.Fields["comp_name"] != "Acme" || comp.Stored.Version != rec.Version {
				t.Errorf("create company: Stored %+v, want the record as read back", comp.Stored)
			}
			e.clock.Advance(3 * time.Second)
			o = e.write(t, "company", upsert("", comp.TargetID, map[string]any{"comp_name": "Acme Ltd"}))[0]
			rec = check("update company", "company", o, connector.Updated)
			if o.Stored == nil || o.Stored.Fields["comp_name"] != "Acme Ltd" || o.Stored.Version != rec.Version {
				t.Errorf("update company: Stored %+v, want the record as read back", o.Stored)
			}
			o = e.write(t, "company", upsert("", comp.TargetID, map[string]any{"comp_name": "Acme Ltd"}))[0]
			check("unchanged company", "company", o, connector.Unchanged)

			e.clock.Advance(3 * time.Second)
			start := time.Date(2024, 3, 12, 15, 0, 0, 0, time.UTC)
			comm := e.write(t, "communication", upsert("m1", "", map[string]any{"comm_type": "Appointment", "comm_action": "Meeting",
				"comm_subject": "Review", "start": start, "end": start.Add(time.Hour), "person_ids": []any{id}}))[0]
			check("create communication with a link", "communication", comm, connector.Created)
			e.clock.Advance(3 * time.Second)
			o = e.write(t, "communication", upsert("", comm.TargetID, map[string]any{"start": start, "end": start.Add(time.Hour), "person_ids": []any{id}}))[0]
			check("unchanged communication", "communication", o, connector.Unchanged)
			o = e.write(t, "communication", upsert("", comm.TargetID, map[string]any{"end": start.Add(2 * time.Hour)}))[0]
			check("update communication", "communication", o, connector.Updated)
		})
	}
}
