package sagecrm

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncplane/syncplane/connector"
)

// client speaks the sagecrm2 REST API: HTTP Basic on every request (the API
// is stateless, crm-api-facts.md B2), JSON bodies, SData $diagnoses errors.
type client struct {
	hc   *http.Client
	base *url.URL
	user string
	pass string
	loc  *time.Location

	// orderBy is 0 while unknown, 1 when the server sorts (2024 R2 and
	// later), 2 when it refused orderBy (B3).
	orderBy atomic.Int32
	// selectOK is 0 while unknown, 1 when select is accepted, 2 when refused.
	selectOK atomic.Int32
	// putUpdates is set once the server refused PATCH with 405: updates use
	// PUT from then on (B5: both verbs are documented).
	putUpdates atomic.Bool

	mu         sync.Mutex
	serverDate time.Time // the Date header of the latest response

	// requests counts the HTTP requests sent (retries included); bytes
	// counts the bytes of their bodies and of the answers' bodies.
	requests, bytes atomic.Int64
}

func newHTTPClient(caPEM []byte, timeout time.Duration) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if len(caPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, connector.FieldErrorf(connector.InvalidInput, "ca_file", "ca_file holds no PEM certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	tr.MaxIdleConnsPerHost = 8
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// sdataError is a non-2xx answer.
type sdataError struct {
	status  int
	method  string
	path    string // without query: where clauses may quote record data
	code    string // $sdataCode
	message string
	payload string // $payloadPath
	retry   time.Duration
}

func (e *sdataError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.method, e.path, e.status)
	if e.code != "" {
		msg += " " + e.code
	}
	if e.message != "" {
		msg += ": " + e.message
	}
	return msg
}

// parseDiagnoses reads an error body in either JSON shape, the SData
// envelope {"$diagnoses":[...]} or a bare array (B4: the shape Sage CRM uses
// for every error is UNCONFIRMED), and falls back to the start of a text
// body.
func parseDiagnoses(body []byte) (code, message, payload string) {
	type diag struct {
		Code    string `json:"$sdataCode"`
		Message string `json:"$message"`
		Payload string `json:"$payloadPath"`
	}
	var env struct {
		Diagnoses []diag `json:"$diagnoses"`
	}
	var arr []diag
	var ds []diag
	trimmed := bytes.TrimSpace(body)
	switch {
	case json.Unmarshal(trimmed, &env) == nil && len(env.Diagnoses) > 0:
		ds = env.Diagnoses
	case json.Unmarshal(trimmed, &arr) == nil && len(arr) > 0:
		ds = arr
	}
	if len(ds) > 0 {
		return ds[0].Code, ds[0].Message, ds[0].Payload
	}
	text := strings.TrimSpace(string(trimmed))
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	return "", text, ""
}

// diagnostic classifies the error for the host.
func (e *sdataError) diagnostic(subject string) *connector.Diagnostic {
	detail := e.Error()
	var d *connector.Diagnostic
	switch {
	case e.status == http.StatusUnauthorized:
		d = connector.Errorf(connector.AuthFailed, "Sage CRM refused the user name or password")
	case e.status == http.StatusForbidden:
		d = connector.Errorf(connector.PermissionDenied, "the CRM user may not %s", subject)
	case e.status == http.StatusNotFound:
		d = connector.Errorf(connector.NotFound, "%s: not found", subject)
	case e.status == http.StatusConflict || e.status == http.StatusPreconditionFailed:
		d = connector.Errorf(connector.Conflict, "%s: conflict", subject)
	case e.status == http.StatusTooManyRequests:
		d = connector.Errorf(connector.RateLimited, "%s: the server asked to slow down", subject).WithRetryAfter(e.retry)
	case e.status >= 500:
		d = connector.Errorf(connector.Unavailable, "%s: the server failed (HTTP %d)", subject, e.status)
	default:
		msg := e.message
		if msg == "" {
			msg = http.StatusText(e.status)
		}
		d = connector.Errorf(connector.InvalidInput, "%s: %s", subject, msg)
		if e.payload != "" {
			d.Field = strings.ToLower(e.payload)
		}
	}
	return d.WithDetail("%s", detail)
}

// errDiag converts any error from the client into a diagnostic error.
func errDiag(err error, subject string) error {
	if err == nil {
		return nil
	}
	var se *sdataError
	if errors.As(err, &se) {
		return se.diagnostic(subject)
	}
	var d *connector.Diagnostic
	if errors.As(err, &d) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return connector.Errorf(connector.Unavailable, "%s: cannot reach Sage CRM", subject).WithDetail("%v", err)
}

func (c *client) url(path string, q url.Values) string {
	u := *c.base
	u.Path += path
	u.RawPath = ""
	s := u.String()
	if len(q) > 0 {
		s += "?" + strings.ReplaceAll(q.Encode(), "+", "%20")
	}
	return s
}

// do sends one request and returns the body of a 2xx answer. Reads and
// updates are retried on 5xx, 429 and transport errors, up to three
// attempts; a POST is never retried, so a create is never sent twice.
func (c *client) do(ctx context.Context, method, path string, q url.Values, body any) (int, []byte, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return 0, nil, fmt.Errorf("encoding the %s body: %w", path, err)
		}
	}
	attempts := 3
	if method == http.MethodPost {
		attempts = 1
	}
	var lastErr error
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 {
			wait := time.Duration(200<<attempt) * time.Millisecond
			var se *sdataError
			if errors.As(lastErr, &se) && se.retry > 0 {
				wait = se.retry
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return 0, nil, ctx.Err()
			case <-t.C:
			}
		}
		status, data, err := c.once(ctx, method, path, q, payload)
		if err == nil {
			return status, data, nil
		}
		lastErr = err
		var se *sdataError
		if errors.As(err, &se) && se.status < 500 && se.status != http.StatusTooManyRequests {
			return status, nil, err
		}
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
	}
	return 0, nil, lastErr
}

