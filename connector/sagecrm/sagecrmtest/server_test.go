package sagecrmtest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

type client struct {
	t    *testing.T
	s    *Server
	hc   *http.Client
	user string
	pass string
}

func start(t *testing.T, o Options) (*Server, *client) {
	t.Helper()
	s, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CAPEM()) {
		t.Fatal("bad CA")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return s, &client{t: t, s: s, hc: hc, user: s.Username(), pass: s.Password()}
}

func (c *client) do(method, path string, body any) (int, any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.s.BaseURL()+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.SetBasicAuth(c.user, c.pass)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &v); err != nil {
			c.t.Fatalf("%s %s: body is not JSON: %s", method, path, b)
		}
	}
	return resp.StatusCode, v
}

func resources(t *testing.T, v any) []map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("expected a feed, got %v", v)
	}
	var out []map[string]any
	for _, r := range m["$resources"].([]any) {
		out = append(out, r.(map[string]any))
	}
	return out
}

func TestAuth(t *testing.T) {
	s, c := start(t, Options{})
	c.pass = "wrong"
	code, body := c.do("GET", "person", nil)
	if code != 401 {
		t.Fatalf("wrong password: expected 401, got %d", code)
	}
	d := body.(map[string]any)["$diagnoses"].([]any)[0].(map[string]any)
	if d["$sdataCode"] != "AuthenticationFailed" || d["$severity"] != "error" {
		t.Errorf("401 diagnosis: %v", d)
	}
	c.pass = s.Password()
	if code, _ := c.do("GET", "person", nil); code != 200 {
		t.Fatalf("right password: expected 200, got %d", code)
	}
	s.SetPassword("new")
	if code, _ := c.do("GET", "person", nil); code != 401 {
		t.Fatalf("after password change: expected 401, got %d", code)
	}
}

func TestErrorShapes(t *testing.T) {
	_, c := start(t, Options{Errors: ErrorArray})
	code, body := c.do("GET", "nosuch", nil)
	if code != 404 {
		t.Fatalf("unknown resource: expected 404, got %d", code)
	}
	arr, ok := body.([]any)
	if !ok || arr[0].(map[string]any)["$sdataCode"] != "ResourceKindNotFound" {
		t.Fatalf("ErrorArray: expected a bare array of diagnoses, got %v", body)
	}
}

func TestWhere(t *testing.T) {
	clock := NewManualClock(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	s, c := start(t, Options{Now: clock.Now})
	names := []string{"Adams", "Baker", "Clark", "Davis", "O'Neil"}
	for i, n := range names {
		if _, err := s.Insert("person", map[string]any{"pers_lastname": n, "Pers_FirstName": "F" + n}); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			clock.Advance(time.Hour)
		}
	}
	cases := []struct {
		where string
		want  string
	}{
		{"pers_lastname eq 'baker'", "Baker"},
		{"pers_lastname ne 'Baker' and pers_personid le 3", "Adams,Clark"},
		{"pers_personid gt 3", "Davis,O'Neil"},
		{"pers_personid ge 4 or pers_lastname like 'a%'", "Adams,Davis,O'Neil"},
		{"pers_lastname like '%a%'", "Adams,Baker,Clark,Davis"},
		{"pers_personid in ('1', '3', 5)", "Adams,Clark,O'Neil"},
		{"pers_personid between 2 and 4", "Baker,Clark,Davis"},
		{"pers_lastname eq 'O''Neil'", "O'Neil"},
		{"not (pers_personid lt 5)", "O'Neil"},
		{"Pers_UpdatedDate>'2024-05-01T12:30:00Z'", "Clark,Davis,O'Neil"},
		// 08:00-04:00 is 12:00Z: the offset is honoured.
		{"pers_updateddate eq '2024-05-01T08:00:00-04:00'", "Adams,Baker"},
		{"pers_updateddate le @2024-05-01T12:00:00Z@", "Adams,Baker"},
		{"pers_middlename eq null", ""},
	}
	for _, tc := range cases {
		code, body := c.do("GET", "person?where="+url.QueryEscape(tc.where), nil)
		if code != 200 {
			t.Errorf("where %q: expected 200, got %d %v", tc.where, code, body)
			continue
		}
		var got []string
		for _, r := range resources(t, body) {
			got = append(got, r["Pers_LastName"].(string))
		}
		if g := strings.Join(got, ","); g != tc.want {
			t.Errorf("where %q: expected %s, got %s", tc.where, tc.want, g)
		}
	}
	for _, bad := range []string{"pers_lastname eq", "nosuch eq 1", "pers_personid eq 'x'", "(pers_personid eq 1", "pers_lastname eq 'x", "pers_personid between 1"} {
		code, body := c.do("GET", "person?where="+url.QueryEscape(bad), nil)
		if code != 400 {
			t.Errorf("bad where %q: expected 400, got %d", bad, code)
			continue
		}
		if d := body.(map[string]any)["$diagnoses"].([]any)[0].(map[string]any); d["$sdataCode"] != "BadWhereSyntax" {
			t.Errorf("bad where %q: expected BadWhereSyntax, got %v", bad, d)
		}
	}
}

