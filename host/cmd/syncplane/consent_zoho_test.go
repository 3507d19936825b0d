package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/zoho"
	"github.com/syncplane/syncplane/connector/zoho/zohotest"
	"github.com/syncplane/syncplane/host/store"
)

// TestConsentZoho runs `syncplane consent zoho` against the Zoho emulator's
// accounts server: the printed authorization URL asks for offline access
// with the connector's scopes, a redirect with a foreign state is refused
// while the command keeps waiting, the real redirect's code is exchanged,
// the refresh token lands in the state store (and is never printed), and a
// connector configured without refresh_token signs in with it.
func TestConsentZoho(t *testing.T) {
	srv, err := zohotest.Start(zohotest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	redirect := fmt.Sprintf("http://127.0.0.1:%d/zoho/callback", port)
	cfg := fmt.Sprintf(`state: %s
connections:
  crm:
    connector: zoho
    settings:
      client_id: %s
      client_secret: %s
      redirect_uri: %s
      accounts_url: %s
      ca_file: %s
  out:
    connector: jsonl
    settings: { dir: %s }
pipelines:
  - name: p
    from: { connection: crm, entity: Contacts }
    to: { connection: out, entity: contacts }
    mapping:
      Last_Name: Last_Name
`, filepath.Join(dir, "state.db"), srv.ClientID(), srv.ClientSecret(), redirect, srv.AccountsURL(""), srv.CAFile(), filepath.Join(dir, "out"))
	file := filepath.Join(dir, "syncplane.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	var out syncBuffer
	root := newRootCmd()
	root.SetArgs([]string{"consent", "zoho", "--connection", "crm", "-c", file, "--timeout", "30s"})
	root.SetOut(io.MultiWriter(pw, &out))
	done := make(chan error, 1)
	go func() {
		done <- root.ExecuteContext(context.Background())
		pw.Close()
	}()
	var authURL string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "https://") {
			authURL = line
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if authURL == "" {
		t.Fatalf("no authorization URL printed: %v", <-done)
	}
	au, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := au.Query()
	if !strings.HasPrefix(authURL, srv.AccountsURL("")+"/oauth/v2/auth?") || q.Get("client_id") != srv.ClientID() || q.Get("response_type") != "code" ||
		q.Get("access_type") != "offline" || q.Get("prompt") != "consent" || q.Get("redirect_uri") != redirect || q.Get("state") == "" ||
		q.Get("scope") != strings.Join(zoho.Scopes, ",") {
		t.Fatalf("authorization URL lacks a parameter: %s", authURL)
	}
	// A redirect that does not carry the command's state is refused and
	// does not end the wait.
	resp, err := http.Get(redirect + "?code=forged&state=other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a redirect with a foreign state: want 400, got %d", resp.StatusCode)
	}
	select {
	case err := <-done:
		t.Fatalf("the command ended on a redirect with a foreign state: %v", err)
	default:
	}
	browser := srv.HTTPClient()
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back := resp.Header.Get("Location")
	if !strings.HasPrefix(back, redirect+"?") {
		t.Fatalf("authorize answered %d with Location %q", resp.StatusCode, back)
	}
	resp, err = http.Get(back)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the redirect with the code: want 200, got %d", resp.StatusCode)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("consent zoho did not finish")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	host := st.Host("crm")
	rt, ok, err := host.Secrets().Get(ctx, zoho.RefreshTokenKey)
	if err != nil || !ok || len(rt) == 0 {
		t.Fatalf("refresh token not stored: found %v, %v", ok, err)
	}
	if strings.Contains(out.String(), string(rt)) {
		t.Errorf("the command printed the refresh token")
	}
	if d, ok, _ := host.Values().Get(ctx, zoho.APIDomainKey); !ok || string(d) != srv.APIDomain("") {
		t.Errorf("api_domain: want %s stored, got %q", srv.APIDomain(""), d)
	}
	// The connector of the connection, configured from the same settings
	// (no refresh_token), signs in with the stored token.
	settings := fmt.Sprintf(`{"client_id":%q,"client_secret":%q,"redirect_uri":%q,"accounts_url":%q,"ca_file":%q}`,
		srv.ClientID(), srv.ClientSecret(), redirect, srv.AccountsURL(""), srv.CAFile())
	c := connector.Local(zoho.New())
	defer c.Close()
	if err := c.Configure(ctx, connector.ConfigureRequest{Connection: "crm", Settings: []byte(settings), Host: host}); err != nil {
		t.Fatalf("Configure with the stored token: %v", err)
	}
	if ds := c.Check(ctx); ds.HasError() {
		t.Fatalf("Check with the stored token: %v", ds)
	}
	// Without a stored token the same settings are refused, naming the
	// command to run.
	err = connector.Local(zoho.New()).Configure(ctx, connector.ConfigureRequest{Connection: "crm", Settings: []byte(settings), Host: &connector.MemoryHost{}})
	if err == nil || !strings.Contains(err.Error(), "syncplane consent zoho --connection crm") {
		t.Errorf("Configure without any refresh token: want an error naming the consent command, got %v", err)
	}
	// syncplane validate configures the connector with the state store's
	// host services, so it finds the stored token too.
	var vout bytes.Buffer
	v := newRootCmd()
	v.SetArgs([]string{"validate", "-c", file, "--in-process"})
	v.SetOut(&vout)
	v.SetErr(io.Discard)
	_ = v.ExecuteContext(ctx) // the jsonl side has no "contacts" file yet: an error about that only
	if got := vout.String(); strings.Contains(got, "consent") || strings.Contains(got, "refresh_token") || !strings.Contains(got, `no entity "contacts"`) {
		t.Errorf("validate after consent: want the connection crm accepted (and the live check to have run), got:\n%s", got)
	}
}
