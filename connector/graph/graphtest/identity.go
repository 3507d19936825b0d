package graphtest

import (
	"crypto"
	"crypto/ecdsa"
	crand "crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// App is an app registration in the emulated tenant.
type App struct {
	// ClientID is the application (client) id; AddApp generates one when empty.
	ClientID string
	// Name is the display name used in consent errors.
	Name string
	// ClientSecret is the secret's value; "" means the app has no secret.
	ClientSecret string
	// SecretExpires is when the secret stops working (AADSTS7000222);
	// zero means never.
	SecretExpires time.Time
	// Certificates are the public certificates registered for client
	// assertions (RSA keys, as the identity platform requires).
	Certificates []*x509.Certificate
	// Permissions are the application permissions (app roles) an
	// administrator granted, e.g. User.Read.All, Calendars.ReadWrite.
	Permissions []string
	// DelegatedPermissions are the delegated scopes the registration lists;
	// empty means any Graph scope may be requested.
	DelegatedPermissions []string
	// RedirectURIs are the registered redirect URIs for the authorization
	// code flow; empty accepts any URI.
	RedirectURIs []string
	// PublicClient allows redeeming codes and refresh tokens without a
	// client credential.
	PublicClient bool
	// MailboxScope, when set, is an application access policy
	// (facts §9): only these users (ids or principal names) are reachable;
	// others answer 403 ErrorAccessDenied "Access to OData is disabled.".
	MailboxScope []string
	// NoAutoConsent makes the authorize endpoint refuse sign-ins of users who
	// have not consented yet (consent_required, AADSTS65001) instead of
	// consenting for them.
	NoAutoConsent bool
}

type accessToken struct {
	app     string
	user    string // delegated tokens only
	roles   []string
	scopes  []string
	expires time.Time
}

type refreshToken struct {
	resource string
	app      string
	user     string
	scopes   []string
	issued   time.Time
}

type authCode struct {
	app, user, redirectURI string
	resource               string
	scopes                 []string
	challenge, method      string
	expires                time.Time
	used                   bool
}

// graphResourceIDs are the resource identifiers a Graph scope may carry: the
// Graph app id URI, its application id, and the emulator's own root (it is a
// cloud of its own, like https://graph.microsoft.us — facts §8, national clouds).
func (s *Server) graphResourceIDs() []string {
	return []string{"https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000", s.base}
}

// App returns the default app registration (created at Start with a secret
// and the permissions the connector needs).
func (s *Server) App() App {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneApp(s.apps[s.defApp])
}

// AddApp registers (or replaces) an app registration and returns it with its
// generated client id when a.ClientID was empty.
func (s *Server) AddApp(a App) App {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.ClientID == "" {
		a.ClientID = s.newGUID()
	}
	if a.Name == "" {
		a.Name = "app " + a.ClientID
	}
	c := cloneApp(&a)
	s.apps[a.ClientID] = &c
	return cloneApp(&c)
}

func cloneApp(a *App) App {
	c := *a
	c.Certificates = slices.Clone(a.Certificates)
	c.Permissions = slices.Clone(a.Permissions)
	c.DelegatedPermissions = slices.Clone(a.DelegatedPermissions)
	c.RedirectURIs = slices.Clone(a.RedirectURIs)
	c.MailboxScope = slices.Clone(a.MailboxScope)
	return c
}

// RevokeRefreshTokens revokes every refresh token issued to the user until
// now, as "revoke sessions" does; redeeming one answers AADSTS50173 (facts §8).
func (s *Server) RevokeRefreshTokens(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.findUser(user); u != nil {
		s.revoked[u.ID] = s.now()
	}
}

// RevokeConsent removes the user's consent for an app; refreshing answers
// AADSTS65001 until the user consents again (facts §8).
func (s *Server) RevokeConsent(user, clientID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.findUser(user); u != nil {
		delete(s.consent[u.ID], clientID)
	}
}

// serveIdentity serves the identity platform endpoints under the authority
// host (entra v2-oauth2-client-creds-grant-flow.md, v2-oauth2-auth-code-flow.md).
func (s *Server) serveIdentity(w http.ResponseWriter, r *http.Request, segs []string) {
	switch {
	case len(segs) == 3 && segs[0] == "common" && segs[1] == "discovery" && segs[2] == "instance":
		s.serveInstanceDiscovery(w, r)
	case len(segs) == 4 && segs[1] == "v2.0" && segs[2] == ".well-known" && segs[3] == "openid-configuration":
		s.serveOpenIDConfig(w, r, segs[0])
	case len(segs) == 4 && segs[1] == "oauth2" && segs[2] == "v2.0" && segs[3] == "token":
		s.stats.countToken()
		s.serveToken(w, r, segs[0])
	case len(segs) == 4 && segs[1] == "oauth2" && segs[2] == "v2.0" && segs[3] == "authorize":
		s.serveAuthorize(w, r, segs[0])
	case len(segs) == 2 && segs[1] == "adminconsent":
		s.serveAdminConsent(w, r, segs[0])
	case len(segs) == 4 && segs[1] == "discovery" && segs[2] == "v2.0" && segs[3] == "keys":
		s.serveKeys(w)
	default:
		http.NotFound(w, r)
	}
}

// tenantMatches accepts the tenant id, the verified domain and, for
// user sign-ins, the "organizations" and "common" aliases.
func (s *Server) tenantMatches(t string, userFlow bool) bool {
	if strings.EqualFold(t, s.tenant) || strings.EqualFold(t, s.opts.Domain) {
		return true
	}
	return userFlow && (t == "organizations" || t == "common")
}

// serveOpenIDConfig answers the OpenID Connect discovery document that MSAL
// reads before the first token request (authorization_endpoint,
// token_endpoint, issuer are required; the issuer's host must be the
// authority's — MSAL resolvers.go / authority.go ValidateIssuerMatchesAuthority).
func (s *Server) serveOpenIDConfig(w http.ResponseWriter, r *http.Request, tenant string) {
	s.mu.Lock()
	ok := s.tenantMatches(tenant, true)
	tid := s.tenant
	s.mu.Unlock()
	if !ok {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_tenant", 90002,
			fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	}
	issuerTenant := tid
	if tenant == "common" || tenant == "organizations" {
		issuerTenant = "{tenantid}"
	}
	writePlainJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        s.base + "/" + tenant + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              s.base + "/" + tenant + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                s.base + "/" + issuerTenant + "/v2.0",
		"request_uri_parameter_supported":       false,
		"authorization_endpoint":                s.base + "/" + tenant + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         s.base + "/" + tenant + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  s.base + "/" + tenant + "/oauth2/v2.0/logout",
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nbf", "name", "oid", "tid", "preferred_username"},
		"tenant_region_scope":                   "WW",
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

// serveInstanceDiscovery answers MSAL's instance discovery
// (/common/discovery/instance?api-version=1.1&authorization_endpoint=...),
// naming the emulator as its own, only, alias.
func (s *Server) serveInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	host := strings.TrimPrefix(s.base, "https://")
	tenant := "common"
	if ae := r.URL.Query().Get("authorization_endpoint"); ae != "" {
		if u, err := url.Parse(ae); err == nil {
			if p := splitPath(u.Path); len(p) > 0 {
				tenant = p[0]
			}
		}
	}
	writePlainJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": s.base + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []any{map[string]any{
			"preferred_network": host,
			"preferred_cache":   host,
			"aliases":           []string{host},
		}},
	})
}

