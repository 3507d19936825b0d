package connector_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/internal/wire/wiretest"
)

// fastRecords covers every value type, nesting, empty containers, zero
// values, negative numbers and dates, and records without fields.
func fastRecords() []connector.Record {
	recs := []connector.Record{
		{ID: "empty"},
		{ID: "zeros", Fields: map[string]any{"b": false, "i": int64(0), "d": 0.0, "s": "", "y": []byte{}, "t": time.Unix(0, 0).UTC(), "l": []any{}, "m": map[string]any{}}},
		{ID: "neg", Deleted: true, Version: "v", Partition: "p", Modified: time.Date(1969, 7, 20, 20, 17, 40, 5, time.UTC),
			Fields: map[string]any{"i": int64(-1), "d": -2.5, "t": time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), "date": connector.Date{Year: -44, Month: time.March, Day: 15}}},
	}
	for i := range 5 {
		recs = append(recs, wiretest.Record(i, 300))
	}
	return recs
}

func TestFastEncodingIsStandardProto(t *testing.T) {
	for name, conv := range map[string]func([]connector.Record) ([]connector.Record, error){
		"fast to standard": connector.FastToStandard,
		"standard to fast": connector.StandardToFast,
	} {
		in := fastRecords()
		got, err := conv(in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := fastRecords()
		if len(got) != len(want) {
			t.Fatalf("%s: %d records, want %d", name, len(got), len(want))
		}
		for i := range want {
			if !wiretest.EqualRecords(got[i], want[i]) {
				t.Errorf("%s: record %d:\n got %#v\nwant %#v", name, i, got[i], want[i])
			}
		}
	}
}

func TestFastChanges(t *testing.T) {
	cb := connector.ChangeBatch{Checkpoint: []byte("cp\x00"), FullResync: true,
		Warnings: connector.Diagnostics{connector.Warnf(connector.NotFound, "gone").WithRetryAfter(time.Second)}}
	for i, r := range fastRecords() {
		op := connector.Upsert
		if i%2 == 1 {
			op = connector.Delete
		}
		cb.Changes = append(cb.Changes, connector.Change{Op: op, Record: r})
	}
	for name, conv := range map[string]func(connector.ChangeBatch) (connector.ChangeBatch, error){
		"fast to standard": connector.ChangesFastToStandard,
		"standard to fast": connector.ChangesStandardToFast,
	} {
		got, err := conv(cb)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if string(got.Checkpoint) != "cp\x00" || !got.FullResync || len(got.Warnings) != 1 || got.Warnings[0].RetryAfter != time.Second || len(got.Changes) != len(cb.Changes) {
			t.Fatalf("%s: got %+v", name, got)
		}
		for i := range cb.Changes {
			if got.Changes[i].Op != cb.Changes[i].Op || !wiretest.EqualRecords(got.Changes[i].Record, cb.Changes[i].Record) {
				t.Errorf("%s: change %d differs: %+v", name, i, got.Changes[i])
			}
		}
	}
}

func TestFastRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		rec  connector.Record
		want string
	}{
		{connector.Record{ID: "a", Fields: map[string]any{"s": "bad\xff"}}, `record "a" field .s: string is not valid UTF-8`},
		{connector.Record{ID: "b", Fields: map[string]any{"l": []any{map[string]any{"x": struct{}{}}}}}, `record "b" field l: [0]: .x: unsupported value type struct {}`},
	} {
		_, err := connector.FastToStandard([]connector.Record{tc.rec})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}

// FuzzFastDecode feeds arbitrary bytes to the fast decoder: it must never
// panic, and what it accepts the generated code must accept with the same
// records.
func FuzzFastDecode(f *testing.F) {
	seed, err := connector.EncodeRead(fastRecords())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte{0x0a, 0x03, 0x12, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, err := connector.FastDecodeRead(b)
		if err != nil {
			return
		}
		std, err := connector.StandardDecodeRead(b)
		if err != nil {
			// The generated code is stricter about a few things the fast
			// decoder tolerates only where both agree on the result; an
			// input accepted by one and not the other is a bug.
			t.Fatalf("fast decoder accepted what the generated code rejects: %v", err)
		}
		if len(fast) != len(std) {
			t.Fatalf("fast %d records, standard %d", len(fast), len(std))
		}
		for i := range fast {
			if !wiretest.EqualRecords(fast[i], std[i]) {
				t.Fatalf("record %d differs:\nfast %#v\n std %#v", i, fast[i], std[i])
			}
		}
	})
}

