package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// emulatorInfo is what `syncplane emulate graph --json` prints.
type emulatorInfo struct {
	GraphEndpoint string   `json:"graph_endpoint"`
	AuthorityHost string   `json:"authority_host"`
	CAFile        string   `json:"ca_file"`
	TenantID      string   `json:"tenant_id"`
	ClientID      string   `json:"client_id"`
	ClientSecret  string   `json:"client_secret"`
	Permissions   []string `json:"permissions"`
	Users         int      `json:"users"`
}

// startEmulateGraph runs `syncplane emulate graph ARGS...` until the test
// ends and returns what it prints.
func startEmulateGraph(t *testing.T, args ...string) io.Reader {
	t.Helper()
	out, stop := runEmulateGraph(t, args...)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return out
}

// runEmulateGraph runs `syncplane emulate graph ARGS...` and returns what
// it prints and a function that interrupts it and waits for it to end.
func runEmulateGraph(t *testing.T, args ...string) (io.Reader, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	root := newRootCmd()
	root.SetArgs(append([]string{"emulate", "graph"}, args...))
	root.SetOut(pw)
	root.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() {
		done <- root.ExecuteContext(ctx)
		pw.Close()
	}()
	stopped := false
	return pr, func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		go io.Copy(io.Discard, pr)
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("emulate graph ended with %v", err)
			}
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("emulate graph did not stop when its context ended")
		}
	}
}

// emulatorClient reads the connection details `emulate graph --json`
// printed to out and returns them with an HTTP client that trusts the CA
// it wrote to ca.
func emulatorClient(t *testing.T, out io.Reader, ca string) (emulatorInfo, *http.Client) {
	t.Helper()
	var info emulatorInfo
	if err := json.NewDecoder(out).Decode(&info); err != nil {
		t.Fatalf("reading the printed connection details: %v", err)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("the CA file holds no certificate")
	}
	return info, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
}

