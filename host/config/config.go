// Package config reads and checks syncplane pipeline files.
//
// A pipeline file is YAML: connections (a connector and its settings) and
// pipelines (from one connection's entity to another's, with a mapping).
// Load parses it, validates it against the file's JSON Schema (embedded in
// this package, see SchemaJSON), resolves ${env:NAME} and ${file:PATH}
// secrets and decodes it. File.Validate then checks it against what the
// connectors say: their settings schemas and their discovered entities.
//
// Secrets: a settings string (or the state URL) may contain ${env:NAME}
// (an environment variable) and ${file:PATH} (a file's content without its
// final newline; PATH relative to the pipeline file's directory); "$${"
// writes a literal "${". Resolved values are listed in Connection.Secrets and
// are never shown in errors, including errors from the connectors' settings
// schemas.
//
// Every problem is an Error naming FILE:LINE:COLUMN and, for a misspelt
// name, the nearest valid one.
package config

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/syncplane/syncplane/schema"
	"github.com/syncplane/syncplane/transforms"
)

// File is a loaded pipeline file.
type File struct {
	// Path is the file as given to Load.
	Path string
	// State is where state lives: a SQLite file path (absolute, or relative
	// to the working directory) or a URL such as postgres://…. It may hold a
	// resolved secret (a database password): never log it.
	State       string
	Connections []Connection // in file order
	Pipelines   []Pipeline   // in file order

	root *node
}

// Connection is a configured connector instance.
type Connection struct {
	Name      string
	Connector string
	// Settings is the settings object as JSON with secrets resolved. Never
	// log it; redact the Secrets pointers first (see RedactedSettings).
	Settings json.RawMessage
	// Secrets are the JSON pointers (RFC 6901) of settings whose values came
	// from ${env:…} or ${file:…}.
	Secrets []string
	Pos     transforms.Position

	node *node // the settings mapping, for positions
}

// Endpoint is one side of a pipeline.
type Endpoint struct {
	Connection string
	Entity     string
	Pos        transforms.Position

	connPos, entityPos transforms.Position
}

// OnDelete says what a pipeline does in the target when a source record is
// deleted.
type OnDelete struct {
	// Kind is "delete", "ignore" or "mark".
	Kind string
	// Field is the target field set to true by "mark:FIELD".
	Field string
}

// String renders the policy as written in the file.
func (o OnDelete) String() string {
	if o.Kind == "mark" {
		return "mark:" + o.Field
	}
	return o.Kind
}

// Pipeline moves one entity from one connection to another, or, in
// two-way mode, keeps the two in step.
type Pipeline struct {
	Name     string
	From, To Endpoint
	// Mode is "one-way" or "two-way" (ModeTwoWay).
	Mode string
	// Schedule is the interval between runs; 0 runs only on demand.
	Schedule time.Duration
	// OnDelete is what a deletion on the from side does on the to side.
	OnDelete  OnDelete
	BatchSize int
	// Mapping maps a from-side record to the to side.
	Mapping transforms.Spec
	Pos     transforms.Position

	// ReverseMapping maps a to-side record to the from side (two-way only;
	// its Filter is the file's reverse_filter).
	ReverseMapping transforms.Spec
	// ReverseOnDelete is what a deletion on the to side does on the from
	// side (two-way only; "delete" unless the file says otherwise).
	ReverseOnDelete OnDelete
	// Conflict is the two-way conflict policy: one of the Conflict*
	// constants ("manual" unless the file says otherwise).
	Conflict string
	// DeleteConflict is what happens when one side deleted a linked
	// record the other side changed since the last sync (two-way only):
	// one of the DeleteConflict* constants. Unless the file says otherwise
	// it is DeleteConflictManual under the manual conflict policy and
	// DeleteConflictChange under any other.
	DeleteConflict string
	// WriteBack names the fields that receive the id of a record created on
	// the other side (two-way only).
	WriteBack WriteBack

	onDeletePos, reverseOnDeletePos transforms.Position
	writeBackPos                    struct{ from, to transforms.Position }
}

