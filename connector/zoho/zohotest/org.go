package zohotest

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// user is a CRM user of the org (Owner, Created_By, participants of type
// user).
type user struct{ id, name, email string }

// record is one stored record. values holds validated values: string,
// bool, int64, float64, time.Time (datetime), lookups as {"id": id},
// and JSON arrays/objects as decoded.
type record struct {
	id         string
	values     map[string]any
	created    time.Time
	modified   time.Time
	createdBy  *user
	modifiedBy *user
}

// deletedRecord is an entry of the recycle bin (§A3.7, §A3.8).
type deletedRecord struct {
	id, display string
	deleted     time.Time
	createdBy   *user
	deletedBy   *user
}

// pageToken is a page_token issued by a list call (§A3.1 paging).
type pageToken struct {
	signature string
	offset    int
	expires   time.Time
}

type creditEntry struct {
	at      time.Time
	credits int
}

// org is the CRM organisation of one data centre.
type org struct {
	s     *Server
	dc    *dataCenter
	orgID string
	auth  *authState

	mu      sync.Mutex
	modules map[string]*moduleDef // by lower-case api_name
	order   []*moduleDef
	recs    map[string]map[string]*record // module api -> id -> record
	deleted map[string][]*deletedRecord
	nextID  int64
	users   []*user
	lastMod time.Time
	tokens  map[string]*pageToken
	// index: module → field → lower-cased value → id (see indexed).
	index map[string]map[string]map[string]string

	inflight, heavy int
	credits         []creditEntry
	st              Stats
}

func newOrg(s *Server, dc *dataCenter, n int64) *org {
	o := &org{s: s, dc: dc, orgID: fmt.Sprintf("6%08d", 100000+n), modules: map[string]*moduleDef{},
		recs: map[string]map[string]*record{}, deleted: map[string][]*deletedRecord{}, tokens: map[string]*pageToken{},
		nextID: 4876876000000300000 + n*1000000000}
	o.auth = newAuthState(s, dc)
	for _, m := range fixtureModules() {
		for i := 1; i <= s.opts.CustomFields[m.api]; i++ {
			m.fields = append(m.fields, fieldDef{api: fmt.Sprintf("Custom_Field_%d", i), label: fmt.Sprintf("Custom Field %d", i), typ: "text", length: 255, custom: true})
		}
		o.modules[strings.ToLower(m.api)] = m
		o.order = append(o.order, m)
		o.recs[m.api] = map[string]*record{}
	}
	o.users = []*user{
		{id: fmt.Sprintf("48768760000000%05d", 12345+n), name: "Integration User", email: "integration@example.com"},
		{id: fmt.Sprintf("48768760000000%05d", 12346+n), name: "Anna Sales", email: "anna@example.com"},
	}
	return o
}

func (o *org) module(name string) *moduleDef { return o.modules[strings.ToLower(name)] }

func (o *org) newIDLocked() string {
	o.nextID++
	return fmt.Sprintf("%019d", o.nextID)
}

// stampLocked returns the time for a write: second precision and never
// before the previous write, so Modified_Time is monotonic (§C1
// change-tracking contract).
func (o *org) stampLocked() time.Time {
	t := o.s.now().Truncate(time.Second)
	if t.Before(o.lastMod) {
		t = o.lastMod
	}
	o.lastMod = t
	return t
}

func (o *org) userByID(id string) *user {
	for _, u := range o.users {
		if u.id == id {
			return u
		}
	}
	return nil
}

func (o *org) stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := o.st
	st.TokenRequests = o.auth.calls()
	return st
}

func (a *authState) calls() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tokenCalls
}

func (o *org) resetStats() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.st = Stats{}
}

// admit counts a call in flight and charges its credits, or refuses it:
// §A7 — credits per rolling 24 h, concurrency per edition, a
// sub-concurrency of 10 for heavy calls; either limit exceeded → 429.
func (o *org) admit(credits int, heavy bool) (release func(), code string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.st.Calls++
	now := o.s.now()
	used := 0
	keep := o.credits[:0]
	for _, c := range o.credits {
		if now.Sub(c.at) < 24*time.Hour {
			keep = append(keep, c)
			used += c.credits
		}
	}
	o.credits = keep
	if used+credits > o.s.opts.Credits {
		o.st.Throttled++
		// The 429 body's code is UNCONFIRMED (§A6); the emulator says
		// LIMIT_EXCEEDED for credits and TOO_MANY_REQUESTS for concurrency.
		return nil, "LIMIT_EXCEEDED"
	}
	if o.inflight >= o.s.opts.Concurrency || (heavy && o.heavy >= o.s.opts.SubConcurrency) {
		o.st.Throttled++
		return nil, "TOO_MANY_REQUESTS"
	}
	o.credits = append(o.credits, creditEntry{at: now, credits: credits})
	o.st.Credits += int64(credits)
	o.inflight++
	if heavy {
		o.heavy++
	}
	if o.inflight > o.st.MaxInFlight {
		o.st.MaxInFlight = o.inflight
	}
	return func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.inflight--
		if heavy {
			o.heavy--
		}
	}, ""
}

