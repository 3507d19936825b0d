package transforms

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
)

func TestWindowsZoneTable(t *testing.T) {
	if len(windowsZones) < 130 {
		t.Errorf("windowsZones has %d entries, want the ~139 CLDR maps", len(windowsZones))
	}
	for w, iana := range windowsZones {
		if _, err := time.LoadLocation(iana); err != nil {
			t.Errorf("%s → %s: %v", w, iana, err)
		}
		if back, ok := IANAToWindows(iana); !ok || windowsZones[back] != iana {
			t.Errorf("IANAToWindows(%s) = %q, %v", iana, back, ok)
		}
	}
	for iana, w := range ianaToWindows {
		if _, err := time.LoadLocation(iana); err != nil {
			t.Errorf("alias %s: %v", iana, err)
		}
		if _, ok := windowsZones[w]; !ok {
			t.Errorf("alias %s names %q, which is not a Windows zone in the table", iana, w)
		}
	}
}

// TestWindowsZonesAgreeWithIANA checks that each Windows zone's IANA zone
// has the UTC offsets the Windows name promises on a winter and a summer
// day, for zones whose rules are stable and well known.
func TestWindowsZonesAgreeWithIANA(t *testing.T) {
	for _, tc := range []struct {
		windows               string
		janOffset, julyOffset time.Duration
	}{
		{"W. Europe Standard Time", 1 * time.Hour, 2 * time.Hour},
		{"Romance Standard Time", 1 * time.Hour, 2 * time.Hour},
		{"GMT Standard Time", 0, 1 * time.Hour},
		{"Greenwich Standard Time", 0, 0},
		{"FLE Standard Time", 2 * time.Hour, 3 * time.Hour},
		{"Russian Standard Time", 3 * time.Hour, 3 * time.Hour},
		{"India Standard Time", 5*time.Hour + 30*time.Minute, 5*time.Hour + 30*time.Minute},
		{"Nepal Standard Time", 5*time.Hour + 45*time.Minute, 5*time.Hour + 45*time.Minute},
		{"China Standard Time", 8 * time.Hour, 8 * time.Hour},
		{"Tokyo Standard Time", 9 * time.Hour, 9 * time.Hour},
		{"AUS Eastern Standard Time", 11 * time.Hour, 10 * time.Hour},
		{"E. Australia Standard Time", 10 * time.Hour, 10 * time.Hour},
		{"New Zealand Standard Time", 13 * time.Hour, 12 * time.Hour},
		{"Eastern Standard Time", -5 * time.Hour, -4 * time.Hour},
		{"Central Standard Time", -6 * time.Hour, -5 * time.Hour},
		{"Mountain Standard Time", -7 * time.Hour, -6 * time.Hour},
		{"US Mountain Standard Time", -7 * time.Hour, -7 * time.Hour},
		{"Pacific Standard Time", -8 * time.Hour, -7 * time.Hour},
		{"Hawaiian Standard Time", -10 * time.Hour, -10 * time.Hour},
		{"E. South America Standard Time", -3 * time.Hour, -3 * time.Hour},
		{"UTC-11", -11 * time.Hour, -11 * time.Hour},
		{"UTC+12", 12 * time.Hour, 12 * time.Hour},
		{"UTC", 0, 0},
	} {
		loc, err := LoadZone(tc.windows)
		if err != nil {
			t.Errorf("%s: %v", tc.windows, err)
			continue
		}
		for _, c := range []struct {
			at   time.Time
			want time.Duration
		}{{time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC), tc.janOffset}, {time.Date(2025, 7, 15, 12, 0, 0, 0, time.UTC), tc.julyOffset}} {
			_, off := c.at.In(loc).Zone()
			if time.Duration(off)*time.Second != c.want {
				t.Errorf("%s on %s: offset %v, want %v", tc.windows, c.at.Format("Jan"), time.Duration(off)*time.Second, c.want)
			}
		}
	}
}

