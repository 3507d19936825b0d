package zoho

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/syncplane/syncplane/connector"
	settingsschema "github.com/syncplane/syncplane/connector/settings"
)

// settingsSchema is the JSON Schema (draft 2020-12) of Configure's settings.
const settingsSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Zoho CRM",
  "type": "object",
  "required": ["client_id", "client_secret"],
  "additionalProperties": false,
  "properties": {
    "data_center": {"enum": ["us", "eu", "in", "au", "jp", "cn", "sa", "ca"], "description": "Zoho data centre of the org (default us); decides the accounts server and the default api_domain."},
    "client_id": {"type": "string", "minLength": 1, "description": "OAuth client id from the Zoho API console."},
    "client_secret": {"type": "string", "minLength": 1, "description": "OAuth client secret."},
    "refresh_token": {"type": "string", "minLength": 1, "description": "Refresh token (self-client or authorization-code grant with access_type=offline). Optional when grant_code is given or when \"syncplane consent zoho --connection NAME\" stored a refresh token for the connection in the state store; this setting takes precedence over both."},
    "grant_code": {"type": "string", "minLength": 1, "description": "A grant code to exchange once for a refresh token, which is then kept in the host's secret store."},
    "redirect_uri": {"type": "string", "minLength": 1, "description": "redirect_uri registered for the client in the Zoho API console, which the grant code was issued for (authorization-code flow). \"syncplane consent zoho\" listens on it, so for that command it must be http://localhost:PORT/PATH or http://127.0.0.1:PORT/PATH."},
    "edition": {"enum": ["free", "standard", "professional", "enterprise", "ultimate"], "description": "CRM edition, for the concurrency limit the connector stays within (default enterprise)."},
    "max_concurrency": {"type": "integer", "minimum": 1, "maximum": 25, "description": "Overrides the edition's concurrency limit."},
    "modules": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1, "uniqueItems": true, "description": "Module api_names offered as entities (default Contacts, Accounts, Leads, Events, Tasks, Calls)."},
    "accounts_url": {"type": "string", "pattern": "^https://", "description": "Overrides the data centre's accounts server (an emulator, a sandbox)."},
    "api_domain": {"type": "string", "pattern": "^https://", "description": "Overrides the api_domain the token response gives."},
    "ca_file": {"type": "string", "minLength": 1, "description": "PEM file of extra certificate authorities to trust (an emulator's)."},
    "upsert": {"type": "boolean", "description": "Create records of Contacts, Leads and Accounts with Zoho's upsert, so a record whose duplicate-check field (Email, Account_Name) matches an existing one updates it instead of failing with DUPLICATE_DATA (default true). With false, creates are plain inserts."},
    "resolve_participants": {"type": "boolean", "description": "Turn meeting participants given by e-mail address into contact participants when a Zoho contact has that address (default true; one COQL query per 50 addresses)."},
    "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 600, "description": "Timeout of one HTTP call (default 60)."}
  }
}`

// dataCenters maps a data centre to its accounts server and api_domain
// (crm-api-facts.md §A2, from the SDK dc classes and multi-dc.html).
var dataCenters = map[string][2]string{
	"us": {"https://accounts.zoho.com", "https://www.zohoapis.com"},
	"eu": {"https://accounts.zoho.eu", "https://www.zohoapis.eu"},
	"in": {"https://accounts.zoho.in", "https://www.zohoapis.in"},
	"au": {"https://accounts.zoho.com.au", "https://www.zohoapis.com.au"},
	"jp": {"https://accounts.zoho.jp", "https://www.zohoapis.jp"},
	"cn": {"https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"},
	"sa": {"https://accounts.zoho.sa", "https://www.zohoapis.sa"},
	"ca": {"https://accounts.zohocloud.ca", "https://www.zohoapis.ca"},
}

// editionConcurrency is the concurrency limit per edition (§A7).
var editionConcurrency = map[string]int{"free": 5, "standard": 10, "professional": 15, "enterprise": 20, "ultimate": 25}

// DefaultModules are the modules offered when the settings name none.
var DefaultModules = []string{"Contacts", "Accounts", "Leads", "Events", "Tasks", "Calls"}

type settings struct {
	DataCenter     string   `json:"data_center"`
	ClientID       string   `json:"client_id"`
	ClientSecret   string   `json:"client_secret"`
	RefreshToken   string   `json:"refresh_token"`
	GrantCode      string   `json:"grant_code"`
	RedirectURI    string   `json:"redirect_uri"`
	Edition        string   `json:"edition"`
	MaxConcurrency int      `json:"max_concurrency"`
	Modules        []string `json:"modules"`
	AccountsURL    string   `json:"accounts_url"`
	APIDomain      string   `json:"api_domain"`
	CAFile         string   `json:"ca_file"`
	TimeoutSeconds int      `json:"timeout_seconds"`
	Upsert         *bool    `json:"upsert"`
	// ResolveParticipants nil means true.
	ResolveParticipants *bool `json:"resolve_participants"`
}

// secretSettings are the settings never shown in a message or log.
var secretSettings = []string{"/client_secret", "/refresh_token", "/grant_code"}

// settingsValidator checks settings against settingsSchema.
var settingsValidator = settingsschema.MustCompile(settingsSchema, secretSettings...)

// parseSettings validates the settings and applies defaults. Every problem
// is an INVALID_INPUT diagnostic naming its setting; secrets are never
// echoed. Whether a refresh token is at hand (the setting, grant_code or
// one stored by consent) is Configure's check: it needs the host.
func parseSettings(raw json.RawMessage) (*settings, error) {
	var s settings
	if err := settingsValidator.Decode(raw, &s); err != nil {
		return nil, err
	}
	var ds connector.Diagnostics
	if s.DataCenter == "" {
		s.DataCenter = "us"
	}
	if s.Edition == "" {
		s.Edition = "enterprise"
	}
	if s.MaxConcurrency == 0 {
		s.MaxConcurrency = editionConcurrency[s.Edition]
	}
	if len(s.Modules) == 0 {
		s.Modules = DefaultModules
	}
	if s.TimeoutSeconds == 0 {
		s.TimeoutSeconds = 60
	}
	dc := dataCenters[s.DataCenter]
	if s.AccountsURL == "" {
		s.AccountsURL = dc[0]
	}
	for _, u := range []struct{ name, v string }{{"accounts_url", s.AccountsURL}, {"api_domain", s.APIDomain}} {
		if u.v == "" {
			continue
		}
		if p, err := url.Parse(u.v); err != nil || p.Host == "" {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, u.name, "%s %q is not an https URL with a host", u.name, u.v))
		}
	}
	s.AccountsURL = strings.TrimRight(s.AccountsURL, "/")
	s.APIDomain = strings.TrimRight(s.APIDomain, "/")
	if len(ds) > 0 {
		return nil, ds
	}
	return &s, nil
}

// httpClient builds the HTTP client: the system roots plus ca_file.
func (s *settings) httpClient() (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, connector.FieldErrorf(connector.InvalidInput, "ca_file", "reading ca_file %q: %v", s.CAFile, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, connector.FieldErrorf(connector.InvalidInput, "ca_file", "ca_file %q holds no PEM certificate", s.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: time.Duration(s.TimeoutSeconds) * time.Second}, nil
}
