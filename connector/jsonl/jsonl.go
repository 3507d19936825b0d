package jsonl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// Name is the connector's name in the host's registry and in its Spec.
const Name = "jsonl"

// Version is this connector's version, reported in its Spec.
const Version = "0.1.0"

// jsonlConnector implements connector.Connector, Reader, ChangeReader,
// Querier and Writer over a directory of JSON Lines files.
type jsonlConnector struct {
	mu  sync.RWMutex
	set *settings
	// defs are the declared entities, by name.
	defs map[string]*entityDef

	now func() time.Time // the clock that stamps modified fields
	ops fileOps          // filesystem calls of a write
}

var (
	_ connector.Connector    = (*jsonlConnector)(nil)
	_ connector.Reader       = (*jsonlConnector)(nil)
	_ connector.ChangeReader = (*jsonlConnector)(nil)
	_ connector.Querier      = (*jsonlConnector)(nil)
	_ connector.Writer       = (*jsonlConnector)(nil)
)

// New returns an unconfigured jsonl connector. It reads and writes only
// after Configure, and is safe for concurrent use from then on.
func New() connector.Connector {
	return &jsonlConnector{now: time.Now, ops: defaultFileOps()}
}

// Spec describes the connector; it needs no settings.
func (c *jsonlConnector) Spec() connector.Spec {
	return connector.Spec{
		Name:            Name,
		Version:         Version,
		ProtocolVersion: connector.ProtocolVersion,
		DisplayName:     "JSON Lines files",
		Description:     "Reads and writes a directory of JSON Lines files, one <entity>.jsonl file per entity.",
		Capabilities:    connector.Capabilities{Read: true, ReadChanges: true, Write: true, Query: true},
		SettingsSchema:  json.RawMessage(settingsSchema),
	}
}

