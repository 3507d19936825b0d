package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

// TestPropertyNothingLostNothingRepeated interleaves mailbox mutations
// (create, update, delete, move out of and back into the window, token
// expiry) with sync rounds that resume from the last checkpoint, crashing
// (dropping the round's checkpoints after a random batch) now and then. After
// every completed round the mirror built from the changes must hold exactly
// the events inside the window with their current subjects, no event the
// mailbox deleted, and no round may carry the same id twice. (A round that
// resumes the middle of an earlier round only completes that round; the
// invariant is checked after rounds that start from a delta link.)
// Run more cases with -rapid.checks=1000.
func TestPropertyNothingLostNothingRepeated(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 1})
	conn := e.delegated(t, map[string]any{"page_size": 3, "window": map[string]any{"past_months": 1, "future_months": 1}})
	ctx := context.Background()
	if _, err := conn.ListPartitions(ctx, "event"); err != nil {
		t.Fatal(err)
	}
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		u := e.srv.AddUser(graphtest.User{UserPrincipalName: fmt.Sprintf("prop%d@contoso.com", n), Mail: fmt.Sprintf("prop%d@contoso.com", n),
			DisplayName: "Prop", UserType: "Member", HasMailbox: true, AccountEnabled: true})
		mb := strings.ToLower(u.UserPrincipalName)
		now := time.Now().UTC()
		inWindow := func() time.Time {
			return now.Add(time.Duration(rapid.IntRange(-20*24, 20*24).Draw(rt, "hours")) * time.Hour).Truncate(time.Hour)
		}
		type ev struct {
			subject string
			inside  bool
		}
		truth := map[string]*ev{}
		mirror := map[string]string{}
		var cp []byte
		var ids []string
		steps := rapid.IntRange(5, 25).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			switch op := rapid.IntRange(0, 9).Draw(rt, "op"); {
			case op <= 2:
				start := inWindow()
				s := fmt.Sprintf("e%d", i)
				id, err := e.srv.PutEvent(mb, map[string]any{"subject": s, "start": graphTime(start), "end": graphTime(start.Add(time.Hour))})
				if err != nil {
					rt.Fatal(err)
				}
				truth[id] = &ev{subject: s, inside: true}
				ids = append(ids, id)
			case op == 3 && len(ids) > 0:
				id := rapid.SampledFrom(ids).Draw(rt, "update")
				if x := truth[id]; x != nil {
					x.subject = fmt.Sprintf("u%d", i)
					if err := e.srv.PatchEvent(mb, id, map[string]any{"subject": x.subject}); err != nil {
						rt.Fatal(err)
					}
				}
			case op == 4 && len(ids) > 0:
				id := rapid.SampledFrom(ids).Draw(rt, "delete")
				if truth[id] != nil {
					if err := e.srv.DeleteEvent(mb, id); err != nil {
						rt.Fatal(err)
					}
					delete(truth, id)
				}
			case op == 5 && len(ids) > 0:
				id := rapid.SampledFrom(ids).Draw(rt, "move")
				if x := truth[id]; x != nil {
					start := now.AddDate(0, 3, 0)
					if !x.inside {
						start = inWindow()
					}
					x.inside = !x.inside
					if err := e.srv.PatchEvent(mb, id, map[string]any{"start": graphTime(start), "end": graphTime(start.Add(time.Hour))}); err != nil {
						rt.Fatal(err)
					}
				}
			case op == 6:
				e.srv.ExpireDeltaTokens()
			default:
				crashAfter := -1
				if rapid.IntRange(0, 3).Draw(rt, "crash") == 0 {
					crashAfter = rapid.IntRange(0, 3).Draw(rt, "crashAfter")
				}
				// A round resumed from the middle of an earlier one finishes
				// that earlier round; changes made since it began are due
				// in the next round, so the invariant is checked only after
				// rounds that began from a delta link (or from nothing).
				var prev checkpoint
				checkable := len(cp) == 0 || json.Unmarshal(cp, &prev) == nil && prev.Complete
				errCrash := fmt.Errorf("crash")
				seen := map[string]bool{}
				batches := 0
				next := cp
				err := conn.ReadChanges(ctx, connector.ChangesRequest{Entity: "event", Partition: mb, Checkpoint: cp}, func(b connector.ChangeBatch) error {
					if batches == crashAfter {
						return errCrash
					}
					batches++
					if b.FullResync {
						clear(mirror)
						clear(seen)
					}
					for _, ch := range b.Changes {
						if seen[ch.Record.ID] {
							rt.Fatalf("round %d: %s emitted twice", i, ch.Record.ID)
						}
						seen[ch.Record.ID] = true
						if ch.Op == connector.Delete {
							delete(mirror, ch.Record.ID)
						} else {
							mirror[ch.Record.ID], _ = ch.Record.Fields["subject"].(string)
						}
					}
					next = b.Checkpoint
					return nil
				})
				cp = next
				if err == errCrash {
					continue
				}
				if err != nil {
					rt.Fatal(err)
				}
				if !checkable {
					continue
				}
				for id, x := range truth {
					if x.inside && mirror[id] != x.subject {
						rt.Fatalf("after round %d: event %s inside the window is %q in the mirror, want %q", i, id, mirror[id], x.subject)
					}
				}
				for id := range mirror {
					if truth[id] == nil {
						rt.Fatalf("after round %d: deleted event %s still in the mirror", i, id)
					}
				}
			}
		}
	})
}
