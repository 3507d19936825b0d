package transforms

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
	"github.com/syncplane/syncplane/transforms/suggest"
)

// ctxName is the environment entry carrying the Apply context to functions
// that take one (lookup). Users cannot write it: the parser does not accept
// identifiers starting with "$", and the path check rejects it.
const ctxName = "__ctx"

// Mapping is a compiled Spec. It is safe for concurrent use.
type Mapping struct {
	env       Env
	limits    Limits
	filter    *vm.Program
	filterPos Position
	fields    []compiledField
	zones     *zoneCache
	pool      sync.Pool // *applyState

	// names are the top-level names the expressions read; Apply copies only
	// these into the environment, or everything when allNames is set
	// ($env).
	names    []string
	allNames bool

	// combined evaluates, in one run, the expressions of the slots
	// combinedIdx (see slotOf); nil when every expression runs alone.
	combined    *vm.Program
	combinedIdx []int
}

func (m *Mapping) uses(name string) {
	if name == "$env" {
		m.allNames = true
		return
	}
	if !contains(m.names, name) {
		m.names = append(m.names, name)
	}
}

type compiledField struct {
	target   string
	path     []string // target split on '.'
	pos      Position
	prog     *vm.Program
	query    *compiledQuery
	tz       *compiledTZ
	valueMap map[string]any
	def      any
	hasDef   bool
}

type compiledQuery struct {
	connection, entity, field string
	match                     []compiledMatch
}

type compiledMatch struct {
	field string
	prog  *vm.Program
}

// compiledTZ holds a fixed zone or a program yielding a zone name.
type compiledTZ struct {
	from, to         *time.Location
	fromProg, toProg *vm.Program
}

// Compile checks and compiles a mapping. Every problem found is returned,
// as Errors, each with the position of the field it concerns.
func Compile(spec Spec, env Env) (*Mapping, error) {
	m := &Mapping{env: env, limits: env.Limits.withDefaults(), zones: newZoneCache(), filterPos: spec.FilterPos}
	c := &compiler{m: m, env: env, info: map[*vm.Program]exprInfo{}}
	c.typeEnv = typeEnvOf(env.Source)

	if strings.TrimSpace(spec.Filter) != "" {
		m.filter = c.expression("", spec.FilterPos, spec.FilterPos, spec.Filter, true)
	}
	seen := map[string]Position{}
	for _, f := range spec.Fields {
		if prev, dup := seen[f.Target]; dup {
			c.errorf(f.Pos, f.Target, "", "target field defined twice (first at %s)", prev)
			continue
		}
		seen[f.Target] = f.Pos
		for other, at := range seen {
			if strings.HasPrefix(f.Target, other+".") || strings.HasPrefix(other, f.Target+".") {
				c.errorf(f.Pos, f.Target, "", "target field overlaps %s (at %s): a field cannot be both a value and an object of fields", other, at)
			}
		}
		if cf, ok := c.field(f); ok {
			m.fields = append(m.fields, cf)
		}
	}
	if t := env.Target; t != nil {
		// A field the target needs on create must be mapped, or every
		// create is rejected by the target.
		for _, tf := range t.Fields {
			if !tf.Required || tf.ReadOnly || contains(t.Keys, tf.Name) {
				continue
			}
			if _, ok := seen[tf.Name]; !ok {
				c.errs = append(c.errs, Error{Pos: spec.MappingPos, Whole: true,
					Msg: fmt.Sprintf("target %s requires field %s on create, and the mapping does not set it", t.Name, tf.Name)})
			}
		}
	}
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	c.combine()
	return m, nil
}

type compiler struct {
	m       *Mapping
	env     Env
	typeEnv map[string]any
	errs    Errors
	info    map[*vm.Program]exprInfo
}

func (c *compiler) errorf(pos Position, field, suggestion, format string, args ...any) {
	c.errs = append(c.errs, Error{Pos: pos, Field: field, Msg: fmt.Sprintf(format, args...), Suggestion: suggestion})
}

