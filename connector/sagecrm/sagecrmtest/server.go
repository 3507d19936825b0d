// Package sagecrmtest is a stateful emulator of the Sage CRM REST API
// ("sagecrm2", SData 2.0 flavoured JSON) for tests and for `syncplane
// emulate sagecrm`.
//
// It follows /work/shared/reference/crm-api-facts.md, Part B (the service)
// and C2 (the emulator subset); every behaviour cites its section there.
// Where the facts mark a detail UNCONFIRMED, Options has a switch for each
// plausible variant so a client can be tested against all of them.
//
// The emulator serves HTTPS with a certificate signed by a CA it generates
// at start (CAFile), under /sdata/{install}j/sagecrm2/-/, with HTTP Basic
// authentication on every request (B2).
package sagecrmtest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Release selects the Sage CRM version the emulator behaves as.
type Release int

const (
	// Release2024R2 is Sage CRM 2024 R2 and later: orderBy is supported
	// (crm-api-facts.md B1 History, B3 "orderBy ... (2024 R2+)").
	Release2024R2 Release = iota
	// Release2019R2 is Sage CRM 2019 R2 to 2024 R1: orderBy is refused with
	// 400 (C2 "a version flag disables it → 400 ⚠").
	Release2019R2
)

// UpdateVerbs selects which verbs update a record (B5: documented as both
// PATCH and PUT; UNCONFIRMED which a given install accepts).
type UpdateVerbs int

const (
	// PatchAndPut accepts both (the default).
	PatchAndPut UpdateVerbs = iota
	// PatchOnly answers 405 to PUT.
	PatchOnly
	// PutOnly answers 405 to PATCH.
	PutOnly
)

// ErrorShape selects the JSON shape of error bodies (B4 "Errors": the
// $diagnoses envelope is the SData 2.0 JSON shape; that Sage CRM uses it for
// every error is UNCONFIRMED).
type ErrorShape int

const (
	// ErrorEnvelope is {"$diagnoses":[{...}]} (the default).
	ErrorEnvelope ErrorShape = iota
	// ErrorArray is a bare JSON array of diagnoses, [{...}].
	ErrorArray
)

// Options configure an emulator. The zero value is a 2024 R2 server in
// America/New_York with install "crm", user "integration".
type Options struct {
	// Addr is the listen address; default "127.0.0.1:0".
	Addr string
	// Hosts are extra host names or IPs the TLS certificate is valid for.
	Hosts []string
	// Install is the install name; the base path is
	// /sdata/{Install}j/sagecrm2/-/ (B1; C2 default "crm").
	Install string
	// Username and Password are the one CRM user allowed to log on (B2);
	// defaults "integration" and "emulator".
	Username, Password string
	// Location is the server's time zone: dates are rendered with its
	// offset (B6). Default America/New_York.
	Location *time.Location
	// Now is the server clock; default time.Now. Stored dates keep whole
	// seconds (B8 "updateddate resolution is seconds").
	Now func() time.Time
	// Release selects orderBy support (B3).
	Release Release
	// CreateStatus is the status of a successful POST: 201 (default) or 200
	// (B5 "Exact status (200 vs 201) is UNCONFIRMED").
	CreateStatus int
	// DeleteStatus is the status of a successful DELETE: 200 (default) or
	// 204 (C2 "200/204 ⚠").
	DeleteStatus int
	// UpdateVerbs selects PATCH, PUT or both (B5).
	UpdateVerbs UpdateVerbs
	// Errors selects the error body shape (B4).
	Errors ErrorShape
	// LowerCaseFields renders field names in lower case instead of the
	// metadata casing (C2 "make it configurable so the connector is forced
	// to be case-insensitive").
	LowerCaseFields bool
	// DefaultCount and MaxCount bound feed pages; defaults 100 and 200 (B3
	// "Default and maximum count are UNCONFIRMED"; C2). A larger count is
	// lowered to MaxCount.
	DefaultCount, MaxCount int
	// ChildBumpsPerson makes a change to an email or phone row linked to a
	// person bump that person's pers_updateddate (B8.1 UNCONFIRMED; C2
	// default false, to force clients to poll email and phone).
	ChildBumpsPerson bool
	// PartialResponse makes PATCH and PUT answer with only the fields sent
	// unless the URL has returnPartial=false (B3, B5 "response built from
	// memory").
	PartialResponse bool
	// WhereIgnoresOffset makes date literals in where compare by their wall
	// clock in the server's time zone, ignoring any offset or Z they carry:
	// the time-zone skew Cloud Elements warns about (B6, C2 "Fault
	// injection").
	WhereIgnoresOffset bool
	// StrictNull refuses null literals in where with 400 (B3 "can't filter
	// on null"; C2 "optional strict mode returns 400"); without it a null
	// comparison matches nothing, as in SQL.
	StrictNull bool
	// NoSelect ignores the select query parameter and always returns every
	// field (select is an SData 2.0 Core query parameter; its support in
	// sagecrm2 is not documented).
	NoSelect bool
	// PrototypeChoices lists the values of drop-down fields in $prototypes
	// as "$values" (B4: "Drop-down values are not in $prototypes per the
	// client models: UNCONFIRMED"; off by default).
	PrototypeChoices bool
	// Latency delays every response.
	Latency time.Duration
}

