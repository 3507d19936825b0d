package zohotest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// authState holds a data centre's grant codes, refresh and access tokens.
type authState struct {
	s  *Server
	dc *dataCenter
	mu sync.Mutex
	// refresh tokens in issue order, for the 20-per-client limit (§A2).
	refreshOrder []string
	refresh      map[string]*refreshToken
	access       map[string]*accessToken
	codes        map[string]*grantCode
	tokenCalls   int64
}

type refreshToken struct {
	scopes []string
	// issued are the times access tokens were obtained, for throttling.
	issued []time.Time
}

type accessToken struct {
	scopes  []string
	expires time.Time
}

type grantCode struct {
	redirect string
	scopes   []string
	expires  time.Time
	// offline: the code was granted with access_type=offline, so its
	// exchange gives a refresh token (§A2 grant type 1). Self-client codes
	// always do.
	offline bool
}

func newAuthState(s *Server, dc *dataCenter) *authState {
	return &authState{s: s, dc: dc, refresh: map[string]*refreshToken{}, access: map[string]*accessToken{}, codes: map[string]*grantCode{}}
}

// issueRefresh creates a refresh token, evicting the oldest beyond 20 (§A2
// limits: "at most 20 refresh tokens per user per client; the 21st deletes
// the oldest").
func (a *authState) issueRefresh(scopes []string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.issueRefreshLocked(scopes)
}

func (a *authState) issueRefreshLocked(scopes []string) string {
	tok := "1000." + randomHex(16) + "." + randomHex(16)
	a.refresh[tok] = &refreshToken{scopes: append([]string(nil), scopes...)}
	a.refreshOrder = append(a.refreshOrder, tok)
	for len(a.refreshOrder) > 20 {
		delete(a.refresh, a.refreshOrder[0])
		a.refreshOrder = a.refreshOrder[1:]
	}
	return tok
}

func (a *authState) issueCode(redirect string, lifetime time.Duration, offline bool, scopes []string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	code := "1000." + randomHex(16) + "." + randomHex(16)
	a.codes[code] = &grantCode{redirect: redirect, scopes: append([]string(nil), scopes...), expires: a.s.now().Add(lifetime), offline: offline}
	return code
}

func (a *authState) issueAccessLocked(scopes []string) (string, int) {
	tok := "1000." + randomHex(16) + "." + randomHex(16)
	a.access[tok] = &accessToken{scopes: scopes, expires: a.s.now().Add(a.s.opts.AccessTokenLifetime)}
	return tok, int(a.s.opts.AccessTokenLifetime / time.Second)
}

func (a *authState) expireAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.access {
		t.expires = time.Time{}
	}
}

// lookup returns the scopes of a valid access token.
func (a *authState) lookup(tok string) ([]string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.access[tok]
	if !ok || !a.s.now().Before(t.expires) {
		return nil, false
	}
	return t.scopes, true
}

