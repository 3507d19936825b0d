package graph

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/graph/graphtest"
	"github.com/syncplane/syncplane/schema"
)

// TestEmulatorAccessPolicyMailbox reads with an app whose application
// access policy covers two of three mailboxes: the third fails with a
// PERMISSION_DENIED diagnostic naming it, the others complete.
func TestEmulatorAccessPolicyMailbox(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 3, EventsPerUser: 3, Seed: 21})
	users := e.srv.Users()
	scoped := e.srv.AddApp(graphtest.App{ClientSecret: "scoped", Permissions: graphtest.DefaultPermissions,
		MailboxScope: []string{users[0].UserPrincipalName, users[1].UserPrincipalName}})
	c := e.connect(t, map[string]any{"client_id": scoped.ClientID, "client_secret": "scoped"}, nil)
	ctx := context.Background()
	parts, err := c.ListPartitions(ctx, "event")
	skipIfScopeRejected(t, err)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts.Partitions) != 3 {
		t.Fatalf("partitions %+v", parts.Partitions)
	}
	denied := strings.ToLower(users[2].UserPrincipalName)
	for _, p := range parts.Partitions {
		var n int
		err := c.ReadChanges(ctx, connector.ChangesRequest{Entity: "event", Partition: p.ID}, func(b connector.ChangeBatch) error {
			n += len(b.Changes)
			return nil
		})
		if p.ID == denied {
			if !hasCode(err, connector.PermissionDenied) || !strings.Contains(err.Error(), denied) || !strings.Contains(err.Error(), "application access policy") {
				t.Errorf("mailbox outside the access policy: %v", err)
			}
			continue
		}
		if err != nil || n < 3 {
			t.Errorf("%s: %d changes, %v", p.ID, n, err)
		}
	}
}

// TestEmulatorCheckNamesEachPermission gives Check an app that may only
// list users while the selection is a group: GroupMember.Read.All is named
// and checking stops there; with directory rights but no mailbox rights,
// every mailbox permission is named, Mail.Read included.
func TestEmulatorCheckNamesEachPermission(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 2})
	e.srv.AddGroup(graphtest.Group{DisplayName: "Sales", Members: []string{e.srv.Users()[0].ID}})
	ctx := context.Background()
	onlyUsers := e.srv.AddApp(graphtest.App{ClientSecret: "s", Permissions: []string{"User.Read.All"}})
	c := e.connect(t, map[string]any{"client_id": onlyUsers.ClientID, "client_secret": "s", "users": map[string]any{"group": "Sales"}}, nil)
	ds := c.Check(ctx)
	skipIfScopeRejected(t, ds)
	if !hasCode(ds, connector.PermissionDenied) || !strings.Contains(ds.Error(), "GroupMember.Read.All") {
		t.Errorf("group selection without GroupMember.Read.All: %v", ds)
	}
	dirOnly := e.srv.AddApp(graphtest.App{ClientSecret: "s", Permissions: []string{"User.Read.All", "GroupMember.Read.All"}})
	c = e.connect(t, map[string]any{"client_id": dirOnly.ClientID, "client_secret": "s", "users": map[string]any{"group": "Sales"}}, nil)
	ds = c.Check(ctx)
	for _, perm := range []string{"Calendars.ReadWrite", "Contacts.ReadWrite", "Tasks.ReadWrite.All", "Mail.Read"} {
		found := false
		for _, d := range ds {
			found = found || d.Code == connector.PermissionDenied && strings.Contains(d.Summary, perm)
		}
		if !found {
			t.Errorf("no PERMISSION_DENIED naming %s: %v", perm, ds)
		}
	}
	if strings.Contains(ds.Error(), "GroupMember.Read.All") || strings.Contains(ds.Error(), "User.Read.All") {
		t.Errorf("granted directory permissions reported missing: %v", ds)
	}
	// With every permission Check is clean.
	c = e.connect(t, map[string]any{"users": map[string]any{"group": "Sales"}}, nil)
	if ds := c.Check(ctx); ds.HasError() {
		t.Errorf("full permissions: %v", ds)
	}
}

