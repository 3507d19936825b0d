package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PartitionKey names the unit of sync: one partition of one source entity
// of one pipeline.
type PartitionKey struct {
	Pipeline  string `json:"pipeline"`
	Entity    string `json:"entity"`
	Partition string `json:"partition"`
}

// String renders the key as pipeline/entity/partition.
func (k PartitionKey) String() string { return k.Pipeline + "/" + k.Entity + "/" + k.Partition }

// CheckpointInfo is the stored state of one partition.
type CheckpointInfo struct {
	PartitionKey
	// Checkpoint is the connector's opaque position; nil before the first
	// committed batch and after a reset.
	Checkpoint []byte
	// ResyncSince is when a full resync began, zero when none is running.
	ResyncSince time.Time
	UpdatedAt   time.Time
}

// Checkpoint returns the stored checkpoint of k; a partition never synced
// returns a zero CheckpointInfo with found false.
func (s *Store) Checkpoint(ctx context.Context, k PartitionKey) (CheckpointInfo, bool, error) {
	info := CheckpointInfo{PartitionKey: k}
	var resync sql.NullInt64
	var updated int64
	err := s.r.QueryRowContext(ctx, `SELECT checkpoint, resync_since, updated_at FROM checkpoints WHERE pipeline = ? AND entity = ? AND partition = ?`,
		k.Pipeline, k.Entity, k.Partition).Scan(&info.Checkpoint, &resync, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return info, false, nil
	}
	if err != nil {
		return info, false, fmt.Errorf("reading the checkpoint of %s: %w", k, err)
	}
	info.ResyncSince = fromMillis(resync.Int64)
	info.UpdatedAt = fromMillis(updated)
	return info, true, nil
}

