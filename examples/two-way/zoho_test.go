package twowayexample_test

import (
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector/zoho/zohotest"
)

func TestMicrosoft365ZohoTwoWay(t *testing.T) {
	g := startGraph(t)
	z, err := zohotest.Start(zohotest.Options{CustomFields: map[string]int{"Events": 2}})
	if err != nil {
		t.Fatalf("starting the Zoho emulator: %v", err)
	}
	defer z.Close()
	for k, v := range map[string]string{
		"ZOHO_ACCOUNTS_URL": z.AccountsURL(""), "ZOHO_CA_FILE": z.CAFile(), "ZOHO_CLIENT_ID": z.ClientID(),
		"ZOHO_CLIENT_SECRET": z.ClientSecret(), "ZOHO_REFRESH_TOKEN": z.RefreshToken(),
	} {
		t.Setenv(k, v)
	}
	// The CRM user whose address is the mailbox's owns the CRM meetings.
	owner := ""
	for n := 0; n < 3 && owner == ""; n++ {
		if u := z.UserID("", n); u != "" {
			id, err := z.Create("", "Contacts", map[string]any{"Last_Name": "probe", "Owner": map[string]any{"id": u}})
			if err == nil {
				if rec, _ := z.Get("", "Contacts", id); rec != nil {
					if o, _ := rec["Owner"].(map[string]any); o != nil && o["email"] == mailbox {
						owner = u
					}
				}
				z.Delete("", "Contacts", id)
			}
		}
	}
	if owner == "" {
		t.Fatalf("the Zoho emulator has no user %s", mailbox)
	}

	// A meeting already in Outlook, and one booked in the CRM.
	start := time.Now().UTC().Truncate(time.Hour).Add(48 * time.Hour)
	outlookID, err := g.PutEvent(mailbox, map[string]any{
		"subject": "Quarterly review", "location": map[string]any{"displayName": "Room 4"},
		"start": map[string]any{"dateTime": start.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"end":   map[string]any{"dateTime": start.Add(time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
	})
	if err != nil {
		t.Fatal(err)
	}
	crmID, err := z.Create("", "Events", map[string]any{
		"Event_Title": "Demo for Fabrikam", "Venue": "Fabrikam HQ", "Owner": map[string]any{"id": owner},
		"Start_DateTime": start.Add(24 * time.Hour).Format(zohoTime), "End_DateTime": start.Add(25 * time.Hour).Format(zohoTime),
	})
	if err != nil {
		t.Fatal(err)
	}

	h := newHarness(t, "m365-zoho.yaml")
	s := h.round("meetings")
	if s.Counts.Created != 2 {
		t.Errorf("first round: want 2 created (one each way), got %+v", s.Counts)
	}
	// The CRM meeting is in Outlook, as a Teams meeting; the Outlook event
	// id and the join link came back into the CRM meeting.
	l, ok := h.link("meetings", "b", crmID)
	if !ok {
		t.Fatalf("no link for the CRM meeting %s", crmID)
	}
	ev, ok := g.Event(mailbox, l.AID)
	if !ok {
		t.Fatalf("the CRM meeting is not in Outlook (link %+v)", l)
	}
	join, _ := ev["onlineMeeting"].(map[string]any)
	if ev["subject"] != "Demo for Fabrikam" || ev["isOnlineMeeting"] != true || join == nil || join["joinUrl"] == nil {
		t.Errorf("Outlook event: want the CRM meeting as a Teams meeting, got subject %v online %v onlineMeeting %v", ev["subject"], ev["isOnlineMeeting"], ev["onlineMeeting"])
	}
	crm, _ := z.Get("", "Events", crmID)
	if crm["Custom_Field_1"] != l.AID {
		t.Errorf("CRM meeting: Custom_Field_1 = %v, want the Outlook id %s", crm["Custom_Field_1"], l.AID)
	}
	if join != nil && crm["Custom_Field_2"] != join["joinUrl"] {
		t.Errorf("CRM meeting: Custom_Field_2 = %v, want the Teams link %v", crm["Custom_Field_2"], join["joinUrl"])
	}
	if n := z.Count("", "Events"); n != 2 {
		t.Errorf("want 2 meetings in Zoho, got %d", n)
	}

	// The echoes of the host's own writes come back and are recognised;
	// after that, a round writes nothing at either service.
	quiet := func(when string) {
		t.Helper()
		g.ResetStats()
		z.ResetStats("")
		s := h.round("meetings")
		if gw, zw := graphWrites(g), z.Stats("").WriteCalls; gw != 0 || zw != 0 {
			t.Errorf("%s: want a round without writes, got %d Graph event writes and %d Zoho write calls (%+v)", when, gw, zw, s.Counts)
		}
	}
	quiet("the echoes of the first sync")
	quiet("after the first sync")

	// Moved in Outlook → moved in the CRM.
	ol, ok := h.link("meetings", "b", crmID)
	if !ok {
		t.Fatal("link lost")
	}
	moved := start.Add(26 * time.Hour)
	if err := g.PatchEvent(mailbox, ol.AID, map[string]any{
		"start": map[string]any{"dateTime": moved.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"end":   map[string]any{"dateTime": moved.Add(time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
	}); err != nil {
		t.Fatal(err)
	}
	s = h.round("meetings")
	crm, _ = z.Get("", "Events", crmID)
	if got, err := time.Parse(time.RFC3339, fmt100(crm["Start_DateTime"])); err != nil || !got.Equal(moved) {
		t.Errorf("moved in Outlook to %s: the CRM meeting starts at %v (%v)", moved, crm["Start_DateTime"], err)
	}
	if s.Counts.Updated != 1 {
		t.Errorf("move: want one update, got %+v", s.Counts)
	}
	quiet("the echo of the move")
	quiet("after the move")

	// Moved in the CRM → moved in Outlook.
	movedAgain := moved.Add(2 * time.Hour)
	if err := z.Update("", "Events", crmID, map[string]any{
		"Start_DateTime": movedAgain.Format(zohoTime), "End_DateTime": movedAgain.Add(time.Hour).Format(zohoTime),
	}); err != nil {
		t.Fatal(err)
	}
	h.round("meetings")
	ev, _ = g.Event(mailbox, ol.AID)
	st, _ := ev["start"].(map[string]any)
	if got, _ := st["dateTime"].(string); len(got) < 19 || got[:19] != movedAgain.Format("2006-01-02T15:04:05") {
		t.Errorf("moved in the CRM to %s: Outlook has start %v", movedAgain, ev["start"])
	}
	quiet("the echo of the move in the CRM")
	quiet("after the move in the CRM")

	// Cancelled in Outlook → gone from the CRM; cancelled in the CRM →
	// gone from Outlook.
	ql, ok := h.link("meetings", "a", outlookID)
	if !ok {
		// The link may hold the other id form of the Outlook event.
		for _, e := range g.Events(mailbox) {
			if e["subject"] == "Quarterly review" {
				id, _ := e["id"].(string)
				ql, ok = h.link("meetings", "a", id)
			}
		}
	}
	if !ok {
		t.Fatal("no link for the Outlook meeting")
	}
	if err := g.DeleteEvent(mailbox, ql.AID); err != nil {
		t.Fatal(err)
	}
	if err := z.Delete("", "Events", crmID); err != nil {
		t.Fatal(err)
	}
	s = h.round("meetings")
	if n := z.Count("", "Events"); n != 0 {
		t.Errorf("after cancelling both: want no meeting in Zoho, got %d", n)
	}
	if evs := g.Events(mailbox); len(evs) != 0 {
		t.Errorf("after cancelling both: want no event in Outlook, got %d", len(evs))
	}
	if s.Counts.Deleted != 2 || h.links("meetings") != 0 {
		t.Errorf("want 2 deletions and no links left, got %+v and %d links", s.Counts, h.links("meetings"))
	}
	quiet("after the cancellations")
}

// fmt100 renders a date-time field value as a string.
func fmt100(v any) string {
	s, _ := v.(string)
	return s
}

// zohoTime is Zoho's date-time format: an offset, never "Z".
const zohoTime = "2006-01-02T15:04:05-07:00"
