package graph

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

func eventOp(key, user, subject string, start time.Time) connector.WriteOp {
	return connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: key, Record: connector.Record{Fields: map[string]any{
		"user": user, "subject": subject, "start": graphTime(start), "end": graphTime(start.Add(30 * time.Minute)),
	}}}
}

// TestEmulatorWriteBatchPartialFailure writes events of three mailboxes in
// one $batch where one part is refused by the service (an unknown time
// zone), one is throttled (429 inside the 200 batch answer) and one fails
// with 503 after the service committed it. The refused op is rejected
// naming its field, the others are created exactly once: the throttled
// part and the failed part are sent again on their own, and the
// transactionId keeps the second try of the committed one from making a
// second event.
func TestEmulatorWriteBatchPartialFailure(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 3})
	conn := e.connect(t, map[string]any{"users": map[string]any{"list": "user1@contoso.com;user2@contoso.com;user3@contoso.com"}}, nil)
	ctx := context.Background()
	if _, err := conn.ListPartitions(ctx, "event"); err != nil {
		t.Fatal(err)
	}
	e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultUnavailable, Path: "/v1.0/users/*/events", Method: "POST", User: "user2@contoso.com", Times: 1, AfterCommit: true})
	e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultThrottle, Path: "/v1.0/users/*/events", Method: "POST", User: "user3@contoso.com", Times: 1, RetryAfter: 10 * time.Millisecond})
	start := time.Now().UTC().Add(50 * time.Hour).Truncate(time.Hour)
	var ops []connector.WriteOp
	for i, u := range []string{"user1", "user2", "user3", "user1", "user2", "user3"} {
		ops = append(ops, eventOp(fmt.Sprint("p", i), u+"@contoso.com", fmt.Sprint("partial ", i), start.Add(time.Duration(i)*time.Hour)))
	}
	bad := eventOp("bad-tz", "user1@contoso.com", "bad zone", start)
	bad.Record.Fields["start"] = map[string]any{"dateTime": start.Format("2006-01-02T15:04:05"), "timeZone": "Mars/Olympus_Mons"}
	ops = append(ops, bad)
	e.srv.ResetStats()
	outs, err := conn.Write(ctx, connector.WriteBatch{Entity: "event", Ops: ops})
	if err != nil {
		t.Fatal(err)
	}
	st := e.srv.Stats()
	if st.Requests["batch"] == 0 {
		t.Fatalf("no $batch was used: %v", st.Requests)
	}
	for i := range 6 {
		o := outs[i]
		if o.Status != connector.Created || o.TargetID == "" || o.Version == "" || o.Stored == nil {
			t.Errorf("op %d: %+v", i, o)
			continue
		}
		user := ops[i].Record.Fields["user"].(string)
		posts, events := e.srv.TransactionCreates(user, transactionID("test", ops[i].IdempotencyKey))
		if events != 1 {
			t.Errorf("op %d: %d events with its transactionId (%d posts)", i, events, posts)
		}
		if _, ok := e.srv.Event(user, o.TargetID); !ok {
			t.Errorf("op %d: %s not in %s", i, o.TargetID, user)
		}
	}
	if posts, _ := e.srv.TransactionCreates("user2@contoso.com", transactionID("test", "p1")); posts < 2 {
		// Which of user2's two ops met the fault depends on the order the
		// service ran the parts in; one of them was posted twice.
		if p4, _ := e.srv.TransactionCreates("user2@contoso.com", transactionID("test", "p4")); p4 < 2 {
			t.Errorf("the part that failed after commit was not sent again (posts %d, %d)", posts, p4)
		}
	}
	last := outs[6]
	if last.Status != connector.Rejected || last.Diagnostics[0].Code != connector.InvalidInput || last.Diagnostics[0].Field != "start.timeZone" {
		t.Errorf("bad time zone: %+v", last)
	}
	if e.srv.Faults().Pending() != 0 {
		t.Errorf("%d scripted faults did not fire", e.srv.Faults().Pending())
	}
}

