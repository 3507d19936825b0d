package graph

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// decoder turns Graph JSON items into records typed by the entity's schema:
// DateTimeOffset strings become time.Time, Edm.Date strings connector.Date,
// integers int64, binaries []byte; annotations (@odata.*) are dropped.
//
// Pages and items are decoded in one pass over the body (jsonscan.go): the
// record values are built as the bytes are read, converted by the schema
// type of where they stand, annotations and undeclared properties are
// checked and skipped without being built. The result, the errors and what
// is accepted are those of decoding with encoding/json into maps and
// converting the maps (item): the differential and fuzz tests
// (decode_fuzz_test.go) hold the two to the same output.
//
// A decoder is safe for concurrent use.
type decoder struct {
	entity string
	fields map[string]*schema.Type
	top    map[string]topField
	// hint is the number of map slots the last item needed (its fields
	// plus the two record() adds), to size the next item's map.
	hint atomic.Int32
}

// maxItemHint bounds the map size an item's map is made with, so that one
// odd item does not make every later map large.
const maxItemHint = 256

// topField is an entity field: its name (the map key records use) and
// its compiled type.
type topField struct {
	name string
	t    *ctype
}

func newDecoder(e *schema.Entity) *decoder {
	d := &decoder{entity: e.Name, fields: make(map[string]*schema.Type, len(e.Fields)),
		top: make(map[string]topField, len(e.Fields))}
	memo := map[*schema.Type]*ctype{}
	for i := range e.Fields {
		f := &e.Fields[i]
		d.fields[f.Name] = &f.Type
		d.top[f.Name] = topField{name: f.Name, t: compileType(&f.Type, memo)}
	}
	return d
}

// ckind is what a schema type changes in decoding.
type ckind uint8

const (
	kPlain      ckind = iota // strings stay strings
	kTimestamp               // RFC 3339 strings become time.Time
	kDate                    // YYYY-MM-DD strings become connector.Date
	kBool                    // "true"/"false" strings become bool
	kBytes                   // base64 strings become []byte
	kDouble                  // numbers stay float64
	kInt                     // numbers must be integers
	kCollection              // arrays convert their elements by elem
	kComplex                 // objects convert their members by fields
	kEnum                    // strings stay strings, from a small set
)

// ctype is a schema.Type compiled for decoding. A nil *ctype is the
// absence of a type (a property not in the schema, or no schema).
type ctype struct {
	kind   ckind
	elem   *ctype         // kCollection: the element type, nil if none
	fields []cfield       // kComplex: the members, in schema order
	index  map[string]int // kComplex with many members: position by name
}

// cfield is a member of a complex type.
type cfield struct {
	name string
	t    *ctype
}

// compileType compiles t; memo keeps one ctype per schema type, so that
// types reached twice (or recursively through Elem) are compiled once.
func compileType(t *schema.Type, memo map[*schema.Type]*ctype) *ctype {
	if c, ok := memo[t]; ok {
		return c
	}
	c := &ctype{}
	memo[t] = c
	switch t.Kind {
	case schema.Timestamp:
		c.kind = kTimestamp
	case schema.Date:
		c.kind = kDate
	case schema.Bool:
		c.kind = kBool
	case schema.Bytes:
		c.kind = kBytes
	case schema.Double:
		c.kind = kDouble
	case schema.Int:
		c.kind = kInt
	case schema.Enum:
		c.kind = kEnum
	case schema.Collection:
		c.kind = kCollection
		if t.Elem != nil {
			c.elem = compileType(t.Elem, memo)
		}
	case schema.Complex:
		c.kind = kComplex
		c.fields = make([]cfield, len(t.Fields))
		for i := range t.Fields {
			c.fields[i] = cfield{name: t.Fields[i].Name, t: compileType(&t.Fields[i].Type, memo)}
		}
		if len(c.fields) > 8 {
			c.index = make(map[string]int, len(c.fields))
			for i := len(c.fields) - 1; i >= 0; i-- { // the first of equal names wins
				c.index[c.fields[i].name] = i
			}
		}
	}
	return c
}

