package graphtest_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector/graph/graphtest"
	"github.com/syncplane/syncplane/schema/csdl"
)

func TestFaultsScriptedNTimesThenNormal(t *testing.T) {
	e := start(t, graphtest.Options{Users: 2})
	e.login()
	f := e.srv.Faults()
	f.Add(graphtest.Fault{Kind: graphtest.FaultThrottle, Path: "/v1.0/users/*/contacts", User: "user2@contoso.com", Times: 2, RetryAfter: 2500 * time.Millisecond})
	// user1 is not affected.
	expectStatus(t, e.get("/users/user1@contoso.com/contacts"), 200, "")
	for i := 0; i < 2; i++ {
		r := e.get("/users/user2@contoso.com/contacts")
		expectStatus(t, r, 429, "TooManyRequests")
		if r.header.Get("Retry-After") != "2.500" {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
	}
	expectStatus(t, e.get("/users/user2@contoso.com/contacts"), 200, "")

	f.Add(graphtest.Fault{Kind: graphtest.FaultUnavailable, Method: "GET", Path: "/v1.0/users", Times: 1, RetryAfter: time.Second})
	r := e.get("/users")
	expectStatus(t, r, 503, "serviceNotAvailable")
	if r.header.Get("Retry-After") != "1" {
		t.Fatalf("503 Retry-After %q", r.header.Get("Retry-After"))
	}
	expectStatus(t, e.get("/users"), 200, "")

	// Token endpoint faults.
	f.Add(graphtest.Fault{Kind: graphtest.FaultUnavailable, Path: "*/oauth2/v2.0/token", Times: 1})
	app := e.srv.App()
	if status, _ := e.tokenFor(app.ClientID, app.ClientSecret); status != 503 {
		t.Fatalf("token fault: %d", status)
	}
	if status, _ := e.tokenFor(app.ClientID, app.ClientSecret); status != 200 {
		t.Fatalf("after the token fault: %d", status)
	}
	if f.Pending() != 0 {
		t.Fatalf("faults left: %d", f.Pending())
	}
}

func TestFaultResetAndTruncate(t *testing.T) {
	e := start(t, graphtest.Options{Users: 1, ContactsPerUser: 3})
	e.login()
	e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultReset, Path: "/v1.0/users/*/contacts", Times: 1})
	req, _ := http.NewRequest("GET", e.srv.GraphEndpoint()+"/v1.0/users/"+u1+"/contacts", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	// A fresh connection: net/http retries a GET whose reused connection
	// was reset, which would hide the fault.
	if res, err := e.srv.HTTPClient().Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("reset: got HTTP %d, want a connection error", res.StatusCode)
	}

	e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultTruncate, Path: "/v1.0/users/*/contacts", Times: 1})
	req, _ = http.NewRequest("GET", e.srv.GraphEndpoint()+"/v1.0/users/"+u1+"/contacts", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	res, err := e.hc.Do(req)
	if err != nil {
		t.Fatalf("truncate: headers should arrive: %v", err)
	}
	_, err = io.ReadAll(res.Body)
	res.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated body read: %v", err)
	}
	expectStatus(t, e.get("/users/"+u1+"/contacts"), 200, "")
}

func TestFaultAfterCommit(t *testing.T) {
	e := start(t, graphtest.Options{Users: 1})
	e.login()
	e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultUnavailable, Method: "POST", Path: "/v1.0/users/*/events", AfterCommit: true, Times: 1})
	b := event("committed", e.clock.Now(), time.Hour)
	b["transactionId"] = "tx-after-commit"
	expectStatus(t, e.do("POST", "/users/"+u1+"/events", b), 503, "serviceNotAvailable")
	if n := len(e.srv.Events(u1)); n != 1 {
		t.Fatalf("the failed POST was not committed: %d events", n)
	}
	// The client retries with the same transactionId: still one event.
	expectStatus(t, e.do("POST", "/users/"+u1+"/events", b), 201, "")
	if posts, events := e.srv.TransactionCreates(u1, "tx-after-commit"); posts != 2 || events != 1 {
		t.Fatalf("posts %d events %d", posts, events)
	}
}

func TestParseFaultSpec(t *testing.T) {
	fs, err := graphtest.ParseFaultSpec("kind=429,path=/v1.0/users/*/calendarView/delta,times=3,retry=2s; kind=latency,latency=200ms")
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 || fs[0].Kind != graphtest.FaultThrottle || fs[0].Times != 3 || fs[0].RetryAfter != 2*time.Second ||
		fs[1].Kind != graphtest.FaultLatency || fs[1].Latency != 200*time.Millisecond {
		t.Fatalf("parsed %+v", fs)
	}
	for _, bad := range []string{"kind=418", "path=/x", "kind=429,times=many", "kind=429,colour=red", "kind=429,path=users"} {
		if _, err := graphtest.ParseFaultSpec(bad); err == nil {
			t.Errorf("ParseFaultSpec(%q) accepted", bad)
		}
	}
}

