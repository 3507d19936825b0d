// Package wiretest holds small in-memory connectors that exercise every part
// of the contract, for the tests of the plugin boundary.
package wiretest

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// Settings configure Full.
type Settings struct {
	// Records is how many records entity "item" starts with.
	Records int `json:"records"`
	// RotateSecret, when set, makes Configure read secret "refresh_token"
	// and store this value in its place, as a connector rotating a refresh
	// token does. The old value is remembered in value "old_token".
	RotateSecret string `json:"rotate_secret,omitempty"`
	// Fail makes Configure fail with an INVALID_INPUT diagnostic on "fail".
	Fail bool `json:"fail,omitempty"`
	// PayloadBytes is the size of each record's "payload" string field.
	PayloadBytes int `json:"payload_bytes,omitempty"`
}

// Full is a connector offering every capability over one in-memory entity
// "item". Its zero value is ready for Configure.
type Full struct {
	mu      sync.Mutex
	host    connector.Host
	records []connector.Record // in change order; index+1 is the checkpoint
	byKey   map[string]string  // idempotency key -> id
	nextID  int
	closed  bool
}

// Base is the time the generated records are stamped with.
var Base = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

// Spec describes the connector.
func (f *Full) Spec() connector.Spec {
	return connector.Spec{
		Name:           "wiretest",
		Version:        "1.2.3",
		DisplayName:    "Wire test",
		Description:    "in-memory connector for plugin tests",
		SettingsSchema: json.RawMessage(`{"type":"object","properties":{"records":{"type":"integer"}}}`),
		SecretSettings: []string{"/rotate_secret"},
	}
}

// Record returns generated record i with every value type.
func Record(i, payload int) connector.Record {
	p := make([]byte, payload)
	for j := range p {
		p[j] = 'a' + byte((i+j)%26)
	}
	return connector.Record{
		ID:       "r" + strconv.Itoa(i),
		Version:  "v1",
		Modified: Base.Add(time.Duration(i) * time.Minute),
		Fields: map[string]any{
			"id":       "r" + strconv.Itoa(i),
			"n":        int64(i),
			"score":    float64(i) / 4,
			"ok":       i%2 == 0,
			"none":     nil,
			"blob":     []byte{byte(i), 0, 255},
			"at":       Base.Add(time.Duration(i) * time.Hour),
			"day":      connector.Date{Year: 2026, Month: time.December, Day: 1 + i%28},
			"tags":     []any{"a", int64(i), []any{true}},
			"nested":   map[string]any{"tz": "UTC", "deep": map[string]any{"x": float64(1.5)}},
			"payload":  string(p),
			"modified": Base.Add(time.Duration(i) * time.Minute),
		},
	}
}