// serveAdminConsent is the admin consent endpoint (facts §8,
// v2-oauth2-client-creds-grant-flow.md): GET /{tenant}/adminconsent?client_id&state&redirect_uri
// redirects to redirect_uri with tenant, state and admin_consent=True (the
// administrator always agrees here; the granted application permissions are
// App.Permissions), or error=permission_denied for an unknown app.
func (s *Server) serveAdminConsent(w http.ResponseWriter, r *http.Request, tenant string) {
	q := r.URL.Query()
	s.mu.Lock()
	ok := s.tenantMatches(tenant, true)
	app := s.apps[q.Get("client_id")]
	tid := s.tenant
	s.mu.Unlock()
	ru, err := url.Parse(q.Get("redirect_uri"))
	if !ok || err != nil || q.Get("redirect_uri") == "" || (app != nil && len(app.RedirectURIs) > 0 && !slices.Contains(app.RedirectURIs, q.Get("redirect_uri"))) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintln(w, "AADSTS50011: The redirect URI specified in the request does not match the redirect URIs configured for the application.")
		return
	}
	back := ru.Query()
	back.Set("state", q.Get("state"))
	if app == nil {
		back.Set("error", "permission_denied")
		back.Set("error_description", "AADSTS700016: Application with identifier '"+q.Get("client_id")+"' was not found in the directory.")
	} else {
		back.Set("tenant", tid)
		back.Set("admin_consent", "True")
	}
	u := *ru
	u.RawQuery = back.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// serveKeys publishes the id_token signing key.
