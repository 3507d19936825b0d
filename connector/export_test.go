package connector

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/syncplane/syncplane/proto/syncplane/connector/v1"
)

// ValueRoundTrip converts v to its proto form and back.
func ValueRoundTrip(v any) (any, error) {
	p, err := valueToProto(v)
	if err != nil {
		return nil, err
	}
	return valueFromProto(p)
}

// ProtoDateRoundTrip converts a proto date with the given parts.
func ProtoDateRoundTrip(y, m, d int32) (any, error) {
	return valueFromProto(&pb.Value{Kind: &pb.Value_DateValue{DateValue: &pb.Date{Year: y, Month: m, Day: d}}})
}

// EmptyProtoValue converts a proto value with no kind.
func EmptyProtoValue() (any, error) { return valueFromProto(&pb.Value{}) }

// RecordRoundTrip converts r to its proto form and back.
func RecordRoundTrip(r Record) (Record, error) {
	p, err := recordToProto(&r)
	if err != nil {
		return Record{}, err
	}
	return recordFromProto(p)
}

// DiagnosticRoundTrip converts d to its proto form and back.
func DiagnosticRoundTrip(d *Diagnostic) *Diagnostic { return diagFromProto(diagToProto(d)) }

// memBroker is an in-memory stand-in for go-plugin's GRPCBroker.
type memBroker struct {
	mu   sync.Mutex
	next uint32
	lis  map[uint32]*bufconn.Listener
	cond *sync.Cond
}

func newMemBroker() *memBroker {
	b := &memBroker{lis: map[uint32]*bufconn.Listener{}}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *memBroker) NextId() uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	return b.next
}

func (b *memBroker) AcceptAndServe(id uint32, newServer func([]grpc.ServerOption) *grpc.Server) {
	l := bufconn.Listen(1 << 20)
	s := newServer(nil)
	b.mu.Lock()
	b.lis[id] = l
	b.cond.Broadcast()
	b.mu.Unlock()
	_ = s.Serve(l)
}

func (b *memBroker) Dial(id uint32) (*grpc.ClientConn, error) {
	b.mu.Lock()
	for b.lis[id] == nil {
		b.cond.Wait()
	}
	l := b.lis[id]
	b.mu.Unlock()
	return dialBuf(l)
}

func dialBuf(l *bufconn.Listener) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return l.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// ServeInMemory runs c behind the gRPC server on an in-memory connection,
// with host services over an in-memory broker, and returns the gRPC client.
func ServeInMemory(t testing.TB, c Connector) Client {
	t.Helper()
	return ServeInMemoryLimit(t, c, maxMessageBytes)
}

// ServeInMemoryLimit is ServeInMemory with responses limited to maxFrame
// bytes.
func ServeInMemoryLimit(t testing.TB, c Connector, maxFrame int) Client {
	t.Helper()
	b := newMemBroker()
	l := bufconn.Listen(1 << 20)
	s := grpc.NewServer(grpc.ForceServerCodecV2(newWireCodec()))
	srv := newWireServer(c, b)
	srv.maxFrame = maxFrame
	pb.RegisterConnectorServiceServer(s, srv)
	go func() { _ = s.Serve(l) }()
	cc, err := dialBuf(l)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := newWireClient(context.Background(), cc, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cl.Close()
		_ = cc.Close()
		s.Stop()
		_ = srv.Close()
	})
	return cl
}

// FastToStandard encodes a ReadResponse with the fast encoder and decodes it
// with the generated code.
func FastToStandard(recs []Record) ([]Record, error) {
	frame, err := encodeReadResponse(recs)
	if err != nil {
		return nil, err
	}
	var m pb.ReadResponse
	if err := proto.Unmarshal(frame, &m); err != nil {
		return nil, err
	}
	return recordsFromProto(m.GetRecords())
}

