package zoho

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/syncplane/syncplane/connector"
)

// RefreshTokenKey is the name, in the host's secret store of a connection,
// of the refresh token that `syncplane consent zoho` stores. The connector
// uses it when its settings give neither refresh_token nor grant_code.
const RefreshTokenKey = secretRefreshToken

// APIDomainKey is the name, in the host's value store of a connection, of
// the api_domain the last token response gave (crm-api-facts.md §A1).
const APIDomainKey = valueAPIDomain

// Scopes are the OAuth scopes the connector asks for: the minimal set of
// crm-api-facts.md §A2 (modules, the three settings scopes, COQL, users,
// org). Check reports what a token lacks of them.
var Scopes = []string{"ZohoCRM.modules.ALL", "ZohoCRM.settings.fields.READ", "ZohoCRM.settings.modules.READ",
	"ZohoCRM.settings.layouts.READ", "ZohoCRM.coql.READ", "ZohoCRM.users.READ", "ZohoCRM.org.READ"}

// Consent is the authorization-code flow of a Zoho connection (§A2 grant
// type 1): the browser step's URL and the exchange of the code it returns
// for a refresh token. Create it with NewConsent.
type Consent struct {
	set *settings
	tok *tokens
}

// NewConsent validates a connection's settings for the consent flow. It
// needs client_id, client_secret and a redirect_uri; refresh_token and
// grant_code may be absent (that is what the flow obtains).
func NewConsent(raw json.RawMessage) (*Consent, error) {
	s, err := parseSettings(raw)
	if err != nil {
		return nil, err
	}
	if s.RedirectURI == "" {
		return nil, connector.FieldErrorf(connector.InvalidInput, "redirect_uri",
			"setting \"redirect_uri\" is required for consent: the redirect URI registered for the client in the Zoho API console, e.g. http://127.0.0.1:8765/callback")
	}
	hc, err := s.httpClient()
	if err != nil {
		return nil, err
	}
	tok := &tokens{hc: hc, accountsURL: s.AccountsURL, clientID: s.ClientID, secret: s.ClientSecret,
		redirectURI: s.RedirectURI, now: time.Now}
	return &Consent{set: s, tok: tok}, nil
}

// RedirectURI is the redirect_uri of the settings, where the browser
// brings the code.
func (c *Consent) RedirectURI() string { return c.set.RedirectURI }

// AccountsURL is the accounts server the flow uses: the data centre's
// (§A2 table) or the accounts_url override.
func (c *Consent) AccountsURL() string { return c.set.AccountsURL }

// AuthorizeURL is the browser step: GET {accounts}/oauth/v2/auth with the
// connector's Scopes, client_id, response_type=code, access_type=offline
// (without it no refresh token comes back), prompt=consent, redirect_uri
// and state (§A2 grant type 1).
func (c *Consent) AuthorizeURL(state string) string {
	v := url.Values{
		"scope":         {strings.Join(Scopes, ",")},
		"client_id":     {c.set.ClientID},
		"response_type": {"code"},
		"access_type":   {"offline"},
		"prompt":        {"consent"},
		"redirect_uri":  {c.set.RedirectURI},
		"state":         {state},
	}
	return c.set.AccountsURL + "/oauth/v2/auth?" + v.Encode()
}

// CheckAccountsServer compares the accounts-server and location a
// redirect carries (§A2: the accounts URL to use for the token call) with
// the connection's accounts server. A different one means the org lives
// in another data centre: the connection's later refreshes would go to
// the wrong server, so this is an error naming data_center.
func (c *Consent) CheckAccountsServer(location, accountsServer string) error {
	if accountsServer == "" || strings.TrimRight(accountsServer, "/") == c.set.AccountsURL {
		return nil
	}
	return connector.FieldErrorf(connector.InvalidInput, "data_center",
		"the Zoho account signed in belongs to data centre %q (accounts server %s), not to the connection's %s; set data_center (or accounts_url) and run consent again",
		location, accountsServer, c.set.AccountsURL)
}

// Exchange redeems an authorization code at the accounts server
// (grant_type=authorization_code with the redirect_uri) and returns the
// refresh token and the api_domain of the answer. Zoho's errors (HTTP 200
// with {"error": ...}) become diagnostics naming the setting at fault;
// an answer without a refresh token (no access_type=offline) is an error.
// The token never appears in an error.
func (c *Consent) Exchange(ctx context.Context, code string) (refreshToken, apiDomain string, err error) {
	c.tok.grantCode = code // so that redact hides it
	resp, err := c.tok.post(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.set.RedirectURI}})
	if err != nil {
		return "", "", err
	}
	if resp.RefreshToken == "" {
		return "", "", connector.Errorf(connector.AuthFailed, "Zoho exchanged the code but gave no refresh token").
			WithDetail("the authorization URL must carry access_type=offline")
	}
	return resp.RefreshToken, resp.APIDomain, nil
}

// StoreRefreshToken keeps a refresh token obtained by consent in a
// connection's host stores: the token under RefreshTokenKey in the secret
// store, and apiDomain (when not empty) under APIDomainKey in the value
// store. A connector of that connection configured without refresh_token
// and grant_code then signs in with it.
func StoreRefreshToken(ctx context.Context, host connector.Host, refreshToken, apiDomain string) error {
	if refreshToken == "" {
		return fmt.Errorf("no refresh token to store")
	}
	if err := host.Secrets().Put(ctx, RefreshTokenKey, []byte(refreshToken)); err != nil {
		return fmt.Errorf("storing the refresh token in the secret store: %w", err)
	}
	if apiDomain != "" {
		if err := host.Values().Put(ctx, APIDomainKey, []byte(apiDomain)); err != nil {
			return fmt.Errorf("storing api_domain: %w", err)
		}
	}
	return nil
}
