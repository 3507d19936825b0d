package jsonl

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// entityDef is an entity resolved from settings: its key, change tracking,
// tombstone marker and, when declared, its fields.
type entityDef struct {
	name     string
	key      string
	modified string // "" when the entity has no change tracking
	deleted  string
	// fields is nil for an entity whose fields are inferred from its file.
	fields map[string]fieldDef
}

// fieldDef is one field's type and rules.
type fieldDef struct {
	kind     schema.Kind
	required bool
	readOnly bool
	nullable bool
	elem     schema.Kind // element kind of a Collection (inferred only)
	values   []string    // enum values
}

func (f fieldDef) schemaType() schema.Type {
	t := schema.Type{Kind: f.kind, Values: f.values}
	if f.kind == schema.Collection {
		t.Elem = &schema.Type{Kind: f.elem}
	}
	return t
}

// defFromSettings resolves an entity's declared settings.
func defFromSettings(name string, es entitySettings) *entityDef {
	d := &entityDef{name: name, key: es.Key, modified: es.ModifiedField, deleted: es.DeletedField}
	if es.Fields != nil {
		d.fields = make(map[string]fieldDef, len(es.Fields))
		for fname, fs := range es.Fields {
			f := fieldDef{
				kind:     schema.Kind(fs.Type),
				required: fs.Required || fname == es.Key,
				readOnly: fs.ReadOnly || fname == es.ModifiedField,
				values:   fs.Values,
			}
			f.nullable = !f.required
			d.fields[fname] = f
		}
	}
	return d
}

// defaultDef is the definition of an entity found only as a file.
func defaultDef(name string) *entityDef {
	return &entityDef{name: name, key: defaultKey, deleted: defaultDeleted}
}

// fieldOrder returns the field names with the key first, then by name.
func fieldOrder(key string, fields map[string]fieldDef) []string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		if n != key {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if _, ok := fields[key]; ok {
		names = append([]string{key}, names...)
	}
	return names
}

// plainValue turns a value decoded with json.Decoder.UseNumber into the
// record value types: a number is int64 when it is integral and fits, else
// float64.
func plainValue(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, fmt.Errorf("number %s is out of range", x)
		}
		if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
			return int64(f), nil
		}
		return f, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			p, err := plainValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = p
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			p, err := plainValue(e)
			if err != nil {
				return nil, err
			}
			out[k] = p
		}
		return out, nil
	}
	return v, nil
}

// coerce converts a record value (or a plain JSON value read from a file)
// to the Go type of f's kind. It accepts the JSON spellings of the kinds a
// file holds: RFC 3339 strings for timestamps, YYYY-MM-DD for dates, base64
// for bytes, integral doubles for ints.
func coerce(f fieldDef, v any) (any, error) {
	if v == nil {
		if f.required {
			return nil, fmt.Errorf("is required and cannot be null")
		}
		return nil, nil
	}
	switch f.kind {
	case schema.Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case schema.Int:
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
				return int64(x), nil
			}
			return nil, fmt.Errorf("want an integer, got %v", x)
		}
	case schema.Double:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
	case schema.String:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case schema.Enum:
		if s, ok := v.(string); ok {
			if !slices.Contains(f.values, s) {
				return nil, fmt.Errorf("%q is not one of %q", s, f.values)
			}
			return s, nil
		}
	case schema.Timestamp:
		switch x := v.(type) {
		case time.Time:
			return x, nil
		case string:
			t, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				return nil, fmt.Errorf("want an RFC 3339 timestamp, got %q", x)
			}
			return t, nil
		}
	case schema.Date:
		switch x := v.(type) {
		case connector.Date:
			return x, nil
		case string:
			d, err := connector.ParseDate(x)
			if err != nil {
				return nil, err
			}
			return d, nil
		}
	case schema.Bytes:
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			b, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return nil, fmt.Errorf("want base64, got %q", x)
			}
			return b, nil
		}
	case schema.Collection:
		if l, ok := v.([]any); ok {
			return l, nil
		}
	case schema.Any:
		return v, nil
	}
	return nil, fmt.Errorf("want %s, got %s", f.kind, describe(v))
}

