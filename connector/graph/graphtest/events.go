package graphtest

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// renderEvent renders an event as Graph returns it. tzName is the Prefer:
// outlook.timezone zone ("" = UTC, facts §3).
func (s *Server) renderEvent(it *item, tzName string, immutable bool) map[string]any {
	// Shallow: nested values are shared with the store and must not be
	// changed by callers (the exported accessors deep-copy).
	m := maps.Clone(it.data)
	if it.master != "" {
		delete(m, "transactionId")
	}
	for _, f := range eventFields(it, tzName, immutable, nil) {
		m[f.k] = f.v
	}
	return m
}

// eventFields appends to fs the properties the service computes for an
// event, which replace or join its stored data in a rendering (see
// renderEvent). computedFields gives the same properties as their JSON.
func eventFields(it *item, tzName string, immutable bool, fs []kv) []kv {
	if it.icaluid != "" {
		fs = append(fs, kv{k: "iCalUId", v: it.icaluid})
	}
	if tzName == "" {
		tzName = "UTC"
	}
	id := extID(it.id, immutable)
	var master any
	if it.master != "" {
		master = extID(it.master, immutable)
	}
	fs = append(fs,
		kv{k: "@odata.etag", v: `W/"` + it.changeKey + `"`},
		kv{k: "id", v: id},
		kv{k: "createdDateTime", v: it.created.UTC().Format(graphTimeLayout + "Z")},
		kv{k: "lastModifiedDateTime", v: it.modified.UTC().Format(graphTimeLayout + "Z")},
		kv{k: "changeKey", v: it.changeKey},
		kv{k: "originalStartTimeZone", v: it.startTZ},
		kv{k: "originalEndTimeZone", v: it.endTZ},
		kv{k: "start", v: dtz(it.start, tzName)},
		kv{k: "end", v: dtz(it.end, tzName)},
		kv{k: "type", v: it.etype},
		kv{k: "seriesMasterId", v: master},
		kv{k: "webLink", v: "https://outlook.office365.com/owa/?itemid=" + url.QueryEscape(id) + "&exvsurl=1&path=/calendar/item"},
	)
	return withRecurrence(it, fs)
}

// withRecurrence appends recurrence null for an event that is not a
// series master with a recurrence.
func withRecurrence(it *item, fs []kv) []kv {
	if _, ok := it.data["recurrence"]; !ok || it.etype != "seriesMaster" {
		fs = append(fs, kv{k: "recurrence"})
	}
	return fs
}

// appendQuotedTime appends t in layout as a JSON string: the layouts of
// Graph's times hold no character JSON escapes, so the quoted text is what
// appendJSON writes for the string.
func appendQuotedTime(dst []byte, t time.Time, layout string) []byte {
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, layout)
	return append(dst, '"')
}

// appendEvent appends the JSON of c.renderEvent(it, tzName) with extra
// properties added, written without building the rendered map (delta
// pages render every event of a mailbox): the stored properties copied
// from their encoding (storedJSON) when the event has one, else encoded
// from its map (appendEventData).
func (c *call) appendEvent(dst []byte, it *item, tzName string, extra ...kv) ([]byte, error) {
	return c.appendEventSelect(dst, it, tzName, nil, extra...)
}

// appendEventSelect is appendEvent with only the properties a $select of
// sel keeps (none: all; see project).
func (c *call) appendEventSelect(dst []byte, it *item, tzName string, sel []string, extra ...kv) ([]byte, error) {
	st := it.storedFor()
	if st == nil {
		if len(sel) > 0 {
			m := project(c.renderEvent(it, tzName), sel, nil)
			for _, f := range extra {
				m[f.k] = f.v
			}
			return appendJSON(dst, m)
		}
		return c.appendEventData(dst, it, tzName, extra...)
	}
	var buf [24]kv
	fs, scratch := computedFields(it, tzName, c.prefer.immutableID, st.names.recurrence, buf[:0], c.scratchBuf())
	defer c.keepScratch(scratch)
	sorted := len(fs)
	if c.prefer.bodyText {
		fs = c.textBody(it.data, fs)
	}
	fs = sortFields(append(fs, extra...), sorted)
	drop := ""
	if it.master != "" {
		drop = "transactionId"
	}
	return appendMerged(dst, st, fs, drop, sel)
}

