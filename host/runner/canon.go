package runner

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/internal/jsonenc"
)

// appendTagged appends the tagged JSON of v (see the record codec) to b:
// the bytes json.Marshal gives for tag(v), with map keys sorted, written
// without reflection. Hashing and dead letters run it for every record.
func appendTagged(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return appendJSONString(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			b = append(b, `{"$float":`...)
			return append(appendJSONString(b, strconv.FormatFloat(x, 'g', -1, 64)), '}'), nil
		}
		if x == math.Trunc(x) {
			b = append(b, `{"$float":`...)
			return append(jsonenc.AppendFloat(b, x), '}'), nil
		}
		return jsonenc.AppendFloat(b, x), nil
	case []byte:
		b = append(b, `{"$bytes":`...)
		return append(appendJSONString(b, base64.StdEncoding.EncodeToString(x)), '}'), nil
	case time.Time:
		b = append(b, `{"$time":`...)
		return append(appendJSONString(b, x.Format(time.RFC3339Nano)), '}'), nil
	case connector.Date:
		b = append(b, `{"$date":`...)
		return append(appendJSONString(b, x.String()), '}'), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendTagged(b, e); err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		wrap := false
		for k := range x {
			if strings.HasPrefix(k, "$") {
				wrap = true
				break
			}
		}
		if wrap {
			b = append(b, `{"$map":`...)
		}
		b, err := appendTaggedMap(b, x)
		if err != nil {
			return nil, err
		}
		if wrap {
			b = append(b, '}')
		}
		return b, nil
	}
	n, err := connector.NormalizeValue(v)
	if err != nil {
		return nil, err
	}
	return appendTagged(b, n)
}

// appendTaggedMap appends m as a JSON object with sorted keys.
func appendTaggedMap(b []byte, m map[string]any) ([]byte, error) {
	var small [32]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendTagged(b, m[k]); err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
	}
	return append(b, '}'), nil
}

// appendJSONString appends s quoted as encoding/json quotes it (HTML
// characters escaped): printable ASCII directly, anything else through
// encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