// member finds the member named key of a complex type: its name as the
// schema spells it (so map keys share the schema's strings) and type.
func (c *ctype) member(key []byte) (string, *ctype, bool) {
	if c.index != nil {
		if i, ok := c.index[string(key)]; ok {
			return c.fields[i].name, c.fields[i].t, true
		}
		return "", nil, false
	}
	for i := range c.fields {
		if c.fields[i].name == string(key) {
			return c.fields[i].name, c.fields[i].t, true
		}
	}
	return "", nil, false
}

// deltaPage is one page of a delta (or list) answer.
type deltaPage struct {
	Items     []deltaItem
	NextLink  string
	DeltaLink string
}

// deltaItem is one decoded item; Removed is set for an @removed entry,
// which carries only its id.
type deltaItem struct {
	ID      string
	Removed string // the @removed reason, "" for a present item
	Fields  map[string]any
}

// decodePage decodes a page body. A malformed item is reported in warnings
// and left out; a malformed page is an error.
//
// As with encoding/json into the page's struct, the members value,
// @odata.nextLink and @odata.deltaLink are matched without regard to case,
// the last of repeated members wins (a repeated value array decodes its
// items onto those of the earlier one, as encoding/json does with the
// maps of a slice it reuses), and null leaves a link unset.
func (d *decoder) decodePage(body []byte) (deltaPage, connector.Diagnostics, error) {
	p := getDecodeState(d, body)
	defer putDecodeState(p)
	s := &p.s
	var page deltaPage
	n := 0 // items in the (last) value array
	switch s.ws() {
	case 'n':
		s.literal("null")
	case '{':
		if s.objStart() {
			for {
				raw, fl := s.objKey()
				if s.err != nil {
					break
				}
				key := s.unquote(raw, fl)
				switch {
				case bytes.EqualFold(key, []byte("value")):
					n = p.values(n)
				case bytes.EqualFold(key, []byte("@odata.nextLink")):
					p.link(&page.NextLink)
				case bytes.EqualFold(key, []byte("@odata.deltaLink")):
					p.link(&page.DeltaLink)
				default:
					s.skip(false)
				}
				if !s.objNext() {
					break
				}
			}
		}
	default:
		s.skip(false)
		s.fail("a page must be a JSON object")
	}
	s.end()
	if s.err != nil {
		return deltaPage{}, nil, d.pageError(body, s.err)
	}
	page.Items = make([]deltaItem, 0, n)
	var warns connector.Diagnostics
	for i := 0; i < n; i++ {
		it, err := d.finish(&p.items[i])
		if err != nil {
			warns = append(warns, connector.Warnf(connector.Internal, "item %d of a %s page cannot be decoded; skipped", i, d.entity).WithDetail("%v", err))
			continue
		}
		page.Items = append(page.Items, it)
	}
	return page, warns, nil
}

// pageError phrases a page the scanner refused as encoding/json does, so
// that the error reads the same as it always has; should encoding/json
// accept the page, the scanner's own error is reported.
func (d *decoder) pageError(body []byte, err error) error {
	var raw struct {
		Value     []map[string]any `json:"value"`
		NextLink  string           `json:"@odata.nextLink"`
		DeltaLink string           `json:"@odata.deltaLink"`
	}
	if jerr := json.Unmarshal(body, &raw); jerr != nil {
		err = jerr
	}
	return fmt.Errorf("decoding a page of %s: %w", d.entity, err)
}

// decodeOne decodes a single item body (GET by id).
func (d *decoder) decodeOne(body []byte) (deltaItem, error) {
	p := getDecodeState(d, body)
	defer putDecodeState(p)
	s := &p.s
	st := &p.one
	*st = itemState{}
	switch s.ws() {
	case 'n':
		s.literal("null")
	case '{':
		st.live = true
		p.item(st)
	default:
		s.skip(true)
		s.fail("an item must be a JSON object")
	}
	s.end()
	if s.err != nil {
		var m map[string]any
		err := s.err
		if jerr := json.Unmarshal(body, &m); jerr != nil {
			err = jerr
		}
		return deltaItem{}, fmt.Errorf("decoding a %s: %w", d.entity, err)
	}
	return d.finish(st)
}

// decodeState is the working memory of one decodePage or decodeOne call,
// pooled.
type decodeState struct {
	s     jsonScanner
	d     *decoder
	stack []any       // elements of the arrays being read
	items []itemState // the items of the value array(s)
	one   itemState
	// keys is the sequence of member names of the last item read, as
	// read and classified, for decoder d (see item).
	keys []keySlot
	seed maphash.Seed
	// cache holds values recurring across items (see intern).
	cache [internSlots]internEntry
}

