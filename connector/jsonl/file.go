package jsonl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/syncplane/syncplane/connector"
)

// maxLineBytes bounds one line of a file.
const maxLineBytes = 64 << 20

// row is one record of a file, converted to the entity's types.
type row struct {
	key      string
	fields   map[string]any // typed values; never holds the tombstone marker
	deleted  bool
	modified time.Time
	version  string
	line     int // 1-based line in the file it was read from; 0 once written
}

// table is one entity's file in memory: its rows in file order, one per key
// (when a key appears on several lines the last line wins, at the position
// of the first).
type table struct {
	path        string
	def         *entityDef
	fields      map[string]fieldDef // declared, or inferred from the rows
	rows        []*row
	index       map[string]int
	maxModified time.Time
}

func entityPath(dir, entity string) string { return filepath.Join(dir, entity+".jsonl") }

// rawLine is a line decoded to plain values, before conversion.
type rawLine struct {
	no      int
	values  map[string]any
	version string
}

// loadTable reads an entity's file. A missing file is an empty table. A line
// that is not a JSON object, or whose values break the entity's declared
// fields, fails the load with an INVALID_INPUT diagnostic naming the file
// and line.
func loadTable(ctx context.Context, dir string, def *entityDef) (*table, error) {
	t := &table{path: entityPath(dir, def.name), def: def, index: map[string]int{}}
	f, err := os.Open(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		t.fields = t.resolveFields(nil)
		return t, nil
	}
	if err != nil {
		return nil, connector.Errorf(connector.Unavailable, "opening %s: %v", t.path, err)
	}
	defer f.Close()
	raws, err := readLines(ctx, t.path, f)
	if err != nil {
		return nil, err
	}
	var live []map[string]any
	if def.fields == nil {
		live = make([]map[string]any, 0, len(raws))
		for _, r := range raws {
			if b, _ := r.values[def.deleted].(bool); b {
				// A tombstone contributes its key's type only.
				live = append(live, map[string]any{def.key: r.values[def.key]})
				continue
			}
			live = append(live, r.values)
		}
	}
	t.fields = t.resolveFields(live)
	t.rows = make([]*row, 0, len(raws))
	for _, r := range raws {
		rw, err := t.convert(r)
		if err != nil {
			return nil, err
		}
		t.put(rw)
	}
	return t, nil
}

func (t *table) resolveFields(live []map[string]any) map[string]fieldDef {
	if t.def.fields != nil {
		return t.def.fields
	}
	return inferFields(t.def, live)
}

// readLines decodes every non-blank line of r into plain values.
func readLines(ctx context.Context, path string, r io.Reader) ([]rawLine, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	var out []rawLine
	no := 0
	for sc.Scan() {
		no++
		if no%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return nil, lineError(path, no, "not a JSON object: %v", err)
		}
		if m == nil {
			return nil, lineError(path, no, "not a JSON object: null")
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, lineError(path, no, "unexpected data after the JSON object")
		}
		for k, v := range m {
			p, err := plainValue(v)
			if err != nil {
				return nil, lineError(path, no, "field %q: %v", k, err)
			}
			m[k] = p
		}
		out = append(out, rawLine{no: no, values: m, version: version(line)})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, lineError(path, no+1, "line longer than %d bytes", maxLineBytes)
		}
		return nil, connector.Errorf(connector.Unavailable, "reading %s: %v", path, err)
	}
	return out, nil
}

func lineError(path string, line int, format string, args ...any) *connector.Diagnostic {
	return connector.Errorf(connector.InvalidInput, "%s:%d: %s", path, line, fmt.Sprintf(format, args...))
}

// version is a record's concurrency token: a hash of its line.
func version(line []byte) string {
	h := fnv.New64a()
	h.Write(line)
	return hex.EncodeToString(h.Sum(nil))
}

