package zohotest

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// cond is a parsed condition of /search criteria or a COQL WHERE clause.
type cond struct {
	op          string // and, or, or a comparison
	left, right *cond
	field       string
	values      []string
	null        bool // a null literal (COQL is null / = null)
}

// ---- /search (§A3.9) ----

// parseCriteria parses (F:op:v)and((F:op:v)or(F:op:v)).
func parseCriteria(s string) (*cond, int, error) {
	p := &critParser{s: s}
	c, err := p.expr()
	if err != nil {
		return nil, 0, err
	}
	if p.i != len(p.s) {
		return nil, 0, fmt.Errorf("unexpected %q at %d", p.s[p.i:], p.i)
	}
	return c, p.n, nil
}

type critParser struct {
	s string
	i int
	n int // number of criteria
}

func (p *critParser) expr() (*cond, error) {
	left, err := p.group()
	if err != nil {
		return nil, err
	}
	for {
		rest := strings.ToLower(p.s[p.i:])
		var op string
		switch {
		case strings.HasPrefix(rest, "and"):
			op = "and"
		case strings.HasPrefix(rest, "or"):
			op = "or"
		default:
			return left, nil
		}
		p.i += len(op)
		right, err := p.group()
		if err != nil {
			return nil, err
		}
		left = &cond{op: op, left: left, right: right}
	}
}

func (p *critParser) group() (*cond, error) {
	if p.i >= len(p.s) || p.s[p.i] != '(' {
		return nil, fmt.Errorf("expected ( at %d", p.i)
	}
	p.i++
	if p.i < len(p.s) && p.s[p.i] == '(' {
		c, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.i >= len(p.s) || p.s[p.i] != ')' {
			return nil, fmt.Errorf("expected ) at %d", p.i)
		}
		p.i++
		return c, nil
	}
	// field:operator:value with \( \) \, \\ escapes in the value.
	var b strings.Builder
	for p.i < len(p.s) && p.s[p.i] != ')' {
		if p.s[p.i] == '\\' && p.i+1 < len(p.s) {
			b.WriteByte('\\')
			b.WriteByte(p.s[p.i+1])
			p.i += 2
			continue
		}
		b.WriteByte(p.s[p.i])
		p.i++
	}
	if p.i >= len(p.s) {
		return nil, errors.New("unclosed (")
	}
	p.i++
	parts := strings.SplitN(b.String(), ":", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("criterion %q is not field:operator:value", b.String())
	}
	p.n++
	var vals []string
	var cur strings.Builder
	raw := parts[2]
	for i := 0; i < len(raw); i++ {
		switch {
		case raw[i] == '\\' && i+1 < len(raw):
			cur.WriteByte(raw[i+1])
			i++
		case raw[i] == ',':
			vals = append(vals, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(raw[i])
		}
	}
	vals = append(vals, cur.String())
	op := strings.ToLower(parts[1])
	switch op {
	case "equals", "not_equal", "starts_with", "greater_than", "greater_equal", "less_than", "less_equal", "between", "in":
	default:
		return nil, fmt.Errorf("unknown operator %q", parts[1])
	}
	if op != "in" && op != "between" {
		vals = []string{strings.Join(vals, ",")}
	}
	return &cond{op: op, field: parts[0], values: vals}, nil
}

// searchLocked is GET /{module}/search (§A3.9, §C1 endpoint 8).
func (o *org) searchLocked(c *call) (int, any, *apiError) {
	q := c.r.URL.Query()
	m := c.module
	var crit *cond
	switch {
	case q.Get("criteria") != "":
		cr, n, err := parseCriteria(q.Get("criteria"))
		if err != nil {
			return 0, nil, paramErr("INVALID_QUERY", "invalid query formed", map[string]any{"reason": err.Error()})
		}
		if n > 10 {
			return 0, nil, paramErr("LIMIT_EXCEEDED", "the number of criteria exceeds the limit", map[string]any{"limit": 10})
		}
		crit = cr
	case q.Get("email") != "":
		// email= searches the module's email fields.
		var c2 *cond
		for _, f := range m.fields {
			if f.typ == "email" {
				n := &cond{op: "equals", field: f.api, values: []string{q.Get("email")}}
				if c2 == nil {
					c2 = n
				} else {
					c2 = &cond{op: "or", left: c2, right: n}
				}
			}
		}
		if c2 == nil {
			return http.StatusNoContent, nil, nil
		}
		crit = c2
	case q.Get("phone") != "":
		var c2 *cond
		for _, f := range m.fields {
			if f.typ == "phone" {
				n := &cond{op: "equals", field: f.api, values: []string{q.Get("phone")}}
				if c2 == nil {
					c2 = n
				} else {
					c2 = &cond{op: "or", left: c2, right: n}
				}
			}
		}
		if c2 == nil {
			return http.StatusNoContent, nil, nil
		}
		crit = c2
	case q.Get("word") != "":
		crit = &cond{op: "word", values: []string{q.Get("word")}}
	default:
		return 0, nil, paramErr("REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", map[string]any{"param_name": "criteria"})
	}
	perPage, page := 200, 1
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return 0, nil, paramErr("INVALID_DATA", "invalid data", map[string]any{"param_name": "per_page"})
		}
		perPage = n
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, nil, paramErr("INVALID_DATA", "invalid data", map[string]any{"param_name": "page"})
		}
		page = n
	}
	if page*perPage > 2000 {
		// At most 2000 results in total (§A3.9).
		return 0, nil, paramErr("LIMIT_REACHED", "search results are limited to 2000 records", map[string]any{"limit": 2000})
	}
	lagCut := o.s.now().Add(-o.s.opts.SearchIndexLag)
	var hits []*record
	for _, r := range o.sortedRecordsLocked(m, "id", false) {
		if o.s.opts.SearchIndexLag > 0 && r.modified.After(lagCut) {
			continue // not indexed yet (§A3.9 index lag)
		}
		ok, err := o.evalLocked(m, r, crit, true)
		if err != nil {
			return 0, nil, paramErr("INVALID_QUERY", "invalid query formed", map[string]any{"reason": err.Error()})
		}
		if ok {
			hits = append(hits, r)
		}
	}
	off := (page - 1) * perPage
	if off >= len(hits) {
		return http.StatusNoContent, nil, nil
	}
	end := min(off+perPage, len(hits))
	var data []any
	var fields []string
	if v := q.Get("fields"); v != "" {
		fields = splitIDs(v)
	}
	for _, r := range hits[off:end] {
		data = append(data, o.renderLocked(m, r, fields))
	}
	return 200, map[string]any{"data": data, "info": map[string]any{"per_page": perPage, "count": len(data), "page": page, "more_records": end < len(hits)}}, nil
}

