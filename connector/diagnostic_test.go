package connector

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestAsDiagnosticsKeepsCodesThroughWrapping(t *testing.T) {
	d := FieldErrorf(InvalidInput, "attendees[0].emailAddress.address", "mailbox %s does not exist", "x@contoso.com")
	wrapped := fmt.Errorf("writing batch 3: %w", d)
	ds := AsDiagnostics(wrapped)
	if len(ds) != 1 || ds[0].Code != InvalidInput || ds[0].Field != "attendees[0].emailAddress.address" {
		t.Fatalf("AsDiagnostics(wrapped) = %#v", ds)
	}
	if !strings.Contains(ds[0].Detail, "writing batch 3") {
		t.Errorf("wrapping context lost: detail %q", ds[0].Detail)
	}
	if CodeOf(wrapped) != InvalidInput {
		t.Errorf("CodeOf = %s", CodeOf(wrapped))
	}

	plain := AsDiagnostics(errors.New("boom"))
	if len(plain) != 1 || plain[0].Code != Internal || plain[0].Summary != "boom" || plain[0].Severity != Error {
		t.Errorf("AsDiagnostics(plain) = %#v", plain)
	}
	if AsDiagnostics(nil) != nil || CodeOf(nil) != "" {
		t.Error("nil error must give no diagnostics and no code")
	}
}

func TestDiagnosticsErrOnlyForErrors(t *testing.T) {
	warn := Diagnostics{Warnf(NotFound, "user without mailbox skipped")}
	if warn.Err() != nil {
		t.Errorf("warnings alone must not be an error, got %v", warn.Err())
	}
	mixed := append(warn, Errorf(RateLimited, "throttled").WithRetryAfter(3*time.Second))
	err := mixed.Err()
	if err == nil {
		t.Fatal("an error diagnostic must make Err non-nil")
	}
	var d *Diagnostic
	if !errors.As(err, &d) {
		t.Fatal("errors.As must find a *Diagnostic in Diagnostics")
	}
	if !strings.Contains(err.Error(), "retry after 3s") || !strings.Contains(err.Error(), "RATE_LIMITED") {
		t.Errorf("message %q lacks code or retry-after", err)
	}
	if !RateLimited.Retryable() || InvalidInput.Retryable() {
		t.Error("Retryable: RATE_LIMITED must be retryable, INVALID_INPUT must not")
	}
}

func TestNormalizeValue(t *testing.T) {
	ts := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	in := map[string]any{
		"i": 3, "u8": uint8(4), "f": float32(1.5), "s": "x", "t": ts, "tp": &ts,
		"list":   []any{1, "a", []string{"b"}},
		"nested": map[string]any{"n": int32(7), "d": Date{2026, 11, 23}},
	}
	r := Record{ID: "r1", Fields: in}
	if err := r.Normalize(); err != nil {
		t.Fatal(err)
	}
	if r.Fields["i"] != int64(3) || r.Fields["u8"] != int64(4) || r.Fields["f"] != float64(1.5) || r.Fields["tp"] != ts {
		t.Errorf("scalars not normalized: %#v", r.Fields)
	}
	list := r.Fields["list"].([]any)
	if list[0] != int64(1) || list[2].([]any)[0] != "b" {
		t.Errorf("list not normalized: %#v", list)
	}
	if r.Fields["nested"].(map[string]any)["n"] != int64(7) {
		t.Errorf("nested not normalized: %#v", r.Fields["nested"])
	}

	bad := Record{ID: "r2", Fields: map[string]any{"ok": 1, "ch": make(chan int)}}
	err := bad.Normalize()
	if err == nil || !strings.Contains(err.Error(), `record "r2" field ch`) || !strings.Contains(err.Error(), "chan int") {
		t.Errorf("Normalize error = %v, want it to name record, field and type", err)
	}
	if _, err := NormalizeValue(uint64(1) << 63); err == nil {
		t.Error("uint64 overflow must be an error")
	}
}

func TestCloneIsDeep(t *testing.T) {
	r := Record{ID: "a", Fields: map[string]any{"m": map[string]any{"x": []any{"y"}}, "b": []byte("z")}}
	c := r.Clone()
	c.Fields["m"].(map[string]any)["x"].([]any)[0] = "changed"
	c.Fields["b"].([]byte)[0] = 'Q'
	if r.Fields["m"].(map[string]any)["x"].([]any)[0] != "y" || string(r.Fields["b"].([]byte)) != "z" {
		t.Error("Clone shares memory with the original")
	}
}

func TestDateParsing(t *testing.T) {
	d, err := ParseDate("2026-02-28")
	if err != nil || d.String() != "2026-02-28" {
		t.Errorf("ParseDate = %v, %v", d, err)
	}
	if _, err := ParseDate("28.02.2026"); err == nil || !strings.Contains(err.Error(), "YYYY-MM-DD") {
		t.Errorf("bad date error = %v", err)
	}
}
