package graphtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/syncplane/syncplane/internal/jsonenc"
)

// maxBatch is the JSON batching limit: "JSON batch requests are currently
// limited to 20 individual requests" (facts §4.5, json-batching.md).
const maxBatch = 20

type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

// serveBatch serves POST /$batch (facts §4.5, json-batching.md): a malformed
// batch answers 400; otherwise the batch answers 200 with one response per
// request ({id, status, headers, body}), requests that depend on a failed
// request answer 424, and each request is evaluated against the throttling
// limits on its own (a throttled request answers 429 inside the 200).
// Independent requests run up to four at a time, as Graph sends them to
// Outlook (facts §4.1).
func (s *Server) serveBatch(c *call) {
	if c.inBatch {
		c.fail(http.StatusBadRequest, "BadRequest", "Nested batch requests are not supported.")
		return
	}
	// The body is read into a buffer kept between batches: nothing made
	// of it outlives the batch (strings are copied, the parts' bodies
	// decoded), and it is given back once the answer is written.
	bp := batchBodies.Get().(*[]byte)
	raw, err := readBatchBody(c.r, *bp)
	defer func() {
		if cap(raw) <= 1<<20 {
			*bp = raw[:0]
			batchBodies.Put(bp)
		}
	}()
	if err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", "Unable to read the batch request body.")
		return
	}
	var req struct {
		Requests []batchRequest `json:"requests"`
	}
	var err2 error
	if req.Requests, err2 = parseBatchRequests(raw); err2 != nil || req.Requests == nil {
		c.fail(http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
		return
	}
	if len(req.Requests) > maxBatch {
		c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Number of batch request steps exceeds the maximum of %d.", maxBatch))
		return
	}
	seen := map[string]bool{}
	for i, r := range req.Requests {
		key := strings.ToLower(r.ID)
		switch {
		case r.ID == "":
			c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Request %d of the batch has no id.", i))
			return
		case seen[key]:
			// "unique in batch, else 400; case-insensitive" (facts §4.5).
			c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Request id '%s' is used more than once in the batch.", r.ID))
			return
		case r.Method == "" || r.URL == "":
			c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Request '%s' of the batch needs a method and a url.", r.ID))
			return
		case strings.HasPrefix(strings.ToLower(r.URL), "http"):
			c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Request '%s': batch urls must be relative (e.g. /users).", r.ID))
			return
		}
		if len(r.Body) > 0 && string(r.Body) != "null" && headerValue(r.Headers, "Content-Type") == "" {
			// "headers (required when body present; must include Content-Type)" (facts §4.5).
			c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Request '%s' has a body but no Content-Type header.", r.ID))
			return
		}
		seen[key] = true
	}
	for _, r := range req.Requests {
		for _, d := range r.DependsOn {
			if !seen[strings.ToLower(d)] || strings.EqualFold(d, r.ID) {
				c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Request '%s' depends on unknown request '%s'.", r.ID, d))
				return
			}
		}
	}
	if hasDependencies(req.Requests) && cyclic(req.Requests) {
		c.fail(http.StatusBadRequest, "BadRequest", "The dependsOn references of the batch form a cycle.")
		return
	}

	answers := make([]partAnswer, len(req.Requests))
	var wg sync.WaitGroup
	if !hasDependencies(req.Requests) {
		// Independent requests: four workers take them in order, as
		// many at a time as the goroutine-per-request form below runs;
		// this goroutine is one of them.
		var next atomic.Int64
		work := func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(req.Requests) {
					return
				}
				answers[i] = s.runBatchPart(c, req.Requests[i])
			}
		}
		for range min(4, len(req.Requests)) - 1 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				work()
			}()
		}
		work()
		wg.Wait()
		c.writeBatchAnswer(answers)
		return
	}
	status := make(map[string]int, len(req.Requests))
	done := make(map[string]chan struct{}, len(req.Requests))
	for _, r := range req.Requests {
		done[strings.ToLower(r.ID)] = make(chan struct{})
	}
	var mu sync.Mutex
	sem := make(chan struct{}, 4)
	for i, r := range req.Requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[strings.ToLower(r.ID)])
			failedDep := false
			for _, d := range r.DependsOn {
				<-done[strings.ToLower(d)]
				mu.Lock()
				st := status[strings.ToLower(d)]
				mu.Unlock()
				if st >= 400 {
					failedDep = true
				}
			}
			var a partAnswer
			if failedDep {
				// "any request that depends on that request fails with
				// status code 424 (Failed Dependency)" (facts §4.5).
				body, _ := appendJSON(nil, errorBody("FailedDependency", "The request depends on a request that failed.", requestID(), c.clientID, s.now()))
				a = partAnswer{id: r.ID, status: http.StatusFailedDependency,
					headers: [][2]string{{"Content-Type", "application/json"}}, body: body}
			} else {
				sem <- struct{}{}
				a = s.runBatchPart(c, r)
				<-sem
			}
			mu.Lock()
			status[strings.ToLower(r.ID)] = a.status
			answers[i] = a
			mu.Unlock()
		}()
	}
	wg.Wait()
	c.writeBatchAnswer(answers)
}

