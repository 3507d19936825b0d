package transforms

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	// The zone database is embedded so that conversions behave the same on
	// hosts without /usr/share/zoneinfo (containers, Windows).
	_ "time/tzdata"

	"github.com/syncplane/syncplane/transforms/suggest"
)

// zoneCache resolves zone names once: time.LoadLocation reads and parses
// zone data on every call.
type zoneCache struct {
	m sync.Map // name → *time.Location
}

func newZoneCache() *zoneCache { return &zoneCache{} }

// resolve returns the location for an IANA or Windows zone name.
func (z *zoneCache) resolve(name string) (*time.Location, error) {
	if loc, ok := z.m.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := LoadZone(name)
	if err != nil {
		return nil, err
	}
	z.m.Store(name, loc)
	return loc, nil
}

// LoadZone returns the location for a zone name, IANA ("Europe/Berlin") or
// Windows ("W. Europe Standard Time", as Microsoft Graph and Exchange use).
// Windows names are translated with the CLDR windowsZones table (see
// WindowsToIANA). "Local" and the empty name are refused: a mapping must not
// depend on the host's zone.
func LoadZone(name string) (*time.Location, error) {
	n := strings.TrimSpace(name)
	switch {
	case n == "" || n == "Local":
		return nil, fmt.Errorf("unknown time zone %q", name)
	case strings.EqualFold(n, "tzone://Microsoft/Utc"):
		return time.UTC, nil
	}
	// IANA first: "UTC" is both an IANA and a Windows name and should stay
	// time.UTC.
	if loc, err := time.LoadLocation(n); err == nil {
		return loc, nil
	}
	if iana, ok := WindowsToIANA(n); ok {
		if loc, err := time.LoadLocation(iana); err == nil {
			return loc, nil
		}
	}
	return nil, fmt.Errorf("unknown time zone %q", name)
}

// WindowsToIANA returns the IANA zone CLDR designates for a Windows zone
// name (its territory "001" entry). Case is ignored.
func WindowsToIANA(windows string) (string, bool) {
	if iana, ok := windowsZones[windows]; ok {
		return iana, true
	}
	for w, iana := range windowsZones {
		if strings.EqualFold(w, windows) {
			return iana, true
		}
	}
	return "", false
}

// IANAToWindows returns the Windows zone name for an IANA zone: the zone
// whose CLDR territory "001" entry it is, or the Windows zone CLDR lists it
// under for its territory (Europe/Rome → W. Europe Standard Time). Current
// and older IANA spellings are both accepted (Asia/Kolkata, Asia/Calcutta).
func IANAToWindows(iana string) (string, bool) {
	if w, ok := ianaToWindows[iana]; ok {
		return w, true
	}
	for w, i := range windowsZones {
		if i == iana {
			return w, true
		}
	}
	return "", false
}

var zoneNameRE = regexp.MustCompile(`^(?:[A-Za-z_]+(?:/[A-Za-z0-9_+\-]+)+|.*Standard Time.*|UTC[+\-]?[0-9:]*)$`)

// looksLikeZoneName tells a misspelt zone name from an expression.
func looksLikeZoneName(s string) bool { return zoneNameRE.MatchString(s) }

func suggestZone(s string) string {
	names := make([]string, 0, len(windowsZones)*2+len(ianaToWindows))
	for w, i := range windowsZones {
		names = append(names, w, i)
	}
	for i := range ianaToWindows {
		names = append(names, i)
	}
	// Sorted for a deterministic tie-break.
	sort.Strings(names)
	return suggest.Nearest(s, names)
}

// wallLayouts are the forms of a date-time without a UTC offset, read in the
// source zone. Graph's dateTimeTimeZone.dateTime uses seven fraction digits.
var wallLayouts = []string{
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02",
}

