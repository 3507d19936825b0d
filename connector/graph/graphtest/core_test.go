package graphtest_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

func TestTokenClientSecretAndUsers(t *testing.T) {
	e := start(t, graphtest.Options{Users: 3})
	e.login()
	r := e.get("/users")
	expectStatus(t, r, 200, "")
	users := r.values()
	if len(users) != 3 {
		t.Fatalf("got %d users, want 3", len(users))
	}
	if users[0]["userPrincipalName"] != "user1@contoso.com" || users[0]["id"] == nil {
		t.Fatalf("unexpected first user %v", users[0])
	}
	if _, ok := users[0]["userType"]; ok {
		t.Fatalf("userType is not in the default property set: %v", users[0])
	}
	if !strings.HasSuffix(r.body["@odata.context"].(string), "/v1.0/$metadata#users") {
		t.Fatalf("context %v", r.body["@odata.context"])
	}
}

func TestMissingAndInvalidBearer(t *testing.T) {
	e := start(t, graphtest.Options{})
	r := e.get("/users")
	expectStatus(t, r, 401, "InvalidAuthenticationToken")
	if r.header.Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
	e.token = "not-a-token"
	expectStatus(t, e.get("/users"), 401, "InvalidAuthenticationToken")
}

func TestAccessTokenExpires(t *testing.T) {
	e := start(t, graphtest.Options{})
	e.login()
	expectStatus(t, e.get("/users"), 200, "")
	e.clock.Advance(3599 * time.Second)
	r := e.get("/users")
	expectStatus(t, r, 401, "InvalidAuthenticationToken")
}

func TestTokenErrors(t *testing.T) {
	e := start(t, graphtest.Options{})
	app := e.srv.App()

	status, body := e.tokenFor(app.ClientID, "wrong")
	if status != 401 || body["error"] != "invalid_client" || !strings.HasPrefix(body["error_description"].(string), "AADSTS7000215:") {
		t.Fatalf("wrong secret: %d %v", status, body)
	}
	for _, k := range []string{"error_codes", "timestamp", "trace_id", "correlation_id"} {
		if body[k] == nil {
			t.Fatalf("token error lacks %s: %v", k, body)
		}
	}
	if codes := body["error_codes"].([]any); codes[0].(float64) != 7000215 {
		t.Fatalf("error_codes %v", codes)
	}

	expired := e.srv.AddApp(graphtest.App{ClientSecret: "old-secret", SecretExpires: e.clock.Now().Add(-time.Hour), Permissions: []string{"User.Read.All"}})
	status, body = e.tokenFor(expired.ClientID, "old-secret")
	if status != 401 || !strings.HasPrefix(body["error_description"].(string), "AADSTS7000222:") {
		t.Fatalf("expired secret: %d %v", status, body)
	}

	status, body = e.tokenFor("00000000-0000-0000-0000-000000000001", "x")
	if status != 400 || body["error"] != "unauthorized_client" || !strings.HasPrefix(body["error_description"].(string), "AADSTS700016:") {
		t.Fatalf("unknown app: %d %v", status, body)
	}

	form := url.Values{"client_id": {app.ClientID}, "client_secret": {app.ClientSecret},
		"grant_type": {"client_credentials"}, "scope": {"https://foo.microsoft.com/.default"}}
	status, body = e.postForm(e.srv.AuthorityHost()+e.srv.TenantID()+"/oauth2/v2.0/token", form)
	if status != 400 || body["error"] != "invalid_scope" || !strings.HasPrefix(body["error_description"].(string), "AADSTS70011:") {
		t.Fatalf("foreign scope: %d %v", status, body)
	}
	form.Set("scope", "https://graph.microsoft.com/User.Read.All")
	status, body = e.postForm(e.srv.AuthorityHost()+e.srv.TenantID()+"/oauth2/v2.0/token", form)
	if status != 400 || body["error"] != "invalid_scope" {
		t.Fatalf("client credentials without .default: %d %v", status, body)
	}
}