// partBufs holds the buffers batch parts are recorded into, between
// batches.
var partBufs = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// smallPart is the size of the buffers of small part answers (an event),
// taken from eventPool.
const smallPart = 4 << 10

// partBuffer returns a pooled buffer (empty) for a part answer whose
// first write is n bytes: a small one (eventPool) when that and the
// newline after it fit, else one of partBufs.
func partBuffer(n int) *[]byte {
	if n < smallPart {
		return eventPool.Get().(*[]byte)
	}
	return partBufs.Get().(*[]byte)
}

// putPartBuffer gives a part answer's buffer back to the pool of its
// size, in ref, the pointer it was taken in, when there is one.
func putPartBuffer(b []byte, ref *[]byte) {
	pool := &partBufs
	switch c := cap(b); {
	case c == 0 || c > 1<<20:
		return
	case c <= smallPart:
		pool = &eventPool
	}
	if ref == nil {
		ref = new([]byte)
	}
	*ref = b[:0]
	pool.Put(ref)
}

// writeBatchAnswer answers 200 with the responses, with a Content-Length
// (the body is written at once, as writeJSON writes it: the JSON and a
// newline), and gives the parts' buffers back.
func (c *call) writeBatchAnswer(answers []partAnswer) {
	bp := bodyPool.Get().(*[]byte)
	out := appendBatchAnswer((*bp)[:0], answers)
	for i := range answers {
		putPartBuffer(answers[i].buf, answers[i].bufRef)
		answers[i] = partAnswer{}
	}
	// The newline encoding adds goes into the same buffer, so that the
	// answer is written at once rather than followed by a one-byte write
	// (its own TLS record).
	out = append(out, '\n')
	if !c.deferred {
		c.w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	}
	c.writeJSON(http.StatusOK, jsonLine(out))
	if !c.deferred && cap(out) <= 4<<20 {
		*bp = out[:0]
		bodyPool.Put(bp)
	}
}

// hasDependencies reports whether a request of the batch names dependsOn.
func hasDependencies(reqs []batchRequest) bool {
	for _, r := range reqs {
		if len(r.DependsOn) > 0 {
			return true
		}
	}
	return false
}

// partAnswer is one response of a batch answer (facts §4.5: id, status,
// headers, body).
type partAnswer struct {
	id      string
	status  int
	headers [][2]string // name, value; sorted by name
	// body is the body's JSON, nil when the answer has none.
	body []byte
	// buf is the pooled buffer body may point into (putPartBuffer), and
	// bufRef the pointer it was taken from its pool in.
	buf    []byte
	bufRef *[]byte
}

func batchAnswerSize(answers []partAnswer) int {
	n := 32
	for _, a := range answers {
		n += 64 + len(a.id) + len(a.body)
		for _, h := range a.headers {
			n += 6 + len(h[0]) + len(h[1])
		}
	}
	return n
}

