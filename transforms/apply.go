package transforms

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/syncplane/syncplane/connector"
)

// Result is the outcome of mapping one record.
type Result struct {
	// Record holds the mapped fields. Its ID is empty: the runner fills the
	// target id from its ID map.
	Record connector.Record
	// Skipped is set when the filter rejected the record; Record is empty.
	Skipped bool
}

// applyState is the per-call scratch space, pooled: a VM with the memory
// budget and the expression environment.
type applyState struct {
	vm   vm.VM
	env  map[string]any
	raw  []any  // per slot (see slotOf): the value the combined run produced
	have []bool // per slot: whether raw holds it
}

func (s *applyState) has(slot int) bool { return slot < len(s.have) && s.have[slot] }

func (m *Mapping) state() *applyState {
	if s, ok := m.pool.Get().(*applyState); ok {
		return s
	}
	return &applyState{vm: vm.VM{MemoryBudget: m.limits.MemoryBudget}, env: make(map[string]any, 32)}
}

func (m *Mapping) release(s *applyState) {
	clear(s.env) // do not keep a record's values alive in the pool
	clear(s.raw)
	clear(s.have)
	m.pool.Put(s)
}

// Apply maps one source record. It returns Skipped when the filter rejects
// the record, and a *FieldError naming the target field when a value cannot
// be computed. It never panics and never modifies src. It is safe for
// concurrent use.
//
// The plain expressions of all fields are evaluated in one run; when that
// run fails, each field is evaluated again on its own to name the failing
// one, so a lookup may be asked twice for a record that is then rejected.
func (m *Mapping) Apply(ctx context.Context, src connector.Record) (Result, error) {
	s := m.state()
	defer m.release(s)
	if m.allNames {
		for k, v := range src.Fields {
			s.env[k] = v
		}
	} else {
		for _, k := range m.names {
			if v, ok := src.Fields[k]; ok {
				s.env[k] = v
			}
		}
	}
	if _, ok := src.Fields["id"]; !ok {
		s.env["id"] = src.ID
	}
	if _, ok := src.Fields["user"]; !ok {
		s.env["user"] = src.Partition
	}
	s.env[ctxName] = ctx

	if m.filter != nil {
		v, err := m.run(s, m.filter)
		if err != nil {
			return Result{}, &FieldError{Pos: m.filterPos, Err: err}
		}
		if keep, _ := v.(bool); !keep {
			return Result{Skipped: true}, nil
		}
	}
	out := make(map[string]any, len(m.fields))
	combined := false
	if m.combined != nil {
		// One run for all plain expressions. On any failure the fields run
		// one by one below, which names the failing field.
		if v, err := m.run(s, m.combined); err == nil {
			if list, ok := v.([]any); ok && len(list) == len(m.combinedIdx) {
				if n := len(m.fields) * slotsPerField; len(s.raw) != n {
					s.raw, s.have = make([]any, n), make([]bool, n)
				}
				for j, slot := range m.combinedIdx {
					s.raw[slot], s.have[slot] = list[j], true
				}
				combined = true
			}
		}
	}
	if !combined {
		clear(s.have)
	}
	for i := range m.fields {
		f := &m.fields[i]
		var v any
		var err error
		if slot := slotOf(i, slotExpr); s.has(slot) {
			v, err = m.finish(s, i, f, s.raw[slot])
		} else {
			v, err = m.value(ctx, s, i, f)
		}
		if err == nil {
			v, err = connector.NormalizeValue(v)
		}
		if err != nil {
			return Result{}, &FieldError{Pos: f.pos, Field: f.target, Err: err}
		}
		if err := setPath(out, f.path, v); err != nil {
			return Result{}, &FieldError{Pos: f.pos, Field: f.target, Err: err}
		}
	}
	return Result{Record: connector.Record{Fields: out}}, nil
}

// run evaluates a program, turning any panic into an error.
func (m *Mapping) run(s *applyState, p *vm.Program) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("expression failed: %v", r)
		}
	}()
	return s.vm.Run(p, s.env)
}

func (m *Mapping) value(ctx context.Context, s *applyState, i int, f *compiledField) (any, error) {
	var v any
	var err error
	switch {
	case f.query != nil:
		v, err = m.runQuery(ctx, s, f.query)
	case f.prog != nil:
		v, err = m.run(s, f.prog)
	}
	if err != nil {
		return nil, err
	}
	return m.finish(s, i, f, v)
}

// finish applies a field's zone conversion, value map and default to the
// value of its expression or query.
func (m *Mapping) finish(s *applyState, i int, f *compiledField, v any) (any, error) {
	var err error
	if f.tz != nil && v != nil {
		if v, err = m.convertTZ(s, i, f.tz, v); err != nil {
			return nil, err
		}
	}
	if f.valueMap != nil && v != nil {
		key, ok := mapKey(v)
		mapped, found := f.valueMap[key]
		switch {
		case ok && found:
			return mapped, nil
		case f.hasDef:
			return f.def, nil
		default:
			return nil, fmt.Errorf("%w: %s", ErrUnmapped, describe(v))
		}
	}
	if v == nil && f.hasDef {
		return f.def, nil
	}
	return v, nil
}

