package conformance

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

func (k *kit) writeBatch(t *testing.T, cn *conn, ops []connector.WriteOp) []connector.WriteOutcome {
	t.Helper()
	for i := range ops {
		ops[i].Partition = k.s.Partition
	}
	outs, err := cn.c.Write(k.ctx(t), connector.WriteBatch{Entity: k.s.Entity, Ops: ops})
	if err != nil {
		t.Fatalf("Write of %d ops: expected outcomes, got %v", len(ops), err)
	}
	if len(outs) != len(ops) {
		t.Fatalf("Write of %d ops: expected %d outcomes, got %d", len(ops), len(ops), len(outs))
	}
	for i, o := range outs {
		if o.IdempotencyKey != ops[i].IdempotencyKey {
			t.Errorf("Write outcome %d: expected IdempotencyKey %q (outcomes in op order), got %q", i, ops[i].IdempotencyKey, o.IdempotencyKey)
		}
	}
	return outs
}

func creates(prefix string, recs []connector.Record) []connector.WriteOp {
	ops := make([]connector.WriteOp, len(recs))
	for i, r := range recs {
		ops[i] = connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: fmt.Sprintf("%s-%d", prefix, i), Record: r.Clone()}
	}
	return ops
}

func expectStatus(t *testing.T, what string, outs []connector.WriteOutcome, want ...connector.Status) {
	t.Helper()
	for i, o := range outs {
		ok := false
		for _, w := range want {
			ok = ok || o.Status == w
		}
		if !ok {
			t.Errorf("%s, op %d: expected status %v, got %s %v", what, i, want, o.Status, describeDiags(o.Diagnostics))
		}
	}
}

// readBack returns the stored records by id, through Read or, without it,
// Query by key.
func (k *kit) readBack(t *testing.T, cn *conn, e *schema.Entity) map[string]connector.Record {
	t.Helper()
	if !cn.spec.Capabilities.Read {
		t.Skip("skipped: reading back needs Read, which the connector does not advertise")
	}
	out := map[string]connector.Record{}
	for _, r := range k.readAll(t, cn) {
		if _, dup := out[r.ID]; dup {
			t.Errorf("Read: record %q appears twice", r.ID)
		}
		out[r.ID] = r
	}
	return out
}

func (k *kit) writable(t *testing.T) (*conn, *schema.Entity) {
	t.Helper()
	ctx := k.ctx(t)
	cn := k.open(t, ctx)
	if !cn.spec.Capabilities.Write {
		t.Skip("skipped: the connector does not advertise Write")
	}
	if k.s.NewRecord == nil {
		t.Skip("skipped: Suite.NewRecord is nil, so the kit has no records to write")
	}
	e := k.entity(t, cn)
	if !e.Capabilities.Writable {
		t.Skipf("skipped: entity %q is not writable", e.Name)
	}
	return cn, e
}