var decodeStates = sync.Pool{New: func() any { return &decodeState{seed: maphash.MakeSeed()} }}

func getDecodeState(d *decoder, body []byte) *decodeState {
	p := decodeStates.Get().(*decodeState)
	if p.d != d {
		p.keys = p.keys[:0]
	}
	p.d = d
	p.s.reset(body)
	p.items = p.items[:0]
	return p
}

func putDecodeState(p *decodeState) {
	// Keep no record values alive through the pool.
	clear(p.items[:cap(p.items)])
	clear(p.stack[:cap(p.stack)])
	p.one = itemState{}
	p.s.data, p.s.err = nil, nil
	if cap(p.s.buf) > 64<<10 {
		p.s.buf = nil
	}
	decodeStates.Put(p)
}

// itemState is an item being read: the state encoding/json's map would be
// in, kept in the form item() would turn it into.
type itemState struct {
	live    bool // an object was read (null or nothing leaves a nil map)
	fields  map[string]any
	id      string // the id member when it is a string
	removed bool   // the @removed member is an object
	reason  string // its reason member when that is a string
	pending []keyErr
}

// keyErr is a member whose value cannot be converted; it stays pending
// until a later member of the same name replaces the value.
type keyErr struct {
	key string
	err error
}

// set stores the value of a member, or its conversion error.
func (st *itemState) set(key string, v any, err error, hint int) {
	if err != nil {
		// The last value of a repeated member is the one that counts.
		st.pending = append(clearPending(st.pending, key), keyErr{key, err})
		return
	}
	if st.fields == nil {
		st.fields = make(map[string]any, hint)
	}
	st.fields[key] = v
	if len(st.pending) > 0 {
		st.pending = clearPending(st.pending, key)
	}
}

func clearPending(pending []keyErr, key string) []keyErr {
	out := pending[:0]
	for _, ke := range pending {
		if ke.key != key {
			out = append(out, ke)
		}
	}
	return out
}

// finish makes the item of a state read, as item() would from the map.
func (d *decoder) finish(st *itemState) (deltaItem, error) {
	if !st.live || st.id == "" {
		return deltaItem{}, fmt.Errorf("item has no id")
	}
	if st.removed {
		reason := st.reason
		if reason == "" {
			reason = "deleted"
		}
		return deltaItem{ID: st.id, Removed: reason}, nil
	}
	if len(st.pending) > 0 {
		return deltaItem{}, fmt.Errorf("field %s: %w", st.pending[0].key, st.pending[0].err)
	}
	if st.fields == nil {
		st.fields = map[string]any{}
	}
	d.hint.Store(int32(min(len(st.fields)+2, maxItemHint)))
	return deltaItem{ID: st.id, Fields: st.fields}, nil
}

// link reads @odata.nextLink or @odata.deltaLink into dst: a string, or
// null (which leaves dst as it is).
func (p *decodeState) link(dst *string) {
	s := &p.s
	switch s.ws() {
	case '"':
		raw, fl := s.str()
		if s.err == nil {
			*dst = string(s.unquote(raw, fl))
		}
	case 'n':
		s.literal("null")
	default:
		s.skip(false)
		s.fail("a link must be a string")
	}
}

// values reads the value member: an array of items (or null). n is the
// length of the value array read before, if the member is repeated; the
// items read then are decoded onto (see decodePage). It returns the
// number of items.
func (p *decodeState) values(n int) int {
	s := &p.s
	switch s.ws() {
	case 'n':
		s.literal("null")
		p.items = p.items[:0]
		return 0
	case '[':
	default:
		s.skip(true)
		s.fail("value must be an array")
		return n
	}
	if !s.arrStart() {
		p.items = p.items[:0]
		return 0
	}
	i := 0
	for {
		if i == len(p.items) {
			if i < cap(p.items) {
				p.items = p.items[:i+1]
				p.items[i] = itemState{}
			} else {
				p.items = append(p.items, itemState{})
			}
		}
		st := &p.items[i]
		switch s.ws() {
		case '{':
			st.live = true
			p.item(st)
		case 'n':
			s.literal("null")
			*st = itemState{}
		default:
			s.skip(true)
			s.fail("an item must be a JSON object")
		}
		i++
		if !s.arrNext() {
			return i
		}
	}
}

