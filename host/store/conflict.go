package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// TargetConflict is an ID-map row a commit could not store: the target
// record it names already belongs to another source record of the
// pipeline (a target that matched two source records onto one of its
// records, such as an upsert by e-mail address).
type TargetConflict struct {
	// Row is the row that was refused.
	Row Mapping
	// Owner is the row that holds the target record: stored before, or
	// earlier in the same commit.
	Owner Mapping
}

// ConflictError is Commit's error when rows of Put name target records
// other source records already map to. Nothing of the commit was stored.
type ConflictError struct {
	Key       PartitionKey
	Conflicts []TargetConflict
	err       error
}

// Error names the refused rows.
func (e *ConflictError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "committing a batch of %s: %d ID-map row(s) name a target record another source record maps to:", e.Key, len(e.Conflicts))
	for i, c := range e.Conflicts {
		if i == 5 {
			fmt.Fprintf(&b, " and %d more", len(e.Conflicts)-i)
			break
		}
		fmt.Fprintf(&b, " %s → %s/%s (held by %s)", c.Row.SourceID, c.Row.TargetEntity, c.Row.TargetID, c.Owner.SourceID)
	}
	return b.String()
}

// Unwrap returns the database's error.
func (e *ConflictError) Unwrap() error { return e.err }

// isUniqueViolation reports whether err is SQLite refusing a row that
// breaks a UNIQUE index.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

type targetKey struct{ entity, partition, id string }

type sourceKey struct{ entity, partition, id string }

// targetConflicts finds the rows of c.Put whose target record is held by
// another source record: by a stored row that c does not remove or
// re-point, or by an earlier row of c.Put.
func (s *Store) targetConflicts(ctx context.Context, c Commit) ([]TargetConflict, error) {
	removed := make(map[sourceKey]bool, len(c.Remove))
	for _, id := range c.Remove {
		removed[sourceKey{c.Key.Entity, c.Key.Partition, id}] = true
	}
	putTarget := make(map[sourceKey]targetKey, len(c.Put))
	byTarget := map[[2]string][]string{}
	for _, m := range c.Put {
		tk := targetKey{m.TargetEntity, m.TargetPartition, m.TargetID}
		putTarget[sourceKey{m.SourceEntity, m.SourcePartition, m.SourceID}] = tk
		g := [2]string{m.TargetEntity, m.TargetPartition}
		byTarget[g] = append(byTarget[g], m.TargetID)
	}
	stored := map[targetKey]Mapping{}
	for g, ids := range byTarget {
		for part := range chunks(ids, idChunk) {
			// By the hashed target key, the unique index's column; the real
			// ids are compared when the rows are matched below.
			args := make([]any, 0, len(part)+1)
			args = append(args, c.Key.Pipeline)
			for _, id := range part {
				args = append(args, key128(c.Key.Pipeline, g[0], g[1], id))
			}
			rows, err := s.r.QueryContext(ctx, `SELECT `+mappingColumns+` FROM id_map WHERE pipeline = ? AND target_key IN (`+
				placeholderList(len(part))+`)`, args...)
			if err != nil {
				return nil, fmt.Errorf("reading the owners of target records: %w", err)
			}
			for rows.Next() {
				m, err := scanMapping(rows)
				if err != nil {
					rows.Close()
					return nil, fmt.Errorf("reading the owners of target records: %w", err)
				}
				stored[targetKey{m.TargetEntity, m.TargetPartition, m.TargetID}] = m
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return nil, fmt.Errorf("reading the owners of target records: %w", err)
			}
		}
	}
	var out []TargetConflict
	taken := make(map[targetKey]Mapping, len(c.Put))
	for _, m := range c.Put {
		tk := targetKey{m.TargetEntity, m.TargetPartition, m.TargetID}
		self := sourceKey{m.SourceEntity, m.SourcePartition, m.SourceID}
		if first, ok := taken[tk]; ok {
			out = append(out, TargetConflict{Row: m, Owner: first})
			continue
		}
		if owner, ok := stored[tk]; ok {
			ownerKey := sourceKey{owner.SourceEntity, owner.SourcePartition, owner.SourceID}
			moved, repointed := putTarget[ownerKey]
			free := ownerKey == self || removed[ownerKey] || (repointed && moved != tk)
			if !free {
				out = append(out, TargetConflict{Row: m, Owner: owner})
				continue
			}
		}
		taken[tk] = m
	}
	return out, nil
}
