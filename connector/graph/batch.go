package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxBatch is the JSON batching limit (graph-api-facts §4.5: "JSON batch
// requests are currently limited to 20 individual requests").
const maxBatch = 20

// servedAtOnce is how many parts of an unordered batch Graph sends to
// Outlook at a time (graph-api-facts §4.1: "up to four individual requests
// from the batch at a time, regardless of the target mailboxes"). A batch
// of more parts answers only after ceil(parts/4) waves.
const servedAtOnce = 4

// batchWindow is how long a GET waits for others to share its $batch.
const batchWindow = 3 * time.Millisecond

// batcher coalesces concurrent GETs of different mailboxes into JSON
// batches. It is used for the first request of a round that resumes from a
// delta link: across many mailboxes most such rounds find no change, and
// one $batch answers twenty of them. A request the batch cannot serve
// (the batch failing as a whole, or a throttled part — SDKs do not retry
// inside batches, facts §4.5) is sent again on its own.
type batcher struct {
	c *graphClient
	// size is the most parts a batch carries (maxBatch when 0).
	size int

	mu      sync.Mutex
	pending []*batchCall
	timer   *time.Timer
}

type batchCall struct {
	r    request
	rel  string
	done chan struct{}
	resp *response
	err  error
}

// get sends r (a GET with an absolute or /v1.0-relative URL) through a
// batch when possible.
func (b *batcher) get(ctx context.Context, r request) (*response, error) {
	rel, ok := b.relative(r.url)
	if !ok {
		return b.c.do(ctx, r)
	}
	// The call holds its mailbox's slot while it waits in and rides the
	// batch: parts of one mailbox in concurrent batches would otherwise
	// exceed the four concurrent requests per mailbox and come back 429.
	release, err := b.c.holdMailbox(ctx, r.mailbox)
	if err != nil {
		return nil, err
	}
	call := &batchCall{r: r, rel: rel, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, call)
	switch {
	case len(b.pending) >= b.limit():
		calls := b.pending
		b.pending = nil
		if b.timer != nil {
			b.timer.Stop()
			b.timer = nil
		}
		go b.send(calls)
	case b.timer == nil:
		b.timer = time.AfterFunc(batchWindow, b.flush)
	}
	b.mu.Unlock()
	select {
	case <-call.done:
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
	release()
	if call.err != nil || call.resp == nil {
		// Served on its own: the batch could not answer this one.
		return b.c.do(ctx, r)
	}
	return call.resp, nil
}

// limit is the most parts a batch of b carries.
func (b *batcher) limit() int {
	if b.size > 0 {
		return b.size
	}
	return maxBatch
}

func (b *batcher) flush() {
	b.mu.Lock()
	calls := b.pending
	b.pending = nil
	b.timer = nil
	b.mu.Unlock()
	if len(calls) > 0 {
		b.send(calls)
	}
}

// relative turns a URL under the Graph root into the form a batch wants
// ("/users/…", without the version).
func (b *batcher) relative(u string) (string, bool) {
	rest := u
	if strings.HasPrefix(u, b.c.root) {
		rest = strings.TrimPrefix(u, b.c.root)
	}
	rest, ok := strings.CutPrefix(rest, "/v1.0/")
	if !ok {
		return "", false
	}
	return "/" + rest, true
}

// send posts one $batch; each call gets its part's answer, or nothing
// (then it is sent on its own).
func (b *batcher) send(calls []*batchCall) {
	defer func() {
		for _, c := range calls {
			close(c.done)
		}
	}()
	if len(calls) == 1 {
		return // not worth a batch: sent on its own
	}
	type part struct {
		ID      string            `json:"id"`
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers,omitempty"`
	}
	parts := make([]part, len(calls))
	for i, c := range calls {
		h := map[string]string{}
		for k, vs := range c.r.header {
			h[k] = strings.Join(vs, ", ")
		}
		parts[i] = part{ID: strconv.Itoa(i + 1), Method: http.MethodGet, URL: c.rel, Headers: h}
	}
	body, err := json.Marshal(map[string]any{"requests": parts})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := b.c.do(ctx, request{method: http.MethodPost, url: "/v1.0/$batch", body: body})
	if err != nil {
		for _, c := range calls {
			c.err = fmt.Errorf("batch failed: %w", err)
		}
		return
	}
	var out struct {
		Responses []struct {
			ID      string            `json:"id"`
			Status  int               `json:"status"`
			Headers map[string]string `json:"headers"`
			Body    json.RawMessage   `json:"body"`
		} `json:"responses"`
	}
	// The parts' bodies are copied out (json.RawMessage).
	err = json.Unmarshal(resp.body, &out)
	resp.done()
	if err != nil {
		return
	}
	for _, p := range out.Responses {
		i, err := strconv.Atoi(p.ID)
		if err != nil || i < 1 || i > len(calls) {
			continue
		}
		c := calls[i-1]
		if p.Status >= 200 && p.Status < 300 {
			h := http.Header{}
			for k, v := range p.Headers {
				h.Set(k, v)
			}
			c.resp = &response{status: p.Status, header: h, body: p.Body}
			continue
		}
		// Throttled, failed or a definite error (410 for an expired
		// token): the call is sent on its own, where retries, Retry-After
		// and error classification apply.
		c.err = fmt.Errorf("batch part answered %d", p.Status)
	}
}

// partQueue carries the GETs of reads (delta pages, pages read ahead,
// series expansions) over the connection's HTTP slots (max_concurrency)
// so that no slot goes out with one request while others wait: a GET goes
// alone when a slot is free; when every slot is taken, the GETs waiting
// for one leave together, servedAtOnce (four) to a $batch, as soon as a
// slot frees. Graph serves four parts of a batch at a time, regardless of
// their mailboxes (graph-api-facts §4.1), so such a batch answers in the
// time of one request, and a slot then carries four reads instead of one.
//
// A GET holds its mailbox's slot from the moment it is queued until its
// answer arrives, so requests and parts in flight stay within
// max_concurrency_per_mailbox (the service's four per mailbox, §4.1). A
// sender holds the global slot it took while it sends, and, when its
// answer is in, sends the next GETs waiting, if any, on the same slot.
//
// A part answered 429, 5xx or 401, and every part of a batch that failed
// as a whole, goes on as a request of its own after the part's
// Retry-After, with the client's retries (§4.5: SDKs do not retry inside
// batches; "retry each failed request … using the value provided in the
// retry-after response header from the JSON content"); any other error
// answer of a part (410 syncStateNotFound, 404) is the request's answer,
// as it would be alone.
type partQueue struct {
	c *graphClient

	mu      sync.Mutex
	waiting []*queuedGet
	// arrived is signalled when a GET is queued (see fill).
	arrived chan struct{}
}

// newPartQueue returns the read queue of c.
func newPartQueue(c *graphClient) *partQueue {
	return &partQueue{c: c, arrived: make(chan struct{}, 1)}
}

// queuedGet is one GET in the read queue.
type queuedGet struct {
	r   request
	rel string
	// taken is set (under partQueue.mu) once a sender has the GET.
	taken bool
	done  chan struct{}
	resp  *response
	// err is the GET's answer when it is an error; alone, with neither
	// resp nor err, says the GET is to be sent on its own.
	err   error
	alone bool
}

// get sends r, a GET of a mailbox under the Graph root, alone or in a
// batch (see partQueue).
func (q *partQueue) get(ctx context.Context, r request) (*response, error) {
	rel, ok := q.c.batchPath(r.url)
	if !ok || r.mailbox == "" {
		return q.c.do(ctx, r)
	}
	release, err := q.c.holdMailbox(ctx, r.mailbox)
	if err != nil {
		return nil, err
	}
	g := &queuedGet{r: r, rel: rel, done: make(chan struct{})}
	q.mu.Lock()
	q.waiting = append(q.waiting, g)
	q.mu.Unlock()
	select {
	case q.arrived <- struct{}{}:
	default:
	}
	for wait := true; wait; {
		q.mu.Lock()
		taken := g.taken
		q.mu.Unlock()
		if taken {
			select {
			case <-g.done:
				wait = false
				continue
			case <-ctx.Done():
				release()
				g.abandon()
				return nil, ctx.Err()
			}
		}
		select {
		case <-g.done:
			wait = false
		case q.c.global <- struct{}{}:
			q.mu.Lock()
			batch := q.take()
			if len(batch) == 0 {
				<-q.c.global
			}
			q.mu.Unlock()
			if len(batch) > 0 {
				go q.run(batch)
			}
		case <-ctx.Done():
			q.mu.Lock()
			sent := g.taken
			if !sent {
				q.waiting = slices.DeleteFunc(q.waiting, func(w *queuedGet) bool { return w == g })
				g.taken = true
			}
			q.mu.Unlock()
			release()
			if sent {
				g.abandon()
			}
			return nil, ctx.Err()
		}
	}
	release()
	switch {
	case g.resp != nil:
		return g.resp, nil
	case g.alone:
		return q.c.do(ctx, r)
	}
	// The first attempt failed: go on as do would after it.
	return q.c.attempts(ctx, r, g.err)
}

// abandon leaves the answer of a GET a sender has to no one: once it
// comes, the gate it may hold is given back.
func (g *queuedGet) abandon() {
	go func() {
		<-g.done
		if g.resp != nil && g.resp.release != nil {
			g.resp.release()
		}
	}()
}

// take removes the oldest waiting GETs, at most servedAtOnce, and marks
// them taken, for the slot its caller holds. GETs that queued up before a
// sender ran (a busy CPU delays senders, not only a busy connection) do
// not share that slot while others are free: the newest go alone, each on
// a free slot of its own, until one GET is left or no slot is free. q.mu
// is held.
func (q *partQueue) take() []*queuedGet {
	for len(q.waiting) > 1 && q.spareSlot() {
		last := len(q.waiting) - 1
		g := q.waiting[last]
		q.waiting[last] = nil
		q.waiting = q.waiting[:last]
		g.taken = true
		go q.run([]*queuedGet{g})
	}
	return q.topUp(nil)
}

// spareSlot takes a global slot if one is free at once.
func (q *partQueue) spareSlot() bool {
	select {
	case q.c.global <- struct{}{}:
		return true
	default:
		return false
	}
}

// topUp moves waiting GETs into batch, oldest first, until it holds
// servedAtOnce, and marks them taken. A batch carries at most one GET
// whose body waits for its reader (a delta page, see send): the others
// wait for a batch of their own, so every page's body stays in the
// connection until it can be decoded. q.mu is held.
func (q *partQueue) topUp(batch []*queuedGet) []*queuedGet {
	gated := slices.ContainsFunc(batch, func(g *queuedGet) bool { return g.r.gate != nil })
	kept := q.waiting[:0]
	for _, g := range q.waiting {
		if len(batch) < servedAtOnce && (g.r.gate == nil || !gated) {
			gated = gated || g.r.gate != nil
			g.taken = true
			batch = append(batch, g)
			continue
		}
		kept = append(kept, g)
	}
	clear(q.waiting[len(kept):])
	q.waiting = kept
	return batch
}

// fill tops batch up to servedAtOnce GETs when the connection is busy:
// then the slot that carries it is one of the last free ones, and the
// GETs that come within batchWindow ride along instead of waiting for the
// next slot to free.
func (q *partQueue) fill(batch []*queuedGet) []*queuedGet {
	if len(batch) >= servedAtOnce || !q.c.busy() {
		return batch
	}
	t := time.NewTimer(batchWindow)
	defer t.Stop()
	for {
		select {
		case <-q.arrived:
		case <-t.C:
			return batch
		}
		q.mu.Lock()
		batch = q.topUp(batch)
		q.mu.Unlock()
		if len(batch) >= servedAtOnce {
			return batch
		}
	}
}

// run sends batch on the global slot its caller took, then the GETs
// waiting after it, until none wait, and gives the slot back.
func (q *partQueue) run(batch []*queuedGet) {
	for len(batch) > 0 {
		batch = q.fill(batch)
		q.send(batch)
		q.mu.Lock()
		batch = q.take()
		if len(batch) == 0 {
			<-q.c.global
		}
		q.mu.Unlock()
	}
}

// send sends one GET alone, or several as one $batch, on held slots, and
// hands each its answer.
func (q *partQueue) send(batch []*queuedGet) {
	defer func() {
		for _, g := range batch {
			close(g.done)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if len(batch) == 1 {
		g := batch[0]
		r := g.r
		r.held = true
		u := r.url
		if strings.HasPrefix(u, "/") {
			u = q.c.root + u
		}
		g.resp, g.err = q.c.once(ctx, r, u)
		return
	}
	body := append(make([]byte, 0, 256*len(batch)), `{"requests":[`...)
	// A GET whose body is read only when its reader is ready (a delta
	// page, see request.gate) makes the batch's answer wait for that too:
	// the answer then stays in the connection, not in memory, until the
	// page can be decoded, as it would alone. The first such part gets the
	// gate's release with its answer.
	var gate func(context.Context) (func(), error)
	gated := -1
	for i, g := range batch {
		if i > 0 {
			body = append(body, ',')
		}
		body = appendBatchPart(body, strconv.Itoa(i+1), g.r, g.rel)
		if gate == nil && g.r.gate != nil {
			gate, gated = g.r.gate, i
		}
	}
	body = append(body, "]}"...)
	resp, err := q.c.once(ctx, request{method: http.MethodPost, url: "/v1.0/$batch", body: body, held: true, gate: gate}, q.c.root+"/v1.0/$batch")
	var answers []batchAnswer
	if err == nil {
		// The reads take nothing from the headers of a part answered
		// 2xx: they are checked, not kept.
		answers, err = parseBatchAnswerHeaders(resp.body, success)
		// The parts answered 2xx take their bodies from the answer's
		// buffer, which goes back once the last of them is done (the
		// others' errors hold copies).
		defer resp.done()
	}
	if resp != nil && resp.release != nil {
		defer func() {
			// The gate goes with the gated part's answer, or back.
			if g := batch[gated]; g.resp != nil {
				g.resp.release = resp.release
			} else {
				resp.release()
			}
		}()
	}
	if err != nil {
		for _, g := range batch {
			g.alone = true
		}
		return
	}
	answered := make([]bool, len(batch))
	for _, a := range answers {
		i, err := strconv.Atoi(a.ID)
		if err != nil || i < 1 || i > len(batch) || answered[i-1] {
			continue
		}
		answered[i-1] = true
		g := batch[i-1]
		switch {
		case success(a.Status):
			g.resp = &response{status: a.Status, body: a.Body, buf: resp.buf}
			if resp.buf != nil {
				resp.buf.ref()
			}
		case a.Status == http.StatusUnauthorized:
			// The batch's token is the one to renew: sent on its own,
			// where the client renews it.
			g.alone = true
		default:
			h := make(http.Header, len(a.Headers))
			for k, v := range a.Headers {
				h.Set(k, v)
			}
			g.err = newGraphError(a.Status, h, a.Body, g.r.method, g.r.url)
		}
	}
	for i, g := range batch {
		if !answered[i] {
			g.alone = true
		}
	}
}

// success reports whether status is a 2xx answer.
func success(status int) bool { return status >= 200 && status < 300 }

// batchPath turns a URL under the Graph root into the form a batch part
// wants ("/users/…", without the version).
func (c *graphClient) batchPath(u string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(u, c.root), "/v1.0/")
	if !ok {
		return "", false
	}
	return "/" + rest, true
}
