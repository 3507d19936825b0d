package wiretest

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
)

// NewHost returns a host holding the secret "refresh_token" = "old-token".
func NewHost(t testing.TB) *connector.MemoryHost {
	h := &connector.MemoryHost{}
	if err := h.Secrets().Put(context.Background(), "refresh_token", []byte("old-token")); err != nil {
		t.Fatal(err)
	}
	return h
}

// ExerciseSettings are the settings Exercise expects c to be configured
// with by ConfigureForExercise.
const ExerciseSettings = `{"records": 250, "rotate_secret": "new-token"}`

// EqualRecords reports whether two records hold the same values, comparing
// times by instant.
func EqualRecords(a, b connector.Record) bool {
	return a.ID == b.ID && a.Deleted == b.Deleted && a.Version == b.Version &&
		a.Modified.Equal(b.Modified) && a.Partition == b.Partition && EqualValues(a.Fields, b.Fields)
}

// EqualValues is connector.ValuesEqual: SDK values compared deeply, times
// by instant, NaN equal to NaN, and with their Go types (an int64 never
// equals a float64).
func EqualValues(a, b any) bool { return connector.ValuesEqual(a, b) }

// Exercise runs every operation of the contract against c, a client for a
// Full connector, and checks what a host would notice. host is the host
// passed to Configure (see NewHost).
func Exercise(t *testing.T, c connector.Client, host *connector.MemoryHost) {
	ctx := context.Background()

	t.Run("Spec", func(t *testing.T) {
		s := c.Spec()
		want := connector.Capabilities{Read: true, ReadChanges: true, Write: true, Query: true, Subscribe: true}
		if s.Name != "wiretest" || s.Version != "1.2.3" || s.ProtocolVersion != connector.ProtocolVersion || s.Capabilities != want {
			t.Errorf("spec = %+v", s)
		}
		if string(s.SettingsSchema) == "" || len(s.SecretSettings) != 1 || s.SecretSettings[0] != "/rotate_secret" {
			t.Errorf("settings schema %q, secret settings %v", s.SettingsSchema, s.SecretSettings)
		}
	})

	if err := c.Configure(ctx, connector.ConfigureRequest{Connection: "test", Settings: []byte(ExerciseSettings), Host: host}); err != nil {
		t.Fatalf("Configure: %v", err)
	}

	t.Run("HostServices", func(t *testing.T) {
		v, found, err := host.Secrets().Get(ctx, "refresh_token")
		if err != nil || !found || string(v) != "new-token" {
			t.Errorf("rotated secret in host = %q, %v, %v; want new-token", v, found, err)
		}
		v, found, err = host.Values().Get(ctx, "old_token")
		if err != nil || !found || string(v) != "old-token" {
			t.Errorf("value old_token in host = %q, %v, %v; want old-token", v, found, err)
		}
	})

	t.Run("Check", func(t *testing.T) {
		ds := c.Check(ctx)
		if len(ds) != 1 || ds[0].Severity != connector.Warning || ds[0].Code != connector.PermissionDenied || ds[0].RetryAfter != 3*time.Second || ds.HasError() {
			t.Errorf("Check = %v", ds)
		}
	})

	t.Run("DiscoverSchema", func(t *testing.T) {
		got, err := c.DiscoverSchema(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := (&Full{}).DiscoverSchema(ctx, false)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("schema differs:\n got %+v\nwant %+v", got, want)
		}
	})

	t.Run("ListPartitions", func(t *testing.T) {
		p, err := c.ListPartitions(ctx, "item")
		if err != nil || len(p.Partitions) != 1 || p.Partitions[0].DisplayName != "all" || len(p.Warnings) != 1 {
			t.Errorf("ListPartitions = %+v, %v", p, err)
		}
		_, err = c.ListPartitions(ctx, "nope")
		if connector.CodeOf(err) != connector.NotFound {
			t.Errorf("unknown entity: err = %v, want NOT_FOUND", err)
		}
	})

	t.Run("Read", func(t *testing.T) {
		var got []connector.Record
		batches := 0
		err := c.Read(ctx, connector.ReadRequest{Entity: "item", BatchSize: 100}, func(rs []connector.Record) error {
			batches++
			for _, r := range rs {
				got = append(got, r.Clone())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if batches != 3 || len(got) != 250 {
			t.Fatalf("got %d records in %d batches, want 250 in 3", len(got), batches)
		}
		for i, r := range got {
			if want := Record(i, 0); !EqualRecords(r, want) {
				t.Fatalf("record %d:\n got %#v\nwant %#v", i, r, want)
			}
		}
		n := 0
		err = c.Read(ctx, connector.ReadRequest{Entity: "item", ModifiedSince: Base.Add(200 * time.Minute)}, func(rs []connector.Record) error {
			n += len(rs)
			return nil
		})
		if err != nil || n != 50 {
			t.Errorf("modified since: %d records, %v; want 50", n, err)
		}
		stop := errors.New("enough")
		n = 0
		err = c.Read(ctx, connector.ReadRequest{Entity: "item", BatchSize: 10}, func(rs []connector.Record) error {
			n++
			return stop
		})
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("emit error: err = %v after %d batches, want %v after 1", err, n, stop)
		}
		err = c.Read(ctx, connector.ReadRequest{Entity: "nope"}, func([]connector.Record) error { return nil })
		if connector.CodeOf(err) != connector.NotFound {
			t.Errorf("unknown entity: err = %v, want NOT_FOUND", err)
		}
	})

	t.Run("ReadChanges", func(t *testing.T) {
		read := func(cp string) ([]connector.ChangeBatch, error) {
			var out []connector.ChangeBatch
			err := c.ReadChanges(ctx, connector.ChangesRequest{Entity: "item", Checkpoint: []byte(cp), BatchSize: 100}, func(b connector.ChangeBatch) error {
				out = append(out, b)
				return nil
			})
			return out, err
		}
		bs, err := read("")
		if err != nil || len(bs) != 3 || string(bs[2].Checkpoint) != "250" || bs[0].FullResync || len(bs[0].Warnings) != 1 {
			t.Fatalf("from start: %d batches, %v", len(bs), err)
		}
		bs, err = read("100")
		if err != nil || len(bs) != 2 || bs[0].Changes[0].Record.ID != "r100" || bs[0].Changes[0].Op != connector.Upsert {
			t.Fatalf("from 100: %+v, %v", bs, err)
		}
		bs, err = read("stale")
		if err != nil || !bs[0].FullResync || bs[1].FullResync {
			t.Fatalf("stale checkpoint: want full resync on the first batch only; %v", err)
		}
		_, err = read("x")
		if connector.CodeOf(err) != connector.InvalidInput {
			t.Errorf("bad checkpoint: err = %v, want INVALID_INPUT", err)
		}
	})

	t.Run("Query", func(t *testing.T) {
		rs, err := c.Query(ctx, connector.QueryRequest{Entity: "item", Match: map[string]any{"n": 7}})
		if err != nil || len(rs) != 1 || !EqualRecords(rs[0], Record(7, 0)) {
			t.Errorf("Query n=7 = %v, %v", rs, err)
		}
		rs, err = c.Query(ctx, connector.QueryRequest{Entity: "item", Match: map[string]any{"n": int64(-1)}})
		if err != nil || len(rs) != 0 {
			t.Errorf("no match = %v, %v; want empty", rs, err)
		}
	})

	t.Run("Write", func(t *testing.T) {
		batch := connector.WriteBatch{Entity: "item", Ops: []connector.WriteOp{
			{Action: connector.ActionUpsert, IdempotencyKey: "k1", Record: connector.Record{Fields: map[string]any{"n": 1, "when": time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}}},
			{Action: connector.ActionUpsert, IdempotencyKey: "k2", Record: connector.Record{Fields: map[string]any{"reject": true}}},
			{Action: connector.ActionDelete, IdempotencyKey: "k3", TargetID: "r3"},
			{Action: connector.ActionUpsert, IdempotencyKey: "k4", TargetID: "r4", Record: connector.Record{Fields: map[string]any{"n": int64(4444)}}},
		}}
		outs, err := c.Write(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		want := []connector.Status{connector.Created, connector.Rejected, connector.Deleted, connector.Updated}
		for i, o := range outs {
			if o.Status != want[i] || o.IdempotencyKey != batch.Ops[i].IdempotencyKey {
				t.Errorf("outcome %d = %+v, want %s", i, o, want[i])
			}
		}
		if outs[0].TargetID == "" || outs[0].Version != "v2" || outs[0].Stored == nil || outs[0].Stored.Fields["n"] != int64(1) {
			t.Errorf("created outcome = %+v", outs[0])
		}
		if len(outs[1].Diagnostics) != 1 || outs[1].Diagnostics[0].Field != "reject" {
			t.Errorf("rejected outcome diagnostics = %v", outs[1].Diagnostics)
		}
		again, err := c.Write(ctx, connector.WriteBatch{Entity: "item", Ops: batch.Ops[:1]})
		if err != nil || again[0].Status != connector.Unchanged || again[0].TargetID != outs[0].TargetID {
			t.Errorf("retried op = %+v, %v; want unchanged %s", again, err, outs[0].TargetID)
		}
		rs, err := c.Query(ctx, connector.QueryRequest{Entity: "item", Match: map[string]any{"n": 4444}})
		if err != nil || len(rs) != 1 || rs[0].ID != "r4" {
			t.Errorf("updated record not found: %v, %v", rs, err)
		}
		_, err = c.Write(ctx, connector.WriteBatch{Entity: "broken", Ops: batch.Ops[:1]})
		var d *connector.Diagnostic
		if !errors.As(err, &d) || d.Code != connector.Unavailable || d.RetryAfter != time.Second {
			t.Errorf("failed batch: err = %v, want UNAVAILABLE retry after 1s", err)
		}
		// Many writers at once, on two streams.
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				entity := "item"
				if i%2 == 1 {
					entity = "broken"
				}
				key := "c" + strconv.Itoa(i)
				outs, err := c.Write(ctx, connector.WriteBatch{Entity: entity, Ops: []connector.WriteOp{{Action: connector.ActionUpsert, IdempotencyKey: key, Record: connector.Record{Fields: map[string]any{"k": key}}}}})
				switch {
				case entity == "broken" && connector.CodeOf(err) != connector.Unavailable:
					errs <- errors.New("broken entity: " + errString(err))
				case entity == "item" && (err != nil || len(outs) != 1 || outs[0].IdempotencyKey != key):
					errs <- errors.New("item write " + key + ": " + errString(err))
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("Subscribe", func(t *testing.T) {
		s, err := c.Subscribe(ctx, connector.SubscribeRequest{Entity: "item", Partition: "p1", NotificationURL: "https://host/n", ClientState: "cs"})
		if err != nil || s.ID != "sub-p1" || !s.Expires.Equal(Base.Add(24*time.Hour)) {
			t.Errorf("Subscribe = %+v, %v", s, err)
		}
		_, err = c.Subscribe(ctx, connector.SubscribeRequest{Entity: "item"})
		var d *connector.Diagnostic
		if !errors.As(err, &d) || d.Field != "notification_url" {
			t.Errorf("Subscribe without URL: err = %v", err)
		}
		r, err := c.HandleNotification(ctx, connector.Notification{Query: "validationToken=abc"})
		if err != nil || r.HTTPStatus != 200 || string(r.Body) != "validationToken=abc" || r.ContentType != "text/plain" {
			t.Errorf("validation = %+v, %v", r, err)
		}
		r, err = c.HandleNotification(ctx, connector.Notification{Body: []byte("p"), Header: map[string]string{"X-Test": "2"}})
		if err != nil || r.HTTPStatus != 202 || len(r.Sync) != 1 || r.Sync[0].Partition != "p2" {
			t.Errorf("notification = %+v, %v", r, err)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// ExerciseUnimplemented checks that every optional operation of a client
// for Minimal fails with an error wrapping connector.ErrUnimplemented.
func ExerciseUnimplemented(t *testing.T, c connector.Client) {
	ctx := context.Background()
	if caps := c.Spec().Capabilities; caps != (connector.Capabilities{}) {
		t.Errorf("capabilities = %+v, want none", caps)
	}
	none := func([]connector.Record) error { return nil }
	errs := map[string]error{
		"Read":        c.Read(ctx, connector.ReadRequest{Entity: "x"}, none),
		"ReadChanges": c.ReadChanges(ctx, connector.ChangesRequest{Entity: "x"}, func(connector.ChangeBatch) error { return nil }),
	}
	_, errs["Query"] = c.Query(ctx, connector.QueryRequest{Entity: "x"})
	_, errs["Write"] = c.Write(ctx, connector.WriteBatch{Entity: "x"})
	_, errs["Subscribe"] = c.Subscribe(ctx, connector.SubscribeRequest{Entity: "x"})
	_, errs["HandleNotification"] = c.HandleNotification(ctx, connector.Notification{})
	for op, err := range errs {
		if !errors.Is(err, connector.ErrUnimplemented) {
			t.Errorf("%s: err = %v, want ErrUnimplemented", op, err)
		}
	}
}
