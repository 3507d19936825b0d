package zohotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for the emulator.
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

type harness struct {
	t     *testing.T
	srv   *Server
	hc    *http.Client
	token string
}

func start(t *testing.T, opts Options) *harness {
	t.Helper()
	srv, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(srv.Close)
	h := &harness{t: t, srv: srv, hc: srv.HTTPClient()}
	h.token = h.accessToken("", srv.RefreshToken())
	return h
}

func (h *harness) tokenCall(dc string, form url.Values) (int, map[string]any) {
	h.t.Helper()
	res, err := h.hc.PostForm(h.srv.AccountsURL(dc)+"/oauth/v2/token", form)
	if err != nil {
		h.t.Fatalf("token call: %v", err)
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

func (h *harness) accessToken(dc, refresh string) string {
	h.t.Helper()
	st, m := h.tokenCall(dc, url.Values{"grant_type": {"refresh_token"}, "client_id": {h.srv.ClientID()}, "client_secret": {h.srv.ClientSecret()}, "refresh_token": {refresh}})
	tok, _ := m["access_token"].(string)
	if st != 200 || tok == "" {
		h.t.Fatalf("refresh: HTTP %d %v", st, m)
	}
	return tok
}

// call sends an API request and returns the status and decoded body.
func (h *harness) call(method, path string, body any, hdr map[string]string) (int, map[string]any) {
	h.t.Helper()
	return h.callAs(h.token, "", method, path, body, hdr)
}

func (h *harness) callAs(token, dc, method, path string, body any, hdr map[string]string) (int, map[string]any) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.srv.APIDomain(dc)+"/crm/v8/"+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Zoho-oauthtoken "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := h.hc.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			h.t.Fatalf("%s %s: HTTP %d body is not JSON: %s", method, path, res.StatusCode, b)
		}
	}
	return res.StatusCode, m
}

func code(m map[string]any) string { c, _ := m["code"].(string); return c }

func dataItem(m map[string]any, i int) map[string]any {
	d, _ := m["data"].([]any)
	if i >= len(d) {
		return nil
	}
	x, _ := d[i].(map[string]any)
	return x
}

func (h *harness) mustCreate(module string, fields map[string]any) string {
	h.t.Helper()
	id, err := h.srv.Create("", module, fields)
	if err != nil {
		h.t.Fatalf("Create %s: %v", module, err)
	}
	return id
}