// appendEventData is appendEvent with the stored properties encoded from
// the event's map.
func (c *call) appendEventData(dst []byte, it *item, tzName string, extra ...kv) ([]byte, error) {
	_, rec := it.data["recurrence"]
	var buf [24]kv
	fs, scratch := computedFields(it, tzName, c.prefer.immutableID, rec, buf[:0], c.scratchBuf())
	defer c.keepScratch(scratch)
	if c.prefer.bodyText {
		fs = c.textBody(it.data, fs)
	}
	fs = append(fs, extra...)
	drop := ""
	if it.master != "" {
		drop = "transactionId"
	}
	return appendJSONOverlay(dst, it.data, fs, drop, eventKeys())
}

// scratchBuf returns the call's scratch buffer, empty (never nil): one
// from scratchPool, given back when the call ends (releaseScratch).
func (c *call) scratchBuf() []byte {
	if c.scratch == nil {
		c.scratchRef = scratchPool.Get().(*[]byte)
		c.scratch = (*c.scratchRef)[:0]
	}
	return c.scratch[:0]
}

// scratchPool holds the calls' scratch buffers between requests.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// releaseScratch gives the call's scratch buffer back to scratchPool,
// once nothing the call wrote refers to it any more (its answer is
// written).
func (c *call) releaseScratch() {
	if c.scratchRef == nil {
		return
	}
	if cap(c.scratch) <= 64<<10 {
		*c.scratchRef = c.scratch[:0]
		scratchPool.Put(c.scratchRef)
	}
	c.scratch, c.scratchRef = nil, nil
}

// keepScratch keeps b, grown from scratchBuf, for the next event.
func (c *call) keepScratch(b []byte) { c.scratch = b[:0] }

// eventKeys orders the property names of rendered events.
var eventKeys = sync.OnceValue(func() *keyOrder {
	return newKeyOrder(eventWritable, eventReadOnly, []string{"@odata.etag", "@odata.type", "@odata.context",
		"originalStartTimeZone", "originalEndTimeZone", "recurrence", "bodyPreview", "iCalUId"})
})

var (
	tagRE  = regexp.MustCompile(`<[^>]*>`)
	headRE = regexp.MustCompile(`(?is)<head.*?</head>`)
)

// preview is the first 255 characters of the body's text (bodyPreview).
func preview(content string) string {
	if strings.Contains(content, "<") { // tagRE matches from a '<' only
		content = tagRE.ReplaceAllString(content, " ")
	}
	t := strings.TrimSpace(strings.Join(strings.Fields(content), " "))
	if len(t) > 255 { // else it has at most 255 characters
		if r := []rune(t); len(r) > 255 {
			t = string(r[:255])
		}
	}
	return t
}

