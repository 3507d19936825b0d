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
	if p.TwoWay() {
		v.twoWay(p, base, from, to, env)
	}
}

// twoWay checks what a two-way pipeline adds: both entities are read and
// written, the reverse mapping fits the to → from direction (fields, types
// and the from side's fields required on create), each direction sets the
// partition field of a partitioned target (the key a created record needs
// to find its place), the reverse delete policy fits the from entity, the
// write-back fields exist, and newest-wins has modification times to
// compare.
func (v *validator) twoWay(p *Pipeline, base string, from, to *schema.Entity, env transforms.Env) {
	if from != nil && !from.Capabilities.Writable {
		v.errorf(p.From.entityPos, base+".from.entity", "", "two-way: entity %s of connection %s cannot be written", p.From.Entity, p.From.Connection)
	}
	if to != nil && !to.Capabilities.Readable && !to.Capabilities.Changes {
		v.errorf(p.To.entityPos, base+".to.entity", "", "two-way: entity %s of connection %s cannot be read", p.To.Entity, p.To.Connection)
	}
	if from != nil && p.ReverseOnDelete.Kind == "mark" {
		if _, ok := from.Field(p.ReverseOnDelete.Field); !ok {
			v.errorf(p.reverseOnDeletePos, base+".reverse_on_delete", suggest.Nearest(p.ReverseOnDelete.Field, fieldNames(from)), "reverse_on_delete: %s has no field %q", from.Name, p.ReverseOnDelete.Field)
		}
	}
	if from != nil && p.ReverseOnDelete.Kind == "delete" && !from.Capabilities.Deletable {
		pos := p.reverseOnDeletePos
		if pos.IsZero() {
			pos = p.Pos
		}
		v.errorf(pos, base+".reverse_on_delete", "", "reverse_on_delete: delete (the default), but entity %s of connection %s cannot be deleted; use ignore or mark:FIELD", from.Name, p.From.Connection)
	}
	rev := env
	rev.Source, rev.Target = to, from
	if _, err := transforms.Compile(p.ReverseMapping, rev); err != nil {
		v.errs = append(v.errs, reverseCompileErrors(base, err)...)
	}
	v.partitionKey(to, p.Mapping, base+".mapping", "mapping")
	v.partitionKey(from, p.ReverseMapping, base+".reverse_mapping", "reverse_mapping")
	for _, wb := range []struct {
		field, key string
		pos        transforms.Position
		ent        *schema.Entity
	}{{p.WriteBack.FromField, "from_field", p.writeBackPos.from, from}, {p.WriteBack.ToField, "to_field", p.writeBackPos.to, to}} {
		if wb.field == "" || wb.ent == nil {
			continue
		}
		f, ok := wb.ent.Field(wb.field)
		switch {
		case !ok:
			v.errorf(wb.pos, base+".write_back."+wb.key, suggest.Nearest(wb.field, fieldNames(wb.ent)), "write_back.%s: %s has no field %q", wb.key, wb.ent.Name, wb.field)
		case f.ReadOnly:
			v.errorf(wb.pos, base+".write_back."+wb.key, "", "write_back.%s: field %s of %s is read-only", wb.key, wb.field, wb.ent.Name)
		case f.Type.Kind != schema.String && f.Type.Kind != schema.Any:
			v.errorf(wb.pos, base+".write_back."+wb.key, "", "write_back.%s: field %s of %s holds %s values, not the string of an id", wb.key, wb.field, wb.ent.Name, f.Type.Kind)
		}
	}
	if p.Conflict == ConflictNewestWins {
		for _, e := range []*schema.Entity{from, to} {
			if e != nil && e.ModifiedField == "" {
				v.errorf(p.Pos, base+".conflict", "", "conflict: newest-wins compares modification times, but entity %s names no modification-time field; choose another policy", e.Name)
			}
		}
	}
}

// partitionKey reports a mapping that leaves out the partition field of a
// partitioned target: a record created there would have no place.
func (v *validator) partitionKey(target *schema.Entity, m transforms.Spec, path, key string) {
	if target == nil || !target.Partitioning.Partitioned {
		return
	}
	field := target.Partitioning.Field
	if field == "" {
		field = "user"
	}
	for _, fs := range m.Fields {
		if fs.Target == field {
			return
		}
	}
	v.errorf(m.MappingPos, path, "", "%s: %s is partitioned by %s; the mapping must set %s so that a created record has a partition", key, target.Name, field, field)
}

func fieldNames(e *schema.Entity) []string {
	out := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		out[i] = f.Name
	}
	return out
}
