package graph

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

// TestWriteAnswerBuffersGoBack writes events in $batch requests whose
// answers are read into the client's pooled buffers: the buffers go back
// once the outcomes of their parts are made, and, overwritten as they go
// back, show that no outcome reads its answer after that — every Stored
// record is the event written, with the id of its outcome.
func TestWriteAnswerBuffersGoBack(t *testing.T) {
	e := startEmu(t, graphtest.Options{Users: 4, EventsPerUser: 1, Seed: 3})
	c := e.connect(t, nil, nil)
	ctx := context.Background()
	if _, err := c.ListPartitions(ctx, "event"); err != nil {
		t.Fatal(err)
	}
	var back atomic.Int32
	c.client.bodies.put = func(b *bodyBuf) {
		back.Add(1)
		for i := range b.b {
			b.b[i] = 'x'
		}
		b.pool.classes[b.class].Put(b)
	}
	start := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Hour)
	for run := range 3 {
		ops := writeBenchOps(fmt.Sprint("pool", run), 4, 200, start)
		outs, err := c.Write(ctx, connector.WriteBatch{Entity: "event", Ops: ops})
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range outs {
			if o.Status != connector.Created || o.Stored == nil || o.TargetID == "" || o.Stored.ID != o.TargetID ||
				o.Stored.Fields["subject"] != ops[i].Record.Fields["subject"] || o.Version == "" {
				t.Fatalf("run %d op %d: %+v", run, i, o)
			}
		}
	}
	if back.Load() == 0 {
		t.Error("no batch answer's buffer went back to the client")
	}
	t.Logf("%d answer buffers went back", back.Load())
}
