package graphtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"
)

// Options configure an emulator. The zero value is a usable emulator with five
// mailbox users and no seeded items.
type Options struct {
	// Addr is the TCP address to listen on; "" means 127.0.0.1:0.
	Addr string
	// Users is the number of seeded mailbox users (user1@contoso.com, ...).
	// 0 means 5; a negative value seeds none.
	Users int
	// Seed makes identifiers, secrets-free seed data and tenant id
	// deterministic.
	Seed int64
	// EventsPerUser is the number of events seeded per user, within ±1 month
	// of Now; a few of them are weekly series and meetings with other users.
	EventsPerUser int
	// ContactsPerUser, TasksPerUser and MessagesPerUser seed the default
	// contact folder, the default To Do list and the Inbox of every user.
	ContactsPerUser, TasksPerUser, MessagesPerUser int
	// Metadata is the CSDL document served at /v1.0/$metadata; nil serves a
	// small built-in document.
	Metadata []byte
	// Latency is added to every HTTP request (not to the requests inside a
	// $batch, which run in the service behind one round trip).
	Latency time.Duration
	// LatencyIncludesService makes Latency the time from a Graph request's
	// arrival to its answer instead of a delay before the request is
	// served: the request is served at once and its answer held back until
	// Latency has passed since it arrived; a request the emulator takes
	// longer to serve is answered as soon as it is served. This is the
	// latency a client measures of the real service — network and service
	// time together; a request counts against its mailbox's four concurrent
	// requests (graph-api-facts §4.1) for as long as it is outstanding — with the
	// emulator's own processing standing for the service's time. Either
	// way a request holds its mailbox slot until it is answered, the
	// parts of a $batch are charged nothing of their own, and requests to
	// the identity platform (answered under the store's lock) are delayed
	// before they are served.
	LatencyIncludesService bool
	// Now is the clock; nil means time.Now. Token lifetimes, delta windows,
	// throttling budgets and seed data follow it.
	Now func() time.Time
	// AccessTokenLifetime is the lifetime of issued access tokens; 0 means
	// 3599 s, the value the identity platform returns (facts §8).
	AccessTokenLifetime time.Duration
	// RefreshTokenLifetime is the inactivity lifetime of refresh tokens; 0
	// means 90 days (facts §8, refresh-tokens.md).
	RefreshTokenLifetime time.Duration
	// MailboxConcurrency is the number of concurrent requests per app and
	// mailbox; 0 means 4 (facts §4.1).
	MailboxConcurrency int
	// MailboxRequestBudget is the number of requests per app and mailbox in a
	// 10-minute period; 0 means 10,000 (facts §4.1).
	MailboxRequestBudget int
	// MailboxUploadBudget is the bytes of POST, PATCH and PUT bodies per app
	// and mailbox in a 5-minute period; 0 means 150 MB (facts §4.1).
	MailboxUploadBudget int
	// DirectoryBudget is the resource units an app may spend on directory
	// requests (users, groups) per 10 seconds; 0 means by tenant size:
	// 3,500 under 50 users, 5,000 up to 500, 8,000 above (facts §4.2).
	DirectoryBudget int
	// Domain is the tenant's verified domain; "" means contoso.com.
	Domain string
}

