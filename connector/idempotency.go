package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// DefaultIdempotencyRetention is how long an IdempotencyKeys store keeps
// the id a create made. The host retries a batch with the same idempotency
// keys until its outcome is recorded in its ID map, which takes seconds to
// hours (an outage); a create retried later than this can make a second
// record.
const DefaultIdempotencyRetention = 7 * 24 * time.Hour

// IdempotencyPruneInterval is the least time between two sweeps of
// expired keys by one IdempotencyKeys.
const IdempotencyPruneInterval = time.Hour

// IdempotencyKeys keeps, in a connection's host value store, the id of the
// record each create made under the create's idempotency key, so that a
// create the host sends again (same key) can update that record instead
// of making a second one. Keys are "<prefix><scope>/<idempotency key>",
// the scope usually the entity; a value is the JSON object
// {"id": target id, "at": Unix seconds of the create}, or, as earlier
// connector versions kept it, the bare id. Entries older than the
// retention are deleted by Prune. Create it with NewIdempotencyKeys; it is
// safe for concurrent use.
type IdempotencyKeys struct {
	values    Store
	prefix    string
	retention time.Duration

	mu        sync.Mutex
	lastPrune time.Time
}

// NewIdempotencyKeys returns the store of the keys under prefix in values
// (a host's Values()), kept for retention (DefaultIdempotencyRetention
// when 0 or less).
func NewIdempotencyKeys(values Store, prefix string, retention time.Duration) *IdempotencyKeys {
	if retention <= 0 {
		retention = DefaultIdempotencyRetention
	}
	return &IdempotencyKeys{values: values, prefix: prefix, retention: retention}
}

// idemEntry is the value kept under an idempotency key.
type idemEntry struct {
	ID string `json:"id"`
	At int64  `json:"at"` // Unix seconds of the create
}

func encodeIdem(id string, at time.Time) []byte {
	b, _ := json.Marshal(idemEntry{ID: id, At: at.Unix()})
	return b
}

// decodeIdem reads a kept value; dated is false for a bare id.
func decodeIdem(b []byte) (e idemEntry, dated bool) {
	if json.Unmarshal(b, &e) == nil && e.ID != "" && e.At > 0 {
		return e, true
	}
	return idemEntry{ID: string(b)}, false
}

// Key is the value-store key of an idempotency key in scope.
func (k *IdempotencyKeys) Key(scope, key string) string { return k.prefix + scope + "/" + key }

// Lookup returns the id a create under key in scope made, if one is kept.
// An entry past the retention that Prune has not swept yet is still
// returned: it is no less true than before.
func (k *IdempotencyKeys) Lookup(ctx context.Context, scope, key string) (id string, found bool, err error) {
	b, ok, err := k.values.Get(ctx, k.Key(scope, key))
	if err != nil {
		return "", false, fmt.Errorf("reading idempotency key %s: %w", k.Key(scope, key), err)
	}
	if !ok {
		return "", false, nil
	}
	e, _ := decodeIdem(b)
	return e.ID, e.ID != "", nil
}

// Remember keeps id as what the create under key in scope made, dated at.
func (k *IdempotencyKeys) Remember(ctx context.Context, scope, key, id string, at time.Time) error {
	if err := k.values.Put(ctx, k.Key(scope, key), encodeIdem(id, at)); err != nil {
		return fmt.Errorf("storing idempotency key %s: %w", k.Key(scope, key), err)
	}
	return nil
}

// Prune deletes the entries dated more than the retention before now, at
// most once per IdempotencyPruneInterval (a call within it returns at
// once). A bare id kept by an earlier version carries no date: it is dated
// now, so it goes one retention later. When a sweep fails it is tried
// again at the next call.
func (k *IdempotencyKeys) Prune(ctx context.Context, now time.Time) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.lastPrune.IsZero() && now.Sub(k.lastPrune) < IdempotencyPruneInterval {
		return nil
	}
	kvs, err := k.values.List(ctx, k.prefix)
	if err != nil {
		return fmt.Errorf("listing idempotency keys: %w", err)
	}
	for _, kv := range kvs {
		e, dated := decodeIdem(kv.Value)
		switch {
		case !dated:
			err = k.values.Put(ctx, kv.Key, encodeIdem(e.ID, now))
		case now.Sub(time.Unix(e.At, 0)) > k.retention:
			err = k.values.Delete(ctx, kv.Key)
		}
		if err != nil {
			return fmt.Errorf("pruning idempotency key %s: %w", kv.Key, err)
		}
	}
	k.lastPrune = now
	return nil
}
