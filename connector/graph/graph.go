// Package graph is the Microsoft Graph connector: it reads (and writes)
// calendars, contacts, To Do tasks and mail of the selected Microsoft 365
// mailboxes through the Graph REST API, one partition per mailbox.
//
// Sign-in uses azidentity for application credentials (client secret or
// certificate) and the refresh-token grant for delegated tokens kept in the
// host's secret store (an administrator's, or one per consenting user).
// National clouds and custom endpoints are settings (cloud, authority_host,
// graph_endpoint, ca_file), so an emulator is just another cloud.
//
// # Record identity and the Query field notation
//
// Every record of a mailbox entity carries the field user, the user
// principal name of the mailbox it lives in (the partition), and isDeleted.
// A record is identified by id within its mailbox. Pipelines that address a
// single record write the key fields in the notation
//
//	id|:|AAMkAGI2TG93AAA=|;|user|:|anna@contoso.com|;|
//
// — pairs of field|:|value, each ended by |;|. ParseKeyNotation turns it
// into a connector.QueryRequest: id goes into Match, user becomes the
// Partition. Without user, Query tries every selected mailbox.
//
// # Reading
//
// Events are read with calendarView/delta inside a window of
// window.past_months before and window.future_months after today; the
// checkpoint records the delta link, the window and the day of the last full
// query, and on a new day the window moves and a full query runs. Contacts,
// To Do tasks and messages are read with their per-folder / per-list delta
// queries. See ReadChanges.
package graph

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// Version is the connector's version.
const Version = "0.1.0"

// Connector is the Graph connector. Create it with New; the host calls
// Configure once before anything else.
type Connector struct {
	now func() time.Time

	cfg     *config
	host    connector.Host
	http    *http.Client
	client  *graphClient
	tokens  tokenSource
	connect string

	batch *batcher

	// slotsMu serialises taking several per-mailbox concurrency slots at
	// once for one write $batch (write_send.go), so two batches never wait
	// on each other's half-taken slots.
	slotsMu sync.Mutex

	// pages bounds the pages held at once (see pageSlot).
	pages chan struct{}

	schemaMu sync.Mutex
	schema   *schema.Schema

	refreshMu sync.Mutex // serializes selection refreshes
	selMu     sync.Mutex
	selection *selection
	mailboxes map[string]mailboxState
}

// Option adjusts a Connector made by NewWith.
type Option func(*Connector)

// WithClock sets the clock used for the calendar window and token expiry.
func WithClock(now func() time.Time) Option { return func(c *Connector) { c.now = now } }

// New returns an unconfigured Graph connector.
func New() connector.Connector { return NewWith() }

// NewWith returns an unconfigured Graph connector with options.
func NewWith(opts ...Option) *Connector {
	c := &Connector{now: time.Now, mailboxes: map[string]mailboxState{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Spec describes the connector and its settings; secrets are marked.
func (c *Connector) Spec() connector.Spec {
	return connector.Spec{
		Name:            "graph",
		Version:         Version,
		ProtocolVersion: connector.ProtocolVersion,
		DisplayName:     "Microsoft 365 (Microsoft Graph)",
		Description:     "Calendars, contacts, To Do tasks and mail of Microsoft 365 mailboxes through Microsoft Graph.",
		SettingsSchema:  json.RawMessage(settingsSchema),
		SecretSettings:  []string{"/client_secret", "/certificate_password"},
	}
}

// Configure validates the settings (each problem a diagnostic naming its
// field) and prepares sign-in. It does not reach the network: Check does.
func (c *Connector) Configure(ctx context.Context, req connector.ConfigureRequest) error {
	cfg, err := parseSettings(req.Settings)
	if err != nil {
		return err
	}
	hc, err := newHTTPClient(cfg.caPEM)
	if err != nil {
		return connector.FieldErrorf(connector.InvalidInput, "ca_file", "%v", err)
	}
	host := req.Host
	if host == nil {
		host = &connector.MemoryHost{}
	}
	var tokens tokenSource
	switch cfg.Auth {
	case AuthClientSecret, AuthClientCertificate:
		at, err := newAppTokens(cfg, hc, c.now)
		if err != nil {
			return err
		}
		tokens = at
	case AuthAdminRefreshToken, AuthUserConsent:
		tokens = &refreshTokens{cfg: cfg, hc: hc, secrets: host.Secrets(), now: c.now, entries: map[string]*cachedToken{}}
	}
	c.cfg, c.host, c.http, c.tokens, c.connect = cfg, host, hc, tokens, req.Connection
	c.client = newGraphClient(hc, cfg, tokens)
	c.pages = make(chan struct{}, cfg.MaxConcurrency)
	if cfg.Auth != AuthUserConsent && !cfg.noBatch {
		// Per-user tokens cannot share a batch across mailboxes.
		c.batch = &batcher{c: c.client}
	}
	return nil
}

func (c *Connector) configured() error {
	if c.cfg == nil {
		return connector.Errorf(connector.Internal, "the Graph connector is not configured")
	}
	return nil
}

// Close releases idle connections.
func (c *Connector) Close() error {
	if c.http != nil {
		c.http.CloseIdleConnections()
	}
	return nil
}

// subjectErr converts an error from the client into a diagnostic about
// subject, keeping diagnostics and context errors as they are.
func subjectErr(err error, subject string) error {
	var ge *graphError
	if errors.As(err, &ge) {
		return ge.diagnostic(subject)
	}
	return err
}