// Server is a running emulator. All methods are safe for concurrent use.
type Server struct {
	opts     Options
	now      func() time.Time
	listener net.Listener
	http     *http.Server
	base     string // https://127.0.0.1:PORT
	baseURL  *url.URL
	caPEM    []byte
	idKey    *ecdsa.PrivateKey

	// mu guards the tenant and the mailboxes; reads of calendars take it
	// shared (see routeMailbox), everything else exclusively.
	mu      sync.RWMutex
	rng     *mrand.Rand
	src     *lockedSource // rng's source (randBytes)
	tenant  string
	apps    map[string]*App // by client id
	defApp  string
	users   []*userRecord
	groups  []*Group
	boxes   map[string]*mailbox // by user id
	tokens  map[string]*accessToken
	refresh map[string]*refreshToken
	codes   map[string]*authCode
	consent map[string]map[string]bool // user id -> client id -> granted
	revoked map[string]time.Time       // user id -> refresh tokens issued before are revoked
	pagesMu sync.Mutex
	pages   map[string]*pageState // paging and delta tokens (pagesMu; s.mu may be held)
	faults  *Faults
	stats   statsCollector
	limits  limiter
	// propNames holds the property name sets of the events' encodings
	// (see storedJSON).
	propNames propNameSets
	// userKeys indexes users for findUser (see indexUsers).
	userKeys map[string]*userRecord

	wg sync.WaitGroup
}

// Start generates a certificate authority and a server certificate for the
// listen address, seeds the tenant and starts serving TLS. Close stops it.
func Start(opts Options) (*Server, error) {
	if opts.Users == 0 {
		opts.Users = 5
	}
	if opts.Domain == "" {
		opts.Domain = "contoso.com"
	}
	if opts.AccessTokenLifetime <= 0 {
		opts.AccessTokenLifetime = 3599 * time.Second
	}
	if opts.RefreshTokenLifetime <= 0 {
		opts.RefreshTokenLifetime = 90 * 24 * time.Hour
	}
	if opts.MailboxConcurrency <= 0 {
		opts.MailboxConcurrency = 4
	}
	if opts.MailboxRequestBudget <= 0 {
		opts.MailboxRequestBudget = 10000
	}
	if opts.MailboxUploadBudget <= 0 {
		opts.MailboxUploadBudget = 150 << 20
	}
	if opts.EventsPerUser < 0 || opts.ContactsPerUser < 0 || opts.TasksPerUser < 0 || opts.MessagesPerUser < 0 {
		return nil, errors.New("graphtest: seeded item counts must not be negative")
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	src := &lockedSource{src: mrand.NewPCG(uint64(opts.Seed), uint64(opts.Seed)^0x9e3779b97f4a7c15)}
	s := &Server{
		opts:    opts,
		now:     now,
		rng:     mrand.New(src),
		src:     src,
		apps:    map[string]*App{},
		boxes:   map[string]*mailbox{},
		tokens:  map[string]*accessToken{},
		refresh: map[string]*refreshToken{},
		codes:   map[string]*authCode{},
		consent: map[string]map[string]bool{},
		revoked: map[string]time.Time{},
		pages:   map[string]*pageState{},
	}
	s.faults = newFaults()
	s.stats.init()
	s.limits.init()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("graphtest: listening on %s: %w", addr, err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	tlsCfg, caPEM, err := newTLSConfig(host)
	if err != nil {
		ln.Close()
		return nil, err
	}
	idKey, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("graphtest: generating the token signing key: %w", err)
	}
	s.idKey = idKey
	s.caPEM = caPEM
	s.base = "https://" + net.JoinHostPort(host, port)
	if s.baseURL, err = url.Parse(s.base); err != nil {
		ln.Close()
		return nil, fmt.Errorf("graphtest: parsing the base URL %s: %w", s.base, err)
	}
	s.listener = tls.NewListener(ln, tlsCfg)

	s.seed()

	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		// HTTP/1.1 only: fault injection hijacks connections to reset them,
		// which HTTP/2 does not allow.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.http.Serve(s.listener)
	}()
	return s, nil
}

// Close stops serving and waits for the serving goroutine to end.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		_ = s.http.Close()
	}
	s.wg.Wait()
}

// GraphEndpoint is the Graph root, the equivalent of https://graph.microsoft.com;
// the connector appends /v1.0.
func (s *Server) GraphEndpoint() string { return s.base }

