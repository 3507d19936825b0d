package connector

// The record-heavy responses (Read, ReadChanges) are encoded and decoded
// straight between the SDK's Go values and protobuf wire bytes, without
// building the generated message types: for batches of records this is
// several times faster than the generated code, whose map fields go through
// reflection. The bytes on the wire are exactly the standard encoding of
// ReadResponse and ReadChangesResponse, so connectors written against the
// .proto in any language interoperate; the tests check that the generated
// code decodes what this encoder writes and the other way round.

import (
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/syncplane/syncplane/proto/syncplane/connector/v1"
)

// Field numbers of the messages encoded here (see values.proto and
// connector.proto).
const (
	fRecordID        = 1
	fRecordFields    = 2
	fRecordDeleted   = 3
	fRecordVersion   = 4
	fRecordModified  = 5
	fRecordPartition = 6

	fValueNull      = 1
	fValueBool      = 2
	fValueInt       = 3
	fValueDouble    = 4
	fValueString    = 5
	fValueBytes     = 6
	fValueTimestamp = 7
	fValueDate      = 8
	fValueList      = 9
	fValueMap       = 10

	fMapKey   = 1
	fMapValue = 2

	fReadRecords     = 1
	fReadDiagnostics = 2

	fChangesChanges     = 1
	fChangesCheckpoint  = 2
	fChangesFullResync  = 3
	fChangesDiagnostics = 4

	fChangeOperation = 1
	fChangeRecord    = 2
)

// rawFrame is a message already encoded; wireCodec sends it as is.
type rawFrame []byte

// wireCodec is gRPC's proto codec plus two shortcuts: a rawFrame is sent as
// its bytes, and a *fastReadResponse or *fastChangesResponse is decoded by
// this file's decoder.
type wireCodec struct{ proto encoding.CodecV2 }

func newWireCodec() wireCodec { return wireCodec{proto: encoding.GetCodecV2("proto")} }

func (c wireCodec) Name() string { return "proto" }

func (c wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	if f, ok := v.(rawFrame); ok {
		return mem.BufferSlice{mem.SliceBuffer(f)}, nil
	}
	return c.proto.Marshal(v)
}

func (c wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	type decodable interface{ decode([]byte) error }
	if m, ok := v.(decodable); ok {
		// The decoder keeps nothing that aliases the buffer (strings are
		// cut from its own copy), so a pooled buffer can go back at once.
		buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
		defer buf.Free()
		return m.decode(buf.ReadOnlyData())
	}
	return c.proto.Unmarshal(data, v)
}

// --- encoding ---

func sizeTag(num protowire.Number) int { return protowire.SizeTag(num) }

func sizeLen(num protowire.Number, n int) int { return sizeTag(num) + protowire.SizeBytes(n) }

func sizeTimestamp(t time.Time) int {
	n := 0
	if s := t.Unix(); s != 0 {
		n += sizeTag(1) + protowire.SizeVarint(uint64(s))
	}
	if ns := t.Nanosecond(); ns != 0 {
		n += sizeTag(2) + protowire.SizeVarint(uint64(int64(ns)))
	}
	return n
}

func appendTimestamp(b []byte, t time.Time) []byte {
	if s := t.Unix(); s != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(s))
	}
	if ns := t.Nanosecond(); ns != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(ns)))
	}
	return b
}

func sizeInt32Field(num protowire.Number, v int32) int {
	if v == 0 {
		return 0
	}
	return sizeTag(num) + protowire.SizeVarint(uint64(int64(v)))
}

func appendInt32Field(b []byte, num protowire.Number, v int32) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(int64(v)))
}

func sizeDate(d Date) int {
	return sizeInt32Field(1, int32(d.Year)) + sizeInt32Field(2, int32(d.Month)) + sizeInt32Field(3, int32(d.Day))
}

var errInvalidUTF8 = errors.New("string is not valid UTF-8")