// TestEmulatorWriteBatchLostAnswer loses the answer of a whole $batch after
// the service ran it (503 after commit, then a reset): the connector sends
// it again and every event exists once.
func TestEmulatorWriteBatchLostAnswer(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 2})
	conn := e.connect(t, map[string]any{"users": map[string]any{"list": "user1@contoso.com;user2@contoso.com"}}, nil)
	ctx := context.Background()
	if _, err := conn.ListPartitions(ctx, "event"); err != nil {
		t.Fatal(err)
	}
	e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultUnavailable, Path: "/v1.0/$batch", Method: "POST", Times: 1, AfterCommit: true})
	e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultReset, Path: "/v1.0/$batch", Method: "POST", Times: 1, AfterCommit: true})
	start := time.Now().UTC().Add(30 * time.Hour).Truncate(time.Hour)
	var ops []connector.WriteOp
	for i := range 10 {
		ops = append(ops, eventOp(fmt.Sprint("lost-", i), fmt.Sprintf("user%d@contoso.com", i%2+1), fmt.Sprint("lost ", i), start))
	}
	for round := range 2 { // the host sending the same batch again changes nothing either
		outs, err := conn.Write(ctx, connector.WriteBatch{Entity: "event", Ops: ops})
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range outs {
			user := ops[i].Record.Fields["user"].(string)
			posts, events := e.srv.TransactionCreates(user, transactionID("test", ops[i].IdempotencyKey))
			if o.Status != connector.Created || events != 1 {
				t.Errorf("round %d op %d: %+v; %d events from %d posts", round, i, o, events, posts)
			}
		}
	}
	n := 0
	for _, u := range []string{"user1@contoso.com", "user2@contoso.com"} {
		for _, ev := range e.srv.Events(u) {
			if s, _ := ev["subject"].(string); strings.HasPrefix(s, "lost ") {
				n++
			}
		}
	}
	if n != 10 {
		t.Errorf("%d events written, want 10", n)
	}
	if e.srv.Faults().Pending() != 0 {
		t.Errorf("%d scripted faults did not fire", e.srv.Faults().Pending())
	}
}

// TestEmulatorWriteBatchKeepsMailboxLimit writes 60 events into one
// mailbox while reads of it run: the mailbox never sees more than
// max_concurrency_per_mailbox requests at once, so nothing is throttled.
func TestEmulatorWriteBatchKeepsMailboxLimit(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 1, Latency: 5 * time.Millisecond})
	conn := e.connect(t, map[string]any{"users": map[string]any{"list": "user1@contoso.com"}}, nil)
	ctx := context.Background()
	if _, err := conn.ListPartitions(ctx, "event"); err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Add(30 * time.Hour).Truncate(time.Hour)
	var ops []connector.WriteOp
	for i := range 60 {
		ops = append(ops, eventOp(fmt.Sprint("lim-", i), "user1@contoso.com", fmt.Sprint("limit ", i), start.Add(time.Duration(i)*time.Minute)))
	}
	e.srv.ResetStats()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 5 {
			readAll(t, conn, "contact", "user1@contoso.com", nil)
		}
	}()
	outs, err := conn.Write(ctx, connector.WriteBatch{Entity: "event", Ops: ops})
	<-done
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range outs {
		if o.Status != connector.Created {
			t.Errorf("op %d: %+v", i, o)
		}
	}
	st := e.srv.Stats()
	if st.MailboxConcurrentPeak > 4 || st.Throttled != 0 {
		t.Errorf("mailbox peak %d, throttled %d", st.MailboxConcurrentPeak, st.Throttled)
	}
	if st.Requests["batch"] != 3 || st.Requests["events.post"] != 60 {
		t.Errorf("requests %v", st.Requests)
	}
}

// TestEmulatorWriteSameItemInOrder sends an update and then a delete of
// the same event in one batch: they run in that order.
func TestEmulatorWriteSameItemInOrder(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 1})
	conn := e.connect(t, map[string]any{"users": map[string]any{"list": "user1@contoso.com"}}, nil)
	ctx := context.Background()
	if _, err := conn.ListPartitions(ctx, "event"); err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Add(30 * time.Hour).Truncate(time.Hour)
	created := writeOne(t, conn, "event", eventOp("order", "user1@contoso.com", "order", start))
	outs, err := conn.Write(ctx, connector.WriteBatch{Entity: "event", Ops: []connector.WriteOp{
		{Action: connector.ActionUpsert, IdempotencyKey: "o1", TargetID: created.TargetID, Record: connector.Record{Fields: map[string]any{"user": "user1@contoso.com", "subject": "first"}}},
		{Action: connector.ActionUpsert, IdempotencyKey: "o2", TargetID: created.TargetID, Record: connector.Record{Fields: map[string]any{"user": "user1@contoso.com", "subject": "second"}}},
		eventOp("o3", "user1@contoso.com", "other", start),
	}})
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := e.srv.Event("user1@contoso.com", created.TargetID)
	if outs[0].Status != connector.Updated || outs[1].Status != connector.Updated || ev["subject"] != "second" {
		t.Errorf("updates out of order: %+v %+v, subject %v", outs[0], outs[1], ev["subject"])
	}
	if outs[1].Stored.Fields["subject"] != "second" || outs[0].Version == outs[1].Version {
		t.Errorf("outcomes: %v %q %q", outs[1].Stored.Fields["subject"], outs[0].Version, outs[1].Version)
	}
}
