package graphtest

import (
	"regexp"
	"testing"
)

// TestRequestIDForm: request ids are GUID-shaped, in lower-case hex, and
// fresh each time.
func TestRequestIDForm(t *testing.T) {
	form := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 100 {
		id := requestID()
		if !form.MatchString(id) {
			t.Fatalf("request id %q is not GUID-shaped", id)
		}
		if seen[id] {
			t.Fatalf("request id %q repeated", id)
		}
		seen[id] = true
	}
}
