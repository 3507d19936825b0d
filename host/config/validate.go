package config

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/syncplane/syncplane/schema"
	"github.com/syncplane/syncplane/transforms"
	"github.com/syncplane/syncplane/transforms/suggest"
)

// ErrUnknownConnector is wrapped by a SchemaSource's SettingsSchema error
// when no connector has the given name.
var ErrUnknownConnector = errors.New("unknown connector")

// Validate checks the file against the connectors: each connection's
// settings against its connector's settings schema, each pipeline's
// entities against the discovered schemas, and each mapping's field paths
// and types against its source and target entities (and query steps against
// the entities they ask). It returns every problem found, by position.
// A connection whose schema cannot be obtained is reported once and the
// checks depending on it are skipped.
func (f *File) Validate(ctx context.Context, src SchemaSource) Errors {
	v := &validator{f: f, src: src, schemas: map[string]*schema.Schema{}, failed: map[string]bool{}, secretValues: secretValuesOf(f)}
	for i := range f.Connections {
		v.settings(ctx, &f.Connections[i])
	}
	for i := range f.Pipelines {
		v.pipeline(ctx, i, &f.Pipelines[i])
	}
	v.errs.sort()
	return v.errs
}

type validator struct {
	f       *File
	src     SchemaSource
	errs    Errors
	schemas map[string]*schema.Schema
	failed  map[string]bool

	secretValues []string
}

// errorf records an error. Messages may quote what a connector answered;
// any resolved secret value in them is replaced, in case a connector echoes
// a setting.
func (v *validator) errorf(pos transforms.Position, path, sug, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	for _, s := range v.secretValues {
		msg = strings.ReplaceAll(msg, s, "[redacted]")
	}
	v.errs = append(v.errs, Error{Pos: pos, Path: path, Msg: msg, Suggestion: sug})
}

// secretValuesOf lists the resolved secret values of every connection.
func secretValuesOf(f *File) []string {
	var out []string
	for _, c := range f.Connections {
		var doc any
		if json.Unmarshal(c.Settings, &doc) != nil {
			continue
		}
		for _, ptr := range c.Secrets {
			if s, ok := navigate(doc, splitPointer(ptr)).(string); ok && len(s) >= 4 {
				out = append(out, s)
			}
		}
	}
	return out
}

func (v *validator) settings(ctx context.Context, c *Connection) {
	raw, err := v.src.SettingsSchema(ctx, c.Connector)
	cn := v.f.root.get("connections").get(c.Name)
	connectorPos := c.Pos
	if n := cn.get("connector"); n != nil {
		connectorPos = n.pos
	}
	if err != nil {
		v.failed[c.Name] = true
		if errors.Is(err, ErrUnknownConnector) {
			var names []string
			if l, ok := v.src.(ConnectorLister); ok {
				names = l.Connectors()
			}
			v.errorf(connectorPos, "connections."+c.Name+".connector", suggest.Nearest(c.Connector, names), "connection %s: no connector named %q", c.Name, c.Connector)
			return
		}
		v.errorf(connectorPos, "connections."+c.Name+".connector", "", "connection %s: cannot get the settings schema of connector %s: %v", c.Name, c.Connector, err)
		return
	}
	if len(raw) == 0 {
		return
	}
	cs, err := compileSettingsSchema(c.Connector, raw)
	if err != nil {
		v.errorf(connectorPos, "connections."+c.Name+".connector", "", "connector %s publishes an invalid settings schema: %v", c.Connector, err)
		return
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(c.Settings))
	if err != nil {
		v.errorf(c.Pos, "connections."+c.Name+".settings", "", "connection %s: settings are not valid JSON", c.Name)
		return
	}
	secrets := c.Secrets
	if ss, ok := v.src.(SecretSettingsSource); ok {
		secrets = append(append([]string(nil), secrets...), ss.SecretSettings(ctx, c.Connector)...)
	}
	errs := cs.check(inst, v.f.root, []string{"connections", c.Name, "settings"}, c.Pos, secrets)
	if len(errs) > 0 {
		// Configuring the connector with these settings would only repeat
		// the same problems; its entities are not checked until they are
		// fixed.
		v.failed[c.Name] = true
	}
	v.errs = append(v.errs, errs...)
}

