package sagecrm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// Entity numbers of the email and phone link fields (crm-api-facts.md B7
// EmailLink: 13 = Person).
const linkPerson = 13

// composed names the fields the connector builds from linked rows or derives.
var composed = map[string]bool{
	"emails": true, "phones": true, "start": true, "end": true, "due": true, "all_day": true,
	"person_ids": true, "user_ids": true, "company_ids": true, versionField: true,
}

// plan is a validated write: the body to send and the linked rows to keep.
type plan struct {
	body     map[string]any
	emails   []map[string]any // nil: leave alone
	phones   []map[string]any
	links    map[string][]int64 // link column → wanted ids; absent: leave alone
	hasLinks bool
}

// toWire converts a record value to the JSON the server takes for a field.
func (c *Connector) toWire(f *schema.Field, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch f.Type.Kind {
	case schema.Timestamp:
		switch x := v.(type) {
		case time.Time:
			return formatServer(x, c.cfg.loc), nil
		case connector.Date:
			return formatServer(wallToInstant(time.Date(x.Year, x.Month, x.Day, 0, 0, 0, 0, time.UTC), c.cfg.loc), c.cfg.loc), nil
		case string:
			t, err := parseServer(x, c.cfg.loc)
			if err != nil {
				return nil, err
			}
			return formatServer(t, c.cfg.loc), nil
		}
		return nil, fmt.Errorf("expected a timestamp, got %T", v)
	case schema.Int:
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == float64(int64(x)) {
				return int64(x), nil
			}
		case string:
			if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
				return n, nil
			}
		}
		return nil, fmt.Errorf("expected an integer, got %v", v)
	case schema.Double:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		case string:
			if n, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return n, nil
			}
		}
		return nil, fmt.Errorf("expected a number, got %v", v)
	case schema.Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("expected true or false, got %v", v)
	}
	switch x := v.(type) {
	case string:
		if f.Type.Kind == schema.Enum {
			for _, allowed := range f.Type.Values {
				if strings.EqualFold(allowed, x) {
					return allowed, nil
				}
			}
			if x != "" {
				return nil, fmt.Errorf("%q is not one of %q", x, f.Type.Values)
			}
		}
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	}
	return nil, fmt.Errorf("expected text, got %T", v)
}

// makePlan validates a record for info and returns what to send, or the
// diagnostics naming every offending field. current is the stored record
// for an update (nil on create).
func (c *Connector) makePlan(info *entityInfo, rec connector.Record, create bool, currentType string) (*plan, connector.Diagnostics) {
	p := &plan{body: map[string]any{}, links: map[string][]int64{}}
	var ds connector.Diagnostics
	names := make([]string, 0, len(rec.Fields))
	for k := range rec.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		v := rec.Fields[name]
		lower := strings.ToLower(name)
		if composed[lower] && info.fields[lower] != nil {
			continue
		}
		f := info.fields[lower]
		if f == nil {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, name, "Sage CRM entity %s has no field %s", info.name, name))
			continue
		}
		if f.ReadOnly {
			continue // ids and system dates read back from Sage CRM are ignored on write
		}
		wv, err := c.toWire(f, v)
		if err != nil {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, name, "%s: %v", name, err))
			continue
		}
		p.body[lower] = wv
	}
	switch info.name {
	case "person":
		if v, ok := rec.Fields["emails"]; ok && info.fields["emails"] != nil {
			p.emails, ds = childList(info, "emails", "address", v, ds)
			if p.emails == nil {
				p.emails = []map[string]any{}
			}
		}
		if v, ok := rec.Fields["phones"]; ok && info.fields["phones"] != nil {
			p.phones, ds = childList(info, "phones", "number", v, ds)
			if p.phones == nil {
				p.phones = []map[string]any{}
			}
		}
	case "communication":
		ds = c.planCommunication(info, rec, p, currentType, ds)
	}
	if create {
		for _, f := range info.entity.Fields {
			if !f.Required || composed[f.Name] {
				continue
			}
			if v, ok := p.body[f.Name]; !ok || v == nil || v == "" {
				ds = append(ds, connector.FieldErrorf(connector.InvalidInput, f.Name, "%s is mandatory in Sage CRM to create a %s", f.Name, info.name))
			}
		}
	}
	if len(ds) > 0 {
		return nil, ds
	}
	return p, nil
}

