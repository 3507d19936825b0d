package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

// TestWriteNoDuplicatesContactsTasksAfterCommitFaults runs, for contacts
// and for To Do tasks, many writes of new items meeting faults injected
// after the emulator committed them: a 503, 504 or connection reset on
// single creates, a 503 or reset on a whole $batch, a 503 on the lookup
// itself, the host sending the batch again, and the host sending it again
// after the connector lost what it had recorded (as if the process ended
// between the commit and the record). After every run each idempotency
// key's stamp is on exactly one item at the emulator.
func TestWriteNoDuplicatesContactsTasksAfterCommitFaults(t *testing.T) {
	runs := 200
	if testing.Short() {
		runs = 40
	}
	for _, tc := range []struct {
		entity, path string
		count        func(e *emu, user, stamp string) (int, error)
		op           func(key, user string, i int) connector.WriteOp
	}{
		{"contact", "/v1.0/users/*/contacts",
			func(e *emu, user, stamp string) (int, error) {
				return e.srv.ContactsWithExtendedProperty(user, stampPropertyID, stamp)
			},
			func(key, user string, i int) connector.WriteOp {
				return connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: key, Record: connector.Record{Fields: map[string]any{
					"user": user, "givenName": "Ada", "surname": fmt.Sprintf("Dup %d", i)}}}
			}},
		{"todoTask", "/v1.0/users/*/todo/lists/*/tasks",
			func(e *emu, user, stamp string) (int, error) { return e.srv.TasksWithLinkedResource(user, stamp) },
			func(key, user string, i int) connector.WriteOp {
				return connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: key, Record: connector.Record{Fields: map[string]any{
					"user": user, "title": fmt.Sprintf("Call back %d", i)}}}
			}},
	} {
		t.Run(tc.entity, func(t *testing.T) {
			e := startEmu(t, graphtest.Options{Users: 3, EventsPerUser: 1, ContactsPerUser: 1, TasksPerUser: 1, MessagesPerUser: 1, Seed: 11})
			batched := e.delegated(t, nil)
			single := e.delegated(t, map[string]any{"batch": false})
			ctx := context.Background()
			for _, c := range []*Connector{batched, single} {
				c.client.sleep = func(context.Context, time.Duration) error { return nil }
				if _, err := c.ListPartitions(ctx, tc.entity); err != nil {
					t.Fatal(err)
				}
			}
			kinds := []graphtest.Fault{
				{Kind: graphtest.FaultUnavailable, Path: tc.path, Method: "POST", AfterCommit: true, RetryAfter: time.Millisecond},
				{Kind: graphtest.FaultReset, Path: tc.path, Method: "POST", AfterCommit: true},
				{Kind: graphtest.FaultGatewayTimeout, Path: tc.path, Method: "POST", AfterCommit: true},
				{Kind: graphtest.FaultUnavailable, Path: "/v1.0/$batch", Method: "POST", AfterCommit: true, RetryAfter: time.Millisecond},
				{Kind: graphtest.FaultReset, Path: "/v1.0/$batch", Method: "POST", AfterCommit: true},
				{Kind: graphtest.FaultUnavailable, Path: tc.path, Method: "GET"},
			}
			rng := rand.New(rand.NewPCG(3, 4))
			var faults, resent, forgotten int
			for run := range runs {
				c := batched
				if run%2 == 1 {
					c = single
				}
				var ops []connector.WriteOp
				for i := range 1 + rng.IntN(6) {
					ops = append(ops, tc.op(fmt.Sprintf("dup-%d-%d", run, i), fmt.Sprintf("user%d@contoso.com", 1+rng.IntN(3)), i))
				}
				e.srv.Faults().Clear()
				for range 1 + rng.IntN(3) {
					f := kinds[rng.IntN(len(kinds))]
					f.Times = 1
					e.srv.Faults().Add(f)
				}
				before := e.srv.Stats().Faults
				again := rng.IntN(4)
				for attempt := 0; attempt < 2; attempt++ {
					outs, err := c.Write(ctx, connector.WriteBatch{Entity: tc.entity, Ops: ops})
					if err != nil {
						t.Fatalf("run %d: %v", run, err)
					}
					for i, o := range outs {
						if o.Status != connector.Created && (attempt == 0 || o.Status != connector.Updated) {
							t.Fatalf("run %d attempt %d op %d: %+v", run, attempt, i, o)
						}
					}
					if again == 0 || attempt == 1 {
						break
					}
					if again == 1 {
						// The connector's record of the creates is lost
						// (the process ended after the commit): only
						// "sent" entries remain, as markSent wrote them.
						forgotten++
						for _, op := range ops {
							b, _ := json.Marshal(createdRef{Mailbox: op.Record.Fields["user"].(string), At: time.Now().Unix()})
							if err := c.host.Values().Put(ctx, createdKey(tc.entity, op.IdempotencyKey), b); err != nil {
								t.Fatal(err)
							}
						}
					} else {
						resent++
					}
				}
				faults += e.srv.Stats().Faults - before
				for _, op := range ops {
					n, err := tc.count(e, op.Record.Fields["user"].(string), transactionID("test", op.IdempotencyKey))
					if err != nil || n != 1 {
						t.Fatalf("run %d: %s has %d items (%v)", run, op.IdempotencyKey, n, err)
					}
				}
			}
			if faults < runs/2 {
				t.Errorf("only %d faults fired in %d runs", faults, runs)
			}
			t.Logf("%d runs: %d faults fired, %d batches sent twice by the host, %d sent again after the record was lost; every key's stamp is on exactly one %s", runs, faults, resent, forgotten, tc.entity)
		})
	}
}

