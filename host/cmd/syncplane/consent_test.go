package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector/graph"
	"github.com/syncplane/syncplane/connector/graph/graphtest"
	"github.com/syncplane/syncplane/host/store"
)

// TestConsentAdmin runs `syncplane consent admin` against the Graph
// emulator: the printed sign-in URL is followed as a browser would, the
// code reaches the command's listener, and the refresh token lands in the
// encrypted state store under the connection.
func TestConsentAdmin(t *testing.T) {
	srv, err := graphtest.Start(graphtest.Options{Users: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := srv.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	app := srv.App()
	cfg := fmt.Sprintf(`state: %s
connections:
  m365:
    connector: graph
    settings:
      tenant_id: %s
      client_id: %s
      client_secret: %s
      auth: admin_refresh_token
      redirect_uri: http://127.0.0.1:%d/callback
      cloud: custom
      authority_host: %s
      graph_endpoint: %s
      ca_file: %s
      users: { list: user1@contoso.com }
  out:
    connector: jsonl
    settings: { dir: %s }
pipelines:
  - name: p
    from: { connection: m365, entity: event }
    to: { connection: out, entity: meetings }
    mapping:
      Subject: subject
`, filepath.Join(dir, "state.db"), srv.TenantID(), app.ClientID, app.ClientSecret, port, srv.AuthorityHost(), srv.GraphEndpoint(), ca, filepath.Join(dir, "out"))
	file := filepath.Join(dir, "syncplane.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	root := newRootCmd()
	root.SetArgs([]string{"consent", "admin", "--connection", "m365", "-c", file, "--timeout", "30s"})
	root.SetOut(pw)
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
		t.Fatalf("no sign-in URL printed: %v", <-done)
	}
	browser := srv.HTTPClient()
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back := resp.Header.Get("Location")
	if !strings.HasPrefix(back, fmt.Sprintf("http://127.0.0.1:%d/callback?", port)) {
		t.Fatalf("authorize answered %d with Location %q", resp.StatusCode, back)
	}
	resp, err = http.Get(back)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("consent admin did not finish")
	}
	st, err := store.Open(context.Background(), filepath.Join(dir, "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rt, ok, err := st.Host("m365").Secrets().Get(context.Background(), graph.AdminTokenKey)
	if err != nil || !ok || len(rt) == 0 {
		t.Fatalf("refresh token not stored: found %v, %v", ok, err)
	}
}
