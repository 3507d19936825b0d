package plugin

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// restarting is a connector.Client over a plugin process that is started
// again, and configured again with the same request, on the first call after
// it exited.
type restarting struct {
	m    *Manager
	info Info
	spec connector.Spec

	mu         sync.Mutex
	cur        *connector.Plugin
	configured *connector.ConfigureRequest
	closed     bool
	restarts   int
}

var errClosed = errors.New("connector client is closed")

// plugin returns a running plugin, restarting an exited one.
func (r *restarting) plugin(ctx context.Context) (*connector.Plugin, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("connector %s: %w", r.info.Name, errClosed)
	}
	if r.cur != nil && !r.cur.Exited() {
		return r.cur, nil
	}
	if r.cur != nil {
		r.cur.Kill() // release what is left of the old process
		r.cur = nil
	}
	r.m.opts.Logger.Warn("restarting connector plugin that exited", "connector", r.info.Name, "restarts", r.restarts+1)
	c, err := r.m.start(ctx, r.info)
	if err != nil {
		return nil, fmt.Errorf("restarting connector %s: %w", r.info.Name, err)
	}
	p := c.(*connector.Plugin)
	if r.configured != nil {
		if err := p.Configure(ctx, *r.configured); err != nil {
			p.Kill()
			return nil, fmt.Errorf("configuring restarted connector %s: %w", r.info.Name, err)
		}
	}
	r.restarts++
	r.cur = p
	return p, nil
}

func (r *restarting) Spec() connector.Spec { return r.spec }

func (r *restarting) Configure(ctx context.Context, req connector.ConfigureRequest) error {
	p, err := r.plugin(ctx)
	if err != nil {
		return err
	}
	if err := p.Configure(ctx, req); err != nil {
		return err
	}
	r.mu.Lock()
	r.configured = &req
	r.mu.Unlock()
	return nil
}

func (r *restarting) Check(ctx context.Context) connector.Diagnostics {
	p, err := r.plugin(ctx)
	if err != nil {
		return connector.Diagnostics{connector.Errorf(connector.Unavailable, "%v", err)}
	}
	return p.Check(ctx)
}

func (r *restarting) DiscoverSchema(ctx context.Context, refresh bool) (*schema.Schema, error) {
	p, err := r.plugin(ctx)
	if err != nil {
		return nil, err
	}
	return p.DiscoverSchema(ctx, refresh)
}

func (r *restarting) ListPartitions(ctx context.Context, entity string) (connector.Partitions, error) {
	p, err := r.plugin(ctx)
	if err != nil {
		return connector.Partitions{}, err
	}
	return p.ListPartitions(ctx, entity)
}

func (r *restarting) Read(ctx context.Context, req connector.ReadRequest, emit func([]connector.Record) error) error {
	p, err := r.plugin(ctx)
	if err != nil {
		return err
	}
	return p.Read(ctx, req, emit)
}

func (r *restarting) ReadChanges(ctx context.Context, req connector.ChangesRequest, emit func(connector.ChangeBatch) error) error {
	p, err := r.plugin(ctx)
	if err != nil {
		return err
	}
	return p.ReadChanges(ctx, req, emit)
}

func (r *restarting) Query(ctx context.Context, req connector.QueryRequest) ([]connector.Record, error) {
	p, err := r.plugin(ctx)
	if err != nil {
		return nil, err
	}
	return p.Query(ctx, req)
}

func (r *restarting) Write(ctx context.Context, b connector.WriteBatch) ([]connector.WriteOutcome, error) {
	p, err := r.plugin(ctx)
	if err != nil {
		return nil, err
	}
	return p.Write(ctx, b)
}

func (r *restarting) Subscribe(ctx context.Context, req connector.SubscribeRequest) (connector.Subscription, error) {
	p, err := r.plugin(ctx)
	if err != nil {
		return connector.Subscription{}, err
	}
	return p.Subscribe(ctx, req)
}

func (r *restarting) HandleNotification(ctx context.Context, n connector.Notification) (connector.NotificationResult, error) {
	p, err := r.plugin(ctx)
	if err != nil {
		return connector.NotificationResult{}, err
	}
	return p.HandleNotification(ctx, n)
}

// Close stops the plugin process; later calls fail.
func (r *restarting) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.cur != nil {
		err := r.cur.Close()
		r.cur = nil
		return err
	}
	return nil
}
