package config

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/syncplane/syncplane/schema"
)

type fakeSource struct {
	settings map[string]string         // connector → settings schema
	schemas  map[string]*schema.Schema // connection → schema
	asked    map[string]int
}

func (f *fakeSource) SettingsSchema(_ context.Context, c string) (json.RawMessage, error) {
	s, ok := f.settings[c]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownConnector, c)
	}
	return json.RawMessage(s), nil
}

func (f *fakeSource) Schema(_ context.Context, conn string) (*schema.Schema, error) {
	if f.asked == nil {
		f.asked = map[string]int{}
	}
	f.asked[conn]++
	s, ok := f.schemas[conn]
	if !ok {
		return nil, fmt.Errorf("connection %s is unreachable", conn)
	}
	return s, nil
}

func (f *fakeSource) Connectors() []string { return []string{"graph", "jsonl", "zoho"} }

func st() schema.Type { return schema.Type{Kind: schema.String} }

var (
	email = schema.Type{Kind: schema.Complex, Fields: []schema.Field{{Name: "address", Type: st()}, {Name: "name", Type: st()}}}
	event = schema.Entity{Name: "event", Keys: []string{"id"}, Capabilities: schema.Capabilities{Readable: true, Changes: true},
		Fields: []schema.Field{
			{Name: "id", Type: st()}, {Name: "subject", Type: st()}, {Name: "isCancelled", Type: schema.Type{Kind: schema.Bool}},
			{Name: "showAs", Type: st()}, {Name: "user", Type: st()},
			{Name: "start", Type: schema.Type{Kind: schema.Complex, Fields: []schema.Field{{Name: "dateTime", Type: st()}, {Name: "timeZone", Type: st()}}}},
			{Name: "organizer", Type: schema.Type{Kind: schema.Complex, Fields: []schema.Field{{Name: "emailAddress", Type: email}}}},
		}}
	meetings = schema.Entity{Name: "meetings", Keys: []string{"id"}, Capabilities: schema.Capabilities{Writable: true, Deletable: true, Queryable: true},
		Fields: []schema.Field{
			{Name: "id", Type: st(), ReadOnly: true}, {Name: "Subject", Type: st(), Required: true}, {Name: "Start", Type: schema.Type{Kind: schema.Timestamp}},
			{Name: "Status", Type: st()}, {Name: "Owner", Type: st()}, {Name: "Account", Type: st()}, {Name: "Removed", Type: schema.Type{Kind: schema.Bool}},
		}}
	accounts = schema.Entity{Name: "accounts", Keys: []string{"id"}, Capabilities: schema.Capabilities{Readable: true, Queryable: true},
		Fields: []schema.Field{{Name: "id", Type: st()}, {Name: "domain", Type: st()}, {Name: "name", Type: st()}}}
)

func newFakeSource() *fakeSource {
	return &fakeSource{
		settings: map[string]string{
			"graph": `{"type":"object","additionalProperties":false,"required":["tenant_id"],
				"properties":{"tenant_id":{"type":"string"},"client_secret":{"type":"string","minLength":40,"pattern":"^[A-Z]+$"},"mode":{"enum":["app","delegated"]}}}`,
			"jsonl": `{"type":"object","additionalProperties":false,"properties":{"dir":{"type":"string"},"pretty":{"type":"boolean"}}}`,
		},
		schemas: map[string]*schema.Schema{
			"m365": {Entities: []schema.Entity{event}},
			"out":  {Entities: []schema.Entity{meetings, accounts}},
		},
	}
}

