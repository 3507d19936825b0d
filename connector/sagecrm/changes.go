package sagecrm

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/syncplane/syncplane/connector"
)

// settleDelay is how long after a second the connector trusts that no
// record will still be stamped with it (the server's clock, from its Date
// header, against the cursor).
const settleDelay = 3 * time.Second

// cursor is the position in one *_updateddate feed.
type cursor struct {
	// T is the updated date of the last record emitted (UTC, whole seconds).
	T time.Time `json:"t"`
	// ID is that record's id: the feed continues after (T, ID).
	ID int64 `json:"id,omitempty"`
	// Open marks a second that was not settled when the cursor was taken:
	// the next round reads all of second T again, skipping the rows of AtT
	// whose content has not changed (a row can change again within the
	// same second without its updated date moving).
	Open bool `json:"open,omitempty"`
	// AtT are the ids already emitted in second T while Open.
	AtT []int64 `json:"atT,omitempty"`
	// Sums are the content hashes of the AtT rows as emitted, in AtT order.
	Sums []uint64 `json:"sums,omitempty"`
}

// checkpoint is ReadChanges' opaque state.
type checkpoint struct {
	V        int               `json:"v"`
	Entity   string            `json:"entity"`
	Main     cursor            `json:"main"`
	Children map[string]cursor `json:"children,omitempty"`
	// Round counts rounds; a reconciliation runs when it reaches a
	// multiple of reconcile_every.
	Round int `json:"round"`
	// Known is the set of ids emitted and not deleted, delta-encoded.
	Known string `json:"known,omitempty"`
	// Links maps, per child resource, child id → parent id, encoded.
	Links map[string]string `json:"links,omitempty"`
}

const checkpointVersion = 1

// state is a decoded checkpoint.
type state struct {
	main     cursor
	children map[string]cursor
	round    int
	known    map[int64]bool
	links    map[string]map[int64]int64
}

func encodeIDs(ids []int64) string {
	slices.Sort(ids)
	buf := make([]byte, 0, len(ids)*2)
	var prev int64
	for _, id := range ids {
		buf = binary.AppendUvarint(buf, uint64(id-prev))
		prev = id
	}
	return base64.RawStdEncoding.EncodeToString(buf)
}

func decodeIDs(s string) ([]int64, error) {
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	var out []int64
	var prev int64
	for len(b) > 0 {
		d, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, fmt.Errorf("bad id list")
		}
		prev += int64(d)
		out = append(out, prev)
		b = b[n:]
	}
	return out, nil
}

func encodePairs(m map[int64]int64) string {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf := make([]byte, 0, len(keys)*4)
	var prev int64
	for _, k := range keys {
		buf = binary.AppendUvarint(buf, uint64(k-prev))
		// Parents and children are often created together: store the
		// parent relative to the child, zigzag-encoded.
		buf = binary.AppendVarint(buf, m[k]-k)
		prev = k
	}
	return base64.RawStdEncoding.EncodeToString(buf)
}

func decodePairs(s string) (map[int64]int64, error) {
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	out := map[int64]int64{}
	var prev int64
	for len(b) > 0 {
		d, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, fmt.Errorf("bad pair list")
		}
		b = b[n:]
		p, m := binary.Varint(b)
		if m <= 0 {
			return nil, fmt.Errorf("bad pair list")
		}
		b = b[m:]
		prev += int64(d)
		out[prev] = prev + p
	}
	return out, nil
}

func (s *state) encode(entity string) []byte {
	cp := checkpoint{V: checkpointVersion, Entity: entity, Main: s.main, Children: s.children, Round: s.round}
	ids := make([]int64, 0, len(s.known))
	for id := range s.known {
		ids = append(ids, id)
	}
	cp.Known = encodeIDs(ids)
	if len(s.links) > 0 {
		cp.Links = map[string]string{}
		for res, m := range s.links {
			cp.Links[res] = encodePairs(m)
		}
	}
	b, _ := json.Marshal(cp)
	return b
}