func (s *Server) serveKeys(w http.ResponseWriter) {
	pub := s.idKey.PublicKey
	writePlainJSON(w, http.StatusOK, map[string]any{"keys": []any{map[string]any{
		"kty": "EC", "crv": "P-256", "use": "sig", "kid": "emulator",
		"x": b64url(pub.X.FillBytes(make([]byte, 32))),
		"y": b64url(pub.Y.FillBytes(make([]byte, 32))),
	}}})
}

func writePlainJSON(w http.ResponseWriter, status int, v any) {
	data, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// tokenError writes the identity platform's error body: error,
// error_description starting "AADSTSnnn: ", error_codes, timestamp, trace_id,
// correlation_id, error_uri (graph-examples/token-error-reference-sample.json;
// entra reference-error-codes.md).
func (s *Server) tokenError(w http.ResponseWriter, r *http.Request, status int, oauthErr string, code int, msg string) {
	trace := requestID()
	corr := r.Header.Get("client-request-id")
	if corr == "" {
		corr = requestID()
	}
	ts := s.now().UTC().Format("2006-01-02 15:04:05Z")
	writePlainJSON(w, status, map[string]any{
		"error": oauthErr,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			code, msg, trace, corr, ts),
		"error_codes":    []int{code},
		"timestamp":      ts,
		"trace_id":       trace,
		"correlation_id": corr,
		"error_uri":      fmt.Sprintf("%s/error?code=%d", s.base, code),
	})
}

// serveToken is the token endpoint, POST /{tenant}/oauth2/v2.0/token.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, tenant string) {
	if r.Method != http.MethodPost {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_request", 900561,
			"The endpoint only accepts POST requests. Received a GET request.")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must be form-encoded.")
		return
	}
	f := r.PostForm
	grant := f.Get("grant_type")
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tenantMatches(tenant, grant != "client_credentials") {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_request", 90002,
			fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant))
		return
	}
	if grant == "" {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	clientID := f.Get("client_id")
	basicID, basicSecret, hasBasic := r.BasicAuth()
	if clientID == "" && hasBasic {
		clientID = basicID
	}
	if clientID == "" {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	app := s.apps[clientID]
	if app == nil {
		s.tokenError(w, r, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, tenant))
		return
	}
	secret := f.Get("client_secret")
	if secret == "" && hasBasic {
		secret, _ = url.QueryUnescape(basicSecret)
	}
	switch grant {
	case "client_credentials":
		if !s.authenticateClient(w, r, app, tenant, secret, true) {
			return
		}
		s.grantClientCredentials(w, r, app)
	case "authorization_code":
		if !s.authenticateClient(w, r, app, tenant, secret, !app.PublicClient) {
			return
		}
		s.grantAuthCode(w, r, app)
	case "refresh_token":
		if !s.authenticateClient(w, r, app, tenant, secret, !app.PublicClient) {
			return
		}
		s.grantRefresh(w, r, app)
	default:
		s.tokenError(w, r, http.StatusBadRequest, "unsupported_grant_type", 70003,
			fmt.Sprintf("The app requested an unsupported grant type '%s'.", grant))
	}
}

