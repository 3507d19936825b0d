package runner_test

import (
	"context"
	"testing"

	"github.com/syncplane/syncplane/connector"
)

// TestTwoWayRetryRejected: a create refused by b and an update refused by a
// become dead letters of their origin sides; once the targets accept them,
// RetryRejected delivers both, in their own directions, and marks them
// retried.
func TestTwoWayRetryRejected(t *testing.T) {
	ctx := context.Background()
	tw := newTwoWay(t, t.TempDir(), "manual", "")
	defer tw.st.Close()
	aid, bid := linked(t, tw)
	refuse := func(op connector.WriteOp) bool {
		n, _ := op.Record.Fields["name"].(string)
		return len(n) >= 3 && n[:3] == "Bad"
	}
	tw.a.refuse, tw.b.refuse = refuse, refuse
	newA := tw.a.Edit("", map[string]any{"name": "Bad A", "phone": "5550001", "note": "n"})
	tw.b.Edit(bid, map[string]any{"name": "Bad B"})
	s := tw.round(t)
	if s.Counts.Rejected != 2 {
		t.Fatalf("want two rejected writes, got %+v", s.Counts)
	}
	rs, err := tw.r.Rejected(ctx, "sync", false)
	if err != nil || len(rs) != 2 {
		t.Fatalf("want two dead letters, got %+v %v", rs, err)
	}
	quiet(t, tw)
	tw.a.refuse, tw.b.refuse = nil, nil
	n, err := tw.r.RetryRejected(ctx, "sync")
	if err != nil {
		t.Fatal(err)
	}
	if n.Created != 1 || n.Updated != 1 || n.Rejected != 0 {
		t.Fatalf("retry: want one create and one update, got %+v", n)
	}
	if got := field(t, tw.a, aid, "name"); got != "Bad B" {
		t.Errorf("a %s: name %v, want b's retried change", aid, got)
	}
	if lb := tw.b.live(); len(lb) != 2 {
		t.Errorf("want a's retried create on b, got %v", lb)
	}
	if rs, err := tw.r.Rejected(ctx, "sync", false); err != nil || len(rs) != 0 {
		t.Errorf("want no dead letter left to retry, got %+v %v", rs, err)
	}
	tw.round(t)
	quiet(t, tw)
	tw.check(t)
	_ = newA
}