// routeEvents serves /users/{id}/events[...] and /users/{id}/calendar/events.
func (s *Server) routeEvents(c *call, box *mailbox, userID string, rest []string) {
	m := c.r.Method
	n := len(rest)
	read := []string{"Calendars.Read", "Calendars.ReadBasic", "Calendars.ReadWrite", "Calendars.Read.Shared", "Calendars.ReadWrite.Shared"}
	write := []string{"Calendars.ReadWrite", "Calendars.ReadWrite.Shared"}
	if m != http.MethodGet {
		// Create, update, delete: Calendars.ReadWrite (facts §7, user-post-events.md).
		if !c.requireMailbox(write...) {
			return
		}
	} else if !c.requireMailbox(read...) {
		return
	}
	tz, ok := c.preferredZone()
	if !ok {
		return
	}
	entityCtx := box.eventContext
	if entityCtx == "" || userID != box.user {
		entityCtx = s.contextURL("users('" + userID + "')/events/$entity")
	}
	switch {
	case n == 1 && m == http.MethodGet:
		var items []map[string]any
		var ids []string
		for id, it := range box.events {
			if !it.deleted && (it.etype == "singleInstance" || it.etype == "seriesMaster") {
				ids = append(ids, id)
			}
		}
		sortItems(ids, box.events, true)
		sel := parseSelect(c.query.Get("$select"))
		for _, id := range ids {
			items = append(items, project(c.renderEvent(box.events[id], tz), withID(sel), nil))
		}
		c.writePage("/users/"+userID+"/events", items, 10, 1000, "users('"+userID+"')/events", false)
	case n == 1 && m == http.MethodPost:
		body, ok := c.readBody()
		if !ok {
			return
		}
		it, _, e := s.createEvent(box, body)
		if e != nil {
			c.failErr(e)
			return
		}
		c.writeEvent(http.StatusCreated, it, c.responseZone(it), entityCtx)
	case n == 2:
		it := c.lookup(box.events, rest[1])
		if it == nil {
			return
		}
		switch m {
		case http.MethodGet:
			// Written as writeEvent writes an event, with the properties of
			// the $select.
			c.writeEvent(http.StatusOK, it, tz, entityCtx, withID(parseSelect(c.query.Get("$select")))...)
		case http.MethodPatch:
			body, ok := c.readBody()
			if !ok {
				return
			}
			n, e := s.patchEvent(box, it, body)
			if e != nil {
				c.failErr(e)
				return
			}
			c.writeEvent(http.StatusOK, n, c.responseZone(n), entityCtx)
		case http.MethodDelete:
			s.deleteEvent(box, it)
			c.noContent()
		default:
			c.methodNotAllowed()
		}
	case n == 3 && rest[2] == "instances" && m == http.MethodGet:
		it := c.lookup(box.events, rest[1])
		if it == nil {
			return
		}
		start, end, ok := c.window()
		if !ok {
			return
		}
		var items []map[string]any
		if it.etype == "seriesMaster" {
			var ids []string
			for id, inst := range box.events {
				if inst.master == it.id && !inst.deleted && overlaps(inst.start, inst.end, start, end) {
					ids = append(ids, id)
				}
			}
			sortItems(ids, box.events, true)
			sel := withID(parseSelect(c.query.Get("$select")))
			for _, id := range ids {
				items = append(items, project(c.renderEvent(box.events[id], tz), sel, nil))
			}
		}
		c.writePage("/users/"+userID+"/events/"+rest[1]+"/instances", items, 10, 1000, "users('"+userID+"')/events('"+rest[1]+"')/instances", false)
	default:
		c.notFoundOrMethod(n, 3)
	}
}

// writeEvent answers status with the event as c.renderEvent renders it in
// tzName, with @odata.context and, with sel, only the properties a
// $select of sel keeps (project): its JSON is written straight from the
// stored data (appendEventSelect) while the call holds the mailbox,
// instead of building the rendered map to encode after the lock is
// released.
func (c *call) writeEvent(status int, it *item, tzName, context string, sel ...string) {
	bp := eventPool.Get().(*[]byte)
	out, err := c.appendEventSelect((*bp)[:0], it, tzName, sel, kv{k: "@odata.context", v: context})
	if err != nil {
		// What writeJSON does with a value it cannot encode.
		m := project(c.renderEvent(it, tzName), sel, nil)
		m["@odata.context"] = context
		c.writeJSON(status, m)
		return
	}
	c.writeEventJSON(status, out, bp)
}