// Configure applies settings and, when asked, rotates the secret.
func (f *Full) Configure(ctx context.Context, req connector.ConfigureRequest) error {
	var s Settings
	if len(req.Settings) > 0 {
		if err := json.Unmarshal(req.Settings, &s); err != nil {
			return connector.FieldErrorf(connector.InvalidInput, "", "settings are not valid JSON: %v", err)
		}
	}
	if s.Fail {
		return connector.Diagnostics{connector.FieldErrorf(connector.InvalidInput, "fail", "fail is set")}
	}
	if s.RotateSecret != "" {
		old, found, err := req.Host.Secrets().Get(ctx, "refresh_token")
		if err != nil {
			return fmt.Errorf("reading refresh token: %w", err)
		}
		if !found {
			return connector.Errorf(connector.AuthFailed, "no refresh token stored for connection %s", req.Connection)
		}
		if err := req.Host.Values().Put(ctx, "old_token", old); err != nil {
			return fmt.Errorf("remembering old token: %w", err)
		}
		if err := req.Host.Secrets().Put(ctx, "refresh_token", []byte(s.RotateSecret)); err != nil {
			return fmt.Errorf("storing rotated token: %w", err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.host = req.Host
	f.byKey = map[string]string{}
	f.records = nil
	for i := 0; i < s.Records; i++ {
		f.records = append(f.records, Record(i, s.PayloadBytes))
	}
	f.nextID = s.Records
	return nil
}

// Check returns one warning so that diagnostics are seen to cross.
func (f *Full) Check(context.Context) connector.Diagnostics {
	return connector.Diagnostics{connector.Warnf(connector.PermissionDenied, "optional permission Calendars.Read.Shared is missing").WithRetryAfter(3 * time.Second)}
}

// DiscoverSchema returns the schema of "item".
func (f *Full) DiscoverSchema(context.Context, bool) (*schema.Schema, error) {
	str := schema.Type{Kind: schema.String}
	return &schema.Schema{Entities: []schema.Entity{{
		Name: "item",
		Fields: []schema.Field{
			{Name: "id", Type: str, ReadOnly: true},
			{Name: "n", Type: schema.Type{Kind: schema.Int}},
			{Name: "score", Type: schema.Type{Kind: schema.Double}, Nullable: true},
			{Name: "ok", Type: schema.Type{Kind: schema.Bool}},
			{Name: "none", Type: schema.Type{Kind: schema.Any}},
			{Name: "blob", Type: schema.Type{Kind: schema.Bytes}},
			{Name: "at", Type: schema.Type{Kind: schema.Timestamp}},
			{Name: "day", Type: schema.Type{Kind: schema.Date}},
			{Name: "tags", Type: schema.Type{Kind: schema.Collection, Elem: &schema.Type{Kind: schema.Any}}},
			{Name: "nested", Type: schema.Type{Kind: schema.Complex, Name: "tz", Fields: []schema.Field{{Name: "tz", Type: schema.Type{Kind: schema.Enum, Values: []string{"UTC", "CET"}}}}}},
			{Name: "payload", Type: str, Required: true, Description: "filler"},
			{Name: "modified", Type: schema.Type{Kind: schema.Timestamp}},
		},
		Keys:          []string{"id"},
		ModifiedField: "modified",
		Capabilities:  schema.Capabilities{Readable: true, Changes: true, Writable: true, Deletable: true, Queryable: true},
		Partitioning:  schema.Partitioning{Description: "one"},
	}}}, nil
}

// ListPartitions returns one unnamed partition and a warning.
func (f *Full) ListPartitions(_ context.Context, entity string) (connector.Partitions, error) {
	if entity != "item" {
		return connector.Partitions{}, connector.Errorf(connector.NotFound, "no entity %q", entity)
	}
	return connector.Partitions{
		Partitions: []connector.Partition{{ID: "", DisplayName: "all"}},
		Warnings:   connector.Diagnostics{connector.Warnf(connector.NotFound, "user x has no mailbox")},
	}, nil
}

// Close marks the connector closed.
func (f *Full) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *Full) snapshot() []connector.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]connector.Record(nil), f.records...)
}