func (k *kit) checkWrite(t *testing.T) {
	t.Run("create", func(t *testing.T) {
		cn, e := k.writable(t)
		recs := []connector.Record{k.s.NewRecord(0), k.s.NewRecord(1), k.s.NewRecord(2)}
		outs := k.writeBatch(t, cn, creates("conformance-create", recs))
		expectStatus(t, "creating 3 records", outs, connector.Created)
		ids := map[string]bool{}
		for i, o := range outs {
			if o.TargetID == "" {
				t.Errorf("creating record %d: expected a TargetID, got \"\"", i)
			}
			if ids[o.TargetID] {
				t.Errorf("creating 3 records: TargetID %q returned twice", o.TargetID)
			}
			ids[o.TargetID] = true
		}
		for i, o := range outs {
			if o.Stored == nil {
				continue
			}
			if d := diffFields(e, recs[i].Fields, o.Stored.Fields); len(d) > 0 {
				t.Errorf("create outcome %d: Stored should hold the written values, got differences: %s", i, strings.Join(d, "; "))
			}
		}
		stored := k.readBack(t, cn, e)
		for i, o := range outs {
			got, ok := stored[o.TargetID]
			if !ok {
				t.Errorf("read back after create: expected record %q, got ids %q", o.TargetID, sortedIDs(keys(stored)))
				continue
			}
			if d := diffFields(e, recs[i].Fields, got.Fields); len(d) > 0 {
				t.Errorf("read back record %q: expected the written values, got differences: %s", o.TargetID, strings.Join(d, "; "))
			}
			checkVersion(t, "create", e, o, got)
		}
	})

	t.Run("retry", func(t *testing.T) {
		cn, e := k.writable(t)
		recs := []connector.Record{k.s.NewRecord(0), k.s.NewRecord(1), k.s.NewRecord(2)}
		first := k.writeBatch(t, cn, creates("conformance-retry", recs))
		expectStatus(t, "creating 3 records", first, connector.Created)
		again := k.writeBatch(t, cn, creates("conformance-retry", recs))
		expectStatus(t, "the same batch again", again, connector.Created, connector.Unchanged, connector.Updated)
		for i := range again {
			if again[i].TargetID != first[i].TargetID {
				t.Errorf("retried op %d: expected TargetID %q (the record the first attempt made), got %q", i, first[i].TargetID, again[i].TargetID)
			}
		}
		stored := k.readBack(t, cn, e)
		if len(stored) != len(recs) {
			t.Errorf("after writing the same batch of %d twice: expected %d records, got %d (%q): the retry duplicated records", len(recs), len(recs), len(stored), sortedIDs(keys(stored)))
		}
	})

	t.Run("update", func(t *testing.T) {
		cn, e := k.writable(t)
		if k.s.Mutate == nil {
			t.Skip("skipped: Suite.Mutate is nil")
		}
		outs := k.writeBatch(t, cn, creates("conformance-update", []connector.Record{k.s.NewRecord(0)}))
		expectStatus(t, "creating a record", outs, connector.Created)
		id := outs[0].TargetID
		changed := k.s.Mutate(k.s.NewRecord(0))
		up := k.writeBatch(t, cn, []connector.WriteOp{{Action: connector.ActionUpsert, IdempotencyKey: "conformance-update-1", TargetID: id, Record: changed.Clone()}})
		expectStatus(t, "updating it with Suite.Mutate's record", up, connector.Updated)
		if up[0].TargetID != id {
			t.Errorf("update: expected TargetID %q, got %q", id, up[0].TargetID)
		}
		stored := k.readBack(t, cn, e)
		got, ok := stored[id]
		if !ok {
			t.Fatalf("read back after update: expected record %q, got ids %q", id, sortedIDs(keys(stored)))
		}
		if d := diffFields(e, changed.Fields, got.Fields); len(d) > 0 {
			t.Errorf("read back record %q after update: expected the updated values, got differences: %s", id, strings.Join(d, "; "))
		}
		checkVersion(t, "update", e, up[0], got)
		if len(stored) != 1 {
			t.Errorf("after creating one record and updating it: expected 1 record, got %d (%q)", len(stored), sortedIDs(keys(stored)))
		}
		same := k.writeBatch(t, cn, []connector.WriteOp{{Action: connector.ActionUpsert, IdempotencyKey: "conformance-update-2", TargetID: id, Record: changed.Clone()}})
		expectStatus(t, "writing the same values again", same, connector.Unchanged, connector.Updated)
	})

	t.Run("partial update", func(t *testing.T) {
		cn, e := k.writable(t)
		if k.s.Mutate == nil {
			t.Skip("skipped: Suite.Mutate is nil")
		}
		orig := k.s.NewRecord(0)
		changed := k.s.Mutate(k.s.NewRecord(0))
		// Only the fields Mutate changed: an update sets the fields it
		// carries and leaves the others as they are (connector.ActionUpsert).
		part := connector.Record{Fields: map[string]any{}}
		for name, v := range changed.Fields {
			if !connector.ValuesEqual(orig.Fields[name], v) {
				part.Fields[name] = v
			}
		}
		if len(part.Fields) == 0 || len(part.Fields) == len(changed.Fields) {
			t.Skip("skipped: Suite.Mutate changes no field, or every field")
		}
		outs := k.writeBatch(t, cn, creates("conformance-partial", []connector.Record{orig.Clone()}))
		expectStatus(t, "creating a record", outs, connector.Created)
		id := outs[0].TargetID
		up := k.writeBatch(t, cn, []connector.WriteOp{{Action: connector.ActionUpsert, IdempotencyKey: "conformance-partial-1", TargetID: id, Record: part}})
		expectStatus(t, "updating it with only the fields Suite.Mutate changed", up, connector.Updated)
		got, ok := k.readBack(t, cn, e)[id]
		if !ok {
			t.Fatalf("read back after a partial update: expected record %q", id)
		}
		if d := diffFields(e, changed.Fields, got.Fields); len(d) > 0 {
			t.Errorf("read back record %q after updating only %s: expected the fields left out to keep their values, got differences: %s",
				id, strings.Join(slices.Sorted(maps.Keys(part.Fields)), ", "), strings.Join(d, "; "))
		}
	})

	t.Run("delete", func(t *testing.T) {
		cn, e := k.writable(t)
		if !e.Capabilities.Deletable {
			t.Skipf("skipped: entity %q is not deletable", e.Name)
		}
		outs := k.writeBatch(t, cn, creates("conformance-delete", []connector.Record{k.s.NewRecord(0), k.s.NewRecord(1)}))
		expectStatus(t, "creating 2 records", outs, connector.Created)
		gone, kept := outs[0].TargetID, outs[1].TargetID
		del := []connector.WriteOp{{Action: connector.ActionDelete, IdempotencyKey: "conformance-delete-x", TargetID: gone}}
		expectStatus(t, "deleting a record", k.writeBatch(t, cn, del), connector.Deleted)
		stored := k.readBack(t, cn, e)
		if _, ok := stored[gone]; ok {
			t.Errorf("read back after deleting %q: expected it gone, got it", gone)
		}
		if _, ok := stored[kept]; !ok {
			t.Errorf("read back after deleting %q: expected %q still there, got ids %q", gone, kept, sortedIDs(keys(stored)))
		}
		expectStatus(t, "the same delete retried", k.writeBatch(t, cn, del), connector.Deleted, connector.Unchanged)
		if cn.spec.Capabilities.Query && len(e.Keys) == 1 {
			recs, err := cn.c.Query(k.ctx(t), connector.QueryRequest{Entity: k.s.Entity, Partition: k.s.Partition, Match: map[string]any{e.Keys[0]: gone}})
			if err != nil {
				t.Fatalf("Query for the deleted record: %v", err)
			}
			if len(recs) != 0 {
				t.Errorf("Query for deleted record %q: expected no record, got %d", gone, len(recs))
			}
		}
	})

	t.Run("rejected", func(t *testing.T) {
		cn, _ := k.writable(t)
		if k.s.InvalidRecord == nil {
			t.Skip("skipped: Suite.InvalidRecord is nil")
		}
		bad, field := k.s.InvalidRecord()
		ops := creates("conformance-rejected", []connector.Record{k.s.NewRecord(0), bad, k.s.NewRecord(1)})
		outs := k.writeBatch(t, cn, ops)
		expectStatus(t, "valid records around an invalid one", []connector.WriteOutcome{outs[0], outs[2]}, connector.Created)
		if outs[1].Status != connector.Rejected {
			t.Fatalf("writing Suite.InvalidRecord: expected Rejected, got %s", outs[1].Status)
		}
		for _, d := range outs[1].Diagnostics {
			if d.Field == field {
				return
			}
		}
		t.Errorf("writing Suite.InvalidRecord: expected a diagnostic naming field %q, got %s", field, describeDiags(outs[1].Diagnostics))
	})
}

