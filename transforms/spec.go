// Package transforms turns source records into target records according to
// a pipeline's mapping: per target field an expression (expr-lang/expr) over
// the source record, with optional value maps, time-zone conversion, ID-map
// lookups and "query data" steps, plus a filter that skips records.
//
// # Expressions
//
// Expressions are expr-lang/expr (https://expr-lang.org) over the source
// record. A name is a top-level field (subject, isCancelled); `id` and `user`
// are the record's ID and partition (mailbox) unless the record has fields of
// those names. Paths are nil-safe: start.dateTime on a record without start,
// or attendees[0] on an empty list, yield nil instead of failing, so `??`
// supplies fallbacks (subject ?? "(no subject)"). A bare name that is also
// an expr builtin (type, values) means the field. Besides expr's builtins
// (lower, split, len, filter, ...) a mapping may call:
//
//	lookup(pipeline, id)        the target id the ID map holds for a source id of a pipeline, or nil
//	tz(value, from, to)         a date-time converted between zones (as TZSpec)
//	windowsZone(name)           the Windows zone name of an IANA zone
//	ianaZone(name)              the IANA zone name of a Windows zone
//
// Each expression is bounded by Limits: syntax-tree nodes at Compile, memory
// at every evaluation.
//
// A mapping is compiled once per pipeline (Compile) and applied to every
// record (Mapping.Apply). When the source and target entity schemas are
// known, Compile checks field names and types so that mistakes are reported
// when the pipeline file is validated, not when a record arrives. A failure
// while applying a mapping is a *FieldError naming the target field; Apply
// never panics.
package transforms

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// Position is a place in a pipeline file. The zero Position means "unknown".
type Position struct {
	File   string
	Line   int
	Column int
}

