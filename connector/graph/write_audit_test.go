package graph

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

// TestEmulatorWriteRejections puts every rejection path into one batch
// between good ops: each bad op is rejected with INVALID_INPUT (or
// NOT_FOUND for an item that is gone) naming its field, and the good ones
// are written.
func TestEmulatorWriteRejections(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 3})
	conn := e.connect(t, map[string]any{"users": map[string]any{"list": "user1@contoso.com;user2@contoso.com"}}, nil)
	ctx := context.Background()
	if _, err := conn.ListPartitions(ctx, "event"); err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Add(40 * time.Hour).Truncate(time.Hour)
	good := func(key string) connector.WriteOp { return eventOp(key, "user1@contoso.com", key, start) }
	withField := func(op connector.WriteOp, k string, v any) connector.WriteOp {
		op.Record = op.Record.Clone()
		if v == nil {
			delete(op.Record.Fields, k)
		} else {
			op.Record.Fields[k] = v
		}
		return op
	}
	noMailbox := withField(good("no-mailbox"), "user", nil)
	unknown := withField(good("unknown"), "user", "stranger@fabrikam.com")
	outside := withField(good("outside"), "user", "user3@contoso.com")
	orgOutside := withField(withField(good("organizer-outside"), "user", nil), "organizer", attendee("user3@contoso.com"))
	typo := withField(good("typo"), "subjekt", "x")
	enum := withField(good("enum"), "showAs", "sleeping")
	zone := withField(good("zone"), "end", map[string]any{"dateTime": start.Format("2006-01-02T15:04:05"), "timeZone": "Atlantis Time"})
	// An update of an event deleted in Outlook meanwhile.
	deleted := writeOne(t, conn, "event", good("deleted"))
	if err := e.srv.DeleteEvent("user1@contoso.com", deleted.TargetID); err != nil {
		t.Fatal(err)
	}
	gone := connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "gone", TargetID: deleted.TargetID, Record: connector.Record{Fields: map[string]any{"user": "user1@contoso.com", "subject": "x"}}}
	delNoID := connector.WriteOp{Action: connector.ActionDelete, IdempotencyKey: "del-no-id", Partition: "user1@contoso.com"}
	ops := []connector.WriteOp{good("g1"), noMailbox, unknown, outside, orgOutside, typo, enum, zone, gone, delNoID, good("g2")}
	want := []struct {
		code  connector.Code
		field string
	}{
		{}, {connector.InvalidInput, "user"}, {connector.InvalidInput, "user"}, {connector.InvalidInput, "user"},
		{connector.InvalidInput, "organizer.emailAddress.address"}, {connector.InvalidInput, "subjekt"},
		{connector.InvalidInput, "showAs"}, {connector.InvalidInput, "end.timeZone"}, {connector.NotFound, ""},
		{connector.InvalidInput, "id"}, {},
	}
	outs, err := conn.Write(ctx, connector.WriteBatch{Entity: "event", Ops: ops})
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range outs {
		w := want[i]
		if w.code == "" {
			if o.Status != connector.Created {
				t.Errorf("op %d (%s): %+v", i, ops[i].IdempotencyKey, o)
			}
			continue
		}
		if o.Status != connector.Rejected || len(o.Diagnostics) == 0 || o.Diagnostics[0].Code != w.code || o.Diagnostics[0].Field != w.field {
			t.Errorf("op %d (%s): want %s on %q, got %+v", i, ops[i].IdempotencyKey, w.code, w.field, o)
		}
	}
	// Whole-batch errors: a read-only and an unknown entity.
	if _, err := conn.Write(ctx, connector.WriteBatch{Entity: "message", Ops: []connector.WriteOp{good("m")}}); !hasCode(err, connector.InvalidInput) {
		t.Errorf("message write: %v", err)
	}
	if _, err := conn.Write(ctx, connector.WriteBatch{Entity: "calendar", Ops: []connector.WriteOp{good("c")}}); !hasCode(err, connector.NotFound) {
		t.Errorf("unknown entity: %v", err)
	}
}