// item reads the members of an item object into st (the scanner is at
// '{'): id and @removed are noted, annotations (members starting with @ or
// holding @odata.) and properties the schema does not declare are skipped,
// the others converted by their schema type.
func (p *decodeState) item(st *itemState) {
	s := &p.s
	d := p.d
	if !s.objStart() {
		return
	}
	hint := int(d.hint.Load())
	for i := 0; ; i++ {
		raw, fl := s.objKey()
		if s.err != nil {
			return
		}
		key := s.unquote(raw, fl)
		// The items of a page are written alike: the member at place i is
		// most often the one at place i of the item before, whose name and
		// meaning are then known without a lookup.
		if i < len(p.keys) && p.keys[i].known && p.keys[i].name == string(key) {
			k := &p.keys[i]
			if k.annotation {
				s.skip(true)
			} else {
				v, err := p.value(k.f.t)
				if s.err == nil {
					st.set(k.f.name, v, err, hint)
				}
			}
			if !s.objNext() {
				return
			}
			continue
		}
		switch {
		case string(key) == "id":
			p.itemID(st, hint)
		case len(key) > 0 && key[0] == '@' || bytes.IndexByte(key, '@') >= 0 && bytes.Contains(key, []byte("@odata.")):
			if string(key) == "@removed" {
				p.removed(st)
			} else {
				p.learnKey(i, key, keySlot{known: true, annotation: true})
				s.skip(true)
			}
		default:
			f, known := d.top[string(key)]
			if known {
				p.learnKey(i, key, keySlot{known: true, f: f})
			} else {
				if len(d.top) > 0 {
					// A property the service's $metadata does not declare
					// (an open type's extra, a beta property): records
					// carry the schema's fields only, so mappings can rely
					// on the schema.
					s.skip(true)
					break
				}
				f.name = p.key(key)
			}
			v, err := p.value(f.t)
			if s.err == nil {
				st.set(f.name, v, err, hint)
			}
		}
		if !s.objNext() {
			return
		}
	}
}

// keySlot is what the member at a place of the last item was: when known,
// an annotation to skip, or a property of the schema. The id member and
// properties outside the schema are not remembered.
type keySlot struct {
	name       string
	known      bool
	annotation bool
	f          topField
}

// maxKeySlots bounds the member places remembered from the last item.
const maxKeySlots = 256

// learnKey records that the member at place i of an item is key, as k.
func (p *decodeState) learnKey(i int, key []byte, k keySlot) {
	if i >= maxKeySlots {
		return
	}
	for len(p.keys) <= i {
		p.keys = append(p.keys, keySlot{})
	}
	if k.annotation {
		k.name = string(key)
	} else {
		k.name = k.f.name // the schema's string, shared
	}
	p.keys[i] = k
}

// itemID reads an item's id member.
func (p *decodeState) itemID(st *itemState, hint int) {
	s := &p.s
	f, known := p.d.top["id"]
	keep := known || len(p.d.top) == 0
	if s.ws() != '"' {
		st.id = ""
		if !keep {
			s.skip(true)
			return
		}
		v, err := p.value(f.t)
		if s.err == nil {
			st.set("id", v, err, hint)
		}
		return
	}
	raw, fl := s.str()
	if s.err != nil {
		return
	}
	b := s.unquote(raw, fl)
	id := string(b)
	st.id = id
	if keep {
		v, err := p.stringValue(b, id, f.t)
		st.set("id", v, err, hint)
	}
}

// removed reads an item's @removed member: an object makes the item a
// removal, with the object's reason member when that is a string.
func (p *decodeState) removed(st *itemState) {
	s := &p.s
	st.removed, st.reason = false, ""
	if s.ws() != '{' {
		s.skip(true)
		return
	}
	st.removed = true
	if !s.objStart() {
		return
	}
	for {
		raw, fl := s.objKey()
		if s.err != nil {
			return
		}
		if string(s.unquote(raw, fl)) == "reason" {
			st.reason = ""
			if s.ws() == '"' {
				raw, fl := s.str()
				if s.err == nil {
					st.reason = string(s.unquote(raw, fl))
				}
			} else {
				s.skip(true)
			}
		} else {
			s.skip(true)
		}
		if !s.objNext() {
			return
		}
	}
}

