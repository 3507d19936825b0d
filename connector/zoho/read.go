package zoho

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/syncplane/syncplane/connector"
)

const (
	perPage = 200 // the maximum per page (§A3.1)
	// discretePages is how many pages of perPage the page parameter
	// reaches: the first 2,000 records (§A3.1); past them, page_token.
	discretePages   = 2000 / perPage
	maxFieldsPerGet = 50 // fields per list call (§A3.1)
)

// fieldGroups splits a module's fields into groups of at most 50 for list
// calls; the first group holds Modified_Time.
func fieldGroups(m *moduleMeta) [][]string {
	names := []string{"Modified_Time"}
	for _, f := range m.fields {
		if f.APIName != "Modified_Time" && f.APIName != "id" {
			names = append(names, f.APIName)
		}
	}
	var out [][]string
	for len(names) > 0 {
		n := min(maxFieldsPerGet, len(names))
		out = append(out, names[:n])
		names = names[n:]
	}
	return out
}

type listInfo struct {
	More      bool   `json:"more_records"`
	NextToken string `json:"next_page_token"`
}

// pageCursor says which page to ask for: page numbers for the first 2,000
// records, then page tokens.
type pageCursor struct {
	page  int
	token string
}

func (p *pageCursor) advance(info listInfo) error {
	if p.token != "" || p.page >= discretePages {
		if info.NextToken == "" {
			return connector.Errorf(connector.Internal, "Zoho reported more records past 2,000 without a next_page_token")
		}
		p.token = info.NextToken
		return nil
	}
	p.page++
	return nil
}

// listPage reads one page of a module with every field (several calls
// when the module has more than 50 fields, merged by id).
func (c *Connector) listPage(ctx context.Context, m *moduleMeta, sortBy string, since time.Time, pc pageCursor) ([]map[string]any, listInfo, error) {
	groups := fieldGroups(m)
	q := url.Values{"fields": {strings.Join(groups[0], ",")}, "per_page": {strconv.Itoa(perPage)}, "sort_by": {sortBy}, "sort_order": {"asc"}}
	if pc.token != "" {
		q.Set("page_token", pc.token)
	} else {
		q.Set("page", strconv.Itoa(max(1, pc.page)))
	}
	h := http.Header{}
	if !since.IsZero() {
		// If-Modified-Since: ISO 8601 with offset, inclusive (§A3.1).
		h.Set("If-Modified-Since", since.Format(zohoTime))
	}
	res, err := c.api.do(ctx, request{method: http.MethodGet, path: m.APIName, query: q, header: h, credits: 1}, nil)
	if err != nil {
		return nil, listInfo{}, fmt.Errorf("listing %s: %w", m.APIName, err)
	}
	// 204: no records; 304: nothing modified since (§A3.1).
	if res.status == http.StatusNoContent || res.status == http.StatusNotModified || len(res.body) == 0 {
		return nil, listInfo{}, nil
	}
	var page struct {
		Data []map[string]any `json:"data"`
		Info listInfo         `json:"info"`
	}
	if err := decode(res.body, &page); err != nil {
		return nil, listInfo{}, connector.Errorf(connector.Internal, "listing %s: %v", m.APIName, err)
	}
	if len(groups) > 1 && len(page.Data) > 0 {
		if err := c.completeRows(ctx, m, groups[1:], page.Data); err != nil {
			return nil, listInfo{}, err
		}
	}
	return page.Data, page.Info, nil
}

// completeRows fetches the remaining field groups of rows by ids.
func (c *Connector) completeRows(ctx context.Context, m *moduleMeta, groups [][]string, rows []map[string]any) error {
	byID := map[string]map[string]any{}
	var ids []string
	for _, r := range rows {
		id, _ := r["id"].(string)
		byID[id] = r
		ids = append(ids, id)
	}
	for _, g := range groups {
		q := url.Values{"fields": {strings.Join(g, ",")}, "ids": {strings.Join(ids, ",")}, "per_page": {strconv.Itoa(perPage)}}
		res, err := c.api.do(ctx, request{method: http.MethodGet, path: m.APIName, query: q, credits: 1}, nil)
		if err != nil {
			return fmt.Errorf("reading more fields of %s: %w", m.APIName, err)
		}
		if res.status != http.StatusOK {
			continue
		}
		var page struct {
			Data []map[string]any `json:"data"`
		}
		if err := decode(res.body, &page); err != nil {
			return connector.Errorf(connector.Internal, "reading more fields of %s: %v", m.APIName, err)
		}
		for _, extra := range page.Data {
			id, _ := extra["id"].(string)
			if r, ok := byID[id]; ok {
				for k, v := range extra {
					r[k] = v
				}
			}
		}
	}
	return nil
}

