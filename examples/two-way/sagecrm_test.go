package twowayexample_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/sagecrm/sagecrmtest"
)

// sageRows renders the rows of the tables a meeting sync writes, to detect
// any write between two snapshots (the emulator counts requests, not
// writes; every write changes a row's updated date, a row set or a value).
func sageRows(s *sagecrmtest.Server) string {
	var out []string
	for _, table := range []string{"communication", "comm_link"} {
		for _, r := range s.Rows(table) {
			out = append(out, fmt.Sprintf("%s %v", table, r))
		}
	}
	sort.Strings(out)
	return fmt.Sprint(out)
}

func TestMicrosoft365SageCRMTwoWay(t *testing.T) {
	g := startGraph(t)
	s, err := sagecrmtest.Start(sagecrmtest.Options{})
	if err != nil {
		t.Fatalf("starting the Sage CRM emulator: %v", err)
	}
	defer s.Close()
	for k, v := range map[string]string{
		"SAGECRM_BASE_URL": s.BaseURL(), "SAGECRM_CA_FILE": s.CAFile(), "SAGECRM_USERNAME": s.Username(), "SAGECRM_PASSWORD": s.Password(),
	} {
		t.Setenv(k, v)
	}
	owner, err := s.Insert("users", map[string]any{"user_logon": "anna", "user_lastname": "Sales", "user_emailaddress": mailbox})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Truncate(time.Hour).Add(48 * time.Hour)
	if _, err := g.PutEvent(mailbox, map[string]any{
		"subject": "Quarterly review", "location": map[string]any{"displayName": "Room 4"},
		"start": map[string]any{"dateTime": start.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"end":   map[string]any{"dateTime": start.Add(time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
	}); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, "m365-sagecrm.yaml")
	// An appointment booked in the CRM for the mailbox's user, through the
	// connector as the CRM's own screens would store it.
	crm, err := h.conns.Client(t.Context(), "crm")
	if err != nil {
		t.Fatal(err)
	}
	crmID := createAppointment(t, crm, owner, start.Add(24*time.Hour))

	sum := h.round("meetings")
	if sum.Counts.Created != 2 {
		t.Errorf("first round: want 2 created (one each way), got %+v", sum.Counts)
	}
	l, ok := h.link("meetings", "b", crmID)
	if !ok {
		t.Fatalf("no link for the CRM appointment %s", crmID)
	}
	ev, ok := g.Event(mailbox, l.AID)
	if !ok {
		t.Fatalf("the CRM appointment is not in Outlook (link %+v)", l)
	}
	join, _ := ev["onlineMeeting"].(map[string]any)
	if ev["subject"] != "Site visit" || ev["isOnlineMeeting"] != true || join == nil || join["joinUrl"] == nil {
		t.Errorf("Outlook event: want the CRM appointment as a Teams meeting, got subject %v online %v onlineMeeting %v", ev["subject"], ev["isOnlineMeeting"], ev["onlineMeeting"])
	}
	row := sageRow(t, s, crmID)
	if row["comm_outlookentryid"] != l.AID {
		t.Errorf("CRM appointment: comm_outlookentryid = %v, want the Outlook id %s", row["comm_outlookentryid"], l.AID)
	}
	quiet := func(when string) {
		t.Helper()
		g.ResetStats()
		before := sageRows(s)
		sum := h.round("meetings")
		if gw, changed := graphWrites(g), sageRows(s) != before; gw != 0 || changed {
			t.Errorf("%s: want a round without writes, got %d Graph event writes, Sage CRM rows changed: %v (%+v)", when, gw, changed, sum.Counts)
		}
	}
	quiet("the echoes of the first sync")
	quiet("after the first sync")

	// Moved in Outlook → moved in the CRM.
	moved := start.Add(26 * time.Hour)
	if err := g.PatchEvent(mailbox, l.AID, map[string]any{
		"start": map[string]any{"dateTime": moved.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"end":   map[string]any{"dateTime": moved.Add(time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
	}); err != nil {
		t.Fatal(err)
	}
	h.round("meetings")
	if got := appointmentStart(t, crm, crmID); !got.Equal(moved) {
		t.Errorf("moved in Outlook to %s: the CRM appointment starts at %s", moved, got)
	}
	quiet("the echo of the move")
	quiet("after the move")

	// Moved in the CRM → moved in Outlook.
	movedAgain := moved.Add(2 * time.Hour)
	outs, err := crm.Write(context.Background(), connector.WriteBatch{Entity: "communication", Ops: []connector.WriteOp{{
		Action: connector.ActionUpsert, IdempotencyKey: "test-move", TargetID: crmID,
		Record: connector.Record{ID: crmID, Fields: map[string]any{"start": movedAgain, "end": movedAgain.Add(time.Hour)}},
	}}})
	if err != nil || len(outs) != 1 || outs[0].Status != connector.Updated {
		t.Fatalf("moving the appointment in the CRM: %v %+v", err, outs)
	}
	h.round("meetings")
	ev, _ = g.Event(mailbox, l.AID)
	st, _ := ev["start"].(map[string]any)
	if got, _ := st["dateTime"].(string); len(got) < 19 || got[:19] != movedAgain.Format("2006-01-02T15:04:05") {
		t.Errorf("moved in the CRM to %s: Outlook has start %v", movedAgain, ev["start"])
	}
	quiet("the echo of the move in the CRM")
	quiet("after the move in the CRM")

	// Cancelled in the CRM → gone from Outlook; cancelled in Outlook →
	// gone from the CRM.
	var other string
	for _, e := range g.Events(mailbox) {
		if e["subject"] == "Quarterly review" {
			other, _ = e["id"].(string)
		}
	}
	ol, ok := h.link("meetings", "a", other)
	if !ok {
		t.Fatalf("no link for the Outlook meeting %s", other)
	}
	deleteRecord(t, crm, crmID)
	if err := g.DeleteEvent(mailbox, ol.AID); err != nil {
		t.Fatal(err)
	}
	h.round("meetings")
	quiet("the echoes of the cancellations")
	if evs := g.Events(mailbox); len(evs) != 0 {
		t.Errorf("after cancelling both: want no event in Outlook, got %d", len(evs))
	}
	if rows := s.Rows("communication"); len(rows) != 0 {
		t.Errorf("after cancelling both: want no appointment left in Sage CRM, got %v", rows)
	}
	if n := h.links("meetings"); n != 0 {
		t.Errorf("want no links left, got %d", n)
	}
	quiet("after the cancellations")
}

// createAppointment books an appointment in the CRM for a user, through a
// connector client of its own (as the CRM's screens would: the pipeline's
// host does not know about it).
func createAppointment(t *testing.T, crm connector.Client, user int64, at time.Time) string {
	t.Helper()
	outs, err := crm.Write(context.Background(), connector.WriteBatch{Entity: "communication", Ops: []connector.WriteOp{{
		Action: connector.ActionUpsert, IdempotencyKey: "test-appointment",
		Record: connector.Record{Fields: map[string]any{
			"comm_type": "Appointment", "comm_action": "Meeting", "comm_status": "Pending", "comm_subject": "Site visit",
			"comm_location": "Fabrikam HQ", "start": at, "end": at.Add(time.Hour), "user_ids": []any{user},
		}},
	}}})
	if err != nil || len(outs) != 1 || outs[0].Status != connector.Created {
		t.Fatalf("booking an appointment in the CRM: %v %+v", err, outs)
	}
	return outs[0].TargetID
}

func sageRow(t *testing.T, s *sagecrmtest.Server, id string) map[string]any {
	t.Helper()
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		t.Fatalf("Sage CRM id %q: %v", id, err)
	}
	r, ok := s.Get("communication", n)
	if !ok {
		t.Fatalf("no appointment %s in Sage CRM", id)
	}
	return r
}

// appointmentStart reads an appointment's start through the connector.
func appointmentStart(t *testing.T, crm connector.Client, id string) time.Time {
	t.Helper()
	recs, err := crm.Query(context.Background(), connector.QueryRequest{Entity: "communication", Match: map[string]any{"comm_communicationid": id}, Limit: 1})
	if err != nil || len(recs) != 1 {
		t.Fatalf("reading appointment %s: %v %v", id, err, recs)
	}
	ts, _ := recs[0].Fields["start"].(time.Time)
	return ts
}

func deleteRecord(t *testing.T, crm connector.Client, id string) {
	t.Helper()
	outs, err := crm.Write(context.Background(), connector.WriteBatch{Entity: "communication", Ops: []connector.WriteOp{{
		Action: connector.ActionDelete, IdempotencyKey: "test-delete-" + id, TargetID: id}}})
	if err != nil || len(outs) != 1 || outs[0].Status != connector.Deleted {
		t.Fatalf("deleting appointment %s in the CRM: %v %+v", id, err, outs)
	}
}
