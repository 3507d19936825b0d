package graphtest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

// fakeClock is a settable clock for the emulator.
type fakeClock struct{ t time.Time }

func (f *fakeClock) Now() time.Time          { return f.t }
func (f *fakeClock) Advance(d time.Duration) { f.t = f.t.Add(d) }

// env is an emulator with an HTTP client that trusts its CA.
type env struct {
	t     *testing.T
	srv   *graphtest.Server
	hc    *http.Client
	clock *fakeClock
	token string
}

func start(t *testing.T, opts graphtest.Options) *env {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)}
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	srv, err := graphtest.Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, hc: srv.HTTPClient(), clock: clock}
}

// tokenFor gets an app-only token with a client secret.
func (e *env) tokenFor(clientID, secret string) (int, map[string]any) {
	e.t.Helper()
	form := url.Values{"client_id": {clientID}, "client_secret": {secret},
		"grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"}}
	return e.postForm(e.srv.AuthorityHost()+e.srv.TenantID()+"/oauth2/v2.0/token", form)
}

func (e *env) postForm(u string, form url.Values) (int, map[string]any) {
	e.t.Helper()
	resp, err := e.hc.PostForm(u, form)
	if err != nil {
		e.t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// login gets a token for the default app and remembers it.
func (e *env) login() *env {
	e.t.Helper()
	app := e.srv.App()
	status, body := e.tokenFor(app.ClientID, app.ClientSecret)
	if status != 200 {
		e.t.Fatalf("token: %d %v", status, body)
	}
	e.token = body["access_token"].(string)
	return e
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r resp) code() string {
	errObj, _ := r.body["error"].(map[string]any)
	c, _ := errObj["code"].(string)
	return c
}

func (r resp) values() []map[string]any {
	list, _ := r.body["value"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, v := range list {
		out = append(out, v.(map[string]any))
	}
	return out
}

// do sends a Graph request; path is relative to /v1.0 or an absolute URL.
func (e *env) do(method, path string, body any, headers ...string) resp {
	e.t.Helper()
	u := path
	if !strings.HasPrefix(u, "https://") {
		u = e.srv.GraphEndpoint() + "/v1.0" + path
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp{status: res.StatusCode, header: res.Header, body: m, raw: raw}
}

func (e *env) get(path string, headers ...string) resp { return e.do("GET", path, nil, headers...) }

func expectStatus(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status || (code != "" && r.code() != code) {
		t.Fatalf("got %d %s, want %d %s; body %s", r.status, r.code(), status, code, r.raw)
	}
	if code != "" {
		inner, _ := r.body["error"].(map[string]any)["innerError"].(map[string]any)
		if inner["request-id"] == nil || inner["date"] == nil || inner["client-request-id"] == nil {
			t.Fatalf("error envelope lacks innerError fields: %s", r.raw)
		}
	}
}

// event builds a minimal event body.
func event(subject string, start time.Time, d time.Duration) map[string]any {
	return map[string]any{
		"subject": subject,
		"start":   map[string]any{"dateTime": start.UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"end":     map[string]any{"dateTime": start.Add(d).UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
	}
}

// deltaRound follows a delta from url to its deltaLink and returns every
// item and the deltaLink.
func (e *env) deltaRound(u string, headers ...string) ([]map[string]any, string) {
	e.t.Helper()
	var all []map[string]any
	for i := 0; i < 1000; i++ {
		r := e.get(u, headers...)
		if r.status != 200 {
			e.t.Fatalf("delta page %s: %d %s", u, r.status, r.raw)
		}
		all = append(all, r.values()...)
		if next, ok := r.body["@odata.nextLink"].(string); ok {
			u = next
			continue
		}
		dl, ok := r.body["@odata.deltaLink"].(string)
		if !ok {
			e.t.Fatalf("delta page without nextLink or deltaLink: %s", r.raw)
		}
		return all, dl
	}
	e.t.Fatal("delta did not end")
	return nil, ""
}
