package graph

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/syncplane/syncplane/internal/jsonenc"
)

// This file renders write bodies from the shapes of the msgraph-sdk-go
// models without building a model per body. A model's shape — for each
// property, the kind of value its deserializer reads (string, enum with
// the SDK's parser, nested model with its factory, collection…) and the
// @odata.type its constructor sets — is read once from the SDK itself: the
// model's own field deserializers are run against a recording parse node
// (shapeProbe), so names, kinds and enum members stay the SDK's. A body is
// then checked against the shape and rendered directly, with enum members
// spelt by the SDK's parser and String (an enum member the SDK does not
// know is tried in the spellings encodeBody tries). The result is the body
// encodeModels renders through the models — TestShapeBodiesMatchModels
// compares the two over Graph's examples and the emulator's items — and
// anything the shape path does not handle exactly as the models path
// would (a value the model refuses or would drop, an annotation, a
// property outside the model, a number that is not whole where a whole one
// is wanted…) is left to encodeModels, which renders or rejects it.

// valueKind is what a model's deserializer reads for a property.
type valueKind int

const (
	kindUnsupported valueKind = iota
	kindString
	kindBool
	kindInt32
	kindInt64
	kindFloat64
	kindTime
	kindDate
	kindTimeOnly
	kindDuration
	kindBytes
	kindEnum
	kindObject
	kindObjects
	kindPrimitives
	kindEnums
)

// modelShape is the shape of one SDK model type.
type modelShape struct {
	odataType string // the @odata.type its constructor sets, "" for none
	fields    map[string]*fieldShape
}

// fieldShape is one property of a model.
type fieldShape struct {
	kind    valueKind
	enum    absser.EnumFactory
	prim    string                 // the element type of kindPrimitives
	factory absser.ParsableFactory // kindObject, kindObjects

	once  sync.Once
	child *modelShape
}

// modelShapes caches the shapes read from the SDK; it is safe for
// concurrent use.
type modelShapes struct {
	mu     sync.Mutex
	byType map[reflect.Type]*modelShape
	roots  sync.Map // entity -> *modelShape of its model
}

func newModelShapes() *modelShapes { return &modelShapes{byType: map[reflect.Type]*modelShape{}} }

// root returns the shape of an entity's model.
func (ms *modelShapes) root(entity string) *modelShape {
	if s, ok := ms.roots.Load(entity); ok {
		return s.(*modelShape)
	}
	factory, ok := modelFactory(entity)
	if !ok {
		return nil
	}
	s := ms.shapeOf(factory)
	if s != nil {
		ms.roots.Store(entity, s)
	}
	return s
}

// shapeOf returns the shape of the model factory makes (without a
// discriminator: the base type), or nil when it cannot be read.
func (ms *modelShapes) shapeOf(factory absser.ParsableFactory) *modelShape {
	item, err := factory(shapeProbe{})
	if err != nil || item == nil {
		return nil
	}
	t := reflect.TypeOf(item)
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if s, ok := ms.byType[t]; ok {
		return s
	}
	s := readShape(item)
	ms.byType[t] = s
	return s
}

// child returns the shape of a nested model, read on first use.
func (f *fieldShape) childShape(ms *modelShapes) *modelShape {
	f.once.Do(func() { f.child = ms.shapeOf(f.factory) })
	return f.child
}

// readShape runs each field deserializer of item against a probe and
// records what it reads.
func readShape(item absser.Parsable) *modelShape {
	s := &modelShape{fields: map[string]*fieldShape{}}
	if h, ok := item.(interface{ GetOdataType() *string }); ok {
		if t := h.GetOdataType(); t != nil {
			s.odataType = *t
		}
	}
	for name, des := range item.GetFieldDeserializers() {
		rec := &fieldShape{}
		func() {
			defer func() {
				if recover() != nil {
					rec.kind = kindUnsupported
				}
			}()
			_ = des(&shapeRecorder{f: rec})
		}()
		s.fields[name] = rec
	}
	return s
}

// shapeProbe is the parse node a factory is called with: it has no
// discriminator, so the factory makes the base type.
type shapeProbe struct{ absser.ParseNode }