// value reads the value at the scanner as a record value of type t (nil
// when the place has no schema type: then integral numbers become int64,
// other numbers float64, and strings stay strings). A conversion error is
// returned; a syntax error is left in the scanner.
func (p *decodeState) value(t *ctype) (any, error) {
	s := &p.s
	if s.err != nil {
		return nil, nil
	}
	switch c := s.ws(); c {
	case '"':
		raw, fl := s.str()
		if s.err != nil {
			return nil, nil
		}
		return p.stringValue(s.unquote(raw, fl), "", t)
	case '{':
		return p.object(t)
	case '[':
		return p.array(t)
	case 't':
		s.literal("true")
		return true, nil
	case 'f':
		s.literal("false")
		return false, nil
	case 'n':
		s.literal("null")
		return nil, nil
	default:
		if c == '-' || '0' <= c && c <= '9' {
			return p.number(t)
		}
		s.failChar("looking for beginning of value")
		return nil, nil
	}
}

// stringValue converts a string (b, or str when already made) to type t.
func (p *decodeState) stringValue(b []byte, str string, t *ctype) (any, error) {
	if t != nil {
		switch t.kind {
		case kTimestamp:
			// Timestamps recur too (a created time equal to the last
			// modified one, the zero time of a response not given):
			// parsed and boxed once.
			var e *internEntry
			if len(b) <= maxInterned {
				if e = p.intern(b, kTimestamp); e.v != nil {
					return e.v, nil
				}
			}
			ts, err := time.Parse(time.RFC3339Nano, bytesView(b))
			if err != nil {
				return nil, fmt.Errorf("%q is not a timestamp", string(b))
			}
			if e != nil {
				e.v = ts
				return e.v, nil
			}
			return ts, nil
		case kDate:
			var e *internEntry
			if len(b) <= maxInterned {
				if e = p.intern(b, kDate); e.v != nil {
					return e.v, nil
				}
			}
			dt, err := connector.ParseDate(bytesView(b))
			if err != nil {
				return nil, err
			}
			if e != nil {
				e.v = dt
				return e.v, nil
			}
			return dt, nil
		case kBool:
			// Documentation examples write booleans as strings ("isRead":
			// "true", message-delta round 2); accept the two spellings.
			if v, err := strconv.ParseBool(bytesView(b)); err == nil {
				return v, nil
			}
			return nil, fmt.Errorf("%q is not a boolean", string(b))
		case kBytes:
			v, err := base64.StdEncoding.DecodeString(bytesView(b))
			if err != nil {
				return nil, fmt.Errorf("not base64: %w", err)
			}
			return v, nil
		}
	}
	if str != "" {
		return str, nil
	}
	if len(b) <= maxInterned || t != nil && t.kind == kEnum {
		e := p.intern(b, kPlain)
		if e.v == nil {
			e.v = e.s
		}
		return e.v, nil
	}
	return string(b), nil
}

// maxInterned is the length up to which values are looked up in the
// decodeState's cache: values of that size recur across the items of a
// page and of the pages after it (time zones and their names, enumeration
// members, e-mail addresses and display names, dates and times) and
// member names too; longer ones (ids, bodies, links) seldom do.
const maxInterned = 32

// internSlots is the size of the cache.
const internSlots = 1024

// internEntry is a cached string and, once wanted, its value of a kind
// (kPlain: the string itself) as an interface value, so that a recurring
// value costs no allocation at all. Values of the kinds cached are
// immutable (strings, time.Time, connector.Date), so one interface value
// is shared by the records that hold it, across pages too.
type internEntry struct {
	hash uint64 // of s, so that a miss reads no string bytes
	s    string
	kind ckind
	v    any
}

// key makes the string of a member name outside the schema.
func (p *decodeState) key(b []byte) string {
	if len(b) <= maxInterned {
		return p.intern(b, kPlain).s
	}
	return string(b)
}

// intern returns the cache entry for b as a value of kind, made or
// replaced as needed. The cache is a direct-mapped table.
func (p *decodeState) intern(b []byte, kind ckind) *internEntry {
	h := maphash.Bytes(p.seed, b)
	e := &p.cache[h%internSlots]
	if e.hash != h || e.kind != kind || e.s != bytesView(b) {
		*e = internEntry{hash: h, s: string(b), kind: kind}
	}
	return e
}

