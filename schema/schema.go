// Package schema is syncplane's neutral description of what a connection
// offers: entities, their fields and types, which fields identify a record and
// which track changes, what the host may do with each entity, and how it is
// partitioned. Connectors build it from their service's own metadata; the host
// validates mappings against it. It has a stable JSON rendering (see
// Schema.MarshalJSON) used by `syncplane schema --json` and by caches.
package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Kind is the shape of a field's values.
type Kind string

// The kinds of values. Their string forms are the JSON rendering.
const (
	Bool       Kind = "bool"
	Int        Kind = "int"
	Double     Kind = "double"
	String     Kind = "string"
	Bytes      Kind = "bytes"
	Timestamp  Kind = "timestamp"
	Date       Kind = "date"
	Enum       Kind = "enum"       // a string restricted to Type.Values
	Complex    Kind = "complex"    // a nested object with Type.Fields
	Collection Kind = "collection" // a list of Type.Elem
	Any        Kind = "any"        // an open value
)

// Kinds lists every valid Kind, in a stable order.
var Kinds = []Kind{Bool, Int, Double, String, Bytes, Timestamp, Date, Enum, Complex, Collection, Any}

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// Type describes the values of a field.
type Type struct {
	Kind Kind `json:"kind"`
	// Name is the source system's type name (microsoft.graph.attendee,
	// picklist, ...); informational.
	Name string `json:"name,omitempty"`
	// Fields are the members of a Complex type.
	Fields []Field `json:"fields,omitempty"`
	// Elem is the element type of a Collection.
	Elem *Type `json:"elem,omitempty"`
	// Values are the allowed values of an Enum (picklist values).
	Values []string `json:"values,omitempty"`
}

// Field is one field of an entity or of a complex type.
type Field struct {
	Name        string `json:"name"`
	Type        Type   `json:"type"`
	Nullable    bool   `json:"nullable,omitempty"`
	ReadOnly    bool   `json:"readOnly,omitempty"`
	Required    bool   `json:"required,omitempty"` // must be present on create
	Description string `json:"description,omitempty"`
}

// Capabilities says what the host may ask of an entity.
type Capabilities struct {
	Readable  bool `json:"readable"`
	Changes   bool `json:"changes"`
	Writable  bool `json:"writable"`
	Deletable bool `json:"deletable"`
	Queryable bool `json:"queryable"`
}

// Partitioning says how an entity's records are split into units of sync.
type Partitioning struct {
	// Partitioned is false for an entity synchronised as one unit.
	Partitioned bool `json:"partitioned"`
	// Field is the record field carrying the partition id ("user").
	Field string `json:"field,omitempty"`
	// Description tells a person what one partition is.
	Description string `json:"description,omitempty"`
}

// Entity is one kind of record a connection offers.
type Entity struct {
	Name        string  `json:"name"`
	Description string  `json:"description,omitempty"`
	Fields      []Field `json:"fields"`
	// Keys name the fields identifying a record within a partition.
	Keys []string `json:"keys"`
	// ModifiedField names the last-modification-time field, if any.
	ModifiedField string `json:"modifiedField,omitempty"`
	// VersionField names the concurrency-token field, if any.
	VersionField string       `json:"versionField,omitempty"`
	Capabilities Capabilities `json:"capabilities"`
	Partitioning Partitioning `json:"partitioning"`
}

// Schema is the set of entities of one connection.
type Schema struct {
	Entities []Entity `json:"entities"`
}

// Entity returns the entity with the given name, matched exactly.
func (s *Schema) Entity(name string) (*Entity, bool) {
	if s == nil {
		return nil, false
	}
	for i := range s.Entities {
		if s.Entities[i].Name == name {
			return &s.Entities[i], true
		}
	}
	return nil, false
}

// EntityNames returns the names of all entities in schema order.
func (s *Schema) EntityNames() []string {
	names := make([]string, 0, len(s.Entities))
	for _, e := range s.Entities {
		names = append(names, e.Name)
	}
	return names
}

// Field returns the top-level field with the given name.
func (e *Entity) Field(name string) (*Field, bool) {
	return findField(e.Fields, name)
}

func findField(fields []Field, name string) (*Field, bool) {
	for i := range fields {
		if fields[i].Name == name {
			return &fields[i], true
		}
	}
	return nil, false
}

// Lookup resolves a dotted field path with optional list indexes, such as
// "attendees[0].emailAddress.address", to the type at its end. It returns an
// error naming the first segment that does not exist.
func (e *Entity) Lookup(path string) (Type, error) {
	if path == "" {
		return Type{}, fmt.Errorf("empty field path")
	}
	fields := e.Fields
	var cur Type
	for i, seg := range strings.Split(path, ".") {
		name, indexes := splitIndexes(seg)
		f, ok := findField(fields, name)
		if !ok {
			where := e.Name
			if i > 0 {
				where = strings.Join(strings.Split(path, ".")[:i], ".")
			}
			return Type{}, fmt.Errorf("no field %q in %s", name, where)
		}
		cur = f.Type
		for range indexes {
			if cur.Kind != Collection || cur.Elem == nil {
				return Type{}, fmt.Errorf("field %q is not a collection and cannot be indexed", name)
			}
			cur = *cur.Elem
		}
		fields = cur.Fields
		if cur.Kind == Collection && cur.Elem != nil {
			fields = cur.Elem.Fields
		}
	}
	return cur, nil
}

