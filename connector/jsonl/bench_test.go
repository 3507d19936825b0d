package jsonl_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/conformance"
	"github.com/syncplane/syncplane/connector/jsonl"
)

// benchRecords is the size of the benchmark file: records of about 1 KB.
const benchRecords = 10000

// benchDir writes a contacts file of benchRecords records of about 1 KB and
// returns settings for it.
func benchDir(b *testing.B) json.RawMessage {
	b.Helper()
	dir := b.TempDir()
	f, err := os.Create(filepath.Join(dir, "contacts.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	notes := strings.Repeat("lorem ipsum ", 70)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range benchRecords {
		line, _ := json.Marshal(map[string]any{
			"id": fmt.Sprintf("c-%06d", i), "name": fmt.Sprintf("Contact %d", i), "email": fmt.Sprintf("c%d@example.com", i),
			"age": 20 + i%50, "score": float64(i) / 7, "notes": notes,
			"updated_at": base.Add(time.Duration(i) * time.Second).Format(time.RFC3339),
		})
		w.Write(line)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	set, _ := json.Marshal(map[string]any{"dir": dir, "batch_size": 500, "entities": map[string]any{"contacts": map[string]any{
		"modified_field": "updated_at",
		"fields": map[string]any{
			"id": map[string]any{"type": "string"}, "name": map[string]any{"type": "string"}, "email": map[string]any{"type": "string"},
			"age": map[string]any{"type": "int"}, "score": map[string]any{"type": "double"}, "notes": map[string]any{"type": "string"},
			"updated_at": map[string]any{"type": "timestamp"},
		},
	}}})
	return set
}

// BenchmarkRead measures Read throughput in records/s: "decode" is the
// baseline (scanning the file and decoding each line into a map, what any
// reader of the file must do), "in-process" the connector through
// connector.Local, "plugin" the same connector in a plugin process.
func BenchmarkRead(b *testing.B) {
	set := benchDir(b)
	var dir struct {
		Dir string `json:"dir"`
	}
	json.Unmarshal(set, &dir)
	path := filepath.Join(dir.Dir, "contacts.jsonl")

	report := func(b *testing.B, n int) {
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	}
	b.Run("decode", func(b *testing.B) {
		n := 0
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var m map[string]any
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					b.Fatal(err)
				}
				n++
			}
			f.Close()
		}
		report(b, n)
	})
	read := func(b *testing.B, c connector.Client) {
		ctx := context.Background()
		if err := c.Configure(ctx, connector.ConfigureRequest{Settings: set}); err != nil {
			b.Fatal(err)
		}
		n := 0
		for b.Loop() {
			got := 0
			err := c.Read(ctx, connector.ReadRequest{Entity: "contacts"}, func(rs []connector.Record) error {
				got += len(rs)
				return nil
			})
			if err != nil || got != benchRecords {
				b.Fatalf("Read: expected %d records, got %d, %v", benchRecords, got, err)
			}
			n += got
		}
		report(b, n)
	}
	b.Run("in-process", func(b *testing.B) { read(b, connector.Local(jsonl.New())) })
	b.Run("plugin", func(b *testing.B) { read(b, conformance.Plugin(b)) })
}