// authenticateClient checks the client secret or client assertion. Failures
// use OAuth's invalid_client, which RFC 6749 §5.2 answers with 401.
func (s *Server) authenticateClient(w http.ResponseWriter, r *http.Request, app *App, tenant, secret string, required bool) bool {
	f := r.PostForm
	assertion := f.Get("client_assertion")
	switch {
	case secret != "":
		if app.ClientSecret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(app.ClientSecret)) != 1 {
			// AADSTS7000215 invalid client secret (facts §8).
			s.tokenError(w, r, http.StatusUnauthorized, "invalid_client", 7000215,
				fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", app.ClientID))
			return false
		}
		if !app.SecretExpires.IsZero() && !s.now().Before(app.SecretExpires) {
			// AADSTS7000222 expired client secret (facts §8).
			s.tokenError(w, r, http.StatusUnauthorized, "invalid_client", 7000222,
				fmt.Sprintf("The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.", app.ClientID))
			return false
		}
		return true
	case assertion != "":
		if t := f.Get("client_assertion_type"); t != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			s.tokenError(w, r, http.StatusBadRequest, "invalid_request", 50027,
				"Invalid client_assertion_type; expected urn:ietf:params:oauth:client-assertion-type:jwt-bearer.")
			return false
		}
		if code, msg := s.verifyAssertion(app, tenant, assertion); code != 0 {
			s.tokenError(w, r, http.StatusUnauthorized, "invalid_client", code, msg)
			return false
		}
		return true
	}
	if !required {
		return true
	}
	// AADSTS7000218 (facts §8).
	s.tokenError(w, r, http.StatusUnauthorized, "invalid_client", 7000218,
		"The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	return false
}

// verifyAssertion checks a client assertion JWT (entra certificate-credentials.md,
// facts §8): header alg PS256 with x5t#S256 (or RS256 with x5t) naming a
// registered certificate, a valid signature by that certificate's key,
// aud = this tenant's token endpoint, iss = sub = client id, nbf/exp.
// The lifetime is checked against wall-clock time because clients sign
// with theirs, not with the emulator's (possibly fake) clock.
func (s *Server) verifyAssertion(app *App, tenant, assertion string) (int, string) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return 50027, "JWT token is invalid or malformed."
	}
	var hdr map[string]any
	var claims map[string]any
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(cb, &claims) != nil {
		return 50027, "JWT token is invalid or malformed."
	}
	alg, _ := hdr["alg"].(string)
	var thumbKey string
	switch alg {
	case "PS256":
		thumbKey = "x5t#S256"
	case "RS256":
		thumbKey = "x5t"
	default:
		return 5002738, fmt.Sprintf("Invalid JWT token. '%s' is not a supported signature algorithm. Supported signing algorithms are: 'RS256, PS256'", alg)
	}
	thumb, _ := hdr[thumbKey].(string)
	var cert *x509.Certificate
	for _, c := range app.Certificates {
		var sum []byte
		if thumbKey == "x5t" {
			h := sha1.Sum(c.Raw)
			sum = h[:]
		} else {
			h := sha256.Sum256(c.Raw)
			sum = h[:]
		}
		// MSAL encodes the thumbprint with standard base64; RFC 7515 says
		// base64url. Both name the same bytes.
		if thumb == base64.StdEncoding.EncodeToString(sum) || thumb == base64.RawURLEncoding.EncodeToString(sum) ||
			thumb == base64.URLEncoding.EncodeToString(sum) || thumb == base64.RawStdEncoding.EncodeToString(sum) {
			cert = c
			break
		}
	}
	if cert == nil {
		return 700027, fmt.Sprintf("Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '%s', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.]", thumb, app.ClientID)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return 700027, "Client assertion failed signature validation. [Reason - The key is not an RSA key.]"
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	var err error
	if alg == "PS256" {
		err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	} else {
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	}
	if err != nil {
		return 700027, "Client assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value.]"
	}
	aud, _ := claims["aud"].(string)
	okAud := false
	for _, t := range []string{tenant, s.tenant, s.opts.Domain} {
		if aud == s.base+"/"+t+"/oauth2/v2.0/token" {
			okAud = true
		}
	}
	if !okAud {
		return 700212, fmt.Sprintf("The audience '%s' of the client assertion is not this tenant's token endpoint.", aud)
	}
	if iss, _ := claims["iss"].(string); iss != app.ClientID {
		return 700021, "Client assertion application identifier doesn't match 'client_id' parameter (iss)."
	}
	if sub, _ := claims["sub"].(string); sub != app.ClientID {
		return 700021, "Client assertion application identifier doesn't match 'client_id' parameter (sub)."
	}
	now := time.Now()
	exp, ok1 := numClaim(claims["exp"])
	nbf, ok2 := numClaim(claims["nbf"])
	const skew = 5 * time.Minute
	if !ok1 || now.After(time.Unix(exp, 0).Add(skew)) || (ok2 && now.Add(skew).Before(time.Unix(nbf, 0))) {
		return 700024, "Client assertion is not within its valid time range."
	}
	return 0, ""
}

