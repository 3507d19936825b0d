package zohotest

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

func paramErr(code, msg string, details map[string]any) *apiError {
	return &apiError{status: 400, code: code, message: msg, details: details}
}

// parseIfModifiedSince reads the If-Modified-Since header: ISO 8601 with an
// offset (§A3.1); an RFC 1123 HTTP date is accepted too (UNCONFIRMED).
func parseIfModifiedSince(r *http.Request) (time.Time, bool, *apiError) {
	h := r.Header.Get("If-Modified-Since")
	if h == "" {
		return time.Time{}, false, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05-07:00", time.RFC3339, http.TimeFormat} {
		if t, err := time.Parse(layout, h); err == nil {
			return t, true, nil
		}
	}
	return time.Time{}, false, paramErr("INVALID_DATA", "invalid data", map[string]any{"header_name": "If-Modified-Since"})
}

// listLocked is GET /{module} (§A3.1, §C1 endpoint 1).
func (o *org) listLocked(c *call) (int, any, *apiError) {
	q := c.r.URL.Query()
	m := c.module
	// fields is mandatory, at most 50 (§A3.1).
	fieldsParam := q.Get("fields")
	if fieldsParam == "" {
		return 0, nil, paramErr("REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", map[string]any{"param_name": "fields"})
	}
	fields := splitIDs(fieldsParam)
	if len(fields) > 50 {
		return 0, nil, paramErr("LIMIT_EXCEEDED", "the given fields count exceeds the limit", map[string]any{"param_name": "fields", "limit": 50})
	}
	for _, f := range fields {
		if f != "id" && m.field(f) == nil {
			return 0, nil, paramErr("INVALID_DATA", "invalid data", map[string]any{"api_name": f, "param_name": "fields"})
		}
	}
	perPage := 200
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return 0, nil, paramErr("INVALID_DATA", "invalid data", map[string]any{"param_name": "per_page", "maximum_length": 200})
		}
		perPage = n
	}
	sortBy := q.Get("sort_by")
	if sortBy == "" {
		sortBy = "id"
	}
	if sortBy != "id" && sortBy != "Created_Time" && sortBy != "Modified_Time" {
		return 0, nil, paramErr("INVALID_DATA", "invalid data", map[string]any{"param_name": "sort_by"})
	}
	sortOrder := q.Get("sort_order")
	if sortOrder == "" {
		sortOrder = "desc"
	}
	if sortOrder != "asc" && sortOrder != "desc" {
		return 0, nil, paramErr("INVALID_DATA", "invalid data", map[string]any{"param_name": "sort_order"})
	}
	if q.Has("cvid") && q.Has("sort_by") {
		return 0, nil, paramErr("AMBIGUITY_DURING_PROCESSING", "ambiguity while processing the request", map[string]any{"ambiguity_due_to": []any{"cvid", "sort_by"}})
	}
	if q.Has("page") && q.Has("page_token") {
		// §A3.1: page and page_token together.
		return 0, nil, paramErr("AMBIGUITY_DURING_PROCESSING", "ambiguity while processing the request", map[string]any{"ambiguity_due_to": []any{"page", "page_token"}})
	}
	since, hasSince, e := parseIfModifiedSince(c.r)
	if e != nil {
		return 0, nil, e
	}
	// The page token is bound to the other parameters (§A3.1 token rules).
	sigParts := []string{m.api, fieldsParam, strconv.Itoa(perPage), sortBy, sortOrder, q.Get("ids"), c.r.Header.Get("If-Modified-Since")}
	signature := strings.Join(sigParts, "|")
	page := 1
	offset := 0
	if tok := q.Get("page_token"); tok != "" {
		pt, ok := o.tokens[tok]
		switch {
		case !ok:
			return 0, nil, paramErr("INVALID_DATA", "invalid data", map[string]any{"param_name": "page_token"})
		case !o.s.now().Before(pt.expires):
			return 0, nil, paramErr("EXPIRED_VALUE", "the page token has expired", map[string]any{"param_name": "page_token"})
		case pt.signature != signature:
			return 0, nil, paramErr("TOKEN_BOUND_DATA_MISMATCH", "the parameters do not match those the page token was issued for", map[string]any{"param_name": "page_token"})
		}
		offset = pt.offset
		page = offset/perPage + 1
	} else if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, nil, paramErr("INVALID_DATA", "invalid data", map[string]any{"param_name": "page"})
		}
		page = n
		offset = (page - 1) * perPage
		// Only the first 2000 records are reachable by page (§A3.1).
		if offset+perPage > 2000 {
			return 0, nil, paramErr("DISCRETE_PAGINATION_LIMIT_EXCEEDED", "You can only get the first 2000 records without using page_token param", map[string]any{"limit": 2000})
		}
	}
	if offset >= 100000 {
		// §A3.1: page tokens reach up to 100,000 records.
		return 0, nil, paramErr("PAGINATION_LIMIT_EXCEEDED", "pagination limit exceeded", map[string]any{"limit": 100000})
	}
	all := o.sortedRecordsLocked(m, sortBy, sortOrder == "desc")
	if len(all) == 0 {
		// No records → 204 (§A3.1).
		return http.StatusNoContent, nil, nil
	}
	var ids map[string]bool
	if v := q.Get("ids"); v != "" {
		ids = map[string]bool{}
		for _, id := range splitIDs(v) {
			ids[id] = true
		}
	}
	matched := all[:0:0]
	for _, r := range all {
		if ids != nil && !ids[r.id] {
			continue
		}
		// If-Modified-Since is inclusive at second precision (§C1).
		if hasSince && r.modified.Before(since.Truncate(time.Second)) {
			continue
		}
		matched = append(matched, r)
	}
	if len(matched) == 0 {
		if hasSince {
			// Records exist but none changed → 304 (§A3.1, §C1 ⚠).
			return http.StatusNotModified, nil, nil
		}
		return http.StatusNoContent, nil, nil
	}
	end := min(offset+perPage, len(matched))
	var data []any
	if offset < len(matched) {
		for _, r := range matched[offset:end] {
			data = append(data, o.renderLocked(m, r, fields))
		}
	}
	if len(data) == 0 {
		return http.StatusNoContent, nil, nil
	}
	more := end < len(matched)
	info := map[string]any{"per_page": perPage, "count": len(data), "page": page, "sort_by": sortBy, "sort_order": sortOrder,
		"more_records": more, "next_page_token": nil, "previous_page_token": nil, "page_token_expiry": nil, "call": false, "email": false}
	if more {
		// Page tokens are opaque, expire after 24 h (§A3.1).
		tok := randomHex(24)
		exp := o.s.now().Add(24 * time.Hour)
		o.tokens[tok] = &pageToken{signature: signature, offset: end, expires: exp}
		info["next_page_token"] = tok
		info["page_token_expiry"] = o.formatTime(exp)
	}
	return 200, map[string]any{"data": data, "info": info}, nil
}

