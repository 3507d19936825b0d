package connector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/syncplane/syncplane/proto/syncplane/connector/v1"
	"github.com/syncplane/syncplane/schema"
)

// hostBroker serves the host's services to the plugin; go-plugin's
// *GRPCBroker on the host side satisfies it.
type hostBroker interface {
	NextId() uint32
	AcceptAndServe(id uint32, newServer func([]grpc.ServerOption) *grpc.Server)
}

// wireClient presents a ConnectorService as a Client. Diagnostics in a
// response come back as a Diagnostics error; the Unimplemented
// status as an error wrapping ErrUnimplemented; a transport
// failure as an UNAVAILABLE diagnostic naming the
type wireClient struct {
	conn   grpc.ClientConnInterface
	cc     pb.ConnectorServiceClient
	broker hostBroker
	spec   Spec

	mu          sync.Mutex
	streams     map[string]*writeStream
	hostServers []*grpc.Server
	closed      bool
}

// newWireClient asks the connector for its spec and returns a client. broker may
// be nil; Configure then offers the connector no host services.
func newWireClient(ctx context.Context, conn grpc.ClientConnInterface, broker hostBroker) (*wireClient, error) {
	cc := pb.NewConnectorServiceClient(conn)
	resp, err := cc.GetSpec(ctx, &pb.GetSpecRequest{})
	if err != nil {
		return nil, fmt.Errorf("asking the connector for its spec: %w", err)
	}
	return &wireClient{conn: conn, cc: cc, broker: broker, spec: specFromProto(resp), streams: map[string]*writeStream{}}, nil
}

// Spec returns the spec the connector answered when the client was created.
func (c *wireClient) Spec() Spec { return c.spec }

// callErr explains a gRPC error of op.
func (c *wireClient) callErr(ctx context.Context, op string, err error) error {
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.Unimplemented:
		return fmt.Errorf("connector %s: %s: %w", c.spec.Name, op, ErrUnimplemented)
	case codes.Canceled, codes.DeadlineExceeded:
		if ctx.Err() != nil {
			return fmt.Errorf("connector %s: %s: %w", c.spec.Name, op, ctx.Err())
		}
	case codes.ResourceExhausted:
		// gRPC refused a message over the size limit; the same call fails
		// again, so this is not a transport failure.
		return &Diagnostic{Severity: Error, Code: InvalidInput,
			Summary: fmt.Sprintf("connector %s: %s: a message exceeded the size limit; use smaller batches", c.spec.Name, op),
			Detail:  st.Message()}
	}
	return &transportError{Op: op, Diagnostic: &Diagnostic{
		Severity: Error,
		Code:     Unavailable,
		Summary:  fmt.Sprintf("connector %s: %s failed: the plugin process did not answer", c.spec.Name, op),
		Detail:   fmt.Sprintf("%s: %s", st.Code(), st.Message()),
	}}
}

// transportError is a call that failed in transport rather than in the
// connector: the process is gone or the connection broke. It unwraps to an
// UNAVAILABLE diagnostic.
type transportError struct {
	Op         string
	Diagnostic *Diagnostic
}

// Error renders the diagnostic.
func (e *transportError) Error() string { return e.Diagnostic.Error() }

// Unwrap exposes the diagnostic to errors.As and CodeOf.
func (e *transportError) Unwrap() error { return e.Diagnostic }

// diagErr returns the diagnostics as an error when any is an error.
func diagErr(ps []*pb.Diagnostic) error {
	if len(ps) == 0 {
		return nil
	}
	return diagsFromProto(ps).Err()
}

