package connector

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// levelTrace is hclog's trace level in slog terms.
const levelTrace = slog.LevelDebug - 4

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func hclogLevel(l slog.Level) hclog.Level {
	switch {
	case l < slog.LevelDebug:
		return hclog.Trace
	case l < slog.LevelInfo:
		return hclog.Debug
	case l < slog.LevelWarn:
		return hclog.Info
	case l < slog.LevelError:
		return hclog.Warn
	}
	return hclog.Error
}

// hostLogger is the hclog.Logger go-plugin writes to on the host side. It
// forwards to slog. Lines the plugin logged reach it through a Named child
// and keep their level; go-plugin's own messages (the root logger) are
// demoted to debug, errors to warnings, so a host at info level shows only
// what the connector said.
type hostLogger struct {
	l        *slog.Logger
	name     string
	internal bool
	implied  []any
}

func newHostLogger(l *slog.Logger) *hostLogger { return &hostLogger{l: l, internal: true} }

func (h *hostLogger) Log(level hclog.Level, msg string, args ...any) {
	lv := slogLevel(level)
	if h.internal {
		if lv >= slog.LevelError {
			lv = slog.LevelWarn
		} else {
			lv = slog.LevelDebug
		}
	}
	ctx := context.Background()
	if !h.l.Enabled(ctx, lv) {
		return
	}
	// go-plugin appends the plugin's own timestamp; the host stamps the
	// record itself.
	attrs := make([]any, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		if k, _ := args[i].(string); k == "timestamp" {
			continue
		}
		attrs = append(attrs, args[i], args[i+1])
	}
	h.l.Log(ctx, lv, msg, attrs...)
}

func (h *hostLogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hostLogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hostLogger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hostLogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hostLogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hostLogger) enabled(l hclog.Level) bool {
	return h.l.Enabled(context.Background(), slogLevel(l))
}

func (h *hostLogger) IsTrace() bool        { return h.enabled(hclog.Trace) }
func (h *hostLogger) IsDebug() bool        { return h.enabled(hclog.Debug) }
func (h *hostLogger) IsInfo() bool         { return h.enabled(hclog.Info) }
func (h *hostLogger) IsWarn() bool         { return h.enabled(hclog.Warn) }
func (h *hostLogger) IsError() bool        { return h.enabled(hclog.Error) }
func (h *hostLogger) ImpliedArgs() []any   { return h.implied }
func (h *hostLogger) Name() string         { return h.name }
func (h *hostLogger) SetLevel(hclog.Level) {}

func (h *hostLogger) With(args ...any) hclog.Logger {
	c := *h
	c.l = h.l.With(args...)
	c.implied = append(append([]any(nil), h.implied...), args...)
	return &c
}

// Named returns the logger go-plugin uses for the plugin's stderr lines.
func (h *hostLogger) Named(name string) hclog.Logger {
	c := *h
	c.internal = false
	c.name = name
	return &c
}

func (h *hostLogger) ResetNamed(name string) hclog.Logger { return h.Named(name) }

func (h *hostLogger) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn} {
		if h.enabled(l) {
			return l
		}
	}
	return hclog.Error
}

func (h *hostLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *hostLogger) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return &lineLogger{log: func(line string) { h.Info(line) }}
}

// lineLogger calls log once per complete line written to it.
type lineLogger struct {
	mu  sync.Mutex
	buf []byte
	log func(line string)
}

func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(w.buf[:i]), "\r")
		w.buf = w.buf[i+1:]
		if line != "" {
			w.log(line)
		}
	}
	if len(w.buf) > 64<<10 { // a runaway line without newline
		w.log(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

// hclogHandler is the slog.Handler of a plugin process: it writes each
// record through hclog's JSON format to the real stderr, which go-plugin on
// the host side parses into a structured record with its level.
type hclogHandler struct {
	l      hclog.Logger
	attrs  []any
	prefix string // group prefix, dotted
	min    slog.Level
}

func (h *hclogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.min }

func (h *hclogHandler) Handle(_ context.Context, r slog.Record) error {
	args := append([]any(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		args = appendAttr(args, h.prefix, a)
		return true
	})
	h.l.Log(hclogLevel(r.Level), r.Message, args...)
	return nil
}

func appendAttr(args []any, prefix string, a slog.Attr) []any {
	a.Value = a.Value.Resolve()
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p = prefix + a.Key + "."
		}
		for _, g := range a.Value.Group() {
			args = appendAttr(args, p, g)
		}
		return args
	}
	if a.Key == "" {
		return args
	}
	return append(args, prefix+a.Key, a.Value.Any())
}

func (h *hclogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]any(nil), h.attrs...)
	for _, a := range attrs {
		c.attrs = appendAttr(c.attrs, h.prefix, a)
	}
	return &c
}

func (h *hclogHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.prefix = h.prefix + name + "."
	return &c
}
