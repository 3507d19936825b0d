package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDemoGraphToZoho runs the default demo: the Graph and Zoho emulators
// in this process, the connectors as plugin processes (this test binary
// re-executed, see TestMain).
func TestDemoGraphToZoho(t *testing.T) {
	dir := t.TempDir()
	out, stderr, err := runCmd(t, "demo", "--dir", dir)
	if err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out, stderr)
	}
	t.Log(out)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`First run \(Graph → Zoho CRM, connectors as plugin processes\)`),
		regexp.MustCompile(`contacts-to-crm: 3 partition\(s\), read 9, created 9, .*rejected 0`),
		regexp.MustCompile(`events-to-crm: 3 partition\(s\), read \d+, created \d+, updated 0, deleted 0, unchanged 0, rejected 0`),
		// The second run: nothing for contacts, exactly the changes for events.
		regexp.MustCompile(`contacts-to-crm: 3 partition\(s\), read 0, created 0, updated 0, deleted 0`),
		regexp.MustCompile(`events-to-crm: 3 partition\(s\), read 4, created 2, updated 1, deleted 1, unchanged 0, rejected 0`),
		// What Zoho counted, from the connector's usage values.
		regexp.MustCompile(`used: crm credits \d+`),
		regexp.MustCompile(`"Event_Title": "Demo: moved to Friday"`),
		regexp.MustCompile(`pipeline file: ` + regexp.QuoteMeta(filepath.Join(dir, "syncplane.yaml"))),
		regexp.MustCompile(`state: +` + regexp.QuoteMeta(filepath.Join(dir, "state", "syncplane.db"))),
	} {
		if !want.MatchString(out) {
			t.Errorf("output lacks %s", want)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "out", "zoho-events.json"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	moved := 0
	for _, r := range recs {
		if r["id"] == nil || r["Modified_Time"] == nil {
			t.Fatalf("snapshot record is not as Zoho returns it: %v", r)
		}
		if r["Event_Title"] == "Demo: moved to Friday" {
			moved++
		}
	}
	if len(recs) < 10 || moved != 1 {
		t.Fatalf("snapshot holds %d meetings, %d of them the changed one", len(recs), moved)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "syncplane.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"client_secret: ${file:zoho-client-secret}", "refresh_token: ${file:zoho-refresh-token}"} {
		if !strings.Contains(string(cfg), secret) {
			t.Errorf("pipeline file does not take %q from a file", secret)
		}
	}
}

func TestDemoTargetJSONL(t *testing.T) {
	dir := t.TempDir()
	out, stderr, err := runCmd(t, "demo", "--target", "jsonl", "--dir", dir)
	if err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out, stderr)
	}
	if !strings.Contains(out, "events-to-crm: 3 partition(s), read 4, created 2, updated 1, deleted 1") ||
		!strings.Contains(out, filepath.Join(dir, "out", "meetings.jsonl")) {
		t.Fatalf("output:\n%s", out)
	}
}

func TestDemoSourceJSONL(t *testing.T) {
	dir := t.TempDir()
	out, stderr, err := runCmd(t, "demo", "--source", "jsonl", "--dir", dir)
	if err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out, stderr)
	}
	if !strings.Contains(out, "created 2, updated 1, deleted 1") {
		t.Fatalf("output:\n%s", out)
	}
	if _, _, err := runCmd(t, "demo", "--source", "jsonl", "--target", "zoho", "--dir", t.TempDir()); err == nil {
		t.Fatal("--source jsonl --target zoho accepted")
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemoStateWithCommands keeps the demo's emulators running and drives
// its pipeline file with run, status, rejected and reset.
func TestDemoStateWithCommands(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		root := newRootCmd()
		root.SetOut(&out)
		root.SetErr(&errOut)
		root.SetArgs([]string{"demo", "--keep", "--dir", dir})
		done <- root.ExecuteContext(ctx)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo --keep: %v", err)
		}
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "Stop with Ctrl-C") {
		select {
		case err := <-done:
			t.Fatalf("demo ended: %v\n%s\n%s", err, out.String(), errOut.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo did not reach --keep:\n%s", out.String())
		}
	}
	if !strings.Contains(out.String(), "/crm/v8/Events") {
		t.Errorf("--keep does not say how to read the Zoho records:\n%s", out.String())
	}
	cfg := filepath.Join(dir, "syncplane.yaml")

	// Nothing changed since the demo's second run.
	o, e, err := runCmd(t, "run", "-c", cfg, "--once", "--json")
	if err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, o, e)
	}
	var sums []struct {
		Pipeline string
		Counts   struct{ Read, Created, Updated, Deleted int64 }
	}
	if err := json.Unmarshal([]byte(o), &sums); err != nil || len(sums) != 2 {
		t.Fatalf("run --json: %v\n%s", err, o)
	}
	for _, s := range sums {
		if s.Counts.Read != 0 || s.Counts.Created != 0 {
			t.Errorf("run after the demo moved records: %+v", s)
		}
	}

	o, e, err = runCmd(t, "status", "-c", cfg, "--json")
	if err != nil || !json.Valid([]byte(o)) || !strings.Contains(o, "events-to-crm") {
		t.Fatalf("status --json: %v\n%s\n%s", err, o, e)
	}
	o, e, err = runCmd(t, "rejected", "-c", cfg, "events-to-crm")
	if err != nil {
		t.Fatalf("rejected: %v\n%s\n%s", err, o, e)
	}
	o, e, err = runCmd(t, "rejected", "-c", cfg, "events-to-crm", "--retry")
	if err != nil {
		t.Fatalf("rejected --retry: %v\n%s\n%s", err, o, e)
	}

	// A reset reads everything again and updates through the ID map:
	// nothing is created twice.
	o, e, err = runCmd(t, "reset", "-c", cfg, "events-to-crm", "--yes")
	if err != nil {
		t.Fatalf("reset --yes: %v\n%s\n%s", err, o, e)
	}
	o, e, err = runCmd(t, "run", "-c", cfg, "--once", "--pipeline", "events-to-crm", "--json")
	if err != nil {
		t.Fatalf("run after reset: %v\n%s\n%s", err, o, e)
	}
	sums = nil
	if err := json.Unmarshal([]byte(o), &sums); err != nil || len(sums) != 1 {
		t.Fatalf("run --json: %v\n%s", err, o)
	}
	if c := sums[0].Counts; c.Read == 0 || c.Created != 0 || c.Deleted != 0 {
		t.Fatalf("run after reset: %+v, want everything read, nothing created or deleted", c)
	}
}
