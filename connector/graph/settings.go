package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/syncplane/syncplane/connector"
)

// Sign-in methods (the auth setting).
const (
	AuthClientSecret      = "client_secret"
	AuthClientCertificate = "client_certificate"
	AuthAdminRefreshToken = "admin_refresh_token"
	AuthUserConsent       = "user_consent"
)

// Settings are a Graph connection's settings, as Configure receives them.
// The JSON names are the documented setting names; see settingsSchema.
type Settings struct {
	TenantID            string   `json:"tenant_id"`
	ClientID            string   `json:"client_id"`
	Auth                string   `json:"auth"`
	ClientSecret        string   `json:"client_secret,omitempty"`
	CertificateFile     string   `json:"certificate_file,omitempty"`
	CertificatePassword string   `json:"certificate_password,omitempty"`
	RedirectURI         string   `json:"redirect_uri,omitempty"`
	PublicClient        bool     `json:"public_client,omitempty"`
	Scopes              []string `json:"scopes,omitempty"`
	Cloud               string   `json:"cloud,omitempty"`
	AuthorityHost       string   `json:"authority_host,omitempty"`
	GraphEndpoint       string   `json:"graph_endpoint,omitempty"`
	CAFile              string   `json:"ca_file,omitempty"`
	Users               Users    `json:"users"`
	Window              Window   `json:"window"`
	// Timezone is a Windows time zone name sent as Prefer: outlook.timezone;
	// empty means UTC.
	Timezone                 string `json:"timezone,omitempty"`
	PageSize                 int    `json:"page_size,omitempty"`
	MaxConcurrencyPerMailbox int    `json:"max_concurrency_per_mailbox,omitempty"`
	MaxConcurrency           int    `json:"max_concurrency,omitempty"`
	ImmutableIDs             *bool  `json:"immutable_ids,omitempty"`
	// Batch lets rounds of different mailboxes share JSON $batch requests
	// (default true).
	Batch    *bool     `json:"batch,omitempty"`
	Entities EntityOpt `json:"entities"`
}

// Users selects the mailboxes to synchronise: exactly one member is set.
type Users struct {
	// Filter is an OData $filter over /users, e.g. "userType eq 'Member'".
	Filter string `json:"filter,omitempty"`
	// List is a semicolon-separated list of user principal names.
	List string `json:"list,omitempty"`
	// Group is a group's display name; its transitive user members are
	// selected.
	Group string `json:"group,omitempty"`
	// Consents selects the users with a stored refresh token.
	Consents bool `json:"consents,omitempty"`
}

// Window bounds the calendar window synchronised around today.
type Window struct {
	PastMonths   int `json:"past_months,omitempty"`
	FutureMonths int `json:"future_months,omitempty"`
}

// EntityOpt holds per-entity options.
type EntityOpt struct {
	Contacts struct {
		// Folder is a contact folder id; empty for the default folder.
		Folder string `json:"folder,omitempty"`
		// Mailbox is another mailbox contacts are written to, in addition
		// to the owner's (Mode additional) or instead of it (exclusive).
		Mailbox string `json:"mailbox,omitempty"`
		Mode    string `json:"mode,omitempty"`
	} `json:"contacts"`
	Todo struct {
		// List is a To Do list's display name; empty for the default list.
		List string `json:"list,omitempty"`
	} `json:"todo"`
	Messages struct {
		// Folder is a mail folder id or well-known name; "inbox" by default.
		Folder string `json:"folder,omitempty"`
	} `json:"messages"`
}

// The defaults of the settings.
const (
	DefaultPastMonths               = 1
	DefaultFutureMonths             = 6
	DefaultPageSize                 = 100
	DefaultMaxConcurrencyPerMailbox = 4 // Outlook allows four concurrent requests per app and mailbox (graph-api-facts §4.1)
	DefaultMaxConcurrency           = 64
)