// getLocked is GET /{module}/{id} (§A3.2).
func (o *org) getLocked(c *call) (int, any, *apiError) {
	r, ok := o.recs[c.module.api][c.id]
	if !ok {
		if o.s.opts.UnknownIDStatus == http.StatusNoContent {
			return http.StatusNoContent, nil, nil
		}
		return 0, nil, paramErr("INVALID_DATA", "the related id given seems to be invalid", map[string]any{"api_name": "id"})
	}
	var fields []string
	if v := c.r.URL.Query().Get("fields"); v != "" {
		fields = splitIDs(v)
	}
	return 200, map[string]any{"data": []any{o.renderLocked(c.module, r, fields)}}, nil
}

// writeLocked is insert (POST), update (PUT) and upsert (§A3.3–§A3.5).
func (o *org) writeLocked(c *call, op string) (int, any, *apiError) {
	m := c.module
	if op == "upsert" && m.upsert == nil {
		// §A3.5: upsert is not supported for Tasks, Events, Calls; the
		// exact code is UNCONFIRMED (§C1 endpoint 5).
		return 0, nil, paramErr("INVALID_MODULE", "upsert is not supported for the module "+m.api, map[string]any{"module": m.api})
	}
	raw, ok := c.body["data"]
	if !ok {
		return 0, nil, paramErr("MANDATORY_NOT_FOUND", "required field not found", map[string]any{"api_name": "data"})
	}
	data, ok := raw.([]any)
	if !ok || len(data) == 0 {
		return 0, nil, paramErr("INVALID_DATA", "invalid data", map[string]any{"api_name": "data"})
	}
	if len(data) > 100 {
		// §A3.3: at most 100 records per call.
		return 0, nil, paramErr("LIMIT_EXCEEDED", "the number of records exceeds the limit", map[string]any{"api_name": "data", "limit": 100})
	}
	if op == "update" {
		// If-Unmodified-Since → 412 ALREADY_MODIFIED (§A3.4).
		if h := c.r.Header.Get("If-Unmodified-Since"); h != "" {
			t, err := time.Parse("2006-01-02T15:04:05-07:00", h)
			if err != nil {
				return 0, nil, paramErr("INVALID_DATA", "invalid data", map[string]any{"header_name": "If-Unmodified-Since"})
			}
			for _, d := range data {
				in, _ := d.(map[string]any)
				id, _ := in["id"].(string)
				if c.id != "" {
					id = c.id
				}
				if r, ok := o.recs[m.api][id]; ok && r.modified.After(t) {
					return 0, nil, &apiError{status: 412, code: "ALREADY_MODIFIED", message: "the record was modified after the given time", details: map[string]any{"id": id}}
				}
			}
		}
	}
	var dupFields []string
	if op == "upsert" {
		if v, ok := c.body["duplicate_check_fields"].([]any); ok && len(v) > 0 {
			for _, f := range v {
				s, _ := f.(string)
				if m.field(s) == nil {
					return 0, nil, paramErr("INVALID_DATA", "invalid data", map[string]any{"api_name": "duplicate_check_fields"})
				}
				dupFields = append(dupFields, m.field(s).api)
			}
		} else {
			// System defaults (§A3.5) plus unique fields.
			dupFields = append(dupFields, m.upsert...)
			for _, f := range m.fields {
				if f.unique && !contains(dupFields, f.api) {
					dupFields = append(dupFields, f.api)
				}
			}
		}
	}
	results := make([]any, len(data))
	ok2, failed := 0, 0
	for i, d := range data {
		in, isObj := d.(map[string]any)
		var res map[string]any
		var e *apiError
		if !isObj {
			e = invalidData("data", i, "jsonobject")
		} else {
			res, e = o.writeOneLocked(m, in, i, op, c.id, dupFields)
		}
		if e != nil {
			results[i] = e.body()
			failed++
			continue
		}
		results[i] = res
		ok2++
	}
	// §A3.3: all OK → 201 (insert) / 200 (update, upsert), mixed → 207,
	// all failed → 400 with per-record errors.
	status := http.StatusOK
	if op == "insert" {
		status = http.StatusCreated
	}
	switch {
	case failed > 0 && ok2 > 0:
		status = http.StatusMultiStatus
	case failed > 0:
		status = http.StatusBadRequest
	}
	return status, map[string]any{"data": results}, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (o *org) writeOneLocked(m *moduleDef, in map[string]any, i int, op, pathID string, dupFields []string) (map[string]any, *apiError) {
	var existing *record
	action := "insert"
	var dupField any
	switch op {
	case "update":
		id, _ := in["id"].(string)
		if pathID != "" {
			id = pathID
		}
		if id == "" {
			// §C1 endpoint 4: missing id → MANDATORY_NOT_FOUND.
			return nil, mandatoryMissing("id", i)
		}
		r, ok := o.recs[m.api][id]
		if !ok {
			// Unknown id → INVALID_DATA api_name id (§A3.4).
			return nil, &apiError{status: 400, code: "INVALID_DATA", message: "the related id given seems to be invalid", details: map[string]any{"api_name": "id", "json_path": "$.data[" + strconv.Itoa(i) + "].id"}}
		}
		existing = r
		action = "update"
	case "upsert":
		for _, f := range dupFields {
			v, ok := lookupKey(in, f)
			s, isStr := v.(string)
			if !ok || !isStr || s == "" {
				continue
			}
			existing = o.findByValueLocked(m, f, s, "")
			if existing != nil {
				action, dupField = "update", f
				break
			}
		}
	}
	vals, e := o.validateLocked(m, in, i, existing)
	if e != nil {
		return nil, e
	}
	now := o.stampLocked()
	u := o.users[0]
	msg := "record added"
	if existing == nil {
		existing = &record{id: o.newIDLocked(), created: now, createdBy: u}
		o.recs[m.api][existing.id] = existing
	} else {
		msg = "record updated"
	}
	// Every write bumps Modified_Time/Modified_By (§C1 record model).
	o.indexLocked(m, existing, false)
	existing.values = vals
	o.indexLocked(m, existing, true)
	existing.modified = now
	existing.modifiedBy = u
	details := map[string]any{"Modified_Time": o.formatTime(now), "Modified_By": map[string]any{"name": u.name, "id": u.id},
		"Created_Time": o.formatTime(existing.created), "id": existing.id,
		"Created_By": map[string]any{"name": existing.createdBy.name, "id": existing.createdBy.id}}
	if action == "insert" {
		details["$approval_state"] = "approved"
	}
	res := map[string]any{"code": "SUCCESS", "details": details, "message": msg, "status": "success"}
	if op == "upsert" {
		// §A3.5: per-record action and duplicate_field.
		res["action"] = action
		res["duplicate_field"] = dupField
	}
	return res, nil
}

// deleteLocked is DELETE /{module}?ids= and /{module}/{id} (§A3.7).
func (o *org) deleteLocked(c *call) (int, any, *apiError) {
	m := c.module
	ids := []string{c.id}
	if c.id == "" {
		ids = splitIDs(c.r.URL.Query().Get("ids"))
		if len(ids) == 0 {
			return 0, nil, paramErr("REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", map[string]any{"param_name": "ids"})
		}
		if len(ids) > 100 {
			return 0, nil, paramErr("LIMIT_EXCEEDED", "the number of records exceeds the limit", map[string]any{"param_name": "ids", "limit": 100})
		}
	}
	results := make([]any, len(ids))
	okN, failed := 0, 0
	for i, id := range ids {
		r, ok := o.recs[m.api][id]
		if !ok {
			// Bad id: per-record INVALID_DATA with details.id (§A3.7,
			// shape UNCONFIRMED).
			results[i] = (&apiError{code: "INVALID_DATA", message: "the related id given seems to be invalid", details: map[string]any{"id": id}}).body()
			failed++
			continue
		}
		now := o.stampLocked()
		delete(o.recs[m.api], id)
		o.indexLocked(m, r, false)
		// Deleted records go to the recycle bin (§A3.7, §A3.8).
		o.deleted[m.api] = append(o.deleted[m.api], &deletedRecord{id: id, display: o.displayNameLocked(m, r), deleted: now, createdBy: r.createdBy, deletedBy: o.users[0]})
		results[i] = map[string]any{"code": "SUCCESS", "details": map[string]any{"id": id}, "message": "record deleted", "status": "success"}
		okN++
	}
	status := http.StatusOK
	switch {
	case failed > 0 && okN > 0:
		status = http.StatusMultiStatus
	case failed > 0:
		status = http.StatusBadRequest
	}
	return status, map[string]any{"data": results}, nil
}

// deletedLocked is GET /{module}/deleted (§A3.8). Entries are listed newest
// first (UNCONFIRMED order); If-Modified-Since filters on deleted_time.
func (o *org) deletedLocked(c *call) (int, any, *apiError) {
	q := c.r.URL.Query()
	typ := q.Get("type")
	if typ == "" {
		typ = "all"
	}
	if typ != "all" && typ != "recycle" && typ != "permanent" {
		return 0, nil, paramErr("INVALID_DATA", "invalid data", map[string]any{"param_name": "type"})
	}
	perPage, page := 200, 1
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return 0, nil, paramErr("INVALID_DATA", "invalid data", map[string]any{"param_name": "per_page"})
		}
		perPage = n
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, nil, paramErr("INVALID_DATA", "invalid data", map[string]any{"param_name": "page"})
		}
		page = n
	}
	since, hasSince, e := parseIfModifiedSince(c.r)
	if e != nil {
		return 0, nil, e
	}
	now := o.s.now()
	var list []*deletedRecord
	for _, d := range o.deleted[c.module.api] {
		// Recycle bin for 60 days, permanently deleted ids for 120 (§A3.8).
		age := now.Sub(d.deleted)
		kind := "recycle"
		if age > 60*24*time.Hour {
			kind = "permanent"
		}
		if age > 120*24*time.Hour || (typ != "all" && typ != kind) {
			continue
		}
		if hasSince && d.deleted.Before(since.Truncate(time.Second)) {
			continue
		}
		list = append(list, d)
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].deleted.After(list[j].deleted) })
	off := (page - 1) * perPage
	if off >= len(list) {
		return http.StatusNoContent, nil, nil
	}
	end := min(off+perPage, len(list))
	var data []any
	for _, d := range list[off:end] {
		kind := "recycle"
		if now.Sub(d.deleted) > 60*24*time.Hour {
			kind = "permanent"
		}
		data = append(data, map[string]any{"deleted_by": map[string]any{"name": d.deletedBy.name, "id": d.deletedBy.id}, "id": d.id,
			"display_name": d.display, "type": kind, "created_by": map[string]any{"name": d.createdBy.name, "id": d.createdBy.id},
			"deleted_time": o.formatTime(d.deleted)})
	}
	return 200, map[string]any{"data": data, "info": map[string]any{"per_page": perPage, "count": len(data), "page": page, "more_records": end < len(list)}}, nil
}
