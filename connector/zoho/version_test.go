package zoho_test

import (
	"context"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/zoho/zohotest"
)

// TestWriteVersionIsReadBack: the version of every write outcome (create
// by upsert, create by insert, update by id) is the Modified_Time the
// record carries when ReadChanges reads it next, both in Record.Version
// and in the schema's version field, as RFC 3339 UTC whatever offset
// Zoho renders the time with.
func TestWriteVersionIsReadBack(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	srv := startEmulator(t, zohotest.Options{Now: clock.now, AccessTokenLifetime: 1000 * time.Hour})
	c := open(t, srv, nil, nil)
	ctx := context.Background()
	s, err := c.DiscoverSchema(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	check := func(step, entity string, o connector.WriteOutcome, want connector.Status) {
		t.Helper()
		if o.Status != want || o.TargetID == "" || o.Version == "" {
			t.Fatalf("%s: expected %v with an id and a version, got %+v", step, want, o)
		}
		ent, _ := s.Entity(entity)
		if ent == nil || ent.VersionField == "" {
			t.Fatalf("%s: entity %s has no version field", step, entity)
		}
		var rec *connector.Record
		for _, b := range changes(t, c, entity, nil, 0) {
			for _, ch := range b.changes {
				if ch.Record.ID == o.TargetID {
					rec = &ch.Record
				}
			}
		}
		if rec == nil {
			t.Fatalf("%s: %s %s is not in a full round of changes", step, entity, o.TargetID)
		}
		field, ok := rec.Fields[ent.VersionField].(time.Time)
		v, err := time.Parse(time.RFC3339, o.Version)
		if rec.Version != o.Version || !ok || err != nil || !field.Equal(v) || v.Location() != time.UTC {
			t.Fatalf("%s: outcome version %q, read back Version %q and %s %v", step, o.Version, rec.Version, ent.VersionField, rec.Fields[ent.VersionField])
		}
	}
	write := func(entity string, op connector.WriteOp) connector.WriteOutcome {
		t.Helper()
		outs, err := c.Write(ctx, connector.WriteBatch{Entity: entity, Ops: []connector.WriteOp{op}})
		if err != nil || len(outs) != 1 {
			t.Fatalf("Write %s: %v %v", entity, outs, err)
		}
		return outs[0]
	}
	created := write("Contacts", contactOps("version", 1)[0])
	check("create contact (upsert)", "Contacts", created, connector.Created)
	clock.add(90 * time.Second)
	updated := write("Contacts", connector.WriteOp{Action: connector.ActionUpsert, TargetID: created.TargetID,
		Record: connector.Record{Fields: map[string]any{"Last_Name": "Renamed"}}})
	check("update contact by id", "Contacts", updated, connector.Updated)
	if updated.Version == created.Version {
		t.Errorf("update contact: the version did not move (%s)", updated.Version)
	}
	clock.add(time.Minute)
	start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	meeting := write("Events", connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "m",
		Record: connector.Record{Fields: map[string]any{"Event_Title": "Review", "Start_DateTime": start, "End_DateTime": start.Add(time.Hour)}}})
	check("create meeting (insert)", "Events", meeting, connector.Created)
}
