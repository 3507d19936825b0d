package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/syncplane/syncplane/connector"
)

// directoryUser is the part of a Graph user the selection needs.
type directoryUser struct {
	ID                string `json:"id"`
	UserPrincipalName string `json:"userPrincipalName"`
	Mail              string `json:"mail"`
	DisplayName       string `json:"displayName"`
	ODataType         string `json:"@odata.type"`
}

const userSelect = "id,userPrincipalName,mail,displayName"

// selection is the resolved set of selected mailboxes.
type selection struct {
	at    time.Time
	users []directoryUser
	set   map[string]bool // lower-case UPN and mail → selected
}

func (s *selection) has(addr string) bool { return s != nil && s.set[strings.ToLower(addr)] }

// mailboxState remembers what a probe learned about a mailbox.
type mailboxState struct {
	checked time.Time
	missing bool
}

// mailboxProbeTTL is how long a mailbox probe is trusted.
const mailboxProbeTTL = time.Hour

// selectionTTL is how long ReadChanges reuses the last resolved selection
// for duplicate detection; ListPartitions always resolves anew.
const selectionTTL = 5 * time.Minute

// ListPartitions returns one partition per selected mailbox (its user
// principal name, lower-cased), resolved anew at every call. Users without
// an Exchange Online mailbox come back as warnings and are left out. The
// user entity is not partitioned.
func (c *Connector) ListPartitions(ctx context.Context, entity string) (connector.Partitions, error) {
	if err := c.configured(); err != nil {
		return connector.Partitions{}, err
	}
	if entity == "user" {
		return connector.Partitions{Partitions: []connector.Partition{{ID: "", DisplayName: "directory"}}}, nil
	}
	if _, ok := mailboxEntities[entity]; !ok {
		return connector.Partitions{}, connector.Errorf(connector.NotFound, "entity %q is not offered by the Graph connector", entity)
	}
	users, warnings, err := c.resolveUsers(ctx)
	if err != nil {
		return connector.Partitions{}, err
	}
	var out connector.Partitions
	out.Warnings = warnings
	kept := c.withMailbox(ctx, users, &out.Warnings)
	for _, u := range kept {
		out.Partitions = append(out.Partitions, connector.Partition{ID: strings.ToLower(u.UserPrincipalName), DisplayName: u.DisplayName})
	}
	sel := &selection{at: c.now(), users: kept, set: map[string]bool{}}
	for _, u := range kept {
		sel.set[strings.ToLower(u.UserPrincipalName)] = true
		if u.Mail != "" {
			sel.set[strings.ToLower(u.Mail)] = true
		}
	}
	c.selMu.Lock()
	c.selection = sel
	c.selMu.Unlock()
	return out, nil
}

// currentSelection returns a selection no older than selectionTTL.
func (c *Connector) currentSelection(ctx context.Context) (*selection, error) {
	c.selMu.Lock()
	sel := c.selection
	c.selMu.Unlock()
	if sel != nil && c.now().Sub(sel.at) < selectionTTL {
		return sel, nil
	}
	// One refresh at a time: the rounds of many mailboxes that find the
	// selection stale wait for the first one's answer.
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	c.selMu.Lock()
	sel = c.selection
	c.selMu.Unlock()
	if sel != nil && c.now().Sub(sel.at) < selectionTTL {
		return sel, nil
	}
	if _, err := c.ListPartitions(ctx, "event"); err != nil {
		return nil, err
	}
	c.selMu.Lock()
	defer c.selMu.Unlock()
	return c.selection, nil
}