// childList validates a list of email or phone items.
func childList(info *entityInfo, field, valueKey string, v any, ds connector.Diagnostics) ([]map[string]any, connector.Diagnostics) {
	if v == nil {
		return nil, ds
	}
	items, ok := v.([]any)
	if !ok {
		return nil, append(ds, connector.FieldErrorf(connector.InvalidInput, field, "%s must be a list of objects with %s and type", field, valueKey))
	}
	var typeValues []string
	if f := info.fields[field]; f != nil && f.Type.Elem != nil {
		for _, sub := range f.Type.Elem.Fields {
			if sub.Name == "type" {
				typeValues = sub.Type.Values
			}
		}
	}
	var out []map[string]any
	for i, it := range items {
		at := fmt.Sprintf("%s[%d]", field, i)
		m, ok := it.(map[string]any)
		if !ok {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, at, "%s must be an object with %s and type", at, valueKey))
			continue
		}
		val, _ := m[valueKey].(string)
		if strings.TrimSpace(val) == "" {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, at+"."+valueKey, "%s.%s is required", at, valueKey))
			continue
		}
		typ, _ := m["type"].(string)
		if typ == "" {
			typ = "Business"
		}
		if len(typeValues) > 0 {
			found := ""
			for _, tv := range typeValues {
				if strings.EqualFold(tv, typ) {
					found = tv
				}
			}
			if found == "" {
				ds = append(ds, connector.FieldErrorf(connector.InvalidInput, at+".type", "%s.type %q is not one of %q", at, typ, typeValues))
				continue
			}
			typ = found
		}
		item := map[string]any{"type": typ, valueKey: val}
		for _, k := range []string{"country_code", "area_code"} {
			if s, ok := m[k].(string); ok {
				item[k] = s
			}
		}
		out = append(out, item)
	}
	return out, ds
}

// planCommunication maps start, end, due and all_day onto comm_datetime and
// comm_todatetime (appointments: start, end; tasks: due, start — B7) and
// reads the participant lists.
func (c *Connector) planCommunication(info *entityInfo, rec connector.Record, p *plan, currentType string, ds connector.Diagnostics) connector.Diagnostics {
	typ := currentType
	if t, ok := p.body["comm_type"].(string); ok && t != "" {
		typ = t
	}
	task := strings.EqualFold(typ, "Task")
	allDay, _ := rec.Fields["all_day"].(bool)
	ts := &schema.Field{Name: "comm_datetime", Type: schema.Type{Kind: schema.Timestamp}}
	set := func(neutral, column string) {
		v, ok := rec.Fields[neutral]
		if !ok || info.fields[neutral] == nil {
			return
		}
		if d, isDate := v.(connector.Date); isDate && !allDay {
			// A date alone is the start of that day in the server's zone.
			v = d
		}
		wv, err := c.toWire(ts, v)
		if err != nil {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, neutral, "%s: %v", neutral, err))
			return
		}
		if raw, given := p.body[column]; given && raw != wv {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, neutral, "%s and %s are both given and differ (%v, %v)", neutral, column, wv, raw))
			return
		}
		p.body[column] = wv
	}
	if task {
		set("due", "comm_datetime")
		set("start", "comm_todatetime")
		if v, ok := rec.Fields["end"]; ok && v != nil {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, "end", "a task has no end; use due (comm_datetime) and start (comm_todatetime)"))
		}
	} else {
		set("start", "comm_datetime")
		set("end", "comm_todatetime")
		if v, ok := rec.Fields["due"]; ok && v != nil {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, "due", "an appointment has no due date; use start and end"))
		}
	}
	if v, ok := rec.Fields["all_day"]; ok && info.fields["all_day"] != nil {
		switch b := v.(type) {
		case nil:
		case bool:
			if b {
				p.body["comm_isalldayevent"] = "Y"
			} else {
				p.body["comm_isalldayevent"] = nil
			}
		default:
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, "all_day", "all_day must be true or false, got %v", v))
		}
	}
	for field, column := range map[string]string{"person_ids": "cmli_comm_personid", "user_ids": "cmli_comm_userid", "company_ids": "cmli_comm_companyid"} {
		v, ok := rec.Fields[field]
		if !ok || info.fields[field] == nil {
			continue
		}
		p.hasLinks = true
		items, _ := v.([]any)
		switch v.(type) {
		case string, int64:
			// One id (what a query step yields) stands for a list of one.
			items = []any{v}
		}
		if v != nil && items == nil {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, field, "%s must be a list of ids", field))
			continue
		}
		ids := []int64{}
		for i, it := range items {
			n, err := strconv.ParseInt(strings.TrimSpace(fmt.Sprint(it)), 10, 64)
			if err != nil {
				ds = append(ds, connector.FieldErrorf(connector.InvalidInput, fmt.Sprintf("%s[%d]", field, i), "%s[%d]: %q is not a Sage CRM id", field, i, fmt.Sprint(it)))
				continue
			}
			ids = append(ids, n)
		}
		p.links[column] = ids
	}
	return ds
}

