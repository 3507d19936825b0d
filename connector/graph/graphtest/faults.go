package graphtest

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FaultKind is what a scripted fault does to a request.
type FaultKind int

const (
	// FaultThrottle answers 429 TooManyRequests with Retry-After (facts §4.3).
	FaultThrottle FaultKind = iota + 1
	// FaultUnavailable answers 503 serviceNotAvailable, with Retry-After when
	// RetryAfter is set (facts §4.4).
	FaultUnavailable
	// FaultGatewayTimeout answers 504 (facts §4.4).
	FaultGatewayTimeout
	// FaultReset closes the connection without an answer (TCP reset).
	FaultReset
	// FaultTruncate sends the real answer's headers and half of its body,
	// then closes the connection. It always runs the request (it commits).
	FaultTruncate
	// FaultLatency delays the request by Latency, then serves it normally.
	FaultLatency
)

var faultKindNames = map[FaultKind]string{
	FaultThrottle: "429", FaultUnavailable: "503", FaultGatewayTimeout: "504",
	FaultReset: "reset", FaultTruncate: "truncate", FaultLatency: "latency",
}

// String returns the kind's name as ParseFaultSpec spells it.
func (k FaultKind) String() string { return faultKindNames[k] }

// Fault is one scripted fault.
type Fault struct {
	Kind FaultKind
	// Path is a pattern over the URL path ("/v1.0/users/*/calendarView/delta",
	// "/{tenant}/oauth2/v2.0/token"); '*' matches any run of characters,
	// '/' included. Case-insensitive. "" matches every path.
	Path string
	// Method restricts the fault to one HTTP method; "" matches all.
	Method string
	// User restricts the fault to one mailbox (id or user principal name).
	User string
	// Times is how many matching requests the fault hits; 0 means all.
	Times int
	// RetryAfter is the Retry-After value for 429 (default 1 s) and 503.
	RetryAfter time.Duration
	// Latency is the delay of FaultLatency. A latency fault without a Path
	// delays each request the service serves: the requests inside a $batch
	// each (four at a time, facts §4.1, so a batch of four parts costs one
	// latency and one of twenty five), not the $batch envelope as well,
	// which would charge every batch one latency more than the lone
	// requests it carries. A latency fault whose Path names the $batch
	// delays the envelope.
	Latency time.Duration
	// AfterCommit serves the request (committing any change) and then
	// replaces the answer with the fault, as a lost response does.
	AfterCommit bool
}

// Faults is the script of faults; tests add to it while the emulator runs.
type Faults struct {
	mu   sync.Mutex
	list []*faultEntry
}

type faultEntry struct {
	Fault
	left int // remaining hits; -1 = unlimited
}

func newFaults() *Faults { return &Faults{} }

// Faults returns the emulator's fault script.
func (s *Server) Faults() *Faults { return s.faults }

// Add appends a fault; the first matching fault with hits left fires.
func (f *Faults) Add(ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	left := ft.Times
	if left <= 0 {
		left = -1
	}
	f.list = append(f.list, &faultEntry{Fault: ft, left: left})
}

// Clear removes every fault.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = nil
}

// Pending reports how many hits the scripted faults have left (unlimited
// faults count as one).
func (f *Faults) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, e := range f.list {
		switch {
		case e.left > 0:
			n += e.left
		case e.left < 0:
			n++
		}
	}
	return n
}

// take returns the faults that fire for a request in a phase and uses up
// one hit of each: every matching latency fault (each applies once per
// request), then at most one other fault — the first that matches. For a
// $batch envelope (envelope set), latency faults without a Path do not
// match: its parts are delayed instead (see Fault.Latency).
func (f *Faults) take(r *http.Request, userID, userUPN string, post, envelope bool) (latency []*Fault, terminal *Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.list {
		if e.left == 0 {
			continue
		}
		isPost := e.AfterCommit || e.Kind == FaultTruncate
		if isPost != post {
			continue
		}
		if e.Method != "" && !strings.EqualFold(e.Method, r.Method) {
			continue
		}
		if envelope && e.Kind == FaultLatency && e.Path == "" {
			continue
		}
		if e.User != "" && !strings.EqualFold(e.User, userID) && !strings.EqualFold(e.User, userUPN) {
			continue
		}
		if e.Path != "" && !globMatch(strings.ToLower(e.Path), strings.ToLower(r.URL.Path)) {
			continue
		}
		if e.left > 0 {
			e.left--
		}
		ft := e.Fault
		if ft.Kind == FaultLatency && !post {
			latency = append(latency, &ft)
			continue
		}
		return latency, &ft
	}
	return latency, nil
}

func (f *Faults) takeAfterCommit(r *http.Request, userID, userUPN string) *Fault {
	_, ft := f.take(r, userID, userUPN, true, false)
	return ft
}