// cloudEndpoints are the national clouds (graph-api-facts §8, "National
// clouds", from contrib concepts/deployments.md).
func cloudEndpoints(cloud string) (authority, graph string, ok bool) {
	switch cloud {
	case "", "global":
		return "https://login.microsoftonline.com/", "https://graph.microsoft.com", true
	case "usgov":
		return "https://login.microsoftonline.us/", "https://graph.microsoft.us", true
	case "usgov-dod":
		return "https://login.microsoftonline.us/", "https://dod-graph.microsoft.us", true
	case "china":
		return "https://login.chinacloudapi.cn/", "https://microsoftgraph.chinacloudapi.cn", true
	}
	return "", "", false
}

// config is the validated, defaulted form of Settings.
type config struct {
	Settings
	authority  string // with trailing slash
	graphRoot  string // without trailing slash or /v1.0
	custom     bool
	caPEM      []byte
	certPEM    []byte
	immutable  bool
	noBatch    bool
	scopes     []string
	userList   []string
	windowPast int
	windowNext int
}

// parseSettings decodes and validates settings; every problem is a
// diagnostic naming its field.
func parseSettings(raw json.RawMessage) (*config, error) {
	var s Settings
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, connector.Diagnostics{connector.Errorf(connector.InvalidInput, "settings are not a valid Graph settings object").WithDetail("%s", err.Error())}
	}
	var ds connector.Diagnostics
	bad := func(field, format string, args ...any) {
		ds = append(ds, connector.FieldErrorf(connector.InvalidInput, field, format, args...))
	}
	c := &config{Settings: s}
	if s.TenantID == "" {
		bad("tenant_id", "tenant_id is required (the directory (tenant) id or domain)")
	} else if strings.ContainsAny(s.TenantID, "/?#") {
		bad("tenant_id", "tenant_id %q is not a tenant id or domain", s.TenantID)
	}
	if s.ClientID == "" {
		bad("client_id", "client_id is required (the application (client) id)")
	}
	switch s.Auth {
	case AuthClientSecret:
		if s.ClientSecret == "" {
			bad("client_secret", "client_secret is required when auth is client_secret")
		}
	case AuthClientCertificate:
		if s.CertificateFile == "" {
			bad("certificate_file", "certificate_file is required when auth is client_certificate")
		} else if b, err := os.ReadFile(s.CertificateFile); err != nil {
			bad("certificate_file", "cannot read certificate_file: %v", err)
		} else {
			c.certPEM = b
		}
	case AuthAdminRefreshToken, AuthUserConsent:
		if !s.PublicClient && s.ClientSecret == "" {
			bad("client_secret", "client_secret is required to redeem refresh tokens unless public_client is true")
		}
		if s.RedirectURI != "" {
			if u, err := url.Parse(s.RedirectURI); err != nil || u.Scheme == "" || u.Host == "" {
				bad("redirect_uri", "redirect_uri %q is not an absolute URL", s.RedirectURI)
			}
		}
	case "":
		bad("auth", "auth is required: one of client_secret, client_certificate, admin_refresh_token, user_consent")
	default:
		bad("auth", "auth %q is not one of client_secret, client_certificate, admin_refresh_token, user_consent", s.Auth)
	}
	if s.Cloud == "custom" {
		c.custom = true
		for _, f := range []struct{ name, val string }{{"authority_host", s.AuthorityHost}, {"graph_endpoint", s.GraphEndpoint}} {
			if f.val == "" {
				bad(f.name, "%s is required when cloud is custom", f.name)
				continue
			}
			u, err := url.Parse(f.val)
			if err != nil || u.Host == "" {
				bad(f.name, "%s %q is not an absolute URL", f.name, f.val)
			} else if u.Scheme != "https" {
				bad(f.name, "%s %q must use https (the identity platform and Graph are only served over TLS)", f.name, f.val)
			}
		}
		c.authority = strings.TrimSuffix(s.AuthorityHost, "/") + "/"
		c.graphRoot = strings.TrimSuffix(strings.TrimSuffix(s.GraphEndpoint, "/"), "/v1.0")
	} else if a, g, ok := cloudEndpoints(s.Cloud); ok {
		if s.AuthorityHost != "" || s.GraphEndpoint != "" {
			bad("cloud", "authority_host and graph_endpoint are only used with cloud custom")
		}
		c.authority, c.graphRoot = a, g
	} else {
		bad("cloud", "cloud %q is not one of global, usgov, usgov-dod, china, custom", s.Cloud)
	}
	if s.CAFile != "" {
		b, err := os.ReadFile(s.CAFile)
		if err != nil {
			bad("ca_file", "cannot read ca_file: %v", err)
		} else if !strings.Contains(string(b), "-----BEGIN CERTIFICATE-----") {
			bad("ca_file", "ca_file %s holds no PEM certificate", s.CAFile)
		} else {
			c.caPEM = b
		}
	}
	n := 0
	if s.Users.Filter != "" {
		n++
	}
	if s.Users.List != "" {
		n++
		for _, u := range strings.Split(s.Users.List, ";") {
			u = strings.TrimSpace(u)
			if u == "" {
				continue
			}
			if !strings.Contains(u, "@") {
				bad("users.list", "%q in users.list is not a user principal name (name@domain)", u)
			}
			c.userList = append(c.userList, u)
		}
		if len(c.userList) == 0 {
			bad("users.list", "users.list names no user")
		}
	}
	if s.Users.Group != "" {
		n++
	}
	if s.Users.Consents {
		n++
		if s.Auth != AuthUserConsent {
			bad("users.consents", "users.consents needs auth user_consent")
		}
	}
	if n != 1 {
		bad("users", "users must set exactly one of filter, list, group, consents (%d set)", n)
	}
	c.windowPast, c.windowNext = s.Window.PastMonths, s.Window.FutureMonths
	if c.windowPast == 0 && c.windowNext == 0 {
		c.windowPast, c.windowNext = DefaultPastMonths, DefaultFutureMonths
	}
	if c.windowPast < 0 || c.windowPast > 120 {
		bad("window.past_months", "window.past_months must be between 0 and 120, got %d", c.windowPast)
	}
	if c.windowNext < 0 || c.windowNext > 120 {
		bad("window.future_months", "window.future_months must be between 0 and 120, got %d", c.windowNext)
	}
	if strings.ContainsAny(s.Timezone, "\"\r\n") {
		bad("timezone", "timezone %q is not a Windows time zone name", s.Timezone)
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	} else if c.PageSize < 1 || c.PageSize > 1000 {
		bad("page_size", "page_size must be between 1 and 1000, got %d", c.PageSize)
	}
	if c.MaxConcurrencyPerMailbox == 0 {
		c.MaxConcurrencyPerMailbox = DefaultMaxConcurrencyPerMailbox
	} else if c.MaxConcurrencyPerMailbox < 1 || c.MaxConcurrencyPerMailbox > 4 {
		bad("max_concurrency_per_mailbox", "max_concurrency_per_mailbox must be between 1 and 4 (the Outlook limit per mailbox), got %d", c.MaxConcurrencyPerMailbox)
	}
	if c.MaxConcurrency == 0 {
		c.MaxConcurrency = DefaultMaxConcurrency
	} else if c.MaxConcurrency < 1 {
		bad("max_concurrency", "max_concurrency must be positive, got %d", c.MaxConcurrency)
	}
	switch cm := s.Entities.Contacts; cm.Mode {
	case "":
		if cm.Mailbox != "" {
			c.Entities.Contacts.Mode = "additional"
		}
	case "additional", "exclusive":
		if cm.Mailbox == "" {
			bad("entities.contacts.mailbox", "entities.contacts.mailbox is required with entities.contacts.mode %s", cm.Mode)
		}
	default:
		bad("entities.contacts.mode", "entities.contacts.mode %q is not one of additional, exclusive", cm.Mode)
	}
	if m := s.Entities.Contacts.Mailbox; m != "" && !strings.Contains(m, "@") {
		bad("entities.contacts.mailbox", "entities.contacts.mailbox %q is not a user principal name", m)
	}
	c.immutable = s.ImmutableIDs == nil || *s.ImmutableIDs
	c.noBatch = s.Batch != nil && !*s.Batch
	c.scopes = s.Scopes
	if len(c.scopes) == 0 {
		switch s.Auth {
		case AuthAdminRefreshToken, AuthUserConsent:
			c.scopes = []string{c.graphRoot + "/.default", "offline_access"}
		default:
			c.scopes = []string{c.graphRoot + "/.default"}
		}
	}
	for i, sc := range c.scopes {
		if strings.TrimSpace(sc) == "" || strings.ContainsAny(sc, " \t") {
			bad(fmt.Sprintf("scopes[%d]", i), "scope %q is empty or contains spaces", sc)
		}
	}
	if err := ds.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// settingsSchema is the JSON Schema of Settings (draft 2020-12).
const settingsSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Microsoft Graph connection",
  "type": "object",
  "additionalProperties": false,
  "required": ["tenant_id", "client_id", "auth", "users"],
  "properties": {
    "tenant_id": {"type": "string", "minLength": 1, "description": "Directory (tenant) id or verified domain."},
    "client_id": {"type": "string", "minLength": 1, "description": "Application (client) id of the app registration."},
    "auth": {"enum": ["client_secret", "client_certificate", "admin_refresh_token", "user_consent"],
      "description": "Sign-in method: application permissions with a secret or a certificate, an administrator's delegated refresh token (syncplane consent admin), or per-user refresh tokens collected by the host's consent endpoints."},
    "client_secret": {"type": "string", "writeOnly": true, "description": "Client secret (secret)."},
    "certificate_file": {"type": "string", "description": "PEM file with the certificate and its private key."},
    "certificate_password": {"type": "string", "writeOnly": true, "description": "Password of an encrypted private key (secret)."},
    "redirect_uri": {"type": "string", "format": "uri", "description": "Redirect URI registered for the authorization-code flow."},
    "public_client": {"type": "boolean", "default": false, "description": "Redeem refresh tokens as a public client (no client secret)."},
    "scopes": {"type": "array", "items": {"type": "string"}, "description": "Scopes to request; default {graph_endpoint}/.default (plus offline_access for refresh tokens)."},
    "cloud": {"enum": ["global", "usgov", "usgov-dod", "china", "custom"], "default": "global"},
    "authority_host": {"type": "string", "format": "uri", "description": "Identity platform root for cloud custom, e.g. https://login.example.com/."},
    "graph_endpoint": {"type": "string", "format": "uri", "description": "Graph root for cloud custom, e.g. https://graph.example.com (without /v1.0)."},
    "ca_file": {"type": "string", "description": "PEM file of extra certificate authorities to trust."},
    "users": {"type": "object", "additionalProperties": false, "minProperties": 1, "maxProperties": 1,
      "description": "Which mailboxes to synchronise: exactly one of the members.",
      "properties": {
        "filter": {"type": "string", "description": "OData $filter over /users, e.g. userType eq 'Member'."},
        "list": {"type": "string", "description": "Semicolon-separated user principal names."},
        "group": {"type": "string", "description": "Display name of a group; its transitive user members."},
        "consents": {"const": true, "description": "Users who gave consent (auth user_consent)."}
      }},
    "window": {"type": "object", "additionalProperties": false, "properties": {
      "past_months": {"type": "integer", "minimum": 0, "maximum": 120, "default": 1},
      "future_months": {"type": "integer", "minimum": 0, "maximum": 120, "default": 6}}},
    "timezone": {"type": "string", "description": "Windows time zone name for event times (Prefer: outlook.timezone); UTC when empty."},
    "page_size": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    "max_concurrency_per_mailbox": {"type": "integer", "minimum": 1, "maximum": 4, "default": 4},
    "max_concurrency": {"type": "integer", "minimum": 1, "default": 64},
    "immutable_ids": {"type": "boolean", "default": true},
    "batch": {"type": "boolean", "default": true, "description": "Let no-change rounds of different mailboxes share JSON $batch requests."},
    "entities": {"type": "object", "additionalProperties": false, "properties": {
      "contacts": {"type": "object", "additionalProperties": false, "properties": {"folder": {"type": "string"},
        "mailbox": {"type": "string", "description": "Another mailbox contacts are also (additional) or only (exclusive) written to."},
        "mode": {"enum": ["additional", "exclusive"]}}},
      "todo": {"type": "object", "additionalProperties": false, "properties": {"list": {"type": "string"}}},
      "messages": {"type": "object", "additionalProperties": false, "properties": {"folder": {"type": "string"}}}}}
  }
}`
