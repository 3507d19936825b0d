package graphtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// maxBatch is the JSON batching limit: "JSON batch requests are currently
// limited to 20 individual requests" (facts §4.5, json-batching.md).
const maxBatch = 20

type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

// serveBatch serves POST /$batch (facts §4.5, json-batching.md): a malformed
// batch answers 400; otherwise the batch answers 200 with one response per
// request ({id, status, headers, body}), requests that depend on a failed
// request answer 424, and each request is evaluated against the throttling
// limits on its own (a throttled request answers 429 inside the 200).
// Independent requests run up to four at a time, as Graph sends them to
// Outlook (facts §4.1).
func (s *Server) serveBatch(c *call) {
	if c.inBatch {
		c.fail(http.StatusBadRequest, "BadRequest", "Nested batch requests are not supported.")
		return
	}
	raw, err := io.ReadAll(io.LimitReader(c.r.Body, 8<<20))
	if err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", "Unable to read the batch request body.")
		return
	}
	var req struct {
		Requests []batchRequest `json:"requests"`
	}
	if err := json.Unmarshal(raw, &req); err != nil || req.Requests == nil {
		c.fail(http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
		return
	}
	if len(req.Requests) > maxBatch {
		c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Number of batch request steps exceeds the maximum of %d.", maxBatch))
		return
	}
	seen := map[string]bool{}
	for i, r := range req.Requests {
		key := strings.ToLower(r.ID)
		switch {
		case r.ID == "":
			c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Request %d of the batch has no id.", i))
			return
		case seen[key]:
			// "unique in batch, else 400; case-insensitive" (facts §4.5).
			c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Request id '%s' is used more than once in the batch.", r.ID))
			return
		case r.Method == "" || r.URL == "":
			c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Request '%s' of the batch needs a method and a url.", r.ID))
			return
		case strings.HasPrefix(strings.ToLower(r.URL), "http"):
			c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Request '%s': batch urls must be relative (e.g. /users).", r.ID))
			return
		}
		if len(r.Body) > 0 && string(r.Body) != "null" && headerValue(r.Headers, "Content-Type") == "" {
			// "headers (required when body present; must include Content-Type)" (facts §4.5).
			c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Request '%s' has a body but no Content-Type header.", r.ID))
			return
		}
		seen[key] = true
	}
	for _, r := range req.Requests {
		for _, d := range r.DependsOn {
			if !seen[strings.ToLower(d)] || strings.EqualFold(d, r.ID) {
				c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Request '%s' depends on unknown request '%s'.", r.ID, d))
				return
			}
		}
	}
	if cyclic(req.Requests) {
		c.fail(http.StatusBadRequest, "BadRequest", "The dependsOn references of the batch form a cycle.")
		return
	}

	responses := make([]map[string]any, len(req.Requests))
	status := make(map[string]int, len(req.Requests))
	done := make(map[string]chan struct{}, len(req.Requests))
	for _, r := range req.Requests {
		done[strings.ToLower(r.ID)] = make(chan struct{})
	}
	var mu sync.Mutex
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, r := range req.Requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[strings.ToLower(r.ID)])
			failedDep := false
			for _, d := range r.DependsOn {
				<-done[strings.ToLower(d)]
				mu.Lock()
				st := status[strings.ToLower(d)]
				mu.Unlock()
				if st >= 400 {
					failedDep = true
				}
			}
			var resp map[string]any
			if failedDep {
				// "any request that depends on that request fails with
				// status code 424 (Failed Dependency)" (facts §4.5).
				body := errorBody("FailedDependency", "The request depends on a request that failed.", requestID(), c.clientID, s.now())
				resp = map[string]any{"id": r.ID, "status": http.StatusFailedDependency,
					"headers": map[string]string{"Content-Type": "application/json"}, "body": body}
			} else {
				sem <- struct{}{}
				resp = s.runBatchPart(c, r)
				<-sem
			}
			mu.Lock()
			status[strings.ToLower(r.ID)] = resp["status"].(int)
			responses[i] = resp
			mu.Unlock()
		}()
	}
	wg.Wait()
	c.writeJSON(http.StatusOK, map[string]any{"responses": responses})
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func cyclic(reqs []batchRequest) bool {
	deps := map[string][]string{}
	for _, r := range reqs {
		for _, d := range r.DependsOn {
			deps[strings.ToLower(r.ID)] = append(deps[strings.ToLower(r.ID)], strings.ToLower(d))
		}
	}
	state := map[string]int{}
	var visit func(string) bool
	visit = func(n string) bool {
		switch state[n] {
		case 1:
			return true
		case 2:
			return false
		}
		state[n] = 1
		for _, d := range deps[n] {
			if visit(d) {
				return true
			}
		}
		state[n] = 2
		return false
	}
	for _, r := range reqs {
		if visit(strings.ToLower(r.ID)) {
			return true
		}
	}
	return false
}

// runBatchPart serves one request of a batch through the normal pipeline.
func (s *Server) runBatchPart(c *call, r batchRequest) map[string]any {
	u := r.URL
	if !strings.HasPrefix(u, "/") {
		u = "/" + u
	}
	var body io.Reader = http.NoBody
	if len(r.Body) > 0 && string(r.Body) != "null" {
		b := []byte(r.Body)
		if !strings.Contains(strings.ToLower(headerValue(r.Headers, "Content-Type")), "json") {
			// Non-JSON bodies are base64 strings (facts §4.5).
			var enc string
			if json.Unmarshal(b, &enc) == nil {
				if dec, err := base64.StdEncoding.DecodeString(enc); err == nil {
					b = dec
				}
			}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.r.Context(), strings.ToUpper(r.Method), s.base+"/v1.0"+u, body)
	if err != nil {
		return map[string]any{"id": r.ID, "status": http.StatusBadRequest, "headers": map[string]string{"Content-Type": "application/json"},
			"body": errorBody("BadRequest", "Invalid request url '"+r.URL+"'.", requestID(), c.clientID, s.now())}
	}
	// The batch's token authorizes every part; other headers come only
	// from the part's own headers (json-batching.md).
	req.Header.Set("Authorization", c.r.Header.Get("Authorization"))
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	rec := newRecorder()
	segs := splitPath(req.URL.EscapedPath())
	for i, seg := range segs {
		if un, err := url.PathUnescape(seg); err == nil {
			segs[i] = un
		}
	}
	s.serveGraph(rec, req, segs[1:], true)
	headers := map[string]string{}
	for k := range rec.h {
		name := k
		if k == "Odata-Version" {
			name = "OData-Version" // the spelling Graph uses (graph-examples/batch-response-1.json)
		}
		headers[name] = rec.h.Get(k)
	}
	resp := map[string]any{"id": r.ID, "status": rec.statusCode(), "headers": headers}
	if rec.body.Len() > 0 {
		// A JSON answer goes into the batch answer as it is (its bytes,
		// not decoded and encoded again); anything else as base64 (facts
		// §4.5: "body (JSON or base64)").
		// The emulator's own answers are JSON whenever they say so.
		if b := bytes.TrimSpace(rec.body.Bytes()); strings.HasPrefix(rec.h.Get("Content-Type"), "application/json") || json.Valid(b) {
			resp["body"] = renderedJSON(b)
		} else {
			resp["body"] = base64.StdEncoding.EncodeToString(rec.body.Bytes())
		}
	}
	return resp
}
