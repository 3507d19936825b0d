package config

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	jskind "github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/syncplane/syncplane/transforms"
	"github.com/syncplane/syncplane/transforms/suggest"
)

// SchemaJSON is the JSON Schema (draft 2020-12) of the pipeline file.
//
//go:embed pipeline.schema.json
var SchemaJSON []byte

const fileSchemaURL = "https://syncplane.dev/schema/pipeline-file.json"

// compiledSchema is a JSON Schema with its raw document, kept to name the
// properties an object allows when suggesting a misspelt key.
type compiledSchema struct {
	schema *jsonschema.Schema
	raw    any
}

var fileSchema = sync.OnceValues(func() (*compiledSchema, error) {
	return compileSchema(fileSchemaURL, SchemaJSON)
})

func compileSchema(url string, data []byte) (*compiledSchema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parsing JSON Schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// Only the schema itself may be loaded: a settings schema from a
	// connector must not make the host fetch URLs or read files.
	c.UseLoader(noLoader{})
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("adding JSON Schema: %w", err)
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("compiling JSON Schema: %w", err)
	}
	return &compiledSchema{schema: s, raw: doc}, nil
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema references %s, which is not loaded", url)
}

// validateFile checks the tree against the file's JSON Schema.
func validateFile(root *node) Errors {
	cs, err := fileSchema()
	if err != nil {
		// The schema is embedded and tested; failing here is a build defect.
		return Errors{{Msg: fmt.Sprintf("internal error: %v", err)}}
	}
	return cs.check(root.generic(), root, nil, transforms.Position{}, nil)
}

// check validates inst, the value found at base (an instance location in
// root) once secrets are resolved, and maps every failure to a positioned
// Error; fallback is the position when base is absent from the file. secrets are JSON pointers (relative
// to base) whose values must not be shown.
func (cs *compiledSchema) check(inst any, root *node, base []string, fallback transforms.Position, secrets []string) Errors {
	target := root.lookup(base)
	if target == nil {
		target = &node{kind: kindNull, pos: fallback}
	}
	err := cs.schema.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return Errors{{Pos: target.pos, Path: displayPath(base, root), Msg: err.Error()}}
	}
	var leaves []*jsonschema.ValidationError
	collectLeaves(ve, &leaves)
	leaves = pruneBranches(leaves)
	p := message.NewPrinter(language.English)
	// Unknown keys whose suggestion is a missing required key: the
	// "missing" error would only repeat the same mistake.
	misspelt := map[string]bool{}
	for _, l := range leaves {
		if k, ok := l.ErrorKind.(*jskind.AdditionalProperties); ok {
			loc := append(append([]string(nil), base...), l.InstanceLocation...)
			allowed := cs.allowedProperties(l.SchemaURL)
			for _, prop := range k.Properties {
				if s := suggest.Nearest(prop, allowed); s != "" {
					misspelt[displayPath(loc, root)+"\x00"+s] = true
				}
			}
		}
	}
	var out Errors
	seen := map[string]bool{}
	for _, l := range leaves {
		loc := append(append([]string(nil), base...), l.InstanceLocation...)
		n := root.lookup(loc)
		pos := target.pos
		if n != nil {
			pos = n.pos
		}
		path := displayPath(loc, root)
		where := path
		if where == "" {
			where = "the top level"
		}
		add := func(e Error) {
			key := e.Error()
			if !seen[key] {
				seen[key] = true
				out = append(out, e)
			}
		}
		secret := isSecret(secrets, l.InstanceLocation) || cs.writeOnly(l.SchemaURL)
		switch k := l.ErrorKind.(type) {
		case *jskind.AdditionalProperties:
			allowed := cs.allowedProperties(l.SchemaURL)
			for _, prop := range k.Properties {
				kp := pos
				if c := n.get(prop); c != nil {
					kp = c.keyPos
				}
				add(Error{Pos: kp, Path: joinPath(path, prop), Msg: fmt.Sprintf("unknown key %q in %s", prop, where), Suggestion: suggest.Nearest(prop, allowed)})
			}
		case *jskind.Required:
			for _, m := range k.Missing {
				if misspelt[path+"\x00"+m] {
					continue // the unknown-key error already suggests it
				}
				add(Error{Pos: pos, Path: path, Msg: fmt.Sprintf("%s: missing required key %q", where, m)})
			}
		case *jskind.PropertyNames:
			// jsonschema v6.0.3 reports a wrong instance location for
			// propertyNames failures; find the object holding the key.
			kp, owner := findKey(target, k.Property, nil)
			ownerLoc := append(append([]string(nil), base...), owner...)
			add(Error{Pos: kp, Path: joinPath(displayPath(ownerLoc, root), k.Property), Msg: fmt.Sprintf("invalid name %q in %s: use letters, digits, '_', '.' and '-', starting with a letter or digit", k.Property, displayPath(ownerLoc, root))})
		case *jskind.Enum:
			if secret {
				add(Error{Pos: pos, Path: path, Msg: fmt.Sprintf("%s: the secret value is not one of the allowed values (value not shown)", where)})
				continue
			}
			var want []string
			for _, w := range k.Want {
				if s, ok := w.(string); ok {
					want = append(want, s)
				}
			}
			got, _ := k.Got.(string)
			add(Error{Pos: pos, Path: path, Msg: fmt.Sprintf("%s: %s", where, k.LocalizedString(p)), Suggestion: suggest.Nearest(got, want)})
		case *jskind.Type:
			add(Error{Pos: pos, Path: path, Msg: fmt.Sprintf("%s: %s", where, k.LocalizedString(p))})
		default:
			if secret {
				kw := "schema"
				if kp := l.ErrorKind.KeywordPath(); len(kp) > 0 {
					kw = kp[len(kp)-1]
				}
				add(Error{Pos: pos, Path: path, Msg: fmt.Sprintf("%s: the secret value does not satisfy %q (value not shown)", where, kw)})
				continue
			}
			add(Error{Pos: pos, Path: path, Msg: fmt.Sprintf("%s: %s", where, l.ErrorKind.LocalizedString(p))})
		}
	}
	return out
}

