package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/syncplane/syncplane/transforms"
	"github.com/syncplane/syncplane/transforms/suggest"
)

type decoder struct {
	path, dir string
	opts      Options
	root      *node
	errs      Errors
}

func (d *decoder) errorf(pos transforms.Position, path, sug, format string, args ...any) {
	d.errs = append(d.errs, Error{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...), Suggestion: sug})
}

func (d *decoder) decode() *File {
	f := &File{Path: d.path, root: d.root}
	f.State = d.state()
	conns := d.root.get("connections")
	if conns != nil {
		for _, name := range conns.keys {
			f.Connections = append(f.Connections, d.connection(name, conns.fields[name]))
		}
	}
	names := f.ConnectionNames()
	pipes := d.root.get("pipelines")
	if pipes == nil {
		return f
	}
	var pipelineNames []string
	for _, it := range pipes.items {
		if n := it.get("name"); n != nil {
			pipelineNames = append(pipelineNames, n.str())
		}
	}
	seen := map[string]transforms.Position{}
	for i, it := range pipes.items {
		p := d.pipeline(i, it, names, pipelineNames)
		if prev, dup := seen[p.Name]; dup {
			d.errorf(it.get("name").pos, fmt.Sprintf("pipelines[%d].name", i), "", "pipeline %q is defined twice (first at %s)", p.Name, prev)
		} else {
			seen[p.Name] = it.get("name").pos
		}
		f.Pipelines = append(f.Pipelines, p)
	}
	return f
}

func (d *decoder) state() string {
	n := d.root.get("state")
	if n == nil {
		return filepath.Join(d.dir, DefaultStateFile)
	}
	s, _, errs := d.resolve(n.str(), n.pos, "state", "the state setting")
	if len(errs) > 0 {
		d.errs = append(d.errs, errs...)
		return ""
	}
	if strings.Contains(s, "://") || filepath.IsAbs(s) {
		return s
	}
	return filepath.Join(d.dir, s)
}

func (d *decoder) connection(name string, n *node) Connection {
	c := Connection{Name: name, Connector: n.get("connector").str(), Pos: n.keyPos, node: n.get("settings")}
	path := "connections." + name + ".settings"
	var settings any = map[string]any{}
	if c.node != nil {
		settings = d.settings(c.node, nil, path, name, &c.Secrets)
	}
	b, err := json.Marshal(settings)
	if err != nil {
		d.errorf(c.Pos, path, "", "connection %s: cannot encode settings: %v", name, err)
	}
	c.Settings = b
	return c
}

// settings renders a settings subtree as JSON data with secrets resolved,
// recording the pointers of resolved values.
func (d *decoder) settings(n *node, ptr []string, path, conn string, secrets *[]string) any {
	switch n.kind {
	case kindMap:
		m := make(map[string]any, len(n.keys))
		for _, k := range n.keys {
			m[k] = d.settings(n.fields[k], append(append([]string(nil), ptr...), k), path+"."+k, conn, secrets)
		}
		return m
	case kindSeq:
		s := make([]any, len(n.items))
		for i, it := range n.items {
			s[i] = d.settings(it, append(append([]string(nil), ptr...), strconv.Itoa(i)), fmt.Sprintf("%s[%d]", path, i), conn, secrets)
		}
		return s
	case kindScalar:
		if str, ok := n.val.(string); ok {
			v, secret, errs := d.resolve(str, n.pos, path, "connection "+conn)
			d.errs = append(d.errs, errs...)
			if secret {
				*secrets = append(*secrets, pointer(ptr))
			}
			return v
		}
		return n.val
	}
	return nil
}

