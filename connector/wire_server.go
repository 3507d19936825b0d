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

	pb "github.com/syncplane/syncplane/proto/syncplane/connector/v1"
)

// hostDialer reaches the host's services; go-plugin's *GRPCBroker on the
// plugin side satisfies it.
type hostDialer interface {
	Dial(id uint32) (*grpc.ClientConn, error)
}

// wireServer serves one connector as a ConnectorService. The gRPC server
// must use wireCodec (grpc.ForceServerCodecV2(newWireCodec())): Read and
// ReadChanges send pre-encoded frames. Optional capabilities
// are found by type assertion; one the connector lacks answers Unimplemented.
// Every other failure travels as diagnostics in the response.
type wireServer struct {
	pb.UnimplementedConnectorServiceServer

	c      Connector
	dialer hostDialer

	mu    sync.Mutex
	conns []*grpc.ClientConn // host-service connections, closed by Close

	// maxFrame bounds one encoded response; larger record batches are split.
	maxFrame int
}

// newWireServer returns a server for c. dialer may be nil when the host offers no
// services; Configure then gives the connector a MemoryHost.
func newWireServer(c Connector, dialer hostDialer) *wireServer {
	return &wireServer{c: c, dialer: dialer, maxFrame: maxMessageBytes}
}

// Close closes the connector and the connections to the host's services.
func (s *wireServer) Close() error {
	err := s.c.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cc := range s.conns {
		_ = cc.Close()
	}
	s.conns = nil
	return err
}

func unimplementedStatus(op string) error {
	return status.Errorf(codes.Unimplemented, "%s is not implemented by this connector", op)
}

// endStatus turns a failure after the stream's context ended into the gRPC
// status for cancellation, which is what the caller is waiting for.
func endStatus(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	return err
}

// GetSpec answers the connector's spec completed with its capabilities and
// protocol version.
func (s *wireServer) GetSpec(context.Context, *pb.GetSpecRequest) (*pb.GetSpecResponse, error) {
	return specToProto(CompleteSpec(s.c)), nil
}

// Configure dials the host's services when the host offers them and
// configures the
func (s *wireServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	var host Host = &MemoryHost{}
	if id := req.GetHostServicesBrokerId(); id != 0 {
		if s.dialer == nil {
			return &pb.ConfigureResponse{Diagnostics: diagsToProto(Diagnostics{
				Errorf(Internal, "the host offered services on broker id %d, but this plugin has no broker", id)})}, nil
		}
		cc, err := s.dialer.Dial(id)
		if err != nil {
			return &pb.ConfigureResponse{Diagnostics: diagsToProto(Diagnostics{
				Errorf(Unavailable, "connecting to the host's services: %v", err)})}, nil
		}
		s.mu.Lock()
		s.conns = append(s.conns, cc)
		s.mu.Unlock()
		host = newRemoteHost(pb.NewHostServiceClient(cc))
	}
	err := s.c.Configure(ctx, ConfigureRequest{
		Connection: req.GetConnection(),
		Settings:   req.GetSettingsJson(),
		Host:       host,
	})
	return &pb.ConfigureResponse{Diagnostics: errToProto(err)}, nil
}

// Check runs the connector's check.
func (s *wireServer) Check(ctx context.Context, _ *pb.CheckRequest) (*pb.CheckResponse, error) {
	return &pb.CheckResponse{Diagnostics: diagsToProto(s.c.Check(ctx))}, nil
}

// DiscoverSchema answers the connector's schema.
func (s *wireServer) DiscoverSchema(ctx context.Context, req *pb.DiscoverSchemaRequest) (*pb.DiscoverSchemaResponse, error) {
	sch, err := s.c.DiscoverSchema(ctx, req.GetRefresh())
	if err != nil {
		return &pb.DiscoverSchemaResponse{Diagnostics: errToProto(err)}, nil
	}
	p, err := schemaToProto(sch)
	if err != nil {
		return &pb.DiscoverSchemaResponse{Diagnostics: errToProto(err)}, nil
	}
	return &pb.DiscoverSchemaResponse{Schema: p}, nil
}

