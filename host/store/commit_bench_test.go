package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkCommitRandomIDs commits batches of 1000 creates with random
// Graph-like ids (about 150 characters), as an initial sync of Graph events
// does: pending creates first, then the batch's commit. The ID map grows
// by 1000 rows per iteration; run with -benchtime=Nx for N batches.
func BenchmarkCommitRandomIDs(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "s.db"), Options{Getenv: noEnv})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	k := PartitionKey{Pipeline: "bench", Entity: "event", Partition: "user1@contoso.com"}
	id := func() string {
		raw := make([]byte, 112)
		rand.Read(raw)
		return base64.RawURLEncoding.EncodeToString(raw)
	}
	wchar0, haveIO := procWchar()
	rec := []byte(`{"id":"","fields":{"End":"2026-01-05T10:00:00","Owner":"anna@contoso.com","Source":"x","Start":"2026-01-05T09:00:00","Status":"Busy","Subject":"Meeting 1"}}`)
	for i := 0; b.Loop(); i++ {
		c := Commit{Key: k, SetCheckpoint: true, Checkpoint: []byte(fmt.Sprint(i))}
		var ps []PendingCreate
		for range 1000 {
			src := id()
			key := "bench/" + k.Partition + "/" + src + "/0123456789abcdef0123456789abcdef"
			ps = append(ps, PendingCreate{SourceID: src, IdempotencyKey: key, TargetEntity: "meetings", Record: rec, SourceHash: "h", TargetHash: "t"})
			c.Put = append(c.Put, Mapping{SourceEntity: k.Entity, SourcePartition: k.Partition, SourceID: src, TargetEntity: "meetings", TargetID: key,
				SourceHash: "0123456789abcdef0123456789abcdef", TargetHash: "0123456789abcdef0123456789abcdef"})
		}
		row, err := s.AddPending(ctx, k, ps)
		if err != nil {
			b.Fatal(err)
		}
		c.ClearPending = []int64{row}
		if err := s.Commit(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	if wchar1, ok := procWchar(); ok && haveIO {
		b.ReportMetric(float64(wchar1-wchar0)/float64(b.N), "written-bytes/op")
	}
}

// procWchar returns the bytes this process has written through write
// system calls (Linux /proc/self/io), false where unavailable.
func procWchar() (int64, bool) {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