// Stats count what crossed the wire since start or the last ResetStats.
type Stats struct {
	// Requests is the number of HTTP requests received.
	Requests int64
	// RequestBytes and ResponseBytes count body bytes.
	RequestBytes, ResponseBytes int64
}

type table struct {
	ids    []int64 // ascending, the default feed order
	rows   map[int64]row
	nextID int64
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	opts     Options
	entities map[string]*entity
	base     string // "/sdata/crmj/sagecrm2/-/"
	url      string // "https://127.0.0.1:port"
	caPEM    []byte
	caFile   string
	dir      string
	ln       net.Listener
	srv      *http.Server

	mu       sync.Mutex
	tables   map[string]*table
	password string
	faults   int
	latency  time.Duration

	requests, bytesIn, bytesOut atomic.Int64
}

// The user ids: 1 is a CRM user working in the UI (what the Go API's
// changes are attributed to), 2 the integration user.
const (
	uiUserID          = 1
	integrationUserID = 2
)

// Start generates the TLS certificates, writes the CA to a temporary file
// and serves the emulator until Close.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Install == "" {
		opts.Install = "crm"
	}
	if opts.Username == "" {
		opts.Username = "integration"
	}
	if opts.Password == "" {
		opts.Password = "emulator"
	}
	if opts.Location == nil {
		loc, err := time.LoadLocation("America/New_York")
		if err != nil {
			return nil, fmt.Errorf("loading the default server time zone: %w", err)
		}
		opts.Location = loc
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CreateStatus == 0 {
		opts.CreateStatus = http.StatusCreated
	}
	if opts.DeleteStatus == 0 {
		opts.DeleteStatus = http.StatusOK
	}
	if opts.DefaultCount == 0 {
		opts.DefaultCount = 100
	}
	if opts.MaxCount == 0 {
		opts.MaxCount = 200
	}
	s := &Server{
		opts:     opts,
		entities: newEntities(),
		base:     "/sdata/" + strings.ToLower(opts.Install) + "j/sagecrm2/-/",
		tables:   map[string]*table{},
		password: opts.Password,
		latency:  opts.Latency,
	}
	for name := range s.entities {
		s.tables[name] = &table{rows: map[int64]row{}, nextID: 1}
	}
	// The users table: a UI user and the integration user (B2: a CRM user
	// with logon rights).
	if _, err := s.insert("users", map[string]any{"user_logon": "admin", "user_firstname": "System", "user_lastname": "Administrator", "user_emailaddress": "admin@example.com"}, uiUserID); err != nil {
		return nil, err
	}
	if _, err := s.insert("users", map[string]any{"user_logon": opts.Username, "user_lastname": "Integration", "user_emailaddress": "integration@example.com"}, uiUserID); err != nil {
		return nil, err
	}
	caPEM, cert, err := newCertificates(opts.Hosts)
	if err != nil {
		return nil, err
	}
	s.caPEM = caPEM
	s.dir, err = os.MkdirTemp("", "sagecrmtest-")
	if err != nil {
		return nil, fmt.Errorf("creating a directory for the CA file: %w", err)
	}
	s.caFile = filepath.Join(s.dir, "ca.pem")
	if err := os.WriteFile(s.caFile, caPEM, 0o600); err != nil {
		os.RemoveAll(s.dir)
		return nil, fmt.Errorf("writing the CA file: %w", err)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		os.RemoveAll(s.dir)
		return nil, fmt.Errorf("listening on %s: %w", opts.Addr, err)
	}
	s.ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	s.url = "https://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	go s.srv.Serve(s.ln) //nolint:errcheck // ends with ErrServerClosed at Close
	return s, nil
}

// Close stops the server and removes the CA file.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	os.RemoveAll(s.dir)
	return err
}

// BaseURL is the REST base with the install name and a trailing slash,
// "https://127.0.0.1:PORT/sdata/crmj/sagecrm2/-/": the connector's base_url
// setting.
func (s *Server) BaseURL() string { return s.url + s.base }

// CAFile is the path of the PEM file holding the CA that signed the
// server's certificate: the connector's ca_file setting.
func (s *Server) CAFile() string { return s.caFile }

// CAPEM returns the CA certificate in PEM.
func (s *Server) CAPEM() []byte { return append([]byte(nil), s.caPEM...) }

// Username is the user allowed to log on.
func (s *Server) Username() string { return s.opts.Username }

// Password is the current password.
func (s *Server) Password() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.password
}

// SetPassword changes the password: requests with the old one get 401 (C2
// "401 after password change").
func (s *Server) SetPassword(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.password = p
}

// Location is the server's time zone.
func (s *Server) Location() *time.Location { return s.opts.Location }

// IntegrationUserID is the user id of the integration user (the logon user):
// what REST writes are attributed to in *_updatedby.
func (s *Server) IntegrationUserID() int64 { return integrationUserID }

// UIUserID is the id of a CRM user other than the integration user: what
// the Go API's changes are attributed to.
func (s *Server) UIUserID() int64 { return uiUserID }

// FailNext makes the next n authenticated requests fail with 500 and a
// fatal diagnosis (C2 "Fault injection").
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = n
}

