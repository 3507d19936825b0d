package connector

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// ServeOpt configures Serve.
type ServeOpt func(*serveConfig)

type serveConfig struct {
	level slog.Level
}

// WithLogLevel sets the lowest level the plugin sends to the host. The
// default is the host's own level, which the host passes at start.
func WithLogLevel(l slog.Level) ServeOpt {
	return func(c *serveConfig) { c.level = l }
}

// Serve runs c as a connector plugin; call it from the plugin's main and
// return when it returns (after the host ended the plugin and c.Close ran).
//
// Started by hand rather than by a syncplane host, it prints that it is a
// plugin and exits with status 1.
//
// What Serve arranges for the process:
//   - the default slog logger writes structured lines to stderr, which the
//     host receives as log records with their level, tagged with the
//     connector's name: connectors log with slog and nothing else;
//   - on Linux, the process is killed when the host dies (parent-death
//     signal), so no plugin outlives its host;
//   - output printed on stdout after the handshake (fmt.Println, a library
//     writing to file descriptor 1) cannot corrupt the protocol: it reaches
//     the host's log instead. Lines printed before Serve is called are
//     skipped and logged by StartPlugin on the host side.
func Serve(c Connector, opts ...ServeOpt) {
	cfg := serveConfig{level: levelFromEnv(os.Getenv(envLogLevel))}
	for _, o := range opts {
		o(&cfg)
	}
	if os.Getenv(Handshake().MagicCookieKey) != Handshake().MagicCookieValue {
		fmt.Fprintf(os.Stderr, "%s is a syncplane connector plugin; the syncplane host starts it (try `syncplane connectors`).\n", os.Args[0])
		os.Exit(1)
	}
	setParentDeathSignalSelf()

	// Logs go to the real stderr as hclog JSON lines, before go-plugin
	// replaces os.Stderr with its stdio pipe.
	stderr := os.Stderr
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       "",
		Level:      hclogLevel(cfg.level),
		Output:     stderr,
		JSONFormat: true,
	})
	slog.SetDefault(slog.New(&hclogHandler{l: logger, min: cfg.level}))

	// The handshake line must be the first thing on the real stdout.
	// Keep a private handle on it for go-plugin, and point descriptor 1 at
	// stderr so that anything else writing there lands in the host's log.
	restore := protectStdout()
	defer restore()

	p := &grpcPlugin{conn: c}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake(),
		VersionedPlugins: map[int]plugin.PluginSet{ProtocolVersion: {pluginName: p}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(maxMessageBytes), grpc.MaxSendMsgSize(maxMessageBytes),
				grpc.ForceServerCodecV2(newWireCodec()),
				grpc.InitialWindowSize(windowBytes), grpc.InitialConnWindowSize(windowBytes),
				grpc.ReadBufferSize(bufferBytes), grpc.WriteBufferSize(bufferBytes))
			return grpc.NewServer(opts...)
		},
		Logger: logger,
	})
	if p.server != nil {
		if err := p.server.Close(); err != nil {
			slog.Error("closing connector", "error", err)
		}
	} else if err := c.Close(); err != nil {
		slog.Error("closing connector", "error", err)
	}
}

func levelFromEnv(s string) slog.Level {
	switch strings.ToLower(s) {
	case "trace":
		return levelTrace
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
