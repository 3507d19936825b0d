package graph

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// parseBatchAnswer reads a JSON batch answer, {"responses":[{"id",
// "status","headers","body"}…]} (graph-api-facts §4.5), as
// json.Unmarshal would into []batchAnswer, but in one pass and without
// copying the parts' bodies: each Body is a slice of body. An answer in
// any other form than the plain one — a key spelt otherwise, a value of
// another type, escapes or non-ASCII in ids and headers — is handed to
// json.Unmarshal, so the result, and the error of a malformed answer, are
// encoding/json's.
func parseBatchAnswer(body []byte) ([]batchAnswer, error) {
	if out, err := scanBatchAnswer(body); err == nil {
		return out, nil
	}
	var out struct {
		Responses []batchAnswer `json:"responses"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, err
	}
	return out.Responses, nil
}

// errBatchScan says the answer is left to json.Unmarshal.
var errBatchScan = errors.New("batch answer not in the plain form")

// batchScan is a cursor over a batch answer.
type batchScan struct {
	b   []byte
	pos int
}

func (s *batchScan) ws() byte {
	for s.pos < len(s.b) {
		switch c := s.b[s.pos]; c {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return c
		}
	}
	return 0
}

func (s *batchScan) expect(c byte) bool {
	if s.ws() != c {
		return false
	}
	s.pos++
	return true
}

// plainString reads a string with no escapes, control characters or
// non-ASCII bytes.
func (s *batchScan) plainString() (string, bool) {
	if s.ws() != '"' {
		return "", false
	}
	start := s.pos + 1
	for i := start; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '"':
			s.pos = i + 1
			return string(s.b[start:i]), true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", false
		}
	}
	return "", false
}

// skipValue moves past one JSON value and returns its bytes: strings are
// followed through their escapes, arrays and objects by their nesting.
func (s *batchScan) skipValue() ([]byte, bool) {
	c := s.ws()
	start := s.pos
	switch c {
	case '{', '[':
		depth := 0
		for s.pos < len(s.b) {
			switch s.b[s.pos] {
			case '"':
				if !s.skipString() {
					return nil, false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.pos++
					return s.b[start:s.pos], true
				}
			}
			s.pos++
		}
		return nil, false
	case '"':
		if !s.skipString() {
			return nil, false
		}
		return s.b[start:s.pos], true
	case 0:
		return nil, false
	}
	for s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return s.b[start:s.pos], s.pos > start
		}
		s.pos++
	}
	return s.b[start:s.pos], s.pos > start
}

func (s *batchScan) skipString() bool {
	for i := s.pos + 1; i < len(s.b); i++ {
		switch s.b[i] {
		case '\\':
			i++
		case '"':
			s.pos = i + 1
			return true
		}
	}
	return false
}

// scanBatchAnswer reads the plain form of a batch answer, or fails with
// errBatchScan.
func scanBatchAnswer(body []byte) ([]batchAnswer, error) {
	s := &batchScan{b: body}
	if !s.expect('{') {
		return nil, errBatchScan
	}
	var out []batchAnswer
	seen := false
	for first := true; ; first = false {
		if s.ws() == '}' && first {
			s.pos++
			break
		}
		key, ok := s.plainString()
		if !ok || !s.expect(':') {
			return nil, errBatchScan
		}
		if key == "responses" {
			if seen {
				return nil, errBatchScan
			}
			seen = true
			parts, ok := s.responses()
			if !ok {
				return nil, errBatchScan
			}
			out = parts
		} else if !strings.EqualFold(key, "responses") {
			if raw, ok := s.skipValue(); !ok || !json.Valid(raw) {
				return nil, errBatchScan
			}
		} else {
			return nil, errBatchScan
		}
		if s.expect(',') {
			continue
		}
		if !s.expect('}') {
			return nil, errBatchScan
		}
		break
	}
	if s.ws() != 0 {
		return nil, errBatchScan
	}
	return out, nil
}

// responses reads the array of parts.
func (s *batchScan) responses() ([]batchAnswer, bool) {
	if !s.expect('[') {
		return nil, false
	}
	out := make([]batchAnswer, 0, 20)
	if s.ws() == ']' {
		s.pos++
		return out, true
	}
	for {
		a, ok := s.part()
		if !ok {
			return nil, false
		}
		out = append(out, a)
		if s.expect(',') {
			continue
		}
		return out, s.expect(']')
	}
}

// part reads one response object.
func (s *batchScan) part() (batchAnswer, bool) {
	var a batchAnswer
	if !s.expect('{') {
		return a, false
	}
	if s.ws() == '}' {
		s.pos++
		return a, true
	}
	var have [4]bool // id, status, headers, body: a repeated one is left to encoding/json
	for {
		key, ok := s.plainString()
		if !ok || !s.expect(':') {
			return a, false
		}
		if i := slices.Index([]string{"id", "status", "headers", "body"}, key); i >= 0 {
			if have[i] {
				return a, false
			}
			have[i] = true
		}
		switch key {
		case "id":
			if a.ID, ok = s.plainString(); !ok {
				return a, false
			}
		case "status":
			raw, ok := s.skipValue()
			if !ok {
				return a, false
			}
			n, err := strconv.Atoi(string(raw))
			if err != nil {
				return a, false
			}
			a.Status = n
		case "headers":
			if a.Headers, ok = s.headers(); !ok {
				return a, false
			}
		case "body":
			if a.Body, ok = s.skipValue(); !ok || !json.Valid(a.Body) {
				return a, false
			}
		default:
			for _, f := range []string{"id", "status", "headers", "body"} {
				if strings.EqualFold(key, f) {
					return a, false // encoding/json would match it
				}
			}
			if raw, ok := s.skipValue(); !ok || !json.Valid(raw) {
				return a, false
			}
		}
		if s.expect(',') {
			continue
		}
		return a, s.expect('}')
	}
}

// headers reads a part's headers, an object of strings.
func (s *batchScan) headers() (map[string]string, bool) {
	if s.ws() == 'n' {
		raw, ok := s.skipValue()
		return nil, ok && string(raw) == "null"
	}
	if !s.expect('{') {
		return nil, false
	}
	h := map[string]string{}
	if s.ws() == '}' {
		s.pos++
		return h, true
	}
	for {
		k, ok := s.plainString()
		if !ok || !s.expect(':') {
			return nil, false
		}
		v, ok := s.plainString()
		if !ok {
			return nil, false
		}
		h[k] = v
		if s.expect(',') {
			continue
		}
		return h, s.expect('}')
	}
}
