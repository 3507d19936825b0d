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
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
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
	sum := sha256.Sum256(append(append(append(make([]byte, 0, 64), "syncplane/"...), connection+"/"...), key...))
	// The first 16 bytes in hex, grouped 8-4-4-4-12 as a GUID is.
	var id [36]byte
	hex.Encode(id[0:8], sum[0:4])
	hex.Encode(id[9:13], sum[4:6])
	hex.Encode(id[14:18], sum[6:8])
	hex.Encode(id[19:23], sum[8:10])
	hex.Encode(id[24:36], sum[10:16])
	id[8], id[13], id[18], id[23] = '-', '-', '-', '-'
	return string(id[:])
}

// Write applies a batch of upserts and deletes of events, contacts or To Do
// tasks, and returns one outcome per op, in order.
//
// Each op's mailbox is its user field, else (for events) its organizer,
// else its Partition; a missing mailbox, or one outside the user selection
// (an address the directory does not know is outside it), rejects that op
// with INVALID_INPUT naming the field, and the rest of the batch goes on.
// Updates and deletes address the item by TargetID in that mailbox.
//
// Events are created with a transactionId derived from the connection and
// the idempotency key, so a create retried after a lost answer — by the
// client's own retries, or by the host sending the batch again — never
// makes a second event; a Teams meeting (isOnlineMeeting with
// onlineMeetingProvider teamsForBusiness) comes back with its join URL in
// the outcome's Stored record (onlineMeeting.joinUrl).
//
// Requests: with application or administrator sign-in, the ops are sent as
// JSON $batch requests of at most 20, filled mailbox by mailbox (a
// mailbox's ops share as few batches as possible, small mailboxes share a
// batch); each batch first
// takes, for every mailbox it touches, as many of that mailbox's
// concurrency slots as it has requests there (at most
// max_concurrency_per_mailbox, as Graph runs at most four requests of a
// batch at a time, graph-api-facts §4.1), so a mailbox never sees more
// concurrent requests than the setting allows. The $batch request itself
// is retried by the client (429, 5xx, broken connections, honouring
// Retry-After); the parts of a batch that still failed as a whole, and a
// part answered 429, 5xx or not at all, are sent again on their own after
// the part's Retry-After (SDKs do not retry inside batches, §4.5); the
// transactionId makes those resends safe for event creates. With per-user sign-in (user_consent) or
// batch=false every op is its own request, still under the same limits.
// Ops addressing the same item run one after the other, in batch order.
//
// Request bodies follow the typed models of msgraph-sdk-go (see models.go
// and models_shape.go): the record, checked against the discovered
// schema, is checked against the shape of models.Event, models.Contact or
// models.TodoTask — read once per connection from the models' own field
// deserializers — and rendered with the SDK's property names and enum
// spellings, the create's stamp (transactionId, extended property, linked
// resource) included; a body the shape does not fit exactly goes through
// the models themselves (kiota's JSON parse node, the model's setters,
// kiota's serialization writer), which render it alike or refuse it, so a
// value the model cannot hold (an unknown enum member, a malformed date)
// rejects the op naming the field before anything is sent. The
// requests themselves go through the connector's own client rather than
// the SDK's request adapter: the client keeps per-mailbox concurrency
// slots, Retry-After handling, shared $batch requests, per-user tokens and
// custom endpoints with their CA file, which the adapter would not give
// (its allowed-hosts list silently drops Authorization for other hosts).
// Rendering from the shapes costs about what encoding/json costs on the
// same map, the models about twenty times more (BenchmarkEncodeBody);
// bodies are rendered on all processors at once.
//
// Contacts and To Do tasks have no transactionId. Each create is stamped
// with a value derived from the connection and the idempotency key (as the
// transactionId is): a contact with a single-value extended property
// (stampPropertyID), a task with a linked resource whose externalId is the
// stamp (stampModel). The connector records every create under its key
// (Values "created/<entity>/<hash of the key>"): without an id before it is
// sent, with the id it made after. A create whose answer may have been lost
// after the service committed it — a 5xx or broken connection on the
// request or on its $batch, a part missing from a batch answer, or a key
// the host sends again whose create was recorded as sent but never
// answered — is looked up by its stamp ($filter over the stamp,
// findStamped) before it is sent again, and the item found is the
// create's answer; a batch holding such creates is not retried as a whole
// by the client. A create sent again under a key whose id is recorded
// updates that item (Updated), or makes it anew if it was deleted
// meanwhile. The copy of a new contact in entities.contacts.mailbox is
// stamped too (copyStamp) and looked up the same way after a lost answer;
// it is recorded as sent before it is sent ("contactcopy/<mailbox>/<id>"
// without the copy's id), so a copy whose id was never recorded is looked
// for by its stamp — and, found, recorded and updated — before a later
// write of the contact would make another, and is found and deleted with
// the contact.
// The lookup of tasks relies on a filter Graph does not document
// (UNCONFIRMED, see stampFilter).
//
// Outcomes: Created, Updated or Deleted with the target id; Version is the
// item's changeKey from the answer (for To Do tasks, which have no
// changeKey, their lastModifiedDateTime in RFC 3339 form); Stored is the
// record decoded from the answer with the read path's decoder, with user
// set to the mailbox — event times in the connection's time zone (UTC when
// none), as ReadChanges returns them — so a host can recognise its own
// write when it comes back. A delete of an item already gone is Deleted.
//
// Follow-ups: after a recurring series is created its occurrences — from
// the series start to its end, or to the end of the sync window when it has
// none — are read and remembered in the Values store under
// "series/<mailbox>/<master id>" (SeriesOccurrences), with an index from
// each occurrence to its master, so the tombstone of an occurrence deleted
// in Outlook (delta gives only its id) carries seriesMasterId. Contacts
// are also, or only, written into entities.contacts.mailbox per
// entities.contacts.mode, and updates and deletes follow every copy; the
// copies' writes of a wave share $batch requests as the contacts' own do.
// A follow-up that fails is a warning on the op's outcome, not a
// rejection.
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
	w := &writeRun{c: c, entity: batch.Entity, ent: ent, dec: c.client.decoderFor(ent), sel: sel, shapes: c.shapes, lists: map[string]string{},
		header: c.writeHeader(batch.Entity)}
	out := make([]connector.WriteOutcome, len(batch.Ops))
	// The jobs, and the records the outcomes carry as Stored, are made
	// in one allocation each rather than one per op.
	all := make([]writeJob, len(batch.Ops))
	w.stored = make([]connector.Record, len(batch.Ops))
	var jobs []*writeJob
	for i, op := range batch.Ops {
		j, o := w.prepare(ctx, op, &all[i])
		if j == nil {
			out[i] = o
			continue
		}
		j.index = i
		jobs = append(jobs, j)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	jobs = w.encodeJobs(jobs, out)
	w.markSent(ctx, jobs)
	for _, wave := range waves(jobs) {
		// The outcomes are made as the answers come in — a batch's jobs
		// as soon as it is answered, while other batches are still out —
		// by as many workers as the connection sends requests at once (a
		// follow-up, such as reading a new series' occurrences, waits for
		// the service), rather than by a goroutine per job after the
		// whole wave.
		copies := make([]*copyJob, len(wave))
		pos := make(map[*writeJob]int, len(wave))
		for i, j := range wave {
			pos[j] = i
		}
		answered := make(chan int, len(wave))
		var wg sync.WaitGroup
		for range min(len(wave), max(runtime.GOMAXPROCS(0), c.cfg.MaxConcurrency)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range answered {
					j := wave[i]
					out[j.index], copies[i] = w.finish(ctx, j)
					if j.resp != nil {
						// The outcome holds copies of what it took from
						// the answer: its buffer may carry another.
						j.resp.done()
					}
				}
			}()
		}
		c.send(ctx, wave, func(j *writeJob) { answered <- pos[j] })
		close(answered)
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		w.copyContacts(ctx, copies, out)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	// Entries of the write path past their lifetime are deleted, a
	// bounded number per call; a failed sweep is tried again by the next
	// Write (it changes no outcome).
	_ = c.sweepWriteState(ctx)
	return out, nil
}

