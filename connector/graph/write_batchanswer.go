package graph

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/bits"
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
// encoding/json's. One difference: a part's body is delimited (its
// strings and brackets followed) but not checked, as whoever reads the
// body — the decoder of a created item, the error decoder — checks it
// then; so a body that is malformed inside balanced brackets comes back
// as it is where json.Unmarshal would refuse the whole answer, and only
// that part's op fails (its answer cannot be decoded) instead of the
// batch's parts being sent again.
func parseBatchAnswer(body []byte) ([]batchAnswer, error) {
	return parseBatchAnswerHeaders(body, nil)
}

// parseWriteAnswer is parseBatchAnswer for sendBatch, which reads the
// headers of the parts not answered 2xx alone: the headers of a 2xx part
// are checked as encoding/json checks them, but not kept (Headers nil) —
// a thousand created events would otherwise make thirteen thousand
// strings and maps nothing reads.
func parseWriteAnswer(body []byte) ([]batchAnswer, error) {
	return parseBatchAnswerHeaders(body, func(status int) bool { return status >= 200 && status < 300 })
}

// parseBatchAnswerHeaders is parseBatchAnswer, the headers of the parts
// whose status drop reports (nil: none) left out when the answer is in
// the plain form.
func parseBatchAnswerHeaders(body []byte, drop func(status int) bool) ([]batchAnswer, error) {
	if out, err := scanBatchAnswer(body, drop); err == nil {
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

// batchPartFields are the members of a part that batchAnswer decodes.
var batchPartFields = [...]string{"id", "status", "headers", "body"}

// scanBatchAnswer reads the plain form of a batch answer with the
// decoder's scanner (jsonscan.go), which checks the JSON as encoding/json
// does, or fails with errBatchScan; the headers of parts whose status
// drop reports are checked and left out.
func scanBatchAnswer(body []byte, drop func(status int) bool) ([]batchAnswer, error) {
	var s jsonScanner
	s.reset(body)
	var out []batchAnswer
	if s.ws() != '{' {
		return nil, errBatchScan
	}
	if s.objStart() {
		seen := false
		for {
			key, flags := s.objKey()
			if s.err != nil || flags != 0 {
				return nil, errBatchScan
			}
			switch k := bytesView(key); {
			case k == "responses" && !seen:
				seen = true
				var ok bool
				if out, ok = scanBatchParts(&s, drop); !ok {
					return nil, errBatchScan
				}
			case strings.EqualFold(k, "responses"):
				return nil, errBatchScan // repeated or spelt otherwise: encoding/json's rules apply
			default:
				s.skip(false)
			}
			if !s.objNext() {
				break
			}
		}
	}
	s.end()
	if s.err != nil {
		return nil, errBatchScan
	}
	return out, nil
}

// scanBatchParts reads the array of parts.
func scanBatchParts(s *jsonScanner, drop func(status int) bool) ([]batchAnswer, bool) {
	if s.ws() != '[' {
		return nil, false
	}
	out := make([]batchAnswer, 0, maxBatch)
	if !s.arrStart() {
		return out, s.err == nil
	}
	for {
		a, ok := scanBatchPart(s, drop)
		if !ok {
			return nil, false
		}
		out = append(out, a)
		if !s.arrNext() {
			return out, s.err == nil
		}
	}
}

// scanBatchPart reads one response object; the body is left in place.
// With drop set, the headers are checked and read only once the status
// is known (it may come after them) and drop does not report it.
func scanBatchPart(s *jsonScanner, drop func(status int) bool) (batchAnswer, bool) {
	var a batchAnswer
	if s.ws() != '{' {
		return a, false
	}
	if !s.objStart() {
		return a, s.err == nil
	}
	var have [len(batchPartFields)]bool // a repeated member is left to encoding/json
	var headers []byte                  // the checked headers, with drop set
	for {
		key, flags := s.objKey()
		if s.err != nil || flags != 0 {
			return a, false
		}
		k := bytesView(key)
		i := slices.Index(batchPartFields[:], k)
		if i >= 0 {
			if have[i] {
				return a, false
			}
			have[i] = true
		}
		switch i {
		case 0: // id
			id, ok := scanPlainString(s)
			if !ok {
				return a, false
			}
			a.ID = id
		case 1: // status
			n, err := strconv.Atoi(string(scanRaw(s)))
			if err != nil {
				return a, false
			}
			a.Status = n
		case 2: // headers
			if drop != nil {
				s.ws()
				start := s.pos
				if _, ok := scanBatchHeaders(s, false); !ok {
					return a, false
				}
				headers = s.data[start:s.pos]
				break
			}
			h, ok := scanBatchHeaders(s, true)
			if !ok {
				return a, false
			}
			a.Headers = h
		case 3: // body
			a.Body = skipBody(s)
		default:
			for _, f := range batchPartFields {
				if strings.EqualFold(k, f) {
					return a, false // encoding/json would match it
				}
			}
			s.skip(false)
		}
		if s.err != nil {
			return a, false
		}
		if !s.objNext() {
			if s.err != nil {
				return a, false
			}
			if headers != nil && !drop(a.Status) {
				var hs jsonScanner
				hs.reset(headers)
				h, ok := scanBatchHeaders(&hs, true)
				if !ok {
					return a, false
				}
				a.Headers = h
			}
			return a, true
		}
	}
}

// scanBatchHeaders reads a part's headers, null or an object of strings,
// into a map when keep is set, else only checks them. Names and values are
// unquoted as encoding/json unquotes them: Graph's answers carry escaped
// quotes in header values (Preference-Applied: outlook.timezone="UTC",
// graph-api-facts §3), which must not send the whole answer to
// json.Unmarshal.
func scanBatchHeaders(s *jsonScanner, keep bool) (map[string]string, bool) {
	switch s.ws() {
	case 'n':
		s.literal("null")
		return nil, s.err == nil
	case '{':
	default:
		return nil, false
	}
	var h map[string]string
	if keep {
		h = map[string]string{}
	}
	if !s.objStart() {
		return h, s.err == nil
	}
	for {
		k, flags := s.objKey()
		if s.err != nil {
			return nil, false
		}
		if s.ws() != '"' {
			return nil, false
		}
		raw, vflags := s.str()
		if s.err != nil {
			return nil, false
		}
		if keep {
			name := string(s.unquote(k, flags))
			h[name] = string(s.unquote(raw, vflags))
		}
		if !s.objNext() {
			return h, s.err == nil
		}
	}
}

// scanPlainString reads a string with no escapes and no non-ASCII bytes.
// The ids of parts, "1" to "20" as the connector numbers them, come from
// strconv's own strings and cost no allocation.
func scanPlainString(s *jsonScanner) (string, bool) {
	if s.ws() != '"' {
		return "", false
	}
	raw, flags := s.str()
	if s.err != nil || flags != 0 {
		return "", false
	}
	switch {
	case len(raw) == 1 && raw[0] >= '0' && raw[0] <= '9':
		return strconv.Itoa(int(raw[0] - '0')), true
	case len(raw) == 2 && raw[0] >= '1' && raw[0] <= '9' && raw[1] >= '0' && raw[1] <= '9':
		return strconv.Itoa(int(raw[0]-'0')*10 + int(raw[1]-'0')), true
	}
	return string(raw), true
}

// skipBody consumes the value at the scanner without checking it —
// following its strings (and their escapes) and its brackets to find its
// end, or, for a scalar, up to the next delimiter — and returns its
// bytes. A value that does not end before the input does fails the scan
// (the answer then goes to json.Unmarshal).
func skipBody(s *jsonScanner) []byte {
	start := s.pos
	d := s.data
	switch s.ws() {
	case '{', '[':
		depth := 0
		for i := s.pos; i < len(d); i++ {
			switch d[i] {
			case '"':
				end, ok := skipString(d, i)
				if !ok {
					s.failChar("in string literal")
					return nil
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.pos = i + 1
					return d[start:s.pos]
				}
			}
		}
		s.pos = len(d)
		s.failChar("looking for the end of a part's body")
		return nil
	case '"':
		end, ok := skipString(d, s.pos)
		if !ok {
			s.pos = len(d)
			s.failChar("in string literal")
			return nil
		}
		s.pos = end
		return d[start:end]
	case 0:
		s.failChar("looking for beginning of value")
		return nil
	}
	i := s.pos
	for i < len(d) {
		switch d[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			s.pos = i
			return d[start:i]
		}
		i++
	}
	s.pos = i
	return d[start:i]
}

// skipString returns the offset just past the string whose opening quote
// is at d[i], following backslash escapes, and whether it ends.
//
// It passes over eight bytes at a time while none is a quote or a
// backslash, as jsonScanner.str does (the lowest flagged lane is the first
// such byte): the bodies of read answers in a $batch — pages of events,
// series — carry long strings, HTML bodies above all, which a byte at a
// time made about 5% of the CPU time of an initial sync.
func skipString(d []byte, i int) (int, bool) {
	j := i + 1
	for {
		for j+8 <= len(d) {
			x := binary.LittleEndian.Uint64(d[j:])
			q := x ^ (ones * '"')
			b := x ^ (ones * '\\')
			if special := (((q - ones) &^ q) | ((b - ones) &^ b)) & highs; special != 0 {
				j += bits.TrailingZeros64(special) >> 3
				break
			}
			j += 8
		}
		if j >= len(d) {
			return len(d), false
		}
		switch d[j] {
		case '\\':
			j += 2
		case '"':
			return j + 1, true
		default:
			j++
		}
	}
}

// scanRaw consumes the value at the scanner, checked, and returns its bytes.
func scanRaw(s *jsonScanner) []byte {
	start := s.pos
	s.skip(false)
	return s.data[start:s.pos]
}
