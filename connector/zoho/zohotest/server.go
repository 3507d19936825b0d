// Package zohotest is a stateful, in-memory emulator of the parts of Zoho
// CRM (REST API v8) and of Zoho's OAuth accounts servers that the Zoho
// connector uses. Per data centre it runs an accounts server
// (/oauth/v2/token) and a CRM API server ({api_domain}/crm/v8), both over TLS
// with a certificate authority generated at start, so the connector reaches
// it through its ordinary settings (accounts_url, api_domain, ca_file).
//
// Every behaviour cites the section of the project's reference file
// crm-api-facts.md (abbreviated "§A…" for Part A, "§C1" for the emulator
// specification), which in turn cites the Zoho documentation page. Where the
// documentation leaves a detail open, the comment says UNCONFIRMED and the
// emulator's choice is configurable where that matters.
package zohotest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Options configure an emulator. The zero value is a usable Enterprise
// emulator for the "us" data centre with ten user licences.
type Options struct {
	// DataCenters lists the data centres to run (us, eu, in, au, jp, cn, sa,
	// ca); each gets its own accounts server, API server and org. Empty means
	// ["us"].
	DataCenters []string
	// Edition decides the API credits and the concurrency limit (§A7): free,
	// standard, professional, enterprise (default) or ultimate.
	Edition string
	// Users is the number of user licences, which scale the credits (§A7);
	// 0 means 10.
	Users int
	// Credits overrides the credits per rolling 24 hours; 0 derives them
	// from Edition and Users.
	Credits int
	// Concurrency overrides the concurrency limit; 0 derives it from
	// Edition (§A7).
	Concurrency int
	// SubConcurrency is the limit of heavy calls in flight (search, COQL,
	// writes of more than 10 records); 0 means 10 (§A7).
	SubConcurrency int
	// Latency is added to every API call while it counts as in flight.
	Latency time.Duration
	// Now is the clock; nil means time.Now. Token expiry, Modified_Time,
	// page-token expiry and the 24-hour credit window follow it.
	Now func() time.Time
	// TimeZone is the org's time zone in which date-times are rendered
	// (§A3.3 field formats: "returned in the user's time zone"); nil means
	// a fixed +05:30, the offset of the documentation's samples.
	TimeZone *time.Location
	// AccessTokenLifetime is the access-token lifetime; 0 means 1 h (§A2).
	AccessTokenLifetime time.Duration
	// RefreshLimit is the number of access tokens one refresh token may
	// obtain within RefreshWindow before the accounts server answers "Access
	// Denied" (§A2 limits: 10 per 10 minutes; UNCONFIRMED which of the two
	// documented limits applies). 0 means 10; RefreshWindow 0 means 10 min.
	RefreshLimit  int
	RefreshWindow time.Duration
	// LenientPicklists accepts picklist values that are not in the field's
	// list (§C1 validation ⚠: unrestricted picklists). Default strict.
	LenientPicklists bool
	// UnknownIDStatus is the answer to GET /{module}/{id} for an unknown id:
	// 204 (default) or 400 INVALID_DATA (§A3.2, UNCONFIRMED which).
	UnknownIDStatus int
	// SearchIndexLag hides records modified less than this long ago from
	// /search (§A3.9: search is index-lagged).
	SearchIndexLag time.Duration
	// CustomFields adds that many custom text fields (Custom_Field_1, …) to
	// a module, as orgs do; a module with more than 50 fields cannot be
	// read in one list call (§A3.1 fields ≤ 50).
	CustomFields map[string]int
	// Scopes are the scopes of the refresh token RefreshToken returns; nil
	// means every scope the connector needs plus search (§A2 scopes).
	Scopes []string
}

// Hosts of a data centre, for messages (§A2 table).
var dcNames = map[string]bool{"us": true, "eu": true, "in": true, "au": true, "jp": true, "cn": true, "sa": true, "ca": true}

// DefaultScopes is the minimal scope set of §A2 plus ZohoSearch.securesearch.READ.
var DefaultScopes = []string{"ZohoCRM.modules.ALL", "ZohoCRM.settings.fields.READ", "ZohoCRM.settings.modules.READ",
	"ZohoCRM.settings.layouts.READ", "ZohoCRM.coql.READ", "ZohoCRM.users.READ", "ZohoCRM.org.READ", "ZohoSearch.securesearch.READ"}

// Server is a running emulator. All methods are safe for concurrent use.
type Server struct {
	opts    Options
	now     func() time.Time
	tz      *time.Location
	caPEM   []byte
	caFile  string
	tmpDir  string
	dcs     map[string]*dataCenter
	dcOrder []string
	servers []*http.Server
	wg      sync.WaitGroup

	clientID, clientSecret string

	mu     sync.Mutex
	faults []*Fault
	calls  int64
}