// TestFastDecodeMutations runs the fuzz property on 20000 deterministic
// mutations of a valid batch (changed bytes, truncation), so it holds in
// every test run and not only under go test -fuzz.
func TestFastDecodeMutations(t *testing.T) {
	seed, err := connector.EncodeRead(fastRecords())
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	accepted := 0
	for i := range 20000 {
		b := append([]byte(nil), seed...)
		for range 1 + r.IntN(5) {
			b[r.IntN(len(b))] = byte(r.IntN(256))
		}
		if r.IntN(3) == 0 {
			b = b[:r.IntN(len(b))]
		}
		fast, err := connector.FastDecodeRead(b)
		if err != nil {
			continue
		}
		accepted++
		std, err := connector.StandardDecodeRead(b)
		if err != nil {
			t.Fatalf("mutation %d: the fast decoder accepted what the generated code rejects: %v", i, err)
		}
		if len(fast) != len(std) {
			t.Fatalf("mutation %d: fast %d records, standard %d", i, len(fast), len(std))
		}
		for j := range fast {
			if !wiretest.EqualRecords(fast[j], std[j]) {
				t.Fatalf("mutation %d record %d differs:\nfast %#v\n std %#v", i, j, fast[j], std[j])
			}
		}
	}
	if accepted == 0 {
		t.Error("no mutation decoded; the property was never checked")
	}
}

func TestFastWriteRequest(t *testing.T) {
	var wb connector.WriteBatch
	wb.Entity = "événement"
	for i, r := range fastRecords() {
		op := connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: "k" + r.ID, Partition: "anna@contoso.com", Record: r}
		if i%2 == 1 {
			op.Action, op.TargetID = connector.ActionDelete, "t"+r.ID
		}
		wb.Ops = append(wb.Ops, op)
	}
	// A value Normalize converts must arrive converted.
	wb.Ops[0].Record.Fields = map[string]any{"n": 7}
	for name, conv := range map[string]func(connector.WriteBatch) (connector.WriteBatch, error){
		"fast to standard": connector.WriteFastToStandard,
		"standard to fast": func(b connector.WriteBatch) (connector.WriteBatch, error) {
			return connector.WriteStandardToFast(b, false)
		},
	} {
		got, err := conv(wb)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.Entity != wb.Entity || len(got.Ops) != len(wb.Ops) {
			t.Fatalf("%s: got %+v", name, got)
		}
		for i, op := range wb.Ops {
			g := got.Ops[i]
			if g.Action != op.Action || g.IdempotencyKey != op.IdempotencyKey || g.TargetID != op.TargetID || g.Partition != op.Partition || !wiretest.EqualRecords(g.Record, op.Record) {
				t.Errorf("%s: op %d:\n got %#v\nwant %#v", name, i, g, op)
			}
		}
		if got.Ops[0].Record.Fields["n"] != int64(7) {
			t.Errorf("%s: int not normalized: %#v", name, got.Ops[0].Record.Fields["n"])
		}
	}
	_, err := connector.WriteStandardToFast(wb, true)
	if err == nil || !strings.Contains(err.Error(), `write op 8: key "bad": invalid action`) {
		t.Errorf("bad action: err = %v", err)
	}
	bad := connector.WriteBatch{Entity: "x", Ops: []connector.WriteOp{{Action: 9, IdempotencyKey: "k"}}}
	if _, err := connector.WriteFastToStandard(bad); err == nil || !strings.Contains(err.Error(), "invalid action 9") {
		t.Errorf("encoding a bad action: err = %v", err)
	}
}