// Checkpoints returns the stored state of every partition of pipeline, or
// of every pipeline when pipeline is empty, ordered by key.
func (s *Store) Checkpoints(ctx context.Context, pipeline string) ([]CheckpointInfo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT pipeline, entity, partition, checkpoint, resync_since, updated_at FROM checkpoints
		WHERE ? = '' OR pipeline = ? ORDER BY pipeline, entity, partition`, pipeline, pipeline)
	if err != nil {
		return nil, fmt.Errorf("listing checkpoints: %w", err)
	}
	defer rows.Close()
	var out []CheckpointInfo
	for rows.Next() {
		var c CheckpointInfo
		var resync sql.NullInt64
		var updated int64
		if err := rows.Scan(&c.Pipeline, &c.Entity, &c.Partition, &c.Checkpoint, &resync, &updated); err != nil {
			return nil, fmt.Errorf("listing checkpoints: %w", err)
		}
		c.ResyncSince, c.UpdatedAt = fromMillis(resync.Int64), fromMillis(updated)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Reset forgets the checkpoints of pipeline (of one partition when
// partition is not nil) and marks a full resync as begun: the next run
// reads everything again, updates through the ID map instead of
// duplicating, and reconciles the records it no longer sees. It returns how
// many partitions were reset.
func (s *Store) Reset(ctx context.Context, pipeline string, partition *string) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		q := `UPDATE checkpoints SET checkpoint = NULL, resync_since = ?, updated_at = ? WHERE pipeline = ?`
		args := []any{s.stamp(), s.stamp(), pipeline}
		if partition != nil {
			q += ` AND partition = ?`
			args = append(args, *partition)
		}
		res, err := s.exec(ctx, tx, q, args...)
		if err != nil {
			return fmt.Errorf("resetting pipeline %s: %w", pipeline, err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// Mapping is one row of the ID map: a source record and the target record
// it became.
type Mapping struct {
	SourceEntity    string `json:"sourceEntity"`
	SourcePartition string `json:"sourcePartition"`
	SourceID        string `json:"sourceId"`
	TargetEntity    string `json:"targetEntity"`
	TargetPartition string `json:"targetPartition"`
	TargetID        string `json:"targetId"`
	// SourceHash identifies the source record last read: "v:" and its
	// version when the source gives one, else the hash of its fields.
	SourceHash string `json:"sourceHash"`
	// TargetHash is the hash of the record last written to the target.
	TargetHash    string    `json:"targetHash"`
	TargetVersion string    `json:"targetVersion,omitempty"`
	CreatedAt     time.Time `json:"createdAt"`
	UpdatedAt     time.Time `json:"updatedAt"`
	SeenAt        time.Time `json:"seenAt"`
}

const mappingColumns = `source_entity, source_partition, source_id, target_entity, target_partition, target_id, source_hash, target_hash, target_version, created_at, updated_at, seen_at`

func scanMapping(sc rowScanner) (Mapping, error) {
	var m Mapping
	var c, u, seen int64
	err := sc.Scan(&m.SourceEntity, &m.SourcePartition, &m.SourceID, &m.TargetEntity, &m.TargetPartition, &m.TargetID,
		&m.SourceHash, &m.TargetHash, &m.TargetVersion, &c, &u, &seen)
	m.CreatedAt, m.UpdatedAt, m.SeenAt = fromMillis(c), fromMillis(u), fromMillis(seen)
	return m, err
}

// Mappings returns the ID-map rows of the given source ids of one source
// partition, by source id. Ids without a row are absent from the result.
func (s *Store) Mappings(ctx context.Context, pipeline, sourceEntity, sourcePartition string, ids []string) (map[string]Mapping, error) {
	out := make(map[string]Mapping, len(ids))
	scope := key64(pipeline, sourceEntity, sourcePartition)
	const chunk = 500
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		args := make([]any, 0, len(part)+4)
		args = append(args, scope, pipeline, sourceEntity, sourcePartition)
		for _, id := range part {
			args = append(args, key128(id))
		}
		q := `SELECT ` + mappingColumns + ` FROM id_map WHERE source_scope = ? AND pipeline = ? AND source_entity = ? AND source_partition = ? AND source_key IN (?` +
			strings.Repeat(",?", len(part)-1) + `)`
		rows, err := s.r.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("reading the ID map of %s: %w", pipeline, err)
		}
		for rows.Next() {
			m, err := scanMapping(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("reading the ID map of %s: %w", pipeline, err)
			}
			out[m.SourceID] = m
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the ID map of %s: %w", pipeline, err)
		}
	}
	return out, nil
}

// HasMappings reports whether partition k has any ID-map row.
func (s *Store) HasMappings(ctx context.Context, k PartitionKey) (bool, error) {
	var one int
	err := s.r.QueryRowContext(ctx, `SELECT 1 FROM id_map WHERE source_scope = ? AND pipeline = ? AND source_entity = ? AND source_partition = ? LIMIT 1`,
		key64(k.Pipeline, k.Entity, k.Partition), k.Pipeline, k.Entity, k.Partition).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the ID map of %s: %w", k, err)
	}
	return true, nil
}

// LookupTarget returns the target id the source record sourceID became in
// pipeline, in any source partition (the first by partition when several
// partitions hold the id). It serves the mapping function lookup().
func (s *Store) LookupTarget(ctx context.Context, pipeline, sourceID string) (string, bool, error) {
	var id string
	err := s.r.QueryRowContext(ctx, `SELECT target_id FROM id_map WHERE source_key = ? AND pipeline = ? AND source_id = ? ORDER BY source_entity, source_partition LIMIT 1`,
		key128(sourceID), pipeline, sourceID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("looking up %q in the ID map of %s: %w", sourceID, pipeline, err)
	}
	return id, true, nil
}

// MappingsOf returns every ID-map row of pipeline, optionally narrowed to
// one source partition (nil: all), ordered by source key.
func (s *Store) MappingsOf(ctx context.Context, pipeline string, sourcePartition *string) ([]Mapping, error) {
	q := `SELECT ` + mappingColumns + ` FROM id_map WHERE pipeline = ?`
	args := []any{pipeline}
	if sourcePartition != nil {
		q += ` AND source_partition = ?`
		args = append(args, *sourcePartition)
	}
	return queryAll(ctx, s.r, "listing the ID map of "+pipeline, scanMapping, q+` ORDER BY source_entity, source_partition, source_id`, args...)
}

// Unseen returns the ID-map rows of partition k not reported by the source
// since the given time: after a full resync, the records that are gone.
func (s *Store) Unseen(ctx context.Context, k PartitionKey, since time.Time) ([]Mapping, error) {
	return queryAll(ctx, s.r, "listing unseen records of "+k.String(), scanMapping, `SELECT `+mappingColumns+` FROM id_map
		WHERE source_scope = ? AND pipeline = ? AND source_entity = ? AND source_partition = ? AND seen_at < ? ORDER BY source_id`,
		key64(k.Pipeline, k.Entity, k.Partition), k.Pipeline, k.Entity, k.Partition, since.UnixMilli())
}

// Counts are what a run did.
type Counts struct {
	Read      int64 `json:"read"`
	Created   int64 `json:"created"`
	Updated   int64 `json:"updated"`
	Deleted   int64 `json:"deleted"`
	Unchanged int64 `json:"unchanged"`
	Rejected  int64 `json:"rejected"`
	// Skipped counts records the filter left out and deletes the policy
	// ignores.
	Skipped int64 `json:"skipped"`
	Errors  int64 `json:"errors"`
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Read += o.Read
	c.Created += o.Created
	c.Updated += o.Updated
	c.Deleted += o.Deleted
	c.Unchanged += o.Unchanged
	c.Rejected += o.Rejected
	c.Skipped += o.Skipped
	c.Errors += o.Errors
}

// DeadLetter is a record that could not be delivered: the target rejected
// it or the mapping failed on it.
type DeadLetter struct {
	ID        int64  `json:"id"`
	Pipeline  string `json:"pipeline"`
	Entity    string `json:"entity"`
	Partition string `json:"partition"`
	SourceID  string `json:"sourceId"`
	// Record is the raw source record as JSON.
	Record []byte `json:"-"`
	// Diagnostics says why, as JSON.
	Diagnostics []byte    `json:"-"`
	CreatedAt   time.Time `json:"createdAt"`
	Retried     bool      `json:"retried"`
	RetriedAt   time.Time `json:"retriedAt,omitzero"`
}

// Commit is everything one acknowledged batch changes, written in one
// transaction by Store.Commit.
type Commit struct {
	// Key is the source partition the batch came from.
	Key PartitionKey
	// Put inserts or replaces ID-map rows (and marks them seen).
	Put []Mapping
	// Touch marks source ids of Key as seen without changing them.
	Touch []string
	// Remove deletes the ID-map rows of these source ids of Key.
	Remove []string
	// DeadLetters are added.
	DeadLetters []DeadLetter
	// Retried marks these dead letters as retried.
	Retried []int64
	// ClearPending removes these pending creates (the row ids AddPending
	// returned, or PendingCreate.Rows).
	ClearPending []int64
	// SetCheckpoint stores Checkpoint as Key's new checkpoint.
	SetCheckpoint bool
	Checkpoint    []byte
	// BeginResync records that a full resync started (kept if one already
	// runs); EndResync clears it.
	BeginResync, EndResync bool
	// RunID, when not zero, is the run whose counts grow by Counts.
	RunID  int64
	Counts Counts
}

// Commit writes c in one transaction: either all of it is stored or none.
//
// The ID map maps each target record from one source record only. When a
// row of Put names a target record another source record of the pipeline
// already maps to (or another row of Put names too), nothing is stored and
// the error is a *ConflictError listing those rows, so the caller can take
// them out and commit the rest.
func (s *Store) Commit(ctx context.Context, c Commit) error {
	now := s.stamp()
	k := c.Key
	targetTaken := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		scope := key64(k.Pipeline, k.Entity, k.Partition)
		// ID-map rows are found by their keys (see keys.go).
		keyArgs := func(ids []string, extra ...any) []any {
			args := append(extra, scope, k.Pipeline, k.Entity, k.Partition)
			for _, id := range ids {
				args = append(args, key128(id))
			}
			return args
		}
		// Removed rows go first: their target records are free for the
		// rows put below.
		for part := range chunks(c.Remove, idChunk) {
			if _, err := s.exec(ctx, tx, inQuery(removePrefix, len(part)), keyArgs(part)...); err != nil {
				return fmt.Errorf("removing %d ID-map rows: %w", len(part), err)
			}
		}
		// Rows go one statement each, through one statement prepared for
		// the transaction. A statement that writes several rows and may
		// fail on a constraint (the target index is unique) runs inside a
		// statement journal, which copies every page the statement changes
		// before changing it; a single-row statement needs none. Rows are
		// written with a context that is never cancelled: the driver would
		// otherwise watch each statement's context from a goroutine of its
		// own, and a cancelled ctx still ends the transaction (its commit
		// fails and everything rolls back).
		if len(c.Put) > 0 {
			put := tx.StmtContext(ctx, s.stmts[putRowQuery])
			rowCtx := context.WithoutCancel(ctx)
			args := make([]any, putColumns)
			for i, m := range c.Put {
				if i%1024 == 0 && ctx.Err() != nil {
					return ctx.Err()
				}
				args[0], args[1] = key64(k.Pipeline, m.SourceEntity, m.SourcePartition), key128(m.SourceID)
				args[2] = key128(k.Pipeline, m.TargetEntity, m.TargetPartition, m.TargetID)
				args[3], args[4], args[5], args[6], args[7], args[8], args[9] = k.Pipeline, m.SourceEntity, m.SourcePartition, m.SourceID, m.TargetEntity, m.TargetPartition, m.TargetID
				args[10], args[11], args[12], args[13], args[14], args[15] = m.SourceHash, m.TargetHash, m.TargetVersion, now, now, now
				if _, err := put.ExecContext(rowCtx, args...); err != nil {
					if isUniqueViolation(err) {
						targetTaken = true
					}
					return fmt.Errorf("writing the ID-map row of %s: %w", m.SourceID, err)
				}
			}
		}
		for part := range chunks(c.Touch, idChunk) {
			if _, err := s.exec(ctx, tx, inQuery(touchPrefix, len(part)), keyArgs(part, now)...); err != nil {
				return fmt.Errorf("touching %d ID-map rows: %w", len(part), err)
			}
		}
		for part := range chunks(c.ClearPending, idChunk) {
			if _, err := s.exec(ctx, tx, inQuery(clearPendingPrefix, len(part)), rowArgs(part)...); err != nil {
				return fmt.Errorf("clearing %d pending creates: %w", len(part), err)
			}
		}
		for _, d := range c.DeadLetters {
			if _, err := tx.ExecContext(ctx, `INSERT INTO dead_letters (pipeline, entity, partition, source_id, record, diagnostics, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				k.Pipeline, d.Entity, d.Partition, d.SourceID, string(d.Record), string(d.Diagnostics), now); err != nil {
				return fmt.Errorf("writing the dead letter of %s: %w", d.SourceID, err)
			}
		}
		for _, id := range c.Retried {
			if _, err := tx.ExecContext(ctx, `UPDATE dead_letters SET retried = 1, retried_at = ? WHERE id = ?`, now, id); err != nil {
				return fmt.Errorf("marking dead letter %d retried: %w", id, err)
			}
		}
		if c.SetCheckpoint || c.BeginResync || c.EndResync {
			if _, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (pipeline, entity, partition, checkpoint, resync_since, updated_at) VALUES (?, ?, ?, NULL, NULL, ?)
				ON CONFLICT (pipeline, entity, partition) DO NOTHING`, k.Pipeline, k.Entity, k.Partition, now); err != nil {
				return fmt.Errorf("creating the checkpoint of %s: %w", k, err)
			}
		}
		if c.BeginResync {
			if _, err := tx.ExecContext(ctx, `UPDATE checkpoints SET resync_since = coalesce(resync_since, ?) WHERE pipeline = ? AND entity = ? AND partition = ?`,
				now, k.Pipeline, k.Entity, k.Partition); err != nil {
				return fmt.Errorf("beginning the resync of %s: %w", k, err)
			}
		}
		if c.SetCheckpoint {
			if _, err := tx.ExecContext(ctx, `UPDATE checkpoints SET checkpoint = ?, updated_at = ? WHERE pipeline = ? AND entity = ? AND partition = ?`,
				nonNil(c.Checkpoint), now, k.Pipeline, k.Entity, k.Partition); err != nil {
				return fmt.Errorf("writing the checkpoint of %s: %w", k, err)
			}
		}
		if c.EndResync {
			if _, err := tx.ExecContext(ctx, `UPDATE checkpoints SET resync_since = NULL WHERE pipeline = ? AND entity = ? AND partition = ?`,
				k.Pipeline, k.Entity, k.Partition); err != nil {
				return fmt.Errorf("ending the resync of %s: %w", k, err)
			}
		}
		if c.RunID != 0 {
			n := c.Counts
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET read = read + ?, created = created + ?, updated = updated + ?, deleted = deleted + ?,
				unchanged = unchanged + ?, rejected = rejected + ?, skipped = skipped + ?, errors = errors + ? WHERE id = ?`,
				n.Read, n.Created, n.Updated, n.Deleted, n.Unchanged, n.Rejected, n.Skipped, n.Errors, c.RunID); err != nil {
				return fmt.Errorf("counting run %d: %w", c.RunID, err)
			}
		}
		return nil
	})
	if err != nil {
		if targetTaken {
			conflicts, cerr := s.targetConflicts(context.WithoutCancel(ctx), c)
			if cerr == nil && len(conflicts) > 0 {
				return &ConflictError{Key: k, Conflicts: conflicts, err: err}
			}
		}
		return fmt.Errorf("committing a batch of %s: %w", k, err)
	}
	return nil
}