// sizeValue returns the encoded size of a Value message holding v.
func sizeValue(v any, check bool) (int, error) {
	switch x := v.(type) {
	case nil:
		return sizeTag(fValueNull) + 1, nil
	case bool:
		return sizeTag(fValueBool) + 1, nil
	case int64:
		return sizeTag(fValueInt) + protowire.SizeVarint(uint64(x)), nil
	case float64:
		return sizeTag(fValueDouble) + 8, nil
	case string:
		if check && !utf8.ValidString(x) {
			return 0, errInvalidUTF8
		}
		return sizeLen(fValueString, len(x)), nil
	case []byte:
		return sizeLen(fValueBytes, len(x)), nil
	case time.Time:
		return sizeLen(fValueTimestamp, sizeTimestamp(x)), nil
	case Date:
		return sizeLen(fValueDate, sizeDate(x)), nil
	case []any:
		n, err := sizeList(x, check)
		if err != nil {
			return 0, err
		}
		return sizeLen(fValueList, n), nil
	case map[string]any:
		n, err := sizeMap(x, check)
		if err != nil {
			return 0, err
		}
		return sizeLen(fValueMap, n), nil
	}
	return 0, fmt.Errorf("unsupported value type %T", v)
}

func sizeList(l []any, check bool) (int, error) {
	n := 0
	for i, e := range l {
		s, err := sizeValue(e, check)
		if err != nil {
			return 0, fmt.Errorf("[%d]: %w", i, err)
		}
		n += sizeLen(1, s)
	}
	return n, nil
}

func sizeEntry(k string, v any, check bool) (entry int, value int, err error) {
	if check && !utf8.ValidString(k) {
		return 0, 0, fmt.Errorf("key %q: %w", k, errInvalidUTF8)
	}
	s, err := sizeValue(v, check)
	if err != nil {
		return 0, 0, fmt.Errorf(".%s: %w", k, err)
	}
	return sizeLen(fMapKey, len(k)) + sizeLen(fMapValue, s), s, nil
}

func sizeMap(m map[string]any, check bool) (int, error) {
	n := 0
	for k, v := range m {
		e, _, err := sizeEntry(k, v, check)
		if err != nil {
			return 0, err
		}
		n += sizeLen(1, e)
	}
	return n, nil
}

// appendValue appends the Value message body for v; v was sized first, so
// it holds only supported types.
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		b = protowire.AppendTag(b, fValueNull, protowire.VarintType)
		return protowire.AppendVarint(b, 1)
	case bool:
		b = protowire.AppendTag(b, fValueBool, protowire.VarintType)
		return protowire.AppendVarint(b, protowire.EncodeBool(x))
	case int64:
		b = protowire.AppendTag(b, fValueInt, protowire.VarintType)
		return protowire.AppendVarint(b, uint64(x))
	case float64:
		b = protowire.AppendTag(b, fValueDouble, protowire.Fixed64Type)
		return protowire.AppendFixed64(b, math.Float64bits(x))
	case string:
		b = protowire.AppendTag(b, fValueString, protowire.BytesType)
		return protowire.AppendString(b, x)
	case []byte:
		b = protowire.AppendTag(b, fValueBytes, protowire.BytesType)
		return protowire.AppendBytes(b, x)
	case time.Time:
		b = protowire.AppendTag(b, fValueTimestamp, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizeTimestamp(x)))
		return appendTimestamp(b, x)
	case Date:
		b = protowire.AppendTag(b, fValueDate, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizeDate(x)))
		b = appendInt32Field(b, 1, int32(x.Year))
		b = appendInt32Field(b, 2, int32(x.Month))
		return appendInt32Field(b, 3, int32(x.Day))
	case []any:
		n, _ := sizeList(x, false)
		b = protowire.AppendTag(b, fValueList, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(n))
		for _, e := range x {
			s, _ := sizeValue(e, false)
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(s))
			b = appendValue(b, e)
		}
		return b
	case map[string]any:
		n, _ := sizeMap(x, false)
		b = protowire.AppendTag(b, fValueMap, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(n))
		return appendEntries(b, 1, x)
	}
	return b
}

// appendEntries appends map<string, Value> entries as field num.
func appendEntries(b []byte, num protowire.Number, m map[string]any) []byte {
	for k, v := range m {
		e, s, _ := sizeEntry(k, v, false)
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(e))
		b = protowire.AppendTag(b, fMapKey, protowire.BytesType)
		b = protowire.AppendString(b, k)
		b = protowire.AppendTag(b, fMapValue, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(s))
		b = appendValue(b, v)
	}
	return b
}

func sizeStringField(num protowire.Number, s string) int {
	if s == "" {
		return 0
	}
	return sizeLen(num, len(s))
}

