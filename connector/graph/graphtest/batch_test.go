package graphtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestParseBatchRequestsMatchesEncodingJSON: for batch bodies in the plain
// form and in every other form (blank space, escapes, other spellings,
// repeated members, nulls, values of other types, malformed text),
// parseBatchRequests gives what json.Unmarshal gives, or fails where it
// fails; the plain form takes the one-pass path.
func TestParseBatchRequestsMatchesEncodingJSON(t *testing.T) {
	event := `{"subject":"a \"}{][\" \\ b \u00e9 é","start":{"dateTime":"2026-01-01T10:00:00","timeZone":"UTC"},"n":-1.5e3,"m":0,"k":[1,2.25,-0.5E+2,{"a":[]}],"ok":true,"no":false,"x":null}`
	plain := `{"requests":[{"id":"1","method":"POST","url":"/users/a/events","headers":{"Content-Type":"application/json","Prefer":"outlook.timezone=UTC"},"body":` + event + `},{"id":"2","method":"GET","url":"/users?$top=1","dependsOn":["1"]}]}`
	inputs := []string{
		plain,
		" {\n \"requests\" : [ { \"id\" : \"3\" , \"method\" : \"DELETE\" , \"url\" : \"/users/a/events/x\" , \"headers\" : { } , \"dependsOn\" : [ ] } ] } \n",
		`{"requests":[]}`,
		`{"requests":[{"id":"1","method":"GET","url":"/a","headers":{"A":"x"}},{"id":"2","method":"GET","url":"/b","headers": {"A":"x"}},{"id":"3","method":"GET","url":"/c","headers":{"A":"x","B":"y"}},{"id":"4","method":"GET","url":"/d","headers":{"A":"x"}},{"id":"5","method":"GET","url":"/e","headers":{"A":"x"}}]}`,
		`{"requests":null}`,
		`{}`,
		`{"requests":[{}]}`,
		`{"requests":[null]}`,
		`{"requests":[{"id":"1","method":"GET","url":"/me","headers":null,"body":null,"dependsOn":null}]}`,
		`{"requests":[{"id":"1","method":"POST","url":"/x","body":"QUJD","extra":{"k":[true,false,null]}}],"@odata.nextLink":null,"other":[1,"2"]}`,
		`{"Requests":[{"ID":"1","Method":"GET","URL":"/me"}]}`,
		`{"requests":[{"id":"\u0031","method":"GET","url":"/me"}]}`,
		`{"requests":[{"id":"é","method":"GET","url":"/me"}]}`,
		`{"requests":[{"id":1,"method":"GET","url":"/me"}]}`,
		`{"requests":[{"id":"1","method":"GET","url":"/me","headers":{"A":"x","A":"y"}}]}`,
		`{"requests":[{"id":"1","method":"GET","url":"/me","headers":{"A":1}}]}`,
		`{"requests":[{"id":"1","method":"GET","url":"/me","headers":{"A":"caf\u00e9"}}]}`,
		`{"requests":[{"id":"1","method":"POST","url":"/users/a/events","headers":{"Prefer":"outlook.timezone=\"UTC\"","X":"\ud83d\ude00 \ud800 \\ \/ \b\f\n\r\t"},"body":{}}]}`,
		"{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/me\",\"headers\":{\"A\":\"caf\u00e9 \xff\xfe\"}}]}",
		`{"requests":[{"id":"1","method":"GET","url":"/me","headers":{"A":"a\x"}}]}`,
		`{"requests":[{"id":"1","method":"GET","url":"/me","headers":{"A":"\u00"}}]}`,
		`{"requests":[{"id":"1","method":"GET","url":"/me","headers":{"A\u0042":"x"}}]}`,
		`{"requests":[{"id":"1","id":"2","method":"GET","url":"/me"}]}`,
		`{"requests":[{"id":"1","method":"GET","url":"/me","dependsOn":["a",2]}]}`,
		`{"requests":[{"id":"1","method":"GET","url":"/me","dependsOn":"a"}]}`,
		`{"requests":[],"requests":[{"id":"1"}]}`,
		`{"requests":[{"id":"1","method":"POST","url":"/x","body":{"a":}}]}`,
		`{"requests":[{"id":"1","method":"POST","url":"/x","body":01}]}`,
		`{"requests":[{"id":"1","method":"POST","url":"/x","body":-}]}`,
		`{"requests":[{"id":"1","method":"POST","url":"/x","body":1.}]}`,
		`{"requests":[{"id":"1","method":"POST","url":"/x","body":1e}]}`,
		`{"requests":[{"id":"1","method":"POST","url":"/x","body":"a\x"}]}`,
		`{"requests":[{"id":"1","method":"POST","url":"/x","body":"\u12"}]}`,
		"{\"requests\":[{\"id\":\"1\",\"method\":\"POST\",\"url\":\"/x\",\"body\":\"a\tb\"}]}",
		"{\"requests\":[{\"id\":\"1\",\"method\":\"POST\",\"url\":\"/x\",\"body\":\"\xff\xfe\"}]}",
		`{"requests":[{"id":"1","method":"POST","url":"/x","body":tru}]}`,
		`{"requests":[{"id":"1","method":"POST","url":"/x","body":nullx}]}`,
		`{"requests":[{"id":"1","method":"POST","url":"/x","body":{"a":1,}}]}`,
		`{"requests":[{"id":"1","method":"POST","url":"/x","body":[1,]}]}`,
		`{"requests":[{"id":"1","method":"POST","url":"/x","body":{1:2}}]}`,
		`{"requests":[{"id":"1","method":"GET","url":"/me"}]} x`,
		`{"requests":[{"id":"1","method":"GET","url":"/me"}]}` + "\x00",
		`{"requests":[{"id":"1","method":"GET","url":"/me"}]`,
		`{"requests":[{"id":"1","method":"GET","url":"/me"}],}`,
		`[]`,
		``,
		`"requests"`,
		`{"requests":[{"id":"1","method":"POST","url":"/x","body":` + strings.Repeat("[", 1100) + strings.Repeat("]", 1100) + `}]}`,
	}
	for _, in := range inputs {
		got, gotErr := parseBatchRequests([]byte(in))
		var want struct {
			Requests []batchRequest `json:"requests"`
		}
		wantErr := json.Unmarshal([]byte(in), &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Errorf("%s: error %v, encoding/json %v", in, gotErr, wantErr)
			continue
		}
		if gotErr != nil {
			continue
		}
		if !reflect.DeepEqual(got, want.Requests) {
			t.Errorf("%s:\n got  %#v\n want %#v", in, got, want.Requests)
		}
	}
	// The plain form takes the one-pass path, escaped strings (ids,
	// header values) included.
	escaped := strings.NewReplacer(`"id":"1"`, `"id":"\u0031"`, `"outlook.timezone=UTC"`, `"outlook.timezone=\"UTC\""`).Replace(plain)
	for _, in := range []string{plain, inputs[1], escaped} {
		if _, ok := scanBatchRequests([]byte(in)); !ok {
			t.Errorf("the plain batch %s was left to encoding/json", in)
		}
	}
}

