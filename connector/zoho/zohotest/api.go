package zohotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// call is one parsed API request.
type call struct {
	r      *http.Request
	dc     *dataCenter
	scopes []string
	route  string // settings/modules, list, insert, ...
	module *moduleDef
	id     string
	body   map[string]any
	// records is len(body.data) for writes, for credits (§A7).
	records int
}

// serveAPI serves {api_domain}/crm/v8/... for one data centre.
func (s *Server) serveAPI(dc *dataCenter, w http.ResponseWriter, r *http.Request) {
	o := dc.org
	fail := func(e *apiError) { writeJSON(w, e.status, e.body()) }
	if !strings.HasPrefix(r.URL.Path, "/crm/v8/") {
		// §C1 errors: unknown path → 404 INVALID_URL_PATTERN.
		o.count()
		fail(&apiError{status: 404, code: "INVALID_URL_PATTERN", message: "Please check if the URL trying to access is a correct one"})
		return
	}
	// Authorization: Zoho-oauthtoken <token>, only that scheme (§A2, §C1
	// API auth); missing header → AUTHENTICATION_FAILURE ⚠, unknown or
	// expired → 401 INVALID_TOKEN. A token of another data centre is
	// unknown here (§A1: INVALID_TOKEN when the token belongs to another DC).
	h := r.Header.Get("Authorization")
	if h == "" {
		o.count()
		fail(&apiError{status: 401, code: "AUTHENTICATION_FAILURE", message: "Authentication failed"})
		return
	}
	tok, ok := strings.CutPrefix(h, "Zoho-oauthtoken ")
	scopes, valid := o.auth.lookup(tok)
	if !ok || !valid {
		o.count()
		fail(&apiError{status: 401, code: "INVALID_TOKEN", message: "invalid oauth token"})
		return
	}
	c := &call{r: r, dc: dc, scopes: scopes}
	if e := s.parseCall(c); e != nil {
		o.count()
		fail(e)
		return
	}
	if !c.allowed() {
		o.count()
		// §C1: missing scope → 401 OAUTH_SCOPE_MISMATCH.
		fail(&apiError{status: 401, code: "OAUTH_SCOPE_MISMATCH", message: "invalid oauth scope to access this URL"})
		return
	}
	credits, heavy := c.cost()
	release, limited := o.admit(credits, heavy)
	if limited != "" {
		// §A7: credits or concurrency exceeded → 429; no Retry-After
		// header is documented (§A6).
		fail(&apiError{status: 429, code: limited, message: "API limit exceeded"})
		return
	}
	// The call stops counting as in flight once it is processed, before
	// its answer is sent, so a client that waits for the answer before
	// sending the next call never appears to exceed the limit.
	released := false
	done := func() {
		if !released {
			released = true
			release()
		}
	}
	defer done()
	if c.isWrite() {
		o.mu.Lock()
		o.st.WriteCalls++
		o.mu.Unlock()
	}
	if d := s.latency(); d > 0 {
		time.Sleep(d)
	}
	if f := s.fault(r); f != nil {
		if f.Delay > 0 {
			time.Sleep(f.Delay)
		}
		if f.Status != 0 {
			done()
			fail(&apiError{status: f.Status, code: f.Code, message: "injected fault"})
			return
		}
	}
	status, body := s.execute(c)
	done()
	if body == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

func (o *org) count() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.st.Calls++
}

