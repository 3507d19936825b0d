package graph

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// decoder turns Graph JSON items into records typed by the entity's schema:
// DateTimeOffset strings become time.Time, Edm.Date strings connector.Date,
// integers int64, binaries []byte; annotations (@odata.*) are dropped.
type decoder struct {
	entity string
	fields map[string]*schema.Type
}

func newDecoder(e *schema.Entity) *decoder {
	d := &decoder{entity: e.Name, fields: make(map[string]*schema.Type, len(e.Fields))}
	for i := range e.Fields {
		d.fields[e.Fields[i].Name] = &e.Fields[i].Type
	}
	return d
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
func (d *decoder) decodePage(body []byte) (deltaPage, connector.Diagnostics, error) {
	var raw struct {
		Value     []map[string]any `json:"value"`
		NextLink  string           `json:"@odata.nextLink"`
		DeltaLink string           `json:"@odata.deltaLink"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return deltaPage{}, nil, fmt.Errorf("decoding a page of %s: %w", d.entity, err)
	}
	p := deltaPage{NextLink: raw.NextLink, DeltaLink: raw.DeltaLink, Items: make([]deltaItem, 0, len(raw.Value))}
	var warns connector.Diagnostics
	for i, m := range raw.Value {
		it, err := d.item(m)
		if err != nil {
			warns = append(warns, connector.Warnf(connector.Internal, "item %d of a %s page cannot be decoded; skipped", i, d.entity).WithDetail("%v", err))
			continue
		}
		p.Items = append(p.Items, it)
	}
	return p, warns, nil
}

// decodeOne decodes a single item body (GET by id).
func (d *decoder) decodeOne(body []byte) (deltaItem, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return deltaItem{}, fmt.Errorf("decoding a %s: %w", d.entity, err)
	}
	return d.item(m)
}

// item converts a decoded JSON object in place.
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
	it.Fields["user"] = mailbox
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
