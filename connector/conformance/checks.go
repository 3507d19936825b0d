package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

func runChecks(t *testing.T, k *kit) {
	t.Run("spec", k.checkSpec)
	t.Run("settings-required", k.checkRequiredSettings)
	t.Run("check", k.checkCheck)
	t.Run("schema", k.checkSchema)
	t.Run("records-match-schema", k.checkRecords)
	t.Run("changes", k.checkChanges)
	t.Run("write", k.checkWrite)
	t.Run("query", k.checkQuery)
	t.Run("unimplemented", k.checkUnimplemented)
	t.Run("goroutines", k.checkGoroutines)
}

// compileSettings compiles a spec's settings schema as JSON Schema
// (draft 2020-12 unless it says otherwise).
func compileSettings(raw json.RawMessage) (*jsonschema.Schema, map[string]any, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, fmt.Errorf("settings schema is not JSON: %w", err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, nil, fmt.Errorf("settings schema is a %T, want a JSON object", doc)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("settings.json", doc); err != nil {
		return nil, nil, err
	}
	sch, err := c.Compile("settings.json")
	if err != nil {
		return nil, nil, fmt.Errorf("settings schema does not compile: %w", err)
	}
	return sch, obj, nil
}

func (k *kit) checkSpec(t *testing.T) {
	c := k.start(t)
	defer c.Close()
	spec := c.Spec()
	if spec.Name == "" {
		t.Errorf("Spec().Name: expected a name, got \"\"")
	}
	if spec.Version == "" {
		t.Errorf("Spec().Version: expected a version, got \"\"")
	}
	if spec.ProtocolVersion != connector.ProtocolVersion {
		t.Errorf("Spec().ProtocolVersion: expected %d, got %d", connector.ProtocolVersion, spec.ProtocolVersion)
	}
	impl := connector.CapabilitiesOf(k.s.New())
	for _, cp := range []struct {
		name             string
		advertised, impl bool
	}{
		{"Read", spec.Capabilities.Read, impl.Read},
		{"ReadChanges", spec.Capabilities.ReadChanges, impl.ReadChanges},
		{"Write", spec.Capabilities.Write, impl.Write},
		{"Query", spec.Capabilities.Query, impl.Query},
		{"Subscribe", spec.Capabilities.Subscribe, impl.Subscribe},
	} {
		if cp.advertised && !cp.impl {
			t.Errorf("capability %s: advertised in Spec but the connector does not implement connector.%s", cp.name, ifaceOf(cp.name))
		}
	}
	sch, obj, err := compileSettings(spec.SettingsSchema)
	if err != nil {
		t.Fatalf("Spec().SettingsSchema: expected a JSON Schema that compiles, got %v", err)
	}
	for _, ptr := range spec.SecretSettings {
		if !pointerInSchema(obj, ptr) {
			t.Errorf("Spec().SecretSettings: %q should name a property of the settings schema, but the schema has no such property", ptr)
		}
	}
	settings := k.s.Settings(t)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(settings))
	if err != nil {
		t.Fatalf("Suite.Settings: expected JSON, got %v", err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("Suite.Settings should satisfy the connector's settings schema, but: %v", err)
	}
}

func ifaceOf(capability string) string {
	if capability == "Subscribe" {
		return "Subscriber"
	}
	if capability == "ReadChanges" {
		return "ChangeReader"
	}
	return strings.TrimSuffix(capability, "e") + "er"
}

// pointerInSchema reports whether a JSON pointer ("/a/b") names a property
// through nested "properties" of the schema.
func pointerInSchema(obj map[string]any, ptr string) bool {
	if !strings.HasPrefix(ptr, "/") {
		return false
	}
	cur := obj
	for _, seg := range strings.Split(ptr[1:], "/") {
		seg = strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)
		props, _ := cur["properties"].(map[string]any)
		next, ok := props[seg].(map[string]any)
		if !ok {
			return false
		}
		cur = next
	}
	return true
}

