package graphtest

import (
	"fmt"
	"strconv"
	"strings"
)

// filterError is a $filter the service rejects, with its Graph error code.
type filterError struct{ code, msg string }

// userFilterable lists the user properties $filter accepts (the
// filter-directory-objects table, facts §11). The values say whether eq on
// them is a default query; ne/not/endsWith/eq null are always advanced.
var userFilterable = map[string]bool{
	"id": true, "userprincipalname": true, "mail": true, "displayname": true, "givenname": true,
	"surname": true, "usertype": true, "accountenabled": true, "jobtitle": true, "department": true,
}

var groupFilterable = map[string]bool{"id": true, "displayname": true, "mailnickname": true, "mail": true, "securityenabled": true, "mailenabled": true}

type tokKind int

const (
	tkEOF tokKind = iota
	tkIdent
	tkString
	tkNumber
	tkLParen
	tkRParen
	tkComma
)

type ftoken struct {
	kind tokKind
	text string
}

func lexFilter(src string) ([]ftoken, error) {
	var out []ftoken
	i := 0
	for i < len(src) {
		ch := src[i]
		switch {
		case ch == ' ' || ch == '\t':
			i++
		case ch == '(':
			out = append(out, ftoken{tkLParen, "("})
			i++
		case ch == ')':
			out = append(out, ftoken{tkRParen, ")"})
			i++
		case ch == ',':
			out = append(out, ftoken{tkComma, ","})
			i++
		case ch == '\'':
			var b strings.Builder
			i++
			closed := false
			for i < len(src) {
				if src[i] == '\'' {
					if i+1 < len(src) && src[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(src[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated string literal")
			}
			out = append(out, ftoken{tkString, b.String()})
		case ch == '-' || (ch >= '0' && ch <= '9'):
			j := i + 1
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.') {
				j++
			}
			out = append(out, ftoken{tkNumber, src[i:j]})
			i = j
		case isIdentChar(ch):
			j := i
			for j < len(src) && (isIdentChar(src[j]) || src[j] >= '0' && src[j] <= '9' || src[j] == '/') {
				j++
			}
			out = append(out, ftoken{tkIdent, src[i:j]})
			i = j
		default:
			return nil, fmt.Errorf("unexpected character %q at position %d", ch, i)
		}
	}
	return append(out, ftoken{kind: tkEOF}), nil
}

func isIdentChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '.' || c == '$'
}

type filterParser struct {
	toks     []ftoken
	pos      int
	props    map[string]bool
	advanced string // first property used in an advanced-only way
	bad      string // first property that cannot be filtered
}

type pred func(map[string]any) bool

// parseFilter parses an OData $filter over flat properties: eq, ne, in,
// startswith(), endswith(), not, and, or, parentheses. It returns the
// predicate and, when the expression needs advanced query parameters, the
// property that needs them.
func parseFilter(src string, props map[string]bool) (func(map[string]any) bool, string, *filterError) {
	toks, err := lexFilter(src)
	if err != nil {
		return nil, "", &filterError{"BadRequest", "Invalid filter clause: " + err.Error()}
	}
	p := &filterParser{toks: toks, props: props}
	f, perr := p.or()
	if perr == nil && p.peek().kind != tkEOF {
		perr = fmt.Errorf("syntax error at '%s'", p.peek().text)
	}
	if p.bad != "" {
		return nil, "", &filterError{"Request_UnsupportedQuery", fmt.Sprintf("Unsupported or invalid query filter clause specified for property '%s'.", p.bad)}
	}
	if perr != nil {
		return nil, "", &filterError{"BadRequest", "Invalid filter clause: " + perr.Error()}
	}
	return f, p.advanced, nil
}

func (p *filterParser) peek() ftoken { return p.toks[p.pos] }
func (p *filterParser) next() ftoken {
	t := p.toks[p.pos]
	if t.kind != tkEOF {
		p.pos++
	}
	return t
}

func (p *filterParser) keyword(k string) bool {
	t := p.peek()
	if t.kind == tkIdent && strings.EqualFold(t.text, k) {
		p.pos++
		return true
	}
	return false
}

func (p *filterParser) or() (pred, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		a, b := l, r
		l = func(m map[string]any) bool { return a(m) || b(m) }
	}
	return l, nil
}

func (p *filterParser) and() (pred, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		a, b := l, r
		l = func(m map[string]any) bool { return a(m) && b(m) }
	}
	return l, nil
}