// ModeTwoWay is the Mode of a two-way pipeline.
const ModeTwoWay = "two-way"

// Two-way conflict policies: which side wins when both changed the same
// fields of a linked pair since the last sync.
const (
	// ConflictSourceWins lets the from side win.
	ConflictSourceWins = "source-wins"
	// ConflictTargetWins lets the to side win.
	ConflictTargetWins = "target-wins"
	// ConflictNewestWins lets the side with the later modification time win.
	ConflictNewestWins = "newest-wins"
	// ConflictManual keeps both versions as an open conflict until
	// `syncplane resolve` settles it.
	ConflictManual = "manual"
)

// Two-way delete conflicts (delete_conflict): one side deleted a linked
// record that the other side changed since the last sync.
//
// Sync engines treat this as a conflict type of its own with a chosen
// resolution: SQL Server merge replication's ActionOnUpdateDeleteConflict
// (AcceptUpdate or AcceptDelete) and the Sync Framework's
// ClientUpdateServerDelete / ClientDeleteServerUpdate actions. syncplane
// lets the change win unless told otherwise — the record comes back where
// it was deleted — because a deletion can be repeated by the person who
// made it, while a change lost to a deletion cannot be recovered; under
// the manual conflict policy it is an open conflict instead.
const (
	// DeleteConflictChange lets the change win: the changed record is made
	// again on the side that deleted it (a new record, linked anew), and
	// the host logs a warning naming both records.
	DeleteConflictChange = "change-wins"
	// DeleteConflictDelete lets the deletion win: it goes to the other side
	// following the deleting side's delete policy; the change is dropped.
	DeleteConflictDelete = "delete-wins"
	// DeleteConflictPolicy follows the conflict policy: source-wins and
	// target-wins pick the side; newest-wins compares the time of the
	// change with the time of the deletion when the deleting side's feed
	// gives one (otherwise the change wins); manual keeps a conflict.
	DeleteConflictPolicy = "policy"
	// DeleteConflictManual keeps both as an open conflict, shown by
	// `syncplane status` and settled by `syncplane resolve`: taking the
	// deleting side deletes, taking the changing side makes the record
	// again.
	DeleteConflictManual = "manual"
)

// WriteBack names, for each side of a two-way pipeline, the field that
// receives the id of the record the host created on the other side from a
// record of this side. Empty means no write-back on that side.
type WriteBack struct {
	// FromField is a from-side field set to the id of the to-side record
	// created from this record.
	FromField string
	// ToField is a to-side field set to the id of the from-side record
	// created from this record.
	ToField string
}

// TwoWay reports whether the pipeline is two-way.
func (p *Pipeline) TwoWay() bool { return p.Mode == ModeTwoWay }

// DefaultBatchSize is a pipeline's batch size when the file gives none.
const DefaultBatchSize = 100

// DefaultStateFile is the state file's name beside the pipeline file when
// the file names no state.
const DefaultStateFile = "syncplane.db"

// Error is one problem in a pipeline file.
type Error struct {
	Pos transforms.Position
	// Path is where in the file's structure: pipelines[0].mapping.Subject.
	Path string
	Msg  string
	// Suggestion is the nearest valid name for a misspelt one.
	Suggestion string
}

// Error renders "FILE:LINE:COL: msg (did you mean X?)".
func (e Error) Error() string {
	var b strings.Builder
	if s := e.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Suggestion != "" {
		fmt.Fprintf(&b, " (did you mean %s?)", e.Suggestion)
	}
	return b.String()
}

// Errors is every problem found, ordered by position.
type Errors []Error

// Error renders one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es Errors) sort() {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

// Options are the loader's access to the environment; the zero value uses
// the process environment and file system.
type Options struct {
	// LookupEnv resolves ${env:NAME}; default os.LookupEnv.
	LookupEnv func(name string) (string, bool)
	// ReadFile resolves ${file:PATH} (PATH relative to the pipeline file's
	// directory); default os.ReadFile.
	ReadFile func(path string) ([]byte, error)
}

