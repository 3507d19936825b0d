package zoho

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// zohoTime is the date-time format of the API: ISO 8601 with an offset,
// second precision (crm-api-facts.md §A3.3 field value formats).
const zohoTime = "2006-01-02T15:04:05-07:00"

// decodeRecord converts a record as the API renders it into a Record whose
// values have the types of the entity's schema.
func decodeRecord(m *moduleMeta, raw map[string]any) (connector.Record, error) {
	id, _ := raw["id"].(string)
	r := connector.Record{ID: id, Fields: make(map[string]any, len(raw))}
	for k, v := range raw {
		if k == "id" {
			r.Fields["id"] = id
			continue
		}
		if k == "$se_module" {
			if v != nil {
				r.Fields[k] = fmt.Sprint(v)
			} else if m.hasWhat {
				r.Fields[k] = nil
			}
			continue
		}
		f, ok := m.byName[k]
		if !ok {
			continue // $-prefixed system keys and fields outside the metadata
		}
		val, err := fromJSON(typeOf(f), v)
		if err != nil {
			return r, fmt.Errorf("record %s field %s: %w", id, k, err)
		}
		r.Fields[k] = val
		if k == "Modified_Time" {
			if t, ok := val.(time.Time); ok {
				r.Modified = t
			}
			// The version is Modified_Time, which a write answer's details
			// carry too (§A3.3), normalised by versionOf.
			if s, ok := v.(string); ok {
				r.Version = versionOf(s)
			}
		}
	}
	return r, nil
}

// fromJSON converts a decoded JSON value (numbers as json.Number) to the
// record value type of t.
func fromJSON(t schema.Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch t.Kind {
	case schema.String, schema.Enum:
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		case bool:
			return fmt.Sprint(x), nil
		}
	case schema.Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case schema.Int:
		if n, ok := v.(json.Number); ok {
			return n.Int64()
		}
	case schema.Double:
		if n, ok := v.(json.Number); ok {
			return n.Float64()
		}
	case schema.Timestamp:
		if s, ok := v.(string); ok {
			return time.Parse(zohoTime, s)
		}
	case schema.Date:
		if s, ok := v.(string); ok {
			return connector.ParseDate(s)
		}
	case schema.Complex:
		if mv, ok := v.(map[string]any); ok {
			out := make(map[string]any, len(t.Fields))
			for _, f := range t.Fields {
				fv, present := mv[f.Name]
				if !present {
					continue
				}
				c, err := fromJSON(f.Type, fv)
				if err != nil {
					return nil, fmt.Errorf(".%s: %w", f.Name, err)
				}
				out[f.Name] = c
			}
			return out, nil
		}
	case schema.Collection:
		if l, ok := v.([]any); ok {
			out := make([]any, len(l))
			for i, e := range l {
				c, err := fromJSON(*t.Elem, e)
				if err != nil {
					return nil, fmt.Errorf("[%d]: %w", i, err)
				}
				out[i] = c
			}
			return out, nil
		}
	case schema.Any:
		return anyValue(v), nil
	}
	return nil, fmt.Errorf("value %v (%T) does not fit type %s", v, v, t.Kind)
}

func anyValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = anyValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = anyValue(e)
		}
		return out
	}
	return v
}

// encodeRecord converts a record's fields into the API's JSON shapes for
// a write. Read-only fields and id are left out; every value that cannot
// be written is a diagnostic naming its field.
func encodeRecord(m *moduleMeta, fields map[string]any) (map[string]any, connector.Diagnostics) {
	out := make(map[string]any, len(fields))
	var ds connector.Diagnostics
	for k, v := range fields {
		switch k {
		case "id":
			continue
		case "$se_module", "$send_notification":
			out[k] = v
			continue
		}
		f, ok := m.byName[k]
		if !ok {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, k, "%s has no field %q", m.APIName, k))
			continue
		}
		if f.readOnly() {
			continue // set by Zoho (Created_Time, Full_Name, Closed_Time, …)
		}
		if v == nil {
			out[k] = nil
			continue
		}
		val, err := toJSON(f, v)
		if err != nil {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, k, "%s.%s (%s): %v", m.APIName, k, f.DataType, err))
			continue
		}
		out[k] = val
	}
	if _, ok := out["What_Id"]; ok && out["What_Id"] != nil {
		if _, ok := out["$se_module"]; !ok {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, "$se_module", "%s.What_Id is set but $se_module (the module it points to) is not", m.APIName))
		}
	}
	return out, ds
}

