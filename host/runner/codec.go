package runner

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/syncplane/syncplane/connector"
)

// The record codec renders a connector.Record as JSON that decodes back to
// the same typed values, for dead letters (retried later) and for hashing.
// Plain JSON carries null, bool, string, int64 (a number without '.' or
// exponent) and float64 (a number with one); the other types are tagged
// objects of one key: {"$float": 3} for an integral float, {"$time":
// "RFC 3339"}, {"$date": "YYYY-MM-DD"}, {"$bytes": "base64"}. A map with a
// key starting with "$" is wrapped as {"$map": {...}} so it is never taken
// for a tag.

type recordJSON struct {
	ID        string         `json:"id"`
	Partition string         `json:"partition,omitempty"`
	Version   string         `json:"version,omitempty"`
	Modified  string         `json:"modified,omitempty"`
	Deleted   bool           `json:"deleted,omitempty"`
	Fields    map[string]any `json:"fields"`
}

// encodeRecord renders r as tagged JSON: what json.Marshal gives for its
// recordJSON, written directly.
func encodeRecord(r connector.Record) ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, `{"id":`...)
	b = appendJSONString(b, r.ID)
	for _, f := range []struct{ name, v string }{{"partition", r.Partition}, {"version", r.Version}} {
		if f.v != "" {
			b = append(b, `,"`+f.name+`":`...)
			b = appendJSONString(b, f.v)
		}
	}
	if !r.Modified.IsZero() {
		b = append(b, `,"modified":`...)
		b = appendJSONString(b, r.Modified.Format(time.RFC3339Nano))
	}
	if r.Deleted {
		b = append(b, `,"deleted":true`...)
	}
	b = append(b, `,"fields":`...)
	b, err := appendTaggedMap(b, r.Fields)
	if err != nil {
		return nil, fmt.Errorf("encoding record %q: %w", r.ID, err)
	}
	return append(b, '}'), nil
}

// decodeRecord parses what encodeRecord rendered.
func decodeRecord(data []byte) (connector.Record, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var j struct {
		recordJSON
		Fields map[string]any `json:"fields"`
	}
	if err := dec.Decode(&j); err != nil {
		return connector.Record{}, fmt.Errorf("decoding a stored record: %w", err)
	}
	r := connector.Record{ID: j.ID, Partition: j.Partition, Version: j.Version, Deleted: j.Deleted}
	if j.Modified != "" {
		t, err := time.Parse(time.RFC3339Nano, j.Modified)
		if err != nil {
			return r, fmt.Errorf("decoding record %q: modified: %w", j.ID, err)
		}
		r.Modified = t
	}
	f, err := untag(j.Fields)
	if err != nil {
		return r, fmt.Errorf("decoding record %q: %w", j.ID, err)
	}
	if m, ok := f.(map[string]any); ok {
		r.Fields = m
	} else {
		r.Fields = map[string]any{}
	}
	return r, nil
}

func tagMap(m map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for k, v := range m {
		t, err := tag(v)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		out[k] = t
	}
	return out, nil
}

func tag(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string, int64:
		return v, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return map[string]any{"$float": strconv.FormatFloat(x, 'g', -1, 64)}, nil
		}
		if x == math.Trunc(x) {
			return map[string]any{"$float": x}, nil
		}
		return x, nil
	case []byte:
		return map[string]any{"$bytes": base64.StdEncoding.EncodeToString(x)}, nil
	case time.Time:
		return map[string]any{"$time": x.Format(time.RFC3339Nano)}, nil
	case connector.Date:
		return map[string]any{"$date": x.String()}, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			t, err := tag(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = t
		}
		return out, nil
	case map[string]any:
		t, err := tagMap(x)
		if err != nil {
			return nil, err
		}
		for k := range x {
			if strings.HasPrefix(k, "$") {
				return map[string]any{"$map": t}, nil
			}
		}
		return t, nil
	}
	n, err := connector.NormalizeValue(v)
	if err != nil {
		return nil, err
	}
	return tag(n)
}

func untag(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		s := x.String()
		if strings.ContainsAny(s, ".eE") {
			return x.Float64()
		}
		return x.Int64()
	case []any:
		for i, e := range x {
			u, err := untag(e)
			if err != nil {
				return nil, err
			}
			x[i] = u
		}
		return x, nil
	case map[string]any:
		if len(x) == 1 {
			for k, e := range x {
				switch k {
				case "$float":
					switch n := e.(type) {
					case json.Number:
						return n.Float64()
					case string:
						return strconv.ParseFloat(n, 64)
					}
				case "$bytes":
					s, _ := e.(string)
					return base64.StdEncoding.DecodeString(s)
				case "$time":
					s, _ := e.(string)
					return time.Parse(time.RFC3339Nano, s)
				case "$date":
					s, _ := e.(string)
					return connector.ParseDate(s)
				case "$map":
					inner, _ := e.(map[string]any)
					return untagPlain(inner)
				}
			}
		}
		return untagPlain(x)
	}
	return v, nil
}

func untagPlain(m map[string]any) (any, error) {
	for k, e := range m {
		u, err := untag(e)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		m[k] = u
	}
	return m, nil
}

// hashFields returns a stable hash of typed field values: equal values give
// equal hashes whatever the map order.
//
// The hash is of the tagged JSON of the fields with sorted keys (the bytes
// json.Marshal gives for tagMap(fields)), so it stays what earlier
// versions stored.
func hashFields(fields map[string]any) (string, error) {
	buf := hashBufs.Get().(*[]byte)
	defer hashBufs.Put(buf)
	b, err := appendTaggedMap((*buf)[:0], fields)
	if err != nil {
		return "", err
	}
	*buf = b
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), nil
}

// hashBufs recycles hashFields' buffers.
var hashBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
