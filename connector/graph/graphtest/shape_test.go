package graphtest_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

// examplesDir finds ../shared/reference/graph-examples next to the
// repository root, or skips the test.
func examplesDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	dir := filepath.Join(root, "..", "shared", "reference", "graph-examples")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("the Graph example bodies are not available (%s): %v", dir, err)
	}
	return dir
}

func loadExample(t *testing.T, dir, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	delete(m, "_note")
	return m
}

// sameKeys reports every key of the example (recursively; the first
// element stands for an array) missing from ours. skip lists paths the
// emulator leaves out on purpose, each with a reason at the call site.
func sameKeys(t *testing.T, name string, example, ours any, skip ...string) {
	t.Helper()
	var missing []string
	var walk func(path string, ex, got any)
	walk = func(path string, ex, got any) {
		switch x := ex.(type) {
		case map[string]any:
			g, ok := got.(map[string]any)
			if !ok {
				if got != nil {
					missing = append(missing, path+" (not an object)")
				}
				return
			}
			for k, v := range x {
				p := strings.TrimPrefix(path+"."+k, ".")
				if containsStr(skip, p) {
					continue
				}
				gv, ok := g[k]
				if !ok {
					missing = append(missing, p)
					continue
				}
				walk(p, v, gv)
			}
		case []any:
			g, _ := got.([]any)
			if len(x) > 0 && len(g) > 0 {
				walk(path+"[]", x[0], g[0])
			}
		}
	}
	walk("", example, ours)
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%s: the emulator's JSON lacks %v", name, missing)
	}
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func toAny(t *testing.T, v any) any {
	data, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(data, &out)
	return out
}