// resolve expands ${env:NAME} and ${file:PATH} in s. "$${" stands for a
// literal "${". Errors name the reference and where it is used, never a
// value.
func (d *decoder) resolve(s string, pos transforms.Position, path, user string) (string, bool, Errors) {
	if !strings.Contains(s, "${") {
		return s, false, nil
	}
	var b strings.Builder
	var errs Errors
	secret := false
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			errs = append(errs, Error{Pos: pos, Path: path, Msg: fmt.Sprintf("%s: unterminated ${ in %s (write $${ for a literal ${)", user, path)})
			break
		}
		ref := s[i+2 : i+end]
		s = s[i+end+1:]
		source, arg, ok := strings.Cut(ref, ":")
		if !ok || arg == "" {
			errs = append(errs, Error{Pos: pos, Path: path, Msg: fmt.Sprintf("%s: %s: a secret reference is ${env:NAME} or ${file:PATH}", user, path)})
			continue
		}
		secret = true
		switch source {
		case "env":
			v, found := d.opts.LookupEnv(arg)
			if !found {
				errs = append(errs, Error{Pos: pos, Path: path, Msg: fmt.Sprintf("%s: %s: environment variable %s is not set", user, path, arg)})
				continue
			}
			b.WriteString(v)
		case "file":
			p := arg
			if !filepath.IsAbs(p) {
				p = filepath.Join(d.dir, p)
			}
			data, err := d.opts.ReadFile(p)
			if err != nil {
				reason := "cannot be read"
				if errors.Is(err, fs.ErrNotExist) {
					reason = "does not exist"
				}
				errs = append(errs, Error{Pos: pos, Path: path, Msg: fmt.Sprintf("%s: %s: secret file %s %s", user, path, p, reason)})
				continue
			}
			v := string(data)
			v = strings.TrimSuffix(v, "\n")
			v = strings.TrimSuffix(v, "\r")
			b.WriteString(v)
		default:
			errs = append(errs, Error{Pos: pos, Path: path, Msg: fmt.Sprintf("%s: %s: unknown secret source %q", user, path, source), Suggestion: suggest.Nearest(source, []string{"env", "file"})})
		}
	}
	return b.String(), secret, errs
}

func (d *decoder) pipeline(i int, n *node, conns, pipelines []string) Pipeline {
	base := fmt.Sprintf("pipelines[%d]", i)
	p := Pipeline{
		Name:      n.get("name").str(),
		Mode:      "one-way",
		BatchSize: DefaultBatchSize,
		OnDelete:  OnDelete{Kind: "delete"},
		Pos:       n.pos,
	}
	p.From = d.endpoint(n.get("from"), base+".from", conns)
	p.To = d.endpoint(n.get("to"), base+".to", conns)
	if m := n.get("mode"); m != nil {
		p.Mode = m.str()
	}
	if s := n.get("schedule"); s != nil {
		text := strings.TrimSpace(s.str())
		text = strings.TrimSpace(strings.TrimPrefix(text, "@every"))
		dur, err := time.ParseDuration(text)
		switch {
		case err != nil:
			d.errorf(s.pos, base+".schedule", "", "schedule %q is not a duration such as 5m, 1h30m or \"@every 5m\"", s.str())
		case dur < time.Second:
			d.errorf(s.pos, base+".schedule", "", "schedule %s is shorter than one second", dur)
		default:
			p.Schedule = dur
		}
	}
	if od := n.get("on_delete"); od != nil {
		p.onDeletePos = od.pos
		p.OnDelete = d.onDelete(od, base+".on_delete")
	}
	if bs := n.get("batch_size"); bs != nil {
		if v, ok := bs.val.(int64); ok {
			p.BatchSize = int(v)
		}
	}
	p.Mapping = d.mapping(n, base)
	_, err := transforms.Compile(p.Mapping, transforms.Env{Pipelines: pipelines})
	d.addCompileErrors(base, err)
	d.twoWay(&p, n, base, pipelines)
	return p
}

func (d *decoder) onDelete(od *node, path string) OnDelete {
	kind, field, _ := strings.Cut(od.str(), ":")
	o := OnDelete{Kind: kind, Field: strings.TrimSpace(field)}
	if kind == "mark" && o.Field == "" {
		d.errorf(od.pos, path, "", "mark needs a target field: mark:FIELD")
	}
	return o
}