func TestTokenEndpoint(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	h := start(t, Options{Now: clock.now, RefreshLimit: 3, DataCenters: []string{"us", "eu"}})
	id, secret := h.srv.ClientID(), h.srv.ClientSecret()

	// §A2: errors come back as HTTP 200 {"error": ...}.
	st, m := h.tokenCall("", url.Values{"grant_type": {"refresh_token"}, "client_id": {id}, "client_secret": {"wrong"}, "refresh_token": {h.srv.RefreshToken()}})
	if st != 200 || m["error"] != "invalid_client" {
		t.Errorf("bad secret: want HTTP 200 invalid_client, got %d %v", st, m)
	}
	st, m = h.tokenCall("", url.Values{"grant_type": {"refresh_token"}, "client_id": {id}, "client_secret": {secret}, "refresh_token": {"1000.nope"}})
	if st != 200 || m["error"] != "invalid_code" {
		t.Errorf("unknown refresh token: want HTTP 200 invalid_code, got %d %v", st, m)
	}
	// A refresh answers api_domain, expires_in 3600 and no refresh_token.
	rt := h.srv.RefreshToken()
	_, m = h.tokenCall("", url.Values{"grant_type": {"refresh_token"}, "client_id": {id}, "client_secret": {secret}, "refresh_token": {rt}})
	if m["api_domain"] != h.srv.APIDomain("") || m["expires_in"] != float64(3600) || m["refresh_token"] != nil || m["token_type"] != "Bearer" {
		t.Errorf("refresh answer: got %v", m)
	}
	// Throttling: the 4th refresh within the window is "Access Denied" (HTTP 400).
	for i := 0; i < 2; i++ {
		h.tokenCall("", url.Values{"grant_type": {"refresh_token"}, "client_id": {id}, "client_secret": {secret}, "refresh_token": {rt}})
	}
	st, m = h.tokenCall("", url.Values{"grant_type": {"refresh_token"}, "client_id": {id}, "client_secret": {secret}, "refresh_token": {rt}})
	if st != 400 || m["error"] != "Access Denied" {
		t.Errorf("4th refresh within the window: want 400 Access Denied, got %d %v", st, m)
	}
	clock.add(11 * time.Minute)
	if st, m = h.tokenCall("", url.Values{"grant_type": {"refresh_token"}, "client_id": {id}, "client_secret": {secret}, "refresh_token": {rt}}); m["access_token"] == nil {
		t.Errorf("refresh after the window: want a token, got %d %v", st, m)
	}
	// Authorization code: single use, 2 minutes, redirect_uri must match.
	code1 := h.srv.GrantCode("", "https://app.example/cb", 0, DefaultScopes...)
	_, m = h.tokenCall("", url.Values{"grant_type": {"authorization_code"}, "client_id": {id}, "client_secret": {secret}, "code": {code1}, "redirect_uri": {"https://app.example/cb"}})
	if m["refresh_token"] == nil || m["access_token"] == nil {
		t.Errorf("code exchange: want access and refresh tokens, got %v", m)
	}
	_, m = h.tokenCall("", url.Values{"grant_type": {"authorization_code"}, "client_id": {id}, "client_secret": {secret}, "code": {code1}, "redirect_uri": {"https://app.example/cb"}})
	if m["error"] != "invalid_code" {
		t.Errorf("code reused: want invalid_code, got %v", m)
	}
	code2 := h.srv.GrantCode("", "", 0, DefaultScopes...)
	clock.add(3 * time.Minute)
	_, m = h.tokenCall("", url.Values{"grant_type": {"authorization_code"}, "client_id": {id}, "client_secret": {secret}, "code": {code2}})
	if m["error"] != "invalid_code" {
		t.Errorf("expired code: want invalid_code, got %v", m)
	}
	// Access tokens expire after an hour.
	tok := h.accessToken("", h.srv.RefreshToken())
	if st, _ := h.callAs(tok, "", "GET", "settings/modules", nil, nil); st != 200 {
		t.Fatalf("fresh token: got HTTP %d", st)
	}
	clock.add(time.Hour)
	if st, m := h.callAs(tok, "", "GET", "settings/modules", nil, nil); st != 401 || code(m) != "INVALID_TOKEN" {
		t.Errorf("expired token: want 401 INVALID_TOKEN, got %d %v", st, m)
	}
	// A token of the EU data centre is unknown to the US API (§A1, §C1).
	euTok := h.accessToken("eu", h.srv.IssueRefreshToken("eu", DefaultScopes...))
	if st, m := h.callAs(euTok, "us", "GET", "settings/modules", nil, nil); st != 401 || code(m) != "INVALID_TOKEN" {
		t.Errorf("EU token on the US api_domain: want 401 INVALID_TOKEN, got %d %v", st, m)
	}
	if st, _ := h.callAs(euTok, "eu", "GET", "settings/modules", nil, nil); st != 200 {
		t.Errorf("EU token on the EU api_domain: want 200, got %d", st)
	}
}

