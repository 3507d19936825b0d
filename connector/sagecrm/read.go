package sagecrm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// row is one decoded entry.
type row struct {
	id      int64
	updated time.Time
	sum     uint64 // FNV-1a of the entry as the server sent it
	rec     connector.Record
}

// decodeEntry converts one entry into a record with lower-case field names
// and typed values (B4: field names arrive in metadata or lower casing).
func (c *Connector) decodeEntry(info *entityInfo, raw json.RawMessage) (row, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return row{}, fmt.Errorf("decoding a %s entry: %w", info.name, err)
	}
	h := fnv.New64a()
	h.Write(raw)
	r := row{sum: h.Sum64(), rec: connector.Record{Fields: make(map[string]any, len(m))}}
	for k, v := range m {
		if strings.HasPrefix(k, "$") {
			continue
		}
		name := strings.ToLower(k)
		f := info.fields[name]
		if f == nil {
			continue
		}
		val, err := c.fromWire(f.Type.Kind, v)
		if err != nil {
			return row{}, fmt.Errorf("%s field %s: %w", info.name, name, err)
		}
		r.rec.Fields[name] = val
	}
	switch id := r.rec.Fields[info.idField].(type) {
	case int64:
		r.id = id
	default:
		key, _ := m["$key"].(string)
		n, err := strconv.ParseInt(key, 10, 64)
		if err != nil {
			return row{}, fmt.Errorf("a %s entry has no integer id (%s or $key)", info.name, info.idField)
		}
		r.id = n
		r.rec.Fields[info.idField] = n
	}
	r.rec.ID = strconv.FormatInt(r.id, 10)
	if info.updated != "" {
		if t, ok := r.rec.Fields[info.updated].(time.Time); ok {
			r.updated = t
			r.rec.Modified = t
			r.rec.Version = t.Format(time.RFC3339)
		}
	}
	return r, nil
}

// fromWire converts a JSON value to the record value of a kind.
func (c *Connector) fromWire(kind schema.Kind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch kind {
	case schema.Timestamp:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("expected a date string, got %v", v)
		}
		if s == "" {
			return nil, nil
		}
		return parseServer(s, c.cfg.loc)
	case schema.Int:
		switch x := v.(type) {
		case json.Number:
			return x.Int64()
		case string:
			if x == "" {
				return nil, nil
			}
			return strconv.ParseInt(x, 10, 64)
		}
	case schema.Double:
		switch x := v.(type) {
		case json.Number:
			return x.Float64()
		case string:
			if x == "" {
				return nil, nil
			}
			return strconv.ParseFloat(x, 64)
		}
	case schema.Bool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			return strings.EqualFold(x, "y") || strings.EqualFold(x, "true"), nil
		}
	default:
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		case bool:
			return strconv.FormatBool(x), nil
		}
	}
	return nil, fmt.Errorf("unexpected value %v for a %s field", v, kind)
}

// orderBySupported reports whether the server sorts: asked once with a
// one-record probe (B3: orderBy arrived in 2024 R2).
func (c *Connector) orderBySupported(ctx context.Context, info *entityInfo) (bool, error) {
	switch c.c.orderBy.Load() {
	case 1:
		return true, nil
	case 2:
		return false, nil
	}
	_, err := c.c.feed(ctx, info.name, url.Values{"count": {"1"}, "orderBy": {info.idField}})
	switch {
	case err == nil:
		c.c.orderBy.Store(1)
		return true, nil
	case isStatus(err, http.StatusBadRequest):
		c.c.orderBy.Store(2)
		return false, nil
	}
	return false, errDiag(err, "reading "+info.name)
}