func (c *compiler) field(f FieldSpec) (compiledField, bool) {
	before := len(c.errs)
	cf := compiledField{
		target: f.Target, path: strings.Split(f.Target, "."), pos: f.Pos,
		valueMap: maps.Clone(f.Map), def: f.Default, hasDef: f.HasDefault,
	}
	if f.Target == "" {
		c.errorf(f.Pos, "", "", "empty target field name")
		return cf, false
	}
	target := c.targetField(f)
	switch {
	case f.Query != nil && strings.TrimSpace(f.Expr) != "":
		c.errorf(f.Pos, f.Target, "", "a field has either an expression or a query step, not both")
	case f.Query != nil:
		cf.query = c.query(f)
	case strings.TrimSpace(f.Expr) == "":
		if !f.HasDefault {
			c.errorf(f.Pos, f.Target, "", "no expression, query or default")
		}
	default:
		cf.prog = c.expression(f.Target, f.Pos, f.ExprPos, f.Expr, false)
		if cf.prog != nil && target != nil && f.Map == nil && f.TZ == nil {
			c.checkResultType(f, cf.prog, target.Type)
		}
	}
	if f.TZ != nil {
		cf.tz = c.tz(f)
	}
	if target != nil && target.Type.Kind == schema.Enum {
		allowed := target.Type.Values
		check := func(v any, pos Position, what string) {
			s, ok := v.(string)
			if !ok || contains(allowed, s) {
				return
			}
			if pos.IsZero() {
				pos = f.Pos
			}
			c.errorf(pos, f.Target, suggest.Nearest(s, allowed), "%s %q is not a value of the target picklist", what, s)
		}
		for _, k := range sortedKeys(f.Map) {
			check(f.Map[k], f.MapPos[k], "mapped value")
		}
		if f.HasDefault {
			check(f.Default, f.DefaultPos, "default")
		}
	}
	return cf, len(c.errs) == before
}

// targetField checks the target field exists and is writable, returning it
// when the target schema is known.
func (c *compiler) targetField(f FieldSpec) *schema.Field {
	t := c.env.Target
	if t == nil {
		return nil
	}
	segs := strings.Split(f.Target, ".")
	fields := t.Fields
	where := t.Name
	var cur *schema.Field
	for i, seg := range segs {
		fld, ok := findField(fields, seg)
		if !ok {
			c.errorf(f.Pos, f.Target, suggest.Nearest(seg, fieldNames(fields)), "target %s has no field %q", where, seg)
			return nil
		}
		cur = fld
		if i < len(segs)-1 {
			if fld.Type.Kind == schema.Any {
				return nil // open value: anything below is accepted
			}
			if fld.Type.Kind != schema.Complex {
				c.errorf(f.Pos, f.Target, "", "target field %q is a %s and has no members", strings.Join(segs[:i+1], "."), fld.Type.Kind)
				return nil
			}
			fields = fld.Type.Fields
			where = strings.Join(segs[:i+1], ".")
		}
	}
	if cur.ReadOnly {
		c.errorf(f.Pos, f.Target, "", "target field is read-only")
	}
	return cur
}

func (c *compiler) query(f FieldSpec) *compiledQuery {
	q := f.Query
	cq := &compiledQuery{connection: q.Connection, entity: q.Entity, field: q.Field}
	if q.Connection == "" || q.Entity == "" {
		c.errorf(f.Pos, f.Target, "", "query step needs a connection and an entity")
	}
	if q.Field == "" {
		c.errorf(f.Pos, f.Target, "", "query step needs the field to take from the found record")
	}
	if len(q.Match) == 0 {
		c.errorf(f.Pos, f.Target, "", "query step needs at least one match field")
	}
	var qe *schema.Entity
	if c.env.QuerySchema != nil && q.Connection != "" && q.Entity != "" {
		qe = c.env.QuerySchema(q.Connection, q.Entity)
	}
	if qe != nil && q.Field != "" && !(q.Field == "id") {
		if _, err := qe.Lookup(q.Field); err != nil {
			first, _, _ := strings.Cut(q.Field, ".")
			c.errorf(f.Pos, f.Target, suggest.Nearest(first, fieldNames(qe.Fields)), "query result field: %v", err)
		}
	}
	for _, name := range sortedKeys(q.Match) {
		if qe != nil {
			if _, ok := qe.Field(name); !ok {
				c.errorf(f.Pos, f.Target, suggest.Nearest(name, fieldNames(qe.Fields)), "query match: entity %s has no field %q", qe.Name, name)
			}
		}
		prog := c.expression(f.Target, f.Pos, q.MatchPos[name], q.Match[name], false)
		if prog != nil {
			cq.match = append(cq.match, compiledMatch{field: name, prog: prog})
		}
	}
	return cq
}

