package graphtest

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// This file holds what a client can stamp on a contact or a To Do task to
// find it again — single-value extended properties on contacts and linked
// resources on tasks — and the $filter forms that find items by them.

const (
	// extPropsKey is the contact property holding single-value extended
	// properties (singlevaluelegacyextendedproperty-post-singlevalueextendedproperties.md:
	// "include the properties of the new resource instance and extended
	// property in the request body").
	extPropsKey = "singleValueExtendedProperties"
	// linkedKey is the To Do task navigation property holding linked
	// resources (todotasklist-post-tasks.md: a task is created "and
	// includes a linkedResource").
	linkedKey = "linkedResources"
)

// extPropID matches the documented id formats of an extended property
// (resources/extended-properties-overview.md, "id formats"):
// "{type} {guid} Name {name}", "{type} {guid} Id {hex id}" and
// "{type} {proptag}".
var extPropID = regexp.MustCompile(`^(\w+) (?:\{([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\} (?:Name (\S.*)|Id (0x[0-9a-fA-F]+))|(0x[0-9a-fA-F]+))$`)

// singleValueTypes are the MAPI property types a single-value extended
// property may name (extended-properties-overview.md; the *Array types are
// for multi-value properties).
var singleValueTypes = map[string]bool{"binary": true, "boolean": true, "clsid": true, "currency": true,
	"double": true, "float": true, "integer": true, "long": true, "object": true, "short": true,
	"string": true, "systemtime": true}

// canonicalPropID is the form two extended property ids are compared in:
// the type and the GUID without regard to case, the name as written —
// "Filtering the string name (Name) in the id of an extended property is
// case-sensitive" (singlevaluelegacyextendedproperty-get.md). Whether the
// service treats the type and GUID case-insensitively is UNCONFIRMED. ok is
// false for an id in none of the documented formats.
func canonicalPropID(id string) (string, bool) {
	m := extPropID.FindStringSubmatch(id)
	if m == nil || !singleValueTypes[strings.ToLower(m[1])] {
		return "", false
	}
	switch {
	case m[3] != "":
		return strings.ToLower(m[1]) + " {" + strings.ToLower(m[2]) + "} Name " + m[3], true
	case m[4] != "":
		return strings.ToLower(m[1]) + " {" + strings.ToLower(m[2]) + "} Id " + strings.ToLower(m[4]), true
	}
	return strings.ToLower(m[1]) + " " + strings.ToLower(m[5]), true
}

// mergeExtendedProperties validates the singleValueExtendedProperties of a
// create or PATCH body and merges them into the item's (PATCH adds or
// replaces properties by id, post-singlevalueextendedproperties.md "To
// create one or more extended properties in an existing resource
// instance"). Each needs an id in a documented format and a string value
// ("Required" for both in the request body table). The error codes for a
// bad id or missing value are UNCONFIRMED; the service answers 400.
func mergeExtendedProperties(have, v any) ([]any, *Error) {
	list, ok := v.([]any)
	if !ok {
		return nil, badRequest("RequestBodyRead", "Property 'singleValueExtendedProperties' must be a collection of microsoft.graph.singleValueLegacyExtendedProperty.")
	}
	out, _ := cloneValue(have).([]any)
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, badRequest("RequestBodyRead", "singleValueExtendedProperties[%d] must be a microsoft.graph.singleValueLegacyExtendedProperty.", i)
		}
		for k := range m {
			if k != "id" && k != "value" && !strings.HasPrefix(k, "@odata.") {
				return nil, badRequest("RequestBodyRead", "The property '%s' does not exist on type 'microsoft.graph.singleValueLegacyExtendedProperty'.", k)
			}
		}
		id, _ := m["id"].(string)
		canon, ok := canonicalPropID(id)
		if !ok {
			return nil, badRequest("ErrorInvalidProperty", "The extended property id '%s' is not in a supported format.", id)
		}
		val, ok := m["value"].(string)
		if !ok {
			return nil, badRequest("ErrorInvalidProperty", "The extended property '%s' needs a string value.", id)
		}
		replaced := false
		for j, o := range out {
			om := o.(map[string]any)
			if c, _ := canonicalPropID(om["id"].(string)); c == canon {
				out[j] = map[string]any{"id": id, "value": val}
				replaced = true
			}
		}
		if !replaced {
			out = append(out, map[string]any{"id": id, "value": val})
		}
	}
	return out, nil
}

// linkedResourceProps are the writable properties of a linkedResource
// (resources/linkedresource.md; id is server generated).
var linkedResourceProps = []string{"webUrl", "applicationName", "displayName", "externalId"}

