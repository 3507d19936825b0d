package graphtest

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Recurrence follows recurrencepattern.md and recurrencerange.md (facts §7):
// pattern type daily, weekly, absoluteMonthly, relativeMonthly,
// absoluteYearly, relativeYearly; interval required; weekly needs
// daysOfWeek (firstDayOfWeek defaults to sunday); absoluteMonthly needs
// dayOfMonth; relativeMonthly daysOfWeek (+ index, default first);
// absoluteYearly dayOfMonth and month; relativeYearly daysOfWeek and month.
// "Any property that you include that does not have a supported value would
// result in an error." Range type endDate | noEnd | numbered with
// startDate, endDate, numberOfOccurrences, recurrenceTimeZone.

var (
	patternTypes = []string{"daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly"}
	weekDays     = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}
	weekIndexes  = []string{"first", "second", "third", "fourth", "last"}
	rangeTypes   = []string{"endDate", "noEnd", "numbered"}
)

// maxOccurrences bounds the expansion of one series; noEnd series expand
// over noEndHorizon from the later of their start and now.
const (
	maxOccurrences = 2000
	noEndHorizon   = 3 * 365 * 24 * time.Hour
)

func intOf(v any) (int, bool) {
	switch x := v.(type) {
	case int64:
		return int(x), true
	case int:
		return x, true
	case float64:
		if x == float64(int(x)) {
			return int(x), true
		}
	}
	return 0, false
}

// normalizeRecurrence validates a patternedRecurrence and returns it in the
// shape the service echoes (graph-examples/event-create-recurring-response.json:
// month 0, dayOfMonth 0, lower-case daysOfWeek, firstDayOfWeek, index,
// recurrenceTimeZone, numberOfOccurrences 0, endDate "0001-01-01" when unused).
func normalizeRecurrence(v any, startTZ string) (map[string]any, *Error) {
	rec, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("RequestBodyRead", "Property 'recurrence' must be a microsoft.graph.patternedRecurrence object.")
	}
	pat, _ := lookupFold(rec, "pattern").(map[string]any)
	rng, _ := lookupFold(rec, "range").(map[string]any)
	if pat == nil || rng == nil {
		return nil, badRequest("ErrorInvalidRequest", "A recurrence needs both a pattern and a range.")
	}
	typ, _ := lookupFold(pat, "type").(string)
	if !slices.Contains(patternTypes, typ) {
		return nil, badRequest("RequestBodyRead", "Cannot convert the literal '%s' to the expected type 'microsoft.graph.recurrencePatternType'.", typ)
	}
	interval, ok := intOf(lookupFold(pat, "interval"))
	if !ok || interval < 1 {
		return nil, badRequest("ErrorInvalidRequest", "recurrence.pattern.interval is required and must be a positive integer.")
	}
	var days []any
	if raw, ok := lookupFold(pat, "daysOfWeek").([]any); ok {
		for _, d := range raw {
			ds, _ := d.(string)
			if !slices.Contains(weekDays, strings.ToLower(ds)) {
				return nil, badRequest("RequestBodyRead", "Cannot convert the literal '%v' to the expected type 'microsoft.graph.dayOfWeek'.", d)
			}
			days = append(days, strings.ToLower(ds))
		}
	}
	first := "sunday"
	if f, ok := lookupFold(pat, "firstDayOfWeek").(string); ok && f != "" {
		if !slices.Contains(weekDays, strings.ToLower(f)) {
			return nil, badRequest("RequestBodyRead", "Cannot convert the literal '%s' to the expected type 'microsoft.graph.dayOfWeek'.", f)
		}
		first = strings.ToLower(f)
	}
	index := "first"
	if ix, ok := lookupFold(pat, "index").(string); ok && ix != "" {
		if !slices.Contains(weekIndexes, strings.ToLower(ix)) {
			return nil, badRequest("RequestBodyRead", "Cannot convert the literal '%s' to the expected type 'microsoft.graph.weekIndex'.", ix)
		}
		index = strings.ToLower(ix)
	}
	dom, _ := intOf(lookupFold(pat, "dayOfMonth"))
	month, _ := intOf(lookupFold(pat, "month"))
	need := func(cond bool, what string) *Error {
		if !cond {
			return badRequest("ErrorInvalidRequest", "A %s recurrence pattern requires %s.", typ, what)
		}
		return nil
	}
	var e *Error
	switch typ {
	case "weekly":
		e = need(len(days) > 0, "daysOfWeek")
	case "absoluteMonthly":
		e = need(dom >= 1 && dom <= 31, "dayOfMonth (1-31)")
	case "relativeMonthly":
		e = need(len(days) > 0, "daysOfWeek")
	case "absoluteYearly":
		e = need(dom >= 1 && dom <= 31 && month >= 1 && month <= 12, "dayOfMonth (1-31) and month (1-12)")
	case "relativeYearly":
		e = need(len(days) > 0 && month >= 1 && month <= 12, "daysOfWeek and month (1-12)")
	}
	if e != nil {
		return nil, e
	}
	rtyp, _ := lookupFold(rng, "type").(string)
	if !slices.Contains(rangeTypes, rtyp) {
		return nil, badRequest("RequestBodyRead", "Cannot convert the literal '%s' to the expected type 'microsoft.graph.recurrenceRangeType'.", rtyp)
	}
	sd, _ := lookupFold(rng, "startDate").(string)
	if _, err := time.Parse("2006-01-02", sd); err != nil {
		return nil, badRequest("ErrorInvalidRequest", "recurrence.range.startDate '%s' is not a valid date (yyyy-MM-dd).", sd)
	}
	ed := "0001-01-01"
	n := 0
	switch rtyp {
	case "endDate":
		ed, _ = lookupFold(rng, "endDate").(string)
		edt, err := time.Parse("2006-01-02", ed)
		if err != nil {
			return nil, badRequest("ErrorInvalidRequest", "recurrence.range.endDate '%s' is not a valid date (yyyy-MM-dd).", ed)
		}
		if sdt, _ := time.Parse("2006-01-02", sd); edt.Before(sdt) {
			return nil, badRequest("ErrorInvalidRequest", "recurrence.range.endDate must not be earlier than startDate.")
		}
	case "numbered":
		var ok bool
		n, ok = intOf(lookupFold(rng, "numberOfOccurrences"))
		if !ok || n < 1 {
			return nil, badRequest("ErrorInvalidRequest", "A numbered recurrence range requires numberOfOccurrences of at least 1.")
		}
	}
	rtz := startTZ
	if z, ok := lookupFold(rng, "recurrenceTimeZone").(string); ok && z != "" {
		_, canon, ok := zone(z)
		if !ok {
			return nil, badRequest("TimeZoneNotSupportedException", "A valid TimeZone value must be specified. The following TimeZone value is not supported: '%s'.", z)
		}
		rtz = canon
	}
	if typ != "absoluteMonthly" && typ != "absoluteYearly" {
		dom = 0
	}
	if typ != "absoluteYearly" && typ != "relativeYearly" {
		month = 0
	}
	if days == nil {
		days = []any{}
	}
	return map[string]any{
		"pattern": map[string]any{"type": typ, "interval": int64(interval), "month": int64(month), "dayOfMonth": int64(dom),
			"daysOfWeek": days, "firstDayOfWeek": first, "index": index},
		"range": map[string]any{"type": rtyp, "startDate": sd, "endDate": ed, "recurrenceTimeZone": rtz,
			"numberOfOccurrences": int64(n)},
	}, nil
}

