package transforms

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// FuzzCompileApply compiles arbitrary expressions against the event schema
// and applies those that compile to a sample event. Compile must return
// Errors or a mapping, Apply a result or a *FieldError: never a panic, and
// never an unbounded run.
func FuzzCompileApply(f *testing.F) {
	for _, s := range []string{
		"subject", "start.dateTime", "attendees[0].emailAddress.address", "attendees[-1]", `lookup("p", user)`,
		`tz(start.dateTime, start.timeZone, "UTC")`, `windowsZone("Europe/Berlin")`, "subject + 1", "1..1000000",
		"map(1..100000, # * 2)", "let x = subject; x + x", "organizer?.emailAddress?.address ?? id", `split(subject, " ")[9]`,
		"isCancelled ? 1 : 2", `{"a": [1, 2, {"b": subject}]}`, "__ctx", "$env.subject", `"\u00e9" matches "("`,
		"reduce(1..10, #acc + #)", "filter(attendees, .type == 'required')", "now().Year()", "date(subject)",
	} {
		f.Add(s, "start.timeZone")
	}
	f.Fuzz(func(t *testing.T, src, zone string) {
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				panic(fmt.Sprintf("still busy after 10s on %q / %q", src, zone))
			}
		}()
		spec := Spec{Filter: src, Fields: []FieldSpec{
			{Target: "Subject", Expr: src},
			{Target: "Start", Expr: src, TZ: &TZSpec{From: zone, To: "UTC"}},
			{Target: "Status", Expr: src, Map: map[string]any{"busy": "Busy"}, Default: "Free", HasDefault: true},
		}}
		for _, env := range []Env{{}, {Source: eventEntity, Target: meetingEntity, Limits: Limits{MemoryBudget: 10_000}}} {
			env.Lookup = func(context.Context, string, string) (string, bool, error) { return "x", true, nil }
			m, err := Compile(spec, env)
			if err != nil {
				var es Errors
				if !errors.As(err, &es) || len(es) == 0 {
					t.Fatalf("compile error %T is not Errors: %v", err, err)
				}
				continue
			}
			_, err = m.Apply(context.Background(), event())
			var fe *FieldError
			if err != nil && !errors.As(err, &fe) {
				t.Fatalf("apply error %T is not a FieldError: %v", err, err)
			}
		}
	})
}