func TestValidateBaseAgainstConnectors(t *testing.T) {
	src := strings.Replace(base, "client_secret: ${env:GRAPH_SECRET}", "mode: app", 1)
	f, err := parseWith(t, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	fs := newFakeSource()
	if errs := f.Validate(context.Background(), fs); len(errs) != 0 {
		t.Fatalf("Validate:\n%v", errs)
	}
	if fs.asked["m365"] != 1 || fs.asked["out"] != 1 {
		t.Errorf("schemas asked %v, want once per connection", fs.asked)
	}
}

func TestValidateErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new string
		want     []string
	}{
		{"unknown connector", "connector: jsonl", "connector: jsnol",
			[]string{`p.yaml:8:16: connection out: no connector named "jsnol" (did you mean jsonl?)`}},
		{"misspelt setting", "settings: { dir: ./out }", "settings: { dri: ./out }",
			[]string{`p.yaml:9:17: unknown key "dri" in connections.out.settings (did you mean dir?)`}},
		{"setting of the wrong type", "settings: { dir: ./out }", "settings: { dir: ./out, pretty: yes please }",
			[]string{`p.yaml:9:37: connections.out.settings.pretty: got string, want boolean`}},
		{"missing required setting", "      tenant_id: contoso\n", "",
			[]string{`p.yaml:5:7: connections.m365.settings: missing required key "tenant_id"`}},
		{"misspelt entity", "entity: event }", "entity: evnet }",
			[]string{`p.yaml:12:39: connection m365 has no entity "evnet" (did you mean event?)`}},
		{"misspelt source field", "Subject: subject", "Subject: subjcet",
			[]string{`p.yaml:20:16: mapping Subject: source event has no field "subjcet" (did you mean subject?)`}},
		{"misspelt nested source field", "expr: start.dateTime,", "expr: start.datetime,",
			[]string{`p.yaml:21:28: mapping Start: start has no field "datetime" (did you mean dateTime?)`}},
		{"misspelt target field", "      Status: {", "      Stauts: {",
			[]string{`p.yaml:22:7: mapping Stauts: target meetings has no field "Stauts" (did you mean Status?)`}},
		{"misspelt filter field", "filter: 'isCancelled == false'", "filter: 'isCanceled == false'",
			[]string{`p.yaml:18:14: filter: source event has no field "isCanceled" (did you mean isCancelled?)`}},
		{"misspelt field in a tz expression", "from: start.timeZone", "from: start.timezone",
			[]string{`p.yaml:21:56: mapping Start: start has no field "timezone" (did you mean timeZone?)`}},
		{"misspelt field in a query match", "'organizer.emailAddress.address' }", "'organizer.emailAdress.address' }",
			[]string{`p.yaml:24:90: mapping Account: organizer has no field "emailAdress" (did you mean emailAddress?)`}},
		{"misspelt query entity", "entity: accounts,", "entity: acounts,",
			[]string{`p.yaml:24:7: query: connection out has no entity "acounts" (did you mean accounts?)`}},
		{"misspelt query match field", "match: { domain:", "match: { domian:",
			[]string{`p.yaml:24:7: mapping Account: query match: entity accounts has no field "domian" (did you mean domain?)`}},
		{"misspelt query result field", "field: id }", "field: nme }",
			[]string{`p.yaml:24:7: mapping Account: query result field: no field "nme" in accounts (did you mean name?)`}},
		{"mark field", "on_delete: delete", "on_delete: mark:Remvoed",
			[]string{`p.yaml:16:16: on_delete: target meetings has no field "Remvoed" (did you mean Removed?)`}},
		{"read-only target", "      Subject: subject", "      id: subject\n      Subject: subject",
			[]string{`p.yaml:20:7: mapping id: target field is read-only`}},
		{"required target field not mapped", "      Subject: subject\n", "",
			[]string{`p.yaml:19:5: mapping: target meetings requires field Subject on create, and the mapping does not set it`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(base, "client_secret: ${env:GRAPH_SECRET}", "mode: app", 1)
			if !strings.Contains(src, tc.old) {
				t.Fatalf("test bug: %q not in base", tc.old)
			}
			src = strings.Replace(src, tc.old, tc.new, 1)
			f, err := parseWith(t, src, nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			errs := f.Validate(context.Background(), newFakeSource())
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors:\n%v\nwant:\n%s", len(errs), errs, strings.Join(tc.want, "\n"))
			}
			for i, w := range tc.want {
				if got := errs[i].Error(); got != w {
					t.Errorf("error %d:\ngot  %s\nwant %s", i, got, w)
				}
			}
		})
	}
}

