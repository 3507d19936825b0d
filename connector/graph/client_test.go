package graph

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
)

// TestErrorExamples classifies the real error bodies.
func TestErrorExamples(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "reference", "graph-examples")
	cases := []struct {
		file   string
		status int
		code   connector.Code
		resync bool
	}{
		{"OBSERVED-calendarview-delta-expired-410-SyncStateNotFound.json", 410, connector.InvalidInput, true},
		{"OBSERVED-events-delta-InvalidDeltaToken.json", 400, connector.InvalidInput, true},
		{"application-access-policy-denied-error.json", 403, connector.PermissionDenied, false},
		{"throttling-429-response.json", 429, connector.RateLimited, false},
		{"directory-count-without-consistencylevel-error.json", 400, connector.InvalidInput, false},
		{"delta-user-skills-501-error.json", 501, connector.Unavailable, false},
	}
	for _, c := range cases {
		body, err := os.ReadFile(filepath.Join(dir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		if c.status == 429 {
			h.Set("Retry-After", "2.128")
		}
		ge := newGraphError(c.status, h, body, "GET", "https://graph.microsoft.com/v1.0/users/x/calendarView/delta?$deltatoken=SECRET")
		if ge.resyncNeeded() != c.resync {
			t.Errorf("%s: resyncNeeded = %v", c.file, ge.resyncNeeded())
		}
		d := ge.diagnostic("mailbox x")
		if d.Code != c.code {
			t.Errorf("%s: code %s, want %s (%v)", c.file, d.Code, c.code, d)
		}
		if c.status == 429 && d.RetryAfter != 2128*time.Millisecond {
			t.Errorf("fractional Retry-After: %v", d.RetryAfter)
		}
		if strings.Contains(ge.Error(), "SECRET") {
			t.Errorf("delta token leaked into the error: %s", ge.Error())
		}
	}
}
