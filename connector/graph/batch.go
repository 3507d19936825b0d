package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
	if err := json.Unmarshal(resp.body, &out); err != nil {
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