// ListPartitions answers the partitions of an entity and any warnings.
func (s *wireServer) ListPartitions(ctx context.Context, req *pb.ListPartitionsRequest) (*pb.ListPartitionsResponse, error) {
	parts, err := s.c.ListPartitions(ctx, req.GetEntity())
	resp := &pb.ListPartitionsResponse{Diagnostics: diagsToProto(parts.Warnings)}
	if err != nil {
		resp.Diagnostics = append(resp.Diagnostics, errToProto(err)...)
		return resp, nil
	}
	for _, p := range parts.Partitions {
		resp.Partitions = append(resp.Partitions, &pb.Partition{Id: p.ID, DisplayName: p.DisplayName})
	}
	return resp, nil
}

// Read streams the connector's batches, one response per batch; a failure
// ends the stream with a response carrying only diagnostics.
func (s *wireServer) Read(req *pb.ReadRequest, stream grpc.ServerStreamingServer[pb.ReadResponse]) error {
	r, ok := s.c.(Reader)
	if !ok {
		return unimplementedStatus("Read")
	}
	ctx := stream.Context()
	var sendErr error
	err := r.Read(ctx, ReadRequest{
		Entity:        req.GetEntity(),
		Partition:     req.GetPartition(),
		ModifiedSince: timeFromProto(req.GetModifiedSince()),
		BatchSize:     int(req.GetBatchSize()),
	}, func(recs []Record) error {
		var err error
		sendErr, err = s.sendRecords(stream, recs)
		if err != nil {
			return fmt.Errorf("reading %s: %w", req.GetEntity(), err)
		}
		return sendErr
	})
	if sendErr != nil {
		return endStatus(ctx, sendErr)
	}
	if err != nil {
		if ctx.Err() != nil {
			return endStatus(ctx, err)
		}
		return stream.Send(&pb.ReadResponse{Diagnostics: errToProto(err)})
	}
	return nil
}

// sendRecords encodes and sends a batch of records, split in halves as often
// as needed to keep each message under the size limit. encErr is a problem
// with the records, sendErr one with the stream.
func (s *wireServer) sendRecords(stream grpc.ServerStream, recs []Record) (sendErr, encErr error) {
	frame, err := encodeReadResponse(recs)
	if err != nil {
		return nil, err
	}
	if len(frame) <= s.maxFrame {
		return stream.SendMsg(frame), nil
	}
	if len(recs) == 1 {
		return nil, Errorf(Internal, "record %q encodes to %d KiB, above the %d KiB message limit", recs[0].ID, len(frame)>>10, s.maxFrame>>10)
	}
	half := len(recs) / 2
	if sendErr, encErr = s.sendRecords(stream, recs[:half]); sendErr != nil || encErr != nil {
		return sendErr, encErr
	}
	return s.sendRecords(stream, recs[half:])
}

// ReadChanges streams the connector's change batches with their
// checkpoints; a failure ends the stream with a diagnostics-only response.
func (s *wireServer) ReadChanges(req *pb.ReadChangesRequest, stream grpc.ServerStreamingServer[pb.ReadChangesResponse]) error {
	r, ok := s.c.(ChangeReader)
	if !ok {
		return unimplementedStatus("ReadChanges")
	}
	ctx := stream.Context()
	var sendErr error
	err := r.ReadChanges(ctx, ChangesRequest{
		Entity:     req.GetEntity(),
		Partition:  req.GetPartition(),
		Checkpoint: req.GetCheckpoint(),
		BatchSize:  int(req.GetBatchSize()),
	}, func(b ChangeBatch) error {
		frame, err := encodeChangesResponse(b)
		if err != nil {
			return fmt.Errorf("reading changes of %s: %w", req.GetEntity(), err)
		}
		if len(frame) > s.maxFrame {
			// A batch and its checkpoint cross together, so it cannot be split.
			return Errorf(Internal, "a batch of %d changes of %s encodes to %d KiB, above the %d KiB message limit; emit smaller batches",
				len(b.Changes), req.GetEntity(), len(frame)>>10, s.maxFrame>>10)
		}
		sendErr = stream.SendMsg(frame)
		return sendErr
	})
	if sendErr != nil {
		return endStatus(ctx, sendErr)
	}
	if err != nil {
		if ctx.Err() != nil {
			return endStatus(ctx, err)
		}
		return stream.Send(&pb.ReadChangesResponse{Diagnostics: errToProto(err)})
	}
	return nil
}