// StandardToFast encodes a ReadResponse with the generated code (plus an
// unknown field a newer peer might send) and decodes it with the fast
// decoder.
func StandardToFast(recs []Record) ([]Record, error) {
	prs, err := recordsToProto(recs)
	if err != nil {
		return nil, err
	}
	b, err := proto.Marshal(&pb.ReadResponse{Records: prs, Diagnostics: []*pb.Diagnostic{{Summary: "w", Severity: pb.Diagnostic_SEVERITY_WARNING}}})
	if err != nil {
		return nil, err
	}
	b = protowire.AppendTag(b, 99, protowire.BytesType)
	b = protowire.AppendString(b, "from the future")
	var m fastReadResponse
	if err := m.decode(b); err != nil {
		return nil, err
	}
	if len(m.diagnostics) != 1 || m.diagnostics[0].GetSummary() != "w" {
		return nil, fmt.Errorf("diagnostics lost: %v", m.diagnostics)
	}
	return m.records, nil
}

// ChangesFastToStandard encodes a change batch with the fast encoder and
// decodes it with the generated code.
func ChangesFastToStandard(cb ChangeBatch) (ChangeBatch, error) {
	frame, err := encodeChangesResponse(cb)
	if err != nil {
		return ChangeBatch{}, err
	}
	var m pb.ReadChangesResponse
	if err := proto.Unmarshal(frame, &m); err != nil {
		return ChangeBatch{}, err
	}
	cs, err := changesFromProto(m.GetChanges())
	return ChangeBatch{Changes: cs, Checkpoint: m.GetCheckpoint(), FullResync: m.GetFullResync(), Warnings: diagsFromProto(m.GetDiagnostics())}, err
}

// ChangesStandardToFast encodes a change batch with the generated code and
// decodes it with the fast decoder.
func ChangesStandardToFast(cb ChangeBatch) (ChangeBatch, error) {
	cs, err := changesToProto(cb.Changes)
	if err != nil {
		return ChangeBatch{}, err
	}
	b, err := proto.Marshal(&pb.ReadChangesResponse{Changes: cs, Checkpoint: cb.Checkpoint, FullResync: cb.FullResync, Diagnostics: diagsToProto(cb.Warnings)})
	if err != nil {
		return ChangeBatch{}, err
	}
	var m fastChangesResponse
	if err := m.decode(b); err != nil {
		return ChangeBatch{}, err
	}
	m.batch.Warnings = diagsFromProto(m.diagnostics)
	return m.batch, nil
}

// EncodeRead encodes a ReadResponse with the fast encoder.
func EncodeRead(recs []Record) ([]byte, error) { return encodeReadResponse(recs) }

// FastDecodeRead decodes a ReadResponse with the fast decoder.
func FastDecodeRead(b []byte) ([]Record, error) {
	var m fastReadResponse
	err := m.decode(b)
	return m.records, err
}

// StandardDecodeRead decodes a ReadResponse with the generated code.
func StandardDecodeRead(b []byte) ([]Record, error) {
	var m pb.ReadResponse
	if err := proto.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return recordsFromProto(m.GetRecords())
}

// WriteFastToStandard encodes a write batch with the fast encoder and
// decodes it with the generated code.
func WriteFastToStandard(b WriteBatch) (WriteBatch, error) {
	frame, err := encodeWriteRequest(b)
	if err != nil {
		return WriteBatch{}, err
	}
	var m pb.WriteRequest
	if err := proto.Unmarshal(frame, &m); err != nil {
		return WriteBatch{}, err
	}
	return writeBatchFromProto(&m)
}

// WriteStandardToFast encodes a write batch with the generated code and
// decodes it with the fast decoder; an op with action 7 is appended when
// badAction is set.
func WriteStandardToFast(b WriteBatch, badAction bool) (WriteBatch, error) {
	req, err := writeBatchToProto(b)
	if err != nil {
		return WriteBatch{}, err
	}
	if badAction {
		req.Operations = append(req.Operations, &pb.WriteOperation{Action: 7, IdempotencyKey: "bad"})
	}
	frame, err := proto.Marshal(req)
	if err != nil {
		return WriteBatch{}, err
	}
	var m fastWriteRequest
	if err := m.decode(frame); err != nil {
		return WriteBatch{}, err
	}
	return m.batch, m.invalid
}
