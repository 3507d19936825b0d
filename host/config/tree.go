package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/syncplane/syncplane/transforms"
)

// Bounds on what a pipeline file may expand to, so that a hostile or broken
// file (alias bombs, deep nesting) is an error rather than a hang.
const (
	maxDepth = 64
	maxNodes = 200_000
)

type kind int

const (
	kindNull kind = iota
	kindScalar
	kindMap
	kindSeq
)

// node is a YAML value with its position, the form the loader works on:
// values plus where each came from, so that every error names its line.
type node struct {
	kind   kind
	pos    transforms.Position // of the value
	keyPos transforms.Position // of the key, when the value is a mapping entry
	val    any                 // scalars: string, int64, float64, bool
	text   string              // scalars: the literal as written
	quoted bool                // string scalar written in quotes
	block  bool                // string scalar written as a block (| or >)
	keys   []string            // mappings: keys in file order
	fields map[string]*node
	items  []*node
}

func (n *node) get(key string) *node {
	if n == nil || n.kind != kindMap {
		return nil
	}
	return n.fields[key]
}

// str returns the string value of a scalar, or "".
func (n *node) str() string {
	if n == nil {
		return ""
	}
	if s, ok := n.val.(string); ok {
		return s
	}
	return n.text
}

// exprPos is the position of the first character of a scalar's text.
func (n *node) exprPos() transforms.Position {
	if n == nil || n.block {
		return transforms.Position{}
	}
	p := n.pos
	if n.quoted && p.Column > 0 {
		p.Column++
	}
	return p
}

type treeBuilder struct {
	file    string
	anchors map[string]*node
	count   int
	errs    Errors
}

func (b *treeBuilder) pos(tk *token.Token) transforms.Position {
	if tk == nil || tk.Position == nil {
		return transforms.Position{File: b.file}
	}
	return transforms.Position{File: b.file, Line: tk.Position.Line, Column: tk.Position.Column}
}