// appendBatchAnswer appends {"responses":[…]}, each response written as
// encoding/json writes a map of it — keys sorted (body, headers, id,
// status), the headers an object with sorted keys — which is how the
// batch answer has always been encoded.
func appendBatchAnswer(dst []byte, answers []partAnswer) []byte {
	dst = append(dst, `{"responses":[`...)
	for i, a := range answers {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '{')
		if a.body != nil {
			dst = append(dst, `"body":`...)
			dst = append(dst, a.body...)
			dst = append(dst, ',')
		}
		dst = append(dst, `"headers":{`...)
		for k, h := range a.headers {
			if k > 0 {
				dst = append(dst, ',')
			}
			dst = jsonenc.AppendString(dst, h[0])
			dst = append(dst, ':')
			dst = jsonenc.AppendString(dst, h[1])
		}
		dst = append(dst, `},"id":`...)
		dst = jsonenc.AppendString(dst, a.id)
		dst = append(dst, `,"status":`...)
		dst = strconv.AppendInt(dst, int64(a.status), 10)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// batchBodies holds the buffers batch requests are read into, between
// batches.
var batchBodies = sync.Pool{New: func() any { return new([]byte) }}

// readBatchBody reads at most 8 MiB of the batch request's body, in one
// buffer of its Content-Length when it has one: buf when it has room.
func readBatchBody(r *http.Request, buf []byte) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= 8<<20 {
		b := buf[:0]
		if int64(cap(b)) < n {
			b = make([]byte, n)
		}
		b = b[:n]
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, 8<<20))
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func cyclic(reqs []batchRequest) bool {
	deps := map[string][]string{}
	for _, r := range reqs {
		for _, d := range r.DependsOn {
			deps[strings.ToLower(r.ID)] = append(deps[strings.ToLower(r.ID)], strings.ToLower(d))
		}
	}
	state := map[string]int{}
	var visit func(string) bool
	visit = func(n string) bool {
		switch state[n] {
		case 1:
			return true
		case 2:
			return false
		}
		state[n] = 1
		for _, d := range deps[n] {
			if visit(d) {
				return true
			}
		}
		state[n] = 2
		return false
	}
	for _, r := range reqs {
		if visit(strings.ToLower(r.ID)) {
			return true
		}
	}
	return false
}

