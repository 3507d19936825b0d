package graph

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkDiscoverSchema compares the connector's schema discovery from
// the real production $metadata (3.4 MB: parse, convert the five entities,
// add the extensions) with a plain encoding/xml token pass over the same
// bytes, in the same run. Compare ns/op and allocs/op of the two
// sub-benchmarks as ratios.
func BenchmarkDiscoverSchema(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(sharedDir(b), "testdata", "graph", "v1.0-Prod.csdl"))
	if err != nil {
		b.Skipf("skipping: %v", err)
	}
	b.Run("baseline-xml-token-pass", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if err := xmlTokenPass(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Both in turn within each iteration: fair ratios on a busy machine.
	b.Run("interleaved-ratio", func(b *testing.B) {
		var base, disc time.Duration
		for b.Loop() {
			t0 := time.Now()
			if err := xmlTokenPass(data); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if _, err := schemaFromMetadata(data); err != nil {
				b.Fatal(err)
			}
			base, disc = base+t1.Sub(t0), disc+time.Since(t1)
		}
		b.ReportMetric(float64(disc)/float64(base), "discovery/xml")
	})
	b.Run("connector-discovery", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			s, err := schemaFromMetadata(data)
			if err != nil || len(s.Entities) != len(entityOrder) {
				b.Fatal(err)
			}
		}
	})
}

// xmlTokenPass reads every token of data with encoding/xml: the baseline.
func xmlTokenPass(data []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