// scan reads every record of info matching where (which may be empty),
// page by page: keyset paging by id when the server sorts, startIndex
// paging otherwise (the result is then deduplicated by id). sel, when not
// nil, names the only fields wanted; a server that ignores or refuses
// select is handled.
func (c *Connector) scan(ctx context.Context, info *entityInfo, where string, sel []string, page func([]row) error) error {
	sorted, err := c.orderBySupported(ctx, info)
	if err != nil {
		return err
	}
	useSelect := sel != nil && c.c.selectOK.Load() != 2
	var last int64
	start := 1
	seen := map[int64]bool{}
	for {
		q := url.Values{"count": {strconv.Itoa(c.cfg.PageSize)}}
		w := where
		if sorted {
			q.Set("orderBy", info.idField+" asc")
			if last > 0 {
				w = and(w, fmt.Sprintf("%s gt %d", info.idField, last))
			}
		} else {
			q.Set("startIndex", strconv.Itoa(start))
		}
		if w != "" {
			q.Set("where", w)
		}
		if useSelect {
			q.Set("select", strings.Join(sel, ","))
		}
		p, err := c.c.feed(ctx, info.name, q)
		if err != nil && useSelect && isStatus(err, http.StatusBadRequest) && c.c.selectOK.Load() == 0 {
			c.c.selectOK.Store(2)
			useSelect = false
			continue
		}
		if err != nil {
			return errDiag(err, "reading "+info.name)
		}
		if useSelect {
			c.c.selectOK.Store(1)
		}
		rows := make([]row, 0, len(p.Resources))
		for _, raw := range p.Resources {
			r, err := c.decodeEntry(info, raw)
			if err != nil {
				return connector.Errorf(connector.Internal, "reading %s: %v", info.name, err)
			}
			if !sorted {
				if seen[r.id] {
					continue
				}
				seen[r.id] = true
			}
			rows = append(rows, r)
		}
		if len(rows) > 0 {
			if err := page(rows); err != nil {
				return err
			}
		}
		if len(p.Resources) == 0 {
			return nil
		}
		if sorted {
			last = rows[len(rows)-1].id
			if p.TotalResults > 0 && p.TotalResults <= len(p.Resources) {
				return nil
			}
		} else {
			start += len(p.Resources)
			if start > p.TotalResults {
				return nil
			}
		}
	}
}

func and(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return "(" + a + ") and (" + b + ")"
}

// inList renders "field in (1, 2, 3)".
func inList(field string, ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return field + " in (" + strings.Join(parts, ", ") + ")"
}

// inChunk is how many ids go into one "in" list.
const inChunk = 50

// byIDs reads the visible records among ids.
func (c *Connector) byIDs(ctx context.Context, info *entityInfo, field string, ids []int64, extra string, sel []string, page func([]row) error) error {
	for i := 0; i < len(ids); i += inChunk {
		chunk := ids[i:min(i+inChunk, len(ids))]
		if err := c.scan(ctx, info, and(inList(field, chunk), extra), sel, page); err != nil {
			return err
		}
	}
	return nil
}

// childRow is a linked row as the parent's composed field holds it.
type childRow struct {
	id, parent int64
	rec        connector.Record
}