// Read reads every record of a module (sorted by id), or those modified at
// or after req.ModifiedSince.
func (c *Connector) Read(ctx context.Context, req connector.ReadRequest, emit func([]connector.Record) error) error {
	m, err := c.module(ctx, req.Entity)
	if err != nil {
		return err
	}
	defer c.saveUsage(ctx)
	size := req.BatchSize
	if size <= 0 {
		size = perPage
	}
	var batch []connector.Record
	pc := pageCursor{page: 1}
	for {
		rows, info, err := c.listPage(ctx, m, "id", req.ModifiedSince, pc)
		if err != nil {
			return err
		}
		for _, row := range rows {
			r, err := decodeRecord(m, row)
			if err != nil {
				return connector.Errorf(connector.Internal, "decoding %s: %v", m.APIName, err)
			}
			batch = append(batch, r)
			if len(batch) >= size {
				if err := emit(batch); err != nil {
					return err
				}
				batch = nil
			}
		}
		if !info.More || len(rows) == 0 {
			break
		}
		if err := pc.advance(info); err != nil {
			return err
		}
	}
	if len(batch) > 0 {
		return emit(batch)
	}
	return nil
}

// checkpoint is ReadChanges' position: the Modified_Time cursor with the
// records already delivered at that second (and a hash of what was
// delivered, so a record changed again within the same second is not
// skipped), and the same for deletions. Zoho's times have second
// precision and If-Modified-Since is inclusive (§A3.1, §A9), so a cursor
// alone would either repeat or lose records sharing a timestamp.
type checkpoint struct {
	V     int               `json:"v"`
	M     time.Time         `json:"m"`
	MSeen map[string]string `json:"ms"`
	D     time.Time         `json:"d"`
	DSeen map[string]bool   `json:"ds"`
}

const checkpointVersion = 1

func (cp *checkpoint) clone() *checkpoint {
	c := *cp
	c.MSeen = make(map[string]string, len(cp.MSeen))
	for k, v := range cp.MSeen {
		c.MSeen[k] = v
	}
	c.DSeen = make(map[string]bool, len(cp.DSeen))
	for k, v := range cp.DSeen {
		c.DSeen[k] = v
	}
	return &c
}

func (cp *checkpoint) encode() []byte {
	b, _ := json.Marshal(cp)
	return b
}

func parseCheckpoint(b []byte) (*checkpoint, bool) {
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil || cp.V != checkpointVersion {
		return nil, false
	}
	if cp.MSeen == nil {
		cp.MSeen = map[string]string{}
	}
	if cp.DSeen == nil {
		cp.DSeen = map[string]bool{}
	}
	return &cp, true
}

func rowHash(row map[string]any) string {
	b, _ := json.Marshal(row)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:12])
}

