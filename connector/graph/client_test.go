package graph

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
)

// TestErrorExamples classifies the real error bodies.
func TestErrorExamples(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "reference", "graph-examples")
	cases := []struct {
		file   string
		status int
		code   connector.Code
		resync bool
	}{
		{"OBSERVED-calendarview-delta-expired-410-SyncStateNotFound.json", 410, connector.InvalidInput, true},
		{"OBSERVED-events-delta-InvalidDeltaToken.json", 400, connector.InvalidInput, true},
		{"application-access-policy-denied-error.json", 403, connector.PermissionDenied, false},
		{"throttling-429-response.json", 429, connector.RateLimited, false},
		{"directory-count-without-consistencylevel-error.json", 400, connector.InvalidInput, false},
		{"delta-user-skills-501-error.json", 501, connector.Unavailable, false},
	}
	for _, c := range cases {
		body, err := os.ReadFile(filepath.Join(dir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		if c.status == 429 {
			h.Set("Retry-After", "2.128")
		}
		ge := newGraphError(c.status, h, body, "GET", "https://graph.microsoft.com/v1.0/users/x/calendarView/delta?$deltatoken=SECRET")
		if ge.resyncNeeded() != c.resync {
			t.Errorf("%s: resyncNeeded = %v", c.file, ge.resyncNeeded())
		}
		d := ge.diagnostic("mailbox x")
		if d.Code != c.code {
			t.Errorf("%s: code %s, want %s (%v)", c.file, d.Code, c.code, d)
		}
		if c.status == 429 && d.RetryAfter != 2128*time.Millisecond {
			t.Errorf("fractional Retry-After: %v", d.RetryAfter)
		}
		if strings.Contains(ge.Error(), "SECRET") {
			t.Errorf("delta token leaked into the error: %s", ge.Error())
		}
	}
}

type staticToken string

func (s staticToken) token(context.Context, string) (string, error) { return string(s), nil }
func (s staticToken) invalidate(string, string)                     {}

func testClient(t *testing.T, h http.Handler, perMailbox int) (*graphClient, *[]time.Duration) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	cfg := &config{graphRoot: srv.URL}
	cfg.MaxConcurrencyPerMailbox, cfg.MaxConcurrency = perMailbox, 64
	c := newGraphClient(srv.Client(), cfg, staticToken("tok"))
	var slept []time.Duration
	var mu sync.Mutex
	c.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		slept = append(slept, d)
		mu.Unlock()
		return nil
	}
	return c, &slept
}

func TestClientRetries(t *testing.T) {
	var calls atomic.Int32
	c, slept := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("no bearer token")
		}
		switch calls.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "2.5")
			w.WriteHeader(429)
			io.WriteString(w, `{"error":{"code":"TooManyRequests","message":"Please retry again later."}}`)
		case 2:
			w.WriteHeader(503)
			io.WriteString(w, `{"error":{"code":"serviceNotAvailable","message":"x"}}`)
		case 3:
			// A truncated body: the length promises more than arrives.
			hj, _ := w.(http.Hijacker)
			conn, buf, _ := hj.Hijack()
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ok\"")
			buf.Flush()
			conn.Close()
		default:
			io.WriteString(w, `{"ok":true}`)
		}
	}), 4)
	var v struct{ OK bool }
	if err := c.getJSON(context.Background(), request{url: "/v1.0/x"}, &v); err != nil || !v.OK {
		t.Fatalf("after retries: %v %v", v, err)
	}
	if len(*slept) != 3 || (*slept)[0] != 2500*time.Millisecond {
		t.Errorf("waits %v: want Retry-After 2.5s first, then two back-offs", *slept)
	}
	// A 400 is not retried.
	calls.Store(0)
	c2, slept2 := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(400)
		io.WriteString(w, `{"error":{"code":"ErrorInvalidIdMalformed","message":"Id is malformed."}}`)
	}), 4)
	err := c2.getJSON(context.Background(), request{url: "/v1.0/x"}, &v)
	var ge *graphError
	if !errors.As(err, &ge) || ge.Code != "ErrorInvalidIdMalformed" || calls.Load() != 1 || len(*slept2) != 0 {
		t.Errorf("400: err %v, %d calls, waits %v", err, calls.Load(), *slept2)
	}
	// Throttled for good: gives up after maxAttempts with RATE_LIMITED.
	c3, _ := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(429)
	}), 4)
	err = c3.getJSON(context.Background(), request{url: "/v1.0/x"}, &v)
	if !errors.As(err, &ge) || ge.diagnostic("m").Code != connector.RateLimited {
		t.Errorf("persistent 429: %v", err)
	}
}

