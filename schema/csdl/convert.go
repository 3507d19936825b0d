package csdl

import (
	"fmt"
	"strings"

	"github.com/syncplane/syncplane/schema"
)

// DefaultMaxDepth is how many levels of complex types Entity resolves when
// ConvertOptions.MaxDepth is zero. Graph's event needs three (event →
// attendees → emailAddress; location → address).
const DefaultMaxDepth = 4

// ConvertOptions tune Entity.
type ConvertOptions struct {
	// Name is the entity's name in the schema; the type's name when empty.
	Name string
	// MaxDepth bounds how deep complex types are resolved. A complex value
	// deeper than that, or one whose type is already being resolved further
	// up (a recursive type), becomes a field of kind Any.
	MaxDepth int
	// Navigation includes navigation properties (as Any values) when set;
	// by default they are left out, since a record does not carry them.
	Navigation bool
	// Omit names top-level properties to leave out.
	Omit []string
}

// Entity converts the entity type with the given qualified (or
// alias-qualified) name into a schema entity: every structural property,
// inherited ones first, with complex types resolved through their base types
// to MaxDepth, enums with their members, and the key of the type. The
// returned entity's Capabilities and Partitioning are left zero for the
// caller to fill.
func (d *Document) Entity(typeName string, opts ConvertOptions) (schema.Entity, error) {
	t, ok := d.Type(typeName)
	if !ok {
		return schema.Entity{}, fmt.Errorf("csdl: entity type %s is not declared", typeName)
	}
	if t.Kind != EntityType {
		return schema.Entity{}, fmt.Errorf("csdl: %s is a %s, not an EntityType", typeName, t.Kind)
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = DefaultMaxDepth
	}
	keys, err := d.KeyOf(t)
	if err != nil {
		return schema.Entity{}, fmt.Errorf("csdl: %w", err)
	}
	c := converter{doc: d, opts: opts, active: map[string]bool{t.QualifiedName(): true}}
	fields, err := c.fields(t, 0, opts.Omit)
	if err != nil {
		return schema.Entity{}, err
	}
	name := opts.Name
	if name == "" {
		name = t.Name
	}
	return schema.Entity{Name: name, Fields: fields, Keys: append([]string(nil), keys...)}, nil
}

type converter struct {
	doc    *Document
	opts   ConvertOptions
	active map[string]bool // complex types on the current resolution path
}

func (c *converter) fields(t *Type, depth int, omit []string) ([]schema.Field, error) {
	props, err := c.doc.PropertiesOf(t)
	if err != nil {
		return nil, fmt.Errorf("csdl: %w", err)
	}
	out := make([]schema.Field, 0, len(props))
next:
	for _, p := range props {
		for _, o := range omit {
			if p.Name == o {
				continue next
			}
		}
		if p.Navigation && !c.opts.Navigation {
			continue
		}
		var typ schema.Type
		if p.Navigation {
			typ = schema.Type{Kind: schema.Any, Name: p.Type}
		} else {
			typ, err = c.typeOf(p.Type, depth)
			if err != nil {
				return nil, fmt.Errorf("csdl: %s.%s: %w", t.QualifiedName(), p.Name, err)
			}
		}
		if p.Collection {
			elem := typ
			typ = schema.Type{Kind: schema.Collection, Elem: &elem}
		}
		out = append(out, schema.Field{Name: p.Name, Type: typ, Nullable: p.Nullable})
	}
	return out, nil
}

// typeOf maps a qualified type name to a schema type.
func (c *converter) typeOf(name string, depth int) (schema.Type, error) {
	if k, ok := primitiveKind(name); ok {
		return schema.Type{Kind: k, Name: name}, nil
	}
	t, ok := c.doc.types[name]
	if !ok {
		return schema.Type{}, fmt.Errorf("type %s is not declared", name)
	}
	switch t.Kind {
	case EnumType:
		vals := make([]string, len(t.Members))
		for i, m := range t.Members {
			vals[i] = m.Name
		}
		if len(vals) == 0 {
			return schema.Type{Kind: schema.String, Name: name}, nil
		}
		return schema.Type{Kind: schema.Enum, Name: name, Values: vals}, nil
	case ComplexType:
		if depth+1 >= c.opts.MaxDepth || c.active[name] {
			return schema.Type{Kind: schema.Any, Name: name}, nil
		}
		c.active[name] = true
		fields, err := c.fields(t, depth+1, nil)
		delete(c.active, name)
		if err != nil {
			return schema.Type{}, err
		}
		if len(fields) == 0 {
			// An empty or open complex type carries whatever its derived
			// types add: an open value.
			return schema.Type{Kind: schema.Any, Name: name}, nil
		}
		return schema.Type{Kind: schema.Complex, Name: name, Fields: fields}, nil
	default:
		// An entity type used as a structural property type (rare): keep it
		// open rather than expanding another entity.
		return schema.Type{Kind: schema.Any, Name: name}, nil
	}
}

// primitiveKind maps the EDM primitive types to schema kinds (CSDL 4.01
// §4.4 "Primitive Types"). Durations, times of day and GUIDs keep their
// ISO 8601 / textual form as strings; geography, streams and untyped values
// are open values. ok is false for a name that is not an EDM primitive.
func primitiveKind(name string) (k schema.Kind, ok bool) {
	switch name {
	case "Edm.Binary":
		return schema.Bytes, true
	case "Edm.Boolean":
		return schema.Bool, true
	case "Edm.Byte", "Edm.SByte", "Edm.Int16", "Edm.Int32", "Edm.Int64":
		return schema.Int, true
	case "Edm.Single", "Edm.Double", "Edm.Decimal":
		return schema.Double, true
	case "Edm.String", "Edm.Guid", "Edm.Duration", "Edm.TimeOfDay":
		return schema.String, true
	case "Edm.Date":
		return schema.Date, true
	case "Edm.DateTimeOffset":
		return schema.Timestamp, true
	case "Edm.Stream", "Edm.Untyped", "Edm.PrimitiveType", "Edm.Geography", "Edm.GeographyPoint", "Edm.Geometry", "Edm.GeometryPoint":
		return schema.Any, true
	}
	if strings.HasPrefix(name, "Edm.") {
		// Remaining EDM primitives (geography and geometry shapes).
		return schema.Any, true
	}
	return "", false
}