func (k *kit) checkRequiredSettings(t *testing.T) {
	c := k.start(t)
	spec := c.Spec()
	c.Close()
	_, obj, err := compileSettings(spec.SettingsSchema)
	if err != nil {
		t.Fatalf("settings schema: %v", err)
	}
	req, _ := obj["required"].([]any)
	if len(req) == 0 {
		t.Skip("skipped: the settings schema declares no required settings")
	}
	var full map[string]json.RawMessage
	if err := json.Unmarshal(k.s.Settings(t), &full); err != nil {
		t.Fatalf("Suite.Settings: expected a JSON object, got %v", err)
	}
	for _, r := range req {
		name, _ := r.(string)
		t.Run(name, func(t *testing.T) {
			without := make(map[string]json.RawMessage, len(full))
			for k, v := range full {
				if k != name {
					without[k] = v
				}
			}
			raw, _ := json.Marshal(without)
			cl := k.start(t)
			defer cl.Close()
			err := cl.Configure(k.ctx(t), connector.ConfigureRequest{Connection: "conformance", Settings: raw, Host: &connector.MemoryHost{}})
			if err == nil {
				t.Fatalf("Configure without required setting %q: expected a diagnostic naming it, got success", name)
			}
			ds := connector.AsDiagnostics(err)
			for _, d := range ds {
				if d.Field == name || strings.HasPrefix(d.Field, name+".") || strings.HasPrefix(d.Field, "/"+name) {
					return
				}
			}
			t.Errorf("Configure without required setting %q: expected a diagnostic with Field %q, got %v", name, name, describeDiags(ds))
		})
	}
}

func describeDiags(ds connector.Diagnostics) string {
	if len(ds) == 0 {
		return "no diagnostics"
	}
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("{Code:%s Field:%q Summary:%q}", d.Code, d.Field, d.Summary)
	}
	return strings.Join(parts, ", ")
}

// checkCheck expects Check to find nothing wrong with Suite.Settings.
func (k *kit) checkCheck(t *testing.T) {
	ctx := k.ctx(t)
	cn := k.open(t, ctx)
	ds := cn.c.Check(ctx)
	for _, d := range ds {
		if d.Severity != connector.Warning {
			t.Errorf("Check with Suite.Settings: expected no errors, got %s", describeDiags(connector.Diagnostics{d}))
		}
	}
}

// entity discovers the schema and returns the suite's entity, failing the
// test when it is missing.
func (k *kit) entity(t *testing.T, cn *conn) *schema.Entity {
	t.Helper()
	s, err := cn.c.DiscoverSchema(k.ctx(t), false)
	if err != nil {
		t.Fatalf("DiscoverSchema: expected a schema, got %v", err)
	}
	e, ok := s.Entity(k.s.Entity)
	if !ok {
		t.Fatalf("DiscoverSchema: expected entity %q, got entities %q", k.s.Entity, s.EntityNames())
	}
	return e
}

func (k *kit) checkSchema(t *testing.T) {
	ctx := k.ctx(t)
	cn := k.open(t, ctx)
	s, err := cn.c.DiscoverSchema(ctx, false)
	if err != nil {
		t.Fatalf("DiscoverSchema: expected a schema, got %v", err)
	}
	for _, err := range s.Validate() {
		t.Errorf("schema.Validate: %v", err)
	}
	e, ok := s.Entity(k.s.Entity)
	if !ok {
		t.Fatalf("DiscoverSchema: expected entity %q, got entities %q", k.s.Entity, s.EntityNames())
	}
	caps := cn.spec.Capabilities
	for _, m := range []struct {
		what     string
		entity   bool
		spec     bool
		specName string
	}{
		{"readable", e.Capabilities.Readable, caps.Read, "Read"},
		{"changes", e.Capabilities.Changes, caps.ReadChanges, "ReadChanges"},
		{"writable", e.Capabilities.Writable, caps.Write, "Write"},
		{"deletable", e.Capabilities.Deletable, caps.Write, "Write"},
		{"queryable", e.Capabilities.Queryable, caps.Query, "Query"},
	} {
		if m.entity && !m.spec {
			t.Errorf("entity %q is %s but the connector does not advertise %s", e.Name, m.what, m.specName)
		}
	}
	if e.Capabilities.Changes && e.ModifiedField == "" {
		t.Logf("entity %q has a change feed but names no modified field (allowed)", e.Name)
	}
	again, err := cn.c.DiscoverSchema(ctx, false)
	if err != nil {
		t.Fatalf("DiscoverSchema, second call: %v", err)
	}
	a, _ := s.MarshalIndent()
	b, _ := again.MarshalIndent()
	if !bytes.Equal(a, b) {
		t.Errorf("DiscoverSchema twice on an unchanged connection: expected the same schema, got\n%s\nthen\n%s", a, b)
	}
	ps, err := cn.c.ListPartitions(ctx, k.s.Entity)
	if err != nil {
		t.Fatalf("ListPartitions(%q): expected partitions, got %v", k.s.Entity, err)
	}
	if len(ps.Partitions) == 0 {
		t.Fatalf("ListPartitions(%q): expected at least one partition, got none", k.s.Entity)
	}
	seen := map[string]bool{}
	for _, p := range ps.Partitions {
		if seen[p.ID] {
			t.Errorf("ListPartitions(%q): partition id %q appears twice", k.s.Entity, p.ID)
		}
		seen[p.ID] = true
	}
	if !seen[k.s.Partition] {
		t.Errorf("ListPartitions(%q): expected Suite.Partition %q among the partitions, got %v", k.s.Entity, k.s.Partition, ps.Partitions)
	}
	if !e.Partitioning.Partitioned && (len(ps.Partitions) != 1 || ps.Partitions[0].ID != "") {
		t.Errorf("entity %q is not partitioned: expected one partition with id \"\", got %v", e.Name, ps.Partitions)
	}
}

