package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/syncplane/syncplane/connector"
)

// AdminTokenKey is the name, in the host's secret store of a connection,
// of the administrator's refresh token (auth admin_refresh_token).
const AdminTokenKey = adminTokenKey

// UserTokenKey returns the name, in the host's secret store of a
// connection, of a user's refresh token (auth user_consent).
func UserTokenKey(upn string) string { return userTokenKey(upn) }

// Consent runs the authorization-code flow of a connection's settings:
// AuthorizeURL (built by MSAL) gives the page where the administrator (or a user)
// signs in and consents, and Redeem turns the code sent to the redirect URI
// into a refresh token. The host stores that token in its secret store
// under AdminTokenKey or UserTokenKey.
type Consent struct {
	cfg    *config
	scopes []string
	conf   *confidential.Client
	pub    *public.Client
	hc     *http.Client
}

// NewConsent prepares the flow for settings whose auth is
// admin_refresh_token or user_consent.
func NewConsent(settings json.RawMessage) (*Consent, error) {
	cfg, err := parseSettings(settings)
	if err != nil {
		return nil, err
	}
	if cfg.Auth != AuthAdminRefreshToken && cfg.Auth != AuthUserConsent {
		return nil, connector.FieldErrorf(connector.InvalidInput, "auth", "consent needs auth admin_refresh_token or user_consent, not %s", cfg.Auth)
	}
	hc, err := newHTTPClient(cfg.caPEM, 0)
	if err != nil {
		return nil, connector.FieldErrorf(connector.InvalidInput, "ca_file", "%v", err)
	}
	c := &Consent{cfg: cfg, hc: hc}
	// openid, profile and offline_access are added by authScopes.
	for _, s := range cfg.scopes {
		switch s {
		case "openid", "profile", "offline_access":
		default:
			c.scopes = append(c.scopes, s)
		}
	}
	authority := cfg.authority + url.PathEscape(cfg.TenantID)
	if cfg.PublicClient {
		p, err := public.New(cfg.ClientID, public.WithAuthority(authority), public.WithHTTPClient(hc),
			public.WithInstanceDiscovery(!cfg.custom))
		if err != nil {
			return nil, fmt.Errorf("preparing the public client: %w", err)
		}
		c.pub = &p
		return c, nil
	}
	cred, err := confidential.NewCredFromSecret(cfg.ClientSecret)
	if err != nil {
		return nil, connector.FieldErrorf(connector.InvalidInput, "client_secret", "client_secret: %v", err)
	}
	cc, err := confidential.New(authority, cfg.ClientID, cred, confidential.WithHTTPClient(hc),
		confidential.WithInstanceDiscovery(!cfg.custom))
	if err != nil {
		return nil, fmt.Errorf("preparing the confidential client: %w", err)
	}
	c.conf = &cc
	return c, nil
}

// authScopes are the configured scopes plus openid and profile (for the
// user's name) and offline_access (for the refresh token).
func (c *Consent) authScopes() []string {
	return append(append([]string(nil), c.scopes...), "openid", "profile", "offline_access")
}

// RedirectURI returns the redirect_uri setting, or an error naming it when
// it is not set.
func (c *Consent) RedirectURI() (string, error) {
	if c.cfg.RedirectURI == "" {
		return "", connector.FieldErrorf(connector.InvalidInput, "redirect_uri", "redirect_uri is required for consent")
	}
	return c.cfg.RedirectURI, nil
}

// AuthorizeURL returns the sign-in page URL; redirectURI is where the code
// is sent (settings redirect_uri when empty); loginHint may name the user.
func (c *Consent) AuthorizeURL(ctx context.Context, redirectURI, state, loginHint string) (string, error) {
	if redirectURI == "" {
		redirectURI = c.cfg.RedirectURI
	}
	if redirectURI == "" {
		return "", connector.FieldErrorf(connector.InvalidInput, "redirect_uri", "redirect_uri is required for consent")
	}
	var u string
	var err error
	if c.pub != nil {
		var opts []public.AuthCodeURLOption
		if loginHint != "" {
			opts = append(opts, public.WithLoginHint(loginHint))
		}
		u, err = c.pub.AuthCodeURL(ctx, c.cfg.ClientID, redirectURI, c.authScopes(), opts...)
	} else {
		var opts []confidential.AuthCodeURLOption
		if loginHint != "" {
			opts = append(opts, confidential.WithLoginHint(loginHint))
		}
		u, err = c.conf.AuthCodeURL(ctx, c.cfg.ClientID, redirectURI, c.authScopes(), opts...)
	}
	if err != nil {
		return "", fmt.Errorf("building the authorize URL: %w", err)
	}
	if state != "" {
		pu, perr := url.Parse(u)
		if perr == nil {
			q := pu.Query()
			q.Set("state", state)
			pu.RawQuery = q.Encode()
			u = pu.String()
		}
	}
	return u, nil
}

// Redeem exchanges an authorization code for tokens and returns the
// refresh token and the signed-in user's name (preferred_username of the
// id token). The code is redeemed with the authorization_code grant
// directly (entra v2-oauth2-auth-code-flow.md, "Redeem a code for an access
// token"): MSAL Go keeps refresh tokens inside its cache, and it fails a
// redemption whose granted scopes do not repeat a requested "/.default"
// ("declined scopes"), which is how the identity platform answers one.
func (c *Consent) Redeem(ctx context.Context, code, redirectURI string) (refreshToken, user string, err error) {
	if redirectURI == "" {
		redirectURI = c.cfg.RedirectURI
	}
	rt := &refreshTokens{cfg: c.cfg, hc: c.hc}
	form := url.Values{
		"client_id":    {c.cfg.ClientID},
		"grant_type":   {"authorization_code"},
		"code":         {code},
		"redirect_uri": {redirectURI},
		"scope":        {strings.Join(c.authScopes(), " ")},
	}
	if !c.cfg.PublicClient {
		form.Set("client_secret", c.cfg.ClientSecret)
	}
	body, err := rt.post(ctx, form, "the signed-in user")
	if err != nil {
		return "", "", err
	}
	var ok struct {
		RefreshToken string `json:"refresh_token"`
		IDToken      string `json:"id_token"`
	}
	if err := json.Unmarshal(body, &ok); err != nil {
		return "", "", connector.Errorf(connector.Internal, "the token answer cannot be read").WithDetail("%v", err)
	}
	if ok.RefreshToken == "" {
		return "", "", connector.Errorf(connector.AuthFailed, "the identity platform returned no refresh token (is offline_access allowed for the application?)")
	}
	return ok.RefreshToken, strings.ToLower(idTokenUser(ok.IDToken)), nil
}

// idTokenUser reads preferred_username from an id token's claims. The
// token comes straight from the token endpoint over TLS, so its signature
// is not checked here.
func idTokenUser(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		PreferredUsername string `json:"preferred_username"`
		UPN               string `json:"upn"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	if claims.PreferredUsername != "" {
		return claims.PreferredUsername
	}
	return claims.UPN
}