// twoWayKeys are the keys only a two-way pipeline may have.
var twoWayKeys = []string{"reverse_mapping", "reverse_filter", "reverse_on_delete", "conflict", "delete_conflict", "write_back"}

// twoWay decodes the two-way settings of a pipeline: the reverse mapping
// (required), its filter, the delete policy of the reverse direction, the
// conflict policy and the write-back fields. In a one-way pipeline they are
// errors.
func (d *decoder) twoWay(p *Pipeline, n *node, base string, pipelines []string) {
	p.ReverseOnDelete = OnDelete{Kind: "delete"}
	p.Conflict = ConflictManual
	if !p.TwoWay() {
		for _, k := range twoWayKeys {
			if c := n.get(k); c != nil {
				d.errorf(c.keyPos, base+"."+k, "", "%s applies to two-way pipelines only; add mode: two-way or remove it", k)
			}
		}
		return
	}
	rm := n.get("reverse_mapping")
	if rm == nil {
		pos := p.Pos
		if m := n.get("mode"); m != nil {
			pos = m.pos
		}
		d.errorf(pos, base+".reverse_mapping", "", "a two-way pipeline needs reverse_mapping: the mapping of the to → from direction, per %s field", p.From.Entity)
	} else {
		p.ReverseMapping = d.mappingOf(rm, n.get("reverse_filter"), base, "reverse_mapping")
		_, err := transforms.Compile(p.ReverseMapping, transforms.Env{Pipelines: pipelines})
		d.addReverseCompileErrors(base, err)
	}
	if od := n.get("reverse_on_delete"); od != nil {
		p.reverseOnDeletePos = od.pos
		p.ReverseOnDelete = d.onDelete(od, base+".reverse_on_delete")
	}
	if c := n.get("conflict"); c != nil {
		p.Conflict = c.str()
	}
	p.DeleteConflict = DeleteConflictChange
	if p.Conflict == ConflictManual {
		p.DeleteConflict = DeleteConflictManual
	}
	if c := n.get("delete_conflict"); c != nil {
		p.DeleteConflict = c.str()
	}
	if wb := n.get("write_back"); wb != nil {
		if f := wb.get("from_field"); f != nil {
			p.WriteBack.FromField, p.writeBackPos.from = f.str(), f.pos
		}
		if f := wb.get("to_field"); f != nil {
			p.WriteBack.ToField, p.writeBackPos.to = f.str(), f.pos
		}
	}
}

// addReverseCompileErrors turns compile errors of the reverse mapping into
// file errors naming reverse_mapping and reverse_filter.
func (d *decoder) addReverseCompileErrors(base string, err error) {
	if err == nil {
		return
	}
	d.errs = append(d.errs, reverseCompileErrors(base, err)...)
}

func reverseCompileErrors(base string, err error) Errors {
	es := compileErrors(base, err)
	for i := range es {
		e := &es[i]
		switch {
		case strings.HasPrefix(e.Path, base+".mapping"):
			e.Path = base + ".reverse_mapping" + strings.TrimPrefix(e.Path, base+".mapping")
			e.Msg = "reverse_" + e.Msg
		case strings.HasPrefix(e.Path, base+".filter"):
			e.Path = base + ".reverse_filter"
			e.Msg = "reverse_" + e.Msg
		}
	}
	return es
}

// addCompileErrors turns mapping compile errors into file errors.
func (d *decoder) addCompileErrors(base string, err error) {
	if err == nil {
		return
	}
	d.errs = append(d.errs, compileErrors(base, err)...)
}

func compileErrors(base string, err error) Errors {
	var ce transforms.Errors
	if !errors.As(err, &ce) {
		return Errors{{Path: base + ".mapping", Msg: err.Error()}}
	}
	out := make(Errors, 0, len(ce))
	for _, e := range ce {
		path := base + ".filter"
		msg := "filter: " + e.Msg
		switch {
		case e.Field != "":
			path = base + ".mapping." + e.Field
			msg = "mapping " + e.Field + ": " + e.Msg
		case e.Whole:
			path = base + ".mapping"
			msg = "mapping: " + e.Msg
		}
		out = append(out, Error{Pos: e.Pos, Path: path, Msg: msg, Suggestion: e.Suggestion})
	}
	return out
}