func (c *compiler) tz(f FieldSpec) *compiledTZ {
	ct := &compiledTZ{}
	one := func(what, s string, pos Position) (*time.Location, *vm.Program) {
		s = strings.TrimSpace(s)
		if s == "" {
			c.errorf(f.Pos, f.Target, "", "tz.%s is empty", what)
			return nil, nil
		}
		if loc, err := c.m.zones.resolve(s); err == nil {
			return loc, nil
		}
		if looksLikeZoneName(s) {
			if pos.IsZero() {
				pos = f.Pos
			}
			c.errorf(pos, f.Target, suggestZone(s), "tz.%s: unknown time zone %q", what, s)
			return nil, nil
		}
		return nil, c.expression(f.Target, f.Pos, pos, s, false)
	}
	ct.from, ct.fromProg = one("from", f.TZ.From, f.TZ.FromPos)
	ct.to, ct.toProg = one("to", f.TZ.To, f.TZ.ToPos)
	return ct
}

// expression parses, checks and compiles one expression, recording errors.
func (c *compiler) expression(field string, pos, exprPos Position, src string, isFilter bool) *vm.Program {
	if exprPos.IsZero() {
		exprPos = pos
	}
	before := len(c.errs)
	tree, err := parser.Parse(src)
	if err != nil {
		c.exprError(field, pos, exprPos, src, err)
		return nil
	}
	c.checkNames(field, pos, exprPos, src, tree.Node)
	if len(c.errs) > before {
		return nil
	}
	opts := c.options()
	// A bare name is a field, even when expr has a builtin of that name
	// (Graph's "type", "values", ...): the builtin stays callable elsewhere.
	var names collector
	ast.Walk(&tree.Node, &names)
	for _, id := range names.idents {
		opts = append(opts, expr.DisableBuiltin(id.Value))
		c.m.uses(id.Value)
	}
	if isFilter {
		opts = append(opts, expr.AsBool())
	}
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		c.exprError(field, pos, exprPos, src, err)
		return nil
	}
	info := exprInfo{src: src, simple: len(names.lets) == 0}
	for _, id := range names.idents {
		info.bare = append(info.bare, id.Value)
	}
	info.called = names.builtins
	c.info[prog] = info
	return prog
}

// exprInfo is what combine needs to know about a compiled expression.
type exprInfo struct {
	src          string
	simple       bool // no let declarations: safe to parenthesize
	bare, called []string
}

// combine compiles the plain expressions of all fields into one program
// yielding a list, so that Apply runs the VM once per record instead of once
// per field. It gives up (leaving Apply to run the fields one by one) when
// an expression cannot be embedded safely or the result does not compile.
func (c *compiler) combine() {
	var idx []int
	var parts []string
	var bare, called []string
	add := func(slot int, p *vm.Program) {
		if p == nil {
			return
		}
		info, ok := c.info[p]
		if !ok || !info.simple {
			return
		}
		idx = append(idx, slot)
		// The newline ends a trailing // comment before the parenthesis.
		parts = append(parts, "("+info.src+"\n)")
		bare = append(bare, info.bare...)
		called = append(called, info.called...)
	}
	for i := range c.m.fields {
		f := &c.m.fields[i]
		if f.query == nil {
			add(slotOf(i, slotExpr), f.prog)
		}
		if f.tz != nil {
			add(slotOf(i, slotFrom), f.tz.fromProg)
			add(slotOf(i, slotTo), f.tz.toProg)
		}
	}
	if len(idx) < 2 {
		return
	}
	for _, b := range bare {
		if contains(called, b) {
			return // one field's field name is another's builtin
		}
	}
	opts := c.options()
	for _, b := range bare {
		opts = append(opts, expr.DisableBuiltin(b))
	}
	prog, err := expr.Compile("[\n"+strings.Join(parts, ",\n")+"\n]", opts...)
	if err != nil {
		return
	}
	c.m.combined, c.m.combinedIdx = prog, idx
}

func (c *compiler) exprError(field string, pos, exprPos Position, src string, err error) {
	var fe *file.Error
	if errors.As(err, &fe) {
		msg := fe.Message
		if fe.Line <= 1 && !strings.Contains(src, "\n") {
			c.errorf(offsetPos(exprPos, src, fe.From), field, "", "%s in %q", msg, src)
			return
		}
		c.errorf(pos, field, "", "%s (expression line %d, column %d)", msg, fe.Line, fe.Column+1)
		return
	}
	c.errorf(pos, field, "", "%v", err)
}