// evalLocked evaluates a condition on a record. search selects /search
// semantics, where equals on text is a case-insensitive contains (§A3.9).
func (o *org) evalLocked(m *moduleDef, r *record, c *cond, search bool) (bool, error) {
	switch c.op {
	case "and", "or":
		l, err := o.evalLocked(m, r, c.left, search)
		if err != nil {
			return false, err
		}
		if c.op == "and" && !l {
			return false, nil
		}
		if c.op == "or" && l {
			return true, nil
		}
		return o.evalLocked(m, r, c.right, search)
	case "word":
		w := strings.ToLower(c.values[0])
		for _, v := range r.values {
			if s, ok := v.(string); ok && strings.Contains(strings.ToLower(s), w) {
				return true, nil
			}
		}
		return false, nil
	}
	var val any
	var typ string
	switch c.field {
	case "id":
		val, typ = r.id, "id"
	case "Created_Time":
		val, typ = r.created, "datetime"
	case "Modified_Time":
		val, typ = r.modified, "datetime"
	default:
		f := m.field(c.field)
		if f == nil {
			return false, fmt.Errorf("unknown field %q", c.field)
		}
		val, typ = r.values[f.api], f.typ
		if mv, ok := val.(map[string]any); ok {
			val = mv["id"]
		}
	}
	if c.null {
		isNull := val == nil || val == ""
		if c.op == "is not null" || c.op == "!=" {
			return !isNull, nil
		}
		return isNull, nil
	}
	if val == nil {
		return c.op == "not_equal" || c.op == "!=" || c.op == "not in" || c.op == "not like" || c.op == "not between", nil
	}
	cmp := func(lit string) (int, bool) { return compareValue(val, typ, lit) }
	any := func() bool {
		for _, v := range c.values {
			if n, ok := cmp(v); ok && n == 0 {
				return true
			}
		}
		return false
	}
	switch c.op {
	case "equals", "=":
		if s, ok := val.(string); ok && search && typ != "id" && typ != "picklist" && typ != "date" {
			return strings.Contains(strings.ToLower(s), strings.ToLower(c.values[0])), nil
		}
		return any(), nil
	case "not_equal", "!=":
		return !any(), nil
	case "in":
		return any(), nil
	case "not in":
		return !any(), nil
	case "starts_with":
		s, ok := val.(string)
		return ok && strings.HasPrefix(strings.ToLower(s), strings.ToLower(c.values[0])), nil
	case "like", "not like":
		s, ok := val.(string)
		pat := "(?is)^" + strings.ReplaceAll(regexp.QuoteMeta(c.values[0]), "%", ".*") + "$"
		re, err := regexp.Compile(pat)
		if err != nil {
			return false, err
		}
		res := ok && re.MatchString(s)
		if c.op == "not like" {
			return !res, nil
		}
		return res, nil
	case "greater_than", ">", "greater_equal", ">=", "less_than", "<", "less_equal", "<=":
		n, ok := cmp(c.values[0])
		if !ok {
			return false, fmt.Errorf("value %q cannot be compared with field %s", c.values[0], c.field)
		}
		switch c.op {
		case "greater_than", ">":
			return n > 0, nil
		case "greater_equal", ">=":
			return n >= 0, nil
		case "less_than", "<":
			return n < 0, nil
		}
		return n <= 0, nil
	case "between", "not between":
		if len(c.values) != 2 {
			return false, errors.New("between needs two values")
		}
		a, ok1 := cmp(c.values[0])
		b, ok2 := cmp(c.values[1])
		res := ok1 && ok2 && a >= 0 && b <= 0
		if c.op == "not between" {
			return !res, nil
		}
		return res, nil
	}
	return false, fmt.Errorf("unknown operator %q", c.op)
}

