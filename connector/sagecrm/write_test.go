package sagecrm_test

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/sagecrm"
	"github.com/syncplane/syncplane/connector/sagecrm/sagecrmtest"
)

func (e *env) write(t *testing.T, entity string, ops ...connector.WriteOp) []connector.WriteOutcome {
	t.Helper()
	outs, err := e.c.Write(context.Background(), connector.WriteBatch{Entity: entity, Ops: ops})
	if err != nil {
		t.Fatalf("Write(%s): %v", entity, err)
	}
	if len(outs) != len(ops) {
		t.Fatalf("Write(%s): %d outcomes for %d ops", entity, len(outs), len(ops))
	}
	return outs
}

func upsert(key, target string, f map[string]any) connector.WriteOp {
	return connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: key, TargetID: target, Record: connector.Record{Fields: f}}
}

func fieldOf(o connector.WriteOutcome) []string {
	var out []string
	for _, d := range o.Diagnostics {
		out = append(out, d.Field)
	}
	return out
}

// childValues lists "type:value" of the visible child rows of a person.
func childValues(s *sagecrmtest.Server, res, valueCol, typeCol, parentCol string, parent int64) []string {
	var out []string
	for _, r := range s.Rows(res) {
		if r[parentCol] == parent {
			out = append(out, r[typeCol].(string)+":"+r[valueCol].(string))
		}
	}
	sort.Strings(out)
	return out
}