// copyJob is the write of a contact's copy in entities.contacts.mailbox
// (mode additional) that follows the write of the contact.
type copyJob struct {
	job      *writeJob // the request into the other mailbox
	owner    string    // the owner's mailbox
	ownerID  string    // the contact's id there
	have     bool      // the copy existed (PATCH, DELETE) or is new (POST)
	outIndex int
	// patch is the body that brings a copy found by its stamp up to date
	// (a POST sent after one whose copy may exist unrecorded).
	patch []byte
}

// copyContacts sends the copies' writes — through shared $batch requests
// like the contacts themselves — and records new copies' ids, or a
// warning on the contact's outcome when a copy was not written.
func (w *writeRun) copyContacts(ctx context.Context, copies []*copyJob, out []connector.WriteOutcome) {
	var jobs []*writeJob
	var live []*copyJob
	for _, cj := range copies {
		if cj != nil {
			jobs, live = append(jobs, cj.job), append(live, cj)
		}
	}
	if len(jobs) == 0 {
		return
	}
	// A new copy is recorded as sent before it is sent (as markSent
	// records a contact's create): should its id never be recorded — the
	// answer lost for good, the process ended — the next write of the
	// contact looks for the copy by its stamp before making one.
	for _, cj := range live {
		if cj.have || cj.job.req.method != http.MethodPost || cj.job.suspect {
			continue
		}
		b, _ := json.Marshal(contactCopyRef{Mailbox: cj.job.mailbox})
		if err := w.c.host.Values().Put(ctx, contactCopyKey(cj.owner, cj.ownerID), b); err != nil {
			out[cj.outIndex].Diagnostics = append(out[cj.outIndex].Diagnostics, connector.Warnf(connector.Unavailable, "the copy of the contact in %s was not recorded before sending: if its answer is lost, a later write may copy the contact again", cj.job.mailbox).WithDetail("%v", err))
		}
	}
	w.c.send(ctx, jobs, nil)
	for _, cj := range live {
		if d := w.c.completeCopy(ctx, w.dec, cj); d != nil {
			out[cj.outIndex].Diagnostics = append(out[cj.outIndex].Diagnostics, d)
		}
		if cj.job.resp != nil {
			cj.job.resp.done()
		}
	}
}