// expandDates lists the dates of a series' occurrences (in the recurrence
// time zone's calendar), up to horizon for noEnd series.
func expandDates(rec map[string]any, horizon time.Time) []time.Time {
	pat := rec["pattern"].(map[string]any)
	rng := rec["range"].(map[string]any)
	typ := pat["type"].(string)
	interval, _ := intOf(pat["interval"])
	dom, _ := intOf(pat["dayOfMonth"])
	month, _ := intOf(pat["month"])
	var days []time.Weekday
	for _, d := range pat["daysOfWeek"].([]any) {
		days = append(days, time.Weekday(slices.Index(weekDays, d.(string))))
	}
	first := time.Weekday(slices.Index(weekDays, pat["firstDayOfWeek"].(string)))
	index := slices.Index(weekIndexes, pat["index"].(string))
	start, _ := time.Parse("2006-01-02", rng["startDate"].(string))
	limit := horizon
	count := maxOccurrences
	switch rng["type"] {
	case "endDate":
		limit, _ = time.Parse("2006-01-02", rng["endDate"].(string))
	case "numbered":
		n, _ := intOf(rng["numberOfOccurrences"])
		count = min(n, maxOccurrences)
		limit = start.AddDate(200, 0, 0)
	}
	var out []time.Time
	emit := func(d time.Time) bool {
		if d.Before(start) {
			return true
		}
		if d.After(limit) || len(out) >= count {
			return false
		}
		out = append(out, d)
		return true
	}
	nth := func(y int, m time.Month) (time.Time, bool) {
		var cands []time.Time
		for d := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC); d.Month() == m; d = d.AddDate(0, 0, 1) {
			if slices.Contains(days, d.Weekday()) {
				cands = append(cands, d)
			}
		}
		if len(cands) == 0 {
			return time.Time{}, false
		}
		if index == 4 { // last
			return cands[len(cands)-1], true
		}
		if index < len(cands) {
			return cands[index], true
		}
		return time.Time{}, false
	}
	switch typ {
	case "daily":
		for d := start; ; d = d.AddDate(0, 0, interval) {
			if !emit(d) {
				break
			}
		}
	case "weekly":
		ws := start.AddDate(0, 0, -((int(start.Weekday()) - int(first) + 7) % 7))
		order := slices.Clone(days)
		slices.SortFunc(order, func(a, b time.Weekday) int {
			return (int(a)-int(first)+7)%7 - (int(b)-int(first)+7)%7
		})
	weeks:
		for w := ws; ; w = w.AddDate(0, 0, 7*interval) {
			for _, d := range order {
				if !emit(w.AddDate(0, 0, (int(d)-int(first)+7)%7)) {
					break weeks
				}
			}
		}
	case "absoluteMonthly", "relativeMonthly":
		for m := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC); !m.After(limit); m = m.AddDate(0, interval, 0) {
			var d time.Time
			ok := true
			if typ == "absoluteMonthly" {
				d = time.Date(m.Year(), m.Month(), dom, 0, 0, 0, 0, time.UTC)
				ok = d.Month() == m.Month()
			} else {
				d, ok = nth(m.Year(), m.Month())
			}
			if ok && !emit(d) {
				break
			}
			if len(out) >= count {
				break
			}
		}
	case "absoluteYearly", "relativeYearly":
		for y := start.Year(); y <= limit.Year(); y += interval {
			var d time.Time
			ok := true
			if typ == "absoluteYearly" {
				d = time.Date(y, time.Month(month), dom, 0, 0, 0, 0, time.UTC)
				ok = d.Month() == time.Month(month)
			} else {
				d, ok = nth(y, time.Month(month))
			}
			if ok && !emit(d) {
				break
			}
			if len(out) >= count {
				break
			}
		}
	}
	return out
}

