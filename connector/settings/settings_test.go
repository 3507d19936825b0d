package settings

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/syncplane/syncplane/connector"
)

const testSchema = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["tenant_id", "client_secret"],
  "properties": {
    "tenant_id": {"type": "string", "minLength": 1},
    "client_secret": {"type": "string", "pattern": "^[A-Za-z0-9~._-]{8,}$"},
    "page_size": {"type": "integer", "minimum": 1, "maximum": 999},
    "auth": {"enum": ["client_secret", "client_certificate"]},
    "window": {
      "type": "object",
      "required": ["past_months"],
      "properties": {"past_months": {"type": "integer", "minimum": 0}}
    }
  }
}`

func fields(ds connector.Diagnostics) map[string]string {
	out := map[string]string{}
	for _, d := range ds {
		out[d.Field] = d.Summary
		if d.Code != connector.InvalidInput || d.Severity != connector.Error {
			out[d.Field] = "WRONG CODE: " + d.Error()
		}
	}
	return out
}

func TestValidateNamesEachFailingSetting(t *testing.T) {
	s := MustCompile(testSchema, "/client_secret")
	for _, tc := range []struct {
		name, in string
		want     map[string]string // field → fragment of the summary
	}{
		{"empty input counts as an empty object", ``, map[string]string{
			"tenant_id": `setting "tenant_id" is required`, "client_secret": `setting "client_secret" is required`}},
		{"unknown and nested", `{"tenant_id":"t","client_secret":"abcdefgh1","tenat":"x","window":{}}`, map[string]string{
			"tenat": `unknown setting "tenat"`, "window.past_months": `setting "window.past_months" is required`}},
		{"range and enum", `{"tenant_id":"t","client_secret":"abcdefgh1","page_size":5000,"auth":"password"}`, map[string]string{
			"page_size": `setting "page_size": `, "auth": `setting "auth": `}},
		{"wrong type", `{"tenant_id":7,"client_secret":"abcdefgh1"}`, map[string]string{
			"tenant_id": `setting "tenant_id": `}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fields(s.Validate(json.RawMessage(tc.in)))
			if len(got) != len(tc.want) {
				t.Errorf("got %d diagnostics %v, want %d", len(got), got, len(tc.want))
			}
			for f, frag := range tc.want {
				if !strings.Contains(got[f], frag) {
					t.Errorf("field %s: summary %q, want it to contain %q", f, got[f], frag)
				}
			}
		})
	}
	if ds := s.Validate(json.RawMessage(`{"tenant_id":"t","client_secret":"abcdefgh1","window":{"past_months":3}}`)); ds != nil {
		t.Errorf("valid settings gave %v", ds)
	}
}

func TestValidateNeverQuotesASecret(t *testing.T) {
	s := MustCompile(testSchema, "/client_secret")
	const secret = "sh0rt!"
	ds := s.Validate(json.RawMessage(`{"tenant_id":"t","client_secret":"` + secret + `"}`))
	if len(ds) != 1 || ds[0].Field != "client_secret" {
		t.Fatalf("want one diagnostic on client_secret, got %v", ds)
	}
	if strings.Contains(ds.Error(), secret) {
		t.Errorf("the secret appears in %q", ds.Error())
	}
	// The same rule on a non-secret setting does quote the pattern, proving
	// the redaction is what hides the value above.
	open := MustCompile(testSchema)
	if msg := open.Validate(json.RawMessage(`{"tenant_id":"t","client_secret":"` + secret + `"}`)).Error(); !strings.Contains(msg, "pattern") {
		t.Errorf("unredacted message %q does not describe the failure", msg)
	}
}

func TestDecode(t *testing.T) {
	s := MustCompile(testSchema, "/client_secret")
	var dst struct {
		TenantID string `json:"tenant_id"`
		PageSize int    `json:"page_size"`
	}
	if err := s.Decode(json.RawMessage(`{"tenant_id":"contoso","client_secret":"abcdefgh1","page_size":50}`), &dst); err != nil {
		t.Fatal(err)
	}
	if dst.TenantID != "contoso" || dst.PageSize != 50 {
		t.Errorf("decoded %+v", dst)
	}
	err := s.Decode(json.RawMessage(`{}`), &dst)
	if connector.CodeOf(err) != connector.InvalidInput {
		t.Errorf("Decode of invalid settings: %v", err)
	}
	if _, err := Compile([]byte(`{"type": 12}`)); err == nil {
		t.Error("an invalid schema compiled")
	}
}
