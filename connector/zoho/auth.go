package zoho

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/syncplane/syncplane/connector"
)

// Keys in the host's stores.
const (
	secretAccessToken  = "zoho/access_token"  // storedToken JSON
	secretRefreshToken = "zoho/refresh_token" // exchanged from grant_code
	valueAPIDomain     = "zoho/api_domain"
)

// storedToken is the access token kept in the host's secret store, so
// every connector process of the connection shares one token per lifetime
// instead of refreshing on every start (§A2 limits: refresh throttling).
type storedToken struct {
	AccessToken string    `json:"access_token"`
	Expiry      time.Time `json:"expiry"`
	Scope       string    `json:"scope"`
	APIDomain   string    `json:"api_domain"`
	// Grant is a fingerprint of the refresh token the access token came
	// from; a changed refresh token makes the stored token unusable.
	Grant string `json:"grant"`
}

// tokens obtains and caches access tokens. token is safe for concurrent
// use; concurrent callers share one refresh.
type tokens struct {
	hc          *http.Client
	accountsURL string
	clientID    string
	secret      string
	refresh     string
	grantCode   string
	redirectURI string
	host        connector.Host
	now         func() time.Time

	mu  sync.Mutex
	cur *storedToken
}

func fingerprint(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// expiryMargin: a token with less left is refreshed first.
const expiryMargin = 5 * time.Minute

// token returns a valid access token, refreshing it when it has less than
// expiryMargin left or was invalidated.
func (t *tokens) token(ctx context.Context) (*storedToken, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur != nil && t.now().Add(expiryMargin).Before(t.cur.Expiry) {
		return t.cur, nil
	}
	if err := t.ensureRefreshToken(ctx); err != nil {
		return nil, err
	}
	grant := fingerprint(t.refresh)
	// Another process of this connection may have refreshed already.
	if b, ok, err := t.host.Secrets().Get(ctx, secretAccessToken); err == nil && ok {
		var st storedToken
		if json.Unmarshal(b, &st) == nil && st.Grant == grant && t.now().Add(expiryMargin).Before(st.Expiry) &&
			(t.cur == nil || st.AccessToken != t.cur.AccessToken) {
			t.cur = &st
			return t.cur, nil
		}
	}
	resp, err := t.post(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {t.refresh}})
	if err != nil {
		return nil, err
	}
	st := &storedToken{AccessToken: resp.AccessToken, Expiry: t.now().Add(time.Duration(resp.ExpiresIn) * time.Second),
		Scope: resp.Scope, APIDomain: resp.APIDomain, Grant: grant}
	if err := t.store(ctx, st); err != nil {
		return nil, err
	}
	t.cur = st
	return st, nil
}

// invalidate forgets tok after the API refused it (401 INVALID_TOKEN).
func (t *tokens) invalidate(ctx context.Context, tok string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur != nil && t.cur.AccessToken == tok {
		t.cur = nil
		_ = t.host.Secrets().Delete(ctx, secretAccessToken)
	}
}

func (t *tokens) store(ctx context.Context, st *storedToken) error {
	b, _ := json.Marshal(st)
	if err := t.host.Secrets().Put(ctx, secretAccessToken, b); err != nil {
		return fmt.Errorf("storing the access token in the host's secret store: %w", err)
	}
	if st.APIDomain != "" {
		// api_domain is persisted per connection: mixing data centres is
		// the most common real-world failure (§A1, key takeaway 1).
		if err := t.host.Values().Put(ctx, valueAPIDomain, []byte(st.APIDomain)); err != nil {
			return fmt.Errorf("storing api_domain: %w", err)
		}
	}
	return nil
}

