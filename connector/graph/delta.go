package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// checkpointVersion is the version of the checkpoint format.
const checkpointVersion = 1

// checkpoint is the opaque position ReadChanges hands the host, as JSON.
type checkpoint struct {
	V         int    `json:"v"`
	Entity    string `json:"entity"`
	Partition string `json:"partition"`
	// Link is the URL to continue from: an @odata.nextLink mid-round, or
	// the @odata.deltaLink that ended the last round.
	Link string `json:"link"`
	// Complete is set when Link is a delta link (the round ended).
	Complete bool `json:"complete"`
	// Window and FullDay (events only): the calendar window bound into the
	// link, and the UTC day of the full query that started it.
	WindowStart time.Time `json:"windowStart,omitzero"`
	WindowEnd   time.Time `json:"windowEnd,omitzero"`
	FullDay     string    `json:"fullDay,omitempty"`
	// Pending (events only) lists the series masters of the page before
	// Link whose occurrences outside the window were not yet delivered:
	// resuming expands them first.
	Pending []string `json:"pending,omitempty"`
	// Expanded (events only, mid-round) lists the series masters already
	// expanded in the round (Pending among them): a series whose
	// occurrences in the window span pages is expanded once per round, also
	// when the round is resumed from a checkpoint between those pages.
	Expanded []string `json:"expanded,omitempty"`
}

func (cp checkpoint) bytes() []byte {
	b, _ := json.Marshal(cp)
	return b
}

// parseCheckpoint reads a checkpoint; ok is false when it cannot be used
// for this entity and partition (then the read starts over, flagged as a
// full resync).
func parseCheckpoint(b []byte, entity, partition string) (checkpoint, bool) {
	var cp checkpoint
	if len(b) == 0 || json.Unmarshal(b, &cp) != nil {
		return checkpoint{}, false
	}
	if cp.V != checkpointVersion || cp.Entity != entity || !strings.EqualFold(cp.Partition, partition) || cp.Link == "" {
		return checkpoint{}, false
	}
	return cp, true
}

// window returns the calendar window for a full query on day: from
// past_months before the day's start to future_months after the next day's
// start, in UTC.
func (c *Connector) window(day time.Time) (time.Time, time.Time) {
	d := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	return d.AddDate(0, -c.cfg.windowPast, 0), d.AddDate(0, c.cfg.windowNext, 1)
}

// preferHeader builds the Prefer header: page size, time zone for events
// and immutable ids (graph-api-facts §3). Each preference is its own header
// line, as the Graph docs write them.
func (c *Connector) preferHeader(pageSize int, entity string) http.Header {
	h := c.itemHeader(entity)
	h.Add("Prefer", "odata.maxpagesize="+strconv.Itoa(pageSize))
	return h
}

// itemHeader is the Prefer header of requests about entity: the time zone
// for events, and immutable ids for the Outlook items that have them
// (message, event, contact — outlook-immutable-id.md; To Do tasks are not
// among them).
func (c *Connector) itemHeader(entity string) http.Header {
	h := http.Header{}
	if entity == "event" && c.cfg.Timezone != "" {
		h.Add("Prefer", `outlook.timezone="`+c.cfg.Timezone+`"`)
	}
	if c.cfg.immutable && entity != "todoTask" {
		h.Add("Prefer", `IdType="ImmutableId"`)
	}
	return h
}

// entitySchema returns the discovered schema entity.
func (c *Connector) entitySchema(ctx context.Context, entity string) (*schema.Entity, error) {
	if _, ok := mailboxEntities[entity]; !ok {
		return nil, connector.Errorf(connector.NotFound, "entity %q is not offered by the Graph connector", entity)
	}
	s, err := c.DiscoverSchema(ctx, false)
	if err != nil {
		return nil, err
	}
	e, ok := s.Entity(entity)
	if !ok {
		return nil, connector.Errorf(connector.Internal, "entity %s missing from the discovered schema", entity)
	}
	return e, nil
}

// mailboxPath is /v1.0/users/{upn}.
func mailboxPath(mailbox string) string { return "/v1.0/users/" + url.PathEscape(mailbox) }

// initialLink returns the first URL of a full round.
func (c *Connector) initialLink(ctx context.Context, entity, mailbox string, start, end time.Time) (string, error) {
	base := mailboxPath(mailbox)
	switch entity {
	case "event":
		q := url.Values{"startDateTime": {start.UTC().Format(time.RFC3339)}, "endDateTime": {end.UTC().Format(time.RFC3339)}}
		return base + "/calendarView/delta?" + q.Encode(), nil
	case "contact":
		if f := c.cfg.Entities.Contacts.Folder; f != "" {
			return base + "/contactFolders/" + url.PathEscape(f) + "/contacts/delta", nil
		}
		return base + "/contacts/delta", nil
	case "message":
		f := c.cfg.Entities.Messages.Folder
		if f == "" {
			f = "inbox"
		}
		return base + "/mailFolders/" + url.PathEscape(f) + "/messages/delta", nil
	case "todoTask":
		id, err := c.todoList(ctx, mailbox)
		if err != nil {
			return "", err
		}
		return base + "/todo/lists/" + url.PathEscape(id) + "/tasks/delta", nil
	}
	return "", connector.Errorf(connector.NotFound, "entity %q has no change feed", entity)
}