// number converts a number to type t: float64 for a Double, int64 when
// integral and exact (below 2^53), else float64 — or an error for an Int.
func (p *decodeState) number(t *ctype) (any, error) {
	s := &p.s
	text, n, neg, small := s.number()
	if s.err != nil {
		return nil, nil
	}
	if small {
		if t != nil && t.kind == kDouble {
			if n == 0 && neg {
				return math.Copysign(0, -1), nil
			}
			return float64(n), nil
		}
		return n, nil
	}
	x := s.float(text)
	if s.err != nil {
		return nil, nil
	}
	if t != nil && t.kind == kDouble {
		return x, nil
	}
	if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
		return int64(x), nil
	}
	if t != nil && t.kind == kInt {
		return nil, fmt.Errorf("%v is not an integer", x)
	}
	return x, nil
}

// object reads an object as a map; members starting with @odata. are
// skipped; the members of a complex type are converted by their types.
func (p *decodeState) object(t *ctype) (any, error) {
	s := &p.s
	if !s.objStart() {
		if s.err != nil {
			return nil, nil
		}
		return map[string]any{}, nil
	}
	complexType := t != nil && t.kind == kComplex
	hint := 0
	if complexType {
		hint = min(len(t.fields), 8)
	}
	m := make(map[string]any, hint)
	var pending []keyErr
	for {
		raw, fl := s.objKey()
		if s.err != nil {
			return nil, nil
		}
		key := s.unquote(raw, fl)
		if bytes.HasPrefix(key, []byte("@odata.")) {
			s.skip(true)
		} else {
			var name string
			var ft *ctype
			ok := false
			if complexType {
				name, ft, ok = t.member(key)
			}
			if !ok {
				name = p.key(key)
			}
			v, err := p.value(ft)
			if s.err != nil {
				return nil, nil
			}
			if err != nil {
				pending = append(clearPending(pending, name), keyErr{name, err})
			} else {
				m[name] = v
				if len(pending) > 0 {
					pending = clearPending(pending, name)
				}
			}
		}
		if !s.objNext() {
			break
		}
	}
	if s.err != nil {
		return nil, nil
	}
	if len(pending) > 0 {
		return nil, fmt.Errorf("%s: %w", pending[0].key, pending[0].err)
	}
	return m, nil
}

// array reads an array as a []any whose elements are converted by the
// element type of a collection type; the first element that cannot be
// converted is the error.
func (p *decodeState) array(t *ctype) (any, error) {
	s := &p.s
	if !s.arrStart() {
		if s.err != nil {
			return nil, nil
		}
		return emptyArray, nil
	}
	var elem *ctype
	if t != nil && t.kind == kCollection {
		elem = t.elem
	}
	base := len(p.stack)
	var cerr error
	for i := 0; ; i++ {
		if cerr == nil {
			v, err := p.value(elem)
			if err != nil {
				cerr = fmt.Errorf("[%d]: %w", i, err)
			} else {
				p.stack = append(p.stack, v)
			}
		} else {
			s.skip(true)
		}
		if !s.arrNext() {
			break
		}
	}
	var out []any
	if s.err == nil && cerr == nil {
		out = make([]any, len(p.stack)-base)
		copy(out, p.stack[base:])
	}
	clear(p.stack[base:])
	p.stack = p.stack[:base]
	if s.err != nil {
		return nil, nil
	}
	if cerr != nil {
		return nil, cerr
	}
	return out, nil
}

// emptyArray is the value of every empty array: it has no element to
// change and no room to append in place, so records can share it.
var emptyArray any = []any{}

