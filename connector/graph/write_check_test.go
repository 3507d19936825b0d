package graph

import (
	"context"
	"strings"
	"testing"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

// TestEmulatorCheckWritePermissions gives Check an app that may read
// calendars, contacts and To Do tasks but not write them: each write
// permission is named once; reading permissions granted are not reported;
// nothing is changed in the mailbox.
func TestEmulatorCheckWritePermissions(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 2})
	readOnly := e.srv.AddApp(graphtest.App{ClientSecret: "s", Permissions: []string{"User.Read.All", "Calendars.Read", "Contacts.Read", "Tasks.Read.All", "Mail.Read"}})
	c := e.connect(t, map[string]any{"client_id": readOnly.ClientID, "client_secret": "s"}, nil)
	before := len(e.srv.Events("user1@contoso.com")) + len(e.srv.Contacts("user1@contoso.com")) + len(e.srv.Tasks("user1@contoso.com"))
	ds := c.Check(context.Background())
	skipIfScopeRejected(t, ds)
	for _, perm := range []string{"Calendars.ReadWrite", "Contacts.ReadWrite", "Tasks.ReadWrite.All"} {
		n := 0
		for _, d := range ds {
			if d.Code == connector.PermissionDenied && strings.Contains(d.Summary, perm) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s named %d times: %v", perm, n, ds)
		}
	}
	if strings.Contains(ds.Error(), "Mail.Read") || strings.Contains(ds.Error(), "User.Read.All") {
		t.Errorf("granted permissions reported: %v", ds)
	}
	after := len(e.srv.Events("user1@contoso.com")) + len(e.srv.Contacts("user1@contoso.com")) + len(e.srv.Tasks("user1@contoso.com"))
	if after != before {
		t.Errorf("Check changed the mailbox: %d items, then %d", before, after)
	}
	// With the write permissions Check is clean.
	full := e.connect(t, nil, nil)
	if ds := full.Check(context.Background()); ds.HasError() {
		t.Errorf("full permissions: %v", ds)
	}
}