// AuthorityHost is the identity platform root with a trailing slash, the
// equivalent of https://login.microsoftonline.com/. Tokens are requested at
// AuthorityHost()+TenantID()+"/oauth2/v2.0/token".
//
// MSAL sends authorities that are not Microsoft's to instance discovery at
// login.microsoftonline.com unless instance discovery is disabled
// (microsoft-authentication-library-for-go apps/internal/oauth/resolvers.go,
// openIDConfigurationEndpoint); clients must set DisableInstanceDiscovery.
func (s *Server) AuthorityHost() string { return s.base + "/" }

// CACertPEM is the PEM encoding of the emulator's certificate authority.
func (s *Server) CACertPEM() []byte { return append([]byte(nil), s.caPEM...) }

// WriteCAFile writes the CA certificate to path (mode 0644) for clients that
// take a CA file.
func (s *Server) WriteCAFile(path string) error {
	if err := os.WriteFile(path, s.caPEM, 0o644); err != nil {
		return fmt.Errorf("graphtest: writing CA file: %w", err)
	}
	return nil
}

// CertPool returns a pool holding only the emulator's CA, for HTTP clients in
// tests.
func (s *Server) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(s.caPEM)
	return p
}

// HTTPClient returns a client that trusts the emulator's CA.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: s.CertPool()},
		MaxIdleConnsPerHost: 64,
	}}
}

// TenantID is the emulated tenant's id (a GUID).
func (s *Server) TenantID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tenant
}

// Now is the emulator's clock.
func (s *Server) Now() time.Time { return s.now() }

// newTLSConfig creates a CA and a server certificate for host, 127.0.0.1, ::1
// and localhost.
func newTLSConfig(host string) (*tls.Config, []byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("graphtest: generating CA key: %w", err)
	}
	notBefore := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "syncplane Graph emulator CA"},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(crand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("graphtest: creating CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, fmt.Errorf("graphtest: parsing CA certificate: %w", err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("graphtest: generating server key: %w", err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    notBefore,
		NotAfter:     notBefore.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if ip := net.ParseIP(host); ip != nil {
		leafTmpl.IPAddresses = append(leafTmpl.IPAddresses, ip)
	} else if host != "localhost" {
		leafTmpl.DNSNames = append(leafTmpl.DNSNames, host)
	}
	leafDER, err := x509.CreateCertificate(crand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("graphtest: creating server certificate: %w", err)
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		Certificates: []tls.Certificate{{
			Certificate: [][]byte{leafDER, caDER},
			PrivateKey:  leafKey,
		}},
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return cfg, caPEM, nil
}

// lockedSource is the seeded generator behind Server.rng, safe for
// concurrent use: writes of events in different mailboxes run at once
// (see routeMailbox) and draw ids and change keys from it.
type lockedSource struct {
	mu  sync.Mutex
	src mrand.Source
}

// Uint64 returns the next number of the source.
func (l *lockedSource) Uint64() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.src.Uint64()
}

// fill sets every byte of b to the low byte of the source's next number,
// in order, under one lock: the bytes byte(rng.UintN(256)) draws one by
// one (UintN of a power of two masks one Uint64), without taking the lock
// for each.
func (l *lockedSource) fill(b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range b {
		b[i] = byte(l.src.Uint64())
	}
}

// randBytes fills b from the seeded generator, as many calls of
// byte(s.rng.UintN(256)) would.
func (s *Server) randBytes(b []byte) { s.src.fill(b) }

// newGUID returns a GUID from the seeded generator.
func (s *Server) newGUID() string {
	var b [16]byte
	s.randBytes(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// randomToken returns an unguessable opaque string from crypto/rand.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return b64url(b)
}

// requestID returns a fresh GUID-shaped request id.
func requestID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	// The 8-4-4-4-12 hex form, written without fmt.
	const digits = "0123456789abcdef"
	var out [36]byte
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = digits[c>>4], digits[c&15]
		j += 2
	}
	return string(out[:])
}

func itoa(n int) string { return strconv.Itoa(n) }