func TestPermissionsEnforced(t *testing.T) {
	e := start(t, graphtest.Options{Users: 2})
	limited := e.srv.AddApp(graphtest.App{ClientSecret: "s3cret-value", Permissions: []string{"Calendars.Read"}})
	status, body := e.tokenFor(limited.ClientID, "s3cret-value")
	if status != 200 {
		t.Fatalf("token: %d %v", status, body)
	}
	e.token = body["access_token"].(string)
	expectStatus(t, e.get("/users"), 403, "Authorization_RequestDenied")
	expectStatus(t, e.get("/users/user1@contoso.com/contacts"), 403, "ErrorAccessDenied")
	expectStatus(t, e.get("/users/user1@contoso.com/calendarView/delta?startDateTime=2026-03-01T00:00:00Z&endDateTime=2026-04-01T00:00:00Z"), 200, "")
	expectStatus(t, e.do("POST", "/users/user1@contoso.com/events", event("x", e.clock.Now(), time.Hour)), 403, "ErrorAccessDenied")
}

func TestUserFilterAdvancedQueries(t *testing.T) {
	e := start(t, graphtest.Options{Users: 4})
	e.srv.AddUser(graphtest.User{DisplayName: "Guest Person", UserPrincipalName: "guest_x.com#EXT#@contoso.com", UserType: "Guest", AccountEnabled: true})
	e.login()

	r := e.get("/users?$filter=" + url.QueryEscape("userType eq 'Member'"))
	expectStatus(t, r, 200, "")
	if n := len(r.values()); n != 4 {
		t.Fatalf("userType eq 'Member': %d users, want 4", n)
	}
	r = e.get("/users?$filter=" + url.QueryEscape("startswith(displayName,'guest') or userPrincipalName eq 'USER2@contoso.com'"))
	expectStatus(t, r, 200, "")
	if n := len(r.values()); n != 2 {
		t.Fatalf("startswith/or: %d users, want 2: %s", n, r.raw)
	}

	// ne, endsWith and /$count need ConsistencyLevel: eventual + $count=true.
	expectStatus(t, e.get("/users?$filter="+url.QueryEscape("userType ne 'Guest'")), 400, "Request_UnsupportedQuery")
	expectStatus(t, e.get("/users?$filter="+url.QueryEscape("endswith(mail,'@contoso.com')")), 400, "Request_UnsupportedQuery")
	expectStatus(t, e.get("/users/$count"), 400, "Request_BadRequest")
	expectStatus(t, e.get("/users?$search="+url.QueryEscape(`"displayName:guest"`)), 400, "Request_UnsupportedQuery")

	r = e.get("/users?$count=true&$filter="+url.QueryEscape("userType ne 'Guest'"), "ConsistencyLevel", "eventual")
	expectStatus(t, r, 200, "")
	if n := len(r.values()); n != 4 || r.body["@odata.count"].(float64) != 4 {
		t.Fatalf("advanced ne: %d users, count %v", n, r.body["@odata.count"])
	}
	expectStatus(t, e.get("/users?$filter="+url.QueryEscape("nosuch eq 'x'")), 400, "Request_UnsupportedQuery")
}

func TestUserPagingAndSelect(t *testing.T) {
	e := start(t, graphtest.Options{Users: 7})
	e.login()
	expectStatus(t, e.get("/users?$top=1000"), 400, "")
	u := "/users?$top=3&$select=id,mail"
	var got []map[string]any
	pages := 0
	for u != "" {
		r := e.get(u)
		expectStatus(t, r, 200, "")
		pages++
		for _, v := range r.values() {
			if len(v) != 2 || v["id"] == nil || v["mail"] == nil {
				t.Fatalf("$select=id,mail gave %v", v)
			}
			got = append(got, v)
		}
		u, _ = r.body["@odata.nextLink"].(string)
		if u != "" && !strings.Contains(u, "$skiptoken=") {
			t.Fatalf("nextLink without $skiptoken: %s", u)
		}
	}
	if len(got) != 7 || pages != 3 {
		t.Fatalf("paging: %d users over %d pages", len(got), pages)
	}
}

