package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// send performs the requests of jobs (none addressing the same item) and
// records each answer in its job: through JSON $batch requests when the
// connection may share batches, else one request per job. It returns when
// every job has an answer or an error.
func (c *Connector) send(ctx context.Context, jobs []*writeJob) {
	var wg sync.WaitGroup
	if c.batch == nil || len(jobs) < 2 {
		for _, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				j.resp, j.err = c.client.do(ctx, j.req)
			}()
		}
		wg.Wait()
		return
	}
	for _, b := range packBatches(jobs, maxBatch) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.sendBatch(ctx, b)
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

// batchPart is one request inside a JSON batch (graph-api-facts §4.5).
type batchPart struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
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
func (c *Connector) sendBatch(ctx context.Context, jobs []*writeJob) {
	if len(jobs) == 1 {
		jobs[0].resp, jobs[0].err = c.client.do(ctx, jobs[0].req)
		return
	}
	parts := make([]batchPart, len(jobs))
	counts := map[string]int{}
	for i, j := range jobs {
		counts[j.mailbox]++
		rel, ok := c.batchURL(j.req.url)
		if !ok {
			c.sendAlone(ctx, jobs)
			return
		}
		p := batchPart{ID: strconv.Itoa(i + 1), Method: j.req.method, URL: rel, Headers: map[string]string{}}
		for k, vs := range j.req.header {
			p.Headers[k] = strings.Join(vs, ", ")
		}
		if j.req.body != nil {
			p.Headers["Content-Type"] = "application/json"
			p.Body = j.req.body
		}
		parts[i] = p
	}
	body, err := json.Marshal(map[string]any{"requests": parts})
	if err != nil {
		c.sendAlone(ctx, jobs)
		return
	}
	release, err := c.takeSlots(ctx, counts)
	if err != nil {
		for _, j := range jobs {
			j.err = err
		}
		return
	}
	resp, err := c.client.do(ctx, request{method: http.MethodPost, url: "/v1.0/$batch", body: body})
	release()
	if err != nil {
		if ctx.Err() != nil {
			for _, j := range jobs {
				j.err = ctx.Err()
			}
			return
		}
		c.sendAlone(ctx, jobs)
		return
	}
	var out struct {
		Responses []batchAnswer `json:"responses"`
	}
	if err := json.Unmarshal(resp.body, &out); err != nil {
		c.sendAlone(ctx, jobs)
		return
	}
	answered := make([]bool, len(jobs))
	var again []*writeJob
	for _, a := range out.Responses {
		i, err := strconv.Atoi(a.ID)
		if err != nil || i < 1 || i > len(jobs) || answered[i-1] {
			continue
		}
		answered[i-1] = true
		j := jobs[i-1]
		h := http.Header{}
		for k, v := range a.Headers {
			h.Set(k, v)
		}
		if a.Status >= 200 && a.Status < 300 {
			j.resp = &response{status: a.Status, header: h, body: a.Body}
			continue
		}
		ge := newGraphError(a.Status, h, a.Body, j.req.method, j.req.url)
		if _, retry := retryable(ge, 1); retry {
			// Throttled or failed inside the batch: sent again on its own
			// after the part's own Retry-After (§4.5: "retry each failed
			// request … using the value provided in the retry-after
			// response header from the JSON content").
			j.err = ge
			again = append(again, j)
			continue
		}
		j.err = ge
	}
	for i, j := range jobs {
		if !answered[i] {
			again = append(again, j)
		}
	}
	c.sendAlone(ctx, again)
}

// sendAlone sends each job as its own request, concurrently, after the
// Retry-After of its failed batch part, if any.
func (c *Connector) sendAlone(ctx context.Context, jobs []*writeJob) {
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ge *graphError
			if errors.As(j.err, &ge) && ge.RetryAfter > 0 {
				if err := c.client.sleep(ctx, ge.RetryAfter); err != nil {
					j.resp, j.err = nil, err
					return
				}
			}
			j.resp, j.err = c.client.do(ctx, j.req)
		}()
	}
	wg.Wait()
}

// batchURL turns a request URL under the Graph root into the form a batch
// part wants ("/users/…", without the version).
func (c *Connector) batchURL(u string) (string, bool) {
	rest := strings.TrimPrefix(u, c.client.root)
	rest, ok := strings.CutPrefix(rest, "/v1.0/")
	if !ok {
		return "", false
	}
	return "/" + rest, true
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