func (shapeProbe) GetChildNode(string) (absser.ParseNode, error) { return nil, nil }

// shapeRecorder is the parse node a field deserializer is run against: it
// records the kind of value asked for and answers "absent". A getter it
// does not define (GetUUIDValue) panics through the nil embedded node,
// and readShape marks that property unsupported: left to the models.
type shapeRecorder struct {
	absser.ParseNode
	f *fieldShape
}

func (r *shapeRecorder) set(k valueKind)                               { r.f.kind = k }
func (r *shapeRecorder) GetChildNode(string) (absser.ParseNode, error) { return nil, nil }
func (r *shapeRecorder) GetCollectionOfObjectValues(ctor absser.ParsableFactory) ([]absser.Parsable, error) {
	r.f.kind, r.f.factory = kindObjects, ctor
	return nil, nil
}
func (r *shapeRecorder) GetCollectionOfPrimitiveValues(t string) ([]any, error) {
	r.f.kind, r.f.prim = kindPrimitives, t
	return nil, nil
}
func (r *shapeRecorder) GetCollectionOfEnumValues(p absser.EnumFactory) ([]any, error) {
	r.f.kind, r.f.enum = kindEnums, p
	return nil, nil
}
func (r *shapeRecorder) GetObjectValue(ctor absser.ParsableFactory) (absser.Parsable, error) {
	r.f.kind, r.f.factory = kindObject, ctor
	return nil, nil
}
func (r *shapeRecorder) GetStringValue() (*string, error)   { r.set(kindString); return nil, nil }
func (r *shapeRecorder) GetBoolValue() (*bool, error)       { r.set(kindBool); return nil, nil }
func (r *shapeRecorder) GetInt8Value() (*int8, error)       { r.set(kindUnsupported); return nil, nil }
func (r *shapeRecorder) GetByteValue() (*byte, error)       { r.set(kindUnsupported); return nil, nil }
func (r *shapeRecorder) GetFloat32Value() (*float32, error) { r.set(kindUnsupported); return nil, nil }
func (r *shapeRecorder) GetFloat64Value() (*float64, error) { r.set(kindFloat64); return nil, nil }
func (r *shapeRecorder) GetInt32Value() (*int32, error)     { r.set(kindInt32); return nil, nil }
func (r *shapeRecorder) GetInt64Value() (*int64, error)     { r.set(kindInt64); return nil, nil }
func (r *shapeRecorder) GetTimeValue() (*time.Time, error)  { r.set(kindTime); return nil, nil }
func (r *shapeRecorder) GetISODurationValue() (*absser.ISODuration, error) {
	r.set(kindDuration)
	return nil, nil
}
func (r *shapeRecorder) GetTimeOnlyValue() (*absser.TimeOnly, error) {
	r.set(kindTimeOnly)
	return nil, nil
}
func (r *shapeRecorder) GetDateOnlyValue() (*absser.DateOnly, error) {
	r.set(kindDate)
	return nil, nil
}
func (r *shapeRecorder) GetEnumValue(p absser.EnumFactory) (any, error) {
	r.f.kind, r.f.enum = kindEnum, p
	return nil, nil
}
func (r *shapeRecorder) GetByteArrayValue() ([]byte, error) { r.set(kindBytes); return nil, nil }
func (r *shapeRecorder) GetRawValue() (any, error)          { r.set(kindUnsupported); return nil, nil }

// errShapeFallback says the shape path leaves a body to encodeModels.
var errShapeFallback = errors.New("left to the models")

// stampField is the property a create's stamp goes into (stampModel),
// with the value the model's setters give it.
func stampField(entity, stamp string) (string, any) {
	switch entity {
	case "event":
		return "transactionId", stamp
	case "contact":
		return "singleValueExtendedProperties", []any{map[string]any{"id": stampPropertyID, "value": stamp}}
	case "todoTask":
		return "linkedResources", []any{map[string]any{"applicationName": stampApplication, "displayName": stampApplication, "externalId": stamp}}
	}
	return "", nil
}

