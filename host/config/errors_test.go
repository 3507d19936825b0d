package config

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

// base is a valid file; cases edit it with a single replacement so that the
// line and column of each error are easy to verify by eye.
const base = `connections:
  m365:
    connector: graph
    settings:
      tenant_id: contoso
      client_secret: ${env:GRAPH_SECRET}
  out:
    connector: jsonl
    settings: { dir: ./out }
pipelines:
  - name: events-to-crm
    from: { connection: m365, entity: event }
    to: { connection: out, entity: meetings }
    mode: one-way
    schedule: 5m
    on_delete: delete
    batch_size: 100
    filter: 'isCancelled == false'
    mapping:
      Subject: subject
      Start: { expr: start.dateTime, tz: { from: start.timeZone, to: Europe/Berlin } }
      Status: { expr: showAs, map: { busy: Busy, free: Free }, default: Busy }
      Owner: 'lookup("events-to-crm", user)'
      Account: { query: { connection: out, entity: accounts, match: { domain: 'organizer.emailAddress.address' } }, field: id }
`

func parseWith(t *testing.T, src string, env map[string]string) (*File, error) {
	t.Helper()
	if env == nil {
		env = map[string]string{"GRAPH_SECRET": "hunter2-secret"}
	}
	return Parse("p.yaml", []byte(src), Options{
		LookupEnv: envOf(env),
		ReadFile: func(p string) ([]byte, error) {
			if p == "secrets/token" {
				return []byte("file-secret-value\n"), nil
			}
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		},
	})
}