// decodeState reads a checkpoint; a nil checkpoint is a fresh state.
func decodeState(b []byte, entity string) (*state, error) {
	s := &state{children: map[string]cursor{}, known: map[int64]bool{}, links: map[string]map[int64]int64{}}
	if len(b) == 0 {
		return s, nil
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("not a sagecrm checkpoint: %w", err)
	}
	if cp.V != checkpointVersion || cp.Entity != entity {
		return nil, fmt.Errorf("checkpoint of version %d for entity %q, want version %d for %q", cp.V, cp.Entity, checkpointVersion, entity)
	}
	s.main, s.round = cp.Main, cp.Round
	for k, v := range cp.Children {
		s.children[k] = v
	}
	ids, err := decodeIDs(cp.Known)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		s.known[id] = true
	}
	for res, enc := range cp.Links {
		m, err := decodePairs(enc)
		if err != nil {
			return nil, err
		}
		s.links[res] = m
	}
	return s, nil
}

// cursorWhere is the filter for records after cur.
func (c *Connector) cursorWhere(info *entityInfo, cur cursor) string {
	if cur.T.IsZero() {
		return ""
	}
	t := quote(formatServer(cur.T, c.cfg.loc))
	if cur.Open {
		return fmt.Sprintf("%s ge %s", info.updated, t)
	}
	return fmt.Sprintf("(%s gt %s) or (%s eq %s and %s gt %d)", info.updated, t, info.updated, t, info.idField, cur.ID)
}

// idSum is a row's id and content hash.
type idSum struct {
	id  int64
	sum uint64
}

// openCursor builds an open cursor from the rows emitted in second t.
func openCursor(t time.Time, last int64, at map[int64]uint64) cursor {
	cur := cursor{T: t, ID: last, Open: true}
	for id := range at {
		cur.AtT = append(cur.AtT, id)
	}
	slices.Sort(cur.AtT)
	for _, id := range cur.AtT {
		cur.Sums = append(cur.Sums, at[id])
	}
	return cur
}

// feedReader walks one *_updateddate feed from a cursor and keeps the
// cursor that follows what it has handed out.
type feedReader struct {
	c      *Connector
	info   *entityInfo
	filter string
	size   int
	start  cursor
	skip   map[int64]uint64 // AtT → Sums of an open start cursor
	lastT  time.Time
	lastID int64
	atLast []idSum // rows handed out in second lastT
	any    bool
}

func newFeedReader(c *Connector, info *entityInfo, filter string, start cursor) *feedReader {
	f := &feedReader{c: c, info: info, filter: filter, start: start, skip: map[int64]uint64{}, size: c.cfg.PageSize}
	if start.Open && len(start.Sums) == len(start.AtT) {
		for i, id := range start.AtT {
			f.skip[id] = start.Sums[i]
		}
	}
	return f
}

// take records that a row was handed out.
func (f *feedReader) take(r row) {
	if !r.updated.Equal(f.lastT) {
		f.atLast = f.atLast[:0:0]
	}
	f.lastT, f.lastID, f.any = r.updated, r.id, true
	f.atLast = append(f.atLast, idSum{r.id, r.sum})
}

// skipped reports whether a row was emitted in an earlier round.
func (f *feedReader) skipped(r row) bool {
	if !f.start.Open || !r.updated.Equal(f.start.T) {
		return false
	}
	sum, ok := f.skip[r.id]
	return ok && sum == r.sum
}

// cursor returns the cursor after everything handed out so far; final says
// the feed has been read to its end.
func (f *feedReader) cursor(final bool) cursor {
	now := f.c.c.lastServerDate()
	settled := func(t time.Time) bool { return !now.IsZero() && !now.Before(t.Add(settleDelay)) }
	if !f.any {
		cur := f.start
		if final && cur.Open && settled(cur.T) {
			// The whole open second was read again after it settled: every
			// record in it is in AtT.
			maxID := int64(0)
			for _, id := range cur.AtT {
				maxID = max(maxID, id)
			}
			return cursor{T: cur.T, ID: maxID}
		}
		return cur
	}
	if settled(f.lastT) {
		return cursor{T: f.lastT, ID: f.lastID}
	}
	at := map[int64]uint64{}
	if f.start.Open && f.lastT.Equal(f.start.T) {
		for id, sum := range f.skip {
			at[id] = sum
		}
	}
	for _, x := range f.atLast {
		at[x.id] = x.sum // the latest content wins
	}
	return openCursor(f.lastT, f.lastID, at)
}

