package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/syncplane/syncplane/connector"
)

// The write path keeps entries in the connection's Values store:
// "created/<entity>/<hash>" (the create made under an idempotency key,
// createdRef), "occurrence/<mailbox>/<id>" (an occurrence of a series the
// connector created, pointing at its master, occurrenceRef) and
// "series/<mailbox>/<master id>" (the series' occurrences). Each has a
// lifetime, and sweepWriteState deletes those past it, so the store does
// not grow without bound.

// writeStateRetention is how long a created/ entry is kept after it was
// written: the host sends an op again with the same idempotency key until
// its outcome is recorded, which takes seconds to hours (an outage); a
// create sent again later than this is created anew.
const writeStateRetention = connector.DefaultIdempotencyRetention

// sweepInterval is the least time between two complete sweeps.
const sweepInterval = time.Hour

// sweepBudget bounds the entries one Write call deletes or rewrites; a
// sweep with more to do goes on at the next call.
const sweepBudget = 500

// sweptKey holds the Unix seconds of the last complete sweep.
const sweptKey = "writestate/swept"

// occurrenceRef is the value of an occurrence/ entry.
type occurrenceRef struct {
	Master string `json:"master"`
	Start  int64  `json:"start"` // Unix seconds of the occurrence's start
}

// decodeOccurrence reads an occurrence/ entry; dated is false for the
// bare master id earlier versions stored.
func decodeOccurrence(b []byte) (ref occurrenceRef, dated bool) {
	if len(b) > 0 && b[0] == '{' && json.Unmarshal(b, &ref) == nil && ref.Master != "" {
		return ref, true
	}
	return occurrenceRef{Master: string(b)}, false
}

// occurrenceStart reads the start dateTime of an occurrence as Graph
// writes it ("2026-03-02T09:00:00.0000000", in the zone of the answer; UTC
// unless the connection names a zone — a day's error does not matter for
// a lifetime counted in days), or fallback when it cannot be read.
func occurrenceStart(dt string, fallback time.Time) time.Time {
	for _, layout := range []string{"2006-01-02T15:04:05.9999999", time.RFC3339Nano} {
		if t, err := time.Parse(layout, dt); err == nil {
			return t
		}
	}
	return fallback
}

// occurrenceCutoff is the start before which an occurrence's entry is no
// longer needed: its tombstone matters while the occurrence is inside the
// sync window, whose start moves forward day by day (Connector.window),
// and is kept writeStateRetention beyond that.
func (c *Connector) occurrenceCutoff(now time.Time) time.Time {
	start, _ := c.window(now.UTC())
	return start.Add(-writeStateRetention)
}

// sweepWriteState deletes the write path's entries past their lifetime:
// created/ entries written more than writeStateRetention ago,
// occurrence/ entries of occurrences starting before occurrenceCutoff, and
// series/ entries whose occurrences all do. Entries of earlier versions,
// which carry no date, are dated now (they go one lifetime later). A
// complete sweep runs at most once per sweepInterval; one call deletes or
// rewrites at most sweepBudget entries, and a sweep cut short so goes on
// at the next call.
func (c *Connector) sweepWriteState(ctx context.Context) error {
	vals := c.host.Values()
	now := c.now()
	if b, ok, err := vals.Get(ctx, sweptKey); err != nil {
		return fmt.Errorf("reading the last sweep of the write state: %w", err)
	} else if ok {
		if last, err := strconv.ParseInt(string(b), 10, 64); err == nil && now.Sub(time.Unix(last, 0)) < sweepInterval {
			return nil
		}
	}
	budget := sweepBudget
	cutoff := c.occurrenceCutoff(now)
	for _, prefix := range []string{"created/", "occurrence/", "series/"} {
		kvs, err := vals.List(ctx, prefix)
		if err != nil {
			return fmt.Errorf("listing %s entries: %w", prefix, err)
		}
		for _, kv := range kvs {
			if budget == 0 {
				return nil // the next call goes on
			}
			del, rewrite := c.expired(prefix, kv.Value, now, cutoff)
			switch {
			case del:
				err = vals.Delete(ctx, kv.Key)
			case rewrite != nil:
				err = vals.Put(ctx, kv.Key, rewrite)
			default:
				continue
			}
			if err != nil {
				return fmt.Errorf("sweeping %s: %w", kv.Key, err)
			}
			budget--
		}
	}
	if err := vals.Put(ctx, sweptKey, []byte(strconv.FormatInt(now.Unix(), 10))); err != nil {
		return fmt.Errorf("recording the sweep of the write state: %w", err)
	}
	return nil
}

// expired says whether an entry under prefix is past its lifetime, or
// gives the dated value that replaces an undated one.
func (c *Connector) expired(prefix string, value []byte, now, cutoff time.Time) (bool, []byte) {
	switch prefix {
	case "created/":
		var ref createdRef
		if json.Unmarshal(value, &ref) != nil {
			return true, nil // unreadable: of no use to a lookup
		}
		if ref.At == 0 {
			ref.At = now.Unix()
			b, _ := json.Marshal(ref)
			return false, b
		}
		return now.Sub(time.Unix(ref.At, 0)) > writeStateRetention, nil
	case "occurrence/":
		ref, dated := decodeOccurrence(value)
		if !dated {
			// Its start is unknown: counted from now, the entry lives as
			// long as one of an occurrence starting today.
			ref.Start = now.Unix()
			b, _ := json.Marshal(ref)
			return false, b
		}
		return time.Unix(ref.Start, 0).Before(cutoff), nil
	case "series/":
		var occ []seriesOccurrence
		if json.Unmarshal(value, &occ) != nil {
			return true, nil
		}
		for _, o := range occ {
			if !occurrenceStart(o.Start, now).Before(cutoff) {
				return false, nil
			}
		}
		return true, nil
	}
	return false, nil
}

// writeStateKeys counts the entries under the write path's prefixes, for
// tests and diagnostics.
func (c *Connector) writeStateKeys(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	for _, prefix := range []string{"created/", "occurrence/", "series/"} {
		kvs, err := c.host.Values().List(ctx, prefix)
		if err != nil {
			return nil, err
		}
		out[strings.TrimSuffix(prefix, "/")] = len(kvs)
	}
	return out, nil
}