func numClaim(v any) (int64, bool) {
	switch x := v.(type) {
	case float64:
		return int64(x), true
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	}
	return 0, false
}

// scopeResource is the Graph resource identifier a scope string names
// ("https://graph.microsoft.com" when it names none), so answers name the
// resource the client asked for.
func (s *Server) scopeResource(raw string) string {
	for _, sc := range strings.Fields(raw) {
		if i := strings.LastIndex(sc, "/"); i > 0 {
			res := sc[:i]
			if slices.ContainsFunc(s.graphResourceIDs(), func(id string) bool { return strings.EqualFold(id, res) }) && strings.HasPrefix(res, "https://") {
				return res
			}
		}
	}
	return "https://graph.microsoft.com"
}

// parseScopes splits a scope parameter into Graph permission names and the
// OpenID scopes. It reports ".default" and any resource other than Graph.
func (s *Server) parseScopes(raw string) (graph []string, oidc []string, dflt bool, foreign string) {
	for _, sc := range strings.Fields(raw) {
		switch strings.ToLower(sc) {
		case "openid", "profile", "offline_access", "email":
			oidc = append(oidc, strings.ToLower(sc))
			continue
		}
		res, perm := "", sc
		if i := strings.LastIndex(sc, "/"); i >= 0 {
			res, perm = sc[:i], sc[i+1:]
		}
		if res != "" && !slices.ContainsFunc(s.graphResourceIDs(), func(id string) bool { return strings.EqualFold(id, res) }) {
			foreign = sc
			continue
		}
		if perm == ".default" {
			dflt = true
			continue
		}
		graph = append(graph, perm)
	}
	return graph, oidc, dflt, foreign
}

// grantClientCredentials issues an app-only token carrying the app's
// application permissions as roles. The scope must be {resource}/.default
// (entra v2-oauth2-client-creds-grant-flow.md; AADSTS70011 otherwise, as in
// graph-examples/token-error-invalid-scope.json).
func (s *Server) grantClientCredentials(w http.ResponseWriter, r *http.Request, app *App) {
	scope := r.PostForm.Get("scope")
	if scope == "" {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		return
	}
	graph, oidc, dflt, foreign := s.parseScopes(scope)
	if foreign != "" {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_scope", 70011,
			fmt.Sprintf("The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", scope))
		return
	}
	// OpenID scopes are ignored here (MSAL appends "openid offline_access
	// profile" to every request); a Graph permission name is not allowed.
	_ = oidc
	if !dflt || len(graph) > 0 {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_scope", 1002012,
			fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope))
		return
	}
	tok := randomToken(32)
	s.tokens[tok] = &accessToken{app: app.ClientID, roles: slices.Clone(app.Permissions),
		expires: s.now().Add(s.opts.AccessTokenLifetime)}
	// Success body as in graph-examples/token-client-credentials-response.json.
	writePlainJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     int(s.opts.AccessTokenLifetime / time.Second),
		"ext_expires_in": int(s.opts.AccessTokenLifetime / time.Second),
		"access_token":   tok,
	})
}

