package connector

import (
	"math"
	"testing"
	"time"
)

// TestValuesEqual: each rule of ValuesEqual's documentation, both ways
// round.
func TestValuesEqual(t *testing.T) {
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	now := time.Now()
	cases := []struct {
		name string
		a, b any
		want bool
	}{
		{"nil", nil, nil, true},
		{"nil and zero", nil, int64(0), false},
		{"nil and empty string", nil, "", false},
		{"bool", true, true, true},
		{"bool differs", true, false, false},
		{"int64", int64(3), int64(3), true},
		{"int64 differs", int64(3), int64(4), false},
		{"int64 and float64 of one number", int64(3), float64(3), false},
		{"int and int64 (not normalized)", 3, int64(3), false},
		{"float64", 1.5, 1.5, true},
		{"NaN", math.NaN(), math.NaN(), true},
		{"NaN and a number", math.NaN(), 1.0, false},
		{"signed zeros", 0.0, math.Copysign(0, -1), true},
		{"string", "a", "a", true},
		{"string and bytes", "a", []byte("a"), false},
		{"bytes", []byte{1, 2}, []byte{1, 2}, true},
		{"bytes differ", []byte{1, 2}, []byte{1, 3}, false},
		{"nil and empty bytes", []byte(nil), []byte{}, true},
		{"time by instant", at, at.In(time.FixedZone("+05:30", 5*3600+1800)), true},
		{"time with and without a monotonic reading", now, now.Round(0), true},
		{"times an hour apart", now, now.Add(time.Hour), false},
		{"time and its text", at, at.Format(time.RFC3339), false},
		{"date", Date{2026, 5, 1}, Date{2026, 5, 1}, true},
		{"date differs", Date{2026, 5, 1}, Date{2026, 5, 2}, false},
		{"list", []any{int64(1), "x", at}, []any{int64(1), "x", at.Local()}, true},
		{"list length", []any{int64(1)}, []any{int64(1), int64(2)}, false},
		{"list element kind", []any{int64(1)}, []any{1.0}, false},
		{"map", map[string]any{"a": math.NaN(), "b": []any{"x"}}, map[string]any{"a": math.NaN(), "b": []any{"x"}}, true},
		{"map nil value and absent key", map[string]any{"a": nil}, map[string]any{"b": nil}, false},
		{"map value differs", map[string]any{"a": "x"}, map[string]any{"a": "y"}, false},
		{"map and list", map[string]any{}, []any{}, false},
		{"other uncomparable types", []string{"a"}, []string{"a"}, true},
		{"uncomparable and comparable", []string{"a"}, "a", false},
	}
	for _, tc := range cases {
		if got := ValuesEqual(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: ValuesEqual(%#v, %#v) = %v, want %v", tc.name, tc.a, tc.b, got, tc.want)
		}
		if got := ValuesEqual(tc.b, tc.a); got != tc.want {
			t.Errorf("%s (swapped): ValuesEqual(%#v, %#v) = %v, want %v", tc.name, tc.b, tc.a, got, tc.want)
		}
	}
}