// runBatchPart serves one request of a batch through the normal pipeline.
func (s *Server) runBatchPart(c *call, r batchRequest) partAnswer {
	u := r.URL
	if !strings.HasPrefix(u, "/") {
		u = "/" + u
	}
	var b []byte // nil: no body
	if len(r.Body) > 0 && string(r.Body) != "null" {
		b = []byte(r.Body)
		if !strings.Contains(strings.ToLower(headerValue(r.Headers, "Content-Type")), "json") {
			// Non-JSON bodies are base64 strings (facts §4.5).
			var enc string
			if json.Unmarshal(b, &enc) == nil {
				if dec, err := base64.StdEncoding.DecodeString(enc); err == nil {
					b = dec
				}
			}
		}
	}
	method := strings.ToUpper(r.Method)
	req, segs, ownPart := s.partRequest(method, u, b)
	light := req != nil
	if !light {
		var body io.Reader = http.NoBody
		if b != nil {
			body = bytes.NewReader(b)
		}
		var err error
		req, err = http.NewRequestWithContext(c.r.Context(), method, s.base+"/v1.0"+u, body)
		if err != nil {
			eb, _ := appendJSON(nil, errorBody("BadRequest", "Invalid request url '"+r.URL+"'.", requestID(), c.clientID, s.now()))
			return partAnswer{id: r.ID, status: http.StatusBadRequest, headers: [][2]string{{"Content-Type", "application/json"}}, body: eb}
		}
		segs = splitPath(req.URL.EscapedPath())
		for i, seg := range segs {
			if un, err := url.PathUnescape(seg); err == nil {
				segs[i] = un
			}
		}
		req.Header = make(http.Header, len(r.Headers)+1)
	}
	// The batch's token authorizes every part; other headers come only
	// from the part's own headers (json-batching.md). Set as Header.Set
	// sets them, their values in one array.
	vals := make([]string, 0, len(r.Headers)+1)
	set := func(k, v string) {
		vals = append(vals, v)
		req.Header[textproto.CanonicalMIMEHeaderKey(k)] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	set("Authorization", c.r.Header.Get("Authorization"))
	for k, v := range r.Headers {
		set(k, v)
	}
	// The part's recorder, call and (when partRequest made it) request
	// are a partState's, given back once the part is served: nothing
	// keeps them.
	ps := ownPart
	if !light {
		ps = partStates.Get().(*partState)
	}
	defer ps.release()
	rec := &ps.rec
	rec.pooled = true // its buffer is taken on the first write (partBuffer)
	s.serveGraphCall(&ps.call, rec, req, segs[1:], true)
	headers := make([][2]string, 0, len(rec.h))
	for k := range rec.h {
		name := k
		if k == "Odata-Version" {
			name = "OData-Version" // the spelling Graph uses (graph-examples/batch-response-1.json)
		}
		v := ""
		if vs := rec.h[k]; len(vs) > 0 {
			v = vs[0] // what Get gives for a canonical name, without canonicalizing it again
		}
		headers = setHeader(headers, name, v)
	}
	slices.SortFunc(headers, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	a := partAnswer{id: r.ID, status: rec.statusCode(), headers: headers, buf: rec.body.Bytes(), bufRef: rec.ref}
	if rec.body.Len() > 0 {
		// A JSON answer goes into the batch answer as it is (its bytes,
		// not decoded and encoded again); anything else as base64 (facts
		// §4.5: "body (JSON or base64)").
		// The emulator's own answers are JSON whenever they say so.
		if b := bytes.TrimSpace(rec.body.Bytes()); strings.HasPrefix(rec.h.Get("Content-Type"), "application/json") || json.Valid(b) {
			a.body = b
		} else {
			a.body = jsonenc.AppendString(nil, base64.StdEncoding.EncodeToString(rec.body.Bytes()))
		}
	}
	return a
}

// partRequest makes the request of a batch part whose method is upper
// case letters and whose url u (from its '/') is plain: a path of
// characters that stand for themselves in a URL path (letters, digits,
// "-._~$&+,/:;=@"), then optionally '?' and a query of printable ASCII
// but '#'. It is what http.NewRequestWithContext makes of the method,
// s.base+"/v1.0"+u and b as a *bytes.Reader (the path as url.Parse
// splits and unescapes it, which changes nothing in a plain path; the
// body's length; no context, which no handler reads), built directly
// in a partState taken from partStates, which it returns as well (its
// release gives it back); b is read in place by preread (partBody). The
// []string are the path's segments as ServeHTTP splits them. For any
// other part it returns nils and the part's request is made by
// http.NewRequestWithContext.
func (s *Server) partRequest(method, u string, b []byte) (*http.Request, []string, *partState) {
	for i := 0; i < len(method); i++ {
		if c := method[i]; c < 'A' || c > 'Z' {
			return nil, nil, nil
		}
	}
	if method == "" {
		return nil, nil, nil
	}
	path, query, hasQuery := strings.Cut(u, "?")
	for i := 0; i < len(path); i++ {
		if !plainPathByte(path[i]) {
			return nil, nil, nil
		}
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return nil, nil, nil
		}
	}
	ps := partStates.Get().(*partState)
	ps.url = url.URL{Scheme: s.baseURL.Scheme, Host: s.baseURL.Host, Path: "/v1.0" + path, RawQuery: query,
		ForceQuery: hasQuery && query == ""} // "…?" as url.Parse reads it
	req := &ps.req
	*req = http.Request{Method: method, URL: &ps.url, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: ps.header, Body: http.NoBody, Host: ps.url.Host}
	if len(b) > 0 {
		ps.body = partBody{b: b}
		ps.body.r.Reset(b)
		req.Body, req.ContentLength = &ps.body, int64(len(b))
	}
	return req, splitPath(ps.url.Path), ps
}

// partState holds what serving a batch part takes: its request (when
// partRequest makes it), the call and the recorder of its answer. They
// are kept between parts (partStates), with their header maps.
type partState struct {
	req    http.Request
	url    url.URL
	body   partBody
	header http.Header // the request's
	call   call
	rec    recorder
}

// partStates holds partStates between parts.
var partStates = sync.Pool{New: func() any {
	return &partState{header: make(http.Header, 8), rec: recorder{h: make(http.Header, 8)}}
}}

// release empties ps and gives it back to partStates; its header maps
// are kept, emptied, unless they grew large.
func (ps *partState) release() {
	h, rh := ps.header, ps.rec.h
	*ps = partState{}
	if len(h) > 16 || len(rh) > 16 {
		return
	}
	clear(h)
	clear(rh)
	ps.header, ps.rec.h = h, rh
	partStates.Put(ps)
}

// plainPathByte reports whether c stands for itself in a URL path:
// url.URL's escaping of a path leaves it as it is and it is not '%'.
func plainPathByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~$&+,/:;=@", c) >= 0
}