// Read emits the live records in batches of req.BatchSize (default 100).
func (f *Full) Read(ctx context.Context, req connector.ReadRequest, emit func([]connector.Record) error) error {
	if req.Entity != "item" {
		return connector.Errorf(connector.NotFound, "no entity %q", req.Entity)
	}
	size := req.BatchSize
	if size <= 0 {
		size = 100
	}
	live := map[string]connector.Record{}
	var order []string
	for _, r := range f.snapshot() {
		if _, seen := live[r.ID]; !seen {
			order = append(order, r.ID)
		}
		live[r.ID] = r
	}
	batch := make([]connector.Record, 0, size)
	for _, id := range order {
		r := live[id]
		if r.Deleted || (!req.ModifiedSince.IsZero() && r.Modified.Before(req.ModifiedSince)) {
			continue
		}
		batch = append(batch, r.Clone())
		if len(batch) == size {
			if err := emit(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if len(batch) > 0 {
		return emit(batch)
	}
	return nil
}

// ReadChanges emits the change log after the checkpoint (a decimal index).
// The checkpoint "stale" is rejected and answered with a full resync.
func (f *Full) ReadChanges(ctx context.Context, req connector.ChangesRequest, emit func(connector.ChangeBatch) error) error {
	recs := f.snapshot()
	start, resync := 0, false
	switch cp := string(req.Checkpoint); cp {
	case "":
	case "stale":
		resync = true
	default:
		n, err := strconv.Atoi(cp)
		if err != nil || n < 0 || n > len(recs) {
			return connector.Errorf(connector.InvalidInput, "checkpoint %q is not one of ours", cp)
		}
		start = n
	}
	size := req.BatchSize
	if size <= 0 {
		size = 100
	}
	for i := start; i < len(recs) || i == start; i += size {
		end := min(i+size, len(recs))
		b := connector.ChangeBatch{Checkpoint: []byte(strconv.Itoa(end)), FullResync: resync && i == start}
		for _, r := range recs[i:end] {
			op := connector.Upsert
			if r.Deleted {
				op = connector.Delete
			}
			b.Changes = append(b.Changes, connector.Change{Op: op, Record: r.Clone()})
		}
		if i == start {
			b.Warnings = connector.Diagnostics{connector.Warnf(connector.Internal, "batch warning")}
		}
		if err := emit(b); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if end == len(recs) {
			break
		}
	}
	return nil
}

// Query returns live records whose fields equal every match value.
func (f *Full) Query(_ context.Context, req connector.QueryRequest) ([]connector.Record, error) {
	live := map[string]connector.Record{}
	for _, r := range f.snapshot() {
		live[r.ID] = r
	}
	var out []connector.Record
	for _, r := range live {
		if r.Deleted {
			continue
		}
		ok := true
		for k, v := range req.Match {
			if fmt.Sprint(r.Fields[k]) != fmt.Sprint(v) {
				ok = false
			}
		}
		if ok {
			out = append(out, r.Clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if req.Limit > 0 && len(out) > req.Limit {
		out = out[:req.Limit]
	}
	return out, nil
}

// Write upserts and deletes; a repeated idempotency key answers Unchanged,
// a record with field "reject" is rejected, and entity "broken" fails the
// batch.
func (f *Full) Write(_ context.Context, b connector.WriteBatch) ([]connector.WriteOutcome, error) {
	if b.Entity == "broken" {
		return nil, connector.Errorf(connector.Unavailable, "the target is down").WithRetryAfter(time.Second)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]connector.WriteOutcome, len(b.Ops))
	for i, op := range b.Ops {
		o := connector.WriteOutcome{IdempotencyKey: op.IdempotencyKey}
		switch {
		case op.Record.Fields["reject"] != nil:
			o.Status = connector.Rejected
			o.Diagnostics = connector.Diagnostics{connector.FieldErrorf(connector.InvalidInput, "reject", "rejected on request")}
		case f.byKey[op.IdempotencyKey] != "":
			o.Status, o.TargetID = connector.Unchanged, f.byKey[op.IdempotencyKey]
		case op.Action == connector.ActionDelete:
			f.records = append(f.records, connector.Record{ID: op.TargetID, Deleted: true})
			o.Status, o.TargetID = connector.Deleted, op.TargetID
			f.byKey[op.IdempotencyKey] = op.TargetID
		default:
			r := op.Record.Clone()
			o.Status = connector.Updated
			if op.TargetID == "" {
				r.ID = "w" + strconv.Itoa(f.nextID)
				f.nextID++
				o.Status = connector.Created
			} else {
				r.ID = op.TargetID
			}
			r.Version = "v2"
			f.records = append(f.records, r)
			f.byKey[op.IdempotencyKey] = r.ID
			o.TargetID, o.Version = r.ID, r.Version
			stored := r.Clone()
			o.Stored = &stored
		}
		out[i] = o
	}
	return out, nil
}

// Subscribe answers a subscription expiring at Base plus a day.
func (f *Full) Subscribe(_ context.Context, req connector.SubscribeRequest) (connector.Subscription, error) {
	if req.NotificationURL == "" {
		return connector.Subscription{}, connector.FieldErrorf(connector.InvalidInput, "notification_url", "missing")
	}
	return connector.Subscription{ID: "sub-" + req.Partition, Expires: Base.Add(24 * time.Hour)}, nil
}

// HandleNotification echoes a validation token, or asks to sync the
// partition named in the body.
func (f *Full) HandleNotification(_ context.Context, n connector.Notification) (connector.NotificationResult, error) {
	if n.Query != "" {
		return connector.NotificationResult{HTTPStatus: 200, ContentType: "text/plain", Body: []byte(n.Query)}, nil
	}
	return connector.NotificationResult{HTTPStatus: 202, Sync: []connector.PartitionRef{{Entity: "item", Partition: string(n.Body) + n.Header["X-Test"]}}}, nil
}

// Minimal offers only the core interface.
type Minimal struct{}

// Spec describes Minimal.
func (Minimal) Spec() connector.Spec {
	return connector.Spec{Name: "minimal", Version: "0.0.1", SettingsSchema: json.RawMessage(`{}`)}
}

// Configure accepts anything.
func (Minimal) Configure(context.Context, connector.ConfigureRequest) error { return nil }

// Check reports nothing.
func (Minimal) Check(context.Context) connector.Diagnostics { return nil }

// DiscoverSchema returns an empty schema.
func (Minimal) DiscoverSchema(context.Context, bool) (*schema.Schema, error) {
	return &schema.Schema{}, nil
}

// ListPartitions returns nothing.
func (Minimal) ListPartitions(context.Context, string) (connector.Partitions, error) {
	return connector.Partitions{}, nil
}

// Close does nothing.
func (Minimal) Close() error { return nil }