// compareValue compares a stored value with a literal: -1, 0 or 1.
func compareValue(v any, typ, lit string) (int, bool) {
	switch x := v.(type) {
	case time.Time:
		t, err := time.Parse("2006-01-02T15:04:05-07:00", lit)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, lit); err != nil {
				return 0, false
			}
		}
		return x.Compare(t), true
	case int64:
		n, err := strconv.ParseFloat(lit, 64)
		if err != nil {
			return 0, false
		}
		return cmpFloat(float64(x), n), true
	case float64:
		n, err := strconv.ParseFloat(lit, 64)
		if err != nil {
			return 0, false
		}
		return cmpFloat(x, n), true
	case bool:
		b, err := strconv.ParseBool(lit)
		if err != nil {
			return 0, false
		}
		if x == b {
			return 0, true
		}
		return 1, true
	case string:
		if typ == "id" || typ == "date" {
			return strings.Compare(x, lit), true
		}
		return strings.Compare(strings.ToLower(x), strings.ToLower(lit)), true
	}
	return 0, false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ---- COQL (§A3.10) ----

type coqlQuery struct {
	fields []string
	module string
	where  *cond
	order  []orderTerm
	limit  int
	offset int
}

type orderTerm struct {
	field string
	desc  bool
}

var coqlTokenRe = regexp.MustCompile(`\s*(?:('(?:[^'\\]|\\.)*')|(!=|>=|<=|=|>|<|\(|\)|,)|([A-Za-z0-9_$.:+\-]+))`)

type coqlParser struct {
	toks []string
	i    int
}

func (p *coqlParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *coqlParser) next() string { t := p.peek(); p.i++; return t }

func (p *coqlParser) kw(w string) bool {
	if strings.EqualFold(p.peek(), w) {
		p.i++
		return true
	}
	return false
}

var errNoWhere = errors.New("The query does not contain either proper criteria, base table, or the where clause")

