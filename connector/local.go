package connector

import (
	"context"
	"fmt"

	"github.com/syncplane/syncplane/schema"
)

// Client is the host's view of a connector, whether it runs in-process
// (Local) or as a plugin process (host/plugin). Every operation exists; one the
// connector does not offer returns an error wrapping ErrUnimplemented.
type Client interface {
	Connector
	Reader
	ChangeReader
	Querier
	Writer
	Subscriber
}

// Local adapts an in-process connector to Client. It applies the same rules
// the plugin boundary does: Spec's capabilities are completed from the
// implemented interfaces and its protocol version set, and every record that
// crosses is normalized (see Record), so a connector behaves the same in both
// modes.
func Local(c Connector) Client { return &local{c: c} }

type local struct{ c Connector }

func unimplemented(name, op string) error {
	return fmt.Errorf("connector %s: %s: %w", name, op, ErrUnimplemented)
}

func (l *local) Spec() Spec { return CompleteSpec(l.c) }

// CompleteSpec returns c's spec with capabilities completed from the
// interfaces c implements and ProtocolVersion set.
func CompleteSpec(c Connector) Spec {
	s := c.Spec()
	implemented := CapabilitiesOf(c)
	s.Capabilities.Read = s.Capabilities.Read || implemented.Read
	s.Capabilities.ReadChanges = s.Capabilities.ReadChanges || implemented.ReadChanges
	s.Capabilities.Write = s.Capabilities.Write || implemented.Write
	s.Capabilities.Query = s.Capabilities.Query || implemented.Query
	s.Capabilities.Subscribe = s.Capabilities.Subscribe || implemented.Subscribe
	s.ProtocolVersion = ProtocolVersion
	return s
}

func (l *local) Configure(ctx context.Context, req ConfigureRequest) error {
	if req.Host == nil {
		req.Host = &MemoryHost{}
	}
	return l.c.Configure(ctx, req)
}

func (l *local) Check(ctx context.Context) Diagnostics { return l.c.Check(ctx) }

func (l *local) DiscoverSchema(ctx context.Context, refresh bool) (*schema.Schema, error) {
	return l.c.DiscoverSchema(ctx, refresh)
}

func (l *local) ListPartitions(ctx context.Context, entity string) (Partitions, error) {
	return l.c.ListPartitions(ctx, entity)
}

func (l *local) Close() error { return l.c.Close() }

func (l *local) Read(ctx context.Context, req ReadRequest, emit func([]Record) error) error {
	r, ok := l.c.(Reader)
	if !ok {
		return unimplemented(l.c.Spec().Name, "Read")
	}
	return r.Read(ctx, req, func(recs []Record) error {
		for i := range recs {
			if err := recs[i].Normalize(); err != nil {
				return fmt.Errorf("reading %s: %w", req.Entity, err)
			}
		}
		return emit(recs)
	})
}

func (l *local) ReadChanges(ctx context.Context, req ChangesRequest, emit func(ChangeBatch) error) error {
	r, ok := l.c.(ChangeReader)
	if !ok {
		return unimplemented(l.c.Spec().Name, "ReadChanges")
	}
	return r.ReadChanges(ctx, req, func(b ChangeBatch) error {
		for i := range b.Changes {
			if err := b.Changes[i].Record.Normalize(); err != nil {
				return fmt.Errorf("reading changes of %s: %w", req.Entity, err)
			}
		}
		return emit(b)
	})
}

func (l *local) Query(ctx context.Context, req QueryRequest) ([]Record, error) {
	q, ok := l.c.(Querier)
	if !ok {
		return nil, unimplemented(l.c.Spec().Name, "Query")
	}
	recs, err := q.Query(ctx, req)
	for i := range recs {
		if nerr := recs[i].Normalize(); nerr != nil {
			return nil, fmt.Errorf("querying %s: %w", req.Entity, nerr)
		}
	}
	return recs, err
}

func (l *local) Write(ctx context.Context, batch WriteBatch) ([]WriteOutcome, error) {
	w, ok := l.c.(Writer)
	if !ok {
		return nil, unimplemented(l.c.Spec().Name, "Write")
	}
	for i := range batch.Ops {
		if err := batch.Ops[i].Record.Normalize(); err != nil {
			return nil, fmt.Errorf("writing %s: %w", batch.Entity, err)
		}
	}
	return w.Write(ctx, batch)
}

func (l *local) Subscribe(ctx context.Context, req SubscribeRequest) (Subscription, error) {
	s, ok := l.c.(Subscriber)
	if !ok {
		return Subscription{}, unimplemented(l.c.Spec().Name, "Subscribe")
	}
	return s.Subscribe(ctx, req)
}

func (l *local) HandleNotification(ctx context.Context, n Notification) (NotificationResult, error) {
	s, ok := l.c.(Subscriber)
	if !ok {
		return NotificationResult{}, unimplemented(l.c.Spec().Name, "HandleNotification")
	}
	return s.HandleNotification(ctx, n)
}