// partBody is the body of a batch part's request: b, read by preread in
// place (it is the batch request's bytes, which outlive the part) and
// by any other reader through r.
type partBody struct {
	b []byte
	r bytes.Reader
}

func (p *partBody) Read(b []byte) (int, error) { return p.r.Read(b) }
func (p *partBody) Close() error               { return nil }

// setHeader sets name to value in a list of headers, as a map would.
func setHeader(h [][2]string, name, value string) [][2]string {
	for i := range h {
		if h[i][0] == name {
			h[i][1] = value
			return h
		}
	}
	return append(h, [2]string{name, value})
}

// parseBatchRequests reads the requests of a batch body as json.Unmarshal
// reads {"requests":[…]} into []batchRequest. The plain form — member
// names spelt as documented, each once, in ASCII without escapes; strings
// where strings go — is read in one pass, each body kept as a slice of
// raw; any other form, valid or not, goes to json.Unmarshal, so the result
// and the refusal of a malformed batch are encoding/json's.
func parseBatchRequests(raw []byte) ([]batchRequest, error) {
	if reqs, ok := scanBatchRequests(raw); ok {
		return reqs, nil
	}
	var req struct {
		Requests []batchRequest `json:"requests"`
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, err
	}
	return req.Requests, nil
}

// batchScanner reads the plain form of a batch request.
type batchScanner struct {
	b []byte
	i int
	// lastRaw and last are the latest escaped string read and its value:
	// parts repeat their headers (Prefer: outlook.timezone="UTC").
	lastRaw []byte
	last    string
	// lastHeadersRaw and lastHeaders are the latest headers object read
	// and its map: parts mostly carry the same headers.
	lastHeadersRaw []byte
	lastHeaders    map[string]string
}

// batchStrings are strings batch requests are made of (methods, common
// header names and values), decoded once rather than for every part.
var batchStrings = func() map[string]string {
	m := map[string]string{}
	for _, s := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodPut,
		"Content-Type", "content-type", "application/json", "Prefer", "prefer", "client-request-id",
		"ConsistencyLevel", "eventual", "If-Match", "id", "method", "url", "headers", "body", "dependsOn", "requests"} {
		m[s] = s
	}
	return m
}()

// batchString returns b as a string, one of batchStrings when it is one.
func batchString(b []byte) string {
	if s, ok := batchStrings[string(b)]; ok {
		return s
	}
	return string(b)
}