// dataCenter is one data centre: its accounts server, API server and org.
type dataCenter struct {
	name        string
	accountsURL string
	apiDomain   string
	org         *org
}

// Start generates a certificate authority, starts the accounts and API
// servers of every data centre on loopback and returns once they serve.
// Close stops them.
func Start(opts Options) (*Server, error) {
	if len(opts.DataCenters) == 0 {
		opts.DataCenters = []string{"us"}
	}
	if opts.Edition == "" {
		opts.Edition = "enterprise"
	}
	if opts.Users == 0 {
		opts.Users = 10
	}
	if opts.AccessTokenLifetime <= 0 {
		opts.AccessTokenLifetime = time.Hour
	}
	if opts.RefreshLimit <= 0 {
		opts.RefreshLimit = 10
	}
	if opts.RefreshWindow <= 0 {
		opts.RefreshWindow = 10 * time.Minute
	}
	if opts.SubConcurrency <= 0 {
		opts.SubConcurrency = 10
	}
	if opts.UnknownIDStatus == 0 {
		opts.UnknownIDStatus = http.StatusNoContent
	}
	if opts.Scopes == nil {
		opts.Scopes = DefaultScopes
	}
	credits, conc, err := editionLimits(opts.Edition, opts.Users)
	if err != nil {
		return nil, err
	}
	if opts.Credits == 0 {
		opts.Credits = credits
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = conc
	}
	s := &Server{opts: opts, now: opts.Now, tz: opts.TimeZone, dcs: map[string]*dataCenter{},
		clientID: "1000.EMULATORCLIENT0000000000000001", clientSecret: randomHex(20)}
	if s.now == nil {
		s.now = time.Now
	}
	if s.tz == nil {
		s.tz = time.FixedZone("+05:30", 5*3600+1800)
	}
	tlsCfg, caPEM, err := newTLSConfig()
	if err != nil {
		return nil, err
	}
	s.caPEM = caPEM
	s.tmpDir, err = os.MkdirTemp("", "zohotest-")
	if err != nil {
		return nil, fmt.Errorf("zohotest: creating a directory for the CA file: %w", err)
	}
	s.caFile = filepath.Join(s.tmpDir, "ca.pem")
	if err := os.WriteFile(s.caFile, caPEM, 0o600); err != nil {
		s.Close()
		return nil, fmt.Errorf("zohotest: writing the CA file: %w", err)
	}
	for i, name := range opts.DataCenters {
		name = strings.ToLower(name)
		if !dcNames[name] {
			s.Close()
			return nil, fmt.Errorf("zohotest: unknown data centre %q (want us, eu, in, au, jp, cn, sa or ca)", name)
		}
		dc := &dataCenter{name: name}
		dc.org = newOrg(s, dc, int64(i))
		acc, err := s.listen(tlsCfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveAccounts(dc, w, r) }))
		if err != nil {
			s.Close()
			return nil, err
		}
		api, err := s.listen(tlsCfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveAPI(dc, w, r) }))
		if err != nil {
			s.Close()
			return nil, err
		}
		dc.accountsURL, dc.apiDomain = acc, api
		s.dcs[name] = dc
		s.dcOrder = append(s.dcOrder, name)
	}
	return s, nil
}

func (s *Server) listen(tlsCfg *tls.Config, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("zohotest: listening on loopback: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	s.servers = append(s.servers, srv)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.Serve(tls.NewListener(ln, tlsCfg))
	}()
	return "https://" + ln.Addr().String(), nil
}

// Close stops every server, waits for them and removes the CA file.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range s.servers {
		_ = srv.Shutdown(ctx)
	}
	s.wg.Wait()
	if s.tmpDir != "" {
		_ = os.RemoveAll(s.tmpDir)
	}
}

func (s *Server) dc(name string) *dataCenter {
	if name == "" {
		return s.dcs[s.dcOrder[0]]
	}
	if d, ok := s.dcs[name]; ok {
		return d
	}
	panic(fmt.Sprintf("zohotest: data centre %q is not running", name))
}

// AccountsURL is the accounts server of a data centre ("" means the first).
func (s *Server) AccountsURL(dc string) string { return s.dc(dc).accountsURL }

// APIDomain is the api_domain of a data centre ("" means the first): the
// value the token response carries (§A2).
func (s *Server) APIDomain(dc string) string { return s.dc(dc).apiDomain }

// CAFile is the path of the PEM file of the emulator's certificate
// authority; it exists until Close.
func (s *Server) CAFile() string { return s.caFile }

// CAPEM returns the certificate authority in PEM.
func (s *Server) CAPEM() []byte { return append([]byte(nil), s.caPEM...) }

