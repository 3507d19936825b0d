// Package settings checks a connector's settings against the JSON Schema
// the connector publishes in its Spec, and reports each problem as an
// INVALID_INPUT diagnostic naming the setting, so that a consultant sees
// "setting "tenant_id" is required" rather than a schema engine's report.
// A value marked secret is never quoted in a message.
//
// A connector compiles its schema once and validates in Configure:
//
//	var settingsSchema = settings.MustCompile(schemaJSON, "/client_secret")
//
//	func (c *Conn) Configure(ctx context.Context, req connector.ConfigureRequest) error {
//		var s mySettings
//		if err := settingsSchema.Decode(req.Settings, &s); err != nil {
//			return err // connector.Diagnostics, one per failing setting
//		}
//		...
//	}
package settings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/syncplane/syncplane/connector"
)

// Schema is a compiled settings schema. It is safe for concurrent use.
type Schema struct {
	compiled *jsonschema.Schema
	secrets  []string
}

// Compile compiles a JSON Schema document (draft 2020-12 unless the
// document says otherwise). secrets are the JSON pointers (RFC 6901) of
// settings whose values must never appear in a message; they are usually
// the Spec's SecretSettings.
func Compile(doc []byte, secrets ...string) (*Schema, error) {
	parsed, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("parsing settings schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("settings.schema.json", parsed); err != nil {
		return nil, fmt.Errorf("loading settings schema: %w", err)
	}
	compiled, err := c.Compile("settings.schema.json")
	if err != nil {
		return nil, fmt.Errorf("compiling settings schema: %w", err)
	}
	return &Schema{compiled: compiled, secrets: slices.Clone(secrets)}, nil
}

// MustCompile is Compile for schemas fixed in a connector's source; it
// panics on an invalid schema, which a test of the connector catches.
func MustCompile(doc string, secrets ...string) *Schema {
	s, err := Compile([]byte(doc), secrets...)
	if err != nil {
		panic(err)
	}
	return s
}

// Validate checks raw settings (an empty input counts as {}) and returns one
// diagnostic per problem, each with Field set to the setting's dotted path.
// It returns nil when the settings are valid.
func (s *Schema) Validate(raw json.RawMessage) connector.Diagnostics {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return connector.Diagnostics{connector.Errorf(connector.InvalidInput, "settings are not valid JSON").WithDetail("%s", err.Error())}
	}
	err = s.compiled.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return connector.Diagnostics{connector.Errorf(connector.InvalidInput, "validating settings: %v", err)}
	}
	return s.diagnostics(ve)
}

// Decode validates raw settings and, when they are valid, decodes them into
// dst with encoding/json. Its error is connector.Diagnostics.
func (s *Schema) Decode(raw json.RawMessage, dst any) error {
	if ds := s.Validate(raw); ds.HasError() {
		return ds
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		// The schema accepted what the Go type cannot hold: a mismatch
		// between the connector's schema and its settings type.
		return connector.Diagnostics{connector.Errorf(connector.Internal, "decoding settings that passed the schema").WithDetail("%s", err.Error())}
	}
	return nil
}

func (s *Schema) diagnostics(ve *jsonschema.ValidationError) connector.Diagnostics {
	var leaves []*jsonschema.ValidationError
	collectLeaves(ve, &leaves)
	leaves = pruneBranches(leaves)
	p := message.NewPrinter(language.English)
	var ds connector.Diagnostics
	for _, l := range leaves {
		at := dotted(l.InstanceLocation)
		switch k := l.ErrorKind.(type) {
		case *kind.Required:
			for _, m := range k.Missing {
				ds = append(ds, connector.FieldErrorf(connector.InvalidInput, join(at, m), "setting %q is required", join(at, m)))
			}
		case *kind.AdditionalProperties:
			for _, name := range k.Properties {
				ds = append(ds, connector.FieldErrorf(connector.InvalidInput, join(at, name), "unknown setting %q", join(at, name)))
			}
		default:
			name := at
			if name == "" {
				name = "settings"
			}
			if s.isSecret(l.InstanceLocation) {
				ds = append(ds, connector.FieldErrorf(connector.InvalidInput, at, "setting %q has an invalid value (not shown: it is a secret)", name))
				continue
			}
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, at, "setting %q: %s", name, l.ErrorKind.LocalizedString(p)))
		}
	}
	if len(ds) == 0 {
		ds = connector.Diagnostics{connector.Errorf(connector.InvalidInput, "settings do not match the connector's settings schema")}
	}
	return ds
}

// isSecret reports whether loc is, is inside, or contains a secret setting.
func (s *Schema) isSecret(loc []string) bool {
	ptr := pointer(loc)
	for _, sec := range s.secrets {
		if ptr == sec || strings.HasPrefix(ptr, sec+"/") || strings.HasPrefix(sec, ptr+"/") {
			return true
		}
	}
	return false
}

func collectLeaves(ve *jsonschema.ValidationError, out *[]*jsonschema.ValidationError) {
	if len(ve.Causes) == 0 {
		*out = append(*out, ve)
		return
	}
	for _, c := range ve.Causes {
		collectLeaves(c, out)
	}
}

// pruneBranches drops type mismatches that only say an alternative branch
// (oneOf, anyOf) did not apply when another failure at the same place or
// below says what is actually wrong.
func pruneBranches(leaves []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	var out []*jsonschema.ValidationError
	for i, l := range leaves {
		if _, ok := l.ErrorKind.(*kind.Type); ok {
			shadowed := false
			for j, o := range leaves {
				if _, isType := o.ErrorKind.(*kind.Type); i != j && !isType && hasPrefix(o.InstanceLocation, l.InstanceLocation) {
					shadowed = true
					break
				}
			}
			if shadowed {
				continue
			}
		}
		out = append(out, l)
	}
	return out
}

func hasPrefix(loc, prefix []string) bool {
	return len(loc) >= len(prefix) && slices.Equal(loc[:len(prefix)], prefix)
}

func dotted(loc []string) string { return strings.Join(loc, ".") }

func join(parent, child string) string {
	if parent == "" {
		return child
	}
	return parent + "." + child
}

// pointer renders an instance location as a JSON pointer.
func pointer(loc []string) string {
	var b strings.Builder
	for _, seg := range loc {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(seg))
	}
	return b.String()
}