func TestValidateNeverShowsSecretSettings(t *testing.T) {
	// The secret violates minLength and pattern; enum on a secret too.
	src := strings.Replace(base, "client_secret: ${env:GRAPH_SECRET}", "client_secret: ${env:GRAPH_SECRET}\n      mode: ${env:MODE}", 1)
	f, err := parseWith(t, src, map[string]string{"GRAPH_SECRET": "hunter2-secret", "MODE": "sekrit-mode"})
	if err != nil {
		t.Fatal(err)
	}
	errs := f.Validate(context.Background(), newFakeSource())
	if len(errs) != 3 {
		t.Fatalf("want 3 errors, got:\n%v", errs)
	}
	msg := errs.Error()
	if strings.Contains(msg, "hunter2") || strings.Contains(msg, "sekrit") {
		t.Errorf("secret shown:\n%s", msg)
	}
	for _, want := range []string{
		`p.yaml:6:22: connections.m365.settings.client_secret: the secret value does not satisfy "minLength" (value not shown)`,
		`p.yaml:6:22: connections.m365.settings.client_secret: the secret value does not satisfy "pattern" (value not shown)`,
		`p.yaml:7:13: connections.m365.settings.mode: the secret value is not one of the allowed values (value not shown)`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

func TestValidateUnreachableConnection(t *testing.T) {
	src := strings.Replace(base, "client_secret: ${env:GRAPH_SECRET}", "mode: app", 1)
	f, err := parseWith(t, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	fs := newFakeSource()
	delete(fs.schemas, "m365")
	errs := f.Validate(context.Background(), fs)
	if len(errs) != 1 || errs[0].Error() != `p.yaml:12:25: cannot discover the schema of connection m365: connection m365 is unreachable` {
		t.Errorf("got:\n%v", errs)
	}
}

type secretSource struct{ *fakeSource }

func (secretSource) SecretSettings(_ context.Context, connector string) []string {
	if connector == "jsonl" {
		return []string{"/dir"}
	}
	return nil
}

func TestValidateNeverShowsInlineSecrets(t *testing.T) {
	// Written inline (not from ${env:}): still never shown, because the
	// schema marks it writeOnly or the connector names it secret.
	fs := newFakeSource()
	fs.settings["graph"] = `{"type":"object","properties":{"tenant_id":{"type":"string"},"client_secret":{"type":"string","writeOnly":true,"pattern":"^[0-9]+$"}}}`
	fs.settings["jsonl"] = `{"type":"object","properties":{"dir":{"type":"string","pattern":"^/"}}}`
	src := strings.Replace(base, "client_secret: ${env:GRAPH_SECRET}", "client_secret: inline-hunter2", 1)
	src = strings.Replace(src, "dir: ./out", "dir: ./inline-dir-secret", 1)
	f, err := parseWith(t, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	errs := f.Validate(context.Background(), secretSource{fs})
	if len(errs) != 2 {
		t.Fatalf("want 2 errors, got:\n%v", errs)
	}
	if msg := errs.Error(); strings.Contains(msg, "hunter2") || strings.Contains(msg, "inline-dir-secret") || !strings.Contains(msg, "value not shown") {
		t.Errorf("secret shown or not reported:\n%s", msg)
	}
	// Without the connector's word, a plain setting's value may be shown.
	errs = f.Validate(context.Background(), fs)
	if msg := errs.Error(); strings.Contains(msg, "hunter2") || !strings.Contains(msg, "inline-dir-secret") {
		t.Errorf("writeOnly secret shown, or plain setting hidden:\n%s", msg)
	}
}

type echoingSource struct{ *fakeSource }

func (echoingSource) Schema(_ context.Context, conn string) (*schema.Schema, error) {
	return nil, fmt.Errorf("sign-in refused for secret hunter2-secret on %s", conn)
}

func TestValidateScrubsSecretsFromConnectorErrors(t *testing.T) {
	f, err := parseWith(t, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	fs := newFakeSource()
	fs.settings["graph"] = `{"type":"object"}`
	errs := f.Validate(context.Background(), echoingSource{fs})
	if len(errs) == 0 || strings.Contains(errs.Error(), "hunter2") || !strings.Contains(errs.Error(), "sign-in refused for secret [redacted]") {
		t.Errorf("got:\n%v", errs)
	}
}