// Configure validates the settings against the settings schema and the
// rules it cannot express (a declared key or modified field must be among
// the declared fields). It does not touch the directory: Check does.
func (c *jsonlConnector) Configure(_ context.Context, req connector.ConfigureRequest) error {
	s, err := parseSettings(req.Settings)
	if err != nil {
		return err
	}
	defs := make(map[string]*entityDef, len(s.Entities))
	for name, es := range s.Entities {
		defs[name] = defFromSettings(name, es)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set, c.defs = s, defs
	return nil
}

func (c *jsonlConnector) settings() (*settings, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.set == nil {
		return nil, connector.Errorf(connector.Internal, "the jsonl connector is not configured: Configure must come first")
	}
	return c.set, nil
}

// def returns the definition of entity: the declared one, or the default
// one (key "id", inferred fields) when a file <entity>.jsonl exists or
// create is set.
func (c *jsonlConnector) def(entity string, create bool) (*settings, *entityDef, error) {
	s, err := c.settings()
	if err != nil {
		return nil, nil, err
	}
	c.mu.RLock()
	d, ok := c.defs[entity]
	c.mu.RUnlock()
	if ok {
		return s, d, nil
	}
	if !entityNamePattern.MatchString(entity) {
		return nil, nil, connector.Errorf(connector.InvalidInput,
			"entity name %q is not a plain file name (letters, digits, _ . -, not starting with . or -)", entity)
	}
	if !create {
		if _, err := os.Stat(entityPath(s.Dir, entity)); err != nil {
			return nil, nil, connector.Errorf(connector.NotFound,
				"entity %q does not exist: it is not declared in settings and %s does not exist", entity, entityPath(s.Dir, entity))
		}
	}
	return s, defaultDef(entity), nil
}

// entityNames lists the declared entities and the entities found as files,
// sorted.
func (c *jsonlConnector) entityNames(s *settings) ([]string, error) {
	seen := map[string]bool{}
	c.mu.RLock()
	for name := range c.defs {
		seen[name] = true
	}
	c.mu.RUnlock()
	entries, err := os.ReadDir(s.Dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, connector.Errorf(connector.Unavailable, "listing %s: %v", s.Dir, err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".jsonl")
		if ok && e.Type().IsRegular() && entityNamePattern.MatchString(name) {
			seen[name] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// Check verifies that the directory exists and can be written, and that
// every entity file parses; each problem is one diagnostic.
func (c *jsonlConnector) Check(ctx context.Context) connector.Diagnostics {
	s, err := c.settings()
	if err != nil {
		return connector.AsDiagnostics(err)
	}
	st, err := os.Stat(s.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return connector.Diagnostics{connector.FieldErrorf(connector.NotFound, "dir", "directory %s does not exist; create it", s.Dir)}
	case err != nil:
		return connector.Diagnostics{connector.FieldErrorf(connector.Unavailable, "dir", "cannot reach %s: %v", s.Dir, err)}
	case !st.IsDir():
		return connector.Diagnostics{connector.FieldErrorf(connector.InvalidInput, "dir", "%s is not a directory", s.Dir)}
	}
	var ds connector.Diagnostics
	if f, err := os.CreateTemp(s.Dir, ".jsonl-check-*"); err != nil {
		// A read-only directory still serves as a source.
		w := connector.Warnf(connector.PermissionDenied, "cannot create files in %s: writes will fail", s.Dir)
		w.Field = "dir"
		ds = append(ds, w)
	} else {
		f.Close()
		os.Remove(f.Name())
	}
	names, err := c.entityNames(s)
	if err != nil {
		return append(ds, connector.AsDiagnostics(err)...)
	}
	for _, name := range names {
		_, d, err := c.def(name, true)
		if err == nil {
			_, err = loadTable(ctx, s.Dir, d)
		}
		ds = append(ds, connector.AsDiagnostics(err)...)
	}
	return ds
}

// DiscoverSchema describes every declared entity and every <entity>.jsonl
// file of the directory. Declared fields are reported as declared; the
// fields of other entities are inferred from their records at every call
// (refresh changes nothing: nothing is cached).
func (c *jsonlConnector) DiscoverSchema(ctx context.Context, _ bool) (*schema.Schema, error) {
	s, err := c.settings()
	if err != nil {
		return nil, err
	}
	names, err := c.entityNames(s)
	if err != nil {
		return nil, err
	}
	out := &schema.Schema{}
	for _, name := range names {
		_, d, err := c.def(name, true)
		if err != nil {
			return nil, err
		}
		fields := d.fields
		if fields == nil {
			t, err := loadTable(ctx, s.Dir, d)
			if err != nil {
				return nil, fmt.Errorf("inferring the fields of %s: %w", name, err)
			}
			fields = t.fields
		}
		out.Entities = append(out.Entities, entitySchema(d, fields))
	}
	return out, nil
}

func entitySchema(d *entityDef, fields map[string]fieldDef) schema.Entity {
	e := schema.Entity{
		Name:          d.name,
		Keys:          []string{d.key},
		ModifiedField: d.modified,
		Capabilities: schema.Capabilities{
			Readable:  true,
			Changes:   d.modified != "",
			Writable:  true,
			Deletable: true,
			Queryable: true,
		},
	}
	if d.fields == nil {
		e.Description = "fields inferred from " + d.name + ".jsonl"
	}
	for _, name := range fieldOrder(d.key, fields) {
		f := fields[name]
		e.Fields = append(e.Fields, schema.Field{
			Name:     name,
			Type:     f.schemaType(),
			Nullable: f.nullable,
			ReadOnly: f.readOnly,
			Required: f.required,
		})
	}
	return e
}

// ListPartitions returns the one unnamed partition every entity has.
func (c *jsonlConnector) ListPartitions(_ context.Context, entity string) (connector.Partitions, error) {
	s, _, err := c.def(entity, false)
	if err != nil {
		return connector.Partitions{}, err
	}
	return connector.Partitions{Partitions: []connector.Partition{{ID: "", DisplayName: filepath.Base(s.Dir)}}}, nil
}

func checkPartition(p string) error {
	if p != "" {
		return connector.Errorf(connector.NotFound, "partition %q does not exist: jsonl entities have one unnamed partition", p)
	}
	return nil
}

// Close releases nothing: the connector holds no open files between calls.
func (c *jsonlConnector) Close() error { return nil }