// SetLatency delays every later response by d (C2 "Slow responses").
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Stats returns the traffic counters.
func (s *Server) Stats() Stats {
	return Stats{Requests: s.requests.Load(), RequestBytes: s.bytesIn.Load(), ResponseBytes: s.bytesOut.Load()}
}

// ResetStats zeroes the traffic counters.
func (s *Server) ResetStats() {
	s.requests.Store(0)
	s.bytesIn.Store(0)
	s.bytesOut.Store(0)
}

// Insert creates a record as a CRM user working in the UI would, with the
// same validation as POST, and returns its id. It also seeds the read-only
// users resource, which REST clients cannot write. Field names are matched
// case-insensitively; values are int, int64, float64, string, time.Time or
// nil.
func (s *Server) Insert(resource string, fields map[string]any) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.insert(resource, fields, uiUserID)
	if err != nil {
		return 0, err
	}
	return r[s.entities[resource].IDCol].(int64), nil
}

// Update changes fields of a visible record, as a UI user would.
func (s *Server) Update(resource string, id int64, fields map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.update(resource, id, fields, uiUserID)
	return err
}

// Delete soft-deletes a visible record, as a UI user would.
func (s *Server) Delete(resource string, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delete(resource, id, uiUserID)
}

// Get returns a copy of a stored record with lower-case field names,
// soft-deleted ones included (their {prefix}_deleted is int64(1)).
func (s *Server) Get(resource string, id int64) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[resource]
	if !ok {
		return nil, false
	}
	r, ok := t.rows[id]
	if !ok {
		return nil, false
	}
	return r.clone(), true
}

// Rows returns copies of the visible (not deleted) records of a resource in
// id order.
func (s *Server) Rows(resource string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entities[resource]
	if !ok {
		return nil
	}
	var out []map[string]any
	t := s.tables[resource]
	for _, id := range t.ids {
		if r := t.rows[id]; !deleted(e, r) {
			out = append(out, r.clone())
		}
	}
	return out
}

// apiError is a failed operation with its HTTP status and diagnosis.
type apiError struct {
	status  int
	code    string
	message string
	payload string // $payloadPath: the offending field
}

func (e *apiError) Error() string {
	if e.payload != "" {
		return fmt.Sprintf("%d %s: %s (%s)", e.status, e.code, e.message, e.payload)
	}
	return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message)
}

func validation(field, format string, args ...any) *apiError {
	// C2 POST: 400 $diagnoses with $sdataCode "ValidationFailed"⚠ and
	// $payloadPath = field.
	return &apiError{status: http.StatusBadRequest, code: "ValidationFailed", message: fmt.Sprintf(format, args...), payload: field}
}

func notFound(resource string, id any) *apiError {
	// C2 GET/PATCH/DELETE: "Not found or soft-deleted → 404 ⚠ with $diagnoses".
	return &apiError{status: http.StatusNotFound, code: "ResourceNotFound", message: fmt.Sprintf("%s %v not found", resource, id)}
}

func deleted(e *entity, r row) bool {
	return r[strings.ToLower(e.Prefix)+"_deleted"] != nil
}

func (s *Server) now() time.Time { return s.opts.Now().UTC().Truncate(time.Second) }

// convert checks and converts one input value for a column.
func (s *Server) convert(col *column, given string, v any) (any, *apiError) {
	if v == nil {
		return nil, nil
	}
	if n, ok := v.(json.Number); ok {
		v = string(n)
		if col.Type == tString || col.Type == tChoice {
			return nil, validation(given, "%s takes a string, not a number", given)
		}
	}
	switch col.Type {
	case tInt:
		switch x := v.(type) {
		case int:
			return int64(x), nil
		case int64:
			return x, nil
		case float64:
			if x == float64(int64(x)) {
				return int64(x), nil
			}
		case string:
			if x == "" {
				return nil, nil
			}
			if n, err := parseInt(x); err == nil {
				return n, nil
			}
		}
		return nil, validation(given, "%s takes an integer, got %v", given, v)
	case tDecimal:
		switch x := v.(type) {
		case int:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case float64:
			return x, nil
		case string:
			if f, err := strconv.ParseFloat(x, 64); err == nil {
				return f, nil
			}
		}
		return nil, validation(given, "%s takes a number, got %v", given, v)
	case tDateTime:
		switch x := v.(type) {
		case time.Time:
			return x.UTC().Truncate(time.Second), nil
		case string:
			if x == "" {
				return nil, nil
			}
			t, err := s.parseDate(x, false)
			if err != nil {
				return nil, validation(given, "%s: %v", given, err)
			}
			return t, nil
		}
		return nil, validation(given, "%s takes a date and time, got %v", given, v)
	case tChoice:
		x, ok := v.(string)
		if !ok {
			return nil, validation(given, "%s takes one of %q, got %v", given, col.Choices, v)
		}
		if x == "" {
			return nil, nil
		}
		for _, c := range col.Choices {
			if strings.EqualFold(c, x) {
				return c, nil
			}
		}
		return nil, validation(given, "%s: %q is not one of %q", given, x, col.Choices)
	default:
		x, ok := v.(string)
		if !ok {
			return nil, validation(given, "%s takes a string, got %v", given, v)
		}
		return x, nil
	}
}