// HTTPClient returns a client that trusts the emulator's authority.
func (s *Server) HTTPClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.caPEM)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: false}}
}

// ClientID is the registered OAuth client's id.
func (s *Server) ClientID() string { return s.clientID }

// ClientSecret is the registered OAuth client's secret.
func (s *Server) ClientSecret() string { return s.clientSecret }

// RefreshToken issues a new refresh token of the first data centre with
// Options.Scopes, as the self-client flow would (§A2).
func (s *Server) RefreshToken() string {
	return s.IssueRefreshToken("", s.opts.Scopes...)
}

// IssueRefreshToken issues a refresh token of a data centre with the given
// scopes.
func (s *Server) IssueRefreshToken(dc string, scopes ...string) string {
	return s.dc(dc).org.auth.issueRefresh(scopes)
}

// GrantCode issues a grant (authorization) code for the given scopes,
// valid for lifetime (2 minutes when 0, §A2), to be exchanged with
// grant_type=authorization_code and the same redirect_uri.
func (s *Server) GrantCode(dc, redirectURI string, lifetime time.Duration, scopes ...string) string {
	if lifetime <= 0 {
		lifetime = 2 * time.Minute
	}
	return s.dc(dc).org.auth.issueCode(redirectURI, lifetime, true, scopes)
}

// ExpireAccessTokens makes every access token issued so far invalid, as if
// their hour had passed (fault injection: expiry mid-pagination, §C1).
func (s *Server) ExpireAccessTokens() {
	for _, d := range s.dcs {
		d.org.auth.expireAll()
	}
}

// Fault makes matching API calls fail. A call matches when its method (if
// set) and the path containing PathContains (if set) match; the first After
// matching calls pass, then Times calls fail (0 means every later call).
type Fault struct {
	Method       string
	PathContains string
	After        int
	Times        int
	// Status and Code form the answer: {"code":Code,...,"status":"error"}.
	Status int
	Code   string
	// Delay, when set, is added to the matching calls instead of failing
	// them (Status 0).
	Delay time.Duration

	seen, failed int
}

// InjectFault adds a fault; faults are checked in the order added.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// SetLatency changes the latency added to every API call.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Latency = d
}

func (s *Server) latency() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.Latency
}

func (s *Server) fault(r *http.Request) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.Method != "" && !strings.EqualFold(f.Method, r.Method) {
			continue
		}
		if f.PathContains != "" && !strings.Contains(r.URL.Path, f.PathContains) {
			continue
		}
		f.seen++
		if f.seen <= f.After {
			continue
		}
		if f.Times > 0 && f.failed >= f.Times {
			continue
		}
		f.failed++
		c := *f
		return &c
	}
	return nil
}

// Stats are counters of the API calls a data centre's org served.
type Stats struct {
	// Calls counts every API call answered, refused ones included.
	Calls int64
	// WriteCalls counts insert, update, upsert and delete calls.
	WriteCalls int64
	// Credits is the API credits consumed, as Zoho counts them (§A7).
	Credits int64
	// Throttled counts the calls refused with 429.
	Throttled int64
	// MaxInFlight is the highest number of calls in flight at once.
	MaxInFlight int
	// TokenRequests counts calls to the accounts server's token endpoint.
	TokenRequests int64
}

// Stats returns the counters of a data centre ("" means the first).
func (s *Server) Stats(dc string) Stats { return s.dc(dc).org.stats() }

// ResetStats zeroes the counters (not the 24-hour credit window).
func (s *Server) ResetStats(dc string) { s.dc(dc).org.resetStats() }

func editionLimits(edition string, users int) (credits, concurrency int, err error) {
	// §A7 tables: credits per rolling 24 h and concurrency per edition.
	switch strings.ToLower(edition) {
	case "free":
		return 5000, 5, nil
	case "standard", "starter":
		return min(50000+250*users, 100000), 10, nil
	case "professional":
		return min(50000+500*users, 3000000), 15, nil
	case "enterprise", "zohoone", "zoho_one":
		return min(50000+1000*users, 5000000), 20, nil
	case "ultimate", "crmplus", "crm_plus":
		return 50000 + 2000*users, 25, nil
	}
	return 0, 0, fmt.Errorf("zohotest: unknown edition %q (want free, standard, professional, enterprise or ultimate)", edition)
}

// newTLSConfig generates a CA and a server certificate for loopback.
func newTLSConfig() (*tls.Config, []byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("zohotest: generating the CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "zohotest emulator CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("zohotest: creating the CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, fmt.Errorf("zohotest: parsing the CA certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("zohotest: generating the server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("zohotest: creating the server certificate: %w", err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, caPEM, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("zohotest: no randomness"))
	}
	return fmt.Sprintf("%x", b)
}