// parseCall routes the request and reads its body.
func (s *Server) parseCall(c *call) *apiError {
	o := c.dc.org
	path := strings.Trim(strings.TrimPrefix(c.r.URL.Path, "/crm/v8/"), "/")
	parts := strings.Split(path, "/")
	method := c.r.Method
	notAllowed := &apiError{status: 405, code: "INVALID_REQUEST_METHOD", message: "The http request method type is not a valid one"}
	modParam := func() *apiError {
		c.module = o.module(c.r.URL.Query().Get("module"))
		if c.module == nil {
			if c.r.URL.Query().Get("module") == "" {
				return &apiError{status: 400, code: "REQUIRED_PARAM_MISSING", message: "One of the expected parameter is missing", details: map[string]any{"param_name": "module"}}
			}
			return &apiError{status: 400, code: "INVALID_MODULE", message: "the module name given seems to be invalid", details: map[string]any{}}
		}
		return nil
	}
	switch {
	case path == "settings/modules":
		if method != http.MethodGet {
			return notAllowed
		}
		c.route = "modules"
		return nil
	case path == "settings/fields" || path == "settings/layouts":
		if method != http.MethodGet {
			return notAllowed
		}
		c.route = parts[1]
		return modParam()
	case path == "coql":
		if method != http.MethodPost {
			return notAllowed
		}
		c.route = "coql"
		return c.readBody()
	}
	c.module = o.module(parts[0])
	if c.module == nil || len(parts) > 3 {
		if len(parts) == 1 && parts[0] != "" {
			// §A3.1 errors / §C1 Modules: unknown module → 400 INVALID_MODULE.
			return &apiError{status: 400, code: "INVALID_MODULE", message: "the module name given seems to be invalid"}
		}
		return &apiError{status: 404, code: "INVALID_URL_PATTERN", message: "Please check if the URL trying to access is a correct one"}
	}
	switch {
	case len(parts) == 1:
		switch method {
		case http.MethodGet:
			c.route = "list"
		case http.MethodPost:
			c.route = "insert"
			return c.readBody()
		case http.MethodPut:
			c.route = "update"
			return c.readBody()
		case http.MethodDelete:
			c.route = "delete"
			c.records = len(splitIDs(c.r.URL.Query().Get("ids")))
		default:
			return notAllowed
		}
	case len(parts) == 2 && parts[1] == "upsert":
		if method != http.MethodPost {
			return notAllowed
		}
		c.route = "upsert"
		return c.readBody()
	case len(parts) == 2 && (parts[1] == "deleted" || parts[1] == "search"):
		if method != http.MethodGet {
			return notAllowed
		}
		c.route = parts[1]
	case len(parts) == 3 && parts[1] == "actions" && parts[2] == "count":
		if method != http.MethodGet {
			return notAllowed
		}
		c.route = "count"
	case len(parts) == 2:
		c.id = parts[1]
		switch method {
		case http.MethodGet:
			c.route = "get"
		case http.MethodPut:
			c.route = "update"
			return c.readBody()
		case http.MethodDelete:
			c.route = "delete"
			c.records = 1
		default:
			return notAllowed
		}
	default:
		return &apiError{status: 404, code: "INVALID_URL_PATTERN", message: "Please check if the URL trying to access is a correct one"}
	}
	return nil
}