// Write applies a batch. A create is made idempotent by remembering the
// idempotency key with the created id in the host's value store before the
// outcome is returned; a retried create with the same key updates that
// record instead (a crash between the server's answer and that store can
// still leave a duplicate). Kept keys are deleted after
// IdempotencyRetention (swept by a write at most once an hour). An update
// first reads the stored record (one
// GET); when every value it would send is already held and the linked rows
// already match, nothing is sent and the outcome is Unchanged. Every
// outcome of a create or update carries as Version the version ReadChanges
// gives the record next (see the package documentation, "Versions"), and
// as Stored the record as ReadChanges would emit it: for an entity without
// linked rows from the server's answer (or one GET when the answer holds
// the fields sent only), for person and communication from one GET of the
// record and one per linked resource. An error that is not about one
// record (the server unreachable, the password refused) fails the batch.
func (c *Connector) Write(ctx context.Context, batch connector.WriteBatch) ([]connector.WriteOutcome, error) {
	defer c.saveUsage(ctx)
	info, err := c.entity(ctx, batch.Entity)
	if err != nil {
		return nil, err
	}
	if err := c.idem.Prune(ctx, c.now()); err != nil {
		return nil, err
	}
	out := make([]connector.WriteOutcome, 0, len(batch.Ops))
	for _, op := range batch.Ops {
		o, err := c.writeOne(ctx, info, op)
		if err != nil {
			return out, err
		}
		o.IdempotencyKey = op.IdempotencyKey
		out = append(out, o)
	}
	return out, nil
}

func rejected(ds ...*connector.Diagnostic) connector.WriteOutcome {
	return connector.WriteOutcome{Status: connector.Rejected, Diagnostics: ds}
}

// recordError turns an error about one record into a rejection, or returns
// it as a batch error when it is not about the record.
func recordError(err error, subject string) (connector.WriteOutcome, error) {
	d := errDiag(err, subject)
	switch connector.CodeOf(d) {
	case connector.InvalidInput, connector.NotFound, connector.Conflict:
		return rejected(connector.AsDiagnostics(d)...), nil
	}
	return connector.WriteOutcome{}, d
}