// read hands out the feed's rows after the start cursor in (updated, id)
// order, page by page.
func (f *feedReader) read(ctx context.Context, page func(rows []row) error) error {
	info, c := f.info, f.c
	sorted, err := c.orderBySupported(ctx, info)
	if err != nil {
		return err
	}
	deliver := func(rows []row) error {
		out := rows[:0:0]
		for _, r := range rows {
			if !f.skipped(r) {
				out = append(out, r)
			}
		}
		for _, r := range rows {
			f.take(r)
		}
		return page(out)
	}
	if !sorted {
		// Before 2024 R2: read the whole answer, then sort (B8.1 "otherwise
		// sort client-side").
		var all []row
		byID := map[int64]int{}
		err := c.scanPages(ctx, info, and(c.cursorWhere(info, f.start), f.filter), func(rows []row) error {
			for _, r := range rows {
				if i, ok := byID[r.id]; ok {
					if r.updated.After(all[i].updated) {
						all[i] = r
					}
					continue
				}
				byID[r.id] = len(all)
				all = append(all, r)
			}
			return nil
		})
		if err != nil {
			return err
		}
		sort.Slice(all, func(i, j int) bool {
			if !all[i].updated.Equal(all[j].updated) {
				return all[i].updated.Before(all[j].updated)
			}
			return all[i].id < all[j].id
		})
		for i := 0; i < len(all); i += f.size {
			if err := deliver(all[i:min(i+f.size, len(all))]); err != nil {
				return err
			}
		}
		return nil
	}
	pos := f.start
	for {
		q := url.Values{"count": {strconv.Itoa(f.size)}, "orderBy": {info.updated + " asc, " + info.idField + " asc"}}
		if w := and(c.cursorWhere(info, pos), f.filter); w != "" {
			q.Set("where", w)
		}
		p, err := c.c.feed(ctx, info.name, q)
		if err != nil {
			return errDiag(err, "reading changes of "+info.name)
		}
		rows := make([]row, 0, len(p.Resources))
		for _, raw := range p.Resources {
			r, err := c.decodeEntry(info, raw)
			if err != nil {
				return connector.Errorf(connector.Internal, "reading changes of %s: %v", info.name, err)
			}
			rows = append(rows, r)
		}
		if len(rows) == 0 {
			return nil
		}
		if err := deliver(rows); err != nil {
			return err
		}
		if p.TotalResults <= len(p.Resources) {
			return nil
		}
		last := rows[len(rows)-1]
		// The next page continues after the last row by keyset, so rows that
		// change meanwhile cannot shift it.
		pos = cursor{T: last.updated, ID: last.id}
	}
}

// scanPages reads all pages of a where by startIndex, for servers that do
// not sort.
func (c *Connector) scanPages(ctx context.Context, info *entityInfo, where string, page func([]row) error) error {
	start := 1
	for {
		q := url.Values{"count": {strconv.Itoa(c.cfg.PageSize)}, "startIndex": {strconv.Itoa(start)}}
		if where != "" {
			q.Set("where", where)
		}
		p, err := c.c.feed(ctx, info.name, q)
		if err != nil {
			return errDiag(err, "reading changes of "+info.name)
		}
		rows := make([]row, 0, len(p.Resources))
		for _, raw := range p.Resources {
			r, err := c.decodeEntry(info, raw)
			if err != nil {
				return connector.Errorf(connector.Internal, "reading changes of %s: %v", info.name, err)
			}
			rows = append(rows, r)
		}
		if err := page(rows); err != nil {
			return err
		}
		start += len(p.Resources)
		if len(p.Resources) == 0 || start > p.TotalResults {
			return nil
		}
	}
}