func TestWriteEveryVariant(t *testing.T) {
	for _, v := range variants {
		o := v.o
		t.Run(v.name, func(t *testing.T) {
			e := newEnv(t, o, v.zone, nil)
			s := e.srv
			comp := mustInsert(t, s, "company", map[string]any{"comp_name": "Acme"})

			// Person with email and phone rows.
			outs := e.write(t, "person", upsert("p1", "", map[string]any{
				"pers_firstname": "Ann", "pers_lastname": "Lee", "pers_companyid": itoa(comp),
				"emails": []any{map[string]any{"type": "Business", "address": "ann@acme.test"}, map[string]any{"type": "Private", "address": "ann@home.test"}},
				"phones": []any{map[string]any{"type": "Mobile", "number": "555-0101", "area_code": "212"}},
			}))
			if outs[0].Status != connector.Created || outs[0].TargetID == "" {
				t.Fatalf("create person: %+v", outs[0])
			}
			pid, _ := parseInt(outs[0].TargetID)
			if got := childValues(s, "email", "emai_emailaddress", "elink_type", "elink_recordid", pid); !slices.Equal(got, []string{"Business:ann@acme.test", "Private:ann@home.test"}) {
				t.Errorf("emails after create: %v", got)
			}
			if got := childValues(s, "phone", "phon_number", "plink_type", "plink_recordid", pid); !slices.Equal(got, []string{"Mobile:555-0101"}) {
				t.Errorf("phones after create: %v", got)
			}
			// The same idempotency key again creates nothing new.
			again := e.write(t, "person", upsert("p1", "", map[string]any{"pers_lastname": "Lee"}))
			if again[0].TargetID != outs[0].TargetID || len(s.Rows("person")) != 1 {
				t.Errorf("retried create: expected the same record %s, got %+v and %d people", outs[0].TargetID, again[0], len(s.Rows("person")))
			}
			// Update: new business address, private one dropped.
			outs = e.write(t, "person", upsert("p1-u", outs[0].TargetID, map[string]any{
				"pers_lastname": "Long", "emails": []any{map[string]any{"type": "business", "address": "ann@new.test"}},
			}))
			if outs[0].Status != connector.Updated {
				t.Fatalf("update person: %+v", outs[0])
			}
			if p, _ := s.Get("person", pid); p["pers_lastname"] != "Long" || p["pers_firstname"] != "Ann" {
				t.Errorf("person after update: %v", p)
			}
			if got := childValues(s, "email", "emai_emailaddress", "elink_type", "elink_recordid", pid); !slices.Equal(got, []string{"Business:ann@new.test"}) {
				t.Errorf("emails after update: %v", got)
			}
			// Rejections name the field: mandatory (checked here), unknown
			// field, and a server-side refusal (company that does not exist).
			outs = e.write(t, "person",
				upsert("bad1", "", map[string]any{"pers_firstname": "NoLast"}),
				upsert("bad2", "", map[string]any{"pers_lastname": "X", "pers_shoesize": "42"}),
				upsert("bad3", "", map[string]any{"pers_lastname": "X", "pers_companyid": "9999"}),
				upsert("bad4", "", map[string]any{"pers_lastname": "X", "emails": []any{map[string]any{"type": "Business"}}}),
			)
			for i, want := range []string{"pers_lastname", "pers_shoesize", "pers_companyid", "emails[0].address"} {
				if outs[i].Status != connector.Rejected || !slices.Contains(fieldOf(outs[i]), want) {
					t.Errorf("bad record %d: expected rejected naming %s, got %v %v", i+1, want, outs[i].Status, outs[i].Diagnostics)
				}
			}

			// A task: due → comm_datetime, start → comm_todatetime, linked to
			// the person and a CRM user.
			due := time.Date(2024, 11, 3, 6, 30, 0, 0, time.UTC) // the second 01:30 in New York
			start := time.Date(2024, 11, 1, 13, 0, 0, 0, time.UTC)
			outs = e.write(t, "communication", upsert("task1", "", map[string]any{
				"comm_type": "Task", "comm_action": "ToDo", "comm_status": "Pending", "comm_priority": "High",
				"comm_subject": "Call back", "due": due, "start": start,
				"person_ids": []any{itoa(pid)}, "user_ids": []any{"1"},
			}))
			if outs[0].Status != connector.Created {
				t.Fatalf("create task: %+v", outs[0])
			}
			tid, _ := parseInt(outs[0].TargetID)
			task, _ := s.Get("communication", tid)
			if !task["comm_datetime"].(time.Time).Equal(due) || !task["comm_todatetime"].(time.Time).Equal(start) {
				t.Errorf("task dates: comm_datetime %v (want due %v), comm_todatetime %v (want start %v)", task["comm_datetime"], due, task["comm_todatetime"], start)
			}
			if got := links(s, tid); !slices.Equal(got, []string{"person:" + itoa(pid), "user:1"}) {
				t.Errorf("task links: %v", got)
			}
			// An all-day appointment from dates; then its people replaced.
			outs = e.write(t, "communication", upsert("appt1", "", map[string]any{
				"comm_type": "Appointment", "comm_action": "Meeting", "comm_subject": "Offsite",
				"start": connector.Date{Year: 2024, Month: 3, Day: 10}, "end": connector.Date{Year: 2024, Month: 3, Day: 11}, "all_day": true,
				"person_ids": []any{itoa(pid)},
			}))
			if outs[0].Status != connector.Created {
				t.Fatalf("create appointment: %+v", outs[0])
			}
			aid, _ := parseInt(outs[0].TargetID)
			appt, _ := s.Get("communication", aid)
			loc := s.Location()
			if got := appt["comm_datetime"].(time.Time).In(loc); got.Hour() != 0 || got.Day() != 10 || appt["comm_isalldayevent"] != "Y" {
				t.Errorf("all-day appointment: starts %v, all day %v", got, appt["comm_isalldayevent"])
			}
			outs = e.write(t, "communication", upsert("appt1-u", outs[0].TargetID, map[string]any{"person_ids": []any{}, "user_ids": []any{"2"}, "end": time.Date(2024, 3, 11, 12, 0, 0, 0, time.UTC)}))
			if outs[0].Status != connector.Updated {
				t.Fatalf("update appointment: %+v", outs[0])
			}
			if got := links(s, aid); !slices.Equal(got, []string{"user:2"}) {
				t.Errorf("appointment links after update: %v", got)
			}
			if appt, _ = s.Get("communication", aid); !appt["comm_todatetime"].(time.Time).Equal(time.Date(2024, 3, 11, 12, 0, 0, 0, time.UTC)) {
				t.Errorf("appointment end after update: %v", appt["comm_todatetime"])
			}
			outs = e.write(t, "communication",
				upsert("bad5", "", map[string]any{"comm_type": "Task", "comm_action": "ToDo", "due": due, "end": due}),
				upsert("bad6", "", map[string]any{"comm_type": "Appointment", "comm_action": "Meeting", "start": due, "person_ids": []any{"x"}}),
				upsert("bad7", "", map[string]any{"comm_type": "Appointment", "comm_action": "Meeting", "start": due, "person_ids": []any{"4242"}}),
			)
			for i, want := range []string{"end", "person_ids[0]", "person_ids"} {
				if outs[i].Status != connector.Rejected || !slices.Contains(fieldOf(outs[i]), want) {
					t.Errorf("bad communication %d: expected rejected naming %s, got %v %v", i+5, want, outs[i].Status, outs[i].Diagnostics)
				}
			}

			// Reading back resolves the inversion.
			got, _, _ := e.round(t, "communication", nil)
			rt := got[itoa(tid)].Record.Fields
			if !rt["due"].(time.Time).Equal(due) || !rt["start"].(time.Time).Equal(start) || rt["end"] != nil {
				t.Errorf("task read back: due %v start %v end %v", rt["due"], rt["start"], rt["end"])
			}
			if p := rt["person_ids"].([]any); len(p) != 1 || p[0] != itoa(pid) {
				t.Errorf("task person_ids read back: %v", p)
			}

			// Deletes, twice.
			for i := 0; i < 2; i++ {
				outs = e.write(t, "communication", connector.WriteOp{Action: connector.ActionDelete, IdempotencyKey: "d", TargetID: itoa(tid)})
				if outs[0].Status != connector.Deleted {
					t.Errorf("delete %d: %+v", i+1, outs[0])
				}
			}
			if len(links(s, tid)) != 0 {
				t.Errorf("links of a deleted communication should be gone")
			}
		})
	}
}