// resolveUsers applies the users setting.
func (c *Connector) resolveUsers(ctx context.Context) ([]directoryUser, connector.Diagnostics, error) {
	u := c.cfg.Users
	switch {
	case u.Filter != "":
		q := url.Values{"$filter": {u.Filter}, "$select": {userSelect}, "$top": {"999"}}
		h := http.Header{}
		if needsAdvancedQuery(u.Filter) {
			// aad-advanced-queries.md: ne, not, endsWith, eq null … need
			// ConsistencyLevel: eventual and $count=true.
			h.Set("ConsistencyLevel", "eventual")
			q.Set("$count", "true")
		}
		users, err := c.listUsers(ctx, "/v1.0/users?"+q.Encode(), h)
		if err != nil {
			return nil, nil, fieldErr(subjectErr(err, "the user filter"), "users.filter")
		}
		return users, nil, nil
	case len(c.cfg.userList) > 0:
		return c.lookupUsers(ctx, c.cfg.userList)
	case u.Group != "":
		return c.groupUsers(ctx, u.Group)
	case u.Consents:
		kvs, err := c.host.Secrets().List(ctx, "user/")
		if err != nil {
			return nil, nil, fmt.Errorf("listing consented users in the secret store: %w", err)
		}
		var upns []string
		for _, kv := range kvs {
			rest := strings.TrimPrefix(kv.Key, "user/")
			if upn, ok := strings.CutSuffix(rest, "/refresh_token"); ok && upn != "" {
				upns = append(upns, upn)
			}
		}
		users := make([]directoryUser, len(upns))
		for i, upn := range upns {
			users[i] = directoryUser{UserPrincipalName: upn, Mail: upn, DisplayName: upn}
		}
		return users, nil, nil
	}
	return nil, nil, connector.FieldErrorf(connector.InvalidInput, "users", "no user selection configured")
}

func fieldErr(err error, field string) error {
	var d *connector.Diagnostic
	if errors.As(err, &d) && d.Field == "" {
		c := *d
		c.Field = field
		return &c
	}
	return err
}

// needsAdvancedQuery reports whether a /users filter uses an operator that
// Graph only accepts as an advanced query (aad-advanced-queries.md:
// ne, not, endsWith, eq null, $count).
func needsAdvancedQuery(filter string) bool {
	f := " " + strings.ToLower(filter) + " "
	for _, op := range []string{" ne ", "not(", " not ", "endswith(", " eq null", "$count"} {
		if strings.Contains(f, op) {
			return true
		}
	}
	return false
}

// listUsers follows @odata.nextLink through a user collection.
func (c *Connector) listUsers(ctx context.Context, first string, h http.Header) ([]directoryUser, error) {
	var out []directoryUser
	for next := first; next != ""; {
		var page struct {
			Value    []directoryUser `json:"value"`
			NextLink string          `json:"@odata.nextLink"`
		}
		if err := c.client.getJSON(ctx, request{url: next, header: h}, &page); err != nil {
			return nil, err
		}
		for _, u := range page.Value {
			if u.ODataType == "" || u.ODataType == "#microsoft.graph.user" {
				out = append(out, u)
			}
		}
		next = page.NextLink
	}
	return out, nil
}

// lookupUsers resolves a static list; unknown users are warnings.
func (c *Connector) lookupUsers(ctx context.Context, upns []string) ([]directoryUser, connector.Diagnostics, error) {
	if c.cfg.Auth == AuthUserConsent {
		// Delegated per-user tokens have no directory token to look users
		// up with: the list is taken as given.
		out := make([]directoryUser, len(upns))
		for i, u := range upns {
			out[i] = directoryUser{UserPrincipalName: u, Mail: u, DisplayName: u}
		}
		return out, nil, nil
	}
	type result struct {
		u    directoryUser
		warn *connector.Diagnostic
		err  error
	}
	res := make([]result, len(upns))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, upn := range upns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			var u directoryUser
			err := c.client.getJSON(ctx, request{url: "/v1.0/users/" + url.PathEscape(upn) + "?$select=" + userSelect}, &u)
			var ge *graphError
			switch {
			case errors.As(err, &ge) && ge.Status == http.StatusNotFound:
				res[i].warn = connector.Warnf(connector.NotFound, "user %s in users.list does not exist; skipped", upn)
				res[i].warn.Field = "users.list"
			case err != nil:
				res[i].err = subjectErr(err, "user "+upn)
			default:
				res[i].u = u
			}
		}()
	}
	wg.Wait()
	var out []directoryUser
	var warns connector.Diagnostics
	for _, r := range res {
		if r.err != nil {
			return nil, nil, r.err
		}
		if r.warn != nil {
			warns = append(warns, r.warn)
			continue
		}
		out = append(out, r.u)
	}
	return out, warns, nil
}