// TestEmulateGraphStatsFile: with --stats-file the emulator writes, when
// interrupted, the requests it served and the CPU time it spent serving.
func TestEmulateGraphStatsFile(t *testing.T) {
	dir := t.TempDir()
	ca, statsFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "stats.json")
	out, stop := runEmulateGraph(t, "--users", "2", "--json", "--ca-file", ca, "--stats-file", statsFile)
	defer stop()
	info, hc := emulatorClient(t, out, ca)
	for range 3 {
		resp, err := hc.Get(strings.TrimSuffix(info.GraphEndpoint, "/") + "/v1.0/$metadata")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if _, err := os.Stat(statsFile); err == nil {
		t.Fatal("the statistics were written before the emulator was interrupted")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(statsFile)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Requests          map[string]int `json:"requests"`
		Total             int            `json:"total"`
		ServingCPUSeconds float64        `json:"serving_cpu_seconds"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	if st.Requests["metadata"] != 3 || st.Total != 3 {
		t.Errorf("stats file says %d $metadata requests of %d, want 3 of 3:\n%s", st.Requests["metadata"], st.Total, data)
	}
	if runtime.GOOS == "linux" && st.ServingCPUSeconds <= 0 || runtime.GOOS != "linux" && st.ServingCPUSeconds != -1 {
		t.Errorf("serving_cpu_seconds %v on %s", st.ServingCPUSeconds, runtime.GOOS)
	}
}

// TestEmulateGraphLatencyModel: --latency alone delays each request
// before it is served; with --latency-includes-service the latency is the
// time from a Graph request's arrival to its answer. Either way a Graph
// request is answered no sooner than the latency.
func TestEmulateGraphLatencyModel(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{{[]string{"--latency", "40ms"}, false}, {[]string{"--latency", "40ms", "--latency-includes-service"}, true}} {
		var emu graphEmulatorFlags
		cmd := &cobra.Command{}
		emu.add(cmd)
		if err := cmd.ParseFlags(tc.args); err != nil {
			t.Fatal(err)
		}
		opts, err := emu.options()
		if err != nil {
			t.Fatal(err)
		}
		if opts.Latency != 40*time.Millisecond || opts.LatencyIncludesService != tc.want {
			t.Errorf("%v: latency %v, includes service %v; want 40ms, %v", tc.args, opts.Latency, opts.LatencyIncludesService, tc.want)
		}
	}
	const latency = 150 * time.Millisecond
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	out := startEmulateGraph(t, "--users", "1", "--latency", latency.String(), "--latency-includes-service", "--json", "--ca-file", ca)
	info, hc := emulatorClient(t, out, ca)
	began := time.Now()
	resp, err := hc.Get(strings.TrimSuffix(info.GraphEndpoint, "/") + "/v1.0/$metadata")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if took := time.Since(began); resp.StatusCode != 200 || took < latency {
		t.Errorf("$metadata: HTTP %d after %v, want 200 after at least %v", resp.StatusCode, took, latency)
	}
}

// TestEmulateGraphCommand runs the emulator standalone with every flag and
// uses what it prints: the CA file is trusted, the credentials get a
// token, the seeded users are listed, the given $metadata is served, the
// scripted fault and the latency apply.
func TestEmulateGraphCommand(t *testing.T) {
	dir := t.TempDir()
	meta := filepath.Join(dir, "meta.xml")
	csdl := `<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices><Schema Namespace="microsoft.graph" xmlns="http://docs.oasis-open.org/odata/ns/edm"><EntityType Name="marker"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.String" Nullable="false"/></EntityType></Schema></edmx:DataServices></edmx:Edmx>`
	if err := os.WriteFile(meta, []byte(csdl), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	out := startEmulateGraph(t, "--addr", "127.0.0.1:0", "--metadata", meta, "--users", "7", "--seed", "3",
		"--latency", "30ms", "--faults", "kind=503,path=/v1.0/users,times=1", "--json", "--ca-file", ca)
	info, hc := emulatorClient(t, out, ca)
	if info.CAFile != ca || info.Users != 7 || info.TenantID == "" || info.ClientID == "" || info.ClientSecret == "" ||
		!strings.HasPrefix(info.GraphEndpoint, "https://") || !strings.HasPrefix(info.AuthorityHost, "https://") {
		t.Fatalf("printed %+v", info)
	}
	resp, err := hc.PostForm(strings.TrimSuffix(info.AuthorityHost, "/")+"/"+info.TenantID+"/oauth2/v2.0/token", url.Values{
		"client_id": {info.ClientID}, "client_secret": {info.ClientSecret}, "grant_type": {"client_credentials"},
		"scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 200 || tok.AccessToken == "" {
		t.Fatalf("token request: HTTP %d", resp.StatusCode)
	}
	get := func(path string) (int, []byte, time.Duration) {
		req, _ := http.NewRequest("GET", strings.TrimSuffix(info.GraphEndpoint, "/")+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		began := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b, time.Since(began)
	}
	if status, _, _ := get("/v1.0/users"); status != 503 {
		t.Errorf("first /users: HTTP %d, want the scripted 503", status)
	}
	status, body, took := get("/v1.0/users")
	var users struct {
		Value []map[string]any `json:"value"`
	}
	if err := json.Unmarshal(body, &users); status != 200 || err != nil || len(users.Value) != 7 {
		t.Errorf("/users: HTTP %d, %d users, %v", status, len(users.Value), err)
	}
	if took < 30*time.Millisecond {
		t.Errorf("/users took %v, less than the 30ms latency", took)
	}
	if status, body, _ := get("/v1.0/$metadata"); status != 200 || !bytes.Equal(body, []byte(csdl)) {
		t.Errorf("$metadata: HTTP %d, %d bytes, want the --metadata file", status, len(body))
	}
}

// TestEmulateGraphCommandText checks the human-readable output names what
// a person needs to configure a connection, and that a bad fault spec is
// refused naming the flag.
func TestEmulateGraphCommandText(t *testing.T) {
	out := startEmulateGraph(t, "--users", "2")
	buf := make([]byte, 0, 1024)
	deadline := time.Now().Add(20 * time.Second)
	for !bytes.Contains(buf, []byte("serving until interrupted")) && time.Now().Before(deadline) {
		chunk := make([]byte, 512)
		n, err := out.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if err != nil {
			break
		}
	}
	text := string(buf)
	for _, want := range []string{"graph endpoint:  https://", "authority host:  https://", "CA file:", "tenant id:", "client id:", "client secret:", "users:           2"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	_, _, err := runCmd(t, "emulate", "graph", "--faults", "kind=teapot")
	if err == nil || !strings.Contains(err.Error(), "--faults") {
		t.Errorf("bad --faults: %v", err)
	}
}
