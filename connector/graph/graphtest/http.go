package graphtest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// call is one Graph request being served.
type call struct {
	s        *Server
	w        http.ResponseWriter
	r        *http.Request
	segs     []string // canonical path segments after /v1.0
	query    url.Values
	tok      *accessToken
	reqID    string
	clientID string // client-request-id echoed back
	prefer   preferences
	status   int
	inBatch  bool
	// bodyApplied records that Preference-Applied for the body type was sent.
	bodyApplied bool
	// written are run once the deferred answer is written (afterWrite).
	written []func()
	// scratch holds the computed properties of the event being written
	// (see computedFields), reused from one event to the next; scratchRef
	// is the pooled buffer it came from (scratchBuf, releaseScratch).
	scratch    []byte
	scratchRef *[]byte
	// body is the request's body, decoded (preread, readBody).
	body readBodyResult
	// deferred holds back writeJSON until flush (see writeJSON).
	deferred      bool
	hasPending    bool
	pending       any
	pendingStatus int
	// pendingEvent, when not nil, is the pending answer instead of
	// pending: an event's JSON (writeEvent), in the pooled buffer
	// eventRef, given back once it is written.
	pendingEvent renderedJSON
	eventRef     *[]byte
}

// noBody is the pending answer of noContent.
type noBody struct{}

// flush writes a deferred answer.
func (c *call) flush() {
	c.deferred = false
	if c.hasPending {
		c.hasPending = false
		if c.pendingEvent != nil {
			c.writeEventJSON(c.pendingStatus, c.pendingEvent, c.eventRef)
		} else if _, ok := c.pending.(noBody); ok {
			c.noContent()
		} else {
			c.writeJSON(c.pendingStatus, c.pending)
		}
		c.pending, c.pendingEvent, c.eventRef = nil, nil, nil
	}
	for _, f := range c.written {
		f()
	}
	c.written = nil
}

// afterWrite runs f once the answer is written: at once, or, for an
// answer deferred, after flush writes it. f gives back what the answer
// is built of (a pooled buffer).
func (c *call) afterWrite(f func()) {
	if c.deferred {
		c.written = append(c.written, f)
		return
	}
	f()
}

// canonicalSegments maps the lower-case spelling of every path segment the
// emulator knows to its canonical spelling: Graph URL segments are
// case-insensitive (the docs' own examples mix /contactfolders/ and
// /contactFolders/, graph-examples/contact-delta-response-1.json).
var canonicalSegments = func() map[string]string {
	m := map[string]string{}
	for _, s := range []string{"users", "groups", "me", "calendarView", "calendar", "delta", "events",
		"instances", "contactFolders", "contacts", "todo", "lists", "tasks", "mailFolders", "messages",
		"members", "transitiveMembers", "microsoft.graph.user", "$metadata", "$batch", "$count", "v1.0"} {
		m[strings.ToLower(s)] = s
	}
	// OData function and cast spellings that SDKs generate (msgraph-sdk-go
	// URL templates: ".../calendarView/delta()", ".../transitiveMembers/graph.user").
	for _, alias := range []string{"delta()", "microsoft.graph.delta()", "microsoft.graph.delta", "graph.delta()"} {
		m[alias] = "delta"
	}
	m["graph.user"] = "microsoft.graph.user"
	return m
}()

func splitPath(p string) []string {
	var out []string
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" {
			continue
		}
		if out == nil {
			out = make([]string, 0, strings.Count(p, "/")+1)
		}
		if c, ok := canonicalSegments[strings.ToLower(seg)]; ok {
			seg = c
		}
		out = append(out, seg)
	}
	return out
}