// renderShaped renders the body of a write of entity from its model's
// shape, with stamp set as stampModel sets it; errShapeFallback means the
// body must go through encodeModels.
func (ms *modelShapes) renderShaped(entity string, body map[string]any, stamp string) ([]byte, error) {
	root := ms.root(entity)
	if root == nil {
		return nil, errShapeFallback
	}
	keys := make([]string, 0, len(body)+1)
	for k := range body {
		keys = append(keys, k)
	}
	var stampKey string
	var stampVal any
	if stamp != "" {
		stampKey, stampVal = stampField(entity, stamp)
		if _, clash := body[stampKey]; clash {
			return nil, errShapeFallback
		}
		keys = append(keys, stampKey)
	}
	slices.Sort(keys)
	buf := make([]byte, 0, 256+64*len(keys))
	buf = append(buf, '{')
	first := true
	if root.odataType != "" {
		buf = jsonenc.AppendString(append(buf, `"@odata.type":`...), root.odataType)
		first = false
	}
	for _, k := range keys {
		v := body[k]
		if k == stampKey {
			v = stampVal
		}
		f := root.fields[k]
		if f == nil || strings.HasPrefix(k, "@") {
			return nil, errShapeFallback
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = append(jsonenc.AppendString(buf, k), ':')
		if v == nil {
			// A top-level null clears the property on PATCH: kept, as
			// encodeModels keeps it.
			buf = append(buf, "null"...)
			continue
		}
		var err error
		if buf, err = ms.appendValue(buf, f, v); err != nil {
			return nil, err
		}
	}
	return append(buf, '}'), nil
}

// appendObject renders a nested model; its null properties are left out,
// as the model leaves them unset.
func (ms *modelShapes) appendObject(buf []byte, s *modelShape, v any) ([]byte, error) {
	m, ok := v.(map[string]any)
	if !ok || s == nil {
		return nil, errShapeFallback
	}
	keys := make([]string, 0, len(m))
	for k, e := range m {
		if e != nil {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	buf = append(buf, '{')
	first := true
	if s.odataType != "" {
		buf = jsonenc.AppendString(append(buf, `"@odata.type":`...), s.odataType)
		first = false
	}
	for _, k := range keys {
		f := s.fields[k]
		if f == nil || strings.HasPrefix(k, "@") {
			return nil, errShapeFallback
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = append(jsonenc.AppendString(buf, k), ':')
		var err error
		if buf, err = ms.appendValue(buf, f, m[k]); err != nil {
			return nil, err
		}
	}
	return append(buf, '}'), nil
}

// appendValue renders one non-null value of a property.
func (ms *modelShapes) appendValue(buf []byte, f *fieldShape, v any) ([]byte, error) {
	switch f.kind {
	case kindString:
		s, ok := v.(string)
		if !ok {
			return nil, errShapeFallback
		}
		return jsonenc.AppendString(buf, s), nil
	case kindBool:
		b, ok := v.(bool)
		if !ok {
			return nil, errShapeFallback
		}
		return strconv.AppendBool(buf, b), nil
	case kindInt32, kindInt64:
		n, ok := wholeNumber(v)
		if !ok || f.kind == kindInt32 && (n < math.MinInt32 || n > math.MaxInt32) {
			return nil, errShapeFallback
		}
		return strconv.AppendInt(buf, n, 10), nil
	case kindFloat64:
		x, ok := floatNumber(v)
		if !ok {
			return nil, errShapeFallback
		}
		return strconv.AppendFloat(buf, x, 'f', -1, 64), nil
	case kindTime:
		// The models read RFC 3339 and write it without fractions of a
		// second (kiota's JSON writer): a value with fractions, or one
		// without a zone (which kiota reads in the machine's zone), is
		// left to encodeModels, which rejects the first and renders the
		// second.
		s, ok := v.(string)
		if !ok || len(s) == 19 {
			return nil, errShapeFallback
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil || t.Nanosecond() != 0 {
			return nil, errShapeFallback
		}
		return jsonenc.AppendString(buf, t.Format(time.RFC3339)), nil
	case kindDate, kindTimeOnly, kindDuration:
		s, ok := v.(string)
		if !ok {
			return nil, errShapeFallback
		}
		out, err := reformat(f.kind, s)
		if err != nil || !strings.EqualFold(out, s) {
			return nil, errShapeFallback
		}
		return jsonenc.AppendString(buf, out), nil
	case kindBytes:
		s, ok := v.(string)
		if !ok {
			return nil, errShapeFallback
		}
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil || base64.StdEncoding.EncodeToString(raw) != s {
			return nil, errShapeFallback
		}
		return jsonenc.AppendString(buf, s), nil
	case kindEnum:
		s, err := enumMember(f.enum, v)
		if err != nil {
			return nil, err
		}
		return jsonenc.AppendString(buf, s), nil
	case kindObject:
		return ms.appendObject(buf, f.childShape(ms), v)
	case kindObjects, kindPrimitives, kindEnums:
		list, ok := v.([]any)
		if !ok {
			return nil, errShapeFallback
		}
		buf = append(buf, '[')
		for i, e := range list {
			if e == nil {
				return nil, errShapeFallback
			}
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			switch f.kind {
			case kindObjects:
				buf, err = ms.appendObject(buf, f.childShape(ms), e)
			case kindEnums:
				var s string
				if s, err = enumMember(f.enum, e); err == nil {
					buf = jsonenc.AppendString(buf, s)
				}
			default:
				buf, err = appendPrimitive(buf, f.prim, e)
			}
			if err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	}
	return nil, errShapeFallback
}

// appendPrimitive renders an element of a collection of primitives.
func appendPrimitive(buf []byte, typ string, v any) ([]byte, error) {
	switch typ {
	case "string":
		if s, ok := v.(string); ok {
			return jsonenc.AppendString(buf, s), nil
		}
	case "bool":
		if b, ok := v.(bool); ok {
			return strconv.AppendBool(buf, b), nil
		}
	case "int32", "int64":
		if n, ok := wholeNumber(v); ok && (typ == "int64" || n >= math.MinInt32 && n <= math.MaxInt32) {
			return strconv.AppendInt(buf, n, 10), nil
		}
	}
	return nil, errShapeFallback
}

// enumMember parses an enum value with the SDK's parser — as given, then
// as encodeModels retries a member the model drops (camelCase or lower
// case; lower case first for all capitals) — and returns the SDK's
// spelling.
func enumMember(parse absser.EnumFactory, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", errShapeFallback
	}
	first, second := lowerFirst(s), strings.ToLower(s)
	if s == strings.ToUpper(s) {
		first, second = second, first
	}
	for _, cand := range [3]string{s, first, second} {
		got, err := parse(cand)
		if err != nil {
			return "", errShapeFallback
		}
		if got == nil {
			continue
		}
		str, ok := got.(fmt.Stringer)
		if !ok {
			return "", errShapeFallback
		}
		out := str.String()
		if !strings.EqualFold(out, cand) {
			return "", errShapeFallback
		}
		return out, nil
	}
	return "", errShapeFallback
}

// reformat parses a value of an Edm type the way kiota reads it and
// renders it the way kiota writes it.
func reformat(kind valueKind, s string) (string, error) {
	switch kind {
	case kindDate:
		d, err := absser.ParseDateOnly(s)
		if err != nil {
			return "", err
		}
		return d.String(), nil
	case kindTimeOnly:
		t, err := absser.ParseTimeOnly(s)
		if err != nil {
			return "", err
		}
		return t.String(), nil
	case kindDuration:
		d, err := absser.ParseISODuration(s)
		if err != nil {
			return "", err
		}
		return d.String(), nil
	}
	return "", errShapeFallback
}

// wholeNumber reads a record number that is a whole number.
func wholeNumber(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n), true
		}
	}
	return 0, false
}

// floatNumber reads a finite record number.
func floatNumber(v any) (float64, bool) {
	var x float64
	switch n := v.(type) {
	case float64:
		x = n
	default:
		i, ok := wholeNumber(v)
		if !ok || i > 1<<53 || i < -(1<<53) {
			return 0, false
		}
		x = float64(i)
	}
	return x, !math.IsNaN(x) && !math.IsInf(x, 0)
}
