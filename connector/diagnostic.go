package connector

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Code classifies a problem so the host can react without parsing text: retry
// with back-off, ask for consent again, or dead-letter a record.
type Code string

// The diagnostic codes of the contract.
const (
	AuthFailed       Code = "AUTH_FAILED"       // credentials refused
	AuthExpired      Code = "AUTH_EXPIRED"      // token expired or revoked: consent again
	PermissionDenied Code = "PERMISSION_DENIED" // signed in, a permission is missing
	NotFound         Code = "NOT_FOUND"         // record, partition or entity does not exist
	InvalidInput     Code = "INVALID_INPUT"     // the same input fails the same way again
	Conflict         Code = "CONFLICT"          // lost a race or broke a uniqueness rule
	RateLimited      Code = "RATE_LIMITED"      // throttled: retry after RetryAfter
	Unavailable      Code = "UNAVAILABLE"       // temporary failure: retry with back-off
	Internal         Code = "INTERNAL"          // a bug or an unexpected answer
)

// Retryable reports whether a failure with this code may succeed when the
// same call is repeated later.
func (c Code) Retryable() bool { return c == RateLimited || c == Unavailable }

// Severity says whether a diagnostic stops the operation it belongs to.
type Severity string

// Severities.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Diagnostic is a problem reported by a connector. It is also an error, so a
// connector returns one where it would return any error, and the host finds it
// again with errors.As.
//
// Summary is one line a consultant can act on ("mailbox anna@contoso.com does
// not exist"); Detail adds the service's own code and message and what to do.
// Neither ever contains a secret or a token.
type Diagnostic struct {
	Severity Severity
	Code     Code
	Summary  string
	Detail   string
	// Field names the offending setting or record field, dotted with list
	// indexes ("attendees[0].emailAddress.address").
	Field string
	// RetryAfter is how long the service asked to wait, if it said.
	RetryAfter time.Duration
}

// Error renders the diagnostic on one line: code, field, summary and detail.
func (d *Diagnostic) Error() string {
	var b strings.Builder
	b.WriteString(string(d.Code))
	if d.Field != "" {
		b.WriteString(" ")
		b.WriteString(d.Field)
	}
	b.WriteString(": ")
	b.WriteString(d.Summary)
	if d.Detail != "" {
		b.WriteString(" (")
		b.WriteString(d.Detail)
		b.WriteString(")")
	}
	if d.RetryAfter > 0 {
		fmt.Fprintf(&b, " [retry after %s]", d.RetryAfter)
	}
	return b.String()
}

// Errorf returns an error diagnostic with the given code and a formatted
// summary.
func Errorf(code Code, format string, args ...any) *Diagnostic {
	return &Diagnostic{Severity: Error, Code: code, Summary: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an error diagnostic about one field.
func FieldErrorf(code Code, field, format string, args ...any) *Diagnostic {
	d := Errorf(code, format, args...)
	d.Field = field
	return d
}

// Warnf returns a warning diagnostic.
func Warnf(code Code, format string, args ...any) *Diagnostic {
	return &Diagnostic{Severity: Warning, Code: code, Summary: fmt.Sprintf(format, args...)}
}

// WithDetail returns a copy of d with Detail set.
func (d *Diagnostic) WithDetail(format string, args ...any) *Diagnostic {
	c := *d
	c.Detail = fmt.Sprintf(format, args...)
	return &c
}

// WithRetryAfter returns a copy of d with RetryAfter set.
func (d *Diagnostic) WithRetryAfter(after time.Duration) *Diagnostic {
	c := *d
	c.RetryAfter = after
	return &c
}

// Diagnostics is a list of diagnostics; as an error it stands for its errors.
type Diagnostics []*Diagnostic

// HasError reports whether any diagnostic has severity Error.
func (ds Diagnostics) HasError() bool {
	for _, d := range ds {
		if d.Severity != Warning {
			return true
		}
	}
	return false
}

// Err returns nil when no diagnostic is an error, and otherwise an error
// carrying all of them (errors.As finds each *Diagnostic).
func (ds Diagnostics) Err() error {
	if !ds.HasError() {
		return nil
	}
	return ds
}

// Error joins the diagnostics' messages with "; ".
func (ds Diagnostics) Error() string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap exposes each diagnostic to errors.Is and errors.As.
func (ds Diagnostics) Unwrap() []error {
	out := make([]error, len(ds))
	for i, d := range ds {
		out[i] = d
	}
	return out
}

// AsDiagnostics turns any error into diagnostics: diagnostics found inside it
// (through wrapping) are kept with their codes, anything else becomes one
// INTERNAL diagnostic with the error's text. A nil error gives nil.
func AsDiagnostics(err error) Diagnostics {
	if err == nil {
		return nil
	}
	var ds Diagnostics
	if errors.As(err, &ds) {
		return ds
	}
	var d *Diagnostic
	if errors.As(err, &d) {
		if d.Severity == "" {
			c := *d
			c.Severity = Error
			d = &c
		}
		// Keep the wrapping context ("writing batch 3: ...") in the detail.
		if msg := err.Error(); msg != d.Error() && d.Detail == "" {
			return Diagnostics{d.WithDetail("%s", msg)}
		}
		return Diagnostics{d}
	}
	if errors.Is(err, ErrUnimplemented) {
		return Diagnostics{Errorf(Internal, "%s", err.Error())}
	}
	return Diagnostics{{Severity: Error, Code: Internal, Summary: err.Error()}}
}

// CodeOf returns the code of the first diagnostic in err, or Internal when
// err carries none. It returns "" for a nil error.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var d *Diagnostic
	if errors.As(err, &d) {
		return d.Code
	}
	return Internal
}

// ErrUnimplemented is returned (wrapped) by a Client for an operation the
// connector does not offer; over gRPC it is the status Unimplemented.
var ErrUnimplemented = errors.New("not implemented by this connector")
