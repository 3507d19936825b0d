package graph

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// jsonScanner reads JSON from a byte slice in one pass, for the decoder in
// decode.go. It accepts exactly what encoding/json accepts (RFC 8259 text
// with the same grammar for numbers, literals, escapes and whitespace, no
// control characters in strings, nothing after the top-level value, at
// most maxJSONDepth nested arrays and objects) and unquotes strings the
// way encoding/json does: invalid UTF-8 bytes and lone or broken UTF-16
// surrogates in \u escapes become U+FFFD.
//
// The first error is sticky: after it every method returns at once and the
// caller checks err. Its messages name the offset; the decoder phrases the
// errors it reports through encoding/json (see decoder.syntaxError), so
// that they read as before.
type jsonScanner struct {
	data  []byte
	pos   int
	depth int
	err   error
	buf   []byte // unquoted strings that needed rewriting
}

// maxJSONDepth is encoding/json's limit on nested arrays and objects.
const maxJSONDepth = 10000

// String flags reported by str.
const (
	strEscaped  = 1 << iota // holds a backslash escape
	strNonASCII             // holds a byte >= 0x80
)

// jsonError is a malformed or unacceptable JSON input at an offset.
type jsonError struct {
	msg string
	off int
}

func (e *jsonError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.off) }

func (s *jsonScanner) reset(data []byte) {
	s.data, s.pos, s.depth, s.err = data, 0, 0, nil
}

// fail records the first error.
func (s *jsonScanner) fail(msg string) {
	if s.err == nil {
		s.err = &jsonError{msg: msg, off: s.pos}
	}
}

// failChar records an unexpected character (or the end of the input).
func (s *jsonScanner) failChar(context string) {
	if s.pos >= len(s.data) {
		s.fail("unexpected end of JSON input")
		return
	}
	s.fail(fmt.Sprintf("invalid character %q %s", s.data[s.pos], context))
}

// ws skips JSON whitespace and returns the next byte, 0 at the end.
func (s *jsonScanner) ws() byte {
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; c {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return c
		}
	}
	return 0
}

// end checks that only whitespace follows the top-level value.
func (s *jsonScanner) end() {
	if s.err != nil {
		return
	}
	s.ws()
	if s.pos < len(s.data) {
		s.failChar("after top-level value")
	}
}

// enter counts one more level of nesting.
func (s *jsonScanner) enter() bool {
	s.depth++
	if s.depth > maxJSONDepth {
		s.fail("exceeded max depth")
		return false
	}
	return true
}

// objStart consumes '{' (the current byte) and reports whether the object
// has members; an empty object is consumed whole.
func (s *jsonScanner) objStart() bool {
	if !s.enter() {
		return false
	}
	s.pos++
	if s.ws() == '}' {
		s.pos++
		s.depth--
		return false
	}
	return true
}

// objKey reads a member's key and the colon after it, and leaves the
// scanner at the member's value. The key is raw (still quoted form,
// without the quotes); see unquote.
func (s *jsonScanner) objKey() (raw []byte, flags int) {
	if s.ws() != '"' {
		s.failChar("looking for beginning of object key string")
		return nil, 0
	}
	raw, flags = s.str()
	if s.err != nil {
		return nil, 0
	}
	if s.ws() != ':' {
		s.failChar("after object key")
		return nil, 0
	}
	s.pos++
	if s.ws() == 0 {
		s.failChar("looking for beginning of value")
	}
	return raw, flags
}

// objNext consumes the ',' or '}' after a member's value and reports
// whether another member follows.
func (s *jsonScanner) objNext() bool {
	if s.err != nil {
		return false
	}
	switch s.ws() {
	case ',':
		s.pos++
		return true
	case '}':
		s.pos++
		s.depth--
		return false
	}
	s.failChar("after object key:value pair")
	return false
}

// arrStart consumes '[' (the current byte) and reports whether the array
// has elements; an empty array is consumed whole. On true the scanner is at
// the first element.
func (s *jsonScanner) arrStart() bool {
	if !s.enter() {
		return false
	}
	s.pos++
	switch s.ws() {
	case ']':
		s.pos++
		s.depth--
		return false
	case 0:
		s.failChar("looking for beginning of value")
		return false
	}
	return true
}

