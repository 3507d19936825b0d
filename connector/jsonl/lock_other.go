//go:build !unix

package jsonl

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
)

// dirLocks serializes writers of one directory within this process. Without
// flock(2) there is no lock shared with other processes on this platform;
// this map is the one piece of process-wide state in the package.
var dirLocks sync.Map // absolute dir → *sync.Mutex

// lockDir takes the directory's writer lock within this process.
func lockDir(ctx context.Context, dir string) (unlock func(), err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	m, _ := dirLocks.LoadOrStore(abs, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	done := make(chan struct{})
	go func() { mu.Lock(); close(done) }()
	select {
	case <-done:
		return mu.Unlock, nil
	case <-ctx.Done():
		go func() { <-done; mu.Unlock() }()
		return nil, fmt.Errorf("waiting for the lock of %s: %w", dir, ctx.Err())
	}
}

// syncDir is a no-op where directories cannot be synced.
func syncDir(string) error { return nil }
