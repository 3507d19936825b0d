package runner

import (
	"context"
	"encoding/json"
	"strconv"
	"time"
)

// UsageKeyPrefix starts the connector value-store keys under which a
// connector keeps its per-day usage counters: UsageKeyPrefix + the UTC day
// (YYYY-MM-DD), holding a JSON object of integer counters such as
// {"credits":1000,"requests":100}.
const UsageKeyPrefix = "usage/"

// UsageKey returns the value-store key of the usage counters of t's UTC day.
func UsageKey(t time.Time) string { return UsageKeyPrefix + t.UTC().Format(time.DateOnly) }

// usageSnapshot is the usage counters of some connections on some days:
// connection → day key → counter → value.
type usageSnapshot map[string]map[string]map[string]int64

// readUsage reads the usage counters the connections keep for the days of
// keys. A connection keeping none, or a value that is not a JSON object
// of integers, counts nothing: usage is reported, never a reason to fail.
func (r *Runner) readUsage(ctx context.Context, conns []string, keys []string) usageSnapshot {
	out := usageSnapshot{}
	for _, conn := range conns {
		vs := r.st.Host(conn).Values()
		for _, key := range keys {
			b, ok, err := vs.Get(ctx, key)
			if err != nil || !ok {
				continue
			}
			counters := decodeUsage(b)
			if len(counters) == 0 {
				continue
			}
			if out[conn] == nil {
				out[conn] = map[string]map[string]int64{}
			}
			out[conn][key] = counters
		}
	}
	return out
}

// decodeUsage reads a JSON object of counters, keeping its integer members.
func decodeUsage(b []byte) map[string]int64 {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil
	}
	out := make(map[string]int64, len(raw))
	for k, v := range raw {
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// usageDiff returns what the counters grew by from before to after, per
// connection and counter, summed over the days; counters that did not grow
// are left out, and nil when nothing grew.
func usageDiff(before, after usageSnapshot) map[string]map[string]int64 {
	var out map[string]map[string]int64
	for conn, days := range after {
		for day, counters := range days {
			for name, v := range counters {
				d := v - before[conn][day][name]
				if d <= 0 {
					continue
				}
				if out == nil {
					out = map[string]map[string]int64{}
				}
				if out[conn] == nil {
					out[conn] = map[string]int64{}
				}
				out[conn][name] += d
			}
		}
	}
	return out
}

// usageConnections returns the connections of a pipeline whose usage a run
// reports: its source and its target, once each.
func (r *Runner) usageConnections(pipeline string) []string {
	p, err := r.pipeline(pipeline)
	if err != nil {
		return nil
	}
	if p.From.Connection == p.To.Connection {
		return []string{p.From.Connection}
	}
	return []string{p.From.Connection, p.To.Connection}
}

// withUsage runs fn and adds to its summary what the pipeline's
// connections report they used meanwhile (UsageKey counters of the days the
// run touched).
func (r *Runner) withUsage(ctx context.Context, pipeline string, fn func() (Summary, error)) (Summary, error) {
	conns := r.usageConnections(pipeline)
	startKey := UsageKey(r.opts.Now())
	before := r.readUsage(ctx, conns, []string{startKey})
	sum, err := fn()
	keys := []string{startKey}
	if endKey := UsageKey(r.opts.Now()); endKey != startKey {
		keys = append(keys, endKey)
	}
	sum.Usage = usageDiff(before, r.readUsage(context.WithoutCancel(ctx), conns, keys))
	return sum, err
}