// eventPool holds the buffers of single events' answers (writeEvent),
// between requests.
var eventPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// renderEvent renders an event for this request: its id form (Prefer:
// IdType) and body type (Prefer: outlook.body-content-type="text" converts
// an HTML body to text; facts §3, event-get.md).
func (c *call) renderEvent(it *item, tzName string) map[string]any {
	m := c.s.renderEvent(it, tzName, c.prefer.immutableID)
	if c.prefer.bodyText {
		for _, f := range c.textBody(m, nil) {
			m[f.k] = f.v
		}
	}
	return m
}

// textBody appends to fs the text form of an HTML body of m, for Prefer:
// outlook.body-content-type="text", and notes the preference as applied.
func (c *call) textBody(m map[string]any, fs []kv) []kv {
	if b, ok := m["body"].(map[string]any); ok && b["contentType"] == "html" {
		content, _ := b["content"].(string)
		fs = append(fs, kv{k: "body", v: map[string]any{"contentType": "text", "content": htmlToText(content)}})
	}
	if !c.bodyApplied {
		c.bodyApplied = true
		c.w.Header().Add("Preference-Applied", `outlook.body-content-type="text"`)
	}
	return fs
}

// htmlToText drops tags and collapses blank space.
func htmlToText(h string) string {
	h = headRE.ReplaceAllString(h, "")
	return strings.TrimSpace(strings.Join(strings.Fields(tagRE.ReplaceAllString(h, " ")), " "))
}

// withID adds id to a non-empty $select: Outlook always returns id
// (facts §2: "id always returned").
func withID(sel []string) []string {
	if len(sel) == 0 || containsFold(sel, "id") {
		return sel
	}
	return append(sel, "id")
}

// preferredZone validates Prefer: outlook.timezone; unknown names answer
// 400 (facts §3: IANA names are rejected; OBSERVED code).
func (c *call) preferredZone() (string, bool) {
	if c.prefer.timeZone == "" {
		return "", true
	}
	z, ok := findZone(c.prefer.timeZone)
	if !ok {
		c.fail(http.StatusBadRequest, "TimeZoneNotSupportedException", fmt.Sprintf("A valid TimeZone value must be specified. The following TimeZone value is not supported: '%s'.", c.prefer.timeZone))
		return "", false
	}
	// Set as Header.Set sets it: outlook.timezone="{zone}", its value
	// written once per zone (one value, so an Add makes a new slice).
	c.w.Header()["Preference-Applied"] = z.applied[:1:1]
	return z.name, true
}

// responseZone is the zone of a create/update answer: the preferred zone,
// else the zone the event was written in (as
// graph-examples/event-create-response-1.json shows).
func (c *call) responseZone(it *item) string {
	if tz, _ := c.preferredZone(); tz != "" {
		return tz
	}
	return it.startTZ
}

// window parses the required startDateTime and endDateTime of calendarView
// and instances (facts §1.1, §7; the error is the service's, OBSERVED).
func (c *call) window() (time.Time, time.Time, bool) {
	rs, re := c.query.Get("startDateTime"), c.query.Get("endDateTime")
	if rs == "" || re == "" {
		c.fail(http.StatusBadRequest, "ErrorInvalidParameter", "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.")
		return time.Time{}, time.Time{}, false
	}
	start, ok1 := parseQueryTime(rs)
	end, ok2 := parseQueryTime(re)
	if !ok1 || !ok2 {
		bad, name := rs, "StartDateTime"
		if ok1 {
			bad, name = re, "EndDateTime"
		}
		c.fail(http.StatusBadRequest, "ErrorInvalidParameter", fmt.Sprintf("The value '%s' of parameter '%s' is invalid.", bad, name))
		return time.Time{}, time.Time{}, false
	}
	if !end.After(start) {
		c.fail(http.StatusBadRequest, "ErrorInvalidParameter", "The parameter 'EndDateTime' must be later than 'StartDateTime'.")
		return time.Time{}, time.Time{}, false
	}
	return start, end, true
}