func TestAuthorizationAndScopes(t *testing.T) {
	h := start(t, Options{})
	if st, m := h.callAs("", "", "GET", "Contacts?fields=Last_Name", nil, nil); st != 401 || code(m) != "AUTHENTICATION_FAILURE" {
		t.Errorf("no header: want 401 AUTHENTICATION_FAILURE, got %d %v", st, m)
	}
	req, _ := http.NewRequest("GET", h.srv.APIDomain("")+"/crm/v8/Contacts?fields=Last_Name", nil)
	req.Header.Set("Authorization", "Bearer "+h.token)
	res, err := h.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Errorf("Bearer scheme: want 401 (only Zoho-oauthtoken is documented), got %d", res.StatusCode)
	}
	narrow := h.accessToken("", h.srv.IssueRefreshToken("", "ZohoCRM.modules.Contacts.READ"))
	for _, c := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"GET", "Contacts?fields=Last_Name", nil, 204},
		{"GET", "Tasks?fields=Subject", nil, 401},
		{"POST", "Contacts", map[string]any{"data": []any{map[string]any{"Last_Name": "X"}}}, 401},
		{"GET", "settings/fields?module=Contacts", nil, 401},
		{"POST", "coql", map[string]any{"select_query": "select Last_Name from Contacts where id is not null"}, 401},
		{"GET", "Contacts/search?criteria=(Last_Name:equals:X)", nil, 401},
	} {
		st, m := h.callAs(narrow, "", c.method, c.path, c.body, nil)
		if st != c.want || (c.want == 401 && code(m) != "OAUTH_SCOPE_MISMATCH") {
			t.Errorf("%s %s with only ZohoCRM.modules.Contacts.READ: want %d, got %d %v", c.method, c.path, c.want, st, m)
		}
	}
}

func TestListRules(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	h := start(t, Options{Now: clock.now})
	if st, _ := h.call("GET", "Contacts?fields=Last_Name", nil, nil); st != 204 {
		t.Errorf("empty module: want 204, got %d", st)
	}
	for i := 0; i < 2100; i++ {
		h.mustCreate("Contacts", map[string]any{"Last_Name": fmt.Sprintf("L%04d", i)})
		if i == 1049 {
			clock.add(time.Minute)
		}
	}
	cases := []struct {
		path, code string
		status     int
	}{
		{"Contacts", "REQUIRED_PARAM_MISSING", 400},
		{"Contacts?fields=" + strings.Repeat("Last_Name,", 51), "LIMIT_EXCEEDED", 400},
		{"Contacts?fields=Last_Name&per_page=201", "INVALID_DATA", 400},
		{"Contacts?fields=Last_Name&page=11", "DISCRETE_PAGINATION_LIMIT_EXCEEDED", 400},
		{"Contacts?fields=Last_Name&page=1&page_token=abc", "AMBIGUITY_DURING_PROCESSING", 400},
		{"Contacts?fields=Last_Name&sort_by=Last_Name", "INVALID_DATA", 400},
		{"Nope?fields=Last_Name", "INVALID_MODULE", 400},
	}
	for _, c := range cases {
		st, m := h.call("GET", c.path, nil, nil)
		if st != c.status || code(m) != c.code {
			t.Errorf("GET %s: want %d %s, got %d %v", c.path, c.status, c.code, st, m)
		}
	}
	_, m := h.call("GET", "Contacts?fields=Last_Name&page=11&per_page=200", nil, nil)
	if d, _ := m["details"].(map[string]any); d["limit"] != float64(2000) {
		t.Errorf("DISCRETE_PAGINATION_LIMIT_EXCEEDED details: want limit 2000, got %v", m)
	}
	// Page 10 then page_token reaches every record; only requested fields come back.
	seen := map[string]bool{}
	q := "Contacts?fields=Last_Name&sort_by=id&sort_order=asc&per_page=200"
	var token string
	for page := 1; ; page++ {
		p := q + "&page=" + fmt.Sprint(page)
		if token != "" {
			p = q + "&page_token=" + token
		}
		st, m := h.call("GET", p, nil, nil)
		if st != 200 {
			t.Fatalf("page %d: HTTP %d %v", page, st, m)
		}
		for _, d := range m["data"].([]any) {
			r := d.(map[string]any)
			if _, ok := r["Email"]; ok || len(r) != 2 {
				t.Fatalf("record carries fields not asked for: %v", r)
			}
			seen[r["id"].(string)] = true
		}
		info := m["info"].(map[string]any)
		if info["more_records"] != true {
			break
		}
		if page >= 10 {
			token, _ = info["next_page_token"].(string)
		}
	}
	if len(seen) != 2100 {
		t.Errorf("paging with page then page_token: want 2100 records, got %d", len(seen))
	}
	// The token is bound to the other parameters and expires after 24 h.
	_, m = h.call("GET", q+"&page=10", nil, nil)
	tok := m["info"].(map[string]any)["next_page_token"].(string)
	if st, m := h.call("GET", "Contacts?fields=Last_Name,Email&sort_by=id&sort_order=asc&per_page=200&page_token="+tok, nil, nil); st != 400 || code(m) != "TOKEN_BOUND_DATA_MISMATCH" {
		t.Errorf("token with other fields: want TOKEN_BOUND_DATA_MISMATCH, got %d %v", st, m)
	}
	clock.add(25 * time.Hour)
	h.token = h.accessToken("", h.srv.RefreshToken())
	if st, m := h.call("GET", q+"&page_token="+tok, nil, nil); st != 400 || code(m) != "EXPIRED_VALUE" {
		t.Errorf("token after 24 h: want EXPIRED_VALUE, got %d %v", st, m)
	}
	// If-Modified-Since: inclusive; 304 when nothing changed.
	since := time.Date(2026, 5, 1, 10, 1, 0, 0, time.UTC).Format("2006-01-02T15:04:05-07:00")
	_, m = h.call("GET", "Contacts?fields=Last_Name&per_page=200", nil, map[string]string{"If-Modified-Since": since})
	var n int
	for p := 1; ; p++ {
		_, m = h.call("GET", fmt.Sprintf("Contacts?fields=Last_Name&per_page=200&page=%d", p), nil, map[string]string{"If-Modified-Since": since})
		n += len(m["data"].([]any))
		if m["info"].(map[string]any)["more_records"] != true {
			break
		}
	}
	if n != 1050 {
		t.Errorf("If-Modified-Since at the second half's time (inclusive): want 1050 records, got %d", n)
	}
	if st, _ := h.call("GET", "Contacts?fields=Last_Name", nil, map[string]string{"If-Modified-Since": "2030-01-01T00:00:00+00:00"}); st != 304 {
		t.Errorf("nothing modified since: want 304, got %d", st)
	}
}

