package graphtest_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

func clientOptions(srv *graphtest.Server) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost()},
		Transport: srv.HTTPClient(),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}

// TestAzidentityClientSecret signs in with azidentity as the connector does.
func TestAzidentityClientSecret(t *testing.T) {
	e := start(t, graphtest.Options{Users: 2, Now: time.Now})
	app := e.srv.App()
	cred, err := azidentity.NewClientSecretCredential(e.srv.TenantID(), app.ClientID, app.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOptions(e.srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	e.token = tok.Token
	expectStatus(t, e.get("/users"), 200, "")
	// The credential caches the token: a second call makes no request.
	before := e.srv.Stats().TokenRequests
	if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}}); err != nil {
		t.Fatal(err)
	}
	if after := e.srv.Stats().TokenRequests; after != before {
		t.Fatalf("token requests %d -> %d; the cached token was not used", before, after)
	}

	bad, _ := azidentity.NewClientSecretCredential(e.srv.TenantID(), app.ClientID, "wrong",
		&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOptions(e.srv), DisableInstanceDiscovery: true})
	_, err = bad.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	var authErr *azidentity.AuthenticationFailedError
	if !errors.As(err, &authErr) || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("wrong secret: %v", err)
	}
}

func selfSigned(t *testing.T) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "syncplane test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