func (d *decoder) endpoint(n *node, path string, conns []string) Endpoint {
	if n == nil {
		return Endpoint{}
	}
	e := Endpoint{Connection: n.get("connection").str(), Entity: n.get("entity").str(), Pos: n.pos}
	if c := n.get("connection"); c != nil {
		e.connPos = c.pos
	}
	if c := n.get("entity"); c != nil {
		e.entityPos = c.pos
	}
	if !contains(conns, e.Connection) {
		d.errorf(e.connPos, path+".connection", suggest.Nearest(e.Connection, conns), "no connection named %q", e.Connection)
	}
	return e
}

func (d *decoder) mapping(pn *node, base string) transforms.Spec {
	return d.mappingOf(pn.get("mapping"), pn.get("filter"), base, "mapping")
}

// mappingOf decodes a mapping node m (the value of key) and its filter.
func (d *decoder) mappingOf(m, f *node, base, key string) transforms.Spec {
	var spec transforms.Spec
	if f != nil {
		spec.Filter = f.str()
		spec.FilterPos = f.exprPos()
	}
	if m == nil {
		return spec
	}
	spec.MappingPos = m.keyPos
	conns := d.root.get("connections")
	for _, target := range m.keys {
		n := m.fields[target]
		path := base + "." + key + "." + target
		fs := transforms.FieldSpec{Target: target, Pos: n.keyPos}
		switch n.kind {
		case kindScalar:
			fs.Expr = n.str()
			fs.ExprPos = n.exprPos()
		case kindNull:
			d.errorf(n.keyPos, path, "", "mapping %s has no expression", target)
			continue
		case kindMap:
			if e := n.get("expr"); e != nil {
				fs.Expr = e.str()
				fs.ExprPos = e.exprPos()
			}
			if mp := n.get("map"); mp != nil {
				fs.Map = make(map[string]any, len(mp.keys))
				fs.MapPos = make(map[string]transforms.Position, len(mp.keys))
				for _, k := range mp.keys {
					fs.Map[k] = mp.fields[k].val
					fs.MapPos[k] = mp.fields[k].pos
				}
			}
			if def := n.get("default"); def != nil {
				fs.Default, fs.HasDefault, fs.DefaultPos = def.val, true, def.pos
			}
			if tz := n.get("tz"); tz != nil {
				fs.TZ = &transforms.TZSpec{From: tz.get("from").str(), To: tz.get("to").str(),
					FromPos: tz.get("from").exprPos(), ToPos: tz.get("to").exprPos()}
			}
			field := n.get("field")
			if q := n.get("query"); q != nil {
				qs := &transforms.QuerySpec{
					Connection: q.get("connection").str(),
					Entity:     q.get("entity").str(),
					Match:      map[string]string{},
					MatchPos:   map[string]transforms.Position{},
				}
				if field != nil {
					qs.Field = field.str()
				}
				if mt := q.get("match"); mt != nil {
					for _, k := range mt.keys {
						qs.Match[k] = mt.fields[k].str()
						qs.MatchPos[k] = mt.fields[k].exprPos()
					}
				}
				if cn := q.get("connection"); cn != nil && conns != nil && conns.get(qs.Connection) == nil {
					d.errorf(cn.pos, path+".query.connection", suggest.Nearest(qs.Connection, conns.keys), "no connection named %q", qs.Connection)
				}
				fs.Query = qs
			} else if field != nil {
				d.errorf(field.keyPos, path+".field", "", "field belongs to a query step; this mapping has no query")
			}
		}
		spec.Fields = append(spec.Fields, fs)
	}
	return spec
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