// offsetPos moves a position to the given byte offset of a one-line
// expression.
func offsetPos(p Position, src string, off int) Position {
	if p.IsZero() || p.Column == 0 || off <= 0 || off > len(src) || strings.Contains(src, "\n") {
		return p
	}
	p.Column += utf8.RuneCountInString(src[:off])
	return p
}

func (c *compiler) options() []expr.Option {
	limits := c.m.limits
	var opts []expr.Option
	env := c.typeEnv
	if env == nil {
		env = map[string]any{ctxName: context.Context(nil)}
	}
	// Undefined names are allowed by expr because checkNames has already
	// reported every unknown name (with a suggestion); fields of kind any are
	// left out of the typed environment and so stay untyped.
	opts = append(opts, expr.Env(env), expr.AllowUndefinedVariables())
	opts = append(opts,
		expr.MaxNodes(limits.MaxNodes),
		expr.Function("lookup", c.m.lookupFunc, new(func(context.Context, string, any) any)),
		expr.Function("tz", c.m.tzFunc, new(func(any, string, string) any)),
		expr.Function("windowsZone", windowsZoneFunc, new(func(string) any)),
		expr.Function("ianaZone", ianaZoneFunc, new(func(string) any)),
		expr.Function(pathFunc, walkPath, new(func(any, ...string) any)),
		expr.WithContext(ctxName),
		expr.Patch(nilSafe{}),
	)
	return opts
}

// nilSafe makes member access and indexing yield nil instead of failing when
// a part of the path is missing: "start.dateTime" on a record without start,
// "attendees[0]" on an empty list. Mapping input is sparse; a missing value
// is the mapping's concern (defaults), not a rejected record.
type nilSafe struct{}

func (nilSafe) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok || m.Method {
		return
	}
	if isIndex(m.Property) {
		b := &ast.BuiltinNode{Name: "get", Arguments: []ast.Node{m.Node, m.Property}}
		b.SetLocation(m.Location())
		ast.Patch(node, b)
		return
	}
	prop, ok := m.Property.(*ast.StringNode)
	if !ok {
		// A computed key: keep expr's member access, made optional.
		m.Optional = true
		ch := &ast.ChainNode{Node: m}
		ch.SetLocation(m.Location())
		*node = ch
		return
	}
	// a.b.c becomes __path(a, "b", "c"): one call walking the maps instead
	// of one reflective fetch per step, nil as soon as a step is missing.
	if inner, ok := m.Node.(*ast.CallNode); ok {
		if id, ok := inner.Callee.(*ast.IdentifierNode); ok && id.Value == pathFunc {
			inner.Arguments = append(inner.Arguments, prop)
			inner.SetLocation(m.Location())
			ast.Patch(node, inner)
			return
		}
	}
	call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: pathFunc}, Arguments: []ast.Node{m.Node, prop}}
	call.SetLocation(m.Location())
	ast.Patch(node, call)
}

// pathFunc is the internal function nilSafe rewrites member access to.
const pathFunc = "__path"

// walkPath implements __path(value, key...): nested map access that yields
// nil for a missing key or a nil value on the way. A step into a value that
// is neither a map nor nil is an error, as it would be in expr.
func walkPath(params ...any) (any, error) {
	cur := params[0]
	for _, p := range params[1:] {
		if cur == nil {
			return nil, nil
		}
		key, _ := p.(string)
		switch x := cur.(type) {
		case map[string]any:
			cur = x[key]
		default:
			return nil, fmt.Errorf("cannot get %q from a %T", key, cur)
		}
	}
	return cur, nil
}

func isIndex(n ast.Node) bool {
	switch p := n.(type) {
	case *ast.IntegerNode:
		return true
	case *ast.UnaryNode:
		_, ok := p.Node.(*ast.IntegerNode)
		return ok && p.Operator == "-"
	}
	return false
}