func appendStringField(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// sizeNormalized sizes r, normalizing it first only when it holds a value
// outside the canonical types (sizing accepts canonical types only, so a
// record it accepts is already normalized).
func sizeNormalized(r *Record) (int, error) {
	n, err := sizeRecord(r)
	if err == nil {
		return n, nil
	}
	if nerr := r.Normalize(); nerr != nil {
		return 0, nerr
	}
	return sizeRecord(r)
}

// sizeRecord returns the encoded size of a Record message, checking every
// value on the way; the error names the record and field.
func sizeRecord(r *Record) (int, error) {
	n := 0
	for _, s := range []string{r.ID, r.Version, r.Partition} {
		if !utf8.ValidString(s) {
			return 0, fmt.Errorf("record %q: id, version or partition: %w", r.ID, errInvalidUTF8)
		}
	}
	n += sizeStringField(fRecordID, r.ID)
	for k, v := range r.Fields {
		e, _, err := sizeEntry(k, v, true)
		if err != nil {
			return 0, fmt.Errorf("record %q field %w", r.ID, err)
		}
		n += sizeLen(fRecordFields, e)
	}
	if r.Deleted {
		n += sizeTag(fRecordDeleted) + 1
	}
	n += sizeStringField(fRecordVersion, r.Version)
	if !r.Modified.IsZero() {
		n += sizeLen(fRecordModified, sizeTimestamp(r.Modified))
	}
	n += sizeStringField(fRecordPartition, r.Partition)
	return n, nil
}

func appendRecord(b []byte, r *Record) []byte {
	b = appendStringField(b, fRecordID, r.ID)
	b = appendEntries(b, fRecordFields, r.Fields)
	if r.Deleted {
		b = protowire.AppendTag(b, fRecordDeleted, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	b = appendStringField(b, fRecordVersion, r.Version)
	if !r.Modified.IsZero() {
		b = protowire.AppendTag(b, fRecordModified, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizeTimestamp(r.Modified)))
		b = appendTimestamp(b, r.Modified)
	}
	return appendStringField(b, fRecordPartition, r.Partition)
}

// encodeReadResponse normalizes recs and encodes a ReadResponse holding
// them.
func encodeReadResponse(recs []Record) (rawFrame, error) {
	sizes := make([]int, len(recs))
	total := 0
	for i := range recs {
		s, err := sizeNormalized(&recs[i])
		if err != nil {
			return nil, err
		}
		sizes[i] = s
		total += sizeLen(fReadRecords, s)
	}
	b := make([]byte, 0, total)
	for i := range recs {
		b = protowire.AppendTag(b, fReadRecords, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizes[i]))
		b = appendRecord(b, &recs[i])
	}
	return rawFrame(b), nil
}

// encodeChangesResponse normalizes and encodes a ReadChangesResponse.
func encodeChangesResponse(cb ChangeBatch) (rawFrame, error) {
	type sized struct{ change, record int }
	sizes := make([]sized, len(cb.Changes))
	total := 0
	for i := range cb.Changes {
		c := &cb.Changes[i]
		if c.Op != Upsert && c.Op != Delete {
			return nil, fmt.Errorf("change of record %q: invalid operation %s", c.Record.ID, c.Op)
		}
		rs, err := sizeNormalized(&c.Record)
		if err != nil {
			return nil, err
		}
		cs := sizeTag(fChangeOperation) + 1 + sizeLen(fChangeRecord, rs)
		sizes[i] = sized{cs, rs}
		total += sizeLen(fChangesChanges, cs)
	}
	var diags []byte
	for _, d := range diagsToProto(cb.Warnings) {
		db, err := proto.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("encoding a warning: %w", err)
		}
		diags = protowire.AppendTag(diags, fChangesDiagnostics, protowire.BytesType)
		diags = protowire.AppendBytes(diags, db)
	}
	b := make([]byte, 0, total+len(cb.Checkpoint)+16+len(diags))
	for i := range cb.Changes {
		c := &cb.Changes[i]
		b = protowire.AppendTag(b, fChangesChanges, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizes[i].change))
		op := pb.Change_OPERATION_UPSERT
		if c.Op == Delete {
			op = pb.Change_OPERATION_DELETE
		}
		b = protowire.AppendTag(b, fChangeOperation, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(op))
		b = protowire.AppendTag(b, fChangeRecord, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizes[i].record))
		b = appendRecord(b, &c.Record)
	}
	if len(cb.Checkpoint) > 0 {
		b = protowire.AppendTag(b, fChangesCheckpoint, protowire.BytesType)
		b = protowire.AppendBytes(b, cb.Checkpoint)
	}
	if cb.FullResync {
		b = protowire.AppendTag(b, fChangesFullResync, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	return rawFrame(append(b, diags...)), nil
}

// --- decoding ---

var errTruncated = errors.New("truncated or malformed message")

// next consumes one tag; it fails on a malformed tag.
func next(b []byte) (protowire.Number, protowire.Type, []byte, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return 0, 0, nil, errTruncated
	}
	return num, typ, b[n:], nil
}