func TestBaseIsValid(t *testing.T) {
	if _, err := parseWith(t, base, nil); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new string
		want     []string
	}{
		{"misspelt top-level key", "pipelines:", "pipelnies:",
			[]string{`p.yaml:10:1: unknown key "pipelnies" in the top level (did you mean pipelines?)`}},
		{"misspelt pipeline key", "    from: {", "    form: {",
			[]string{`p.yaml:12:5: unknown key "form" in pipelines[0] (did you mean from?)`}},
		{"misspelt endpoint key", "entity: event", "entty: event",
			[]string{`p.yaml:12:31: unknown key "entty" in pipelines[0].from (did you mean entity?)`}},
		{"misspelt mapping option", "{ expr: showAs", "{ exrp: showAs",
			[]string{`p.yaml:22:17: unknown key "exrp" in pipelines[0].mapping.Status (did you mean expr?)`}},
		{"misspelt tz key", "tz: { from:", "tz: { form:",
			[]string{`p.yaml:21:44: unknown key "form" in pipelines[0].mapping.Start.tz (did you mean from?)`}},
		{"misspelt connection key", "    connector: jsonl", "    conector: jsonl",
			[]string{`p.yaml:8:5: unknown key "conector" in connections.out (did you mean connector?)`}},
		{"enum value", "mode: one-way", "mode: one-wya",
			[]string{`p.yaml:14:11: pipelines[0].mode: value must be one of 'one-way', 'two-way' (did you mean one-way?)`}},
		{"wrong type", "batch_size: 100", "batch_size: lots",
			[]string{`p.yaml:17:17: pipelines[0].batch_size: got string, want integer`}},
		{"out of range", "batch_size: 100", "batch_size: 0",
			[]string{`p.yaml:17:17: pipelines[0].batch_size: minimum: got 0, want 1`}},
		{"on_delete pattern", "on_delete: delete", "on_delete: mark",
			[]string{`p.yaml:16:16: pipelines[0].on_delete: '^(delete|ignore|mark:.+)$'`}},
		{"unknown connection", "{ connection: m365,", "{ connection: m356,",
			[]string{`p.yaml:12:25: no connection named "m356" (did you mean m365?)`}},
		{"unknown query connection", "query: { connection: out,", "query: { connection: ot,",
			[]string{`p.yaml:24:39: no connection named "ot" (did you mean out?)`}},
		{"bad schedule", "schedule: 5m", "schedule: 5 minutes",
			[]string{`p.yaml:15:15: schedule "5 minutes" is not a duration such as 5m, 1h30m or "@every 5m"`}},
		{"two-way without reverse mapping", "mode: one-way", "mode: two-way",
			[]string{`p.yaml:14:11: a two-way pipeline needs reverse_mapping: the mapping of the to → from direction, per event field`}},
		{"two-way key in one-way", "    schedule: 5m\n", "    schedule: 5m\n    conflict: manual\n",
			[]string{`p.yaml:16:5: conflict applies to two-way pipelines only; add mode: two-way or remove it`}},
		{"two-way bad conflict", "mode: one-way", "mode: two-way\n    conflict: newest-win\n    reverse_mapping: { subject: Subject }",
			[]string{`p.yaml:15:15: pipelines[0].conflict: value must be one of 'source-wins', 'target-wins', 'newest-wins', 'manual' (did you mean newest-wins?)`}},
		{"two-way reverse mapping error", "mode: one-way", "mode: two-way\n    reverse_mapping: { subject: 'Subject +' }",
			[]string{`p.yaml:15:42: reverse_mapping subject: unexpected token EOF in "Subject +"`}},
		{"mark without field", "on_delete: delete", "on_delete: 'mark:'",
			[]string{`p.yaml:16:16: pipelines[0].on_delete: '^(delete|ignore|mark:.+)$'`}},
		{"duplicate YAML key", "      Subject: subject\n", "      Subject: subject\n      Subject: body\n",
			[]string{`p.yaml:21:7: YAML syntax error: mapping key "Subject" already defined at [20:7]`}},
		{"field without query", "default: Busy }", "default: Busy, field: id }",
			[]string{`p.yaml:22:79: field belongs to a query step; this mapping has no query`}},
		{"expression syntax error", "Subject: subject", "Subject: subject +",
			[]string{`p.yaml:20:24: mapping Subject: unexpected token EOF in "subject +"`}},
		{"expression error in a quoted string", `'lookup("events-to-crm", user)'`, `'lookup("events-to-crm", user'`,
			[]string{`p.yaml:23:42: mapping Owner: unexpected token EOF in "lookup(\"events-to-crm\", user"`}},
		{"misspelt zone name", "to: Europe/Berlin", "to: Europe/Berln",
			[]string{`p.yaml:21:70: mapping Start: tz.to: unknown time zone "Europe/Berln" (did you mean Europe/Berlin?)`}},
		{"lookup of an unknown pipeline", `lookup("events-to-crm"`, `lookup("event-to-crm"`,
			[]string{`p.yaml:23:22: mapping Owner: lookup: no pipeline named "event-to-crm" (did you mean events-to-crm?)`}},
		{"filter error", "filter: 'isCancelled == false'", "filter: 'isCancelled =='",
			[]string{`p.yaml:18:27: filter: unexpected token EOF in "isCancelled =="`}},
		{"unknown secret source", "${env:GRAPH_SECRET}", "${evn:GRAPH_SECRET}",
			[]string{`p.yaml:6:22: connection m365: connections.m365.settings.client_secret: unknown secret source "evn" (did you mean env?)`}},
		{"missing secret file", "${env:GRAPH_SECRET}", "${file:secrets/missing}",
			[]string{`p.yaml:6:22: connection m365: connections.m365.settings.client_secret: secret file secrets/missing does not exist`}},
		{"unterminated reference", "${env:GRAPH_SECRET}", "${env:GRAPH_SECRET",
			[]string{`p.yaml:6:22: connection m365: unterminated ${ in connections.m365.settings.client_secret (write $${ for a literal ${)`}},
		{"YAML syntax error", "    mode: one-way", "    mode: [one-way",
			[]string{"p.yaml:15:5: YAML syntax error: ',' or ']' must be specified"}},
		{"not a mapping", base, "- just\n- a list\n",
			[]string{`p.yaml:1:1: the file must be a mapping with connections and pipelines`}},
		{"empty file", base, "# nothing\n",
			[]string{`p.yaml:1:1: the file is empty`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(base, tc.old) {
				t.Fatalf("test bug: %q not in base", tc.old)
			}
			src := strings.Replace(base, tc.old, tc.new, 1)
			_, err := parseWith(t, src, nil)
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("err = %v, want Errors", err)
			}
			if len(es) != len(tc.want) {
				t.Fatalf("got %d errors:\n%v\nwant %d:\n%s", len(es), err, len(tc.want), strings.Join(tc.want, "\n"))
			}
			for i, w := range tc.want {
				if got := es[i].Error(); got != w && !(strings.HasSuffix(w, "$'") && strings.HasPrefix(got, strings.TrimSuffix(w, "'^(delete|ignore|mark:.+)$'"))) {
					t.Errorf("error %d:\ngot  %s\nwant %s", i, got, w)
				}
			}
		})
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	// Every kind of failure in a file whose secrets resolve: none of the
	// messages may contain a secret value.
	secrets := map[string]string{"GRAPH_SECRET": "hunter2-secret", "DB_PASSWORD": "pg-pass-42"}
	src := strings.Replace(base, "connections:", "state: postgres://sync:${env:DB_PASSWORD}@db/sync\nconnections:", 1)
	src = strings.Replace(src, "dir: ./out", "dir: ./out, token: '${file:secrets/token}', bad: '${env:NOPE}', worse: '${file:nope}', odd: '${vault:x}'", 1)
	src = strings.Replace(src, "Subject: subject", "Subject: subject +", 1)
	src = strings.Replace(src, "connection: m365,", "connection: m356,", 1)
	_, err := parseWith(t, src, secrets)
	var es Errors
	if !errors.As(err, &es) || len(es) != 5 {
		t.Fatalf("want 5 errors, got %v", err)
	}
	msg := err.Error()
	for _, s := range []string{"hunter2-secret", "pg-pass-42", "file-secret-value"} {
		if strings.Contains(msg, s) {
			t.Errorf("error text contains the secret %q:\n%s", s, msg)
		}
	}
	if !strings.Contains(msg, "p.yaml:10:66: connection out: connections.out.settings.bad: environment variable NOPE is not set") {
		t.Errorf("missing env var not reported with its connection and position:\n%s", msg)
	}
}

