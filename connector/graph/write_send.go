package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/syncplane/syncplane/internal/jsonenc"
)

// send performs the requests of jobs (none addressing the same item) and
// records each answer in its job: through JSON $batch requests when the
// connection may share batches, else one request per job. done, if not
// nil, is called (from any goroutine) with each job once its answer or
// error is final — the jobs of a batch as soon as the batch is answered,
// while other batches are still out. send returns when every job has an
// answer or an error.
func (c *Connector) send(ctx context.Context, jobs []*writeJob, done func(*writeJob)) {
	if done == nil {
		done = func(*writeJob) {}
	}
	var wg sync.WaitGroup
	if c.batch == nil || len(jobs) < 2 {
		for _, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				j.resp, j.err = c.sendOne(ctx, j)
				done(j)
			}()
		}
		wg.Wait()
		return
	}
	// A create that may have been committed already is looked up first,
	// on its own (doCreate); the others share batches.
	var batched []*writeJob
	for _, j := range jobs {
		if !j.suspect {
			batched = append(batched, j)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			j.resp, j.err = c.sendOne(ctx, j)
			done(j)
		}()
	}
	for _, b := range packBatches(batched, maxBatch) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.sendBatch(ctx, b, done)
		}()
	}
	wg.Wait()
}

// packBatches groups jobs into batches of at most size: jobs sorted by
// mailbox (stable, so ops of one mailbox keep their order) fill batches in
// turn, so a mailbox's jobs share as few batches as possible and mailboxes
// with few jobs share a batch.
func packBatches(jobs []*writeJob, size int) [][]*writeJob {
	sorted := slices.Clone(jobs)
	slices.SortStableFunc(sorted, func(a, b *writeJob) int { return strings.Compare(a.mailbox, b.mailbox) })
	var out [][]*writeJob
	for len(sorted) > 0 {
		n := min(size, len(sorted))
		out = append(out, sorted[:n:n])
		sorted = sorted[n:]
	}
	return out
}

// appendBatchPart appends one request of a JSON batch (graph-api-facts
// §4.5): {"id","method","url","headers","body"}, headers being the
// request's own (values of a repeated header joined by ", ") and, with a
// body, Content-Type application/json ("headers … required when body
// present"). The body is the request's JSON as it is: the connector
// renders it, so it is not decoded and checked again.
func appendBatchPart(dst []byte, id string, r request, rel string) []byte {
	dst = appendPartStart(dst, id, r.method, rel)
	dst = appendBatchHeaders(dst, r)
	if r.body != nil {
		dst = append(append(dst, `,"body":`...), r.body...)
	}
	return append(dst, '}')
}

// appendPartStart opens a batch part with its id, method and url.
func appendPartStart(dst []byte, id, method, rel string) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonenc.AppendString(dst, id)
	dst = append(dst, `,"method":`...)
	dst = jsonenc.AppendString(dst, method)
	dst = append(dst, `,"url":`...)
	return jsonenc.AppendString(dst, rel)
}

// partHeaders renders the "headers" members of a batch's parts once for
// each header map: the upserts of a Write share one (writeRun.header).
type partHeaders struct {
	header   unsafe.Pointer // the map last rendered
	withBody bool
	rendered []byte
}

// appendPart appends the part as appendBatchPart does.
func (p *partHeaders) appendPart(dst []byte, id string, r request, rel string) []byte {
	dst = appendPartStart(dst, id, r.method, rel)
	if key := reflect.ValueOf(r.header).UnsafePointer(); key == nil || key != p.header || (r.body != nil) != p.withBody || p.rendered == nil {
		p.header, p.withBody = key, r.body != nil
		p.rendered = appendBatchHeaders(p.rendered[:0], r)
		if p.rendered == nil {
			p.rendered = []byte{}
		}
	}
	dst = append(dst, p.rendered...)
	if r.body != nil {
		dst = append(append(dst, `,"body":`...), r.body...)
	}
	return append(dst, '}')
}