// todoList finds the configured To Do list, or the default one
// (wellknownListName defaultList, filtered here since the server-side
// filter is unconfirmed, graph-api-facts §14 item 10).
func (c *Connector) todoList(ctx context.Context, mailbox string) (string, error) {
	want := c.cfg.Entities.Todo.List
	for next := mailboxPath(mailbox) + "/todo/lists"; next != ""; {
		var page struct {
			Value []struct {
				ID                string `json:"id"`
				DisplayName       string `json:"displayName"`
				WellknownListName string `json:"wellknownListName"`
			} `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := c.client.getJSON(ctx, request{url: next, mailbox: mailbox}, &page); err != nil {
			return "", subjectErr(err, "To Do lists of "+mailbox)
		}
		for _, l := range page.Value {
			if (want == "" && l.WellknownListName == "defaultList") || (want != "" && l.DisplayName == want) {
				return l.ID, nil
			}
		}
		next = page.NextLink
	}
	if want == "" {
		return "", connector.Errorf(connector.NotFound, "mailbox %s has no default To Do list", mailbox)
	}
	return "", connector.FieldErrorf(connector.NotFound, "entities.todo.list", "mailbox %s has no To Do list named %q", mailbox, want)
}

// itemPath returns the URL of one item by id.
func (c *Connector) itemPath(ctx context.Context, entity, mailbox, id string) (string, error) {
	base := mailboxPath(mailbox)
	switch entity {
	case "event":
		return base + "/events/" + url.PathEscape(id), nil
	case "contact":
		return base + "/contacts/" + url.PathEscape(id), nil
	case "message":
		return base + "/messages/" + url.PathEscape(id), nil
	case "todoTask":
		list, err := c.todoList(ctx, mailbox)
		if err != nil {
			return "", err
		}
		return base + "/todo/lists/" + url.PathEscape(list) + "/tasks/" + url.PathEscape(id), nil
	}
	return "", connector.Errorf(connector.NotFound, "entity %q", entity)
}

// errResync marks a link the service no longer accepts.
var errResync = errors.New("delta token rejected by the service")

// ReadChanges reads the changes of one mailbox since the checkpoint.
//
// Each page of the service's delta answer becomes one batch followed by a
// checkpoint holding the page's nextLink (or, on the last page, deltaLink),
// so resuming from any checkpoint yields exactly the pages after it. For
// events the checkpoint also holds the window and the day of the last full
// query: on a new (UTC) day the old round is finished first, so deletions
// it reports are not lost, and then a full query runs over the moved window.
// A link the service rejects (410 Gone, syncStateNotFound, resyncRequired,
// InvalidDeltaToken) restarts with a full query whose first batch has
// FullResync set. An item reported @removed is fetched by id: found, it is
// emitted as an upsert (it left the window or was created outside it);
// gone, as a delete with isDeleted true. Events whose organizer is another
// selected mailbox are left to that mailbox; see dedupEvent.
func (c *Connector) ReadChanges(ctx context.Context, req connector.ChangesRequest, emit func(connector.ChangeBatch) error) error {
	if err := c.configured(); err != nil {
		return err
	}
	mailbox := strings.ToLower(req.Partition)
	if mailbox == "" {
		return connector.Errorf(connector.InvalidInput, "ReadChanges of %s needs a partition (a mailbox)", req.Entity)
	}
	ent, err := c.entitySchema(ctx, req.Entity)
	if err != nil {
		return err
	}
	r := &round{c: c, entity: req.Entity, mailbox: mailbox, user: mailbox, dec: c.client.decoderFor(ent), emit: emit, pageSize: c.cfg.PageSize}
	if req.BatchSize > 0 {
		r.pageSize = req.BatchSize
	}
	if req.Entity == "event" {
		sel, err := c.currentSelection(ctx)
		if err != nil {
			return err
		}
		r.sel = sel
	}
	cp, usable := parseCheckpoint(req.Checkpoint, req.Entity, mailbox)
	resync := len(req.Checkpoint) > 0 && !usable
	today := c.now().UTC().Format(time.DateOnly)
	if usable {
		if req.Entity == "event" && cp.FullDay != today && cp.Complete {
			// A new day: finish with the old window first, then move it.
			err := r.run(ctx, cp, false)
			if err == nil {
				return r.full(ctx, false)
			}
			if !errors.Is(err, errResync) {
				return err
			}
			return r.full(ctx, true)
		}
		err := r.run(ctx, cp, false)
		if errors.Is(err, errResync) {
			return r.full(ctx, true)
		}
		if err != nil || req.Entity != "event" || cp.FullDay == today {
			return err
		}
		// The round that was mid-way when the day changed has ended: move
		// the window now.
		return r.full(ctx, false)
	}
	return r.full(ctx, resync)
}

// round is one ReadChanges call's work on one mailbox.
type round struct {
	c       *Connector
	entity  string
	mailbox string
	// user is mailbox as the value of the records' user field.
	user     any
	dec      *decoder
	emit     func(connector.ChangeBatch) error
	pageSize int
	sel      *selection
	// seriesDone lists series masters already expanded in this call.
	seriesDone map[string]bool
	// next is the next page, requested (nil when none is).
	next *prefetched
	// exp expands the series of the round's pages (see expander).
	exp *expander
}

// full starts a round without a token.
func (r *round) full(ctx context.Context, resync bool) error {
	now := r.c.now().UTC()
	cp := checkpoint{V: checkpointVersion, Entity: r.entity, Partition: r.mailbox}
	if r.entity == "event" {
		cp.WindowStart, cp.WindowEnd = r.c.window(now)
		cp.FullDay = now.Format(time.DateOnly)
	}
	link, err := r.c.initialLink(ctx, r.entity, r.mailbox, cp.WindowStart, cp.WindowEnd)
	if err != nil {
		return err
	}
	cp.Link = link
	if resync {
		// A full resync reports every record again, occurrences outside
		// the window too: the host takes what it does not see as deleted.
		r.seriesDone = nil
	}
	err = r.run(ctx, cp, resync)
	if errors.Is(err, errResync) {
		// The round's own token expired mid-way: start over once, flagged.
		r.seriesDone = nil
		err = r.run(ctx, cp, true)
		if errors.Is(err, errResync) {
			return connector.Errorf(connector.Unavailable, "Graph rejected the delta tokens of two fresh %s rounds for %s in a row", r.entity, r.mailbox)
		}
	}
	return err
}

// run follows cp.Link to the end of the round, emitting a batch per page.
// When cp lists series still to be expanded (the last batch was a page
// whose series expansion had not been delivered), they are expanded first.
//
// The round is a pipeline: once a page is delivered, the next one is
// requested at once, and the series of the pages delivered are expanded
// meanwhile (see expander). Their occurrences are delivered as they come,
// between pages, each batch's checkpoint listing the series still
// pending; after the last page the round waits for the rest.
func (r *round) run(ctx context.Context, cp checkpoint, resync bool) error {
	ctx, cancel := context.WithCancel(ctx)
	x := newExpander(ctx, r)
	defer func() {
		cancel()
		x.stop()
		r.dropFetch()
	}()
	first := true
	for _, m := range cp.Expanded {
		r.markSeries(m)
	}
	if len(cp.Pending) > 0 {
		for _, m := range cp.Pending {
			r.markSeries(m)
		}
		changes, warns, err := r.expandAll(ctx, cp.Pending)
		if err != nil {
			return err
		}
		cp.Pending = nil
		if err := r.emit(connector.ChangeBatch{Changes: changes, Checkpoint: cp.bytes(), FullResync: resync, Warnings: warns}); err != nil {
			return err
		}
		first = false
	}
	header := r.c.preferHeader(r.pageSize, r.entity)
	for {
		if r.next == nil || r.next.link != cp.Link {
			r.dropFetch()
			r.startFetch(ctx, cp.Link, header, first && cp.Complete)
		}
		p := r.next
		// The series of the pages before are delivered while the page
		// is on its way.
		for waiting := true; waiting; {
			select {
			case <-p.done:
				waiting = false
			case res := <-x.results:
				if err := x.deliver(res, &cp); err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		r.next = nil
		err := r.page(ctx, p, &cp, &first, resync, x)
		if errors.Is(err, errRoundDone) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// get sends a GET of a read: a delta page, a page read ahead or a series
// expansion. While the connection has an HTTP slot free it goes alone;
// when every slot is taken, it shares a $batch of at most four parts with
// the other GETs waiting (see partQueue): Graph serves a batch's parts
// four at a time (graph-api-facts §4.1), so such a batch answers in one
// wave, as a lone GET would, while one slot carries four reads. Larger
// batches answer only after their slowest wave.
func (c *Connector) get(ctx context.Context, r request) (*response, error) {
	if c.expand != nil {
		return c.expand.get(ctx, r)
	}
	return c.client.do(ctx, r)
}

// errRoundDone ends a round after its last page.
var errRoundDone = errors.New("round complete")

// page decodes and emits the page p brought; it returns errRoundDone
// after the page that carries the delta link, once every series of the
// round is delivered too. Otherwise it requests the next page at once and
// hands the page's series to the round's expander.
//
// The page's batch goes to the host before its series are expanded, with a
// checkpoint listing those series (and those of earlier pages still
// expanding) as pending; their occurrences follow in batches of their
// own. A decoded page is so held only while it is decoded and delivered,
// never while requests of other pages or series are on the way: the
// memory a read holds follows the pages being decoded (bounded by the
// CPUs, see graphClient.decodeSlot) and the bodies in flight (bounded by
// max_concurrency), not the number of mailboxes or their series.
func (r *round) page(ctx context.Context, p *prefetched, cpp *checkpoint, first *bool, resync bool, x *expander) error {
	released := false
	defer func() {
		p.cancel()
		if !released {
			p.release()
		}
	}()
	cp := *cpp
	// p stays referenced until the page is done (its slot and context);
	// its body must not: the round may wait for its series a while.
	resp, err := p.resp, p.err
	p.resp = nil
	if p.ahead {
		r.c.aheadUsed.Add(1)
	}
	if err != nil {
		var ge *graphError
		if errors.As(err, &ge) && ge.resyncNeeded() {
			return fmt.Errorf("%w: %s", errResync, ge.Code)
		}
		return fmt.Errorf("reading %s changes of %s: %w", r.entity, r.mailbox, subjectErr(err, "mailbox "+r.mailbox))
	}
	// Decoding is CPU work: a page waits for a decode slot before its body
	// is read (a page that shared a resuming batch, with its body).
	decoded := resp.release
	if decoded == nil {
		if decoded, err = r.c.client.decodeSlot(ctx); err != nil {
			return err
		}
	}
	page, warns, err := r.dec.decodePage(resp.body)
	resp.done()
	resp = nil
	if err != nil {
		decoded()
		return connector.Errorf(connector.Unavailable, "a %s delta page of %s cannot be decoded", r.entity, r.mailbox).WithDetail("%v", err)
	}
	changes, removed, todo := r.changes(page.Items)
	decoded()
	page.Items = nil
	if changes, err = r.resolveRemoved(ctx, changes, removed); err != nil {
		return err
	}
	next := cp
	switch {
	case page.NextLink != "":
		next.Link, next.Complete = page.NextLink, false
	case page.DeltaLink != "":
		next.Link, next.Complete = page.DeltaLink, true
	default:
		return connector.Errorf(connector.Unavailable, "a %s delta page of %s has neither nextLink nor deltaLink", r.entity, r.mailbox)
	}
	x.submit(todo)
	if next.Complete {
		x.lastPage()
	}
	next.Pending = x.pending()
	if next.Complete {
		next.Expanded = nil
	} else if len(todo) > 0 {
		next.Expanded = append(slices.Clip(cp.Expanded), todo...)
	}
	if err := r.emit(connector.ChangeBatch{Changes: changes, Checkpoint: next.bytes(), FullResync: resync && *first, Warnings: warns}); err != nil {
		return err
	}
	changes = nil
	*first = false
	*cpp = next
	// The page is delivered: its slot passes to the next page.
	released = true
	p.release()
	if !next.Complete {
		r.startFetch(ctx, next.Link, p.header, false)
		return nil
	}
	if len(next.Pending) > 0 {
		// The last page: the round ends when its series are delivered,
		// with a checkpoint that says so, so the next round does not
		// expand them again.
		exp, ewarns, err := x.finish()
		if err != nil {
			return err
		}
		next.Pending = nil
		if err := r.emit(connector.ChangeBatch{Changes: exp, Checkpoint: next.bytes(), Warnings: ewarns}); err != nil {
			return err
		}
		*cpp = next
	}
	return errRoundDone
}

// prefetched is the next page of a round, requested as soon as the page
// before it was delivered. It holds a page slot from its request until it
// is delivered or dropped.
type prefetched struct {
	link   string
	header http.Header
	// ahead says the page was requested while series of the round were
	// being expanded.
	ahead bool
	done  chan struct{}
	resp  *response
	err   error
	// release gives back the page slot (a no-op until it is taken; set
	// before done closes).
	release func()
	cancel  context.CancelFunc
}

// startFetch requests link, once a page slot is free, in the background;
// the round's next page is then r.next. resuming marks the first request
// of a round that resumes from a delta link: most such rounds find
// nothing, so they share $batch requests across mailboxes.
func (r *round) startFetch(ctx context.Context, link string, h http.Header, resuming bool) {
	pctx, cancel := context.WithCancel(ctx)
	p := &prefetched{link: link, header: h, done: make(chan struct{}), release: func() {}, cancel: cancel}
	if r.exp != nil {
		p.ahead = len(r.exp.outstanding) > 0
	}
	go func() {
		defer close(p.done)
		release, err := r.c.pageSlot(pctx)
		if err != nil {
			p.err = err
			return
		}
		p.release = release
		req := request{method: http.MethodGet, url: link, header: h, mailbox: r.mailbox}
		if resuming && r.c.batch != nil {
			p.resp, p.err = r.c.batch.get(pctx, req)
			return
		}
		// The body of a page is read when a decode slot is free (see
		// decodeSlot), also when the page shares a $batch (see
		// partQueue.send).
		req.gate = r.c.client.decodeSlot
		p.resp, p.err = r.c.get(pctx, req)
	}()
	r.next = p
}

// dropFetch abandons a page requested and not delivered.
func (r *round) dropFetch() {
	p := r.next
	if p == nil {
		return
	}
	r.next = nil
	p.cancel()
	<-p.done
	if p.resp != nil && p.resp.release != nil {
		p.resp.release()
	}
	p.release()
}

// pageSlot bounds how many pages the connection holds at once, across
// mailboxes (max_concurrency): a page is held from its request until the
// host has taken its changes, so memory grows with the concurrency, not
// with the number of mailboxes being synchronised.
func (c *Connector) pageSlot(ctx context.Context) (func(), error) {
	select {
	case c.pages <- struct{}{}:
		return func() { <-c.pages }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// expander expands the series of a round's pages while the round goes on
// with its next pages: at most max_concurrency_per_mailbox − 1 at once
// while pages remain (the page request takes the mailbox's last slot, so
// the chain of pages, which bounds the round, never waits behind
// expansions), all of them after the last page, each in one of as many
// workers. Results go to the round's goroutine (results), which alone
// uses outstanding and inflight: the occurrences are held only until that
// goroutine takes them, which it does while it waits for pages.
type expander struct {
	ctx     context.Context
	r       *round
	results chan expResult

	mu sync.Mutex
	// queue lists the series handed over and not yet started; workers
	// counts the workers running, at most limit.
	queue   []string
	workers int
	limit   int
	all     int // the mailbox's slots, the limit after the last page

	// outstanding lists the series handed over and not yet delivered, in
	// order; inflight counts those whose result is not yet taken.
	outstanding []string
	inflight    int
}

// expResult is the expansion of one series.
type expResult struct {
	master  string
	changes []connector.Change
	err     error
}

func newExpander(ctx context.Context, r *round) *expander {
	n := max(1, r.c.cfg.MaxConcurrencyPerMailbox)
	x := &expander{ctx: ctx, r: r, results: make(chan expResult), limit: max(1, n-1), all: n}
	r.exp = x
	return x
}

// lastPage lets the expansions take the slot held for page requests.
func (x *expander) lastPage() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.limit = x.all
	x.startWorkers()
}

// submit hands masters over for expansion.
func (x *expander) submit(masters []string) {
	if len(masters) == 0 {
		return
	}
	x.outstanding = append(x.outstanding, masters...)
	x.inflight += len(masters)
	x.mu.Lock()
	defer x.mu.Unlock()
	x.queue = append(x.queue, masters...)
	x.startWorkers()
}

// startWorkers starts workers while series wait and the limit allows.
// x.mu is held.
func (x *expander) startWorkers() {
	for x.workers < x.limit && x.workers < len(x.queue) {
		x.workers++
		go x.work()
	}
}

// work expands queued series until none is left.
func (x *expander) work() {
	for {
		x.mu.Lock()
		if len(x.queue) == 0 || x.workers > x.limit {
			x.workers--
			x.mu.Unlock()
			return
		}
		m := x.queue[0]
		x.queue = x.queue[1:]
		x.mu.Unlock()
		res := expResult{master: m}
		if res.err = x.ctx.Err(); res.err == nil {
			res.changes, res.err = x.r.expandSeries(x.ctx, m)
		}
		x.results <- res
	}
}

// pending lists the series not yet delivered.
func (x *expander) pending() []string { return slices.Clone(x.outstanding) }

// take records the result res as taken and returns its changes and
// warning.
func (x *expander) take(res expResult) ([]connector.Change, *connector.Diagnostic, error) {
	x.inflight--
	if i := slices.Index(x.outstanding, res.master); i >= 0 {
		x.outstanding = slices.Delete(x.outstanding, i, i+1)
	}
	if res.err != nil {
		if x.ctx.Err() != nil {
			return nil, nil, x.ctx.Err()
		}
		return nil, connector.Warnf(connector.Unavailable, "the occurrences of series %s in %s outside the window could not be read", res.master, x.r.mailbox).WithDetail("%v", res.err), nil
	}
	return res.changes, nil, nil
}

// deliver takes res and every other result ready, and emits their
// occurrences and warnings, if any, with the checkpoint *cp listing the
// series still pending.
func (x *expander) deliver(res expResult, cp *checkpoint) error {
	var out []connector.Change
	var warns connector.Diagnostics
	for more := true; more; {
		chs, warn, err := x.take(res)
		if err != nil {
			return err
		}
		out = append(out, chs...)
		if warn != nil {
			warns = append(warns, warn)
		}
		select {
		case res = <-x.results:
		default:
			more = false
		}
	}
	if len(out) == 0 && len(warns) == 0 {
		// Nothing to deliver: the next checkpoint lists the series
		// still pending.
		return nil
	}
	next := *cp
	next.Pending = x.pending()
	if err := x.r.emit(connector.ChangeBatch{Changes: out, Checkpoint: next.bytes(), Warnings: warns}); err != nil {
		return err
	}
	*cp = next
	return nil
}

// finish waits for every series handed over and returns their changes.
func (x *expander) finish() ([]connector.Change, connector.Diagnostics, error) {
	var out []connector.Change
	var warns connector.Diagnostics
	for x.inflight > 0 {
		var res expResult
		select {
		case res = <-x.results:
		case <-x.ctx.Done():
			return nil, nil, x.ctx.Err()
		}
		chs, warn, err := x.take(res)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, chs...)
		if warn != nil {
			warns = append(warns, warn)
		}
	}
	return out, warns, nil
}

// stop waits for the expansions still running (their context ended).
func (x *expander) stop() {
	for ; x.inflight > 0; x.inflight-- {
		<-x.results
	}
	x.r.exp = nil
}

// markSeries records that the series master m is expanded in this call,
// reporting whether it was not yet.
func (r *round) markSeries(m string) bool {
	if r.seriesDone == nil {
		r.seriesDone = map[string]bool{}
	}
	if r.seriesDone[m] {
		return false
	}
	r.seriesDone[m] = true
	return true
}

// changes turns a page's items into changes, and lists the series masters
// of the page's occurrences not yet expanded in this call (todo). An event
// reported @removed must be fetched to know whether it was deleted: its
// place in out is left empty and listed in removed (see resolveRemoved), so
// no request is made while the page is being decoded.
func (r *round) changes(items []deltaItem) (out []connector.Change, removed []int, todo []string) {
	out = make([]connector.Change, 0, len(items))
	for _, it := range items {
		if it.Removed != "" {
			if r.entity != "event" {
				out = append(out, connector.Change{Op: connector.Delete, Record: tombstone(it.ID, r.mailbox)})
				continue
			}
			removed = append(removed, len(out))
			out = append(out, connector.Change{Record: connector.Record{ID: it.ID}})
			continue
		}
		rec := recordOf(it, r.mailbox, r.user)
		if r.entity == "event" {
			if !dedupEvent(&rec, r.mailbox, r.sel) {
				continue
			}
			if m, _ := rec.Fields["seriesMasterId"].(string); m != "" && r.markSeries(m) {
				todo = append(todo, m)
			}
		}
		out = append(out, connector.Change{Op: connector.Upsert, Record: rec})
	}
	return out, removed, todo
}

// resolveRemoved fetches the events at the removed places of out (see
// changes) and returns out with their changes in place, in page order.
func (r *round) resolveRemoved(ctx context.Context, out []connector.Change, removed []int) ([]connector.Change, error) {
	if len(removed) == 0 {
		return out, nil
	}
	kept := out[:0]
	next := 0
	for i, ch := range out {
		if next < len(removed) && removed[next] == i {
			next++
			rc, ok, err := r.refetch(ctx, ch.Record.ID)
			if err != nil {
				return nil, err
			}
			if ok {
				kept = append(kept, rc)
			}
			continue
		}
		kept = append(kept, ch)
	}
	return kept, nil
}

// expandAll expands series concurrently: each is a chain of two requests
// (the master, then its instances), and the client keeps the mailbox within
// its concurrency limit. A series that cannot be read is a warning.
func (r *round) expandAll(ctx context.Context, todo []string) ([]connector.Change, connector.Diagnostics, error) {
	type expanded struct {
		changes []connector.Change
		err     error
	}
	results := make([]expanded, len(todo))
	// As many workers as the mailbox may have requests in flight: more
	// would only wait for its slots.
	var wg sync.WaitGroup
	var next atomic.Int64
	for range min(len(todo), r.c.cfg.MaxConcurrencyPerMailbox) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(todo) {
					return
				}
				results[i].changes, results[i].err = r.expandSeries(ctx, todo[i])
			}
		}()
	}
	wg.Wait()
	var out []connector.Change
	var warns connector.Diagnostics
	for i, res := range results {
		if res.err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			warns = append(warns, connector.Warnf(connector.Unavailable, "the occurrences of series %s in %s outside the window could not be read", todo[i], r.mailbox).WithDetail("%v", res.err))
			continue
		}
		out = append(out, res.changes...)
	}
	return out, warns, nil
}

// refetch resolves an @removed event: still there means it left the window
// (or was created outside it) and is emitted as an upsert; gone means
// deleted.
func (r *round) refetch(ctx context.Context, id string) (connector.Change, bool, error) {
	path, err := r.c.itemPath(ctx, r.entity, r.mailbox, id)
	if err != nil {
		return connector.Change{}, false, err
	}
	resp, err := r.c.client.do(ctx, request{method: http.MethodGet, url: path, header: r.c.itemHeader(r.entity), mailbox: r.mailbox})
	var ge *graphError
	if errors.As(err, &ge) && ge.Status == http.StatusNotFound && !ge.is("MailboxNotEnabledForRESTAPI") {
		return connector.Change{Op: connector.Delete, Record: r.c.eventTombstone(ctx, id, r.mailbox)}, true, nil
	}
	if err != nil {
		return connector.Change{}, false, fmt.Errorf("fetching removed %s %s of %s: %w", r.entity, id, r.mailbox, subjectErr(err, "mailbox "+r.mailbox))
	}
	it, err := r.dec.decodeOne(resp.body)
	resp.done()
	if err != nil {
		return connector.Change{}, false, connector.Errorf(connector.Unavailable, "event %s of %s cannot be decoded", id, r.mailbox).WithDetail("%v", err)
	}
	rec := recordOf(it, r.mailbox, r.user)
	if !dedupEvent(&rec, r.mailbox, r.sel) {
		return connector.Change{}, false, nil
	}
	return connector.Change{Op: connector.Upsert, Record: rec}, true, nil
}

// dedupEvent applies the rule for meetings seen in several selected
// mailboxes: the organizer's copy is kept; an attendee's copy is dropped
// when the organizer is selected too; when the organizer is not selected,
// the copy is kept with the other selected attendees removed (each selected
// attendee then keeps its own copy, without the others). It reports whether
// to keep rec, and may edit its attendees.
func dedupEvent(rec *connector.Record, mailbox string, sel *selection) bool {
	if org, _ := rec.Fields["isOrganizer"].(bool); org {
		return true
	}
	organizer := strings.ToLower(addressOf(rec.Fields["organizer"]))
	if organizer == "" || organizer == mailbox {
		return true
	}
	if sel.has(organizer) {
		return false
	}
	atts, ok := rec.Fields["attendees"].([]any)
	if !ok || sel == nil {
		return true
	}
	kept := make([]any, 0, len(atts))
	for _, a := range atts {
		addr := strings.ToLower(addressOf(a))
		if addr != "" && addr != mailbox && sel.has(addr) {
			continue
		}
		kept = append(kept, a)
	}
	rec.Fields["attendees"] = kept
	return true
}

// addressOf returns emailAddress.address of a recipient or attendee value.
func addressOf(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	ea, ok := m["emailAddress"].(map[string]any)
	if !ok {
		return ""
	}
	s, _ := ea["address"].(string)
	return s
}

// expandSeries reads the occurrences of a series outside the window, so a
// series is synchronised whole: from the series' start to its end date, or
// to the window's end when it has none (event-list-instances.md: start and
// end are required). Occurrences inside the window arrive through the delta
// query itself. The caller expands each master once per ReadChanges call;
// expandSeries is safe to run concurrently.
func (r *round) expandSeries(ctx context.Context, masterID string) ([]connector.Change, error) {
	resp, err := r.c.get(ctx, request{method: http.MethodGet, url: mailboxPath(r.mailbox) + "/events/" + url.PathEscape(masterID) + "?$select=recurrence", mailbox: r.mailbox})
	if err != nil {
		return nil, err
	}
	master, err := decodeSeriesMaster(resp.body)
	resp.done()
	if err != nil {
		return nil, fmt.Errorf("decoding series master %s: %w", masterID, err)
	}
	if master.Recurrence == nil {
		return nil, nil
	}
	now := r.c.now().UTC()
	wStart, wEnd := r.c.window(now)
	rs, err := time.Parse(time.DateOnly, master.Recurrence.Range.StartDate)
	if err != nil {
		return nil, fmt.Errorf("series %s has no start date", masterID)
	}
	re := wEnd
	if master.Recurrence.Range.Type == "endDate" {
		if e, err := time.Parse(time.DateOnly, master.Recurrence.Range.EndDate); err == nil {
			re = e.AddDate(0, 0, 1)
		}
	}
	var out []connector.Change
	for _, span := range [][2]time.Time{{rs, wStart}, {wEnd, re}} {
		if !span[0].Before(span[1]) {
			continue
		}
		q := url.Values{"startDateTime": {span[0].Format(time.RFC3339)}, "endDateTime": {span[1].Format(time.RFC3339)}}
		for next := mailboxPath(r.mailbox) + "/events/" + url.PathEscape(masterID) + "/instances?" + q.Encode(); next != ""; {
			resp, err := r.c.get(ctx, request{method: http.MethodGet, url: next, header: r.c.preferHeader(r.pageSize, "event"), mailbox: r.mailbox})
			if err != nil {
				return nil, err
			}
			page, _, err := r.dec.decodePage(resp.body)
			resp.done()
			if err != nil {
				return nil, err
			}
			for _, it := range page.Items {
				if it.Removed != "" {
					continue
				}
				rec := recordOf(it, r.mailbox, r.user)
				if dedupEvent(&rec, r.mailbox, r.sel) {
					out = append(out, connector.Change{Op: connector.Upsert, Record: rec})
				}
			}
			next = page.NextLink
		}
	}
	return out, nil
}

// seriesMaster is what expandSeries reads of a series master.
type seriesMaster struct {
	Recurrence *seriesRecurrence `json:"recurrence"`
}

type seriesRecurrence struct {
	Range recurrenceRange `json:"range"`
}

type recurrenceRange struct {
	Type      string `json:"type"`
	StartDate string `json:"startDate"`
	EndDate   string `json:"endDate"`
}

// decodeSeriesMaster decodes a series master's answer as json.Unmarshal
// does into a seriesMaster. The plain form — the members spelt as
// declared, each once, with values of their types — is read with the
// decoder's scanner (jsonscan.go), which checks the whole answer as
// encoding/json does, several times faster; any other form (a member
// spelt otherwise, repeated, of another type) is left to json.Unmarshal,
// so the result and the errors are encoding/json's.
func decodeSeriesMaster(body []byte) (seriesMaster, error) {
	if m, ok := scanSeriesMaster(body); ok {
		return m, nil
	}
	var m seriesMaster
	err := json.Unmarshal(body, &m)
	return m, err
}

// scanSeriesMaster reads the plain form of a series master's answer; ok
// is false when it is not in that form, or not valid JSON.
func scanSeriesMaster(body []byte) (m seriesMaster, ok bool) {
	var s jsonScanner
	s.reset(body)
	if s.ws() != '{' {
		return m, false
	}
	// object reads null (leaving the pointer nil, as encoding/json does)
	// or an object whose members read reads.
	object := func(read func() bool) bool {
		switch s.ws() {
		case 'n':
			s.literal("null")
			return true
		case '{':
			return read()
		}
		return false
	}
	recurrence := func(string) bool {
		return object(func() bool {
			m.Recurrence = &seriesRecurrence{}
			return scanMembers(&s, func(string) bool {
				return object(func() bool { return scanRange(&s, &m.Recurrence.Range) })
			}, "range")
		})
	}
	if !scanMembers(&s, recurrence, "recurrence") {
		return m, false
	}
	s.end()
	return m, s.err == nil
}

// scanRange reads a recurrence range object (the scanner is at '{').
func scanRange(s *jsonScanner, r *recurrenceRange) bool {
	return scanMembers(s, func(k string) bool {
		var dst *string
		switch k {
		case "type":
			dst = &r.Type
		case "startDate":
			dst = &r.StartDate
		case "endDate":
			dst = &r.EndDate
		default:
			return false
		}
		switch s.ws() {
		case 'n':
			s.literal("null") // leaves the string as it is, as encoding/json does
		case '"':
			raw, fl := s.str()
			if s.err == nil {
				*dst = string(s.unquote(raw, fl))
			}
		default:
			return false
		}
		return true
	}, "type", "startDate", "endDate")
}

// scanMembers reads the members of an object (the scanner is at '{'):
// those named in declared go to member, which reads the value and reports
// whether it is in the plain form; the others are skipped. It reports
// false for a declared member repeated, or another spelling of one
// (encoding/json matches names without regard to case).
func scanMembers(s *jsonScanner, member func(key string) bool, declared ...string) bool {
	if !s.objStart() {
		return s.err == nil
	}
	var seen [4]bool
	for {
		key, flags := s.objKey()
		if s.err != nil || flags != 0 {
			return false
		}
		k := bytesView(key)
		i := slices.Index(declared, k)
		switch {
		case i >= 0:
			if seen[i] || !member(k) {
				return false
			}
			seen[i] = true
		case slices.ContainsFunc(declared, func(d string) bool { return strings.EqualFold(d, k) }):
			return false
		default:
			s.skip(false)
		}
		if s.err != nil {
			return false
		}
		if !s.objNext() {
			return s.err == nil
		}
	}
}

// Read reads every record of a mailbox (a full delta round, without
// keeping its token), keeping those modified at or after ModifiedSince.
// Deleted items are not part of a full read.
func (c *Connector) Read(ctx context.Context, req connector.ReadRequest, emit func([]connector.Record) error) error {
	return c.ReadChanges(ctx, connector.ChangesRequest{Entity: req.Entity, Partition: req.Partition, BatchSize: req.BatchSize}, func(b connector.ChangeBatch) error {
		recs := make([]connector.Record, 0, len(b.Changes))
		for _, ch := range b.Changes {
			if ch.Op != connector.Upsert {
				continue
			}
			if !req.ModifiedSince.IsZero() && !ch.Record.Modified.IsZero() && ch.Record.Modified.Before(req.ModifiedSince) {
				continue
			}
			recs = append(recs, ch.Record)
		}
		if len(recs) == 0 {
			return nil
		}
		return emit(recs)
	})
}
