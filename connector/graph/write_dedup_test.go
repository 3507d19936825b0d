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
