package graphtest

// Creating, changing and deleting events: the service's validation and the
// copies of a meeting in its attendees' mailboxes.

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Error is a Graph error answer, returned by the Go methods that mutate
// mailboxes "from the Outlook side" when the service would reject the change.
type Error struct {
	Status  int
	Code    string
	Message string
}

// Error returns "code: message (HTTP status)".
func (e *Error) Error() string { return fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Message, e.Status) }

func badRequest(code, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

func (c *call) failErr(e *Error) { c.fail(e.Status, e.Code, e.Message) }

// eventWritable are the event properties a client may set
// (event.md, user-post-events.md); eventReadOnly are properties the service
// computes and ignores on input. Any other property is rejected the way
// OData rejects an unknown property (RequestBodyRead, OBSERVED message).
var (
	eventWritable = []string{"subject", "body", "start", "end", "location", "locations", "attendees", "isAllDay",
		"isOnlineMeeting", "onlineMeetingProvider", "recurrence", "reminderMinutesBeforeStart", "isReminderOn",
		"importance", "sensitivity", "showAs", "categories", "responseRequested", "allowNewTimeProposals",
		"hideAttendees", "transactionId", "organizer", "originalStartTimeZone", "originalEndTimeZone", "isCancelled",
		"isDraft"}
	eventReadOnly = []string{"id", "createdDateTime", "lastModifiedDateTime", "changeKey", "iCalUId", "type",
		"seriesMasterId", "webLink", "isOrganizer", "onlineMeeting", "onlineMeetingUrl", "bodyPreview",
		"hasAttachments", "responseStatus", "uid"}
)

var enumValues = map[string][]string{
	"importance":            {"low", "normal", "high"},
	"sensitivity":           {"normal", "personal", "private", "confidential"},
	"showAs":                {"free", "tentative", "busy", "oof", "workingElsewhere", "unknown"},
	"onlineMeetingProvider": {"unknown", "teamsForBusiness", "skypeForBusiness", "skypeForConsumer"},
}

// checkProperties rejects unknown properties and bad enum values.
func checkProperties(body map[string]any, typ string, writable, readOnly []string) *Error {
	for k, v := range body {
		if strings.HasPrefix(k, "@odata.") {
			continue
		}
		if !slices.Contains(writable, k) && !slices.Contains(readOnly, k) {
			return badRequest("RequestBodyRead", "The property '%s' does not exist on type 'microsoft.graph.%s'. Make sure to only use property names that are defined by the type or mark the type as open type.", k, typ)
		}
		if allowed, ok := enumValues[k]; ok && v != nil {
			s, _ := v.(string)
			if !containsFold(allowed, s) {
				return badRequest("RequestBodyRead", "Cannot convert the literal '%v' to the expected type 'microsoft.graph.%s'.", v, k)
			}
		}
	}
	return nil
}

// parseDTZ validates a dateTimeTimeZone: dateTime parseable, timeZone a
// known Windows name (facts §3, datetimetimezone.md). The error message for
// an unknown zone is the service's (OBSERVED).
func parseDTZ(v any, field string) (time.Time, string, *Error) {
	m, ok := v.(map[string]any)
	if !ok {
		return time.Time{}, "", badRequest("RequestBodyRead", "Property '%s' must be a microsoft.graph.dateTimeTimeZone object.", field)
	}
	tzName, _ := lookupFold(m, "timeZone").(string)
	loc, canon, ok := zone(tzName)
	if !ok {
		return time.Time{}, "", badRequest("TimeZoneNotSupportedException", "A valid TimeZone value must be specified. The following TimeZone value is not supported: '%s'.", tzName)
	}
	raw, _ := lookupFold(m, "dateTime").(string)
	t, ok := parseLocalTime(raw, loc)
	if !ok {
		return time.Time{}, "", badRequest("ErrorInvalidRequest", "The value '%s' of property '%s.dateTime' is not a valid date and time.", raw, field)
	}
	return t.UTC(), canon, nil
}

// applyEvent validates body and applies it to a copy of it, returning the
// copy. create says the body is a POST; it is then the new item
// createEvent built, nowhere stored, and its data is taken over rather
// than copied (nothing below reads a property of it.data that it writes
// before). The item's data keeps the writable properties in their
// output shape.
func (s *Server) applyEvent(box *mailbox, it *item, body map[string]any, create bool) (*item, *Error) {
	if e := checkProperties(body, "event", eventWritable, eventReadOnly); e != nil {
		return nil, e
	}
	n := it
	if !create {
		// A shallow copy: applyEvent replaces top-level values and never
		// changes nested ones in place, so nested values may be shared.
		cp := *it
		cp.data = maps.Clone(it.data)
		n = &cp
	}
	if n.data == nil {
		n.data = map[string]any{}
	}
	d := n.data
	if v, ok := body["start"]; ok {
		t, tz, e := parseDTZ(v, "start")
		if e != nil {
			return nil, e
		}
		n.start, n.startTZ = t, tz
	}
	if v, ok := body["end"]; ok {
		t, tz, e := parseDTZ(v, "end")
		if e != nil {
			return nil, e
		}
		n.end, n.endTZ = t, tz
	}
	if create && (n.startTZ == "" || n.endTZ == "") {
		// UNCONFIRMED: the docs show start and end in every create example;
		// the emulator requires both.
		return nil, badRequest("ErrorInvalidRequest", "The event must have a start and an end (microsoft.graph.dateTimeTimeZone).")
	}
	if n.end.Before(n.start) {
		return nil, badRequest("ErrorInvalidRequest", "The end time of the event (%s) is earlier than its start time (%s).", n.end.Format(time.RFC3339), n.start.Format(time.RFC3339))
	}
	for _, k := range []string{"subject", "importance", "sensitivity", "showAs", "transactionId"} {
		if v, ok := body[k]; ok {
			if _, isStr := v.(string); !isStr && v != nil {
				return nil, badRequest("RequestBodyRead", "Property '%s' must be a string.", k)
			}
		}
	}
	if v, ok := body["transactionId"]; ok && !create && v != it.data["transactionId"] {
		// "After you set transactionId when creating an event, you cannot
		// change transactionId in a subsequent update" (facts §6).
		return nil, badRequest("ErrorInvalidRequest", "The transactionId of an event cannot be changed.")
	}
	for _, k := range []string{"subject", "importance", "sensitivity", "showAs", "transactionId", "isAllDay",
		"reminderMinutesBeforeStart", "isReminderOn", "responseRequested", "allowNewTimeProposals", "hideAttendees",
		"isCancelled", "isDraft"} {
		if v, ok := body[k]; ok {
			d[k] = v
		}
	}
	if v, ok := body["categories"]; ok {
		list, okList := v.([]any)
		if !okList && v != nil {
			return nil, badRequest("RequestBodyRead", "Property 'categories' must be a collection of strings.")
		}
		d["categories"] = nonNilList(list)
	}
	if v, ok := body["body"]; ok {
		b, okB := v.(map[string]any)
		if !okB {
			return nil, badRequest("RequestBodyRead", "Property 'body' must be a microsoft.graph.itemBody object.")
		}
		ct := strings.ToLower(fmt.Sprint(lookupFold(b, "contentType")))
		content, _ := lookupFold(b, "content").(string)
		switch ct {
		case "html":
			if !strings.Contains(strings.ToLower(content), "<html") {
				content = "<html><head></head><body>" + content + "</body></html>"
			}
		case "text", "<nil>":
			ct = "text"
		default:
			return nil, badRequest("RequestBodyRead", "Cannot convert the literal '%v' to the expected type 'microsoft.graph.bodyType'.", lookupFold(b, "contentType"))
		}
		d["body"] = map[string]any{"contentType": ct, "content": content}
	}
	if v, ok := body["location"]; ok {
		loc, _ := v.(map[string]any)
		name, _ := lookupFold(loc, "displayName").(string)
		l := map[string]any{"displayName": name, "locationType": "default", "uniqueId": name, "uniqueIdType": "private"}
		for _, k := range []string{"address", "coordinates"} {
			if a, ok := loc[k]; ok {
				l[k] = cloneValue(a)
			}
		}
		d["location"] = l
		if _, has := body["locations"]; !has {
			if name != "" {
				// As in graph-examples/event-create-online-meeting-response.json.
				d["locations"] = []any{map[string]any{"displayName": name, "locationType": "default", "uniqueId": name, "uniqueIdType": "private"}}
			} else {
				d["locations"] = []any{}
			}
		}
	}
	if v, ok := body["locations"]; ok {
		list, _ := v.([]any)
		d["locations"] = nonNilList(cloneValue(list).([]any))
	}
	if v, ok := body["attendees"]; ok {
		list, okList := v.([]any)
		if !okList && v != nil {
			return nil, badRequest("RequestBodyRead", "Property 'attendees' must be a collection of microsoft.graph.attendee.")
		}
		if len(list) > 500 {
			// "Max 500 attendees" (facts §6, event.md).
			return nil, badRequest("ErrorInvalidRequest", "An event can have at most 500 attendees.")
		}
		out := make([]any, 0, len(list))
		for i, a := range list {
			am, _ := a.(map[string]any)
			ea, _ := lookupFold(am, "emailAddress").(map[string]any)
			addr, _ := lookupFold(ea, "address").(string)
			if addr == "" || !strings.Contains(addr, "@") {
				return nil, badRequest("ErrorInvalidRecipients", "Attendee %d has no valid emailAddress.address.", i)
			}
			typ, _ := lookupFold(am, "type").(string)
			if typ == "" {
				typ = "required"
			}
			if !slices.Contains([]string{"required", "optional", "resource"}, typ) {
				return nil, badRequest("RequestBodyRead", "Cannot convert the literal '%s' to the expected type 'microsoft.graph.attendeeType'.", typ)
			}
			name, _ := lookupFold(ea, "name").(string)
			status := map[string]any{"response": "none", "time": "0001-01-01T00:00:00Z"}
			if old := findAttendee(it.data, addr); old != nil {
				if st, ok := old["status"].(map[string]any); ok {
					status = cloneMap(st)
				}
			}
			out = append(out, map[string]any{"type": typ, "status": status,
				"emailAddress": map[string]any{"name": name, "address": addr}})
		}
		d["attendees"] = out
	}
	if v, ok := body["recurrence"]; ok {
		if v == nil {
			if create {
				delete(d, "recurrence")
			} else if n.etype == "seriesMaster" {
				return nil, badRequest("ErrorInvalidRequest", "The recurrence of a series cannot be removed; delete the series instead.")
			}
		} else {
			if !create && n.etype != "seriesMaster" {
				return nil, badRequest("ErrorInvalidRequest", "Recurrence can only be set on a single event when it is created, or on a series master.")
			}
			tz := n.startTZ
			rec, e := normalizeRecurrence(v, tz)
			if e != nil {
				return nil, e
			}
			d["recurrence"] = rec
		}
	}
	// Teams meetings (facts §7, outlook-calendar-online-meetings.md).
	wasOnline, _ := it.data["isOnlineMeeting"].(bool)
	oldProvider, _ := it.data["onlineMeetingProvider"].(string)
	if v, ok := body["isOnlineMeeting"]; ok {
		b, okB := v.(bool)
		if !okB {
			return nil, badRequest("RequestBodyRead", "Property 'isOnlineMeeting' must be a boolean.")
		}
		if wasOnline && !b {
			return nil, badRequest("ErrorInvalidRequest", "Once an event is enabled as an online meeting, isOnlineMeeting cannot be set to false.")
		}
		d["isOnlineMeeting"] = b
	}
	if v, ok := body["onlineMeetingProvider"]; ok {
		p, _ := v.(string)
		if wasOnline && !strings.EqualFold(p, oldProvider) {
			return nil, badRequest("ErrorInvalidRequest", "Once an event is enabled as an online meeting, its onlineMeetingProvider cannot be changed.")
		}
		d["onlineMeetingProvider"] = p
	}
	if on, _ := d["isOnlineMeeting"].(bool); on && !wasOnline {
		p, _ := d["onlineMeetingProvider"].(string)
		if p == "" || p == "unknown" {
			p = "teamsForBusiness" // the calendar's defaultOnlineMeetingProvider
			d["onlineMeetingProvider"] = p
		}
		if p != "teamsForBusiness" {
			// The calendar lists only teamsForBusiness in
			// allowedOnlineMeetingProviders (facts §7). UNCONFIRMED error code.
			return nil, badRequest("ErrorInvalidRequest", "The online meeting provider '%s' is not in the calendar's allowedOnlineMeetingProviders.", p)
		}
		d["onlineMeeting"] = s.teamsMeeting(box.user)
		if b, ok := d["body"].(map[string]any); ok {
			content, _ := b["content"].(string)
			join := d["onlineMeeting"].(map[string]any)["joinUrl"].(string)
			block := "<div>________________________________________________________________________________</div><div><a href=\"" + join + "\">Join Microsoft Teams Meeting</a></div>"
			if strings.Contains(content, "</body>") {
				content = strings.Replace(content, "</body>", block+"</body>", 1)
			} else {
				content += block
			}
			d["body"] = map[string]any{"contentType": b["contentType"], "content": content}
		}
	}
	if _, ok := d["recurrence"]; ok && create {
		n.etype = "seriesMaster"
	}
	b, _ := d["body"].(map[string]any)
	content, _ := b["content"].(string)
	d["bodyPreview"] = preview(content)
	return n, nil
}

func findAttendee(data map[string]any, addr string) map[string]any {
	list, _ := data["attendees"].([]any)
	for _, a := range list {
		am, _ := a.(map[string]any)
		ea, _ := am["emailAddress"].(map[string]any)
		if x, _ := ea["address"].(string); strings.EqualFold(x, addr) {
			return am
		}
	}
	return nil
}

func nonNilList(l []any) []any {
	if l == nil {
		return []any{}
	}
	return l
}

// teamsMeeting creates the onlineMeeting block of a Teams meeting
// (graph-examples/event-create-online-meeting-response.json).
func (s *Server) teamsMeeting(user string) map[string]any {
	thread := b64std([]byte(s.newGUID()))
	conf := fmt.Sprintf("%09d", s.rng.IntN(1_000_000_000))
	ctx := url.QueryEscape(fmt.Sprintf(`{"Tid":"%s","Oid":"%s"}`, s.tenant, user))
	return map[string]any{
		"joinUrl":      "https://teams.microsoft.com/l/meetup-join/19%3ameeting_" + strings.TrimRight(thread, "=") + "%40thread.v2/0?context=" + ctx,
		"conferenceId": conf,
		"tollNumber":   "+1 323-555-0166",
	}
}

// The nested values every new event starts with. Events share them: the
// store replaces an event's top-level values and never changes nested
// ones in place (applyEvent, syncCopies), renderings share them with the
// store and do not change them (renderEvent), and the exported accessors
// hand out deep copies. Nothing may write to them.
var (
	defaultEventBody     = map[string]any{"contentType": "html", "content": ""}
	defaultEventLocation = map[string]any{"displayName": "", "locationType": "default", "uniqueIdType": "unknown", "address": map[string]any{}, "coordinates": map[string]any{}}
	organizerResponse    = map[string]any{"response": "organizer", "time": "0001-01-01T00:00:00Z"}
)

// eventDefaults holds the properties every new event starts with but its
// organizer, made with room for the organizer and what a create adds to
// them (transactionId, bodyPreview, iCalUId), so that a copy is not grown
// on the way; answers are written from an event's map without adding to
// it (writeEvent). Its values are shared by the events, as the nested
// ones above are: nothing may write to it.
var eventDefaults = sync.OnceValue(func() map[string]any {
	data := make(map[string]any, 28)
	data["subject"], data["categories"], data["importance"], data["sensitivity"], data["showAs"] = "", []any{}, "normal", "normal", "busy"
	data["isAllDay"], data["isCancelled"], data["isDraft"], data["isOrganizer"], data["responseRequested"] = false, false, false, true, true
	data["reminderMinutesBeforeStart"], data["isReminderOn"], data["hasAttachments"] = int64(15), true, false
	data["allowNewTimeProposals"], data["hideAttendees"], data["isOnlineMeeting"] = true, false, false
	data["onlineMeetingProvider"], data["onlineMeeting"], data["onlineMeetingUrl"] = "unknown", nil, nil
	data["body"], data["location"], data["responseStatus"] = defaultEventBody, defaultEventLocation, organizerResponse
	data["locations"] = []any{}
	data["attendees"] = []any{}
	return data
})

// organizer returns the organizer property of the events the mailbox's
// owner creates, made once for the owner's name and address and shared
// by those events like the other nested values (nothing writes to it);
// made again when the owner's name or address has changed (AddUser).
// The mailbox is held for writing.
func (b *mailbox) organizer(owner *userRecord) map[string]any {
	if o := &b.owner; o.value == nil || o.name != owner.DisplayName || o.address != owner.Mail {
		*o = organizerValue{name: owner.DisplayName, address: owner.Mail,
			value: map[string]any{"emailAddress": map[string]any{"name": owner.DisplayName, "address": owner.Mail}}}
		o.json = newSharedValue(o.value)
	}
	return b.owner.value
}

// organizerValue is a mailbox's organizer property and the name and
// address it was made of.
type organizerValue struct {
	name, address string
	value         map[string]any
	json          sharedValue // value with its JSON
}

// createEvent creates an event from a POST body in box, with the mailbox
// owner as organizer. It reports whether a new event was made (false when a
// transactionId matched an existing one).
func (s *Server) createEvent(box *mailbox, body map[string]any) (*item, bool, *Error) {
	if tx, _ := body["transactionId"].(string); tx != "" {
		box.txnCreates[tx]++
		// transactionId: "for the server to avoid redundant POST operations in
		// case of client retries to create the same event" (facts §6). The
		// answer to a repeated POST (scope, status) is UNCONFIRMED; the
		// emulator answers 201 with the event the first POST created.
		if id, ok := box.txn[tx]; ok {
			if ex := box.events[id]; ex != nil && !ex.deleted {
				return ex, false, nil
			}
		}
	}
	owner := s.userByID(box.user)
	// A copy of the defaults (copying the map's table is cheaper than
	// setting its 24 values one by one), with room for what a create adds
	// to them (see eventDefaults).
	data := maps.Clone(eventDefaults())
	data["organizer"] = box.organizer(owner)
	base := &item{id: s.newInternalID(), etype: "singleInstance", data: data}
	n, e := s.applyEvent(box, base, body, true)
	if e != nil {
		return nil, false, e
	}
	n.data["iCalUId"] = s.newGOID()
	if tx, _ := n.data["transactionId"].(string); tx != "" {
		n.txnID = tx
		box.txn[tx] = n.id
	} else {
		delete(n.data, "transactionId")
	}
	box.events[n.id] = n
	s.touch(box, n)
	if n.etype == "seriesMaster" {
		s.regenerate(box, n, true)
	}
	s.syncCopies(box, n)
	return n, true, nil
}

// newGOID returns an Exchange global object id in the hex form Graph uses
// for iCalUId (graph-examples/event-create-response-1.json): a fixed
// 16-byte class id, 4 bytes of instance date (zero for the master), and a
// random tail.
func (s *Server) newGOID() string {
	const prefix = "040000008200E00074C5B7101A82E008" + "00000000"
	const digits = "0123456789ABCDEF"
	var tail [32]byte
	s.randBytes(tail[:])
	var b [len(prefix) + 2*len(tail)]byte
	copy(b[:], prefix)
	for i, c := range tail {
		b[len(prefix)+2*i], b[len(prefix)+2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(b[:])
}

// occurrenceGOID sets the instance date bytes of a GOID (year hi/lo,
// month, day), so every occurrence has its own iCalUId (facts §6: "This ID
// is different for each occurrence in a recurring series").
func occurrenceGOID(goid string, day time.Time) string {
	if len(goid) < 40 {
		return goid
	}
	y := day.Year()
	return goid[:32] + fmt.Sprintf("%02X%02X%02X%02X", y>>8, y&0xff, int(day.Month()), day.Day()) + goid[40:]
}

// patchEvent applies a PATCH to an event, occurrence or exception.
func (s *Server) patchEvent(box *mailbox, it *item, body map[string]any) (*item, *Error) {
	if it.etype == "occurrence" || it.etype == "exception" {
		if _, ok := body["recurrence"]; ok {
			return nil, badRequest("ErrorInvalidRequest", "Recurrence cannot be set on an occurrence of a series.")
		}
		n, e := s.applyEvent(box, it, body, false)
		if e != nil {
			return nil, e
		}
		master := box.events[it.master]
		if master.exceptions == nil {
			master.exceptions = map[string]map[string]any{}
		}
		ex := master.exceptions[it.occKey]
		if ex == nil {
			ex = map[string]any{}
		}
		for k := range body {
			if k == "start" || k == "end" {
				continue
			}
			ex[k] = cloneValue(n.data[k])
		}
		if _, ok := body["body"]; ok {
			ex["bodyPreview"] = n.data["bodyPreview"]
		}
		if _, ok := body["start"]; ok {
			ex["@start"], ex["@startTZ"] = n.start, n.startTZ
		}
		if _, ok := body["end"]; ok {
			ex["@end"], ex["@endTZ"] = n.end, n.endTZ
		}
		master.exceptions[it.occKey] = ex
		s.regenerateOne(box, master, it.occKey)
		s.syncCopies(box, master)
		return box.events[it.id], nil
	}
	oldStart, oldEnd, oldRec := it.start, it.end, fmt.Sprint(it.data["recurrence"])
	n, e := s.applyEvent(box, it, body, false)
	if e != nil {
		return nil, e
	}
	*it = *n
	s.touch(box, it)
	if it.etype == "seriesMaster" {
		if !oldStart.Equal(it.start) || !oldEnd.Equal(it.end) || oldRec != fmt.Sprint(it.data["recurrence"]) {
			// Changing the series' time or pattern drops its exceptions and
			// cancellations (Outlook behaviour; UNCONFIRMED in the docs).
			it.exceptions, it.cancelled = nil, nil
		}
		s.regenerate(box, it, true)
	}
	s.syncCopies(box, it)
	return it, nil
}

// deleteEvent deletes an event; deleting a master deletes its instances,
// deleting an occurrence cancels that occurrence of the series.
func (s *Server) deleteEvent(box *mailbox, it *item) {
	if it.etype == "occurrence" || it.etype == "exception" {
		master := box.events[it.master]
		if master.cancelled == nil {
			master.cancelled = map[string]bool{}
		}
		master.cancelled[it.occKey] = true
		delete(master.exceptions, it.occKey)
		s.regenerateOne(box, master, it.occKey)
		s.syncCopies(box, master)
		return
	}
	it.deleted = true
	s.touch(box, it)
	if it.etype == "seriesMaster" {
		for _, inst := range box.events {
			if inst.master == it.id && !inst.deleted {
				inst.deleted = true
				s.touch(box, inst)
			}
		}
	}
	s.syncCopies(box, it)
}

// syncCopies keeps the attendees' copies of an organizer's meeting in step
// (facts §6: "When an event is sent, the server sends invitations to all
// the attendees"; attendee copies are separate items with their own id,
// isOrganizer false and the organizer's iCalUId). Attendees removed from
// the meeting, and every attendee when the meeting is deleted, get the
// meeting cancelled (isCancelled true) in their calendar.
func (s *Server) syncCopies(box *mailbox, it *item) {
	if it.origin[0] != "" {
		return // an attendee's copy; its changes stay in that calendar
	}
	if isOrg, _ := it.data["isOrganizer"].(bool); !isOrg {
		return
	}
	var want map[string]bool // made when an attendee has a mailbox here
	if !it.deleted {
		list, _ := it.data["attendees"].([]any)
		for _, a := range list {
			am, _ := a.(map[string]any)
			ea, _ := am["emailAddress"].(map[string]any)
			addr, _ := ea["address"].(string)
			if u := s.findUserByAddress(addr); u != nil && u.ID != box.user && s.boxes[u.ID] != nil {
				if want == nil {
					want = map[string]bool{}
				}
				want[u.ID] = true
			}
		}
	}
	if it.copies == nil && len(want) > 0 {
		it.copies = map[string]string{}
	}
	for uid := range want {
		tb := s.boxes[uid]
		cp := tb.events[it.copies[uid]]
		if cp == nil {
			cp = &item{id: s.newInternalID(), origin: [2]string{box.user, it.id}}
			tb.events[cp.id] = cp
			it.copies[uid] = cp.id
		}
		response := map[string]any{"response": "notResponded", "time": "0001-01-01T00:00:00Z"}
		if old, ok := cp.data["responseStatus"].(map[string]any); ok {
			response = old
		}
		cp.data = maps.Clone(it.data)
		cp.data["isOrganizer"] = false
		cp.data["responseStatus"] = response
		delete(cp.data, "transactionId")
		cp.etype, cp.start, cp.end, cp.startTZ, cp.endTZ = it.etype, it.start, it.end, it.startTZ, it.endTZ
		cp.deleted = false
		cp.exceptions = map[string]map[string]any{}
		for k, v := range it.exceptions {
			cp.exceptions[k] = cloneMap(v)
		}
		cp.cancelled = map[string]bool{}
		for k, v := range it.cancelled {
			cp.cancelled[k] = v
		}
		s.touch(tb, cp)
		if cp.etype == "seriesMaster" {
			s.regenerate(tb, cp, true)
		}
	}
	for uid, cid := range it.copies {
		if want[uid] {
			continue
		}
		tb := s.boxes[uid]
		if tb == nil {
			continue
		}
		cp := tb.events[cid]
		if cp == nil || cp.deleted {
			continue
		}
		if cancelled, _ := cp.data["isCancelled"].(bool); cancelled {
			continue
		}
		cp.data["isCancelled"] = true
		if subj, _ := cp.data["subject"].(string); !strings.HasPrefix(subj, "Canceled: ") {
			cp.data["subject"] = "Canceled: " + subj
		}
		s.touch(tb, cp)
		if cp.etype == "seriesMaster" {
			s.regenerate(tb, cp, true)
		}
	}
}