// splitIndexes splits "attendees[0][1]" into "attendees" and two indexes.
func splitIndexes(seg string) (string, []string) {
	i := strings.IndexByte(seg, '[')
	if i < 0 {
		return seg, nil
	}
	name, rest := seg[:i], seg[i:]
	var idx []string
	for strings.HasPrefix(rest, "[") {
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			break
		}
		idx = append(idx, rest[1:j])
		rest = rest[j+1:]
	}
	return name, idx
}

// Validate checks that the schema is internally consistent: names are unique
// and non-empty, kinds are valid, complex types have fields, collections have
// an element type, key, modified, version and partition fields exist. It
// returns every problem found, each naming the entity and field.
func (s *Schema) Validate() []error {
	var errs []error
	seen := map[string]bool{}
	for _, e := range s.Entities {
		if e.Name == "" {
			errs = append(errs, fmt.Errorf("an entity has no name"))
			continue
		}
		if seen[e.Name] {
			errs = append(errs, fmt.Errorf("entity %q is declared twice", e.Name))
		}
		seen[e.Name] = true
		errs = append(errs, validateFields(e.Name, e.Fields)...)
		if len(e.Keys) == 0 {
			errs = append(errs, fmt.Errorf("entity %q has no key fields", e.Name))
		}
		for _, k := range e.Keys {
			if _, ok := e.Field(k); !ok {
				errs = append(errs, fmt.Errorf("entity %q: key field %q does not exist", e.Name, k))
			}
		}
		for _, m := range [...]struct{ what, name string }{
			{"modified field", e.ModifiedField},
			{"version field", e.VersionField},
			{"partition field", e.Partitioning.Field},
		} {
			if m.name == "" {
				continue
			}
			if _, ok := e.Field(m.name); !ok {
				errs = append(errs, fmt.Errorf("entity %q: %s %q does not exist", e.Name, m.what, m.name))
			}
		}
		if e.Partitioning.Partitioned && e.Partitioning.Field == "" {
			errs = append(errs, fmt.Errorf("entity %q is partitioned but names no partition field", e.Name))
		}
	}
	return errs
}

func validateFields(where string, fields []Field) []error {
	var errs []error
	seen := map[string]bool{}
	for _, f := range fields {
		path := where + "." + f.Name
		if f.Name == "" {
			errs = append(errs, fmt.Errorf("%s: a field has no name", where))
			continue
		}
		if seen[f.Name] {
			errs = append(errs, fmt.Errorf("%s: field declared twice", path))
		}
		seen[f.Name] = true
		errs = append(errs, validateType(path, f.Type)...)
	}
	return errs
}

func validateType(path string, t Type) []error {
	if !t.Kind.Valid() {
		return []error{fmt.Errorf("%s: invalid kind %q", path, t.Kind)}
	}
	switch t.Kind {
	case Complex:
		if len(t.Fields) == 0 {
			return []error{fmt.Errorf("%s: complex type %q has no fields", path, t.Name)}
		}
		return validateFields(path, t.Fields)
	case Collection:
		if t.Elem == nil {
			return []error{fmt.Errorf("%s: collection has no element type", path)}
		}
		return validateType(path+"[]", *t.Elem)
	case Enum:
		if len(t.Values) == 0 {
			return []error{fmt.Errorf("%s: enum %q has no values", path, t.Name)}
		}
	}
	return nil
}

// Sorted returns a copy of the schema with entities ordered by name, the
// order the JSON rendering uses so that equal schemas render equal bytes.
func (s Schema) Sorted() Schema {
	out := Schema{Entities: append([]Entity(nil), s.Entities...)}
	sort.SliceStable(out.Entities, func(i, j int) bool { return out.Entities[i].Name < out.Entities[j].Name })
	return out
}

// MarshalIndent renders the schema as indented JSON in its stable form:
// entities ordered by name, fields in declaration order, keys in the order of
// the struct tags. Equal schemas render to equal bytes, so the rendering can
// be cached, diffed and compared.
func (s Schema) MarshalIndent() ([]byte, error) {
	sorted := s.Sorted()
	b, err := json.MarshalIndent(sorted, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("rendering schema: %w", err)
	}
	return append(b, '\n'), nil
}

// Parse reads a schema from its JSON rendering and validates it.
func Parse(data []byte) (*Schema, error) {
	var s Schema
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("parsing schema JSON: %w", err)
	}
	if errs := s.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("invalid schema: %w", errors.Join(errs...))
	}
	return &s, nil
}