// ReadChanges reads upserts in Modified_Time order with If-Modified-Since
// (a fresh query from the cursor for every page, deeper pages and then
// page tokens while one second holds more than a page), then deletions
// from /deleted. A first sync yields the live records only; a checkpoint
// it cannot read yields the full state with FullResync.
func (c *Connector) ReadChanges(ctx context.Context, req connector.ChangesRequest, emit func(connector.ChangeBatch) error) error {
	m, err := c.module(ctx, req.Entity)
	if err != nil {
		return err
	}
	defer c.saveUsage(ctx)
	size := req.BatchSize
	if size <= 0 {
		size = perPage
	}
	full, resync := false, false
	cp, ok := parseCheckpoint(req.Checkpoint)
	if !ok {
		full, resync = true, len(req.Checkpoint) > 0
		cp = &checkpoint{V: checkpointVersion, MSeen: map[string]string{}, DSeen: map[string]bool{}}
		// The deletion cursor is taken before the records are read, so a
		// deletion during the full read is reported next time.
		if err := c.readDeleted(ctx, m, cp, nil); err != nil {
			return err
		}
	}
	sent := 0
	var pending []connector.Change
	flush := func(force bool) error {
		if len(pending) == 0 && !(force && sent == 0) {
			return nil
		}
		b := connector.ChangeBatch{Changes: pending, Checkpoint: cp.clone().encode(), FullResync: resync && sent == 0}
		pending = nil
		sent++
		return emit(b)
	}
	add := func(ch connector.Change) error {
		pending = append(pending, ch)
		if len(pending) >= size {
			return flush(false)
		}
		return nil
	}
	since := cp.M
	pc := pageCursor{page: 1}
	for {
		rows, info, err := c.listPage(ctx, m, "Modified_Time", since, pc)
		if err != nil {
			return err
		}
		for _, row := range rows {
			r, err := decodeRecord(m, row)
			if err != nil {
				return connector.Errorf(connector.Internal, "decoding %s: %v", m.APIName, err)
			}
			t := r.Modified.Truncate(time.Second)
			if t.Before(cp.M) {
				continue
			}
			h := rowHash(row)
			if t.Equal(cp.M) && cp.MSeen[r.ID] == h {
				continue // delivered before this checkpoint
			}
			if t.After(cp.M) {
				cp.M = t
				cp.MSeen = map[string]string{}
			}
			cp.MSeen[r.ID] = h
			if err := add(connector.Change{Op: connector.Upsert, Record: r}); err != nil {
				return err
			}
		}
		if !info.More || len(rows) == 0 {
			break
		}
		if cp.M.After(since) {
			since, pc = cp.M, pageCursor{page: 1}
			continue
		}
		// The whole page shares the cursor's second: go deeper.
		if err := pc.advance(info); err != nil {
			return err
		}
	}
	if !full {
		if err := c.readDeleted(ctx, m, cp, add); err != nil {
			return err
		}
	}
	return flush(true)
}

// readDeleted reads /deleted from the checkpoint's deletion cursor (2
// credits a call, §A7). With add nil it only moves the cursor.
func (c *Connector) readDeleted(ctx context.Context, m *moduleMeta, cp *checkpoint, add func(connector.Change) error) error {
	type entry struct {
		ID      string `json:"id"`
		Deleted string `json:"deleted_time"`
		t       time.Time
	}
	var all []entry
	for page := 1; ; page++ {
		q := url.Values{"type": {"all"}, "per_page": {strconv.Itoa(perPage)}, "page": {strconv.Itoa(page)}}
		h := http.Header{}
		if !cp.D.IsZero() {
			h.Set("If-Modified-Since", cp.D.Format(zohoTime))
		}
		res, err := c.api.do(ctx, request{method: http.MethodGet, path: m.APIName + "/deleted", query: q, header: h, credits: 2}, nil)
		if err != nil {
			return fmt.Errorf("listing deleted %s: %w", m.APIName, err)
		}
		if res.status != http.StatusOK || len(res.body) == 0 {
			break
		}
		var p struct {
			Data []entry  `json:"data"`
			Info listInfo `json:"info"`
		}
		if err := decode(res.body, &p); err != nil {
			return connector.Errorf(connector.Internal, "listing deleted %s: %v", m.APIName, err)
		}
		for _, e := range p.Data {
			t, err := time.Parse(zohoTime, e.Deleted)
			if err != nil {
				return connector.Errorf(connector.Internal, "deleted %s record %s: deleted_time %q: %v", m.APIName, e.ID, e.Deleted, err)
			}
			e.t = t
			all = append(all, e)
		}
		if !p.Info.More || len(p.Data) == 0 {
			break
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].t.Equal(all[j].t) {
			return all[i].t.Before(all[j].t)
		}
		return all[i].ID < all[j].ID
	})
	for _, e := range all {
		if e.t.Before(cp.D) || (e.t.Equal(cp.D) && cp.DSeen[e.ID]) {
			continue
		}
		if e.t.After(cp.D) {
			cp.D = e.t
			cp.DSeen = map[string]bool{}
		}
		cp.DSeen[e.ID] = true
		if add != nil {
			rec := connector.Record{ID: e.ID, Deleted: true, Modified: e.t, Fields: map[string]any{"id": e.ID}}
			if err := add(connector.Change{Op: connector.Delete, Record: rec}); err != nil {
				return err
			}
		}
	}
	return nil
}