// checkVersion checks what echo suppression relies on: a write outcome
// carries the target's version after the write (required when the entity
// names a version field), and the record read back next carries that same
// version, so the host recognises its own write when it comes back.
func checkVersion(t *testing.T, what string, e *schema.Entity, o connector.WriteOutcome, got connector.Record) {
	t.Helper()
	if o.Version == "" {
		if e.VersionField != "" {
			t.Errorf("%s of %q: entity %q names version field %q, so the outcome should carry Version, got \"\"", what, o.TargetID, e.Name, e.VersionField)
		}
		return
	}
	if got.Version != o.Version {
		t.Errorf("%s of %q: the outcome's Version is %q but the record read back has Version %q; they should be equal so the host recognises its own write", what, o.TargetID, o.Version, got.Version)
	}
	if o.Stored != nil && o.Stored.Version != "" && o.Stored.Version != o.Version {
		t.Errorf("%s of %q: Stored.Version %q differs from the outcome's Version %q", what, o.TargetID, o.Stored.Version, o.Version)
	}
}

func keys(m map[string]connector.Record) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func (k *kit) checkQuery(t *testing.T) {
	ctx := k.ctx(t)
	cn := k.open(t, ctx)
	if !cn.spec.Capabilities.Query {
		t.Skip("skipped: the connector does not advertise Query")
	}
	e := k.entity(t, cn)
	if !e.Capabilities.Queryable {
		t.Skipf("skipped: entity %q is not queryable", e.Name)
	}
	src := k.source(t, cn)
	ids := k.seed(t, cn, src, 0, 3)
	if !cn.spec.Capabilities.Read {
		t.Skip("skipped: finding the key values to query needs Read")
	}
	stored := map[string]connector.Record{}
	for _, r := range k.readAll(t, cn) {
		stored[r.ID] = r
	}
	target, ok := stored[ids[1]]
	if !ok {
		t.Fatalf("Read after creating %q: expected record %q, got ids %q", ids, ids[1], sortedIDs(keys(stored)))
	}
	match := map[string]any{}
	for _, key := range e.Keys {
		v, ok := target.Fields[key]
		if !ok {
			t.Skipf("skipped: record %q does not carry key field %q in its fields", target.ID, key)
		}
		match[key] = v
	}
	got, err := cn.c.Query(ctx, connector.QueryRequest{Entity: k.s.Entity, Partition: k.s.Partition, Match: match})
	if err != nil {
		t.Fatalf("Query by key %v: expected record %q, got %v", match, target.ID, err)
	}
	if len(got) != 1 || got[0].ID != target.ID {
		gotIDs := make([]string, len(got))
		for i, r := range got {
			gotIDs[i] = r.ID
		}
		t.Fatalf("Query by key %v: expected exactly record %q, got %q", match, target.ID, gotIDs)
	}
	if d := diffFields(e, target.Fields, got[0].Fields); len(d) > 0 {
		t.Errorf("Query by key: expected the record Read returns, got differences: %s", strings.Join(d, "; "))
	}

	if len(e.Keys) == 1 {
		f, _ := e.Field(e.Keys[0])
		var missing any
		switch f.Type.Kind {
		case schema.String:
			missing = "conformance-no-such-key"
		case schema.Int:
			missing = int64(-987654321)
		}
		if missing != nil {
			none, err := cn.c.Query(ctx, connector.QueryRequest{Entity: k.s.Entity, Partition: k.s.Partition, Match: map[string]any{e.Keys[0]: missing}})
			if err != nil {
				t.Errorf("Query for a key no record has: expected an empty result, got %v", err)
			} else if len(none) != 0 {
				t.Errorf("Query for a key no record has (%v): expected no records, got %d", missing, len(none))
			}
		}
	}
}
