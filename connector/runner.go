package connector

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin/runner"
)

// handshakeLine matches go-plugin's handshake line:
// CORE-VERSION|APP-VERSION|NETWORK|ADDRESS|PROTOCOL[|...].
var handshakeLine = regexp.MustCompile(`^\d+\|\d+\|(unix|tcp)\|[^|]+\|`)

// cmdRunner runs a plugin as a child process, like go-plugin's own runner,
// except that lines the plugin prints on stdout before the handshake line
// (a library printing from its init, a banner) are logged and skipped
// instead of failing the handshake.
type cmdRunner struct {
	cmd    *exec.Cmd
	stdout *skipToHandshake
	stderr io.ReadCloser
}

// newCmdRunner prepares cmd; noise receives each skipped stdout line.
func newCmdRunner(cmd *exec.Cmd, noise func(line string)) (*cmdRunner, error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	return &cmdRunner{cmd: cmd, stdout: &skipToHandshake{r: bufio.NewReader(out), c: out, noise: noise}, stderr: errPipe}, nil
}

func (r *cmdRunner) Start(context.Context) error { return r.cmd.Start() }

func (r *cmdRunner) Diagnose(context.Context) string { return "" }

func (r *cmdRunner) Stdout() io.ReadCloser { return r.stdout }

func (r *cmdRunner) Stderr() io.ReadCloser { return r.stderr }

func (r *cmdRunner) Name() string { return r.cmd.Path }

func (r *cmdRunner) Wait(context.Context) error { return r.cmd.Wait() }

func (r *cmdRunner) Kill(context.Context) error {
	if r.cmd.Process == nil {
		return nil
	}
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (r *cmdRunner) ID() string {
	if r.cmd.Process == nil {
		return ""
	}
	return strconv.Itoa(r.cmd.Process.Pid)
}

func (r *cmdRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *cmdRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

var _ runner.Runner = (*cmdRunner)(nil)

// runnerFunc adapts newCmdRunner to go-plugin's ClientConfig.RunnerFunc.
// go-plugin hands the runner a placeholder command carrying the handshake
// environment (magic cookie, protocol versions, certificate, socket
// directory); it is added to cmd's own environment.
func runnerFunc(cmd *exec.Cmd, noise func(string), made func(*cmdRunner)) func(hclog.Logger, *exec.Cmd, string) (runner.Runner, error) {
	return func(_ hclog.Logger, spec *exec.Cmd, _ string) (runner.Runner, error) {
		cmd.Env = append(cmd.Env, spec.Env...)
		r, err := newCmdRunner(cmd, noise)
		if err == nil {
			made(r)
		}
		return r, err
	}
}

// skipToHandshake passes a plugin's stdout through from the handshake line
// on, handing every earlier line to noise.
type skipToHandshake struct {
	r     *bufio.Reader
	c     io.Closer
	noise func(string)

	mu      sync.Mutex
	found   bool
	pending []byte
	first   string // the first skipped line, for errors
	skipped bool
}

func (s *skipToHandshake) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.found {
		line, err := s.r.ReadBytes('\n')
		if len(line) > 0 {
			trimmed := string(line[:len(line)-boolInt(line[len(line)-1] == '\n')])
			if handshakeLine.MatchString(trimmed) {
				s.found, s.pending = true, line
				break
			}
			if !s.skipped {
				s.first, s.skipped = trimmed, true
			}
			if s.noise != nil {
				s.noise(trimmed)
			}
		}
		if err != nil {
			return 0, err
		}
	}
	if len(s.pending) > 0 {
		n := copy(p, s.pending)
		s.pending = s.pending[n:]
		return n, nil
	}
	return s.r.Read(p)
}

func (s *skipToHandshake) Close() error { return s.c.Close() }

// firstSkipped returns the first line skipped before the handshake, if any.
func (s *skipToHandshake) firstSkipped() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first, s.skipped
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
