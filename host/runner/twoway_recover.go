package runner

import (
	"context"
	"fmt"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/host/store"
)

// recoverPending re-sends the creates a crashed (or failed) round sent
// without committing their outcomes, with their original idempotency keys:
// the target answers with the records it already made (or makes them now),
// and the links are committed, with the pending creates cleared, before
// the round reads the change feeds. The origin records' feeds were not
// committed either, so their changes (or deletions) since the create come
// again in this round and reach the linked records as updates (or
// deletions), never as second creates.
func (rd *twRound) recoverPending(ctx context.Context) error {
	ps, err := rd.r.st.TwoWayPendings(ctx, rd.p.Name)
	if err != nil || len(ps) == 0 {
		return err
	}
	rd.r.log.Info("re-sending two-way creates whose outcome was not recorded", "pipeline", rd.p.Name, "records", len(ps))
	var ws [2][]*twWrite
	var pairs []*twPair
	for _, p := range ps {
		o := 0
		if p.Origin == "b" {
			o = 1
		} else if p.Origin != "a" {
			return fmt.Errorf("pending create of %s/%s: origin side %q is neither a nor b", p.OriginPartition, p.OriginID, p.Origin)
		}
		to := 1 - o
		raw := p.Record
		if len(raw) == 0 {
			raw = p.OriginSide.Mapped // what was sent: the origin mapped
		}
		rec, err := decodeRecord(raw)
		if err != nil {
			return fmt.Errorf("pending create of %s/%s: %w", p.OriginPartition, p.OriginID, err)
		}
		rec.ID, rec.Partition = "", p.TargetPartition
		// Created: the crashed round may have committed nothing of a pair
		// made again after a deletion, whose old link still holds the
		// origin record; this link replaces it.
		l := &store.Link{Created: true}
		*linkSide(l, o) = p.OriginSide
		if o == 0 {
			l.APartition, l.AID = p.OriginPartition, p.OriginID
		} else {
			l.BPartition, l.BID = p.OriginPartition, p.OriginID
		}
		pr := &twPair{link: l}
		pairs = append(pairs, pr)
		ws[to] = append(ws[to], &twWrite{pair: pr, from: o, to: to, sent: p.Sent, recovered: true, originPartition: p.OriginPartition, originID: p.OriginID,
			op: connector.WriteOp{Action: connector.ActionUpsert, Partition: p.TargetPartition, Record: rec, IdempotencyKey: p.IdempotencyKey}})
		rd.commit.ClearPending = append(rd.commit.ClearPending, store.TwoWayPendingKey{Origin: p.Origin, Partition: p.OriginPartition, ID: p.OriginID})
	}
	var back [2][]*twWrite
	for to := range 2 {
		done, err := rd.write(ctx, to, ws[to])
		if err != nil {
			return err
		}
		for _, w := range done {
			back[w.to] = append(back[w.to], w)
		}
	}
	for to := range 2 {
		if _, err := rd.write(ctx, to, back[to]); err != nil {
			return err
		}
	}
	for _, pr := range pairs {
		if pr.link.AID != "" && pr.link.BID != "" && !pr.removed {
			rd.commit.Put = append(rd.commit.Put, *pr.link)
		}
	}
	// The recovery commits on its own (no checkpoint moves), and the
	// round starts from a fresh commit.
	c := rd.commit
	c.Counts = rd.n
	if err := rd.r.st.CommitTwoWay(ctx, c); err != nil {
		return err
	}
	rd.recovered = rd.n
	rd.n = store.Counts{}
	rd.commit = store.TwoWayCommit{Pipeline: rd.p.Name, RunID: rd.runID}
	return nil
}

// recoveredOutcome records the outcome of a re-sent pending create: the
// link gets the target's record; a refused create dead-letters the origin
// record as it was when sent. It returns the write-back of the new id to
// the origin, when the pipeline asks for one.
func (rd *twRound) recoveredOutcome(ctx context.Context, w *twWrite, out connector.WriteOutcome) (*twWrite, error) {
	pr := w.pair
	o := w.from
	switch out.Status {
	case connector.Created, connector.Updated, connector.Unchanged:
	default:
		ds := out.Diagnostics
		if len(ds) == 0 {
			ds = connector.Diagnostics{connector.Errorf(connector.Internal, "the target answered %s without diagnostics", out.Status)}
		}
		rec, err := decodeRecord(linkSide(pr.link, o).Record)
		if err != nil {
			return nil, err
		}
		rec.ID, rec.Partition = w.originID, w.originPartition
		pr.removed = true
		return nil, rd.deadLetter(o, rec, ds)
	}
	if out.Status == connector.Created {
		rd.n.Created++
	} else {
		rd.n.Unchanged++
	}
	id := out.TargetID
	if id == "" {
		id = w.op.TargetID
	}
	if w.to == 0 {
		pr.link.APartition, pr.link.AID = w.op.Partition, id
	} else {
		pr.link.BPartition, pr.link.BID = w.op.Partition, id
	}
	held, hash, heldMapped, err := rd.heldRecord(ctx, w, out, id)
	if err != nil {
		return nil, err
	}
	ls := linkSide(pr.link, w.to)
	if err := rd.setSide(ls, w.to, held, hash, out.Version, modifiedOf(rd.sides[w.to], held), heldMapped); err != nil {
		return nil, err
	}
	ls.Sent = w.sent
	pr.dirty = true
	wb := rd.sides[o].writeBack
	if wb == "" {
		return nil, nil
	}
	// Whether the first attempt's write-back reached the origin is not
	// known: it is written again (an unchanged value writes nothing).
	base, err := decodeRecord(linkSide(pr.link, o).Record)
	if err != nil {
		return nil, err
	}
	fill := map[string]any{wb: id}
	h, err := hashFields(fill)
	if err != nil {
		return nil, err
	}
	opart, oid := linkID(pr.link, o)
	return &twWrite{pair: pr, from: -1, to: o, base: base, merge: fill,
		op: connector.WriteOp{Action: connector.ActionUpsert, TargetID: oid, Partition: opart,
			Record:         connector.Record{ID: oid, Partition: opart, Fields: fill},
			IdempotencyKey: rd.p.Name + "/writeback/" + opart + "/" + oid + "/" + h}}, nil
}