// TestEmulatorWriteSeriesRanges creates an endDate series and a noEnd
// series: the remembered occurrences run to the range's end date, and for
// noEnd to the end of the sync window.
func TestEmulatorWriteSeriesRanges(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 1})
	conn := e.connect(t, map[string]any{"window": map[string]any{"past_months": 1, "future_months": 1}}, nil)
	ctx := context.Background()
	if _, err := conn.ListPartitions(ctx, "event"); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	start := time.Date(now.Year(), now.Month(), now.Day(), 9, 0, 0, 0, time.UTC).AddDate(0, 0, 1)
	series := func(key string, rng map[string]any) (connector.WriteOutcome, []string) {
		rng["startDate"] = start.Format(time.DateOnly)
		out := writeOne(t, conn, "event", connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: key, Record: connector.Record{Fields: map[string]any{
			"user": "user1@contoso.com", "subject": key, "start": graphTime(start), "end": graphTime(start.Add(time.Hour)),
			"recurrence": map[string]any{"pattern": map[string]any{"type": "daily", "interval": 1}, "range": rng},
		}}})
		if out.Status != connector.Created || len(out.Diagnostics) > 0 {
			t.Fatalf("%s: %+v", key, out)
		}
		occ, err := conn.SeriesOccurrences(ctx, "user1@contoso.com", out.TargetID)
		if err != nil {
			t.Fatal(err)
		}
		return out, occ
	}
	end := start.AddDate(0, 0, 9)
	if _, occ := series("until", map[string]any{"type": "endDate", "endDate": end.Format(time.DateOnly)}); len(occ) != 10 {
		t.Errorf("endDate series: %d occurrences remembered, want 10", len(occ))
	}
	_, windowEnd := conn.window(now)
	wantNoEnd := int(windowEnd.Sub(start.Truncate(24*time.Hour)) / (24 * time.Hour))
	if _, occ := series("forever", map[string]any{"type": "noEnd"}); len(occ) != wantNoEnd {
		t.Errorf("noEnd series: %d occurrences remembered, want %d (to the window's end %s)", len(occ), wantNoEnd, windowEnd)
	}
}

// TestEmulatorWriteContactCopiesFollow updates and deletes a contact in
// additional mode: the copy in the other mailbox follows; a contact folder
// setting puts both into that folder.
func TestEmulatorWriteContactCopiesFollow(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 3})
	conn := e.connect(t, map[string]any{"entities": map[string]any{"contacts": map[string]any{"mailbox": "user3@contoso.com", "mode": "additional"}}}, nil)
	ctx := context.Background()
	if _, err := conn.ListPartitions(ctx, "contact"); err != nil {
		t.Fatal(err)
	}
	owner0, other0 := len(e.srv.Contacts("user1@contoso.com")), len(e.srv.Contacts("user3@contoso.com"))
	out := writeOne(t, conn, "contact", connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "c", Record: connector.Record{Fields: map[string]any{"user": "user1@contoso.com", "givenName": "Ada", "surname": "Lovelace"}}})
	if out.Status != connector.Created || len(out.Diagnostics) > 0 {
		t.Fatalf("%+v", out)
	}
	copyOf := func() map[string]any {
		for _, c := range e.srv.Contacts("user3@contoso.com") {
			if c["surname"] == "Lovelace" || c["surname"] == "King" {
				return c
			}
		}
		return nil
	}
	if copyOf() == nil {
		t.Fatal("no copy in the other mailbox")
	}
	upd := writeOne(t, conn, "contact", connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "c2", TargetID: out.TargetID, Record: connector.Record{Fields: map[string]any{"user": "user1@contoso.com", "surname": "King"}}})
	if upd.Status != connector.Updated || len(upd.Diagnostics) > 0 {
		t.Fatalf("%+v", upd)
	}
	if cp := copyOf(); cp == nil || cp["surname"] != "King" || cp["givenName"] != "Ada" {
		t.Errorf("the copy did not follow the update: %v", cp)
	}
	if n := len(e.srv.Contacts("user3@contoso.com")); n != other0+1 {
		t.Errorf("the update made another copy: %d contacts, want %d", n, other0+1)
	}
	del := writeOne(t, conn, "contact", connector.WriteOp{Action: connector.ActionDelete, IdempotencyKey: "c3", TargetID: out.TargetID, Partition: "user1@contoso.com"})
	if del.Status != connector.Deleted || copyOf() != nil || len(e.srv.Contacts("user1@contoso.com")) != owner0 {
		t.Errorf("delete: %+v, copy %v", del, copyOf())
	}
}