// Configure starts the host's services on the broker (when req.Host is set
// and a broker exists) and configures the
func (c *wireClient) Configure(ctx context.Context, req ConfigureRequest) error {
	preq := &pb.ConfigureRequest{Connection: req.Connection, SettingsJson: req.Settings}
	if req.Host != nil && c.broker != nil {
		id := c.broker.NextId()
		hs := newHostServer(req.Host)
		ready := make(chan *grpc.Server, 1)
		go c.broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
			s := grpc.NewServer(opts...)
			pb.RegisterHostServiceServer(s, hs)
			ready <- s
			return s
		})
		go func() {
			s := <-ready
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.closed {
				s.Stop()
				return
			}
			c.hostServers = append(c.hostServers, s)
		}()
		preq.HostServicesBrokerId = id
	}
	resp, err := c.cc.Configure(ctx, preq)
	if err != nil {
		return c.callErr(ctx, "Configure", err)
	}
	return diagErr(resp.GetDiagnostics())
}

// Check returns the connector's diagnostics; a transport failure is one
// UNAVAILABLE diagnostic.
func (c *wireClient) Check(ctx context.Context) Diagnostics {
	resp, err := c.cc.Check(ctx, &pb.CheckRequest{})
	if err != nil {
		return AsDiagnostics(c.callErr(ctx, "Check", err))
	}
	return diagsFromProto(resp.GetDiagnostics())
}

// DiscoverSchema returns the connector's schema.
func (c *wireClient) DiscoverSchema(ctx context.Context, refresh bool) (*schema.Schema, error) {
	resp, err := c.cc.DiscoverSchema(ctx, &pb.DiscoverSchemaRequest{Refresh: refresh})
	if err != nil {
		return nil, c.callErr(ctx, "DiscoverSchema", err)
	}
	if err := diagErr(resp.GetDiagnostics()); err != nil {
		return nil, err
	}
	s, err := schemaFromProto(resp.GetSchema())
	if err != nil {
		return nil, fmt.Errorf("connector %s: DiscoverSchema: %w", c.spec.Name, err)
	}
	if s == nil {
		s = &schema.Schema{}
	}
	return s, nil
}

// ListPartitions returns the partitions of entity and any warnings.
func (c *wireClient) ListPartitions(ctx context.Context, entity string) (Partitions, error) {
	resp, err := c.cc.ListPartitions(ctx, &pb.ListPartitionsRequest{Entity: entity})
	if err != nil {
		return Partitions{}, c.callErr(ctx, "ListPartitions", err)
	}
	ds := diagsFromProto(resp.GetDiagnostics())
	if ds.HasError() {
		return Partitions{}, ds
	}
	out := Partitions{Warnings: ds}
	for _, p := range resp.GetPartitions() {
		out.Partitions = append(out.Partitions, Partition{ID: p.GetId(), DisplayName: p.GetDisplayName()})
	}
	return out, nil
}

// serverStream opens a server-streaming call whose responses wireCodec
// decodes straight into SDK values.
func (c *wireClient) serverStream(ctx context.Context, method string, req proto.Message) (grpc.ClientStream, error) {
	desc := &grpc.StreamDesc{ServerStreams: true}
	stream, err := c.conn.NewStream(ctx, desc, method, grpc.ForceCodecV2(newWireCodec()))
	if err != nil {
		return nil, err
	}
	if err := stream.SendMsg(req); err != nil {
		return nil, err
	}
	if err := stream.CloseSend(); err != nil {
		return nil, err
	}
	return stream, nil
}

// Read calls emit with each batch the connector streams.
func (c *wireClient) Read(ctx context.Context, req ReadRequest, emit func([]Record) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.serverStream(ctx, pb.ConnectorService_Read_FullMethodName, &pb.ReadRequest{
		Entity:        req.Entity,
		Partition:     req.Partition,
		ModifiedSince: timeToProto(req.ModifiedSince),
		BatchSize:     int32(req.BatchSize),
	})
	if err != nil {
		return c.callErr(ctx, "Read", err)
	}
	for {
		var resp fastReadResponse
		err := stream.RecvMsg(&resp)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return c.callErr(ctx, "Read", err)
		}
		if err := diagErr(resp.diagnostics); err != nil {
			return err
		}
		if len(resp.records) == 0 {
			continue
		}
		if err := emit(resp.records); err != nil {
			return err
		}
	}
}