// parseDate reads an ISO 8601 date and time. With an offset or Z it is that
// instant (C2 "Any offset (or Z) is accepted on input"); without one it is
// server local time, and so is every literal when wallClock is set.
func (s *Server) parseDate(x string, wallClock bool) (time.Time, error) {
	layouts := []string{time.RFC3339Nano, "2006-01-02T15:04:05Z07:00"}
	if !wallClock {
		for _, l := range layouts {
			if t, err := time.Parse(l, x); err == nil {
				return t.UTC().Truncate(time.Second), nil
			}
		}
	}
	wall := x
	if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
		wall = t.Format("2006-01-02T15:04:05")
	}
	for _, l := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(l, wall, s.opts.Location); err == nil {
			return t.UTC().Truncate(time.Second), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 date and time", x)
}

// fields converts an input object, refusing unknown and read-only fields.
func (s *Server) fields(e *entity, in map[string]any) (row, *apiError) {
	out := row{}
	for k, v := range in {
		col, ok := e.col(k)
		if !ok {
			return nil, validation(k, "%s has no field %s", e.Title, k)
		}
		if col.ReadOnly {
			return nil, validation(k, "%s is read-only", k)
		}
		cv, err := s.convert(col, k, v)
		if err != nil {
			return nil, err
		}
		out[strings.ToLower(col.Name)] = cv
	}
	return out, nil
}

// visible returns a visible row or nil.
func (s *Server) visible(resource string, id int64) row {
	t := s.tables[resource]
	r, ok := t.rows[id]
	if !ok || deleted(s.entities[resource], r) {
		return nil
	}
	return r
}

// checkRefs enforces that ids in link fields name visible records (B7: the
// link tables reference Person, Company, Communication and Users).
func (s *Server) checkRefs(e *entity, r row) *apiError {
	ref := func(col, target string) *apiError {
		v, ok := r[col].(int64)
		if !ok {
			return nil
		}
		if s.visible(target, v) == nil {
			return validation(col, "%s %d does not exist", target, v)
		}
		return nil
	}
	entityRef := func(entCol, recCol string) *apiError {
		ent, _ := r[entCol].(int64)
		switch ent {
		case entityPerson:
			return ref(recCol, "person")
		case entityCompany:
			return ref(recCol, "company")
		}
		return validation(entCol, "%s must be %d (Company) or %d (Person), got %d", entCol, entityCompany, entityPerson, ent)
	}
	var checks []func() *apiError
	switch e.Resource {
	case "person":
		checks = append(checks, func() *apiError { return ref("pers_companyid", "company") }, func() *apiError { return ref("pers_primaryuserid", "users") })
	case "email":
		checks = append(checks, func() *apiError { return entityRef("elink_entityid", "elink_recordid") })
	case "phone":
		checks = append(checks, func() *apiError { return entityRef("plink_entityid", "plink_recordid") })
	case "address":
		checks = append(checks, func() *apiError { return ref("adli_personid", "person") }, func() *apiError { return ref("adli_companyid", "company") })
	case "communication":
		checks = append(checks, func() *apiError { return ref("comm_userid", "users") })
	case "comm_link":
		checks = append(checks,
			func() *apiError { return ref("cmli_comm_communicationid", "communication") },
			func() *apiError { return ref("cmli_comm_personid", "person") },
			func() *apiError { return ref("cmli_comm_userid", "users") },
			func() *apiError { return ref("cmli_comm_companyid", "company") })
	}
	for _, ch := range checks {
		if err := ch(); err != nil {
			return err
		}
	}
	return nil
}

// touchParent bumps pers_updateddate of the person an email or phone row
// links to, when ChildBumpsPerson is set (B8.1).
func (s *Server) touchParent(e *entity, r row, user int64) {
	if !s.opts.ChildBumpsPerson {
		return
	}
	var ent, rec any
	switch e.Resource {
	case "email":
		ent, rec = r["elink_entityid"], r["elink_recordid"]
	case "phone":
		ent, rec = r["plink_entityid"], r["plink_recordid"]
	default:
		return
	}
	if ent != int64(entityPerson) {
		return
	}
	id, _ := rec.(int64)
	if p := s.visible("person", id); p != nil {
		p["pers_updateddate"] = s.now()
		p["pers_updatedby"] = user
	}
}

func (s *Server) insert(resource string, in map[string]any, user int64) (row, error) {
	e, ok := s.entities[resource]
	if !ok {
		return nil, &apiError{status: http.StatusNotFound, code: "ResourceKindNotFound", message: "unknown resource " + resource}
	}
	r, aerr := s.fields(e, in)
	if aerr != nil {
		return nil, aerr
	}
	for _, col := range e.cols {
		if !col.Mandatory {
			continue
		}
		v := r[strings.ToLower(col.Name)]
		if v == nil || v == "" {
			return nil, validation(col.Name, "%s is mandatory", col.Name)
		}
	}
	if aerr := s.checkRefs(e, r); aerr != nil {
		return nil, aerr
	}
	t := s.tables[resource]
	id := t.nextID
	t.nextID++
	now := s.now()
	r[e.IDCol] = id
	r[e.createdCol()] = now
	r[e.updatedCol()] = now
	r[e.createdByCol()] = user
	r[e.updatedByCol()] = user
	t.rows[id] = r
	t.ids = append(t.ids, id)
	s.touchParent(e, r, user)
	return r, nil
}

