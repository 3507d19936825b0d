package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

func runValidate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"validate"}, args...))
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

func TestValidateExamplesOffline(t *testing.T) {
	t.Setenv("GRAPH_CLIENT_SECRET", "example-secret")
	for _, env := range []string{"GRAPH_TENANT_ID", "GRAPH_CLIENT_ID", "GRAPH_AUTHORITY_HOST", "GRAPH_ENDPOINT", "GRAPH_CA_FILE"} {
		t.Setenv(env, "https://example.invalid/"+env)
	}
	files, err := filepath.Glob("../../../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, f := range files {
		out, err := runValidate(t, "--offline", "-c", f)
		if err != nil || !strings.HasSuffix(out, ": ok\n") {
			t.Errorf("%s: %v\n%s", f, err, out)
		}
	}
}

const jsonlPipeline = `connections:
  cal:
    connector: jsonl
    settings:
      dir: %SRC%
      entities:
        events:
          fields:
            id: { type: string }
            subject: { type: string }
            showAs: { type: string }
  crm:
    connector: jsonl
    settings:
      dir: %DST%
      entities:
        meetings:
          fields:
            id: { type: string, read_only: true }
            Subject: { type: string }
            Status: { type: enum, values: [Busy, Free] }
pipelines:
  - name: events-to-meetings
    from: { connection: cal, entity: events }
    to: { connection: crm, entity: meetings }
    mapping:
      Subject: subjcet
      Status: { expr: showAs, map: { busy: Busy, free: Fre } }
`

// TestValidateAgainstConnectors runs the real jsonl connector (in-process)
// and checks that the mapping is checked against what it discovers.
func TestValidateAgainstConnectors(t *testing.T) {
	dir := t.TempDir()
	src := strings.NewReplacer("%SRC%", filepath.Join(dir, "src"), "%DST%", filepath.Join(dir, "dst")).Replace(jsonlPipeline)
	file := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runValidate(t, "--in-process", "-c", file)
	if ee, ok := err.(exitError); !ok || ee.code != 1 {
		t.Fatalf("err = %v, want exit status 1\n%s", err, out)
	}
	want := file + `:27:16: mapping Subject: source events has no field "subjcet" (did you mean subject?)` + "\n" +
		file + `:28:56: mapping Status: mapped value "Fre" is not a value of the target picklist (did you mean Free?)` + "\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}

	out, err = runValidate(t, "--in-process", "--json", "-c", file)
	if err == nil {
		t.Fatal("want an error exit")
	}
	var rows []validateRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("--json output %q: %v", out, err)
	}
	if rows[0].Line != 27 || rows[0].Column != 16 || rows[0].Suggestion != "subject" || rows[0].Path != "pipelines[0].mapping.Subject" {
		t.Errorf("row = %+v", rows[0])
	}

	// Fixed, the file validates against the connectors.
	fixed := strings.NewReplacer("subjcet", "subject", "Fre }", "Free }").Replace(src)
	if err := os.WriteFile(file, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runValidate(t, "--in-process", "-c", file); err != nil || out != file+": ok\n" {
		t.Errorf("fixed file: %v\n%s", err, out)
	}
}

func TestValidateMissingFile(t *testing.T) {
	out, err := runValidate(t, "--offline", "-c", filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(out, "cannot read the pipeline file") {
		t.Errorf("err = %v, out = %q", err, out)
	}
}

func TestValidatePrintSchema(t *testing.T) {
	out, err := runValidate(t, "--print-schema")
	var doc map[string]any
	if err != nil || json.Unmarshal([]byte(out), &doc) != nil || doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("err = %v, output %.80q", err, out)
	}
}

// TestValidateExampleAgainstGraphEmulator validates the emulator example
// with the real Graph and jsonl connectors (in-process) against the Graph
// emulator serving Microsoft's production $metadata when ../shared has it,
// then checks that misspellings in it are caught with their positions.
func TestValidateExampleAgainstGraphEmulator(t *testing.T) {
	opts := graphtest.Options{Users: 2}
	if data, err := os.ReadFile("../../../../shared/testdata/graph/v1.0-Prod.csdl"); err == nil {
		opts.Metadata = data
	} else {
		t.Log("../shared/testdata/graph/v1.0-Prod.csdl not found; using the emulator's built-in $metadata")
	}
	srv, err := graphtest.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := srv.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"GRAPH_ENDPOINT": srv.GraphEndpoint(), "GRAPH_AUTHORITY_HOST": srv.AuthorityHost(), "GRAPH_CA_FILE": ca,
		"GRAPH_TENANT_ID": srv.TenantID(), "GRAPH_CLIENT_ID": srv.App().ClientID, "GRAPH_CLIENT_SECRET": srv.App().ClientSecret,
	} {
		t.Setenv(k, v)
	}
	example := "../../../examples/m365-emulator-to-jsonl.yaml"
	if out, err := runValidate(t, "--in-process", "-c", example); err != nil || !strings.HasSuffix(out, ": ok\n") {
		t.Fatalf("example: %v\n%s", err, out)
	}

	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.NewReplacer(
		"entity: contact }", "entity: contacts }",
		"organizer.emailAddress.address", "organizer.emailAdress.address",
		"      AllDay: isAllDay", "      AllDay: isAlDay",
	).Replace(string(data))
	file := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(file, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runValidate(t, "--in-process", "-c", file)
	if err == nil {
		t.Fatalf("misspelt file validated:\n%s", out)
	}
	for _, want := range []string{
		`connection m365 has no entity "contacts" (did you mean contact?)`,
		`mapping AllDay: source event has no field "isAlDay" (did you mean isAllDay?)`,
		`mapping Organizer: organizer has no field "emailAdress" (did you mean emailAddress?)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, srv.App().ClientSecret) {
		t.Errorf("output shows the client secret:\n%s", out)
	}
}