func TestGroupsTransitiveMembers(t *testing.T) {
	e := start(t, graphtest.Options{Users: 5})
	users := e.srv.Users()
	inner := e.srv.AddGroup(graphtest.Group{DisplayName: "Inner", Members: []string{users[2].ID, users[3].ID}})
	outer := e.srv.AddGroup(graphtest.Group{DisplayName: "Sales Team", Members: []string{users[0].ID, inner.ID}})
	// A cycle: inner contains outer.
	e.srv.AddGroup(graphtest.Group{ID: inner.ID, DisplayName: "Inner", Members: []string{users[2].ID, users[3].ID, outer.ID}})
	e.login()
	r := e.get("/groups?$filter=" + url.QueryEscape("displayName eq 'Sales Team'"))
	expectStatus(t, r, 200, "")
	if v := r.values(); len(v) != 1 || v[0]["id"] != outer.ID {
		t.Fatalf("group filter: %s", r.raw)
	}
	// The SDKs spell the cast graph.user (msgraph-sdk-go URL templates).
	expectStatus(t, e.get("/groups/"+outer.ID+"/transitiveMembers/graph.user?$count=true", "ConsistencyLevel", "eventual"), 200, "")
	path := "/groups/" + outer.ID + "/transitiveMembers/microsoft.graph.user"
	expectStatus(t, e.get(path), 400, "Request_UnsupportedQuery")
	r = e.get(path+"?$count=true", "ConsistencyLevel", "eventual")
	expectStatus(t, r, 200, "")
	ids := map[string]bool{}
	for _, v := range r.values() {
		ids[v["id"].(string)] = true
		if v["@odata.type"] != "#microsoft.graph.user" {
			t.Fatalf("member type %v", v["@odata.type"])
		}
	}
	if len(ids) != 3 || !ids[users[0].ID] || !ids[users[2].ID] || !ids[users[3].ID] {
		t.Fatalf("transitive users: %v", ids)
	}
}

func TestMailboxNotEnabled(t *testing.T) {
	e := start(t, graphtest.Options{Users: 1})
	e.srv.AddUser(graphtest.User{DisplayName: "No Mailbox", AccountEnabled: true})
	e.login()
	r := e.get("/users/no.mailbox@contoso.com/calendarView/delta?startDateTime=2026-03-01&endDateTime=2026-04-01")
	expectStatus(t, r, 404, "MailboxNotEnabledForRESTAPI")
	expectStatus(t, e.get("/users/no.mailbox@contoso.com"), 200, "")
}

func TestCalendarViewDeltaRequiresWindow(t *testing.T) {
	e := start(t, graphtest.Options{Users: 1})
	e.login()
	expectStatus(t, e.get("/users/user1@contoso.com/calendarView/delta"), 400, "ErrorInvalidParameter")
	expectStatus(t, e.get("/users/user1@contoso.com/calendarView/delta?startDateTime=2026-03-01T00:00:00Z"), 400, "ErrorInvalidParameter")
	expectStatus(t, e.get("/users/user1@contoso.com/calendarView/delta?startDateTime=yesterday&endDateTime=2026-04-01T00:00:00Z"), 400, "ErrorInvalidParameter")
	expectStatus(t, e.get("/users/user1@contoso.com/calendarView/delta?startDateTime=2026-03-01T00:00:00Z&endDateTime=2026-04-01T00:00:00Z&$select=subject"), 400, "ErrorInvalidUrlQuery")
}