// skip consumes the value of a field this decoder does not know.
func skip(num protowire.Number, typ protowire.Type, b []byte) ([]byte, error) {
	n := protowire.ConsumeFieldValue(num, typ, b)
	if n < 0 {
		return nil, errTruncated
	}
	return b[n:], nil
}

func takeBytes(typ protowire.Type, b []byte) ([]byte, []byte, error) {
	if typ != protowire.BytesType {
		return nil, nil, errTruncated
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return nil, nil, errTruncated
	}
	return v, b[n:], nil
}

func takeVarint(typ protowire.Type, b []byte) (uint64, []byte, error) {
	if typ != protowire.VarintType {
		return 0, nil, errTruncated
	}
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, nil, errTruncated
	}
	return v, b[n:], nil
}

// decoder holds per-message state: field names repeat in every record of a
// batch, so they are interned. Other strings are copied one by one rather
// than cut from one copy of the message: a substring would keep the whole
// batch in memory for as long as anyone holds, say, a record's ID.
type decoder struct {
	names map[string]string
}

func newDecoder([]byte) *decoder { return &decoder{} }

// str returns v as a string after checking it is UTF-8, as proto3 requires.
func (d *decoder) str(v []byte) (string, error) {
	if !utf8.Valid(v) {
		return "", errInvalidUTF8
	}
	return string(v), nil
}

func (d *decoder) name(b []byte) (string, error) {
	if s, ok := d.names[string(b)]; ok {
		return s, nil
	}
	if !utf8.Valid(b) {
		return "", errInvalidUTF8
	}
	s := string(b)
	if d.names == nil {
		d.names = make(map[string]string, 16)
	}
	if len(d.names) < 4096 {
		d.names[s] = s
	}
	return s, nil
}

func decodeTimestamp(b []byte) (time.Time, error) {
	var secs, nanos int64
	for len(b) > 0 {
		num, typ, rest, err := next(b)
		if err != nil {
			return time.Time{}, err
		}
		switch num {
		case 1, 2:
			var v uint64
			if v, b, err = takeVarint(typ, rest); err != nil {
				return time.Time{}, err
			}
			if num == 1 {
				secs = int64(v)
			} else {
				nanos = int64(int32(v))
			}
		default:
			if b, err = skip(num, typ, rest); err != nil {
				return time.Time{}, err
			}
		}
	}
	if nanos < 0 || nanos >= 1e9 || secs < -62135596800 || secs > 253402300799 {
		return time.Time{}, fmt.Errorf("invalid timestamp %d.%09d", secs, nanos)
	}
	return time.Unix(secs, nanos).UTC(), nil
}

func decodeDate(b []byte) (Date, error) {
	var parts [4]int32
	for len(b) > 0 {
		num, typ, rest, err := next(b)
		if err != nil {
			return Date{}, err
		}
		if num >= 1 && num <= 3 {
			var v uint64
			if v, b, err = takeVarint(typ, rest); err != nil {
				return Date{}, err
			}
			parts[num] = int32(v)
			continue
		}
		if b, err = skip(num, typ, rest); err != nil {
			return Date{}, err
		}
	}
	if parts[2] < 1 || parts[2] > 12 || parts[3] < 1 || parts[3] > 31 {
		return Date{}, fmt.Errorf("invalid date %04d-%02d-%02d", parts[1], parts[2], parts[3])
	}
	return Date{Year: int(parts[1]), Month: time.Month(parts[2]), Day: int(parts[3])}, nil
}

