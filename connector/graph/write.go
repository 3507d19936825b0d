package graph

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// readOnlyOnWrite are properties the service computes; a record read from
// Graph carries them, and writing it back leaves them out.
var readOnlyOnWrite = map[string]bool{
	"id": true, "createdDateTime": true, "lastModifiedDateTime": true, "changeKey": true, "iCalUId": true,
	"type": true, "seriesMasterId": true, "webLink": true, "isOrganizer": true, "onlineMeeting": true,
	"onlineMeetingUrl": true, "bodyPreview": true, "hasAttachments": true, "responseStatus": true,
	"parentFolderId": true, "user": true, "isDeleted": true, "cancelledOccurrences": true, "originalStart": true,
}

// transactionID derives the event transactionId from the idempotency key,
// so a retried create is recognised by the service (graph-api-facts §6).
func transactionID(connection, key string) string {
	sum := sha256.Sum256([]byte("syncplane/" + connection + "/" + key))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Write applies a batch of upserts and deletes of events, contacts or To Do
// tasks. Each op's mailbox is its user field, else (for events) its
// organizer, else its Partition; a missing mailbox, or one outside the user
// selection, rejects that op with INVALID_INPUT naming the field, and the
// rest of the batch goes on. Events are created with a transactionId
// derived from the idempotency key, so a retried create never makes a
// second event; a Teams meeting's join URL comes back in the outcome's
// Stored record (onlineMeeting.joinUrl). After a recurring series is
// created its occurrences — from the series start to its end, or to the end
// of the sync window — are read and remembered in the Values store under
// "series/<mailbox>/<master id>".
func (c *Connector) Write(ctx context.Context, batch connector.WriteBatch) ([]connector.WriteOutcome, error) {
	if err := c.configured(); err != nil {
		return nil, err
	}
	switch batch.Entity {
	case "event", "contact", "todoTask":
	case "message":
		return nil, connector.Errorf(connector.InvalidInput, "messages are read-only in the Graph connector")
	default:
		return nil, connector.Errorf(connector.NotFound, "entity %q is not offered by the Graph connector", batch.Entity)
	}
	ent, err := c.entitySchema(ctx, batch.Entity)
	if err != nil {
		return nil, err
	}
	sel, err := c.currentSelection(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]connector.WriteOutcome, len(batch.Ops))
	for i, op := range batch.Ops {
		out[i] = c.writeOne(ctx, batch.Entity, ent, sel, op)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return out, nil
}

func rejected(key string, d *connector.Diagnostic) connector.WriteOutcome {
	return connector.WriteOutcome{IdempotencyKey: key, Status: connector.Rejected, Diagnostics: connector.Diagnostics{d}}
}

// targetMailbox picks the mailbox of an op and the field it came from.
// The record's user field wins, then (events) its organizer, then the
// op's partition.
func targetMailbox(entity string, op connector.WriteOp) (string, string) {
	if u, _ := op.Record.Fields["user"].(string); u != "" {
		return strings.ToLower(u), "user"
	}
	if entity == "event" {
		if a := addressOf(op.Record.Fields["organizer"]); a != "" {
			return strings.ToLower(a), "organizer.emailAddress.address"
		}
	}
	if op.Partition != "" {
		return strings.ToLower(op.Partition), "user"
	}
	return "", "user"
}

func (c *Connector) writeOne(ctx context.Context, entity string, ent *schema.Entity, sel *selection, op connector.WriteOp) connector.WriteOutcome {
	mailbox, field := targetMailbox(entity, op)
	if mailbox == "" {
		return rejected(op.IdempotencyKey, connector.FieldErrorf(connector.InvalidInput, "user", "the record names no mailbox: set user (or, for an event, organizer.emailAddress.address)"))
	}
	if !sel.has(mailbox) {
		return rejected(op.IdempotencyKey, connector.FieldErrorf(connector.InvalidInput, field, "mailbox %s is not among the selected users", mailbox))
	}
	if entity == "contact" && c.cfg.Entities.Contacts.Mailbox != "" && c.cfg.Entities.Contacts.Mode == "exclusive" {
		mailbox = strings.ToLower(c.cfg.Entities.Contacts.Mailbox)
	}
	collection, err := c.collectionPath(ctx, entity, mailbox)
	if err != nil {
		return rejected(op.IdempotencyKey, connector.AsDiagnostics(err)[0])
	}
	if op.Action == connector.ActionDelete {
		return c.deleteOne(ctx, entity, mailbox, collection, op)
	}
	body, d := writeBody(ent, op.Record)
	if d != nil {
		return rejected(op.IdempotencyKey, d)
	}
	method, u := http.MethodPost, collection
	if op.TargetID != "" {
		method, u = http.MethodPatch, collection+"/"+url.PathEscape(op.TargetID)
	} else if entity == "event" {
		body["transactionId"] = transactionID(c.connect, op.IdempotencyKey)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return rejected(op.IdempotencyKey, connector.Errorf(connector.InvalidInput, "the record cannot be encoded: %v", err))
	}
	resp, err := c.client.do(ctx, request{method: method, url: u, body: raw, header: c.itemHeader(entity), mailbox: mailbox})
	if err != nil {
		var ge *graphError
		if errors.As(err, &ge) {
			d := ge.diagnostic("mailbox " + mailbox)
			if ge.Status == http.StatusBadRequest {
				d.Field = badField(ge.Message, body)
			}
			return rejected(op.IdempotencyKey, d)
		}
		return rejected(op.IdempotencyKey, connector.AsDiagnostics(err)[0])
	}
	it, err := newDecoder(ent).decodeOne(resp.body)
	if err != nil {
		return rejected(op.IdempotencyKey, connector.Errorf(connector.Internal, "the service's answer cannot be decoded").WithDetail("%v", err))
	}
	stored := record(it, mailbox)
	status := connector.Created
	if method == http.MethodPatch {
		status = connector.Updated
	}
	outcome := connector.WriteOutcome{IdempotencyKey: op.IdempotencyKey, Status: status, TargetID: it.ID, Version: stored.Version, Stored: &stored}
	if entity == "event" && stored.Fields["type"] == "seriesMaster" {
		if err := c.rememberSeries(ctx, ent, mailbox, it.ID, stored); err != nil {
			outcome.Diagnostics = append(outcome.Diagnostics, connector.Warnf(connector.Unavailable, "the occurrences of the new series could not be read and remembered").WithDetail("%v", err))
		}
	}
	if entity == "contact" && c.cfg.Entities.Contacts.Mailbox != "" && c.cfg.Entities.Contacts.Mode != "exclusive" {
		if d := c.writeContactCopy(ctx, ent, mailbox, it.ID, op, body); d != nil {
			outcome.Diagnostics = append(outcome.Diagnostics, d)
		}
	}
	return outcome
}

// collectionPath is where an entity's items of a mailbox are written.
func (c *Connector) collectionPath(ctx context.Context, entity, mailbox string) (string, error) {
	base := mailboxPath(mailbox)
	switch entity {
	case "event":
		return base + "/events", nil
	case "contact":
		if f := c.cfg.Entities.Contacts.Folder; f != "" {
			return base + "/contactFolders/" + url.PathEscape(f) + "/contacts", nil
		}
		return base + "/contacts", nil
	case "todoTask":
		list, err := c.todoList(ctx, mailbox)
		if err != nil {
			return "", err
		}
		return base + "/todo/lists/" + url.PathEscape(list) + "/tasks", nil
	}
	return "", connector.Errorf(connector.NotFound, "entity %q is not writable", entity)
}

func (c *Connector) deleteOne(ctx context.Context, entity, mailbox, collection string, op connector.WriteOp) connector.WriteOutcome {
	if op.TargetID == "" {
		return rejected(op.IdempotencyKey, connector.FieldErrorf(connector.InvalidInput, "id", "a delete needs the target id"))
	}
	_, err := c.client.do(ctx, request{method: http.MethodDelete, url: collection + "/" + url.PathEscape(op.TargetID), mailbox: mailbox})
	var ge *graphError
	if err != nil && !(errors.As(err, &ge) && ge.Status == http.StatusNotFound && !ge.is("MailboxNotEnabledForRESTAPI")) {
		if ge != nil {
			return rejected(op.IdempotencyKey, ge.diagnostic("mailbox "+mailbox))
		}
		return rejected(op.IdempotencyKey, connector.AsDiagnostics(err)[0])
	}
	out := connector.WriteOutcome{IdempotencyKey: op.IdempotencyKey, Status: connector.Deleted, TargetID: op.TargetID}
	if entity == "contact" {
		if copyRef, ok := c.contactCopy(ctx, mailbox, op.TargetID); ok {
			_, err := c.client.do(ctx, request{method: http.MethodDelete, url: mailboxPath(copyRef.Mailbox) + "/contacts/" + url.PathEscape(copyRef.ID), mailbox: copyRef.Mailbox})
			if err != nil && !(errors.As(err, &ge) && ge.Status == http.StatusNotFound) {
				out.Diagnostics = append(out.Diagnostics, connector.Warnf(connector.Unavailable, "the copy of the contact in %s was not deleted", copyRef.Mailbox).WithDetail("%v", err))
			} else {
				_ = c.host.Values().Delete(ctx, contactCopyKey(mailbox, op.TargetID))
			}
		}
	}
	return out
}

// writeBody turns a record into a Graph request body: fields the service
// computes are left out, fields the entity does not have reject the record
// (naming the field), and values are rendered as Graph expects them.
func writeBody(ent *schema.Entity, r connector.Record) (map[string]any, *connector.Diagnostic) {
	body := make(map[string]any, len(r.Fields))
	for k, v := range r.Fields {
		if readOnlyOnWrite[k] {
			continue
		}
		f, ok := ent.Field(k)
		if !ok {
			return nil, connector.FieldErrorf(connector.InvalidInput, k, "%s has no field %s", ent.Name, k)
		}
		if f.ReadOnly {
			continue
		}
		body[k] = wireValue(v)
	}
	return body, nil
}

// wireValue renders a record value as JSON for Graph.
func wireValue(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case connector.Date:
		return x.String()
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = wireValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = wireValue(e)
		}
		return out
	}
	return v
}

