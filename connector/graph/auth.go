package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/syncplane/syncplane/connector"
)

// tokenSource hands out access tokens for Graph. mailbox names the user
// whose token is needed when tokens are per user; app-only and
// administrator tokens ignore it.
type tokenSource interface {
	token(ctx context.Context, mailbox string) (string, error)
	// invalidate drops a cached token Graph refused (401), so the next
	// call fetches a new one; tok guards against dropping a newer one.
	invalidate(mailbox, tok string)
}

// refreshMargin is how long before expiry a cached token is renewed.
const refreshMargin = 2 * time.Minute

// cachedToken is one access token shared by every goroutine: the first
// caller to find it missing or near expiry fetches a new one while the
// others wait, so each credential asks the identity platform once per token
// lifetime.
type cachedToken struct {
	mu     sync.Mutex
	access string
	expiry time.Time
}

func (t *cachedToken) get(ctx context.Context, now func() time.Time, fetch func(context.Context) (string, time.Time, error)) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.access != "" && now().Add(refreshMargin).Before(t.expiry) {
		return t.access, nil
	}
	tok, exp, err := fetch(ctx)
	if err != nil {
		return "", err
	}
	t.access, t.expiry = tok, exp
	return tok, nil
}

// drop forgets the cached token if it is still tok.
func (t *cachedToken) drop(tok string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.access == tok {
		t.access, t.expiry = "", time.Time{}
	}
}

// appTokens are application (client credentials) tokens from an
// azidentity credential.
type appTokens struct {
	cred   azcore.TokenCredential
	scopes []string
	now    func() time.Time
	cache  cachedToken
}

func (a *appTokens) token(ctx context.Context, _ string) (string, error) {
	return a.cache.get(ctx, a.now, func(ctx context.Context) (string, time.Time, error) {
		tok, err := a.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: a.scopes})
		if err != nil {
			return "", time.Time{}, signInDiagnostic(err, "the application")
		}
		return tok.Token, tok.ExpiresOn, nil
	})
}

func (a *appTokens) invalidate(_ string, tok string) { a.cache.drop(tok) }

// newAppTokens builds the client-secret or client-certificate credential.
// The authority host comes from the cloud setting; a custom cloud turns
// instance discovery off (it would ask login.microsoftonline.com about a
// host it does not know).
func newAppTokens(cfg *config, hc *http.Client, now func() time.Time) (*appTokens, error) {
	opts := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: cfg.authority},
		Transport: hc,
	}
	var cred azcore.TokenCredential
	var err error
	switch cfg.Auth {
	case AuthClientSecret:
		cred, err = azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, cfg.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: cfg.custom})
	case AuthClientCertificate:
		certs, key, perr := azidentity.ParseCertificates(cfg.certPEM, []byte(cfg.CertificatePassword))
		if perr != nil {
			return nil, connector.FieldErrorf(connector.InvalidInput, "certificate_file", "certificate_file %s: %v", cfg.CertificateFile, perr)
		}
		cred, err = azidentity.NewClientCertificateCredential(cfg.TenantID, cfg.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: cfg.custom})
	default:
		return nil, fmt.Errorf("auth %s has no application credential", cfg.Auth)
	}
	if err != nil {
		return nil, connector.Errorf(connector.InvalidInput, "cannot build the %s credential", cfg.Auth).WithDetail("%v", err)
	}
	return &appTokens{cred: cred, scopes: cfg.scopes, now: now}, nil
}

// tokenErrorBody is the identity platform's error answer (graph-api-facts
// §8: {error, error_description "AADSTS…", error_codes, …}).
type tokenErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
}

// aadsts returns "AADSTS<code>: first line of the description" without
// trace ids; descriptions never hold secrets.
func (b tokenErrorBody) summary() string {
	d := b.Description
	if i := strings.IndexAny(d, "\r\n"); i >= 0 {
		d = d[:i]
	}
	if b.Error != "" {
		return b.Error + ": " + d
	}
	return d
}

