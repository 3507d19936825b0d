package jsonenc

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// marshal is encoding/json's rendering of v with HTML escaping off.
func marshal(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "\b\f\n\r\t\x00\x1f\x7f", "<a&b>", "é日本\U0001F600",
		"bad\xffutf8\xc3", "line\u2028para\u2029", "\xed\xa0\x80"} {
		if got, want := string(AppendString(nil, s)), marshal(t, s); got != want {
			t.Errorf("AppendString(%q) = %s, encoding/json gives %s", s, got, want)
		}
	}
}

func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1.5, 0.1, 1e-6, 1e-7, 9.99e-7, 1e20, 1e21, 1.5e300, -2e-9,
		math.MaxFloat64, math.SmallestNonzeroFloat64, 123456789.125} {
		if got, want := string(AppendFloat(nil, f)), marshal(t, f); got != want {
			t.Errorf("AppendFloat(%v) = %s, encoding/json gives %s", f, got, want)
		}
	}
}
