package sagecrm

import (
	"fmt"
	"strings"
	"time"
)

// Sage CRM keeps dates in the server's local time and renders them with the
// server's offset (reference crm-api-facts.md B6). The connector converts
// exactly:
//
//   - a value with an offset or Z is that instant;
//   - a value without one is a wall time in server_timezone, resolved by
//     wallToInstant: in the repeated hour when clocks go back the earlier
//     instant (the first occurrence), and in the hour skipped when clocks go
//     forward the wall time is moved forward by the gap (02:30 becomes
//     03:30 daylight time), as java.time and PostgreSQL do;
//   - values sent to the server carry the server's local wall time and its
//     offset at that instant, so a server that honours offsets and one that
//     reads only the wall clock store the same thing.

// serverLayout is the date format Sage CRM answers with
// ("2015-02-07T00:00:00-05:00", B6).
const serverLayout = "2006-01-02T15:04:05-07:00"

// formatServer renders an instant as server local time with its offset.
func formatServer(t time.Time, loc *time.Location) string {
	return t.In(loc).Format(serverLayout)
}

// parseServer reads a date the server sent, as UTC.
func parseServer(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02"} {
		if w, err := time.Parse(layout, s); err == nil {
			return wallToInstant(w, loc), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 date and time", s)
}

// wallToInstant returns the instant at which clocks in loc show the wall
// time of w (w's own location is ignored), by the rules in the comment
// above. The result is in UTC.
func wallToInstant(w time.Time, loc *time.Location) time.Time {
	wall := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), time.UTC)
	// The offsets in force within a day either side cover any transition.
	var offsets []int
	for _, probe := range []time.Duration{-26 * time.Hour, 0, 26 * time.Hour} {
		_, off := wall.Add(probe).In(loc).Zone()
		seen := false
		for _, o := range offsets {
			seen = seen || o == off
		}
		if !seen {
			offsets = append(offsets, off)
		}
	}
	var best time.Time
	for _, off := range offsets {
		cand := wall.Add(-time.Duration(off) * time.Second)
		if _, got := cand.In(loc).Zone(); got != off {
			continue // this offset is not in force at that instant
		}
		if best.IsZero() || cand.Before(best) {
			best = cand
		}
	}
	if !best.IsZero() {
		return best.UTC()
	}
	// A skipped wall time: use the offset in force before the gap, which
	// lands after the gap by its length.
	_, before := wall.Add(-26 * time.Hour).In(loc).Zone()
	return wall.Add(-time.Duration(before) * time.Second).UTC()
}
