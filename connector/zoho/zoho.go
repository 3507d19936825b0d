// Package zoho is the Zoho CRM connector (REST API v8). It signs in with an
// OAuth refresh token against the org's data centre, discovers modules and
// fields from the metadata APIs, reads changes through Modified_Time and
// If-Modified-Since with page tokens past 2,000 records and deletions from
// /deleted, writes in batches of up to 100 records (upsert where Zoho allows
// it, id-based updates elsewhere), and stays within the edition's
// concurrency limit. Facts and their sources: the Zoho part of the
// project's crm-api-facts.md; package zohotest is its emulator.
//
// Sign-in: the refresh token is the refresh_token setting, or the one a
// one-time grant_code is exchanged for, or the one `syncplane consent
// zoho --connection NAME` obtained through the authorization-code flow
// (Consent) and stored in the connection's secret store under
// RefreshTokenKey.
//
// API credits: Usage reports the requests and credits a connection used,
// and after every Check, Read, ReadChanges, Query and Write the connector
// adds what it used since to the day's totals in the host's value store
// under "usage/YYYY-MM-DD" (the UTC day), a JSON object of integer counters
// {"credits","requests","throttled"}, where the host's run summary reads
// them (connector.AddUsage). Counters other connectors' code or older
// versions put under the key are kept.
package zoho

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// Version is the connector's version.
const Version = "0.1.0"

// Connector is the Zoho CRM connector. Create it with New.
type Connector struct {
	set  *settings
	host connector.Host
	hc   *http.Client
	api  *client
	now  func() time.Time

	metaMu sync.Mutex
	meta   map[string]*moduleMeta
	schema *schema.Schema

	usage connector.UsageSaver
	idem  *connector.IdempotencyKeys
}

// New returns an unconfigured Zoho CRM connector.
func New() connector.Connector { return &Connector{now: time.Now} }

// Spec describes the connector and its settings.
func (c *Connector) Spec() connector.Spec {
	return connector.Spec{
		Name: "zoho", Version: Version, ProtocolVersion: connector.ProtocolVersion,
		DisplayName:    "Zoho CRM",
		Description:    "Zoho CRM (REST API v8): contacts, accounts, leads, meetings, tasks and calls",
		Capabilities:   connector.Capabilities{Read: true, ReadChanges: true, Write: true, Query: true},
		SettingsSchema: json.RawMessage(settingsSchema),
		SecretSettings: slices.Clone(secretSettings),
	}
}

// Configure validates the settings and prepares the HTTP client; it does
// not reach Zoho. The refresh token is the refresh_token setting, else the
// one grant_code is exchanged for at first use, else the one `syncplane
// consent zoho` stored under RefreshTokenKey in the host's secret store;
// with none of them Configure fails with an INVALID_INPUT diagnostic on
// refresh_token naming that command.
func (c *Connector) Configure(ctx context.Context, req connector.ConfigureRequest) error {
	s, err := parseSettings(req.Settings)
	if err != nil {
		return err
	}
	hc, err := s.httpClient()
	if err != nil {
		return err
	}
	host := req.Host
	if host == nil {
		host = &connector.MemoryHost{}
	}
	c.set, c.host, c.hc = s, host, hc
	if c.now == nil {
		c.now = time.Now
	}
	refresh := s.RefreshToken
	if refresh == "" && s.GrantCode == "" {
		b, ok, err := host.Secrets().Get(ctx, RefreshTokenKey)
		if err != nil {
			return fmt.Errorf("reading the stored refresh token from the host's secret store: %w", err)
		}
		if !ok || len(b) == 0 {
			name := req.Connection
			if name == "" {
				name = "NAME"
			}
			return connector.FieldErrorf(connector.InvalidInput, "refresh_token",
				"no refresh token: set \"refresh_token\" (or a one-time \"grant_code\"), or run `syncplane consent zoho --connection %s` to sign in and store one", name)
		}
		refresh = string(b)
	}
	tok := &tokens{hc: hc, accountsURL: s.AccountsURL, clientID: s.ClientID, secret: s.ClientSecret, refresh: refresh,
		grantCode: s.GrantCode, redirectURI: s.RedirectURI, host: host, now: c.now}
	c.idem = connector.NewIdempotencyKeys(host.Values(), idempotencyPrefix, IdempotencyRetention)
	c.api = &client{hc: hc, tok: tok, apiDomain: s.APIDomain, dcDomain: dataCenters[s.DataCenter][1], sem: make(chan struct{}, s.MaxConcurrency),
		heavy: make(chan struct{}, min(10, s.MaxConcurrency)), sleep: sleepCtx, retries: 3}
	return nil
}

func (c *Connector) configured() error {
	if c.api == nil {
		return connector.Errorf(connector.Internal, "the zoho connector is not configured")
	}
	return nil
}

// ListPartitions returns the single partition of a CRM module.
func (c *Connector) ListPartitions(ctx context.Context, entity string) (connector.Partitions, error) {
	if _, err := c.module(ctx, entity); err != nil {
		return connector.Partitions{}, err
	}
	return connector.Partitions{Partitions: []connector.Partition{{ID: "", DisplayName: "Zoho CRM " + entity}}}, nil
}

// module returns the metadata of an entity.
func (c *Connector) module(ctx context.Context, entity string) (*moduleMeta, error) {
	if err := c.configured(); err != nil {
		return nil, err
	}
	meta, err := c.metadata(ctx, false)
	if err != nil {
		return nil, err
	}
	m, ok := meta[entity]
	if !ok {
		return nil, connector.Errorf(connector.NotFound, "entity %q is not a configured Zoho CRM module", entity)
	}
	return m, nil
}

// Usage returns the API calls and credits this connection used so far.
func (c *Connector) Usage() Usage {
	if c.api == nil {
		return Usage{}
	}
	return c.api.usage()
}

// saveUsage adds the usage since the last save to the day's totals in the
// host's value store (connector.AddUsage). A failure to store them is not
// the operation's: the counts are added at the next save.
func (c *Connector) saveUsage(ctx context.Context) {
	_ = c.usage.Save(ctx, c.host, c.now(), func() map[string]int64 {
		u := c.api.usage()
		return map[string]int64{"requests": u.Requests, "credits": u.Credits, "throttled": u.Throttled}
	})
}

// Close releases idle connections.
func (c *Connector) Close() error {
	if c.hc != nil {
		c.hc.CloseIdleConnections()
	}
	return nil
}