// writeRun holds what the ops of one Write share.
type writeRun struct {
	c      *Connector
	entity string
	ent    *schema.Entity
	dec    *decoder
	sel    *selection
	shapes *modelShapes // the SDK models' shapes (Connector.shapes)
	// header is the header of the upserts (writeHeader), shared by
	// their requests and never changed.
	header http.Header

	listMu sync.Mutex
	lists  map[string]string // mailbox -> To Do list id, looked up once per Write

	// stored holds the outcomes' Stored records, by op index.
	stored []connector.Record
}

// writeJob is one op on its way to Graph.
type writeJob struct {
	index   int
	op      connector.WriteOp
	mailbox string
	req     request
	fields  map[string]any // the body as a map, for the contact copy
	entity  string         // event, contact or todoTask ("" for a contact's copy)
	// tx is the stamp of a create (transactionID of the idempotency
	// key): an event's transactionId, a contact's extended property, a
	// task's linked resource (stampModel).
	tx string
	// replay is set when a create of a contact or task was made before
	// under the same idempotency key: the op updates that item instead.
	replay bool
	// stamped is set for a POST of a contact or task carrying its stamp:
	// before it is sent again after an answer that may have been lost, the
	// connector looks for the item by its stamp (doCreate).
	stamped bool
	// suspect is set when the create may already have been committed —
	// an earlier attempt failed after it could have reached Graph, or the
	// host sends again a key whose create was sent and never recorded —
	// so the next attempt looks for the item first.
	suspect bool
	// found is set when the answer is the item the lookup found.
	found bool
	// warn is a warning for the op's outcome.
	warn *connector.Diagnostic

	resp *response
	err  error
	// answer holds the answer of a batch part (resp points at it), so a
	// part's answer costs no allocation of its own.
	answer response
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

// prepare resolves an op's mailbox and builds its request in j, or
// returns the outcome that rejects it.
func (w *writeRun) prepare(ctx context.Context, op connector.WriteOp, j *writeJob) (*writeJob, connector.WriteOutcome) {
	c := w.c
	mailbox, field := targetMailbox(w.entity, op)
	if mailbox == "" {
		return nil, rejected(op.IdempotencyKey, connector.FieldErrorf(connector.InvalidInput, "user", "the record names no mailbox: set user (or, for an event, organizer.emailAddress.address)"))
	}
	if !w.sel.has(mailbox) {
		return nil, rejected(op.IdempotencyKey, connector.FieldErrorf(connector.InvalidInput, field, "mailbox %s is not among the selected users", mailbox))
	}
	if w.entity == "contact" && c.cfg.Entities.Contacts.Mailbox != "" && c.cfg.Entities.Contacts.Mode == "exclusive" {
		mailbox = strings.ToLower(c.cfg.Entities.Contacts.Mailbox)
	}
	collection, err := w.collectionPath(ctx, mailbox)
	if err != nil {
		return nil, rejected(op.IdempotencyKey, connector.AsDiagnostics(err)[0])
	}
	*j = writeJob{op: op, mailbox: mailbox, entity: w.entity}
	if op.Action == connector.ActionDelete {
		if op.TargetID == "" {
			return nil, rejected(op.IdempotencyKey, connector.FieldErrorf(connector.InvalidInput, "id", "a delete needs the target id"))
		}
		j.req = request{method: http.MethodDelete, url: collection + "/" + url.PathEscape(op.TargetID), mailbox: mailbox}
		return j, connector.WriteOutcome{}
	}
	body, d := writeBody(w.ent, op.Record)
	if d != nil {
		return nil, rejected(op.IdempotencyKey, d)
	}
	method, u, tx := http.MethodPost, collection, ""
	if op.TargetID != "" {
		method, u = http.MethodPatch, collection+"/"+url.PathEscape(op.TargetID)
	} else {
		tx = transactionID(c.connect, op.IdempotencyKey)
		if w.entity != "event" {
			j.stamped = true
			if ref, ok := c.createdBefore(ctx, w.entity, op.IdempotencyKey); ok && ref.Mailbox == mailbox {
				if ref.ID != "" {
					method, u, j.replay, j.stamped = http.MethodPatch, collection+"/"+url.PathEscape(ref.ID), true, false
				} else {
					// Sent before and never recorded: the create may
					// have been committed with its answer lost.
					j.suspect = true
				}
			}
		}
	}
	// The body is rendered later, by encodeJobs, in parallel.
	j.fields, j.tx = body, tx
	j.req = request{method: method, url: u, header: w.header, mailbox: mailbox}
	return j, connector.WriteOutcome{}
}

// encodeJobs renders the request bodies of the upserts among jobs
// (encodeBody: from the SDK models' shapes, else through the models), on as many
// goroutines as there are processors, and returns the jobs whose body
// renders; the others get their rejection in out.
func (w *writeRun) encodeJobs(jobs []*writeJob, out []connector.WriteOutcome) []*writeJob {
	bad := make([]*connector.Diagnostic, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				j := jobs[i]
				if j.req.method == http.MethodDelete {
					continue
				}
				stamp := ""
				if j.req.method == http.MethodPost {
					stamp = j.tx // a replayed create (PATCH) is not stamped again
				}
				j.req.body, bad[i] = encodeBody(w.shapes, w.entity, j.fields, stamp)
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	kept := jobs[:0]
	for i, j := range jobs {
		if bad[i] != nil {
			out[j.index] = rejected(j.op.IdempotencyKey, bad[i])
			continue
		}
		kept = append(kept, j)
	}
	return kept
}

// writeHeader is the Prefer header of writes: the read path's (immutable
// ids, the connection's time zone), and for events UTC when the connection
// names no time zone — Graph answers a create in the zone of the body
// otherwise (graph-examples/event-create-response-1.json), while reads come
// in UTC (graph-api-facts §3), and Stored must equal what ReadChanges
// returns. The create-event docs send Prefer: outlook.timezone on POST.
func (c *Connector) writeHeader(entity string) http.Header {
	h := c.itemHeader(entity)
	if entity == "event" && c.cfg.Timezone == "" {
		h.Add("Prefer", `outlook.timezone="UTC"`)
	}
	return h
}

// waves splits jobs so that ops on the same item (mailbox and target id)
// are in successive waves, in batch order; creates never share an item.
func waves(jobs []*writeJob) [][]*writeJob {
	var out [][]*writeJob
	seen := map[string]int{}
	for _, j := range jobs {
		n := 0
		if j.op.TargetID != "" {
			k := j.mailbox + "\x00" + j.op.TargetID
			n = seen[k]
			seen[k] = n + 1
		}
		for len(out) <= n {
			out = append(out, nil)
		}
		out[n] = append(out[n], j)
	}
	return out
}

// finish turns a job's answer into its outcome and runs the follow-ups.
func (w *writeRun) finish(ctx context.Context, j *writeJob) (connector.WriteOutcome, *copyJob) {
	c, op := w.c, j.op
	if j.req.method == http.MethodDelete {
		var ge *graphError
		if j.err != nil && !(errors.As(j.err, &ge) && ge.Status == http.StatusNotFound && !ge.is("MailboxNotEnabledForRESTAPI")) {
			return rejected(op.IdempotencyKey, connector.AsDiagnostics(subjectErr(j.err, "mailbox "+j.mailbox))[0]), nil
		}
		out := connector.WriteOutcome{IdempotencyKey: op.IdempotencyKey, Status: connector.Deleted, TargetID: op.TargetID}
		var cj *copyJob
		if w.entity == "contact" {
			var d *connector.Diagnostic
			if cj, d = c.planCopyDelete(ctx, j.mailbox, op.TargetID, j.index); d != nil {
				out.Diagnostics = append(out.Diagnostics, d)
			}
		}
		return out, cj
	}
	if j.replay {
		var ge *graphError
		if errors.As(j.err, &ge) && ge.Status == http.StatusNotFound && !ge.is("MailboxNotEnabledForRESTAPI") {
			// The item the first attempt made is gone: create it again,
			// stamped.
			j.replay = false
			j.req.method, j.req.url = http.MethodPost, strings.TrimSuffix(j.req.url, "/"+path.Base(j.req.url))
			var d *connector.Diagnostic
			if j.req.body, d = encodeBody(w.shapes, w.entity, j.fields, j.tx); d != nil {
				return rejected(op.IdempotencyKey, d), nil
			}
			j.stamped = true
			j.resp, j.err = c.doCreate(ctx, j)
		}
	}
	if j.err != nil {
		var ge *graphError
		if errors.As(j.err, &ge) {
			d := ge.diagnostic("mailbox " + j.mailbox)
			if ge.Status == http.StatusBadRequest {
				d.Field = badField(ge.Message, j.fields)
			}
			return rejected(op.IdempotencyKey, d), nil
		}
		return rejected(op.IdempotencyKey, connector.AsDiagnostics(j.err)[0]), nil
	}
	it, err := w.dec.decodeOne(j.resp.body)
	if err != nil {
		return rejected(op.IdempotencyKey, connector.Errorf(connector.Internal, "the service's answer cannot be decoded").WithDetail("%v", err)), nil
	}
	w.stored[j.index] = record(it, j.mailbox)
	stored := &w.stored[j.index]
	version := stored.Version
	if version == "" {
		// To Do tasks have no changeKey: their lastModifiedDateTime (the
		// schema's modified field) is the token that changes with every
		// write. Stored stays as ReadChanges makes the record.
		if ts, ok := stored.Fields["lastModifiedDateTime"].(time.Time); ok {
			version = ts.UTC().Format(time.RFC3339Nano)
		}
	}
	status := connector.Created
	if j.req.method == http.MethodPatch {
		status = connector.Updated
	}
	outcome := connector.WriteOutcome{IdempotencyKey: op.IdempotencyKey, Status: status, TargetID: it.ID, Version: version, Stored: stored}
	if j.warn != nil {
		outcome.Diagnostics = append(outcome.Diagnostics, j.warn)
	}
	if j.req.method == http.MethodPost && w.entity != "event" {
		if err := c.rememberCreate(ctx, w.entity, op.IdempotencyKey, j.mailbox, it.ID); err != nil {
			outcome.Diagnostics = append(outcome.Diagnostics, connector.Warnf(connector.Unavailable, "the id of the new %s was not remembered: a retry of this op would create it again", w.entity).WithDetail("%v", err))
		}
	}
	if w.entity == "event" && stored.Fields["type"] == "seriesMaster" && status == connector.Created {
		if err := c.rememberSeries(ctx, w.dec, j.mailbox, it.ID, *stored); err != nil {
			outcome.Diagnostics = append(outcome.Diagnostics, connector.Warnf(connector.Unavailable, "the occurrences of the new series could not be read and remembered").WithDetail("%v", err))
		}
	}
	var cj *copyJob
	if w.entity == "contact" && c.cfg.Entities.Contacts.Mailbox != "" && c.cfg.Entities.Contacts.Mode != "exclusive" {
		var d *connector.Diagnostic
		if cj, d = c.planCopy(ctx, w.shapes, j.mailbox, it.ID, j.fields, j.index); d != nil {
			outcome.Diagnostics = append(outcome.Diagnostics, d)
		}
	}
	return outcome, cj
}

// collectionPath is where an entity's items of a mailbox are written: the
// events collection, the contacts of the configured folder (or the default
// one), the tasks of the configured To Do list (or the default list).
func (w *writeRun) collectionPath(ctx context.Context, mailbox string) (string, error) {
	base := mailboxPath(mailbox)
	switch w.entity {
	case "event":
		return base + "/events", nil
	case "contact":
		if f := w.c.cfg.Entities.Contacts.Folder; f != "" {
			return base + "/contactFolders/" + url.PathEscape(f) + "/contacts", nil
		}
		return base + "/contacts", nil
	case "todoTask":
		w.listMu.Lock()
		defer w.listMu.Unlock()
		list, ok := w.lists[mailbox]
		if !ok {
			var err error
			if list, err = w.c.todoList(ctx, mailbox); err != nil {
				return "", err
			}
			w.lists[mailbox] = list
		}
		return base + "/todo/lists/" + url.PathEscape(list) + "/tasks", nil
	}
	return "", connector.Errorf(connector.NotFound, "entity %q is not writable", w.entity)
}

// planCopyDelete plans the delete of the additional copy of a deleted
// contact, if the connector made one. A copy recorded as sent but never
// answered is looked for by its stamp first; when there is none, its
// entry goes.
func (c *Connector) planCopyDelete(ctx context.Context, mailbox, id string, index int) (*copyJob, *connector.Diagnostic) {
	ref, ok := c.contactCopy(ctx, mailbox, id)
	if !ok {
		return nil, nil
	}
	if ref.ID == "" {
		found, err := c.findCopy(ctx, ref.Mailbox, mailbox, id)
		if err != nil {
			return nil, connector.Warnf(connector.Unavailable, "the copy of the contact in %s may exist and was not deleted", ref.Mailbox).WithDetail("%v", err)
		}
		if found == "" {
			if err := c.host.Values().Delete(ctx, contactCopyKey(mailbox, id)); err != nil {
				return nil, connector.Warnf(connector.Unavailable, "the record of the contact's copy in %s was not removed", ref.Mailbox).WithDetail("%v", err)
			}
			return nil, nil
		}
		ref.ID = found
	}
	return &copyJob{owner: mailbox, ownerID: id, have: true, outIndex: index, job: &writeJob{mailbox: ref.Mailbox,
		req: request{method: http.MethodDelete, url: mailboxPath(ref.Mailbox) + "/contacts/" + url.PathEscape(ref.ID), mailbox: ref.Mailbox}}}, nil
}

// findCopy looks in mailbox other for the copy of the contact ownerID of
// owner by its stamp (copyStamp) and returns its id, "" when there is
// none.
func (c *Connector) findCopy(ctx context.Context, other, owner, ownerID string) (string, error) {
	j := &writeJob{mailbox: other, entity: "contact", tx: copyStamp(c.connect, owner, ownerID),
		req: request{method: http.MethodPost, url: c.copyCollection(other), header: c.itemHeader("contact"), mailbox: other}}
	resp, found, err := c.findStamped(ctx, j)
	if err != nil || !found {
		return "", err
	}
	var it struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(resp.body, &it); err != nil || it.ID == "" {
		return "", fmt.Errorf("the contact found by its stamp has no id")
	}
	return it.ID, nil
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

// wireValue renders a record value as JSON for Graph. An object or array
// with nothing inside to render (no time, date or bytes, no null object
// or array, which are rendered empty) is used as it is, not copied: the
// body is only read from then on.
func wireValue(v any) any {
	if plainWire(v) {
		return v
	}
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

// plainWire reports whether wireValue would render v as v: a value of
// another type than those it renders, or an object or array (not nil)
// holding only such values.
func plainWire(v any) bool {
	switch x := v.(type) {
	case time.Time, connector.Date, []byte:
		return false
	case []any:
		if x == nil {
			return false
		}
		for _, e := range x {
			if !plainWire(e) {
				return false
			}
		}
	case map[string]any:
		if x == nil {
			return false
		}
		for _, e := range x {
			if !plainWire(e) {
				return false
			}
		}
	}
	return true
}

// badField finds the body field a 400 message names, for the diagnostic:
// a field named in quotes or between spaces, else the field (as a dotted
// path, e.g. start.timeZone) holding a value the message quotes (Graph's
// TimeZoneNotSupportedException quotes the zone).
func badField(msg string, body map[string]any) string {
	for k := range body {
		if strings.Contains(msg, "'"+k+"'") || strings.Contains(msg, " "+k+" ") {
			return k
		}
	}
	parts := strings.Split(msg, "'")
	for i := 1; i < len(parts); i += 2 {
		if parts[i] == "" {
			continue
		}
		for k, v := range body {
			if p, ok := valuePath(v, parts[i]); ok {
				return joinPath(k, p)
			}
		}
	}
	return ""
}

// valuePath finds a string value equal to want inside v and returns its
// path below v.
func valuePath(v any, want string) (string, bool) {
	switch x := v.(type) {
	case string:
		return "", x == want
	case map[string]any:
		for k, e := range x {
			if p, ok := valuePath(e, want); ok {
				return joinPath(k, p), true
			}
		}
	case []any:
		for i, e := range x {
			if p, ok := valuePath(e, want); ok {
				return joinPath("["+strconv.Itoa(i)+"]", p), true
			}
		}
	}
	return "", false
}

func joinPath(a, b string) string {
	switch {
	case b == "":
		return a
	case strings.HasPrefix(b, "["):
		return a + b
	}
	return a + "." + b
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
func (c *Connector) rememberSeries(ctx context.Context, dec *decoder, mailbox, masterID string, master connector.Record) error {
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
	for next := mailboxPath(mailbox) + "/events/" + url.PathEscape(masterID) + "/instances?" + q.Encode(); next != ""; {
		resp, err := c.get(ctx, request{method: http.MethodGet, url: next, header: c.preferHeader(c.cfg.PageSize, "event"), mailbox: mailbox})
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
	if err := c.host.Values().Put(ctx, seriesKey(mailbox, masterID), b); err != nil {
		return err
	}
	// An index from each occurrence to its series: a deleted occurrence
	// comes back through delta with nothing but its id (graph-api-facts
	// §1.1), and this is how its tombstone finds its series. Each entry
	// carries the occurrence's start, which bounds its lifetime
	// (sweepWriteState).
	for _, o := range occ {
		b, _ := json.Marshal(occurrenceRef{Master: masterID, Start: occurrenceStart(o.Start, c.now()).Unix()})
		if err := c.host.Values().Put(ctx, occurrenceKey(mailbox, o.ID), b); err != nil {
			return err
		}
	}
	return nil
}

// occurrenceKey names the Values entry mapping an occurrence of a series
// the connector created to the series master.
func occurrenceKey(mailbox, id string) string { return "occurrence/" + mailbox + "/" + id }

// eventTombstone is the tombstone of a deleted event; for an occurrence of
// a series the connector created (and remembered), it carries the
// series' seriesMasterId, so the delete is matched to its series.
func (c *Connector) eventTombstone(ctx context.Context, id, mailbox string) connector.Record {
	rec := tombstone(id, mailbox)
	if b, ok, err := c.host.Values().Get(ctx, occurrenceKey(strings.ToLower(mailbox), id)); err == nil && ok && len(b) > 0 {
		if ref, _ := decodeOccurrence(b); ref.Master != "" {
			rec.Fields["seriesMasterId"] = ref.Master
		}
	}
	return rec
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
	ID      string `json:"id,omitempty"`
}

func contactCopyKey(mailbox, id string) string { return "contactcopy/" + mailbox + "/" + id }

// contactCopy returns the entry of the copy of the contact id of mailbox:
// with the copy's id, or, with ID "", a copy whose create was sent and
// whose id was never recorded (copyContacts).
func (c *Connector) contactCopy(ctx context.Context, mailbox, id string) (contactCopyRef, bool) {
	b, ok, err := c.host.Values().Get(ctx, contactCopyKey(mailbox, id))
	if err != nil || !ok {
		return contactCopyRef{}, false
	}
	var ref contactCopyRef
	return ref, json.Unmarshal(b, &ref) == nil && ref.Mailbox != ""
}

// copyCollection is where copies go in mailbox other: where the read path
// looks for contacts, the configured folder, else the default one.
func (c *Connector) copyCollection(other string) string {
	if f := c.cfg.Entities.Contacts.Folder; f != "" {
		return mailboxPath(other) + "/contactFolders/" + url.PathEscape(f) + "/contacts"
	}
	return mailboxPath(other) + "/contacts"
}

// planCopy plans the write of the additional copy of a contact (contacts
// mode additional) into entities.contacts.mailbox: a PATCH of the copy the
// connector made before, else a POST.
func (c *Connector) planCopy(ctx context.Context, shapes *modelShapes, owner, ownerID string, fields map[string]any, index int) (*copyJob, *connector.Diagnostic) {
	other := strings.ToLower(c.cfg.Entities.Contacts.Mailbox)
	if other == owner {
		return nil, nil
	}
	collection := c.copyCollection(other)
	method, u, stamp := http.MethodPost, collection, copyStamp(c.connect, owner, ownerID)
	ref, ok := c.contactCopy(ctx, owner, ownerID)
	have := ok && ref.ID != ""
	if have {
		method, u, stamp = http.MethodPatch, collection+"/"+url.PathEscape(ref.ID), ""
	}
	raw, d := encodeBody(shapes, "contact", fields, stamp)
	if d != nil {
		return nil, d
	}
	// A new copy is stamped like a created contact, so a create of it
	// whose answer is lost is looked up before it is sent again
	// (doCreate). One recorded as sent and never answered (ok, no id)
	// may exist: it is looked up before anything is sent, and when
	// found it is brought up to date with a PATCH of the fields.
	cj := &copyJob{owner: owner, ownerID: ownerID, have: have, outIndex: index, job: &writeJob{mailbox: other, entity: "contact", tx: stamp, stamped: stamp != "",
		req: request{method: method, url: u, body: raw, header: c.itemHeader("contact"), mailbox: other}}}
	if ok && !have {
		cj.job.suspect = true
		if cj.patch, d = encodeBody(shapes, "contact", fields, ""); d != nil {
			return nil, d
		}
	}
	return cj, nil
}

// copyStamp is the stamp of the copy of the contact ownerID of mailbox
// owner: derived from the contact, as a create's stamp is from its
// idempotency key.
func copyStamp(connection, owner, ownerID string) string {
	return transactionID(connection, "contact-copy/"+owner+"/"+ownerID)
}

// completeCopy records the result of a copy's write: the id of a new copy
// is remembered, a deleted copy forgotten; a failure is a warning.
func (c *Connector) completeCopy(ctx context.Context, dec *decoder, cj *copyJob) *connector.Diagnostic {
	other, j := cj.job.mailbox, cj.job
	if j.req.method == http.MethodDelete {
		var ge *graphError
		if j.err != nil && !(errors.As(j.err, &ge) && ge.Status == http.StatusNotFound) {
			return connector.Warnf(connector.Unavailable, "the copy of the contact in %s was not deleted", other).WithDetail("%v", j.err)
		}
		if err := c.host.Values().Delete(ctx, contactCopyKey(cj.owner, cj.ownerID)); err != nil {
			return connector.Warnf(connector.Unavailable, "the record of the deleted contact copy in %s was not removed", other).WithDetail("%v", err)
		}
		return nil
	}
	if j.err != nil {
		return connector.Warnf(connector.Unavailable, "the additional copy of the contact in %s was not written", other).WithDetail("%v", j.err)
	}
	if cj.have {
		return nil
	}
	it, err := dec.decodeOne(j.resp.body)
	if err != nil {
		return connector.Warnf(connector.Internal, "the copy of the contact in %s cannot be decoded", other)
	}
	b, _ := json.Marshal(contactCopyRef{Mailbox: other, ID: it.ID})
	if err := c.host.Values().Put(ctx, contactCopyKey(cj.owner, cj.ownerID), b); err != nil {
		return connector.Warnf(connector.Unavailable, "the id of the contact copy in %s was not remembered", other).WithDetail("%v", err)
	}
	if j.found && cj.patch != nil {
		// The copy an earlier write made holds that write's fields.
		u := mailboxPath(other) + "/contacts/" + url.PathEscape(it.ID)
		if _, err := c.client.do(ctx, request{method: http.MethodPatch, url: u, body: cj.patch, header: c.itemHeader("contact"), mailbox: other}); err != nil {
			return connector.Warnf(connector.Unavailable, "the copy of the contact in %s was found but not updated", other).WithDetail("%v", err)
		}
	}
	return nil
}

// createdRef is what the connector remembers of a contact or task it
// created: Graph has no transactionId for them, so a create sent again
// under the same idempotency key (the host retrying a batch) updates the
// item the first attempt made instead of making a second one. Before the
// create is sent the entry is written without an id (sent): a key found
// so is looked up by its stamp before it is sent again.
type createdRef struct {
	Mailbox string `json:"mailbox"`
	ID      string `json:"id,omitempty"`
	At      int64  `json:"at,omitempty"` // Unix seconds the entry was written
}

// createdKey names the Values entry of a create by its idempotency key
// (hashed: keys are the host's and may be long).
func createdKey(entity, key string) string {
	sum := sha256.Sum256([]byte(key))
	return "created/" + entity + "/" + hex.EncodeToString(sum[:16])
}

// createdBefore returns the entry of a create under key: with the id it
// made, or (ID "") one sent whose answer was never recorded.
func (c *Connector) createdBefore(ctx context.Context, entity, key string) (createdRef, bool) {
	b, ok, err := c.host.Values().Get(ctx, createdKey(entity, key))
	if err != nil || !ok {
		return createdRef{}, false
	}
	var ref createdRef
	return ref, json.Unmarshal(b, &ref) == nil && ref.Mailbox != ""
}

func (c *Connector) rememberCreate(ctx context.Context, entity, key, mailbox, id string) error {
	b, err := json.Marshal(createdRef{Mailbox: mailbox, ID: id, At: c.now().Unix()})
	if err != nil {
		return err
	}
	return c.host.Values().Put(ctx, createdKey(entity, key), b)
}

// markSent writes the entry of every stamped create about to be sent for
// the first time (no id yet), so that a create whose answer is never
// recorded — the connection lost, the process ended — is looked up by its
// stamp when the host sends its key again. A failed write is a warning on
// the op's outcome.
func (w *writeRun) markSent(ctx context.Context, jobs []*writeJob) {
	for _, j := range jobs {
		if !j.stamped || j.suspect {
			continue
		}
		b, _ := json.Marshal(createdRef{Mailbox: j.mailbox, At: w.c.now().Unix()})
		if err := w.c.host.Values().Put(ctx, createdKey(w.entity, j.op.IdempotencyKey), b); err != nil {
			j.warn = connector.Warnf(connector.Unavailable, "the create of this %s was not recorded before sending: if its answer is lost, a retry of this op may create it again", w.entity).WithDetail("%v", err)
		}
	}
}
