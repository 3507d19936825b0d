package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/host/config"
	"github.com/syncplane/syncplane/host/store"
)

// ConnectorSource gives the runner the configured connector of a
// connection. The runner calls it for every job and never closes what it
// returns: the source owns the clients.
type ConnectorSource interface {
	Client(ctx context.Context, connection string) (connector.Client, error)
}

// OpenFunc starts a fresh, unconfigured client of the named connector: the
// plugin manager's Open for plugin processes, or a function returning
// connector.Local(...) for tests.
type OpenFunc func(ctx context.Context, connectorName string) (connector.Client, error)

// Connections is a ConnectorSource over a pipeline file's connections: it
// opens each connection's connector on first use, configures it with the
// connection's settings and the store's host services for that connection,
// and keeps it until Close. It is safe for concurrent use.
type Connections struct {
	file  *config.File
	store *store.Store
	open  OpenFunc

	mu      sync.Mutex
	clients map[string]*openClient
}

type openClient struct {
	once sync.Once
	c    connector.Client
	err  error
}

// NewConnections returns a ConnectorSource over file's connections.
func NewConnections(file *config.File, st *store.Store, open OpenFunc) *Connections {
	return &Connections{file: file, store: st, open: open, clients: map[string]*openClient{}}
}

// Client returns the configured client of connection, starting it on first
// use. A failed start is remembered until Close, except one cut short by
// the caller's context ending: the next caller starts it again.
func (cs *Connections) Client(ctx context.Context, connection string) (connector.Client, error) {
	c, ok := cs.file.Connection(connection)
	if !ok {
		return nil, fmt.Errorf("no connection named %q in %s", connection, cs.file.Path)
	}
	cs.mu.Lock()
	oc, ok := cs.clients[connection]
	if !ok {
		oc = &openClient{}
		cs.clients[connection] = oc
	}
	cs.mu.Unlock()
	oc.once.Do(func() {
		cl, err := cs.open(ctx, c.Connector)
		if err != nil {
			oc.err = fmt.Errorf("starting connector %s for connection %s: %w", c.Connector, connection, err)
			return
		}
		var host connector.Host = &connector.MemoryHost{}
		if cs.store != nil {
			host = cs.store.Host(connection)
		}
		if err := cl.Configure(ctx, connector.ConfigureRequest{Connection: connection, Settings: c.Settings, Host: host}); err != nil {
			_ = cl.Close()
			oc.err = fmt.Errorf("configuring connection %s (connector %s): %w", connection, c.Connector, err)
			return
		}
		oc.c = cl
	})
	if oc.err != nil && ctx.Err() != nil {
		// This caller gave up (Ctrl-C, a job's deadline): do not keep its
		// cancellation as the connection's fate.
		cs.mu.Lock()
		if cs.clients[connection] == oc {
			delete(cs.clients, connection)
		}
		cs.mu.Unlock()
	}
	return oc.c, oc.err
}

// Close closes every client started.
func (cs *Connections) Close() error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var errs []error
	for name, oc := range cs.clients {
		if oc.c != nil {
			if err := oc.c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("closing connection %s: %w", name, err))
			}
		}
		delete(cs.clients, name)
	}
	return errors.Join(errs...)
}