// idChunk is the number of ids in an IN list.
const idChunk = 500

// putColumns is the number of values of one ID-map row put.
const putColumns = 16

// putRowQuery is the upsert of one ID-map row.
var putRowQuery = `INSERT INTO id_map (source_scope, source_key, target_key, pipeline, ` + mappingColumns + `) VALUES ` + placeholders(1, putColumns) + `
		ON CONFLICT (source_key, source_scope) DO UPDATE SET target_key = excluded.target_key,
		target_entity = excluded.target_entity, target_partition = excluded.target_partition, target_id = excluded.target_id,
		source_hash = excluded.source_hash, target_hash = excluded.target_hash, target_version = excluded.target_version,
		updated_at = excluded.updated_at, seen_at = excluded.seen_at`

// Statements over a list of source ids of one partition.
const (
	touchPrefix        = `UPDATE id_map SET seen_at = ? WHERE source_scope = ? AND pipeline = ? AND source_entity = ? AND source_partition = ? AND source_key IN (`
	removePrefix       = `DELETE FROM id_map WHERE source_scope = ? AND pipeline = ? AND source_entity = ? AND source_partition = ? AND source_key IN (`
	clearPendingPrefix = `DELETE FROM pending_creates WHERE id IN (`
)

func inQuery(prefix string, n int) string { return prefix + placeholderList(n) + `)` }

