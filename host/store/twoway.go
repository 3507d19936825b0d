package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// LinkSide is what the host last knew of one side of a two-way link.
type LinkSide struct {
	// Record holds the fields of the record, as that side holds it, that
	// the other side's mapping writes (the runner's tagged JSON): the base
	// against which that side's own changes are found.
	Record []byte
	// Mapped is the record mapped towards the other side (the runner's
	// tagged JSON), the base against which the fields a change alters on
	// the other side are found; empty when not known yet.
	Mapped []byte
	// Hash is the hash of Record's fields without the version and
	// modification fields; empty when the host wrote the record and the
	// target did not say what it stored (the hash is then taken when the
	// record comes back with Version).
	Hash string
	// Version is the side's concurrency token of Record.
	Version string
	// Sent is the hash of the mapped record the host last wrote to this
	// side; empty when it never wrote to it.
	Sent string
	// Modified is the side's modification time of Record, when known.
	Modified time.Time
	// Gone marks a side whose record was deleted while the other side
	// kept its own (a delete policy of ignore or mark).
	Gone bool
}

// Link ties a record of a two-way pipeline's from side (A) to one of its to
// side (B).
type Link struct {
	APartition, AID string
	BPartition, BID string
	A, B            LinkSide
	// Created marks a link made by the commit that stores it: a link of
	// another A record holding the same B record is replaced by it.
	Created bool
}

// LinkKey names a link by its A record.
type LinkKey struct{ Partition, ID string }