// convert checks a decoded line against the entity's fields.
func (t *table) convert(r rawLine) (*row, error) {
	d := t.def
	rw := &row{line: r.no, version: r.version}
	if v, ok := r.values[d.deleted]; ok {
		b, isBool := v.(bool)
		if !isBool && v != nil {
			return nil, lineError(t.path, r.no, "tombstone marker %q must be true or false, got %s", d.deleted, describe(v))
		}
		rw.deleted = b
		delete(r.values, d.deleted)
	}
	key, err := keyString(r.values[d.key])
	if err != nil {
		return nil, lineError(t.path, r.no, "key field %q %v", d.key, err)
	}
	rw.key = key
	if rw.deleted {
		// A tombstone keeps only its key and modification time.
		kept := map[string]any{d.key: r.values[d.key]}
		if d.modified != "" {
			kept[d.modified] = r.values[d.modified]
		}
		r.values = kept
	}
	rw.fields = make(map[string]any, len(r.values))
	for name, v := range r.values {
		f, ok := t.fields[name]
		if !ok {
			return nil, lineError(t.path, r.no, "field %q is not declared in entities.%s.fields; declare it, or drop the fields declaration to infer them", name, d.name)
		}
		c, err := coerce(f, v)
		if err != nil {
			return nil, lineError(t.path, r.no, "field %q: %v", name, err)
		}
		rw.fields[name] = c
	}
	if !rw.deleted {
		for name, f := range t.fields {
			if _, ok := rw.fields[name]; f.required && !ok {
				return nil, lineError(t.path, r.no, "required field %q is missing", name)
			}
		}
	}
	if d.modified != "" {
		if ts, ok := rw.fields[d.modified].(time.Time); ok {
			rw.modified = ts
		}
	}
	return rw, nil
}

// put adds rw, replacing the row with the same key in place.
func (t *table) put(rw *row) {
	if rw.modified.After(t.maxModified) {
		t.maxModified = rw.modified
	}
	if i, ok := t.index[rw.key]; ok {
		t.rows[i] = rw
		return
	}
	t.index[rw.key] = len(t.rows)
	t.rows = append(t.rows, rw)
}

// get returns the row with key, tombstones included.
func (t *table) get(key string) (*row, bool) {
	i, ok := t.index[key]
	if !ok {
		return nil, false
	}
	return t.rows[i], true
}

// lineOf renders a row as a file line.
func (t *table) lineOf(rw *row) ([]byte, error) {
	fields := rw.fields
	if rw.deleted {
		fields = make(map[string]any, len(rw.fields)+1)
		for k, v := range rw.fields {
			fields[k] = v
		}
		fields[t.def.deleted] = true
	}
	return encodeLine(fields)
}

// fileOps are the filesystem calls a write makes, replaceable in tests to
// simulate a crash between steps.
type fileOps struct {
	rename func(oldpath, newpath string) error
}

func defaultFileOps() fileOps { return fileOps{rename: os.Rename} }

// tempPrefix is the name prefix of an entity's temporary files. It starts
// with a dot, so a leftover temporary file is never taken for an entity.
func tempPrefix(entity string) string { return "." + entity + ".jsonl.tmp-" }

// removeStaleTemps deletes temporary files a crashed writer left. The caller
// holds the directory lock, so no live writer owns them.
func removeStaleTemps(dir, entity string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix(entity)) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// writeAtomic replaces path with data: it writes a temporary file in the
// same directory, syncs it, renames it over path and syncs the directory.
// Readers see the old file or the new one, never a part; after a crash at
// any step the old file is intact and at most a temporary file is left.
func (ops fileOps) writeAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	entity := strings.TrimSuffix(base, ".jsonl")
	tmp, err := os.CreateTemp(dir, tempPrefix(entity)+"*")
	if err != nil {
		return fmt.Errorf("creating a temporary file for %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	mode := fs.FileMode(0o644)
	if st, serr := os.Stat(path); serr == nil {
		mode = st.Mode().Perm()
	}
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("setting the mode of %s: %w", tmp.Name(), err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp.Name(), err)
	}
	if err = ops.rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	if err = syncDir(dir); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
