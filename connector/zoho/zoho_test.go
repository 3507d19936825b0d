package zoho_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/zoho"
	"github.com/syncplane/syncplane/connector/zoho/zohotest"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// open configures a connector against srv.
func open(t *testing.T, srv *zohotest.Server, host connector.Host, extra map[string]any) connector.Client {
	t.Helper()
	c, _ := openRaw(t, srv, host, extra)
	return c
}

// openRaw also returns the connector behind the client.
func openRaw(t *testing.T, srv *zohotest.Server, host connector.Host, extra map[string]any) (connector.Client, connector.Connector) {
	t.Helper()
	raw := zoho.New()
	c := connector.Local(raw)
	if host == nil {
		host = &connector.MemoryHost{}
	}
	if err := c.Configure(context.Background(), connector.ConfigureRequest{Connection: "test", Settings: settingsFor(srv, extra), Host: host}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, raw
}

func readAll(t *testing.T, c connector.Client, entity string) []connector.Record {
	t.Helper()
	var out []connector.Record
	if err := c.Read(context.Background(), connector.ReadRequest{Entity: entity}, func(rs []connector.Record) error {
		for _, r := range rs {
			out = append(out, r.Clone())
		}
		return nil
	}); err != nil {
		t.Fatalf("Read %s: %v", entity, err)
	}
	return out
}

type changeBatch struct {
	changes []connector.Change
	cp      []byte
}

func changes(t *testing.T, c connector.Client, entity string, cp []byte, size int) []changeBatch {
	t.Helper()
	var out []changeBatch
	if err := c.ReadChanges(context.Background(), connector.ChangesRequest{Entity: entity, Checkpoint: cp, BatchSize: size}, func(b connector.ChangeBatch) error {
		cs := make([]connector.Change, len(b.Changes))
		for i, ch := range b.Changes {
			cs[i] = connector.Change{Op: ch.Op, Record: ch.Record.Clone()}
		}
		out = append(out, changeBatch{changes: cs, cp: append([]byte(nil), b.Checkpoint...)})
		return nil
	}); err != nil {
		t.Fatalf("ReadChanges %s: %v", entity, err)
	}
	return out
}

// TestReadPastTwoThousand reads 2,350 records: pages 1–10, then page
// tokens (the Airbyte and n8n failure, §A10).
func TestReadPastTwoThousand(t *testing.T) {
	srv := startEmulator(t, zohotest.Options{})
	for i := 0; i < 2350; i++ {
		if _, err := srv.Create("", "Contacts", map[string]any{"Last_Name": fmt.Sprintf("L%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	c := open(t, srv, nil, nil)
	recs := readAll(t, c, "Contacts")
	ids := map[string]bool{}
	for _, r := range recs {
		ids[r.ID] = true
	}
	if len(recs) != 2350 || len(ids) != 2350 {
		t.Fatalf("Read of 2,350 contacts: got %d records, %d distinct", len(recs), len(ids))
	}
}

// TestChangesSharedSecond: 450 records share one Modified_Time second
// (more than two pages); resuming from any checkpoint loses nothing and
// repeats nothing, and a record changed again within that second is
// delivered again.
func TestChangesSharedSecond(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	srv := startEmulator(t, zohotest.Options{Now: clock.now, AccessTokenLifetime: 1000 * time.Hour})
	var ids []string
	for i := 0; i < 450; i++ {
		id, err := srv.Create("", "Contacts", map[string]any{"Last_Name": fmt.Sprintf("L%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	c := open(t, srv, nil, nil)
	bs := changes(t, c, "Contacts", nil, 100)
	var all []string
	for _, b := range bs {
		for _, ch := range b.changes {
			all = append(all, ch.Record.ID)
		}
	}
	slices.Sort(all)
	if len(all) != 450 || len(slices.Compact(slices.Clone(all))) != 450 {
		t.Fatalf("first sync of 450 records in one second: got %d changes (%d distinct)", len(all), len(slices.Compact(all)))
	}
	// From every checkpoint, exactly the records after it.
	for k, b := range bs {
		var want []string
		for _, later := range bs[k+1:] {
			for _, ch := range later.changes {
				want = append(want, ch.Record.ID)
			}
		}
		var got []string
		for _, rb := range changes(t, c, "Contacts", b.cp, 100) {
			for _, ch := range rb.changes {
				got = append(got, ch.Record.ID)
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("resuming after batch %d: want %d changes, got %d", k, len(want), len(got))
		}
	}
	last := bs[len(bs)-1].cp
	// Same second: update one record, delete another.
	if err := srv.Update("", "Contacts", ids[7], map[string]any{"Title": "Changed"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Delete("", "Contacts", ids[8]); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, b := range changes(t, c, "Contacts", last, 100) {
		for _, ch := range b.changes {
			ops = append(ops, ch.Op.String()+" "+ch.Record.ID)
		}
	}
	want := []string{"upsert " + ids[7], "delete " + ids[8]}
	if !slices.Equal(ops, want) {
		t.Errorf("after an update and a delete in the same second: want %v, got %v", want, ops)
	}
}

// TestActivities writes a meeting with participants, What_Id/$se_module, a
// recurrence with reminders, and tasks whose picklist values come from the
// metadata.
func TestActivities(t *testing.T) {
	srv := startEmulator(t, zohotest.Options{})
	c := open(t, srv, nil, nil)
	ctx := context.Background()
	contactID, _ := srv.Create("", "Contacts", map[string]any{"Last_Name": "Lee", "First_Name": "Ann", "Email": "ann@example.com"})
	accountID, _ := srv.Create("", "Accounts", map[string]any{"Account_Name": "Acme"})
	start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	meeting := connector.Record{Fields: map[string]any{
		"Event_Title":    "Quarterly review",
		"Start_DateTime": start,
		"End_DateTime":   start.Add(time.Hour),
		"Venue":          "Room 4",
		"Participants": []any{
			map[string]any{"type": "contact", "participant": contactID},
			map[string]any{"type": "email", "Email": "guest@outside.example"},
		},
		"What_Id":            accountID,
		"$se_module":         "Accounts",
		"Recurring_Activity": "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;DTSTART=2026-06-01;UNTIL=2026-06-29",
		"Remind_At":          []any{map[string]any{"unit": int64(15), "period": "minutes"}},
	}}
	noReminder := meeting.Clone()
	delete(noReminder.Fields, "Remind_At")
	outs, err := c.Write(ctx, connector.WriteBatch{Entity: "Events", Ops: []connector.WriteOp{
		{Action: connector.ActionUpsert, IdempotencyKey: "m1", Record: meeting},
		{Action: connector.ActionUpsert, IdempotencyKey: "m2", Record: noReminder},
	}})
	if err != nil {
		t.Fatalf("Write Events: %v", err)
	}
	if outs[0].Status != connector.Created {
		t.Fatalf("meeting: want Created, got %s %v", outs[0].Status, outs[0].Diagnostics)
	}
	if outs[1].Status != connector.Rejected || len(outs[1].Diagnostics) == 0 || outs[1].Diagnostics[0].Field != "Remind_At" {
		t.Errorf("recurring meeting without Remind_At: want Rejected naming Remind_At, got %s %v", outs[1].Status, outs[1].Diagnostics)
	}
	got, err := c.Query(ctx, connector.QueryRequest{Entity: "Events", Match: map[string]any{"id": outs[0].TargetID}})
	if err != nil || len(got) != 1 {
		t.Fatalf("Query meeting by id: %v %v", got, err)
	}
	f := got[0].Fields
	if !f["Start_DateTime"].(time.Time).Equal(start) || f["$se_module"] != "Accounts" || f["What_Id"].(map[string]any)["name"] != "Acme" {
		t.Errorf("meeting read back: got start %v, $se_module %v, What_Id %v", f["Start_DateTime"], f["$se_module"], f["What_Id"])
	}
	ps := f["Participants"].([]any)
	if len(ps) != 2 || ps[0].(map[string]any)["name"] != "Ann Lee" || ps[1].(map[string]any)["Email"] != "guest@outside.example" {
		t.Errorf("participants read back: got %v", ps)
	}
	if f["Recurring_Activity"].(map[string]any)["RRULE"] != "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;DTSTART=2026-06-01;UNTIL=2026-06-29" {
		t.Errorf("RRULE read back: got %v", f["Recurring_Activity"])
	}
	if r := f["Remind_At"].([]any)[0].(map[string]any); r["unit"] != int64(15) {
		t.Errorf("Remind_At read back: got %v", f["Remind_At"])
	}

	// Tasks: picklist spelled as the metadata has it; unknown values are
	// refused before any call, naming the field.
	before := srv.Stats("").WriteCalls
	outs, err = c.Write(ctx, connector.WriteBatch{Entity: "Tasks", Ops: []connector.WriteOp{
		{Action: connector.ActionUpsert, IdempotencyKey: "t1", Record: connector.Record{Fields: map[string]any{"Subject": "Call Ann", "Status": "completed", "Priority": "High", "Due_Date": connector.Date{Year: 2026, Month: 6, Day: 2}, "Who_Id": contactID}}},
		{Action: connector.ActionUpsert, IdempotencyKey: "t2", Record: connector.Record{Fields: map[string]any{"Subject": "x", "Status": "Done-ish"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if outs[0].Status != connector.Created || outs[1].Status != connector.Rejected || outs[1].Diagnostics[0].Field != "Status" {
		t.Fatalf("tasks: want Created and Rejected(Status), got %s %v / %s %v", outs[0].Status, outs[0].Diagnostics, outs[1].Status, outs[1].Diagnostics)
	}
	if n := srv.Stats("").WriteCalls - before; n != 1 {
		t.Errorf("tasks: want one write call (the invalid one refused locally), got %d", n)
	}
	task, _ := srv.Get("", "Tasks", outs[0].TargetID)
	if task["Status"] != "Completed" || task["Closed_Time"] == nil || task["Due_Date"] != "2026-06-02" {
		t.Errorf("task stored: got %v", task)
	}
	// Activities cannot be upserted: a retried create with the same
	// idempotency key updates the record the first attempt made.
	again, err := c.Write(ctx, connector.WriteBatch{Entity: "Tasks", Ops: []connector.WriteOp{
		{Action: connector.ActionUpsert, IdempotencyKey: "t1", Record: connector.Record{Fields: map[string]any{"Subject": "Call Ann", "Status": "Completed"}}},
	}})
	if err != nil || again[0].TargetID != outs[0].TargetID || srv.Count("", "Tasks") != 1 {
		t.Errorf("retried task create: want an update of %s and one task, got %v %v, %d tasks", outs[0].TargetID, again, err, srv.Count("", "Tasks"))
	}
}

// TestTokensSharedAndAPIDomain: two connectors of one connection refresh
// once, api_domain is stored, and an access token expiring mid-run is
// refreshed once.
func TestTokensSharedAndAPIDomain(t *testing.T) {
	srv := startEmulator(t, zohotest.Options{})
	host := &connector.MemoryHost{}
	ctx := context.Background()
	rt := map[string]any{"refresh_token": srv.RefreshToken()}
	a := open(t, srv, host, rt)
	b := open(t, srv, host, rt)
	if _, err := a.DiscoverSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.DiscoverSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n := srv.Stats("").TokenRequests; n != 1 {
		t.Errorf("two connectors of one connection: want 1 token request, got %d", n)
	}
	if v, ok, _ := host.Values().Get(ctx, "zoho/api_domain"); !ok || string(v) != srv.APIDomain("") {
		t.Errorf("api_domain in the value store: want %s, got %q", srv.APIDomain(""), v)
	}
	srv.ExpireAccessTokens()
	if _, err := a.Query(ctx, connector.QueryRequest{Entity: "Contacts", Match: map[string]any{"id": "4876876000000000001"}}); err != nil {
		t.Fatalf("Query after the token expired: %v", err)
	}
	if n := srv.Stats("").TokenRequests; n != 2 {
		t.Errorf("after the token expired: want exactly one more token request, got %d in total", n)
	}
	// The secret store holds the token, never the value store.
	vals, _ := host.Values().List(ctx, "")
	for _, kv := range vals {
		if len(kv.Value) > 0 && json.Valid(kv.Value) && string(kv.Value) != "" {
			var m map[string]any
			if json.Unmarshal(kv.Value, &m) == nil && m["access_token"] != nil {
				t.Errorf("value store key %s holds an access token", kv.Key)
			}
		}
	}
}

// TestAuthAndPermissionErrors: wrong secret, missing scopes and a token of
// another data centre become actionable diagnostics.
func TestAuthAndPermissionErrors(t *testing.T) {
	srv := startEmulator(t, zohotest.Options{DataCenters: []string{"us", "eu"}})
	ctx := context.Background()

	bad := open(t, srv, nil, map[string]any{"client_secret": "wrong"})
	ds := bad.Check(ctx)
	if len(ds) == 0 || ds[0].Code != connector.AuthFailed || ds[0].Field != "client_id" {
		t.Errorf("wrong client secret: want AUTH_FAILED on client_id, got %v", ds)
	}
	for _, d := range ds {
		if s := d.Error(); contains(s, "wrong") {
			t.Errorf("diagnostic echoes the secret: %s", s)
		}
	}
	narrow := open(t, srv, nil, map[string]any{"refresh_token": srv.IssueRefreshToken("", "ZohoCRM.modules.ALL")})
	ds = narrow.Check(ctx)
	if !ds.HasError() || ds[0].Code != connector.PermissionDenied {
		t.Errorf("token without settings scopes: want PERMISSION_DENIED, got %v", ds)
	}
	if _, err := narrow.DiscoverSchema(ctx, false); connector.CodeOf(err) != connector.PermissionDenied {
		t.Errorf("DiscoverSchema without settings scopes: want PERMISSION_DENIED, got %v", err)
	}
	// A US token sent to the EU api_domain: INVALID_TOKEN, one refresh, then AUTH_EXPIRED.
	wrongDC := open(t, srv, nil, map[string]any{"api_domain": srv.APIDomain("eu")})
	if _, err := wrongDC.DiscoverSchema(ctx, false); connector.CodeOf(err) != connector.AuthExpired {
		t.Errorf("token of another data centre: want AUTH_EXPIRED, got %v", err)
	}
	ok := open(t, srv, nil, nil)
	if ds := ok.Check(ctx); ds.HasError() {
		t.Errorf("Check with every scope: want no error, got %v", ds)
	}
}

func contains(s, sub string) bool {
	return len(sub) > 0 && len(s) >= len(sub) && (s == sub || index(s, sub) >= 0)
}

func index(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// TestRateLimits: a concurrency 429 is retried after a back-off; credits
// exhausted end in RATE_LIMITED with a retry-after.
func TestRateLimits(t *testing.T) {
	srv := startEmulator(t, zohotest.Options{Credits: 40})
	ctx := context.Background()
	c, raw := openRaw(t, srv, nil, nil)
	var slept []time.Duration
	zoho.SetSleep(raw, func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil })
	if _, err := c.DiscoverSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	srv.InjectFault(zohotest.Fault{PathContains: "/Contacts", Times: 2, Status: 429, Code: "TOO_MANY_REQUESTS"})
	outs, err := c.Write(ctx, connector.WriteBatch{Entity: "Contacts", Ops: []connector.WriteOp{{Action: connector.ActionUpsert, IdempotencyKey: "a", Record: contact(1)}}})
	if err != nil || outs[0].Status != connector.Created {
		t.Fatalf("write after two 429s: want Created, got %v %v", outs, err)
	}
	if len(slept) != 2 || slept[1] <= slept[0] {
		t.Errorf("back-off: want two growing waits, got %v", slept)
	}
	srv.ClearFaults()
	var ops []connector.WriteOp
	for i := 0; i < 300; i++ {
		ops = append(ops, connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: fmt.Sprint("k", i), Record: contact(100 + i)})
	}
	_, err = c.Write(ctx, connector.WriteBatch{Entity: "Contacts", Ops: ops})
	var d *connector.Diagnostic
	if !errors.As(err, &d) || d.Code != connector.RateLimited || d.RetryAfter <= 0 {
		t.Fatalf("writing past the day's credits: want RATE_LIMITED with a retry-after, got %v", err)
	}
}

// TestGrantCode: a one-time grant code is exchanged once; the refresh token
// it yields is kept in the host's secret store and used by later
// connectors of the connection, which never exchange the code again.
func TestGrantCode(t *testing.T) {
	srv := startEmulator(t, zohotest.Options{})
	host := &connector.MemoryHost{}
	ctx := context.Background()
	code := srv.GrantCode("", "https://app.example/cb", 0, zohotest.DefaultScopes...)
	extra := map[string]any{"refresh_token": nil, "grant_code": code, "redirect_uri": "https://app.example/cb"}
	settings := func() json.RawMessage {
		var m map[string]any
		_ = json.Unmarshal(settingsFor(srv, nil), &m)
		for k, v := range extra {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		b, _ := json.Marshal(m)
		return b
	}
	for i := 0; i < 2; i++ {
		c := connector.Local(zoho.New())
		if err := c.Configure(ctx, connector.ConfigureRequest{Settings: settings(), Host: host}); err != nil {
			t.Fatal(err)
		}
		if ds := c.Check(ctx); ds.HasError() {
			t.Fatalf("connector %d with a grant code: Check: %v", i, ds)
		}
		c.Close()
	}
	secrets, _ := host.Secrets().List(ctx, "zoho/refresh_token/")
	if len(secrets) != 1 {
		t.Errorf("secret store: want one refresh token kept, got %d entries", len(secrets))
	}
	if n := srv.Stats("").TokenRequests; n != 1 {
		t.Errorf("two connectors from one grant code: want 1 token request (the exchange), got %d", n)
	}
}

// TestMoreThanFiftyFields: a module with 66 fields is read and queried in
// groups of at most 50 fields, merged by id.
func TestMoreThanFiftyFields(t *testing.T) {
	srv := startEmulator(t, zohotest.Options{CustomFields: map[string]int{"Contacts": 30}})
	id, err := srv.Create("", "Contacts", map[string]any{"Last_Name": "Wide", "Custom_Field_30": "last one", "Custom_Field_1": "first one"})
	if err != nil {
		t.Fatal(err)
	}
	c := open(t, srv, nil, nil)
	s, err := c.DiscoverSchema(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := s.Entity("Contacts")
	if len(e.Fields) <= 51 {
		t.Fatalf("Contacts with 30 custom fields: want more than 51 fields in the schema, got %d", len(e.Fields))
	}
	recs := readAll(t, c, "Contacts")
	if len(recs) != 1 || recs[0].Fields["Custom_Field_30"] != "last one" || recs[0].Fields["Custom_Field_1"] != "first one" || recs[0].Fields["Last_Name"] != "Wide" {
		t.Fatalf("Read of a 66-field record: got %v", recs)
	}
	if len(recs[0].Fields) != len(e.Fields) {
		t.Errorf("Read: want every one of the %d schema fields, got %d", len(e.Fields), len(recs[0].Fields))
	}
	got, err := c.Query(context.Background(), connector.QueryRequest{Entity: "Contacts", Match: map[string]any{"Last_Name": "Wide"}})
	if err != nil || len(got) != 1 || got[0].ID != id || got[0].Fields["Custom_Field_30"] != "last one" {
		t.Errorf("Query by Last_Name of a 66-field record: got %v %v", got, err)
	}
}

// TestStaysWithinConcurrency: 60 concurrent look-ups on a Professional org
// (15 calls in flight, §A7) are never refused, and the connector does use
// the 15 slots.
func TestStaysWithinConcurrency(t *testing.T) {
	srv := startEmulator(t, zohotest.Options{Edition: "professional", Latency: 50 * time.Millisecond})
	c := open(t, srv, nil, map[string]any{"edition": "professional"})
	ctx := context.Background()
	if _, err := c.DiscoverSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	id, _ := srv.Create("", "Contacts", map[string]any{"Last_Name": "Busy"})
	var wg sync.WaitGroup
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if recs, err := c.Query(ctx, connector.QueryRequest{Entity: "Contacts", Match: map[string]any{"id": id}}); err != nil || len(recs) != 1 {
				t.Errorf("query: %v %d", err, len(recs))
			}
		}()
	}
	wg.Wait()
	st := srv.Stats("")
	if st.Throttled != 0 || st.MaxInFlight > 15 {
		t.Errorf("Professional edition: want no 429 and at most 15 calls in flight, got %d refused, %d in flight", st.Throttled, st.MaxInFlight)
	}
	if st.MaxInFlight < 8 {
		t.Errorf("60 concurrent look-ups: want the connector to use most of the 15 slots, got at most %d in flight", st.MaxInFlight)
	}
}

// TestUsageInValueStore: the day's calls and credits are kept in the
// host's value store, where a run summary reads them.
func TestUsageInValueStore(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 5, 1, 23, 59, 0, 0, time.UTC)}
	srv := startEmulator(t, zohotest.Options{Now: clock.now, AccessTokenLifetime: 1000 * time.Hour})
	host := &connector.MemoryHost{}
	ctx := context.Background()
	// A counter some other code keeps under the key stays.
	if err := host.Values().Put(ctx, "usage/2026-05-01", []byte(`{"credits":4,"other":7,"note":"kept"}`)); err != nil {
		t.Fatal(err)
	}
	c, raw := openRaw(t, srv, host, nil)
	zoho.SetClock(raw, clock.now)
	if _, err := c.Write(ctx, connector.WriteBatch{Entity: "Contacts", Ops: contactOps("usage", 25)}); err != nil {
		t.Fatal(err)
	}
	day := func(key string) map[string]int64 {
		t.Helper()
		b, ok, err := host.Values().Get(ctx, key)
		if err != nil || !ok {
			t.Fatalf("value store: no %s (%v)", key, err)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatalf("%s is not a JSON object: %s", key, b)
		}
		u := map[string]int64{}
		for k, v := range raw {
			var n int64
			if json.Unmarshal(v, &n) == nil {
				u[k] = n
			} else if k != "note" || string(v) != `"kept"` {
				t.Errorf("%s: member %s is %s", key, k, v)
			}
		}
		return u
	}
	// settings/modules + fields + layouts for 6 modules = 13 credits, then
	// one 25-record write = 3 credits (§A7).
	st := srv.Stats("")
	u := day("usage/2026-05-01")
	if b, _, _ := host.Values().Get(ctx, "usage/2026-05-01"); !strings.Contains(string(b), `"note":"kept"`) {
		t.Errorf("a member that is not a counter was lost: %s", b)
	}
	if u["credits"] != 4+16 || st.Credits != 16 || u["requests"] != st.Calls || u["other"] != 7 {
		t.Errorf("usage kept: want %d requests and 4+16 credits and other 7, got %v (emulator: %d credits)", st.Calls, u, st.Credits)
	}
	// The next UTC day starts its own totals.
	clock.add(2 * time.Minute)
	if _, err := c.Write(ctx, connector.WriteBatch{Entity: "Contacts", Ops: contactOps("usage2", 5)}); err != nil {
		t.Fatal(err)
	}
	if u := day("usage/2026-05-02"); u["credits"] != 1 || u["requests"] != srv.Stats("").Calls-st.Calls {
		t.Errorf("next day: want 1 credit and %d requests, got %v", srv.Stats("").Calls-st.Calls, u)
	}
	if kvs, _ := host.Values().List(ctx, "zoho/usage/"); len(kvs) != 0 {
		t.Errorf("the old key zoho/usage/ is still written: %v", kvs)
	}
}

// TestUpsertSetting: by default a create whose Email matches an existing
// contact updates it (Zoho's upsert); with upsert false it is a plain
// insert, rejected as a conflict naming Email.
func TestUpsertSetting(t *testing.T) {
	srv := startEmulator(t, zohotest.Options{})
	ctx := context.Background()
	existing, _ := srv.Create("", "Contacts", map[string]any{"Last_Name": "Lee", "Email": "ann@example.com"})
	rec := connector.Record{Fields: map[string]any{"Last_Name": "Lee-Smith", "Email": "ann@example.com"}}
	outs, err := open(t, srv, nil, nil).Write(ctx, connector.WriteBatch{Entity: "Contacts", Ops: []connector.WriteOp{{Action: connector.ActionUpsert, IdempotencyKey: "a", Record: rec}}})
	if err != nil || outs[0].Status != connector.Updated || outs[0].TargetID != existing {
		t.Errorf("default upsert: want Updated %s, got %v %v", existing, outs, err)
	}
	outs, err = open(t, srv, nil, map[string]any{"upsert": false}).Write(ctx, connector.WriteBatch{Entity: "Contacts", Ops: []connector.WriteOp{{Action: connector.ActionUpsert, IdempotencyKey: "b", Record: rec}}})
	if err != nil || outs[0].Status != connector.Rejected || outs[0].Diagnostics[0].Code != connector.Conflict || outs[0].Diagnostics[0].Field != "Email" {
		t.Errorf("upsert false: want Rejected CONFLICT on Email, got %v %v", outs, err)
	}
}

// TestParticipantsResolvedToContacts: an attendee given by address who is a
// Zoho contact becomes a contact participant; others stay addresses.
func TestParticipantsResolvedToContacts(t *testing.T) {
	srv := startEmulator(t, zohotest.Options{})
	ctx := context.Background()
	contactID, _ := srv.Create("", "Contacts", map[string]any{"Last_Name": "Lee", "First_Name": "Ann", "Email": "Ann@Example.com"})
	start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	rec := connector.Record{Fields: map[string]any{"Event_Title": "Intro", "Start_DateTime": start, "End_DateTime": start.Add(time.Hour),
		"Participants": []any{map[string]any{"type": "email", "Email": "ann@example.com"}, map[string]any{"type": "email", "Email": "stranger@else.example"}}}}
	for _, resolve := range []bool{true, false} {
		c := open(t, srv, nil, map[string]any{"resolve_participants": resolve})
		outs, err := c.Write(ctx, connector.WriteBatch{Entity: "Events", Ops: []connector.WriteOp{{Action: connector.ActionUpsert, IdempotencyKey: fmt.Sprint(resolve), Record: rec}}})
		if err != nil || outs[0].Status != connector.Created {
			t.Fatalf("write meeting: %v %v", outs, err)
		}
		got, _ := srv.Get("", "Events", outs[0].TargetID)
		ps := got["Participants"].([]any)
		first, second := ps[0].(map[string]any), ps[1].(map[string]any)
		if resolve && (first["type"] != "contact" || first["participant"] != contactID || first["name"] != "Ann Lee" || second["type"] != "email") {
			t.Errorf("resolve_participants true: want Ann as contact %s and the stranger by address, got %v", contactID, ps)
		}
		if !resolve && (first["type"] != "email" || second["type"] != "email") {
			t.Errorf("resolve_participants false: want both by address, got %v", ps)
		}
	}
}