// checkNames checks every field path of the expression against the source
// schema, and the pipeline names given to lookup.
func (c *compiler) checkNames(field string, pos, exprPos Position, src string, root ast.Node) {
	var col collector
	ast.Walk(&root, &col)
	inner := map[ast.Node]bool{}
	callee := map[ast.Node]bool{}
	lets := map[string]bool{}
	for _, m := range col.members {
		inner[m.Node] = true
	}
	for _, call := range col.calls {
		callee[call.Callee] = true
	}
	for _, v := range col.lets {
		lets[v.Name] = true
	}
	report := func(n ast.Node, sug, format string, args ...any) {
		c.errorf(offsetPos(exprPos, src, n.Location().From), field, sug, format, args...)
	}
	for _, id := range col.idents {
		if inner[id] || callee[id] || lets[id.Value] {
			continue
		}
		c.checkPath(id, nil, lets, report)
	}
	for _, m := range col.members {
		if inner[m] {
			continue
		}
		// Unwind the chain to its root.
		var segs []ast.Node
		var n ast.Node = m
		for {
			mm, ok := n.(*ast.MemberNode)
			if !ok {
				break
			}
			segs = append([]ast.Node{mm.Property}, segs...)
			n = mm.Node
		}
		if id, ok := n.(*ast.IdentifierNode); ok && !lets[id.Value] {
			c.checkPath(id, segs, lets, report)
		}
	}
	for _, call := range col.calls {
		id, ok := call.Callee.(*ast.IdentifierNode)
		if !ok || id.Value != "lookup" || c.env.Pipelines == nil || len(call.Arguments) == 0 {
			continue
		}
		if s, ok := call.Arguments[0].(*ast.StringNode); ok && !contains(c.env.Pipelines, s.Value) {
			report(s, suggest.Nearest(s.Value, c.env.Pipelines), "lookup: no pipeline named %q", s.Value)
		}
	}
}

type collector struct {
	idents   []*ast.IdentifierNode
	members  []*ast.MemberNode
	calls    []*ast.CallNode
	lets     []*ast.VariableDeclaratorNode
	builtins []string
}

func (c *collector) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		c.idents = append(c.idents, n)
	case *ast.MemberNode:
		c.members = append(c.members, n)
	case *ast.CallNode:
		c.calls = append(c.calls, n)
	case *ast.VariableDeclaratorNode:
		c.lets = append(c.lets, n)
	case *ast.BuiltinNode:
		c.builtins = append(c.builtins, n.Name)
	}
}

// checkPath resolves root.segs against the source entity.
func (c *compiler) checkPath(root *ast.IdentifierNode, segs []ast.Node, lets map[string]bool, report func(ast.Node, string, string, ...any)) {
	if strings.HasPrefix(root.Value, "__") || strings.HasPrefix(root.Value, "$") {
		if root.Value != "$env" {
			report(root, "", "reserved name %q", root.Value)
		}
		return
	}
	src := c.env.Source
	if src == nil {
		return
	}
	f, ok := src.Field(root.Value)
	if !ok {
		if root.Value == "id" || root.Value == "user" {
			return
		}
		report(root, suggest.Nearest(root.Value, rootNames(src)), "source %s has no field %q", src.Name, root.Value)
		return
	}
	t := f.Type
	path := root.Value
	for _, s := range segs {
		switch p := s.(type) {
		case *ast.StringNode:
			switch t.Kind {
			case schema.Any:
				return
			case schema.Complex:
				sub, ok := findField(t.Fields, p.Value)
				if !ok {
					report(p, suggest.Nearest(p.Value, fieldNames(t.Fields)), "%s has no field %q", path, p.Value)
					return
				}
				t = sub.Type
				path += "." + p.Value
			case schema.Collection:
				report(p, "", "%s is a list; index it (%s[0].%s) or use a list function", path, path, p.Value)
				return
			default:
				report(p, "", "%s is a %s and has no field %q", path, t.Kind, p.Value)
				return
			}
		default:
			if !isIndex(s) {
				return // computed key: cannot check statically
			}
			switch t.Kind {
			case schema.Any:
				return
			case schema.Collection:
				if t.Elem == nil {
					return
				}
				t = *t.Elem
				path += "[]"
			case schema.String:
				return // indexing a string yields a character
			default:
				report(s, "", "%s is a %s and cannot be indexed", path, t.Kind)
				return
			}
		}
	}
}