func (s *Server) update(resource string, id int64, in map[string]any, user int64) (row, error) {
	e, ok := s.entities[resource]
	if !ok {
		return nil, &apiError{status: http.StatusNotFound, code: "ResourceKindNotFound", message: "unknown resource " + resource}
	}
	cur := s.visible(resource, id)
	if cur == nil {
		return nil, notFound(resource, id)
	}
	ch, aerr := s.fields(e, in)
	if aerr != nil {
		return nil, aerr
	}
	next := cur.clone()
	for k, v := range ch {
		next[k] = v
	}
	for _, col := range e.cols {
		if col.Mandatory {
			if v := next[strings.ToLower(col.Name)]; v == nil || v == "" {
				return nil, validation(col.Name, "%s is mandatory", col.Name)
			}
		}
	}
	if aerr := s.checkRefs(e, next); aerr != nil {
		return nil, aerr
	}
	s.touchParent(e, cur, user) // the person it was linked to
	// B5: *_updateddate and *_updatedby are maintained on every change.
	next[e.updatedCol()] = s.now()
	next[e.updatedByCol()] = user
	s.tables[resource].rows[id] = next
	s.touchParent(e, next, user)
	return next, nil
}

func (s *Server) delete(resource string, id int64, user int64) error {
	e, ok := s.entities[resource]
	if !ok {
		return &apiError{status: http.StatusNotFound, code: "ResourceKindNotFound", message: "unknown resource " + resource}
	}
	r := s.visible(resource, id)
	if r == nil {
		// C2 DELETE: "A second delete → 404".
		return notFound(resource, id)
	}
	// B5: soft delete, xxxx_deleted = 1; C2: "{p}_updateddate=now".
	now := s.now()
	r[strings.ToLower(e.Prefix)+"_deleted"] = int64(1)
	r[e.updatedCol()] = now
	r[e.updatedByCol()] = user
	s.touchParent(e, r, user)
	if resource == "communication" {
		// C2 "Deleting a communication soft-deletes its links ⚠".
		links := s.tables["comm_link"]
		le := s.entities["comm_link"]
		for _, lid := range links.ids {
			lr := links.rows[lid]
			if lr["cmli_comm_communicationid"] == id && !deleted(le, lr) {
				lr["cmli_deleted"] = int64(1)
				lr[le.updatedCol()] = now
				lr[le.updatedByCol()] = user
			}
		}
	}
	return nil
}

// ServeHTTP serves the REST API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	cw := &countingWriter{ResponseWriter: w, n: &s.bytesOut}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	s.bytesIn.Add(int64(len(body)))
	if err != nil {
		s.fail(cw, &apiError{status: http.StatusBadRequest, code: "BadRequest", message: "reading the request body failed"})
		return
	}
	s.mu.Lock()
	lat := s.latency
	s.mu.Unlock()
	if lat > 0 {
		select {
		case <-time.After(lat):
		case <-r.Context().Done():
			return
		}
	}
	// The Date header comes from the server clock, so clients can tell the
	// server's now.
	cw.Header().Set("Date", s.opts.Now().UTC().Format(http.TimeFormat))
	if !strings.HasPrefix(r.URL.Path, s.base) {
		s.fail(cw, &apiError{status: http.StatusNotFound, code: "ResourceKindNotFound", message: "no SData endpoint at " + r.URL.Path})
		return
	}
	if !s.authorized(r) {
		// B2: wrong credentials → 401; C2: WWW-Authenticate: Basic and a
		// $diagnoses body with "AuthenticationFailed"⚠.
		cw.Header().Set("WWW-Authenticate", `Basic realm="Sage CRM"`)
		s.fail(cw, &apiError{status: http.StatusUnauthorized, code: "AuthenticationFailed", message: "The user name or password is incorrect"})
		return
	}
	s.mu.Lock()
	if s.faults > 0 {
		s.faults--
		s.mu.Unlock()
		// C2 "Fault injection: 500 with $diagnoses $severity:fatal".
		s.failSeverity(cw, &apiError{status: http.StatusInternalServerError, code: "ApplicationError", message: "An unexpected error occurred"}, "fatal")
		return
	}
	s.mu.Unlock()
	s.route(cw, r, strings.TrimPrefix(r.URL.Path, s.base), body)
}

func (s *Server) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.EqualFold(user, s.opts.Username) && pass == s.password
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func (s *Server) fail(w http.ResponseWriter, e *apiError) { s.failSeverity(w, e, "error") }

func (s *Server) failSeverity(w http.ResponseWriter, e *apiError, severity string) {
	d := map[string]any{"$severity": severity, "$sdataCode": e.code, "$message": e.message, "$applicationCode": strconv.Itoa(e.status)}
	if e.payload != "" {
		d["$payloadPath"] = e.payload
	}
	var body any = map[string]any{"$diagnoses": []any{d}}
	if s.opts.Errors == ErrorArray {
		body = []any{d}
	}
	s.writeJSON(w, e.status, body)
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding the response failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b) //nolint:errcheck // the client went away
}