func (b *treeBuilder) errorf(p transforms.Position, path, format string, args ...any) {
	b.errs = append(b.errs, Error{Pos: p, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// parseTree parses YAML into a node tree. Syntax errors and unsupported
// constructs come back as Errors with positions.
func parseTree(file string, data []byte) (root *node, errs Errors) {
	defer func() {
		// The YAML parser is third-party code fed with user input; whatever
		// it does, a broken file must be an error, not a crash.
		if r := recover(); r != nil {
			root, errs = nil, Errors{{Pos: transforms.Position{File: file}, Msg: fmt.Sprintf("cannot parse YAML: %v", r)}}
		}
	}()
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		var se *yaml.SyntaxError
		if errors.As(err, &se) {
			b := &treeBuilder{file: file}
			msg := se.Message
			return nil, Errors{{Pos: b.pos(se.Token), Msg: "YAML syntax error: " + msg}}
		}
		return nil, Errors{{Pos: transforms.Position{File: file}, Msg: fmt.Sprintf("YAML syntax error: %v", err)}}
	}
	var docs []*ast.DocumentNode
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return nil, Errors{{Pos: transforms.Position{File: file, Line: 1, Column: 1}, Msg: "the file is empty"}}
	}
	b := &treeBuilder{file: file, anchors: map[string]*node{}}
	if len(docs) > 1 {
		b.errorf(b.pos(docs[1].GetToken()), "", "a pipeline file holds one YAML document; found %d", len(docs))
	}
	root = b.build(docs[0].Body, "", 0)
	if len(b.errs) > 0 {
		return nil, b.errs
	}
	if root == nil || root.kind != kindMap {
		p := transforms.Position{File: file, Line: 1, Column: 1}
		if root != nil {
			p = root.pos
		}
		return nil, Errors{{Pos: p, Msg: "the file must be a mapping with connections and pipelines"}}
	}
	return root, nil
}

func (b *treeBuilder) build(n ast.Node, path string, depth int) *node {
	if n == nil {
		return &node{kind: kindNull}
	}
	b.count++
	if depth > maxDepth {
		b.errorf(b.pos(n.GetToken()), path, "nested too deeply (more than %d levels)", maxDepth)
		return nil
	}
	if b.count > maxNodes {
		if b.count == maxNodes+1 {
			b.errorf(b.pos(n.GetToken()), path, "the file expands to more than %d values (alias loop?)", maxNodes)
		}
		return nil
	}
	p := b.pos(n.GetToken())
	switch x := n.(type) {
	case *ast.NullNode:
		return &node{kind: kindNull, pos: p, text: "null"}
	case *ast.StringNode:
		q := x.Token != nil && (x.Token.Type == token.SingleQuoteType || x.Token.Type == token.DoubleQuoteType)
		return &node{kind: kindScalar, pos: p, val: x.Value, text: x.Value, quoted: q}
	case *ast.LiteralNode:
		s := ""
		if x.Value != nil {
			s = x.Value.Value
		}
		return &node{kind: kindScalar, pos: p, val: s, text: s, block: true}
	case *ast.IntegerNode:
		text := ""
		if x.Token != nil {
			text = x.Token.Value
		}
		switch v := x.Value.(type) {
		case int64:
			return &node{kind: kindScalar, pos: p, val: v, text: text}
		case uint64:
			if v <= math.MaxInt64 {
				return &node{kind: kindScalar, pos: p, val: int64(v), text: text}
			}
		}
		b.errorf(p, path, "integer %s is out of range", text)
		return nil
	case *ast.FloatNode:
		text := ""
		if x.Token != nil {
			text = x.Token.Value
		}
		return &node{kind: kindScalar, pos: p, val: x.Value, text: text}
	case *ast.BoolNode:
		return &node{kind: kindScalar, pos: p, val: x.Value, text: strconv.FormatBool(x.Value)}
	case *ast.InfinityNode, *ast.NanNode:
		b.errorf(p, path, "infinity and NaN are not allowed")
		return nil
	case *ast.TagNode:
		v := b.build(x.Value, path, depth+1)
		if v != nil && x.Start != nil && x.Start.Value == "!!str" && v.kind == kindScalar {
			v.val = v.text
		}
		return v
	case *ast.AnchorNode:
		v := b.build(x.Value, path, depth+1)
		if name := anchorName(x.Name); name != "" && v != nil {
			b.anchors[name] = v
		}
		return v
	case *ast.AliasNode:
		name := anchorName(x.Value)
		v, ok := b.anchors[name]
		if !ok {
			b.errorf(p, path, "unknown alias *%s", name)
			return nil
		}
		b.count += countNodes(v)
		if b.count > maxNodes {
			b.errorf(p, path, "the file expands to more than %d values (alias bomb?)", maxNodes)
			return nil
		}
		return v
	case *ast.MappingNode:
		m := &node{kind: kindMap, pos: p, fields: map[string]*node{}}
		if !x.IsFlowStyle && len(x.Values) > 0 && x.Values[0] != nil && x.Values[0].Key != nil {
			// A block mapping starts at its first key.
			m.pos = b.pos(x.Values[0].Key.GetToken())
		}
		for _, mv := range x.Values {
			b.entry(m, mv, path, depth)
		}
		return m
	case *ast.MappingValueNode:
		m := &node{kind: kindMap, pos: p, fields: map[string]*node{}}
		b.entry(m, x, path, depth)
		return m
	case *ast.SequenceNode:
		s := &node{kind: kindSeq, pos: p}
		for i, item := range x.Values {
			if item == nil {
				continue
			}
			s.items = append(s.items, b.build(item, fmt.Sprintf("%s[%d]", path, i), depth+1))
		}
		return s
	case *ast.CommentNode, *ast.CommentGroupNode:
		return &node{kind: kindNull, pos: p}
	}
	b.errorf(p, path, "unsupported YAML construct (%s)", n.Type())
	return nil
}

func (b *treeBuilder) entry(m *node, mv *ast.MappingValueNode, path string, depth int) {
	if mv == nil {
		return
	}
	var keyNode ast.Node = mv.Key
	if mk, ok := keyNode.(*ast.MappingKeyNode); ok {
		keyNode = mk.Value
	}
	kp := b.pos(mv.Key.GetToken())
	if _, ok := keyNode.(*ast.MergeKeyNode); ok {
		b.errorf(kp, path, "merge keys (<<) are not supported; write the values out")
		return
	}
	var key string
	switch k := keyNode.(type) {
	case *ast.StringNode:
		key = k.Value
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		key = k.GetToken().Value
	case *ast.NullNode:
		key = "null"
	default:
		b.errorf(kp, path, "a mapping key must be a plain name")
		return
	}
	child := joinPath(path, key)
	if _, dup := m.fields[key]; dup {
		b.errorf(kp, child, "key %q is defined twice in this mapping", key)
		return
	}
	v := b.build(mv.Value, child, depth+1)
	if v == nil {
		return
	}
	// Alias targets are shared; keep the key position on a copy.
	cp := *v
	cp.keyPos = kp
	if cp.pos.Line == 0 {
		cp.pos = kp
	}
	m.keys = append(m.keys, key)
	m.fields[key] = &cp
}

func anchorName(n ast.Node) string {
	if n == nil {
		return ""
	}
	if s, ok := n.(*ast.StringNode); ok {
		return s.Value
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}
	return ""
}

func countNodes(n *node) int {
	if n == nil {
		return 0
	}
	c := 1
	for _, k := range n.keys {
		c += countNodes(n.fields[k])
		if c > maxNodes {
			return c
		}
	}
	for _, it := range n.items {
		c += countNodes(it)
		if c > maxNodes {
			return c
		}
	}
	return c
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// generic renders the tree as the JSON data model (numbers as json.Number)
// for JSON Schema validation.
func (n *node) generic() any {
	if n == nil {
		return nil
	}
	switch n.kind {
	case kindMap:
		m := make(map[string]any, len(n.keys))
		for _, k := range n.keys {
			m[k] = n.fields[k].generic()
		}
		return m
	case kindSeq:
		s := make([]any, len(n.items))
		for i, it := range n.items {
			s[i] = it.generic()
		}
		return s
	case kindScalar:
		switch v := n.val.(type) {
		case int64:
			return json.Number(strconv.FormatInt(v, 10))
		case float64:
			return json.Number(strconv.FormatFloat(v, 'g', -1, 64))
		}
		return n.val
	}
	return nil
}

// lookup finds the node at a JSON Schema instance location.
func (n *node) lookup(loc []string) *node {
	cur := n
	for _, seg := range loc {
		if cur == nil {
			return nil
		}
		switch cur.kind {
		case kindMap:
			cur = cur.fields[seg]
		case kindSeq:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(cur.items) {
				return nil
			}
			cur = cur.items[i]
		default:
			return nil
		}
	}
	return cur
}

// displayPath renders an instance location as pipelines[0].from.entity.
func displayPath(loc []string, root *node) string {
	var b strings.Builder
	cur := root
	for _, seg := range loc {
		if cur != nil && cur.kind == kindSeq {
			fmt.Fprintf(&b, "[%s]", seg)
			cur = cur.lookup([]string{seg})
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
		cur = cur.lookup([]string{seg})
	}
	return b.String()
}