// schemaOf returns a connection's discovered schema, once per connection.
func (v *validator) schemaOf(ctx context.Context, conn string, pos transforms.Position, path string) *schema.Schema {
	if s, ok := v.schemas[conn]; ok {
		return s
	}
	if v.failed[conn] {
		return nil
	}
	if _, ok := v.f.Connection(conn); !ok {
		return nil // reported by Load
	}
	s, err := v.src.Schema(ctx, conn)
	if err != nil {
		v.failed[conn] = true
		v.errorf(pos, path, "", "cannot discover the schema of connection %s: %v", conn, err)
		return nil
	}
	v.schemas[conn] = s
	return s
}

func (v *validator) entity(ctx context.Context, e Endpoint, path string) *schema.Entity {
	s := v.schemaOf(ctx, e.Connection, e.connPos, path+".connection")
	if s == nil {
		return nil
	}
	ent, ok := s.Entity(e.Entity)
	if !ok {
		v.errorf(e.entityPos, path+".entity", suggest.Nearest(e.Entity, s.EntityNames()), "connection %s has no entity %q", e.Connection, e.Entity)
		return nil
	}
	return ent
}

func (v *validator) pipeline(ctx context.Context, i int, p *Pipeline) {
	base := fmt.Sprintf("pipelines[%d]", i)
	from := v.entity(ctx, p.From, base+".from")
	to := v.entity(ctx, p.To, base+".to")
	if from != nil && !from.Capabilities.Readable && !from.Capabilities.Changes {
		v.errorf(p.From.entityPos, base+".from.entity", "", "entity %s of connection %s cannot be read", p.From.Entity, p.From.Connection)
	}
	if to != nil && !to.Capabilities.Writable {
		v.errorf(p.To.entityPos, base+".to.entity", "", "entity %s of connection %s cannot be written", p.To.Entity, p.To.Connection)
	}
	if to != nil && p.OnDelete.Kind == "mark" {
		if _, ok := to.Field(p.OnDelete.Field); !ok {
			v.errorf(p.onDeletePos, base+".on_delete", suggest.Nearest(p.OnDelete.Field, fieldNames(to)), "on_delete: target %s has no field %q", to.Name, p.OnDelete.Field)
		}
	}
	if to != nil && p.OnDelete.Kind == "delete" && !to.Capabilities.Deletable {
		v.errorf(p.onDeletePos, base+".on_delete", "", "on_delete: delete, but entity %s of connection %s cannot be deleted; use ignore or mark:FIELD", to.Name, p.To.Connection)
	}
	env := transforms.Env{
		Source:    from,
		Target:    to,
		Pipelines: v.f.PipelineNames(),
		QuerySchema: func(conn, entity string) *schema.Entity {
			s := v.schemaOf(ctx, conn, p.Pos, base+".mapping")
			if s == nil {
				return nil
			}
			e, _ := s.Entity(entity)
			return e
		},
	}
	for _, fs := range p.Mapping.Fields {
		if fs.Query == nil {
			continue
		}
		s := v.schemaOf(ctx, fs.Query.Connection, fs.Pos, base+".mapping."+fs.Target)
		if s == nil {
			continue
		}
		if _, ok := s.Entity(fs.Query.Entity); !ok {
			v.errorf(fs.Pos, base+".mapping."+fs.Target+".query.entity", suggest.Nearest(fs.Query.Entity, s.EntityNames()), "query: connection %s has no entity %q", fs.Query.Connection, fs.Query.Entity)
		}
	}
	if _, err := transforms.Compile(p.Mapping, env); err != nil {
		v.errs = append(v.errs, compileErrors(base, err)...)
	}
}

func fieldNames(e *schema.Entity) []string {
	out := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		out[i] = f.Name
	}
	return out
}