// serveAuthorize is the authorization endpoint. Signing in and consenting
// are automatic (there is no person in a test): the user named by
// login_hint (else the first user) signs in, consents to the requested
// scopes unless the app has NoAutoConsent, and the browser is redirected to
// redirect_uri with code and state (entra v2-oauth2-auth-code-flow.md).
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request, tenant string) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	page := func(code int, msg string) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "AADSTS%d: %s\n", code, msg)
	}
	if !s.tenantMatches(tenant, true) {
		page(90002, fmt.Sprintf("Tenant '%s' not found.", tenant))
		return
	}
	app := s.apps[q.Get("client_id")]
	if app == nil {
		page(700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory.", q.Get("client_id")))
		return
	}
	redirect := q.Get("redirect_uri")
	ru, err := url.Parse(redirect)
	if redirect == "" || err != nil || (len(app.RedirectURIs) > 0 && !slices.Contains(app.RedirectURIs, redirect)) {
		page(50011, fmt.Sprintf("The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.", redirect, app.ClientID))
		return
	}
	back := func(params url.Values) {
		if st := q.Get("state"); st != "" {
			params.Set("state", st)
		}
		rq := ru.Query()
		for k, v := range params {
			rq[k] = v
		}
		u := *ru
		u.RawQuery = rq.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	}
	if q.Get("response_type") != "code" {
		back(url.Values{"error": {"unsupported_response_type"}, "error_description": {"AADSTS70005: response_type 'id_token' is not enabled for the application."}})
		return
	}
	graph, oidc, dflt, foreign := s.parseScopes(q.Get("scope"))
	if foreign != "" {
		back(url.Values{"error": {"invalid_scope"}, "error_description": {"AADSTS70011: The provided value for the input parameter 'scope' is not valid. The scope " + foreign + " is not valid."}})
		return
	}
	if dflt {
		graph = append(graph, app.DelegatedPermissions...)
	}
	if len(app.DelegatedPermissions) > 0 {
		for _, g := range graph {
			if !containsFold(app.DelegatedPermissions, g) {
				back(url.Values{"error": {"invalid_client"}, "error_description": {fmt.Sprintf("AADSTS650057: Invalid resource. The client has requested access to a resource which isn't listed in the requested permissions in the client's application registration. Client app ID: %s. Resource value from request: https://graph.microsoft.com. Scope: %s.", app.ClientID, g)}})
				return
			}
		}
	}
	var user *userRecord
	if hint := q.Get("login_hint"); hint != "" {
		user = s.findUser(hint)
	} else if len(s.users) > 0 {
		user = s.users[0]
	}
	if user == nil {
		back(url.Values{"error": {"invalid_request"}, "error_description": {"AADSTS50034: The user account does not exist in the directory."}})
		return
	}
	if !user.AccountEnabled {
		back(url.Values{"error": {"invalid_request"}, "error_description": {"AADSTS50057: The user account is disabled."}})
		return
	}
	granted := s.consent[user.ID][app.ClientID]
	if !app.NoAutoConsent {
		if s.consent[user.ID] == nil {
			s.consent[user.ID] = map[string]bool{}
		}
		s.consent[user.ID][app.ClientID] = true
		user.consentScopes = mergeScopes(user.consentScopes, app.ClientID, graph)
		granted = true
	}
	if !granted || !subsetFold(graph, user.consentScopes[app.ClientID]) {
		// AADSTS65001 DelegationDoesNotExist (facts §8).
		back(url.Values{"error": {"consent_required"}, "error_description": {fmt.Sprintf("AADSTS65001: The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", app.ClientID, app.Name)}})
		return
	}
	code := randomToken(32)
	scopes := append(slices.Clone(graph), oidc...)
	s.codes[code] = &authCode{app: app.ClientID, user: user.ID, redirectURI: redirect, scopes: scopes,
		resource:  s.scopeResource(q.Get("scope")),
		challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method"),
		// "Authorization codes are short lived, typically expiring after about
		// 10 minutes" (entra v2-oauth2-auth-code-flow.md).
		expires: s.now().Add(10 * time.Minute)}
	back(url.Values{"code": {code}, "session_state": {requestID()}})
}

func mergeScopes(m map[string][]string, app string, add []string) map[string][]string {
	if m == nil {
		m = map[string][]string{}
	}
	for _, a := range add {
		if !containsFold(m[app], a) {
			m[app] = append(m[app], a)
		}
	}
	return m
}

func containsFold(list []string, v string) bool {
	return slices.ContainsFunc(list, func(e string) bool { return strings.EqualFold(e, v) })
}

func subsetFold(sub, set []string) bool {
	for _, v := range sub {
		if !containsFold(set, v) {
			return false
		}
	}
	return true
}