func TestWriteRules(t *testing.T) {
	h := start(t, Options{})
	acc := h.mustCreate("Accounts", map[string]any{"Account_Name": "Acme"})
	// Mixed batch → 207, per-record statuses and errors with api_name/json_path.
	st, m := h.call("POST", "Contacts", map[string]any{"data": []any{
		map[string]any{"Last_Name": "Lee", "Email": "ann@example.com", "Account_Name": map[string]any{"id": acc}},
		map[string]any{"First_Name": "No last name"},
		map[string]any{"Last_Name": "Bad", "Email": "not-an-email"},
		map[string]any{"Last_Name": "Dup", "Email": "ANN@example.com"},
		map[string]any{"Last_Name": "Bad pick", "Lead_Source": "Carrier Pigeon"},
	}}, nil)
	if st != 207 {
		t.Fatalf("mixed insert: want 207, got %d %v", st, m)
	}
	want := []struct{ code, api string }{{"SUCCESS", ""}, {"MANDATORY_NOT_FOUND", "Last_Name"}, {"INVALID_DATA", "Email"}, {"DUPLICATE_DATA", "Email"}, {"INVALID_DATA", "Lead_Source"}}
	for i, w := range want {
		it := dataItem(m, i)
		d, _ := it["details"].(map[string]any)
		if it["code"] != w.code || (w.api != "" && (d["api_name"] != w.api || d["json_path"] != fmt.Sprintf("$.data[%d].%s", i, w.api))) {
			t.Errorf("record %d: want %s on %s, got %v", i, w.code, w.api, it)
		}
	}
	id := dataItem(m, 0)["details"].(map[string]any)["id"].(string)
	if len(id) != 19 {
		t.Errorf("id %q: want 19 digits", id)
	}
	_, got := h.call("GET", "Contacts/"+id, nil, nil)
	rec := dataItem(got, 0)
	if an, _ := rec["Account_Name"].(map[string]any); an["name"] != "Acme" || an["id"] != acc {
		t.Errorf("lookup rendering: want {name Acme, id %s}, got %v", acc, rec["Account_Name"])
	}
	// All OK → 201; all failed → 400; > 100 → LIMIT_EXCEEDED.
	if st, _ := h.call("POST", "Contacts", map[string]any{"data": []any{map[string]any{"Last_Name": "Ok"}}}, nil); st != 201 {
		t.Errorf("insert all OK: want 201, got %d", st)
	}
	if st, _ := h.call("POST", "Contacts", map[string]any{"data": []any{map[string]any{"First_Name": "x"}}}, nil); st != 400 {
		t.Errorf("insert all failed: want 400, got %d", st)
	}
	var many []any
	for i := 0; i < 101; i++ {
		many = append(many, map[string]any{"Last_Name": "x"})
	}
	if st, m := h.call("POST", "Contacts", map[string]any{"data": many}, nil); st != 400 || code(m) != "LIMIT_EXCEEDED" {
		t.Errorf("101 records: want 400 LIMIT_EXCEEDED, got %d %v", st, code(m))
	}
	// Update: partial, unknown id INVALID_DATA, missing id MANDATORY_NOT_FOUND.
	st, m = h.call("PUT", "Contacts", map[string]any{"data": []any{
		map[string]any{"id": id, "Title": "CEO"}, map[string]any{"id": "4876876000009999999", "Title": "x"}, map[string]any{"Title": "x"},
	}}, nil)
	if st != 207 || dataItem(m, 0)["message"] != "record updated" || dataItem(m, 1)["code"] != "INVALID_DATA" || dataItem(m, 2)["code"] != "MANDATORY_NOT_FOUND" {
		t.Errorf("update: want 207 with updated / INVALID_DATA / MANDATORY_NOT_FOUND, got %d %v", st, m)
	}
	if r, _ := h.srv.Get("", "Contacts", id); r["Title"] != "CEO" || r["Last_Name"] != "Lee" {
		t.Errorf("partial update: want Title CEO and Last_Name kept, got %v", r)
	}
	if st, m := h.call("PUT", "Contacts/"+id, map[string]any{"data": []any{map[string]any{"Title": "x"}}}, map[string]string{"If-Unmodified-Since": "2000-01-01T00:00:00+00:00"}); st != 412 || code(m) != "ALREADY_MODIFIED" {
		t.Errorf("If-Unmodified-Since in the past: want 412 ALREADY_MODIFIED, got %d %v", st, m)
	}
	// Upsert with duplicate_check_fields; refused for activities.
	st, m = h.call("POST", "Contacts/upsert", map[string]any{"data": []any{map[string]any{"Last_Name": "Lee2", "Email": "ann@example.com"}, map[string]any{"Last_Name": "New", "Email": "new@example.com"}}, "duplicate_check_fields": []any{"Email"}}, nil)
	if st != 200 || dataItem(m, 0)["action"] != "update" || dataItem(m, 0)["duplicate_field"] != "Email" || dataItem(m, 1)["action"] != "insert" {
		t.Errorf("upsert: want update by Email then insert, got %d %v", st, m)
	}
	for _, mod := range []string{"Events", "Tasks", "Calls"} {
		if st, m := h.call("POST", mod+"/upsert", map[string]any{"data": []any{map[string]any{"Subject": "x"}}}, nil); st != 400 {
			t.Errorf("upsert %s: want 400, got %d %v", mod, st, m)
		}
	}
	// Delete: per record, recycle bin in /deleted, 2 credits.
	before := h.srv.Stats("").Credits
	st, m = h.call("DELETE", "Contacts?ids="+id+",4876876000009999999", nil, nil)
	if st != 207 || dataItem(m, 0)["message"] != "record deleted" || dataItem(m, 1)["code"] != "INVALID_DATA" {
		t.Errorf("delete: want 207 deleted + INVALID_DATA, got %d %v", st, m)
	}
	st, m = h.call("GET", "Contacts/deleted?type=all", nil, nil)
	if st != 200 || dataItem(m, 0)["id"] != id || dataItem(m, 0)["type"] != "recycle" || dataItem(m, 0)["display_name"] != "Lee2" {
		t.Errorf("/deleted: want the deleted record, got %d %v", st, m)
	}
	if got := h.srv.Stats("").Credits - before; got != 3 {
		t.Errorf("credits of a 2-id delete plus /deleted: want 1+2, got %d", got)
	}
}

