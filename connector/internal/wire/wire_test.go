package wire

import (
	"context"
	"errors"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/internal/wire/wiretest"
	pb "github.com/syncplane/syncplane/proto/syncplane/connector/v1"
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
		"nan":    math.Inf(-1),
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
		p, err := valueToProto(v)
		if err != nil {
			t.Fatalf("%s: to proto: %v", name, err)
		}
		got, err := valueFromProto(p)
		if err != nil {
			t.Fatalf("%s: from proto: %v", name, err)
		}
		if !wiretest.EqualValues(got, v) {
			t.Errorf("%s: round trip gave %#v, want %#v", name, got, v)
		}
	}
	if _, err := valueToProto(struct{}{}); err == nil {
		t.Error("a struct value converted without error")
	}
	if _, err := valueToProto(map[string]any{"x": []any{int(1)}}); err == nil {
		t.Error("an unnormalized int converted without error")
	}
	if _, err := valueFromProto(&pb.Value{Kind: &pb.Value_DateValue{DateValue: &pb.Date{Year: 2026, Month: 13, Day: 1}}}); err == nil {
		t.Error("month 13 accepted")
	}
	if v, err := valueFromProto(&pb.Value{}); err != nil || v != nil {
		t.Errorf("a value without kind = %v, %v; want nil", v, err)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	r := wiretest.Record(5, 16)
	r.Deleted, r.Partition = true, "anna@contoso.com"
	p, err := RecordToProto(&r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := RecordFromProto(p)
	if err != nil {
		t.Fatal(err)
	}
	if !wiretest.EqualRecords(got, r) {
		t.Errorf("got %#v\nwant %#v", got, r)
	}
	bad := connector.Record{ID: "x1", Fields: map[string]any{"f": []any{struct{}{}}}}
	if _, err := RecordToProto(&bad); err == nil || err.Error() != `record "x1" field .f: [0]: unsupported value type struct {}` {
		t.Errorf("error = %v", err)
	}
}

func TestDiagnosticRoundTrip(t *testing.T) {
	codes := []connector.Code{connector.AuthFailed, connector.AuthExpired, connector.PermissionDenied, connector.NotFound,
		connector.InvalidInput, connector.Conflict, connector.RateLimited, connector.Unavailable, connector.Internal}
	for _, c := range codes {
		d := &connector.Diagnostic{Severity: connector.Warning, Code: c, Summary: "s", Detail: "d", Field: "a[0].b", RetryAfter: 1500 * time.Millisecond}
		if got := DiagnosticFromProto(DiagnosticToProto(d)); *got != *d {
			t.Errorf("%s: got %+v", c, got)
		}
	}
	got := DiagnosticFromProto(DiagnosticToProto(&connector.Diagnostic{Code: "WEIRD", Summary: "s"}))
	if got.Code != connector.Internal || got.Severity != connector.Error || got.Detail != "code WEIRD;" {
		t.Errorf("unknown code = %+v", got)
	}
}

// broker is an in-memory stand-in for go-plugin's GRPCBroker.
type broker struct {
	mu   sync.Mutex
	next uint32
	lis  map[uint32]*bufconn.Listener
	cond *sync.Cond
}

func newBroker() *broker {
	b := &broker{lis: map[uint32]*bufconn.Listener{}}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *broker) NextId() uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	return b.next
}

func (b *broker) AcceptAndServe(id uint32, newServer func([]grpc.ServerOption) *grpc.Server) {
	l := bufconn.Listen(1 << 20)
	s := newServer(nil)
	b.mu.Lock()
	b.lis[id] = l
	b.cond.Broadcast()
	b.mu.Unlock()
	_ = s.Serve(l)
}

func (b *broker) Dial(id uint32) (*grpc.ClientConn, error) {
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

// serve runs c behind a gRPC server on an in-memory connection and returns
// a client for it.
func serve(t *testing.T, c connector.Connector) *Client {
	t.Helper()
	b := newBroker()
	l := bufconn.Listen(1 << 20)
	s := grpc.NewServer()
	srv := NewServer(c, b)
	pb.RegisterConnectorServiceServer(s, srv)
	go func() { _ = s.Serve(l) }()
	cc, err := dialBuf(l)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := NewClient(context.Background(), pb.NewConnectorServiceClient(cc), b)
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

func TestClientServer(t *testing.T) {
	wiretest.Exercise(t, serve(t, &wiretest.Full{}), wiretest.NewHost(t))
}

// The in-process adapter must behave as the wire does: the same checks pass.
func TestLocalParity(t *testing.T) {
	wiretest.Exercise(t, connector.Local(&wiretest.Full{}), wiretest.NewHost(t))
}

func TestUnimplemented(t *testing.T) {
	wiretest.ExerciseUnimplemented(t, serve(t, wiretest.Minimal{}))
	wiretest.ExerciseUnimplemented(t, connector.Local(wiretest.Minimal{}))
}

func TestConfigureDiagnostics(t *testing.T) {
	c := serve(t, &wiretest.Full{})
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
func TestWriteCancel(t *testing.T) {
	slow := &slowWriter{Full: &wiretest.Full{}, release: make(chan struct{})}
	c := serve(t, slow)
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