// sortedRecordsLocked returns a module's records ordered by sortBy
// (id|Created_Time|Modified_Time) then id.
func (o *org) sortedRecordsLocked(m *moduleDef, sortBy string, desc bool) []*record {
	recs := make([]*record, 0, len(o.recs[m.api]))
	for _, r := range o.recs[m.api] {
		recs = append(recs, r)
	}
	key := func(r *record) time.Time {
		switch sortBy {
		case "Created_Time":
			return r.created
		case "Modified_Time":
			return r.modified
		}
		return time.Time{}
	}
	sort.Slice(recs, func(i, j int) bool {
		a, b := recs[i], recs[j]
		if ka, kb := key(a), key(b); !ka.Equal(kb) {
			if desc {
				return ka.After(kb)
			}
			return ka.Before(kb)
		}
		if desc {
			return a.id > b.id
		}
		return a.id < b.id
	})
	return recs
}

// displayNameLocked is the name a lookup renders for a record.
func (o *org) displayNameLocked(m *moduleDef, r *record) string {
	if v, ok := r.values[m.nameField].(string); ok {
		return v
	}
	return ""
}

// renderLocked renders a record with the given fields (all when nil) and
// id, in the shapes of §A3.1: lookups {"name","id"}, Owner
// {"name","id","email"}, date-times with the org's offset.
func (o *org) renderLocked(m *moduleDef, r *record, fields []string) map[string]any {
	out := map[string]any{"id": r.id}
	if fields == nil {
		for _, f := range m.fields {
			fields = append(fields, f.api)
		}
	}
	for _, name := range fields {
		f := m.field(name)
		if f == nil {
			continue
		}
		switch f.api {
		case "Created_Time":
			out[f.api] = o.formatTime(r.created)
			continue
		case "Modified_Time":
			out[f.api] = o.formatTime(r.modified)
			continue
		case "Created_By":
			out[f.api] = map[string]any{"name": r.createdBy.name, "id": r.createdBy.id}
			continue
		case "Modified_By":
			out[f.api] = map[string]any{"name": r.modifiedBy.name, "id": r.modifiedBy.id}
			continue
		}
		v, ok := r.values[f.api]
		if !ok || v == nil {
			out[f.api] = nil
			continue
		}
		switch f.typ {
		case "datetime":
			out[f.api] = o.formatTime(v.(time.Time))
		case "ownerlookup":
			u := o.userByID(v.(map[string]any)["id"].(string))
			out[f.api] = map[string]any{"name": u.name, "id": u.id, "email": u.email}
		case "lookup":
			id := v.(map[string]any)["id"].(string)
			target := f.lookup
			if target == "se_module" {
				target, _ = r.values["$se_module"].(string)
				out["$se_module"] = target
			}
			name := ""
			if tm := o.module(target); tm != nil {
				if tr, ok := o.recs[tm.api][id]; ok {
					name = o.displayNameLocked(tm, tr)
				}
			}
			out[f.api] = map[string]any{"name": name, "id": id}
		default:
			out[f.api] = v
		}
	}
	return out
}

func (o *org) formatTime(t time.Time) string {
	return t.In(o.s.tz).Format("2006-01-02T15:04:05-07:00")
}

// indexed reports whether a field has a value index: unique fields and
// the module's upsert duplicate-check fields, which every write looks up.
func indexed(m *moduleDef, f string) bool {
	if contains(m.upsert, f) {
		return true
	}
	fd := m.field(f)
	return fd != nil && fd.unique
}

func (o *org) indexLocked(m *moduleDef, r *record, add bool) {
	if o.index == nil {
		o.index = map[string]map[string]map[string]string{}
	}
	for _, f := range m.fields {
		if !indexed(m, f.api) {
			continue
		}
		v, ok := r.values[f.api].(string)
		if !ok || v == "" {
			continue
		}
		byField := o.index[m.api]
		if byField == nil {
			byField = map[string]map[string]string{}
			o.index[m.api] = byField
		}
		idx := byField[f.api]
		if idx == nil {
			idx = map[string]string{}
			byField[f.api] = idx
		}
		key := strings.ToLower(v)
		if add {
			if cur, ok := idx[key]; !ok || r.id < cur {
				idx[key] = r.id
			}
		} else if idx[key] == r.id {
			delete(idx, key)
			// Another record may hold the same value (non-unique upsert field).
			for _, other := range o.recs[m.api] {
				if other.id != r.id {
					if ov, ok := other.values[f.api].(string); ok && strings.ToLower(ov) == key {
						if cur, ok := idx[key]; !ok || other.id < cur {
							idx[key] = other.id
						}
					}
				}
			}
		}
	}
}

// findByValueLocked returns a record whose field equals v, ignoring case:
// the lowest id when several do.
func (o *org) findByValueLocked(m *moduleDef, f, v string, except string) *record {
	key := strings.ToLower(v)
	if indexed(m, f) {
		id, ok := o.index[m.api][f][key]
		if !ok {
			return nil // the index holds every value of an indexed field
		}
		if id != except {
			return o.recs[m.api][id]
		}
		if m.field(f).unique {
			return nil
		}
	}
	var best *record
	for _, r := range o.recs[m.api] {
		if r.id == except {
			continue
		}
		if s, ok := r.values[f].(string); ok && strings.ToLower(s) == key && (best == nil || r.id < best.id) {
			best = r
		}
	}
	return best
}