// checkResultType reports an expression whose static result type cannot be
// stored in the target field's kind. Only certain mismatches are reported;
// connectors convert between compatible representations.
func (c *compiler) checkResultType(f FieldSpec, prog *vm.Program, t schema.Type) {
	rt := prog.Node().Type()
	var got string
	if rt == nil || rt.Kind() == reflect.Interface {
		// Nested paths are untyped for expr; the schema knows their type.
		st, ok := c.pathType(f.Expr)
		if !ok {
			return
		}
		switch st.Kind {
		case schema.Bool:
			got = "bool"
		case schema.Int, schema.Double:
			got = "number"
		case schema.String, schema.Enum:
			got = "string"
		case schema.Complex:
			got = "map"
		case schema.Collection:
			got = "list"
		default:
			return
		}
		c.compareKinds(f, got, t)
		return
	}
	switch rt.Kind() {
	case reflect.Bool:
		got = "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Float32, reflect.Float64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		got = "number"
	case reflect.String:
		got = "string"
	case reflect.Map:
		got = "map"
	case reflect.Slice:
		if rt.Elem().Kind() != reflect.Uint8 {
			got = "list"
		}
	default:
		return
	}
	c.compareKinds(f, got, t)
}

// compareKinds reports a value of the given shape that the target kind
// cannot hold.
func (c *compiler) compareKinds(f FieldSpec, got string, t schema.Type) {
	ok := true
	switch t.Kind {
	case schema.Bool:
		ok = got == "bool"
	case schema.Int, schema.Double:
		ok = got == "number"
	case schema.String, schema.Enum:
		ok = got == "string" || got == "number"
	case schema.Timestamp, schema.Date:
		ok = got == "string"
	case schema.Complex:
		ok = got == "map"
	case schema.Collection:
		ok = got == "list"
	}
	if !ok {
		c.errorf(f.Pos, f.Target, "", "expression yields a %s but the target field is a %s", got, t.Kind)
	}
}

// typeEnvOf builds the environment the expression checker sees: a value of
// the Go type each top-level source field has at run time, plus id, user and
// the context entry. Nil without a schema (unchecked compilation).
func typeEnvOf(e *schema.Entity) map[string]any {
	if e == nil {
		return nil
	}
	env := make(map[string]any, len(e.Fields)+3)
	env["id"] = ""
	env["user"] = ""
	for _, f := range e.Fields {
		if z := zeroOf(f.Type); z != nil {
			env[f.Name] = z
		} else {
			delete(env, f.Name) // an open value: leave it untyped
		}
	}
	env[ctxName] = context.Context(nil)
	return env
}

func zeroOf(t schema.Type) any {
	switch t.Kind {
	case schema.Bool:
		return false
	case schema.Int:
		return int64(0)
	case schema.Double:
		return float64(0)
	case schema.String, schema.Enum:
		return ""
	case schema.Bytes:
		return []byte(nil)
	case schema.Timestamp:
		return time.Time{}
	case schema.Date:
		return connector.Date{}
	case schema.Complex:
		return map[string]any{}
	case schema.Collection:
		return []any{}
	}
	return nil
}

func findField(fields []schema.Field, name string) (*schema.Field, bool) {
	for i := range fields {
		if fields[i].Name == name {
			return &fields[i], true
		}
	}
	return nil, false
}

func fieldNames(fields []schema.Field) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.Name
	}
	return out
}

func rootNames(e *schema.Entity) []string {
	return append(fieldNames(e.Fields), "id", "user")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Each field has three expression slots: its value, and the zones of its tz
// step.
const (
	slotExpr = iota
	slotFrom
	slotTo
	slotsPerField
)

func slotOf(field, role int) int { return field*slotsPerField + role }

// pathType returns the schema type of an expression that is nothing but a
// path into the source record (start.dateTime, attendees[0].type).
func (c *compiler) pathType(src string) (schema.Type, bool) {
	e := c.env.Source
	if e == nil {
		return schema.Type{}, false
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return schema.Type{}, false
	}
	var segs []ast.Node
	n := tree.Node
	for {
		m, ok := n.(*ast.MemberNode)
		if !ok {
			break
		}
		segs = append([]ast.Node{m.Property}, segs...)
		n = m.Node
	}
	id, ok := n.(*ast.IdentifierNode)
	if !ok {
		return schema.Type{}, false
	}
	f, ok := e.Field(id.Value)
	if !ok {
		return schema.Type{}, false
	}
	t := f.Type
	for _, seg := range segs {
		switch p := seg.(type) {
		case *ast.StringNode:
			if t.Kind != schema.Complex {
				return schema.Type{}, false
			}
			sub, ok := findField(t.Fields, p.Value)
			if !ok {
				return schema.Type{}, false
			}
			t = sub.Type
		default:
			if !isIndex(seg) || t.Kind != schema.Collection || t.Elem == nil {
				return schema.Type{}, false
			}
			t = *t.Elem
		}
	}
	return t, true
}
