package graph

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/syncplane/syncplane/connector"
)

// probeItemID is the id the write probes address: well-formed, and never
// the id of an item.
const probeItemID = "AAMkAGNoZWNrLXdyaXRlLXBlcm1pc3Npb24AAA="

// checkWrites reports the write permissions a pipeline writing into
// mailbox needs and the app lacks: Calendars.ReadWrite, Contacts.ReadWrite
// and Tasks.ReadWrite.All (delegated: Tasks.ReadWrite). Reading succeeds
// with the .Read permissions, so each is probed with a PATCH of an item
// that does not exist, which changes nothing: the service checks the
// permission before it looks for the item, answering 403 without the write
// permission and 404 with it (the order is what the emulator does and what
// Graph's 403-before-404 answers for unreadable mailboxes suggest;
// UNCONFIRMED for every Outlook resource). A permission already named by
// a diagnostic in have is not probed again.
func (c *Connector) checkWrites(ctx context.Context, mailbox string, have connector.Diagnostics) connector.Diagnostics {
	delegated := c.cfg.Auth == AuthAdminRefreshToken || c.cfg.Auth == AuthUserConsent
	tasks := "Tasks.ReadWrite.All"
	if delegated {
		tasks = "Tasks.ReadWrite"
	}
	named := func(perm string) bool {
		for _, d := range have {
			if d.Code == connector.PermissionDenied && strings.Contains(d.Summary, perm) {
				return true
			}
		}
		return false
	}
	base := mailboxPath(mailbox)
	type writeProbe struct{ what, path, permission string }
	probes := []writeProbe{
		{"write calendar events", base + "/events/" + probeItemID, "Calendars.ReadWrite"},
		{"write contacts", base + "/contacts/" + probeItemID, "Contacts.ReadWrite"},
	}
	if !named(tasks) {
		// To Do tasks live in lists: the probe addresses the default list,
		// as the service answers 404 for an unknown list before it checks
		// the write permission.
		if list, err := c.todoList(ctx, mailbox); err == nil {
			probes = append(probes, writeProbe{"write To Do tasks", base + "/todo/lists/" + url.PathEscape(list) + "/tasks/" + probeItemID, tasks})
		}
	}
	var ds connector.Diagnostics
	for _, p := range probes {
		if named(p.permission) {
			continue
		}
		_, err := c.client.do(ctx, request{method: http.MethodPatch, url: p.path, body: []byte("{}"), mailbox: mailbox})
		var ge *graphError
		if !errors.As(err, &ge) || ge.Status != http.StatusForbidden {
			continue // 404 (or anything but a refusal): the permission is there
		}
		kind := "Application"
		if delegated {
			kind = "Delegated"
		}
		ds = append(ds, connector.Errorf(connector.PermissionDenied, "the application cannot %s in mailbox %s: it needs the Microsoft Graph %s permission %s", p.what, mailbox, strings.ToLower(kind), p.permission).
			WithDetail("Add %s (%s) under API permissions of app %s, then grant admin consent: %s%s/adminconsent?client_id=%s. Graph answered %d %s: %s",
				p.permission, kind, c.cfg.ClientID, c.cfg.authority, url.PathEscape(c.cfg.TenantID), url.QueryEscape(c.cfg.ClientID), ge.Status, ge.Code, ge.Message))
	}
	return ds
}