// addLinkedResources validates the linkedResources of a task create body
// and returns them with server-generated ids (todotasklist-post-tasks.md:
// the 201 answer lists each with its "id"). Every property is a string;
// unknown properties are refused as for any Graph type. Whether PATCH of a
// task accepts linkedResources inline is UNCONFIRMED (the documented way is
// POST …/tasks/{id}/linkedResources), so the emulator refuses it.
func addLinkedResources(v any, create bool) ([]any, *Error) {
	if !create {
		return nil, badRequest("invalidRequest", "linkedResources cannot be changed by updating the task; use the task's linkedResources collection.")
	}
	list, ok := v.([]any)
	if !ok {
		return nil, badRequest("RequestBodyRead", "Property 'linkedResources' must be a collection of microsoft.graph.linkedResource.")
	}
	out := make([]any, 0, len(list))
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, badRequest("RequestBodyRead", "linkedResources[%d] must be a microsoft.graph.linkedResource.", i)
		}
		lr := map[string]any{"id": requestID()}
		for k, x := range m {
			switch {
			case strings.HasPrefix(k, "@odata."), k == "id":
			case containsFold(linkedResourceProps, k):
				str, ok := x.(string)
				if !ok && x != nil {
					return nil, badRequest("RequestBodyRead", "Property '%s' of a linkedResource must be a string.", k)
				}
				if ok {
					lr[k] = str
				}
			default:
				return nil, badRequest("RequestBodyRead", "The property '%s' does not exist on type 'microsoft.graph.linkedResource'.", k)
			}
		}
		out = append(out, lr)
	}
	return out, nil
}

// itemFilter turns the $filter of a contacts or tasks list into a
// predicate. Supported, as documented:
//
//   - contacts: singleValueExtendedProperties/Any(ep: ep/id eq '{id}'),
//     optionally "and ep/value eq|ne '{v}'" or "and contains(ep/value,'{v}')"
//     or "and startswith(ep/value,'{v}')" (singlevaluelegacyextendedproperty-get.md,
//     "GET resource instances that include … extended properties matching a
//     filter" lists contacts and contactFolders/{id}/contacts). The id is
//     compared as canonicalPropID does, the value without regard to case
//     ("Filtering the value property of an extended property is
//     case-insensitive").
//   - tasks: linkedResources/any(r: r/externalId eq '{v}'), optionally
//     "and r/applicationName eq '{v}'". Graph documents no $filter over a
//     task's linkedResources: this form is UNCONFIRMED. Values compare
//     exactly (UNCONFIRMED).
//
// A malformed clause answers 400 BadRequest as Graph does; other filters,
// which Graph may accept, answer 501 NotImplemented: the emulator does not
// serve them rather than ignore them.
func itemFilter(kind, src string) (func(*item) bool, *Error) {
	coll, varName, body, ok := lambda(src)
	if !ok {
		return nil, &Error{Status: http.StatusNotImplemented, Code: "NotImplemented", Message: fmt.Sprintf("The emulator does not serve the filter '%s' on %s.", src, kind)}
	}
	clauses := splitAnd(body)
	switch {
	case kind == "contacts" && strings.EqualFold(coll, extPropsKey):
		var idCanon string
		var valTest func(string) bool
		for _, cl := range clauses {
			if f, lit, ok := compare(cl, varName); ok && strings.EqualFold(f, "id") && idCanon == "" {
				c, valid := canonicalPropID(lit.value)
				if !valid || lit.op != "eq" {
					return nil, badRequest("BadRequest", "Invalid filter clause: the extended property id must be compared with eq to an id in a supported format.")
				}
				idCanon = c
				continue
			}
			if f, lit, ok := compare(cl, varName); ok && strings.EqualFold(f, "value") && valTest == nil {
				want := strings.ToLower(lit.value)
				switch lit.op {
				case "eq":
					valTest = func(v string) bool { return strings.ToLower(v) == want }
				case "ne":
					valTest = func(v string) bool { return strings.ToLower(v) != want }
				case "contains":
					valTest = func(v string) bool { return strings.Contains(strings.ToLower(v), want) }
				case "startswith":
					valTest = func(v string) bool { return strings.HasPrefix(strings.ToLower(v), want) }
				}
				continue
			}
			return nil, badRequest("BadRequest", "Invalid filter clause: '%s'.", cl)
		}
		if idCanon == "" {
			// "apply an eq operator on the id property" (singlevaluelegacyextendedproperty-get.md).
			return nil, badRequest("BadRequest", "Invalid filter clause: an extended property filter needs an eq on its id.")
		}
		return func(it *item) bool {
			list, _ := it.data[extPropsKey].([]any)
			for _, e := range list {
				m := e.(map[string]any)
				if c, _ := canonicalPropID(m["id"].(string)); c == idCanon && (valTest == nil || valTest(m["value"].(string))) {
					return true
				}
			}
			return false
		}, nil
	case kind == "tasks" && strings.EqualFold(coll, linkedKey):
		want := map[string]string{}
		for _, cl := range clauses {
			f, lit, ok := compare(cl, varName)
			if !ok || lit.op != "eq" || !containsFold([]string{"externalId", "applicationName"}, f) {
				return nil, badRequest("BadRequest", "Invalid filter clause: '%s'.", cl)
			}
			want[strings.ToLower(f)] = lit.value
		}
		if _, ok := want["externalid"]; !ok {
			return nil, badRequest("BadRequest", "Invalid filter clause: a linkedResources filter needs an eq on externalId.")
		}
		return func(it *item) bool {
			list, _ := it.data[linkedKey].([]any)
			for _, e := range list {
				m := e.(map[string]any)
				if m["externalId"] == want["externalid"] && (want["applicationname"] == "" || m["applicationName"] == want["applicationname"]) {
					return true
				}
			}
			return false
		}, nil
	}
	return nil, &Error{Status: http.StatusNotImplemented, Code: "NotImplemented", Message: fmt.Sprintf("The emulator does not serve the filter '%s' on %s.", src, kind)}
}