// ServeHTTP serves the identity platform (under /{tenant}/...) and Graph
// (under /v1.0/...).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.stats.begin()
	defer s.stats.end()
	segs := splitPath(r.URL.EscapedPath())
	for i, seg := range segs {
		if u, err := url.PathUnescape(seg); err == nil {
			segs[i] = u
		}
	}
	if len(segs) > 0 && segs[0] == "v1.0" {
		if s.opts.Latency > 0 && s.opts.LatencyIncludesService {
			lw := &latencyWriter{ResponseWriter: w, until: time.Now().Add(s.opts.Latency)}
			defer lw.wait()
			w = lw
		}
		s.serveGraph(w, r, segs[1:], false)
		return
	}
	if s.opts.Latency > 0 {
		time.Sleep(s.opts.Latency)
	}
	if s.applyFaults(w, r, "", false, false) {
		return
	}
	if after := s.faults.takeAfterCommit(r, "", ""); after != nil {
		rec := newRecorder()
		s.serveIdentity(rec, r, segs)
		if after.Kind == FaultTruncate {
			s.stats.add(func(st *Stats) { st.Faults++ })
			writeTruncated(w, rec)
			return
		}
		s.writeFault(w, r, after)
		return
	}
	s.serveIdentity(w, r, segs)
}

// serveGraph authenticates, throttles and dispatches one Graph request.
func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request, segs []string, inBatch bool) {
	s.serveGraphCall(&call{}, w, r, segs, inBatch)
}

