package graph

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/syncplane/syncplane/schema"
)

// sharedDir finds ../shared next to the repository root, or skips.
func sharedDir(tb testing.TB) string {
	tb.Helper()
	dir, _ := filepath.Abs(".")
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "..", "shared")
			if _, err := os.Stat(p); err != nil {
				tb.Skipf("skipping: %s is absent (the shared reference data lives next to the repository)", p)
			}
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skip("skipping: repository root not found")
		}
		dir = parent
	}
}

var (
	prodSchemaOnce sync.Once
	prodSchema     *schema.Schema
	prodSchemaErr  error
	prodMetadata   []byte
)

// realSchema is the connector's schema built from the real production
// $metadata in ../shared/testdata/graph.
func realSchema(tb testing.TB) *schema.Schema {
	tb.Helper()
	dir := sharedDir(tb)
	prodSchemaOnce.Do(func() {
		prodMetadata, prodSchemaErr = os.ReadFile(filepath.Join(dir, "testdata", "graph", "v1.0-Prod.csdl"))
		if prodSchemaErr == nil {
			prodSchema, prodSchemaErr = schemaFromMetadata(prodMetadata)
		}
	})
	if prodSchemaErr != nil {
		tb.Fatal(prodSchemaErr)
	}
	return prodSchema
}
