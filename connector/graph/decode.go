package graph

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
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
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
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
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return deltaItem{}, fmt.Errorf("decoding a %s: %w", d.entity, err)
	}
	return d.item(m)
}

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
	out := make(map[string]any, len(m))
	for k, v := range m {
		if strings.HasPrefix(k, "@") || strings.Contains(k, "@odata.") {
			continue
		}
		cv, err := convert(v, d.fields[k])
		if err != nil {
			return deltaItem{}, fmt.Errorf("field %s: %w", k, err)
		}
		out[k] = cv
	}
	return deltaItem{ID: id, Fields: out}, nil
}

// convert maps a decoded JSON value to a record value of type t (nil when
// the field is not in the schema: then numbers become int64 or float64 and
// strings stay strings).
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
	case json.Number:
		if t != nil && t.Kind == schema.Double {
			return x.Float64()
		}
		if n, err := x.Int64(); err == nil {
			return n, nil
		}
		return x.Float64()
	case []any:
		var elem *schema.Type
		if t != nil && t.Kind == schema.Collection {
			elem = t.Elem
		}
		out := make([]any, len(x))
		for i, e := range x {
			c, err := convert(e, elem)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = c
		}
		return out, nil
	case map[string]any:
		var fields []schema.Field
		if t != nil && t.Kind == schema.Complex {
			fields = t.Fields
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			if strings.HasPrefix(k, "@odata.") {
				continue
			}
			var ft *schema.Type
			for i := range fields {
				if fields[i].Name == k {
					ft = &fields[i].Type
					break
				}
			}
			c, err := convert(e, ft)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = c
		}
		return out, nil
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
	}
	return r
}

// tombstone makes the record of a deleted item.
func tombstone(id, mailbox string) connector.Record {
	return connector.Record{ID: id, Deleted: true, Partition: mailbox,
		Fields: map[string]any{"id": id, "user": mailbox, "isDeleted": true}}
}
