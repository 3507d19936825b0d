package graphtest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// User is a directory user. HasMailbox users have an Exchange Online
// mailbox; the others answer MailboxNotEnabledForRESTAPI on mailbox
// endpoints (facts §8).
type User struct {
	ID                string // GUID; generated when empty
	UserPrincipalName string
	Mail              string
	DisplayName       string
	GivenName         string
	Surname           string
	JobTitle          string
	Department        string
	UserType          string // "Member" (default) or "Guest"
	HasMailbox        bool
	AccountEnabled    bool
}

type userRecord struct {
	User
	consentScopes map[string][]string // client id -> consented Graph scopes
}

// Group is a directory group whose Members are user or group ids.
type Group struct {
	ID          string // GUID; generated when empty
	DisplayName string
	Description string
	Members     []string
}

// AddUser adds a directory user (with a mailbox when u.HasMailbox) and
// returns it with generated fields filled in: ID, and UserPrincipalName/Mail
// from the display name when empty. Set AccountEnabled explicitly.
func (s *Server) AddUser(u User) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addUserLocked(u)
}

func (s *Server) addUserLocked(u User) User {
	if u.ID == "" {
		u.ID = s.newGUID()
	}
	if u.UserPrincipalName == "" {
		nick := strings.ToLower(strings.ReplaceAll(u.DisplayName, " ", "."))
		if nick == "" {
			nick = "user" + u.ID[:8]
		}
		u.UserPrincipalName = nick + "@" + s.opts.Domain
	}
	if u.Mail == "" && u.HasMailbox {
		u.Mail = u.UserPrincipalName
	}
	if u.DisplayName == "" {
		u.DisplayName = strings.Split(u.UserPrincipalName, "@")[0]
	}
	if u.UserType == "" {
		u.UserType = "Member"
	}
	if old := s.userByID(u.ID); old != nil {
		old.User = u
	} else {
		s.users = append(s.users, &userRecord{User: u, consentScopes: map[string][]string{}})
	}
	s.indexUsers()
	if u.HasMailbox && s.boxes[u.ID] == nil {
		s.boxes[u.ID] = s.newMailbox(u.ID)
	}
	return u
}

// Users returns the directory users in creation order.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, len(s.users))
	for i, u := range s.users {
		out[i] = u.User
	}
	return out
}

// AddGroup adds (or replaces) a group and returns it with its generated id.
func (s *Server) AddGroup(g Group) Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g.ID == "" {
		g.ID = s.newGUID()
	}
	g.Members = slices.Clone(g.Members)
	for i, old := range s.groups {
		if old.ID == g.ID {
			s.groups[i] = &g
			return g
		}
	}
	s.groups = append(s.groups, &g)
	return g
}

func (s *Server) userByID(id string) *userRecord {
	for _, u := range s.users {
		if u.ID == id {
			return u
		}
	}
	return nil
}

// findUser resolves an id or a user principal name (case-insensitive, as
// /users/{id | userPrincipalName} does).
func (s *Server) findUser(key string) *userRecord {
	if s.userKeys != nil && isASCII(key) {
		return s.userKeys[strings.ToLower(key)]
	}
	for _, u := range s.users {
		if strings.EqualFold(u.ID, key) || strings.EqualFold(u.UserPrincipalName, key) {
			return u
		}
	}
	return nil
}

