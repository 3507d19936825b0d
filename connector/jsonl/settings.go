package jsonl

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/syncplane/syncplane/connector"
	settingsschema "github.com/syncplane/syncplane/connector/settings"
)

// settingsSchema is the JSON Schema (draft 2020-12) of Configure's settings.
const settingsSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "JSON Lines directory",
  "type": "object",
  "required": ["dir"],
  "additionalProperties": false,
  "properties": {
    "dir": {
      "type": "string",
      "minLength": 1,
      "description": "Directory holding one <entity>.jsonl file per entity. Relative paths are resolved against the connector process's working directory."
    },
    "batch_size": {
      "type": "integer",
      "minimum": 1,
      "maximum": 100000,
      "description": "Records per batch when the host does not ask for a size (default 500)."
    },
    "entities": {
      "type": "object",
      "description": "Entities whose key, change tracking or fields are declared, by name (letters, digits, _ . -, not starting with . or -). Files in dir that are not listed here are still entities, with key \"id\" and inferred fields.",
      "additionalProperties": {"$ref": "#/$defs/entity"}
    }
  },
  "$defs": {
    "entity": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "key": {"type": "string", "minLength": 1, "description": "Field identifying a record (default \"id\")."},
        "modified_field": {"type": "string", "minLength": 1, "description": "RFC 3339 timestamp field the connector stamps on every write; enables ReadChanges and ModifiedSince."},
        "deleted_field": {"type": "string", "minLength": 1, "description": "Boolean field marking a tombstone line (default \"_deleted\")."},
        "fields": {
          "type": "object",
          "description": "Declared fields; when absent, fields are inferred from the file's records.",
          "additionalProperties": {"$ref": "#/$defs/field"}
        }
      }
    },
    "field": {
      "type": "object",
      "required": ["type"],
      "additionalProperties": false,
      "properties": {
        "type": {"enum": ["bool", "int", "double", "string", "bytes", "timestamp", "date", "enum", "any"]},
        "required": {"type": "boolean", "description": "Must be present and not null in every written record."},
        "read_only": {"type": "boolean", "description": "Kept from the stored record on update; a written value is ignored."},
        "values": {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": "Allowed values of an enum."}
      },
      "if": {"properties": {"type": {"const": "enum"}}},
      "then": {"required": ["values"]}
    }
  }
}`

const (
	defaultKey       = "id"
	defaultDeleted   = "_deleted"
	defaultBatchSize = 500
)

// settings is the decoded settings object.
type settings struct {
	Dir       string                    `json:"dir"`
	BatchSize int                       `json:"batch_size"`
	Entities  map[string]entitySettings `json:"entities"`
}

type entitySettings struct {
	Key           string                   `json:"key"`
	ModifiedField string                   `json:"modified_field"`
	DeletedField  string                   `json:"deleted_field"`
	Fields        map[string]fieldSettings `json:"fields"`
}

type fieldSettings struct {
	Type     string   `json:"type"`
	Required bool     `json:"required"`
	ReadOnly bool     `json:"read_only"`
	Values   []string `json:"values"`
}

// entityNamePattern is what an entity name must match: a plain file name,
// never hidden, never a path. parseSettings checks it rather than the JSON
// Schema's propertyNames, because jsonschema v6.0.3 reports propertyNames
// failures with an instance location that later validation overwrites, so
// the diagnostic could name the wrong setting.
var entityNamePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// settingsValidator checks settings against settingsSchema.
var settingsValidator = settingsschema.MustCompile(settingsSchema)

// parseSettings validates raw against the settings schema and the rules the
// schema cannot express, and returns the settings with defaults applied.
// Every problem is one INVALID_INPUT diagnostic naming its field, dotted
// ("entities.contacts.fields.age.type").
func parseSettings(raw json.RawMessage) (*settings, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	ds := settingsValidator.Validate(raw)
	var inst any
	if err := json.Unmarshal(raw, &inst); err != nil {
		return nil, ds
	}
	if obj, ok := inst.(map[string]any); ok {
		ents, _ := obj["entities"].(map[string]any)
		names := make([]string, 0, len(ents))
		for name := range ents {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if !entityNamePattern.MatchString(name) {
				ds = append(ds, connector.FieldErrorf(connector.InvalidInput, "entities."+name,
					"entity name %q is not a plain file name: use letters, digits, _ . - and do not start with . or -", name))
			}
		}
	}
	if len(ds) > 0 {
		return nil, ds
	}
	var s settings
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, connector.Errorf(connector.InvalidInput, "decoding settings: %v", err)
	}
	if abs, err := filepath.Abs(s.Dir); err == nil {
		s.Dir = abs
	} else {
		ds = append(ds, connector.FieldErrorf(connector.InvalidInput, "dir", "cannot resolve %q: %v", s.Dir, err))
	}
	if s.BatchSize == 0 {
		s.BatchSize = defaultBatchSize
	}
	names := make([]string, 0, len(s.Entities))
	for name := range s.Entities {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		e := s.Entities[name]
		if e.Key == "" {
			e.Key = defaultKey
		}
		if e.DeletedField == "" {
			e.DeletedField = defaultDeleted
		}
		at := "entities." + name
		if e.DeletedField == e.Key || e.DeletedField == e.ModifiedField {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, at+".deleted_field",
				"deleted_field %q must differ from the key and the modified field", e.DeletedField))
		}
		if e.ModifiedField != "" && e.ModifiedField == e.Key {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, at+".modified_field",
				"modified_field %q must differ from the key", e.ModifiedField))
		}
		if e.Fields != nil {
			if _, ok := e.Fields[e.Key]; !ok {
				ds = append(ds, connector.FieldErrorf(connector.InvalidInput, at+".key",
					"key field %q is not declared in %s.fields", e.Key, at))
			} else if k := e.Fields[e.Key].Type; k != "string" && k != "int" {
				ds = append(ds, connector.FieldErrorf(connector.InvalidInput, at+".fields."+e.Key+".type",
					"key field %q must be of type string or int, not %s", e.Key, k))
			}
			if e.ModifiedField != "" {
				if f, ok := e.Fields[e.ModifiedField]; !ok {
					ds = append(ds, connector.FieldErrorf(connector.InvalidInput, at+".modified_field",
						"modified field %q is not declared in %s.fields", e.ModifiedField, at))
				} else if f.Type != "timestamp" {
					ds = append(ds, connector.FieldErrorf(connector.InvalidInput, at+".fields."+e.ModifiedField+".type",
						"modified field %q must be of type timestamp, not %s", e.ModifiedField, f.Type))
				}
			}
			if _, ok := e.Fields[e.DeletedField]; ok {
				ds = append(ds, connector.FieldErrorf(connector.InvalidInput, at+".fields."+e.DeletedField,
					"%q is the tombstone marker (deleted_field) and cannot be a declared field", e.DeletedField))
			}
		}
		s.Entities[name] = e
	}
	if len(ds) > 0 {
		return nil, ds
	}
	return &s, nil
}