// TestDiscoverSchemaRealMetadata converts Microsoft's real production and
// US Government (Fairfax) $metadata through the connector: every entity,
// its key and change fields, the extensions, and complex types resolved
// through base types (attendee → recipient → emailAddress).
func TestDiscoverSchemaRealMetadata(t *testing.T) {
	dir := sharedDir(t)
	checks := map[string][]string{
		"event": {"start.dateTime", "start.timeZone", "end.dateTime", "attendees[0].emailAddress.address", "attendees[0].type",
			"attendees[0].status.response", "organizer.emailAddress.address", "recurrence.pattern.daysOfWeek",
			"recurrence.range.startDate", "location.address.city", "body.content", "body.contentType", "seriesMasterId"},
		"contact":  {"emailAddresses[0].address", "businessAddress.street", "homeAddress.postalCode", "birthday", "displayName"},
		"todoTask": {"dueDateTime.dateTime", "body.content", "status", "title"},
		"message":  {"from.emailAddress.address", "toRecipients[0].emailAddress.address", "receivedDateTime", "isRead", "body.content"},
		"user":     {"userPrincipalName", "mail", "userType"},
	}
	for _, file := range []string{"v1.0-Prod.csdl", "v1.0-Fairfax.csdl"} {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, "testdata", "graph", file))
			if err != nil {
				t.Skipf("skipping: %v (the shared reference data is absent)", err)
			}
			s, err := schemaFromMetadata(data)
			if err != nil {
				t.Fatal(err)
			}
			if errs := s.Validate(); len(errs) > 0 {
				t.Fatalf("invalid schema: %v", errs)
			}
			for name, paths := range checks {
				ent, ok := s.Entity(name)
				if !ok {
					t.Errorf("no entity %s", name)
					continue
				}
				if len(ent.Keys) != 1 || ent.Keys[0] != "id" {
					t.Errorf("%s keys %v", name, ent.Keys)
				}
				for _, p := range paths {
					if _, err := ent.Lookup(p); err != nil {
						t.Errorf("%s: %v", name, err)
					}
				}
				if name == "user" {
					continue
				}
				if ent.ModifiedField != "lastModifiedDateTime" {
					t.Errorf("%s modified field %q", name, ent.ModifiedField)
				}
				if ty, err := ent.Lookup("lastModifiedDateTime"); err != nil || ty.Kind != schema.Timestamp {
					t.Errorf("%s.lastModifiedDateTime: %+v %v", name, ty, err)
				}
				if name != "todoTask" && ent.VersionField != "changeKey" {
					t.Errorf("%s version field %q", name, ent.VersionField)
				}
				for _, ext := range []string{"user", "isDeleted"} {
					if _, ok := ent.Field(ext); !ok {
						t.Errorf("%s lacks the extension field %s", name, ext)
					}
				}
				if !ent.Partitioning.Partitioned || ent.Partitioning.Field != "user" {
					t.Errorf("%s partitioning %+v", name, ent.Partitioning)
				}
			}
		})
	}
}

// TestDiscoverSchemaRefresh: discovery is cached, and refresh reads
// $metadata again.
func TestDiscoverSchemaRefresh(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 1})
	c := e.connect(t, nil, nil)
	ctx := context.Background()
	if _, err := c.DiscoverSchema(ctx, false); err != nil {
		skipIfScopeRejected(t, err)
		t.Fatal(err)
	}
	before := e.srv.Stats().Total
	if _, err := c.DiscoverSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Stats().Total - before; n != 0 {
		t.Errorf("cached discovery made %d requests", n)
	}
	if _, err := c.DiscoverSchema(ctx, true); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Stats().Total - before; n != 1 {
		t.Errorf("refresh made %d requests, want 1", n)
	}
}

// TestClientGlobalConcurrency sends requests for many mailboxes at once:
// no more than max_concurrency run together, whatever the mailboxes.
func TestClientGlobalConcurrency(t *testing.T) {
	var cur, peak atomic.Int32
	release := make(chan struct{})
	c, _ := testClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		cur.Add(-1)
		io.WriteString(w, `{}`)
	}), 4)
	c.global = make(chan struct{}, 5)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var v struct{}
			mb := string(rune('a'+i)) + "@contoso.com"
			_ = c.getJSON(context.Background(), request{url: "/v1.0/x", mailbox: mb}, &v)
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for peak.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if p := peak.Load(); p != 5 {
		t.Errorf("peak concurrency across 20 mailboxes = %d, want the global bound 5", p)
	}
	close(release)
	wg.Wait()
}