// serveCalendarViewDelta serves GET /users/{id}/calendarView/delta (facts §1.1).
func (s *Server) serveCalendarViewDelta(c *call, box *mailbox, userID string) {
	// "doesn't support: $expand, $filter, $orderby, and $search", "You cannot
	// use $select" (facts §1.1); the message is the service's (OBSERVED).
	var bad []string
	for _, p := range []string{"$select", "$filter", "$orderby", "$expand", "$search"} {
		if c.query.Has(p) {
			bad = append(bad, p)
		}
	}
	if len(bad) > 0 {
		c.fail(http.StatusBadRequest, "ErrorInvalidUrlQuery", "The following parameters are not supported with change tracking over the 'CalendarView' resource: '"+strings.Join(bad, ", ")+"'.")
		return
	}
	tz, ok := c.preferredZone()
	if !ok {
		return
	}
	sp := deltaSpec{kind: "events", box: box, path: "/users/" + userID + "/calendarView/delta",
		windowed: true, ctx: "Collection(event)", odataType: "#microsoft.graph.event",
		items:   func(b *mailbox) map[string]*item { return b.events },
		include: func(it *item) bool { return it.etype != "seriesMaster" },
		render: func(it *item) map[string]any {
			m := c.renderEvent(it, tz)
			m["@odata.type"] = "#microsoft.graph.event"
			return m
		},
		renderJSON: func(dst []byte, it *item) ([]byte, error) {
			return c.appendEvent(dst, it, tz, kv{k: "@odata.type", v: "#microsoft.graph.event"})
		},
		// OBSERVED default page size ≈10 (facts §1.1, §14 item 1).
		defSize:      10,
		immutableIDs: c.prefer.immutableID,
	}
	if !c.query.Has("$skiptoken") && !c.query.Has("$deltatoken") {
		start, end, ok := c.window()
		if !ok {
			return
		}
		sp.start, sp.end = start, end
		sp.initial = url.Values{"startDateTime": {c.query.Get("startDateTime")}, "endDateTime": {c.query.Get("endDateTime")}}
	}
	s.serveDelta(c, sp)
}

// serveCalendarView serves GET /users/{id}/calendarView (instances in a
// window, sorted by start).
func (s *Server) serveCalendarView(c *call, box *mailbox, userID string) {
	tz, ok := c.preferredZone()
	if !ok {
		return
	}
	start, end, ok := c.window()
	if !ok {
		return
	}
	var ids []string
	for id, it := range box.events {
		if !it.deleted && it.etype != "seriesMaster" && overlaps(it.start, it.end, start, end) {
			ids = append(ids, id)
		}
	}
	sortItems(ids, box.events, true)
	sel := withID(parseSelect(c.query.Get("$select")))
	var items []map[string]any
	for _, id := range ids {
		items = append(items, project(c.renderEvent(box.events[id], tz), sel, nil))
	}
	c.writePage("/users/"+userID+"/calendarView", items, 10, 1000, "users('"+userID+"')/calendarView", false)
}

// serveCalendar serves GET /users/{id}/calendar (the default calendar with
// its online meeting providers, facts §7).
func (s *Server) serveCalendar(c *call, box *mailbox, userID string) {
	u := s.userByID(userID)
	c.writeJSON(http.StatusOK, map[string]any{
		"@odata.context":                s.contextURL("users('" + userID + "')/calendar/$entity"),
		"id":                            extID(box.calendarID, false),
		"name":                          "Calendar",
		"color":                         "auto",
		"isDefaultCalendar":             true,
		"canEdit":                       true,
		"canShare":                      true,
		"canViewPrivateItems":           true,
		"isRemovable":                   false,
		"isTallyingResponses":           true,
		"allowedOnlineMeetingProviders": []string{"teamsForBusiness"},
		"defaultOnlineMeetingProvider":  "teamsForBusiness",
		"owner":                         map[string]any{"name": u.DisplayName, "address": u.Mail},
	})
}

// --- the Outlook side: what a person does in their own calendar ---

