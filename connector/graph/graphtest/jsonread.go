package graphtest

import (
	"strconv"
	"unicode/utf8"
)

// decodePlainObject decodes a request body that is a JSON object into what
// readBody has always made of it — encoding/json's decoding into
// map[string]any with UseNumber, numbers then turned into int64 when they
// are integers that fit, else float64 (normalizeNumbers) — in one pass
// without reflection. It handles the plain form only: strings without
// escapes, in valid UTF-8. For anything else — an escape, invalid UTF-8,
// a body that is not an object, malformed JSON — it reports false and the
// body goes through encoding/json, whose result and error messages are
// the service's answer. As json.Decoder.Decode, it reads the first value
// and ignores what follows.
func decodePlainObject(data []byte) (map[string]any, bool) {
	p := plainParser{data: data}
	p.ws()
	if p.pos >= len(p.data) || p.data[p.pos] != '{' {
		return nil, false
	}
	v, ok := p.value(0)
	if !ok {
		return nil, false
	}
	m, _ := v.(map[string]any)
	return m, m != nil
}

// plainParser reads JSON values for decodePlainObject.
type plainParser struct {
	data []byte
	pos  int
}

// ws skips JSON white space.
func (p *plainParser) ws() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// maxPlainDepth bounds nesting; deeper bodies go to encoding/json.
const maxPlainDepth = 100

// value reads the value at pos (white space before it skipped).
func (p *plainParser) value(depth int) (any, bool) {
	p.ws()
	if p.pos >= len(p.data) || depth > maxPlainDepth {
		return nil, false
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		p.pos++
		m := map[string]any{}
		p.ws()
		if p.pos < len(p.data) && p.data[p.pos] == '}' {
			p.pos++
			return m, true
		}
		for {
			p.ws()
			k, ok := p.key()
			if !ok {
				return nil, false
			}
			p.ws()
			if p.pos >= len(p.data) || p.data[p.pos] != ':' {
				return nil, false
			}
			p.pos++
			v, ok := p.value(depth + 1)
			if !ok {
				return nil, false
			}
			m[k] = v
			p.ws()
			if p.pos >= len(p.data) {
				return nil, false
			}
			switch p.data[p.pos] {
			case ',':
				p.pos++
			case '}':
				p.pos++
				return m, true
			default:
				return nil, false
			}
		}
	case c == '[':
		p.pos++
		list := []any{}
		p.ws()
		if p.pos < len(p.data) && p.data[p.pos] == ']' {
			p.pos++
			return list, true
		}
		for {
			v, ok := p.value(depth + 1)
			if !ok {
				return nil, false
			}
			list = append(list, v)
			p.ws()
			if p.pos >= len(p.data) {
				return nil, false
			}
			switch p.data[p.pos] {
			case ',':
				p.pos++
			case ']':
				p.pos++
				return list, true
			default:
				return nil, false
			}
		}
	case c == '"':
		return p.strValue()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return nil, false
}

// literal consumes lit.
func (p *plainParser) literal(lit string) bool {
	if len(p.data)-p.pos < len(lit) || string(p.data[p.pos:p.pos+len(lit)]) != lit {
		return false
	}
	p.pos += len(lit)
	return true
}

// str reads a string without escapes in valid UTF-8 and without control
// characters (which JSON does not allow unescaped), and returns its
// bytes.
func (p *plainParser) str() ([]byte, bool) {
	if p.pos >= len(p.data) || p.data[p.pos] != '"' {
		return nil, false
	}
	start := p.pos + 1
	ascii := true
	for i := start; i < len(p.data); i++ {
		switch c := p.data[i]; {
		case c == '"':
			raw := p.data[start:i]
			if !ascii && !utf8.Valid(raw) {
				return nil, false
			}
			p.pos = i + 1
			return raw, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// key reads a member name (str): one of commonStrings is that string,
// shared rather than made again.
func (p *plainParser) key() (string, bool) {
	raw, ok := p.str()
	if !ok {
		return "", false
	}
	if v, ok := commonStrings[string(raw)]; ok {
		return v.(string), true
	}
	return string(raw), true
}

// strValue reads a string value (str) as an any: one of commonStrings is
// that string, made and boxed once.
func (p *plainParser) strValue() (any, bool) {
	raw, ok := p.str()
	if !ok {
		return nil, false
	}
	if v, ok := commonStrings[string(raw)]; ok {
		return v, true
	}
	return string(raw), true
}

// commonStrings holds, each as an any, the member names and values that
// come in most request bodies (the properties of events and the objects
// in them, their enumerations, UTC): decoded once rather than for every
// body. The strings are immutable, so bodies may share them.
var commonStrings = func() map[string]any {
	m := map[string]any{}
	for _, list := range [][]string{eventWritable, eventReadOnly, {
		"@odata.type", "#microsoft.graph.event", "dateTime", "timeZone", "UTC", "contentType", "content", "html", "text",
		"displayName", "emailAddress", "address", "name", "type", "status", "response", "time", "locationType",
		"required", "optional", "resource", "pattern", "range", "interval", "daysOfWeek", "firstDayOfWeek",
		"dayOfMonth", "month", "index", "startDate", "endDate", "numberOfOccurrences", "recurrenceTimeZone",
		"daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly", "noEnd", "numbered",
		"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
	}} {
		for _, k := range list {
			m[k] = k
		}
	}
	for _, vs := range enumValues {
		for _, v := range vs {
			m[v] = v
		}
	}
	return m
}()

// number reads a number as the JSON grammar spells it and converts it as
// normalizeNumbers converts a json.Number: int64 when it parses as one,
// else float64 (±Inf when out of range, as Float64's ignored error leaves
// it).
func (p *plainParser) number() (any, bool) {
	start := p.pos
	d := p.data
	i := p.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return nil, false
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return nil, false
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	p.pos = i
	lit := string(d[start:i])
	if n, err := strconv.ParseInt(lit, 10, 64); err == nil {
		return n, true
	}
	f, _ := strconv.ParseFloat(lit, 64)
	return f, true
}