func TestShapesMatchRealExamples(t *testing.T) {
	dir := examplesDir(t)
	e := start(t, graphtest.Options{Users: 2})
	e.login()

	// Event create responses for the docs' own requests.
	for _, pair := range [][2]string{
		{"event-create-request-1.json", "event-create-response-1.json"},
		{"event-create-recurring-request.json", "event-create-recurring-response.json"},
		{"event-create-online-meeting-request.json", "event-create-online-meeting-response.json"},
	} {
		req := loadExample(t, dir, pair[0])
		r := e.do("POST", "/users/"+u1+"/events", req)
		expectStatus(t, r, 201, "")
		// "OnlineMeeting" (capital O) is a typo in the recurring example.
		sameKeys(t, pair[1], loadExample(t, dir, pair[1]), r.body, "OnlineMeeting")
	}

	// GET event: the navigation links of the docs' response are not emitted.
	getMe := event("get me", e.clock.Now(), time.Hour)
	getMe["location"] = map[string]any{"displayName": "Conf Room Rainier"}
	evID, _ := e.srv.PutEvent(u1, getMe)
	g := e.get("/users/" + u1 + "/events/" + evID)
	sameKeys(t, "event-get-response-1.json", loadExample(t, dir, "event-get-response-1.json"), g.body,
		"calendar@odata.associationLink", "calendar@odata.navigationLink")

	// calendarView delta pages, a round with @removed.
	for i := 0; i < 3; i++ {
		if _, err := e.srv.PutEvent(u1, event("delta", e.clock.Now().Add(time.Duration(i)*time.Hour), time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	window := "/users/" + u1 + "/calendarView/delta?startDateTime=2026-01-01T00:00:00Z&endDateTime=2026-12-31T00:00:00Z"
	p1 := e.get(window, "Prefer", "odata.maxpagesize=2")
	sameKeys(t, "event-delta-calendarview-round1-page1.json", loadExample(t, dir, "event-delta-calendarview-round1-page1.json"), p1.body)
	// transactionId is returned only when an app set it (facts §6), so the
	// reference page's "transactionId": null is not reproduced.
	sameKeys(t, "event-delta-response-1.json", loadExample(t, dir, "event-delta-response-1.json"), p1.body, "value[].transactionId")
	_, dl := e.deltaRound(window)
	last := e.get(dl)
	sameKeys(t, "event-delta-calendarview-round1-page3-final.json", loadExample(t, dir, "event-delta-calendarview-round1-page3-final.json"), last.body,
		"value[].location", "value[].subject") // the example's final page holds one event; an empty round has none
	if err := e.srv.DeleteEvent(u1, evID); err != nil {
		t.Fatal(err)
	}
	removed := e.get(dl)
	ex := loadExample(t, dir, "event-delta-calendarview-round2-with-removed.json")
	exRemoved := ex["value"].([]any)[0].(map[string]any)
	gotRemoved := removed.values()[0]
	if len(gotRemoved) != len(exRemoved) {
		t.Errorf("@removed item %v has other keys than the example %v", gotRemoved, exRemoved)
	}
	sameKeys(t, "removed item", exRemoved, toAny(t, gotRemoved))

	// Instances of a series.
	rec := loadExample(t, dir, "event-create-recurring-request.json")
	rr := e.do("POST", "/users/"+u1+"/events", rec)
	inst := e.get("/users/" + u1 + "/events/" + rr.body["id"].(string) + "/instances?startDateTime=2017-09-01T00:00:00Z&endDateTime=2017-10-01T00:00:00Z")
	sameKeys(t, "event-list-instances-response.json", loadExample(t, dir, "event-list-instances-response.json"), inst.body, "value[].type")
	if v := inst.values(); len(v) == 0 || v[0]["type"] != "occurrence" {
		t.Fatalf("instances %s", inst.raw)
	}

	// Contacts, tasks and messages deltas.
	for i := 0; i < 2; i++ {
		if _, err := e.srv.PutContact(u1, map[string]any{"givenName": "Ann", "surname": "Lee", "birthday": "2016-10-19T10:37:00Z"}); err != nil {
			t.Fatal(err)
		}
	}
	cd := e.get("/users/"+u1+"/contacts/delta", "Prefer", "odata.maxpagesize=1")
	sameKeys(t, "contact-delta-response-1.json", loadExample(t, dir, "contact-delta-response-1.json"), cd.body)
	if _, err := e.srv.PutTask(u1, map[string]any{"title": "empty task3"}); err != nil {
		t.Fatal(err)
	}
	lists := e.get("/users/" + u1 + "/todo/lists")
	var defaultList string
	for _, l := range lists.values() {
		if l["wellknownListName"] == "defaultList" {
			defaultList = l["id"].(string)
		}
	}
	td := e.get("/users/" + u1 + "/todo/lists/" + defaultList + "/tasks/delta")
	sameKeys(t, "todotask-delta-response-1.json", loadExample(t, dir, "todotask-delta-response-1.json"), td.body)
	msgID, err := e.srv.PutMessage(u1, "", map[string]any{"subject": "Holiday hours update", "receivedDateTime": "2026-03-01T10:00:00Z",
		"sentDateTime": "2026-03-01T10:00:00Z", "internetMessageId": "<a@b>", "isRead": true,
		"from": map[string]any{"emailAddress": map[string]any{"name": "Dana Swope", "address": "danas@contoso.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.PutMessage(u1, "", map[string]any{"subject": "second"}); err != nil {
		t.Fatal(err)
	}
	md := e.get("/users/"+u1+"/mailFolders/inbox/messages/delta", "Prefer", "odata.maxpagesize=1")
	sameKeys(t, "message-delta-response-1.json", loadExample(t, dir, "message-delta-response-1.json"), md.body)
	_, mdl := e.deltaRound("/users/" + u1 + "/mailFolders/inbox/messages/delta")
	if err := e.srv.PatchMessage(u1, msgID, map[string]any{"isRead": false}); err != nil {
		t.Fatal(err)
	}
	m2 := e.get(mdl)
	sameKeys(t, "message-delta-round2-with-removed.json (changed item)", loadExample(t, dir, "message-delta-round2-with-removed.json")["value"].([]any)[1], toAny(t, m2.values()[0]))

	// Directory, tokens, errors.
	users := e.get("/users")
	sameKeys(t, "user-list-response-1.json", loadExample(t, dir, "user-list-response-1.json"), users.body)
	app := e.srv.App()
	_, tok := e.tokenFor(app.ClientID, app.ClientSecret)
	sameKeys(t, "token-client-credentials-response.json", loadExample(t, dir, "token-client-credentials-response.json"), tok)
	_, tokErr := e.tokenFor(app.ClientID, "wrong")
	sameKeys(t, "token-error-reference-sample.json", loadExample(t, dir, "token-error-reference-sample.json"), tokErr)
	cnt := e.get("/users/$count")
	exCount := loadExample(t, dir, "directory-count-without-consistencylevel-error.json")
	sameKeys(t, "directory-count-without-consistencylevel-error.json", exCount, cnt.body)
	if cnt.code() != "Request_BadRequest" || cnt.body["error"].(map[string]any)["message"] != exCount["error"].(map[string]any)["message"] {
		t.Errorf("$count error %s differs from the example", cnt.raw)
	}
	e.srv.ExpireDeltaTokens()
	gone := e.get(dl)
	sameKeys(t, "OBSERVED-calendarview-delta-expired-410-SyncStateNotFound.json",
		loadExample(t, dir, "OBSERVED-calendarview-delta-expired-410-SyncStateNotFound.json"), gone.body)

	// Batch responses.
	b := e.do("POST", "/$batch", map[string]any{"requests": []any{map[string]any{"id": "1", "method": "GET", "url": "/users?$top=1"}}})
	sameKeys(t, "batch-response-1.json", loadExample(t, dir, "batch-response-1.json"), b.body,
		"responses[].body.@odata.nextLink", "responses[].body.value[].@odata.type", "responses[].body.value[].deletedDateTime",
		"responses[].body.value[].description", "responses[].body.value[].roleTemplateId", "responses[].headers.x-ms-resource-unit")
}

func TestThrottleBodyMatchesExample(t *testing.T) {
	dir := examplesDir(t)
	e := start(t, graphtest.Options{Users: 1, MailboxRequestBudget: 1})
	e.login()
	e.get("/users/" + u1 + "/contacts")
	r := e.get("/users/" + u1 + "/contacts")
	expectStatus(t, r, 429, "TooManyRequests")
	sameKeys(t, "throttling-429-response.json", loadExample(t, dir, "throttling-429-response.json"), r.body)
}
