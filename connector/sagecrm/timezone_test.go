package sagecrm

import (
	"testing"
	"time"
)

func TestWallToInstantAcrossDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	wall := func(s string) time.Time {
		w, err := time.Parse("2006-01-02T15:04:05", s)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	cases := []struct {
		name string
		loc  *time.Location
		wall string
		want string // UTC
	}{
		{"winter", ny, "2024-01-15T10:00:00", "2024-01-15T15:00:00Z"},
		{"summer", ny, "2024-07-15T10:00:00", "2024-07-15T14:00:00Z"},
		{"just before the spring gap", ny, "2024-03-10T01:59:59", "2024-03-10T06:59:59Z"},
		// 02:30 does not exist on 10 March 2024 in New York: moved forward
		// by the gap to 03:30 EDT.
		{"skipped hour", ny, "2024-03-10T02:30:00", "2024-03-10T07:30:00Z"},
		{"just after the spring gap", ny, "2024-03-10T03:00:00", "2024-03-10T07:00:00Z"},
		// 01:30 happens twice on 3 November 2024: the first (EDT) is taken.
		{"repeated hour", ny, "2024-11-03T01:30:00", "2024-11-03T05:30:00Z"},
		{"after the repeated hour", ny, "2024-11-03T02:00:00", "2024-11-03T07:00:00Z"},
		{"london skipped hour", london, "2024-03-31T01:30:00", "2024-03-31T01:30:00Z"},
		{"london repeated hour", london, "2024-10-27T01:30:00", "2024-10-27T00:30:00Z"},
		{"utc", time.UTC, "2024-03-10T02:30:00", "2024-03-10T02:30:00Z"},
	}
	for _, tc := range cases {
		got := wallToInstant(wall(tc.wall), tc.loc)
		if got.Format(time.RFC3339) != tc.want {
			t.Errorf("%s: %s in %s: expected %s, got %s", tc.name, tc.wall, tc.loc, tc.want, got.Format(time.RFC3339))
		}
	}
}

func TestServerFormatRoundTripAcrossDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	// Every minute around both 2024 transitions survives formatting in server
	// time with its offset and parsing back: both occurrences of the
	// repeated hour stay distinct.
	for _, from := range []time.Time{
		time.Date(2024, 3, 10, 5, 0, 0, 0, time.UTC),
		time.Date(2024, 11, 3, 4, 0, 0, 0, time.UTC),
	} {
		seen := map[string]bool{}
		for m := 0; m < 240; m++ {
			inst := from.Add(time.Duration(m) * time.Minute)
			s := formatServer(inst, ny)
			if seen[s] {
				t.Fatalf("%s renders as %s, like an earlier instant", inst, s)
			}
			seen[s] = true
			back, err := parseServer(s, ny)
			if err != nil || !back.Equal(inst) {
				t.Fatalf("%s → %s → %v (%v)", inst, s, back, err)
			}
		}
	}
	if s := formatServer(time.Date(2024, 11, 3, 5, 30, 0, 0, time.UTC), ny); s != "2024-11-03T01:30:00-04:00" {
		t.Errorf("first 01:30: got %s", s)
	}
	if s := formatServer(time.Date(2024, 11, 3, 6, 30, 0, 0, time.UTC), ny); s != "2024-11-03T01:30:00-05:00" {
		t.Errorf("second 01:30: got %s", s)
	}
	// A date without offset is server local time.
	if got, _ := parseServer("2024-07-01T09:00:00", ny); !got.Equal(time.Date(2024, 7, 1, 13, 0, 0, 0, time.UTC)) {
		t.Errorf("offset-less date: got %v", got)
	}
}