// signInDiagnostic turns an azidentity failure into a diagnostic. The
// identity platform's error code, not its text, decides (reference-error-codes:
// "branch on error").
func signInDiagnostic(err error, who string) error {
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) && afe.RawResponse != nil {
		var b tokenErrorBody
		if afe.RawResponse.Body != nil {
			raw, _ := io.ReadAll(afe.RawResponse.Body)
			_ = json.Unmarshal(raw, &b)
		}
		return tokenDiagnostic(afe.RawResponse.StatusCode, b, who)
	}
	return connector.Errorf(connector.Unavailable, "signing in %s failed", who).WithDetail("%v", err)
}

// tokenDiagnostic classifies a token endpoint error answer.
func tokenDiagnostic(status int, b tokenErrorBody, who string) *connector.Diagnostic {
	has := func(codes ...int) bool {
		for _, c := range b.Codes {
			for _, w := range codes {
				if c == w {
					return true
				}
			}
		}
		return false
	}
	var d *connector.Diagnostic
	switch {
	case has(7000222):
		d = connector.FieldErrorf(connector.AuthFailed, "client_secret", "the client secret has expired; create a new one in the app registration")
	case has(7000215, 70002, 7000218, 700027) || b.Error == "invalid_client":
		d = connector.Errorf(connector.AuthFailed, "the identity platform refused the application's credentials")
	case has(50173, 700082, 70008, 50132, 50133, 700084):
		d = connector.Errorf(connector.AuthExpired, "the refresh token of %s was revoked or has expired: consent must be given again", who)
	case has(65001, 90094, 650057) || b.Error == "consent_required":
		d = connector.Errorf(connector.PermissionDenied, "consent is missing for %s: an administrator must grant admin consent to the application", who)
	case b.Error == "invalid_grant" || b.Error == "interaction_required":
		d = connector.Errorf(connector.AuthExpired, "the refresh token of %s is no longer valid: consent must be given again", who)
	case has(700016, 90002):
		d = connector.Errorf(connector.AuthFailed, "the application or tenant is unknown to the identity platform (check tenant_id and client_id)")
	case status == http.StatusTooManyRequests:
		d = connector.Errorf(connector.RateLimited, "the identity platform throttled sign-in")
	case status >= 500:
		d = connector.Errorf(connector.Unavailable, "the identity platform is unavailable")
	default:
		d = connector.Errorf(connector.AuthFailed, "sign-in of %s failed", who)
	}
	return d.WithDetail("%s", b.summary())
}

// refreshTokens redeems refresh tokens kept in the host's secret store:
// one for the administrator (auth admin_refresh_token), or one per user
// (auth user_consent). A rotated refresh token is written back to the store
// before the access token it came with is handed out, so a crash never
// leaves only a used token behind.
type refreshTokens struct {
	cfg     *config
	hc      *http.Client
	secrets connector.Store
	now     func() time.Time

	mu      sync.Mutex
	entries map[string]*cachedToken
}

// adminTokenKey is the secret holding the administrator's refresh token.
const adminTokenKey = "admin/refresh_token"

// userTokenKey is the secret holding a user's refresh token.
func userTokenKey(upn string) string { return "user/" + strings.ToLower(upn) + "/refresh_token" }

func (r *refreshTokens) keyFor(mailbox string) (key, who string) {
	if r.cfg.Auth == AuthAdminRefreshToken || mailbox == "" {
		return adminTokenKey, "the administrator"
	}
	return userTokenKey(mailbox), mailbox
}

func (r *refreshTokens) token(ctx context.Context, mailbox string) (string, error) {
	if r.cfg.Auth == AuthUserConsent && mailbox == "" {
		// A request for no particular mailbox ($metadata, the directory):
		// any consented user's token serves.
		return r.anyUserToken(ctx)
	}
	key, who := r.keyFor(mailbox)
	r.mu.Lock()
	e, ok := r.entries[key]
	if !ok {
		e = &cachedToken{}
		r.entries[key] = e
	}
	r.mu.Unlock()
	return e.get(ctx, r.now, func(ctx context.Context) (string, time.Time, error) {
		return r.redeem(ctx, key, who)
	})
}

func (r *refreshTokens) invalidate(mailbox, tok string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.entries {
		e.drop(tok)
	}
}

