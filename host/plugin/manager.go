// Package plugin is the host's plugin manager: it finds connectors (bundled
// into the syncplane binary, or external executables in a plugin
// directory), starts each connection's connector in its own process, and
// restarts a process that exited on the next use.
//
// Bundled connectors run as `<own executable> connector serve NAME`.
// External connectors are executables named syncplane-connector-NAME in the
// plugin directory, each next to a checksum file
// syncplane-connector-NAME.sha256 in sha256sum format, verified before every
// start.
package plugin

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/host/bundled"
)

// ExecutablePrefix starts the file name of every external connector.
const ExecutablePrefix = "syncplane-connector-"

// ChecksumSuffix ends the name of an external connector's checksum file.
const ChecksumSuffix = ".sha256"

// Options configure a Manager. The zero value uses the defaults named on
// each field.
type Options struct {
	// PluginDir holds external connectors; DefaultPluginDir() when empty.
	PluginDir string
	// Bundled maps the names of bundled connectors to their factories;
	// bundled.Factories() when nil.
	Bundled map[string]func() connector.Connector
	// Executable is the binary that serves bundled connectors with
	// `connector serve NAME`; os.Executable() when empty.
	Executable string
	// Args, when set, replaces the arguments before NAME for bundled
	// connectors (default "connector", "serve").
	Args []string
	// Env is added to every plugin's otherwise clean environment (which has
	// only PATH, HOME and TMPDIR). When nil, it is NetworkEnv(): the host's
	// proxy and CA settings, without which connectors cannot reach their
	// services from behind a corporate proxy. Set it to an empty slice to
	// pass nothing.
	Env []string
	// InProcess runs bundled connectors in this process (connector.Local)
	// instead of a plugin process: for tests and for measuring the plugin
	// overhead. External connectors always run as processes.
	InProcess bool
	// Logger receives the plugins' log lines; slog.Default() when nil.
	Logger *slog.Logger
	// StartTimeout bounds each plugin's handshake; 10s when zero.
	StartTimeout time.Duration
}

// Manager finds and starts connectors. It is safe for concurrent use.
type Manager struct {
	opts Options
}

// DefaultPluginDir is $XDG_DATA_HOME/syncplane/plugins, or
// ~/.local/share/syncplane/plugins when XDG_DATA_HOME is not set.
func DefaultPluginDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "syncplane", "plugins")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".local", "share", "syncplane", "plugins")
	}
	return filepath.Join(home, ".local", "share", "syncplane", "plugins")
}

// New returns a manager.
func New(opts Options) (*Manager, error) {
	if opts.PluginDir == "" {
		opts.PluginDir = DefaultPluginDir()
	}
	if opts.Bundled == nil {
		opts.Bundled = bundled.Factories()
	}
	if opts.Executable == "" && !opts.InProcess {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the syncplane executable to serve bundled connectors: %w", err)
		}
		opts.Executable = exe
	}
	if opts.Args == nil {
		opts.Args = []string{"connector", "serve"}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Env == nil {
		opts.Env = NetworkEnv()
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 10 * time.Second
	}
	return &Manager{opts: opts}, nil
}