func TestCalendarViewDeltaRounds(t *testing.T) {
	e := start(t, graphtest.Options{Users: 2})
	e.login()
	now := e.clock.Now()
	user := "user1@contoso.com"
	var ids []string
	for i := 0; i < 25; i++ {
		id, err := e.srv.PutEvent(user, event(fmt.Sprintf("e%d", i), now.Add(time.Duration(i)*time.Hour), time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	outside, err := e.srv.PutEvent(user, event("far away", now.AddDate(1, 0, 0), time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	window := "/users/" + user + "/calendarView/delta?startDateTime=" + url.QueryEscape(now.Add(-24*time.Hour).Format(time.RFC3339)) +
		"&endDateTime=" + url.QueryEscape(now.Add(30*24*time.Hour).Format(time.RFC3339))
	prefer := []string{"Prefer", `IdType="ImmutableId"`, "Prefer", "odata.maxpagesize=10"}

	// msgraph-sdk-go calls the function as delta().
	expectStatus(t, e.get(strings.Replace(window, "/delta?", "/delta()?", 1)), 200, "")
	first := e.get(window, prefer...)
	expectStatus(t, first, 200, "")
	if n := len(first.values()); n != 10 {
		t.Fatalf("first page: %d items, want 10", n)
	}
	if !strings.Contains(first.header.Get("Preference-Applied"), "odata.maxpagesize=10") {
		t.Fatalf("Preference-Applied = %q", first.header.Get("Preference-Applied"))
	}
	next := first.body["@odata.nextLink"].(string)
	if !strings.Contains(next, "$skiptoken=") || strings.Contains(next, "startDateTime") {
		t.Fatalf("nextLink must carry only $skiptoken: %s", next)
	}
	items, deltaLink := e.deltaRound(window, prefer...)
	if len(items) != 25 {
		t.Fatalf("round 1: %d items, want 25", len(items))
	}
	seen := map[string]bool{}
	for _, it := range items {
		seen[it["id"].(string)] = true
		if it["@odata.type"] != "#microsoft.graph.event" || it["type"] != "singleInstance" {
			t.Fatalf("item shape: %v", it)
		}
	}
	for _, id := range ids {
		if !seen[id] {
			t.Fatalf("round 1 lacks %s", id)
		}
	}
	if seen[outside] {
		t.Fatal("round 1 returned an event outside the window")
	}
	if !strings.Contains(deltaLink, "$deltatoken=") {
		t.Fatalf("deltaLink %s", deltaLink)
	}

	// No change: an empty round.
	items, deltaLink = e.deltaRound(deltaLink, prefer...)
	if len(items) != 0 {
		t.Fatalf("no-change round returned %d items", len(items))
	}

	// Mutations: create, update, delete, move out of the window, change outside.
	created, _ := e.srv.PutEvent(user, event("new", now.Add(2*time.Hour), time.Hour))
	if err := e.srv.PatchEvent(user, ids[1], map[string]any{"subject": "renamed"}); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.DeleteEvent(user, ids[2]); err != nil {
		t.Fatal(err)
	}
	moved := now.AddDate(0, 3, 0)
	if err := e.srv.PatchEvent(user, ids[3], map[string]any{"start": map[string]any{"dateTime": moved.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"end": map[string]any{"dateTime": moved.Add(time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.PatchEvent(user, outside, map[string]any{"subject": "still far"}); err != nil {
		t.Fatal(err)
	}
	items, deltaLink = e.deltaRound(deltaLink, prefer...)
	got := map[string]map[string]any{}
	for _, it := range items {
		got[it["id"].(string)] = it
	}
	if len(got) != 5 {
		t.Fatalf("round 3: %d items, want 5: %v", len(got), items)
	}
	if got[created]["subject"] != "new" || got[ids[1]]["subject"] != "renamed" {
		t.Fatalf("created/updated missing: %v", items)
	}
	for _, id := range []string{ids[2], ids[3], outside} {
		rm, _ := got[id]["@removed"].(map[string]any)
		if rm["reason"] != "deleted" || len(got[id]) != 3 {
			t.Fatalf("%s should be @removed deleted with only @odata.type and id: %v", id, got[id])
		}
	}
	// The moved event still exists.
	if _, ok := e.srv.Event(user, ids[3]); !ok {
		t.Fatal("moved event is gone")
	}
	if items, _ = e.deltaRound(deltaLink, prefer...); len(items) != 0 {
		t.Fatalf("round 4 after no change: %d items", len(items))
	}
}

func TestDeltaTokenExpired410(t *testing.T) {
	e := start(t, graphtest.Options{Users: 2, EventsPerUser: 15})
	e.login()
	now := e.clock.Now()
	window := "/users/user1@contoso.com/calendarView/delta?startDateTime=" + url.QueryEscape(now.AddDate(0, -2, 0).Format(time.RFC3339)) +
		"&endDateTime=" + url.QueryEscape(now.AddDate(0, 2, 0).Format(time.RFC3339))
	first := e.get(window)
	next := first.body["@odata.nextLink"].(string)
	_, deltaLink := e.deltaRound(window)
	e.srv.ExpireDeltaTokens()
	for _, u := range []string{next, deltaLink} {
		r := e.get(u)
		expectStatus(t, r, 410, "SyncStateNotFound")
		if loc := r.header.Get("Location"); !strings.Contains(loc, "startDateTime=") {
			t.Fatalf("410 Location %q lacks the initial query", loc)
		}
	}
	// Expiring one mailbox's tokens leaves the others alone.
	_, dl2 := e.deltaRound(strings.Replace(window, "user1@", "user2@", 1))
	_, dl1 := e.deltaRound(window)
	e.srv.ExpireDeltaTokensOf("user1@contoso.com")
	expectStatus(t, e.get(dl1), 410, "SyncStateNotFound")
	expectStatus(t, e.get(dl2), 200, "")
	r := e.get("/users/user1@contoso.com/calendarView/delta?$deltatoken=unknown")
	expectStatus(t, r, 410, "SyncStateNotFound")
	// The full resync works again.
	if items, _ := e.deltaRound(window); len(items) == 0 {
		t.Fatal("resync returned nothing")
	}
}

func TestFifthConcurrentRequestThrottled(t *testing.T) {
	e := start(t, graphtest.Options{Users: 1})
	e.login()
	// Hold requests on the mailbox for a while.
	e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultLatency, Path: "/v1.0/users/*/contacts", Latency: 600 * time.Millisecond, Times: 4})
	var wg sync.WaitGroup
	statuses := make([]int, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e.get("/users/user1@contoso.com/contacts").status
		}()
	}
	time.Sleep(200 * time.Millisecond)
	r := e.get("/users/user1@contoso.com/contacts")
	wg.Wait()
	expectStatus(t, r, 429, "ApplicationThrottled")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	for _, s := range statuses {
		if s != 200 {
			t.Fatalf("held requests: %v", statuses)
		}
	}
	if st := e.srv.Stats(); st.MailboxConcurrentPeak != 4 || st.Throttled != 1 {
		t.Fatalf("stats: peak %d throttled %d", st.MailboxConcurrentPeak, st.Throttled)
	}
	// Another mailbox is unaffected by the limit of the first, and after the
	// held requests end the mailbox answers again.
	expectStatus(t, e.get("/users/user1@contoso.com/contacts"), 200, "")
}

func TestRequestBudgetPerMailbox(t *testing.T) {
	e := start(t, graphtest.Options{Users: 2, MailboxRequestBudget: 3})
	e.login()
	for i := 0; i < 3; i++ {
		expectStatus(t, e.get("/users/user1@contoso.com/contacts"), 200, "")
	}
	r := e.get("/users/user1@contoso.com/contacts")
	expectStatus(t, r, 429, "TooManyRequests")
	if r.header.Get("Retry-After") != "600" {
		t.Fatalf("Retry-After %q, want 600", r.header.Get("Retry-After"))
	}
	expectStatus(t, e.get("/users/user2@contoso.com/contacts"), 200, "")
	e.clock.Advance(10 * time.Minute)
	expectStatus(t, e.get("/users/user1@contoso.com/contacts"), 200, "")
}

func TestBatchLimitAndDependsOn(t *testing.T) {
	e := start(t, graphtest.Options{Users: 2})
	e.login()
	var reqs []map[string]any
	for i := 0; i < 21; i++ {
		reqs = append(reqs, map[string]any{"id": fmt.Sprint(i + 1), "method": "GET", "url": "/users"})
	}
	expectStatus(t, e.do("POST", "/$batch", map[string]any{"requests": reqs}), 400, "BadRequest")
	expectStatus(t, e.do("POST", "/$batch", map[string]any{"requests": []any{
		map[string]any{"id": "a", "method": "GET", "url": "/users"},
		map[string]any{"id": "A", "method": "GET", "url": "/users"}}}), 400, "BadRequest")

	r := e.do("POST", "/$batch", map[string]any{"requests": []any{
		map[string]any{"id": "1", "method": "GET", "url": "/users/nobody@contoso.com/events/x"},
		map[string]any{"id": "2", "dependsOn": []string{"1"}, "method": "GET", "url": "/users"},
		map[string]any{"id": "3", "method": "POST", "url": "/users/user1@contoso.com/events",
			"headers": map[string]string{"Content-Type": "application/json"}, "body": event("batched", e.clock.Now(), time.Hour)},
		map[string]any{"id": "4", "method": "GET", "url": "users?$select=id"},
	}})
	expectStatus(t, r, 200, "")
	byID := map[string]map[string]any{}
	for _, x := range r.body["responses"].([]any) {
		m := x.(map[string]any)
		byID[m["id"].(string)] = m
	}
	want := map[string]float64{"1": 404, "2": 424, "3": 201, "4": 200}
	for id, st := range want {
		if byID[id]["status"].(float64) != st {
			t.Fatalf("batch response %s: status %v, want %v (%v)", id, byID[id]["status"], st, byID[id])
		}
	}
	if len(e.srv.Events("user1@contoso.com")) != 1 {
		t.Fatal("batched POST did not create the event")
	}
}

// TestLatencyHoldsMailboxSlot: with emulated latency, a request occupies its
// mailbox slot for the whole latency, so a sixth parallel request is throttled.
func TestLatencyHoldsMailboxSlot(t *testing.T) {
	e := start(t, graphtest.Options{Users: 1, Latency: 300 * time.Millisecond})
	e.login()
	var wg sync.WaitGroup
	statuses := make(chan int, 6)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- e.get("/users/user1@contoso.com/contacts").status
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[200] != 4 || count[429] != 2 {
		t.Fatalf("statuses %v, want four 200 and two 429", count)
	}
}

func TestApplicationAccessPolicy(t *testing.T) {
	e := start(t, graphtest.Options{Users: 2})
	scoped := e.srv.AddApp(graphtest.App{ClientSecret: "scoped-secret", Permissions: graphtest.DefaultPermissions,
		MailboxScope: []string{"user1@contoso.com"}})
	status, body := e.tokenFor(scoped.ClientID, "scoped-secret")
	if status != 200 {
		t.Fatalf("token %d %v", status, body)
	}
	e.token = body["access_token"].(string)
	expectStatus(t, e.get("/users/user1@contoso.com/contacts"), 200, "")
	r := e.get("/users/user2@contoso.com/contacts")
	expectStatus(t, r, 403, "ErrorAccessDenied")
	if r.body["error"].(map[string]any)["message"] != "Access to OData is disabled." {
		t.Fatalf("policy message %s", r.raw)
	}
}

func TestBatchPartsThrottledInsideOK(t *testing.T) {
	e := start(t, graphtest.Options{Users: 1, MailboxRequestBudget: 2})
	e.login()
	var reqs []any
	for i := 1; i <= 3; i++ {
		reqs = append(reqs, map[string]any{"id": fmt.Sprint(i), "method": "GET", "url": "/users/user1@contoso.com/contacts",
			"dependsOn": func() []string {
				if i == 1 {
					return nil
				}
				return []string{fmt.Sprint(i - 1)}
			}()})
	}
	r := e.do("POST", "/$batch", map[string]any{"requests": reqs})
	expectStatus(t, r, 200, "")
	got := map[string]float64{}
	for _, x := range r.body["responses"].([]any) {
		m := x.(map[string]any)
		got[m["id"].(string)] = m["status"].(float64)
		if m["status"].(float64) == 429 && m["headers"].(map[string]any)["Retry-After"] == nil {
			t.Fatalf("throttled part without Retry-After: %v", m)
		}
	}
	if got["1"] != 200 || got["2"] != 200 || got["3"] != 429 {
		t.Fatalf("batch part statuses %v", got)
	}
}

func TestUserOrderBy(t *testing.T) {
	e := start(t, graphtest.Options{Users: 3})
	e.login()
	r := e.get("/users?$orderby=displayName%20desc")
	expectStatus(t, r, 200, "")
	v := r.values()
	if v[0]["displayName"].(string) < v[2]["displayName"].(string) {
		t.Fatalf("not sorted descending: %v, %v", v[0]["displayName"], v[2]["displayName"])
	}
	expectStatus(t, e.get("/users?$orderby=jobTitle"), 400, "Request_UnsupportedQuery")
}

func TestAdminConsentRedirect(t *testing.T) {
	e := start(t, graphtest.Options{Users: 1})
	hc := e.srv.HTTPClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	q := url.Values{"client_id": {e.srv.App().ClientID}, "state": {"xyz"}, "redirect_uri": {"https://app.example/consent"}}
	res, err := hc.Get(e.srv.AuthorityHost() + e.srv.TenantID() + "/adminconsent?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != 302 || loc.Query().Get("admin_consent") != "True" || loc.Query().Get("state") != "xyz" || loc.Query().Get("tenant") != e.srv.TenantID() {
		t.Fatalf("admin consent redirect %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestDirectoryResourceUnits(t *testing.T) {
	e := start(t, graphtest.Options{Users: 3, DirectoryBudget: 5})
	e.login()
	r := e.get("/users")
	expectStatus(t, r, 200, "")
	if r.header.Get("x-ms-resource-unit") != "2" {
		t.Fatalf("x-ms-resource-unit %q", r.header.Get("x-ms-resource-unit"))
	}
	r = e.get("/users?$select=id")
	if r.header.Get("x-ms-resource-unit") != "1" {
		t.Fatalf("$select cost %q", r.header.Get("x-ms-resource-unit"))
	}
	expectStatus(t, e.get("/users"), 200, "") // 5 of 5 units
	if r := e.get("/users/user1@contoso.com"); r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Fatalf("over budget: %d %s", r.status, r.raw)
	}
	// Mailbox requests have their own limits.
	expectStatus(t, e.get("/users/user1@contoso.com/contacts"), 200, "")
	e.clock.Advance(10 * time.Second)
	expectStatus(t, e.get("/users/user1@contoso.com"), 200, "")
}

func TestUploadBudget(t *testing.T) {
	e := start(t, graphtest.Options{Users: 1, MailboxUploadBudget: 400})
	e.login()
	expectStatus(t, e.do("POST", "/users/"+u1+"/contacts", map[string]any{"givenName": "A", "personalNotes": strings.Repeat("x", 200)}), 201, "")
	r := e.do("POST", "/users/"+u1+"/contacts", map[string]any{"givenName": "B", "personalNotes": strings.Repeat("y", 200)})
	expectStatus(t, r, 429, "TooManyRequests")
	if r.header.Get("Retry-After") != "300" {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	expectStatus(t, e.get("/users/"+u1+"/contacts"), 200, "")
	e.clock.Advance(5 * time.Minute)
	expectStatus(t, e.do("POST", "/users/"+u1+"/contacts", map[string]any{"givenName": "C"}), 201, "")
}

// TestGroupMembersLimitedWithoutUserRead: members the app cannot read in
// full come back with only @odata.type and id (facts §11).
func TestGroupMembersLimitedWithoutUserRead(t *testing.T) {
	e := start(t, graphtest.Options{Users: 2})
	users := e.srv.Users()
	g := e.srv.AddGroup(graphtest.Group{DisplayName: "Field", Members: []string{users[0].ID, users[1].ID}})
	app := e.srv.AddApp(graphtest.App{ClientSecret: "members-only", Permissions: []string{"GroupMember.Read.All"}})
	status, body := e.tokenFor(app.ClientID, "members-only")
	if status != 200 {
		t.Fatalf("token %d %v", status, body)
	}
	e.token = body["access_token"].(string)
	r := e.get("/groups/" + g.ID + "/members")
	expectStatus(t, r, 200, "")
	for _, m := range r.values() {
		if len(m) != 2 || m["id"] == nil || m["@odata.type"] != "#microsoft.graph.user" {
			t.Fatalf("limited member %v", m)
		}
	}
	expectStatus(t, e.get("/users"), 403, "Authorization_RequestDenied")
}