// grantAuthCode redeems an authorization code (entra v2-oauth2-auth-code-flow.md):
// the code is single use and expires; redirect_uri must match; PKCE is
// verified when a challenge was sent; refresh_token only with offline_access.
func (s *Server) grantAuthCode(w http.ResponseWriter, r *http.Request, app *App) {
	f := r.PostForm
	code := s.codes[f.Get("code")]
	if f.Get("code") == "" {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'code'.")
		return
	}
	if code == nil || code.app != app.ClientID {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
		return
	}
	if code.used {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
		return
	}
	if !s.now().Before(code.expires) {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
		return
	}
	if f.Get("redirect_uri") != code.redirectURI {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_grant", 50148, "The redirect_uri specified in the token request does not match the redirect_uri used in the authorization request.")
		return
	}
	if code.challenge != "" {
		v := f.Get("code_verifier")
		want := v
		if code.method == "S256" {
			h := sha256.Sum256([]byte(v))
			want = b64url(h[:])
		}
		if v == "" || want != code.challenge {
			s.tokenError(w, r, http.StatusBadRequest, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
			return
		}
	}
	code.used = true
	res := code.resource
	if f.Get("scope") != "" {
		res = s.scopeResource(f.Get("scope"))
	}
	s.issueDelegated(w, r, app, code.user, code.scopes, res, f.Get("client_info") == "1")
}

// grantRefresh redeems a refresh token (entra v2-oauth2-auth-code-flow.md,
// refresh-tokens.md): a new refresh token is returned every time ("Refresh
// tokens replace themselves with a fresh token upon every use") and the old
// one is not revoked ("aren't revoked when used to acquire new access
// tokens"); a token unused for the lifetime answers AADSTS700082; tokens of
// a user whose sessions were revoked answer AADSTS50173; without consent
// AADSTS65001 (facts §8).
func (s *Server) grantRefresh(w http.ResponseWriter, r *http.Request, app *App) {
	f := r.PostForm
	raw := f.Get("refresh_token")
	if raw == "" {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'refresh_token'.")
		return
	}
	rt := s.refresh[raw]
	if rt == nil || rt.app != app.ClientID {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
		return
	}
	now := s.now()
	if rev, ok := s.revoked[rt.user]; ok && !rt.issued.After(rev) {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_grant", 50173,
			fmt.Sprintf("The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '%s' and the TokensValidFrom date (before which tokens are not valid) for this user is '%s'.",
				rt.issued.UTC().Format(time.RFC3339), rev.UTC().Format(time.RFC3339)))
		return
	}
	if idle := now.Sub(rt.issued); idle >= s.opts.RefreshTokenLifetime {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_grant", 700082,
			fmt.Sprintf("The refresh token has expired due to inactivity. The token was issued on %s and was inactive for %s.",
				rt.issued.UTC().Format(time.RFC3339), idle.Round(time.Second)))
		return
	}
	user := s.userByID(rt.user)
	if user == nil || !user.AccountEnabled {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_grant", 50057, "The user account is disabled.")
		return
	}
	graph, oidc, dflt, foreign := s.parseScopes(f.Get("scope"))
	if foreign != "" {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. The scope "+foreign+" is not valid.")
		return
	}
	consented := user.consentScopes[app.ClientID]
	if dflt || len(graph) == 0 {
		graph = append(graph, rt.scopes...)
	}
	graph = slices.DeleteFunc(graph, func(g string) bool { return containsFold(oidcScopes, g) })
	if !s.consent[user.ID][app.ClientID] || !subsetFold(graph, consented) {
		s.tokenError(w, r, http.StatusBadRequest, "invalid_grant", 65001,
			fmt.Sprintf("The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", app.ClientID, app.Name))
		return
	}
	scopes := append(slices.Clone(graph), oidc...)
	if !containsFold(scopes, "offline_access") && containsFold(rt.scopes, "offline_access") {
		scopes = append(scopes, "offline_access")
	}
	res := rt.resource
	if f.Get("scope") != "" {
		res = s.scopeResource(f.Get("scope"))
	}
	s.issueDelegated(w, r, app, user.ID, scopes, res, f.Get("client_info") == "1")
}

var oidcScopes = []string{"openid", "profile", "offline_access", "email"}