// parseCOQL parses select f1, f2 from M where … [order by …] [limit …].
func parseCOQL(q string) (*coqlQuery, error) {
	var toks []string
	rest := strings.TrimSpace(q)
	for rest != "" {
		m := coqlTokenRe.FindStringSubmatchIndex(rest)
		if m == nil || m[0] != 0 {
			return nil, fmt.Errorf("cannot read %q", rest)
		}
		toks = append(toks, strings.TrimSpace(rest[m[0]:m[1]]))
		rest = strings.TrimSpace(rest[m[1]:])
	}
	p := &coqlParser{toks: toks}
	if !p.kw("select") {
		return nil, errors.New("only SELECT queries are allowed")
	}
	cq := &coqlQuery{}
	for {
		f := p.next()
		if f == "" || strings.EqualFold(f, "from") {
			return nil, errors.New("missing field list")
		}
		cq.fields = append(cq.fields, f)
		if p.peek() != "," {
			break
		}
		p.next()
	}
	if !p.kw("from") {
		return nil, errors.New("missing FROM")
	}
	cq.module = p.next()
	if cq.module == "" {
		return nil, errNoWhere
	}
	if !p.kw("where") {
		// A WHERE clause is mandatory (§A3.10).
		return nil, errNoWhere
	}
	w, err := p.orExpr()
	if err != nil {
		return nil, err
	}
	cq.where = w
	if p.kw("order") {
		if !p.kw("by") {
			return nil, errors.New("ORDER without BY")
		}
		for {
			t := orderTerm{field: p.next()}
			if p.kw("desc") {
				t.desc = true
			} else {
				p.kw("asc")
			}
			cq.order = append(cq.order, t)
			if p.peek() != "," {
				break
			}
			p.next()
		}
	}
	if p.kw("limit") {
		a, err := strconv.Atoi(p.next())
		if err != nil {
			return nil, errors.New("LIMIT needs a number")
		}
		cq.limit = a
		if p.peek() == "," { // limit offset, count
			p.next()
			b, err := strconv.Atoi(p.next())
			if err != nil {
				return nil, errors.New("LIMIT needs a number")
			}
			cq.offset, cq.limit = a, b
		} else if p.kw("offset") {
			b, err := strconv.Atoi(p.next())
			if err != nil {
				return nil, errors.New("OFFSET needs a number")
			}
			cq.offset = b
		}
	}
	if p.i != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.peek())
	}
	return cq, nil
}

func (p *coqlParser) orExpr() (*cond, error) {
	l, err := p.andExpr()
	if err != nil {
		return nil, err
	}
	for p.kw("or") {
		r, err := p.andExpr()
		if err != nil {
			return nil, err
		}
		l = &cond{op: "or", left: l, right: r}
	}
	return l, nil
}

func (p *coqlParser) andExpr() (*cond, error) {
	l, err := p.term()
	if err != nil {
		return nil, err
	}
	for p.kw("and") {
		r, err := p.term()
		if err != nil {
			return nil, err
		}
		l = &cond{op: "and", left: l, right: r}
	}
	return l, nil
}

