package graph

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// newHTTPClient returns the one http.Client the connection uses for sign-in
// and Graph, trusting the system roots plus caPEM. maxConns, when above 0,
// bounds the connections per host: the connection's requests never need
// more than max_concurrency at once (and one for sign-in), while without a
// bound the transport dials a new connection whenever none is idle at the
// moment of a request, also when one frees an instant later, and keeps
// the spare one (with its TLS buffers) for the rest of the run.
func newHTTPClient(caPEM []byte, maxConns int) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	// http.DefaultTransport's dial settings, with connections that read
	// one TLS record at a time (see recordConn).
	tr.DialContext = recordDialer(&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second})
	if maxConns > 0 {
		tr.MaxConnsPerHost = maxConns
	}
	if len(caPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("ca_file holds no usable certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}, nil
}

// request is one Graph call.
type request struct {
	method string
	// url is absolute, or relative to the Graph root with its version
	// ("/v1.0/users").
	url    string
	header http.Header
	body   []byte
	// mailbox, when set, is the user whose mailbox the call touches: it
	// picks the per-mailbox concurrency slot and, for per-user sign-in,
	// the token.
	mailbox string
	// gate, when set, is taken after a 2xx answer's headers arrive and
	// before its body is read; the response's release gives it back. The
	// body so waits in the connection (the service's flow control), not in
	// memory, until its reader is ready for it.
	gate func(context.Context) (func(), error)
	// held says the caller already holds the mailbox's slot and a global
	// slot for this request (a sender of the read queue, see partQueue).
	held bool
}

// graphClient sends requests with a bearer token, bounded concurrency and
// retries on throttling and transient failures.
type graphClient struct {
	http   *http.Client
	root   string // https://graph.microsoft.com
	tokens tokenSource
	cfg    *config
	global chan struct{}
	// decoding bounds the pages decoded at once (see decodeSlot).
	decoding chan struct{}

	mu    sync.Mutex
	slots map[string]chan struct{}
	// decoders holds one page decoder per schema entity (*schema.Entity →
	// *decoder; a decoder is safe for concurrent use), so the rounds of
	// many mailboxes share one instead of each compiling its own.
	decoders sync.Map
	// bufs holds *bytes.Buffer for reading bodies of unknown length.
	bufs sync.Pool
	// bodies holds the buffers of bodies of announced length.
	bodies bodyPool

	// sleep waits d or until ctx ends; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
	// maxAttempts bounds tries per request.
	maxAttempts int
}

func newGraphClient(hc *http.Client, cfg *config, tokens tokenSource) *graphClient {
	return &graphClient{
		http: hc, root: cfg.graphRoot, tokens: tokens, cfg: cfg,
		global:      make(chan struct{}, cfg.MaxConcurrency),
		decoding:    make(chan struct{}, max(2, runtime.GOMAXPROCS(0))),
		slots:       map[string]chan struct{}{},
		sleep:       sleepCtx,
		maxAttempts: 6,
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *graphClient) slot(mailbox string) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.slots[strings.ToLower(mailbox)]
	if !ok {
		s = make(chan struct{}, c.cfg.MaxConcurrencyPerMailbox)
		c.slots[strings.ToLower(mailbox)] = s
	}
	return s
}

// holdMailbox takes one of the mailbox's concurrency slots (nothing for
// no mailbox) until the returned func is called. A GET waiting in a $batch
// holds its mailbox's slot, so the parts of concurrent batches stay within
// the service's four concurrent requests per mailbox (graph-api-facts §4.1).
func (c *graphClient) holdMailbox(ctx context.Context, mailbox string) (func(), error) {
	if mailbox == "" {
		return func() {}, nil
	}
	mb := c.slot(mailbox)
	select {
	case mb <- struct{}{}:
		return func() { <-mb }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// decoderFor returns the shared decoder of a schema entity.
func (c *graphClient) decoderFor(e *schema.Entity) *decoder {
	if d, ok := c.decoders.Load(e); ok {
		return d.(*decoder)
	}
	d, _ := c.decoders.LoadOrStore(e, newDecoder(e))
	return d.(*decoder)
}

// decodeSlot bounds the pages decoded at once to the CPUs the process may
// use (at least two): decoding is CPU work that more goroutines do not
// speed up, and a page being decoded is several times the size of its
// body, so the decoded pages a read holds stay a few, however many
// mailboxes are read at once and whatever max_concurrency is.
func (c *graphClient) decodeSlot(ctx context.Context) (func(), error) {
	select {
	case c.decoding <- struct{}{}:
		return func() { <-c.decoding }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// busy reports whether three quarters or more of the connection's HTTP
// slots (max_concurrency) are in use.
func (c *graphClient) busy() bool {
	return 4*len(c.global) >= 3*cap(c.global)
}

func (c *graphClient) acquire(ctx context.Context, mailbox string) (func(), error) {
	var mb chan struct{}
	if mailbox != "" {
		mb = c.slot(mailbox)
		select {
		case mb <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	select {
	case c.global <- struct{}{}:
	case <-ctx.Done():
		if mb != nil {
			<-mb
		}
		return nil, ctx.Err()
	}
	return func() {
		<-c.global
		if mb != nil {
			<-mb
		}
	}, nil
}

// response is a fully read Graph answer.
type response struct {
	status int
	header http.Header
	body   []byte
	// release gives back the request's gate (nil without one).
	release func()
	// buf is the pooled buffer body lies in, nil when body is a slice of
	// its own (see done).
	buf *bodyBuf
}

// done says the reader is through with the body and keeps nothing that
// points into it (the decoder and encoding/json copy what they keep): its
// buffer may then carry another answer. A response not marked done has
// its buffer collected as any other memory.
func (r *response) done() {
	if r.buf != nil {
		r.buf.unref()
		r.buf = nil
	}
	r.body = nil
}

// do sends r and returns a 2xx response, or an error: a *graphError for an
// answer of the service, a diagnostic for sign-in failures. 429, 503 and
// 504 and broken connections are retried, honouring Retry-After, with
// exponential back-off and jitter otherwise.
func (c *graphClient) do(ctx context.Context, r request) (*response, error) {
	return c.attempts(ctx, r, nil)
}

// attempts is do; first, when not nil, is the error of a first attempt
// made elsewhere (a part of a $batch, or a request sent by the read
// queue), and the attempts go on from the second as do's would.
func (c *graphClient) attempts(ctx context.Context, r request, first error) (*response, error) {
	r.held = false
	url := r.url
	if strings.HasPrefix(url, "/") {
		url = c.root + url
	}
	var lastErr error
	for attempt := 1; ; attempt++ {
		var resp *response
		var err error
		if attempt == 1 && first != nil {
			err = first
		} else {
			resp, err = c.once(ctx, r, url)
		}
		if err == nil {
			return resp, nil
		}
		lastErr = err
		var ge *graphError
		if errors.As(err, &ge) && ge.Status == http.StatusUnauthorized && attempt == 1 && ge.token != "" {
			// The access token expired or was revoked before its stated
			// expiry: drop it and try once more with a fresh one.
			c.tokens.invalidate(r.mailbox, ge.token)
			continue
		}
		wait, retry := retryable(err, attempt)
		if !retry || attempt >= c.maxAttempts || ctx.Err() != nil {
			return nil, lastErr
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, lastErr
		}
	}
}

func (c *graphClient) once(ctx context.Context, r request, url string) (*response, error) {
	if !r.held {
		release, err := c.acquire(ctx, r.mailbox)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	tok, err := c.tokens.token(ctx, r.mailbox)
	if err != nil {
		return nil, err
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, url, body)
	if err != nil {
		return nil, fmt.Errorf("building request %s %s: %w", r.method, redactURL(url), err)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if r.body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &transportError{err: fmt.Errorf("%s %s: %w", r.method, redactURL(url), err)}
	}
	defer resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	var gate func()
	if ok && r.gate != nil {
		if gate, err = r.gate(ctx); err != nil {
			return nil, err
		}
	}
	b, buf, err := c.readBody(resp)
	if err != nil {
		if gate != nil {
			gate()
		}
		return nil, &transportError{err: fmt.Errorf("reading answer to %s %s: %w", r.method, redactURL(url), err)}
	}
	if ok {
		return &response{status: resp.StatusCode, header: resp.Header, body: b, release: gate, buf: buf}, nil
	}
	ge := newGraphError(resp.StatusCode, resp.Header, b, r.method, url)
	ge.token = tok
	if buf != nil {
		buf.unref() // the error holds copies
	}
	return nil, ge
}

// readBody reads an answer's body: into a pooled buffer when its length
// is announced and not small (buf is then that buffer, which the
// response's done gives back), into a slice of the announced length when
// small, else through one of the client's reusable buffers and copied out
// at its size, so a body costs one allocation of its own size instead of
// the doublings of a growing slice.
func (c *graphClient) readBody(resp *http.Response) (b []byte, buf *bodyBuf, err error) {
	if n := resp.ContentLength; n > 0 && n <= 64<<20 {
		buf = c.bodies.get(int(n))
		if buf != nil {
			b = buf.b[:n]
		} else {
			b = make([]byte, n)
		}
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			if buf != nil {
				buf.unref()
			}
			return nil, nil, err
		}
		return b, buf, nil
	}
	bb, _ := c.bufs.Get().(*bytes.Buffer)
	if bb == nil {
		bb = new(bytes.Buffer)
	}
	bb.Reset()
	_, err = bb.ReadFrom(resp.Body)
	if err == nil {
		b = append([]byte{}, bb.Bytes()...)
	}
	if bb.Cap() <= 4<<20 {
		c.bufs.Put(bb)
	}
	return b, nil, err
}

// bodyPool keeps the buffers of answer bodies for reuse, by size class:
// pages and batch answers are read into buffers that earlier answers
// filled, instead of each into fresh (zeroed) memory of its own that the
// collector must then reclaim. Classes step by a quarter of a power of
// two, so a buffer is at most a quarter larger than its body.
type bodyPool struct {
	classes [bodyClasses]sync.Pool
	// put, when set, replaces giving a buffer back (tests).
	put func(*bodyBuf)
}

const (
	// minPooledBody is the smallest body read into a pooled buffer:
	// smaller ones cost little to allocate.
	minPooledBody = 4 << 10
	// bodyClasses covers bodies up to 2^26 bytes, the most readBody
	// reads (64 MiB): the class of the body of n bytes is in
	// 4·(e−11)+j for 2^e ≤ n−1 < 2^(e+1), with 11 ≤ e ≤ 25.
	bodyClasses = 4 * (25 - 11 + 1)
)

// bodyClass returns the class of a body of n bytes (minPooledBody ≤ n)
// and the size of its buffers.
func bodyClass(n int) (int, int) {
	e := bits.Len(uint(n-1)) - 1 // 2^e ≤ n-1 < 2^(e+1)
	step := 1 << (e - 2)
	j := (n - 1 - 1<<e) / step // 0..3: (4+j)·step ≤ n-1 < (5+j)·step
	return 4*(e-11) + j, (5 + j) * step
}

// bodyBuf is a pooled body buffer shared by the responses whose bodies
// lie in it (the parts of a $batch answer): the last one done gives it
// back.
type bodyBuf struct {
	b     []byte
	class int
	refs  atomic.Int32
	pool  *bodyPool
}

// get returns a buffer of at least n bytes with one reference, nil when
// n is not pooled.
func (p *bodyPool) get(n int) *bodyBuf {
	if n < minPooledBody {
		return nil
	}
	class, size := bodyClass(n)
	if class < 0 || class >= bodyClasses {
		return nil
	}
	b, _ := p.classes[class].Get().(*bodyBuf)
	if b == nil {
		b = &bodyBuf{b: make([]byte, size), class: class, pool: p}
	}
	b.refs.Store(1)
	return b
}

// ref adds a reference: another response whose body lies in b.
func (b *bodyBuf) ref() { b.refs.Add(1) }

// unref drops a reference; the last gives the buffer back.
func (b *bodyBuf) unref() {
	switch n := b.refs.Add(-1); {
	case n > 0:
		return
	case n < 0:
		panic("graph: body buffer given back twice")
	}
	if b.pool.put != nil {
		b.pool.put(b)
		return
	}
	b.pool.classes[b.class].Put(b)
}

// redactURL drops the query, which may hold delta and skip tokens.
func redactURL(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// transportError is a failure below HTTP (reset, truncated body): retried.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// graphError is an error answer of Graph in its error envelope
// (graph-api-facts §12: {"error":{"code","message","innerError"}}).
type graphError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
	what       string
	token      string // the access token the request carried; never printed
}

func newGraphError(status int, h http.Header, body []byte, method, url string) *graphError {
	e := &graphError{Status: status, what: method + " " + redactURL(url)}
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil {
		e.Code, e.Message = env.Error.Code, env.Error.Message
	}
	if e.Code == "" {
		e.Code = http.StatusText(status)
	}
	// Retry-After in seconds, possibly fractional ("2.128", graph-api-facts §4.3).
	if ra := h.Get("Retry-After"); ra != "" {
		if f, err := strconv.ParseFloat(ra, 64); err == nil && f >= 0 {
			e.RetryAfter = time.Duration(f * float64(time.Second))
		} else if t, err := http.ParseTime(ra); err == nil {
			e.RetryAfter = time.Until(t)
		}
	}
	return e
}

func (e *graphError) Error() string {
	return fmt.Sprintf("%s: HTTP %d %s: %s", e.what, e.Status, e.Code, e.Message)
}

// is reports whether the service code equals code, ignoring case (Graph
// spells syncStateNotFound both ways, graph-api-facts §1.1).
func (e *graphError) is(code string) bool { return strings.EqualFold(e.Code, code) }

// resyncNeeded reports whether the answer says a delta token is no longer
// usable (graph-api-facts §1.1: 410 Gone, syncStateNotFound, resyncRequired,
// InvalidDeltaToken).
func (e *graphError) resyncNeeded() bool {
	return e.Status == http.StatusGone || e.is("syncStateNotFound") || e.is("resyncRequired") || e.is("InvalidDeltaToken")
}

// diagnostic turns the error into a contract diagnostic about subject (a
// mailbox or "the directory").
func (e *graphError) diagnostic(subject string) *connector.Diagnostic {
	detail := fmt.Sprintf("Graph answered %d %s: %s", e.Status, e.Code, e.Message)
	var d *connector.Diagnostic
	switch {
	case e.is("MailboxNotEnabledForRESTAPI"):
		d = connector.Errorf(connector.NotFound, "%s has no Exchange Online mailbox", subject)
	case e.Status == http.StatusUnauthorized:
		d = connector.Errorf(connector.AuthFailed, "Graph refused the access token for %s", subject)
	case e.Status == http.StatusForbidden && e.is("ErrorAccessDenied"):
		d = connector.Errorf(connector.PermissionDenied, "access to %s is denied (missing application permission, or an application access policy / RBAC scope excludes it)", subject)
	case e.Status == http.StatusForbidden:
		d = connector.Errorf(connector.PermissionDenied, "permission denied for %s", subject)
	case e.Status == http.StatusNotFound:
		d = connector.Errorf(connector.NotFound, "%s not found", subject)
	case e.Status == http.StatusTooManyRequests:
		d = connector.Errorf(connector.RateLimited, "Graph throttled requests for %s", subject).WithRetryAfter(e.RetryAfter)
	case e.Status >= 500:
		d = connector.Errorf(connector.Unavailable, "Graph is unavailable for %s", subject).WithRetryAfter(e.RetryAfter)
	case e.Status == http.StatusConflict || e.Status == http.StatusPreconditionFailed:
		d = connector.Errorf(connector.Conflict, "conflicting change for %s", subject)
	default:
		d = connector.Errorf(connector.InvalidInput, "Graph rejected the request for %s", subject)
	}
	return d.WithDetail("%s", detail)
}

// retryable decides whether to try again and after how long.
func retryable(err error, attempt int) (time.Duration, bool) {
	var ge *graphError
	if errors.As(err, &ge) {
		switch ge.Status {
		case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusBadGateway:
			if ge.RetryAfter > 0 {
				return ge.RetryAfter, true
			}
			return backoff(attempt), true
		}
		return 0, false
	}
	var te *transportError
	if errors.As(err, &te) {
		return backoff(attempt), true
	}
	return 0, false
}

// backoff is exponential from 200 ms, capped at 30 s, with full jitter on
// the upper half.
func backoff(attempt int) time.Duration {
	d := 200 * time.Millisecond << min(attempt-1, 8)
	d = min(d, 30*time.Second)
	return d/2 + rand.N(d/2+1)
}

// getJSON GETs url and decodes the body into v.
func (c *graphClient) getJSON(ctx context.Context, r request, v any) error {
	r.method = http.MethodGet
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	err = json.Unmarshal(resp.body, v)
	resp.done()
	if err != nil {
		return fmt.Errorf("decoding answer to GET %s: %w", redactURL(r.url), err)
	}
	return nil
}
