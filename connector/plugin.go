package connector

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/syncplane/syncplane/proto/syncplane/connector/v1"
	"github.com/syncplane/syncplane/schema"
)

// pluginName is the name of the one plugin a connector process serves.
const pluginName = "connector"

// maxMessageBytes bounds one gRPC message in both directions: a batch of
// records, a schema. gRPC's default of 4 MiB is too small for large batches.
const maxMessageBytes = 64 << 20

// windowBytes and bufferBytes size gRPC's flow-control windows and socket
// buffers for batches of records between two local processes.
const (
	windowBytes = 16 << 20
	bufferBytes = 256 << 10
)

// envLogLevel carries the host's log level to the plugin so the plugin does
// not format lines the host would drop.
const envLogLevel = "SYNCPLANE_LOG_LEVEL"

// Handshake returns the go-plugin handshake both sides use. The magic cookie
// only tells a binary that it was started as a syncplane connector (it is
// not a secret); the protocol version is ProtocolVersion, negotiated through
// go-plugin's VersionedPlugins.
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   "SYNCPLANE_CONNECTOR_PLUGIN",
		MagicCookieValue: "d5c1c6a0-connector-v1-6b0f3e",
	}
}

// grpcPlugin binds the connector contract to go-plugin. On the plugin side
// it serves conn; on the host side it returns the raw connection for
// StartPlugin to wrap.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	conn   Connector
	server *wireServer
}

// dispensed is what the host side's GRPCClient returns.
type dispensed struct {
	cc     *grpc.ClientConn
	broker *plugin.GRPCBroker
}

func (p *grpcPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	p.server = newWireServer(p.conn, broker)
	pb.RegisterConnectorServiceServer(s, p.server)
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return &dispensed{cc: cc, broker: broker}, nil
}

// PluginOpt configures StartPlugin.
type PluginOpt func(*pluginConfig)

type pluginConfig struct {
	name         string
	logger       *slog.Logger
	env          []string
	checksum     []byte
	startTimeout time.Duration
}

// WithName sets the connector name used in log records (connector=NAME) and
// in errors. The default is the executable's base name.
func WithName(name string) PluginOpt { return func(c *pluginConfig) { c.name = name } }

// WithLogger sends the plugin's log lines to l, each tagged connector=NAME
// at the level the plugin logged it. Lines the plugin prints on stdout or
// stderr outside its logger arrive at info level tagged with stream=stdout
// or stream=stderr. The default is slog.Default().
func WithLogger(l *slog.Logger) PluginOpt { return func(c *pluginConfig) { c.logger = l } }

// WithEnv adds KEY=VALUE entries to the plugin's environment. The plugin
// sees only these, the entries of cmd.Env, and PATH, HOME and TMPDIR from the
// host: nothing else of the host's environment leaks into it.
func WithEnv(kv ...string) PluginOpt {
	return func(c *pluginConfig) { c.env = append(c.env, kv...) }
}

// WithChecksum makes StartPlugin verify the executable's SHA-256 digest
// before running it.
func WithChecksum(sha256sum []byte) PluginOpt {
	return func(c *pluginConfig) { c.checksum = sha256sum }
}

// WithStartTimeout bounds the handshake; the default is 10 seconds, and a
// ctx deadline that comes sooner wins.
func WithStartTimeout(d time.Duration) PluginOpt {
	return func(c *pluginConfig) { c.startTimeout = d }
}

// Plugin is a connector running in its own process, seen as a Client.
//
// The host starts it with StartPlugin, calls Configure once, then any
// operation concurrently. A plugin does not restart itself: when its process
// exits, every call fails with an UNAVAILABLE diagnostic saying so, Exited
// reports true, and the owner starts a new one (host/plugin does this on the
// next use). Close ends the process gracefully; Kill ends it at once.
type Plugin struct {
	name   string
	path   string
	client *plugin.Client
	wire   *wireClient
	once   sync.Once
}

var _ Client = (*Plugin)(nil)