func TestMetadataBuiltinAndFile(t *testing.T) {
	e := start(t, graphtest.Options{Users: 1})
	// $metadata needs no token.
	res, err := e.hc.Get(e.srv.GraphEndpoint() + "/v1.0/$metadata")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/xml") {
		t.Fatalf("$metadata: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	doc, err := csdl.Parse(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("built-in CSDL does not parse: %v", err)
	}
	for _, typ := range []string{"microsoft.graph.event", "microsoft.graph.contact", "microsoft.graph.todoTask",
		"microsoft.graph.user", "microsoft.graph.message", "microsoft.graph.patternedRecurrence", "microsoft.graph.attendee"} {
		if _, ok := doc.Type(typ); !ok {
			t.Errorf("built-in CSDL lacks %s", typ)
		}
	}

	_, file, _, _ := runtime.Caller(0)
	prod := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "shared", "testdata", "graph", "v1.0-Prod.csdl")
	real, err := os.ReadFile(prod)
	if err != nil {
		t.Skipf("the real $metadata is not available (%s): %v", prod, err)
	}
	e2 := start(t, graphtest.Options{Users: 1, Metadata: real})
	res, err = e2.hc.Get(e2.srv.GraphEndpoint() + "/v1.0/$metadata")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if len(got) != len(real) {
		t.Fatalf("served %d bytes of the %d-byte file", len(got), len(real))
	}
}

func TestContactsTasksCRUDAndDelta(t *testing.T) {
	e := start(t, graphtest.Options{Users: 1, ContactsPerUser: 12, TasksPerUser: 2})
	e.login()
	items, dl := e.deltaRound("/users/" + u1 + "/contacts/delta")
	if len(items) != 12 {
		t.Fatalf("contacts round 1: %d", len(items))
	}
	c := e.do("POST", "/users/"+u1+"/contacts", map[string]any{"givenName": "Pavel", "surname": "Bansky",
		"emailAddresses": []any{map[string]any{"address": "pavelb@fabrikam.example", "name": "Pavel Bansky"}}})
	expectStatus(t, c, 201, "")
	if c.body["displayName"] != "Pavel Bansky" {
		t.Fatalf("displayName %v", c.body["displayName"])
	}
	expectStatus(t, e.do("POST", "/users/"+u1+"/contacts", map[string]any{"emailAddresses": []any{map[string]any{"address": "not-an-address"}}}), 400, "ErrorInvalidProperty")
	expectStatus(t, e.do("POST", "/users/"+u1+"/contacts", map[string]any{"nickname": "x"}), 400, "RequestBodyRead")
	first := items[0]["id"].(string)
	expectStatus(t, e.do("DELETE", "/users/"+u1+"/contacts/"+first, nil), 204, "")
	items, _ = e.deltaRound(dl)
	if len(items) != 2 {
		t.Fatalf("contacts round 2: %v", items)
	}

	// A second folder has its own delta.
	f := e.do("POST", "/users/"+u1+"/contactFolders", map[string]any{"displayName": "CRM"})
	expectStatus(t, f, 201, "")
	folder := f.body["id"].(string)
	expectStatus(t, e.do("POST", "/users/"+u1+"/contactFolders/"+folder+"/contacts", map[string]any{"givenName": "In", "surname": "Folder"}), 201, "")
	fi, _ := e.deltaRound("/users/" + u1 + "/contactFolders/" + folder + "/contacts/delta")
	if len(fi) != 1 || fi[0]["parentFolderId"] != folder {
		t.Fatalf("folder delta %v", fi)
	}

	lists := e.get("/users/" + u1 + "/todo/lists").values()
	if lists[0]["wellknownListName"] != "defaultList" {
		t.Fatalf("lists %v", lists)
	}
	tasksPath := "/users/" + u1 + "/todo/lists/" + lists[0]["id"].(string) + "/tasks"
	ti, tdl := e.deltaRound(tasksPath + "/delta")
	if len(ti) != 2 {
		t.Fatalf("tasks round 1: %d", len(ti))
	}
	expectStatus(t, e.do("POST", tasksPath, map[string]any{"body": map[string]any{"content": "x"}}), 400, "invalidRequest")
	nt := e.do("POST", tasksPath, map[string]any{"title": "Call back", "status": "inProgress",
		"dueDateTime": map[string]any{"dateTime": "2026-03-20T17:00:00", "timeZone": "Eastern Standard Time"}})
	expectStatus(t, nt, 201, "")
	expectStatus(t, e.do("PATCH", tasksPath+"/"+nt.body["id"].(string), map[string]any{"status": "done"}), 400, "RequestBodyRead")
	expectStatus(t, e.do("PATCH", tasksPath+"/"+nt.body["id"].(string), map[string]any{"status": "completed"}), 200, "")
	ti, _ = e.deltaRound(tdl)
	if len(ti) != 1 || ti[0]["status"] != "completed" {
		t.Fatalf("tasks round 2: %v", ti)
	}

	// Messages are read-only for clients.
	expectStatus(t, e.do("POST", "/users/"+u1+"/mailFolders/inbox/messages", map[string]any{"subject": "x"}), 405, "")
}