// badField finds the body field a 400 message names, for the diagnostic.
func badField(msg string, body map[string]any) string {
	for k := range body {
		if strings.Contains(msg, "'"+k+"'") || strings.Contains(msg, " "+k+" ") {
			return k
		}
	}
	return ""
}

// seriesOccurrence is what the connector remembers of one occurrence.
type seriesOccurrence struct {
	ID    string `json:"id"`
	Start string `json:"start"`
	Type  string `json:"type"`
}

// seriesKey names the Values entry of a series' occurrences.
func seriesKey(mailbox, masterID string) string { return "series/" + mailbox + "/" + masterID }

// rememberSeries reads a new series' occurrences and stores them.
func (c *Connector) rememberSeries(ctx context.Context, ent *schema.Entity, mailbox, masterID string, master connector.Record) error {
	rec, _ := master.Fields["recurrence"].(map[string]any)
	rng, _ := rec["range"].(map[string]any)
	start, ok := dateValue(rng["startDate"])
	if !ok {
		return fmt.Errorf("series %s has no range start date", masterID)
	}
	_, end := c.window(c.now().UTC())
	if t, _ := rng["type"].(string); t == "endDate" {
		if e, ok := dateValue(rng["endDate"]); ok {
			end = e.AddDate(0, 0, 1)
		}
	}
	q := url.Values{"startDateTime": {start.Format(time.RFC3339)}, "endDateTime": {end.Format(time.RFC3339)}}
	var occ []seriesOccurrence
	dec := newDecoder(ent)
	for next := mailboxPath(mailbox) + "/events/" + url.PathEscape(masterID) + "/instances?" + q.Encode(); next != ""; {
		resp, err := c.client.do(ctx, request{method: http.MethodGet, url: next, header: c.preferHeader(c.cfg.PageSize, "event"), mailbox: mailbox})
		if err != nil {
			return err
		}
		page, _, err := dec.decodePage(resp.body)
		if err != nil {
			return err
		}
		for _, it := range page.Items {
			s, _ := it.Fields["start"].(map[string]any)
			dt, _ := s["dateTime"].(string)
			typ, _ := it.Fields["type"].(string)
			occ = append(occ, seriesOccurrence{ID: it.ID, Start: dt, Type: typ})
		}
		next = page.NextLink
	}
	b, _ := json.Marshal(occ)
	return c.host.Values().Put(ctx, seriesKey(mailbox, masterID), b)
}