// issueDelegated writes a delegated token response
// (graph-examples/token-auth-code-response.json.txt): access_token,
// token_type, expires_in, scope, refresh_token only when offline_access was
// requested, id_token when openid was, and client_info when MSAL asked.
func (s *Server) issueDelegated(w http.ResponseWriter, r *http.Request, app *App, userID string, scopes []string, resource string, clientInfo bool) {
	user := s.userByID(userID)
	var graph []string
	for _, sc := range scopes {
		if !containsFold(oidcScopes, sc) {
			graph = append(graph, sc)
		}
	}
	now := s.now()
	tok := randomToken(32)
	s.tokens[tok] = &accessToken{app: app.ClientID, user: userID, scopes: graph, expires: now.Add(s.opts.AccessTokenLifetime)}
	scopeOut := make([]string, 0, len(scopes))
	for _, g := range graph {
		scopeOut = append(scopeOut, resource+"/"+g)
	}
	for _, o := range scopes {
		if containsFold(oidcScopes, o) {
			scopeOut = append(scopeOut, o)
		}
	}
	body := map[string]any{
		"token_type":     "Bearer",
		"scope":          strings.Join(scopeOut, " "),
		"expires_in":     int(s.opts.AccessTokenLifetime / time.Second),
		"ext_expires_in": int(s.opts.AccessTokenLifetime / time.Second),
		"access_token":   tok,
	}
	if containsFold(scopes, "offline_access") {
		rt := randomToken(48)
		s.refresh[rt] = &refreshToken{app: app.ClientID, user: userID, scopes: scopes, issued: now, resource: resource}
		body["refresh_token"] = rt
		body["refresh_token_expires_in"] = int(s.opts.RefreshTokenLifetime / time.Second)
	}
	if containsFold(scopes, "openid") || clientInfo {
		body["id_token"] = s.idToken(app, user, now)
	}
	if clientInfo {
		ci, _ := json.Marshal(map[string]string{"uid": user.ID, "utid": s.tenant})
		body["client_info"] = b64url(ci)
	}
	writePlainJSON(w, http.StatusOK, body)
}

// idToken signs an ID token (ES256) for the user.
func (s *Server) idToken(app *App, u *userRecord, now time.Time) string {
	hdr, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "ES256", "kid": "emulator"})
	claims, _ := json.Marshal(map[string]any{
		"aud": app.ClientID, "iss": s.base + "/" + s.tenant + "/v2.0",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"name": u.DisplayName, "oid": u.ID, "sub": u.ID, "tid": s.tenant,
		"preferred_username": u.UserPrincipalName, "ver": "2.0",
	})
	signing := b64url(hdr) + "." + b64url(claims)
	digest := sha256.Sum256([]byte(signing))
	rr, ss, err := ecdsa.Sign(crand.Reader, s.idKey, digest[:])
	if err != nil {
		return signing + "."
	}
	sig := append(rr.FillBytes(make([]byte, 32)), ss.FillBytes(make([]byte, 32))...)
	return signing + "." + b64url(sig)
}

// authenticate checks the bearer token of a Graph request. Graph answers a
// missing, unknown or expired token with 401 InvalidAuthenticationToken
// (facts §12; messages OBSERVED from the service) and a WWW-Authenticate
// challenge.
func (s *Server) authenticate(c *call) bool {
	h := c.r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		raw, ok = strings.CutPrefix(h, "bearer ")
	}
	deny := func(msg string) bool {
		c.w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="`+s.base+`/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
		c.fail(http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
		return false
	}
	if !ok || strings.TrimSpace(raw) == "" {
		return deny("Access token is empty.")
	}
	s.mu.RLock() // tokens are added under the write lock
	tok := s.tokens[strings.TrimSpace(raw)]
	s.mu.RUnlock()
	if tok == nil {
		return deny("IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE Compact Serialization Format.")
	}
	if !s.now().Before(tok.expires) {
		return deny("Lifetime validation failed, the token is expired.")
	}
	c.tok = tok
	return true
}

// hasPermission reports whether the token carries any of the permissions
// (app roles for application tokens, scopes for delegated ones).
func (t *accessToken) hasPermission(any ...string) bool {
	set := t.roles
	if t.user != "" {
		set = t.scopes
	}
	for _, p := range any {
		if containsFold(set, p) {
			return true
		}
	}
	return false
}

// requireDirectory answers 403 Authorization_RequestDenied "Insufficient
// privileges to complete the operation." when the token lacks every one of
// perms (graph-examples/batch-response-1.json, id 3; facts §12).
func (c *call) requireDirectory(perms ...string) bool {
	if c.tok.hasPermission(perms...) {
		return true
	}
	c.fail(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	return false
}

// requireMailbox answers 403 ErrorAccessDenied when the token lacks every
// one of perms (facts §12: Exchange answers ErrorAccessDenied). The message
// is the one Exchange gives for a missing role (OBSERVED).
func (c *call) requireMailbox(perms ...string) bool {
	if c.tok.hasPermission(perms...) {
		return true
	}
	c.fail(http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
	return false
}