func TestStatsCountRequests(t *testing.T) {
	e := start(t, graphtest.Options{Users: 2})
	e.login()
	e.get("/users")
	e.get("/users/user2@contoso.com/calendarView/delta?startDateTime=2026-03-01T00:00:00Z&endDateTime=2026-04-01T00:00:00Z")
	st := e.srv.Stats()
	if st.TokenRequests != 1 || st.Requests["users"] != 1 || st.Requests["calendarView.delta"] != 1 {
		data, _ := json.Marshal(st)
		t.Fatalf("stats %s", data)
	}
	u2 := e.srv.Users()[1].ID
	if st.PerUser[u2] != 1 {
		t.Fatalf("per-user %v", st.PerUser)
	}
}

// TestUnlimitedLatencyFault: a latency fault without a hit count delays
// every matching request once (and does not loop).
func TestUnlimitedLatencyFault(t *testing.T) {
	e := start(t, graphtest.Options{Users: 1})
	e.login()
	e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultLatency, Latency: 50 * time.Millisecond})
	e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultThrottle, Path: "/v1.0/users/*/contacts", Times: 1})
	began := time.Now()
	expectStatus(t, e.get("/users/"+u1+"/contacts"), 429, "TooManyRequests")
	expectStatus(t, e.get("/users/"+u1+"/contacts"), 200, "")
	expectStatus(t, e.get("/users"), 200, "")
	if took := time.Since(began); took < 150*time.Millisecond || took > 5*time.Second {
		t.Fatalf("three requests with 50 ms each took %v", took)
	}
}

// TestTaskDeltaRemovedIDsMatch: To Do ids have one form, also under
// Prefer: IdType="ImmutableId", so removed tasks carry the id they were
// delivered with.
func TestTaskDeltaRemovedIDsMatch(t *testing.T) {
	e := start(t, graphtest.Options{Users: 1, TasksPerUser: 1})
	e.login()
	lists := e.get("/users/" + u1 + "/todo/lists").values()
	path := "/users/" + u1 + "/todo/lists/" + lists[0]["id"].(string) + "/tasks/delta"
	items, dl := e.deltaRound(path, "Prefer", `IdType="ImmutableId"`)
	id := items[0]["id"].(string)
	if err := e.srv.DeleteTask(u1, id); err != nil {
		t.Fatal(err)
	}
	items, _ = e.deltaRound(dl, "Prefer", `IdType="ImmutableId"`)
	if len(items) != 1 || items[0]["id"] != id || items[0]["@removed"] == nil {
		t.Fatalf("removed task %v, want id %s", items, id)
	}
}

// TestLatencyFaultChargesBatchParts: a latency fault on every path delays
// each request inside a $batch, not the envelope as well; one naming the
// $batch path delays the envelope.
func TestLatencyFaultChargesBatchParts(t *testing.T) {
	e := start(t, graphtest.Options{Users: 1, ContactsPerUser: 1})
	e.login()
	batch := func(parts int) {
		t.Helper()
		reqs := []any{}
		for i := range parts {
			reqs = append(reqs, map[string]any{"id": strconv.Itoa(i + 1), "method": "GET", "url": "/users/" + u1 + "/contacts"})
		}
		expectStatus(t, e.do("POST", "/$batch", map[string]any{"requests": reqs}), 200, "")
	}
	e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultLatency, Latency: time.Millisecond})
	e.srv.ResetStats()
	batch(4)
	if n := e.srv.Stats().Faults; n != 4 {
		t.Errorf("a batch of 4 parts was delayed %d times, want 4 (its parts)", n)
	}
	e.srv.Faults().Clear()
	e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultLatency, Path: "/v1.0/$batch", Latency: time.Millisecond})
	e.srv.ResetStats()
	batch(3)
	if n := e.srv.Stats().Faults; n != 1 {
		t.Errorf("a latency fault on /v1.0/$batch fired %d times for one batch, want 1", n)
	}
}