func (c *Connector) writeOne(ctx context.Context, info *entityInfo, op connector.WriteOp) (connector.WriteOutcome, error) {
	if info.readOnly {
		return rejected(connector.Errorf(connector.InvalidInput, "Sage CRM entity %s is read-only", info.name)), nil
	}
	subject := fmt.Sprintf("writing %s %s", info.name, op.TargetID)
	switch op.Action {
	case connector.ActionDelete:
		id, err := parseID(op.TargetID)
		if err != nil {
			return rejected(connector.FieldErrorf(connector.InvalidInput, info.idField, "delete needs the %s id, got %q", info.name, op.TargetID)), nil
		}
		_, _, err = c.c.do(ctx, http.MethodDelete, fmt.Sprintf("%s('%d')", info.name, id), nil, nil)
		if err != nil && !isStatus(err, http.StatusNotFound) {
			return recordError(err, subject)
		}
		// B5: a deleted record answers 404, so a repeated delete is done.
		return connector.WriteOutcome{Status: connector.Deleted, TargetID: op.TargetID}, nil
	case connector.ActionUpsert:
	default:
		return rejected(connector.Errorf(connector.InvalidInput, "unknown write action %d", op.Action)), nil
	}
	target := op.TargetID
	if target == "" && op.IdempotencyKey != "" {
		kept, _, err := c.idem.Lookup(ctx, info.name, op.IdempotencyKey)
		if err != nil {
			return connector.WriteOutcome{}, err
		}
		target = kept
	}
	var current *row
	if target != "" {
		// The stored record: to skip an update that would change nothing
		// and to know a communication's type when the op does not give it.
		cur, err := c.readOne(ctx, info, target)
		if err != nil {
			return recordError(err, subject)
		}
		current = &cur
	}
	currentType := ""
	if current != nil && info.name == "communication" {
		if _, given := op.Record.Fields["comm_type"]; !given {
			currentType, _ = current.rec.Fields["comm_type"].(string)
		}
	}
	p, ds := c.makePlan(info, op.Record, target == "", currentType)
	if ds != nil {
		return rejected(ds...), nil
	}
	var entry []byte
	status := connector.Updated
	if target == "" {
		_, data, err := c.c.do(ctx, http.MethodPost, info.name, nil, p.body)
		if err != nil {
			return recordError(err, "creating "+info.name)
		}
		entry = data
		id := entryID(decodeMap(data), info.idField)
		if id == "" {
			return connector.WriteOutcome{}, connector.Errorf(connector.Internal, "Sage CRM created a %s but its answer names no id", info.name)
		}
		target, status = id, connector.Created
		if op.IdempotencyKey != "" {
			if err := c.idem.Remember(ctx, info.name, op.IdempotencyKey, id, c.now()); err != nil {
				return connector.WriteOutcome{}, fmt.Errorf("remembering the idempotency key of %s %s: %w", info.name, id, err)
			}
		}
	} else if !c.sameValues(info, p.body, current.rec.Fields) {
		id, err := parseID(target)
		if err != nil {
			return rejected(connector.FieldErrorf(connector.InvalidInput, info.idField, "update needs the %s id, got %q", info.name, target)), nil
		}
		entry, err = c.update(ctx, info, id, p.body)
		if err != nil {
			return recordError(err, subject)
		}
	}
	id, _ := parseID(target)
	childChanged, err := c.writeChildren(ctx, info, id, p)
	if err != nil {
		o, berr := recordError(err, "writing the linked rows of "+info.name+" "+target)
		o.TargetID = target
		return o, berr
	}
	unchanged := status == connector.Updated && entry == nil && !childChanged
	o := connector.WriteOutcome{Status: status, TargetID: target}
	if unchanged {
		o.Status = connector.Unchanged
	}
	if info.updated == "" {
		return o, nil
	}
	// The version is what ReadChanges gives the record after every write
	// of this op: *_updateddate, which the answer to POST or PATCH carries
	// unless the server answered with the fields sent only (B3, B5); with
	// linked rows, the composite version over them (compositeVersion),
	// read with the rows themselves, one GET per linked resource. A record
	// with linked rows is read back with one GET as well, since writing
	// the rows can move its updated date (B8.1).
	var after row
	switch {
	case unchanged:
		after = *current
	case entry != nil && len(info.children) == 0:
		if r, err := c.decodeEntry(info, entry); err == nil && !r.updated.IsZero() {
			after = r
		}
	}
	if after.updated.IsZero() {
		r, err := c.readOne(ctx, info, target)
		if err != nil {
			// The write is done; only its version is unknown.
			o.Diagnostics = connector.Diagnostics{connector.Warnf(connector.CodeOf(errDiag(err, subject)),
				"%s %s was written but its updated date could not be read back", info.name, target)}
			return o, nil
		}
		after = r
	}
	rows := []row{after}
	if _, err := c.compose(ctx, info, rows); err != nil {
		o.Diagnostics = connector.Diagnostics{connector.Warnf(connector.CodeOf(errDiag(err, subject)),
			"%s %s was written but its linked rows could not be read back for its version", info.name, target)}
		return o, nil
	}
	o.Version = rows[0].rec.Version
	o.Stored = &rows[0].rec
	return o, nil
}