// instant turns a value into a point in time. Timestamps and strings with a
// UTC offset are instants already; a wall-clock string is read in from. A
// wall-clock time that does not exist in from (skipped by a daylight-saving
// change) is normalized forward by Go's time.Date rules.
func instant(v any, from *time.Location) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case *time.Time:
		if x != nil {
			return *x, nil
		}
	case string:
		s := strings.TrimSpace(x)
		if t, ok := parseWall(s); ok {
			if from == nil {
				return time.Time{}, fmt.Errorf("date-time %q has no UTC offset and no source time zone is given", x)
			}
			return time.Date(t.year, t.month, t.day, t.hour, t.min, t.sec, t.nsec, from), nil
		}
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, nil
		}
		for _, layout := range wallLayouts {
			t, err := time.Parse(layout, s)
			if err != nil {
				continue
			}
			if from == nil {
				return time.Time{}, fmt.Errorf("date-time %q has no UTC offset and no source time zone is given", x)
			}
			y, mo, d := t.Date()
			h, mi, sec := t.Clock()
			return time.Date(y, mo, d, h, mi, sec, t.Nanosecond(), from), nil
		}
		return time.Time{}, fmt.Errorf("cannot read %q as a date-time", x)
	}
	return time.Time{}, fmt.Errorf("cannot convert a %T between time zones", v)
}

// tzFunc implements tz(value, from, to) for expressions.
func (m *Mapping) tzFunc(params ...any) (any, error) {
	if len(params) != 3 {
		return nil, errors.New("tz takes a value, a source zone and a target zone")
	}
	if params[0] == nil {
		return nil, nil
	}
	var from *time.Location
	if name, _ := params[1].(string); name != "" {
		loc, err := m.zones.resolve(name)
		if err != nil {
			return nil, fmt.Errorf("tz: %w", err)
		}
		from = loc
	}
	name, _ := params[2].(string)
	to, err := m.zones.resolve(name)
	if err != nil {
		return nil, fmt.Errorf("tz: %w", err)
	}
	t, err := instant(params[0], from)
	if err != nil {
		return nil, fmt.Errorf("tz: %w", err)
	}
	return t.In(to), nil
}

// windowsZoneFunc implements windowsZone(name): the Windows name of an IANA
// zone (a Windows name is returned as it is).
func windowsZoneFunc(params ...any) (any, error) {
	name, _ := params[0].(string)
	if name == "" {
		return nil, nil
	}
	if _, ok := windowsZones[name]; ok {
		return name, nil
	}
	if w, ok := IANAToWindows(name); ok {
		return w, nil
	}
	return nil, fmt.Errorf("windowsZone: no Windows zone for %q", name)
}

// ianaZoneFunc implements ianaZone(name): the IANA name of a Windows zone (a
// valid IANA name is returned as it is).
func ianaZoneFunc(params ...any) (any, error) {
	name, _ := params[0].(string)
	if name == "" {
		return nil, nil
	}
	if i, ok := WindowsToIANA(name); ok {
		return i, nil
	}
	if _, err := time.LoadLocation(name); err == nil && name != "Local" {
		return name, nil
	}
	return nil, fmt.Errorf("ianaZone: unknown time zone %q", name)
}

type wallTime struct {
	year                      int
	month                     time.Month
	day, hour, min, sec, nsec int
}

// parseWall reads the common form YYYY-MM-DDTHH:MM:SS[.fraction] without an
// offset (what Graph's dateTimeTimeZone holds) without the cost of
// time.Parse. Anything else is left to the general layouts.
func parseWall(s string) (wallTime, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return wallTime{}, false
	}
	num := func(a, b int) (int, bool) {
		n := 0
		for i := a; i < b; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	var w wallTime
	var ok [6]bool
	var mo int
	w.year, ok[0] = num(0, 4)
	mo, ok[1] = num(5, 7)
	w.day, ok[2] = num(8, 10)
	w.hour, ok[3] = num(11, 13)
	w.min, ok[4] = num(14, 16)
	w.sec, ok[5] = num(17, 19)
	for _, o := range ok {
		if !o {
			return wallTime{}, false
		}
	}
	w.month = time.Month(mo)
	rest := s[19:]
	if rest != "" {
		if rest[0] != '.' || len(rest) < 2 || len(rest) > 10 {
			return wallTime{}, false
		}
		frac, good := num(20, len(s))
		if !good {
			return wallTime{}, false
		}
		for i := len(rest) - 1; i < 9; i++ {
			frac *= 10
		}
		w.nsec = frac
	}
	// Out-of-range fields are refused here, as time.Parse would refuse them.
	if w.month < 1 || w.month > 12 || w.day < 1 || w.day > 31 || w.hour > 23 || w.min > 59 || w.sec > 59 {
		return wallTime{}, false
	}
	if w.day > daysIn(w.month, w.year) {
		return wallTime{}, false // 31 April, 29 February of a common year
	}
	return w, true
}

func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}