// Load reads, checks and decodes a pipeline file. Its error is an Errors
// listing every problem found, each with its position.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{Pos: transforms.Position{File: path}, Msg: fmt.Sprintf("cannot read the pipeline file: %v", err)}}
	}
	return Parse(path, data, Options{})
}

// Parse checks and decodes a pipeline file's content; path names it in
// errors and anchors relative paths. See Load.
func Parse(path string, data []byte, opts Options) (*File, error) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	root, errs := parseTree(path, data)
	if len(errs) > 0 {
		errs.sort()
		return nil, errs
	}
	if errs := validateFile(root); len(errs) > 0 {
		errs.sort()
		return nil, errs
	}
	d := &decoder{path: path, dir: filepath.Dir(path), opts: opts, root: root}
	f := d.decode()
	if len(d.errs) > 0 {
		d.errs.sort()
		return nil, d.errs
	}
	return f, nil
}

// Connection returns the connection with the given name.
func (f *File) Connection(name string) (*Connection, bool) {
	for i := range f.Connections {
		if f.Connections[i].Name == name {
			return &f.Connections[i], true
		}
	}
	return nil, false
}

// Pipeline returns the pipeline with the given name.
func (f *File) Pipeline(name string) (*Pipeline, bool) {
	for i := range f.Pipelines {
		if f.Pipelines[i].Name == name {
			return &f.Pipelines[i], true
		}
	}
	return nil, false
}

// ConnectionNames returns the connection names in file order.
func (f *File) ConnectionNames() []string {
	out := make([]string, len(f.Connections))
	for i, c := range f.Connections {
		out[i] = c.Name
	}
	return out
}

// PipelineNames returns the pipeline names in file order.
func (f *File) PipelineNames() []string {
	out := make([]string, len(f.Pipelines))
	for i, p := range f.Pipelines {
		out[i] = p.Name
	}
	return out
}

// RedactedSettings returns the settings with every secret value replaced by
// "[redacted]", safe to print.
func (c *Connection) RedactedSettings() json.RawMessage {
	var v any
	if err := json.Unmarshal(c.Settings, &v); err != nil {
		return json.RawMessage(`{}`)
	}
	for _, ptr := range c.Secrets {
		v = redact(v, splitPointer(ptr))
	}
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}

func redact(v any, segs []string) any {
	if len(segs) == 0 {
		return "[redacted]"
	}
	switch x := v.(type) {
	case map[string]any:
		if c, ok := x[segs[0]]; ok {
			x[segs[0]] = redact(c, segs[1:])
		}
	case []any:
		var i int
		if _, err := fmt.Sscanf(segs[0], "%d", &i); err == nil && i >= 0 && i < len(x) {
			x[i] = redact(x[i], segs[1:])
		}
	}
	return v
}

func splitPointer(ptr string) []string {
	if ptr == "" || ptr == "/" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
	}
	return parts
}

func pointer(segs []string) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// SchemaSource is what deep validation asks the connectors. The CLI and the
// engine implement it over running connectors.
type SchemaSource interface {
	// SettingsSchema returns the JSON Schema of a connector's settings; an
	// error wrapping ErrUnknownConnector when there is no such connector.
	SettingsSchema(ctx context.Context, connector string) (json.RawMessage, error)
	// Schema returns the discovered schema of a configured connection.
	Schema(ctx context.Context, connection string) (*schema.Schema, error)
}

// ConnectorLister is optionally implemented by a SchemaSource to name the
// available connectors, for "did you mean" suggestions.
type ConnectorLister interface {
	Connectors() []string
}

// SecretSettingsSource is optionally implemented by a SchemaSource to name
// a connector's secret settings (Spec.SecretSettings, JSON pointers). Their
// values are never shown in errors, even when written inline in the file.
type SecretSettingsSource interface {
	SecretSettings(ctx context.Context, connector string) []string
}