// TestWriteNoDuplicateContactCopies: in contacts mode additional, the copy
// of a new contact in the other mailbox is stamped too; with its create
// answered 503 or reset after the emulator committed it, each contact
// still has exactly one copy.
func TestWriteNoDuplicateContactCopies(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 3})
	conn := e.delegated(t, map[string]any{"entities": map[string]any{"contacts": map[string]any{"mailbox": "user3@contoso.com", "mode": "additional"}}})
	conn.client.sleep = func(context.Context, time.Duration) error { return nil }
	ctx := context.Background()
	if _, err := conn.ListPartitions(ctx, "contact"); err != nil {
		t.Fatal(err)
	}
	for run := range 20 {
		e.srv.Faults().Clear()
		kind := graphtest.FaultUnavailable
		if run%2 == 1 {
			kind = graphtest.FaultReset
		}
		e.srv.Faults().Add(graphtest.Fault{Kind: kind, Path: "/v1.0/users/*/contacts", Method: "POST", User: "user3@contoso.com", AfterCommit: true, Times: 1})
		var ops []connector.WriteOp
		for i := range 3 {
			ops = append(ops, connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: fmt.Sprintf("copy-%d-%d", run, i), Record: connector.Record{Fields: map[string]any{
				"user": fmt.Sprintf("user%d@contoso.com", 1+i%2), "givenName": "Ada", "surname": fmt.Sprint(run, i)}}})
		}
		outs, err := conn.Write(ctx, connector.WriteBatch{Entity: "contact", Ops: ops})
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range outs {
			if o.Status != connector.Created || len(o.Diagnostics) != 0 {
				t.Fatalf("run %d op %d: %+v", run, i, o)
			}
			owner := ops[i].Record.Fields["user"].(string)
			n, err := e.srv.ContactsWithExtendedProperty("user3@contoso.com", stampPropertyID, copyStamp("test", owner, o.TargetID))
			if err != nil || n != 1 {
				t.Fatalf("run %d op %d: %d copies (%v)", run, i, n, err)
			}
		}
	}
	if got := len(e.srv.Contacts("user3@contoso.com")); got != 60 {
		t.Errorf("the other mailbox holds %d contacts, want 60 copies", got)
	}
}