// appendBatchHeaders appends the part's "headers" member, if it has one.
func appendBatchHeaders(dst []byte, r request) []byte {
	keys := make([]string, 0, len(r.header)+1)
	for k := range r.header {
		if r.body == nil || !strings.EqualFold(k, "Content-Type") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if len(keys) > 0 || r.body != nil {
		dst = append(dst, `,"headers":{`...)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(jsonenc.AppendString(dst, k), ':')
			dst = jsonenc.AppendString(dst, strings.Join(r.header[k], ", "))
		}
		if r.body != nil {
			if len(keys) > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `"Content-Type":"application/json"`...)
		}
		dst = append(dst, '}')
	}
	return dst
}

// batchAnswer is one response inside a batch answer.
type batchAnswer struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// sendBatch sends jobs as one $batch. Parts answered 2xx or with a definite
// error are done; a part answered 429 or 5xx, a part missing from the
// answer, and every part of a batch that failed as a whole are sent again
// on their own (after the part's Retry-After), where the client's retries
// apply.
func (c *Connector) sendBatch(ctx context.Context, jobs []*writeJob, done func(*writeJob)) {
	if len(jobs) == 1 {
		jobs[0].resp, jobs[0].err = c.sendOne(ctx, jobs[0])
		done(jobs[0])
		return
	}
	stamped := false
	for _, j := range jobs {
		stamped = stamped || j.stamped
	}
	counts := map[string]int{}
	size := 64
	for _, j := range jobs {
		size += 256 + len(j.req.url) + len(j.req.body)
	}
	body := append(make([]byte, 0, size), `{"requests":[`...)
	var headers partHeaders
	for i, j := range jobs {
		counts[j.mailbox]++
		rel, ok := c.batchURL(j.req.url)
		if !ok {
			c.sendAlone(ctx, jobs, done)
			return
		}
		if i > 0 {
			body = append(body, ',')
		}
		body = headers.appendPart(body, strconv.Itoa(i+1), j.req, rel)
	}
	body = append(body, "]}"...)
	var err error
	release, err := c.takeSlots(ctx, counts)
	if err != nil {
		for _, j := range jobs {
			j.err = err
			done(j)
		}
		return
	}
	batchReq := request{method: http.MethodPost, url: "/v1.0/$batch", body: body}
	var resp *response
	if stamped {
		// The client would send a failed batch again as it is, creates
		// of contacts and tasks included: such a batch is sent once, and
		// its parts, if it fails, on their own through doCreate.
		resp, err = c.doOnce(ctx, batchReq)
	} else {
		resp, err = c.client.do(ctx, batchReq)
	}
	release()
	if err != nil {
		if ctx.Err() != nil {
			for _, j := range jobs {
				j.err = ctx.Err()
				done(j)
			}
			return
		}
		if stamped {
			for _, j := range jobs {
				j.err = err // its Retry-After applies to the resends
				j.suspect = j.suspect || (j.stamped && mayHaveCommitted(err))
			}
		}
		c.sendAlone(ctx, jobs, done)
		return
	}
	responses, err := parseWriteAnswer(resp.body)
	if err != nil {
		resp.done()
		// The parts may have been carried out: an unreadable answer is
		// as good as a lost one.
		for _, j := range jobs {
			j.suspect = j.suspect || j.stamped
		}
		c.sendAlone(ctx, jobs, done)
		return
	}
	answered := make([]bool, len(jobs))
	final := make([]bool, len(jobs)) // answered for good: done after the loop
	var again []*writeJob
	for _, a := range responses {
		i, err := strconv.Atoi(a.ID)
		if err != nil || i < 1 || i > len(jobs) || answered[i-1] {
			continue
		}
		answered[i-1] = true
		j := jobs[i-1]
		if a.Status >= 200 && a.Status < 300 {
			// The answer of a write is read from its body alone (finish,
			// completeCopy): its headers are not kept. The body lies in
			// the batch answer's buffer, which goes back to the client
			// once the last such part is done with it (the others'
			// errors hold copies).
			j.answer = response{status: a.Status, body: a.Body, buf: resp.buf}
			if resp.buf != nil {
				resp.buf.ref()
			}
			j.resp = &j.answer
			final[i-1] = true
			continue
		}
		h := make(http.Header, len(a.Headers))
		for k, v := range a.Headers {
			h.Set(k, v)
		}
		ge := newGraphError(a.Status, h, a.Body, j.req.method, j.req.url)
		if _, retry := retryable(ge, 1); retry {
			// Throttled or failed inside the batch: sent again on its own
			// after the part's own Retry-After (§4.5: "retry each failed
			// request … using the value provided in the retry-after
			// response header from the JSON content").
			j.err = ge
			j.suspect = j.suspect || (j.stamped && mayHaveCommitted(ge))
			again = append(again, j)
			continue
		}
		j.err = ge
		final[i-1] = true
	}
	for i, j := range jobs {
		if !answered[i] {
			j.suspect = j.suspect || j.stamped
			again = append(again, j)
		}
	}
	resp.done() // the parts answered 2xx hold the buffer now
	for i, j := range jobs {
		if final[i] {
			done(j)
		}
	}
	c.sendAlone(ctx, again, done)
}

