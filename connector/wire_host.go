package connector

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/syncplane/syncplane/proto/syncplane/connector/v1"
)

// hostServer serves a Host to one plugin as a HostService. A
// store's error becomes an Unavailable status carrying the error text (never
// a value).
type hostServer struct {
	pb.UnimplementedHostServiceServer
	host Host
}

// newHostServer returns a HostService backed by h.
func newHostServer(h Host) *hostServer { return &hostServer{host: h} }

func storeStatus(what string, err error) error {
	return status.Errorf(codes.Unavailable, "%s: %v", what, err)
}

// GetSecret reads one secret.
func (s *hostServer) GetSecret(ctx context.Context, req *pb.GetSecretRequest) (*pb.GetSecretResponse, error) {
	v, found, err := s.host.Secrets().Get(ctx, req.GetName())
	if err != nil {
		return nil, storeStatus(fmt.Sprintf("reading secret %q", req.GetName()), err)
	}
	return &pb.GetSecretResponse{Value: v, Found: found}, nil
}

// PutSecret stores one secret.
func (s *hostServer) PutSecret(ctx context.Context, req *pb.PutSecretRequest) (*pb.PutSecretResponse, error) {
	if err := s.host.Secrets().Put(ctx, req.GetName(), req.GetValue()); err != nil {
		return nil, storeStatus(fmt.Sprintf("storing secret %q", req.GetName()), err)
	}
	return &pb.PutSecretResponse{}, nil
}

// DeleteSecret removes one secret.
func (s *hostServer) DeleteSecret(ctx context.Context, req *pb.DeleteSecretRequest) (*pb.DeleteSecretResponse, error) {
	if err := s.host.Secrets().Delete(ctx, req.GetName()); err != nil {
		return nil, storeStatus(fmt.Sprintf("deleting secret %q", req.GetName()), err)
	}
	return &pb.DeleteSecretResponse{}, nil
}

// ListSecrets lists secret names under a prefix, never their values.
func (s *hostServer) ListSecrets(ctx context.Context, req *pb.ListSecretsRequest) (*pb.ListSecretsResponse, error) {
	kvs, err := s.host.Secrets().List(ctx, req.GetPrefix())
	if err != nil {
		return nil, storeStatus(fmt.Sprintf("listing secrets under %q", req.GetPrefix()), err)
	}
	resp := &pb.ListSecretsResponse{Names: make([]string, len(kvs))}
	for i, kv := range kvs {
		resp.Names[i] = kv.Key
	}
	return resp, nil
}

// GetValue reads one value.
func (s *hostServer) GetValue(ctx context.Context, req *pb.GetValueRequest) (*pb.GetValueResponse, error) {
	v, found, err := s.host.Values().Get(ctx, req.GetKey())
	if err != nil {
		return nil, storeStatus(fmt.Sprintf("reading value %q", req.GetKey()), err)
	}
	return &pb.GetValueResponse{Value: v, Found: found}, nil
}

// PutValue stores one value.
func (s *hostServer) PutValue(ctx context.Context, req *pb.PutValueRequest) (*pb.PutValueResponse, error) {
	if err := s.host.Values().Put(ctx, req.GetKey(), req.GetValue()); err != nil {
		return nil, storeStatus(fmt.Sprintf("storing value %q", req.GetKey()), err)
	}
	return &pb.PutValueResponse{}, nil
}

// DeleteValue removes one value.
func (s *hostServer) DeleteValue(ctx context.Context, req *pb.DeleteValueRequest) (*pb.DeleteValueResponse, error) {
	if err := s.host.Values().Delete(ctx, req.GetKey()); err != nil {
		return nil, storeStatus(fmt.Sprintf("deleting value %q", req.GetKey()), err)
	}
	return &pb.DeleteValueResponse{}, nil
}