// globMatch matches pattern against s where '*' matches any run of
// characters including '/'.
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i := 1; i < len(parts)-1; i++ {
		j := strings.Index(s, parts[i])
		if j < 0 {
			return false
		}
		s = s[j+len(parts[i]):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// applyFaults fires a pre-request fault if one matches; it reports whether
// the request was answered (or dropped). envelope marks a POST /$batch.
func (s *Server) applyFaults(w http.ResponseWriter, r *http.Request, userID string, inBatch, envelope bool) bool {
	upn := s.userAddressByID(userID)
	latency, ft := s.faults.take(r, userID, upn, false, envelope)
	for _, l := range latency {
		s.stats.add(func(st *Stats) { st.Faults++ })
		time.Sleep(l.Latency)
	}
	if ft == nil {
		return false
	}
	if inBatch && ft.Kind == FaultReset {
		// A connection cannot be reset for one part of a batch; the part
		// fails with 503 instead.
		ft.Kind = FaultUnavailable
	}
	s.writeFault(w, r, ft)
	return true
}

// writeFault answers a fault.
func (s *Server) writeFault(w http.ResponseWriter, r *http.Request, ft *Fault) {
	s.stats.add(func(st *Stats) { st.Faults++ })
	c := &call{s: s, w: w, r: r, reqID: requestID()}
	c.clientID = r.Header.Get("Client-Request-Id") // canonical, so Get need not make it
	if c.clientID == "" {
		c.clientID = c.reqID
	}
	switch ft.Kind {
	case FaultThrottle:
		ra := ft.RetryAfter
		if ra <= 0 {
			ra = time.Second
		}
		w.Header().Set("Retry-After", formatRetryAfter(ra))
		c.writeJSON(http.StatusTooManyRequests, throttleBody(c, s.now()))
	case FaultUnavailable:
		if ft.RetryAfter > 0 {
			w.Header().Set("Retry-After", formatRetryAfter(ft.RetryAfter))
		}
		// errors.md: 503 with code serviceNotAvailable (facts §4.4).
		c.fail(http.StatusServiceUnavailable, "serviceNotAvailable", "The service is temporarily unavailable. Please try again later.")
	case FaultGatewayTimeout:
		c.fail(http.StatusGatewayTimeout, "UnknownError", "The gateway did not receive a timely response from the upstream server.")
	case FaultReset, FaultTruncate:
		resetConn(w, nil)
	default:
		c.fail(http.StatusInternalServerError, "generalException", "An unexpected fault was scripted.")
	}
}

// formatRetryAfter writes whole seconds, or fractional seconds when the
// duration is not whole (facts §4.3: "Retry-After: 2.128" in the older page).
func formatRetryAfter(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.Itoa(int(d / time.Second))
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

// resetConn hijacks the connection, writes partial (if any) and closes it
// with a TCP reset.
func resetConn(w http.ResponseWriter, partial []byte) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if len(partial) > 0 {
		_, _ = buf.Write(partial)
		_ = buf.Flush()
	}
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok && len(partial) == 0 {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// recorder buffers a response so a post-commit fault can replace or
// truncate it.
type recorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
	// pooled says the body's buffer is taken from a pool on the first
	// write, sized for it (a batch part's answer, see partBuffer); ref
	// is the pointer it came in.
	pooled bool
	ref    *[]byte
}

func newRecorder() *recorder            { return &recorder{h: http.Header{}} }
func (r *recorder) Header() http.Header { return r.h }

// Write appends b to the recorded body.
func (r *recorder) Write(b []byte) (int, error) {
	if r.pooled && r.body.Cap() == 0 {
		r.ref = partBuffer(len(b))
		r.body = *bytes.NewBuffer((*r.ref)[:0])
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(status int) { r.status = status }
func (r *recorder) statusCode() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// writeTruncated sends the recorded status and headers with the full
// Content-Length, then half of the body, then closes the connection.
func writeTruncated(w http.ResponseWriter, rec *recorder) {
	var head bytes.Buffer
	fmt.Fprintf(&head, "HTTP/1.1 %d %s\r\n", rec.statusCode(), http.StatusText(rec.statusCode()))
	rec.h.Set("Content-Length", strconv.Itoa(rec.body.Len()))
	_ = rec.h.Write(&head)
	head.WriteString("\r\n")
	head.Write(rec.body.Bytes()[:rec.body.Len()/2])
	resetConn(w, head.Bytes())
}

// ParseFaultSpec parses the --faults flag of `syncplane emulate graph`:
// faults separated by ';', each a ','-separated list of key=value with keys
// kind (429, 503, 504, reset, truncate, latency), path, method, user,
// times, retry (a duration), latency (a duration), aftercommit (true/false).
// Example: "kind=429,path=/v1.0/users/*/calendarView/delta,times=3,retry=2s;kind=latency,latency=200ms".
func ParseFaultSpec(spec string) ([]Fault, error) {
	var out []Fault
	for i, item := range strings.Split(spec, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		var f Fault
		for _, kv := range strings.Split(item, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok {
				return nil, fmt.Errorf("fault %d: %q is not key=value", i+1, kv)
			}
			var err error
			switch strings.ToLower(k) {
			case "kind":
				f.Kind = 0
				for kind, name := range faultKindNames {
					if strings.EqualFold(name, v) {
						f.Kind = kind
					}
				}
				if f.Kind == 0 {
					err = fmt.Errorf("unknown kind %q (want 429, 503, 504, reset, truncate or latency)", v)
				}
			case "path":
				f.Path = v
			case "method":
				f.Method = v
			case "user":
				f.User = v
			case "times":
				f.Times, err = strconv.Atoi(v)
			case "retry":
				f.RetryAfter, err = time.ParseDuration(v)
			case "latency":
				f.Latency, err = time.ParseDuration(v)
			case "aftercommit":
				f.AfterCommit, err = strconv.ParseBool(v)
			default:
				err = fmt.Errorf("unknown key %q", k)
			}
			if err != nil {
				return nil, fmt.Errorf("fault %d: %s: %w", i+1, k, err)
			}
		}
		if f.Kind == 0 {
			return nil, fmt.Errorf("fault %d: kind is required", i+1)
		}
		if f.Path != "" && !strings.HasPrefix(f.Path, "/") && !strings.HasPrefix(f.Path, "*") {
			return nil, fmt.Errorf("fault %d: path %q must start with / or *", i+1, f.Path)
		}
		if _, err := path.Match(strings.ReplaceAll(f.Path, "*", "x"), "x"); err != nil {
			return nil, fmt.Errorf("fault %d: path %q: %w", i+1, f.Path, err)
		}
		out = append(out, f)
	}
	return out, nil
}