func TestSecretsResolved(t *testing.T) {
	src := strings.Replace(base, "dir: ./out", "dir: ./out, token: '${file:secrets/token}', literal: 'a$${env:X}b', mixed: 'Bearer ${env:GRAPH_SECRET}'", 1)
	f, err := parseWith(t, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := f.Connection("out")
	want := `{"dir":"./out","literal":"a${env:X}b","mixed":"Bearer hunter2-secret","token":"file-secret-value"}`
	if string(c.Settings) != want {
		t.Errorf("Settings = %s\nwant       %s", c.Settings, want)
	}
	if strings.Join(c.Secrets, ",") != "/token,/mixed" {
		t.Errorf("Secrets = %v", c.Secrets)
	}
	if red := string(c.RedactedSettings()); strings.Contains(red, "hunter2") || strings.Contains(red, "file-secret") || !strings.Contains(red, `"./out"`) {
		t.Errorf("RedactedSettings = %s", red)
	}
}

func TestDuplicatePipeline(t *testing.T) {
	src := base + `  - name: events-to-crm
    from: { connection: m365, entity: event }
    to: { connection: out, entity: meetings }
    mapping: { Subject: subject }
`
	_, err := parseWith(t, src, nil)
	want := `p.yaml:25:11: pipeline "events-to-crm" is defined twice (first at p.yaml:11:11)`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestBadConnectionName(t *testing.T) {
	_, err := parseWith(t, strings.Replace(base, "  out:\n", "  out put:\n", 1), nil)
	if err == nil || !strings.Contains(err.Error(), `p.yaml:7:3: invalid name "out put" in connections: use letters`) {
		t.Errorf("err = %v", err)
	}
}

func TestAliasesAndBombs(t *testing.T) {
	// Anchors and aliases work for ordinary reuse.
	src := strings.Replace(base, "settings: { dir: ./out }", "settings: &out { dir: ./out }\n  out2:\n    connector: jsonl\n    settings: *out", 1)
	f, err := parseWith(t, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := f.Connection("out2"); !ok || string(c.Settings) != `{"dir":"./out"}` {
		t.Errorf("out2 = %+v", c)
	}
	// A billion-laughs document is refused, quickly, with a position.
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 12; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	_, err = parseWith(t, b.String(), nil)
	if err == nil || !strings.Contains(err.Error(), "expands to more than") || !strings.HasPrefix(err.Error(), "p.yaml:") {
		t.Errorf("alias bomb: %v", err)
	}
}