// serveAccounts is the accounts server of a data centre: POST
// /oauth/v2/token (§A2 grant types, §C1 OAuth).
func (s *Server) serveAccounts(dc *dataCenter, w http.ResponseWriter, r *http.Request) {
	a := dc.org.auth
	switch r.URL.Path {
	case "/oauth/v2/token":
	case "/oauth/v2/auth":
		s.serveAuthorize(dc, w, r)
		return
	case "/oauth/v2/token/revoke":
		// POST /oauth/v2/token/revoke?token= revokes a refresh token (§C1
		// OAuth, optional).
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		_ = r.ParseForm()
		a.mu.Lock()
		delete(a.refresh, r.Form.Get("token"))
		a.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"status": "success"})
		return
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	// Parameters come in the query string or a form body (§A2).
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"error": "invalid_request"})
		return
	}
	p := r.Form
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tokenCalls++
	// A bad client id or secret: HTTP 200 {"error":"invalid_client"} (§A2
	// token errors).
	if p.Get("client_id") != s.clientID || p.Get("client_secret") != s.clientSecret {
		writeJSON(w, http.StatusOK, map[string]any{"error": "invalid_client"})
		return
	}
	now := s.now()
	switch p.Get("grant_type") {
	case "refresh_token":
		rt, ok := a.refresh[p.Get("refresh_token")]
		if !ok {
			// UNCONFIRMED spelling for an unknown refresh token; Zoho
			// answers HTTP 200 with an error (§A2).
			writeJSON(w, http.StatusOK, map[string]any{"error": "invalid_code"})
			return
		}
		// Refresh throttling: HTTP 400 "Access Denied" (§A2 token errors,
		// limits: 10 access tokens per refresh token within 10 minutes).
		var recent []time.Time
		for _, t := range rt.issued {
			if now.Sub(t) < s.opts.RefreshWindow {
				recent = append(recent, t)
			}
		}
		rt.issued = recent
		if len(recent) >= s.opts.RefreshLimit {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "Access Denied",
				"error_description": "You have made too many requests continuously. Please try again after some time."})
			return
		}
		rt.issued = append(rt.issued, now)
		tok, exp := a.issueAccessLocked(rt.scopes)
		// A refresh returns no new refresh_token (§A2 token response).
		writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "scope": strings.Join(rt.scopes, " "),
			"api_domain": dc.apiDomain, "token_type": "Bearer", "expires_in": exp})
	case "authorization_code":
		code, ok := a.codes[p.Get("code")]
		if ok {
			delete(a.codes, p.Get("code")) // single use (§C1 OAuth)
		}
		if !ok || !now.Before(code.expires) {
			// Bad or expired code: HTTP 200 {"error":"invalid_code"} (§A2).
			writeJSON(w, http.StatusOK, map[string]any{"error": "invalid_code"})
			return
		}
		if code.redirect != "" && p.Get("redirect_uri") != code.redirect {
			// UNCONFIRMED spelling (§A2).
			writeJSON(w, http.StatusOK, map[string]any{"error": "invalid_redirect_uri"})
			return
		}
		tok, exp := a.issueAccessLocked(code.scopes)
		body := map[string]any{"access_token": tok, "scope": strings.Join(code.scopes, " "),
			"api_domain": dc.apiDomain, "token_type": "Bearer", "expires_in": exp}
		if code.offline {
			// Only access_type=offline gives a refresh token (§A2 grant
			// type 1; token response).
			rt := a.issueRefreshLocked(code.scopes)
			a.refresh[rt].issued = append(a.refresh[rt].issued, now)
			body["refresh_token"] = rt
		}
		writeJSON(w, http.StatusOK, body)
	case "client_credentials":
		// Self-client client-credentials flow (§A2 grant type 2): scope and
		// soid=ZohoCRM.{orgId}.
		if p.Get("soid") != "ZohoCRM."+dc.org.orgID {
			writeJSON(w, http.StatusOK, map[string]any{"error": "invalid_client"})
			return
		}
		scopes := strings.FieldsFunc(p.Get("scope"), func(r rune) bool { return r == ',' || r == ' ' })
		if len(scopes) == 0 {
			writeJSON(w, http.StatusOK, map[string]any{"error": "invalid_scope"})
			return
		}
		tok, exp := a.issueAccessLocked(scopes)
		writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "scope": strings.Join(scopes, " "),
			"api_domain": dc.apiDomain, "token_type": "Bearer", "expires_in": exp})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"error": "unsupported_grant_type"})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// serveAuthorize is the browser step of the authorization-code flow (§A2
// grant type 1): GET /oauth/v2/auth redirects to redirect_uri with code,
// state, location (the data centre) and accounts-server (§A2: the accounts
// URL to use for the token call). The emulator grants consent at once.
func (s *Server) serveAuthorize(dc *dataCenter, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if q.Get("client_id") != s.clientID {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_client"})
		return
	}
	redirect := q.Get("redirect_uri")
	target, err := url.Parse(redirect)
	if err != nil || redirect == "" || q.Get("response_type") != "code" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request"})
		return
	}
	scopes := strings.FieldsFunc(q.Get("scope"), func(r rune) bool { return r == ',' || r == ' ' })
	// The code lives 2 minutes (§A2 grant type 1); access_type=offline
	// decides whether its exchange gives a refresh token.
	code := dc.org.auth.issueCode(redirect, 2*time.Minute, q.Get("access_type") == "offline", scopes)
	v := target.Query()
	v.Set("code", code)
	v.Set("location", dc.name)
	v.Set("accounts-server", dc.accountsURL)
	if st := q.Get("state"); st != "" {
		// The state the client sent comes back unchanged (RFC 6749
		// §4.1.2; Zoho's web-apps/authorization.html lists state among the
		// authorization request's parameters, returned with the code).
		v.Set("state", st)
	}
	target.RawQuery = v.Encode()
	http.Redirect(w, r, target.String(), http.StatusFound)
}