func unquote(t string) string {
	if len(t) >= 2 && t[0] == '\'' {
		return strings.ReplaceAll(strings.ReplaceAll(t[1:len(t)-1], `\'`, `'`), `\\`, `\`)
	}
	return t
}

func (p *coqlParser) term() (*cond, error) {
	if p.peek() == "(" {
		p.next()
		c, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, errors.New("missing )")
		}
		return c, nil
	}
	field := p.next()
	if field == "" {
		return nil, errNoWhere
	}
	c := &cond{field: field}
	switch op := strings.ToLower(p.next()); op {
	case "=", "!=", ">", ">=", "<", "<=":
		c.op = op
		v := p.next()
		if strings.EqualFold(v, "null") {
			c.null = true
		}
		c.values = []string{unquote(v)}
	case "like":
		c.op = "like"
		c.values = []string{unquote(p.next())}
	case "is":
		c.op = "is null"
		if p.kw("not") {
			c.op = "is not null"
		}
		if !p.kw("null") {
			return nil, errors.New("IS needs NULL")
		}
		c.null = true
	case "in":
		c.op = "in"
		if err := p.list(c); err != nil {
			return nil, err
		}
	case "between":
		c.op = "between"
		a := unquote(p.next())
		if !p.kw("and") {
			return nil, errors.New("BETWEEN needs AND")
		}
		c.values = []string{a, unquote(p.next())}
	case "not":
		switch {
		case p.kw("in"):
			c.op = "not in"
			if err := p.list(c); err != nil {
				return nil, err
			}
		case p.kw("like"):
			c.op = "not like"
			c.values = []string{unquote(p.next())}
		case p.kw("between"):
			c.op = "not between"
			a := unquote(p.next())
			if !p.kw("and") {
				return nil, errors.New("BETWEEN needs AND")
			}
			c.values = []string{a, unquote(p.next())}
		default:
			return nil, fmt.Errorf("unknown comparator NOT %s", p.peek())
		}
	default:
		return nil, fmt.Errorf("unknown comparator %q", op)
	}
	return c, nil
}

func (p *coqlParser) list(c *cond) error {
	if p.next() != "(" {
		return errors.New("IN needs a list")
	}
	for {
		c.values = append(c.values, unquote(p.next()))
		t := p.next()
		if t == ")" {
			break
		}
		if t != "," {
			return errors.New("bad IN list")
		}
	}
	// ≤50 values for in / not in (§A3.10 limits).
	if len(c.values) > 50 {
		return errLimit
	}
	return nil
}

var errLimit = errors.New("limit exceeded")

// coqlLocked is POST /coql (§A3.10, §C1 endpoint 9).
func (o *org) coqlLocked(c *call) (int, any, *apiError) {
	q, _ := c.body["select_query"].(string)
	cq, err := parseCOQL(q)
	if errors.Is(err, errLimit) {
		return 0, nil, paramErr("LIMIT_EXCEEDED", "limit exceeded", map[string]any{})
	}
	if err != nil {
		return 0, nil, paramErr("SYNTAX_ERROR", err.Error(), map[string]any{})
	}
	m := o.module(cq.module)
	if m == nil {
		return 0, nil, paramErr("INVALID_QUERY", "invalid query formed", map[string]any{"reason": "invalid module", "column_name": cq.module})
	}
	limit := cq.limit
	if limit == 0 {
		limit = 200
	}
	// v8: ≤50 fields, ≤2000 rows per call, ≤100,000 through OFFSET (§A1, §A3.10).
	if len(cq.fields) > 50 || limit > 2000 || cq.offset+limit > 100000 || len(cq.order) > 10 {
		return 0, nil, paramErr("LIMIT_EXCEEDED", "limit exceeded", map[string]any{})
	}
	for _, f := range append(append([]string{}, cq.fields...), fieldsOf(cq.where)...) {
		if f != "id" && m.field(f) == nil {
			return 0, nil, paramErr("INVALID_QUERY", "invalid query formed", map[string]any{"column_name": f, "reason": "column given seems to be invalid"})
		}
	}
	var hits []*record
	for _, r := range o.sortedRecordsLocked(m, "id", false) {
		ok, err := o.evalLocked(m, r, cq.where, false)
		if err != nil {
			return 0, nil, paramErr("INVALID_QUERY", "invalid query formed", map[string]any{"reason": err.Error()})
		}
		if ok {
			hits = append(hits, r)
		}
	}
	if len(cq.order) > 0 {
		sort.SliceStable(hits, func(i, j int) bool {
			for _, t := range cq.order {
				a := o.renderLocked(m, hits[i], []string{t.field})[t.field]
				b := o.renderLocked(m, hits[j], []string{t.field})[t.field]
				if t.field == "id" {
					a, b = hits[i].id, hits[j].id
				}
				as, bs := fmt.Sprint(a), fmt.Sprint(b)
				if as == bs {
					continue
				}
				if t.desc {
					return as > bs
				}
				return as < bs
			}
			return false
		})
	}
	if cq.offset >= len(hits) {
		return http.StatusNoContent, nil, nil
	}
	end := min(cq.offset+limit, len(hits))
	var data []any
	for _, r := range hits[cq.offset:end] {
		data = append(data, o.renderLocked(m, r, cq.fields))
	}
	return 200, map[string]any{"data": data, "info": map[string]any{"count": len(data), "more_records": end < len(hits)}}, nil
}

func fieldsOf(c *cond) []string {
	if c == nil {
		return nil
	}
	if c.op == "and" || c.op == "or" {
		return append(fieldsOf(c.left), fieldsOf(c.right)...)
	}
	return []string{c.field}
}
