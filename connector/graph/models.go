package graph

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/syncplane/syncplane/connector"
)

// modelFactory is the msgraph-sdk-go model a written entity is read into.
func modelFactory(entity string) (absser.ParsableFactory, bool) {
	switch entity {
	case "event":
		return models.CreateEventFromDiscriminatorValue, true
	case "contact":
		return models.CreateContactFromDiscriminatorValue, true
	case "todoTask":
		return models.CreateTodoTaskFromDiscriminatorValue, true
	}
	return nil, false
}

// encodeBody renders the request body of a write of entity with the typed
// models of msgraph-sdk-go. With ms, a body is rendered from the shapes
// of the models (models_shape.go) when it fits them exactly, which gives
// the same body for a fraction of the work; everything else, and every
// body when ms is nil, goes through the models as follows: body (a record already checked against the
// discovered schema and rendered by wireValue) is read into the entity's
// model through kiota's JSON parse node, stamp (when not empty) is set on
// the model by stampModel, and kiota's JSON serialization writer renders
// the result. Property names, enum members and value shapes are therefore
// the SDK's. A value the model refuses rejects the op naming the field; a
// value it would silently drop (kiota reads an unknown enum member as
// absent) is found by comparing the rendered body with body, and rejected
// the same way. Top-level nulls — on PATCH they clear a property — are
// kept, which kiota's writer would leave out.
func encodeBody(ms *modelShapes, entity string, body map[string]any, stamp string) ([]byte, *connector.Diagnostic) {
	if ms != nil {
		if out, err := ms.renderShaped(entity, body, stamp); err == nil {
			return out, nil
		}
	}
	return encodeModels(entity, body, stamp)
}

// encodeModels renders a write body through the SDK models themselves
// (the path encodeBody describes); encodeBody takes it for every body the
// shapes (models_shape.go) do not render.
func encodeModels(entity string, body map[string]any, stamp string) ([]byte, *connector.Diagnostic) {
	factory, ok := modelFactory(entity)
	if !ok {
		return nil, connector.Errorf(connector.NotFound, "entity %q is not writable", entity)
	}
	in, err := json.Marshal(body)
	if err != nil {
		return nil, connector.Errorf(connector.InvalidInput, "the %s cannot be encoded: %v", entity, err)
	}
	var inMap map[string]any
	if err := json.Unmarshal(in, &inMap); err != nil {
		return nil, connector.Errorf(connector.InvalidInput, "the %s cannot be encoded: %v", entity, err)
	}
	// Graph matches enum members without regard to case (its own examples
	// send "HTML" and "Monday", graph-examples/event-create-*-request.json);
	// kiota's enum parsers want the exact camelCase member. A string the
	// model drops is tried again as camelCase and in lower case.
	for pass := 0; ; pass++ {
		item, err := parseModel(in, factory)
		if err != nil {
			return nil, modelFieldError(entity, body, factory, err)
		}
		out, d := renderModel(entity, item, stamp)
		if d != nil {
			return nil, d
		}
		var rendered map[string]any
		if err := json.Unmarshal(out, &rendered); err != nil {
			return nil, connector.Errorf(connector.Internal, "the Graph model rendered the %s as invalid JSON", entity).WithDetail("%v", err)
		}
		lost := dropped(inMap, rendered, "", nil, nil)
		if len(lost) == 0 {
			return keepNulls(out, inMap, rendered)
		}
		// Every lost string is tried again in the likelier spelling
		// (second pass), then in the other (third pass); what is still
		// lost then is rejected, naming the first such field.
		for _, l := range lost {
			str, isStr := l.value.(string)
			if !isStr || pass >= 2 {
				return nil, connector.FieldErrorf(connector.InvalidInput, l.path, "%s: the value of %s is not one the Graph %s model accepts (an enum member such as teamsForBusiness, or a value of the property's type)", entity, l.path, entity)
			}
			// All capitals ("HTML") are most likely all lower case in
			// the model, anything else camelCase ("TeamsForBusiness").
			first, second := lowerFirst(str), strings.ToLower(str)
			if str == strings.ToUpper(str) {
				first, second = second, first
			}
			if pass == 0 {
				l.set(first)
			} else {
				l.set(second)
			}
		}
		if in, err = json.Marshal(inMap); err != nil {
			return nil, connector.Errorf(connector.InvalidInput, "the %s cannot be encoded: %v", entity, err)
		}
	}
}

// renderModel stamps the model with stamp, if any (stampModel), and
// renders it with kiota's JSON serialization writer.
func renderModel(entity string, item absser.Parsable, stamp string) ([]byte, *connector.Diagnostic) {
	if stamp != "" {
		if d := stampModel(entity, item, stamp); d != nil {
			return nil, d
		}
	}
	w := jsonserialization.NewJsonSerializationWriter()
	if err := w.WriteObjectValue("", item); err != nil {
		return nil, connector.Errorf(connector.InvalidInput, "the %s cannot be rendered by the Graph model", entity).WithDetail("%v", err)
	}
	out, err := w.GetSerializedContent()
	if err != nil {
		return nil, connector.Errorf(connector.InvalidInput, "the %s cannot be rendered by the Graph model", entity).WithDetail("%v", err)
	}
	return out, nil
}