// unquoteSimple unquotes a JSON string (quotes included) of printable
// ASCII whose only escapes are the two-character ones (\" \\ \/ \b \f \n
// \r \t): the value json.Unmarshal gives it. ok is false for any other
// string.
func unquoteSimple(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	var buf [256]byte
	out := buf[:0]
	for i := 1; i < len(raw)-1; i++ {
		c := raw[i]
		switch {
		case c < 0x20 || c >= 0x80 || c == '"':
			return "", false
		case c != '\\':
			out = append(out, c)
			continue
		}
		if i++; i == len(raw)-1 {
			return "", false
		}
		switch e := raw[i]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		default:
			return "", false
		}
	}
	return string(out), true
}

func (p *batchScanner) ws() byte {
	for p.i < len(p.b) {
		switch c := p.b[p.i]; c {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return c
		}
	}
	return 0
}

// eat consumes c after blank space.
func (p *batchScanner) eat(c byte) bool {
	if p.ws() != c {
		return false
	}
	p.i++
	return true
}

// str reads a string value: one of printable ASCII without escapes as
// it is, any other (escapes, non-ASCII bytes) checked by skip and
// unquoted by encoding/json, so its value is the one json.Unmarshal gives
// (Graph's own headers carry escaped quotes: Prefer: outlook.timezone="UTC").
func (p *batchScanner) str() (string, bool) {
	if p.ws() != '"' {
		return "", false
	}
	start := p.i
	for p.i++; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			return batchString(p.b[start+1 : p.i-1]), true
		case c == '\\' || c < 0x20 || c >= 0x80:
			p.i = start
			raw, ok := p.skip(1)
			if !ok {
				return "", false
			}
			if p.lastRaw != nil && bytes.Equal(raw, p.lastRaw) {
				return p.last, true
			}
			v, ok := unquoteSimple(raw)
			if !ok && json.Unmarshal(raw, &v) != nil {
				return "", false
			}
			p.lastRaw, p.last = raw, v
			return v, true
		}
	}
	return "", false
}

// key reads a member name of printable ASCII without escapes.
func (p *batchScanner) key() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	start := p.i
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			return batchString(p.b[start : p.i-1]), true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", false
		}
	}
	return "", false
}

// members reads an object, calling f with each key (printable ASCII, no
// escapes) positioned at its value.
func (p *batchScanner) members(f func(key string) bool) bool {
	if !p.eat('{') {
		return false
	}
	if p.eat('}') {
		return true
	}
	for {
		k, ok := p.key()
		if !ok || !p.eat(':') || !f(k) {
			return false
		}
		if p.eat(',') {
			continue
		}
		return p.eat('}')
	}
}

// skip consumes one JSON value, checked as encoding/json checks it (a
// string's bytes ≥ 0x20 are taken as they are, as json.RawMessage takes
// them), and returns its bytes.
func (p *batchScanner) skip(depth int) ([]byte, bool) {
	c := p.ws()
	start := p.i
	switch {
	case c == '"':
		p.i++
		for p.i < len(p.b) {
			c := p.b[p.i]
			switch {
			case c == '"':
				p.i++
				return p.b[start:p.i], true
			case c < 0x20:
				return nil, false
			case c == '\\':
				if p.i+1 >= len(p.b) {
					return nil, false
				}
				switch p.b[p.i+1] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
					p.i += 2
				case 'u':
					if p.i+6 > len(p.b) {
						return nil, false
					}
					for _, h := range p.b[p.i+2 : p.i+6] {
						if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
							return nil, false
						}
					}
					p.i += 6
				default:
					return nil, false
				}
			default:
				p.i++
			}
		}
		return nil, false
	case c == '{' || c == '[':
		if depth > 1000 {
			return nil, false // encoding/json decides
		}
		p.i++
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		if p.eat(closer) {
			return p.b[start:p.i], true
		}
		for {
			if c == '{' {
				if p.ws() != '"' {
					return nil, false
				}
				if _, ok := p.skip(depth + 1); !ok || !p.eat(':') {
					return nil, false
				}
			}
			if _, ok := p.skip(depth + 1); !ok {
				return nil, false
			}
			if p.eat(',') {
				continue
			}
			if !p.eat(closer) {
				return nil, false
			}
			return p.b[start:p.i], true
		}
	case c == '-' || '0' <= c && c <= '9':
		if c == '-' {
			p.i++
		}
		digits := func() int {
			n := 0
			for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
				p.i++
				n++
			}
			return n
		}
		if p.i < len(p.b) && p.b[p.i] == '0' {
			p.i++
		} else if digits() == 0 {
			return nil, false
		}
		if p.i < len(p.b) && p.b[p.i] == '.' {
			p.i++
			if digits() == 0 {
				return nil, false
			}
		}
		if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
			p.i++
			if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
				p.i++
			}
			if digits() == 0 {
				return nil, false
			}
		}
		return p.b[start:p.i], true
	}
	for _, lit := range []string{"true", "false", "null"} {
		if bytes.HasPrefix(p.b[p.i:], []byte(lit)) {
			p.i += len(lit)
			return p.b[start:p.i], true
		}
	}
	return nil, false
}

