package zoho

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/syncplane/syncplane/connector"
)

// maxWrite is the number of records per insert, update, upsert or delete
// call (crm-api-facts.md §A3.3, §A3.7).
const maxWrite = 100

// idempotencyPrefix starts the value-store keys of idempotency keys: a
// create's target id is kept under "zoho/idem/<module>/<key>" (see
// connector.IdempotencyKeys), so a retried create updates the record
// instead of making a second one.
const idempotencyPrefix = "zoho/idem/"

// IdempotencyRetention is how long the id a create made is kept under its
// idempotency key (connector.DefaultIdempotencyRetention); a create
// retried later than this can make a second record.
const IdempotencyRetention = connector.DefaultIdempotencyRetention

// recordResult is one item of a write answer's data[] (§A3.3).
type recordResult struct {
	Code           string         `json:"code"`
	Details        map[string]any `json:"details"`
	Message        string         `json:"message"`
	Status         string         `json:"status"`
	Action         string         `json:"action"`
	DuplicateField any            `json:"duplicate_field"`
}

// Write applies a batch: creates go to upsert where Zoho allows it
// (Contacts, Leads, Accounts with their duplicate-check fields) and to
// insert elsewhere (Events, Tasks, Calls: §A3.5), updates go by id
// (WriteOp.TargetID, or the id a retried create made), deletes by id; in
// calls of at most 100 records, several at once within the edition's
// limits. Each op gets its own outcome; a record Zoho refuses is Rejected
// with a diagnostic naming the field. A created or updated record's
// outcome carries as Version the Modified_Time of the answer's details as
// RFC 3339 UTC, the same text ReadChanges later gives as that record
// version's Record.Version (its Modified_Time field holds the same
// instant). Zoho's
// write answers hold the id and audit fields only, not the stored record,
// so Stored stays nil.
func (c *Connector) Write(ctx context.Context, batch connector.WriteBatch) ([]connector.WriteOutcome, error) {
	m, err := c.module(ctx, batch.Entity)
	if err != nil {
		return nil, err
	}
	defer c.saveUsage(ctx)
	if err := c.idem.Prune(ctx, c.now()); err != nil {
		return nil, err
	}
	outs := make([]connector.WriteOutcome, len(batch.Ops))
	type item struct {
		i    int
		body map[string]any
		id   string
	}
	var creates, updates, deletes []item
	for i, op := range batch.Ops {
		outs[i].IdempotencyKey = op.IdempotencyKey
		switch op.Action {
		case connector.ActionDelete:
			if op.TargetID == "" {
				outs[i] = rejected(op, connector.FieldErrorf(connector.InvalidInput, "id", "a delete needs the record's Zoho id (TargetID)"))
				continue
			}
			deletes = append(deletes, item{i: i, id: op.TargetID})
		case connector.ActionUpsert:
			body, ds := encodeRecord(m, op.Record.Fields)
			if ds.HasError() {
				outs[i] = connector.WriteOutcome{IdempotencyKey: op.IdempotencyKey, Status: connector.Rejected, Diagnostics: ds}
				continue
			}
			id := op.TargetID
			if id == "" && op.IdempotencyKey != "" {
				kept, _, err := c.idem.Lookup(ctx, m.APIName, op.IdempotencyKey)
				if err != nil {
					return nil, err
				}
				id = kept
			}
			if id != "" {
				body["id"] = id
				updates = append(updates, item{i: i, body: body, id: id})
			} else {
				creates = append(creates, item{i: i, body: body})
			}
		default:
			outs[i] = rejected(op, connector.Errorf(connector.InvalidInput, "unknown write action %d", op.Action))
		}
	}
	if m.APIName == "Events" && (c.set.ResolveParticipants == nil || *c.set.ResolveParticipants) {
		var bodies []map[string]any
		for _, it := range append(append([]item{}, creates...), updates...) {
			bodies = append(bodies, it.body)
		}
		if err := c.resolveParticipants(ctx, bodies); err != nil {
			return nil, err
		}
	}
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var firstErr error
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
			}
		}()
	}
	upsertFields, canUpsert := upsertModules[m.APIName]
	if c.set.Upsert != nil && !*c.set.Upsert {
		canUpsert = false
	}
	for start := 0; start < len(creates); start += maxWrite {
		chunk := creates[start:min(start+maxWrite, len(creates))]
		run(func() error {
			data := make([]any, len(chunk))
			for j, it := range chunk {
				data[j] = it.body
			}
			path, body := m.APIName, map[string]any{"data": data, "trigger": []any{}}
			if canUpsert {
				path = m.APIName + "/upsert"
				body["duplicate_check_fields"] = upsertFields
			}
			results, err := c.writeCall(ctx, http.MethodPost, path, nil, body, len(chunk))
			if err != nil {
				return err
			}
			for j, it := range chunk {
				op := batch.Ops[it.i]
				outs[it.i] = outcome(op, results[j], connector.Created)
				if outs[it.i].Status == connector.Created && op.IdempotencyKey != "" {
					if err := c.idem.Remember(ctx, m.APIName, op.IdempotencyKey, outs[it.i].TargetID, c.now()); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	for start := 0; start < len(updates); start += maxWrite {
		chunk := updates[start:min(start+maxWrite, len(updates))]
		run(func() error {
			data := make([]any, len(chunk))
			for j, it := range chunk {
				data[j] = it.body
			}
			results, err := c.writeCall(ctx, http.MethodPut, m.APIName, nil, map[string]any{"data": data, "trigger": []any{}}, len(chunk))
			if err != nil {
				return err
			}
			for j, it := range chunk {
				outs[it.i] = outcome(batch.Ops[it.i], results[j], connector.Updated)
				if outs[it.i].TargetID == "" {
					outs[it.i].TargetID = it.id
				}
			}
			return nil
		})
	}
	for start := 0; start < len(deletes); start += maxWrite {
		chunk := deletes[start:min(start+maxWrite, len(deletes))]
		run(func() error {
			ids := make([]string, len(chunk))
			for j, it := range chunk {
				ids[j] = it.id
			}
			results, err := c.writeCall(ctx, http.MethodDelete, m.APIName, url.Values{"ids": {strings.Join(ids, ",")}, "wf_trigger": {"false"}}, nil, len(chunk))
			if err != nil {
				return err
			}
			for j, it := range chunk {
				op := batch.Ops[it.i]
				res := results[j]
				if res.Status != "success" && res.Code == "INVALID_DATA" {
					// The id is gone: deleted before (a retried delete) or
					// never there. The record is absent either way.
					outs[it.i] = connector.WriteOutcome{IdempotencyKey: op.IdempotencyKey, Status: connector.Unchanged, TargetID: it.id,
						Diagnostics: connector.Diagnostics{connector.Warnf(connector.NotFound, "%s record %s did not exist in Zoho CRM (already deleted)", m.APIName, it.id)}}
					continue
				}
				outs[it.i] = outcome(op, res, connector.Deleted)
				if outs[it.i].TargetID == "" {
					outs[it.i].TargetID = it.id
				}
			}
			return nil
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return outs, nil
}

func rejected(op connector.WriteOp, d *connector.Diagnostic) connector.WriteOutcome {
	return connector.WriteOutcome{IdempotencyKey: op.IdempotencyKey, Status: connector.Rejected, Diagnostics: connector.Diagnostics{d}}
}

// writeCall sends one write and returns its per-record results. Insert,
// update and upsert cost 1 credit per 10 records (§A7); 201, 200, 207 and
// 400 all carry per-record results in data[] (§A3.3).
func (c *Connector) writeCall(ctx context.Context, method, path string, q url.Values, body map[string]any, n int) ([]recordResult, error) {
	credits := max(1, (n+9)/10)
	res, err := c.api.do(ctx, request{method: method, path: path, query: q, body: body, credits: credits, heavy: n > 10},
		func(status int) bool { return status == http.StatusBadRequest })
	if err != nil {
		return nil, fmt.Errorf("writing %d records to %s: %w", n, path, err)
	}
	var out struct {
		Data []recordResult `json:"data"`
		apiError
	}
	if err := json.Unmarshal(res.body, &out); err != nil {
		return nil, connector.Errorf(connector.Internal, "writing to %s: the answer is not JSON: %v", path, err)
	}
	if res.status == http.StatusBadRequest && len(out.Data) == 0 {
		// A request-level error (§A6), not per-record results.
		return nil, errorDiagnostic(res.status, out.apiError, request{method: method, path: path})
	}
	if len(out.Data) != n {
		return nil, connector.Errorf(connector.Internal, "writing %d records to %s: Zoho answered %d results", n, path, len(out.Data))
	}
	return out.Data, nil
}

// outcome turns one per-record result into an outcome.
func outcome(op connector.WriteOp, r recordResult, ok connector.Status) connector.WriteOutcome {
	o := connector.WriteOutcome{IdempotencyKey: op.IdempotencyKey}
	if r.Status == "success" {
		o.Status = ok
		if r.Action == "update" {
			o.Status = connector.Updated
		}
		if id, _ := r.Details["id"].(string); id != "" {
			o.TargetID = id
		}
		if mt, _ := r.Details["Modified_Time"].(string); mt != "" {
			o.Version = versionOf(mt)
		}
		return o
	}
	o.Status = connector.Rejected
	o.Diagnostics = connector.Diagnostics{recordDiagnostic(r)}
	return o
}

// recordDiagnostic maps a per-record error (§A3.3 per-record errors) to a
// diagnostic naming the field from details.api_name.
func recordDiagnostic(r recordResult) *connector.Diagnostic {
	field, _ := r.Details["api_name"].(string)
	if jp, _ := r.Details["json_path"].(string); field == "" && jp != "" {
		if i := strings.Index(jp, "]."); i >= 0 {
			field = jp[i+2:]
		}
	}
	if field == "" {
		if _, ok := r.Details["id"]; ok {
			field = "id"
		}
	}
	code := connector.InvalidInput
	var summary string
	switch r.Code {
	case "MANDATORY_NOT_FOUND":
		summary = fmt.Sprintf("required field %s is missing", field)
	case "INVALID_DATA":
		summary = fmt.Sprintf("Zoho refused the value of %s", field)
		if t, _ := r.Details["expected_data_type"].(string); t != "" {
			summary += " (expected " + t + ")"
		}
	case "DUPLICATE_DATA":
		code = connector.Conflict
		summary = fmt.Sprintf("another record already has this %s", field)
		if dup, ok := r.Details["duplicate_record"].(map[string]any); ok {
			summary += fmt.Sprintf(" (record %v)", dup["id"])
		}
	case "RECORD_LOCKED":
		code = connector.Conflict
		summary = "the record is locked"
	case "LIMIT_EXCEEDED":
		summary = fmt.Sprintf("%s exceeds a Zoho limit", orField(field))
	default:
		summary = fmt.Sprintf("Zoho refused the record: %s", r.Code)
	}
	d := connector.FieldErrorf(code, field, "%s", summary)
	b, _ := json.Marshal(r.Details)
	return d.WithDetail("%s: %s %s", r.Code, r.Message, b)
}

func orField(f string) string {
	if f == "" {
		return "the record"
	}
	return f
}

// resolveParticipants turns meeting participants given by e-mail address
// into contact participants when a Zoho contact has that address, so the
// meeting shows in the contact's activities (§A4 Participants: type
// contact with the record id). One COQL query per 50 addresses (§A3.10:
// at most 50 values for in); addresses without a contact stay e-mail
// participants.
func (c *Connector) resolveParticipants(ctx context.Context, bodies []map[string]any) error {
	seen := map[string]bool{}
	var emails []string
	for _, b := range bodies {
		ps, _ := b["Participants"].([]any)
		for _, p := range ps {
			pm, _ := p.(map[string]any)
			if addr, _ := pm["Email"].(string); pm["type"] == "email" && addr != "" && !seen[strings.ToLower(addr)] {
				seen[strings.ToLower(addr)] = true
				emails = append(emails, addr)
			}
		}
	}
	if len(emails) == 0 {
		return nil
	}
	contacts, err := c.module(ctx, "Contacts")
	if err != nil {
		return nil // Contacts is not a configured module: leave the addresses
	}
	byEmail := map[string]string{}
	for start := 0; start < len(emails); start += 50 {
		chunk := emails[start:min(start+50, len(emails))]
		lits := make([]string, len(chunk))
		for i, e := range chunk {
			lit, _ := coqlLiteral(contacts, "Email", e)
			lits[i] = lit
		}
		q := fmt.Sprintf("select Email from Contacts where Email in (%s) limit 200", strings.Join(lits, ", "))
		res, err := c.api.do(ctx, request{method: http.MethodPost, path: "coql", body: map[string]any{"select_query": q}, credits: 1, heavy: true}, nil)
		if err != nil {
			return fmt.Errorf("finding the contacts of meeting participants: %w", err)
		}
		if res.status != http.StatusOK {
			continue
		}
		var page struct {
			Data []struct {
				ID    string `json:"id"`
				Email string `json:"Email"`
			} `json:"data"`
		}
		if err := decode(res.body, &page); err != nil {
			return connector.Errorf(connector.Internal, "finding participant contacts: %v", err)
		}
		for _, r := range page.Data {
			key := strings.ToLower(r.Email)
			if cur, ok := byEmail[key]; !ok || r.ID < cur {
				byEmail[key] = r.ID
			}
		}
	}
	for _, b := range bodies {
		ps, _ := b["Participants"].([]any)
		for i, p := range ps {
			pm, _ := p.(map[string]any)
			addr, _ := pm["Email"].(string)
			if id, ok := byEmail[strings.ToLower(addr)]; ok && pm["type"] == "email" {
				ps[i] = map[string]any{"type": "contact", "participant": id}
			}
		}
	}
	return nil
}