func links(s *sagecrmtest.Server, comm int64) []string {
	var out []string
	for _, r := range s.Rows("comm_link") {
		if r["cmli_comm_communicationid"] != comm {
			continue
		}
		for col, kind := range map[string]string{"cmli_comm_personid": "person", "cmli_comm_userid": "user", "cmli_comm_companyid": "company"} {
			if v, ok := r[col].(int64); ok {
				out = append(out, kind+":"+itoa(v))
			}
		}
	}
	sort.Strings(out)
	return out
}

func parseInt(s string) (int64, error) {
	var n int64
	err := json.Unmarshal([]byte(s), &n)
	return n, err
}

func TestSettingsDiagnostics(t *testing.T) {
	cases := []struct {
		settings string
		field    string
	}{
		{`{"username":"u","password":"p","server_timezone":"UTC"}`, "base_url"},
		{`{"base_url":"https://x/sdata/crmj/sagecrm2/-/","password":"p","server_timezone":"UTC"}`, "username"},
		{`{"base_url":"https://x/sdata/crmj/sagecrm2/-/","username":"u","server_timezone":"UTC"}`, "password"},
		{`{"base_url":"https://x/sdata/crmj/sagecrm2/-/","username":"u","password":"p"}`, "server_timezone"},
		{`{"base_url":"https://x/sdata/crmj/sagecrm2/-/","username":"u","password":"p","server_timezone":"Mars/Olympus"}`, "server_timezone"},
		{`{"base_url":"https://x/crm/","username":"u","password":"p","server_timezone":"UTC"}`, "base_url"},
		{`{"base_url":"https://x/sdata/crmj/sagecrm2/-/","username":"u","password":"p","server_timezone":"UTC","ca_file":"/nonexistent.pem"}`, "ca_file"},
		{`{"base_url":"https://x/sdata/crmj/sagecrm2/-/","username":"u","password":"hunter2","server_timezone":"UTC","page_size":0}`, "page_size"},
		{`{"base_url":"https://x/sdata/crmj/sagecrm2/-/","username":"u","password":"hunter2","server_timezone":"UTC","colour":"blue"}`, "colour"},
		{`{"base_url":"https://x/sdata/crmj/sagecrm2/-/","username":"u","password":["hunter2"],"server_timezone":"UTC"}`, "password"},
	}
	for _, tc := range cases {
		err := sagecrm.New().Configure(context.Background(), connector.ConfigureRequest{Settings: json.RawMessage(tc.settings)})
		ds := connector.AsDiagnostics(err)
		found := false
		for _, d := range ds {
			found = found || d.Field == tc.field
			if strings.Contains(d.Error(), "hunter2") {
				t.Errorf("a diagnostic shows the password: %v", d)
			}
		}
		if !found {
			t.Errorf("%s: expected a diagnostic naming %s, got %v", tc.settings, tc.field, ds)
		}
	}
}

