package sagecrmtest

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The where language follows the SData 2.0 query language as Sage CRM 2024
// R2 documents it (crm-api-facts.md B3 "where syntax"): eq ne gt ge lt le,
// like with the % wildcard, in (...), between X and Y, and, or, not,
// parentheses, single-quoted literals ('' escapes a quote), numbers and
// @date@ literals. The symbolic forms = <> != < <= > >= are SData
// equivalents (Cloud Elements polls with Pers_UpdatedDate>'...', B3).

// whereError is a query the emulator refuses with 400 BadWhereSyntax.
type whereError struct{ msg string }

func (e *whereError) Error() string { return e.msg }

func badWhere(format string, args ...any) error {
	return &whereError{msg: fmt.Sprintf(format, args...)}
}

type tokKind int

const (
	tkEOF tokKind = iota
	tkIdent
	tkString
	tkNumber
	tkDate
	tkOp
	tkLParen
	tkRParen
	tkComma
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func lex(s string) ([]token, error) {
	var out []token
	i := 0
	for i < len(s) {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			i++
		case ch == '(':
			out = append(out, token{tkLParen, "(", i})
			i++
		case ch == ')':
			out = append(out, token{tkRParen, ")", i})
			i++
		case ch == ',':
			out = append(out, token{tkComma, ",", i})
			i++
		case ch == '\'':
			start := i
			i++
			var b strings.Builder
			closed := false
			for i < len(s) {
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, badWhere("unterminated string literal at position %d", start)
			}
			out = append(out, token{tkString, b.String(), start})
		case ch == '@':
			start := i
			j := strings.IndexByte(s[i+1:], '@')
			if j < 0 {
				return nil, badWhere("unterminated date literal at position %d", start)
			}
			out = append(out, token{tkDate, s[i+1 : i+1+j], start})
			i += j + 2
		case ch == '<' || ch == '>' || ch == '=' || ch == '!':
			start := i
			op := string(ch)
			if i+1 < len(s) && (s[i+1] == '=' || (ch == '<' && s[i+1] == '>')) {
				op += string(s[i+1])
			}
			i += len(op)
			sym := map[string]string{"=": "eq", "<>": "ne", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}[op]
			if sym == "" {
				return nil, badWhere("unknown operator %q at position %d", op, start)
			}
			out = append(out, token{tkOp, sym, start})
		case ch == '-' || ch == '+' || (ch >= '0' && ch <= '9'):
			start := i
			i++
			for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
				i++
			}
			out = append(out, token{tkNumber, s[start:i], start})
		case ch == '_' || unicode.IsLetter(rune(ch)):
			start := i
			for i < len(s) && (s[i] == '_' || s[i] == '.' || unicode.IsLetter(rune(s[i])) || unicode.IsDigit(rune(s[i]))) {
				i++
			}
			out = append(out, token{tkIdent, s[start:i], start})
		default:
			return nil, badWhere("unexpected character %q at position %d", ch, i)
		}
	}
	return append(out, token{kind: tkEOF, pos: len(s)}), nil
}

// cond is a compiled where expression.
type cond interface{ match(r row) bool }

type andCond struct{ l, r cond }
type orCond struct{ l, r cond }
type notCond struct{ c cond }

func (c andCond) match(r row) bool { return c.l.match(r) && c.r.match(r) }
func (c orCond) match(r row) bool  { return c.l.match(r) || c.r.match(r) }
func (c notCond) match(r row) bool { return !c.c.match(r) }

// cmpCond compares a column with literals. A NULL column or a null literal
// never matches, as in SQL, which Sage CRM translates the where clause into.
type cmpCond struct {
	col  string
	op   string
	vals []any
	set  map[any]bool // the values of an in list, by setKey
}

// setKey is the lookup key of a value in an in list: strings compare
// case-insensitively, times by instant.
func setKey(v any) any {
	switch x := v.(type) {
	case string:
		return strings.ToLower(x)
	case time.Time:
		return x.UnixNano()
	}
	return v
}

func (c cmpCond) match(r row) bool {
	v := r[c.col]
	if v == nil {
		return false
	}
	for _, lit := range c.vals {
		if lit == nil {
			return false
		}
	}
	switch c.op {
	case "in":
		return c.set[setKey(v)]
	case "between":
		return compare(v, c.vals[0]) >= 0 && compare(v, c.vals[1]) <= 0
	case "like":
		s, _ := v.(string)
		p, _ := c.vals[0].(string)
		return likeMatch(strings.ToLower(s), strings.ToLower(p))
	}
	n := compare(v, c.vals[0])
	switch c.op {
	case "eq":
		return n == 0
	case "ne":
		return n != 0
	case "gt":
		return n > 0
	case "ge":
		return n >= 0
	case "lt":
		return n < 0
	case "le":
		return n <= 0
	}
	return false
}