func TestActivityValidation(t *testing.T) {
	h := start(t, Options{})
	c1 := h.mustCreate("Contacts", map[string]any{"Last_Name": "Lee", "Email": "lee@example.com"})
	acc := h.mustCreate("Accounts", map[string]any{"Account_Name": "Acme"})
	base := func() map[string]any {
		return map[string]any{"Event_Title": "Review", "Start_DateTime": "2026-05-02T10:00:00+02:00", "End_DateTime": "2026-05-02T11:00:00+02:00"}
	}
	with := func(k string, v any) map[string]any { m := base(); m[k] = v; return m }
	var tooMany []any
	for i := 0; i < 51; i++ {
		tooMany = append(tooMany, map[string]any{"type": "email", "Email": fmt.Sprintf("p%d@example.com", i)})
	}
	cases := []struct {
		name string
		rec  map[string]any
		code string
		api  string
	}{
		{"ok with participants", with("Participants", []any{map[string]any{"type": "contact", "participant": c1}, map[string]any{"type": "email", "Email": "x@outside.com"}}), "SUCCESS", ""},
		{"Z is not an offset", with("Start_DateTime", "2026-05-02T10:00:00Z"), "INVALID_DATA", "Start_DateTime"},
		{"end before start", with("End_DateTime", "2026-05-02T09:00:00+02:00"), "INVALID_DATA", "End_DateTime"},
		{"recurring without reminder", with("Recurring_Activity", map[string]any{"RRULE": "FREQ=DAILY;INTERVAL=1;DTSTART=2026-05-02;UNTIL=2026-05-09"}), "MANDATORY_NOT_FOUND", "Remind_At"},
		{"bad RRULE", with("Recurring_Activity", map[string]any{"RRULE": "FREQ=HOURLY"}), "INVALID_DATA", "Recurring_Activity"},
		{"51 participants", with("Participants", tooMany), "LIMIT_EXCEEDED", "Participants"},
		{"What_Id without $se_module", with("What_Id", map[string]any{"id": acc}), "MANDATORY_NOT_FOUND", "$se_module"},
		{"unknown participant", with("Participants", []any{map[string]any{"type": "contact", "participant": "1"}}), "INVALID_DATA", "Participants[0].participant"},
		{"missing title", func() map[string]any { m := base(); delete(m, "Event_Title"); return m }(), "MANDATORY_NOT_FOUND", "Event_Title"},
	}
	for _, c := range cases {
		_, m := h.call("POST", "Events", map[string]any{"data": []any{c.rec}}, nil)
		it := dataItem(m, 0)
		d, _ := it["details"].(map[string]any)
		if it["code"] != c.code || (c.api != "" && d["api_name"] != c.api) {
			t.Errorf("%s: want %s on %q, got %v", c.name, c.code, c.api, it)
		}
	}
	rec := base()
	rec["Recurring_Activity"] = map[string]any{"RRULE": "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;DTSTART=2026-05-04;UNTIL=-1"}
	rec["Remind_At"] = []any{map[string]any{"unit": 15, "period": "minutes"}}
	rec["What_Id"] = map[string]any{"id": acc}
	rec["$se_module"] = "Accounts"
	st, m := h.call("POST", "Events", map[string]any{"data": []any{rec}}, nil)
	if st != 201 {
		t.Fatalf("recurring meeting with reminder and What_Id: want 201, got %d %v", st, m)
	}
	id := dataItem(m, 0)["details"].(map[string]any)["id"].(string)
	got, _ := h.srv.Get("", "Events", id)
	if got["$se_module"] != "Accounts" || got["What_Id"].(map[string]any)["name"] != "Acme" || got["Recurring_Activity"].(map[string]any)["RRULE"] != "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;DTSTART=2026-05-04;UNTIL=-1" {
		t.Errorf("stored meeting: got %v", got)
	}
	// Tasks: picklists from the metadata, date-only Due_Date, Closed_Time on completion.
	for _, c := range []struct {
		rec  map[string]any
		code string
	}{
		{map[string]any{"Subject": "a", "Status": "Completed", "Due_Date": "2026-05-03"}, "SUCCESS"},
		{map[string]any{"Subject": "a", "Status": "Done"}, "INVALID_DATA"},
		{map[string]any{"Subject": "a", "Due_Date": "2026-05-03T10:00:00+00:00"}, "INVALID_DATA"},
		{map[string]any{"Subject": "a", "Remind_At": map[string]any{"ALARM": "ACTION=EMAIL;TRIGGER=-P1D;TRIGGER_TIME=09:00"}}, "SUCCESS"},
		{map[string]any{"Subject": "a", "Remind_At": map[string]any{"ALARM": "ACTION=EMAIL;TRIGGER=-P1D"}}, "INVALID_DATA"},
	} {
		_, m := h.call("POST", "Tasks", map[string]any{"data": []any{c.rec}}, nil)
		if it := dataItem(m, 0); it["code"] != c.code {
			t.Errorf("task %v: want %s, got %v", c.rec, c.code, it)
		}
	}
	// Leads: Company is required by the layout only.
	_, m = h.call("POST", "Leads", map[string]any{"data": []any{map[string]any{"Last_Name": "x"}}}, nil)
	if d, _ := dataItem(m, 0)["details"].(map[string]any); d["api_name"] != "Company" {
		t.Errorf("lead without Company: want MANDATORY_NOT_FOUND on Company, got %v", dataItem(m, 0))
	}
	_, lay := h.call("GET", "settings/layouts?module=Leads", nil, nil)
	if !strings.Contains(fmt.Sprint(lay), "api_name:Company") {
		t.Errorf("layouts: want Company listed, got %v", lay)
	}
}

