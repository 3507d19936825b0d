package graph

import (
	"encoding/json"
	"strings"
	"testing"
)

// scanValid runs the scanner over a whole text, as json.Valid does.
func scanValid(b []byte) bool {
	var s jsonScanner
	s.reset(b)
	s.skip(false)
	s.end()
	return s.err == nil
}

// scanString unquotes a JSON string text with the scanner.
func scanString(b []byte) (string, bool) {
	var s jsonScanner
	s.reset(b)
	if s.ws() != '"' {
		return "", false
	}
	raw, fl := s.str()
	s.end()
	if s.err != nil {
		return "", false
	}
	return string(s.unquote(raw, fl)), true
}

var scannerCases = []string{
	``, ` `, `null`, `nul`, `nulls`, `true`, `tru`, `false`, `fals`, `0`, `-0`, `-`, `01`, `1.`, `.1`, `1e`, `1e+`, `1e+5`,
	`1E-5`, `-1.5e300`, `1e400`, `+1`, `0x10`, `1_0`, `Infinity`, `NaN`, `""`, `"`, `"\"`, `"\\"`, `"\/"`, `"\x"`,
	`"\u"`, `"\u123"`, `"\u123g"`, `"\u00e9"`, `"\uD83D\uDE00"`, `"\uD83D"`, `"\uDE00"`, `"\uD83Dx"`, `"\uD83D\u0041"`,
	`"\uD83D\uD83D\uDE00"`, "\"a\tb\"", "\"a\x00b\"", "\"a\x1fb\"", "\"a\x7fb\"", "\"\xff\"", "\"\xc3\"", "\"\xc3\xa9\"",
	"\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xef\xbf\xbd\"", "\"0123456789abcdef\"", "\"0123456\"789abcdef\"",
	"\"0123456789\\nabcdef\xe2\x82\xacxyz0123456789\"", `[]`, `[1,]`, `[,1]`, `[1 2]`, `[[[]]]`, `{}`, `{"a":1}`, `{"a":1,}`,
	`{"a" 1}`, `{a:1}`, `{"a":1 "b":2}`, `{"a":1}}`, `{"a":[1,{"b":null}]}`, " \t\r\n{ \"a\" : [ 1 , 2 ] } \n", "\v1",
	"\xef\xbb\xbf{}", `{"a":1} 2`, `1 2`, `"a" "b"`,
}

// TestScannerMatchesEncodingJSON holds the scanner's acceptance and
// unquoting to encoding/json's.
func TestScannerMatchesEncodingJSON(t *testing.T) {
	for _, c := range scannerCases {
		checkScanner(t, []byte(c))
	}
	for _, depth := range []int{9999, 10000, 10001} {
		b := []byte(strings.Repeat("[", depth) + strings.Repeat("]", depth))
		if got, want := scanValid(b), depth <= maxJSONDepth; got != want {
			t.Errorf("depth %d: valid %v, want %v", depth, got, want)
		}
		checkScanner(t, b)
		b = []byte(strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth))
		checkScanner(t, b)
	}
}

func checkScanner(t *testing.T, b []byte) {
	t.Helper()
	if got, want := scanValid(b), json.Valid(b); got != want {
		t.Fatalf("%q: scanner valid %v, encoding/json %v", b, got, want)
	}
	if !strings.HasPrefix(strings.TrimLeft(string(b), " \t\r\n"), `"`) {
		return
	}
	var want string
	wantErr := json.Unmarshal(b, &want)
	got, ok := scanString(b)
	if ok != (wantErr == nil) || ok && got != want {
		t.Fatalf("%q: scanner string %q %v, encoding/json %q %v", b, got, ok, want, wantErr)
	}
}

// TestScannerStringLanes puts what ends a run of plain bytes in a string
// (its closing quote, an escape, a control character, a non-ASCII byte)
// at every place of the eight-byte words the scanner reads, and checks
// that a string flags only what it holds, not what follows it.
func TestScannerStringLanes(t *testing.T) {
	for n := 0; n < 20; n++ {
		plain := strings.Repeat("a", n)
		for _, tail := range []string{`"`, `\n"`, `\u00e9"`, "\xc3\xa9\"", "\xff\"", "\x01\"", `\"x"`, "b\\\\\""} {
			checkScanner(t, []byte(`"`+plain+tail))
			checkScanner(t, []byte(`["`+plain+tail+`,"\xc3\xa9\\n"]`))
		}
		var s jsonScanner
		s.reset([]byte(`["` + plain + "\",\"\xc3\xa9\\n\"]"))
		s.arrStart()
		raw, flags := s.str()
		if s.err != nil || string(raw) != plain || flags != 0 {
			t.Errorf("%d plain bytes: %q, flags %b, %v", n, raw, flags, s.err)
		}
	}
}

// FuzzScanner holds the scanner to encoding/json on arbitrary texts.
func FuzzScanner(f *testing.F) {
	for _, c := range scannerCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkScanner(t, b)
	})
}