// anyUserToken returns the token of the first consented user whose refresh
// token still works; users whose token expired or whose consent was
// withdrawn are passed over.
func (r *refreshTokens) anyUserToken(ctx context.Context) (string, error) {
	kvs, err := r.secrets.List(ctx, "user/")
	if err != nil {
		return "", fmt.Errorf("listing consented users in the secret store: %w", err)
	}
	var lastErr error = connector.Errorf(connector.AuthExpired, "no user has given consent yet")
	for _, kv := range kvs {
		upn, ok := strings.CutSuffix(strings.TrimPrefix(kv.Key, "user/"), "/refresh_token")
		if !ok || upn == "" {
			continue
		}
		tok, err := r.token(ctx, upn)
		if err == nil {
			return tok, nil
		}
		lastErr = err
		switch connector.CodeOf(err) {
		case connector.AuthExpired, connector.PermissionDenied:
			// This user's refresh token expired or was revoked, or the
			// user withdrew consent: another user's token serves.
			continue
		}
		return "", err
	}
	return "", lastErr
}

func (r *refreshTokens) tokenURL() string {
	return r.cfg.authority + url.PathEscape(r.cfg.TenantID) + "/oauth2/v2.0/token"
}

// redeem runs the refresh-token grant (entra v2-oauth2-auth-code-flow.md,
// "Refresh the access token"). MSAL Go keeps refresh tokens inside its own
// cache and offers no call to redeem one held elsewhere, so the grant is
// sent directly.
func (r *refreshTokens) redeem(ctx context.Context, key, who string) (string, time.Time, error) {
	rt, found, err := r.secrets.Get(ctx, key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("reading the refresh token of %s from the secret store: %w", who, err)
	}
	if !found || len(rt) == 0 {
		hint := "run `syncplane consent admin` for this connection"
		if r.cfg.Auth == AuthUserConsent {
			hint = "the user must give consent through the host's consent page"
		}
		return "", time.Time{}, connector.Errorf(connector.AuthExpired, "no refresh token is stored for %s: %s", who, hint)
	}
	form := url.Values{
		"client_id":     {r.cfg.ClientID},
		"grant_type":    {"refresh_token"},
		"refresh_token": {string(rt)},
		"scope":         {strings.Join(r.cfg.scopes, " ")},
	}
	if !r.cfg.PublicClient {
		form.Set("client_secret", r.cfg.ClientSecret)
	}
	body, err := r.post(ctx, form, who)
	if err != nil {
		return "", time.Time{}, err
	}
	var ok struct {
		AccessToken  string          `json:"access_token"`
		RefreshToken string          `json:"refresh_token"`
		ExpiresIn    json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &ok); err != nil || ok.AccessToken == "" {
		return "", time.Time{}, connector.Errorf(connector.Internal, "the token answer for %s has no access token", who)
	}
	secs := 3600
	if n, err := parseLooseInt(ok.ExpiresIn); err == nil && n > 0 {
		secs = n
	}
	if ok.RefreshToken != "" && ok.RefreshToken != string(rt) {
		// "Refresh tokens replace themselves with a fresh token upon every
		// use" (entra refresh-tokens.md): persist before use.
		if err := r.secrets.Put(ctx, key, []byte(ok.RefreshToken)); err != nil {
			return "", time.Time{}, fmt.Errorf("storing the rotated refresh token of %s: %w", who, err)
		}
	}
	return ok.AccessToken, r.now().Add(time.Duration(secs) * time.Second), nil
}

// post sends a token request and returns the body of a 200 answer, or a
// diagnostic classifying the error answer.
func (r *refreshTokens) post(ctx context.Context, form url.Values, who string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.tokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("building the token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := r.hc.Do(req)
	if err != nil {
		return nil, connector.Errorf(connector.Unavailable, "cannot reach the identity platform to sign in %s", who).WithDetail("%v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, connector.Errorf(connector.Unavailable, "reading the token answer for %s", who).WithDetail("%v", err)
	}
	if resp.StatusCode != http.StatusOK {
		var b tokenErrorBody
		_ = json.Unmarshal(body, &b)
		return nil, tokenDiagnostic(resp.StatusCode, b, who)
	}
	return body, nil
}

// parseLooseInt reads 3599 or "3599" (the v1 endpoint sent strings).
func parseLooseInt(raw json.RawMessage) (int, error) {
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		return n, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, err
	}
	_, err := fmt.Sscanf(s, "%d", &n)
	return n, err
}
