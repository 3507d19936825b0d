package graphtest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// decodeWithEncodingJSON is how readBody decoded every body before
// decodePlainObject: encoding/json with UseNumber, then normalizeNumbers.
func decodeWithEncodingJSON(data []byte) (map[string]any, bool) {
	var body map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil || body == nil {
		return nil, false
	}
	return normalizeNumbers(body).(map[string]any), true
}

// plainBodies are request bodies in and out of the plain form.
var plainBodies = []string{
	`{}`, ` {"a":1} `, `{"a":1} trailing`, `{"subject":"x","start":{"dateTime":"2026-03-10T09:00:00","timeZone":"UTC"}}`,
	`{"n":-0,"f":1.5,"e":1e3,"E":-2.5E-3,"big":12345678901234567890,"max":9223372036854775807,"min":-9223372036854775808,"huge":1e400}`,
	`{"l":[1,"two",true,false,null,{"x":[]}],"m":{"a":{"b":{"c":"d"}}}}`,
	`{"dup":1,"dup":2}`, `{"uni":"Zoë – 東京"}`, "{\"bad\":\"\xff\"}", `{"esc":"a\"b"}`, `{"esc":"\u00e9"}`,
	`{"ctl":"a` + "\x01" + `b"}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":+1}`,
	`{"a":tru}`, `{"a":nul}`, `{"a":[1,]}`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `[1,2]`, `null`, `"s"`, ``, `   `,
	`{"a":[1 2]}`, `{"a":{"b":1}`, `{"a":"unterminated}`, `{"a":1}{"b":2}`, `{"a":NaN}`, `{"a":1x}`,
}

// TestDecodePlainObjectMatchesEncodingJSON: a body decodePlainObject
// decodes gives what encoding/json gives; a body it declines is left to
// encoding/json, so every body ends as before.
func TestDecodePlainObjectMatchesEncodingJSON(t *testing.T) {
	for _, b := range plainBodies {
		want, wantOK := decodeWithEncodingJSON([]byte(b))
		got, ok := decodePlainObject([]byte(b))
		if ok && (!wantOK || !reflect.DeepEqual(got, want)) {
			t.Errorf("%q: decoded %#v, encoding/json gives %#v (ok %v)", b, got, want, wantOK)
		}
		if !ok && wantOK && plainForm(b) {
			t.Errorf("%q: declined a plain body", b)
		}
	}
}

// plainForm reports whether a body has no escape and valid UTF-8 (what
// decodePlainObject must take when encoding/json takes it).
func plainForm(b string) bool {
	return !bytes.ContainsAny([]byte(b), "\\\x01\xff")
}

// FuzzDecodePlainObject checks decodePlainObject against encoding/json
// on any body.
func FuzzDecodePlainObject(f *testing.F) {
	for _, b := range plainBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := decodePlainObject(b)
		if !ok {
			return
		}
		want, wantOK := decodeWithEncodingJSON(b)
		if !wantOK || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: decoded %#v, encoding/json gives %#v (ok %v)", b, got, want, wantOK)
		}
	})
}
