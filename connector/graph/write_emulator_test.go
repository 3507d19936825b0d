package graph

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

func writeOne(t *testing.T, c *Connector, entity string, op connector.WriteOp) connector.WriteOutcome {
	t.Helper()
	outs, err := c.Write(context.Background(), connector.WriteBatch{Entity: entity, Ops: []connector.WriteOp{op}})
	if err != nil {
		t.Fatal(err)
	}
	return outs[0]
}

func TestEmulatorWriteEvents(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 3})
	conn := e.delegated(t, map[string]any{"users": map[string]any{"list": "user1@contoso.com;user2@contoso.com"}})
	ctx := context.Background()
	if _, err := conn.ListPartitions(ctx, "event"); err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Hour)
	ev := func(subject string, extra map[string]any) connector.Record {
		f := map[string]any{"subject": subject, "start": graphTime(start), "end": graphTime(start.Add(time.Hour))}
		for k, v := range extra {
			f[k] = v
		}
		return connector.Record{Fields: f}
	}
	// A batch with one bad record among good ones: the rest goes on.
	outs, err := conn.Write(ctx, connector.WriteBatch{Entity: "event", Ops: []connector.WriteOp{
		{Action: connector.ActionUpsert, IdempotencyKey: "k1", Record: ev("by user field", map[string]any{"user": "user2@contoso.com"})},
		{Action: connector.ActionUpsert, IdempotencyKey: "k2", Record: ev("outside", map[string]any{"user": "user3@contoso.com"})},
		{Action: connector.ActionUpsert, IdempotencyKey: "k3", Record: ev("by organizer", map[string]any{"organizer": attendee("user1@contoso.com")})},
		{Action: connector.ActionUpsert, IdempotencyKey: "k4", Record: ev("no mailbox", nil)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if outs[0].Status != connector.Created || outs[2].Status != connector.Created {
		t.Fatalf("good records: %+v %+v", outs[0], outs[2])
	}
	if _, ok := e.srv.Event("user2@contoso.com", outs[0].TargetID); !ok {
		t.Error("event not in the user field's mailbox")
	}
	if _, ok := e.srv.Event("user1@contoso.com", outs[2].TargetID); !ok {
		t.Error("event not in the organizer's mailbox")
	}
	for i, field := range map[int]string{1: "user", 3: "user"} {
		o := outs[i]
		if o.Status != connector.Rejected || o.Diagnostics[0].Code != connector.InvalidInput || o.Diagnostics[0].Field != field {
			t.Errorf("op %d: %+v", i, o)
		}
	}
	// A retry after the service committed but the answer was lost: no
	// second event (transactionId).
	e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultUnavailable, Path: "/v1.0/users/*/events", Method: "POST", Times: 1, AfterCommit: true})
	op := connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "lost-answer", Record: ev("lost answer", map[string]any{"user": "user1@contoso.com"})}
	first := writeOne(t, conn, "event", op)
	if first.Status != connector.Created {
		t.Fatalf("create through a lost answer: %+v", first)
	}
	again := writeOne(t, conn, "event", op)
	if again.TargetID != first.TargetID {
		t.Errorf("retried create made another event: %s then %s", first.TargetID, again.TargetID)
	}
	n := 0
	for _, m := range e.srv.Events("user1@contoso.com") {
		if m["subject"] == "lost answer" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d events with the same transactionId", n)
	}
	// Teams meeting: the join URL comes back.
	teams := writeOne(t, conn, "event", connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "teams",
		Record: ev("teams", map[string]any{"user": "user1@contoso.com", "isOnlineMeeting": true, "onlineMeetingProvider": "teamsForBusiness"})})
	om, _ := teams.Stored.Fields["onlineMeeting"].(map[string]any)
	if join, _ := om["joinUrl"].(string); !strings.HasPrefix(join, "https://teams.microsoft.com/") {
		t.Errorf("Teams meeting without a join URL: %+v", teams)
	}
	// Update and delete address the event in its mailbox.
	upd := writeOne(t, conn, "event", connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "u", TargetID: first.TargetID,
		Record: connector.Record{Fields: map[string]any{"user": "user1@contoso.com", "subject": "renamed"}}})
	if upd.Status != connector.Updated || upd.Version == "" || upd.Version == first.Version {
		t.Errorf("update: %+v", upd)
	}
	del := writeOne(t, conn, "event", connector.WriteOp{Action: connector.ActionDelete, IdempotencyKey: "d", TargetID: first.TargetID, Partition: "user1@contoso.com"})
	if del.Status != connector.Deleted {
		t.Errorf("delete: %+v", del)
	}
	if _, ok := e.srv.Event("user1@contoso.com", first.TargetID); ok {
		t.Error("event still there after delete")
	}
}

