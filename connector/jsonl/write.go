package jsonl

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// Write applies a batch under the directory's writer lock and rewrites the
// entity's file once, atomically, when anything changed.
//
// An upsert finds its record by key: the op's TargetID, else the record's
// key field, else the op's IdempotencyKey, so a retried create finds the
// record its first attempt made. An update sets the writable fields the
// record carries (a field present with a null value is cleared) and leaves
// the others as stored, as the PATCH of a web API does; read-only fields
// keep their stored values and a value written to them is ignored. A record equal to the stored one is
// Unchanged and leaves the file alone. The modified field, when declared, is
// stamped with the batch's time, which is later than every modification
// already in the file, so changes written after a checkpoint always sort
// after it.
//
// A delete replaces the record with a tombstone line (see the package
// documentation); deleting a record that does not exist is Deleted too, so a
// retried delete succeeds.
//
// A record that breaks the declared fields is Rejected with one
// INVALID_INPUT diagnostic per offending field; the rest of the batch goes
// on. An error (file unreadable, disk full) means nothing of the batch was
// written.
func (c *jsonlConnector) Write(ctx context.Context, batch connector.WriteBatch) ([]connector.WriteOutcome, error) {
	s, d, err := c.def(batch.Entity, true)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(s.Dir); errors.Is(err, fs.ErrNotExist) || (err == nil && !st.IsDir()) {
		return nil, connector.FieldErrorf(connector.NotFound, "dir", "directory %s does not exist; create it", s.Dir)
	}
	unlock, err := lockDir(ctx, s.Dir)
	if err != nil {
		return nil, connector.Errorf(ioCode(err), "writing %s: %v", d.name, err)
	}
	defer unlock()
	removeStaleTemps(s.Dir, d.name)
	t, err := loadTable(ctx, s.Dir, d)
	if err != nil {
		return nil, err
	}
	stamp := c.now().Round(0).UTC()
	if !stamp.After(t.maxModified) {
		stamp = t.maxModified.Add(time.Nanosecond).UTC()
	}
	out := make([]connector.WriteOutcome, len(batch.Ops))
	changed := false
	for i, op := range batch.Ops {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var ch bool
		switch op.Action {
		case connector.ActionUpsert:
			out[i], ch = t.upsert(op, stamp)
		case connector.ActionDelete:
			out[i], ch = t.delete(op, stamp)
		default:
			out[i] = rejected(op, connector.Errorf(connector.InvalidInput, "unknown write action %d", int(op.Action)))
		}
		changed = changed || ch
	}
	if !changed {
		return out, nil
	}
	var buf bytes.Buffer
	for _, rw := range t.rows {
		line, err := t.lineOf(rw)
		if err != nil {
			return nil, connector.Errorf(connector.Internal, "%s: record %q cannot be rendered: %v", t.path, rw.key, err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	if err := c.ops.writeAtomic(t.path, buf.Bytes()); err != nil {
		return nil, connector.Errorf(ioCode(err), "%v; the file is unchanged", err)
	}
	return out, nil
}

// ioCode classifies a filesystem failure: a permission problem does not go
// away by retrying, anything else (a full disk, a busy lock) may.
func ioCode(err error) connector.Code {
	if errors.Is(err, fs.ErrPermission) {
		return connector.PermissionDenied
	}
	return connector.Unavailable
}

func rejected(op connector.WriteOp, ds ...*connector.Diagnostic) connector.WriteOutcome {
	return connector.WriteOutcome{IdempotencyKey: op.IdempotencyKey, Status: connector.Rejected, TargetID: op.TargetID, Diagnostics: ds}
}

// resolveKey finds the key an op addresses and the key field's value.
func (t *table) resolveKey(op connector.WriteOp, allowIdempotency bool) (string, any, *connector.Diagnostic) {
	d := t.def
	v, has := op.Record.Fields[d.key]
	has = has && v != nil
	var key string
	switch {
	case op.TargetID != "":
		key = op.TargetID
		if has {
			k, err := keyString(v)
			if err != nil {
				return "", nil, connector.FieldErrorf(connector.InvalidInput, d.key, "key field %q %v", d.key, err)
			}
			if k != key {
				return "", nil, connector.FieldErrorf(connector.InvalidInput, d.key,
					"key field %q holds %q but the target id is %q; a key cannot change", d.key, k, key)
			}
		}
	case has:
		k, err := keyString(v)
		if err != nil {
			return "", nil, connector.FieldErrorf(connector.InvalidInput, d.key, "key field %q %v", d.key, err)
		}
		key = k
	case allowIdempotency && op.IdempotencyKey != "":
		key = op.IdempotencyKey
	default:
		return "", nil, connector.FieldErrorf(connector.InvalidInput, d.key,
			"record has no key: set field %q, the target id or an idempotency key", d.key)
	}
	if existing, ok := t.get(key); ok {
		return key, existing.fields[d.key], nil
	}
	if t.fields[d.key].kind == schema.Int {
		n, err := strconv.ParseInt(key, 10, 64)
		if err != nil {
			return "", nil, connector.FieldErrorf(connector.InvalidInput, d.key, "key %q is not an integer, as field %q requires", key, d.key)
		}
		return key, n, nil
	}
	if has {
		return key, v, nil
	}
	return key, key, nil
}

func (t *table) upsert(op connector.WriteOp, stamp time.Time) (connector.WriteOutcome, bool) {
	d := t.def
	key, keyVal, diag := t.resolveKey(op, true)
	if diag != nil {
		return rejected(op, diag), false
	}
	var ds connector.Diagnostics
	fields := make(map[string]any, len(op.Record.Fields)+1)
	for name, v := range op.Record.Fields {
		if name == d.key {
			continue
		}
		if name == d.deleted {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, name,
				"field %q is the tombstone marker of %s and cannot be written; delete the record instead", name, d.name))
			continue
		}
		f, ok := t.fields[name]
		if !ok {
			if d.fields != nil {
				ds = append(ds, connector.FieldErrorf(connector.InvalidInput, name,
					"entity %q has no field %q (declared fields only)", d.name, name))
				continue
			}
			fields[name] = v // inferred entity: any field goes
			continue
		}
		if f.readOnly {
			continue
		}
		if d.fields == nil {
			fields[name] = v
			continue
		}
		cv, err := coerce(f, v)
		if err != nil {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, name, "field %q: %v", name, err))
			continue
		}
		fields[name] = cv
	}
	existing, exists := t.get(key)
	live := exists && !existing.deleted
	if live {
		// An update sets the fields it carries; the others keep their
		// stored values.
		for name, v := range existing.fields {
			if _, set := fields[name]; !set && name != d.modified {
				fields[name] = v
			}
		}
	}
	if d.fields != nil {
		for _, name := range fieldOrder(d.key, d.fields) {
			f := d.fields[name]
			if name == d.key || f.readOnly || !f.required {
				continue
			}
			if v, ok := fields[name]; !ok || v == nil {
				if _, bad := op.Record.Fields[name]; !bad {
					ds = append(ds, connector.FieldErrorf(connector.InvalidInput, name, "required field %q is missing", name))
				}
			}
		}
	}
	if len(ds) > 0 {
		return rejected(op, ds...), false
	}
	fields[d.key] = keyVal
	if live {
		for name, f := range t.fields {
			if f.readOnly && name != d.modified {
				if v, ok := existing.fields[name]; ok {
					fields[name] = v
				}
			}
		}
		if same(d, existing.fields, fields) {
			rec := existing.record()
			return connector.WriteOutcome{IdempotencyKey: op.IdempotencyKey, Status: connector.Unchanged,
				TargetID: key, Version: existing.version, Stored: &rec}, false
		}
	}
	rw := &row{key: key, fields: fields}
	if d.modified != "" {
		fields[d.modified] = stamp
		rw.modified = stamp
	}
	line, err := t.lineOf(rw)
	if err != nil {
		return rejected(op, connector.Errorf(connector.InvalidInput, "record %q cannot be written as JSON: %v", key, err)), false
	}
	rw.version = version(line)
	t.put(rw)
	status := connector.Created
	if live {
		status = connector.Updated
	}
	rec := rw.record()
	return connector.WriteOutcome{IdempotencyKey: op.IdempotencyKey, Status: status, TargetID: key, Version: rw.version, Stored: &rec}, true
}