// Conflict is a linked pair both of whose sides changed the same fields
// (or one deleted what the other changed) since the last sync.
type Conflict struct {
	ID         int64  `json:"id"`
	Pipeline   string `json:"pipeline"`
	APartition string `json:"aPartition"`
	AID        string `json:"aId"`
	BPartition string `json:"bPartition"`
	BID        string `json:"bId"`
	// A and B are the current records of each side (tagged JSON); empty
	// when that side deleted the record.
	A        []byte `json:"-"`
	B        []byte `json:"-"`
	ADeleted bool   `json:"aDeleted"`
	BDeleted bool   `json:"bDeleted"`
	// Fields are the conflicting fields (of the to side), when known.
	Fields []string `json:"fields,omitempty"`
	// Take is "a" or "b" once resolved; the next sync applies that side.
	Take       string    `json:"take,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
	ResolvedAt time.Time `json:"resolvedAt,omitzero"`
}

// TwoWayCheckpoint is the new checkpoint of one change feed of a two-way
// pipeline; Entity distinguishes the sides ("a:event", "b:Events").
type TwoWayCheckpoint struct {
	Entity, Partition string
	Checkpoint        []byte
}

// TwoWayCommit is what one step of a two-way sync changes, written in one
// transaction by CommitTwoWay.
type TwoWayCommit struct {
	Pipeline string
	// Checkpoints are stored as the feeds' new checkpoints.
	Checkpoints []TwoWayCheckpoint
	// Put inserts or replaces links (by their A key; a link whose B key
	// another link holds replaces it).
	Put []Link
	// Remove deletes links by their A key.
	Remove []LinkKey
	// Conflicts are opened, or update the open conflict of the same A key
	// (keeping its resolution).
	Conflicts []Conflict
	// Close closes conflicts by id.
	Close []int64
	// DeadLetters are added; Entity says which side's record it is.
	DeadLetters []DeadLetter
	// ClearPending removes pending creates (AddTwoWayPending) whose
	// outcome this commit stores.
	ClearPending []TwoWayPendingKey
	// Retried marks these dead letters as retried.
	Retried []int64
	// ClearInflight removes every update in flight of the pipeline
	// (AddTwoWayPending): set by the commit of a round, which considered
	// them all.
	ClearInflight bool
	// RunID, when not zero, is the run whose counts grow by Counts.
	RunID  int64
	Counts Counts
}

// CommitTwoWay writes c in one transaction: either all of it is stored or
// none.
func (s *Store) CommitTwoWay(ctx context.Context, c TwoWayCommit) error {
	now := s.stamp()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if len(c.Remove) > 0 {
			del, err := tx.PrepareContext(ctx, `DELETE FROM twoway_links WHERE pipeline = ? AND a_partition = ? AND a_id = ?`)
			if err != nil {
				return err
			}
			defer del.Close()
			for _, k := range c.Remove {
				if _, err := del.ExecContext(ctx, c.Pipeline, k.Partition, k.ID); err != nil {
					return fmt.Errorf("removing link %s/%s: %w", k.Partition, k.ID, err)
				}
			}
		}
		if len(c.Put) > 0 {
			// A B record linked to another A record (a pair made again
			// after a deletion) moves to the new link.
			var delB *sql.Stmt
			for _, l := range c.Put {
				if !l.Created {
					continue
				}
				if delB == nil {
					var err error
					if delB, err = tx.PrepareContext(ctx, `DELETE FROM twoway_links WHERE pipeline = ? AND b_partition = ? AND b_id = ? AND NOT (a_partition = ? AND a_id = ?)`); err != nil {
						return err
					}
					defer delB.Close()
				}
				if _, err := delB.ExecContext(ctx, c.Pipeline, l.BPartition, l.BID, l.APartition, l.AID); err != nil {
					return fmt.Errorf("moving link of %s/%s: %w", l.BPartition, l.BID, err)
				}
			}
			// Rows go in multi-row statements, as in Commit; the statement
			// of a full chunk is parsed once per commit.
			var full *sql.Stmt
			args := make([]any, 0, linkChunk*linkCols)
			for part := range chunks(c.Put, linkChunk) {
				args = args[:0]
				for _, l := range part {
					// A side's record as the other side mapped it is often
					// byte for byte what the host wrote there: stored once.
					bRecord, bMapped := nonNil(l.B.Record), nonNil(l.B.Mapped)
					if len(bRecord) > 0 && bytes.Equal(bRecord, l.A.Mapped) {
						bRecord = sameAsOther
					}
					if len(bMapped) > 0 && bytes.Equal(bMapped, l.A.Record) {
						bMapped = sameAsOther
					}
					args = append(args, c.Pipeline, l.APartition, l.AID, l.BPartition, l.BID,
						nonNil(l.A.Record), bRecord, nonNil(l.A.Mapped), bMapped, l.A.Hash, l.B.Hash, l.A.Version, l.B.Version, l.A.Sent, l.B.Sent,
						millis(l.A.Modified), millis(l.B.Modified), l.A.Gone, l.B.Gone, now, now)
				}
				var err error
				if len(part) == linkChunk {
					if full == nil {
						if full, err = tx.PrepareContext(ctx, putLinksQuery(linkChunk)); err != nil {
							return fmt.Errorf("preparing the link statement: %w", err)
						}
						defer full.Close()
					}
					_, err = full.ExecContext(ctx, args...)
				} else {
					_, err = tx.ExecContext(ctx, putLinksQuery(len(part)), args...)
				}
				if err != nil {
					return fmt.Errorf("writing %d links: %w", len(part), err)
				}
			}
		}
		for _, cf := range c.Conflicts {
			fields := strings.Join(cf.Fields, ",")
			if _, err := tx.ExecContext(ctx, `INSERT INTO twoway_conflicts (pipeline, a_partition, a_id, b_partition, b_id, a_record, b_record,
				a_deleted, b_deleted, fields, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (pipeline, a_partition, a_id) WHERE closed_at IS NULL DO UPDATE SET b_partition = excluded.b_partition, b_id = excluded.b_id,
				a_record = excluded.a_record, b_record = excluded.b_record, a_deleted = excluded.a_deleted, b_deleted = excluded.b_deleted,
				fields = excluded.fields, updated_at = excluded.updated_at`,
				c.Pipeline, cf.APartition, cf.AID, cf.BPartition, cf.BID, nonNil(cf.A), nonNil(cf.B), cf.ADeleted, cf.BDeleted, fields, now, now); err != nil {
				return fmt.Errorf("recording the conflict of %s/%s: %w", cf.APartition, cf.AID, err)
			}
		}
		for _, id := range c.Close {
			if _, err := tx.ExecContext(ctx, `UPDATE twoway_conflicts SET closed_at = ? WHERE id = ? AND pipeline = ?`, now, id, c.Pipeline); err != nil {
				return fmt.Errorf("closing conflict %d: %w", id, err)
			}
		}
		for _, d := range c.DeadLetters {
			if _, err := tx.ExecContext(ctx, `INSERT INTO dead_letters (pipeline, entity, partition, source_id, record, diagnostics, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				c.Pipeline, d.Entity, d.Partition, d.SourceID, string(d.Record), string(d.Diagnostics), now); err != nil {
				return fmt.Errorf("writing the dead letter of %s: %w", d.SourceID, err)
			}
		}
		if len(c.ClearPending) > 0 {
			// By origin side and partition, many ids per statement.
			groups := map[[2]string][]string{}
			for _, k := range c.ClearPending {
				g := [2]string{k.Origin, k.Partition}
				groups[g] = append(groups[g], k.ID)
			}
			for g, ids := range groups {
				for part := range chunks(ids, idChunk) {
					args := make([]any, 0, len(part)+3)
					args = append(args, c.Pipeline, g[0], g[1])
					for _, id := range part {
						args = append(args, id)
					}
					if _, err := tx.ExecContext(ctx, `DELETE FROM twoway_pending WHERE pipeline = ? AND origin = ? AND origin_partition = ? AND origin_id IN (`+
						placeholderList(len(part))+`)`, args...); err != nil {
						return fmt.Errorf("clearing %d pending creates of %s %s: %w", len(part), g[0], g[1], err)
					}
				}
			}
		}
		for _, id := range c.Retried {
			if _, err := tx.ExecContext(ctx, `UPDATE dead_letters SET retried = 1, retried_at = ? WHERE id = ? AND pipeline = ?`, now, id, c.Pipeline); err != nil {
				return fmt.Errorf("marking dead letter %d retried: %w", id, err)
			}
		}
		if c.ClearInflight {
			if _, err := tx.ExecContext(ctx, `DELETE FROM twoway_inflight WHERE pipeline = ?`, c.Pipeline); err != nil {
				return fmt.Errorf("clearing the updates in flight: %w", err)
			}
		}
		for _, cp := range c.Checkpoints {
			if _, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (pipeline, entity, partition, checkpoint, resync_since, updated_at) VALUES (?, ?, ?, ?, NULL, ?)
				ON CONFLICT (pipeline, entity, partition) DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at`,
				c.Pipeline, cp.Entity, cp.Partition, nonNil(cp.Checkpoint), now); err != nil {
				return fmt.Errorf("writing the checkpoint of %s/%s/%s: %w", c.Pipeline, cp.Entity, cp.Partition, err)
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
		return fmt.Errorf("committing two-way pipeline %s: %w", c.Pipeline, err)
	}
	return nil
}

// linkChunk is the number of links per multi-row statement; linkCols the
// values per link.
const (
	linkChunk = 64
	linkCols  = 21
)

// putLinksQuery is the upsert of n links.
func putLinksQuery(n int) string {
	return `INSERT INTO twoway_links (pipeline, a_partition, a_id, b_partition, b_id,
		a_record, b_record, a_mapped, b_mapped, a_hash, b_hash, a_version, b_version, a_sent, b_sent, a_modified, b_modified, a_gone, b_gone, created_at, updated_at)
		VALUES ` + placeholders(n, linkCols) + `
		ON CONFLICT (pipeline, a_partition, a_id) DO UPDATE SET b_partition = excluded.b_partition, b_id = excluded.b_id,
		a_record = excluded.a_record, b_record = excluded.b_record, a_mapped = excluded.a_mapped, b_mapped = excluded.b_mapped, a_hash = excluded.a_hash, b_hash = excluded.b_hash,
		a_version = excluded.a_version, b_version = excluded.b_version, a_sent = excluded.a_sent, b_sent = excluded.b_sent,
		a_modified = excluded.a_modified, b_modified = excluded.b_modified, a_gone = excluded.a_gone, b_gone = excluded.b_gone, updated_at = excluded.updated_at`
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

const linkColumns = `a_partition, a_id, b_partition, b_id, a_record, b_record, a_mapped, b_mapped, a_hash, b_hash, a_version, b_version, a_sent, b_sent, a_modified, b_modified, a_gone, b_gone`

func scanLink(sc rowScanner) (Link, error) {
	var l Link
	var am, bm int64
	err := sc.Scan(&l.APartition, &l.AID, &l.BPartition, &l.BID, &l.A.Record, &l.B.Record, &l.A.Mapped, &l.B.Mapped, &l.A.Hash, &l.B.Hash,
		&l.A.Version, &l.B.Version, &l.A.Sent, &l.B.Sent, &am, &bm, &l.A.Gone, &l.B.Gone)
	l.A.Modified, l.B.Modified = fromMillis(am), fromMillis(bm)
	if bytes.Equal(l.B.Record, sameAsOther) {
		l.B.Record = l.A.Mapped
	}
	if bytes.Equal(l.B.Mapped, sameAsOther) {
		l.B.Mapped = l.A.Record
	}
	return l, err
}

// sameAsOther stands, in b_record (b_mapped), for the same bytes as
// a_mapped (a_record). Records are tagged JSON objects, never this.
var sameAsOther = []byte("=")

// Links returns the links of a two-way pipeline whose side ("a" or "b")
// record is one of ids in partition, by that id.
func (s *Store) Links(ctx context.Context, pipeline, side, partition string, ids []string) (map[string]Link, error) {
	var col string
	switch side {
	case "a":
		col = "a"
	case "b":
		col = "b"
	default:
		return nil, fmt.Errorf("links: side %q is neither a nor b", side)
	}
	out := make(map[string]Link, len(ids))
	for part := range chunks(ids, idChunk) {
		args := make([]any, 0, len(part)+2)
		args = append(args, pipeline, partition)
		for _, id := range part {
			args = append(args, id)
		}
		rows, err := s.r.QueryContext(ctx, `SELECT `+linkColumns+` FROM twoway_links WHERE pipeline = ? AND `+col+`_partition = ? AND `+col+`_id IN (`+placeholderList(len(part))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("reading links of %s: %w", pipeline, err)
		}
		for rows.Next() {
			l, err := scanLink(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("reading links of %s: %w", pipeline, err)
			}
			if side == "a" {
				out[l.AID] = l
			} else {
				out[l.BID] = l
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("reading links of %s: %w", pipeline, err)
		}
	}
	return out, nil
}

// AllLinks returns every link of a two-way pipeline, or those whose side
// ("a" or "b") partition is partition when partition is not nil.
func (s *Store) AllLinks(ctx context.Context, pipeline, side string, partition *string) ([]Link, error) {
	q := `SELECT ` + linkColumns + ` FROM twoway_links WHERE pipeline = ?`
	args := []any{pipeline}
	if partition != nil {
		switch side {
		case "a":
			q += ` AND a_partition = ?`
		case "b":
			q += ` AND b_partition = ?`
		default:
			return nil, fmt.Errorf("links: side %q is neither a nor b", side)
		}
		args = append(args, *partition)
	}
	return queryAll(ctx, s.r, "reading links of "+pipeline, scanLink, q+` ORDER BY a_partition, a_id`, args...)
}

// Conflicts returns the conflicts not yet closed (open, or resolved and
// waiting for the next sync) of pipeline, or of every pipeline when it is
// empty, oldest first.
func (s *Store) Conflicts(ctx context.Context, pipeline string) ([]Conflict, error) {
	q := `SELECT id, pipeline, a_partition, a_id, b_partition, b_id, a_record, b_record, a_deleted, b_deleted, fields, take, created_at, updated_at, coalesce(resolved_at, 0)
		FROM twoway_conflicts WHERE closed_at IS NULL`
	var args []any
	if pipeline != "" {
		q += ` AND pipeline = ?`
		args = append(args, pipeline)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading conflicts: %w", err)
	}
	defer rows.Close()
	var out []Conflict
	for rows.Next() {
		var c Conflict
		var fields string
		var created, updated, resolved int64
		if err := rows.Scan(&c.ID, &c.Pipeline, &c.APartition, &c.AID, &c.BPartition, &c.BID, &c.A, &c.B, &c.ADeleted, &c.BDeleted,
			&fields, &c.Take, &created, &updated, &resolved); err != nil {
			return nil, fmt.Errorf("reading conflicts: %w", err)
		}
		if fields != "" {
			c.Fields = strings.Split(fields, ",")
		}
		c.CreatedAt, c.UpdatedAt, c.ResolvedAt = fromMillis(created), fromMillis(updated), fromMillis(resolved)
		out = append(out, c)
	}
	return out, rows.Err()
}

// ErrNoConflict is returned by ResolveConflict when the pipeline has no
// open conflict with that id.
var ErrNoConflict = errors.New("no open conflict with that id")

// ResolveConflict settles an open conflict of pipeline: take "a" keeps the
// from side's version, "b" the to side's. The next sync of the pipeline
// writes it to the other side and closes the conflict.
func (s *Store) ResolveConflict(ctx context.Context, pipeline string, id int64, take string) error {
	if take != "a" && take != "b" {
		return fmt.Errorf("resolving conflict %d: take %q, want a or b", id, take)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE twoway_conflicts SET take = ?, resolved_at = ? WHERE id = ? AND pipeline = ? AND closed_at IS NULL`,
		take, s.stamp(), id, pipeline)
	if err != nil {
		return fmt.Errorf("resolving conflict %d of %s: %w", id, pipeline, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("pipeline %s, conflict %d: %w", pipeline, id, ErrNoConflict)
	}
	return nil
}

// TwoWayPending is a create of a two-way pipeline sent (or about to be
// sent) whose outcome is not committed yet. After a crash the runner sends
// it again with the same idempotency key before anything else, so the
// target answers with the record it already made.
type TwoWayPending struct {
	// Origin is the side the record comes from ("a" or "b"); the create
	// goes to the other side.
	Origin                    string
	OriginPartition, OriginID string
	// IdempotencyKey is the key the create was (or is about to be) sent
	// with; it never changes for this pending create.
	IdempotencyKey  string
	TargetPartition string
	// Record is the mapped record sent (the runner's tagged JSON), empty
	// when it is OriginSide.Mapped; Sent is its hash.
	Record []byte
	Sent   string
	// OriginSide is what the host knew of the origin record when it sent
	// the create: the link's state of that side once the create is linked.
	OriginSide LinkSide
}

// TwoWayPendingKey names a pending create by its origin record.
type TwoWayPendingKey struct{ Origin, Partition, ID string }

const twoWayPendingCols = 14

// TwoWayInflight is an update of a two-way pipeline sent (or about to be
// sent) in a round not committed yet.
type TwoWayInflight struct {
	// Side is the side written ("a" or "b"); Partition and ID name its
	// record.
	Side, Partition, ID string
	// Run is the run that sent it: each uncommitted round's write of a
	// record is kept.
	Run int64
	// Fields are the fields written (the runner's tagged JSON record).
	Fields []byte
}

// AddTwoWayPending records, in one transaction, the creates (ps) and
// updates (us) of a two-way pipeline before they are sent. A create
// already recorded for the same origin record, or an update of the same
// record, is replaced. CommitTwoWay removes them: creates with
// ClearPending, updates with ClearInflight.
func (s *Store) AddTwoWayPending(ctx context.Context, pipeline string, ps []TwoWayPending, us []TwoWayInflight) error {
	if len(ps) == 0 && len(us) == 0 {
		return nil
	}
	now := s.stamp()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for part := range chunks(us, linkChunk) {
			args := make([]any, 0, len(part)*7)
			for _, u := range part {
				args = append(args, pipeline, u.Side, u.Partition, u.ID, u.Run, nonNil(u.Fields), now)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO twoway_inflight (pipeline, side, partition, id, run, fields, created_at) VALUES `+
				placeholders(len(part), 7)+` ON CONFLICT (pipeline, side, partition, id, run) DO UPDATE SET fields = excluded.fields`, args...); err != nil {
				return fmt.Errorf("%d updates in flight: %w", len(part), err)
			}
		}
		for part := range chunks(ps, linkChunk) {
			args := make([]any, 0, len(part)*twoWayPendingCols)
			for _, p := range part {
				args = append(args, pipeline, p.Origin, p.OriginPartition, p.OriginID, p.IdempotencyKey, p.TargetPartition, nonNil(p.Record), p.Sent,
					nonNil(p.OriginSide.Record), nonNil(p.OriginSide.Mapped), p.OriginSide.Hash, p.OriginSide.Version, millis(p.OriginSide.Modified), now)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO twoway_pending (pipeline, origin, origin_partition, origin_id, idempotency_key, target_partition,
				record, sent, origin_record, origin_mapped, origin_hash, origin_version, origin_modified, created_at) VALUES `+placeholders(len(part), twoWayPendingCols)+`
				ON CONFLICT (pipeline, origin, origin_partition, origin_id) DO UPDATE SET idempotency_key = excluded.idempotency_key,
				target_partition = excluded.target_partition, record = excluded.record, sent = excluded.sent, origin_record = excluded.origin_record,
				origin_mapped = excluded.origin_mapped, origin_hash = excluded.origin_hash, origin_version = excluded.origin_version,
				origin_modified = excluded.origin_modified`, args...); err != nil {
				return fmt.Errorf("%d pending creates: %w", len(part), err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording pending creates of %s: %w", pipeline, err)
	}
	return nil
}

// TwoWayInflights returns the updates of a two-way pipeline sent in
// rounds that were never committed.
func (s *Store) TwoWayInflights(ctx context.Context, pipeline string) ([]TwoWayInflight, error) {
	return queryAll(ctx, s.r, "listing updates in flight of "+pipeline, func(sc rowScanner) (TwoWayInflight, error) {
		var u TwoWayInflight
		err := sc.Scan(&u.Side, &u.Partition, &u.ID, &u.Run, &u.Fields)
		return u, err
	}, `SELECT side, partition, id, run, fields FROM twoway_inflight WHERE pipeline = ? ORDER BY side, partition, id, run`, pipeline)
}

// TwoWayPendings returns the creates of a two-way pipeline whose outcomes
// were never committed, by origin side, partition and id.
func (s *Store) TwoWayPendings(ctx context.Context, pipeline string) ([]TwoWayPending, error) {
	return queryAll(ctx, s.r, "listing pending creates of "+pipeline, func(sc rowScanner) (TwoWayPending, error) {
		var p TwoWayPending
		var m int64
		err := sc.Scan(&p.Origin, &p.OriginPartition, &p.OriginID, &p.IdempotencyKey, &p.TargetPartition, &p.Record, &p.Sent,
			&p.OriginSide.Record, &p.OriginSide.Mapped, &p.OriginSide.Hash, &p.OriginSide.Version, &m)
		p.OriginSide.Modified = fromMillis(m)
		return p, err
	}, `SELECT origin, origin_partition, origin_id, idempotency_key, target_partition, record, sent, origin_record, origin_mapped, origin_hash,
		origin_version, origin_modified FROM twoway_pending WHERE pipeline = ? ORDER BY origin, origin_partition, origin_id`, pipeline)
}

// HasLinks reports whether a two-way pipeline has any link (none before
// its first sync commits).
func (s *Store) HasLinks(ctx context.Context, pipeline string) (bool, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM twoway_links WHERE pipeline = ?)`, pipeline).Scan(&n); err != nil {
		return false, fmt.Errorf("looking for links of %s: %w", pipeline, err)
	}
	return n == 1, nil
}