// regenerate recomputes a series' occurrences and exceptions (calendarView
// "includes single instances, and occurrences and exceptions of recurring
// series", linked by seriesMasterId and type — facts §1.1). Instances that
// no longer exist become tombstones, so the next delta round reports them
// removed; with bumpAll every instance counts as changed (a master edit
// changes all of them).
func (s *Server) regenerate(box *mailbox, master *item, bumpAll bool) {
	want := map[string]bool{}
	if !master.deleted {
		for _, key := range s.occurrenceKeys(master) {
			if master.cancelled[key] {
				continue
			}
			want[key] = true
			s.buildInstance(box, master, key, bumpAll)
		}
	}
	for _, inst := range box.events {
		if inst.master == master.id && !inst.deleted && !want[inst.occKey] {
			inst.deleted = true
			s.touch(box, inst)
		}
	}
}

// regenerateOne rebuilds one occurrence after it was edited or cancelled.
func (s *Server) regenerateOne(box *mailbox, master *item, key string) {
	if master.cancelled[key] {
		if inst := box.events[master.id+"_"+key]; inst != nil && !inst.deleted {
			inst.deleted = true
			s.touch(box, inst)
		}
		return
	}
	s.buildInstance(box, master, key, true)
}

// occurrenceKeys lists the occurrence dates ("2006-01-02") of a master.
func (s *Server) occurrenceKeys(master *item) []string {
	rec, _ := master.data["recurrence"].(map[string]any)
	if rec == nil {
		return nil
	}
	from := master.start
	if now := s.now(); now.After(from) {
		from = now
	}
	var keys []string
	for _, d := range expandDates(rec, from.Add(noEndHorizon)) {
		keys = append(keys, d.Format("2006-01-02"))
	}
	return keys
}

// buildInstance creates or refreshes the instance of master on date key.
func (s *Server) buildInstance(box *mailbox, master *item, key string, bump bool) {
	rec := master.data["recurrence"].(map[string]any)
	rtz, _ := rec["range"].(map[string]any)["recurrenceTimeZone"].(string)
	loc, _, ok := zone(rtz)
	if !ok {
		loc = time.UTC
	}
	day, _ := time.Parse("2006-01-02", key)
	ls := master.start.In(loc)
	start := time.Date(day.Year(), day.Month(), day.Day(), ls.Hour(), ls.Minute(), ls.Second(), 0, loc).UTC()
	end := start.Add(master.end.Sub(master.start))
	id := master.id + "_" + key
	inst := box.events[id]
	fresh := inst == nil || inst.deleted
	if inst == nil {
		inst = &item{id: id}
		box.events[id] = inst
	}
	// Occurrences share the master's data (rendering copies it); an
	// exception gets its own copy with its changes applied.
	data := master.data
	inst.etype = "occurrence"
	ex := master.exceptions[key]
	if ex != nil {
		inst.etype = "exception"
		data = maps.Clone(master.data)
		for k, v := range ex {
			if !strings.HasPrefix(k, "@") {
				data[k] = cloneValue(v)
			}
		}
		if t, ok := ex["@start"].(time.Time); ok {
			start = t
		}
		if t, ok := ex["@end"].(time.Time); ok {
			end = t
		}
	}
	inst.icaluid = ""
	if goid, ok := master.data["iCalUId"].(string); ok {
		inst.icaluid = occurrenceGOID(goid, day)
	}
	changed := fresh || bump || !inst.start.Equal(start) || !inst.end.Equal(end)
	inst.data = data
	inst.master = master.id
	inst.occKey = key
	inst.start, inst.end = start, end
	inst.startTZ, inst.endTZ = master.startTZ, master.endTZ
	inst.deleted = false
	inst.origin = master.origin
	if changed {
		s.touch(box, inst)
	}
}