func TestStrictNullAndWallClockWhere(t *testing.T) {
	clock := NewManualClock(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)) // 08:00 in New York
	s, c := start(t, Options{Now: clock.Now, StrictNull: true, WhereIgnoresOffset: true})
	if _, err := s.Insert("person", map[string]any{"pers_lastname": "A"}); err != nil {
		t.Fatal(err)
	}
	if code, _ := c.do("GET", "person?where="+url.QueryEscape("pers_firstname eq null"), nil); code != 400 {
		t.Errorf("StrictNull: expected 400, got %d", code)
	}
	// The literal's wall clock is read as New York time: 12:00Z becomes
	// 12:00-04:00, after the record's 08:00-04:00.
	code, body := c.do("GET", "person?where="+url.QueryEscape("pers_updateddate lt '2024-05-01T12:00:00Z'"), nil)
	if code != 200 || len(resources(t, body)) != 1 {
		t.Errorf("WhereIgnoresOffset: expected the record, got %d %v", code, body)
	}
	code, body = c.do("GET", "person?where="+url.QueryEscape("pers_updateddate gt '2024-05-01T09:00:00Z'"), nil)
	if code != 200 || len(resources(t, body)) != 0 {
		t.Errorf("WhereIgnoresOffset: expected no record, got %d %v", code, body)
	}
}

func TestPagingOrderAndRelease(t *testing.T) {
	s, c := start(t, Options{MaxCount: 3})
	for _, n := range []string{"c", "a", "d", "b", "e"} {
		if _, err := s.Insert("company", map[string]any{"comp_name": n}); err != nil {
			t.Fatal(err)
		}
	}
	code, body := c.do("GET", "company?orderBy="+url.QueryEscape("comp_name desc")+"&startIndex=2&count=10", nil)
	if code != 200 {
		t.Fatalf("orderBy: %d %v", code, body)
	}
	m := body.(map[string]any)
	if m["$totalResults"].(float64) != 5 || m["$startIndex"].(float64) != 2 || m["$itemsPerPage"].(float64) != 3 {
		t.Errorf("feed header: %v", m)
	}
	var got []string
	for _, r := range resources(t, body) {
		got = append(got, r["Comp_Name"].(string))
	}
	if strings.Join(got, "") != "dcb" {
		t.Errorf("orderBy desc page 2: expected dcb, got %v", got)
	}
	_, c2 := start(t, Options{Release: Release2019R2})
	if code, _ := c2.do("GET", "company?orderBy=comp_name", nil); code != 400 {
		t.Errorf("orderBy before 2024 R2: expected 400, got %d", code)
	}
}