// TestAzidentityClientCertificate signs in with a certificate assertion.
func TestAzidentityClientCertificate(t *testing.T) {
	e := start(t, graphtest.Options{Users: 1, Now: time.Now})
	cert, key := selfSigned(t)
	app := e.srv.AddApp(graphtest.App{Certificates: []*x509.Certificate{cert}, Permissions: []string{"User.Read.All"}})
	cred, err := azidentity.NewClientCertificateCredential(e.srv.TenantID(), app.ClientID, []*x509.Certificate{cert}, key,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: clientOptions(e.srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{e.srv.GraphEndpoint() + "/.default"}})
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	e.token = tok.Token
	expectStatus(t, e.get("/users"), 200, "")

	// A certificate the app does not have.
	other, otherKey := selfSigned(t)
	cred2, _ := azidentity.NewClientCertificateCredential(e.srv.TenantID(), app.ClientID, []*x509.Certificate{other}, otherKey,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: clientOptions(e.srv), DisableInstanceDiscovery: true})
	_, err = cred2.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err == nil || !strings.Contains(err.Error(), "AADSTS700027") {
		t.Fatalf("unregistered certificate: %v", err)
	}
	// The registered certificate's thumbprint with another key: bad signature.
	tokenURL := e.srv.AuthorityHost() + e.srv.TenantID() + "/oauth2/v2.0/token"
	assertion := func(k *rsa.PrivateKey, aud, iss string) string {
		sum := sha256.Sum256(cert.Raw)
		hdr, _ := json.Marshal(map[string]string{"alg": "PS256", "typ": "JWT", "x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])})
		now := time.Now().Unix()
		claims, _ := json.Marshal(map[string]any{"aud": aud, "iss": iss, "sub": iss, "jti": "j1", "nbf": now, "exp": now + 600})
		signing := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(claims)
		digest := sha256.Sum256([]byte(signing))
		sig, err := rsa.SignPSS(rand.Reader, k, crypto.SHA256, digest[:], nil)
		if err != nil {
			t.Fatal(err)
		}
		return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	try := func(a string) (int, map[string]any) {
		return e.postForm(tokenURL, url.Values{"client_id": {app.ClientID}, "grant_type": {"client_credentials"},
			"scope":                 {"https://graph.microsoft.com/.default"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}})
	}
	if status, b := try(assertion(key, tokenURL, app.ClientID)); status != 200 {
		t.Fatalf("hand-made assertion: %d %v", status, b)
	}
	if status, b := try(assertion(otherKey, tokenURL, app.ClientID)); status != 401 || aadsts(b) != "AADSTS700027" {
		t.Fatalf("assertion signed by another key: %d %v", status, b)
	}
	if status, b := try(assertion(key, "https://login.microsoftonline.com/x/oauth2/v2.0/token", app.ClientID)); status != 401 || b["error"] != "invalid_client" {
		t.Fatalf("assertion for another audience: %d %v", status, b)
	}
	if status, b := try(assertion(key, tokenURL, "someone-else")); status != 401 || b["error"] != "invalid_client" {
		t.Fatalf("assertion with another issuer: %d %v", status, b)
	}
}

// authorize runs the authorization endpoint and returns the code.
func authorize(t *testing.T, e *env, authURL string) string {
	t.Helper()
	hc := e.srv.HTTPClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d", res.StatusCode)
	}
	loc, _ := url.Parse(res.Header.Get("Location"))
	if errCode := loc.Query().Get("error"); errCode != "" {
		t.Fatalf("authorize error %s: %s", errCode, loc.Query().Get("error_description"))
	}
	return loc.Query().Get("code")
}

// TestMSALAuthCodeAndRefresh runs the authorization-code flow with MSAL,
// then lets the access token expire so MSAL redeems the refresh token.
func TestMSALAuthCodeAndRefresh(t *testing.T) {
	// MSAL judges expiry by the wall clock (with a 5-minute margin), so a
	// short lifetime makes its cached access token stale at once.
	e := start(t, graphtest.Options{Users: 2, Now: time.Now, AccessTokenLifetime: 4 * time.Minute})
	app := e.srv.App()
	cred, err := confidential.NewCredFromSecret(app.ClientSecret)
	if err != nil {
		t.Fatal(err)
	}
	client, err := confidential.New(e.srv.AuthorityHost()+e.srv.TenantID(), app.ClientID, cred,
		confidential.WithHTTPClient(e.srv.HTTPClient()), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	scopes := []string{"https://graph.microsoft.com/Calendars.ReadWrite", "offline_access"}
	redirect := "http://localhost:8400/callback"
	authURL, err := client.AuthCodeURL(ctx, app.ClientID, redirect, scopes, confidential.WithLoginHint("user2@contoso.com"))
	if err != nil {
		t.Fatal(err)
	}
	code := authorize(t, e, authURL)
	res, err := client.AcquireTokenByAuthCode(ctx, code, redirect, scopes)
	if err != nil {
		t.Fatalf("AcquireTokenByAuthCode: %v", err)
	}
	e.token = res.AccessToken
	expectStatus(t, e.get("/me/events"), 200, "")
	expectStatus(t, e.get("/users/user1@contoso.com/events"), 403, "ErrorAccessDenied")
	expectStatus(t, e.get("/users"), 403, "Authorization_RequestDenied")
	expectStatus(t, e.get("/me"), 403, "Authorization_RequestDenied") // no User.Read was requested

	// Redeeming the same code twice fails.
	if _, err := client.AcquireTokenByAuthCode(ctx, code, redirect, scopes); err == nil || !strings.Contains(err.Error(), "AADSTS54005") {
		t.Fatalf("second redemption: %v", err)
	}

	before := e.srv.Stats().TokenRequests
	silent, err := client.AcquireTokenSilent(ctx, scopes, confidential.WithSilentAccount(res.Account))
	if err != nil {
		t.Fatalf("AcquireTokenSilent: %v", err)
	}
	if e.srv.Stats().TokenRequests != before+1 || silent.AccessToken == res.AccessToken {
		t.Fatal("the expired access token was not refreshed with the refresh token")
	}
	e.token = silent.AccessToken
	expectStatus(t, e.get("/me/events"), 200, "")

	// With User.Read the signed-in user reads their own profile.
	withProfile := []string{"https://graph.microsoft.com/User.Read", "offline_access"}
	authURL, _ = client.AuthCodeURL(ctx, app.ClientID, redirect, withProfile, confidential.WithLoginHint("user2@contoso.com"))
	res, err = client.AcquireTokenByAuthCode(ctx, authorize(t, e, authURL), redirect, withProfile)
	if err != nil {
		t.Fatal(err)
	}
	e.token = res.AccessToken
	me := e.get("/me")
	expectStatus(t, me, 200, "")
	if me.body["userPrincipalName"] != "user2@contoso.com" {
		t.Fatalf("/me = %v", me.body)
	}
}

// redeem runs the auth-code flow by hand and returns the token response.
func redeemCode(t *testing.T, e *env, app graphtest.App, user, scope string) map[string]any {
	t.Helper()
	redirect := "https://app.example/callback"
	q := url.Values{"client_id": {app.ClientID}, "response_type": {"code"}, "redirect_uri": {redirect},
		"scope": {scope}, "state": {"s1"}, "login_hint": {user}}
	code := authorize(t, e, e.srv.AuthorityHost()+e.srv.TenantID()+"/oauth2/v2.0/authorize?"+q.Encode())
	status, body := e.postForm(e.srv.AuthorityHost()+e.srv.TenantID()+"/oauth2/v2.0/token", url.Values{
		"client_id": {app.ClientID}, "client_secret": {app.ClientSecret}, "grant_type": {"authorization_code"},
		"code": {code}, "redirect_uri": {redirect}, "scope": {scope}})
	if status != 200 {
		t.Fatalf("code redemption: %d %v", status, body)
	}
	return body
}

func (e *env) refresh(app graphtest.App, rt string) (int, map[string]any) {
	return e.postForm(e.srv.AuthorityHost()+e.srv.TenantID()+"/oauth2/v2.0/token", url.Values{
		"client_id": {app.ClientID}, "client_secret": {app.ClientSecret}, "grant_type": {"refresh_token"},
		"refresh_token": {rt}, "scope": {"https://graph.microsoft.com/Calendars.ReadWrite offline_access"}})
}

func aadsts(body map[string]any) string {
	d, _ := body["error_description"].(string)
	code, _, _ := strings.Cut(d, ":")
	return code
}

func TestRefreshTokenRotationAndErrors(t *testing.T) {
	e := start(t, graphtest.Options{Users: 2})
	app := e.srv.App()
	scope := "https://graph.microsoft.com/Calendars.ReadWrite offline_access openid"

	// Without offline_access there is no refresh token.
	if body := redeemCode(t, e, app, "user1@contoso.com", "https://graph.microsoft.com/Calendars.ReadWrite"); body["refresh_token"] != nil {
		t.Fatal("refresh token issued without offline_access")
	}
	// The answer names the resource the client asked for.
	own := redeemCode(t, e, app, "user1@contoso.com", e.srv.GraphEndpoint()+"/Calendars.ReadWrite offline_access")
	if sc, _ := own["scope"].(string); !strings.Contains(sc, e.srv.GraphEndpoint()+"/Calendars.ReadWrite") {
		t.Fatalf("scope %q does not name the requested resource", sc)
	}
	body := redeemCode(t, e, app, "user1@contoso.com", scope)
	if sc, _ := body["scope"].(string); !strings.Contains(sc, "https://graph.microsoft.com/Calendars.ReadWrite") || !strings.Contains(sc, "offline_access") {
		t.Fatalf("scope %q", sc)
	}
	rt1, _ := body["refresh_token"].(string)
	if rt1 == "" || body["id_token"] == nil {
		t.Fatalf("token response %v", body)
	}
	// Rotation: a new refresh token each time; the old one keeps working.
	status, b2 := e.refresh(app, rt1)
	rt2, _ := b2["refresh_token"].(string)
	if status != 200 || rt2 == "" || rt2 == rt1 {
		t.Fatalf("refresh: %d %v", status, b2)
	}
	if status, _ := e.refresh(app, rt1); status != 200 {
		t.Fatal("the previous refresh token stopped working")
	}

	// Inactivity: 90 days unused → AADSTS700082.
	e.clock.Advance(91 * 24 * time.Hour)
	if status, b := e.refresh(app, rt2); status != 400 || b["error"] != "invalid_grant" || aadsts(b) != "AADSTS700082" {
		t.Fatalf("inactive refresh token: %d %v", status, b)
	}

	// Revocation → AADSTS50173.
	body = redeemCode(t, e, app, "user1@contoso.com", scope)
	e.clock.Advance(time.Second)
	e.srv.RevokeRefreshTokens("user1@contoso.com")
	if status, b := e.refresh(app, body["refresh_token"].(string)); status != 400 || aadsts(b) != "AADSTS50173" {
		t.Fatalf("revoked refresh token: %d %v", status, b)
	}

	// Consent withdrawn → AADSTS65001.
	body = redeemCode(t, e, app, "user2@contoso.com", scope)
	e.srv.RevokeConsent("user2@contoso.com", app.ClientID)
	if status, b := e.refresh(app, body["refresh_token"].(string)); status != 400 || aadsts(b) != "AADSTS65001" {
		t.Fatalf("refresh without consent: %d %v", status, b)
	}

	// An app that does not consent automatically sends consent_required.
	strict := e.srv.AddApp(graphtest.App{ClientSecret: "strict-secret-value", NoAutoConsent: true})
	hc := e.srv.HTTPClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	q := url.Values{"client_id": {strict.ClientID}, "response_type": {"code"}, "redirect_uri": {"https://app.example/cb"},
		"scope": {scope}, "login_hint": {"user1@contoso.com"}}
	res, err := hc.Get(e.srv.AuthorityHost() + e.srv.TenantID() + "/oauth2/v2.0/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	if loc.Query().Get("error") != "consent_required" || !strings.HasPrefix(loc.Query().Get("error_description"), "AADSTS65001") {
		t.Fatalf("no-consent authorize redirect: %s", res.Header.Get("Location"))
	}
}