func (s *Server) writeErr(w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		s.fail(w, ae)
		return
	}
	var we *whereError
	if errors.As(err, &we) {
		// C2: bad where → 400 BadWhereSyntax.
		s.fail(w, &apiError{status: http.StatusBadRequest, code: "BadWhereSyntax", message: "Invalid query syntax: " + we.msg})
		return
	}
	s.fail(w, &apiError{status: http.StatusInternalServerError, code: "ApplicationError", message: err.Error()})
}

// route dispatches a request below the base path.
func (s *Server) route(w http.ResponseWriter, r *http.Request, rest string, body []byte) {
	if rest == "$prototypes" || strings.HasPrefix(rest, "$prototypes/") {
		if r.Method != http.MethodGet {
			s.fail(w, &apiError{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed", message: r.Method + " is not allowed on $prototypes"})
			return
		}
		s.prototypes(w, strings.TrimPrefix(strings.TrimPrefix(rest, "$prototypes"), "/"))
		return
	}
	name, key, hasKey := rest, "", false
	if i := strings.IndexByte(rest, '('); i >= 0 && strings.HasSuffix(rest, ")") {
		name, key, hasKey = rest[:i], rest[i+1:len(rest)-1], true
	}
	name = strings.ToLower(name)
	e, ok := s.entities[name]
	if !ok {
		// C2 "Unknown entity → 404 ⚠ with $diagnoses".
		s.fail(w, &apiError{status: http.StatusNotFound, code: "ResourceKindNotFound", message: "unknown resource " + name})
		return
	}
	if e.ReadOnly && r.Method != http.MethodGet {
		s.fail(w, &apiError{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed", message: e.Title + " is read-only"})
		return
	}
	q := r.URL.Query()
	switch {
	case !hasKey && r.Method == http.MethodGet:
		s.feed(w, r, e, q)
	case !hasKey && r.Method == http.MethodPost:
		s.create(w, e, body)
	case hasKey:
		s.mu.Lock()
		id, err := s.resolveKey(e, key)
		s.mu.Unlock()
		if err != nil {
			s.writeErr(w, err)
			return
		}
		switch r.Method {
		case http.MethodGet:
			s.mu.Lock()
			rr := s.visible(e.Resource, id)
			var out map[string]any
			if rr != nil {
				out = s.render(e, rr, nil)
			}
			s.mu.Unlock()
			if out == nil {
				s.fail(w, notFound(e.Resource, id))
				return
			}
			s.writeJSON(w, http.StatusOK, out)
		case http.MethodPatch, http.MethodPut:
			if (r.Method == http.MethodPut && s.opts.UpdateVerbs == PatchOnly) || (r.Method == http.MethodPatch && s.opts.UpdateVerbs == PutOnly) {
				s.fail(w, &apiError{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed", message: r.Method + " is not supported; use the other update verb"})
				return
			}
			s.modify(w, r, e, id, body)
		case http.MethodDelete:
			s.mu.Lock()
			err := s.delete(e.Resource, id, integrationUserID)
			s.mu.Unlock()
			if err != nil {
				s.writeErr(w, err)
				return
			}
			// B5: "2xx with a blank body".
			w.WriteHeader(s.opts.DeleteStatus)
		default:
			s.fail(w, &apiError{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed", message: r.Method + " is not allowed on an entry"})
		}
	default:
		s.fail(w, &apiError{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed", message: r.Method + " is not allowed on a feed"})
	}
}

// resolveKey reads entity('id') or entity(predicate) (B3 examples). The
// caller holds s.mu.
func (s *Server) resolveKey(e *entity, key string) (int64, error) {
	k := strings.TrimSpace(key)
	if strings.HasPrefix(k, "'") && strings.HasSuffix(k, "'") && len(k) >= 2 {
		id, err := parseInt(k[1 : len(k)-1])
		if err != nil {
			return 0, notFound(e.Resource, k)
		}
		return id, nil
	}
	if id, err := parseInt(k); err == nil {
		return id, nil
	}
	c, err := s.compileWhere(e, k)
	if err != nil {
		return 0, err
	}
	t := s.tables[e.Resource]
	for _, id := range t.ids {
		if rr := t.rows[id]; !deleted(e, rr) && c.match(rr) {
			return id, nil
		}
	}
	return 0, notFound(e.Resource, k)
}

func (s *Server) compileWhere(e *entity, where string) (cond, error) {
	toks, err := lex(where)
	if err != nil {
		return nil, err
	}
	p := &whereParser{toks: toks, e: e, lit: func(col *column, t token) (any, error) {
		if t.kind == tkIdent { // null
			if s.opts.StrictNull {
				return nil, badWhere("null comparisons are not supported (field %s)", col.Name)
			}
			return nil, nil
		}
		switch col.Type {
		case tInt:
			n, err := parseInt(t.text)
			if err != nil {
				return nil, badWhere("%s takes an integer, got %q", col.Name, t.text)
			}
			return n, nil
		case tDecimal:
			f, err := strconv.ParseFloat(t.text, 64)
			if err != nil {
				return nil, badWhere("%s takes a number, got %q", col.Name, t.text)
			}
			return f, nil
		case tDateTime:
			tm, err := s.parseDate(t.text, s.opts.WhereIgnoresOffset)
			if err != nil {
				return nil, badWhere("%s takes a date, got %q", col.Name, t.text)
			}
			return tm, nil
		}
		return t.text, nil
	}}
	return p.parse()
}

type orderKey struct {
	col  string
	desc bool
}

func (s *Server) parseOrder(e *entity, spec string) ([]orderKey, *apiError) {
	var out []orderKey
	for _, part := range strings.Split(spec, ",") {
		f := strings.Fields(part)
		if len(f) == 0 || len(f) > 2 {
			return nil, &apiError{status: http.StatusBadRequest, code: "BadQueryParameter", message: fmt.Sprintf("invalid orderBy %q", spec)}
		}
		col, ok := e.col(f[0])
		if !ok {
			return nil, &apiError{status: http.StatusBadRequest, code: "BadQueryParameter", message: fmt.Sprintf("orderBy: unknown field %s", f[0])}
		}
		k := orderKey{col: strings.ToLower(col.Name)}
		if len(f) == 2 {
			switch strings.ToLower(f[1]) {
			case "asc":
			case "desc":
				k.desc = true
			default:
				return nil, &apiError{status: http.StatusBadRequest, code: "BadQueryParameter", message: fmt.Sprintf("orderBy: %q is not asc or desc", f[1])}
			}
		}
		out = append(out, k)
	}
	return out, nil
}

// feed answers GET {entity} (C2 endpoint 1).
func (s *Server) feed(w http.ResponseWriter, r *http.Request, e *entity, q map[string][]string) {
	get := func(k string) string {
		for name, v := range q {
			if strings.EqualFold(name, k) && len(v) > 0 {
				return v[0]
			}
		}
		return ""
	}
	start, count := 1, s.opts.DefaultCount
	if v := get("startIndex"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.fail(w, &apiError{status: http.StatusBadRequest, code: "BadQueryParameter", message: "startIndex must be a positive integer"})
			return
		}
		start = n
	}
	if v := get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.fail(w, &apiError{status: http.StatusBadRequest, code: "BadQueryParameter", message: "count must be a non-negative integer"})
			return
		}
		count = min(n, s.opts.MaxCount)
	}
	var order []orderKey
	if v := get("orderBy"); v != "" {
		if s.opts.Release == Release2019R2 {
			// B3: orderBy arrived in 2024 R2.
			s.fail(w, &apiError{status: http.StatusBadRequest, code: "BadQueryParameter", message: "orderBy is not supported"})
			return
		}
		var aerr *apiError
		if order, aerr = s.parseOrder(e, v); aerr != nil {
			s.fail(w, aerr)
			return
		}
	}
	var sel map[string]bool
	if v := get("select"); v != "" && !s.opts.NoSelect {
		sel = map[string]bool{}
		for _, f := range strings.Split(v, ",") {
			col, ok := e.col(strings.TrimSpace(f))
			if !ok {
				s.fail(w, &apiError{status: http.StatusBadRequest, code: "BadQueryParameter", message: "select: unknown field " + f})
				return
			}
			sel[strings.ToLower(col.Name)] = true
		}
	}
	s.mu.Lock()
	var c cond
	if v := get("where"); v != "" {
		var err error
		if c, err = s.compileWhere(e, v); err != nil {
			s.mu.Unlock()
			s.writeErr(w, err)
			return
		}
	}
	t := s.tables[e.Resource]
	var match []row
	for _, id := range t.ids {
		rr := t.rows[id]
		if deleted(e, rr) || (c != nil && !c.match(rr)) {
			continue
		}
		match = append(match, rr)
	}
	// The stored order is by id: sorting by id ascending alone is a no-op.
	if len(order) == 1 && order[0].col == e.IDCol && !order[0].desc {
		order = nil
	}
	if len(order) > 0 {
		sort.SliceStable(match, func(i, j int) bool {
			for _, k := range order {
				a, b := match[i][k.col], match[j][k.col]
				// NULLs sort first ascending, as in SQL Server.
				var n int
				switch {
				case a == nil && b == nil:
					n = 0
				case a == nil:
					n = -1
				case b == nil:
					n = 1
				default:
					n = compare(a, b)
				}
				if k.desc {
					n = -n
				}
				if n != 0 {
					return n < 0
				}
			}
			return false
		})
	}
	total := len(match)
	var page []any
	for i := start - 1; i < total && len(page) < count; i++ {
		page = append(page, s.render(e, match[i], sel))
	}
	s.mu.Unlock()
	if page == nil {
		page = []any{}
	}
	// B4 "Feed": $baseUrl, $url, $title, $totalResults, $startIndex,
	// $itemsPerPage, $resources.
	s.writeJSON(w, http.StatusOK, map[string]any{
		"$baseUrl":      s.url + s.base + e.Resource,
		"$url":          s.url + r.URL.RequestURI(),
		"$title":        e.Title,
		"$totalResults": total,
		"$startIndex":   start,
		"$itemsPerPage": count,
		"$resources":    page,
	})
}

// render builds an entry (B4 "SingleRecord": $key, $title, $url and the
// fields), dates with the server's offset (B6). The caller holds s.mu.
func (s *Server) render(e *entity, r row, sel map[string]bool) map[string]any {
	id := r[e.IDCol].(int64)
	out := map[string]any{
		"$key":   strconv.FormatInt(id, 10),
		"$title": e.title(r),
		"$url":   fmt.Sprintf("%s%s%s('%d')", s.url, s.base, e.Resource, id),
	}
	for _, col := range e.cols {
		lower := strings.ToLower(col.Name)
		if sel != nil && !sel[lower] {
			continue
		}
		name := col.Name
		if s.opts.LowerCaseFields {
			name = lower
		}
		v := r[lower]
		if t, ok := v.(time.Time); ok {
			v = t.In(s.opts.Location).Format("2006-01-02T15:04:05-07:00")
		}
		out[name] = v
	}
	return out
}

func decodeBody(body []byte) (map[string]any, *apiError) {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	var in map[string]any
	if err := dec.Decode(&in); err != nil || in == nil {
		return nil, &apiError{status: http.StatusBadRequest, code: "BadPayload", message: "the body is not a JSON object"}
	}
	return in, nil
}

// create answers POST {entity} (B5 "Create", C2 endpoint 3).
func (s *Server) create(w http.ResponseWriter, e *entity, body []byte) {
	in, aerr := decodeBody(body)
	if aerr != nil {
		s.fail(w, aerr)
		return
	}
	s.mu.Lock()
	r, err := s.insert(e.Resource, in, integrationUserID)
	var out map[string]any
	if err == nil {
		out = s.render(e, r, nil)
	}
	s.mu.Unlock()
	if err != nil {
		s.writeErr(w, err)
		return
	}
	s.writeJSON(w, s.opts.CreateStatus, out)
}

// modify answers PATCH and PUT on an entry: both are partial updates (B5,
// C2 endpoint 4).
func (s *Server) modify(w http.ResponseWriter, r *http.Request, e *entity, id int64, body []byte) {
	in, aerr := decodeBody(body)
	if aerr != nil {
		s.fail(w, aerr)
		return
	}
	s.mu.Lock()
	next, err := s.update(e.Resource, id, in, integrationUserID)
	var out map[string]any
	if err == nil {
		out = s.render(e, next, nil)
		full := strings.Contains(strings.ReplaceAll(strings.ToLower(r.URL.RawQuery), " ", ""), "returnpartial=false")
		if s.opts.PartialResponse && !full {
			// B3/B5: the answer is built from memory: the fields sent, not a
			// re-read record.
			sent := map[string]bool{}
			for k := range in {
				if col, ok := e.col(k); ok {
					sent[strings.ToLower(col.Name)] = true
				}
			}
			for k := range out {
				if !strings.HasPrefix(k, "$") && !sent[strings.ToLower(k)] {
					delete(out, k)
				}
			}
		}
	}
	s.mu.Unlock()
	if err != nil {
		s.writeErr(w, err)
		return
	}
	s.writeJSON(w, http.StatusOK, out)
}

var typeNames = map[colType]string{tString: "string", tInt: "integer", tDecimal: "decimal", tDateTime: "dateTime", tChoice: "choice"}

func (s *Server) prototype(e *entity) map[string]any {
	props := map[string]any{}
	for _, col := range e.cols {
		name := col.Name
		if s.opts.LowerCaseFields {
			name = strings.ToLower(name)
		}
		// B4 "Metadata": $title, $type, $isMandatory, $isHidden, $isReadOnly.
		p := map[string]any{"$title": col.Title, "$type": typeNames[col.Type], "$isMandatory": col.Mandatory, "$isHidden": false, "$isReadOnly": col.ReadOnly || e.ReadOnly}
		if col.Type == tChoice {
			if s.opts.PrototypeChoices {
				var vs []any
				for _, v := range col.Choices {
					vs = append(vs, map[string]any{"$value": v, "$title": v})
				}
				p["$values"] = vs
			} else {
				p["$type"] = "string"
			}
		}
		props[name] = p
	}
	return map[string]any{
		"$title": e.Title, "$baseUrl": s.url + s.base, "$url": s.url + s.base + "$prototypes/" + e.Resource,
		"$resourceId": e.Resource, "$resourceKind": e.Resource, "$properties": props,
	}
}

// prototypes answers $prototypes and $prototypes/{entity} (B4 "Metadata",
// C2 endpoints 6 and 7).
func (s *Server) prototypes(w http.ResponseWriter, name string) {
	if name != "" {
		e, ok := s.entities[strings.ToLower(name)]
		if !ok {
			s.fail(w, &apiError{status: http.StatusNotFound, code: "ResourceKindNotFound", message: "unknown resource " + name})
			return
		}
		s.writeJSON(w, http.StatusOK, s.prototype(e))
		return
	}
	names := make([]string, 0, len(s.entities))
	for n := range s.entities {
		names = append(names, n)
	}
	sort.Strings(names)
	var res []any
	for _, n := range names {
		res = append(res, s.prototype(s.entities[n]))
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"$totalResults": len(res), "$resources": res})
}

// ManualClock is a settable clock for Options.Now.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewManualClock returns a clock showing t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{t: t} }

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