// loadInflight reads the updates sent by rounds that were never committed.
func (rd *twRound) loadInflight(ctx context.Context) error {
	us, err := rd.r.st.TwoWayInflights(ctx, rd.p.Name)
	if err != nil || len(us) == 0 {
		return err
	}
	for _, u := range us {
		i := 0
		if u.Side == "b" {
			i = 1
		}
		rec, err := decodeRecord(u.Fields)
		if err != nil {
			return fmt.Errorf("update in flight of %s %s/%s: %w", u.Side, u.Partition, u.ID, err)
		}
		if rd.inflight[i] == nil {
			rd.inflight[i] = map[store.LinkKey][]map[string]any{}
		}
		k := store.LinkKey{Partition: u.Partition, ID: u.ID}
		rd.inflight[i][k] = append(rd.inflight[i][k], rec.Fields)
	}
	return nil
}

// adoptInflight recognises a change of side i that is, wholly or in part,
// an update a crashed round wrote there: the fields holding exactly what
// one of the uncommitted rounds wrote become the link's last-synced values of that side (the
// host's own write, not a change of the side), so they neither go back
// to the other side nor win against the other side's newer change. It
// reports whether nothing else of the fields the link keeps changed, so
// that the change is only the echo of that write.
func (rd *twRound) adoptInflight(pr *twPair, i int, rec connector.Record) (bool, error) {
	writes := rd.inflight[i][store.LinkKey{Partition: rec.Partition, ID: rec.ID}]
	if writes == nil {
		return false, nil
	}
	ls := linkSide(pr.link, i)
	base, err := decodeRecord(ls.Record)
	if err != nil {
		return false, err
	}
	if base.Fields == nil {
		base.Fields = map[string]any{}
	}
	adopted := false
	for _, written := range writes {
		for f, v := range written {
			if cur, ok := rec.Fields[f]; ok && sameValue(cur, v) {
				base.Fields[f] = v
				adopted = true
			}
		}
	}
	if !adopted {
		return false, nil
	}
	same := true
	for f := range rd.sides[i].written {
		if !sameValue(rec.Fields[f], base.Fields[f]) {
			same = false
			break
		}
	}
	if same {
		return true, nil
	}
	raw, err := encodeRecord(base)
	if err != nil {
		return false, err
	}
	// The record mapped at the last sync no longer matches the base: the
	// base mapped now stands in for it (see diffs).
	ls.Record, ls.Mapped = raw, nil
	pr.dirty = true
	return false, nil
}

// goneSide returns the side of a link whose record is gone while the other
// side kept its own, or -1.
func goneSide(l *store.Link) int {
	switch {
	case l == nil:
		return -1
	case l.A.Gone:
		return 0
	case l.B.Gone:
		return 1
	}
	return -1
}

// decideGone settles a pair one side of which deleted its record while the
// other kept its own (a delete policy of ignore or mark). A change of the
// surviving record writes nothing — the deleted record is not made again,
// nor the survivor taken for a new record — and the link learns it; its
// deletion ends the link. The deleted record coming back (restored on its
// side) makes the pair an ordinary one again.
func (rd *twRound) decideGone(ctx context.Context, pr *twPair, g int) error {
	s := 1 - g
	if cg := pr.ch[g]; cg != nil && !cg.deleted {
		linkSide(pr.link, g).Gone = false
		pr.dirty = true
		return rd.decide(ctx, pr)
	}
	cs := pr.ch[s]
	switch {
	case cs == nil:
		return nil
	case cs.deleted:
		pr.removed = true
		rd.n.Deleted++
		return nil
	}
	if err := rd.setSide(linkSide(pr.link, s), s, cs.rec, cs.hash, cs.version, cs.modified, nil); err != nil {
		return err
	}
	pr.dirty = true
	rd.n.Skipped++
	return nil
}