// value decodes a Value message; a Value with no kind is null.
func (d *decoder) value(b []byte) (any, error) {
	var out any
	for len(b) > 0 {
		num, typ, rest, err := next(b)
		if err != nil {
			return nil, err
		}
		var (
			v []byte
			u uint64
		)
		switch num {
		case fValueNull:
			_, b, err = takeVarint(typ, rest)
			out = nil
		case fValueBool:
			u, b, err = takeVarint(typ, rest)
			out = u != 0
		case fValueInt:
			u, b, err = takeVarint(typ, rest)
			out = int64(u)
		case fValueDouble:
			if typ != protowire.Fixed64Type {
				return nil, errTruncated
			}
			x, n := protowire.ConsumeFixed64(rest)
			if n < 0 {
				return nil, errTruncated
			}
			out, b = math.Float64frombits(x), rest[n:]
		case fValueString:
			if v, b, err = takeBytes(typ, rest); err == nil {
				out, err = d.str(v)
			}
		case fValueBytes:
			if v, b, err = takeBytes(typ, rest); err == nil {
				out = append([]byte{}, v...)
			}
		case fValueTimestamp:
			if v, b, err = takeBytes(typ, rest); err == nil {
				out, err = decodeTimestamp(v)
			}
		case fValueDate:
			if v, b, err = takeBytes(typ, rest); err == nil {
				out, err = decodeDate(v)
			}
		case fValueList:
			if v, b, err = takeBytes(typ, rest); err == nil {
				out, err = d.list(v)
			}
		case fValueMap:
			if v, b, err = takeBytes(typ, rest); err == nil {
				m := map[string]any{}
				err = d.entries(v, 1, m)
				out = m
			}
		default:
			b, err = skip(num, typ, rest)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (d *decoder) list(b []byte) ([]any, error) {
	out := []any{}
	for len(b) > 0 {
		num, typ, rest, err := next(b)
		if err != nil {
			return nil, err
		}
		if num != 1 {
			if b, err = skip(num, typ, rest); err != nil {
				return nil, err
			}
			continue
		}
		var e []byte
		if e, b, err = takeBytes(typ, rest); err != nil {
			return nil, err
		}
		v, err := d.value(e)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", len(out), err)
		}
		out = append(out, v)
	}
	return out, nil
}

// entries decodes the map<string, Value> entries of field num of a message
// into m, skipping its other fields.
func (d *decoder) entries(b []byte, field protowire.Number, m map[string]any) error {
	for len(b) > 0 {
		num, typ, rest, err := next(b)
		if err != nil {
			return err
		}
		if num != field {
			if b, err = skip(num, typ, rest); err != nil {
				return err
			}
			continue
		}
		var e []byte
		if e, b, err = takeBytes(typ, rest); err != nil {
			return err
		}
		if err := d.entry(e, m); err != nil {
			return err
		}
	}
	return nil
}

// entry decodes one map<string, Value> entry into m.
func (d *decoder) entry(b []byte, m map[string]any) error {
	var (
		key string
		val any
	)
	for len(b) > 0 {
		num, typ, rest, err := next(b)
		if err != nil {
			return err
		}
		var v []byte
		switch num {
		case fMapKey:
			if v, b, err = takeBytes(typ, rest); err == nil {
				key, err = d.name(v)
			}
		case fMapValue:
			if v, b, err = takeBytes(typ, rest); err == nil {
				val, err = d.value(v)
			}
		default:
			b, err = skip(num, typ, rest)
		}
		if err != nil {
			return fmt.Errorf(".%s: %w", key, err)
		}
	}
	m[key] = val
	return nil
}

func (d *decoder) record(b []byte) (Record, error) {
	var r Record
	for len(b) > 0 {
		num, typ, rest, err := next(b)
		if err != nil {
			return Record{}, err
		}
		var (
			v []byte
			u uint64
			s string
		)
		switch num {
		case fRecordID, fRecordVersion, fRecordPartition:
			if v, b, err = takeBytes(typ, rest); err == nil {
				s, err = d.str(v)
			}
			switch num {
			case fRecordID:
				r.ID = s
			case fRecordVersion:
				r.Version = s
			default:
				r.Partition = s
			}
		case fRecordFields:
			if v, b, err = takeBytes(typ, rest); err == nil {
				if r.Fields == nil {
					r.Fields = make(map[string]any, 8)
				}
				if err = d.entry(v, r.Fields); err != nil {
					err = fmt.Errorf("field %w", err)
				}
			}
		case fRecordDeleted:
			u, b, err = takeVarint(typ, rest)
			r.Deleted = u != 0
		case fRecordModified:
			if v, b, err = takeBytes(typ, rest); err == nil {
				r.Modified, err = decodeTimestamp(v)
			}
		default:
			b, err = skip(num, typ, rest)
		}
		if err != nil {
			return Record{}, fmt.Errorf("record %q: %w", r.ID, err)
		}
	}
	return r, nil
}

func decodeDiagnostic(v []byte) (*pb.Diagnostic, error) {
	d := &pb.Diagnostic{}
	if err := proto.Unmarshal(v, d); err != nil {
		return nil, err
	}
	return d, nil
}

// fastReadResponse is a ReadResponse decoded straight into SDK values.
type fastReadResponse struct {
	records     []Record
	diagnostics []*pb.Diagnostic
}

func (m *fastReadResponse) decode(b []byte) error {
	*m = fastReadResponse{}
	d := newDecoder(b)
	for len(b) > 0 {
		num, typ, rest, err := next(b)
		if err != nil {
			return err
		}
		var v []byte
		switch num {
		case fReadRecords:
			if v, b, err = takeBytes(typ, rest); err == nil {
				var r Record
				if r, err = d.record(v); err == nil {
					m.records = append(m.records, r)
				}
			}
		case fReadDiagnostics:
			if v, b, err = takeBytes(typ, rest); err == nil {
				var diag *pb.Diagnostic
				if diag, err = decodeDiagnostic(v); err == nil {
					m.diagnostics = append(m.diagnostics, diag)
				}
			}
		default:
			b, err = skip(num, typ, rest)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// fastChangesResponse is a ReadChangesResponse decoded straight into SDK
// values.
type fastChangesResponse struct {
	batch       ChangeBatch
	diagnostics []*pb.Diagnostic
}

func (d *decoder) change(b []byte) (Change, error) {
	var c Change
	for len(b) > 0 {
		num, typ, rest, err := next(b)
		if err != nil {
			return Change{}, err
		}
		switch num {
		case fChangeOperation:
			var op uint64
			op, b, err = takeVarint(typ, rest)
			switch pb.Change_Operation(op) {
			case pb.Change_OPERATION_UPSERT:
				c.Op = Upsert
			case pb.Change_OPERATION_DELETE:
				c.Op = Delete
			}
		case fChangeRecord:
			var v []byte
			if v, b, err = takeBytes(typ, rest); err == nil {
				c.Record, err = d.record(v)
			}
		default:
			b, err = skip(num, typ, rest)
		}
		if err != nil {
			return Change{}, err
		}
	}
	if c.Op == 0 {
		return Change{}, fmt.Errorf("change of record %q: invalid operation", c.Record.ID)
	}
	return c, nil
}

func (m *fastChangesResponse) decode(b []byte) error {
	*m = fastChangesResponse{}
	d := newDecoder(b)
	for len(b) > 0 {
		num, typ, rest, err := next(b)
		if err != nil {
			return err
		}
		var (
			v []byte
			u uint64
		)
		switch num {
		case fChangesChanges:
			if v, b, err = takeBytes(typ, rest); err == nil {
				var c Change
				if c, err = d.change(v); err == nil {
					m.batch.Changes = append(m.batch.Changes, c)
				}
			}
		case fChangesCheckpoint:
			if v, b, err = takeBytes(typ, rest); err == nil {
				m.batch.Checkpoint = append([]byte{}, v...)
			}
		case fChangesFullResync:
			u, b, err = takeVarint(typ, rest)
			m.batch.FullResync = u != 0
		case fChangesDiagnostics:
			if v, b, err = takeBytes(typ, rest); err == nil {
				var diag *pb.Diagnostic
				if diag, err = decodeDiagnostic(v); err == nil {
					m.diagnostics = append(m.diagnostics, diag)
				}
			}
		default:
			b, err = skip(num, typ, rest)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Field numbers of WriteRequest and WriteOperation.
const (
	fWriteEntity = 1
	fWriteOps    = 2

	fOpAction    = 1
	fOpKey       = 2
	fOpTarget    = 3
	fOpRecord    = 4
	fOpPartition = 5
)

// encodeWriteRequest normalizes and encodes a WriteRequest.
func encodeWriteRequest(wb WriteBatch) (rawFrame, error) {
	if !utf8.ValidString(wb.Entity) {
		return nil, fmt.Errorf("entity name: %w", errInvalidUTF8)
	}
	type sized struct{ op, record int }
	sizes := make([]sized, len(wb.Ops))
	total := sizeStringField(fWriteEntity, wb.Entity)
	for i := range wb.Ops {
		op := &wb.Ops[i]
		if op.Action != ActionUpsert && op.Action != ActionDelete {
			return nil, fmt.Errorf("write op %d (key %q): invalid action %d", i, op.IdempotencyKey, op.Action)
		}
		for _, s := range []string{op.IdempotencyKey, op.TargetID, op.Partition} {
			if !utf8.ValidString(s) {
				return nil, fmt.Errorf("write op %d: key, target id or partition: %w", i, errInvalidUTF8)
			}
		}
		rs, err := sizeNormalized(&op.Record)
		if err != nil {
			return nil, fmt.Errorf("write op %d: %w", i, err)
		}
		os := sizeTag(fOpAction) + 1 + sizeStringField(fOpKey, op.IdempotencyKey) + sizeStringField(fOpTarget, op.TargetID) +
			sizeLen(fOpRecord, rs) + sizeStringField(fOpPartition, op.Partition)
		sizes[i] = sized{os, rs}
		total += sizeLen(fWriteOps, os)
	}
	b := make([]byte, 0, total)
	b = appendStringField(b, fWriteEntity, wb.Entity)
	for i := range wb.Ops {
		op := &wb.Ops[i]
		b = protowire.AppendTag(b, fWriteOps, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizes[i].op))
		action := pb.WriteOperation_ACTION_UPSERT
		if op.Action == ActionDelete {
			action = pb.WriteOperation_ACTION_DELETE
		}
		b = protowire.AppendTag(b, fOpAction, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(action))
		b = appendStringField(b, fOpKey, op.IdempotencyKey)
		b = appendStringField(b, fOpTarget, op.TargetID)
		b = protowire.AppendTag(b, fOpRecord, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizes[i].record))
		b = appendRecord(b, &op.Record)
		b = appendStringField(b, fOpPartition, op.Partition)
	}
	return rawFrame(b), nil
}

// fastWriteRequest is a WriteRequest decoded straight into SDK values. A
// batch that decodes but is not valid (an unknown action, a bad value) is
// kept in invalid, so the server answers it with a diagnostic instead of
// failing the stream.
type fastWriteRequest struct {
	batch   WriteBatch
	invalid error
}

func (m *fastWriteRequest) decode(b []byte) error {
	*m = fastWriteRequest{}
	d := newDecoder(b)
	for len(b) > 0 {
		num, typ, rest, err := next(b)
		if err != nil {
			return err
		}
		var v []byte
		switch num {
		case fWriteEntity:
			if v, b, err = takeBytes(typ, rest); err == nil {
				m.batch.Entity, err = d.str(v)
			}
		case fWriteOps:
			if v, b, err = takeBytes(typ, rest); err == nil {
				op, oerr := d.writeOp(v)
				if oerr != nil && m.invalid == nil {
					m.invalid = fmt.Errorf("write op %d: %w", len(m.batch.Ops), oerr)
				}
				m.batch.Ops = append(m.batch.Ops, op)
			}
		default:
			b, err = skip(num, typ, rest)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) writeOp(b []byte) (WriteOp, error) {
	var op WriteOp
	for len(b) > 0 {
		num, typ, rest, err := next(b)
		if err != nil {
			return op, err
		}
		var (
			v []byte
			u uint64
		)
		switch num {
		case fOpAction:
			u, b, err = takeVarint(typ, rest)
			switch pb.WriteOperation_Action(u) {
			case pb.WriteOperation_ACTION_UPSERT:
				op.Action = ActionUpsert
			case pb.WriteOperation_ACTION_DELETE:
				op.Action = ActionDelete
			default:
				op.Action = 0
			}
		case fOpKey, fOpTarget, fOpPartition:
			var s string
			if v, b, err = takeBytes(typ, rest); err == nil {
				s, err = d.str(v)
			}
			switch num {
			case fOpKey:
				op.IdempotencyKey = s
			case fOpTarget:
				op.TargetID = s
			default:
				op.Partition = s
			}
		case fOpRecord:
			if v, b, err = takeBytes(typ, rest); err == nil {
				op.Record, err = d.record(v)
			}
		default:
			b, err = skip(num, typ, rest)
		}
		if err != nil {
			return op, err
		}
	}
	if op.Action == 0 {
		return op, fmt.Errorf("key %q: invalid action", op.IdempotencyKey)
	}
	return op, nil
}
