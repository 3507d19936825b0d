package graphtest

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/syncplane/syncplane/internal/jsonenc"
)

// appendJSON appends v encoded exactly as encoding/json's Encoder encodes
// it with SetEscapeHTML(false) (without the trailing newline): object keys
// sorted, the same string escapes and number forms. The shapes the
// emulator's answers are built of (maps, slices, strings, booleans,
// integers, floats, nil) are written directly, which takes a fraction of
// the reflection-driven encoder's time; any other value goes through
// encoding/json. TestAppendJSONMatchesEncoding holds the two to the same
// bytes.
func appendJSON(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return jsonenc.AppendString(dst, x), nil
	case bool:
		if x {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case float64:
		return appendJSONFloat(dst, x)
	case map[string]any:
		if x == nil {
			return append(dst, "null"...), nil
		}
		return appendJSONObject(dst, x)
	case []any:
		return appendJSONArray(dst, x, appendJSON)
	case []map[string]any:
		return appendJSONArray(dst, x, func(d []byte, m map[string]any) ([]byte, error) { return appendJSON(d, m) })
	case []string:
		return appendJSONArray(dst, x, func(d []byte, e string) ([]byte, error) { return jsonenc.AppendString(d, e), nil })
	case renderedJSON:
		return append(dst, x...), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, err
	}
	return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})...), nil
}

// appendJSONArray appends xs as a JSON array, each element by elem; a nil
// slice is null, as encoding/json writes it.
func appendJSONArray[T any](dst []byte, xs []T, elem func([]byte, T) ([]byte, error)) ([]byte, error) {
	if xs == nil {
		return append(dst, "null"...), nil
	}
	dst = append(dst, '[')
	for i, e := range xs {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = elem(dst, e); err != nil {
			return dst, err
		}
	}
	return append(dst, ']'), nil
}

// renderedJSON is a value already encoded by appendJSON (a cached
// rendering); appendJSON copies it as it is.
type renderedJSON []byte

// MarshalJSON returns the encoded value, so encoding/json writes it as
// appendJSON does.
func (r renderedJSON) MarshalJSON() ([]byte, error) { return r, nil }

// bodyPool holds answer buffers between requests.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// keyPool holds the key slices of objects being encoded.
var keyPool = sync.Pool{New: func() any { s := make([]string, 0, 64); return &s }}

func appendJSONObject(dst []byte, m map[string]any) ([]byte, error) {
	kp := keyPool.Get().(*[]string)
	keys := (*kp)[:0]
	for k := range m {
		keys = append(keys, k)
	}
	// encoding/json sorts keys by their text (strings.Compare).
	slices.Sort(keys)
	dst = append(dst, '{')
	var err error
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonenc.AppendString(dst, k)
		dst = append(dst, ':')
		if dst, err = appendJSON(dst, m[k]); err != nil {
			break
		}
	}
	clear(keys)
	*kp = keys[:0]
	keyPool.Put(kp)
	if err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}

// appendJSONFloat writes a float64 as encoding/json does: 'f' form, 'e'
// form below 1e-6 and from 1e21 on with a one-digit negative exponent
// written without its leading zero; NaN and infinities are errors.
func appendJSONFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, &json.UnsupportedValueError{Str: strconv.FormatFloat(f, 'g', -1, 64)}
	}
	return jsonenc.AppendFloat(dst, f), nil
}

// kv is a property of an object written by appendJSONOverlay.
type kv struct {
	k string
	v any
	// raw, when not nil, is the value's JSON, written as it is in place
	// of v's encoding (a value written ahead, without boxing it in v).
	raw []byte
}

// appendValue appends the JSON of the property's value.
func (f kv) appendValue(dst []byte) ([]byte, error) {
	if f.raw != nil {
		return append(dst, f.raw...), nil
	}
	return appendJSON(dst, f.v)
}

// keyOrder gives known property names their rank in sorted order, so the
// names of an object made only of them are put in order by rank, without
// comparing strings.
type keyOrder struct {
	names []string // sorted
	rank  map[string]int
}

func newKeyOrder(lists ...[]string) *keyOrder {
	o := &keyOrder{rank: map[string]int{}}
	for _, l := range lists {
		for _, n := range l {
			if _, ok := o.rank[n]; !ok {
				o.rank[n] = 0
				o.names = append(o.names, n)
			}
		}
	}
	slices.Sort(o.names)
	for i, n := range o.names {
		o.rank[n] = i
	}
	return o
}

// sort sorts keys as slices.Sort does.
func (o *keyOrder) sort(keys []string) {
	if o == nil || len(keys) > 64 {
		slices.Sort(keys)
		return
	}
	var present [2]uint64 // by rank; at most 128 known names
	for _, k := range keys {
		r, ok := o.rank[k]
		if !ok || r >= 128 {
			slices.Sort(keys)
			return
		}
		present[r/64] |= 1 << (r % 64)
	}
	keys = keys[:0]
	for r := range o.names {
		if present[r/64]&(1<<(r%64)) != 0 {
			keys = append(keys, o.names[r])
		}
	}
}

// appendJSONOverlay appends the JSON object of base with the properties
// of over set on it (a later one winning over an earlier one with the same
// name) and the property drop removed: the bytes appendJSON writes for
// that map, without building it. order, when not nil, knows most names.
func appendJSONOverlay(dst []byte, base map[string]any, over []kv, drop string, order *keyOrder) ([]byte, error) {
	kp := keyPool.Get().(*[]string)
	keys := (*kp)[:0]
	for k := range base {
		if k != drop && overIndex(over, k) < 0 {
			keys = append(keys, k)
		}
	}
	for i, f := range over {
		if f.k != drop && overIndex(over, f.k) == i {
			keys = append(keys, f.k)
		}
	}
	order.sort(keys)
	dst = append(dst, '{')
	var err error
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonenc.AppendString(dst, k)
		dst = append(dst, ':')
		if j := overIndex(over, k); j >= 0 {
			dst, err = over[j].appendValue(dst)
		} else {
			dst, err = appendJSON(dst, base[k])
		}
		if err != nil {
			break
		}
	}
	clear(keys)
	*kp = keys[:0]
	keyPool.Put(kp)
	if err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}

// overIndex is the index of the last property named k in over, or -1.
func overIndex(over []kv, k string) int {
	for i := len(over) - 1; i >= 0; i-- {
		if over[i].k == k {
			return i
		}
	}
	return -1
}
