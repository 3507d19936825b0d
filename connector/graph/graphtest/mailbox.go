package graphtest

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/syncplane/syncplane/internal/jsonenc"
)

// mailbox is one user's Exchange mailbox.
type mailbox struct {
	// mu guards the mailbox's items while s.mu is held shared: calendar
	// reads take it shared, writes of events that touch no other mailbox
	// exclusively (see routeMailbox). Holding s.mu exclusively needs no mu.
	mu             sync.RWMutex
	user           string
	seq            int64 // change counter shared by every collection
	calendarID     string
	events         map[string]*item
	txn            map[string]string // transactionId -> internal id of the created event
	txnCreates     map[string]int    // transactionId -> POSTs that carried it
	contactFolders []*folder         // [0] is the default "Contacts" folder
	contacts       map[string]*item
	lists          []*folder // [0] is the default "Tasks" list
	tasks          map[string]*item
	mailFolders    []*folder // [0] is the Inbox
	messages       map[string]*item
	// owner is the organizer of the events created here (organizer).
	owner organizerValue
	// eventContext is the @odata.context of an event of the mailbox
	// (routeEvents), "" when the mailbox was made before the server
	// had its address.
	eventContext string
}

type folder struct {
	id, name, wellKnown string
}

// item is one stored Outlook item; deleted items stay as tombstones so that
// delta rounds can report them.
type item struct {
	id        string // internal id (external ids are derived, see extID)
	container string // folder or list id
	data      map[string]any
	seq       int64
	deleted   bool
	created   time.Time
	modified  time.Time
	changeKey string

	// events
	etype      string // singleInstance, occurrence, exception, seriesMaster
	master     string // internal id of the series master (instances)
	occKey     string // occurrence date "2006-01-02" (instances)
	start, end time.Time
	startTZ    string // time zone the start was written in
	endTZ      string
	txnID      string
	icaluid    string            // occurrences: their own iCalUId (the data is the master's)
	copies     map[string]string // organizer's event: attendee user id -> copy internal id
	origin     [2]string         // attendee copy: organizer user id, organizer internal id
	exceptions map[string]map[string]any
	cancelled  map[string]bool
	// stored is data encoded when the event was last touched (storedSeq
	// is its change number then); see storedJSON.
	stored    *storedJSON
	storedSeq int64
}

func (s *Server) newMailbox(user string) *mailbox {
	mk := func(name, wk string) *folder { return &folder{id: s.newInternalID(), name: name, wellKnown: wk} }
	var eventContext string
	if s.base != "" {
		eventContext = s.contextURL("users('" + user + "')/events/$entity")
	}
	return &mailbox{
		user:           user,
		eventContext:   eventContext,
		calendarID:     s.newInternalID(),
		events:         map[string]*item{},
		txn:            map[string]string{},
		txnCreates:     map[string]int{},
		contactFolders: []*folder{mk("Contacts", "")},
		contacts:       map[string]*item{},
		// wellknownListName defaultList is the built-in "Tasks" list
		// (facts §2, todotasklist.md); flaggedEmails is the other built-in.
		lists:       []*folder{mk("Tasks", "defaultList"), mk("Flagged Emails", "flaggedEmails")},
		tasks:       map[string]*item{},
		mailFolders: []*folder{mk("Inbox", "inbox"), mk("Sent Items", "sentitems"), mk("Deleted Items", "deleteditems")},
		messages:    map[string]*item{},
	}
}

// newInternalID returns a random internal id (seeded, so runs repeat).
func (s *Server) newInternalID() string {
	var b [15]byte
	s.randBytes(b[:])
	return b64url(b[:])
}

// Outlook item ids: the regular (REST) form and the immutable form differ,
// and a request gets the immutable form only with Prefer:
// IdType="ImmutableId" (facts §3, outlook-immutable-id.md). Both forms are
// accepted on input; ids are case-sensitive.
const (
	restIDPrefix      = "AAMkAGI2"
	immutableIDPrefix = "AAkALgAA"
)

func extID(internal string, immutable bool) string {
	if internal == "" {
		return ""
	}
	if immutable {
		return immutableIDPrefix + internal + "AAA="
	}
	return restIDPrefix + internal + "AAA="
}