func TestCreateUpdateDelete(t *testing.T) {
	for _, o := range []Options{
		{},
		{CreateStatus: 200, DeleteStatus: 204, UpdateVerbs: PatchOnly, LowerCaseFields: true},
		{UpdateVerbs: PutOnly, PartialResponse: true},
	} {
		clock := NewManualClock(time.Date(2024, 1, 15, 15, 0, 0, 0, time.UTC))
		o.Now = clock.Now
		s, c := start(t, o)
		first, last := "Pers_FirstName", "Pers_LastName"
		upd := "Pers_UpdatedDate"
		if o.LowerCaseFields {
			first, last, upd = strings.ToLower(first), strings.ToLower(last), strings.ToLower(upd)
		}
		code, body := c.do("POST", "person", map[string]any{"PERS_FIRSTNAME": "Ann"})
		if code != 400 || body.(map[string]any)["$diagnoses"].([]any)[0].(map[string]any)["$payloadPath"] != "Pers_LastName" {
			t.Errorf("POST without the mandatory last name: expected 400 naming it, got %d %v", code, body)
		}
		code, body = c.do("POST", "person", map[string]any{"pers_firstname": "Ann", "pers_lastname": "Lee"})
		want := o.CreateStatus
		if want == 0 {
			want = 201
		}
		if code != want {
			t.Fatalf("POST: expected %d, got %d %v", want, code, body)
		}
		e := body.(map[string]any)
		if e["$key"] != "1" || e[first] != "Ann" || e[upd] != "2024-01-15T10:00:00-05:00" {
			t.Errorf("created entry: %v", e)
		}
		clock.Advance(time.Minute)
		verb, other := "PATCH", "PUT"
		if o.UpdateVerbs == PutOnly {
			verb, other = "PUT", "PATCH"
		}
		if o.UpdateVerbs != PatchAndPut {
			if code, _ := c.do(other, "person('1')", map[string]any{"pers_lastname": "X"}); code != 405 {
				t.Errorf("%s with %v: expected 405, got %d", other, o.UpdateVerbs, code)
			}
		}
		code, body = c.do(verb, "person('1')", map[string]any{"pers_lastname": "Long"})
		if code != 200 {
			t.Fatalf("%s: %d %v", verb, code, body)
		}
		e = body.(map[string]any)
		if o.PartialResponse {
			if _, has := e[first]; has {
				t.Errorf("PartialResponse: expected only the sent field, got %v", e)
			}
		} else if e[first] != "Ann" || e[last] != "Long" || e[upd] != "2024-01-15T10:01:00-05:00" {
			t.Errorf("updated entry: %v", e)
		}
		if code, _ := c.do("PATCH", "person('99')", map[string]any{"pers_lastname": "x"}); code != 404 && o.UpdateVerbs != PutOnly {
			t.Errorf("PATCH unknown id: expected 404, got %d", code)
		}
		code, body = c.do("DELETE", "person('1')", nil)
		wantDel := o.DeleteStatus
		if wantDel == 0 {
			wantDel = 200
		}
		if code != wantDel || body != nil {
			t.Errorf("DELETE: expected %d with a blank body, got %d %v", wantDel, code, body)
		}
		if code, _ := c.do("GET", "person('1')", nil); code != 404 {
			t.Errorf("GET after delete: expected 404, got %d", code)
		}
		if code, _ := c.do("DELETE", "person('1')", nil); code != 404 {
			t.Errorf("second DELETE: expected 404, got %d", code)
		}
		_, body = c.do("GET", "person", nil)
		if n := len(resources(t, body)); n != 0 {
			t.Errorf("feed after delete: expected no records, got %d", n)
		}
		if r, _ := s.Get("person", 1); r["pers_deleted"] != int64(1) {
			t.Errorf("soft delete: expected pers_deleted=1, got %v", r)
		}
	}
}

