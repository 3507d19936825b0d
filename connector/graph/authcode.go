package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
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

// Consent runs the authorization-code flow of a connection's settings with
// MSAL: AuthorizeURL gives the page where the administrator (or a user)
// signs in and consents, and Redeem turns the code sent to the redirect URI
// into a refresh token. The host stores that token in its secret store
// under AdminTokenKey or UserTokenKey.
type Consent struct {
	cfg    *config
	scopes []string
	conf   *confidential.Client
	pub    *public.Client
	cache  *capturedCache
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
	hc, err := newHTTPClient(cfg.caPEM)
	if err != nil {
		return nil, connector.FieldErrorf(connector.InvalidInput, "ca_file", "%v", err)
	}
	c := &Consent{cfg: cfg, cache: &capturedCache{}}
	// MSAL adds openid, profile and offline_access itself.
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
			public.WithInstanceDiscovery(!cfg.custom), public.WithCache(c.cache))
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
		confidential.WithInstanceDiscovery(!cfg.custom), confidential.WithCache(c.cache))
	if err != nil {
		return nil, fmt.Errorf("preparing the confidential client: %w", err)
	}
	c.conf = &cc
	return c, nil
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
		u, err = c.pub.AuthCodeURL(ctx, c.cfg.ClientID, redirectURI, c.scopes, opts...)
	} else {
		var opts []confidential.AuthCodeURLOption
		if loginHint != "" {
			opts = append(opts, confidential.WithLoginHint(loginHint))
		}
		u, err = c.conf.AuthCodeURL(ctx, c.cfg.ClientID, redirectURI, c.scopes, opts...)
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
// refresh token and the signed-in user's name. The refresh token is read
// from MSAL's serialized cache: MSAL keeps it there and has no other way to
// hand it out.
func (c *Consent) Redeem(ctx context.Context, code, redirectURI string) (refreshToken, user string, err error) {
	if redirectURI == "" {
		redirectURI = c.cfg.RedirectURI
	}
	var username string
	if c.pub != nil {
		res, err := c.pub.AcquireTokenByAuthCode(ctx, code, redirectURI, c.scopes)
		if err != nil {
			return "", "", redeemError(err)
		}
		username = res.Account.PreferredUsername
	} else {
		res, err := c.conf.AcquireTokenByAuthCode(ctx, code, redirectURI, c.scopes)
		if err != nil {
			return "", "", redeemError(err)
		}
		username = res.Account.PreferredUsername
	}
	rt, err := c.cache.refreshToken()
	if err != nil {
		return "", "", err
	}
	return rt, strings.ToLower(username), nil
}

func redeemError(err error) error {
	msg := err.Error()
	for _, code := range []string{"AADSTS65001", "AADSTS90094"} {
		if strings.Contains(msg, code) {
			return connector.Errorf(connector.PermissionDenied, "consent is missing: an administrator must grant consent to the application").WithDetail("%s", code)
		}
	}
	return connector.Errorf(connector.AuthFailed, "the identity platform refused the authorization code").WithDetail("%v", err)
}

// capturedCache keeps MSAL's serialized cache in memory only.
type capturedCache struct {
	mu   sync.Mutex
	data []byte
}

func (c *capturedCache) Replace(_ context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.data) == 0 {
		return nil
	}
	return u.Unmarshal(c.data)
}

func (c *capturedCache) Export(_ context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.data = b
	c.mu.Unlock()
	return nil
}

func (c *capturedCache) refreshToken() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var contract struct {
		RefreshToken map[string]struct {
			Secret string `json:"secret"`
		} `json:"RefreshToken"`
	}
	if err := json.Unmarshal(c.data, &contract); err != nil {
		return "", fmt.Errorf("reading the token cache: %w", err)
	}
	for _, rt := range contract.RefreshToken {
		if rt.Secret != "" {
			return rt.Secret, nil
		}
	}
	return "", errors.New("the identity platform returned no refresh token (is offline_access allowed for the application?)")
}
