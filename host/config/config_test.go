package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadValid(t *testing.T) {
	data, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse("testdata/valid.yaml", data, Options{LookupEnv: envOf(map[string]string{"GRAPH_SECRET": "s3cret"})})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if f.State != filepath.Join("testdata", "state", "syncplane.db") {
		t.Errorf("State = %q", f.State)
	}
	c, ok := f.Connection("m365")
	if !ok || c.Connector != "graph" {
		t.Fatalf("connection m365 = %+v, %v", c, ok)
	}
	if string(c.Settings) != `{"client_secret":"s3cret","tenant_id":"contoso"}` {
		t.Errorf("Settings = %s", c.Settings)
	}
	if len(c.Secrets) != 1 || c.Secrets[0] != "/client_secret" {
		t.Errorf("Secrets = %v", c.Secrets)
	}
	if got := string(c.RedactedSettings()); strings.Contains(got, "s3cret") {
		t.Errorf("RedactedSettings leaks the secret: %s", got)
	}
	p, ok := f.Pipeline("events-to-crm")
	if !ok {
		t.Fatal("pipeline missing")
	}
	if p.Schedule != 5*time.Minute || p.BatchSize != 100 || p.OnDelete.Kind != "delete" || p.Mode != "one-way" {
		t.Errorf("pipeline = %+v", p)
	}
	if p.From.Connection != "m365" || p.From.Entity != "event" || p.To.Entity != "meetings" {
		t.Errorf("endpoints = %+v %+v", p.From, p.To)
	}
	if len(p.Mapping.Fields) != 5 || p.Mapping.Fields[0].Target != "Subject" || p.Mapping.Fields[4].Query == nil {
		t.Errorf("mapping = %+v", p.Mapping.Fields)
	}
	if p.Mapping.Fields[0].Pos.Line != 21 || p.Mapping.Fields[0].Pos.Column != 7 {
		t.Errorf("Subject at %v, want line 21 column 7", p.Mapping.Fields[0].Pos)
	}
}

func TestMissingSecretNamesConnectionNotValue(t *testing.T) {
	data, _ := os.ReadFile("testdata/valid.yaml")
	_, err := Parse("testdata/valid.yaml", data, Options{LookupEnv: envOf(nil)})
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 {
		t.Fatalf("err = %v", err)
	}
	want := "testdata/valid.yaml:7:22: connection m365: connections.m365.settings.client_secret: environment variable GRAPH_SECRET is not set"
	if es[0].Error() != want {
		t.Errorf("got  %s\nwant %s", es[0].Error(), want)
	}
}
