// Package csdl reads OData CSDL XML documents (the `$metadata` of an OData
// service such as Microsoft Graph) into a small model of their types, and
// converts chosen entity types into the neutral schema model.
//
// Only what a connector needs for schema discovery is kept: entity, complex
// and enum types with their base types, structural and navigation properties,
// keys, nullability and collections. Annotations, actions, functions and the
// entity container are skipped without being interpreted. The reader streams
// with encoding/xml, so the cost of reading a document stays close to the cost
// of tokenizing it (see BenchmarkParse).
//
// Reference: OData CSDL XML Version 4.01,
// https://docs.oasis-open.org/odata/odata-csdl-xml/v4.01/odata-csdl-xml-v4.01.html
package csdl

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Kind says what a Type declares.
type Kind int

// The kinds of types a CSDL schema declares.
const (
	EntityType Kind = iota + 1
	ComplexType
	EnumType
)

// String names the kind as CSDL spells its element.
func (k Kind) String() string {
	switch k {
	case EntityType:
		return "EntityType"
	case ComplexType:
		return "ComplexType"
	case EnumType:
		return "EnumType"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Document is a parsed CSDL document. Type names in it are fully qualified
// with their schema's namespace: aliases ("graph.event") are resolved to
// namespaces ("microsoft.graph.event") when parsing completes.
type Document struct {
	// Schemas lists the schemas in document order.
	Schemas []Schema
	types   map[string]*Type
}

// Schema is one <Schema> element.
type Schema struct {
	Namespace string
	Alias     string
	// Types are the types the schema declares, in document order.
	Types []*Type
}

// Type is an entity, complex or enum type.
type Type struct {
	Kind      Kind
	Namespace string
	Name      string
	// BaseType is the qualified name of the base type, or "".
	BaseType string
	Abstract bool
	OpenType bool
	// Key holds the names of the key properties declared on this type
	// itself (entity types only); see Document.KeyOf for inherited keys.
	Key []string
	// Properties are the structural and navigation properties declared on
	// this type itself, in document order.
	Properties []Property
	// Members are the members of an enum type, in document order.
	Members []Member
	// IsFlags is set for an enum type whose values combine as flags.
	IsFlags bool
}

// QualifiedName returns Namespace.Name.
func (t *Type) QualifiedName() string { return t.Namespace + "." + t.Name }

// Property is a structural or navigation property.
type Property struct {
	Name string
	// Type is the qualified element type ("Edm.String",
	// "microsoft.graph.attendee"), without Collection(...).
	Type string
	// Collection is set when the property was declared Collection(Type).
	Collection bool
	// Nullable follows the CSDL default: true unless Nullable="false".
	Nullable bool
	// Navigation is set for a NavigationProperty.
	Navigation bool
	// ContainsTarget is set for a containment navigation property.
	ContainsTarget bool
}

// Member is one member of an enum type.
type Member struct {
	Name  string
	Value string
}

// Type returns the type with the given qualified name; an alias-qualified
// name ("graph.event") is accepted too.
func (d *Document) Type(name string) (*Type, bool) {
	t, ok := d.types[name]
	if ok {
		return t, true
	}
	t, ok = d.types[d.resolve(name)]
	return t, ok
}

// TypeNames returns the qualified names of every type, sorted.
func (d *Document) TypeNames() []string {
	names := make([]string, 0, len(d.types))
	for n := range d.types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// maxBaseDepth bounds base-type chains, so a cyclic or absurd inheritance in
// a malformed document cannot loop.
const maxBaseDepth = 32

// Chain returns t and its base types, most derived first. It stops with an
// error at a base type that does not exist or at a cycle.
func (d *Document) Chain(t *Type) ([]*Type, error) {
	chain := []*Type{t}
	for cur := t; cur.BaseType != ""; {
		base, ok := d.types[cur.BaseType]
		if !ok {
			return chain, fmt.Errorf("type %s: base type %s is not declared", cur.QualifiedName(), cur.BaseType)
		}
		if base.Kind != t.Kind {
			return chain, fmt.Errorf("type %s: base type %s is a %s, not a %s", cur.QualifiedName(), cur.BaseType, base.Kind, t.Kind)
		}
		for _, seen := range chain {
			if seen == base {
				return chain, fmt.Errorf("type %s: inheritance cycle through %s", t.QualifiedName(), base.QualifiedName())
			}
		}
		if len(chain) >= maxBaseDepth {
			return chain, fmt.Errorf("type %s: base type chain deeper than %d", t.QualifiedName(), maxBaseDepth)
		}
		chain = append(chain, base)
		cur = base
	}
	return chain, nil
}

// PropertiesOf returns the properties of t including those inherited from
// its base types, base-most first, as an instance of t carries them. A
// property redeclared in a derived type replaces the inherited one in place.
func (d *Document) PropertiesOf(t *Type) ([]Property, error) {
	chain, err := d.Chain(t)
	if err != nil {
		return nil, err
	}
	var props []Property
	index := map[string]int{}
	for i := len(chain) - 1; i >= 0; i-- {
		for _, p := range chain[i].Properties {
			if j, ok := index[p.Name]; ok {
				props[j] = p
				continue
			}
			index[p.Name] = len(props)
			props = append(props, p)
		}
	}
	return props, nil
}

// KeyOf returns the key of an entity type, declared on it or inherited from
// the nearest base type that declares one.
func (d *Document) KeyOf(t *Type) ([]string, error) {
	chain, err := d.Chain(t)
	if err != nil {
		return nil, err
	}
	for _, c := range chain {
		if len(c.Key) > 0 {
			return c.Key, nil
		}
	}
	return nil, nil
}

// resolve turns an alias-qualified name into a namespace-qualified one.
// Names with no known alias prefix come back unchanged.
func (d *Document) resolve(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 {
		return name
	}
	prefix := name[:i]
	for _, s := range d.Schemas {
		if s.Alias != "" && s.Alias == prefix {
			return s.Namespace + name[i:]
		}
	}
	return name
}

// Parse reads a CSDL XML document. It fails on XML that is not well formed,
// on a document without an edmx:Edmx root or schemas, on types and
// properties without names, and on a type declared twice; each error names
// the element and, where it has one, the type.
func Parse(r io.Reader) (*Document, error) {
	p := parser{dec: xml.NewDecoder(r), doc: &Document{types: map[string]*Type{}}}
	if err := p.run(); err != nil {
		return nil, err
	}
	p.doc.finish()
	return p.doc, nil
}

type parser struct {
	dec *xml.Decoder
	doc *Document
}

func (p *parser) offsetf(format string, args ...any) error {
	return fmt.Errorf("csdl: at byte %d: %s", p.dec.InputOffset(), fmt.Sprintf(format, args...))
}

func (p *parser) run() error {
	sawRoot := false
	for {
		tok, err := p.dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("csdl: reading XML: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "Edmx":
			sawRoot = true
		case "DataServices":
		case "Schema":
			if !sawRoot {
				return p.offsetf("<Schema> outside <edmx:Edmx>")
			}
			if err := p.schema(se); err != nil {
				return err
			}
		default:
			if !sawRoot {
				return p.offsetf("root element is <%s>, want <edmx:Edmx>", se.Name.Local)
			}
			if err := p.dec.Skip(); err != nil {
				return fmt.Errorf("csdl: skipping <%s>: %w", se.Name.Local, err)
			}
		}
	}
	if !sawRoot {
		return errors.New("csdl: no <edmx:Edmx> root element")
	}
	if len(p.doc.Schemas) == 0 {
		return errors.New("csdl: document declares no <Schema>")
	}
	return nil
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

func (p *parser) schema(se xml.StartElement) error {
	s := Schema{Namespace: attr(se, "Namespace"), Alias: attr(se, "Alias")}
	if s.Namespace == "" {
		return p.offsetf("<Schema> without Namespace")
	}
	for {
		tok, err := p.dec.Token()
		if err != nil {
			return fmt.Errorf("csdl: reading schema %s: %w", s.Namespace, unexpectedEOF(err))
		}
		switch t := tok.(type) {
		case xml.EndElement:
			p.doc.Schemas = append(p.doc.Schemas, s)
			return nil
		case xml.StartElement:
			var kind Kind
			switch t.Name.Local {
			case "EntityType":
				kind = EntityType
			case "ComplexType":
				kind = ComplexType
			case "EnumType":
				kind = EnumType
			default:
				if err := p.dec.Skip(); err != nil {
					return fmt.Errorf("csdl: schema %s: skipping <%s>: %w", s.Namespace, t.Name.Local, err)
				}
				continue
			}
			typ, err := p.typ(kind, s.Namespace, t)
			if err != nil {
				return err
			}
			q := typ.QualifiedName()
			if _, dup := p.doc.types[q]; dup {
				return p.offsetf("type %s is declared twice", q)
			}
			p.doc.types[q] = typ
			s.Types = append(s.Types, typ)
		}
	}
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (p *parser) typ(kind Kind, ns string, se xml.StartElement) (*Type, error) {
	t := &Type{Kind: kind, Namespace: ns}
	for _, a := range se.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "Name":
			t.Name = a.Value
		case "BaseType":
			t.BaseType = a.Value
		case "Abstract":
			t.Abstract = a.Value == "true"
		case "OpenType":
			t.OpenType = a.Value == "true"
		case "IsFlags":
			t.IsFlags = a.Value == "true"
		}
	}
	if t.Name == "" {
		return nil, p.offsetf("<%s> in schema %s without Name", se.Name.Local, ns)
	}
	for {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, fmt.Errorf("csdl: reading type %s.%s: %w", ns, t.Name, unexpectedEOF(err))
		}
		switch el := tok.(type) {
		case xml.EndElement:
			return t, nil
		case xml.StartElement:
			switch {
			case el.Name.Local == "Property" || el.Name.Local == "NavigationProperty":
				if kind == EnumType {
					return nil, p.offsetf("enum type %s.%s declares a <%s>", ns, t.Name, el.Name.Local)
				}
				prop, err := p.property(t, el)
				if err != nil {
					return nil, err
				}
				t.Properties = append(t.Properties, prop)
				continue // property() consumed the element
			case el.Name.Local == "Key" && kind == EntityType:
				if err := p.key(t); err != nil {
					return nil, err
				}
				continue
			case el.Name.Local == "Member" && kind == EnumType:
				m := Member{Name: attr(el, "Name"), Value: attr(el, "Value")}
				if m.Name == "" {
					return nil, p.offsetf("enum type %s.%s: <Member> without Name", ns, t.Name)
				}
				t.Members = append(t.Members, m)
			}
			if err := p.dec.Skip(); err != nil {
				return nil, fmt.Errorf("csdl: type %s.%s: skipping <%s>: %w", ns, t.Name, el.Name.Local, err)
			}
		}
	}
}

func (p *parser) property(t *Type, se xml.StartElement) (Property, error) {
	prop := Property{Nullable: true, Navigation: se.Name.Local == "NavigationProperty"}
	for _, a := range se.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "Name":
			prop.Name = a.Value
		case "Type":
			prop.Type = a.Value
		case "Nullable":
			prop.Nullable = a.Value != "false"
		case "ContainsTarget":
			prop.ContainsTarget = a.Value == "true"
		}
	}
	if prop.Name == "" {
		return prop, p.offsetf("type %s: <%s> without Name", t.QualifiedName(), se.Name.Local)
	}
	if prop.Type == "" {
		return prop, p.offsetf("type %s: property %s without Type", t.QualifiedName(), prop.Name)
	}
	if inner, ok := strings.CutPrefix(prop.Type, "Collection("); ok {
		inner, ok = strings.CutSuffix(inner, ")")
		if !ok || inner == "" {
			return prop, p.offsetf("type %s: property %s: malformed type %q", t.QualifiedName(), prop.Name, prop.Type)
		}
		prop.Type, prop.Collection = inner, true
	}
	// Annotations inside the property are not interpreted.
	if err := p.dec.Skip(); err != nil {
		return prop, fmt.Errorf("csdl: type %s: property %s: %w", t.QualifiedName(), prop.Name, err)
	}
	return prop, nil
}

func (p *parser) key(t *Type) error {
	for {
		tok, err := p.dec.Token()
		if err != nil {
			return fmt.Errorf("csdl: reading key of %s: %w", t.QualifiedName(), unexpectedEOF(err))
		}
		switch el := tok.(type) {
		case xml.EndElement:
			if len(t.Key) == 0 {
				return p.offsetf("type %s: <Key> without <PropertyRef>", t.QualifiedName())
			}
			return nil
		case xml.StartElement:
			if el.Name.Local == "PropertyRef" {
				name := attr(el, "Name")
				if name == "" {
					return p.offsetf("type %s: <PropertyRef> without Name", t.QualifiedName())
				}
				t.Key = append(t.Key, name)
			}
			if err := p.dec.Skip(); err != nil {
				return fmt.Errorf("csdl: reading key of %s: %w", t.QualifiedName(), err)
			}
		}
	}
}

// finish qualifies every type reference with its namespace.
func (d *Document) finish() {
	for _, s := range d.Schemas {
		for _, t := range s.Types {
			if t.BaseType != "" {
				t.BaseType = d.resolve(t.BaseType)
			}
			for i := range t.Properties {
				t.Properties[i].Type = d.resolve(t.Properties[i].Type)
			}
		}
	}
}