// serveGraphCall is serveGraph with the call's value given (zero); the
// call is not used once it returns.
func (s *Server) serveGraphCall(c *call, w http.ResponseWriter, r *http.Request, segs []string, inBatch bool) {
	*c = call{s: s, w: w, r: r, segs: segs, query: r.URL.Query(), reqID: requestID(), inBatch: inBatch}
	defer c.releaseScratch()
	c.clientID = r.Header.Get("Client-Request-Id") // canonical, so Get need not make it
	if c.clientID == "" {
		c.clientID = c.reqID
	}
	c.prefer = parsePrefer(r.Header.Values("Prefer"))
	// Set as Header.Set sets them, under their canonical names.
	h := w.Header()
	ids := []string{c.reqID, c.clientID}
	h["Request-Id"] = ids[0:1:1]
	h["Client-Request-Id"] = ids[1:2:2]

	// Latency is spent while the request holds its mailbox slot, so that
	// the concurrency limit sees requests for as long as they take.
	// With LatencyIncludesService the answer is held back instead
	// (latencyWriter), and the request holds its slot until it is written.
	slept := false
	sleep := func() {
		if !inBatch && !slept && s.opts.Latency > 0 && !s.opts.LatencyIncludesService {
			slept = true
			time.Sleep(s.opts.Latency)
		}
	}
	defer sleep()
	// $metadata is served without a token, as the service does
	// (https://graph.microsoft.com/v1.0/$metadata is public).
	if len(segs) == 1 && segs[0] == "$metadata" {
		s.stats.count("metadata", "")
		sleep()
		s.serveMetadata(c)
		return
	}
	// Every other request needs a valid bearer token (facts §8; Graph answers
	// 401 InvalidAuthenticationToken, e.g. when an SDK drops the
	// Authorization header for a host outside its allowed list — DEPENDENCIES.md).
	if !s.authenticate(c) {
		return
	}
	// /me is the signed-in user; application tokens have none (OBSERVED:
	// Graph answers 400 "/me request is only valid with delegated authentication flow.").
	if len(c.segs) > 0 && c.segs[0] == "me" {
		if c.tok.user == "" {
			c.fail(http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow.")
			return
		}
		c.segs = append([]string{"users", c.tok.user}, c.segs[1:]...)
	}
	mailboxUser, mailboxUPN := "", ""
	if len(c.segs) > 2 && c.segs[0] == "users" && isMailboxSegment(c.segs[2]) {
		mailboxUser, mailboxUPN = s.mailboxUser(c.segs[1])
	}
	kind := requestKind(c.segs, r.Method)
	s.stats.count(kind, mailboxUser)
	if mailboxUser != "" {
		release, ok := s.limits.acquire(c, mailboxUser)
		if !ok {
			return
		}
		defer release()
		if lw, ok := w.(*latencyWriter); ok {
			defer lw.wait() // before the slot is given back
		}
	} else if len(c.segs) > 0 && (c.segs[0] == "users" || c.segs[0] == "groups") {
		if !s.limits.directory(c) {
			return
		}
	}
	sleep()
	if s.applyFaults(w, r, mailboxUser, inBatch, kind == "batch") {
		return
	}
	after := s.faults.takeAfterCommit(r, mailboxUser, mailboxUPN)
	if after != nil && inBatch && (after.Kind == FaultReset || after.Kind == FaultTruncate) {
		// A part of a batch has no connection of its own to reset or cut:
		// it answers 503 after committing, as a part whose backend timed
		// out after the change was made (facts §4.4).
		ft := *after
		ft.Kind = FaultUnavailable
		after = &ft
	}
	if after != nil {
		// The request runs (and commits) but the client sees the fault, as
		// when the answer is lost on the way back.
		rec := newRecorder()
		c.w = rec
		s.route(c)
		if after.Kind == FaultTruncate {
			s.stats.add(func(st *Stats) { st.Faults++ })
			writeTruncated(w, rec)
			return
		}
		s.writeFault(w, r, after)
		return
	}
	s.route(c)
}

// latencyWriter holds back a Graph answer until its request's latency
// has passed since it arrived (Options.LatencyIncludesService): the first
// write of the status, the body or a hijack of the connection, and the end
// of the request, wait until then.
type latencyWriter struct {
	http.ResponseWriter
	until  time.Time
	waited bool
}

// wait sleeps until the answer may go, once.
func (l *latencyWriter) wait() {
	if l.waited {
		return
	}
	l.waited = true
	if d := time.Until(l.until); d > 0 {
		time.Sleep(d)
	}
}

// WriteHeader waits, then writes the status.
func (l *latencyWriter) WriteHeader(code int) {
	l.wait()
	l.ResponseWriter.WriteHeader(code)
}

// Write waits, then writes b.
func (l *latencyWriter) Write(b []byte) (int, error) {
	l.wait()
	return l.ResponseWriter.Write(b)
}

// Hijack waits, then hands over the connection (a reset fault).
func (l *latencyWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	l.wait()
	hj, ok := l.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	return hj.Hijack()
}

// mailboxUser resolves the user of /users/{key}/...: id and user
// principal name, "" for an unknown user. It shares the store's lock with
// the mailbox reads.
func (s *Server) mailboxUser(key string) (id, upn string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if u := s.findUser(key); u != nil {
		return u.ID, u.UserPrincipalName
	}
	return "", ""
}

// isMailboxSegment reports whether a segment under /users/{id}/ addresses
// Exchange mailbox data.
func isMailboxSegment(seg string) bool {
	switch seg {
	case "calendarView", "calendar", "events", "contactFolders", "contacts", "todo", "mailFolders", "messages":
		return true
	}
	return false
}

// requestKind names the kind of a request for Stats.
func requestKind(segs []string, method string) string {
	if len(segs) == 0 {
		return "other"
	}
	switch segs[0] {
	case "$batch":
		return "batch"
	case "groups":
		return "groups"
	case "users":
		if len(segs) <= 2 || segs[len(segs)-1] == "$count" {
			return "users"
		}
	default:
		return "other"
	}
	rest := segs[2:]
	last := rest[len(rest)-1]
	switch rest[0] {
	case "calendarView":
		if last == "delta" {
			return "calendarView.delta"
		}
		return "calendarView"
	case "events", "calendar":
		if last == "instances" {
			return "events.instances"
		}
		return methodKind("events.", method)
	case "contacts", "contactFolders":
		if last == "delta" {
			return "contacts.delta"
		}
		return methodKind("contacts.", method)
	case "todo":
		if last == "delta" {
			return "tasks.delta"
		}
		return methodKind("tasks.", method)
	case "mailFolders", "messages":
		if last == "delta" {
			return "messages.delta"
		}
		return "messages"
	}
	return "other"
}

// methodKind is kind+strings.ToLower(method), the kinds of the usual
// methods written once.
func methodKind(kind, method string) string {
	if kind == "events." {
		switch method {
		case http.MethodGet:
			return "events.get"
		case http.MethodPost:
			return "events.post"
		case http.MethodPatch:
			return "events.patch"
		case http.MethodDelete:
			return "events.delete"
		}
	}
	return kind + strings.ToLower(method)
}

// route dispatches an authenticated Graph request.
func (s *Server) route(c *call) {
	segs := c.segs
	m := c.r.Method
	if len(segs) == 0 {
		c.notFoundSegment("")
		return
	}
	switch segs[0] {
	case "$batch":
		if m != http.MethodPost {
			c.methodNotAllowed()
			return
		}
		s.serveBatch(c)
		return
	case "users":
		switch {
		case len(segs) == 1:
			c.only(m, http.MethodGet, func() { s.serveUserList(c, false) })
		case len(segs) == 2 && segs[1] == "$count":
			c.only(m, http.MethodGet, func() { s.serveUserList(c, true) })
		case len(segs) == 2:
			c.only(m, http.MethodGet, func() { s.serveUserGet(c, segs[1]) })
		default:
			s.routeMailbox(c, segs[1], segs[2:])
		}
		return
	case "groups":
		s.routeGroups(c, segs[1:])
		return
	}
	c.notFoundSegment(segs[0])
}

// only runs f if the method is allowed, else answers 405.
func (c *call) only(method, allowed string, f func()) {
	if method != allowed {
		c.methodNotAllowed()
		return
	}
	f()
}

func (c *call) methodNotAllowed() {
	// Directory 405 as in graph-examples/batch-response-1.json (id 4).
	c.fail(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
}

func (c *call) notFoundSegment(seg string) {
	// OBSERVED: Graph's OData layer answers an unknown segment with 400
	// BadRequest "Resource not found for the segment '...'." (facts §12 lists
	// ResourceNotFound as UNCONFIRMED; this is the shape SDK issues show).
	c.fail(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+seg+"'.")
}

// errorBody builds Graph's error envelope (facts §12; errors.md; innerError
// with date, request-id and client-request-id as in
// graph-examples/batch-response-1.json).
func errorBody(code, message, reqID, clientReqID string, now time.Time) map[string]any {
	return map[string]any{"error": map[string]any{
		"code":    code,
		"message": message,
		"innerError": map[string]any{
			"date":              now.UTC().Format("2006-01-02T15:04:05"),
			"request-id":        reqID,
			"client-request-id": clientReqID,
		},
	}}
}

// fail writes an error envelope.
func (c *call) fail(status int, code, message string) {
	c.writeJSON(status, errorBody(code, message, c.reqID, c.clientID, c.s.now()))
}

// writeJSON writes v as the response body with OData's JSON content type.
// While the call defers its answer (it holds the store's lock), the body is
// kept and encoded by flush after the lock is released; rendered bodies
// share only values the store never changes in place.
func (c *call) writeJSON(status int, v any) {
	if c.deferred {
		c.dropPendingEvent()
		c.pending, c.pendingStatus, c.hasPending = v, status, true
		return
	}
	c.status = status
	if r, ok := v.(renderedJSON); ok {
		// Already JSON: written as it is, with the newline encoding
		// adds, without copying it into an answer buffer first.
		c.jsonHeaders(len(r) + 1)
		c.w.WriteHeader(status)
		_, _ = c.w.Write(r)
		_, _ = c.w.Write(newline)
		return
	}
	if l, ok := v.(jsonLine); ok {
		c.jsonHeaders(len(l))
		c.w.WriteHeader(status)
		_, _ = c.w.Write(l)
		return
	}
	bp := bodyPool.Get().(*[]byte)
	buf, err := appendJSON((*bp)[:0], v)
	if err != nil {
		// encoding/json writes nothing for a value it cannot encode.
		buf = buf[:0]
	} else {
		buf = append(buf, '\n')
	}
	defer func() {
		if cap(buf) <= 4<<20 {
			*bp = buf[:0]
			bodyPool.Put(bp)
		}
	}()
	c.jsonHeaders(len(buf))
	c.w.WriteHeader(status)
	_, _ = c.w.Write(buf)
}

// writeEventJSON writes an event's JSON as writeJSON writes a
// renderedJSON and then gives its buffer, taken from eventPool in ref,
// back; while the call defers its answer it is kept for flush.
func (c *call) writeEventJSON(status int, out renderedJSON, ref *[]byte) {
	if c.deferred {
		c.dropPendingEvent()
		c.pending, c.pendingEvent, c.eventRef, c.pendingStatus, c.hasPending = nil, out, ref, status, true
		return
	}
	c.status = status
	c.jsonHeaders(len(out) + 1)
	c.w.WriteHeader(status)
	_, _ = c.w.Write(out)
	_, _ = c.w.Write(newline)
	if cap(out) <= 64<<10 {
		*ref = out[:0]
		eventPool.Put(ref)
	}
}

// dropPendingEvent gives back the buffer of a pending event answer that
// another answer replaces.
func (c *call) dropPendingEvent() {
	if c.pendingEvent != nil {
		if cap(c.pendingEvent) <= 64<<10 {
			*c.eventRef = c.pendingEvent[:0]
			eventPool.Put(c.eventRef)
		}
		c.pendingEvent, c.eventRef = nil, nil
	}
}

var newline = []byte{'\n'}

// jsonLine is a whole JSON answer as writeJSON writes it: an encoded
// value and the newline after it.
type jsonLine []byte

// The values of the headers of every JSON answer, shared by the answers'
// header maps (each holds one value, so an Add makes a new slice).
var (
	jsonContentType = []string{"application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"}
	odataVersion    = []string{"4.0"}
	noCache         = []string{"no-cache"}
)

// jsonHeaders sets the headers of a JSON answer of n bytes.
func (c *call) jsonHeaders(n int) {
	h := c.w.Header()
	h["Content-Type"] = jsonContentType[:1:1]
	h["Odata-Version"] = odataVersion[:1:1]
	h["Cache-Control"] = noCache[:1:1]
	if !c.inBatch {
		// The answer is whole before it is sent: its length goes ahead of
		// it (RFC 9112 §6.3), so a client reads it into a buffer of its
		// size instead of following chunks. A part of a batch has no
		// headers of its own for this.
		h["Content-Length"] = []string{strconv.Itoa(n)}
	}
}

// noContent answers 204, the answer to DELETE in Graph. While the call
// defers its answer (see writeJSON) it is kept for flush.
func (c *call) noContent() {
	if c.deferred {
		c.dropPendingEvent()
		c.pending, c.pendingStatus, c.hasPending = noBody{}, http.StatusNoContent, true
		return
	}
	c.status = http.StatusNoContent
	c.w.WriteHeader(http.StatusNoContent)
}

// readBody decodes a JSON object body; it answers 400 itself on failure.
// A body decoded ahead (preread) is not read again.
func (c *call) readBody() (map[string]any, bool) {
	if !c.body.read {
		c.preread()
	}
	if c.body.err != nil {
		c.fail(c.body.err.Status, c.body.err.Code, c.body.err.Message)
		return nil, false
	}
	return c.body.value, true
}

// readBodyResult is a request body decoded by preread.
type readBodyResult struct {
	read  bool
	value map[string]any
	err   *Error // the answer to a body that cannot be read
}

// preread reads and decodes the request's JSON object body, keeping the
// result (or the service's answer to a body it cannot read) for
// readBody: a write decodes its body before it takes the store's locks.
func (c *call) preread() {
	c.body.read = true
	var data []byte
	var err error
	if pb, ok := c.r.Body.(*partBody); ok && pb.r.Size() == int64(pb.r.Len()) && len(pb.b) <= 4<<20 {
		// A batch part's body, unread: its bytes as they are.
		data = pb.b
		pb.r.Reset(nil)
	} else if n := c.r.ContentLength; n > 0 && n <= 4<<20 {
		// Read into one buffer of the announced length (a batch part's
		// body has one too).
		data = make([]byte, n)
		_, err = io.ReadFull(c.r.Body, data)
	} else {
		data, err = io.ReadAll(io.LimitReader(c.r.Body, 4<<20))
	}
	if err != nil {
		c.body.err = &Error{Status: http.StatusBadRequest, Code: "BadRequest", Message: "Unable to read the request body."}
		return
	}
	if m, ok := decodePlainObject(data); ok {
		c.body.value = m
		return
	}
	var body map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil || body == nil {
		// OData's answer to a body it cannot read (OBSERVED: code
		// "RequestBodyRead" / "BadRequest" "Empty Payload. JSON content expected.").
		if len(bytes.TrimSpace(data)) == 0 {
			c.body.err = &Error{Status: http.StatusBadRequest, Code: "BadRequest", Message: "Empty Payload. JSON content expected."}
		} else {
			c.body.err = &Error{Status: http.StatusBadRequest, Code: "RequestBodyRead", Message: "Invalid JSON. An unexpected character was encountered: " + errString(err)}
		}
		return
	}
	c.body.value = normalizeNumbers(body).(map[string]any)
}

func errString(err error) string {
	if err == nil {
		return "not an object"
	}
	return err.Error()
}

// normalizeNumbers turns json.Number into int64 or float64.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
		return x
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// preferences holds the Prefer header values the emulator honours (facts §3).
type preferences struct {
	maxPageSize int
	timeZone    string
	immutableID bool
	bodyText    bool
	applied     []string
}

func parsePrefer(values []string) preferences {
	var p preferences
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			name, val, _ := strings.Cut(part, "=")
			name = strings.TrimSpace(name)
			val = strings.Trim(strings.TrimSpace(val), "\"")
			switch strings.ToLower(name) {
			case "odata.maxpagesize":
				n := 0
				for _, ch := range val {
					if ch < '0' || ch > '9' {
						n = 0
						break
					}
					n = n*10 + int(ch-'0')
					if n > 1<<20 {
						break
					}
				}
				p.maxPageSize = n
			case "outlook.timezone":
				p.timeZone = val
			case "idtype":
				p.immutableID = strings.EqualFold(val, "ImmutableId")
			case "outlook.body-content-type":
				p.bodyText = strings.EqualFold(val, "text")
			}
		}
	}
	return p
}