// TestAppendBatchAnswerMatchesEncoding: the batch answer is written as the
// map of each response ({id, status, headers, body}) encodes.
func TestAppendBatchAnswerMatchesEncoding(t *testing.T) {
	answers := []partAnswer{
		{id: "1", status: 201, headers: [][2]string{{"Content-Type", "application/json"}, {"OData-Version", "4.0"}, {"Preference-Applied", `outlook.timezone="UTC"`}, {"X-\u2028<&>", "é\x01"}},
			body: []byte(`{"id":"AAMk","subject":"a \"b\" <c>"}`)},
		{id: "b\"2", status: 204, headers: [][2]string{}},
		{id: "3", status: 400, headers: [][2]string{{"Content-Type", "text/plain"}}, body: []byte(`"QUJD"`)},
	}
	var maps []map[string]any
	for _, a := range answers {
		h := map[string]string{}
		for _, kv := range a.headers {
			h[kv[0]] = kv[1]
		}
		m := map[string]any{"id": a.id, "status": a.status, "headers": h}
		if a.body != nil {
			m["body"] = renderedJSON(a.body)
		}
		maps = append(maps, m)
	}
	want, err := appendJSON(nil, map[string]any{"responses": maps})
	if err != nil {
		t.Fatal(err)
	}
	if got := appendBatchAnswer(nil, answers); string(got) != string(want) {
		t.Errorf("batch answer\n got  %s\n want %s", got, want)
	}
}