// StartPlugin starts cmd as a connector plugin: go-plugin over gRPC only,
// with automatic mutual TLS, the versioned handshake and a clean
// environment, and on Linux a parent-death signal so the plugin never
// outlives the host. It asks the connector for its spec before it returns.
//
// ctx bounds the start only: the process then runs until Close or Kill, or
// until it exits by itself. Lines the plugin prints on stdout before its
// handshake are logged and skipped.
//
// A failure is one line naming the executable and what to do: a checksum
// that does not match, a file that is not a plugin, a plugin that exits
// during the handshake or speaks another protocol version.
func StartPlugin(ctx context.Context, cmd *exec.Cmd, opts ...PluginOpt) (*Plugin, error) {
	cfg := pluginConfig{startTimeout: 10 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.name == "" {
		cfg.name = filepath.Base(cmd.Path)
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d < cfg.startTimeout {
			cfg.startTimeout = max(d, time.Millisecond)
		}
	}
	logger := cfg.logger.With("connector", cfg.name)

	cmd.Env = pluginEnv(cmd.Env, cfg.env, logger)
	setParentDeathSignal(cmd)

	if cfg.checksum != nil {
		// go-plugin checks SecureConfig only for Cmd, not for the
		// RunnerFunc used here, so the check is made before start.
		secure := &plugin.SecureConfig{Checksum: cfg.checksum, Hash: sha256.New()}
		if ok, err := secure.Check(cmd.Path); err != nil {
			return nil, fmt.Errorf("connector %s: verifying the checksum of %s: %w", cfg.name, cmd.Path, err)
		} else if !ok {
			return nil, startError(cfg.name, cmd.Path, plugin.ErrChecksumsDoNotMatch, "", "")
		}
	}
	stderr := &tailWriter{}
	var run *cmdRunner
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake(),
		VersionedPlugins: map[int]plugin.PluginSet{ProtocolVersion: {pluginName: &grpcPlugin{}}},
		RunnerFunc: runnerFunc(cmd,
			func(l string) { logger.Info(l, "stream", "stdout") },
			func(r *cmdRunner) { run = r }),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     cfg.startTimeout,
		Logger:           newHostLogger(logger),
		Stderr:           stderr,
		SyncStdout:       &lineLogger{log: func(l string) { logger.Info(l, "stream", "stdout") }},
		SyncStderr:       &lineLogger{log: func(l string) { logger.Info(l, "stream", "stderr") }},
		GRPCDialOptions: []grpc.DialOption{
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)),
			// Batches are large and the peer is local: big flow-control
			// windows and buffers keep a batch from stalling on the way.
			grpc.WithInitialWindowSize(windowBytes),
			grpc.WithInitialConnWindowSize(windowBytes),
			grpc.WithReadBufferSize(bufferBytes),
			grpc.WithWriteBufferSize(bufferBytes),
		},
	})

	type result struct {
		d   *dispensed
		err error
	}
	done := make(chan result, 1)
	go func() {
		rpc, err := pc.Client()
		if err != nil {
			done <- result{err: err}
			return
		}
		raw, err := rpc.Dispense(pluginName)
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{d: raw.(*dispensed)}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		pc.Kill()
		return nil, fmt.Errorf("starting connector %s (%s): %w", cfg.name, cmd.Path, ctx.Err())
	}
	if res.err != nil {
		pc.Kill()
		first := ""
		if run != nil {
			first, _ = run.stdout.firstSkipped()
		}
		return nil, startError(cfg.name, cmd.Path, res.err, stderr.last(), first)
	}
	specCtx, cancel := context.WithTimeout(ctx, cfg.startTimeout)
	defer cancel()
	wc, err := newWireClient(specCtx, res.d.cc, res.d.broker)
	if err != nil {
		pc.Kill()
		return nil, fmt.Errorf("connector %s (%s) did not answer GetSpec: %w; is it built with this SDK?", cfg.name, cmd.Path, err)
	}
	if v := wc.Spec().ProtocolVersion; v != ProtocolVersion {
		pc.Kill()
		return nil, fmt.Errorf("connector %s (%s) reports protocol version %d in its spec but negotiated %d; rebuild it with the current SDK", cfg.name, cmd.Path, v, ProtocolVersion)
	}
	return &Plugin{name: cfg.name, path: cmd.Path, client: pc, wire: wc}, nil
}