func toJSON(f *fieldMeta, v any) (any, error) {
	switch f.DataType {
	case "datetime":
		switch x := v.(type) {
		case time.Time:
			// ISO 8601 with an offset, never "Z" (§A3.3).
			return x.Truncate(time.Second).Format(zohoTime), nil
		case string:
			t, err := time.Parse(time.RFC3339, x)
			if err != nil {
				return nil, fmt.Errorf("want a timestamp, got %q", x)
			}
			return t.Format(zohoTime), nil
		}
	case "date":
		switch x := v.(type) {
		case connector.Date:
			return x.String(), nil
		case time.Time:
			return connector.DateOf(x).String(), nil
		case string:
			d, err := connector.ParseDate(x)
			if err != nil {
				return nil, err
			}
			return d.String(), nil
		}
	case "picklist":
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %T", v)
		}
		return canonicalPick(f, s)
	case "multiselectpicklist":
		l, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("want a list of strings, got %T", v)
		}
		out := make([]any, len(l))
		for i, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("[%d]: want a string, got %T", i, e)
			}
			pv, err := canonicalPick(f, s)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = pv
		}
		return out, nil
	case "lookup", "ownerlookup", "userlookup":
		// A lookup is written as {"id": "..."} (§A3.3).
		switch x := v.(type) {
		case string:
			return map[string]any{"id": x}, nil
		case int64:
			return map[string]any{"id": fmt.Sprint(x)}, nil
		case map[string]any:
			id, ok := x["id"]
			if !ok || id == nil {
				return nil, fmt.Errorf("a lookup needs an id")
			}
			return map[string]any{"id": fmt.Sprint(id)}, nil
		}
	case "RRULE":
		// {"RRULE":"FREQ=…"} (§A4 Recurring_Activity).
		switch x := v.(type) {
		case string:
			return map[string]any{"RRULE": strings.TrimPrefix(x, "RRULE:")}, nil
		case map[string]any:
			return x, nil
		}
	case "ALARM":
		switch x := v.(type) {
		case string:
			return map[string]any{"ALARM": x}, nil
		case map[string]any:
			return x, nil
		}
	case "participants":
		l, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("want a list of participants, got %T", v)
		}
		// §A4: at most 50 participants; type lead|contact|user|email.
		if len(l) > 50 {
			return nil, fmt.Errorf("%d participants, Zoho allows at most 50", len(l))
		}
		out := make([]any, len(l))
		for i, e := range l {
			p, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("[%d]: want an object, got %T", i, e)
			}
			typ, _ := p["type"].(string)
			item := map[string]any{"type": typ}
			switch typ {
			case "contact", "lead", "user":
				id, ok := p["participant"]
				if !ok || id == nil || id == "" {
					return nil, fmt.Errorf("[%d]: a %s participant needs participant (the record id)", i, typ)
				}
				item["participant"] = fmt.Sprint(id)
			case "email":
				addr, _ := p["Email"].(string)
				if addr == "" {
					addr, _ = p["participant"].(string)
				}
				if addr == "" {
					return nil, fmt.Errorf("[%d]: an email participant needs Email", i)
				}
				item["Email"] = addr
			default:
				return nil, fmt.Errorf("[%d]: participant type %q is not contact, lead, user or email", i, typ)
			}
			out[i] = item
		}
		return out, nil
	case "integer", "bigint":
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == float64(int64(x)) {
				return int64(x), nil
			}
		}
		return nil, fmt.Errorf("want an integer, got %v", v)
	case "double", "currency", "percent", "decimal":
		switch x := v.(type) {
		case int64, float64:
			return x, nil
		}
		return nil, fmt.Errorf("want a number, got %T", v)
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("want true or false, got %T", v)
	case "text", "textarea", "email", "phone", "website":
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, fmt.Errorf("want a string, got %T", v)
	default:
		return v, nil
	}
	return nil, fmt.Errorf("value of type %T cannot be written to a %s field", v, f.DataType)
}

// canonicalPick returns the picklist's own spelling of s, matched ignoring
// case; a value not in the list is refused before it reaches Zoho.
func canonicalPick(f *fieldMeta, s string) (string, error) {
	vals := pickValues(f)
	if len(vals) == 0 {
		return s, nil
	}
	for _, v := range vals {
		if v == s {
			return v, nil
		}
	}
	for _, v := range vals {
		if strings.EqualFold(v, s) {
			return v, nil
		}
	}
	return "", fmt.Errorf("%q is not one of the picklist values %q", s, vals)
}

// versionOf renders a Modified_Time as a record version: the instant in UTC
// as RFC 3339, so the same instant rendered with another offset (the org's
// or the user's time zone, §A3.3 field value formats) is the same version.
// A value that is not a date-time is kept as it is.
func versionOf(modified string) string {
	t, err := time.Parse(time.RFC3339, modified)
	if err != nil {
		return modified
	}
	return t.UTC().Format(time.RFC3339)
}