// dateValue reads an Edm.Date record value (connector.Date, or its text).
func dateValue(v any) (time.Time, bool) {
	switch d := v.(type) {
	case connector.Date:
		return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC), d.Year > 1
	case string:
		t, err := time.Parse(time.DateOnly, d)
		return t, err == nil
	}
	return time.Time{}, false
}

// SeriesOccurrences returns the occurrences remembered for a series the
// connector created, in the order the service listed them.
func (c *Connector) SeriesOccurrences(ctx context.Context, mailbox, masterID string) ([]string, error) {
	b, ok, err := c.host.Values().Get(ctx, seriesKey(strings.ToLower(mailbox), masterID))
	if err != nil || !ok {
		return nil, err
	}
	var occ []seriesOccurrence
	if err := json.Unmarshal(b, &occ); err != nil {
		return nil, fmt.Errorf("reading remembered occurrences of %s: %w", masterID, err)
	}
	ids := make([]string, len(occ))
	for i, o := range occ {
		ids[i] = o.ID
	}
	return ids, nil
}

// contactCopyRef points at the copy of a contact in the other mailbox.
type contactCopyRef struct {
	Mailbox string `json:"mailbox"`
	ID      string `json:"id"`
}

func contactCopyKey(mailbox, id string) string { return "contactcopy/" + mailbox + "/" + id }