// rowArgs are row ids as statement arguments.
func rowArgs(ids []int64) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
}

// chunks yields s in parts of at most n elements.
func chunks[T any](s []T, n int) func(yield func([]T) bool) {
	return func(yield func([]T) bool) {
		for start := 0; start < len(s); start += n {
			if !yield(s[start:min(start+n, len(s))]) {
				return
			}
		}
	}
}

// placeholders renders rows groups of cols "?" for a multi-row VALUES.
func placeholders(rows, cols int) string {
	one := "(" + placeholderList(cols) + ")"
	var b strings.Builder
	b.Grow(rows * (len(one) + 1))
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(one)
	}
	return b.String()
}

// placeholderList renders n comma-separated "?".
func placeholderList(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// DeadLetters returns the dead letters of pipeline in the order they were
// added; retried ones only when includeRetried is set.
func (s *Store) DeadLetters(ctx context.Context, pipeline string, includeRetried bool) ([]DeadLetter, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, pipeline, entity, partition, source_id, record, diagnostics, created_at, retried, retried_at
		FROM dead_letters WHERE pipeline = ? AND (? OR retried = 0) ORDER BY id`, pipeline, includeRetried)
	if err != nil {
		return nil, fmt.Errorf("listing dead letters of %s: %w", pipeline, err)
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		var d DeadLetter
		var rec, diags string
		var created int64
		var retriedAt sql.NullInt64
		if err := rows.Scan(&d.ID, &d.Pipeline, &d.Entity, &d.Partition, &d.SourceID, &rec, &diags, &created, &d.Retried, &retriedAt); err != nil {
			return nil, fmt.Errorf("listing dead letters of %s: %w", pipeline, err)
		}
		d.Record, d.Diagnostics = []byte(rec), []byte(diags)
		d.CreatedAt, d.RetriedAt = fromMillis(created), fromMillis(retriedAt.Int64)
		out = append(out, d)
	}
	return out, rows.Err()
}

// Run is one entry of the run history.
type Run struct {
	ID int64 `json:"id"`
	PartitionKey
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// Status is running, ok or failed. A run left running by a crashed
	// process stays running.
	Status string `json:"status"`
	Counts
	Error string `json:"error,omitempty"`
}

// Run statuses.
const (
	RunRunning = "running"
	RunOK      = "ok"
	RunFailed  = "failed"
)

// StartRun records the start of a run of k and returns its id.
func (s *Store) StartRun(ctx context.Context, k PartitionKey) (int64, error) {
	res, err := s.w.ExecContext(ctx, `INSERT INTO runs (pipeline, entity, partition, started_at, status) VALUES (?, ?, ?, ?, ?)`,
		k.Pipeline, k.Entity, k.Partition, s.stamp(), RunRunning)
	if err != nil {
		return 0, fmt.Errorf("recording the start of a run of %s: %w", k, err)
	}
	return res.LastInsertId()
}

// FinishRun records the end of run id: ok when runErr is nil, failed with
// its message otherwise.
func (s *Store) FinishRun(ctx context.Context, id int64, runErr error) error {
	status, msg := RunOK, ""
	if runErr != nil {
		status, msg = RunFailed, runErr.Error()
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE runs SET finished_at = ?, status = ?, error = ? WHERE id = ?`, s.stamp(), status, msg, id); err != nil {
		return fmt.Errorf("recording the end of run %d: %w", id, err)
	}
	return nil
}