func splitIDs(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// readBody decodes a JSON body; numbers stay json.Number so integers and
// doubles are told apart.
func (c *call) readBody() *apiError {
	// §A6: 413 for a too-large body, 415 for a wrong content type ⚠.
	b, err := io.ReadAll(io.LimitReader(c.r.Body, 10<<20+1))
	if err != nil {
		return &apiError{status: 400, code: "INVALID_DATA", message: "body", details: map[string]any{}}
	}
	if len(b) > 10<<20 {
		return &apiError{status: 413, code: "REQUEST_ENTITY_TOO_LARGE", message: "request entity too large"}
	}
	if ct := c.r.Header.Get("Content-Type"); ct != "" && !strings.Contains(ct, "json") {
		return &apiError{status: 415, code: "UNSUPPORTED_MEDIA_TYPE", message: "unsupported media type"}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&c.body); err != nil {
		// §A3 request-level errors: INVALID_DATA "body" / not JSON.
		return &apiError{status: 400, code: "INVALID_DATA", message: "body", details: map[string]any{"reason": "data not in json format"}}
	}
	if data, ok := c.body["data"].([]any); ok {
		c.records = len(data)
	}
	return nil
}

func (c *call) isWrite() bool {
	switch c.route {
	case "insert", "update", "upsert", "delete":
		return true
	}
	return false
}

// cost returns the credits (§A7) of the call and whether it is heavy
// (sub-concurrency: search, COQL, writes of more than 10 records).
func (c *call) cost() (int, bool) {
	switch c.route {
	case "insert", "update", "upsert", "delete":
		// 1 credit per 10 records (§A7); delete is charged the same way
		// (UNCONFIRMED: the table lists only insert/update/upsert).
		n := max(1, (c.records+9)/10)
		return n, c.records > 10
	case "deleted":
		return 2, false
	case "search":
		return 1, true
	case "coql":
		q, _ := c.body["select_query"].(string)
		limit := 200
		if pq, err := parseCOQL(q); err == nil && pq.limit > 0 {
			limit = pq.limit
		}
		switch {
		case limit <= 200:
			return 1, true
		case limit <= 1000:
			return 2, true
		}
		return 3, true
	}
	return 1, false
}

// allowed checks the token's scopes for the call (§A2 scopes, §C1 scope
// check).
func (c *call) allowed() bool {
	has := func(want ...string) bool {
		for _, s := range c.scopes {
			for _, w := range want {
				if strings.EqualFold(s, w) {
					return true
				}
			}
		}
		return false
	}
	moduleOp := func(ops ...string) bool {
		for _, op := range append(ops, "ALL") {
			if has("ZohoCRM.modules."+op, "ZohoCRM.modules."+c.module.api+"."+op) {
				return true
			}
		}
		return false
	}
	switch c.route {
	case "modules":
		return has("ZohoCRM.settings.ALL", "ZohoCRM.settings.modules.ALL", "ZohoCRM.settings.modules.READ")
	case "fields":
		return has("ZohoCRM.settings.ALL", "ZohoCRM.settings.fields.ALL", "ZohoCRM.settings.fields.READ")
	case "layouts":
		return has("ZohoCRM.settings.ALL", "ZohoCRM.settings.layouts.ALL", "ZohoCRM.settings.layouts.READ")
	case "coql":
		// §A3.10 scopes: coql.READ, a module read scope, and
		// settings.fields.READ.
		if !has("ZohoCRM.coql.READ", "ZohoCRM.coql.ALL") || !has("ZohoCRM.settings.ALL", "ZohoCRM.settings.fields.ALL", "ZohoCRM.settings.fields.READ") {
			return false
		}
		q, _ := c.body["select_query"].(string)
		if pq, err := parseCOQL(q); err == nil {
			if m := c.dc.org.module(pq.module); m != nil {
				c.module = m
				return moduleOp("READ")
			}
		}
		return has("ZohoCRM.modules.ALL", "ZohoCRM.modules.READ")
	case "search":
		// §A3.9: search also needs ZohoSearch.securesearch.READ.
		return has("ZohoSearch.securesearch.READ", "ZohoSearch.securesearch.ALL") && moduleOp("READ")
	case "list", "get", "deleted", "count":
		return moduleOp("READ")
	case "insert":
		return moduleOp("CREATE", "WRITE")
	case "update":
		return moduleOp("UPDATE", "WRITE")
	case "upsert":
		return moduleOp("WRITE") || (moduleOp("CREATE") && moduleOp("UPDATE"))
	case "delete":
		return moduleOp("DELETE")
	}
	return false
}

// execute runs an admitted call.
func (s *Server) execute(c *call) (int, any) {
	o := c.dc.org
	o.mu.Lock()
	defer o.mu.Unlock()
	var status int
	var body any
	var e *apiError
	switch c.route {
	case "modules":
		var mods []any
		for _, m := range o.order {
			mods = append(mods, m.moduleJSON())
		}
		return 200, map[string]any{"modules": mods}
	case "fields":
		return 200, map[string]any{"fields": c.module.fieldsJSON()}
	case "layouts":
		return 200, map[string]any{"layouts": c.module.layoutsJSON()}
	case "list":
		status, body, e = o.listLocked(c)
	case "get":
		status, body, e = o.getLocked(c)
	case "insert":
		status, body, e = o.writeLocked(c, "insert")
	case "update":
		status, body, e = o.writeLocked(c, "update")
	case "upsert":
		status, body, e = o.writeLocked(c, "upsert")
	case "delete":
		status, body, e = o.deleteLocked(c)
	case "deleted":
		status, body, e = o.deletedLocked(c)
	case "search":
		status, body, e = o.searchLocked(c)
	case "coql":
		status, body, e = o.coqlLocked(c)
	case "count":
		return 200, map[string]any{"count": len(o.recs[c.module.api])}
	default:
		e = &apiError{status: 500, code: "INTERNAL_ERROR", message: fmt.Sprintf("route %q", c.route)}
	}
	if e != nil {
		return e.status, e.body()
	}
	return status, body
}
