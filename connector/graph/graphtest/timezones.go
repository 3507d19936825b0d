package graphtest

import (
	"fmt"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // the emulator must convert time zones on machines without a zoneinfo database
)

// windowsZones maps Windows time zone names — the names Graph uses in
// dateTimeTimeZone.timeZone and Prefer: outlook.timezone (facts §3: "Time
// zone names must be Windows names (list in datetimetimezone.md)") — to IANA
// locations. It covers the common zones; unknown names are rejected.
var windowsZones = map[string]string{
	"UTC":                             "UTC",
	"Dateline Standard Time":          "Etc/GMT+12",
	"Hawaiian Standard Time":          "Pacific/Honolulu",
	"Alaskan Standard Time":           "America/Anchorage",
	"Pacific Standard Time":           "America/Los_Angeles",
	"US Mountain Standard Time":       "America/Phoenix",
	"Mountain Standard Time":          "America/Denver",
	"Central Standard Time":           "America/Chicago",
	"Central America Standard Time":   "America/Guatemala",
	"Eastern Standard Time":           "America/New_York",
	"Atlantic Standard Time":          "America/Halifax",
	"Newfoundland Standard Time":      "America/St_Johns",
	"E. South America Standard Time":  "America/Sao_Paulo",
	"Argentina Standard Time":         "America/Buenos_Aires",
	"GMT Standard Time":               "Europe/London",
	"Greenwich Standard Time":         "Atlantic/Reykjavik",
	"W. Europe Standard Time":         "Europe/Berlin",
	"Central Europe Standard Time":    "Europe/Budapest",
	"Central European Standard Time":  "Europe/Warsaw",
	"Romance Standard Time":           "Europe/Paris",
	"E. Europe Standard Time":         "Europe/Chisinau",
	"FLE Standard Time":               "Europe/Kiev",
	"GTB Standard Time":               "Europe/Bucharest",
	"Turkey Standard Time":            "Europe/Istanbul",
	"Israel Standard Time":            "Asia/Jerusalem",
	"South Africa Standard Time":      "Africa/Johannesburg",
	"Russian Standard Time":           "Europe/Moscow",
	"Arabian Standard Time":           "Asia/Dubai",
	"Pakistan Standard Time":          "Asia/Karachi",
	"India Standard Time":             "Asia/Kolkata",
	"SE Asia Standard Time":           "Asia/Bangkok",
	"China Standard Time":             "Asia/Shanghai",
	"Singapore Standard Time":         "Asia/Singapore",
	"Tokyo Standard Time":             "Asia/Tokyo",
	"Korea Standard Time":             "Asia/Seoul",
	"AUS Eastern Standard Time":       "Australia/Sydney",
	"E. Australia Standard Time":      "Australia/Brisbane",
	"Cen. Australia Standard Time":    "Australia/Adelaide",
	"W. Australia Standard Time":      "Australia/Perth",
	"New Zealand Standard Time":       "Pacific/Auckland",
	"Mountain Standard Time (Mexico)": "America/Chihuahua",
	"Central Standard Time (Mexico)":  "America/Mexico_City",
	"SA Pacific Standard Time":        "America/Bogota",
	"Venezuela Standard Time":         "America/Caracas",
	"Egypt Standard Time":             "Africa/Cairo",
	"W. Central Africa Standard Time": "Africa/Lagos",
	"E. Africa Standard Time":         "Africa/Nairobi",
	"Arab Standard Time":              "Asia/Riyadh",
	"Iran Standard Time":              "Asia/Tehran",
	"Bangladesh Standard Time":        "Asia/Dhaka",
	"Taipei Standard Time":            "Asia/Taipei",
}

type zoneEntry struct {
	loc  *time.Location
	name string
	// applied is the Preference-Applied value of a Prefer:
	// outlook.timezone naming the zone (preferredZone).
	applied []string
}

var (
	zoneOnce  sync.Once
	zoneIndex map[string]zoneEntry // lower-case Windows name -> zone
	zoneExact map[string]zoneEntry // Windows name as windowsZones spells it -> zone
)

// zone resolves a Windows time zone name (case-insensitive); ok is false
// for names the service would reject.
func zone(name string) (loc *time.Location, canonical string, ok bool) {
	z, ok := findZone(name)
	return z.loc, z.name, ok
}

// findZone is zone giving the zone's entry.
func findZone(name string) (zoneEntry, bool) {
	zoneOnce.Do(func() {
		zoneIndex = make(map[string]zoneEntry, len(windowsZones))
		zoneExact = make(map[string]zoneEntry, len(windowsZones))
		for win, iana := range windowsZones {
			if l, err := time.LoadLocation(iana); err == nil {
				z := zoneEntry{loc: l, name: win, applied: []string{fmt.Sprintf("outlook.timezone=%q", win)}}
				zoneIndex[strings.ToLower(win)] = z
				zoneExact[win] = z
			}
		}
	})
	// Names come mostly as they are spelled (every rendered event's
	// zone): found so without lower-casing them.
	if z, ok := zoneExact[name]; ok {
		return z, true
	}
	z, ok := zoneIndex[strings.ToLower(name)]
	return z, ok
}

// graphTimeLayout is the layout Graph writes dateTimeTimeZone.dateTime in
// ("2017-04-15T11:00:00.0000000", graph-examples/event-create-response-1.json).
const graphTimeLayout = "2006-01-02T15:04:05.0000000"

// parseLocalTime parses a dateTimeTimeZone.dateTime (ISO 8601 without an
// offset, fractional seconds optional) in loc.
func parseLocalTime(s string, loc *time.Location) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// parseQueryTime parses startDateTime/endDateTime: ISO 8601, the offset
// decides the zone and a missing offset means UTC (facts §1.1, beta
// event-delta.md; the Prefer header does not apply).
func parseQueryTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	if t, ok := parseLocalTime(s, time.UTC); ok {
		return t, true
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// dtz renders a dateTimeTimeZone in the named zone.
func dtz(t time.Time, tzName string) map[string]any {
	loc, canon, ok := zone(tzName)
	if !ok {
		loc, canon = time.UTC, "UTC"
	}
	return map[string]any{"dateTime": t.In(loc).Format(graphTimeLayout), "timeZone": canon}
}