// LastRuns returns the latest run of every partition of pipeline (every
// pipeline when empty), ordered by key.
func (s *Store) LastRuns(ctx context.Context, pipeline string) ([]Run, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, pipeline, entity, partition, started_at, finished_at, status,
		read, created, updated, deleted, unchanged, rejected, skipped, errors, error
		FROM runs WHERE id IN (SELECT max(id) FROM runs WHERE ? = '' OR pipeline = ? GROUP BY pipeline, entity, partition)
		ORDER BY pipeline, entity, partition`, pipeline, pipeline)
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var started int64
		var finished sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Pipeline, &r.Entity, &r.Partition, &started, &finished, &r.Status,
			&r.Read, &r.Created, &r.Updated, &r.Deleted, &r.Unchanged, &r.Rejected, &r.Skipped, &r.Errors, &r.Error); err != nil {
			return nil, fmt.Errorf("listing runs: %w", err)
		}
		r.StartedAt, r.FinishedAt = fromMillis(started), fromMillis(finished.Int64)
		out = append(out, r)
	}
	return out, rows.Err()
}

// LastError returns the latest failed run's error of partition k, and when
// it happened; empty when the partition never failed.
func (s *Store) LastError(ctx context.Context, k PartitionKey) (string, time.Time, error) {
	var msg string
	var at sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT error, finished_at FROM runs WHERE pipeline = ? AND entity = ? AND partition = ? AND status = ?
		ORDER BY id DESC LIMIT 1`, k.Pipeline, k.Entity, k.Partition, RunFailed).Scan(&msg, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("reading the last error of %s: %w", k, err)
	}
	return msg, fromMillis(at.Int64), nil
}