// sendAlone sends each job as its own request, concurrently, after the
// Retry-After of its failed batch part, if any, and calls done with each.
func (c *Connector) sendAlone(ctx context.Context, jobs []*writeJob, done func(*writeJob)) {
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer done(j)
			var ge *graphError
			if errors.As(j.err, &ge) && ge.RetryAfter > 0 {
				if err := c.client.sleep(ctx, ge.RetryAfter); err != nil {
					j.resp, j.err = nil, err
					return
				}
			}
			j.resp, j.err = c.sendOne(ctx, j)
		}()
	}
	wg.Wait()
}

// sendOne sends one job's request on its own: a stamped create through
// doCreate, anything else through the client with its retries.
func (c *Connector) sendOne(ctx context.Context, j *writeJob) (*response, error) {
	if j.stamped {
		return c.doCreate(ctx, j)
	}
	return c.client.do(ctx, j.req)
}

// doOnce sends r once (and once more with a fresh token when the token
// was refused, as the client does).
func (c *Connector) doOnce(ctx context.Context, r request) (*response, error) {
	u := r.url
	if strings.HasPrefix(u, "/") {
		u = c.client.root + u
	}
	resp, err := c.client.once(ctx, r, u)
	var ge *graphError
	if errors.As(err, &ge) && ge.Status == http.StatusUnauthorized && ge.token != "" {
		c.client.tokens.invalidate(r.mailbox, ge.token)
		resp, err = c.client.once(ctx, r, u)
	}
	return resp, err
}

// mayHaveCommitted reports whether a failed request may still have been
// carried out by the service: a 5xx or a connection that broke may come
// after the change was made (graph-api-facts §4.4), a 4xx answer — 429
// included, the request was refused before it ran (§4.3) — was not.
func mayHaveCommitted(err error) bool {
	var ge *graphError
	if errors.As(err, &ge) {
		return ge.Status >= 500
	}
	return true
}

// doCreate sends the stamped create of a contact or To Do task with the
// client's retry rules (retryable: 429, 503, 504, broken connections,
// Retry-After), but before an attempt that follows a failure which may
// have been committed (mayHaveCommitted), or when the job is already
// suspect, it looks for the item by its stamp (findStamped) and, when
// found, answers with it instead of creating a second one. A lookup that
// fails ends the op with that error: sending the create blind could make
// a duplicate.
func (c *Connector) doCreate(ctx context.Context, j *writeJob) (*response, error) {
	for attempt := 1; ; attempt++ {
		if j.suspect {
			resp, found, err := c.findStamped(ctx, j)
			if err != nil {
				return nil, fmt.Errorf("looking for the %s an earlier attempt may have created: %w", j.entity, err)
			}
			if found {
				j.found = true
				return resp, nil
			}
		}
		resp, err := c.doOnce(ctx, j.req)
		if err == nil {
			return resp, nil
		}
		wait, retry := retryable(err, attempt)
		if !retry || attempt >= c.client.maxAttempts || ctx.Err() != nil {
			return nil, err
		}
		j.suspect = j.suspect || mayHaveCommitted(err)
		if serr := c.client.sleep(ctx, wait); serr != nil {
			return nil, err
		}
	}
}

