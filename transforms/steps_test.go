package transforms

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/syncplane/syncplane/connector"
)

func TestValueMaps(t *testing.T) {
	withDefault := FieldSpec{Target: "S", Expr: "v", Map: map[string]any{"busy": "Busy", "1": "One", "true": "Yes", "2.5": "TwoAndAHalf"}, Default: "Other", HasDefault: true}
	noDefault := FieldSpec{Target: "S", Expr: "v", Map: map[string]any{"busy": "Busy"}}
	for _, tc := range []struct {
		name    string
		spec    FieldSpec
		v       any
		want    any
		wantErr error
	}{
		{"mapped string", withDefault, "busy", "Busy", nil},
		{"mapped int", withDefault, int64(1), "One", nil},
		{"mapped bool", withDefault, true, "Yes", nil},
		{"mapped float", withDefault, 2.5, "TwoAndAHalf", nil},
		{"unmapped takes default", withDefault, "oof", "Other", nil},
		{"nil takes default", withDefault, nil, "Other", nil},
		{"map value nil stays nil without default", noDefault, nil, nil, nil},
		{"unmapped without default is an error", noDefault, "oof", nil, ErrUnmapped},
		{"map values are case-sensitive", noDefault, "Busy", nil, ErrUnmapped},
		{"default alone fills nil", FieldSpec{Target: "S", Expr: "v", Default: int64(7), HasDefault: true}, nil, int64(7), nil},
		{"constant default without expression", FieldSpec{Target: "S", Default: "fixed", HasDefault: true}, "ignored", "fixed", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Compile(Spec{Fields: []FieldSpec{tc.spec}}, Env{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := m.Apply(context.Background(), connector.Record{Fields: map[string]any{"v": tc.v}})
			if tc.wantErr != nil {
				var fe *FieldError
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &fe) || fe.Field != "S" {
					t.Fatalf("err = %v, want FieldError wrapping %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Record.Fields["S"]; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("S = %#v, want %#v", got, tc.want)
			}
		})
	}
}

type fakeQuery struct {
	calls []connector.QueryRequest
	conns []string
	recs  []connector.Record
	err   error
}

func (f *fakeQuery) query(_ context.Context, conn string, req connector.QueryRequest) ([]connector.Record, error) {
	f.calls = append(f.calls, req)
	f.conns = append(f.conns, conn)
	if f.err != nil {
		return nil, f.err
	}
	var out []connector.Record
	for _, r := range f.recs {
		ok := true
		for k, v := range req.Match {
			if r.Fields[k] != v {
				ok = false
			}
		}
		if ok {
			out = append(out, r)
		}
	}
	if req.Limit > 0 && len(out) > req.Limit {
		out = out[:req.Limit]
	}
	return out, nil
}

func TestQueryStep(t *testing.T) {
	fq := &fakeQuery{recs: []connector.Record{
		{ID: "acc-1", Fields: map[string]any{"domain": "contoso.com", "name": "Contoso", "owner": map[string]any{"id": "o-7"}}},
		{ID: "acc-2", Fields: map[string]any{"domain": "fabrikam.com", "name": "Fabrikam"}},
		{ID: "acc-3", Fields: map[string]any{"domain": "fabrikam.com", "name": "Fabrikam EU"}},
	}}
	spec := Spec{Fields: []FieldSpec{
		{Target: "Account", Query: &QuerySpec{Connection: "crm", Entity: "accounts", Field: "id",
			Match: map[string]string{"domain": `split(organizer.emailAddress.address, "@")[1]`}}, Default: "none", HasDefault: true, Pos: Position{Line: 12}},
		{Target: "AccountOwner", Query: &QuerySpec{Connection: "crm", Entity: "accounts", Field: "owner.id",
			Match: map[string]string{"domain": `split(organizer.emailAddress.address, "@")[1]`}}},
	}}
	m, err := Compile(spec, Env{Query: fq.query})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(addr any) connector.Record {
		return connector.Record{Fields: map[string]any{"organizer": map[string]any{"emailAddress": map[string]any{"address": addr}}}}
	}
	res, err := m.Apply(context.Background(), rec("adele@contoso.com"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Record.Fields["Account"] != "acc-1" || res.Record.Fields["AccountOwner"] != "o-7" {
		t.Errorf("fields = %v", res.Record.Fields)
	}
	if len(fq.calls) != 2 || fq.conns[0] != "crm" || fq.calls[0].Entity != "accounts" || fq.calls[0].Match["domain"] != "contoso.com" {
		t.Errorf("calls = %+v on %v", fq.calls, fq.conns)
	}

	// No match: nil, then the default.
	res, err = m.Apply(context.Background(), rec("x@unknown.example"))
	if err != nil || res.Record.Fields["Account"] != "none" || res.Record.Fields["AccountOwner"] != nil {
		t.Errorf("no match: %v, %v", res.Record.Fields, err)
	}

	// A match expression that fails is a field error; nothing is asked.
	before := len(fq.calls)
	_, err = m.Apply(context.Background(), connector.Record{Fields: map[string]any{}})
	if fe := (*FieldError)(nil); !errors.As(err, &fe) || fe.Field != "Account" || len(fq.calls) != before {
		t.Errorf("failing match expression: %v (%d calls)", err, len(fq.calls)-before)
	}

	// Two matches: ambiguous, a field error naming the field.
	_, err = m.Apply(context.Background(), rec("a@fabrikam.com"))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "Account" || fe.Pos.Line != 12 || !strings.Contains(err.Error(), "more than one record") {
		t.Errorf("ambiguous: %v", err)
	}

	// The connection fails: a field error wrapping the cause.
	cause := errors.New("connection refused")
	fq.err = cause
	_, err = m.Apply(context.Background(), rec("adele@contoso.com"))
	if !errors.As(err, &fe) || !errors.Is(err, cause) {
		t.Errorf("query failure: %v", err)
	}
}

func TestQueryStepWithoutQuerier(t *testing.T) {
	m, err := Compile(Spec{Fields: []FieldSpec{{Target: "A", Query: &QuerySpec{Connection: "c", Entity: "e", Field: "id", Match: map[string]string{"k": "v"}}}}}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Apply(context.Background(), connector.Record{Fields: map[string]any{"v": "x"}})
	var fe *FieldError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "no connection to query") {
		t.Errorf("err = %v", err)
	}
}

func TestLookup(t *testing.T) {
	var asked []string
	idmap := map[string]string{"users-to-crm/adele@contoso.com": "crm-user-1"}
	failing := errors.New("database is locked")
	env := Env{Lookup: func(ctx context.Context, pipeline, id string) (string, bool, error) {
		if ctx.Value(ctxKey{}) != "marker" {
			t.Errorf("lookup did not get the Apply context")
		}
		asked = append(asked, pipeline+"/"+id)
		if id == "boom" {
			return "", false, failing
		}
		v, ok := idmap[pipeline+"/"+id]
		return v, ok, nil
	}}
	m, err := Compile(Spec{Fields: []FieldSpec{
		{Target: "Owner", Expr: `lookup("users-to-crm", organizer)`},
		{Target: "Fallback", Expr: `lookup("users-to-crm", organizer) ?? "unassigned"`},
	}}, env)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), ctxKey{}, "marker")
	for _, tc := range []struct {
		organizer      any
		owner, fallbck any
		err            error
	}{
		{"adele@contoso.com", "crm-user-1", "crm-user-1", nil},
		{"megan@contoso.com", nil, "unassigned", nil},
		{nil, nil, "unassigned", nil},
		{"boom", nil, nil, failing},
	} {
		res, err := m.Apply(ctx, connector.Record{Fields: map[string]any{"organizer": tc.organizer}})
		if tc.err != nil {
			var fe *FieldError
			if !errors.Is(err, tc.err) || !errors.As(err, &fe) || fe.Field != "Owner" {
				t.Errorf("organizer %v: err = %v, want FieldError wrapping %v", tc.organizer, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("organizer %v: %v", tc.organizer, err)
		}
		if res.Record.Fields["Owner"] != tc.owner || res.Record.Fields["Fallback"] != tc.fallbck {
			t.Errorf("organizer %v: %v", tc.organizer, res.Record.Fields)
		}
	}
	if len(asked) == 0 || asked[0] != "users-to-crm/adele@contoso.com" {
		t.Errorf("asked = %v", asked)
	}
}

type ctxKey struct{}

func TestLimits(t *testing.T) {
	// Node budget: caught at compile time.
	long := "v" + strings.Repeat(" + v", 40)
	_, err := Compile(Spec{Fields: []FieldSpec{{Target: "X", Expr: long}}}, Env{Limits: Limits{MaxNodes: 20}})
	if err == nil || !strings.Contains(err.Error(), "exceeds maximum allowed nodes") {
		t.Errorf("node budget: err = %v", err)
	}
	if _, err := Compile(Spec{Fields: []FieldSpec{{Target: "X", Expr: long}}}, Env{}); err != nil {
		t.Errorf("default node budget refused an 81-node expression: %v", err)
	}

	// Memory budget: caught at run time, as a field error.
	m, err := Compile(Spec{Fields: []FieldSpec{{Target: "X", Expr: "len(map(1..n, {# * 2}))"}}}, Env{Limits: Limits{MemoryBudget: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := m.Apply(context.Background(), connector.Record{Fields: map[string]any{"n": int64(100)}}); err != nil || res.Record.Fields["X"] != int64(100) {
		t.Errorf("small: %v, %v", res.Record.Fields, err)
	}
	_, err = m.Apply(context.Background(), connector.Record{Fields: map[string]any{"n": int64(1_000_000)}})
	var fe *FieldError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "memory budget exceeded") {
		t.Errorf("over budget: err = %v", err)
	}
	// The pooled VM is usable again after a failure.
	if res, err := m.Apply(context.Background(), connector.Record{Fields: map[string]any{"n": int64(3)}}); err != nil || res.Record.Fields["X"] != int64(3) {
		t.Errorf("after failure: %v, %v", res.Record.Fields, err)
	}
}

func TestRunTimeErrorsNeverPanic(t *testing.T) {
	exprs := []string{
		"v.x.y", "v[0]", "v[-1]", "1 / v", "v / 0", "int(v)", "v.dateTime + 1", "upper(v)", "v matches '('",
		"split(v, ',')[5]", "date(v)", "now() - v", "v in v", "first(v).a", `fromJSON(v)`, "toJSON(v)", "-v",
	}
	values := []any{nil, "x", int64(0), int64(-3), 3.5, true, []any{}, []any{nil}, map[string]any{}, map[string]any{"x": nil}, []byte{1}}
	for _, e := range exprs {
		m, err := Compile(Spec{Fields: []FieldSpec{{Target: "X", Expr: e}}}, Env{})
		if err != nil {
			continue // refused at compile time is fine too
		}
		for _, v := range values {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s with %#v panicked: %v", e, v, r)
					}
				}()
				_, err := m.Apply(context.Background(), connector.Record{Fields: map[string]any{"v": v}})
				var fe *FieldError
				if err != nil && !errors.As(err, &fe) {
					t.Errorf("%s with %#v: error %T is not a FieldError", e, v, err)
				}
			}()
		}
	}
}

func TestApplyDoesNotModifySource(t *testing.T) {
	m, err := Compile(Spec{Fields: []FieldSpec{{Target: "A", Expr: "a"}, {Target: "n.b", Expr: "b"}}}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	src := connector.Record{ID: "1", Fields: map[string]any{"a": "x", "b": int64(2)}}
	before := src.Clone()
	if _, err := m.Apply(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(src, before) {
		t.Errorf("source changed: %+v", src)
	}
}

func TestQueryNilKeyIsNoMatch(t *testing.T) {
	fq := &fakeQuery{}
	m, err := Compile(Spec{Fields: []FieldSpec{{Target: "A", Query: &QuerySpec{Connection: "c", Entity: "e", Field: "id", Match: map[string]string{"email": "organizer.emailAddress.address"}}}}}, Env{Query: fq.query})
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Apply(context.Background(), connector.Record{Fields: map[string]any{}})
	if err != nil || res.Record.Fields["A"] != nil || len(fq.calls) != 0 {
		t.Errorf("nil key: %v, %v, %d calls", res.Record.Fields, err, len(fq.calls))
	}
}

func TestFieldsNamedLikeBuiltins(t *testing.T) {
	m, err := Compile(Spec{Filter: `type != "occurrence"`, Fields: []FieldSpec{
		{Target: "T", Expr: "type"}, {Target: "N", Expr: "len(values)"}, {Target: "U", Expr: "upper(type)"},
	}}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Apply(context.Background(), connector.Record{Fields: map[string]any{"type": "singleInstance", "values": []any{1, 2}}})
	if err != nil || res.Skipped || res.Record.Fields["T"] != "singleInstance" || res.Record.Fields["N"] != int64(2) || res.Record.Fields["U"] != "SINGLEINSTANCE" {
		t.Errorf("%+v, %v", res, err)
	}
	res, err = m.Apply(context.Background(), connector.Record{Fields: map[string]any{"type": "occurrence"}})
	if err != nil || !res.Skipped {
		t.Errorf("occurrence not filtered: %+v, %v", res, err)
	}
}

func TestWholeEnvironment(t *testing.T) {
	m, err := Compile(Spec{Fields: []FieldSpec{{Target: "K", Expr: `sort(filter(keys($env), # != "__ctx"))`}, {Target: "S", Expr: `$env["sub" + "ject"]`}}}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Apply(context.Background(), connector.Record{ID: "1", Partition: "p", Fields: map[string]any{"subject": "x", "b": true}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Record.Fields["K"], []any{"b", "id", "subject", "user"}) || res.Record.Fields["S"] != "x" {
		t.Errorf("fields = %#v", res.Record.Fields)
	}
}

func TestCombinedRunMatchesFieldByField(t *testing.T) {
	spec := Spec{Fields: []FieldSpec{
		{Target: "A", Expr: "subject // a comment"},
		{Target: "B", Expr: "attendees[0].emailAddress.address"},
		{Target: "C", Expr: "let x = showAs; upper(x)"}, // not combinable: runs alone
		{Target: "D", Expr: "showAs", Map: map[string]any{"busy": "Busy"}},
		{Target: "E", Expr: `start.dateTime`, TZ: &TZSpec{From: "start.timeZone", To: "UTC"}},
	}}
	m, err := Compile(spec, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if m.combined == nil || len(m.combinedIdx) != 5 {
		t.Fatalf("combined = %v, slots %v; want 4 fields and 1 zone combined", m.combined != nil, m.combinedIdx)
	}
	combined, err := m.Apply(context.Background(), event())
	if err != nil {
		t.Fatal(err)
	}
	m.combined = nil // field by field
	single, err := m.Apply(context.Background(), event())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(combined, single) || combined.Record.Fields["C"] != "BUSY" || combined.Record.Fields["A"] != "Quarterly review" {
		t.Errorf("combined %v\nsingle   %v", combined.Record.Fields, single.Record.Fields)
	}
}

func TestApplyConcurrently(t *testing.T) {
	m, err := Compile(benchSpec(), Env{Lookup: benchLookup})
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Apply(context.Background(), benchEvent())
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 200; i++ {
				got, err := m.Apply(context.Background(), benchEvent())
				if err == nil && !reflect.DeepEqual(got, want) {
					err = errors.New("results differ between goroutines")
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