// readOne reads one record by id, without its linked rows.
func (c *Connector) readOne(ctx context.Context, info *entityInfo, target string) (row, error) {
	id, err := parseID(target)
	if err != nil {
		return row{}, connector.FieldErrorf(connector.InvalidInput, info.idField, "not a Sage CRM %s id: %q", info.name, target)
	}
	_, data, err := c.c.do(ctx, http.MethodGet, fmt.Sprintf("%s('%d')", info.name, id), nil, nil)
	if err != nil {
		return row{}, err
	}
	r, err := c.decodeEntry(info, data)
	if err != nil {
		return row{}, connector.Errorf(connector.Internal, "reading %s %s: %v", info.name, target, err)
	}
	return r, nil
}

// sameValues reports whether the server already holds every value of an
// update body: each value is compared as the record value it would read
// back as (dates as instants, an empty text as no value).
func (c *Connector) sameValues(info *entityInfo, body, stored map[string]any) bool {
	for k, wv := range body {
		f := info.fields[k]
		if f == nil {
			return false
		}
		b, err := json.Marshal(wv)
		if err != nil {
			return false
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var raw any
		if err := dec.Decode(&raw); err != nil {
			return false
		}
		want, err := c.fromWire(f.Type.Kind, raw)
		if err != nil || !sameValue(want, stored[k]) {
			return false
		}
	}
	return true
}

func sameValue(a, b any) bool {
	if a == "" {
		a = nil
	}
	if b == "" {
		b = nil
	}
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	return a == b
}

// idempotencyPrefix starts the value-store keys of idempotency keys: a
// create's target id is kept under "idem/<entity>/<key>" (see
// connector.IdempotencyKeys).
const idempotencyPrefix = "idem/"

// IdempotencyRetention is how long the id a create made is kept under its
// idempotency key (connector.DefaultIdempotencyRetention); a create
// retried later than this can make a second record.
const IdempotencyRetention = connector.DefaultIdempotencyRetention

// update sends a partial update with PATCH, or PUT once the server refused
// PATCH (B5: both are documented).
func (c *Connector) update(ctx context.Context, info *entityInfo, id int64, body map[string]any) ([]byte, error) {
	path := fmt.Sprintf("%s('%d')", info.name, id)
	for range 2 {
		verb := http.MethodPatch
		if c.c.putUpdates.Load() {
			verb = http.MethodPut
		}
		_, data, err := c.c.do(ctx, verb, path, nil, body)
		if isStatus(err, http.StatusMethodNotAllowed) {
			c.c.putUpdates.Store(verb == http.MethodPatch)
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(data)) == 0 {
			data = []byte("{}")
		}
		return data, nil
	}
	return nil, connector.Errorf(connector.InvalidInput, "Sage CRM refused both PATCH and PUT on %s", path)
}

func parseID(s string) (int64, error) { return strconv.ParseInt(strings.TrimSpace(s), 10, 64) }

func decodeMap(data []byte) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	return m
}