func (t *table) delete(op connector.WriteOp, stamp time.Time) (connector.WriteOutcome, bool) {
	d := t.def
	key, keyVal, diag := t.resolveKey(op, false)
	if diag != nil {
		return rejected(op, diag), false
	}
	done := connector.WriteOutcome{IdempotencyKey: op.IdempotencyKey, Status: connector.Deleted, TargetID: key}
	existing, ok := t.get(key)
	if !ok || existing.deleted {
		return done, false
	}
	rw := &row{key: key, deleted: true, fields: map[string]any{d.key: keyVal}}
	if d.modified != "" {
		rw.fields[d.modified] = stamp
		rw.modified = stamp
	}
	line, err := t.lineOf(rw)
	if err != nil {
		return rejected(op, connector.Errorf(connector.Internal, "tombstone of %q cannot be rendered: %v", key, err)), false
	}
	rw.version = version(line)
	t.put(rw)
	done.Version = rw.version
	return done, true
}

// same reports whether two records hold the same values, the modified field
// aside, compared in their file form.
func same(d *entityDef, a, b map[string]any) bool {
	strip := func(m map[string]any) map[string]any {
		out := make(map[string]any, len(m))
		for k, v := range m {
			if k != d.modified {
				out[k] = v
			}
		}
		return out
	}
	la, err1 := encodeLine(strip(a))
	lb, err2 := encodeLine(strip(b))
	return err1 == nil && err2 == nil && bytes.Equal(la, lb)
}