// ReadChanges calls emit with each change batch the connector streams.
func (c *wireClient) ReadChanges(ctx context.Context, req ChangesRequest, emit func(ChangeBatch) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.serverStream(ctx, pb.ConnectorService_ReadChanges_FullMethodName, &pb.ReadChangesRequest{
		Entity:     req.Entity,
		Partition:  req.Partition,
		Checkpoint: req.Checkpoint,
		BatchSize:  int32(req.BatchSize),
	})
	if err != nil {
		return c.callErr(ctx, "ReadChanges", err)
	}
	for {
		var resp fastChangesResponse
		err := stream.RecvMsg(&resp)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return c.callErr(ctx, "ReadChanges", err)
		}
		ds := diagsFromProto(resp.diagnostics)
		if ds.HasError() {
			return ds
		}
		resp.batch.Warnings = ds
		if err := emit(resp.batch); err != nil {
			return err
		}
	}
}

// Query returns the matching records.
func (c *wireClient) Query(ctx context.Context, req QueryRequest) ([]Record, error) {
	match, err := matchToProto(req.Match)
	if err != nil {
		return nil, fmt.Errorf("querying %s: %w", req.Entity, err)
	}
	resp, err := c.cc.Query(ctx, &pb.QueryRequest{
		Entity:    req.Entity,
		Partition: req.Partition,
		Match:     match,
		Limit:     int32(req.Limit),
	})
	if err != nil {
		return nil, c.callErr(ctx, "Query", err)
	}
	if err := diagErr(resp.GetDiagnostics()); err != nil {
		return nil, err
	}
	recs, err := recordsFromProto(resp.GetRecords())
	if err != nil {
		return nil, fmt.Errorf("connector %s: querying %s: %w", c.spec.Name, req.Entity, err)
	}
	return recs, nil
}

// writeStream is one open Write stream; mu serialises batches on it so that
// each request gets exactly its own response.
type writeStream struct {
	mu     sync.Mutex
	stream grpc.BidiStreamingClient[pb.WriteRequest, pb.WriteResponse]
	cancel context.CancelFunc
	broken bool
}

// openStream returns the open stream for entity, opening one if needed. The
// stream lives until Close or until a call on it fails.
func (c *wireClient) openStream(entity string) (*writeStream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("connector %s: Write: client is closed", c.spec.Name)
	}
	if ws, ok := c.streams[entity]; ok {
		return ws, nil
	}
	sctx, cancel := context.WithCancel(context.Background())
	s, err := c.cc.Write(sctx, grpc.ForceCodecV2(newWireCodec()))
	if err != nil {
		cancel()
		return nil, c.callErr(sctx, "Write", err)
	}
	ws := &writeStream{stream: s, cancel: cancel}
	c.streams[entity] = ws
	return ws, nil
}

func (c *wireClient) dropStream(entity string, ws *writeStream) {
	ws.broken = true
	ws.cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.streams[entity] == ws {
		delete(c.streams, entity)
	}
}

// Write sends the batch on the entity's stream and waits for its response.
// If ctx ends first, the stream is abandoned (the batch may or may not have
// been applied; the host retries it with the same idempotency keys).
func (c *wireClient) Write(ctx context.Context, batch WriteBatch) ([]WriteOutcome, error) {
	req, err := encodeWriteRequest(batch)
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", batch.Entity, err)
	}
	for attempt := 0; ; attempt++ {
		ws, err := c.openStream(batch.Entity)
		if err != nil {
			return nil, err
		}
		ws.mu.Lock()
		if ws.broken {
			// Another caller abandoned this stream while we waited for it.
			ws.mu.Unlock()
			continue
		}
		resp, err := c.writeOn(ctx, ws, req)
		ws.mu.Unlock()
		if err != nil {
			c.dropStream(batch.Entity, ws)
			st, _ := status.FromError(err)
			// A stream that broke before this batch was sent (the plugin
			// was restarted, an earlier caller gave up) is reopened once.
			if errors.Is(err, io.EOF) && attempt == 0 && ctx.Err() == nil {
				continue
			}
			if errors.Is(err, io.EOF) {
				err = status.Error(codes.Unavailable, "write stream closed by the connector")
			} else if st.Code() == codes.Unknown && ctx.Err() != nil {
				err = status.FromContextError(ctx.Err()).Err()
			}
			return nil, c.callErr(ctx, "Write", err)
		}
		if ds := diagsFromProto(resp.GetDiagnostics()); ds.HasError() {
			return nil, ds
		}
		outs, err := outcomesFromProto(resp.GetOutcomes())
		if err != nil {
			return nil, fmt.Errorf("connector %s: writing %s: %w", c.spec.Name, batch.Entity, err)
		}
		if len(outs) != len(batch.Ops) {
			return nil, Errorf(Internal, "connector %s: writing %s: %d outcomes for %d operations", c.spec.Name, batch.Entity, len(outs), len(batch.Ops))
		}
		return outs, nil
	}
}