// seed creates n records at the source and returns their ids.
func (k *kit) seed(t *testing.T, cn *conn, src Source, from, n int) []string {
	t.Helper()
	if k.s.NewRecord == nil {
		t.Skip("skipped: Suite.NewRecord is nil, so the kit has no records to create")
	}
	ids := make([]string, 0, n)
	for i := from; i < from+n; i++ {
		id, err := src.Create(k.ctx(t), k.s.NewRecord(i))
		if err != nil {
			t.Fatalf("creating record %d at the source: %v", i, err)
		}
		if id == "" {
			t.Fatalf("creating record %d at the source: expected an id, got \"\"", i)
		}
		ids = append(ids, id)
	}
	return ids
}

// readAll reads the suite's entity and partition.
func (k *kit) readAll(t *testing.T, cn *conn) []connector.Record {
	t.Helper()
	var out []connector.Record
	err := cn.c.Read(k.ctx(t), connector.ReadRequest{Entity: k.s.Entity, Partition: k.s.Partition}, func(rs []connector.Record) error {
		for _, r := range rs {
			out = append(out, r.Clone())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Read(%q): expected records, got %v", k.s.Entity, err)
	}
	return out
}

func (k *kit) checkRecords(t *testing.T) {
	ctx := k.ctx(t)
	cn := k.open(t, ctx)
	if !cn.spec.Capabilities.Read {
		t.Skip("skipped: the connector does not advertise Read")
	}
	src := k.source(t, cn)
	k.seed(t, cn, src, 0, 5)
	e := k.entity(t, cn)
	recs := k.readAll(t, cn)
	if len(recs) < 5 {
		t.Fatalf("Read after creating 5 records: expected at least 5 records, got %d", len(recs))
	}
	for _, r := range recs {
		for _, p := range recordProblems(e, r) {
			t.Errorf("record %q: %s", r.ID, p)
		}
		if r.Deleted {
			t.Errorf("record %q: Read returned a deleted record; deletions belong to ReadChanges", r.ID)
		}
	}
}

// recordProblems lists how r departs from its entity's schema.
func recordProblems(e *schema.Entity, r connector.Record) []string {
	var ps []string
	if r.ID == "" {
		ps = append(ps, "expected an ID, got \"\"")
	}
	for name, v := range r.Fields {
		f, ok := e.Field(name)
		if !ok {
			ps = append(ps, fmt.Sprintf("field %q is not in the schema of entity %q", name, e.Name))
			continue
		}
		if v == nil {
			if !f.Nullable {
				ps = append(ps, fmt.Sprintf("field %q is null but the schema says it is not nullable", name))
			}
			continue
		}
		if err := checkKind(f.Type, v); err != nil {
			ps = append(ps, fmt.Sprintf("field %q: %v", name, err))
		}
	}
	for _, f := range e.Fields {
		if _, ok := r.Fields[f.Name]; f.Required && !ok {
			ps = append(ps, fmt.Sprintf("required field %q is missing", f.Name))
		}
	}
	if len(e.Keys) == 1 {
		if v, ok := r.Fields[e.Keys[0]]; ok && v != nil {
			if s := fmt.Sprint(v); s != r.ID {
				ps = append(ps, fmt.Sprintf("key field %q holds %q but the record's ID is %q", e.Keys[0], s, r.ID))
			}
		}
	}
	return ps
}

func (k *kit) checkUnimplemented(t *testing.T) {
	ctx := k.ctx(t)
	cn := k.open(t, ctx)
	caps := cn.spec.Capabilities
	c := cn.c
	calls := []struct {
		name       string
		advertised bool
		call       func() error
	}{
		{"Read", caps.Read, func() error {
			return c.Read(ctx, connector.ReadRequest{Entity: k.s.Entity, Partition: k.s.Partition}, func([]connector.Record) error { return nil })
		}},
		{"ReadChanges", caps.ReadChanges, func() error {
			return c.ReadChanges(ctx, connector.ChangesRequest{Entity: k.s.Entity, Partition: k.s.Partition}, func(connector.ChangeBatch) error { return nil })
		}},
		{"Write", caps.Write, func() error {
			_, err := c.Write(ctx, connector.WriteBatch{Entity: k.s.Entity})
			return err
		}},
		{"Query", caps.Query, func() error {
			_, err := c.Query(ctx, connector.QueryRequest{Entity: k.s.Entity, Partition: k.s.Partition})
			return err
		}},
		{"Subscribe", caps.Subscribe, func() error {
			_, err := c.Subscribe(ctx, connector.SubscribeRequest{Entity: k.s.Entity, Partition: k.s.Partition})
			return err
		}},
		{"HandleNotification", caps.Subscribe, func() error {
			_, err := c.HandleNotification(ctx, connector.Notification{})
			return err
		}},
	}
	tested := 0
	for _, cl := range calls {
		if cl.advertised {
			continue
		}
		tested++
		if err := cl.call(); !errors.Is(err, connector.ErrUnimplemented) {
			t.Errorf("%s is not advertised: expected an error wrapping connector.ErrUnimplemented, got %v", cl.name, err)
		}
	}
	if tested == 0 {
		t.Skip("skipped: the connector advertises every capability")
	}
}

// checkGoroutines runs one whole connection (configure, discover, read,
// changes, write, query, close) and expects the goroutine count to return
// to where it was. In the plugin run this covers the host side of the
// plugin connection. Goroutines are told apart by id, so one that started
// before the connection and ends during it cannot hide one the connection
// leaves behind.
func (k *kit) checkGoroutines(t *testing.T) {
	before := goroutines()
	t.Run("connection", func(t *testing.T) {
		ctx := k.ctx(t)
		cn := k.open(t, ctx)
		caps := cn.spec.Capabilities
		if _, err := cn.c.DiscoverSchema(ctx, false); err != nil {
			t.Fatalf("DiscoverSchema: %v", err)
		}
		if caps.Write && k.s.NewRecord != nil {
			if _, err := cn.c.Write(ctx, connector.WriteBatch{Entity: k.s.Entity, Ops: []connector.WriteOp{{
				Action: connector.ActionUpsert, IdempotencyKey: "conformance-goroutines", Partition: k.s.Partition, Record: k.s.NewRecord(0),
			}}}); err != nil {
				t.Fatalf("Write: %v", err)
			}
		}
		if caps.Read {
			k.readAll(t, cn)
		}
		if caps.ReadChanges {
			k.changes(t, cn, nil, 0)
		}
		if caps.Query {
			if _, err := cn.c.Query(ctx, connector.QueryRequest{Entity: k.s.Entity, Partition: k.s.Partition, Match: map[string]any{}}); err != nil {
				t.Fatalf("Query: %v", err)
			}
		}
		if err := cn.close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
	if left := settle(before, 5*time.Second); len(left) > 0 {
		t.Errorf("goroutines: expected none of the connection's to remain after the connection closed, got %d; their stacks:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}

// goroutines returns the stacks of the running goroutines by id.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		// "goroutine 18 [running]:\n..."
		if f := strings.Fields(g); len(f) > 1 && f[0] == "goroutine" {
			out[f[1]] = g
		}
	}
	return out
}

// settle waits until every goroutine not in before has ended or the time
// is up, and returns the stacks of those still running.
func settle(before map[string]string, within time.Duration) []string {
	deadline := time.Now().Add(within)
	for {
		var left []string
		for id, st := range goroutines() {
			if _, ok := before[id]; !ok {
				left = append(left, st)
			}
		}
		if len(left) == 0 || !time.Now().Before(deadline) {
			sort.Strings(left)
			return left
		}
		time.Sleep(20 * time.Millisecond)
		runtime.GC()
	}
}

// sortedIDs returns the ids of a set, sorted, for messages.
func sortedIDs(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
