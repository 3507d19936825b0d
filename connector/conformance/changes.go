package conformance

import (
	"fmt"
	"strings"
	"testing"

	"github.com/syncplane/syncplane/connector"
)

// batch is one ChangeBatch as received, its changes cloned.
type batch struct {
	changes    []connector.Change
	checkpoint []byte
	fullResync bool
}

// changes reads the change feed from a checkpoint.
func (k *kit) changes(t *testing.T, cn *conn, cp []byte, size int) []batch {
	t.Helper()
	var out []batch
	err := cn.c.ReadChanges(k.ctx(t), connector.ChangesRequest{Entity: k.s.Entity, Partition: k.s.Partition, Checkpoint: cp, BatchSize: size},
		func(b connector.ChangeBatch) error {
			cs := make([]connector.Change, len(b.Changes))
			for i, c := range b.Changes {
				cs[i] = connector.Change{Op: c.Op, Record: c.Record.Clone()}
			}
			out = append(out, batch{changes: cs, checkpoint: append([]byte(nil), b.Checkpoint...), fullResync: b.FullResync})
			return nil
		})
	if err != nil {
		t.Fatalf("ReadChanges(checkpoint %q): expected changes, got %v", cp, err)
	}
	return out
}

func flatten(bs []batch) []connector.Change {
	var out []connector.Change
	for _, b := range bs {
		out = append(out, b.changes...)
	}
	return out
}

func lastCheckpoint(t *testing.T, bs []batch, prev []byte) []byte {
	t.Helper()
	if len(bs) == 0 {
		return prev
	}
	cp := bs[len(bs)-1].checkpoint
	if len(cp) == 0 {
		t.Fatalf("ReadChanges: expected a checkpoint after every batch, got an empty one after the last")
	}
	return cp
}

// ops renders changes as "upsert a, delete b" for messages.
func ops(cs []connector.Change) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s %s", c.Op, c.Record.ID)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func idSet(cs []connector.Change) map[string]bool {
	m := map[string]bool{}
	for _, c := range cs {
		m[c.Record.ID] = true
	}
	return m
}