func TestClientMailboxConcurrency(t *testing.T) {
	var cur, peak atomic.Int32
	release := make(chan struct{})
	c, _ := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		cur.Add(-1)
		io.WriteString(w, `{}`)
	}), 3)
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var v struct{}
			_ = c.getJSON(context.Background(), request{url: "/v1.0/x", mailbox: "Anna@contoso.com"}, &v)
		}()
	}
	time.Sleep(200 * time.Millisecond)
	if p := peak.Load(); p != 3 {
		t.Errorf("peak concurrency for one mailbox = %d, want 3", p)
	}
	close(release)
	wg.Wait()
}

// TestBodyClass checks the size classes of pooled body buffers: every
// body fits its class's buffers, which are at most a quarter larger, and
// larger bodies never get a smaller class.
func TestBodyClass(t *testing.T) {
	last := -1
	for n := minPooledBody; n <= 64<<20; n += 1 + n/37 {
		class, size := bodyClass(n)
		if class < 0 || class >= bodyClasses || size < n || 4*size > 5*n+4 || class < last {
			t.Fatalf("body of %d bytes: class %d (after %d) of %d bytes", n, class, last, size)
		}
		last = class
	}
	if class, size := bodyClass(64 << 20); class != bodyClasses-1 || size != 64<<20 {
		t.Errorf("64 MiB: class %d of %d bytes", class, size)
	}
}

// TestBatchPartsShareBodyBuffer checks that the parts of a $batch answer
// read into a pooled buffer keep it until the last part answered 2xx is
// done with its body, and that the buffer goes back then and only then.
func TestBatchPartsShareBodyBuffer(t *testing.T) {
	page := `{"value":[{"id":"` + strings.Repeat("x", 3000) + `"}]}`
	answer := `{"responses":[` +
		`{"id":"1","status":200,"headers":{"Content-Type":"application/json"},"body":` + page + `},` +
		`{"id":"2","status":404,"body":{"error":{"code":"ErrorItemNotFound","message":"gone"}}},` +
		`{"id":"3","status":200,"body":` + strings.Replace(page, "x", "y", 1) + `}]}`
	c, _ := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
		io.WriteString(w, answer)
	}), 4)
	var back []*bodyBuf
	c.bodies.put = func(b *bodyBuf) { back = append(back, b) }
	q := newPartQueue(c)
	var batch []*queuedGet
	for i := range 3 {
		u := "/v1.0/users/u/events/" + strconv.Itoa(i)
		rel, _ := c.batchPath(u)
		batch = append(batch, &queuedGet{r: request{method: http.MethodGet, url: u, mailbox: "u"}, rel: rel, done: make(chan struct{})})
	}
	q.send(batch)
	first, third := batch[0].resp, batch[2].resp
	if first == nil || third == nil || batch[1].err == nil {
		t.Fatalf("answers: %+v %v %+v", batch[0], batch[1].err, batch[2])
	}
	if first.buf == nil || first.buf != third.buf {
		t.Fatalf("the parts' bodies do not share the answer's pooled buffer")
	}
	if string(first.body) != page || string(third.body) != strings.Replace(page, "x", "y", 1) {
		t.Errorf("bodies: %.40q, %.40q", first.body, third.body)
	}
	buf := first.buf
	first.done()
	first.done() // done twice is done once
	if len(back) != 0 {
		t.Fatalf("the buffer went back while a part still reads it")
	}
	third.done()
	if len(back) != 1 || back[0] != buf || third.body != nil {
		t.Errorf("after the last part: %d buffers back", len(back))
	}
}