func intID(external string) string {
	for _, p := range []string{restIDPrefix, immutableIDPrefix} {
		if rest, ok := strings.CutPrefix(external, p); ok {
			if in, ok := strings.CutSuffix(rest, "AAA="); ok {
				return in
			}
		}
	}
	return ""
}

// touch records a change of it: a new sequence number, modification time
// and change key.
func (s *Server) touch(b *mailbox, it *item) {
	b.seq++
	it.seq = b.seq
	it.modified = s.now().UTC()
	if it.created.IsZero() {
		it.created = it.modified
	}
	var k [12]byte
	s.randBytes(k[:])
	it.changeKey = b64std(k[:])
	s.storeEncoded(b, it)
}

// mailboxFor resolves the mailbox of /users/{key}/..., answering the
// service's errors itself: unknown user, user without an Exchange Online
// mailbox (MailboxNotEnabledForRESTAPI, facts §8, HTTP 404 OBSERVED) and an
// application access policy that excludes the user (ErrorAccessDenied
// "Access to OData is disabled.", facts §9,
// graph-examples/application-access-policy-denied-error.json).
// It runs with s.mu held.
func (s *Server) mailboxFor(c *call, key string) *mailbox {
	u := s.findUser(key)
	if u == nil {
		// OBSERVED Exchange answer for an unknown user.
		c.fail(http.StatusNotFound, "ErrorInvalidUser", fmt.Sprintf("The requested user '%s' is invalid.", key))
		return nil
	}
	if !u.HasMailbox || s.boxes[u.ID] == nil {
		c.fail(http.StatusNotFound, "MailboxNotEnabledForRESTAPI", "REST API is not yet supported for this mailbox.")
		return nil
	}
	if app := s.apps[c.tok.app]; app != nil && len(app.MailboxScope) > 0 && c.tok.user == "" {
		if !containsFold(app.MailboxScope, u.ID) && !containsFold(app.MailboxScope, u.UserPrincipalName) {
			c.fail(http.StatusForbidden, "ErrorAccessDenied", "Access to OData is disabled.")
			return nil
		}
	}
	if c.tok.user != "" && c.tok.user != u.ID {
		// A delegated token reaches only the signed-in user's mailbox
		// unless the scope is a .Shared one (facts §5.1 mentions *.Shared
		// permissions; sharing itself is not emulated: .Shared grants it).
		shared := false
		for _, sc := range c.tok.scopes {
			if strings.HasSuffix(strings.ToLower(sc), ".shared") {
				shared = true
			}
		}
		if !shared {
			c.fail(http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
			return nil
		}
	}
	return s.boxes[u.ID]
}

// pageState is the server side of a $skiptoken or $deltatoken.
type pageState struct {
	kind   string
	offset int

	// delta
	user      string
	container string
	windowed  bool
	start     time.Time
	end       time.Time
	upto      int64    // changes up to this sequence are covered by the round
	ids       []string // the round's items (skip tokens)
	expired   bool
	initial   url.Values
	path      string
}

// ExpireDeltaTokens makes every outstanding delta and skip token answer 410
// next time, as when the service's delta token cache drops them (facts
// §1.1: Outlook token lifetime "not fixed; it's dependent on the size of the
// internal delta token cache").
func (s *Server) ExpireDeltaTokens() {
	s.pagesMu.Lock()
	defer s.pagesMu.Unlock()
	for _, st := range s.pages {
		if strings.HasPrefix(st.kind, "delta:") {
			st.expired = true
		}
	}
}

// ExpireDeltaTokensOf expires the outstanding delta and skip tokens of one
// user's mailbox (id or user principal name) only.
func (s *Server) ExpireDeltaTokensOf(user string) {
	id := s.resolveUserID(user)
	s.pagesMu.Lock()
	defer s.pagesMu.Unlock()
	for _, st := range s.pages {
		if strings.HasPrefix(st.kind, "delta:") && st.user == id {
			st.expired = true
		}
	}
}

// deltaSpec describes one delta collection.
type deltaSpec struct {
	kind      string // events, contacts, tasks, messages
	box       *mailbox
	container string
	path      string // e.g. /users/{id}/calendarView/delta
	windowed  bool
	start     time.Time
	end       time.Time
	initial   url.Values
	ctx       string
	odataType string
	items     func(*mailbox) map[string]*item
	include   func(*item) bool // item belongs to the collection (besides container)
	render    func(*item) map[string]any
	// renderJSON, when set, appends the JSON of render(it) to dst
	// without building the map (see appendEvent).
	renderJSON func(dst []byte, it *item) ([]byte, error)
	defSize    int
	// immutableIDs says removed items carry the immutable id form, as
	// the rendered ones do.
	immutableIDs bool
}

// serveDelta answers one delta request. Rounds work as delta-query-overview.md
// and delta-query-events.md describe (facts §1.1): the first round returns
// every current item (of the window), later rounds the items changed since
// the round's deltaLink — deleted items and, for calendarView, items
// changed outside the window as "@removed": {"reason": "deleted"}. Pages
// end with @odata.nextLink ($skiptoken) and the round with
// @odata.deltaLink ($deltatoken); query parameters are bound into the
// tokens. Unknown or expired tokens answer 410 Gone SyncStateNotFound with
// a Location header holding the initial query
// (graph-examples/OBSERVED-calendarview-delta-expired-410-SyncStateNotFound.json).
// It runs with s.mu held.
func (s *Server) serveDelta(c *call, sp deltaSpec) {
	skip := c.query.Get("$skiptoken")
	delta := c.query.Get("$deltatoken")
	var st *pageState
	if skip != "" || delta != "" {
		tok := skip
		if tok == "" {
			tok = delta
		}
		s.pagesMu.Lock()
		st = s.pages[tok]
		s.pagesMu.Unlock()
		if st == nil || st.expired || st.kind != "delta:"+sp.kind || st.user != sp.box.user || st.container != sp.container {
			if st != nil && st.initial != nil {
				c.w.Header().Set("Location", s.link(st.path, st.initial))
			}
			// The generation number only decorates the message; it is
			// derived from the token, as delta reads share the lock and
			// must not draw from the seeded generator.
			c.fail(http.StatusGone, "SyncStateNotFound", fmt.Sprintf("The sync state generation is not found; generation=%d;[highest=%d].", len(tok)%100+1, sp.box.seq))
			return
		}
		if skip != "" && st.ids == nil {
			st = nil // a delta token sent as skip token
		}
		if st == nil {
			c.fail(http.StatusGone, "SyncStateNotFound", "The sync state generation is not found.")
			return
		}
		sp.windowed, sp.start, sp.end, sp.initial = st.windowed, st.start, st.end, st.initial
	}
	all := sp.items(sp.box)
	inWindow := func(it *item) bool {
		if !sp.windowed {
			return true
		}
		return overlaps(it.start, it.end, sp.start, sp.end)
	}
	var ids []string
	offset := 0
	upto := sp.box.seq
	switch {
	case skip != "":
		ids, offset, upto = st.ids, st.offset, st.upto
	case delta != "":
		for _, it := range all {
			if it.container == sp.container && sp.include(it) && it.seq > st.upto {
				ids = append(ids, it.id)
			}
		}
		sortIDsBySeq(ids, all)
	default:
		keys := make([]itemKey, 0, len(all))
		for id, it := range all {
			if it.container == sp.container && sp.include(it) && !it.deleted && inWindow(it) {
				keys = append(keys, newItemKey(id, it, sp.windowed))
			}
		}
		ids = make([]string, len(keys))
		sortItemKeys(keys, ids)
	}
	size := sp.defSize
	if c.prefer.maxPageSize > 0 {
		size = c.prefer.maxPageSize
		c.w.Header().Add("Preference-Applied", fmt.Sprintf("odata.maxpagesize=%d", size))
	}
	end := min(offset+size, len(ids))
	next := &pageState{kind: "delta:" + sp.kind, user: sp.box.user, container: sp.container,
		windowed: sp.windowed, start: sp.start, end: sp.end, initial: sp.initial, path: sp.path, upto: upto}
	tok := randomToken(24)
	var linkKey, link string
	if end < len(ids) {
		next.ids, next.offset = ids, end
		linkKey, link = "@odata.nextLink", s.link(sp.path, url.Values{"$skiptoken": {tok}})
	} else {
		linkKey, link = "@odata.deltaLink", s.link(sp.path, url.Values{"$deltatoken": {tok}})
	}
	if sp.renderJSON == nil {
		items := make([]map[string]any, 0, end-offset)
		for _, id := range ids[offset:end] {
			it := all[id]
			if it != nil && !it.deleted && sp.include(it) && inWindow(it) {
				items = append(items, sp.render(it))
			} else {
				items = append(items, removedEntry(sp, id))
			}
		}
		c.w.Header().Add("Preference-Applied", trackChanges)
		s.storePage(tok, next)
		c.writeJSON(http.StatusOK, map[string]any{"@odata.context": s.contextURL(sp.ctx), "value": items, linkKey: link})
		return
	}
	// The answer is written here, under the lock, into a pooled buffer
	// given back once it is sent: what writeJSON writes for
	// {"@odata.context", linkKey, "value"} (names in sorted order), the
	// page's items written as JSON in place.
	bp := bodyPool.Get().(*[]byte)
	b := append((*bp)[:0], `{"@odata.context":`...)
	defer c.afterWrite(func() {
		if cap(b) <= 4<<20 {
			*bp = b[:0]
			bodyPool.Put(bp)
		}
	})
	b = append(jsonenc.AppendString(b, s.contextURL(sp.ctx)), ',')
	b = append(jsonenc.AppendString(b, linkKey), ':')
	b = append(jsonenc.AppendString(b, link), `,"value":[`...)
	var err error
	for i, id := range ids[offset:end] {
		if i > 0 {
			b = append(b, ',')
		}
		from := len(b)
		it := all[id]
		if it != nil && !it.deleted && sp.include(it) && inWindow(it) {
			b, err = sp.renderJSON(b, it)
		} else {
			b, err = appendJSON(b, removedEntry(sp, id))
		}
		if err != nil {
			c.fail(http.StatusInternalServerError, "InternalServerError", "The item cannot be rendered.")
			return
		}
		if i == 0 {
			// Room for the page at the size of its first item, rather
			// than growing the buffer step by step.
			b = slices.Grow(b, (len(b)-from+1)*(end-offset-1)+4)
		}
	}
	b = append(b, "]}\n"...)
	c.w.Header().Add("Preference-Applied", trackChanges)
	s.storePage(tok, next)
	c.writeJSON(http.StatusOK, jsonLine(b))
}

// trackChanges is the Preference-Applied of every delta answer: real ones
// carry "preference-applied: odata.track-changes" (facts §1.1, OBSERVED).
const trackChanges = "odata.track-changes"

// removedEntry is the delta entry of an item gone from the collection.
func removedEntry(sp deltaSpec, id string) map[string]any {
	return map[string]any{
		"@odata.type": sp.odataType,
		"id":          extID(id, sp.immutableIDs),
		"@removed":    map[string]any{"reason": "deleted"},
	}
}

// overlaps reports whether [s1,e1) intersects the window [s2,e2); an event
// of zero length counts when it starts inside the window.
func overlaps(s1, e1, s2, e2 time.Time) bool {
	if !e1.After(s1) {
		return !s1.Before(s2) && s1.Before(e2)
	}
	return s1.Before(e2) && e1.After(s2)
}

func sortIDsBySeq(ids []string, all map[string]*item) {
	keys := make([]itemKey, len(ids))
	for i, id := range ids {
		keys[i] = itemKey{id: id, seq: all[id].seq}
	}
	slices.SortFunc(keys, func(x, y itemKey) int { return cmp.Compare(x.seq, y.seq) })
	for i, k := range keys {
		ids[i] = k.id
	}
}

func sortItems(ids []string, all map[string]*item, byStart bool) {
	keys := make([]itemKey, len(ids))
	for i, id := range ids {
		keys[i] = newItemKey(id, all[id], byStart)
	}
	sortItemKeys(keys, ids)
}

// itemKey is what sortItems orders an item by: its start (when by
// start), change number and id.
type itemKey struct {
	sec  int64 // start, as Unix seconds and nanoseconds
	nsec int32
	seq  int64
	id   string
}

func newItemKey(id string, it *item, byStart bool) itemKey {
	k := itemKey{seq: it.seq, id: id}
	if byStart {
		k.sec, k.nsec = it.start.Unix(), int32(it.start.Nanosecond())
	}
	return k
}

// sortItemKeys sorts keys as sortItems sorts ids and writes their ids into
// ids, in order.
func sortItemKeys(keys []itemKey, ids []string) {
	slices.SortFunc(keys, func(x, y itemKey) int {
		if c := cmp.Compare(x.sec, y.sec); c != 0 {
			return c
		}
		if c := cmp.Compare(x.nsec, y.nsec); c != 0 {
			return c
		}
		if c := cmp.Compare(x.seq, y.seq); c != 0 {
			return c
		}
		return strings.Compare(x.id, y.id)
	})
	for i, k := range keys {
		ids[i] = k.id
	}
}

// routeMailbox dispatches /users/{id}/<mailbox path>.
func (s *Server) routeMailbox(c *call, userKey string, rest []string) {
	// Reads of calendars (calendarView, its delta, events and their
	// instances) change nothing in the store: they share the store's lock
	// and hold their mailbox's lock shared, so the mailboxes' reads run in
	// parallel. A create, update or delete of an event that touches no
	// other mailbox (no attendee copies, see eventWriteIsLocal) shares the
	// store's lock and holds its mailbox's alone, so writes into different
	// mailboxes run in parallel; its body is decoded before any lock is
	// taken. Every other request holds the store's lock alone. Answers are
	// written after the locks are released (flush).
	var box *mailbox
	switch {
	case readsCalendar(c.r.Method, rest):
		s.mu.RLock()
		c.deferred = true
		if box = s.mailboxFor(c, userKey); box != nil {
			box.mu.RLock()
		}
		defer func() {
			if box != nil {
				box.mu.RUnlock()
			}
			s.mu.RUnlock()
			c.flush()
		}()
	case writesEvent(c.r.Method, rest):
		c.preread()
		s.mu.RLock()
		c.deferred = true
		if box = s.mailboxFor(c, userKey); box != nil {
			box.mu.Lock()
			if !s.eventWriteIsLocal(box, rest, c.body.value) {
				box.mu.Unlock()
				s.mu.RUnlock()
				box = nil
				s.mu.Lock()
				defer func() {
					s.mu.Unlock()
					c.flush()
				}()
				box = s.mailboxFor(c, userKey)
				break
			}
		}
		defer func() {
			if box != nil {
				box.mu.Unlock()
			}
			s.mu.RUnlock()
			c.flush()
		}()
	default:
		s.mu.Lock()
		c.deferred = true
		defer func() {
			s.mu.Unlock()
			c.flush()
		}()
		box = s.mailboxFor(c, userKey)
	}
	if box == nil {
		return
	}
	userID := box.user
	m := c.r.Method
	n := len(rest)
	switch rest[0] {
	case "calendarView":
		if !c.requireMailbox("Calendars.Read", "Calendars.ReadBasic", "Calendars.ReadWrite", "Calendars.Read.Shared", "Calendars.ReadWrite.Shared") {
			return
		}
		switch {
		case n == 2 && rest[1] == "delta" && m == http.MethodGet:
			s.serveCalendarViewDelta(c, box, userID)
		case n == 1 && m == http.MethodGet:
			s.serveCalendarView(c, box, userID)
		default:
			c.notFoundOrMethod(n, 2)
		}
		return
	case "calendar":
		if n == 1 && m == http.MethodGet {
			if !c.requireMailbox("Calendars.Read", "Calendars.ReadBasic", "Calendars.ReadWrite", "Calendars.Read.Shared", "Calendars.ReadWrite.Shared") {
				return
			}
			s.serveCalendar(c, box, userID)
			return
		}
		if n >= 2 && rest[1] == "events" {
			s.routeEvents(c, box, userID, rest[1:])
			return
		}
		c.notFoundSegment(rest[n-1])
		return
	case "events":
		s.routeEvents(c, box, userID, rest)
		return
	case "contacts", "contactFolders":
		s.routeContacts(c, box, userID, rest)
		return
	case "todo":
		s.routeTodo(c, box, userID, rest)
		return
	case "mailFolders", "messages":
		s.routeMail(c, box, userID, rest)
		return
	}
	c.notFoundSegment(rest[0])
}

// eventPath returns the part of a mailbox path from "events" on
// (/events… or /calendar/events…), nil for any other path.
func eventPath(rest []string) []string {
	if len(rest) > 1 && rest[0] == "calendar" {
		rest = rest[1:]
	}
	if len(rest) > 0 && rest[0] == "events" {
		return rest
	}
	return nil
}

// writesEvent reports whether a request under /users/{id}/ creates
// (POST …/events), updates (PATCH …/events/{id}) or deletes (DELETE
// …/events/{id}) an event.
func writesEvent(method string, rest []string) bool {
	ev := eventPath(rest)
	switch method {
	case http.MethodPost:
		return len(ev) == 1
	case http.MethodPatch, http.MethodDelete:
		return len(ev) == 2
	}
	return false
}

// eventWriteIsLocal reports whether an event write (writesEvent) changes
// nothing outside box: the event it makes or changes — for an occurrence,
// its series master — has no attendee copies, and neither its attendees
// nor those of the body name another mailbox of the tenant (syncCopies
// would write there). It runs with s.mu held shared and box.mu held.
func (s *Server) eventWriteIsLocal(box *mailbox, rest []string, body map[string]any) bool {
	if s.attendeesElsewhere(box, body) {
		return false
	}
	ev := eventPath(rest)
	if len(ev) != 2 {
		return true // a create
	}
	in := intID(ev[1])
	if in == "" {
		return true // answered 400
	}
	it := box.events[in]
	if it != nil && (it.etype == "occurrence" || it.etype == "exception") {
		it = box.events[it.master]
	}
	if it == nil || it.origin[0] != "" {
		return true // not found, or an attendee's copy, changed in its calendar alone
	}
	return len(it.copies) == 0 && !s.attendeesElsewhere(box, it.data)
}

// attendeesElsewhere reports whether the attendees of an event's data or
// body name a user of the tenant with a mailbox other than box.
func (s *Server) attendeesElsewhere(box *mailbox, data map[string]any) bool {
	list, _ := data["attendees"].([]any)
	for _, a := range list {
		am, _ := a.(map[string]any)
		ea, _ := lookupFold(am, "emailAddress").(map[string]any)
		addr, _ := lookupFold(ea, "address").(string)
		if u := s.findUserByAddress(addr); u != nil && u.ID != box.user && s.boxes[u.ID] != nil {
			return true
		}
	}
	return false
}

// readsCalendar reports whether a request under /users/{id}/ only reads
// the calendar: a GET of calendarView (and its delta), calendar, events or
// instances.
func readsCalendar(method string, rest []string) bool {
	if method != http.MethodGet || len(rest) == 0 {
		return false
	}
	switch rest[0] {
	case "calendarView", "calendar", "events":
		return true
	}
	return false
}

func (c *call) notFoundOrMethod(n, max int) {
	if n > max {
		c.notFoundSegment(c.segs[len(c.segs)-1])
		return
	}
	c.methodNotAllowed()
}

// itemNotFound is Exchange's answer for a missing item (facts §12,
// ErrorItemNotFound 404, OBSERVED).
func (c *call) itemNotFound() {
	c.fail(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
}

// malformedID is Exchange's answer for an id it cannot parse (facts §12,
// ErrorInvalidIdMalformed 400, OBSERVED).
func (c *call) malformedID() {
	c.fail(http.StatusBadRequest, "ErrorInvalidIdMalformed", "Id is malformed.")
}

// lookup resolves an external id in a collection; it answers the errors.
func (c *call) lookup(items map[string]*item, ext string) *item {
	in := intID(ext)
	if in == "" {
		c.malformedID()
		return nil
	}
	it := items[in]
	if it == nil || it.deleted {
		c.itemNotFound()
		return nil
	}
	return it
}

// cloneMap deep-copies JSON-shaped data.
func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return cloneMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	case []string:
		return slices.Clone(x)
	}
	return v
}

func (s *Server) storePage(tok string, st *pageState) {
	s.pagesMu.Lock()
	s.pages[tok] = st
	s.pagesMu.Unlock()
}