// Query answers the matching records.
func (s *wireServer) Query(ctx context.Context, req *pb.QueryRequest) (*pb.QueryResponse, error) {
	q, ok := s.c.(Querier)
	if !ok {
		return nil, unimplementedStatus("Query")
	}
	match, err := fieldsFromProto(req.GetMatch())
	if err != nil {
		return &pb.QueryResponse{Diagnostics: diagsToProto(Diagnostics{
			Errorf(InvalidInput, "query match field %v", err)})}, nil
	}
	recs, err := q.Query(ctx, QueryRequest{
		Entity:    req.GetEntity(),
		Partition: req.GetPartition(),
		Match:     match,
		Limit:     int(req.GetLimit()),
	})
	if err != nil {
		return &pb.QueryResponse{Diagnostics: errToProto(err)}, nil
	}
	prs, err := recordsToProto(recs)
	if err != nil {
		return &pb.QueryResponse{Diagnostics: errToProto(fmt.Errorf("querying %s: %w", req.GetEntity(), err))}, nil
	}
	return &pb.QueryResponse{Records: prs}, nil
}

// Write applies each batch received on the stream, in order, and answers
// each with exactly one response.
func (s *wireServer) Write(stream grpc.BidiStreamingServer[pb.WriteRequest, pb.WriteResponse]) error {
	w, ok := s.c.(Writer)
	if !ok {
		return unimplementedStatus("Write")
	}
	ctx := stream.Context()
	for {
		var req fastWriteRequest
		err := stream.RecvMsg(&req)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return endStatus(ctx, err)
		}
		if err := stream.Send(s.writeOne(ctx, w, &req)); err != nil {
			return endStatus(ctx, err)
		}
	}
}

func (s *wireServer) writeOne(ctx context.Context, w Writer, req *fastWriteRequest) *pb.WriteResponse {
	if req.invalid != nil {
		return &pb.WriteResponse{Diagnostics: diagsToProto(Diagnostics{
			Errorf(InvalidInput, "writing %s: %v", req.batch.Entity, req.invalid)})}
	}
	outs, err := w.Write(ctx, req.batch)
	if err != nil {
		return &pb.WriteResponse{Diagnostics: errToProto(err)}
	}
	pouts, err := outcomesToProto(outs)
	if err != nil {
		return &pb.WriteResponse{Diagnostics: errToProto(fmt.Errorf("writing %s: %w", req.batch.Entity, err))}
	}
	return &pb.WriteResponse{Outcomes: pouts}
}

// Subscribe creates a push subscription.
func (s *wireServer) Subscribe(ctx context.Context, req *pb.SubscribeRequest) (*pb.SubscribeResponse, error) {
	sub, ok := s.c.(Subscriber)
	if !ok {
		return nil, unimplementedStatus("Subscribe")
	}
	res, err := sub.Subscribe(ctx, SubscribeRequest{
		Entity:          req.GetEntity(),
		Partition:       req.GetPartition(),
		NotificationURL: req.GetNotificationUrl(),
		ClientState:     req.GetClientState(),
	})
	if err != nil {
		return &pb.SubscribeResponse{Diagnostics: errToProto(err)}, nil
	}
	return &pb.SubscribeResponse{SubscriptionId: res.ID, ExpiresAt: timeToProto(res.Expires)}, nil
}

// HandleNotification decodes a notification.
func (s *wireServer) HandleNotification(ctx context.Context, req *pb.HandleNotificationRequest) (*pb.HandleNotificationResponse, error) {
	sub, ok := s.c.(Subscriber)
	if !ok {
		return nil, unimplementedStatus("HandleNotification")
	}
	res, err := sub.HandleNotification(ctx, Notification{
		Header: req.GetHeaders(),
		Query:  req.GetQuery(),
		Body:   req.GetBody(),
	})
	if err != nil {
		return &pb.HandleNotificationResponse{Diagnostics: errToProto(err)}, nil
	}
	resp := &pb.HandleNotificationResponse{
		HttpStatus:  int32(res.HTTPStatus),
		ContentType: res.ContentType,
		Body:        res.Body,
	}
	for _, p := range res.Sync {
		resp.Sync = append(resp.Sync, &pb.PartitionRef{Entity: p.Entity, Partition: p.Partition})
	}
	return resp, nil
}