func TestSearchAndCOQL(t *testing.T) {
	h := start(t, Options{})
	h.mustCreate("Accounts", map[string]any{"Account_Name": "ABC"})
	h.mustCreate("Accounts", map[string]any{"Account_Name": "ABC Inc", "Employees": 50})
	h.mustCreate("Accounts", map[string]any{"Account_Name": "XYZ (Holdings)", "Employees": 5})
	// equals behaves like contains (§A3.9).
	_, m := h.call("GET", "Accounts/search?criteria="+url.QueryEscape("(Account_Name:equals:ABC)"), nil, nil)
	if n := len(m["data"].([]any)); n != 2 {
		t.Errorf("search equals ABC: want 2 (contains-like), got %d", n)
	}
	_, m = h.call("GET", "Accounts/search?criteria="+url.QueryEscape(`(Account_Name:equals:XYZ \(Holdings\))`), nil, nil)
	if m == nil || len(m["data"].([]any)) != 1 {
		t.Errorf("search with escaped parentheses: want 1, got %v", m)
	}
	// COQL = is exact; WHERE is mandatory; limit ≤ 2000.
	_, m = h.call("POST", "coql", map[string]any{"select_query": "select Account_Name from Accounts where Account_Name = 'ABC'"}, nil)
	if n := len(m["data"].([]any)); n != 1 {
		t.Errorf("COQL = 'ABC': want 1, got %d", n)
	}
	_, m = h.call("POST", "coql", map[string]any{"select_query": "select Account_Name, Employees from Accounts where (Employees >= 10 or Account_Name like 'XYZ%') and id is not null order by Account_Name desc limit 0, 10"}, nil)
	if n := len(m["data"].([]any)); n != 2 || dataItem(m, 0)["Account_Name"] != "XYZ (Holdings)" {
		t.Errorf("COQL with or/like/order: want XYZ then ABC Inc, got %v", m)
	}
	if st, m := h.call("POST", "coql", map[string]any{"select_query": "select Account_Name from Accounts"}, nil); st != 400 || code(m) != "SYNTAX_ERROR" {
		t.Errorf("COQL without WHERE: want SYNTAX_ERROR, got %d %v", st, m)
	}
	if st, m := h.call("POST", "coql", map[string]any{"select_query": "select Account_Name from Accounts where id is not null limit 2001"}, nil); st != 400 || code(m) != "LIMIT_EXCEEDED" {
		t.Errorf("COQL limit 2001: want LIMIT_EXCEEDED, got %d %v", st, m)
	}
}