// TestEmulatorWriteTodoNamedList writes into a list named in the settings,
// and rejects writes naming entities.todo.list when the list is missing.
func TestEmulatorWriteTodoNamedList(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 1})
	conn := e.connect(t, map[string]any{"entities": map[string]any{"todo": map[string]any{"list": "Field work"}}}, nil)
	ctx := context.Background()
	if _, err := conn.ListPartitions(ctx, "todoTask"); err != nil {
		t.Fatal(err)
	}
	task := connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "t", Record: connector.Record{Fields: map[string]any{"user": "user1@contoso.com", "title": "Replace the boiler"}}}
	if out := writeOne(t, conn, "todoTask", task); out.Status != connector.Rejected || out.Diagnostics[0].Field != "entities.todo.list" {
		t.Errorf("missing list: %+v", out)
	}
	var list struct {
		ID string `json:"id"`
	}
	resp, err := conn.client.do(ctx, request{method: http.MethodPost, url: mailboxPath("user1@contoso.com") + "/todo/lists", body: []byte(`{"displayName":"Field work"}`), mailbox: "user1@contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := jsonUnmarshal(resp.body, &list); err != nil || list.ID == "" {
		t.Fatalf("list: %v %s", err, resp.body)
	}
	out := writeOne(t, conn, "todoTask", task)
	if out.Status != connector.Created {
		t.Fatalf("%+v", out)
	}
	var tasks struct {
		Value []struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"value"`
	}
	if err := conn.client.getJSON(ctx, request{url: mailboxPath("user1@contoso.com") + "/todo/lists/" + list.ID + "/tasks", mailbox: "user1@contoso.com"}, &tasks); err != nil {
		t.Fatal(err)
	}
	if len(tasks.Value) != 1 || tasks.Value[0].ID != out.TargetID {
		t.Errorf("the task is not in the named list: %+v", tasks.Value)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// TestEmulatorWriteContactCreateSentAgain sends the create of a contact
// twice under the same idempotency key (the host retrying): the second
// updates the first contact; after the contact was deleted in Outlook, a
// third makes it anew.
func TestEmulatorWriteContactCreateSentAgain(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 1})
	conn := e.connect(t, nil, nil)
	ctx := context.Background()
	if _, err := conn.ListPartitions(ctx, "contact"); err != nil {
		t.Fatal(err)
	}
	n0 := len(e.srv.Contacts("user1@contoso.com"))
	op := connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "card-17", Record: connector.Record{Fields: map[string]any{"user": "user1@contoso.com", "givenName": "Alan", "surname": "Turing"}}}
	first := writeOne(t, conn, "contact", op)
	again := writeOne(t, conn, "contact", op)
	if first.Status != connector.Created || again.Status != connector.Updated || again.TargetID != first.TargetID || len(e.srv.Contacts("user1@contoso.com")) != n0+1 {
		t.Fatalf("sent again: %+v then %+v, %d contacts", first, again, len(e.srv.Contacts("user1@contoso.com"))-n0)
	}
	if err := e.srv.DeleteContact("user1@contoso.com", first.TargetID); err != nil {
		t.Fatal(err)
	}
	third := writeOne(t, conn, "contact", op)
	if third.Status != connector.Created || third.TargetID == first.TargetID || len(e.srv.Contacts("user1@contoso.com")) != n0+1 {
		t.Errorf("after the delete: %+v, %d contacts", third, len(e.srv.Contacts("user1@contoso.com"))-n0)
	}
	fourth := writeOne(t, conn, "contact", op)
	if fourth.TargetID != third.TargetID {
		t.Errorf("the new contact was not remembered: %s then %s", third.TargetID, fourth.TargetID)
	}
}

// TestEmulatorWriteContactCopiesBatched writes ten contacts in additional
// mode: the contacts share one $batch, and their copies another.
func TestEmulatorWriteContactCopiesBatched(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 3})
	conn := e.connect(t, map[string]any{"entities": map[string]any{"contacts": map[string]any{"mailbox": "user3@contoso.com", "mode": "additional"}}}, nil)
	ctx := context.Background()
	if _, err := conn.ListPartitions(ctx, "contact"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.DiscoverSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	other0 := len(e.srv.Contacts("user3@contoso.com"))
	var ops []connector.WriteOp
	for i := range 10 {
		ops = append(ops, connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "b" + string(rune('a'+i)),
			Record: connector.Record{Fields: map[string]any{"user": "user1@contoso.com", "givenName": "Batch", "surname": string(rune('A' + i))}}})
	}
	e.srv.ResetStats()
	outs, err := conn.Write(ctx, connector.WriteBatch{Entity: "contact", Ops: ops})
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range outs {
		if o.Status != connector.Created || len(o.Diagnostics) > 0 {
			t.Errorf("op %d: %+v", i, o)
		}
	}
	st := e.srv.Stats()
	if st.Requests["batch"] != 2 || st.Total != 2 {
		t.Errorf("requests: %d in all, %v", st.Total, st.Requests)
	}
	if n := len(e.srv.Contacts("user3@contoso.com")) - other0; n != 10 {
		t.Errorf("%d copies", n)
	}
	// Deleting them deletes the copies, again in shared batches.
	var dels []connector.WriteOp
	for i, o := range outs {
		dels = append(dels, connector.WriteOp{Action: connector.ActionDelete, IdempotencyKey: "d" + ops[i].IdempotencyKey, TargetID: o.TargetID, Partition: "user1@contoso.com"})
	}
	e.srv.ResetStats()
	if _, err := conn.Write(ctx, connector.WriteBatch{Entity: "contact", Ops: dels}); err != nil {
		t.Fatal(err)
	}
	if st := e.srv.Stats(); st.Total != 2 || len(e.srv.Contacts("user3@contoso.com")) != other0 {
		t.Errorf("delete: %d requests (%v), %d copies left", st.Total, st.Requests, len(e.srv.Contacts("user3@contoso.com"))-other0)
	}
}