// batchRequestFields are the members batchRequest decodes; a member that
// matches one only without regard to case is left to encoding/json.
var batchRequestFields = []string{"id", "method", "url", "headers", "body", "dependsOn"}

// otherSpelling reports whether k is a member name encoding/json would
// match to one of names although it is not spelt so.
func otherSpelling(k string, names ...string) bool {
	for _, n := range names {
		if k != n && strings.EqualFold(k, n) {
			return true
		}
	}
	return false
}

func scanBatchRequests(raw []byte) ([]batchRequest, bool) {
	p := &batchScanner{b: raw}
	var reqs []batchRequest
	seen := false
	ok := p.members(func(k string) bool {
		switch {
		case k == "requests" && !seen:
			seen = true
			if !p.eat('[') {
				return false
			}
			reqs = make([]batchRequest, 0, maxBatch)
			if p.eat(']') {
				return true
			}
			for {
				r, ok := p.request()
				if !ok {
					return false
				}
				reqs = append(reqs, r)
				if p.eat(',') {
					continue
				}
				return p.eat(']')
			}
		case strings.EqualFold(k, "requests"):
			return false
		}
		_, ok := p.skip(1)
		return ok
	})
	if !ok || p.ws() != 0 || p.i != len(raw) {
		return nil, false
	}
	return reqs, true
}

// request reads one request object.
func (p *batchScanner) request() (batchRequest, bool) {
	var r batchRequest
	var have [6]bool
	ok := p.members(func(k string) bool {
		i := slices.Index(batchRequestFields, k)
		if i < 0 {
			if otherSpelling(k, batchRequestFields...) {
				return false
			}
			_, ok := p.skip(1)
			return ok
		}
		if have[i] {
			return false // encoding/json's rules for a repeated member apply
		}
		have[i] = true
		var ok bool
		switch k {
		case "id":
			r.ID, ok = p.str()
		case "method":
			r.Method, ok = p.str()
		case "url":
			r.URL, ok = p.str()
		case "headers":
			p.ws()
			start := p.i
			if n := len(p.lastHeadersRaw); n > 0 && bytes.HasPrefix(p.b[start:], p.lastHeadersRaw) {
				// The headers of the part before, written the same: the
				// same map (parts' headers are only read).
				p.i += n
				r.Headers, ok = p.lastHeaders, true
				break
			}
			r.Headers = map[string]string{}
			ok = p.members(func(name string) bool {
				if _, dup := r.Headers[name]; dup {
					return false
				}
				v, ok := p.str()
				r.Headers[name] = v
				return ok
			})
			if ok {
				p.lastHeadersRaw, p.lastHeaders = p.b[start:p.i], r.Headers
			}
		case "body":
			r.Body, ok = p.skip(1)
		case "dependsOn":
			if !p.eat('[') {
				return false
			}
			r.DependsOn = []string{}
			if p.eat(']') {
				return true
			}
			for {
				d, ok := p.str()
				if !ok {
					return false
				}
				r.DependsOn = append(r.DependsOn, d)
				if p.eat(',') {
					continue
				}
				return p.eat(']')
			}
		}
		return ok
	})
	return r, ok
}
