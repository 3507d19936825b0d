package graph

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/syncplane/syncplane/connector"
)

func validSettings() map[string]any {
	return map[string]any{
		"tenant_id": "contoso.onmicrosoft.com", "client_id": "11111111-2222-3333-4444-555555555555",
		"auth": "client_secret", "client_secret": "s3cret", "users": map[string]any{"filter": "userType eq 'Member'"},
	}
}

func TestSettingsValidation(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	cases := []struct {
		name  string
		edit  func(m map[string]any)
		field string
	}{
		{"missing tenant", func(m map[string]any) { delete(m, "tenant_id") }, "tenant_id"},
		{"missing client", func(m map[string]any) { delete(m, "client_id") }, "client_id"},
		{"bad auth", func(m map[string]any) { m["auth"] = "password" }, "auth"},
		{"secret missing", func(m map[string]any) { delete(m, "client_secret") }, "client_secret"},
		{"certificate missing", func(m map[string]any) { m["auth"] = "client_certificate" }, "certificate_file"},
		{"certificate unreadable", func(m map[string]any) {
			m["auth"], m["certificate_file"] = "client_certificate", filepath.Join(dir, "none.pem")
		}, "certificate_file"},
		{"refresh without secret", func(m map[string]any) { m["auth"] = "admin_refresh_token"; delete(m, "client_secret") }, "client_secret"},
		{"bad cloud", func(m map[string]any) { m["cloud"] = "mars" }, "cloud"},
		{"custom without endpoints", func(m map[string]any) { m["cloud"] = "custom" }, "authority_host"},
		{"custom plain http", func(m map[string]any) {
			m["cloud"], m["authority_host"], m["graph_endpoint"] = "custom", "https://login.example/", "http://graph.example"
		}, "graph_endpoint"},
		{"endpoints without custom", func(m map[string]any) { m["graph_endpoint"] = "https://x" }, "cloud"},
		{"ca not pem", func(m map[string]any) { m["ca_file"] = notPEM }, "ca_file"},
		{"two selections", func(m map[string]any) { m["users"] = map[string]any{"filter": "x", "group": "Sales"} }, "users"},
		{"no selection", func(m map[string]any) { m["users"] = map[string]any{} }, "users"},
		{"bad list", func(m map[string]any) { m["users"] = map[string]any{"list": "anna@contoso.com;bob"} }, "users.list"},
		{"consents needs user_consent", func(m map[string]any) { m["users"] = map[string]any{"consents": true} }, "users.consents"},
		{"window", func(m map[string]any) { m["window"] = map[string]any{"past_months": -1} }, "window.past_months"},
		{"concurrency above Outlook limit", func(m map[string]any) { m["max_concurrency_per_mailbox"] = 5 }, "max_concurrency_per_mailbox"},
		{"page size", func(m map[string]any) { m["page_size"] = 5000 }, "page_size"},
		{"scope with space", func(m map[string]any) { m["scopes"] = []string{"a b"} }, "scopes[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := validSettings()
			c.edit(m)
			raw, _ := json.Marshal(m)
			err := New().Configure(context.Background(), connector.ConfigureRequest{Settings: raw})
			if err == nil {
				t.Fatal("accepted")
			}
			found := false
			for _, d := range connector.AsDiagnostics(err) {
				if d.Field == c.field && d.Code == connector.InvalidInput {
					found = true
				}
				if strings.Contains(d.Error(), "s3cret") {
					t.Errorf("secret in diagnostic: %v", d)
				}
			}
			if !found {
				t.Fatalf("no diagnostic for field %s: %v", c.field, err)
			}
		})
	}
	raw, _ := json.Marshal(validSettings())
	c := NewWith()
	if err := c.Configure(context.Background(), connector.ConfigureRequest{Settings: raw}); err != nil {
		t.Fatal(err)
	}
	if c.cfg.MaxConcurrencyPerMailbox != 4 || !c.cfg.immutable || c.cfg.graphRoot != "https://graph.microsoft.com" ||
		c.cfg.authority != "https://login.microsoftonline.com/" || c.cfg.scopes[0] != "https://graph.microsoft.com/.default" {
		t.Errorf("defaults: %+v", c.cfg)
	}
	if _, err := parseSettings(json.RawMessage(`{"tenant_id":"t","unknown":1}`)); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Errorf("unknown setting accepted: %v", err)
	}
}

// TestSettingsSchemaAgrees checks the published JSON Schema compiles and
// agrees with Configure on a valid and an invalid object, and that every
// secret setting is marked.
func TestSettingsSchemaAgrees(t *testing.T) {
	spec := New().Spec()
	var doc any
	if err := json.Unmarshal(spec.SettingsSchema, &doc); err != nil {
		t.Fatal(err)
	}
	comp := jsonschema.NewCompiler()
	if err := comp.AddResource("settings.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := comp.Compile("settings.json")
	if err != nil {
		t.Fatal(err)
	}
	var good any
	raw, _ := json.Marshal(validSettings())
	json.Unmarshal(raw, &good)
	if err := sch.Validate(good); err != nil {
		t.Errorf("schema rejects valid settings: %v", err)
	}
	bad := validSettings()
	bad["auth"] = "password"
	raw, _ = json.Marshal(bad)
	var badDoc any
	json.Unmarshal(raw, &badDoc)
	if err := sch.Validate(badDoc); err == nil {
		t.Error("schema accepts auth password")
	}
	props := doc.(map[string]any)["properties"].(map[string]any)
	for _, p := range spec.SecretSettings {
		name := strings.TrimPrefix(p, "/")
		if _, ok := props[name]; !ok {
			t.Errorf("secret %s is not a setting", p)
		}
	}
	for name, v := range props {
		if wo, _ := v.(map[string]any)["writeOnly"].(bool); wo {
			found := false
			for _, p := range spec.SecretSettings {
				found = found || p == "/"+name
			}
			if !found {
				t.Errorf("write-only setting %s not listed as secret", name)
			}
		}
	}
}
