package connector_test

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/internal/wire/wiretest"
)

func TestValueRoundTrip(t *testing.T) {
	when := time.Date(2026, 3, 29, 1, 30, 0, 123456789, time.FixedZone("CEST", 2*3600))
	values := map[string]any{
		"null":   nil,
		"true":   true,
		"false":  false,
		"int":    int64(-42),
		"maxint": int64(math.MaxInt64),
		"double": 3.25,
		"inf":    math.Inf(-1),
		"string": "grüße\x00",
		"empty":  "",
		"bytes":  []byte{0, 1, 2, 255},
		"nobyte": []byte{},
		"time":   when,
		"date":   connector.Date{Year: 2024, Month: time.February, Day: 29},
		"list":   []any{nil, int64(1), "two", []any{3.0, map[string]any{"k": when}}},
		"elist":  []any{},
		"map":    map[string]any{"a": map[string]any{"b": []any{connector.Date{Year: 1, Month: 1, Day: 1}}}, "n": nil},
		"emap":   map[string]any{},
	}
	for name, v := range values {
		got, err := connector.ValueRoundTrip(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !wiretest.EqualValues(got, v) {
			t.Errorf("%s: round trip gave %#v, want %#v", name, got, v)
		}
	}
	if _, err := connector.ValueRoundTrip(struct{}{}); err == nil {
		t.Error("a struct value converted without error")
	}
	if _, err := connector.ValueRoundTrip(map[string]any{"x": []any{int(1)}}); err == nil {
		t.Error("an unnormalized int converted without error")
	}
	if _, err := connector.ProtoDateRoundTrip(2026, 13, 1); err == nil {
		t.Error("month 13 accepted")
	}
	if v, err := connector.EmptyProtoValue(); err != nil || v != nil {
		t.Errorf("a value without kind = %v, %v; want nil", v, err)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	r := wiretest.Record(5, 16)
	r.Deleted, r.Partition = true, "anna@contoso.com"
	got, err := connector.RecordRoundTrip(r)
	if err != nil {
		t.Fatal(err)
	}
	if !wiretest.EqualRecords(got, r) {
		t.Errorf("got %#v\nwant %#v", got, r)
	}
	bad := connector.Record{ID: "x1", Fields: map[string]any{"f": []any{struct{}{}}}}
	if _, err := connector.RecordRoundTrip(bad); err == nil || err.Error() != `record "x1" field .f: [0]: unsupported value type struct {}` {
		t.Errorf("error = %v", err)
	}
}

func TestDiagnosticRoundTrip(t *testing.T) {
	codes := []connector.Code{connector.AuthFailed, connector.AuthExpired, connector.PermissionDenied, connector.NotFound,
		connector.InvalidInput, connector.Conflict, connector.RateLimited, connector.Unavailable, connector.Internal}
	for _, c := range codes {
		d := &connector.Diagnostic{Severity: connector.Warning, Code: c, Summary: "s", Detail: "d", Field: "a[0].b", RetryAfter: 1500 * time.Millisecond}
		if got := connector.DiagnosticRoundTrip(d); *got != *d {
			t.Errorf("%s: got %+v", c, got)
		}
	}
	got := connector.DiagnosticRoundTrip(&connector.Diagnostic{Code: "WEIRD", Summary: "s"})
	if got.Code != connector.Internal || got.Severity != connector.Error || got.Detail != "code WEIRD;" {
		t.Errorf("unknown code = %+v", got)
	}
}

func TestWireInMemory(t *testing.T) {
	wiretest.Exercise(t, connector.ServeInMemory(t, &wiretest.Full{}), wiretest.NewHost(t))
}

// The in-process adapter must behave as the wire does: the same checks pass.
func TestLocalParity(t *testing.T) {
	wiretest.Exercise(t, connector.Local(&wiretest.Full{}), wiretest.NewHost(t))
}

func TestWireUnimplemented(t *testing.T) {
	wiretest.ExerciseUnimplemented(t, connector.ServeInMemory(t, wiretest.Minimal{}))
	wiretest.ExerciseUnimplemented(t, connector.Local(wiretest.Minimal{}))
}

func TestWireConfigureDiagnostics(t *testing.T) {
	c := connector.ServeInMemory(t, &wiretest.Full{})
	err := c.Configure(context.Background(), connector.ConfigureRequest{Settings: []byte(`{"fail": true}`)})
	var ds connector.Diagnostics
	if !errors.As(err, &ds) || len(ds) != 1 || ds[0].Field != "fail" || ds[0].Code != connector.InvalidInput {
		t.Errorf("err = %v, want one INVALID_INPUT diagnostic on fail", err)
	}
	// Without a host the connector gets one that keeps nothing.
	err = c.Configure(context.Background(), connector.ConfigureRequest{Settings: []byte(`{"rotate_secret": "x"}`)})
	if connector.CodeOf(err) != connector.AuthFailed {
		t.Errorf("rotation without a stored token: err = %v, want AUTH_FAILED", err)
	}
}

// A write whose context ends while the connector works returns the
// context's error, and the next write on the entity still works.
func TestWireWriteCancel(t *testing.T) {
	slow := &slowWriter{Full: &wiretest.Full{}, release: make(chan struct{})}
	c := connector.ServeInMemory(t, slow)
	if err := c.Configure(context.Background(), connector.ConfigureRequest{Settings: []byte(`{}`), Host: &connector.MemoryHost{}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	op := connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "a"}
	_, err := c.Write(ctx, connector.WriteBatch{Entity: "item", Ops: []connector.WriteOp{op}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	close(slow.release)
	op.IdempotencyKey = "b"
	outs, err := c.Write(context.Background(), connector.WriteBatch{Entity: "item", Ops: []connector.WriteOp{op}})
	if err != nil || len(outs) != 1 || outs[0].Status != connector.Created {
		t.Fatalf("write after cancel = %+v, %v", outs, err)
	}
}

type slowWriter struct {
	*wiretest.Full
	release chan struct{}
}

func (s *slowWriter) Write(ctx context.Context, b connector.WriteBatch) ([]connector.WriteOutcome, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Full.Write(ctx, b)
}

// A record batch too large for one message arrives split, complete and in
// order; a change batch cannot be split and fails with a diagnostic saying
// why.
func TestWireLargeBatches(t *testing.T) {
	c := connector.ServeInMemoryLimit(t, &wiretest.Full{}, 64<<10)
	ctx := context.Background()
	if err := c.Configure(ctx, connector.ConfigureRequest{Settings: []byte(`{"records": 100, "payload_bytes": 4000}`)}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	batches := 0
	err := c.Read(ctx, connector.ReadRequest{Entity: "item", BatchSize: 100}, func(rs []connector.Record) error {
		batches++
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 100 || ids[0] != "r0" || ids[99] != "r99" || batches < 8 {
		t.Errorf("got %d records in %d batches", len(ids), batches)
	}
	for i, id := range ids {
		if id != "r"+strconv.Itoa(i) {
			t.Fatalf("record %d is %s: order lost", i, id)
		}
	}
	err = c.ReadChanges(ctx, connector.ChangesRequest{Entity: "item", BatchSize: 100}, func(connector.ChangeBatch) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "above the 64 KiB message limit; emit smaller batches") {
		t.Errorf("oversized change batch: err = %v", err)
	}
}