// stampFilter is the $filter that finds the items of entity carrying
// stamp: for contacts the documented lambda over single-value extended
// properties (singlevaluelegacyextendedproperty-get.md, "GET resource
// instances that include … extended properties matching a filter", which
// lists /users/{id}/contacts and /users/{id}/contactFolders/{id}/contacts;
// the value compares without regard to case). For To Do tasks Graph
// documents no filter over linkedResources: the lambda over
// externalId and applicationName used here is UNCONFIRMED — should the
// service refuse it, the lookup fails and the op is rejected rather than
// sent blind.
func stampFilter(entity, stamp string) string {
	lit := strings.ReplaceAll(stamp, "'", "''")
	if entity == "todoTask" {
		return "linkedResources/any(r: r/externalId eq '" + lit + "' and r/applicationName eq '" + stampApplication + "')"
	}
	return "singleValueExtendedProperties/Any(ep: ep/id eq '" + stampPropertyID + "' and ep/value eq '" + lit + "')"
}

// findStamped lists the items of the job's collection carrying its stamp
// and returns the first as the answer of the create.
func (c *Connector) findStamped(ctx context.Context, j *writeJob) (*response, bool, error) {
	// Spaces, colons and slashes of the filter are percent-encoded
	// (singlevaluelegacyextendedproperty-get.md: "apply URL encoding").
	q := strings.ReplaceAll(url.QueryEscape(stampFilter(j.entity, j.tx)), "+", "%20")
	resp, err := c.client.do(ctx, request{method: http.MethodGet, url: j.req.url + "?$filter=" + q, header: j.req.header, mailbox: j.mailbox})
	if err != nil {
		return nil, false, err
	}
	var page struct {
		Value []json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(resp.body, &page); err != nil {
		return nil, false, fmt.Errorf("decoding the items found by their stamp: %w", err)
	}
	if len(page.Value) == 0 {
		return nil, false, nil
	}
	return &response{status: http.StatusOK, header: resp.header, body: page.Value[0]}, true, nil
}

// batchURL turns a request URL under the Graph root into the form a batch
// part wants ("/users/…", without the version).
func (c *Connector) batchURL(u string) (string, bool) {
	rest := strings.TrimPrefix(u, c.client.root)
	if !strings.HasPrefix(rest, "/v1.0/") {
		return "", false
	}
	return rest[len("/v1.0"):], true // a part of u: nothing is copied
}

// takeSlots takes, for each mailbox of counts, min(count,
// max_concurrency_per_mailbox) of the client's concurrency slots of that
// mailbox, so a batch running that many requests there at once keeps the
// mailbox within its limit. Mailboxes are taken in sorted order under
// slotsMu: two batches never hold part of what the other waits for.
// Single requests take one slot at a time and never wait while holding
// one, so they cannot block this for good.
func (c *Connector) takeSlots(ctx context.Context, counts map[string]int) (func(), error) {
	mailboxes := make([]string, 0, len(counts))
	for m := range counts {
		mailboxes = append(mailboxes, m)
	}
	slices.Sort(mailboxes)
	var taken []chan struct{}
	release := func() {
		for _, s := range taken {
			<-s
		}
	}
	c.slotsMu.Lock()
	defer c.slotsMu.Unlock()
	for _, m := range mailboxes {
		s := c.client.slot(m)
		for range min(counts[m], cap(s)) {
			select {
			case s <- struct{}{}:
				taken = append(taken, s)
			case <-ctx.Done():
				release()
				return nil, fmt.Errorf("waiting for the concurrency slots of %s: %w", m, ctx.Err())
			}
		}
	}
	return release, nil
}
