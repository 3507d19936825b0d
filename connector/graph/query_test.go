package graph

import (
	"strings"
	"testing"

	"github.com/syncplane/syncplane/connector"
)

func TestKeyNotation(t *testing.T) {
	q, err := ParseKeyNotation("event", "id|:|ABC|;|user|:|A@B.C|;|")
	if err != nil {
		t.Fatal(err)
	}
	if q.Entity != "event" || q.Partition != "a@b.c" || q.Match["id"] != "ABC" || len(q.Match) != 1 {
		t.Fatalf("q = %+v", q)
	}
	q, err = ParseKeyNotation("event", "id|:|ABC|;|")
	if err != nil || q.Partition != "" || q.Match["id"] != "ABC" {
		t.Fatalf("without user: %+v %v", q, err)
	}
	for _, bad := range []string{"", "id|:|ABC", "idABC|;|", "|:|x|;|", "id|:|a|;|id|:|b|;|", "user|:|a|;|user|:|b|;|"} {
		if _, err := ParseKeyNotation("event", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	round := FormatKeyNotation("AAMk=|x", "a@b.c")
	q, err = ParseKeyNotation("event", round)
	if err != nil || q.Match["id"] != "AAMk=|x" || q.Partition != "a@b.c" {
		t.Errorf("round trip of %q: %+v %v", round, q, err)
	}
}

func FuzzKeyNotation(f *testing.F) {
	f.Add("id|:|ABC|;|user|:|a@b.c|;|")
	f.Add("id|:||;|")
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseKeyNotation("event", s)
		if err != nil {
			return
		}
		id, hasID := q.Match["id"].(string)
		if hasID && !strings.Contains(id, "|;|") && !strings.Contains(id, "|:|") && !strings.Contains(q.Partition, "|;|") &&
			(q.Partition == "" || q.Partition == strings.ToLower(q.Partition)) && len(q.Match) == 1 {
			again, err := ParseKeyNotation("event", FormatKeyNotation(id, q.Partition))
			if err != nil || again.Match["id"] != id || again.Partition != q.Partition {
				t.Fatalf("round trip of %q failed: %+v %v", s, again, err)
			}
		}
	})
}

func rec(fields map[string]any) *connector.Record {
	return &connector.Record{Fields: fields}
}

func att(addr string) map[string]any {
	return map[string]any{"emailAddress": map[string]any{"address": addr}, "type": "required"}
}

func TestDedupEvent(t *testing.T) {
	sel := &selection{set: map[string]bool{"anna@contoso.com": true, "bob@contoso.com": true, "carl@contoso.com": true}}
	meeting := func(organizer string, isOrg bool, attendees ...string) *connector.Record {
		var as []any
		for _, a := range attendees {
			as = append(as, att(a))
		}
		return rec(map[string]any{"isOrganizer": isOrg, "organizer": att(organizer), "attendees": as})
	}
	// Organizer anna selected: kept in anna's mailbox, dropped in bob's and carl's —
	// in whichever order the mailboxes are read.
	for _, order := range [][]string{{"anna@contoso.com", "bob@contoso.com", "carl@contoso.com"}, {"carl@contoso.com", "bob@contoso.com", "anna@contoso.com"}} {
		kept := 0
		for _, mb := range order {
			r := meeting("Anna@contoso.com", mb == "anna@contoso.com", "bob@contoso.com", "carl@contoso.com", "ext@fabrikam.com")
			if dedupEvent(r, mb, sel) {
				kept++
				if mb != "anna@contoso.com" {
					t.Errorf("kept in %s", mb)
				}
				if n := len(r.Fields["attendees"].([]any)); n != 3 {
					t.Errorf("organizer copy lost attendees: %d", n)
				}
			}
		}
		if kept != 1 {
			t.Errorf("order %v: kept %d copies, want 1", order, kept)
		}
	}
	// Organizer outside the selection: each selected attendee keeps its copy
	// without the other selected attendees; outside attendees stay.
	for _, order := range [][]string{{"bob@contoso.com", "carl@contoso.com"}, {"carl@contoso.com", "bob@contoso.com"}} {
		var seen []string
		for _, mb := range order {
			r := meeting("ext@fabrikam.com", false, "bob@contoso.com", "carl@contoso.com", "other@fabrikam.com")
			if !dedupEvent(r, mb, sel) {
				t.Fatalf("external organizer: dropped in %s", mb)
			}
			var addrs []string
			for _, a := range r.Fields["attendees"].([]any) {
				addrs = append(addrs, addressOf(a))
			}
			seen = append(seen, mb+":"+strings.Join(addrs, ","))
		}
		for _, s := range seen {
			mb, list, _ := strings.Cut(s, ":")
			want := mb + ",other@fabrikam.com"
			if list != want {
				t.Errorf("order %v: %s has attendees %s, want %s", order, mb, list, want)
			}
		}
	}
	// No organizer information (a single-person appointment): kept.
	if !dedupEvent(rec(map[string]any{"subject": "x"}), "bob@contoso.com", sel) {
		t.Error("event without organizer dropped")
	}
}

func TestCheckpointParse(t *testing.T) {
	cp := checkpoint{V: checkpointVersion, Entity: "event", Partition: "a@b.c", Link: "https://x/delta?$deltatoken=1", Complete: true, FullDay: "2026-11-23"}
	got, ok := parseCheckpoint(cp.bytes(), "event", "A@B.C")
	if !ok || got.Link != cp.Link || !got.Complete {
		t.Fatalf("round trip: %+v %v", got, ok)
	}
	for name, b := range map[string][]byte{
		"garbage":   []byte("{"),
		"other ent": cp.bytes(),
	} {
		ent := "event"
		if name == "other ent" {
			ent = "contact"
		}
		if _, ok := parseCheckpoint(b, ent, "a@b.c"); ok {
			t.Errorf("%s accepted", name)
		}
	}
	old := cp
	old.V = 0
	if _, ok := parseCheckpoint(old.bytes(), "event", "a@b.c"); ok {
		t.Error("old version accepted")
	}
}
