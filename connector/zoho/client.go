package zoho

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/syncplane/syncplane/connector"
)

// Usage counts the CRM API requests a connection sent (every HTTP attempt,
// retries included), the API credits they cost as Zoho counts them
// (crm-api-facts.md §A7: most GETs 1, writes 1 per 10 records, /deleted 2,
// COQL 1–3; a refused request costs none) and the requests Zoho refused
// with 429.
type Usage struct {
	Requests  int64 `json:"requests"`
	Credits   int64 `json:"credits"`
	Throttled int64 `json:"throttled"`
}

// client makes CRM API calls within the edition's limits.
type client struct {
	hc        *http.Client
	tok       *tokens
	apiDomain string // override from settings, or ""
	// dcDomain is the data centre's documented api_domain, used only when
	// a token response names none (§A2 table).
	dcDomain string
	// sem bounds calls in flight to the edition's concurrency; heavy bounds
	// search, COQL and writes of more than 10 records to 10 (§A7).
	sem, heavy chan struct{}
	sleep      func(ctx context.Context, d time.Duration) error
	retries    int

	calls, credits, throttled atomic.Int64
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *client) usage() Usage {
	return Usage{Requests: c.calls.Load(), Credits: c.credits.Load(), Throttled: c.throttled.Load()}
}

// request is one API call.
type request struct {
	method  string
	path    string // after /crm/v8/
	query   url.Values
	header  http.Header
	body    any
	credits int
	heavy   bool
}

// response is an API answer with a status the caller handles (2xx, 304,
// and 400 for writes whose body holds per-record errors).
type response struct {
	status int
	body   []byte
}

// apiError is Zoho's error object (§A6).
type apiError struct {
	Code    string         `json:"code"`
	Details map[string]any `json:"details"`
	Message string         `json:"message"`
	Status  string         `json:"status"`
}

// do sends a call: it waits for a concurrency slot, authenticates, retries
// once with a fresh token on INVALID_TOKEN, backs off on 429 and 5xx, and
// turns request-level errors into diagnostics. okStatus reports which
// statuses the caller reads itself.
func (c *client) do(ctx context.Context, r request, okStatus func(int) bool) (*response, error) {
	if err := acquire(ctx, c.sem); err != nil {
		return nil, err
	}
	defer func() { <-c.sem }()
	if r.heavy {
		if err := acquire(ctx, c.heavy); err != nil {
			return nil, err
		}
		defer func() { <-c.heavy }()
	}
	var body []byte
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, connector.Errorf(connector.Internal, "encoding the %s %s body: %v", r.method, r.path, err)
		}
		body = b
	}
	refreshed := false
	backoff := time.Second
	for attempt := 0; ; attempt++ {
		st, err := c.tok.token(ctx)
		if err != nil {
			return nil, err
		}
		domain := c.apiDomain
		if domain == "" {
			domain = st.APIDomain
		}
		if domain == "" {
			domain = c.dcDomain
		}
		u := domain + "/crm/v8/" + r.path
		if len(r.query) > 0 {
			u += "?" + r.query.Encode()
		}
		req, err := http.NewRequestWithContext(ctx, r.method, u, bytes.NewReader(body))
		if err != nil {
			return nil, connector.Errorf(connector.Internal, "building %s %s: %v", r.method, r.path, err)
		}
		for k, v := range r.header {
			req.Header[k] = v
		}
		// §A2: Authorization: Zoho-oauthtoken {access_token}.
		req.Header.Set("Authorization", "Zoho-oauthtoken "+st.AccessToken)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		c.calls.Add(1)
		res, err := c.hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if attempt < c.retries {
				if err := c.sleep(ctx, backoff); err != nil {
					return nil, err
				}
				backoff *= 2
				continue
			}
			return nil, connector.Errorf(connector.Unavailable, "calling Zoho CRM %s %s failed", r.method, r.path).WithDetail("%v", err)
		}
		rb, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
		res.Body.Close()
		if err != nil {
			return nil, connector.Errorf(connector.Unavailable, "reading the answer to %s %s: %v", r.method, r.path, err)
		}
		if res.StatusCode < 300 || res.StatusCode == http.StatusNotModified || (okStatus != nil && okStatus(res.StatusCode)) {
			c.credits.Add(int64(r.credits))
			return &response{status: res.StatusCode, body: rb}, nil
		}
		var ae apiError
		_ = json.Unmarshal(rb, &ae)
		switch {
		case res.StatusCode == http.StatusUnauthorized && (ae.Code == "INVALID_TOKEN" || ae.Code == "AUTHENTICATION_FAILURE") && !refreshed:
			c.tok.invalidate(ctx, st.AccessToken)
			refreshed = true
			continue
		case res.StatusCode == http.StatusTooManyRequests:
			c.throttled.Add(1)
			after := retryAfter(res.Header)
			// Credits exhausted for 24 h: retrying now cannot help.
			if ae.Code != "LIMIT_EXCEEDED" && attempt < c.retries {
				wait := backoff
				if after > 0 {
					wait = after
				}
				if err := c.sleep(ctx, wait); err != nil {
					return nil, err
				}
				backoff *= 2
				continue
			}
			if after == 0 {
				// No Retry-After is documented (§A6); tap-zoho-crm waits 60 s.
				after = time.Minute
			}
			return nil, connector.Errorf(connector.RateLimited, "Zoho CRM refused %s %s: API limit reached (%s)", r.method, r.path, orCode(ae.Code)).
				WithDetail("%s", ae.Message).WithRetryAfter(after)
		case res.StatusCode >= 500 && attempt < c.retries:
			if err := c.sleep(ctx, backoff); err != nil {
				return nil, err
			}
			backoff *= 2
			continue
		}
		return nil, errorDiagnostic(res.StatusCode, ae, r)
	}
}

func orCode(code string) string {
	if code == "" {
		return "HTTP 429"
	}
	return code
}

func acquire(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

// errorDiagnostic maps a request-level Zoho error (§A6) to a diagnostic.
func errorDiagnostic(status int, ae apiError, r request) *connector.Diagnostic {
	code := connector.Internal
	switch {
	case ae.Code == "OAUTH_SCOPE_MISMATCH":
		d := connector.Errorf(connector.PermissionDenied, "the Zoho token lacks the scope for %s %s", r.method, r.path)
		return d.WithDetail("OAUTH_SCOPE_MISMATCH: grant the scopes again with the module and settings scopes the connector needs")
	case ae.Code == "INVALID_TOKEN" || ae.Code == "AUTHENTICATION_FAILURE":
		code = connector.AuthExpired
	case ae.Code == "NO_PERMISSION" || status == http.StatusForbidden:
		code = connector.PermissionDenied
	case ae.Code == "INVALID_MODULE" || status == http.StatusNotFound:
		code = connector.NotFound
	case status == http.StatusPreconditionFailed:
		code = connector.Conflict
	case status >= 500:
		code = connector.Unavailable
	case status >= 400:
		code = connector.InvalidInput
	}
	d := connector.Errorf(code, "Zoho CRM refused %s %s: %s", r.method, r.path, orCode(ae.Code))
	detail := ae.Message
	if len(ae.Details) > 0 {
		b, _ := json.Marshal(ae.Details)
		detail = strings.TrimSpace(detail + " " + string(b))
	}
	if detail != "" {
		d = d.WithDetail("HTTP %d: %s", status, detail)
	}
	return d
}

// decode unmarshals a JSON body keeping numbers as json.Number.
func decode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decoding a Zoho answer: %w", err)
	}
	return nil
}
