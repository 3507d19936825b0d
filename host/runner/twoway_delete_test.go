package runner_test

import (
	"context"
	"testing"
)

// TestTwoWayIgnoredDeleteKeepsSurvivor: under reverse_on_delete: ignore a
// record deleted on b stays on a; a later change of the surviving a record
// must not make it again on b (nor anything else), and its deletion later
// ends the pair quietly. The same holds the other way with on_delete:
// ignore.
func TestTwoWayIgnoredDeleteKeepsSurvivor(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		deleteOn    string
	}{
		{"reverse_on_delete ignore", "    reverse_on_delete: ignore\n", "b"},
		{"on_delete ignore", "    on_delete: ignore\n", "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tw := newTwoWay(t, t.TempDir(), "source-wins", tc.extra)
			defer tw.st.Close()
			aid, bid := linked(t, tw)
			gone, kept, keptID := tw.b, tw.a, aid
			if tc.deleteOn == "a" {
				gone, kept, keptID = tw.a, tw.b, bid
			}
			gone.Remove(map[string]string{"a": aid, "b": bid}[tc.deleteOn])
			tw.round(t)
			if l := kept.live(); len(l) != 1 || l[0] != keptID {
				t.Fatalf("ignore must keep %s's record, got %v", kept.name, l)
			}
			quiet(t, tw)
			kept.Edit(keptID, map[string]any{"note": "changed after the deletion"})
			quiet(t, tw)
			if l := gone.live(); len(l) != 0 {
				t.Fatalf("a change of the surviving record made it again on %s: %v", gone.name, l)
			}
			quiet(t, tw)
			kept.Remove(keptID)
			quiet(t, tw)
			links, err := tw.st.AllLinks(context.Background(), "sync", "a", nil)
			if err != nil || len(links) != 0 {
				t.Fatalf("want the link gone once both records are, got %+v %v", links, err)
			}
		})
	}
}
