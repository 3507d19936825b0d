package zohotest

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// apiError is a Zoho error object, at the top level of a response or as
// one item of data[] (§A6 error envelope).
type apiError struct {
	status  int
	code    string
	message string
	details map[string]any
}

func (e *apiError) body() map[string]any {
	d := e.details
	if d == nil {
		d = map[string]any{}
	}
	return map[string]any{"code": e.code, "details": d, "message": e.message, "status": "error"}
}

func invalidData(api string, i int, expected string) *apiError {
	d := map[string]any{"api_name": api, "json_path": fmt.Sprintf("$.data[%d].%s", i, api)}
	if expected != "" {
		d["expected_data_type"] = expected
	}
	// §A3.3 per-record errors: INVALID_DATA "invalid data".
	return &apiError{status: 400, code: "INVALID_DATA", message: "invalid data", details: d}
}

func mandatoryMissing(api string, i int) *apiError {
	// §A3.3: MANDATORY_NOT_FOUND "required field not found".
	return &apiError{status: 400, code: "MANDATORY_NOT_FOUND", message: "required field not found",
		details: map[string]any{"api_name": api, "json_path": fmt.Sprintf("$.data[%d].%s", i, api)}}
}

var (
	// §C1 validation: email regex, date, datetime with offset.
	emailRe    = regexp.MustCompile(`^[^\s@]+@[^\s@]+\.[^\s@]+$`)
	dateRe     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	datetimeRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$`)
	durationRe = regexp.MustCompile(`^\d{1,4}:[0-5]\d$`)
	rruleFreq  = map[string]bool{"DAILY": true, "WEEKLY": true, "MONTHLY": true, "YEARLY": true}
)

// validateLocked checks one input record of a write against the module's
// metadata and returns the values to store (merged over existing for an
// update). i is the record's index in data[] for json_path.
func (o *org) validateLocked(m *moduleDef, in map[string]any, i int, existing *record) (map[string]any, *apiError) {
	vals := map[string]any{}
	if existing != nil {
		for k, v := range existing.values {
			vals[k] = v
		}
	}
	// Fields in the order of the metadata so the first error is stable.
	for _, f := range m.fields {
		raw, present := lookupKey(in, f.api)
		if !present || f.readOnly || f.typ == "userlookup" {
			// Read-only and system fields in the input are ignored
			// (UNCONFIRMED: Zoho ignores them rather than failing).
			continue
		}
		if raw == nil || raw == "" {
			if f.mand {
				return nil, mandatoryMissing(f.api, i)
			}
			delete(vals, f.api)
			continue
		}
		v, err := o.checkValueLocked(m, &f, raw, i, in)
		if err != nil {
			return nil, err
		}
		vals[f.api] = v
	}
	if se, ok := lookupKey(in, "$se_module"); ok {
		s, _ := se.(string)
		if !slices.Contains(seModules, s) {
			return nil, invalidData("$se_module", i, "")
		}
		vals["$se_module"] = s
	}
	// Mandatory fields: system_mandatory and layout required (§A3.3, §A5).
	for _, f := range m.fields {
		if f.required() && !f.readOnly {
			if v, ok := vals[f.api]; !ok || v == nil {
				return nil, mandatoryMissing(f.api, i)
			}
		}
	}
	if _, ok := vals["Owner"]; !ok {
		vals["Owner"] = map[string]any{"id": o.users[0].id}
	}
	switch m.api {
	case "Events":
		// §C1: End_DateTime before Start_DateTime → INVALID_DATA ⚠.
		if s, ok := vals["Start_DateTime"].(time.Time); ok {
			if e, ok := vals["End_DateTime"].(time.Time); ok && e.Before(s) {
				return nil, invalidData("End_DateTime", i, "datetime")
			}
		}
		// §A4 Events: Remind_At is mandatory for recurring meetings.
		if vals["Recurring_Activity"] != nil && vals["Remind_At"] == nil {
			return nil, mandatoryMissing("Remind_At", i)
		}
	case "Calls":
		// Call_Duration is "mm:ss" (§A4 Calls).
		if d, ok := vals["Call_Duration"].(string); ok && !durationRe.MatchString(d) {
			return nil, invalidData("Call_Duration", i, "text")
		}
		// §A3.3: Call_Duration is mandatory for completed calls; a call
		// that started in the past and is not Missed counts as completed
		// (UNCONFIRMED rule).
		if st, ok := vals["Call_Start_Time"].(time.Time); ok && st.Before(o.s.now()) && vals["Call_Type"] != "Missed" && vals["Call_Duration"] == nil {
			return nil, mandatoryMissing("Call_Duration", i)
		}
	case "Tasks":
		// §C1 activity specifics: Status → Completed sets Closed_Time.
		if vals["Status"] == "Completed" && (existing == nil || existing.values["Status"] != "Completed") {
			vals["Closed_Time"] = o.s.now().Truncate(time.Second)
		} else if vals["Status"] != "Completed" {
			delete(vals, "Closed_Time")
		}
	case "Contacts", "Leads":
		full := strings.TrimSpace(fmt.Sprint(orEmpty(vals["First_Name"])) + " " + fmt.Sprint(orEmpty(vals["Last_Name"])))
		vals["Full_Name"] = full
	}
	if _, ok := vals["What_Id"]; ok {
		// §A4: $se_module is mandatory when What_Id is set.
		se, _ := vals["$se_module"].(string)
		if se == "" {
			return nil, mandatoryMissing("$se_module", i)
		}
		id := vals["What_Id"].(map[string]any)["id"].(string)
		tm := o.module(se)
		if tm == nil {
			return nil, invalidData("What_Id", i, "lookup")
		}
		if _, ok := o.recs[tm.api][id]; !ok {
			return nil, invalidData("What_Id", i, "lookup")
		}
	} else {
		delete(vals, "$se_module")
	}
	// Unique fields → DUPLICATE_DATA (§A3.3).
	for _, f := range m.fields {
		if !f.unique {
			continue
		}
		v, ok := vals[f.api].(string)
		if !ok || v == "" {
			continue
		}
		except := ""
		if existing != nil {
			except = existing.id
		}
		if r := o.findByValueLocked(m, f.api, v, except); r != nil {
			return nil, &apiError{status: 400, code: "DUPLICATE_DATA", message: "duplicate data", details: map[string]any{
				"api_name": f.api, "json_path": fmt.Sprintf("$.data[%d].%s", i, f.api),
				"duplicate_record": map[string]any{"id": r.id, "module": map[string]any{"api_name": m.api, "id": m.id},
					"Owner": map[string]any{"name": o.users[0].name, "id": o.users[0].id}},
			}}
		}
	}
	return vals, nil
}

func orEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
}

// lookupKey finds a key in the input; field api names are matched
// case-insensitively (UNCONFIRMED; Zoho documents exact api names).
func lookupKey(in map[string]any, key string) (any, bool) {
	if v, ok := in[key]; ok {
		return v, true
	}
	for k, v := range in {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// checkValueLocked validates one value against its field's data_type
// (§A3.3 field value formats, §C1 types).
func (o *org) checkValueLocked(m *moduleDef, f *fieldDef, raw any, i int, in map[string]any) (any, *apiError) {
	bad := func() (any, *apiError) { return nil, invalidData(f.api, i, f.typ) }
	switch f.typ {
	case "text", "textarea", "website":
		s, ok := raw.(string)
		limit := f.length
		if limit == 0 {
			limit = 255
		}
		if !ok || utf8.RuneCountInString(s) > limit {
			return bad()
		}
		return s, nil
	case "email":
		s, ok := raw.(string)
		if !ok || !emailRe.MatchString(s) || len(s) > 100 {
			return bad()
		}
		return s, nil
	case "phone":
		s, ok := raw.(string)
		if !ok || utf8.RuneCountInString(s) > 30 {
			return bad()
		}
		return s, nil
	case "picklist":
		s, ok := raw.(string)
		if !ok || (!o.s.opts.LenientPicklists && !slices.Contains(f.values, s)) {
			return bad()
		}
		return s, nil
	case "boolean":
		b, ok := raw.(bool)
		if !ok {
			return bad()
		}
		return b, nil
	case "integer":
		n, ok := raw.(json.Number)
		if !ok {
			return bad()
		}
		v, err := n.Int64()
		if err != nil || v > math.MaxInt32 || v < math.MinInt32 {
			return bad()
		}
		return v, nil
	case "double", "currency":
		n, ok := raw.(json.Number)
		if !ok {
			return bad()
		}
		v, err := n.Float64()
		if err != nil {
			return bad()
		}
		return v, nil
	case "date":
		s, ok := raw.(string)
		if !ok || !dateRe.MatchString(s) {
			return bad()
		}
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			return bad()
		}
		return s, nil
	case "datetime":
		// yyyy-MM-ddTHH:mm:ss±HH:mm; "Z" is refused (§C1 ⚠).
		s, ok := raw.(string)
		if !ok || !datetimeRe.MatchString(s) {
			return bad()
		}
		t, err := time.Parse("2006-01-02T15:04:05-07:00", s)
		if err != nil {
			return bad()
		}
		return t, nil
	case "ownerlookup":
		id := lookupID(raw)
		if id == "" || o.userByID(id) == nil {
			return bad()
		}
		return map[string]any{"id": id}, nil
	case "lookup":
		// {"id": "..."} (§A3.3 field formats); the target must exist (§C1).
		id := lookupID(raw)
		if id == "" {
			return bad()
		}
		if f.lookup != "se_module" {
			tm := o.module(f.lookup)
			if _, ok := o.recs[tm.api][id]; !ok {
				return bad()
			}
		}
		return map[string]any{"id": id}, nil
	case "participants":
		return o.checkParticipantsLocked(f, raw, i)
	case "multireminder":
		// Events Remind_At: [{"unit":15,"period":"minutes"}, ...] (§A4).
		list, ok := raw.([]any)
		if !ok {
			return bad()
		}
		out := make([]any, 0, len(list))
		for _, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				return bad()
			}
			n, ok := m["unit"].(json.Number)
			if !ok {
				return bad()
			}
			unit, err := n.Int64()
			period, _ := m["period"].(string)
			if err != nil || unit < 0 || unit > 60 || !slices.Contains([]string{"minutes", "mins", "hours", "hrs", "days", "weeks"}, period) {
				return bad()
			}
			item := map[string]any{"unit": unit, "period": period}
			if t, ok := m["time"].(string); ok {
				item["time"] = t
			}
			out = append(out, item)
		}
		return out, nil
	case "RRULE":
		// {"RRULE":"FREQ=DAILY;INTERVAL=1;DTSTART=2023-05-20;UNTIL=..."}
		// (§A4 Recurring_Activity); stored verbatim, not expanded (§C1).
		obj, ok := raw.(map[string]any)
		if !ok {
			return bad()
		}
		rule, _ := obj["RRULE"].(string)
		if !validRRule(rule) {
			return bad()
		}
		return map[string]any{"RRULE": rule}, nil
	case "ALARM":
		// Tasks Remind_At {"ALARM":"ACTION=EMAIL;TRIGGER=...;TRIGGER_TIME=.."} (§A4 Tasks).
		obj, ok := raw.(map[string]any)
		if !ok {
			return bad()
		}
		alarm, _ := obj["ALARM"].(string)
		if !validAlarm(alarm) {
			return bad()
		}
		return map[string]any{"ALARM": alarm}, nil
	}
	return raw, nil
}

func lookupID(raw any) string {
	switch v := raw.(type) {
	case map[string]any:
		id, _ := v["id"].(string)
		return id
	case string:
		return v
	}
	return ""
}

// checkParticipantsLocked validates Events.Participants (§A4): at most 50
// (LIMIT_EXCEEDED beyond), type lead|contact|user|email, participant an
// existing record id, Email for type email.
func (o *org) checkParticipantsLocked(f *fieldDef, raw any, i int) (any, *apiError) {
	list, ok := raw.([]any)
	if !ok {
		return nil, invalidData(f.api, i, "participants")
	}
	if len(list) > 50 {
		return nil, &apiError{status: 400, code: "LIMIT_EXCEEDED", message: "limit exceeded",
			details: map[string]any{"api_name": f.api, "json_path": fmt.Sprintf("$.data[%d].%s", i, f.api), "limit": 50}}
	}
	out := make([]any, 0, len(list))
	for j, e := range list {
		p, ok := e.(map[string]any)
		if !ok {
			return nil, invalidData(f.api, i, "participants")
		}
		typ, _ := p["type"].(string)
		item := map[string]any{"type": typ, "invited": false, "status": "not_known", "id": o.newIDLocked()}
		path := fmt.Sprintf("%s[%d]", f.api, j)
		switch typ {
		case "contact", "lead":
			id, _ := p["participant"].(string)
			mod := o.module(map[string]string{"contact": "Contacts", "lead": "Leads"}[typ])
			r, ok := o.recs[mod.api][id]
			if !ok {
				return nil, invalidData(path+".participant", i, "")
			}
			item["participant"] = id
			item["name"] = o.displayNameLocked(mod, r)
			item["Email"] = r.values["Email"]
		case "user":
			id, _ := p["participant"].(string)
			u := o.userByID(id)
			if u == nil {
				return nil, invalidData(path+".participant", i, "")
			}
			item["participant"] = id
			item["name"] = u.name
			item["Email"] = u.email
		case "email":
			addr, _ := p["Email"].(string)
			if !emailRe.MatchString(addr) {
				return nil, invalidData(path+".Email", i, "email")
			}
			item["participant"] = addr
			item["name"] = addr
			item["Email"] = addr
		default:
			return nil, invalidData(path+".type", i, "")
		}
		out = append(out, item)
	}
	return out, nil
}

func validRRule(rule string) bool {
	if rule == "" {
		return false
	}
	parts := map[string]string{}
	for _, kv := range strings.Split(rule, ";") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return false
		}
		parts[strings.ToUpper(k)] = v
	}
	if !rruleFreq[parts["FREQ"]] {
		return false
	}
	if d, ok := parts["DTSTART"]; ok && !dateRe.MatchString(d) {
		return false
	}
	if u, ok := parts["UNTIL"]; ok && u != "-1" && !dateRe.MatchString(u) {
		return false
	}
	for k := range parts {
		switch k {
		case "FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYSETPOS", "BYMONTH", "COUNT", "UNTIL", "DTSTART":
		default:
			return false
		}
	}
	return true
}

func validAlarm(alarm string) bool {
	parts := map[string]string{}
	for _, kv := range strings.Split(alarm, ";") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return false
		}
		parts[strings.ToUpper(k)] = v
	}
	if a := parts["ACTION"]; a != "EMAIL" && a != "POPUP" {
		return false
	}
	trig := parts["TRIGGER"]
	if trig == "" {
		return false
	}
	// -P1D..-P6D / -P1W..-P3W need TRIGGER_TIME (§A4 Tasks Remind_At).
	if strings.HasPrefix(trig, "-P") {
		return regexp.MustCompile(`^-P([1-6]D|[1-3]W)$`).MatchString(trig) && regexp.MustCompile(`^\d{2}:\d{2}$`).MatchString(parts["TRIGGER_TIME"])
	}
	return datetimeRe.MatchString(trig) || dateRe.MatchString(trig)
}