// ensureRefreshToken exchanges grant_code once and keeps the refresh
// token in the host's secret store, written before it is used.
func (t *tokens) ensureRefreshToken(ctx context.Context) error {
	if t.refresh != "" {
		return nil
	}
	key := secretRefreshToken + "/" + fingerprint(t.grantCode)
	if b, ok, err := t.host.Secrets().Get(ctx, key); err != nil {
		return fmt.Errorf("reading the refresh token from the host's secret store: %w", err)
	} else if ok {
		t.refresh = string(b)
		return nil
	}
	v := url.Values{"grant_type": {"authorization_code"}, "code": {t.grantCode}}
	if t.redirectURI != "" {
		v.Set("redirect_uri", t.redirectURI)
	}
	resp, err := t.post(ctx, v)
	if err != nil {
		return err
	}
	if resp.RefreshToken == "" {
		return connector.FieldErrorf(connector.AuthFailed, "grant_code", "the grant code was exchanged but no refresh token came back").
			WithDetail("the code must be generated with access_type=offline")
	}
	if err := t.host.Secrets().Put(ctx, key, []byte(resp.RefreshToken)); err != nil {
		return fmt.Errorf("storing the refresh token in the host's secret store: %w", err)
	}
	t.refresh = resp.RefreshToken
	st := &storedToken{AccessToken: resp.AccessToken, Expiry: t.now().Add(time.Duration(resp.ExpiresIn) * time.Second),
		Scope: resp.Scope, APIDomain: resp.APIDomain, Grant: fingerprint(t.refresh)}
	return t.store(ctx, st)
}

type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	RefreshToken     string `json:"refresh_token"`
	Scope            string `json:"scope"`
	APIDomain        string `json:"api_domain"`
	ExpiresIn        int64  `json:"expires_in"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// post calls {accounts}/oauth/v2/token with a form body (§A2). Zoho
// reports token errors as HTTP 200 with {"error": ...}; refresh
// throttling is HTTP 400 "Access Denied".
func (t *tokens) post(ctx context.Context, v url.Values) (*tokenResponse, error) {
	v.Set("client_id", t.clientID)
	v.Set("client_secret", t.secret)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.accountsURL+"/oauth/v2/token", strings.NewReader(v.Encode()))
	if err != nil {
		return nil, connector.FieldErrorf(connector.InvalidInput, "accounts_url", "building the token request: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := t.hc.Do(req)
	if err != nil {
		return nil, connector.Errorf(connector.Unavailable, "reaching the Zoho accounts server %s failed", t.accountsURL).WithDetail("%v", redact(err, t))
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, connector.Errorf(connector.Unavailable, "the Zoho accounts server answered HTTP %d without JSON", res.StatusCode)
	}
	switch {
	case tr.Error == "Access Denied":
		return nil, connector.Errorf(connector.RateLimited, "Zoho refused to issue another access token: too many token requests").
			WithDetail("%s", tr.ErrorDescription).WithRetryAfter(time.Minute)
	case tr.Error == "invalid_client":
		return nil, connector.FieldErrorf(connector.AuthFailed, "client_id", "Zoho does not accept the client id or client secret").
			WithDetail("invalid_client; check client_id, client_secret and that the client is enabled for data centre of %s", t.accountsURL)
	case tr.Error == "invalid_code":
		field := "refresh_token"
		if v.Get("grant_type") == "authorization_code" {
			field = "grant_code"
		}
		return nil, connector.FieldErrorf(connector.AuthExpired, field, "Zoho does not accept the %s: it is wrong, expired or revoked; grant access again", strings.ReplaceAll(field, "_", " ")).
			WithDetail("invalid_code from %s", t.accountsURL)
	case tr.Error != "":
		return nil, connector.Errorf(connector.AuthFailed, "the Zoho accounts server refused the token request: %s", tr.Error)
	case res.StatusCode != http.StatusOK || tr.AccessToken == "":
		return nil, connector.Errorf(connector.Unavailable, "the Zoho accounts server answered HTTP %d without a token", res.StatusCode)
	}
	if tr.ExpiresIn <= 0 {
		tr.ExpiresIn = 3600
	}
	return &tr, nil
}

// redact removes the secrets of t from an error's text (URLs in net/http
// errors carry no form body, but be sure).
func redact(err error, t *tokens) string {
	s := err.Error()
	for _, secret := range []string{t.secret, t.refresh, t.grantCode} {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}
