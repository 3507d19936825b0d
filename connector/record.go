package connector

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"slices"
	"time"
)

// Record is one entity instance. Fields holds values of these Go types only:
//
//	nil              null
//	bool             bool
//	int64            int
//	float64          double
//	string           string (and enum)
//	[]byte           bytes
//	time.Time        timestamp
//	Date             date
//	[]any            collection
//	map[string]any   complex
//
// Normalize converts the other integer and float types a connector may
// produce; the SDK normalizes every record it sends across the boundary.
type Record struct {
	// ID identifies the record in its system (within its partition).
	ID string
	// Fields maps field names to values; an absent field is not in the map.
	Fields map[string]any
	// Deleted marks a tombstone.
	Deleted bool
	// Version is the system's concurrency token (changeKey, ETag), if any.
	Version string
	// Modified is the system's last-modification time, zero when unknown.
	Modified time.Time
	// Partition is the partition the record was read from.
	Partition string
}

// Date is a calendar date without a time zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// String renders the date as YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// ParseDate parses YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("parsing date %q: want YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// DateOf returns the date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{Year: y, Month: m, Day: d}
}

// Operation says what happened to a record in a change feed.
type Operation int

// Change operations.
const (
	Upsert Operation = iota + 1
	Delete
)

// String names the operation.
func (o Operation) String() string {
	switch o {
	case Upsert:
		return "upsert"
	case Delete:
		return "delete"
	}
	return fmt.Sprintf("operation(%d)", int(o))
}

// Change is one upsert or delete read from a change feed.
type Change struct {
	Op     Operation
	Record Record
}

// NormalizeValue returns v converted to one of the value types documented on
// Record, or an error naming the Go type it cannot represent.
func NormalizeValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, int64, float64, string, []byte, Date:
		return v, nil
	case time.Time:
		return x, nil
	case int:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint:
		if uint64(x) > math.MaxInt64 {
			return nil, fmt.Errorf("unsigned value %d overflows int64", x)
		}
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return nil, fmt.Errorf("unsigned value %d overflows int64", x)
		}
		return int64(x), nil
	case float32:
		return float64(x), nil
	case *time.Time:
		if x == nil {
			return nil, nil
		}
		return *x, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := NormalizeValue(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = n
		}
		return out, nil
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := NormalizeValue(e)
			if err != nil {
				return nil, fmt.Errorf(".%s: %w", k, err)
			}
			out[k] = n
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value type %T", v)
}

// Normalize converts every field of r with NormalizeValue, in place. The
// error names the field.
func (r *Record) Normalize() error {
	for k, v := range r.Fields {
		n, err := NormalizeValue(v)
		if err != nil {
			return fmt.Errorf("record %q field %s: %w", r.ID, k, err)
		}
		r.Fields[k] = n
	}
	return nil
}

// Clone returns a deep copy of r.
func (r Record) Clone() Record {
	c := r
	if r.Fields != nil {
		c.Fields = cloneValue(r.Fields).(map[string]any)
	}
	return c
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	case []byte:
		return append([]byte(nil), x...)
	}
	return v
}

// ValuesEqual reports whether two record values (the types documented on
// Record) hold the same value. It is the one comparison the SDK, the
// conformance kit and the connectors use, and it is strict about kinds:
//
//   - nil equals only nil.
//   - bool, string, Date: same Go type and ==.
//   - int64 equals only an int64 and float64 only a float64 of the same
//     number: an int and a double are different values even when they hold
//     the same number (int64(3) != float64(3)). A value of another numeric
//     Go type (int, float32) is not normalized and equals only the same type
//     and value; call NormalizeValue first.
//   - float64: NaN equals NaN (a record may carry NaN, and a copy of it
//     holds the same value); +0 equals -0, as with ==.
//   - time.Time: the same instant, whatever the location or monotonic
//     reading (time.Time.Equal).
//   - []byte: the same bytes; a nil and an empty slice are equal.
//   - []any: the same length and pairwise equal elements.
//   - map[string]any: the same keys, each with equal values; a key holding
//     nil differs from an absent key.
//
// Values of any other Go type are compared with reflect.DeepEqual, so
// ValuesEqual never panics, whatever it is given.
func ValuesEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || (math.IsNaN(x) && math.IsNaN(y)))
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, ValuesEqual)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !ValuesEqual(v, w) {
				return false
			}
		}
		return true
	case bool, int64, string, Date:
		return a == b
	}
	return reflect.DeepEqual(a, b)
}