// ListValues lists values under a prefix in key order.
func (s *hostServer) ListValues(ctx context.Context, req *pb.ListValuesRequest) (*pb.ListValuesResponse, error) {
	kvs, err := s.host.Values().List(ctx, req.GetPrefix())
	if err != nil {
		return nil, storeStatus(fmt.Sprintf("listing values under %q", req.GetPrefix()), err)
	}
	resp := &pb.ListValuesResponse{Entries: make([]*pb.KeyValue, len(kvs))}
	for i, kv := range kvs {
		resp.Entries[i] = &pb.KeyValue{Key: kv.Key, Value: kv.Value}
	}
	return resp, nil
}

// remoteHost is the plugin side's Host: every call goes to the
// host's HostService.
type remoteHost struct {
	secrets, values remoteStore
}

// newRemoteHost returns a Host over c.
func newRemoteHost(c pb.HostServiceClient) *remoteHost {
	return &remoteHost{secrets: remoteStore{c: c, secret: true}, values: remoteStore{c: c}}
}

// Secrets returns the host's secret store.
func (h *remoteHost) Secrets() Store { return &h.secrets }

// Values returns the host's value store.
func (h *remoteHost) Values() Store { return &h.values }

// remoteStore is one of the host's stores reached over gRPC.
type remoteStore struct {
	c      pb.HostServiceClient
	secret bool
}

func hostErr(op, key string, err error) error {
	if st, ok := status.FromError(err); ok {
		return fmt.Errorf("host store: %s %q: %s", op, key, st.Message())
	}
	return fmt.Errorf("host store: %s %q: %w", op, key, err)
}

// Get reads a key; found is false when it is absent.
func (r *remoteStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if r.secret {
		resp, err := r.c.GetSecret(ctx, &pb.GetSecretRequest{Name: key})
		if err != nil {
			return nil, false, hostErr("reading secret", key, err)
		}
		return resp.GetValue(), resp.GetFound(), nil
	}
	resp, err := r.c.GetValue(ctx, &pb.GetValueRequest{Key: key})
	if err != nil {
		return nil, false, hostErr("reading value", key, err)
	}
	return resp.GetValue(), resp.GetFound(), nil
}

// Put stores a key durably before it returns.
func (r *remoteStore) Put(ctx context.Context, key string, value []byte) error {
	var err error
	if r.secret {
		_, err = r.c.PutSecret(ctx, &pb.PutSecretRequest{Name: key, Value: value})
	} else {
		_, err = r.c.PutValue(ctx, &pb.PutValueRequest{Key: key, Value: value})
	}
	if err != nil {
		return hostErr("storing", key, err)
	}
	return nil
}

// Delete removes a key.
func (r *remoteStore) Delete(ctx context.Context, key string) error {
	var err error
	if r.secret {
		_, err = r.c.DeleteSecret(ctx, &pb.DeleteSecretRequest{Name: key})
	} else {
		_, err = r.c.DeleteValue(ctx, &pb.DeleteValueRequest{Key: key})
	}
	if err != nil {
		return hostErr("deleting", key, err)
	}
	return nil
}

// List returns the entries under prefix in key order; for secrets the values
// are nil.
func (r *remoteStore) List(ctx context.Context, prefix string) ([]KeyValue, error) {
	if r.secret {
		resp, err := r.c.ListSecrets(ctx, &pb.ListSecretsRequest{Prefix: prefix})
		if err != nil {
			return nil, hostErr("listing secrets under", prefix, err)
		}
		out := make([]KeyValue, len(resp.GetNames()))
		for i, n := range resp.GetNames() {
			out[i] = KeyValue{Key: n}
		}
		return out, nil
	}
	resp, err := r.c.ListValues(ctx, &pb.ListValuesRequest{Prefix: prefix})
	if err != nil {
		return nil, hostErr("listing values under", prefix, err)
	}
	out := make([]KeyValue, len(resp.GetEntries()))
	for i, kv := range resp.GetEntries() {
		out[i] = KeyValue{Key: kv.GetKey(), Value: kv.GetValue()}
	}
	return out, nil
}