// BenchmarkCreateEvent is the store's side of an event POST (createEvent,
// run under the store's lock as the request runs it), for a body like
// the ones the connector sends.
func BenchmarkCreateEvent(b *testing.B) {
	s, err := Start(Options{Users: 2, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var box *mailbox
	for _, bx := range s.boxes {
		box = bx
		break
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		body := map[string]any{"subject": "bench", "transactionId": "tx-" + strconv.Itoa(i),
			"start": map[string]any{"dateTime": "2026-11-24T10:00:00.0000000", "timeZone": "UTC"},
			"end":   map[string]any{"dateTime": "2026-11-24T10:30:00.0000000", "timeZone": "UTC"}}
		s.mu.Lock()
		_, _, e := s.createEvent(box, body)
		s.mu.Unlock()
		if e != nil {
			b.Fatal(e)
		}
	}
}

// oldPartRequest makes a part's request as runBatchPart always made it,
// for comparison: http.NewRequestWithContext with the body as a
// *bytes.Reader, the path split and unescaped as ServeHTTP does.
func oldPartRequest(s *Server, method, u string, b []byte) (*http.Request, []string, error) {
	var body io.Reader = http.NoBody
	if b != nil {
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, s.base+"/v1.0"+u, body)
	if err != nil {
		return nil, nil, err
	}
	segs := splitPath(req.URL.EscapedPath())
	for i, seg := range segs {
		if un, err := url.PathUnescape(seg); err == nil {
			segs[i] = un
		}
	}
	return req, segs, nil
}

// checkPartRequest fails t unless the request partRequest makes of a
// part (when it makes one) is, to everything the serving code reads,
// the request http.NewRequestWithContext made of it.
func checkPartRequest(t *testing.T, s *Server, method, u string, b []byte) (light bool) {
	t.Helper()
	got, gotSegs, ps := s.partRequest(method, u, b)
	if got == nil {
		return false
	}
	defer ps.release()
	want, wantSegs, err := oldPartRequest(s, method, u, b)
	if err != nil {
		t.Fatalf("%s %q: made lightly, but http.NewRequestWithContext refuses it: %v", method, u, err)
	}
	type view struct {
		Method, Host, Proto                       string
		Scheme, UHost, Path, RawPath, EscapedPath string
		RawQuery, Fragment                        string
		ForceQuery                                bool
		Query                                     url.Values
		ContentLength                             int64
		Segs                                      []string
	}
	see := func(r *http.Request, segs []string) view {
		return view{r.Method, r.Host, r.Proto, r.URL.Scheme, r.URL.Host, r.URL.Path, r.URL.RawPath, r.URL.EscapedPath(),
			r.URL.RawQuery, r.URL.Fragment, r.URL.ForceQuery, r.URL.Query(), r.ContentLength, segs}
	}
	if g, w := see(got, gotSegs), see(want, wantSegs); !reflect.DeepEqual(g, w) {
		t.Errorf("%s %q:\n got  %+v\n want %+v", method, u, g, w)
	}
	gb, _ := io.ReadAll(got.Body)
	wb, _ := io.ReadAll(want.Body)
	if !bytes.Equal(gb, wb) {
		t.Errorf("%s %q: body %q, want %q", method, u, gb, wb)
	}
	return true
}

// TestPartRequestMatchesNewRequest: a batch part served without
// http.NewRequestWithContext (partRequest) gets the method, url, path
// segments, query, length and body that it made; parts partRequest
// leaves to it (escapes, fragments, odd methods) are made by it still.
func TestPartRequestMatchesNewRequest(t *testing.T) {
	s, err := Start(Options{Users: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		method, url string
		body        []byte
		light       bool
	}{
		{"POST", "/users/user1@contoso.com/events", []byte(`{"subject":"a"}`), true},
		{"GET", "/users/a/calendarView?startDateTime=2026-01-01T00:00:00Z&endDateTime=2026-02-01T00:00:00Z&$select=subject,start", nil, true},
		{"GET", "/users?$filter=startswith(displayName,'A')&$top=5", nil, true},
		{"GET", "/Users/A/CalendarView/Delta?$deltatoken=abc", nil, true},
		{"GET", "/users/a/calendarView/delta()", nil, false},
		{"PATCH", "/users/a/events/AAMkAGI2abc-_AAA=", []byte(`{}`), true},
		{"DELETE", "/me/events/x", nil, true},
		{"GET", "/users/a/events?", nil, true},
		{"GET", "/users/a/events??x=1", nil, true},
		{"GET", "/users//a///events/", nil, true},
		{"GET", "/", nil, true},
		{"POST", "/users/a/events", []byte{}, true},
		{"GET", "/users/user1%40contoso.com/events", nil, false},
		{"GET", "/users/a/events#x", nil, false},
		{"GET", "/users/a/ev ents", nil, false},
		{"GET", "/users/a/événements", nil, false},
		{"GET", "/users/('a')/events", nil, false},
		{"GET", "/users/a/events?x=a b", nil, false},
		{"G ET", "/users", nil, false},
		{"GÉT", "/users", nil, false},
	} {
		if light := checkPartRequest(t, s, c.method, c.url, c.body); light != c.light {
			t.Errorf("%s %q: made lightly %v, want %v", c.method, c.url, light, c.light)
		}
	}
}

// FuzzPartRequest: whatever the part's method, url and body, a request
// partRequest makes is the one http.NewRequestWithContext makes.
func FuzzPartRequest(f *testing.F) {
	s, err := Start(Options{Users: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.Close)
	f.Add("POST", "/users/a@b/events", []byte(`{}`))
	f.Add("GET", "/users/a/calendarView?x=1&y=%20", []byte(nil))
	f.Add("GET", "/a?", []byte(nil))
	f.Fuzz(func(t *testing.T, method, u string, b []byte) {
		if !strings.HasPrefix(u, "/") {
			u = "/" + u
		}
		checkPartRequest(t, s, method, u, b)
	})
}

// FuzzUnquoteSimple: a string unquoteSimple unquotes has the value
// json.Unmarshal gives it.
func FuzzUnquoteSimple(f *testing.F) {
	for _, s := range []string{`"a"`, `"outlook.timezone=\"UTC\""`, `"\\ \/ \b \f \n \r \t"`, `"\u0041"`, `"é"`, `"a\"`, `"` + "\x7f" + `"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, ok := unquoteSimple(raw)
		if !ok {
			return
		}
		var want string
		if err := json.Unmarshal(raw, &want); err != nil || got != want {
			t.Fatalf("%q: unquoted %q, encoding/json %q (%v)", raw, got, want, err)
		}
	})
}

// TestLightPartAnswersAsBefore: a batch part whose request partRequest
// makes answers, byte for byte, what the same part answers when its
// request is made by http.NewRequestWithContext (its url escaped, which
// partRequest leaves to it), on two emulators of the same seed and clock:
// created events (with a transactionId seen before too), refused bodies,
// an unknown user, a list with a query, scripted faults before and after
// the commit, and the mailbox's request budget. Request ids and paging
// tokens, fresh for every request, are left out of the comparison.
func TestLightPartAnswersAsBefore(t *testing.T) {
	now := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	start := func() *Server {
		s, err := Start(Options{Users: 3, Seed: 11, EventsPerUser: 2, MailboxRequestBudget: 14, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		s.mu.Lock()
		s.tokens["tok"] = &accessToken{app: s.defApp, roles: DefaultPermissions, expires: now.Add(time.Hour)}
		s.mu.Unlock()
		for _, f := range []Fault{
			{Kind: FaultThrottle, Path: "/v1.0/users/*/events", Method: "POST", User: "user2@contoso.com", Times: 1, RetryAfter: 1500 * time.Millisecond},
			{Kind: FaultUnavailable, Path: "/v1.0/users/*/events", Method: "POST", User: "user3@contoso.com", Times: 1, AfterCommit: true, RetryAfter: 2 * time.Second},
			{Kind: FaultTruncate, Path: "/v1.0/users/*/events", Method: "POST", User: "user3@contoso.com", Times: 1},
			{Kind: FaultReset, Path: "/v1.0/users/*/events", Method: "POST", User: "user3@contoso.com", Times: 1},
			{Kind: FaultGatewayTimeout, Path: "/v1.0/users/*/calendar", Times: 1},
		} {
			s.Faults().Add(f)
		}
		return s
	}
	light, before := start(), start()
	ev := func(subject, tx, zone, extra string) string {
		return `{"subject":"` + subject + `","transactionId":"` + tx + `","start":{"dateTime":"2026-03-11T10:00:00","timeZone":"` + zone +
			`"},"end":{"dateTime":"2026-03-11T10:30:00","timeZone":"` + zone + `"}` + extra + `}`
	}
	masks := []*regexp.Regexp{regexp.MustCompile(`((?i)request-id":")[0-9a-f-]{36}`), regexp.MustCompile(`(\$skiptoken=)[A-Za-z0-9_-]+`)}
	serve := func(s *Server, method, url, body string) string {
		part := `{"id":"1","method":"` + method + `","url":"` + url + `","headers":{"Content-Type":"application/json","client-request-id":"c-1",` +
			`"Prefer":"outlook.timezone=\"Pacific Standard Time\", IdType=\"ImmutableId\""}`
		if body != "" {
			part += `,"body":` + body
		}
		r := httptest.NewRequest(http.MethodPost, s.base+"/v1.0/$batch", strings.NewReader(`{"requests":[`+part+`}]}`))
		r.Header.Set("Authorization", "Bearer tok")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		got := strings.ReplaceAll(fmt.Sprint(w.Code, w.Body.String()), s.base, "BASE")
		for _, m := range masks {
			got = m.ReplaceAllString(got, "${1}ID")
		}
		return got
	}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/users/user1@contoso.com/events", ev("a", "tx-1", "UTC", "")},
		{"POST", "/users/user1@contoso.com/events", ev("a again", "tx-1", "UTC", "")},
		{"POST", "/users/user1@contoso.com/calendar/events", ev("b", "tx-2", "Tokyo Standard Time", `,"body":{"contentType":"html","content":"<p>x</p>"}`)},
		{"POST", "/users/user1@contoso.com/events", ev("bad zone", "tx-3", "Mars/Olympus", "")},
		{"POST", "/users/user1@contoso.com/events", ev("unknown", "tx-4", "UTC", `,"colour":"red"`)},
		{"POST", "/users/user1@contoso.com/events", `{"subject":"no times"}`},
		{"POST", "/users/nobody@contoso.com/events", ev("nobody", "tx-5", "UTC", "")},
		{"GET", "/users/user1@contoso.com/events?$select=subject,start&$top=2", ""},
		{"PATCH", "/users/user1@contoso.com/events/not-an-id", `{"subject":"x"}`},
		{"POST", "/users/user2@contoso.com/events", ev("throttled", "tx-6", "UTC", "")},
		{"POST", "/users/user2@contoso.com/events", ev("after the 429", "tx-6", "UTC", "")},
		{"POST", "/users/user3@contoso.com/events", ev("503 after commit", "tx-7", "UTC", "")},
		{"POST", "/users/user3@contoso.com/events", ev("cut", "tx-8", "UTC", "")},
		{"POST", "/users/user3@contoso.com/events", ev("reset", "tx-9", "UTC", "")},
		{"GET", "/users/user2@contoso.com/calendar", ""},
		{"POST", "/users/user1@contoso.com/events", ev("over the budget", "tx-10", "UTC", "")},
	} {
		for range 2 { // the second time past the request budget of user1
			got := serve(light, c.method, c.path, c.body)
			want := serve(before, c.method, strings.Replace(c.path, "@", "%40", 1), c.body)
			if got != want {
				t.Errorf("%s %s:\n light  %s\n before %s", c.method, c.path, got, want)
			}
		}
	}
	if got := light.Stats(); got.Throttled == 0 || got.Faults < 5 {
		t.Errorf("statistics %+v: the budget and the faults were not reached", got)
	}
}
