package graphtest

import (
	"encoding/binary"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/syncplane/syncplane/internal/jsonenc"
)

// An event's stored properties are kept encoded, as they are written into
// answers, from the moment the event is stored or changed (touch): a
// calendarView delta page or a GET then copies them and writes only the
// properties the service computes per request (ids, times in the
// preferred zone, …), instead of encoding the stored map again for every
// answer. The data of an event changes only with touch (a new change
// number) or a new map — delta rounds find changes by change number, so a
// change without it would not reach clients either — and an encoding is
// used only while both are those it was made for (storedFor); otherwise
// the event is encoded from its map (appendEventData), which gives the
// same bytes.

// storedJSON is the data map of an event encoded property by property.
type storedJSON struct {
	data  map[string]any // the map encoded
	names *propNames     // its property names, sorted as appendJSON sorts them
	// vals holds the values' JSON: that of names.names[i] is
	// vals[ends[i-1]:ends[i]] (from 0 for i = 0).
	vals []byte
	ends []uint32
}

// propNames is a sorted set of property names, with `"name":` of each
// written ahead. Events mostly have the same properties: their encodings
// share one set (Server.propNames) rather than each holding the names.
type propNames struct {
	names []string
	heads []byte // `"name":` of names[i] is heads[ends[i-1]:ends[i]]
	ends  []uint32
	// recurrence says the names include recurrence (see withRecurrence).
	recurrence bool
}

// propNameSets holds the property name sets of a server's encodings.
type propNameSets struct {
	mu sync.Mutex
	m  map[string]*propNames // by the names, each after its length
}

// intern returns the set of the sorted names keys, made once; joined is
// scratch space.
func (ps *propNameSets) intern(keys []string, joined []byte) (*propNames, []byte) {
	joined = joined[:0]
	for _, k := range keys {
		joined = append(binary.AppendUvarint(joined, uint64(len(k))), k...)
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if pn := ps.m[string(joined)]; pn != nil {
		return pn, joined
	}
	pn := &propNames{names: make([]string, len(keys)), ends: make([]uint32, len(keys))}
	for i, k := range keys {
		pn.names[i] = strings.Clone(k)
		pn.heads = append(jsonenc.AppendString(pn.heads, k), ':')
		pn.ends[i] = uint32(len(pn.heads))
		pn.recurrence = pn.recurrence || k == "recurrence"
	}
	if ps.m == nil {
		ps.m = map[string]*propNames{}
	}
	ps.m[string(joined)] = pn
	return pn, joined
}

// head returns `"name":` of name i.
func (pn *propNames) head(i int) []byte {
	from := uint32(0)
	if i > 0 {
		from = pn.ends[i-1]
	}
	return pn.heads[from:pn.ends[i]]
}

// encodeStored encodes data, or returns nil when a value cannot be
// encoded (the event is then written from its map, which answers the
// error).
func (s *Server) encodeStored(data map[string]any, organizer sharedValue) *storedJSON {
	kp := keyPool.Get().(*[]string)
	keys := (*kp)[:0]
	for k := range data {
		keys = append(keys, k)
	}
	eventKeys().sort(keys)
	// Encoded into a pooled buffer first, then kept in one of the exact
	// size.
	bp := scratchPool.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		clear(keys)
		*kp = keys[:0]
		keyPool.Put(kp)
		if cap(buf) <= 64<<10 {
			*bp = buf[:0]
			scratchPool.Put(bp)
		}
	}()
	st := &storedJSON{data: data, ends: make([]uint32, len(keys))}
	st.names, buf = s.propNames.intern(keys, buf)
	buf = buf[:0]
	for i, k := range keys {
		v := data[k]
		if enc := sharedEncoding(v, organizer); enc != nil {
			buf = append(buf, enc...)
		} else {
			var err error
			if buf, err = appendJSON(buf, v); err != nil {
				return nil
			}
		}
		if len(buf) > 1<<31 {
			return nil
		}
		st.ends[i] = uint32(len(buf))
	}
	// Exact size: the event keeps it as long as it is unchanged.
	st.vals = append(make([]byte, 0, len(buf)), buf...)
	return st
}

// plainJSON reports whether s is written in JSON as it is, between quotes
// (printable ASCII without quote or backslash).
func plainJSON[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b >= 0x7f || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}

// val returns the JSON of the value of property i.
func (st *storedJSON) val(i int) []byte {
	from := uint32(0)
	if i > 0 {
		from = st.ends[i-1]
	}
	return st.vals[from:st.ends[i]]
}

// storeEncoded keeps the encoding of it's data for the change touch just
// recorded (see storedJSON). An occurrence shares its master's data and so
// its master's encoding. s.mu or b.mu is held for writing.
func (s *Server) storeEncoded(b *mailbox, it *item) {
	it.stored, it.storedSeq = nil, it.seq
	if it.etype == "" || it.deleted {
		return // not an event, or a tombstone (never rendered)
	}
	if it.master != "" {
		if m := b.events[it.master]; m != nil && m.storedFor() != nil && sameMap(m.data, it.data) {
			it.stored = m.stored
			return
		}
	}
	it.stored = s.encodeStored(it.data, b.owner.json)
}

