package jsonl

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/syncplane/syncplane/connector"
)

// TestFeedReplicaProperty checks the sync invariant of the change feed: a
// replica that applies ReadChanges batch by batch, keeping the checkpoint
// of the last batch it applied and sometimes stopping early (a crash),
// always equals the source after it catches up. Writes come in batches, so
// many records share a modification time, and the clock sometimes stands
// still or goes back.
func TestFeedReplicaProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		c := open(t, dir, notes)
		clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		c.now = func() time.Time { return clock }
		ctx := context.Background()

		model := map[string]string{}
		replica := map[string]string{}
		var cp []byte
		keys := []string{"a", "b", "c", "d", "e"}

		sync := func(stopAfter int) {
			batches := 0
			size := rapid.IntRange(1, 4).Draw(rt, "batch size")
			errStop := fmt.Errorf("crash")
			err := c.ReadChanges(ctx, connector.ChangesRequest{Entity: "notes", Checkpoint: cp, BatchSize: size}, func(b connector.ChangeBatch) error {
				if stopAfter >= 0 && batches == stopAfter {
					return errStop
				}
				for _, ch := range b.Changes {
					switch ch.Op {
					case connector.Upsert:
						replica[ch.Record.ID] = ch.Record.Fields["text"].(string)
					case connector.Delete:
						delete(replica, ch.Record.ID)
					}
				}
				cp = b.Checkpoint
				batches++
				return nil
			})
			if err != nil && err != errStop {
				rt.Fatalf("ReadChanges: %v", err)
			}
		}

		steps := rapid.IntRange(1, 25).Draw(rt, "steps")
		for range steps {
			switch rapid.IntRange(0, 3).Draw(rt, "action") {
			case 0, 1: // a batch of writes
				n := rapid.IntRange(1, 4).Draw(rt, "ops")
				var ops []connector.WriteOp
				for range n {
					k := rapid.SampledFrom(keys).Draw(rt, "key")
					if rapid.Bool().Draw(rt, "delete") {
						ops = append(ops, connector.WriteOp{Action: connector.ActionDelete, TargetID: k})
						delete(model, k)
					} else {
						text := rapid.SampledFrom([]string{"x", "y", "z"}).Draw(rt, "text")
						ops = append(ops, upsert(k, text))
						model[k] = text
					}
				}
				outs, err := c.Write(ctx, connector.WriteBatch{Entity: "notes", Ops: ops})
				if err != nil {
					rt.Fatalf("Write: %v", err)
				}
				for i, o := range outs {
					if o.Status == connector.Rejected {
						rt.Fatalf("op %d rejected: %v", i, o.Diagnostics)
					}
				}
				// The clock moves on, stands still, or steps back.
				clock = clock.Add(time.Duration(rapid.IntRange(-2, 2).Draw(rt, "tick")) * time.Second)
			case 2: // a sync that crashes after some batches
				sync(rapid.IntRange(0, 3).Draw(rt, "crash after"))
			case 3: // a full sync
				sync(-1)
				if !maps.Equal(replica, model) {
					rt.Fatalf("after a full sync: replica %v, source %v", replica, model)
				}
			}
		}
		sync(-1)
		if !maps.Equal(replica, model) {
			rt.Fatalf("after catching up: replica %v, source %v", replica, model)
		}
	})
}