// startError turns go-plugin's start failures into one actionable line.
//
// lastLine is the last line the plugin wrote on stderr, firstOut the first
// line it printed on stdout instead of the handshake.
func startError(name, path string, err error, lastLine, firstOut string) error {
	msg := err.Error()
	said := ""
	if lastLine != "" {
		said = fmt.Sprintf(" (it said: %q)", lastLine)
	}
	notPlugin := func() error {
		return fmt.Errorf("connector %s: %s is not a syncplane connector plugin (its first output line was %q, not the plugin handshake); remove it from the plugin directory or rebuild it with connector.Serve", name, path, firstOut)
	}
	switch {
	case firstOut != "" && !strings.Contains(msg, "incompatible API version"):
		return notPlugin()
	case errors.Is(err, plugin.ErrChecksumsDoNotMatch):
		return fmt.Errorf("connector %s: %s does not match its SHA-256 checksum; reinstall the plugin or update its checksum file", name, path)
	case errors.Is(err, os.ErrPermission) || strings.Contains(msg, "permission denied"):
		return fmt.Errorf("connector %s: %s cannot be run (permission denied); make it executable with chmod +x", name, path)
	case strings.Contains(msg, "exec format error"):
		return fmt.Errorf("connector %s: %s is not an executable for this system; install a plugin built for it", name, path)
	case strings.Contains(msg, "incompatible API version"):
		v := ""
		if i := strings.Index(msg, "Plugin version: "); i >= 0 {
			v = strings.SplitN(msg[i+len("Plugin version: "):], ",", 2)[0]
		}
		return fmt.Errorf("connector %s: %s speaks connector protocol %s, this host speaks %d; install a plugin built for protocol %d", name, path, v, ProtocolVersion, ProtocolVersion)
	case strings.Contains(msg, "Failed to read any lines from plugin's stdout"),
		strings.Contains(msg, "exited before we could connect"):
		return fmt.Errorf("connector %s: %s exited during the plugin handshake%s; run `syncplane connector spec %s` and check its log output", name, path, said, name)
	case strings.Contains(msg, "Unrecognized remote plugin message"):
		first := strings.TrimPrefix(strings.SplitN(msg, "\n", 2)[0], "Unrecognized remote plugin message: ")
		return fmt.Errorf("connector %s: %s is not a syncplane connector plugin (its first output line was %q, not the plugin handshake); remove it from the plugin directory or rebuild it with connector.Serve", name, path, first)
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return fmt.Errorf("connector %s: %s did not complete the plugin handshake in time%s; check that it calls connector.Serve", name, path, said)
	case strings.Contains(msg, "unsupported plugin protocol"):
		return fmt.Errorf("connector %s: %s speaks net/rpc, not gRPC; rebuild it with connector.Serve", name, path)
	}
	return fmt.Errorf("connector %s: starting %s: %s", name, path, strings.ReplaceAll(msg, "\n", " "))
}

// pluginEnv is the plugin's whole environment.
func pluginEnv(cmdEnv, extra []string, logger *slog.Logger) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	level := "error"
	for _, l := range []struct {
		name  string
		level slog.Level
	}{{"trace", levelTrace}, {"debug", slog.LevelDebug}, {"info", slog.LevelInfo}, {"warn", slog.LevelWarn}} {
		if logger.Enabled(context.Background(), l.level) {
			level = l.name
			break
		}
	}
	env = append(env, envLogLevel+"="+level)
	env = append(env, cmdEnv...)
	return append(env, extra...)
}

// tailWriter keeps the last message the plugin wrote on stderr, for errors.
type tailWriter struct {
	mu   sync.Mutex
	line string
	cur  []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range p {
		if b == '\n' {
			if l := strings.TrimSpace(string(w.cur)); l != "" {
				w.line = l
			}
			w.cur = w.cur[:0]
			continue
		}
		if len(w.cur) < 4096 {
			w.cur = append(w.cur, b)
		}
	}
	return len(p), nil
}

// last returns the last line, the message only when it is a JSON log line.
func (w *tailWriter) last() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var entry struct {
		Message string `json:"@message"`
	}
	if json.Unmarshal([]byte(w.line), &entry) == nil && entry.Message != "" {
		return entry.Message
	}
	return w.line
}