func TestTZConversion(t *testing.T) {
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, tc := range []struct {
		name     string
		value    any
		from, to string
		want     time.Time
		wantZone string
	}{
		// Europe switches to summer time on 2024-03-31 at 01:00 UTC.
		{"Berlin winter", "2024-03-30T10:00:00.0000000", "W. Europe Standard Time", "UTC", utc("2024-03-30T09:00:00Z"), "UTC"},
		{"Berlin summer", "2024-03-31T10:00:00.0000000", "W. Europe Standard Time", "UTC", utc("2024-03-31T08:00:00Z"), "UTC"},
		{"Berlin summer, IANA name", "2024-03-31T10:00:00", "Europe/Berlin", "Etc/UTC", utc("2024-03-31T08:00:00Z"), "Etc/UTC"},
		// The US switched on 2024-03-10, Europe three weeks later: New York
		// is 5 hours behind Berlin instead of 6 in between.
		{"New York to Berlin between the switches", "2024-03-15T09:00:00", "Eastern Standard Time", "Europe/Berlin", utc("2024-03-15T13:00:00Z"), "Europe/Berlin"},
		{"New York to Berlin before", "2024-03-08T09:00:00", "Eastern Standard Time", "W. Europe Standard Time", utc("2024-03-08T14:00:00Z"), "Europe/Berlin"},
		{"Sydney summer (southern)", "2024-01-10T09:00:00", "AUS Eastern Standard Time", "UTC", utc("2024-01-09T22:00:00Z"), "UTC"},
		{"Sydney winter (southern)", "2024-07-10T09:00:00", "Australia/Sydney", "UTC", utc("2024-07-09T23:00:00Z"), "UTC"},
		// A wall-clock time skipped by the spring-forward change is moved on.
		{"in the spring-forward gap", "2024-03-31T02:30:00", "Europe/Berlin", "UTC", utc("2024-03-31T01:30:00Z"), "UTC"},
		// Values that carry an offset ignore the source zone.
		{"RFC 3339 with offset", "2024-03-31T10:00:00+02:00", "Pacific Standard Time", "UTC", utc("2024-03-31T08:00:00Z"), "UTC"},
		{"timestamp value", utc("2024-06-01T12:00:00Z"), "Tokyo Standard Time", "India Standard Time", utc("2024-06-01T12:00:00Z"), "Asia/Calcutta"},
		{"Graph's UTC zone name", "2024-06-01T12:00:00.0000000", "tzone://Microsoft/Utc", "Pacific Standard Time", utc("2024-06-01T12:00:00Z"), "America/Los_Angeles"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Compile(Spec{Fields: []FieldSpec{{Target: "T", Expr: "v", TZ: &TZSpec{From: "zone", To: tc.to}}}}, Env{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := m.Apply(context.Background(), connector.Record{Fields: map[string]any{"v": tc.value, "zone": tc.from}})
			if err != nil {
				t.Fatal(err)
			}
			got, ok := res.Record.Fields["T"].(time.Time)
			if !ok || !got.Equal(tc.want) || got.Location().String() != tc.wantZone {
				t.Errorf("got %v (%v), want %v in %s", res.Record.Fields["T"], ok, tc.want, tc.wantZone)
			}
		})
	}
}

func TestTZErrors(t *testing.T) {
	m, err := Compile(Spec{Fields: []FieldSpec{{Target: "T", Expr: "v", TZ: &TZSpec{From: "zone", To: "UTC"}, Pos: Position{File: "p.yaml", Line: 4, Column: 7}}}}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		v, zone any
		want    string
	}{
		{"2024-03-31T10:00:00", "Mars Standard Time", `p.yaml:4:7: mapping field T: tz.from: unknown time zone "Mars Standard Time"`},
		{"2024-03-31T10:00:00", nil, "no UTC offset and no source time zone"},
		{"next tuesday", "UTC", `cannot read "next tuesday" as a date-time`},
		{int64(5), "UTC", "cannot convert a int64 between time zones"},
		{"2024-03-31T10:00:00", "Local", `unknown time zone "Local"`},
	} {
		_, err := m.Apply(context.Background(), connector.Record{Fields: map[string]any{"v": tc.v, "zone": tc.zone}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("v=%v zone=%v: err = %v, want %q", tc.v, tc.zone, err, tc.want)
		}
	}
}

func TestZoneFunctions(t *testing.T) {
	m, err := Compile(Spec{Fields: []FieldSpec{
		{Target: "win", Expr: `windowsZone(zone)`},
		{Target: "iana", Expr: `ianaZone("Pacific Standard Time")`},
		{Target: "winOfWin", Expr: `windowsZone("Tokyo Standard Time")`},
		{Target: "local", Expr: `tz("2024-07-01T09:00:00", "Romance Standard Time", "UTC")`},
	}}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Apply(context.Background(), connector.Record{Fields: map[string]any{"zone": "Europe/Rome"}})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Record.Fields
	if f["win"] != "W. Europe Standard Time" || f["iana"] != "America/Los_Angeles" || f["winOfWin"] != "Tokyo Standard Time" {
		t.Errorf("fields = %v", f)
	}
	if lt, _ := f["local"].(time.Time); !lt.Equal(time.Date(2024, 7, 1, 7, 0, 0, 0, time.UTC)) {
		t.Errorf("local = %v", f["local"])
	}
}