func TestEmulatorWriteSeries(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 1})
	conn := e.delegated(t, nil)
	ctx := context.Background()
	if _, err := conn.ListPartitions(ctx, "event"); err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Hour)
	out := writeOne(t, conn, "event", connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "series", Record: connector.Record{Fields: map[string]any{
		"user": "user1@contoso.com", "subject": "daily", "start": graphTime(start), "end": graphTime(start.Add(time.Hour)),
		"recurrence": map[string]any{
			"pattern": map[string]any{"type": "daily", "interval": int64(1)},
			"range":   map[string]any{"type": "numbered", "startDate": start.Format(time.DateOnly), "numberOfOccurrences": int64(5)},
		}}}})
	if out.Status != connector.Created {
		t.Fatalf("series: %+v", out)
	}
	occ, err := conn.SeriesOccurrences(ctx, "user1@contoso.com", out.TargetID)
	if err != nil || len(occ) != 5 {
		t.Fatalf("remembered occurrences: %v %v (type %v, diagnostics %v)", occ, err, out.Stored.Fields["type"], out.Diagnostics)
	}
	// An occurrence moved in Outlook arrives through delta and is one of
	// the remembered ones.
	_, cp, _ := readAll(t, conn, "event", "user1@contoso.com", nil)
	moved := start.AddDate(0, 0, 2).Add(3 * time.Hour)
	if err := e.srv.PatchEvent("user1@contoso.com", occ[2], map[string]any{"start": graphTime(moved), "end": graphTime(moved.Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	chs, _, _ := readAll(t, conn, "event", "user1@contoso.com", cp)
	found := false
	for _, ch := range chs {
		if ch.Record.ID == occ[2] {
			found = ch.Record.Fields["seriesMasterId"] == out.TargetID
		}
	}
	if !found {
		t.Errorf("the moved occurrence %s did not arrive matched to its series (%d changes)", occ[2], len(chs))
	}
	// An occurrence deleted in Outlook arrives as a tombstone carrying its
	// series, found through the remembered occurrences.
	_, cp, _ = readAll(t, conn, "event", "user1@contoso.com", nil)
	if err := e.srv.DeleteEvent("user1@contoso.com", occ[3]); err != nil {
		t.Fatal(err)
	}
	chs, _, _ = readAll(t, conn, "event", "user1@contoso.com", cp)
	matched := false
	for _, ch := range chs {
		if ch.Record.ID == occ[3] && ch.Op == connector.Delete {
			matched = ch.Record.Fields["seriesMasterId"] == out.TargetID
		}
	}
	if !matched {
		t.Errorf("the deleted occurrence %s did not arrive matched to its series: %+v", occ[3], chs)
	}
}

func TestEmulatorWriteContactsModes(t *testing.T) {
	for _, mode := range []string{"additional", "exclusive"} {
		t.Run(mode, func(t *testing.T) {
			e := startEmu(t, graphtest.Options{Users: 3})
			conn := e.delegated(t, map[string]any{"entities": map[string]any{"contacts": map[string]any{"mailbox": "user3@contoso.com", "mode": mode}}})
			ctx := context.Background()
			if _, err := conn.ListPartitions(ctx, "contact"); err != nil {
				t.Fatal(err)
			}
			out := writeOne(t, conn, "contact", connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "c1",
				Record: connector.Record{Fields: map[string]any{"user": "user1@contoso.com", "givenName": "Ada", "surname": "Lovelace"}}})
			if out.Status != connector.Created {
				t.Fatalf("%+v", out)
			}
			count := func(user string) int { return len(e.srv.Contacts(user)) }
			owner, other := count("user1@contoso.com"), count("user3@contoso.com")
			if mode == "additional" && (owner != 1 || other != 1) || mode == "exclusive" && (owner != 0 || other != 1) {
				t.Fatalf("contacts: owner %d, other mailbox %d", owner, other)
			}
			del := writeOne(t, conn, "contact", connector.WriteOp{Action: connector.ActionDelete, IdempotencyKey: "c1-del", TargetID: out.TargetID,
				Record: connector.Record{Fields: map[string]any{"user": "user1@contoso.com"}}})
			if del.Status != connector.Deleted || count("user1@contoso.com")+count("user3@contoso.com") != 0 {
				t.Errorf("delete follows every copy: %+v, left %d+%d", del, count("user1@contoso.com"), count("user3@contoso.com"))
			}
		})
	}
}

func TestEmulatorWriteTodo(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 1})
	conn := e.delegated(t, nil)
	if _, err := conn.ListPartitions(context.Background(), "todoTask"); err != nil {
		t.Fatal(err)
	}
	out := writeOne(t, conn, "todoTask", connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "t1",
		Record: connector.Record{Fields: map[string]any{"user": "user1@contoso.com", "title": "Call back"}}})
	if out.Status != connector.Created || len(e.srv.Tasks("user1@contoso.com")) != 1 {
		t.Fatalf("%+v", out)
	}
}
