package zoho

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/syncplane/syncplane/connector"
)

// Query looks records up: by id with GET /{module}/{id} (§A3.2), otherwise
// with a COQL query whose WHERE compares every field of Match for
// equality (§A3.10; /search is not used because its equals behaves like
// contains, §A3.9). An empty Match returns the first records of the module.
func (c *Connector) Query(ctx context.Context, req connector.QueryRequest) ([]connector.Record, error) {
	m, err := c.module(ctx, req.Entity)
	if err != nil {
		return nil, err
	}
	defer c.saveUsage(ctx)
	if id, ok := req.Match["id"]; ok && len(req.Match) == 1 {
		return c.queryByID(ctx, m, fmt.Sprint(id))
	}
	limit := req.Limit
	if limit <= 0 || limit > 2000 {
		limit = 200
	}
	names := make([]string, 0, len(req.Match))
	for k := range req.Match {
		names = append(names, k)
	}
	sort.Strings(names)
	var where []string
	for _, k := range names {
		v := req.Match[k]
		if k != "id" {
			if _, ok := m.byName[k]; !ok {
				return nil, connector.FieldErrorf(connector.InvalidInput, k, "%s has no field %q to query by", m.APIName, k)
			}
		}
		lit, err := coqlLiteral(m, k, v)
		if err != nil {
			return nil, connector.FieldErrorf(connector.InvalidInput, k, "querying %s by %s: %v", m.APIName, k, err)
		}
		if lit == "null" {
			where = append(where, k+" is null")
		} else {
			where = append(where, k+" = "+lit)
		}
	}
	if len(where) == 0 {
		// WHERE is mandatory; this is the documented catch-all (§A3.10).
		where = []string{"id is not null"}
	}
	groups := fieldGroups(m)
	q := fmt.Sprintf("select %s from %s where %s limit %d", strings.Join(groups[0], ", "), m.APIName, strings.Join(where, " and "), limit)
	credits := 1
	switch {
	case limit > 1000:
		credits = 3
	case limit > 200:
		credits = 2
	}
	res, err := c.api.do(ctx, request{method: http.MethodPost, path: "coql", body: map[string]any{"select_query": q}, credits: credits, heavy: true}, nil)
	if err != nil {
		return nil, fmt.Errorf("querying %s: %w", m.APIName, err)
	}
	if res.status == http.StatusNoContent || len(res.body) == 0 {
		return nil, nil
	}
	var page struct {
		Data []map[string]any `json:"data"`
	}
	if err := decode(res.body, &page); err != nil {
		return nil, connector.Errorf(connector.Internal, "querying %s: %v", m.APIName, err)
	}
	if len(groups) > 1 && len(page.Data) > 0 {
		if err := c.completeRows(ctx, m, groups[1:], page.Data); err != nil {
			return nil, err
		}
	}
	out := make([]connector.Record, 0, len(page.Data))
	for _, row := range page.Data {
		r, err := decodeRecord(m, row)
		if err != nil {
			return nil, connector.Errorf(connector.Internal, "decoding %s: %v", m.APIName, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func (c *Connector) queryByID(ctx context.Context, m *moduleMeta, id string) ([]connector.Record, error) {
	for _, ch := range id {
		if ch < '0' || ch > '9' {
			return nil, nil // Zoho ids are digits: no record has this id
		}
	}
	res, err := c.api.do(ctx, request{method: http.MethodGet, path: m.APIName + "/" + url.PathEscape(id), credits: 1},
		func(status int) bool { return status == http.StatusBadRequest })
	if err != nil {
		return nil, fmt.Errorf("reading %s record %s: %w", m.APIName, id, err)
	}
	// Unknown id: 204, or 400 INVALID_DATA on id (§A3.2).
	if res.status != http.StatusOK {
		return nil, nil
	}
	var page struct {
		Data []map[string]any `json:"data"`
	}
	if err := decode(res.body, &page); err != nil {
		return nil, connector.Errorf(connector.Internal, "reading %s record %s: %v", m.APIName, id, err)
	}
	out := make([]connector.Record, 0, 1)
	for _, row := range page.Data {
		r, err := decodeRecord(m, row)
		if err != nil {
			return nil, connector.Errorf(connector.Internal, "decoding %s: %v", m.APIName, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// coqlLiteral renders a value as a COQL literal for field k.
func coqlLiteral(m *moduleMeta, k string, v any) (string, error) {
	quote := func(s string) string {
		return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `'`, `\'`) + "'"
	}
	switch x := v.(type) {
	case nil:
		return "null", nil
	case string:
		return quote(x), nil
	case bool:
		return fmt.Sprint(x), nil
	case int64, float64, int:
		return fmt.Sprint(x), nil
	case time.Time:
		return quote(x.Truncate(time.Second).Format(zohoTime)), nil
	case connector.Date:
		return quote(x.String()), nil
	case map[string]any:
		if id, ok := x["id"]; ok {
			return quote(fmt.Sprint(id)), nil
		}
	}
	return "", fmt.Errorf("a %T value cannot be compared in COQL", v)
}
