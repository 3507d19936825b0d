package sagecrm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

var errLimit = errors.New("limit reached")

// Query returns the records whose fields equal every value in Match, with
// an SData where clause of eq terms (B3). Composed fields (emails, phones,
// start, ...) cannot be matched.
func (c *Connector) Query(ctx context.Context, req connector.QueryRequest) ([]connector.Record, error) {
	defer c.saveUsage(ctx)
	info, err := c.entity(ctx, req.Entity)
	if err != nil {
		return nil, err
	}
	limit := req.Limit
	if limit <= 0 {
		limit = 100
	}
	names := make([]string, 0, len(req.Match))
	for k := range req.Match {
		names = append(names, k)
	}
	sort.Strings(names)
	var terms []string
	var ds connector.Diagnostics
	for _, name := range names {
		lower := strings.ToLower(name)
		f := info.fields[lower]
		if f == nil || composed[lower] && f.Type.Kind == schema.Collection {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, name, "Sage CRM entity %s has no field %s to match on", info.name, name))
			continue
		}
		lit, err := c.literal(f, req.Match[name])
		if err != nil {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, name, "%s: %v", name, err))
			continue
		}
		if composed[lower] {
			ds = append(ds, connector.FieldErrorf(connector.InvalidInput, name, "%s is derived by the connector; match on the Sage CRM column instead", name))
			continue
		}
		terms = append(terms, fmt.Sprintf("%s eq %s", lower, lit))
	}
	if len(ds) > 0 {
		return nil, ds
	}
	var out []connector.Record
	err = c.scan(ctx, info, strings.Join(terms, " and "), nil, func(rows []row) error {
		if len(out)+len(rows) > limit {
			rows = rows[:limit-len(out)]
		}
		if _, err := c.compose(ctx, info, rows); err != nil {
			return err
		}
		for _, r := range rows {
			out = append(out, r.rec)
		}
		if len(out) >= limit {
			return errLimit
		}
		return nil
	})
	if err != nil && !errors.Is(err, errLimit) {
		return nil, err
	}
	if out == nil {
		out = []connector.Record{}
	}
	return out, nil
}

// literal renders a value as a where literal for a field.
func (c *Connector) literal(f *schema.Field, v any) (string, error) {
	if v == nil {
		return "", fmt.Errorf("Sage CRM cannot filter on null")
	}
	wv, err := c.toWire(f, v)
	if err != nil {
		return "", err
	}
	switch x := wv.(type) {
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case string:
		if f.Type.Kind == schema.Timestamp {
			if _, err := time.Parse(serverLayout, x); err != nil {
				return "", err
			}
		}
		return quote(x), nil
	case bool:
		return "", fmt.Errorf("Sage CRM cannot filter on booleans")
	}
	return "", fmt.Errorf("cannot match on %T", v)
}
