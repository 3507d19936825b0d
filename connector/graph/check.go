package graph

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/syncplane/syncplane/connector"
)

// probe is one read Check makes, and the permission it needs.
type probe struct {
	what       string
	path       string // relative to /v1.0/users/{mailbox} when perMailbox
	perMailbox bool
	permission string // application permission (delegated for refresh tokens)
}

// Check signs in and probes what the configuration needs: listing users
// (User.Read.All), group members (GroupMember.Read.All) when the selection
// is a group, and in the first selected mailbox the calendar
// (Calendars.ReadWrite), contacts (Contacts.ReadWrite), To Do
// (Tasks.ReadWrite.All) and mail (Mail.Read). Each refused probe is a
// PERMISSION_DENIED diagnostic naming the permission and the admin-consent
// step; sign-in failures come back with their own codes.
func (c *Connector) Check(ctx context.Context) connector.Diagnostics {
	if err := c.configured(); err != nil {
		return connector.AsDiagnostics(err)
	}
	var ds connector.Diagnostics
	delegated := c.cfg.Auth == AuthAdminRefreshToken || c.cfg.Auth == AuthUserConsent
	perm := func(app, del string) string {
		if delegated {
			return del
		}
		return app
	}
	if c.cfg.Auth != AuthUserConsent {
		if _, err := c.tokens.token(ctx, ""); err != nil {
			return connector.AsDiagnostics(err)
		}
		dirProbes := []probe{{what: "list users", path: "/v1.0/users?$top=1&$select=id", permission: perm("User.Read.All", "User.ReadBasic.All")}}
		if c.cfg.Users.Group != "" {
			dirProbes = append(dirProbes, probe{what: "list groups and their members", path: "/v1.0/groups?$top=1&$select=id", permission: "GroupMember.Read.All"})
		}
		for _, p := range dirProbes {
			if d := c.runProbe(ctx, p, ""); d != nil {
				ds = append(ds, d)
			}
		}
		if ds.HasError() {
			return ds
		}
	}
	parts, err := c.ListPartitions(ctx, "event")
	if err != nil {
		return append(ds, connector.AsDiagnostics(err)...)
	}
	ds = append(ds, parts.Warnings...)
	if len(parts.Partitions) == 0 {
		return append(ds, connector.FieldErrorf(connector.NotFound, "users", "the user selection matches no mailbox"))
	}
	mailbox := parts.Partitions[0].ID
	for _, p := range []probe{
		{what: "read and write calendars", path: "/calendar?$select=id", perMailbox: true, permission: "Calendars.ReadWrite"},
		{what: "read and write contacts", path: "/contactFolders?$top=1&$select=id", perMailbox: true, permission: "Contacts.ReadWrite"},
		{what: "read and write To Do tasks", path: "/todo/lists?$top=1", perMailbox: true, permission: perm("Tasks.ReadWrite.All", "Tasks.ReadWrite")},
		{what: "read mail", path: "/mailFolders/inbox?$select=id", perMailbox: true, permission: "Mail.Read"},
	} {
		if d := c.runProbe(ctx, p, mailbox); d != nil {
			ds = append(ds, d)
		}
	}
	return append(ds, c.checkWrites(ctx, mailbox, ds)...)
}

func (c *Connector) runProbe(ctx context.Context, p probe, mailbox string) *connector.Diagnostic {
	u := p.path
	if p.perMailbox {
		u = "/v1.0/users/" + url.PathEscape(mailbox) + p.path
	}
	var v struct{}
	err := c.client.getJSON(ctx, request{url: u, mailbox: mailbox}, &v)
	if err == nil {
		return nil
	}
	var ge *graphError
	if errors.As(err, &ge) && ge.Status == http.StatusForbidden {
		kind := "Application"
		if c.cfg.Auth == AuthAdminRefreshToken || c.cfg.Auth == AuthUserConsent {
			kind = "Delegated"
		}
		d := connector.Errorf(connector.PermissionDenied, "the application cannot %s: it needs the Microsoft Graph %s permission %s", p.what, strings.ToLower(kind), p.permission)
		return d.WithDetail("Add %s (%s) under API permissions of app %s, then grant admin consent: %s%s/adminconsent?client_id=%s. Graph answered %d %s: %s",
			p.permission, kind, c.cfg.ClientID, c.cfg.authority, url.PathEscape(c.cfg.TenantID), url.QueryEscape(c.cfg.ClientID), ge.Status, ge.Code, ge.Message)
	}
	subject := "the directory"
	if mailbox != "" {
		subject = "mailbox " + mailbox
	}
	ds := connector.AsDiagnostics(subjectErr(err, subject))
	if len(ds) == 0 {
		return nil
	}
	return ds[0]
}