// arrNext consumes the ',' or ']' after an element and reports whether
// another element follows (the scanner is then at it).
func (s *jsonScanner) arrNext() bool {
	if s.err != nil {
		return false
	}
	switch s.ws() {
	case ',':
		s.pos++
		if s.ws() == 0 {
			s.failChar("looking for beginning of value")
			return false
		}
		return true
	case ']':
		s.pos++
		s.depth--
		return false
	}
	s.failChar("after array element")
	return false
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// str reads the string starting at the current '"' and returns its raw
// contents (between the quotes) with flags saying whether it holds escapes
// or non-ASCII bytes. Escapes are checked; control characters are refused.
func (s *jsonScanner) str() (raw []byte, flags int) {
	data := s.data
	start := s.pos + 1
	i := start
	var nonASCII uint64
	for {
		// Eight bytes at a time while none is a quote, a backslash or a
		// control character. A lane is flagged only if its byte matches
		// or a lane below it is flagged (a borrow), so the lowest flagged
		// lane is the first special byte: the bytes before it are skipped
		// at once.
		for i+8 <= len(data) {
			x := binary.LittleEndian.Uint64(data[i:])
			q := x ^ (ones * '"')
			b := x ^ (ones * '\\')
			special := (((q - ones) &^ q) | ((b - ones) &^ b) | ((x - ones*0x20) &^ x)) & highs
			if special != 0 {
				k := bits.TrailingZeros64(special) &^ 7 // bit offset of the lane
				nonASCII |= x & (1<<k - 1)
				i += k >> 3
				break
			}
			nonASCII |= x
			i += 8
		}
		if i >= len(data) {
			s.pos = i
			s.fail("unexpected end of JSON input")
			return nil, 0
		}
		c := data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			if nonASCII&highs != 0 {
				flags |= strNonASCII
			}
			return data[start:i], flags
		case c == '\\':
			flags |= strEscaped
			if i+1 >= len(data) {
				s.pos = i + 1
				s.fail("unexpected end of JSON input")
				return nil, 0
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := 2; k < 6; k++ {
					if i+k >= len(data) {
						s.pos = i + k
						s.fail("unexpected end of JSON input")
						return nil, 0
					}
					if !isHex(data[i+k]) {
						s.pos = i + k
						s.failChar("in \\u hexadecimal character escape")
						return nil, 0
					}
				}
				i += 6
			default:
				s.pos = i + 1
				s.failChar("in string escape code")
				return nil, 0
			}
		case c < 0x20:
			s.pos = i
			s.failChar("in string literal")
			return nil, 0
		default:
			if c >= 0x80 {
				nonASCII |= highs
			}
			i++
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// unquote returns the string value of a raw string from str: raw itself
// when it needs no rewriting, else the rewritten bytes in the scanner's
// buffer (valid until the next unquote).
func (s *jsonScanner) unquote(raw []byte, flags int) []byte {
	if flags&strEscaped == 0 && (flags&strNonASCII == 0 || utf8.Valid(raw)) {
		return raw
	}
	b := s.buf[:0]
	for i := 0; i < len(raw); {
		// The run up to the next escape, whole when it is valid UTF-8.
		j := bytes.IndexByte(raw[i:], '\\')
		if j < 0 {
			j = len(raw) - i
		}
		if j > 0 {
			run := raw[i : i+j]
			if flags&strNonASCII == 0 || utf8.Valid(run) {
				b = append(b, run...)
			} else {
				b = appendReplacingInvalid(b, run)
			}
			i += j
			if i == len(raw) {
				break
			}
		}
		switch raw[i+1] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := hex4(raw[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				// A pair when a low surrogate escape follows; a lone
				// or broken one becomes U+FFFD, as in encoding/json.
				r2 := rune(-1)
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2 = hex4(raw[i+2:])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					b = utf8.AppendRune(b, dec)
					i += 6
					continue
				}
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
			continue
		default: // '"', '\\', '/'
			b = append(b, raw[i+1])
		}
		i += 2
	}
	s.buf = b
	return b
}

// appendReplacingInvalid appends run with each byte that is not part of
// valid UTF-8 replaced by U+FFFD, as encoding/json does.
func appendReplacingInvalid(b, run []byte) []byte {
	for i := 0; i < len(run); {
		if c := run[i]; c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(run[i:])
		if r == utf8.RuneError && n == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, run[i:i+n]...)
		}
		i += n
	}
	return b
}

// hex4 reads four hexadecimal digits (already checked by str).
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// number reads the number at the current byte (a '-' or a digit) and
// returns its text. small is set for an integer of at most 15 digits
// (exact in a float64 and below 2^53), whose value is then n (negative
// when the text starts with '-', where "-0" gives n == 0 and neg).
func (s *jsonScanner) number() (text []byte, n int64, neg, small bool) {
	data := s.data
	start := s.pos
	i := start
	if data[i] == '-' {
		neg = true
		i++
	}
	if i >= len(data) {
		s.pos = i
		s.fail("unexpected end of JSON input")
		return nil, 0, false, false
	}
	digits := i
	switch c := data[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			n = n*10 + int64(data[i]-'0')
			i++
			if i-digits > 15 {
				n = 0 // not small; the value comes from strconv
				for i < len(data) && '0' <= data[i] && data[i] <= '9' {
					i++
				}
				break
			}
		}
	default:
		s.pos = i
		s.failChar("in numeric literal")
		return nil, 0, false, false
	}
	small = i-digits <= 15
	if i < len(data) && data[i] == '.' {
		small = false
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			s.pos = i
			s.failChar("after decimal point in numeric literal")
			return nil, 0, false, false
		}
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		small = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			s.pos = i
			s.failChar("in exponent of numeric literal")
			return nil, 0, false, false
		}
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	}
	s.pos = i
	if neg {
		n = -n
	}
	return data[start:i], n, neg, small
}