// indexUsers indexes the users by id and user principal name for
// findUser (two of every request resolve a user): lower-cased, the first
// user of each, as findUser's scan finds it. When a user's id or name is
// not ASCII, where lower-casing is not what strings.EqualFold compares,
// there is no index and findUser scans. s.mu is held for writing.
func (s *Server) indexUsers() {
	s.userKeys = make(map[string]*userRecord, 2*len(s.users))
	for _, u := range s.users {
		if !isASCII(u.ID) || !isASCII(u.UserPrincipalName) {
			s.userKeys = nil
			return
		}
		for _, k := range []string{strings.ToLower(u.ID), strings.ToLower(u.UserPrincipalName)} {
			if _, ok := s.userKeys[k]; !ok {
				s.userKeys[k] = u
			}
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// findUserByAddress resolves an SMTP address.
func (s *Server) findUserByAddress(addr string) *userRecord {
	for _, u := range s.users {
		if strings.EqualFold(u.Mail, addr) || strings.EqualFold(u.UserPrincipalName, addr) {
			return u
		}
	}
	return nil
}

func (s *Server) resolveUserID(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.findUser(key); u != nil {
		return u.ID
	}
	return ""
}

func (s *Server) userAddressByID(id string) string {
	if id == "" {
		return ""
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if u := s.userByID(id); u != nil {
		return u.UserPrincipalName
	}
	return ""
}

// userJSON renders a user with every property the emulator keeps.
func userJSON(u *User) map[string]any {
	nul := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	return map[string]any{
		"businessPhones":    []any{},
		"displayName":       u.DisplayName,
		"givenName":         nul(u.GivenName),
		"jobTitle":          nul(u.JobTitle),
		"mail":              nul(u.Mail),
		"mobilePhone":       nil,
		"officeLocation":    nil,
		"preferredLanguage": nil,
		"surname":           nul(u.Surname),
		"userPrincipalName": u.UserPrincipalName,
		"id":                u.ID,
		"userType":          u.UserType,
		"accountEnabled":    u.AccountEnabled,
		"department":        nul(u.Department),
	}
}

// defaultUserProps is the property set GET /users returns without $select
// (facts §11; user-list.md).
var defaultUserProps = []string{"businessPhones", "displayName", "givenName", "id", "jobTitle", "mail",
	"mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName"}

// project applies $select (or the default property set).
func project(m map[string]any, sel []string, dflt []string) map[string]any {
	keys := sel
	if len(keys) == 0 {
		keys = dflt
	}
	if len(keys) == 0 {
		return m
	}
	out := map[string]any{}
	for k, v := range m {
		if strings.HasPrefix(k, "@") {
			out[k] = v
		}
	}
	for _, k := range keys {
		for mk, v := range m {
			if strings.EqualFold(mk, k) {
				out[mk] = v
			}
		}
	}
	return out
}

func parseSelect(raw string) []string {
	var out []string
	for _, p := range strings.Split(raw, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// advanced reports whether the request carries the advanced query
// parameters: header ConsistencyLevel: eventual and $count=true
// (facts §11; aad-advanced-queries.md).
func (c *call) advanced() bool {
	return strings.EqualFold(c.r.Header.Get("ConsistencyLevel"), "eventual") && strings.EqualFold(c.query.Get("$count"), "true")
}

// serveUserList serves GET /users and GET /users/$count.
func (s *Server) serveUserList(c *call, countOnly bool) {
	// Application User.Read.All is the least permission (facts §11; user-list.md).
	if !c.requireDirectory("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All", "User.ReadBasic.All") {
		return
	}
	eventual := strings.EqualFold(c.r.Header.Get("ConsistencyLevel"), "eventual")
	if countOnly && !eventual {
		// graph-examples/directory-count-without-consistencylevel-error.json.
		c.fail(http.StatusBadRequest, "Request_BadRequest", "$count is not currently supported.")
		return
	}
	if c.query.Has("$search") && !eventual {
		// graph-examples/directory-search-without-consistencylevel-error.json.
		c.fail(http.StatusBadRequest, "Request_UnsupportedQuery", "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'")
		return
	}
	if c.query.Has("$skip") {
		// "$skip isn't supported" on list users (facts §11).
		c.fail(http.StatusBadRequest, "Request_BadRequest", "'$skip' is not supported by the service.")
		return
	}
	var pred func(map[string]any) bool
	if f := c.query.Get("$filter"); f != "" {
		p, needAdvanced, err := parseFilter(f, userFilterable)
		if err != nil {
			c.fail(http.StatusBadRequest, err.code, err.msg)
			return
		}
		// ne, not, endsWith, eq null need the advanced query parameters
		// (facts §11): the service answers 400 Request_UnsupportedQuery
		// without them (message OBSERVED).
		if needAdvanced != "" && !c.advanced() {
			c.fail(http.StatusBadRequest, "Request_UnsupportedQuery",
				fmt.Sprintf("Unsupported or invalid query filter clause specified for property '%s' of resource 'User'.", needAdvanced))
			return
		}
		pred = p
	}
	if c.query.Has("$orderby") && c.query.Has("$filter") && !c.advanced() {
		c.fail(http.StatusBadRequest, "Request_UnsupportedQuery", "Sorting not supported for current query.")
		return
	}
	search := strings.Trim(c.query.Get("$search"), "\"")
	s.mu.Lock()
	var items []map[string]any
	for _, u := range s.users {
		m := userJSON(&u.User)
		if pred != nil && !pred(m) {
			continue
		}
		if search != "" && !searchMatches(search, m) {
			continue
		}
		items = append(items, m)
	}
	s.mu.Unlock()
	if ob := c.query.Get("$orderby"); ob != "" {
		// $orderby on displayName and userPrincipalName is a default query
		// (filter-directory-objects table, facts §11); others need the
		// advanced query parameters.
		prop, dir, _ := strings.Cut(strings.TrimSpace(ob), " ")
		if !strings.EqualFold(prop, "displayName") && !strings.EqualFold(prop, "userPrincipalName") && !c.advanced() {
			c.fail(http.StatusBadRequest, "Request_UnsupportedQuery", "Sorting not supported for current query.")
			return
		}
		desc := strings.EqualFold(strings.TrimSpace(dir), "desc")
		slices.SortStableFunc(items, func(a, b map[string]any) int {
			x, _ := lookupFold(a, prop).(string)
			y, _ := lookupFold(b, prop).(string)
			r := strings.Compare(strings.ToLower(x), strings.ToLower(y))
			if desc {
				r = -r
			}
			return r
		})
	}
	if countOnly {
		c.status = http.StatusOK
		c.w.Header().Set("Content-Type", "text/plain")
		c.w.WriteHeader(http.StatusOK)
		fmt.Fprint(c.w, len(items))
		return
	}
	sel := parseSelect(c.query.Get("$select"))
	for i := range items {
		items[i] = project(items[i], sel, defaultUserProps)
	}
	ctx := "users"
	if len(sel) > 0 {
		ctx = "users(" + strings.Join(sel, ",") + ")"
	}
	c.writePage("/users", items, 100, 999, ctx, c.advanced() && eventual)
}

// searchMatches implements $search="property:value" (tokenized prefix match
// on displayName, mail, userPrincipalName; aad-advanced-queries.md).
func searchMatches(q string, m map[string]any) bool {
	prop, val, ok := strings.Cut(q, ":")
	if !ok {
		val, prop = q, "displayName"
	}
	s, _ := m[prop].(string)
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == ' ' || r == '.' || r == '@' || r == '_' }) {
		if strings.HasPrefix(w, strings.ToLower(val)) {
			return true
		}
	}
	return false
}

// writePage answers one page of a collection. The page size is $top (1..max,
// default def); the next page is reached through @odata.nextLink carrying
// $skiptoken (user-list.md; facts §11).
func (c *call) writePage(path string, items []map[string]any, def, max int, ctxFragment string, withCount bool) {
	size := def
	if t := c.query.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > max {
			// OBSERVED: "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
			c.fail(http.StatusBadRequest, "Request_UnsupportedQuery", fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", t, max))
			return
		}
		size = n
	}
	offset := 0
	if tok := c.query.Get("$skiptoken"); tok != "" {
		c.s.pagesMu.Lock()
		st := c.s.pages[tok]
		c.s.pagesMu.Unlock()
		if st == nil || st.kind != "list:"+path {
			c.fail(http.StatusBadRequest, "Request_BadRequest", "Invalid $skiptoken value.")
			return
		}
		offset = st.offset
	}
	if offset > len(items) {
		offset = len(items)
	}
	end := min(offset+size, len(items))
	body := map[string]any{
		"@odata.context": c.s.contextURL(ctxFragment),
		"value":          nonNil(items[offset:end]),
	}
	if withCount {
		body["@odata.count"] = len(items)
	}
	if end < len(items) {
		tok := randomToken(24)
		c.s.pagesMu.Lock()
		c.s.pages[tok] = &pageState{kind: "list:" + path, offset: end}
		c.s.pagesMu.Unlock()
		q := cloneValues(c.query)
		q.Set("$skiptoken", tok)
		body["@odata.nextLink"] = c.s.link(path, q)
	}
	c.writeJSON(http.StatusOK, body)
}

func nonNil(v []map[string]any) []map[string]any {
	if v == nil {
		return []map[string]any{}
	}
	return v
}

// serveUserGet serves GET /users/{id | userPrincipalName}.
func (s *Server) serveUserGet(c *call, key string) {
	// A signed-in user reads their own profile with User.Read (user-get.md).
	self := c.tok.user != "" && s.resolveUserID(key) == c.tok.user && c.tok.hasPermission("User.Read", "User.ReadWrite")
	if !self && !c.requireDirectory("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All", "User.ReadBasic.All") {
		return
	}
	s.mu.Lock()
	u := s.findUser(key)
	var m map[string]any
	if u != nil {
		m = userJSON(&u.User)
	}
	s.mu.Unlock()
	if u == nil {
		// OBSERVED directory not-found shape (facts §12: UNCONFIRMED).
		c.fail(http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", key))
		return
	}
	m = project(m, parseSelect(c.query.Get("$select")), defaultUserProps)
	m["@odata.context"] = s.contextURL("users/$entity")
	c.writeJSON(http.StatusOK, m)
}

func groupJSON(g *Group) map[string]any {
	nick := strings.ReplaceAll(g.DisplayName, " ", "")
	return map[string]any{
		"id":              g.ID,
		"displayName":     g.DisplayName,
		"description":     g.Description,
		"groupTypes":      []any{},
		"mailEnabled":     false,
		"mailNickname":    nick,
		"securityEnabled": true,
		"mail":            nil,
	}
}

// routeGroups serves /groups, /groups/{id}, /groups/{id}/members and
// /groups/{id}/transitiveMembers[/microsoft.graph.user].
func (s *Server) routeGroups(c *call, segs []string) {
	if c.r.Method != http.MethodGet {
		c.methodNotAllowed()
		return
	}
	// Group listing and members: GroupMember.Read.All is least (facts §11).
	if !c.requireDirectory("GroupMember.Read.All", "GroupMember.ReadBasic.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All") {
		return
	}
	if len(segs) == 0 {
		var pred func(map[string]any) bool
		if f := c.query.Get("$filter"); f != "" {
			p, needAdvanced, err := parseFilter(f, groupFilterable)
			if err != nil {
				c.fail(http.StatusBadRequest, err.code, err.msg)
				return
			}
			if needAdvanced != "" && !c.advanced() {
				c.fail(http.StatusBadRequest, "Request_UnsupportedQuery",
					fmt.Sprintf("Unsupported or invalid query filter clause specified for property '%s' of resource 'Group'.", needAdvanced))
				return
			}
			pred = p
		}
		s.mu.Lock()
		var items []map[string]any
		for _, g := range s.groups {
			m := groupJSON(g)
			if pred == nil || pred(m) {
				items = append(items, project(m, parseSelect(c.query.Get("$select")), nil))
			}
		}
		s.mu.Unlock()
		c.writePage("/groups", items, 100, 999, "groups", c.advanced())
		return
	}
	s.mu.Lock()
	var g *Group
	for _, x := range s.groups {
		if x.ID == segs[0] {
			g = x
		}
	}
	s.mu.Unlock()
	if g == nil {
		c.fail(http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", segs[0]))
		return
	}
	if len(segs) == 1 {
		m := groupJSON(g)
		m["@odata.context"] = s.contextURL("groups/$entity")
		c.writeJSON(http.StatusOK, m)
		return
	}
	transitive := segs[1] == "transitiveMembers"
	if !transitive && segs[1] != "members" {
		c.notFoundSegment(segs[1])
		return
	}
	usersOnly := false
	if len(segs) == 3 {
		if segs[2] != "microsoft.graph.user" {
			c.notFoundSegment(segs[2])
			return
		}
		// "To filter the results on the OData type… you must use the
		// advanced query parameters" (facts §11; group-list-transitivemembers.md).
		if !c.advanced() {
			c.fail(http.StatusBadRequest, "Request_UnsupportedQuery", "The requested OData cast requires the 'ConsistencyLevel: eventual' header and $count=true.")
			return
		}
		usersOnly = true
	} else if len(segs) > 3 {
		c.notFoundSegment(segs[3])
		return
	}
	// Members the app cannot read in full come back with only @odata.type
	// and id (facts §11, "limited information").
	full := c.tok.hasPermission("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All", "User.ReadBasic.All")
	sel := parseSelect(c.query.Get("$select"))
	s.mu.Lock()
	var items []map[string]any
	seen := map[string]bool{g.ID: true}
	var walk func(*Group)
	walk = func(gr *Group) {
		for _, id := range gr.Members {
			if seen[id] {
				continue // cycles and diamonds are visited once
			}
			seen[id] = true
			if u := s.userByID(id); u != nil {
				m := map[string]any{"@odata.type": "#microsoft.graph.user", "id": u.ID}
				if full {
					for k, v := range project(userJSON(&u.User), sel, defaultUserProps) {
						m[k] = v
					}
				}
				items = append(items, m)
				continue
			}
			for _, sub := range s.groups {
				if sub.ID == id {
					if !usersOnly {
						m := groupJSON(sub)
						m["@odata.type"] = "#microsoft.graph.group"
						items = append(items, m)
					}
					if transitive {
						walk(sub)
					}
				}
			}
		}
	}
	walk(g)
	s.mu.Unlock()
	ctx := "directoryObjects"
	if usersOnly {
		ctx = "users"
	}
	c.writePage("/groups/"+g.ID+"/"+strings.Join(segs[1:], "/"), items, 100, 999, ctx, c.advanced())
}