// TestWriteContactCopyRecordLost: in contacts mode additional, the copies'
// creates are committed by the emulator but their answers lost (a reset
// inside the batch, a 503 on the copy's own retry) and the lookup by
// stamp fails too, so the connector never learns the copies' ids — as
// when the process ends between a copy's create and its record. The
// host then sends the same ops again: each contact still has exactly one
// copy, found by its stamp, recorded and brought up to date. Contacts
// whose copies were lost so and are then deleted lose their copies too.
func TestWriteContactCopyRecordLost(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 3})
	conn := e.delegated(t, map[string]any{"entities": map[string]any{"contacts": map[string]any{"mailbox": "user3@contoso.com", "mode": "additional"}}})
	conn.client.sleep = func(context.Context, time.Duration) error { return nil }
	ctx := context.Background()
	if _, err := conn.ListPartitions(ctx, "contact"); err != nil {
		t.Fatal(err)
	}
	const other = "user3@contoso.com"
	copies := func(owner, id string) int {
		t.Helper()
		n, err := e.srv.ContactsWithExtendedProperty(other, stampPropertyID, copyStamp("test", owner, id))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	ops := func(prefix, surname string) []connector.WriteOp {
		var out []connector.WriteOp
		for i := range 4 {
			out = append(out, connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: fmt.Sprintf("%s-%d", prefix, i), Record: connector.Record{Fields: map[string]any{
				"user": fmt.Sprintf("user%d@contoso.com", 1+i%2), "givenName": "Ada", "surname": surname}}})
		}
		return out
	}
	loseCopies := func(ops []connector.WriteOp) []connector.WriteOutcome {
		t.Helper()
		e.srv.Faults().Clear()
		e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultReset, Path: "/v1.0/users/*/contacts", Method: "POST", User: other, AfterCommit: true, Times: 100})
		e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultUnavailable, Path: "/v1.0/users/*/contacts", Method: "GET", User: other, RetryAfter: time.Millisecond, Times: 1000})
		outs, err := conn.Write(ctx, connector.WriteBatch{Entity: "contact", Ops: ops})
		e.srv.Faults().Clear()
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range outs {
			if o.Status != connector.Created || len(o.Diagnostics) == 0 {
				t.Fatalf("op %d: %+v, want created with a warning about its copy", i, o)
			}
			if n := copies(ops[i].Record.Fields["user"].(string), o.TargetID); n != 1 {
				t.Fatalf("op %d: %d copies after the lost answers, want the 1 the emulator committed", i, n)
			}
		}
		return outs
	}

	// The host sends the same ops again.
	first := ops("lost", "Lovelace")
	outs := loseCopies(first)
	again, err := conn.Write(ctx, connector.WriteBatch{Entity: "contact", Ops: ops("lost", "King")})
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range again {
		owner := first[i].Record.Fields["user"].(string)
		if o.Status != connector.Updated || o.TargetID != outs[i].TargetID || len(o.Diagnostics) != 0 {
			t.Fatalf("op %d sent again: %+v", i, o)
		}
		if n := copies(owner, o.TargetID); n != 1 {
			t.Errorf("op %d: %d copies after the ops were sent again, want 1", i, n)
		}
		ref, ok := conn.contactCopy(ctx, owner, o.TargetID)
		if !ok || ref.ID == "" {
			t.Errorf("op %d: the copy found by its stamp was not recorded: %+v", i, ref)
			continue
		}
		var surname any = "(missing)"
		for _, cp := range e.srv.Contacts(other) {
			if cp["id"] == ref.ID {
				surname = cp["surname"]
			}
		}
		if surname != "King" {
			t.Errorf("op %d: the copy found was not brought up to date: surname %v", i, surname)
		}
	}

	// The contacts are deleted.
	deleted := ops("gone", "Byron")
	outs = loseCopies(deleted)
	var dels []connector.WriteOp
	for i, o := range outs {
		dels = append(dels, connector.WriteOp{Action: connector.ActionDelete, IdempotencyKey: fmt.Sprintf("del-%d", i), TargetID: o.TargetID,
			Record: connector.Record{Fields: map[string]any{"user": deleted[i].Record.Fields["user"]}}})
	}
	gone, err := conn.Write(ctx, connector.WriteBatch{Entity: "contact", Ops: dels})
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range gone {
		owner := deleted[i].Record.Fields["user"].(string)
		if o.Status != connector.Deleted || len(o.Diagnostics) != 0 {
			t.Fatalf("delete %d: %+v", i, o)
		}
		if n := copies(owner, o.TargetID); n != 0 {
			t.Errorf("delete %d: %d copies left", i, n)
		}
		if _, ok := conn.contactCopy(ctx, owner, o.TargetID); ok {
			t.Errorf("delete %d: the copy's record was kept", i)
		}
	}
}