// describe names a value's kind for error messages without quoting it
// whole.
func describe(v any) string {
	switch v.(type) {
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "double"
	case string:
		return "string"
	case []byte:
		return "bytes"
	case time.Time:
		return "timestamp"
	case connector.Date:
		return "date"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// toJSON turns a record value into what the file holds: timestamps as RFC
// 3339 strings with their offset, dates as YYYY-MM-DD, bytes as base64.
func toJSON(v any) (any, error) {
	switch x := v.(type) {
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	case connector.Date:
		return x.String(), nil
	case []byte:
		return base64.StdEncoding.EncodeToString(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%v cannot be written as JSON", x)
		}
		return x, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			j, err := toJSON(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = j
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			j, err := toJSON(e)
			if err != nil {
				return nil, fmt.Errorf(".%s: %w", k, err)
			}
			out[k] = j
		}
		return out, nil
	}
	return v, nil
}

// keyString is the canonical form of a key value: the string itself, or an
// integer in decimal.
func keyString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		if x == "" {
			return "", fmt.Errorf("is empty")
		}
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return strconv.FormatInt(int64(x), 10), nil
		}
	case nil:
		return "", fmt.Errorf("is missing")
	}
	return "", fmt.Errorf("must be a string or an integer, got %s", describe(v))
}

// encodeLine renders one line of a file (without the newline). Object keys
// are sorted, so equal records give equal bytes.
func encodeLine(fields map[string]any) ([]byte, error) {
	m := make(map[string]any, len(fields))
	for k, v := range fields {
		j, err := toJSON(v)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		m[k] = j
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// inferFields infers an entity's fields from the plain values of its live
// records: a field is int when every non-null value is integral, double
// when numbers are mixed, bool, string, a collection, or any (objects and
// mixed kinds). The modified field is a timestamp and read-only, the key is
// required; every other inferred field is nullable and optional, since a
// file says nothing about what a writer must supply.
func inferFields(d *entityDef, recs []map[string]any) map[string]fieldDef {
	kinds := map[string]schema.Kind{}
	for _, r := range recs {
		for name, v := range r {
			if name == d.deleted {
				continue
			}
			k := plainKind(v)
			if k == "" {
				if _, ok := kinds[name]; !ok {
					kinds[name] = ""
				}
				continue
			}
			switch prev := kinds[name]; {
			case prev == "" || prev == k:
				kinds[name] = k
			case (prev == schema.Int && k == schema.Double) || (prev == schema.Double && k == schema.Int):
				kinds[name] = schema.Double
			default:
				kinds[name] = schema.Any
			}
		}
	}
	out := make(map[string]fieldDef, len(kinds)+1)
	for name, k := range kinds {
		if k == "" {
			k = schema.Any
		}
		f := fieldDef{kind: k, nullable: true}
		if k == schema.Collection {
			f.elem = schema.Any
		}
		out[name] = f
	}
	key := out[d.key]
	switch kinds[d.key] {
	case "":
		key.kind = schema.String
	case schema.Int, schema.String:
	default:
		key.kind = schema.Any // mixed or invalid keys; reading names the bad line
	}
	key.required, key.nullable = true, false
	out[d.key] = key
	if d.modified != "" {
		out[d.modified] = fieldDef{kind: schema.Timestamp, readOnly: true, nullable: true}
	}
	return out
}

func plainKind(v any) schema.Kind {
	switch v.(type) {
	case nil:
		return ""
	case bool:
		return schema.Bool
	case int64:
		return schema.Int
	case float64:
		return schema.Double
	case string:
		return schema.String
	case []any:
		return schema.Collection
	}
	return schema.Any
}
