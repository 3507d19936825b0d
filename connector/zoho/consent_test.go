package zoho_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/zoho"
	"github.com/syncplane/syncplane/connector/zoho/zohotest"
)

// authorize follows an authorization URL as a browser would and returns
// the query of the redirect the accounts server answers with.
func authorize(t *testing.T, srv *zohotest.Server, authURL string) url.Values {
	t.Helper()
	hc := srv.HTTPClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query()
}

// TestConsentFlow: the authorization URL's code is exchanged for a refresh
// token that a connector configured without refresh_token then uses from
// the host's secret store; a used code, a URL without access_type=offline
// and an accounts server of another data centre are errors, and settings
// without redirect_uri are refused for consent.
func TestConsentFlow(t *testing.T) {
	srv := startEmulator(t, zohotest.Options{DataCenters: []string{"us", "eu"}})
	ctx := context.Background()
	set := map[string]any{"client_id": srv.ClientID(), "client_secret": srv.ClientSecret(),
		"redirect_uri": "http://127.0.0.1:9/cb", "accounts_url": srv.AccountsURL("us"), "ca_file": srv.CAFile()}
	raw, _ := json.Marshal(set)
	flow, err := zoho.NewConsent(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := authorize(t, srv, flow.AuthorizeURL("st-1"))
	if q.Get("state") != "st-1" {
		t.Errorf("state not returned: %v", q)
	}
	if err := flow.CheckAccountsServer(q.Get("location"), q.Get("accounts-server")); err != nil {
		t.Errorf("same data centre refused: %v", err)
	}
	rt, apiDomain, err := flow.Exchange(ctx, q.Get("code"))
	if err != nil || rt == "" || apiDomain != srv.APIDomain("us") {
		t.Fatalf("Exchange: token %v, api_domain %q, %v", rt != "", apiDomain, err)
	}
	// A code is single use: Zoho answers invalid_code.
	if _, _, err := flow.Exchange(ctx, q.Get("code")); connector.CodeOf(err) != connector.AuthExpired || strings.Contains(err.Error(), q.Get("code")) {
		t.Errorf("second exchange: want AUTH_EXPIRED without the code in it, got %v", err)
	}
	host := &connector.MemoryHost{}
	if err := zoho.StoreRefreshToken(ctx, host, rt, apiDomain); err != nil {
		t.Fatal(err)
	}
	c := connector.Local(zoho.New())
	defer c.Close()
	if err := c.Configure(ctx, connector.ConfigureRequest{Connection: "crm", Settings: raw, Host: host}); err != nil {
		t.Fatalf("Configure with the stored token: %v", err)
	}
	if ds := c.Check(ctx); ds.HasError() {
		t.Fatalf("Check with the stored token: %v", ds)
	}
	// Without a stored token: INVALID_INPUT on refresh_token naming the command.
	err = zoho.New().Configure(ctx, connector.ConfigureRequest{Connection: "crm", Settings: raw, Host: &connector.MemoryHost{}})
	if ds := connector.AsDiagnostics(err); len(ds) != 1 || ds[0].Field != "refresh_token" || ds[0].Code != connector.InvalidInput ||
		!strings.Contains(ds[0].Error(), "syncplane consent zoho --connection crm") {
		t.Errorf("no token anywhere: got %v", err)
	}

	// Without access_type=offline Zoho gives no refresh token.
	u, _ := url.Parse(flow.AuthorizeURL("st-2"))
	v := u.Query()
	v.Del("access_type")
	u.RawQuery = v.Encode()
	q = authorize(t, srv, u.String())
	if _, _, err := flow.Exchange(ctx, q.Get("code")); err == nil || !strings.Contains(err.Error()+connector.AsDiagnostics(err)[0].Detail, "access_type=offline") {
		t.Errorf("exchange of an online-only code: want an error about access_type=offline, got %v", err)
	}

	// An account of the eu data centre answers with its accounts server.
	if err := flow.CheckAccountsServer("eu", srv.AccountsURL("eu")); connector.AsDiagnostics(err)[0].Field != "data_center" {
		t.Errorf("accounts server of another data centre: want an error naming data_center, got %v", err)
	}

	delete(set, "redirect_uri")
	raw, _ = json.Marshal(set)
	if _, err := zoho.NewConsent(raw); err == nil || connector.AsDiagnostics(err)[0].Field != "redirect_uri" {
		t.Errorf("consent without redirect_uri: want an error naming redirect_uri, got %v", err)
	}
}
