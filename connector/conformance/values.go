package conformance

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// checkKind reports whether a non-nil value has the Go type of its kind.
func checkKind(t schema.Type, v any) error {
	want := ""
	switch t.Kind {
	case schema.Bool:
		if _, ok := v.(bool); !ok {
			want = "bool"
		}
	case schema.Int:
		if _, ok := v.(int64); !ok {
			want = "int64"
		}
	case schema.Double:
		if _, ok := v.(float64); !ok {
			want = "float64"
		}
	case schema.String:
		if _, ok := v.(string); !ok {
			want = "string"
		}
	case schema.Enum:
		s, ok := v.(string)
		if !ok {
			want = "string (enum)"
		} else if !slices.Contains(t.Values, s) {
			return fmt.Errorf("enum value %q is not one of %q", s, t.Values)
		}
	case schema.Bytes:
		if _, ok := v.([]byte); !ok {
			want = "[]byte"
		}
	case schema.Timestamp:
		if _, ok := v.(time.Time); !ok {
			want = "time.Time"
		}
	case schema.Date:
		if _, ok := v.(connector.Date); !ok {
			want = "connector.Date"
		}
	case schema.Complex:
		m, ok := v.(map[string]any)
		if !ok {
			want = "map[string]any"
			break
		}
		for _, f := range t.Fields {
			if fv, ok := m[f.Name]; ok && fv != nil {
				if err := checkKind(f.Type, fv); err != nil {
					return fmt.Errorf(".%s: %w", f.Name, err)
				}
			}
		}
	case schema.Collection:
		l, ok := v.([]any)
		if !ok {
			want = "[]any"
			break
		}
		if t.Elem != nil {
			for i, e := range l {
				if e == nil {
					continue
				}
				if err := checkKind(*t.Elem, e); err != nil {
					return fmt.Errorf("[%d]: %w", i, err)
				}
			}
		}
	case schema.Any:
	default:
		return fmt.Errorf("kind %q is not a valid kind", t.Kind)
	}
	if want != "" {
		return fmt.Errorf("schema kind %s expects a %s value, got %T (%v)", t.Kind, want, v, v)
	}
	return nil
}

// diffFields lists the fields of want that got lacks or holds differently.
// With an entity, fields it marks read-only are left out: the target sets
// them. Fields only in got are not differences (the target adds its own).
func diffFields(e *schema.Entity, want, got map[string]any) []string {
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		if e != nil {
			if f, ok := e.Field(n); ok && f.ReadOnly {
				continue
			}
		}
		w := want[n]
		if nw, err := connector.NormalizeValue(w); err == nil {
			w = nw
		}
		g, ok := got[n]
		if !ok {
			if w != nil {
				out = append(out, fmt.Sprintf("field %q: expected %v, got no field", n, w))
			}
			continue
		}
		if !connector.ValuesEqual(w, g) {
			out = append(out, fmt.Sprintf("field %q: expected %v (%T), got %v (%T)", n, w, w, g, g))
		}
	}
	return out
}