// fieldCI reads a field of an entry case-insensitively (B4).
func fieldCI(m map[string]any, name string) any {
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// entryID reads the id of an entry: $key, else the id field.
func entryID(m map[string]any, idField string) string {
	if k, ok := m["$key"].(string); ok && k != "" {
		return k
	}
	switch v := fieldCI(m, idField).(type) {
	case float64:
		return strconv.FormatInt(int64(v), 10)
	case string:
		return v
	}
	return ""
}

// writeChildren makes the linked rows match the plan and reports whether
// it had to create, change or delete any.
func (c *Connector) writeChildren(ctx context.Context, info *entityInfo, id int64, p *plan) (bool, error) {
	changed := false
	for _, ch := range info.children {
		switch ch.resource {
		case "email":
			if p.emails != nil {
				did, err := c.syncItems(ctx, ch, id, p.emails, "address", map[string]string{"address": "emai_emailaddress", "type": "elink_type"}, "elink_entityid", "elink_type")
				if err != nil {
					return changed, err
				}
				changed = changed || did
			}
		case "phone":
			if p.phones != nil {
				did, err := c.syncItems(ctx, ch, id, p.phones, "number", map[string]string{"number": "phon_number", "type": "plink_type", "country_code": "phon_countrycode", "area_code": "phon_areacode"}, "plink_entityid", "plink_type")
				if err != nil {
					return changed, err
				}
				changed = changed || did
			}
		case "comm_link":
			if p.hasLinks {
				did, err := c.syncLinks(ctx, ch, id, p.links)
				if err != nil {
					return changed, err
				}
				changed = changed || did
			}
		}
	}
	return changed, nil
}

// existing reads the visible child rows of a parent.
func (c *Connector) existing(ctx context.Context, ch childSpec, parent int64) ([]row, error) {
	var rows []row
	err := c.scan(ctx, ch.info, and(ch.filter, fmt.Sprintf("%s eq %d", ch.parentField, parent)), nil, func(rs []row) error {
		rows = append(rows, rs...)
		return nil
	})
	return rows, err
}

// syncItems makes a person's email or phone rows equal the wanted list:
// rows are matched by type, then by value; matched rows are updated when
// they differ, missing ones created, the others deleted. It reports whether
// it wrote anything.
func (c *Connector) syncItems(ctx context.Context, ch childSpec, parent int64, want []map[string]any, valueKey string, columns map[string]string, entityCol, typeCol string) (bool, error) {
	have, err := c.existing(ctx, ch, parent)
	if err != nil {
		return false, err
	}
	changed := false
	used := make([]bool, len(have))
	match := func(w map[string]any) int {
		for _, key := range []string{"type", valueKey} {
			for i, h := range have {
				if !used[i] && strings.EqualFold(fmt.Sprint(h.rec.Fields[columns[key]]), fmt.Sprint(w[key])) {
					return i
				}
			}
		}
		return -1
	}
	for _, w := range want {
		body := map[string]any{}
		for k, col := range columns {
			if v, ok := w[k]; ok {
				body[col] = v
			}
		}
		i := match(w)
		if i < 0 {
			body[entityCol] = linkPerson
			body[ch.parentField] = parent
			if _, _, err := c.c.do(ctx, http.MethodPost, ch.resource, nil, body); err != nil {
				return changed, err
			}
			changed = true
			continue
		}
		used[i] = true
		same := true
		for col, v := range body {
			if fmt.Sprint(have[i].rec.Fields[col]) != fmt.Sprint(v) {
				same = false
			}
		}
		if !same {
			if _, err := c.update(ctx, ch.info, have[i].id, body); err != nil {
				return changed, err
			}
			changed = true
		}
	}
	for i, h := range have {
		if !used[i] {
			if _, _, err := c.c.do(ctx, http.MethodDelete, fmt.Sprintf("%s('%d')", ch.resource, h.id), nil, nil); err != nil && !isStatus(err, http.StatusNotFound) {
				return changed, err
			}
			changed = true
		}
	}
	return changed, nil
}

// syncLinks makes a communication's comm_link rows hold exactly the wanted
// people, users and companies; Sage CRM does not create them from the
// communication (B7: "the connector should create it explicitly"), and
// reports whether it wrote anything.
func (c *Connector) syncLinks(ctx context.Context, ch childSpec, comm int64, want map[string][]int64) (bool, error) {
	have, err := c.existing(ctx, ch, comm)
	if err != nil {
		return false, err
	}
	changed := false
	for column, ids := range want {
		wanted := map[int64]bool{}
		for _, id := range ids {
			wanted[id] = true
		}
		for _, h := range have {
			v, ok := h.rec.Fields[column].(int64)
			if !ok {
				continue
			}
			if wanted[v] {
				delete(wanted, v)
				continue
			}
			if _, _, err := c.c.do(ctx, http.MethodDelete, fmt.Sprintf("%s('%d')", ch.resource, h.id), nil, nil); err != nil && !isStatus(err, http.StatusNotFound) {
				return changed, err
			}
			changed = true
		}
		for _, id := range ids {
			if !wanted[id] {
				continue
			}
			delete(wanted, id)
			body := map[string]any{ch.parentField: comm, column: id}
			if _, _, err := c.c.do(ctx, http.MethodPost, ch.resource, nil, body); err != nil {
				var se *sdataError
				if errors.As(err, &se) && se.payload != "" && strings.EqualFold(se.payload, column) {
					field := map[string]string{"cmli_comm_personid": "person_ids", "cmli_comm_userid": "user_ids", "cmli_comm_companyid": "company_ids"}[column]
					return changed, connector.FieldErrorf(connector.InvalidInput, field, "%s: %d does not exist in Sage CRM", field, id).WithDetail("%s", se.Error())
				}
				return changed, err
			}
			changed = true
		}
	}
	return changed, nil
}