// Name returns the connector's name as given to StartPlugin.
func (p *Plugin) Name() string { return p.name }

// Path returns the executable the plugin runs.
func (p *Plugin) Path() string { return p.path }

// Exited reports whether the plugin process has exited.
func (p *Plugin) Exited() bool { return p.client.Exited() }

// Kill ends the plugin process without waiting for the connector to close.
func (p *Plugin) Kill() {
	p.once.Do(func() { _ = p.wire.Close() })
	p.client.Kill()
}

// explain turns a transport failure of a plugin that exited into an
// UNAVAILABLE diagnostic saying so.
func (p *Plugin) explain(err error) error {
	var te *transportError
	if err == nil || !errors.As(err, &te) {
		return err
	}
	// The process may still be being reaped when the connection breaks.
	for i := 0; i < 100 && !p.client.Exited(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if !p.client.Exited() {
		return err
	}
	return &Diagnostic{
		Severity: Error,
		Code:     Unavailable,
		Summary:  fmt.Sprintf("connector %s: the plugin process exited during %s", p.name, te.Op),
		Detail:   fmt.Sprintf("%s; it is started again on next use, and its log lines above say why it stopped", p.path),
	}
}

// Spec returns the spec the connector answered at start.
func (p *Plugin) Spec() Spec { return p.wire.Spec() }

// Configure offers the host's services (req.Host) to the plugin over the
// go-plugin broker and configures the connector.
func (p *Plugin) Configure(ctx context.Context, req ConfigureRequest) error {
	return p.explain(p.wire.Configure(ctx, req))
}

// Check runs the connector's checks.
func (p *Plugin) Check(ctx context.Context) Diagnostics {
	ds := p.wire.Check(ctx)
	if len(ds) == 1 && ds[0].Code == Unavailable && p.client.Exited() {
		return AsDiagnostics(p.explain(&transportError{Op: "Check", Diagnostic: ds[0]}))
	}
	return ds
}

// DiscoverSchema returns the connector's schema.
func (p *Plugin) DiscoverSchema(ctx context.Context, refresh bool) (*schema.Schema, error) {
	s, err := p.wire.DiscoverSchema(ctx, refresh)
	return s, p.explain(err)
}

// ListPartitions returns the partitions of an entity.
func (p *Plugin) ListPartitions(ctx context.Context, entity string) (Partitions, error) {
	ps, err := p.wire.ListPartitions(ctx, entity)
	return ps, p.explain(err)
}

// Read streams the records of a partition; see Reader.
func (p *Plugin) Read(ctx context.Context, req ReadRequest, emit func([]Record) error) error {
	return p.explain(p.wire.Read(ctx, req, emit))
}

// ReadChanges streams changes after a checkpoint; see ChangeReader.
func (p *Plugin) ReadChanges(ctx context.Context, req ChangesRequest, emit func(ChangeBatch) error) error {
	return p.explain(p.wire.ReadChanges(ctx, req, emit))
}

// Query looks records up; see Querier.
func (p *Plugin) Query(ctx context.Context, req QueryRequest) ([]Record, error) {
	rs, err := p.wire.Query(ctx, req)
	return rs, p.explain(err)
}

// Write applies a batch on the entity's write stream; see Writer.
func (p *Plugin) Write(ctx context.Context, batch WriteBatch) ([]WriteOutcome, error) {
	outs, err := p.wire.Write(ctx, batch)
	return outs, p.explain(err)
}

// Subscribe creates a push subscription; see Subscriber.
func (p *Plugin) Subscribe(ctx context.Context, req SubscribeRequest) (Subscription, error) {
	s, err := p.wire.Subscribe(ctx, req)
	return s, p.explain(err)
}

// HandleNotification decodes a notification; see Subscriber.
func (p *Plugin) HandleNotification(ctx context.Context, n Notification) (NotificationResult, error) {
	r, err := p.wire.HandleNotification(ctx, n)
	return r, p.explain(err)
}

// Close ends the write streams, asks the plugin to shut down (the connector's
// Close runs in the plugin) and waits up to two seconds before killing it.
func (p *Plugin) Close() error {
	p.Kill()
	return nil
}
