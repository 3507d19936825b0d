package connector

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/syncplane/syncplane/proto/syncplane/connector/v1"
)

// valueToProto converts one SDK value (see Record) to its proto
// form. It fails on a Go type outside the value model; callers normalize
// records first, so that names a connector bug.
func valueToProto(v any) (*pb.Value, error) {
	switch x := v.(type) {
	case nil:
		return &pb.Value{Kind: &pb.Value_NullValue{NullValue: true}}, nil
	case bool:
		return &pb.Value{Kind: &pb.Value_BoolValue{BoolValue: x}}, nil
	case int64:
		return &pb.Value{Kind: &pb.Value_IntValue{IntValue: x}}, nil
	case float64:
		return &pb.Value{Kind: &pb.Value_DoubleValue{DoubleValue: x}}, nil
	case string:
		return &pb.Value{Kind: &pb.Value_StringValue{StringValue: x}}, nil
	case []byte:
		return &pb.Value{Kind: &pb.Value_BytesValue{BytesValue: x}}, nil
	case time.Time:
		return &pb.Value{Kind: &pb.Value_TimestampValue{TimestampValue: timestamppb.New(x)}}, nil
	case Date:
		return &pb.Value{Kind: &pb.Value_DateValue{DateValue: &pb.Date{Year: int32(x.Year), Month: int32(x.Month), Day: int32(x.Day)}}}, nil
	case []any:
		l := &pb.ListValue{Values: make([]*pb.Value, len(x))}
		for i, e := range x {
			pv, err := valueToProto(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			l.Values[i] = pv
		}
		return &pb.Value{Kind: &pb.Value_ListValue{ListValue: l}}, nil
	case map[string]any:
		m, err := fieldsToProto(x)
		if err != nil {
			return nil, err
		}
		return &pb.Value{Kind: &pb.Value_MapValue{MapValue: &pb.MapValue{Fields: m}}}, nil
	}
	return nil, fmt.Errorf("unsupported value type %T", v)
}

func fieldsToProto(fields map[string]any) (map[string]*pb.Value, error) {
	if fields == nil {
		return nil, nil
	}
	out := make(map[string]*pb.Value, len(fields))
	for k, v := range fields {
		pv, err := valueToProto(v)
		if err != nil {
			return nil, fmt.Errorf(".%s: %w", k, err)
		}
		out[k] = pv
	}
	return out, nil
}

// valueFromProto converts a proto value back to the SDK value model. A value
// with no kind set is read as null, which is what other languages' encoders
// produce for an unset oneof.
func valueFromProto(v *pb.Value) (any, error) {
	switch x := v.GetKind().(type) {
	case nil, *pb.Value_NullValue:
		return nil, nil
	case *pb.Value_BoolValue:
		return x.BoolValue, nil
	case *pb.Value_IntValue:
		return x.IntValue, nil
	case *pb.Value_DoubleValue:
		return x.DoubleValue, nil
	case *pb.Value_StringValue:
		return x.StringValue, nil
	case *pb.Value_BytesValue:
		if x.BytesValue == nil {
			return []byte{}, nil
		}
		return x.BytesValue, nil
	case *pb.Value_TimestampValue:
		if err := x.TimestampValue.CheckValid(); err != nil {
			return nil, fmt.Errorf("invalid timestamp: %w", err)
		}
		return x.TimestampValue.AsTime(), nil
	case *pb.Value_DateValue:
		d := x.DateValue
		if d.GetMonth() < 1 || d.GetMonth() > 12 || d.GetDay() < 1 || d.GetDay() > 31 {
			return nil, fmt.Errorf("invalid date %04d-%02d-%02d", d.GetYear(), d.GetMonth(), d.GetDay())
		}
		return Date{Year: int(d.GetYear()), Month: time.Month(d.GetMonth()), Day: int(d.GetDay())}, nil
	case *pb.Value_ListValue:
		vals := x.ListValue.GetValues()
		out := make([]any, len(vals))
		for i, e := range vals {
			gv, err := valueFromProto(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = gv
		}
		return out, nil
	case *pb.Value_MapValue:
		m, err := fieldsFromProto(x.MapValue.GetFields())
		if err != nil {
			return nil, err
		}
		if m == nil {
			m = map[string]any{}
		}
		return m, nil
	}
	return nil, fmt.Errorf("unknown value kind %T", v.GetKind())
}

func fieldsFromProto(fields map[string]*pb.Value) (map[string]any, error) {
	if fields == nil {
		return nil, nil
	}
	out := make(map[string]any, len(fields))
	for k, v := range fields {
		gv, err := valueFromProto(v)
		if err != nil {
			return nil, fmt.Errorf(".%s: %w", k, err)
		}
		out[k] = gv
	}
	return out, nil
}

func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func timeFromProto(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// recordToProto converts a record; r must be normalized. The error names the
// record and field.
func recordToProto(r *Record) (*pb.Record, error) {
	fields, err := fieldsToProto(r.Fields)
	if err != nil {
		return nil, fmt.Errorf("record %q field %w", r.ID, err)
	}
	return &pb.Record{
		Id:           r.ID,
		Fields:       fields,
		Deleted:      r.Deleted,
		Version:      r.Version,
		ModifiedTime: timeToProto(r.Modified),
		Partition:    r.Partition,
	}, nil
}

// recordFromProto converts a record back; the error names the record and
// field.
func recordFromProto(p *pb.Record) (Record, error) {
	fields, err := fieldsFromProto(p.GetFields())
	if err != nil {
		return Record{}, fmt.Errorf("record %q field %w", p.GetId(), err)
	}
	return Record{
		ID:        p.GetId(),
		Fields:    fields,
		Deleted:   p.GetDeleted(),
		Version:   p.GetVersion(),
		Modified:  timeFromProto(p.GetModifiedTime()),
		Partition: p.GetPartition(),
	}, nil
}

// recordsToProto normalizes and converts a batch of records. Normalizing
// changes the caller's records in place, as Local does.
func recordsToProto(recs []Record) ([]*pb.Record, error) {
	out := make([]*pb.Record, len(recs))
	for i := range recs {
		if err := recs[i].Normalize(); err != nil {
			return nil, err
		}
		p, err := recordToProto(&recs[i])
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

func recordsFromProto(ps []*pb.Record) ([]Record, error) {
	out := make([]Record, len(ps))
	for i, p := range ps {
		r, err := recordFromProto(p)
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}

// matchToProto converts a query's match values after normalizing them.
func matchToProto(m map[string]any) (map[string]*pb.Value, error) {
	norm := make(map[string]any, len(m))
	for k, v := range m {
		n, err := NormalizeValue(v)
		if err != nil {
			return nil, fmt.Errorf("match field %s: %w", k, err)
		}
		norm[k] = n
	}
	out, err := fieldsToProto(norm)
	if err != nil {
		return nil, fmt.Errorf("match field %w", err)
	}
	return out, nil
}