// PutEvent creates an event in the user's calendar, with the body in
// Graph's JSON shape, exactly as POST /users/{id}/events does (validation,
// series expansion, Teams meetings, attendee copies). It returns the
// event's immutable id; every method accepts both id forms.
func (s *Server) PutEvent(user string, ev map[string]any) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	box, err := s.boxOf(user)
	if err != nil {
		return "", err
	}
	it, _, e := s.createEvent(box, normalizeNumbers(cloneMap(ev)).(map[string]any))
	if e != nil {
		return "", e
	}
	return extID(it.id, true), nil
}

// PatchEvent updates an event, an occurrence (which becomes an exception)
// or a series master, as PATCH does.
func (s *Server) PatchEvent(user, id string, patch map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	box, err := s.boxOf(user)
	if err != nil {
		return err
	}
	it := box.events[intID(id)]
	if it == nil || it.deleted {
		return &Error{Status: http.StatusNotFound, Code: "ErrorItemNotFound", Message: "The specified object was not found in the store."}
	}
	if _, e := s.patchEvent(box, it, normalizeNumbers(cloneMap(patch)).(map[string]any)); e != nil {
		return e
	}
	return nil
}

// DeleteEvent deletes an event or series, or cancels one occurrence.
func (s *Server) DeleteEvent(user, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	box, err := s.boxOf(user)
	if err != nil {
		return err
	}
	it := box.events[intID(id)]
	if it == nil || it.deleted {
		return &Error{Status: http.StatusNotFound, Code: "ErrorItemNotFound", Message: "The specified object was not found in the store."}
	}
	s.deleteEvent(box, it)
	return nil
}

// Event returns an event (or occurrence) as GET returns it, in UTC with
// immutable ids.
func (s *Server) Event(user, id string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	box, err := s.boxOf(user)
	if err != nil {
		return nil, false
	}
	it := box.events[intID(id)]
	if it == nil || it.deleted {
		return nil, false
	}
	return cloneMap(s.renderEvent(it, "", true)), true
}

// Events returns the user's single events and series masters (what
// GET /events lists), sorted by start, in UTC with immutable ids.
func (s *Server) Events(user string) []map[string]any {
	return s.listEvents(user, func(it *item) bool { return it.etype == "singleInstance" || it.etype == "seriesMaster" })
}

// Instances returns the user's single events, occurrences and exceptions
// (what calendarView returns, without a window), sorted by start.
func (s *Server) Instances(user string) []map[string]any {
	return s.listEvents(user, func(it *item) bool { return it.etype != "seriesMaster" })
}

func (s *Server) listEvents(user string, keep func(*item) bool) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	box, err := s.boxOf(user)
	if err != nil {
		return nil
	}
	var ids []string
	for id, it := range box.events {
		if !it.deleted && keep(it) {
			ids = append(ids, id)
		}
	}
	sortItems(ids, box.events, true)
	out := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		out = append(out, cloneMap(s.renderEvent(box.events[id], "", true)))
	}
	return out
}

// TransactionCreates reports how many POSTs to the user's calendar carried
// transactionId, and how many events with it exist now (0 or 1).
func (s *Server) TransactionCreates(user, transactionID string) (posts, events int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	box, err := s.boxOf(user)
	if err != nil {
		return 0, 0
	}
	for _, it := range box.events {
		if !it.deleted && it.txnID == transactionID {
			events++
		}
	}
	return box.txnCreates[transactionID], events
}

// boxOf resolves a user's mailbox for the Go API. s.mu is held.
func (s *Server) boxOf(user string) (*mailbox, error) {
	u := s.findUser(user)
	if u == nil {
		return nil, &Error{Status: http.StatusNotFound, Code: "ErrorInvalidUser", Message: fmt.Sprintf("The requested user '%s' is invalid.", user)}
	}
	box := s.boxes[u.ID]
	if box == nil {
		return nil, &Error{Status: http.StatusNotFound, Code: "MailboxNotEnabledForRESTAPI", Message: "REST API is not yet supported for this mailbox."}
	}
	return box, nil
}