func TestCheckAndSchema(t *testing.T) {
	e := newEnv(t, sagecrmtest.Options{PrototypeChoices: true}, "", nil)
	if ds := e.c.Check(context.Background()); ds.HasError() {
		t.Fatalf("Check: %v", ds)
	}
	s, err := e.c.DiscoverSchema(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"address", "comm_link", "communication", "company", "email", "person", "phone", "users"}
	if got := s.EntityNames(); !slices.Equal(got, want) {
		t.Fatalf("entities: %v", got)
	}
	p, _ := s.Entity("person")
	if p.Keys[0] != "pers_personid" || p.ModifiedField != "pers_updateddate" {
		t.Errorf("person keys %v modified %s", p.Keys, p.ModifiedField)
	}
	if f, _ := p.Field("pers_lastname"); !f.Required || f.ReadOnly {
		t.Errorf("pers_lastname: %+v", f)
	}
	if f, _ := p.Field("pers_updateddate"); !f.ReadOnly || f.Type.Kind != "timestamp" {
		t.Errorf("pers_updateddate: %+v", f)
	}
	if _, ok := p.Field("emails"); !ok {
		t.Errorf("person has no emails field")
	}
	cm, _ := s.Entity("communication")
	if f, _ := cm.Field("comm_type"); f.Type.Kind != "enum" || !slices.Equal(f.Type.Values, []string{"Appointment", "Task"}) {
		t.Errorf("comm_type: %+v", f.Type)
	}
	if u, _ := s.Entity("users"); u.Capabilities.Writable {
		t.Errorf("users should not be writable")
	}
	for _, name := range []string{"comm_link", "email", "users"} {
		en, _ := s.Entity(name)
		if len(en.Keys) != 1 || !strings.HasSuffix(en.Keys[0], "id") {
			t.Errorf("%s keys: %v", name, en.Keys)
		}
	}
	// A wrong password is AUTH_FAILED.
	e.srv.SetPassword("changed")
	ds := e.c.Check(context.Background())
	if !ds.HasError() || ds[0].Code != connector.AuthFailed {
		t.Errorf("Check with a changed password: expected AUTH_FAILED, got %v", ds)
	}
}

func TestFaultsAreRetriedOrReported(t *testing.T) {
	e := newEnv(t, sagecrmtest.Options{Latency: 5 * time.Millisecond}, "", nil)
	mustInsert(t, e.srv, "company", map[string]any{"comp_name": "A"})
	e.srv.FailNext(2)
	got, _, _ := e.round(t, "company", nil)
	if len(got) != 1 {
		t.Errorf("two 500s then success: expected the company, got %v", ids(got))
	}
	e.srv.FailNext(100)
	err := e.c.Read(context.Background(), connector.ReadRequest{Entity: "company"}, func([]connector.Record) error { return nil })
	if connector.CodeOf(err) != connector.Unavailable {
		t.Errorf("persistent 500s: expected UNAVAILABLE, got %v", err)
	}
	e.srv.FailNext(0)
	res, err := e.c.Query(context.Background(), connector.QueryRequest{Entity: "company", Match: map[string]any{"comp_name": "a"}})
	if err != nil || len(res) != 1 {
		t.Errorf("Query comp_name: %v %v", res, err)
	}
	if _, err := e.c.Query(context.Background(), connector.QueryRequest{Entity: "company", Match: map[string]any{"nope": "a"}}); connector.CodeOf(err) != connector.InvalidInput {
		t.Errorf("Query on an unknown field: %v", err)
	}
}

func TestReadBatchesAndModifiedSince(t *testing.T) {
	e := newEnv(t, sagecrmtest.Options{}, "", nil)
	for i := 0; i < 5; i++ {
		if i == 3 {
			e.clock.Advance(time.Hour)
		}
		mustInsert(t, e.srv, "company", map[string]any{"comp_name": "C" + itoa(int64(i))})
	}
	var sizes []int
	err := e.c.Read(context.Background(), connector.ReadRequest{Entity: "company", BatchSize: 2}, func(rs []connector.Record) error {
		sizes = append(sizes, len(rs))
		return nil
	})
	if err != nil || !slices.Equal(sizes, []int{2, 2, 1}) {
		t.Errorf("Read with BatchSize 2 over 5 companies: expected batches [2 2 1], got %v (%v)", sizes, err)
	}
	var names []string
	err = e.c.Read(context.Background(), connector.ReadRequest{Entity: "company", ModifiedSince: e.clock.Now().Add(-time.Minute)}, func(rs []connector.Record) error {
		for _, r := range rs {
			names = append(names, r.Fields["comp_name"].(string))
		}
		return nil
	})
	if err != nil || !slices.Equal(names, []string{"C3", "C4"}) {
		t.Errorf("Read modified in the last minute: expected C3 and C4, got %v (%v)", names, err)
	}
}
