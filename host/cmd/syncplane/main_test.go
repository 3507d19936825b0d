package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/host/bundled"
	"github.com/syncplane/syncplane/schema"
)

// envTestConnector makes the test binary serve testConnector, as an
// external plugin would.
const envTestConnector = "SYNCPLANE_CLI_TEST_CONNECTOR"

// TestMain lets the test binary stand in for the syncplane executable when
// the host re-executes itself (`connector serve NAME`), and serve a test
// connector when started as an external plugin.
func TestMain(m *testing.M) {
	if os.Getenv(envTestConnector) != "" {
		connector.Serve(testConnector{})
		return
	}
	if len(os.Args) > 2 && os.Args[1] == "connector" && os.Args[2] == "serve" {
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

type testConnector struct{}

func (testConnector) Spec() connector.Spec {
	return connector.Spec{Name: "acme", Version: "2.0.1", DisplayName: "Acme CRM",
		SettingsSchema: json.RawMessage(`{"type":"object","required":["api_key"]}`), SecretSettings: []string{"/api_key"}}
}
func (testConnector) Configure(context.Context, connector.ConfigureRequest) error { return nil }
func (testConnector) Check(context.Context) connector.Diagnostics                 { return nil }
func (testConnector) DiscoverSchema(context.Context, bool) (*schema.Schema, error) {
	return &schema.Schema{}, nil
}
func (testConnector) ListPartitions(context.Context, string) (connector.Partitions, error) {
	return connector.Partitions{}, nil
}
func (testConnector) Close() error { return nil }
func (testConnector) Query(context.Context, connector.QueryRequest) ([]connector.Record, error) {
	return nil, nil
}

// pluginDir returns a plugin directory holding the external connector
// "acme" (this test binary) with its checksum file.
func pluginDir(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := "#!/bin/sh\n" + envTestConnector + "=1 exec '" + exe + "'\n"
	path := filepath.Join(dir, "syncplane-connector-acme")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(script))
	if err := os.WriteFile(path+".sha256", []byte(hex.EncodeToString(sum[:])+"  syncplane-connector-acme\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestConnectorsCommand(t *testing.T) {
	dir := pluginDir(t)
	out, stderr, err := runCmd(t, "connectors", "--json", "--plugin-dir", dir)
	if err != nil {
		t.Fatalf("connectors --json: %v\n%s", err, stderr)
	}
	var rows []connectorRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	byName := map[string]connectorRow{}
	for _, r := range rows {
		byName[r.Name] = r
		if r.Error != "" || r.ProtocolVersion != connector.ProtocolVersion || r.Version == "" {
			t.Errorf("row %+v", r)
		}
	}
	for name := range bundled.Factories() {
		if r, ok := byName[name]; !ok || !r.Bundled {
			t.Errorf("bundled connector %s missing or not marked bundled: %+v", name, r)
		}
	}
	acme, ok := byName["acme"]
	if !ok || acme.Bundled || acme.Version != "2.0.1" || !acme.Capabilities.Query || acme.Capabilities.Read || acme.Path != filepath.Join(dir, "syncplane-connector-acme") {
		t.Errorf("external connector row = %+v", acme)
	}

	out, _, err = runCmd(t, "connectors", "--plugin-dir", dir)
	if err != nil || !strings.Contains(out, "NAME") || !strings.Contains(out, "acme") || !strings.Contains(out, "external") {
		t.Errorf("table output: %v\n%s", err, out)
	}
}

func TestConnectorsCommandReportsBrokenPlugin(t *testing.T) {
	dir := pluginDir(t)
	if err := os.WriteFile(filepath.Join(dir, "syncplane-connector-broken"), []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCmd(t, "connectors", "--plugin-dir", dir)
	if err == nil {
		t.Fatal("a broken plugin did not fail the command")
	}
	if !strings.Contains(out, "error: connector broken: checksum file") || !strings.Contains(out, "acme") {
		t.Errorf("output:\n%s", out)
	}
}

func TestConnectorSpecCommand(t *testing.T) {
	dir := pluginDir(t)
	out, _, err := runCmd(t, "connector", "spec", "acme", "--plugin-dir", dir)
	if err != nil || !strings.Contains(out, "version:       2.0.1") || !strings.Contains(out, `"api_key"`) || !strings.Contains(out, "secrets:       /api_key") {
		t.Errorf("spec: %v\n%s", err, out)
	}
	out, _, err = runCmd(t, "connector", "spec", "acme", "--json", "--plugin-dir", dir)
	var spec struct {
		connector.Spec
		Bundled bool `json:"bundled"`
	}
	if err != nil || json.Unmarshal([]byte(out), &spec) != nil || spec.Name != "acme" || spec.Bundled {
		t.Errorf("spec --json: %v\n%s", err, out)
	}
	_, _, err = runCmd(t, "connector", "spec", "acne", "--plugin-dir", dir)
	if err == nil || !strings.Contains(err.Error(), `did you mean "acme"?`) {
		t.Errorf("typo: err = %v", err)
	}
}
