package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary bytes to the loader and, when they load, to
// deep validation. Neither may panic; every error must carry the file name,
// and no error may show the value of a secret.
func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	if b, err := os.ReadFile("testdata/valid.yaml"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"", "{}", "[]", "a: b", "connections:\n  x: *y\n", "connections: &a\n  b: *a\n",
		"pipelines:\n  - name: x\n    mapping: { A: 'b +' }\n",
		"connections: {c: {connector: x, settings: {s: '${env:SECRET}'}}}\npipelines: []\n",
		"connections: {c: {connector: x, settings: {s: '${file:../../etc/passwd}'}}}\npipelines: []\n",
		"a: !!binary aGVsbG8=\n", "? [a, b]\n: c\n", "<<: {a: 1}\n", "a: .inf\n", "a: 99999999999999999999999\n",
		"---\na: 1\n---\nb: 2\n", "a:\n\t- b\n", "'unterminated", "a: [1, 2", "a: {b: }", "%YAML 1.2\n---\na: 1\n",
		strings.Replace(base, "Subject: subject", "Subject: { expr: 'attendees[0].emailAddress.address', tz: { from: x, to: 'Mars/Base' } }", 1),
		strings.Replace(base, "mode: one-way", "mode: two-way\n    batch_size: 0", 1),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				// A panic from this goroutine ends the worker, so the fuzzer
				// records the input that made the loader hang.
				panic(fmt.Sprintf("loader still busy after 10s on %q", data))
			}
		}()
		const secret = "fuzz-secret-value-9"
		opts := Options{
			LookupEnv: func(name string) (string, bool) {
				if name == "SECRET" || name == "GRAPH_SECRET" {
					return secret, true
				}
				return "", false
			},
			ReadFile: func(string) ([]byte, error) { return nil, fs.ErrNotExist },
		}
		file, err := Parse("f.yaml", data, opts)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is not a non-empty Errors: %T %v", err, err)
			}
			for _, e := range es {
				if e.Pos.File != "f.yaml" {
					t.Fatalf("error without the file name: %q", e.Error())
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error shows a secret: %v", err)
			}
			return
		}
		errs := file.Validate(context.Background(), newFakeSource())
		if strings.Contains(errs.Error(), secret) {
			t.Fatalf("validation error shows a secret: %v", errs)
		}
	})
}