func TestLinksAndCascade(t *testing.T) {
	clock := NewManualClock(time.Date(2024, 1, 15, 15, 0, 0, 0, time.UTC))
	s, c := start(t, Options{Now: clock.Now, ChildBumpsPerson: true})
	pid, _ := s.Insert("person", map[string]any{"pers_lastname": "Lee"})
	clock.Advance(time.Minute)
	code, body := c.do("POST", "email", map[string]any{"emai_emailaddress": "a@x", "elink_entityid": 13, "elink_recordid": 77, "elink_type": "Business"})
	if code != 400 {
		t.Errorf("email linked to a missing person: expected 400, got %d %v", code, body)
	}
	code, _ = c.do("POST", "email", map[string]any{"emai_emailaddress": "a@x", "elink_entityid": 13, "elink_recordid": pid, "elink_type": "business"})
	if code != 201 {
		t.Fatalf("email: %d", code)
	}
	if p, _ := s.Get("person", pid); !p["pers_updateddate"].(time.Time).Equal(clock.Now()) {
		t.Errorf("ChildBumpsPerson: expected the person's updated date to move, got %v", p["pers_updateddate"])
	}
	code, _ = c.do("POST", "communication", map[string]any{"comm_type": "Meeting", "comm_action": "Meeting", "comm_datetime": "2024-02-01T10:00:00Z"})
	if code != 400 {
		t.Errorf("comm_type outside its choices: expected 400, got %d", code)
	}
	code, body = c.do("POST", "communication", map[string]any{"comm_type": "Appointment", "comm_action": "Meeting", "comm_datetime": "2024-02-01T10:00:00Z"})
	if code != 201 {
		t.Fatalf("communication: %d %v", code, body)
	}
	cid := body.(map[string]any)["$key"].(string)
	code, body = c.do("POST", "comm_link", map[string]any{"cmli_comm_communicationid": cid, "cmli_comm_personid": pid, "cmli_comm_userid": 1})
	if code != 201 {
		t.Fatalf("comm_link: %d %v", code, body)
	}
	c.do("DELETE", "communication('"+cid+"')", nil)
	_, body = c.do("GET", "comm_link", nil)
	if n := len(resources(t, body)); n != 0 {
		t.Errorf("deleting a communication: expected its links hidden, got %d", n)
	}
}

func TestPrototypesAndSelect(t *testing.T) {
	_, c := start(t, Options{PrototypeChoices: true})
	code, body := c.do("GET", "$prototypes/communication", nil)
	if code != 200 {
		t.Fatalf("$prototypes/communication: %d", code)
	}
	props := body.(map[string]any)["$properties"].(map[string]any)
	typ := props["Comm_Type"].(map[string]any)
	if typ["$isMandatory"] != true || len(typ["$values"].([]any)) != 2 {
		t.Errorf("Comm_Type metadata: %v", typ)
	}
	if props["Comm_UpdatedDate"].(map[string]any)["$isReadOnly"] != true {
		t.Errorf("Comm_UpdatedDate should be read-only")
	}
	_, body = c.do("GET", "$prototypes", nil)
	if n := body.(map[string]any)["$totalResults"].(float64); n != 8 {
		t.Errorf("$prototypes: expected 8 resources, got %v", n)
	}
	_, body = c.do("GET", "users?select=user_userid", nil)
	for _, r := range resources(t, body) {
		if _, ok := r["User_Logon"]; ok || r["User_UserId"] == nil {
			t.Errorf("select: expected only the id, got %v", r)
		}
	}
	if code, _ := c.do("POST", "users", map[string]any{"user_logon": "x"}); code != 405 {
		t.Errorf("users is read-only: expected 405, got %d", code)
	}
}

func TestFaultsAndStats(t *testing.T) {
	s, c := start(t, Options{})
	s.FailNext(1)
	code, body := c.do("GET", "person", nil)
	if code != 500 || body.(map[string]any)["$diagnoses"].([]any)[0].(map[string]any)["$severity"] != "fatal" {
		t.Errorf("FailNext: expected 500 fatal, got %d %v", code, body)
	}
	if code, _ := c.do("GET", "person", nil); code != 200 {
		t.Errorf("after the fault: expected 200, got %d", code)
	}
	st := s.Stats()
	if st.Requests != 2 || st.ResponseBytes == 0 {
		t.Errorf("stats: %+v", st)
	}
}