// describe renders a value for an error message, shortened.
func describe(v any) string {
	s := fmt.Sprintf("%#v", v)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// mapKey renders a scalar as the string a value map is keyed by.
func mapKey(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int:
		return strconv.Itoa(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

func (m *Mapping) runQuery(ctx context.Context, s *applyState, q *compiledQuery) (any, error) {
	match := make(map[string]any, len(q.match))
	for _, mt := range q.match {
		v, err := m.run(s, mt.prog)
		if err != nil {
			return nil, fmt.Errorf("query match field %s: %w", mt.field, err)
		}
		if v == nil {
			return nil, nil // nothing to look for: no match
		}
		if v, err = connector.NormalizeValue(v); err != nil {
			return nil, fmt.Errorf("query match field %s: %w", mt.field, err)
		}
		match[mt.field] = v
	}
	if m.env.Query == nil {
		return nil, errors.New("query step: no connection to query in this context")
	}
	recs, err := m.env.Query(ctx, q.connection, connector.QueryRequest{Entity: q.entity, Match: match, Limit: 2})
	if err != nil {
		return nil, fmt.Errorf("querying %s %s: %w", q.connection, q.entity, err)
	}
	switch len(recs) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, fmt.Errorf("query on %s %s matched more than one record", q.connection, q.entity)
	}
	r := recs[0]
	if q.field == "id" {
		if v, ok := r.Fields["id"]; ok {
			return v, nil
		}
		return r.ID, nil
	}
	var cur any = r.Fields
	for _, seg := range strings.Split(q.field, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, nil
		}
		cur = mm[seg]
	}
	return cur, nil
}

// lookupFunc implements lookup(pipeline, id) for expressions. The context
// argument is inserted by the compiler.
func (m *Mapping) lookupFunc(params ...any) (any, error) {
	if len(params) != 3 {
		return nil, fmt.Errorf("lookup takes a pipeline name and an id")
	}
	ctx, _ := params[0].(context.Context)
	if ctx == nil {
		ctx = context.Background()
	}
	pipeline, _ := params[1].(string)
	if params[2] == nil {
		return nil, nil
	}
	var id string
	switch x := params[2].(type) {
	case string:
		id = x
	case int64, int, float64:
		id = fmt.Sprint(x)
	default:
		return nil, fmt.Errorf("lookup: id must be a string, not %T", params[2])
	}
	if id == "" {
		return nil, nil
	}
	if m.env.Lookup == nil {
		return nil, errors.New("lookup: no ID map in this context")
	}
	target, found, err := m.env.Lookup(ctx, pipeline, id)
	if err != nil {
		return nil, fmt.Errorf("lookup in pipeline %s: %w", pipeline, err)
	}
	if !found {
		return nil, nil
	}
	return target, nil
}

// convertTZ applies a tz step to a value.
func (m *Mapping) convertTZ(s *applyState, i int, tz *compiledTZ, v any) (any, error) {
	zone := func(fixed *time.Location, p *vm.Program, slot int, what string) (*time.Location, error) {
		if fixed != nil || p == nil {
			return fixed, nil
		}
		var zv any
		if s.has(slot) {
			zv = s.raw[slot]
		} else {
			var err error
			if zv, err = m.run(s, p); err != nil {
				return nil, fmt.Errorf("tz.%s: %w", what, err)
			}
		}
		name, _ := zv.(string)
		if name == "" {
			return nil, nil
		}
		loc, err := m.zones.resolve(name)
		if err != nil {
			return nil, fmt.Errorf("tz.%s: %w", what, err)
		}
		return loc, nil
	}
	from, err := zone(tz.from, tz.fromProg, slotOf(i, slotFrom), "from")
	if err != nil {
		return nil, err
	}
	to, err := zone(tz.to, tz.toProg, slotOf(i, slotTo), "to")
	if err != nil {
		return nil, err
	}
	if to == nil {
		return nil, errors.New("tz.to: no target time zone")
	}
	t, err := instant(v, from)
	if err != nil {
		return nil, err
	}
	return t.In(to), nil
}

// setPath stores v at a dotted path, creating nested maps.
func setPath(out map[string]any, path []string, v any) error {
	if len(path) == 1 {
		if _, nested := out[path[0]].(map[string]any); !nested {
			out[path[0]] = v
			return nil
		}
	}
	cur := out
	for _, seg := range path[:len(path)-1] {
		next, ok := cur[seg]
		if !ok {
			nm := map[string]any{}
			cur[seg] = nm
			cur = nm
			continue
		}
		nm, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("%s is already set to a non-object value", seg)
		}
		cur = nm
	}
	last := path[len(path)-1]
	if existing, ok := cur[last].(map[string]any); ok {
		if vm, ok := v.(map[string]any); ok {
			for k, x := range vm {
				existing[k] = x
			}
			return nil
		}
		return fmt.Errorf("%s already holds nested fields", last)
	}
	cur[last] = v
	return nil
}