func (c *Connector) contactCopy(ctx context.Context, mailbox, id string) (contactCopyRef, bool) {
	b, ok, err := c.host.Values().Get(ctx, contactCopyKey(mailbox, id))
	if err != nil || !ok {
		return contactCopyRef{}, false
	}
	var ref contactCopyRef
	return ref, json.Unmarshal(b, &ref) == nil && ref.ID != ""
}

// writeContactCopy writes the additional copy of a contact (contacts mode
// additional) into entities.contacts.mailbox and remembers its id.
func (c *Connector) writeContactCopy(ctx context.Context, ent *schema.Entity, owner, ownerID string, op connector.WriteOp, body map[string]any) *connector.Diagnostic {
	other := strings.ToLower(c.cfg.Entities.Contacts.Mailbox)
	if other == owner {
		return nil
	}
	raw, _ := json.Marshal(body)
	method, u := http.MethodPost, mailboxPath(other)+"/contacts"
	ref, have := c.contactCopy(ctx, owner, ownerID)
	if have {
		method, u = http.MethodPatch, mailboxPath(other)+"/contacts/"+url.PathEscape(ref.ID)
	}
	resp, err := c.client.do(ctx, request{method: method, url: u, body: raw, mailbox: other})
	if err != nil {
		return connector.Warnf(connector.Unavailable, "the additional copy of the contact in %s was not written", other).WithDetail("%v", err)
	}
	if !have {
		it, err := newDecoder(ent).decodeOne(resp.body)
		if err != nil {
			return connector.Warnf(connector.Internal, "the copy of the contact in %s cannot be decoded", other)
		}
		b, _ := json.Marshal(contactCopyRef{Mailbox: other, ID: it.ID})
		if err := c.host.Values().Put(ctx, contactCopyKey(owner, ownerID), b); err != nil {
			return connector.Warnf(connector.Unavailable, "the id of the contact copy in %s was not remembered", other).WithDetail("%v", err)
		}
	}
	return nil
}