// lambdaRe matches "{collection}/any({var}: {body})" (OData lambda; the
// docs write both Any and any).
var lambdaRe = regexp.MustCompile(`^\s*(\w+)/(?i:any)\(\s*(\w+)\s*:\s*(.*)\)\s*$`)

func lambda(src string) (coll, varName, body string, ok bool) {
	m := lambdaRe.FindStringSubmatch(src)
	if m == nil {
		return "", "", "", false
	}
	return m[1], m[2], m[3], true
}

// splitAnd splits a lambda body at its top-level "and"s (outside quotes
// and parentheses).
func splitAnd(body string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	lower := strings.ToLower(body)
	for i := 0; i < len(body); i++ {
		switch ch := body[i]; {
		case ch == '\'':
			quoted = !quoted // '' inside a literal toggles twice
		case quoted:
		case ch == '(':
			depth++
		case ch == ')':
			depth--
		case depth == 0 && i > 0 && body[i-1] == ' ' && strings.HasPrefix(lower[i:], "and "):
			out = append(out, strings.TrimSpace(body[start:i]))
			start = i + 4
			i += 3
		}
	}
	return append(out, strings.TrimSpace(body[start:]))
}

// comparison is one clause's operator and string literal.
type comparison struct{ op, value string }

var (
	cmpRe  = regexp.MustCompile(`^(\w+)/(\w+)\s+(?i:(eq|ne))\s+'((?:[^']|'')*)'$`)
	funcRe = regexp.MustCompile(`^(?i:(contains|startswith))\(\s*(\w+)/(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)$`)
)

// compare reads "{var}/{field} eq|ne '{v}'" or "contains|startswith({var}/{field}, '{v}')".
func compare(clause, varName string) (string, comparison, bool) {
	if m := cmpRe.FindStringSubmatch(clause); m != nil && m[1] == varName {
		return m[2], comparison{strings.ToLower(m[3]), strings.ReplaceAll(m[4], "''", "'")}, true
	}
	if m := funcRe.FindStringSubmatch(clause); m != nil && m[2] == varName {
		return m[3], comparison{strings.ToLower(m[1]), strings.ReplaceAll(m[4], "''", "'")}, true
	}
	return "", comparison{}, false
}

// ContactsWithExtendedProperty counts the user's contacts (all folders,
// deleted ones left out) holding the single-value extended property id
// with the value (compared as the $filter does). Tests use it to count
// the contacts made under one idempotency stamp.
func (s *Server) ContactsWithExtendedProperty(user, id, value string) (int, error) {
	f, e := itemFilter("contacts", fmt.Sprintf("%s/any(ep: ep/id eq '%s' and ep/value eq '%s')", extPropsKey, strings.ReplaceAll(id, "'", "''"), strings.ReplaceAll(value, "'", "''")))
	if e != nil {
		return 0, e
	}
	return s.countItems(&contactsColl, user, f)
}

// TasksWithLinkedResource counts the user's To Do tasks (all lists,
// deleted ones left out) with a linked resource of that externalId.
func (s *Server) TasksWithLinkedResource(user, externalID string) (int, error) {
	f, e := itemFilter("tasks", fmt.Sprintf("%s/any(r: r/externalId eq '%s')", linkedKey, strings.ReplaceAll(externalID, "'", "''")))
	if e != nil {
		return 0, e
	}
	return s.countItems(&tasksColl, user, f)
}

func (s *Server) countItems(co *collection, user string, keep func(*item) bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	box, err := s.boxOf(user)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, it := range co.items(box) {
		if !it.deleted && keep(it) {
			n++
		}
	}
	return n, nil
}
