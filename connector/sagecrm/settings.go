package sagecrm

import (
	"encoding/json"
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
  "title": "Sage CRM (REST API sagecrm2)",
  "type": "object",
  "required": ["base_url", "username", "password", "server_timezone"],
  "additionalProperties": false,
  "properties": {
    "base_url": {
      "type": "string", "minLength": 1,
      "description": "The REST base with the install name, e.g. https://crm.example.com/sdata/crmj/sagecrm2/-/ for the install \"CRM\"."
    },
    "username": {"type": "string", "minLength": 1, "description": "A CRM user with logon rights (not a resource user)."},
    "password": {"type": "string", "description": "The CRM user's password (HTTP Basic authentication on every request)."},
    "server_timezone": {
      "type": "string", "minLength": 1,
      "description": "IANA time zone of the CRM server (e.g. Europe/London): Sage CRM stores and filters dates in server local time."
    },
    "ca_file": {"type": "string", "description": "PEM file of certificate authorities to trust in addition to the system's (a private CA)."},
    "page_size": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "Records asked for per request (default 100; the server may return fewer)."},
    "reconcile_every": {
      "type": "integer", "minimum": 1, "maximum": 100000,
      "description": "Deletions are found by comparing the ids the connector knows with a scan of all ids, once every this many change rounds (default 10)."
    },
    "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 3600, "description": "Timeout of one HTTP request (default 60)."}
  }
}`

// Settings are a Sage CRM connection's settings.
type Settings struct {
	BaseURL        string `json:"base_url"`
	Username       string `json:"username"`
	Password       string `json:"password"`
	ServerTimezone string `json:"server_timezone"`
	CAFile         string `json:"ca_file,omitempty"`
	PageSize       int    `json:"page_size,omitempty"`
	ReconcileEvery int    `json:"reconcile_every,omitempty"`
	TimeoutSeconds int    `json:"timeout_seconds,omitempty"`
}

// config is the validated settings with defaults applied.
type config struct {
	Settings
	base   *url.URL
	loc    *time.Location
	caPEM  []byte
	paging int
}

// secretSettings are the settings never shown in a message or log.
var secretSettings = []string{"/password"}

// settingsValidator checks settings against settingsSchema.
var settingsValidator = settingsschema.MustCompile(settingsSchema, secretSettings...)

// parseSettings validates raw and returns the configuration. Every problem
// is an INVALID_INPUT diagnostic naming its setting; the password never
// appears in a message.
func parseSettings(raw json.RawMessage) (*config, error) {
	var s Settings
	if err := settingsValidator.Decode(raw, &s); err != nil {
		return nil, err
	}
	cfg := &config{Settings: s}
	var ds connector.Diagnostics
	u, err := url.Parse(strings.TrimSpace(s.BaseURL))
	switch {
	case err != nil:
		ds = append(ds, connector.FieldErrorf(connector.InvalidInput, "base_url", "base_url is not a URL: %v", err))
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
		ds = append(ds, connector.FieldErrorf(connector.InvalidInput, "base_url", "base_url must be an http(s) URL with a host, got %q", s.BaseURL))
	case !strings.Contains(strings.ToLower(u.Path), "/sagecrm2/"):
		ds = append(ds, connector.FieldErrorf(connector.InvalidInput, "base_url",
			"base_url must be the sagecrm2 REST base with the install name, like https://server/sdata/crmj/sagecrm2/-/, got path %q", u.Path))
	default:
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		u.RawQuery, u.Fragment, u.User = "", "", nil
		cfg.base = u
	}
	if loc, err := time.LoadLocation(s.ServerTimezone); err != nil || s.ServerTimezone == "Local" {
		ds = append(ds, connector.FieldErrorf(connector.InvalidInput, "server_timezone", "server_timezone %q is not an IANA time zone name (like America/New_York)", s.ServerTimezone))
	} else {
		cfg.loc = loc
	}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, "ca_file", "cannot read ca_file: %v", err))
		} else {
			cfg.caPEM = pem
		}
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 100
	}
	if cfg.ReconcileEvery == 0 {
		cfg.ReconcileEvery = 10
	}
	if cfg.TimeoutSeconds == 0 {
		cfg.TimeoutSeconds = 60
	}
	if len(ds) > 0 {
		return nil, ds
	}
	return cfg, nil
}
