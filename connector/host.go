package connector

import (
	"context"
	"sort"
	"strings"
	"sync"
)

// Host is what the host offers a connector, scoped to its connection.
type Host interface {
	// Secrets keeps secrets encrypted by the host, such as refresh tokens a
	// connector rotates. A connector writes a rotated token here before it
	// uses it, so a crash never loses the only valid copy.
	Secrets() Store
	// Values keeps small connector-private state durably (for example the
	// occurrences of a series the connector created).
	Values() Store
}

// Store is a scoped key-value store. Get on a missing key returns found
// false and no error; Delete on a missing key succeeds.
type Store interface {
	Get(ctx context.Context, key string) (value []byte, found bool, err error)
	Put(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
	// List returns the entries under prefix in key order. For Secrets the
	// values are left nil: secrets are only read one by one.
	List(ctx context.Context, prefix string) ([]KeyValue, error)
}

// KeyValue is one entry of a Store.
type KeyValue struct {
	Key   string
	Value []byte
}

// MemoryHost is a Host kept in memory, for tests and in-process use without a
// state store. Its zero value is ready to use.
type MemoryHost struct {
	secrets, values MemoryStore
}

// Secrets returns the in-memory secret store.
func (h *MemoryHost) Secrets() Store { return &h.secrets }

// Values returns the in-memory value store.
func (h *MemoryHost) Values() Store { return &h.values }

// MemoryStore is a Store kept in memory. Its zero value is ready to use.
type MemoryStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

// Get returns a copy of the value under key.
func (s *MemoryStore) Get(_ context.Context, key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return append([]byte(nil), v...), ok, nil
}

// Put stores a copy of value under key.
func (s *MemoryStore) Put(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	s.m[key] = append([]byte{}, value...)
	return nil
}

// Delete removes key.
func (s *MemoryStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// List returns the entries under prefix in key order.
func (s *MemoryStore) List(_ context.Context, prefix string) ([]KeyValue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []KeyValue
	for k, v := range s.m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, KeyValue{Key: k, Value: append([]byte(nil), v...)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