// sharedValue is a nested value events share (never changed in place,
// see defaultEventBody) with its JSON, written once.
type sharedValue struct {
	m   map[string]any
	enc []byte
}

// newSharedValue encodes m for a sharedValue, nil when it cannot.
func newSharedValue(m map[string]any) sharedValue {
	enc, err := appendJSON(nil, m)
	if err != nil {
		return sharedValue{}
	}
	return sharedValue{m: m, enc: enc}
}

// sharedDefaults are the nested values of new events (createEvent) with
// their JSON.
var sharedDefaults = sync.OnceValue(func() []sharedValue {
	return []sharedValue{newSharedValue(defaultEventBody), newSharedValue(defaultEventLocation), newSharedValue(organizerResponse)}
})

// sharedEncoding returns the JSON of v when it is one of the shared
// defaults or organizer (the same map, not one of equal contents), else
// nil: what appendJSON writes for it, written when the value was made.
func sharedEncoding(v any, organizer sharedValue) []byte {
	m, ok := v.(map[string]any)
	if !ok || m == nil {
		return nil
	}
	if organizer.m != nil && sameMap(m, organizer.m) {
		return organizer.enc
	}
	for _, sv := range sharedDefaults() {
		if sv.m != nil && sameMap(m, sv.m) {
			return sv.enc
		}
	}
	return nil
}

// storedFor returns the encoding of it's data if it is that of the data
// it holds now, else nil.
func (it *item) storedFor() *storedJSON {
	if st := it.stored; st != nil && it.storedSeq == it.seq && sameMap(st.data, it.data) {
		return st
	}
	return nil
}

// sameMap reports whether a and b are the same map (not equal contents).
func sameMap(a, b map[string]any) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// computedFields appends to fs, in the order of their names (sortFields
// counts on it), the properties the service computes for the event it
// (eventFields) as their JSON, written into scratch; rec says its data
// holds a recurrence.
func computedFields(it *item, tzName string, immutable, rec bool, fs []kv, scratch []byte) ([]kv, []byte) {
	if tzName == "" {
		tzName = "UTC"
	}
	loc, canon, ok := zone(tzName)
	if !ok {
		loc, canon = time.UTC, "UTC"
	}
	raw := func(k string, from int) kv {
		return kv{k: k, raw: scratch[from:len(scratch):len(scratch)]}
	}
	// The times, change keys (base64), zone names and ids hold no
	// character JSON escapes but the quotes of the etag; the web link is
	// query-escaped.
	from := len(scratch)
	scratch = append(append(append(scratch, `"W/\"`...), it.changeKey...), `\""`...)
	fs = append(fs, raw("@odata.etag", from))
	from = len(scratch)
	scratch = jsonenc.AppendString(scratch, it.changeKey)
	fs = append(fs, raw("changeKey", from))
	from = len(scratch)
	scratch = appendGraphTime(scratch, it.created.UTC(), true)
	fs = append(fs, raw("createdDateTime", from))
	from = len(scratch)
	scratch = appendZoned(scratch, it.end, loc, canon)
	fs = append(fs, raw("end", from))
	if it.icaluid != "" {
		from = len(scratch)
		scratch = jsonenc.AppendString(scratch, it.icaluid)
		fs = append(fs, raw("iCalUId", from))
	}
	from = len(scratch)
	scratch = appendExtID(scratch, it.id, immutable)
	idJSON := scratch[from:]
	fs = append(fs, raw("id", from))
	from = len(scratch)
	scratch = appendGraphTime(scratch, it.modified.UTC(), true)
	fs = append(fs, raw("lastModifiedDateTime", from))
	from = len(scratch)
	scratch = jsonenc.AppendString(scratch, it.endTZ)
	fs = append(fs, raw("originalEndTimeZone", from))
	from = len(scratch)
	scratch = jsonenc.AppendString(scratch, it.startTZ)
	fs = append(fs, raw("originalStartTimeZone", from))
	if !rec || it.etype != "seriesMaster" {
		fs = append(fs, kv{k: "recurrence"})
	}
	if it.master == "" {
		fs = append(fs, kv{k: "seriesMasterId"})
	} else {
		from = len(scratch)
		scratch = appendExtID(scratch, it.master, immutable)
		fs = append(fs, raw("seriesMasterId", from))
	}
	from = len(scratch)
	scratch = appendZoned(scratch, it.start, loc, canon)
	fs = append(fs, raw("start", from))
	from = len(scratch)
	scratch = jsonenc.AppendString(scratch, it.etype)
	fs = append(fs, raw("type", from))
	from = len(scratch)
	scratch = append(scratch, `"https://outlook.office365.com/owa/?itemid=`...)
	if plain := idJSON[1 : len(idJSON)-1]; plainJSON(plain) {
		scratch = appendQueryEscape(scratch, plain)
	} else {
		scratch = appendQueryEscape(scratch, []byte(extID(it.id, immutable)))
	}
	scratch = append(scratch, `&exvsurl=1&path=/calendar/item"`...)
	fs = append(fs, raw("webLink", from))
	return fs, scratch
}