// keepNulls puts back the top-level nulls of the input (a PATCH clears
// those properties), which kiota's writer leaves out.
func keepNulls(out []byte, in, rendered map[string]any) ([]byte, *connector.Diagnostic) {
	added := false
	for k, v := range in {
		if _, ok := rendered[k]; !ok && v == nil {
			rendered[k] = nil
			added = true
		}
	}
	if !added {
		return out, nil
	}
	b, err := json.Marshal(rendered)
	if err != nil {
		return nil, connector.Errorf(connector.Internal, "the body cannot be encoded").WithDetail("%v", err)
	}
	return b, nil
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// parseModel reads raw JSON into a model.
func parseModel(raw []byte, factory absser.ParsableFactory) (absser.Parsable, error) {
	node, err := jsonserialization.NewJsonParseNode(raw)
	if err != nil {
		return nil, err
	}
	return node.GetObjectValue(factory)
}

// modelFieldError finds which field the model refused by reading the
// fields one at a time, and names it.
func modelFieldError(entity string, body map[string]any, factory absser.ParsableFactory, err error) *connector.Diagnostic {
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		one, mErr := json.Marshal(map[string]any{k: body[k]})
		if mErr != nil {
			continue
		}
		if _, fErr := parseModel(one, factory); fErr != nil {
			return connector.FieldErrorf(connector.InvalidInput, k, "%s: the value of %s does not fit the Graph %s model", entity, k, entity).WithDetail("%v", fErr)
		}
	}
	return connector.Errorf(connector.InvalidInput, "the %s does not fit the Graph %s model", entity, entity).WithDetail("%v", err)
}

// lostValue is a value of the input the rendered body lacks or holds
// differently: its path, the value, and a function replacing it in the
// input.
type lostValue struct {
	path  string
	value any
	set   func(any)
}

// dropped appends to lost every non-null value of in (in key order) that
// out lacks or holds differently. Strings are the same when equal without
// regard to case (enum members) or when both are the same instant (kiota
// renders times its own way). Kiota reads an unknown enum member as
// absent, and inside a collection as the enum's first member — "Monday"
// would become "sunday" — so both show up here.
func dropped(in, out any, path string, set func(any), lost []lostValue) []lostValue {
	switch x := in.(type) {
	case map[string]any:
		o, ok := out.(map[string]any)
		if !ok {
			return append(lost, lostValue{path, in, set})
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := x[k]
			if v == nil {
				continue
			}
			p := k
			if path != "" {
				p = path + "." + k
			}
			lost = dropped(v, o[k], p, func(nv any) { x[k] = nv }, lost)
		}
	case []any:
		o, ok := out.([]any)
		if !ok || len(o) != len(x) {
			return append(lost, lostValue{path, in, set})
		}
		for i := range x {
			lost = dropped(x[i], o[i], fmt.Sprintf("%s[%d]", path, i), func(nv any) { x[i] = nv }, lost)
		}
	case string:
		o, ok := out.(string)
		if !ok || !sameString(x, o) {
			return append(lost, lostValue{path, in, set})
		}
	default:
		if in != nil && !reflect.DeepEqual(in, out) {
			return append(lost, lostValue{path, in, set})
		}
	}
	return lost
}

// sameString reports whether a rendered string stands for the input one.
func sameString(in, out string) bool {
	if strings.EqualFold(in, out) {
		return true
	}
	a, errA := time.Parse(time.RFC3339Nano, in)
	b, errB := time.Parse(time.RFC3339Nano, out)
	return errA == nil && errB == nil && a.Equal(b)
}

// stampPropertyID is the single-value extended property a contact is
// created with, holding its create's stamp: a String property in the
// connector's own property set, named by GUID and name, one of the
// documented id formats (extended-properties-overview.md; creating it with
// the contact: singlevaluelegacyextendedproperty-post-singlevalueextendedproperties.md).
const stampPropertyID = "String {5d0f6a43-8c1e-4b7a-9e2d-3a6c0b9f7e15} Name syncplaneIdempotencyKey"

// stampApplication is the applicationName of the linked resource a To Do
// task is created with (resources/linkedresource.md).
const stampApplication = "syncplane"

// stampModel sets a create's stamp — derived from its idempotency key
// (transactionID) — on the model, where the connector can find the item
// again: an event's transactionId (Graph itself de-duplicates on it,
// graph-api-facts §6), a contact's single-value extended property
// stampPropertyID (found with $filter=singleValueExtendedProperties/Any(…),
// singlevaluelegacyextendedproperty-get.md), a To Do task's linked
// resource with externalId = stamp (a linked resource may be created with
// the task, todotasklist-post-tasks.md).
func stampModel(entity string, item absser.Parsable, stamp string) *connector.Diagnostic {
	switch m := item.(type) {
	case models.Eventable:
		m.SetTransactionId(&stamp)
	case models.Contactable:
		ep := models.NewSingleValueLegacyExtendedProperty()
		id := stampPropertyID
		ep.SetId(&id)
		ep.SetValue(&stamp)
		m.SetSingleValueExtendedProperties(append(m.GetSingleValueExtendedProperties(), ep))
	case models.TodoTaskable:
		lr := models.NewLinkedResource()
		app := stampApplication
		lr.SetApplicationName(&app)
		lr.SetDisplayName(&app)
		lr.SetExternalId(&stamp)
		m.SetLinkedResources(append(m.GetLinkedResources(), lr))
	default:
		return connector.Errorf(connector.Internal, "the %s model cannot carry a stamp", entity)
	}
	return nil
}