func TestLimits(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	h := start(t, Options{Now: clock.now, Credits: 25})
	var data []any
	for i := 0; i < 100; i++ {
		data = append(data, map[string]any{"Last_Name": fmt.Sprint(i)})
	}
	// 100 records cost 10 credits (§A7).
	h.call("POST", "Contacts", map[string]any{"data": data}, nil)
	h.call("POST", "Contacts", map[string]any{"data": data}, nil)
	if c := h.srv.Stats("").Credits; c != 20 {
		t.Errorf("two 100-record inserts: want 20 credits, got %d", c)
	}
	if st, m := h.call("POST", "Contacts", map[string]any{"data": data}, nil); st != 429 {
		t.Errorf("over the 24 h credits: want 429, got %d %v", st, m)
	}
	clock.add(24 * time.Hour)
	h.token = h.accessToken("", h.srv.RefreshToken())
	if st, _ := h.call("GET", "Contacts?fields=Last_Name", nil, nil); st != 200 {
		t.Errorf("after 24 h: want the credits back, got %d", st)
	}
	// Concurrency: the free edition allows 5 in flight.
	hf := start(t, Options{Edition: "free", Latency: 200 * time.Millisecond})
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _ := hf.call("GET", "settings/modules", nil, nil)
			mu.Lock()
			statuses[st]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[200] != 5 || statuses[429] != 3 {
		t.Errorf("8 concurrent calls on the free edition (5): want 5×200 and 3×429, got %v", statuses)
	}
}