// String renders the position as "file:line:col", leaving out what is
// unknown.
func (p Position) String() string {
	switch {
	case p.Line == 0 && p.File == "":
		return ""
	case p.Line == 0:
		return p.File
	case p.Column == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// IsZero reports whether the position is unknown.
func (p Position) IsZero() bool { return p == Position{} }

// Spec is a mapping as written in a pipeline file.
type Spec struct {
	// Fields are the target fields, in file order.
	Fields []FieldSpec
	// Filter is an expression over the source record; a record for which it
	// is false is skipped. Empty keeps every record.
	Filter    string
	FilterPos Position
	// MappingPos is where the mapping starts, for errors about the mapping
	// as a whole (a required target field it does not set).
	MappingPos Position
}

// FieldSpec produces one target field. The value is computed in this order:
// Query (when set) or Expr; then TZ conversion; then the value map; then the
// default when the value is nil or not in the map.
type FieldSpec struct {
	// Target is the target field name; a dotted name ("address.city")
	// builds nested maps in the output record.
	Target string
	// Expr is an expression over the source record's fields, where `id` and
	// `user` stand for the record's ID and partition unless the record has
	// fields of those names. Empty with a Query.
	Expr string
	// Map translates values (picklists): the computed value, rendered as a
	// string, is looked up among the keys. An unmapped value takes Default
	// when HasDefault, and is otherwise an error.
	Map map[string]any
	// MapPos holds where each value of Map is written, when known, so that
	// an error about a mapped value points at it.
	MapPos map[string]Position
	// Default replaces a nil or unmapped value when HasDefault is set.
	Default    any
	HasDefault bool
	DefaultPos Position
	// TZ converts a date-time between time zones.
	TZ *TZSpec
	// Query looks a record up in a connection (the "query data" step).
	Query *QuerySpec
	// Pos is where the field is defined (its name).
	Pos Position
	// ExprPos is where the text of Expr starts, when known; errors inside a
	// one-line expression point at the column of the offending name.
	ExprPos Position
}

// TZSpec converts the field's value from one time zone to another. From and
// To are each either a zone name (IANA such as "Europe/Berlin", or Windows
// such as "W. Europe Standard Time") or an expression over the source record
// yielding one ("start.timeZone"). A value with a UTC offset or a timestamp
// value already names an instant and From is ignored for it; a wall-clock
// value ("2024-03-31T10:00:00") is read in the From zone. The result is a
// timestamp in the To zone.
type TZSpec struct {
	From string
	To   string
	// FromPos and ToPos are where From and To are written, when known.
	FromPos, ToPos Position
}

// QuerySpec asks a connection for one record whose fields equal the values of
// the Match expressions and yields its Field ("id" yields the record ID
// unless the record has a field named id). No match yields nil; more than
// one match is an error.
type QuerySpec struct {
	Connection string
	Entity     string
	// Match maps a field of the queried entity to an expression over the
	// source record.
	Match map[string]string
	Field string
	// MatchPos holds where each Match expression is written, when known.
	MatchPos map[string]Position
}

// Limits bound what one expression may cost.
type Limits struct {
	// MaxNodes is the largest number of syntax-tree nodes an expression may
	// have; 0 means DefaultMaxNodes.
	MaxNodes uint
	// MemoryBudget bounds the allocations of one evaluation, in expr's units
	// (roughly one per element of a list or map created); 0 means
	// DefaultMemoryBudget. An evaluation over budget fails with a FieldError.
	MemoryBudget uint
}

// Default limits. A mapping expression is a line or two; these leave room
// for generous ones while stopping runaway input.
const (
	DefaultMaxNodes     uint = 1000
	DefaultMemoryBudget uint = 100_000
)

func (l Limits) withDefaults() Limits {
	if l.MaxNodes == 0 {
		l.MaxNodes = DefaultMaxNodes
	}
	if l.MemoryBudget == 0 {
		l.MemoryBudget = DefaultMemoryBudget
	}
	return l
}

// Env is what a mapping may rely on.
type Env struct {
	// Source and Target, when set, are the entities the mapping reads and
	// writes; Compile then checks every field path and the types it can.
	Source, Target *schema.Entity
	// QuerySchema, when set, returns the entity a query step asks for, so
	// that Compile can check its match fields and result field. It returns
	// nil when the connection or entity is unknown; Compile then reports
	// nothing for that step (the config validator reports the names).
	QuerySchema func(connection, entity string) *schema.Entity
	// Pipelines, when non-nil, are the names lookup may refer to; a constant
	// pipeline name not among them is a compile error.
	Pipelines []string
	// Lookup answers lookup(pipeline, id): the target id the ID map holds for
	// a source id of another pipeline. Without it, lookup compiles but fails
	// at run time (validation compiles mappings without an ID map).
	Lookup func(ctx context.Context, pipeline, sourceID string) (targetID string, found bool, err error)
	// Query runs query steps. Without it, a query step compiles but fails at
	// run time.
	Query func(ctx context.Context, connection string, req connector.QueryRequest) ([]connector.Record, error)
	// Limits bound each expression; zero fields take the defaults.
	Limits Limits
}

// Error is one problem found by Compile.
type Error struct {
	Pos Position
	// Field is the target field ("" for the filter and for the mapping as a
	// whole).
	Field string
	// Whole is set for a problem of the mapping as a whole rather than of
	// the filter or one field.
	Whole bool
	Msg   string
	// Suggestion is the nearest valid name when a name was misspelt.
	Suggestion string
}

// Error renders "pos: field: msg (did you mean X?)".
func (e Error) Error() string {
	var b strings.Builder
	if s := e.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Suggestion != "" {
		fmt.Fprintf(&b, " (did you mean %s?)", e.Suggestion)
	}
	return b.String()
}

// Errors is every problem Compile found, in field order.
type Errors []Error

// Error renders one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// FieldError is a failure mapping one record: which target field, where it
// is defined, and why. The runner turns it into a rejected record.
type FieldError struct {
	Pos   Position
	Field string
	Err   error
}

// Error renders "pos: mapping field F: err".
func (e *FieldError) Error() string {
	field := e.Field
	if field == "" {
		field = "filter"
	} else {
		field = "mapping field " + field
	}
	if s := e.Pos.String(); s != "" {
		return fmt.Sprintf("%s: %s: %v", s, field, e.Err)
	}
	return fmt.Sprintf("%s: %v", field, e.Err)
}

// Unwrap returns the cause.
func (e *FieldError) Unwrap() error { return e.Err }

// ErrUnmapped is the cause of a FieldError for a value the value map does
// not hold when the field has no default.
var ErrUnmapped = errors.New("value not in value map and no default")