// manualClock is a clock tests move by hand, shared by the emulator and the
// connector.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestEmulatorUserConsentExpiredAndWithdrawn: with per-user consent, a
// refresh token left unused past its lifetime (AADSTS700082) gives
// AUTH_EXPIRED naming the user, a withdrawn consent (AADSTS65001) gives
// PERMISSION_DENIED naming the user, and the third user keeps syncing.
func TestEmulatorUserConsentExpiredAndWithdrawn(t *testing.T) {
	clock := &manualClock{t: time.Now().UTC()}
	e := startEmu(t, graphtest.Options{Users: 3, EventsPerUser: 2, Now: clock.now})
	users := e.srv.Users()
	extra := map[string]any{"auth": "user_consent", "users": map[string]any{"consents": true}}
	host := &connector.MemoryHost{}
	ctx := context.Background()
	put := func(i int) {
		rt := consentFor(t, e, e.settings(extra), users[i].UserPrincipalName)
		host.Secrets().Put(ctx, UserTokenKey(users[i].UserPrincipalName), []byte(rt))
	}
	put(0)
	clock.advance(91 * 24 * time.Hour) // past the 90-day inactivity lifetime
	put(1)
	put(2)
	e.srv.RevokeConsent(users[1].UserPrincipalName, e.srv.App().ClientID)
	c := e.connect(t, extra, host, WithClock(clock.now))
	for i, u := range users {
		mb := strings.ToLower(u.UserPrincipalName)
		err := c.ReadChanges(ctx, connector.ChangesRequest{Entity: "event", Partition: mb}, func(connector.ChangeBatch) error { return nil })
		switch i {
		case 0:
			if !hasCode(err, connector.AuthExpired) || !strings.Contains(err.Error(), mb) || !strings.Contains(err.Error(), "consent must be given again") {
				t.Errorf("expired refresh token of %s: %v", mb, err)
			}
		case 1:
			if !hasCode(err, connector.PermissionDenied) || !strings.Contains(err.Error(), mb) || !strings.Contains(err.Error(), "consent") {
				t.Errorf("withdrawn consent of %s: %v", mb, err)
			}
		default:
			if err != nil {
				t.Errorf("%s must keep syncing: %v", mb, err)
			}
		}
	}
}

// TestBatchesKeepMailboxConcurrency syncs mailboxes full of series on a
// connection with few HTTP slots, so the series masters are read through
// shared $batch requests: the parts of one mailbox in concurrent batches
// stay within four at a time, and the emulator throttles none of them.
func TestBatchesKeepMailboxConcurrency(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 12, EventsPerUser: 300, Seed: 31})
	c := e.connect(t, map[string]any{"page_size": 100, "max_concurrency": 8}, nil)
	parts, err := c.ListPartitions(context.Background(), "event")
	skipIfScopeRejected(t, err)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DiscoverSchema(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	e.srv.Faults().Add(graphtest.Fault{Kind: graphtest.FaultLatency, Latency: 20 * time.Millisecond})
	e.srv.ResetStats()
	syncAll(t, c, parts.Partitions, nil)
	st := e.srv.Stats()
	if st.Requests["batch"] == 0 || st.Requests["events.get"] == 0 {
		t.Fatalf("no series read through batches: %v", st.Requests)
	}
	if st.Throttled != 0 || st.MailboxConcurrentPeak > 4 {
		t.Errorf("%d requests throttled, mailbox peak %d (requests %v)", st.Throttled, st.MailboxConcurrentPeak, st.Requests)
	}
}

// TestSeriesAloneWhenIdle: with HTTP slots to spare, series expansions go
// out on their own rather than waiting for a shared batch.
func TestSeriesAloneWhenIdle(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 2, EventsPerUser: 200, Seed: 32})
	c := e.connect(t, map[string]any{"page_size": 100}, nil)
	parts, err := c.ListPartitions(context.Background(), "event")
	skipIfScopeRejected(t, err)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DiscoverSchema(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetStats()
	syncAll(t, c, parts.Partitions, nil)
	st := e.srv.Stats()
	if st.Requests["events.get"] == 0 || st.Requests["batch"] != 0 {
		t.Errorf("requests %v: want series masters read without batches", st.Requests)
	}
}