// item converts an object already decoded into a map (by encoding/json)
// in place, with the same result decodeOne gives for its JSON text.
func (d *decoder) item(m map[string]any) (deltaItem, error) {
	id, _ := m["id"].(string)
	if id == "" {
		return deltaItem{}, fmt.Errorf("item has no id")
	}
	if rm, ok := m["@removed"].(map[string]any); ok {
		reason, _ := rm["reason"].(string)
		if reason == "" {
			reason = "deleted"
		}
		return deltaItem{ID: id, Removed: reason}, nil
	}
	for k, v := range m {
		if strings.HasPrefix(k, "@") || strings.Contains(k, "@odata.") {
			delete(m, k)
			continue
		}
		ft, known := d.fields[k]
		if !known && len(d.fields) > 0 {
			// A property the service's $metadata does not declare (an open
			// type's extra, a beta property): records carry the schema's
			// fields only, so mappings can rely on the schema.
			delete(m, k)
			continue
		}
		cv, err := convert(v, ft)
		if err != nil {
			return deltaItem{}, fmt.Errorf("field %s: %w", k, err)
		}
		m[k] = cv
	}
	return deltaItem{ID: id, Fields: m}, nil
}

// convert maps a decoded JSON value to a record value of type t (nil when
// the field is not in the schema: then integral numbers become int64, other
// numbers float64, and strings stay strings). Maps and slices are converted
// in place.
func convert(v any, t *schema.Type) (any, error) {
	switch x := v.(type) {
	case nil, bool:
		return x, nil
	case string:
		if t == nil {
			return x, nil
		}
		switch t.Kind {
		case schema.Timestamp:
			ts, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				return nil, fmt.Errorf("%q is not a timestamp", x)
			}
			return ts, nil
		case schema.Date:
			dt, err := connector.ParseDate(x)
			if err != nil {
				return nil, err
			}
			return dt, nil
		case schema.Bool:
			// Documentation examples write booleans as strings ("isRead":
			// "true", message-delta round 2); accept the two spellings.
			if b, err := strconv.ParseBool(x); err == nil {
				return b, nil
			}
			return nil, fmt.Errorf("%q is not a boolean", x)
		case schema.Bytes:
			b, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return nil, fmt.Errorf("not base64: %w", err)
			}
			return b, nil
		}
		return x, nil
	case float64:
		// encoding/json decodes every number as float64; Graph's integers
		// are Int32/Int64 counts and minutes, exact in a float64.
		if t != nil && t.Kind == schema.Double {
			return x, nil
		}
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), nil
		}
		if t != nil && t.Kind == schema.Int {
			return nil, fmt.Errorf("%v is not an integer", x)
		}
		return x, nil
	case []any:
		var elem *schema.Type
		if t != nil && t.Kind == schema.Collection {
			elem = t.Elem
		}
		for i, e := range x {
			c, err := convert(e, elem)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			x[i] = c
		}
		return x, nil
	case map[string]any:
		var fields []schema.Field
		if t != nil && t.Kind == schema.Complex {
			fields = t.Fields
		}
		for k, e := range x {
			if strings.HasPrefix(k, "@odata.") {
				delete(x, k)
				continue
			}
			var ft *schema.Type
			for i := range fields {
				if fields[i].Name == k {
					ft = &fields[i].Type
					break
				}
			}
			switch e.(type) {
			case string, map[string]any, []any, float64:
			default:
				continue // nil and bool need no conversion
			}
			c, err := convert(e, ft)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			x[k] = c
		}
		return x, nil
	}
	return nil, fmt.Errorf("unexpected JSON value %T", v)
}

// record makes the record of a present item read from mailbox.
func record(it deltaItem, mailbox string) connector.Record {
	return recordOf(it, mailbox, mailbox)
}

// recordOf is record with the mailbox also as an interface value (user),
// which the records of a round share instead of each boxing its own.
func recordOf(it deltaItem, mailbox string, user any) connector.Record {
	it.Fields["user"] = user
	it.Fields["isDeleted"] = false
	r := connector.Record{ID: it.ID, Fields: it.Fields, Partition: mailbox}
	if ck, ok := it.Fields["changeKey"].(string); ok {
		r.Version = ck
	}
	if ts, ok := it.Fields["lastModifiedDateTime"].(time.Time); ok {
		r.Modified = ts
		if r.Version == "" {
			// To Do tasks have no changeKey; their lastModifiedDateTime
			// changes with every write and is their version (the write
			// outcome reports the same text).
			r.Version = ts.UTC().Format(time.RFC3339Nano)
		}
	}
	return r
}

// tombstone makes the record of a deleted item.
func tombstone(id, mailbox string) connector.Record {
	return connector.Record{ID: id, Deleted: true, Partition: mailbox,
		Fields: map[string]any{"id": id, "user": mailbox, "isDeleted": true}}
}