// ReadChanges emits the changes since the checkpoint; see the package
// documentation for the cursor and for how deletions are found.
func (c *Connector) ReadChanges(ctx context.Context, req connector.ChangesRequest, emit func(connector.ChangeBatch) error) error {
	defer c.saveUsage(ctx)
	info, err := c.entity(ctx, req.Entity)
	if err != nil {
		return err
	}
	if info.updated == "" {
		return connector.Errorf(connector.InvalidInput, "entity %s has no updated date to follow changes by", info.name)
	}
	st, err := decodeState(req.Checkpoint, info.name)
	fullResync := false
	if err != nil {
		st, _ = decodeState(nil, info.name)
		fullResync = true
	}
	first := true
	send := func(changes []connector.Change) error {
		b := connector.ChangeBatch{Changes: changes, Checkpoint: st.encode(info.name), FullResync: fullResync && first}
		first = false
		return emit(b)
	}
	emitted := map[int64]bool{}
	upserts := func(rows []row) ([]connector.Change, error) {
		kids, err := c.compose(ctx, info, rows)
		if err != nil {
			return nil, err
		}
		for res, ks := range kids {
			m := st.links[res]
			if m == nil {
				m = map[int64]int64{}
				st.links[res] = m
			}
			for _, k := range ks {
				m[k.id] = k.parent
			}
		}
		out := make([]connector.Change, len(rows))
		for i, r := range rows {
			st.known[r.id] = true
			emitted[r.id] = true
			out[i] = connector.Change{Op: connector.Upsert, Record: r.rec}
		}
		return out, nil
	}

	// 0. On a first sync, child feeds start at their latest row, taken
	// before the parents are read: the parents read next already hold every
	// child row up to there.
	if len(req.Checkpoint) == 0 || fullResync {
		for _, ch := range info.children {
			cur, err := c.latestCursor(ctx, ch)
			if err != nil {
				return err
			}
			st.children[ch.resource] = cur
		}
	}

	// 1. The entity's own feed.
	fr := newFeedReader(c, info, "", st.main)
	if req.BatchSize > 0 && req.BatchSize < fr.size {
		fr.size = req.BatchSize
	}
	err = fr.read(ctx, func(rows []row) error {
		changes, err := upserts(rows)
		if err != nil {
			return err
		}
		st.main = fr.cursor(false)
		return send(changes)
	})
	if err != nil {
		return err
	}
	st.main = fr.cursor(true)

	// 2. Child rows (email, phone, comm_link) re-emit their parents.
	for _, ch := range info.children {
		if ch.info.updated == "" {
			continue
		}
		cr := newFeedReader(c, ch.info, ch.filter, st.children[ch.resource])
		parents := map[int64]bool{}
		m := st.links[ch.resource]
		if m == nil {
			m = map[int64]int64{}
			st.links[ch.resource] = m
		}
		err := cr.read(ctx, func(rows []row) error {
			for _, r := range rows {
				if old, ok := m[r.id]; ok {
					parents[old] = true
				}
				p, _ := r.rec.Fields[ch.parentField].(int64)
				if p != 0 {
					parents[p] = true
					m[r.id] = p
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		st.children[ch.resource] = cr.cursor(true)
		var ids []int64
		for p := range parents {
			if !emitted[p] {
				ids = append(ids, p)
			}
		}
		slices.Sort(ids)
		if err := c.emitParents(ctx, info, ids, upserts, send); err != nil {
			return err
		}
	}

	// 3. Deletions: a reconciliation every reconcile_every rounds, and in
	// any round where the server counts fewer rows than the connector
	// knows (one small request per feed).
	st.round++
	due := st.round%c.cfg.ReconcileEvery == 0
	if !due && len(st.known) > 0 {
		if due, err = c.fewer(ctx, info, "", len(st.known)); err != nil {
			return err
		}
		for _, ch := range info.children {
			if n := len(st.links[ch.resource]); !due && n > 0 {
				if due, err = c.fewer(ctx, ch.info, ch.filter, n); err != nil {
					return err
				}
			}
		}
	}
	if due && len(st.known) > 0 {
		changes, err := c.reconcile(ctx, info, st, emitted, upserts)
		if err != nil {
			return err
		}
		if len(changes) > 0 {
			return send(changes)
		}
	}
	return send(nil)
}

// latestCursor returns an open cursor at a child feed's latest second,
// holding every id in that second, so the next round reads only rows
// changed after now. With orderBy it costs two small requests; without, a
// scan of the child feed's ids and dates.
func (c *Connector) latestCursor(ctx context.Context, ch childSpec) (cursor, error) {
	info := ch.info
	if info.updated == "" {
		return cursor{}, nil
	}
	sorted, err := c.orderBySupported(ctx, info)
	if err != nil {
		return cursor{}, err
	}
	var latest time.Time
	if sorted {
		q := url.Values{"count": {"1"}, "orderBy": {info.updated + " desc, " + info.idField + " desc"}}
		if ch.filter != "" {
			q.Set("where", ch.filter)
		}
		p, err := c.c.feed(ctx, info.name, q)
		if err != nil {
			return cursor{}, errDiag(err, "reading "+info.name)
		}
		if len(p.Resources) == 0 {
			return cursor{}, nil
		}
		r, err := c.decodeEntry(info, p.Resources[0])
		if err != nil {
			return cursor{}, connector.Errorf(connector.Internal, "reading %s: %v", info.name, err)
		}
		latest = r.updated
	}
	where := ch.filter
	if sorted {
		where = and(where, fmt.Sprintf("%s eq %s", info.updated, quote(formatServer(latest, c.cfg.loc))))
	}
	// Whole entries, not a select of two fields: the content hashes must be
	// those the feed will show.
	at := map[int64]uint64{}
	var last int64
	err = c.scan(ctx, info, where, nil, func(rows []row) error {
		for _, r := range rows {
			switch {
			case r.updated.After(latest):
				latest, at = r.updated, map[int64]uint64{r.id: r.sum}
			case r.updated.Equal(latest):
				at[r.id] = r.sum
			default:
				continue
			}
			last = max(last, r.id)
		}
		return nil
	})
	if err != nil || len(at) == 0 {
		return cursor{}, err
	}
	return openCursor(latest, last, at), nil
}

// fewer reports whether the server counts fewer visible rows matching
// where than known: then at least one known row was deleted.
func (c *Connector) fewer(ctx context.Context, info *entityInfo, where string, known int) (bool, error) {
	q := url.Values{"count": {"1"}}
	if where != "" {
		q.Set("where", where)
	}
	if c.c.selectOK.Load() == 1 {
		q.Set("select", info.idField)
	}
	p, err := c.c.feed(ctx, info.name, q)
	if err != nil {
		return false, errDiag(err, "counting "+info.name)
	}
	return p.TotalResults < known, nil
}

// emitParents reads parents by id and emits them in batches.
func (c *Connector) emitParents(ctx context.Context, info *entityInfo, ids []int64, upserts func([]row) ([]connector.Change, error), send func([]connector.Change) error) error {
	if len(ids) == 0 {
		return nil
	}
	return c.byIDs(ctx, info, info.idField, ids, "", nil, func(rows []row) error {
		changes, err := upserts(rows)
		if err != nil {
			return err
		}
		return send(changes)
	})
}

// reconcile finds deletions: known ids the server no longer returns. See
// the package documentation for its cost.
func (c *Connector) reconcile(ctx context.Context, info *entityInfo, st *state, emitted map[int64]bool, upserts func([]row) ([]connector.Change, error)) ([]connector.Change, error) {
	present := make(map[int64]bool, len(st.known))
	err := c.scan(ctx, info, "", []string{info.idField}, func(rows []row) error {
		for _, r := range rows {
			present[r.id] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var missing []int64
	for id := range st.known {
		if !present[id] {
			missing = append(missing, id)
		}
	}
	slices.Sort(missing)
	// Ask for the missing ids once more: a record a shifting page hid is
	// still there and is not deleted.
	if len(missing) > 0 {
		err := c.byIDs(ctx, info, info.idField, missing, "", []string{info.idField}, func(rows []row) error {
			for _, r := range rows {
				present[r.id] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	var changes []connector.Change
	gone := map[int64]bool{}
	for _, id := range missing {
		if present[id] {
			continue
		}
		gone[id] = true
		delete(st.known, id)
		changes = append(changes, connector.Change{Op: connector.Delete, Record: connector.Record{
			ID: strconv.FormatInt(id, 10), Deleted: true, Fields: map[string]any{info.idField: id},
		}})
	}
	// Child rows that disappeared change their parent.
	parents := map[int64]bool{}
	for _, ch := range info.children {
		m := st.links[ch.resource]
		if len(m) == 0 {
			continue
		}
		seen := map[int64]bool{}
		err := c.scan(ctx, ch.info, ch.filter, []string{ch.info.idField, ch.parentField}, func(rows []row) error {
			for _, r := range rows {
				seen[r.id] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for kid, parent := range m {
			if !seen[kid] {
				delete(m, kid)
				if !gone[parent] && !emitted[parent] && present[parent] {
					parents[parent] = true
				}
			}
		}
	}
	var ids []int64
	for p := range parents {
		ids = append(ids, p)
	}
	slices.Sort(ids)
	if len(ids) > 0 {
		err := c.byIDs(ctx, info, info.idField, ids, "", nil, func(rows []row) error {
			ch, err := upserts(rows)
			changes = append(changes, ch...)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return changes, nil
}