// compose fills the fields a record gets from linked rows and the derived
// communication fields, and returns the child rows it read per resource.
func (c *Connector) compose(ctx context.Context, info *entityInfo, rows []row) (map[string][]childRow, error) {
	if info.name == "communication" {
		for i := range rows {
			deriveCommunication(rows[i].rec.Fields)
		}
	}
	if len(info.children) == 0 || len(rows) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(rows))
	byID := make(map[int64]*connector.Record, len(rows))
	for i := range rows {
		ids[i] = rows[i].id
		byID[rows[i].id] = &rows[i].rec
	}
	out := map[string][]childRow{}
	linked := make(map[int64][]string, len(rows))
	for _, ch := range info.children {
		var kids []childRow
		err := c.byIDs(ctx, ch.info, ch.parentField, ids, ch.filter, nil, func(rs []row) error {
			for _, r := range rs {
				p, _ := r.rec.Fields[ch.parentField].(int64)
				kids = append(kids, childRow{id: r.id, parent: p, rec: r.rec})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Slice(kids, func(i, j int) bool { return kids[i].id < kids[j].id })
		out[ch.resource] = kids
		for _, r := range rows {
			setComposed(ch.resource, r.rec.Fields, nil)
		}
		for _, k := range kids {
			if rec := byID[k.parent]; rec != nil {
				setComposed(ch.resource, rec.Fields, &k.rec)
				linked[k.parent] = append(linked[k.parent], fmt.Sprintf("%s:%d:%d", ch.resource, k.id, k.rec.Modified.Unix()))
			}
		}
	}
	for i := range rows {
		v := compositeVersion(rows[i].updated, linked[rows[i].id])
		rows[i].rec.Version = v
		rows[i].rec.Fields[versionField] = v
	}
	return out, nil
}

// versionField is the field of an entity with linked rows (person,
// communication) that holds its version.
const versionField = "version"

// compositeVersion is the version of a record with linked rows: its own
// updated date, and a hash of the ids and updated dates of its visible
// linked rows, so a change to the rows alone (which need not touch the
// parent's updated date, B8.1), a new row or a deleted one gives a new
// version. links are "resource:id:unix-seconds" items.
func compositeVersion(updated time.Time, links []string) string {
	sort.Strings(links)
	h := fnv.New64a()
	for _, l := range links {
		h.Write([]byte(l))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%s;%016x", updated.UTC().Format(time.RFC3339), h.Sum64())
}

// setComposed adds one child row to a parent's composed field; with a nil
// child it initialises the fields to empty lists.
func setComposed(resource string, f map[string]any, child *connector.Record) {
	add := func(name string, v any) {
		l, _ := f[name].([]any)
		if v != nil {
			l = append(l, v)
		}
		if l == nil {
			l = []any{}
		}
		f[name] = l
	}
	str := func(v any) any {
		if v == nil {
			return nil
		}
		return fmt.Sprint(v)
	}
	switch resource {
	case "email":
		if child == nil {
			add("emails", nil)
			return
		}
		add("emails", compact(map[string]any{"type": child.Fields["elink_type"], "address": child.Fields["emai_emailaddress"]}))
	case "phone":
		if child == nil {
			add("phones", nil)
			return
		}
		add("phones", compact(map[string]any{"type": child.Fields["plink_type"], "country_code": child.Fields["phon_countrycode"],
			"area_code": child.Fields["phon_areacode"], "number": child.Fields["phon_number"]}))
	case "comm_link":
		if child == nil {
			add("person_ids", nil)
			add("user_ids", nil)
			add("company_ids", nil)
			return
		}
		for field, name := range map[string]string{"cmli_comm_personid": "person_ids", "cmli_comm_userid": "user_ids", "cmli_comm_companyid": "company_ids"} {
			if v := child.Fields[field]; v != nil {
				add(name, str(v))
			}
		}
	}
}

// compact drops the null members of a composed item, so an item reads back
// as it was written.
func compact(m map[string]any) map[string]any {
	for k, v := range m {
		if v == nil {
			delete(m, k)
		}
	}
	return m
}

// deriveCommunication sets start, end, due and all_day from the raw
// columns: an appointment runs from comm_datetime to comm_todatetime; a
// task is due at comm_datetime and starts at comm_todatetime (crm-api-facts.md
// B7, the Exchange mapping Start→comm_todatetime, Due→comm_datetime).
func deriveCommunication(f map[string]any) {
	from, to := f["comm_datetime"], f["comm_todatetime"]
	if t, _ := f["comm_type"].(string); strings.EqualFold(t, "Task") {
		f["due"], f["start"], f["end"] = from, to, nil
	} else {
		f["start"], f["end"], f["due"] = from, to, nil
	}
	if v, ok := f["comm_isalldayevent"]; ok {
		s, _ := v.(string)
		f["all_day"] = strings.EqualFold(s, "Y")
	}
}

// Read emits every record of the entity, or those modified at or after
// ModifiedSince, in pages.
func (c *Connector) Read(ctx context.Context, req connector.ReadRequest, emit func([]connector.Record) error) error {
	defer c.saveUsage(ctx)
	info, err := c.entity(ctx, req.Entity)
	if err != nil {
		return err
	}
	where := ""
	if !req.ModifiedSince.IsZero() {
		if info.updated == "" {
			return connector.Errorf(connector.InvalidInput, "entity %s has no updated date to read modified records by", info.name)
		}
		where = fmt.Sprintf("%s ge %s", info.updated, quote(formatServer(req.ModifiedSince.Truncate(time.Second), c.cfg.loc)))
	}
	return c.scan(ctx, info, where, nil, func(rows []row) error {
		if _, err := c.compose(ctx, info, rows); err != nil {
			return err
		}
		recs := make([]connector.Record, len(rows))
		for i := range rows {
			recs[i] = rows[i].rec
		}
		// A page is split into batches of the size the host prefers.
		size := len(recs)
		if req.BatchSize > 0 && req.BatchSize < size {
			size = req.BatchSize
		}
		for i := 0; i < len(recs); i += size {
			if err := emit(recs[i:min(i+size, len(recs))]); err != nil {
				return err
			}
		}
		return nil
	})
}
