package runner_test

import (
	"context"
	"testing"
)

// TestTwoWayResolveMergesOtherFields: both sides changed the same field
// and each another one; resolving the manual conflict for one side takes
// that side's value of the conflicting field only, and keeps the other
// side's change to its other field, on both sides.
func TestTwoWayResolveMergesOtherFields(t *testing.T) {
	ctx := context.Background()
	for _, take := range []string{"a", "b"} {
		t.Run("take "+take, func(t *testing.T) {
			tw := newTwoWay(t, t.TempDir(), "manual", "")
			defer tw.st.Close()
			aid, bid := linked(t, tw)
			tw.a.Edit(aid, map[string]any{"note": "from a", "name": "Anna"})
			tw.b.Edit(bid, map[string]any{"note": "from b", "phone": "555-9999"})
			quiet(t, tw)
			cs, err := tw.st.Conflicts(ctx, "sync")
			if err != nil || len(cs) != 1 {
				t.Fatalf("want one open conflict, got %v %v", cs, err)
			}
			if len(cs[0].Fields) != 1 || cs[0].Fields[0] != "note" {
				t.Fatalf("want the conflict on note only, got %v", cs[0].Fields)
			}
			if err := tw.st.ResolveConflict(ctx, "sync", cs[0].ID, take); err != nil {
				t.Fatal(err)
			}
			tw.round(t)
			for _, s := range []struct {
				side *memSide
				id   string
			}{{tw.a, aid}, {tw.b, bid}} {
				got, _ := s.side.get(s.id)
				if got["note"] != "from "+take || got["name"] != "Anna" || got["phone"] != "555-9999" {
					t.Errorf("side %s after take %s: got %v, want note %q with a's name and b's phone kept", s.side.name, take, got, "from "+take)
				}
			}
			if cs, _ := tw.st.Conflicts(ctx, "sync"); len(cs) != 0 {
				t.Errorf("want the conflict closed, got %+v", cs)
			}
			tw.round(t)
			quiet(t, tw)
			tw.check(t)
		})
	}
}