func (c *client) once(ctx context.Context, method, path string, q url.Values, payload []byte) (int, []byte, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, q), rd)
	if err != nil {
		return 0, nil, fmt.Errorf("building %s %s: %w", method, path, err)
	}
	req.SetBasicAuth(c.user, c.pass)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.requests.Add(1)
	c.bytes.Add(int64(len(payload)))
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	c.bytes.Add(int64(len(data)))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer to %s %s: %w", method, path, err)
	}
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		c.mu.Lock()
		c.serverDate = d.UTC()
		c.mu.Unlock()
	}
	if resp.StatusCode/100 != 2 {
		se := &sdataError{status: resp.StatusCode, method: method, path: path}
		se.code, se.message, se.payload = parseDiagnoses(data)
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			if n, err := strconv.Atoi(ra); err == nil {
				se.retry = time.Duration(n) * time.Second
			}
		}
		return resp.StatusCode, nil, se
	}
	return resp.StatusCode, data, nil
}

// lastServerDate is the server's clock as its latest answer stated it, or
// zero.
func (c *client) lastServerDate() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.serverDate
}

// feedPage is one page of a feed (B4 "Feed").
type feedPage struct {
	TotalResults int               `json:"$totalResults"`
	StartIndex   int               `json:"$startIndex"`
	ItemsPerPage int               `json:"$itemsPerPage"`
	Resources    []json.RawMessage `json:"$resources"`
}

// feed GETs one page of a resource.
func (c *client) feed(ctx context.Context, resource string, q url.Values) (*feedPage, error) {
	_, data, err := c.do(ctx, http.MethodGet, resource, q, nil)
	if err != nil {
		return nil, err
	}
	var p feedPage
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("decoding the %s feed: %w", resource, err)
	}
	return &p, nil
}

// isStatus reports whether err is an answer with the given status.
func isStatus(err error, status int) bool {
	var se *sdataError
	return errors.As(err, &se) && se.status == status
}

// quote renders a where literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
