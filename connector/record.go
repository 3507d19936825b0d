package connector

import (
	"fmt"
	"math"
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