// writeOn sends one request and receives its response, giving up when ctx
// ends.
func (c *wireClient) writeOn(ctx context.Context, ws *writeStream, req rawFrame) (*pb.WriteResponse, error) {
	stop := context.AfterFunc(ctx, ws.cancel)
	defer stop()
	if err := ws.stream.SendMsg(req); err != nil {
		if errors.Is(err, io.EOF) {
			// The real cause is reported by Recv.
			_, rerr := ws.stream.Recv()
			if rerr != nil && !errors.Is(rerr, io.EOF) {
				return nil, rerr
			}
		}
		return nil, err
	}
	resp, err := ws.stream.Recv()
	if err != nil {
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		if errors.Is(err, io.EOF) {
			return nil, status.Error(codes.Unavailable, "write stream closed by the connector")
		}
		return nil, err
	}
	return resp, nil
}

// Subscribe creates a push subscription.
func (c *wireClient) Subscribe(ctx context.Context, req SubscribeRequest) (Subscription, error) {
	resp, err := c.cc.Subscribe(ctx, &pb.SubscribeRequest{
		Entity:          req.Entity,
		Partition:       req.Partition,
		NotificationUrl: req.NotificationURL,
		ClientState:     req.ClientState,
	})
	if err != nil {
		return Subscription{}, c.callErr(ctx, "Subscribe", err)
	}
	if err := diagErr(resp.GetDiagnostics()); err != nil {
		return Subscription{}, err
	}
	return Subscription{ID: resp.GetSubscriptionId(), Expires: timeFromProto(resp.GetExpiresAt())}, nil
}

// HandleNotification decodes a notification.
func (c *wireClient) HandleNotification(ctx context.Context, n Notification) (NotificationResult, error) {
	resp, err := c.cc.HandleNotification(ctx, &pb.HandleNotificationRequest{
		Headers: n.Header,
		Query:   n.Query,
		Body:    n.Body,
	})
	if err != nil {
		return NotificationResult{}, c.callErr(ctx, "HandleNotification", err)
	}
	if err := diagErr(resp.GetDiagnostics()); err != nil {
		return NotificationResult{}, err
	}
	out := NotificationResult{
		HTTPStatus:  int(resp.GetHttpStatus()),
		ContentType: resp.GetContentType(),
		Body:        resp.GetBody(),
	}
	for _, p := range resp.GetSync() {
		out.Sync = append(out.Sync, PartitionRef{Entity: p.GetEntity(), Partition: p.GetPartition()})
	}
	return out, nil
}

// Close ends the open write streams and stops serving the host's services.
// It does not stop the plugin process; the caller owns that.
func (c *wireClient) Close() error {
	c.mu.Lock()
	c.closed = true
	streams := c.streams
	c.streams = map[string]*writeStream{}
	servers := c.hostServers
	c.hostServers = nil
	c.mu.Unlock()
	for _, ws := range streams {
		ws.mu.Lock()
		_ = ws.stream.CloseSend()
		ws.cancel()
		ws.mu.Unlock()
	}
	for _, s := range servers {
		s.Stop()
	}
	return nil
}
