package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/host/config"
	"github.com/syncplane/syncplane/host/plugin"
	"github.com/syncplane/syncplane/host/store"
	"github.com/syncplane/syncplane/schema"
)

// validateRow is one problem in `syncplane validate --json` output.
type validateRow struct {
	File       string `json:"file"`
	Line       int    `json:"line,omitempty"`
	Column     int    `json:"column,omitempty"`
	Path       string `json:"path,omitempty"`
	Message    string `json:"message"`
	Suggestion string `json:"suggestion,omitempty"`
}

func newValidateCmd() *cobra.Command {
	var (
		file        string
		asJSON      bool
		offline     bool
		inProcess   bool
		pluginDir   string
		timeout     time.Duration
		printSchema bool
	)
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check a pipeline file: structure, secrets, mappings, and the connectors' settings and schemas",
		Long: "Check a pipeline file and print every problem as FILE:LINE:COL: message.\n" +
			"Without --offline each connection's connector is started to check its settings\n" +
			"against the connector's settings schema, and to discover its entities, so that\n" +
			"entity names and every field a mapping reads or writes are checked too.\n" +
			"Exits with status 1 when there is any problem.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if printSchema {
				_, err := cmd.OutOrStdout().Write(config.SchemaJSON)
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			var src config.SchemaSource
			if !offline {
				m, err := newPluginManagerOpts(plugin.Options{PluginDir: pluginDir, InProcess: inProcess}, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				cs := newConnectorSource(m)
				defer cs.Close()
				src = cs
			}
			errs := validateFile(ctx, file, src)
			if err := printValidation(cmd.OutOrStdout(), file, errs, asJSON); err != nil {
				return err
			}
			if len(errs) > 0 {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "syncplane.yaml", "pipeline file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the problems as a JSON array")
	cmd.Flags().BoolVar(&offline, "offline", false, "skip the checks that start connectors")
	cmd.Flags().BoolVar(&inProcess, "in-process", false, "run bundled connectors inside this process instead of as plugins")
	cmd.Flags().StringVar(&pluginDir, "plugin-dir", "", "directory of external connectors (default: the user's syncplane plugin directory)")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up on the connector checks after this long (0: no limit)")
	cmd.Flags().BoolVar(&printSchema, "print-schema", false, "print the pipeline file's JSON Schema (for editors) and exit")
	return cmd
}

// newPluginManagerOpts builds a plugin manager whose plugins log warnings
// and above to stderr.
func newPluginManagerOpts(opts plugin.Options, stderr io.Writer) (*plugin.Manager, error) {
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return plugin.New(opts)
}

// validateFile loads the file and, with a source, checks it against the
// connectors. Every problem comes back as a config.Error.
func validateFile(ctx context.Context, path string, src config.SchemaSource) config.Errors {
	f, err := config.Load(path)
	if err != nil {
		var es config.Errors
		if errors.As(err, &es) {
			return es
		}
		return config.Errors{{Msg: err.Error()}}
	}
	if src == nil {
		return nil
	}
	if cs, ok := src.(*connectorSource); ok {
		cs.file = f
		// Connectors see the state store's secrets and values when the
		// store exists, as they do in a run: a token stored by
		// `syncplane consent` is then found, and a one-time grant
		// exchanged here is kept rather than used up.
		if _, err := os.Stat(f.State); err == nil {
			st, err := store.Open(ctx, f.State, store.Options{})
			if err != nil {
				return config.Errors{{Msg: fmt.Sprintf("opening the state store %s: %v", f.State, err)}}
			}
			cs.st = st
		}
	}
	return f.Validate(ctx, src)
}

func printValidation(w io.Writer, file string, errs config.Errors, asJSON bool) error {
	if asJSON {
		rows := make([]validateRow, 0, len(errs))
		for _, e := range errs {
			f := e.Pos.File
			if f == "" {
				f = file
			}
			rows = append(rows, validateRow{File: f, Line: e.Pos.Line, Column: e.Pos.Column, Path: e.Path, Message: e.Msg, Suggestion: e.Suggestion})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	for _, e := range errs {
		if _, err := fmt.Fprintln(w, e.Error()); err != nil {
			return err
		}
	}
	if len(errs) == 0 {
		_, err := fmt.Fprintf(w, "%s: ok\n", file)
		return err
	}
	return nil
}

// connectorSource answers config.SchemaSource by starting connectors through
// the plugin manager. A connection's connector is started and configured
// once and kept until Close.
type connectorSource struct {
	m    *plugin.Manager
	file *config.File

	// st, when set, is the pipeline file's state store: connectors are
	// configured with its host services instead of throwaway ones.
	st *store.Store

	mu      sync.Mutex
	clients map[string]connector.Client
	secrets map[string][]string // connector → Spec.SecretSettings
}

func newConnectorSource(m *plugin.Manager) *connectorSource {
	return &connectorSource{m: m, clients: map[string]connector.Client{}, secrets: map[string][]string{}}
}

// Connectors names the available connectors.
func (s *connectorSource) Connectors() []string {
	infos, err := s.m.List()
	if err != nil {
		return nil
	}
	names := make([]string, len(infos))
	for i, in := range infos {
		names[i] = in.Name
	}
	return names
}

func (s *connectorSource) known(name string) bool {
	for _, n := range s.Connectors() {
		if n == name {
			return true
		}
	}
	return false
}

// SettingsSchema asks the connector's spec.
func (s *connectorSource) SettingsSchema(ctx context.Context, name string) (json.RawMessage, error) {
	if !s.known(name) {
		return nil, fmt.Errorf("%w %q", config.ErrUnknownConnector, name)
	}
	spec, _, err := s.m.Spec(ctx, name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.secrets[name] = spec.SecretSettings
	s.mu.Unlock()
	return spec.SettingsSchema, nil
}

// SecretSettings names the connector's secret settings, as its spec says;
// known once SettingsSchema was asked.
func (s *connectorSource) SecretSettings(_ context.Context, name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.secrets[name]
}

// Schema configures the connection's connector and discovers its schema.
func (s *connectorSource) Schema(ctx context.Context, connection string) (*schema.Schema, error) {
	if s.file == nil {
		return nil, errors.New("no pipeline file loaded")
	}
	c, ok := s.file.Connection(connection)
	if !ok {
		return nil, fmt.Errorf("no connection named %q", connection)
	}
	s.mu.Lock()
	cl, ok := s.clients[connection]
	s.mu.Unlock()
	if !ok {
		var err error
		cl, err = s.m.Open(ctx, c.Connector)
		if err != nil {
			return nil, err
		}
		var host connector.Host = &connector.MemoryHost{}
		if s.st != nil {
			host = s.st.Host(connection)
		}
		if err := cl.Configure(ctx, connector.ConfigureRequest{Connection: connection, Settings: c.Settings, Host: host}); err != nil {
			_ = cl.Close()
			return nil, fmt.Errorf("configuring: %w", err)
		}
		s.mu.Lock()
		s.clients[connection] = cl
		s.mu.Unlock()
	}
	sch, err := cl.DiscoverSchema(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("discovering the schema: %w", err)
	}
	return sch, nil
}

// Close stops every connector started.
func (s *connectorSource) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, c := range s.clients {
		_ = c.Close()
		delete(s.clients, name)
	}
	if s.st != nil {
		_ = s.st.Close()
		s.st = nil
	}
}