func isSecret(secrets []string, loc []string) bool {
	ptr := pointer(loc)
	for _, s := range secrets {
		if ptr == s || strings.HasPrefix(ptr, s+"/") || strings.HasPrefix(s, ptr+"/") {
			return true
		}
	}
	return false
}

func collectLeaves(ve *jsonschema.ValidationError, out *[]*jsonschema.ValidationError) {
	if _, ok := ve.ErrorKind.(*jskind.PropertyNames); ok || len(ve.Causes) == 0 {
		*out = append(*out, ve)
		return
	}
	for _, c := range ve.Causes {
		collectLeaves(c, out)
	}
}

// pruneBranches drops type mismatches that only say an alternative branch
// (oneOf/anyOf, a type list) did not apply, when another failure at the same
// place or below tells what is actually wrong.
func pruneBranches(leaves []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	var out []*jsonschema.ValidationError
	for i, l := range leaves {
		if _, ok := l.ErrorKind.(*jskind.Type); ok {
			shadowed := false
			for j, o := range leaves {
				if i == j {
					continue
				}
				if _, isType := o.ErrorKind.(*jskind.Type); isType {
					continue
				}
				if hasPrefix(o.InstanceLocation, l.InstanceLocation) {
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
	if len(loc) < len(prefix) {
		return false
	}
	for i := range prefix {
		if loc[i] != prefix[i] {
			return false
		}
	}
	return true
}

// allowedProperties names the properties the schema object at url declares.
func (cs *compiledSchema) allowedProperties(url string) []string {
	_, frag, _ := strings.Cut(url, "#")
	segs := splitPointer(frag)
	for {
		if obj, ok := navigate(cs.raw, segs).(map[string]any); ok {
			if props, ok := obj["properties"].(map[string]any); ok {
				names := make([]string, 0, len(props))
				for k := range props {
					names = append(names, k)
				}
				sort.Strings(names)
				return names
			}
		}
		if len(segs) == 0 {
			break
		}
		segs = segs[:len(segs)-1]
	}
	return nil
}

func navigate(v any, segs []string) any {
	for _, s := range segs {
		switch x := v.(type) {
		case map[string]any:
			v = x[s]
		case []any:
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// compileSettingsSchema compiles a connector's settings schema.
func compileSettingsSchema(connector string, data json.RawMessage) (*compiledSchema, error) {
	return compileSchema("https://syncplane.dev/connectors/"+connector+"/settings.json", data)
}

// findKey finds the first mapping at or below n with the given key,
// returning the key's position and the mapping's location.
func findKey(n *node, key string, loc []string) (transforms.Position, []string) {
	if n == nil {
		return transforms.Position{}, nil
	}
	switch n.kind {
	case kindMap:
		if c, ok := n.fields[key]; ok {
			return c.keyPos, loc
		}
		for _, k := range n.keys {
			if p, l := findKey(n.fields[k], key, append(append([]string(nil), loc...), k)); p.Line > 0 {
				return p, l
			}
		}
	case kindSeq:
		for i, it := range n.items {
			if p, l := findKey(it, key, append(append([]string(nil), loc...), strconv.Itoa(i))); p.Line > 0 {
				return p, l
			}
		}
	}
	return transforms.Position{}, nil
}

// writeOnly reports whether the schema object at url, or the property
// schema holding it, is marked "writeOnly" (how settings schemas mark
// secrets): its value must not be shown.
func (cs *compiledSchema) writeOnly(url string) bool {
	_, frag, _ := strings.Cut(url, "#")
	segs := splitPointer(frag)
	for len(segs) > 0 {
		if obj, ok := navigate(cs.raw, segs).(map[string]any); ok {
			if wo, _ := obj["writeOnly"].(bool); wo {
				return true
			}
		}
		if len(segs) >= 2 && segs[len(segs)-2] == "properties" {
			return false // checked the property's own schema
		}
		segs = segs[:len(segs)-1]
	}
	return false
}
