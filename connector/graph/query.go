package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/syncplane/syncplane/connector"
)

// ParseKeyNotation parses the key-field notation pipelines use to address a
// Graph record,
//
//	id|:|AAMkAGI2TG93AAA=|;|user|:|anna@contoso.com|;|
//
// into a query on entity: each field|:|value pair ends with |;|; user
// becomes the request's Partition (the mailbox) and every other field a
// Match entry. A pair without |:|, an empty field name or a field given
// twice is an error naming the pair.
func ParseKeyNotation(entity, s string) (connector.QueryRequest, error) {
	q := connector.QueryRequest{Entity: entity, Match: map[string]any{}}
	rest := s
	for i := 0; rest != ""; i++ {
		pair, after, found := strings.Cut(rest, "|;|")
		if !found {
			return q, fmt.Errorf("key notation %q: pair %d (%q) is not ended by |;|", s, i+1, rest)
		}
		rest = after
		name, value, ok := strings.Cut(pair, "|:|")
		if !ok {
			return q, fmt.Errorf("key notation %q: pair %d (%q) has no |:| between field and value", s, i+1, pair)
		}
		if name == "" {
			return q, fmt.Errorf("key notation %q: pair %d has an empty field name", s, i+1)
		}
		if name == "user" {
			if q.Partition != "" {
				return q, fmt.Errorf("key notation %q: field user given twice", s)
			}
			q.Partition = strings.ToLower(value)
			continue
		}
		if _, dup := q.Match[name]; dup {
			return q, fmt.Errorf("key notation %q: field %s given twice", s, name)
		}
		q.Match[name] = value
	}
	if len(q.Match) == 0 && q.Partition == "" {
		return q, fmt.Errorf("key notation %q names no field", s)
	}
	return q, nil
}

// FormatKeyNotation renders a record's key in the notation ParseKeyNotation
// reads: id, then user.
func FormatKeyNotation(id, user string) string {
	return "id|:|" + id + "|;|user|:|" + user + "|;|"
}

// Query looks records up by id (Match["id"]), in the given mailbox or, with
// no Partition, in every selected mailbox. Other Match fields must equal the
// record's top-level fields. Without id the mailboxes are read and
// filtered, up to Limit (1000 by default). No match is an empty result.
func (c *Connector) Query(ctx context.Context, req connector.QueryRequest) ([]connector.Record, error) {
	if err := c.configured(); err != nil {
		return nil, err
	}
	if req.Entity == "user" {
		return c.queryUser(ctx, req)
	}
	ent, err := c.entitySchema(ctx, req.Entity)
	if err != nil {
		return nil, err
	}
	id, _ := req.Match["id"].(string)
	var mailboxes []string
	if req.Partition != "" {
		mailboxes = []string{strings.ToLower(req.Partition)}
	} else {
		sel, err := c.currentSelection(ctx)
		if err != nil {
			return nil, err
		}
		for _, u := range sel.users {
			mailboxes = append(mailboxes, strings.ToLower(u.UserPrincipalName))
		}
	}
	if id == "" {
		return c.queryByScan(ctx, req, mailboxes)
	}
	dec := c.client.decoderFor(ent)
	var out []connector.Record
	for _, mb := range mailboxes {
		path, err := c.itemPath(ctx, req.Entity, mb, id)
		if err != nil {
			return nil, err
		}
		resp, err := c.client.do(ctx, request{method: http.MethodGet, url: path, header: c.itemHeader(req.Entity), mailbox: mb})
		var ge *graphError
		if errors.As(err, &ge) && (ge.Status == http.StatusNotFound || ge.Status == http.StatusBadRequest && ge.is("ErrorInvalidIdMalformed")) && !ge.is("MailboxNotEnabledForRESTAPI") {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("querying %s %s in %s: %w", req.Entity, id, mb, subjectErr(err, "mailbox "+mb))
		}
		it, err := dec.decodeOne(resp.body)
		if err != nil {
			return nil, connector.Errorf(connector.Internal, "%s %s of %s cannot be decoded", req.Entity, id, mb).WithDetail("%v", err)
		}
		rec := record(it, mb)
		if matches(rec, req.Match) {
			out = append(out, rec)
		}
		if req.Limit > 0 && len(out) >= req.Limit {
			break
		}
	}
	return out, nil
}

// errEnough stops a scan once Limit records matched.
var errEnough = errors.New("query limit reached")

// defaultQueryLimit caps a query without a Limit that is not by id.
const defaultQueryLimit = 1000

// queryByScan answers a query without id by reading the mailboxes (the
// event window, the contact folder, the To Do list) and keeping the
// records whose fields equal Match.
func (c *Connector) queryByScan(ctx context.Context, req connector.QueryRequest, mailboxes []string) ([]connector.Record, error) {
	limit := req.Limit
	if limit <= 0 {
		limit = defaultQueryLimit
	}
	var out []connector.Record
	for _, mb := range mailboxes {
		err := c.Read(ctx, connector.ReadRequest{Entity: req.Entity, Partition: mb}, func(recs []connector.Record) error {
			for _, r := range recs {
				if matches(r, req.Match) {
					out = append(out, r)
					if len(out) >= limit {
						return errEnough
					}
				}
			}
			return nil
		})
		if errors.Is(err, errEnough) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// matches reports whether every Match field equals the record's field.
func matches(r connector.Record, match map[string]any) bool {
	for k, v := range match {
		if k == "id" {
			continue
		}
		if !reflect.DeepEqual(r.Fields[k], v) {
			return false
		}
	}
	return true
}

// queryUser looks a directory user up by id or userPrincipalName.
func (c *Connector) queryUser(ctx context.Context, req connector.QueryRequest) ([]connector.Record, error) {
	key, _ := req.Match["id"].(string)
	if key == "" {
		key, _ = req.Match["userPrincipalName"].(string)
	}
	if key == "" {
		return nil, connector.FieldErrorf(connector.InvalidInput, "id", "a user query needs id or userPrincipalName")
	}
	ent, err := c.DiscoverSchema(ctx, false)
	if err != nil {
		return nil, err
	}
	e, _ := ent.Entity("user")
	resp, err := c.client.do(ctx, request{method: http.MethodGet, url: mailboxPath(key)})
	var ge *graphError
	if errors.As(err, &ge) && ge.Status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, subjectErr(err, "user "+key)
	}
	it, err := c.client.decoderFor(e).decodeOne(resp.body)
	if err != nil {
		return nil, connector.Errorf(connector.Internal, "user %s cannot be decoded", key).WithDetail("%v", err)
	}
	rec := connector.Record{ID: it.ID, Fields: it.Fields}
	if !matches(rec, req.Match) {
		return nil, nil
	}
	return []connector.Record{rec}, nil
}