// NetworkEnv returns the host's proxy and CA certificate variables
// (HTTPS_PROXY, HTTP_PROXY, NO_PROXY in both cases, SSL_CERT_FILE,
// SSL_CERT_DIR) that are set, as KEY=VALUE entries.
func NetworkEnv() []string {
	var env []string
	for _, k := range []string{
		"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
		"SSL_CERT_FILE", "SSL_CERT_DIR",
	} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// PluginDir returns the directory searched for external connectors.
func (m *Manager) PluginDir() string { return m.opts.PluginDir }

// Info describes one available connector, before it is started.
type Info struct {
	Name string `json:"name"`
	// Bundled is true for a connector compiled into syncplane.
	Bundled bool `json:"bundled"`
	// Path is the executable that serves the connector.
	Path string `json:"path"`
}

// List returns the available connectors ordered by name: the bundled ones
// and the executables found in the plugin directory (a missing directory
// has none). An external connector with a bundled name is left out, with a
// warning in the log: the bundled one wins.
func (m *Manager) List() ([]Info, error) {
	var out []Info
	for name := range m.opts.Bundled {
		out = append(out, Info{Name: name, Bundled: true, Path: m.opts.Executable})
	}
	ext, err := m.external()
	if err != nil {
		return nil, err
	}
	for name, path := range ext {
		if _, ok := m.opts.Bundled[name]; ok {
			m.opts.Logger.Warn("external connector ignored: a bundled connector has the same name", "connector", name, "path", path)
			continue
		}
		out = append(out, Info{Name: name, Path: path})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// external maps the names of the plugin directory's connectors to paths.
func (m *Manager) external() (map[string]string, error) {
	entries, err := os.ReadDir(m.opts.PluginDir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading plugin directory %s: %w", m.opts.PluginDir, err)
	}
	out := map[string]string{}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasPrefix(n, ExecutablePrefix) || strings.HasSuffix(n, ChecksumSuffix) || len(n) == len(ExecutablePrefix) {
			continue
		}
		out[strings.TrimPrefix(n, ExecutablePrefix)] = filepath.Join(m.opts.PluginDir, n)
	}
	return out, nil
}

// Lookup returns the connector called name, or an error listing the known
// names and suggesting the nearest one.
func (m *Manager) Lookup(name string) (Info, error) {
	infos, err := m.List()
	if err != nil {
		return Info{}, err
	}
	names := make([]string, len(infos))
	for i, in := range infos {
		if in.Name == name {
			return in, nil
		}
		names[i] = in.Name
	}
	known := "none are installed"
	if len(names) > 0 {
		known = "known connectors: " + strings.Join(names, ", ")
	}
	if near := nearest(name, names); near != "" {
		return Info{}, fmt.Errorf("unknown connector %q; did you mean %q? (%s)", name, near, known)
	}
	return Info{}, fmt.Errorf("unknown connector %q (%s; external connectors go in %s as %sNAME)", name, known, m.opts.PluginDir, ExecutablePrefix)
}

// nearest returns the candidate closest to name by edit distance, when it
// is close enough to be a typo.
func nearest(name string, candidates []string) string {
	best, bestD := "", len(name)/2+2
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(name), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// checksum reads the sha256sum-format checksum file of an external
// connector.
func checksum(path string) ([]byte, error) {
	sumPath := path + ChecksumSuffix
	data, err := os.ReadFile(sumPath)
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("checksum file %s is missing; create it with: (cd %s && sha256sum %s > %s)", sumPath, filepath.Dir(path), filepath.Base(path), filepath.Base(sumPath))
	}
	if err != nil {
		return nil, fmt.Errorf("reading checksum file %s: %w", sumPath, err)
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return nil, fmt.Errorf("checksum file %s is empty; it must hold the sha256sum output for %s", sumPath, filepath.Base(path))
	}
	sum, err := hex.DecodeString(fields[0])
	if err != nil || len(sum) != 32 {
		return nil, fmt.Errorf("checksum file %s does not start with a SHA-256 digest (64 hex digits); regenerate it with sha256sum", sumPath)
	}
	if len(fields) > 1 && filepath.Base(strings.TrimPrefix(fields[1], "*")) != filepath.Base(path) {
		return nil, fmt.Errorf("checksum file %s is for %s, not %s", sumPath, fields[1], filepath.Base(path))
	}
	return sum, nil
}

// start runs one instance of the connector described by in.
func (m *Manager) start(ctx context.Context, in Info) (connector.Client, error) {
	logger := m.opts.Logger
	if in.Bundled {
		if m.opts.InProcess {
			return connector.Local(m.opts.Bundled[in.Name]()), nil
		}
		args := append(append([]string(nil), m.opts.Args...), in.Name)
		return connector.StartPlugin(ctx, exec.Command(m.opts.Executable, args...),
			connector.WithName(in.Name), connector.WithLogger(logger),
			connector.WithEnv(m.opts.Env...), connector.WithStartTimeout(m.opts.StartTimeout))
	}
	st, err := os.Stat(in.Path)
	if err != nil {
		return nil, fmt.Errorf("connector %s: %w", in.Name, err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("connector %s: %s is not an executable file; make it executable with chmod +x or remove it", in.Name, in.Path)
	}
	sum, err := checksum(in.Path)
	if err != nil {
		return nil, fmt.Errorf("connector %s: %w", in.Name, err)
	}
	return connector.StartPlugin(ctx, exec.Command(in.Path),
		connector.WithName(in.Name), connector.WithLogger(logger), connector.WithChecksum(sum),
		connector.WithEnv(m.opts.Env...), connector.WithStartTimeout(m.opts.StartTimeout))
}

// Open starts connector name for one connection and returns its client.
// The caller calls Configure once, then anything, and Close at the end.
//
// If the plugin process exits, the call that was running fails with an
// UNAVAILABLE diagnostic saying so, and the next call starts a new process,
// configures it with the same request, and goes on.
func (m *Manager) Open(ctx context.Context, name string) (connector.Client, error) {
	in, err := m.Lookup(name)
	if err != nil {
		return nil, err
	}
	c, err := m.start(ctx, in)
	if err != nil {
		return nil, err
	}
	if _, ok := c.(*connector.Plugin); !ok {
		return c, nil
	}
	return &restarting{m: m, info: in, cur: c.(*connector.Plugin), spec: c.Spec()}, nil
}

// Spec starts connector name, asks its spec and stops it.
func (m *Manager) Spec(ctx context.Context, name string) (connector.Spec, Info, error) {
	in, err := m.Lookup(name)
	if err != nil {
		return connector.Spec{}, Info{}, err
	}
	c, err := m.start(ctx, in)
	if err != nil {
		return connector.Spec{}, in, err
	}
	defer c.Close()
	return c.Spec(), in, nil
}