// groupUsers finds a group by display name and lists its transitive user
// members (group-list-transitivemembers.md: the user cast needs the advanced
// query headers).
func (c *Connector) groupUsers(ctx context.Context, name string) ([]directoryUser, connector.Diagnostics, error) {
	var groups struct {
		Value []struct {
			ID          string `json:"id"`
			DisplayName string `json:"displayName"`
		} `json:"value"`
	}
	q := url.Values{"$filter": {"displayName eq '" + strings.ReplaceAll(name, "'", "''") + "'"}, "$select": {"id,displayName"}}
	if err := c.client.getJSON(ctx, request{url: "/v1.0/groups?" + q.Encode()}, &groups); err != nil {
		return nil, nil, fieldErr(subjectErr(err, "group "+name), "users.group")
	}
	switch len(groups.Value) {
	case 0:
		return nil, nil, connector.FieldErrorf(connector.NotFound, "users.group", "no group named %q exists", name)
	case 1:
	default:
		return nil, nil, connector.FieldErrorf(connector.InvalidInput, "users.group", "%d groups are named %q; rename one so the selection is unambiguous", len(groups.Value), name)
	}
	h := http.Header{"Consistencylevel": {"eventual"}}
	mq := url.Values{"$select": {userSelect}, "$count": {"true"}, "$top": {"999"}}
	users, err := c.listUsers(ctx, "/v1.0/groups/"+url.PathEscape(groups.Value[0].ID)+"/transitiveMembers/microsoft.graph.user?"+mq.Encode(), h)
	if err != nil {
		return nil, nil, fieldErr(subjectErr(err, "members of group "+name), "users.group")
	}
	return users, nil, nil
}

// withMailbox keeps the users that have an Exchange Online mailbox: a user
// without mail has none; the others are probed once an hour with a cheap
// calendar read, where MailboxNotEnabledForRESTAPI says there is none
// (graph-api-facts §8).
func (c *Connector) withMailbox(ctx context.Context, users []directoryUser, warns *connector.Diagnostics) []directoryUser {
	seen := map[string]bool{}
	var out []directoryUser
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	keep := make([]bool, len(users))
	for i, u := range users {
		key := strings.ToLower(u.UserPrincipalName)
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		if u.Mail == "" {
			*warns = append(*warns, connector.Warnf(connector.NotFound, "user %s has no mailbox (no mail address); skipped", u.UserPrincipalName))
			continue
		}
		c.selMu.Lock()
		st, ok := c.mailboxes[key]
		c.selMu.Unlock()
		if ok && c.now().Sub(st.checked) < mailboxProbeTTL {
			if st.missing {
				*warns = append(*warns, connector.Warnf(connector.NotFound, "user %s has no Exchange Online mailbox; skipped", u.UserPrincipalName))
			} else {
				keep[i] = true
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			var v struct{}
			err := c.client.getJSON(ctx, request{url: "/v1.0/users/" + url.PathEscape(key) + "/calendar?$select=id", mailbox: key}, &v)
			var ge *graphError
			missing := errors.As(err, &ge) && ge.is("MailboxNotEnabledForRESTAPI")
			mu.Lock()
			defer mu.Unlock()
			if missing {
				*warns = append(*warns, connector.Warnf(connector.NotFound, "user %s has no Exchange Online mailbox; skipped", u.UserPrincipalName).WithDetail("Graph answered %s", ge.Code))
			} else {
				keep[i] = true
			}
			if err == nil || missing {
				c.selMu.Lock()
				c.mailboxes[key] = mailboxState{checked: c.now(), missing: missing}
				c.selMu.Unlock()
			}
		}()
	}
	wg.Wait()
	for i, u := range users {
		if keep[i] {
			out = append(out, u)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return strings.ToLower(out[i].UserPrincipalName) < strings.ToLower(out[j].UserPrincipalName)
	})
	return out
}