// float parses a number's text as encoding/json does for an interface
// value (strconv.ParseFloat); a number out of float64's range is an error
// there too.
func (s *jsonScanner) float(text []byte) float64 {
	f, err := strconv.ParseFloat(bytesView(text), 64)
	if err != nil {
		s.fail("number " + string(text) + " out of range")
	}
	return f
}

// literal consumes the literal word (true, false, null) at the current
// byte.
func (s *jsonScanner) literal(word string) {
	data := s.data
	for k := 0; k < len(word); k++ {
		if s.pos+k >= len(data) {
			s.pos += k
			s.fail("unexpected end of JSON input")
			return
		}
		if data[s.pos+k] != word[k] {
			s.pos += k
			s.failChar("in literal " + word + " (expecting " + strconv.QuoteRune(rune(word[k])) + ")")
			return
		}
	}
	s.pos += len(word)
}

// skip consumes the value at the current byte, checking it fully. With
// numbers set, numbers out of float64's range are refused, as they are
// where encoding/json decodes a value into an interface (within items),
// and not where it skips an unknown struct field (page members).
func (s *jsonScanner) skip(numbers bool) {
	if s.err != nil {
		return
	}
	switch c := s.ws(); c {
	case '"':
		s.str()
	case '{':
		if s.objStart() {
			for {
				s.objKey()
				s.skip(numbers)
				if !s.objNext() {
					break
				}
			}
		}
	case '[':
		if s.arrStart() {
			for {
				s.skip(numbers)
				if !s.arrNext() {
					break
				}
			}
		}
	case 't':
		s.literal("true")
	case 'f':
		s.literal("false")
	case 'n':
		s.literal("null")
	default:
		if c == '-' || '0' <= c && c <= '9' {
			text, _, _, small := s.number()
			if numbers && !small && s.err == nil && mayOverflow(text) {
				s.float(text)
			}
			return
		}
		s.failChar("looking for beginning of value")
	}
}

// mayOverflow reports whether a valid number's text may be beyond
// float64's range: only with an exponent or over 300 digits.
func mayOverflow(text []byte) bool {
	if len(text) > 300 {
		return true
	}
	for _, c := range text {
		if c == 'e' || c == 'E' {
			return true
		}
	}
	return false
}

// bytesView is b as a string without copying, for calls that read the
// string and keep no reference to it (parsers that copy what they keep,
// map lookups). b must not change while the string is in use.
func bytesView(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