func (p *filterParser) unary() (pred, error) {
	if p.keyword("not") {
		inner, err := p.unary()
		if err != nil {
			return nil, err
		}
		if p.advanced == "" {
			p.advanced = "not"
		}
		return func(m map[string]any) bool { return !inner(m) }, nil
	}
	return p.primary()
}

func (p *filterParser) prop(name string) string {
	if _, ok := p.props[strings.ToLower(name)]; !ok && p.bad == "" {
		p.bad = name
	}
	return name
}

func (p *filterParser) literal() (any, error) {
	t := p.next()
	switch t.kind {
	case tkString:
		return t.text, nil
	case tkNumber:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", t.text)
		}
		return f, nil
	case tkIdent:
		switch strings.ToLower(t.text) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "null":
			return nil, nil
		}
	}
	return nil, fmt.Errorf("expected a literal, found '%s'", t.text)
}

func (p *filterParser) primary() (pred, error) {
	t := p.next()
	switch t.kind {
	case tkLParen:
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.next().kind != tkRParen {
			return nil, fmt.Errorf("missing ')'")
		}
		return e, nil
	case tkIdent:
	default:
		return nil, fmt.Errorf("unexpected '%s'", t.text)
	}
	fn := strings.ToLower(t.text)
	if (fn == "startswith" || fn == "endswith") && p.peek().kind == tkLParen {
		p.next()
		a := p.next()
		if a.kind != tkIdent {
			return nil, fmt.Errorf("%s expects a property", fn)
		}
		name := p.prop(a.text)
		if p.next().kind != tkComma {
			return nil, fmt.Errorf("%s expects two arguments", fn)
		}
		lit, err := p.literal()
		if err != nil {
			return nil, err
		}
		if p.next().kind != tkRParen {
			return nil, fmt.Errorf("missing ')'")
		}
		val, _ := lit.(string)
		val = strings.ToLower(val)
		if fn == "endswith" && p.advanced == "" {
			p.advanced = name // endsWith is advanced-only (facts §11)
		}
		return func(m map[string]any) bool {
			s, ok := lookupFold(m, name).(string)
			if !ok {
				return false
			}
			if fn == "startswith" {
				return strings.HasPrefix(strings.ToLower(s), val)
			}
			return strings.HasSuffix(strings.ToLower(s), val)
		}, nil
	}
	name := p.prop(t.text)
	op := p.next()
	if op.kind != tkIdent {
		return nil, fmt.Errorf("expected an operator after '%s'", name)
	}
	switch strings.ToLower(op.text) {
	case "eq", "ne":
		lit, err := p.literal()
		if err != nil {
			return nil, err
		}
		ne := strings.EqualFold(op.text, "ne")
		if (ne || lit == nil) && p.advanced == "" {
			p.advanced = name // ne and eq null are advanced-only (facts §11)
		}
		return func(m map[string]any) bool {
			eq := valuesEqual(lookupFold(m, name), lit)
			return eq != ne
		}, nil
	case "in":
		if p.next().kind != tkLParen {
			return nil, fmt.Errorf("'in' expects a list")
		}
		var lits []any
		for {
			lit, err := p.literal()
			if err != nil {
				return nil, err
			}
			lits = append(lits, lit)
			n := p.next()
			if n.kind == tkRParen {
				break
			}
			if n.kind != tkComma {
				return nil, fmt.Errorf("bad 'in' list")
			}
		}
		return func(m map[string]any) bool {
			v := lookupFold(m, name)
			for _, l := range lits {
				if valuesEqual(v, l) {
					return true
				}
			}
			return false
		}, nil
	}
	return nil, fmt.Errorf("unsupported operator '%s'", op.text)
}

func lookupFold(m map[string]any, name string) any {
	if v, ok := m[name]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// valuesEqual compares a property with a literal; string comparison is
// case-insensitive, as directory queries are.
func valuesEqual(v, lit any) bool {
	switch l := lit.(type) {
	case nil:
		return v == nil
	case string:
		s, ok := v.(string)
		return ok && strings.EqualFold(s, l)
	case bool:
		b, ok := v.(bool)
		return ok && b == l
	case float64:
		switch n := v.(type) {
		case float64:
			return n == l
		case int:
			return float64(n) == l
		case int64:
			return float64(n) == l
		}
	}
	return false
}