func (k *kit) checkChanges(t *testing.T) {
	ctx := k.ctx(t)
	cn := k.open(t, ctx)
	if !cn.spec.Capabilities.ReadChanges {
		t.Skip("skipped: the connector does not advertise ReadChanges")
	}
	e := k.entity(t, cn)
	if !e.Capabilities.Changes {
		t.Skipf("skipped: entity %q has no change feed (schema capability changes is false)", e.Name)
	}
	src := k.source(t, cn)
	ids := k.seed(t, cn, src, 0, 4)

	first := k.changes(t, cn, nil, 0)
	all := flatten(first)
	got := idSet(all)
	for _, id := range ids {
		if !got[id] {
			t.Errorf("ReadChanges from no checkpoint after creating %q: expected an upsert of %q, got %s", ids, id, ops(all))
		}
	}
	for _, c := range all {
		if c.Op != connector.Upsert {
			t.Errorf("ReadChanges from no checkpoint on a fresh connection: expected upserts only, got %s %s", c.Op, c.Record.ID)
		}
	}
	cp1 := lastCheckpoint(t, first, nil)
	if cp1 == nil {
		t.Fatalf("ReadChanges after creating %d records: expected at least one batch with a checkpoint, got none", len(ids))
	}

	// New changes after cp1: two creates and an update.
	if k.s.Mutate == nil {
		t.Fatalf("Suite.Mutate is nil: the changes check needs it to update a record")
	}
	more := k.seed(t, cn, src, 4, 2)
	if err := src.Update(ctx, ids[0], k.s.Mutate(k.s.NewRecord(0))); err != nil {
		t.Fatalf("updating %q at the source: %v", ids[0], err)
	}
	wantAfter := map[string]bool{ids[0]: true, more[0]: true, more[1]: true}

	t.Run("resume", func(t *testing.T) {
		resumed := flatten(k.changes(t, cn, cp1, 0))
		got := idSet(resumed)
		for id := range wantAfter {
			if !got[id] {
				t.Errorf("ReadChanges from the checkpoint after %q: expected %q (changed after it), got %s: a change after the checkpoint was lost", ids, id, ops(resumed))
			}
		}
		for _, id := range ids[1:] {
			if got[id] {
				t.Errorf("ReadChanges from the checkpoint after %q: expected no change of %q (unchanged since), got %s: a change before the checkpoint was repeated", ids, id, ops(resumed))
			}
		}
	})

	t.Run("replay", func(t *testing.T) {
		a := flatten(k.changes(t, cn, cp1, 0))
		b := flatten(k.changes(t, cn, cp1, 0))
		if len(a) != len(b) {
			t.Fatalf("ReadChanges twice from one checkpoint: expected the same changes, got %s then %s", ops(a), ops(b))
		}
		for i := range a {
			if a[i].Op != b[i].Op || a[i].Record.ID != b[i].Record.ID {
				t.Fatalf("ReadChanges twice from one checkpoint: expected the same changes, got %s then %s", ops(a), ops(b))
			}
			if d := diffFields(nil, a[i].Record.Fields, b[i].Record.Fields); len(d) > 0 {
				t.Errorf("ReadChanges twice from one checkpoint: change %d (%s) differs: %s", i, a[i].Record.ID, strings.Join(d, "; "))
			}
		}
	})

	t.Run("mid-stream", func(t *testing.T) {
		bs := k.changes(t, cn, nil, 1)
		if len(bs) < 3 {
			t.Skipf("skipped: with BatchSize 1 the connector sent %d batches; resuming mid-stream needs at least 3", len(bs))
		}
		mid := len(bs) / 2
		var tail []connector.Change
		for _, b := range bs[mid+1:] {
			tail = append(tail, b.changes...)
		}
		var head []connector.Change
		for _, b := range bs[:mid+1] {
			head = append(head, b.changes...)
		}
		resumed := flatten(k.changes(t, cn, bs[mid].checkpoint, 1))
		got, want := idSet(resumed), idSet(tail)
		for id := range want {
			if !got[id] {
				t.Errorf("resuming from the checkpoint of batch %d of %d: expected %q (it came after), got %s: lost", mid+1, len(bs), id, ops(resumed))
			}
		}
		for id := range got {
			if !want[id] && idSet(head)[id] {
				t.Errorf("resuming from the checkpoint of batch %d of %d: %q came before that checkpoint and was delivered again: repeated (after it: %s)", mid+1, len(bs), id, ops(resumed))
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		before := lastCheckpoint(t, k.changes(t, cn, cp1, 0), cp1)
		if err := src.Delete(ctx, ids[1]); err != nil {
			t.Fatalf("deleting %q at the source: %v", ids[1], err)
		}
		after := flatten(k.changes(t, cn, before, 0))
		found := false
		for _, c := range after {
			if c.Record.ID != ids[1] {
				continue
			}
			if c.Op != connector.Delete {
				t.Errorf("ReadChanges after deleting %q: expected a delete of it, got %s", ids[1], ops(after))
			}
			found = true
		}
		if !found {
			t.Errorf("ReadChanges after deleting %q: expected a delete of it, got %s", ids[1], ops(after))
		}
	})

	t.Run("bad-checkpoint", func(t *testing.T) {
		bs := k.changes(t, cn, []byte("not a checkpoint of this connector"), 0)
		if len(bs) == 0 || !bs[0].fullResync {
			t.Fatalf("ReadChanges from a checkpoint the connector cannot use: expected the full state with FullResync on the first batch, got %d batches (first FullResync=%v)", len(bs), len(bs) > 0 && bs[0].fullResync)
		}
		got := idSet(flatten(bs))
		for _, id := range append(ids[2:], more...) {
			if !got[id] {
				t.Errorf("full resync: expected %q (a live record), got %s", id, ops(flatten(bs)))
			}
		}
	})
}
