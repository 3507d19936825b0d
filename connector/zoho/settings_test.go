package zoho_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/zoho"
)

// TestSettingsDiagnostics: every bad setting is reported as INVALID_INPUT
// naming that setting, and no secret value appears in any message.
func TestSettingsDiagnostics(t *testing.T) {
	base := `"client_id":"id","client_secret":"hunter2","refresh_token":"r-secret"`
	cases := []struct {
		settings string
		fields   []string
	}{
		{`{"client_secret":"hunter2","refresh_token":"r-secret"}`, []string{"client_id"}},
		{`{"client_id":"id","refresh_token":"r-secret"}`, []string{"client_secret"}},
		{`{"client_id":"id","client_secret":"hunter2"}`, []string{"refresh_token"}},
		{`{` + base + `,"data_center":"mars"}`, []string{"data_center"}},
		{`{` + base + `,"edition":"gold","max_concurrency":99}`, []string{"edition", "max_concurrency"}},
		{`{` + base + `,"accounts_url":"http://accounts.zoho.com"}`, []string{"accounts_url"}},
		{`{` + base + `,"api_domain":"https://"}`, []string{"api_domain"}},
		{`{` + base + `,"modules":[]}`, []string{"modules"}},
		{`{` + base + `,"colour":"blue"}`, []string{"colour"}},
		{`{"client_id":"id","client_secret":7,"refresh_token":"r-secret"}`, []string{"client_secret"}},
		{`{` + base + `,"ca_file":"/nonexistent/ca.pem"}`, []string{"ca_file"}},
	}
	for _, tc := range cases {
		err := zoho.New().Configure(context.Background(), connector.ConfigureRequest{Settings: json.RawMessage(tc.settings)})
		if err == nil {
			t.Errorf("%s: accepted", tc.settings)
			continue
		}
		ds := connector.AsDiagnostics(err)
		for _, want := range tc.fields {
			found := false
			for _, d := range ds {
				found = found || (d.Field == want && d.Code == connector.InvalidInput)
			}
			if !found {
				t.Errorf("%s: expected an INVALID_INPUT diagnostic naming %s, got %v", tc.settings, want, ds)
			}
		}
		for _, d := range ds {
			if msg := d.Error() + " " + d.Detail; strings.Contains(msg, "hunter2") || strings.Contains(msg, "r-secret") {
				t.Errorf("%s: a diagnostic shows a secret: %v", tc.settings, msg)
			}
		}
	}
	if err := zoho.New().Configure(context.Background(), connector.ConfigureRequest{Settings: json.RawMessage(`{` + base + `}`)}); err != nil {
		t.Errorf("valid settings refused: %v", err)
	}
}