// appendExtID appends the JSON of extID(internal, immutable).
func appendExtID(dst []byte, internal string, immutable bool) []byte {
	if internal == "" || !plainJSON(internal) {
		return jsonenc.AppendString(dst, extID(internal, immutable))
	}
	prefix := restIDPrefix
	if immutable {
		prefix = immutableIDPrefix
	}
	dst = append(append(append(dst, '"'), prefix...), internal...)
	return append(dst, `AAA="`...)
}

// appendZoned appends the JSON appendJSON writes for dtz(t, canon) where
// loc is canon's location: {"dateTime":…,"timeZone":…}, members in sorted
// order.
func appendZoned(dst []byte, t time.Time, loc *time.Location, canon string) []byte {
	dst = append(dst, `{"dateTime":`...)
	dst = appendGraphTime(dst, t.In(loc), false)
	dst = append(dst, `,"timeZone":`...)
	dst = jsonenc.AppendString(dst, canon)
	return append(dst, '}')
}

// appendGraphTime appends t as appendQuotedTime appends it in
// graphTimeLayout, with a "Z" after it when utc: the digits written
// directly, rather than by interpreting the layout (four times per
// rendered event).
func appendGraphTime(dst []byte, t time.Time, utc bool) []byte {
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		layout := graphTimeLayout
		if utc {
			layout += "Z"
		}
		return appendQuotedTime(dst, t, layout)
	}
	hour, minute, sec := t.Clock()
	d2 := func(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }
	dst = append(dst, '"')
	dst = d2(d2(dst, year/100), year%100)
	dst = d2(append(dst, '-'), int(month))
	dst = d2(append(dst, '-'), day)
	dst = d2(append(dst, 'T'), hour)
	dst = d2(append(dst, ':'), minute)
	dst = d2(append(dst, ':'), sec)
	dst = append(dst, '.')
	frac := t.Nanosecond() / 100 // seven digits, truncated as Format does
	var digits [7]byte
	for i := 6; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	dst = append(dst, digits[:]...)
	if utc {
		dst = append(dst, 'Z')
	}
	return append(dst, '"')
}

// appendQueryEscape appends url.QueryEscape(string(s)): unreserved
// characters as they are, space as '+', every other byte %XX.
func appendQueryEscape(dst, s []byte) []byte {
	const upperHex = "0123456789ABCDEF"
	for _, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			dst = append(dst, c)
		case c == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return dst
}

// sortFields sorts fs by name, keeping, of properties of one name, the last
// (as appendJSONOverlay does); fs[:sorted] is in order already (the
// computed fields), each later field is put in place with one copy.
func sortFields(fs []kv, sorted int) []kv {
	for i := max(sorted, 1); i < len(fs); i++ {
		f := fs[i]
		// After every field of a name up to f's: of fields of one name
		// the later stays later.
		lo, hi := 0, i
		for lo < hi {
			if m := int(uint(lo+hi) >> 1); fs[m].k > f.k {
				hi = m
			} else {
				lo = m + 1
			}
		}
		j := lo
		copy(fs[j+1:i+1], fs[j:i])
		fs[j] = f
	}
	out := fs[:0]
	for i := range fs {
		if i+1 < len(fs) && fs[i+1].k == fs[i].k {
			continue
		}
		out = append(out, fs[i])
	}
	return out
}

// appendMerged appends the JSON object of the stored properties st with
// the properties fs (sorted by sortFields) set on them and drop left out:
// what appendJSONOverlay writes for st.data, fs and drop. With sel not
// empty only the properties a $select of sel keeps are written (see
// project: names starting with '@', and those equal to one of sel without
// regard to case).
func appendMerged(dst []byte, st *storedJSON, fs []kv, drop string, sel []string) ([]byte, error) {
	dst = append(dst, '{')
	first := true
	names := st.names.names
	// stored writes stored property i unless it is dropped or not selected.
	stored := func(i int) {
		if name := names[i]; name != drop && (len(sel) == 0 || selected(name, sel)) {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(append(dst, st.names.head(i)...), st.val(i)...)
		}
	}
	i, n := 0, len(names)
	for _, f := range fs {
		for ; i < n; i++ {
			name := names[i]
			c := compareName(name, f.k)
			if c == 0 {
				i++ // f replaces it
			}
			if c >= 0 {
				break
			}
			stored(i)
		}
		if f.k == drop || len(sel) > 0 && !selected(f.k, sel) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(jsonenc.AppendString(dst, f.k), ':')
		var err error
		if dst, err = f.appendValue(dst); err != nil {
			return dst, err
		}
	}
	for ; i < n; i++ {
		stored(i)
	}
	return append(dst, '}'), nil
}

// compareName is strings.Compare(a, b): names are short and most
// differ in their first bytes, which this finds sooner than the runtime's
// comparison of strings.
func compareName(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// selected reports whether a $select of sel keeps the property name (see
// project).
func selected(name string, sel []string) bool {
	if strings.HasPrefix(name, "@") {
		return true
	}
	for _, s := range sel {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}
