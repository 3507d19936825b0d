package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"
)

// UsageKey is the key, in a connection's host value store, of the usage
// totals of t's UTC day: "usage/YYYY-MM-DD". The value is a JSON object of
// integer counters, e.g. {"credits":1000,"requests":100}; the host reads it
// before and after a run and shows the difference in the run summary.
func UsageKey(t time.Time) string { return "usage/" + t.UTC().Format(time.DateOnly) }

// AddUsage adds delta to the counters of now's UTC day under UsageKey in
// the host's value store. A counter absent from the day's object, or held
// there as something other than an integer, starts from 0; members of the
// object that delta does not name are kept as they are (other code of the
// connection may count there too). A stored value that is not a JSON
// object is replaced by a new day. With every delta zero nothing is read or
// written. The read and the write are not atomic: two processes adding to
// the same day at the same moment can lose one addition.
func AddUsage(ctx context.Context, host Host, now time.Time, delta map[string]int64) error {
	zero := true
	for _, v := range delta {
		zero = zero && v == 0
	}
	if zero {
		return nil
	}
	store := host.Values()
	key := UsageKey(now)
	day := map[string]json.RawMessage{}
	b, ok, err := store.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("reading %s: %w", key, err)
	}
	if ok && json.Unmarshal(b, &day) != nil {
		day = map[string]json.RawMessage{} // not a JSON object: start the day again
	}
	if day == nil { // the stored value was JSON null
		day = map[string]json.RawMessage{}
	}
	for k, v := range delta {
		var n int64
		_ = json.Unmarshal(day[k], &n) // absent or not an integer: from 0
		day[k] = json.RawMessage(strconv.FormatInt(n+v, 10))
	}
	if b, err = json.Marshal(day); err != nil {
		return fmt.Errorf("encoding %s: %w", key, err)
	}
	if err := store.Put(ctx, key, b); err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	return nil
}

// UsageSaver adds a connection's running usage counters to the day's
// totals (AddUsage) as they grow: each Save adds what the counters gained
// since the last successful Save. The zero value is ready to use; it is
// safe for concurrent use, and one connector instance keeps one.
type UsageSaver struct {
	mu    sync.Mutex
	saved map[string]int64
}

// Save reads the running totals with totals (called under the saver's
// lock, so concurrent saves never add a gain twice or a negative one) and
// adds their gain since the last successful Save to the day of now. When
// AddUsage fails the gain is kept and added by a later Save.
func (s *UsageSaver) Save(ctx context.Context, host Host, now time.Time, totals func() map[string]int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := totals()
	delta := make(map[string]int64, len(cur))
	for k, v := range cur {
		delta[k] = v - s.saved[k]
	}
	if err := AddUsage(ctx, host, now, delta); err != nil {
		return err
	}
	s.saved = maps.Clone(cur)
	return nil
}