// compare orders two values of the same column type. Strings compare
// case-insensitively (SQL Server's default collation, which Sage CRM
// installs with).
func compare(a, b any) int {
	switch x := a.(type) {
	case int64:
		y := b.(int64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case float64:
		y := b.(float64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case time.Time:
		return x.Compare(b.(time.Time))
	case string:
		return strings.Compare(strings.ToLower(x), strings.ToLower(b.(string)))
	}
	return 0
}

// likeMatch implements SQL LIKE with % and _ wildcards.
func likeMatch(s, p string) bool {
	if p == "" {
		return s == ""
	}
	switch p[0] {
	case '%':
		for i := 0; i <= len(s); i++ {
			if likeMatch(s[i:], p[1:]) {
				return true
			}
		}
		return false
	case '_':
		return s != "" && likeMatch(s[1:], p[1:])
	}
	return s != "" && s[0] == p[0] && likeMatch(s[1:], p[1:])
}

// whereParser compiles a where string against one entity.
type whereParser struct {
	toks []token
	i    int
	e    *entity
	lit  func(col *column, t token) (any, error)
}

func (p *whereParser) peek() token { return p.toks[p.i] }
func (p *whereParser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *whereParser) keyword(word string) bool {
	t := p.peek()
	if t.kind == tkIdent && strings.EqualFold(t.text, word) {
		p.i++
		return true
	}
	return false
}

func (p *whereParser) parse() (cond, error) {
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tkEOF {
		return nil, badWhere("unexpected %q at position %d", t.text, t.pos)
	}
	return c, nil
}

func (p *whereParser) or() (cond, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = orCond{l, r}
	}
	return l, nil
}

func (p *whereParser) and() (cond, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = andCond{l, r}
	}
	return l, nil
}

func (p *whereParser) unary() (cond, error) {
	if p.keyword("not") {
		c, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notCond{c}, nil
	}
	if p.peek().kind == tkLParen {
		p.next()
		c, err := p.or()
		if err != nil {
			return nil, err
		}
		if t := p.next(); t.kind != tkRParen {
			return nil, badWhere("expected ) at position %d", t.pos)
		}
		return c, nil
	}
	return p.comparison()
}

func (p *whereParser) comparison() (cond, error) {
	t := p.next()
	if t.kind != tkIdent {
		return nil, badWhere("expected a field name at position %d", t.pos)
	}
	col, ok := p.e.col(t.text)
	if !ok {
		return nil, badWhere("unknown field %q at position %d", t.text, t.pos)
	}
	name := strings.ToLower(col.Name)
	opTok := p.next()
	op := strings.ToLower(opTok.text)
	if opTok.kind != tkOp && opTok.kind != tkIdent {
		return nil, badWhere("expected an operator after %s at position %d", t.text, opTok.pos)
	}
	switch op {
	case "eq", "ne", "gt", "ge", "lt", "le", "like":
		v, err := p.literal(col)
		if err != nil {
			return nil, err
		}
		if op == "like" {
			if _, ok := v.(string); !ok {
				return nil, badWhere("like needs a string literal at position %d", opTok.pos)
			}
		}
		return cmpCond{col: name, op: op, vals: []any{v}}, nil
	case "in":
		if tk := p.next(); tk.kind != tkLParen {
			return nil, badWhere("expected ( after in at position %d", tk.pos)
		}
		var vals []any
		for {
			v, err := p.literal(col)
			if err != nil {
				return nil, err
			}
			vals = append(vals, v)
			tk := p.next()
			if tk.kind == tkRParen {
				break
			}
			if tk.kind != tkComma {
				return nil, badWhere("expected , or ) at position %d", tk.pos)
			}
		}
		set := make(map[any]bool, len(vals))
		for _, v := range vals {
			if v != nil {
				set[setKey(v)] = true
			}
		}
		return cmpCond{col: name, op: "in", vals: vals, set: set}, nil
	case "between":
		lo, err := p.literal(col)
		if err != nil {
			return nil, err
		}
		if !p.keyword("and") {
			return nil, badWhere("expected and in between at position %d", p.peek().pos)
		}
		hi, err := p.literal(col)
		if err != nil {
			return nil, err
		}
		return cmpCond{col: name, op: "between", vals: []any{lo, hi}}, nil
	}
	return nil, badWhere("unknown operator %q at position %d", opTok.text, opTok.pos)
}

func (p *whereParser) literal(col *column) (any, error) {
	t := p.next()
	switch t.kind {
	case tkString, tkNumber, tkDate:
		return p.lit(col, t)
	case tkIdent:
		if strings.EqualFold(t.text, "null") {
			return p.lit(col, t)
		}
	}
	return nil, badWhere("expected a literal at position %d", t.pos)
}

// parseInt accepts an integer literal, quoted or not ('962', 962).
func parseInt(s string) (int64, error) {
	return strconv.ParseInt(strings.TrimSpace(s), 10, 64)
}