func TestFaults(t *testing.T) {
	h := start(t, Options{})
	h.srv.InjectFault(Fault{PathContains: "settings/modules", After: 1, Times: 1, Status: 500, Code: "INTERNAL_ERROR"})
	got := []int{}
	for i := 0; i < 3; i++ {
		st, _ := h.call("GET", "settings/modules", nil, nil)
		got = append(got, st)
	}
	if fmt.Sprint(got) != "[200 500 200]" {
		t.Errorf("fault after 1, once: want [200 500 200], got %v", got)
	}
	h.srv.ExpireAccessTokens()
	if st, _ := h.call("GET", "settings/modules", nil, nil); st != 401 {
		t.Errorf("after ExpireAccessTokens: want 401, got %d", st)
	}
}

func TestAuthorizeRedirectAndRevoke(t *testing.T) {
	h := start(t, Options{DataCenters: []string{"eu"}})
	hc := h.srv.HTTPClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	u := h.srv.AccountsURL("") + "/oauth/v2/auth?" + url.Values{"scope": {"ZohoCRM.modules.ALL,ZohoCRM.settings.ALL"}, "client_id": {h.srv.ClientID()},
		"response_type": {"code"}, "access_type": {"offline"}, "redirect_uri": {"https://app.example/cb"}}.Encode()
	res, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || loc.Host != "app.example" || loc.Query().Get("location") != "eu" || loc.Query().Get("accounts-server") != h.srv.AccountsURL("") {
		t.Fatalf("authorize: want 302 to the redirect_uri with location and accounts-server, got %d %s", res.StatusCode, loc)
	}
	_, m := h.tokenCall("", url.Values{"grant_type": {"authorization_code"}, "client_id": {h.srv.ClientID()}, "client_secret": {h.srv.ClientSecret()},
		"code": {loc.Query().Get("code")}, "redirect_uri": {"https://app.example/cb"}})
	rt, _ := m["refresh_token"].(string)
	if rt == "" || m["scope"] != "ZohoCRM.modules.ALL ZohoCRM.settings.ALL" {
		t.Fatalf("code from the redirect: want a refresh token with the asked scopes, got %v", m)
	}
	res, err = hc.PostForm(h.srv.AccountsURL("")+"/oauth/v2/token/revoke", url.Values{"token": {rt}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	_, m = h.tokenCall("", url.Values{"grant_type": {"refresh_token"}, "client_id": {h.srv.ClientID()}, "client_secret": {h.srv.ClientSecret()}, "refresh_token": {rt}})
	if m["error"] != "invalid_code" {
		t.Errorf("revoked refresh token: want invalid_code, got %v", m)
	}
}