// TestEmulatorReadModifiedSince: Read returns every record of a mailbox,
// and with ModifiedSince only those changed at or after it.
func TestEmulatorReadModifiedSince(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 1, EventsPerUser: 6, Seed: 33})
	c := e.connect(t, nil, nil)
	ctx := context.Background()
	parts, err := c.ListPartitions(ctx, "event")
	skipIfScopeRejected(t, err)
	if err != nil {
		t.Fatal(err)
	}
	mb := parts.Partitions[0].ID
	read := func(since time.Time) []connector.Record {
		var out []connector.Record
		err := c.Read(ctx, connector.ReadRequest{Entity: "event", Partition: mb, ModifiedSince: since}, func(rs []connector.Record) error {
			out = append(out, rs...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	all := read(time.Time{})
	if len(all) < 6 {
		t.Fatalf("Read returned %d records, want at least 6", len(all))
	}
	var latest time.Time
	for _, r := range all {
		if r.Modified.IsZero() || r.Fields["user"] != mb {
			t.Fatalf("record %s: modified %v, user %v", r.ID, r.Modified, r.Fields["user"])
		}
		if r.Modified.After(latest) {
			latest = r.Modified
		}
	}
	time.Sleep(20 * time.Millisecond)
	since := time.Now().UTC()
	if latest.After(since) {
		t.Fatalf("seeded events modified in the future (%v)", latest)
	}
	time.Sleep(20 * time.Millisecond)
	target := all[0].ID
	if err := e.srv.PatchEvent(mb, target, map[string]any{"subject": "changed"}); err != nil {
		t.Fatal(err)
	}
	got := read(since)
	if len(got) != 1 || got[0].ID != target || got[0].Fields["subject"] != "changed" {
		ids := []string{}
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		t.Errorf("Read since %v: %v, want only %s", since, ids, target)
	}
}

// TestPrefetchCrashAndResume reads a mailbox full of series, whose next
// pages are requested while a page's series are expanded: a host failing
// mid-round leaves no page slot taken, and resuming from the last
// checkpoint delivers exactly what an uninterrupted read delivers.
func TestPrefetchCrashAndResume(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 1, EventsPerUser: 300, Seed: 13})
	ctx := context.Background()
	c := e.connect(t, map[string]any{"page_size": 40}, nil)
	parts, err := c.ListPartitions(ctx, "event")
	skipIfScopeRejected(t, err)
	if err != nil {
		t.Fatal(err)
	}
	mb := parts.Partitions[0].ID
	want := map[string]bool{}
	all, _, _ := readAll(t, c, "event", mb, nil)
	for _, ch := range all {
		want[ch.Record.ID] = true
	}
	if c.aheadUsed.Load() == 0 {
		t.Fatal("no page was requested ahead: the test does not exercise it")
	}
	for crashAt := 1; crashAt <= 3; crashAt++ {
		c := e.connect(t, map[string]any{"page_size": 40}, nil)
		got := map[string]bool{}
		var cp []byte
		batches := 0
		errCrash := errors.New("host crashed")
		err := c.ReadChanges(ctx, connector.ChangesRequest{Entity: "event", Partition: mb}, func(b connector.ChangeBatch) error {
			batches++
			if batches > crashAt {
				return errCrash
			}
			for _, ch := range b.Changes {
				got[ch.Record.ID] = true
			}
			cp = b.Checkpoint
			return nil
		})
		if !errors.Is(err, errCrash) {
			t.Fatalf("crash after %d pages: %v", crashAt, err)
		}
		if n := len(c.pages); n != 0 {
			t.Errorf("crash after %d pages: %d page slots still taken", crashAt, n)
		}
		rest, _, _ := readAll(t, c, "event", mb, cp)
		for _, ch := range rest {
			got[ch.Record.ID] = true
		}
		if len(got) != len(want) {
			t.Errorf("crash after %d pages: %d records after resuming, want %d", crashAt, len(got), len(want))
		}
		for id := range want {
			if !got[id] {
				t.Errorf("crash after %d pages: %s lost", crashAt, id)
				break
			}
		}
		if n := len(c.pages); n != 0 {
			t.Errorf("after resuming: %d page slots still taken", n)
		}
	}
}