// b64std encodes with the standard alphabet and padding (change keys).
func b64std(b []byte) string { return encodeShort(base64.StdEncoding, b) }

// encodeShort is enc.EncodeToString(b), written on the stack first when
// short (ids, change keys), so that only the string is allocated.
func encodeShort(enc *base64.Encoding, b []byte) string {
	var buf [64]byte
	if enc.EncodedLen(len(b)) > len(buf) {
		return enc.EncodeToString(b)
	}
	return string(enc.AppendEncode(buf[:0], b))
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// b64url encodes without padding, URL-safe.
func b64url(b []byte) string { return encodeShort(base64.RawURLEncoding, b) }

// link builds an absolute Graph URL.
func (s *Server) link(path string, q url.Values) string {
	u := s.base + "/v1.0" + path
	if len(q) > 0 {
		u += "?" + encodeQuery(q)
	}
	return u
}

// encodeQuery encodes like url.Values.Encode but keeps '$' readable, as
// Graph's own links do ($skiptoken=..., $deltatoken=...).
func encodeQuery(q url.Values) string {
	return strings.ReplaceAll(q.Encode(), "%24", "$")
}

// contextURL is the @odata.context value for a fragment.
func (s *Server) contextURL(fragment string) string {
	return s.base + "/v1.0/$metadata#" + fragment
}
