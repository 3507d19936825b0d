package graph

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

// TestAppendBatchPart: the hand-written batch parts are the JSON batching
// request objects encoding/json would write for the same request — id,
// method, url, headers (repeated values joined, Content-Type with a body)
// and the body inline.
func TestAppendBatchPart(t *testing.T) {
	h := http.Header{}
	h.Add("Prefer", `outlook.timezone="UTC"`)
	h.Add("Prefer", `IdType="ImmutableId"`)
	for _, tc := range []struct {
		r    request
		want map[string]any
	}{
		{request{method: "POST", header: h, body: []byte(`{"subject":"a \"q\" \u00e9","n":[1,2]}`)},
			map[string]any{"id": "7", "method": "POST", "url": "/users/a%40b/events", "headers": map[string]any{
				"Prefer": `outlook.timezone="UTC", IdType="ImmutableId"`, "Content-Type": "application/json"},
				"body": map[string]any{"subject": "a \"q\" é", "n": []any{1.0, 2.0}}}},
		{request{method: "DELETE"}, map[string]any{"id": "7", "method": "DELETE", "url": "/users/a%40b/events"}},
		{request{method: "PATCH", header: http.Header{"Content-Type": {"text/plain"}}, body: []byte(`{}`)},
			map[string]any{"id": "7", "method": "PATCH", "url": "/users/a%40b/events", "headers": map[string]any{"Content-Type": "application/json"}, "body": map[string]any{}}},
	} {
		out := appendBatchPart(nil, "7", tc.r, "/users/a%40b/events")
		var got map[string]any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("got %s\nwant %v", out, tc.want)
		}
	}
}

// TestPartHeadersMatchAppendBatchPart: parts written with the headers
// rendered once per header map are the bytes appendBatchPart writes, for
// parts sharing a map with and without a body, other maps and none.
func TestPartHeadersMatchAppendBatchPart(t *testing.T) {
	shared := http.Header{"Prefer": {`outlook.timezone="UTC"`, `IdType="ImmutableId"`}}
	other := http.Header{"Prefer": {`IdType="ImmutableId"`}, "Content-Type": {"text/plain"}}
	body := []byte(`{"subject":"x"}`)
	reqs := []request{
		{method: "POST", header: shared, body: body},
		{method: "POST", header: shared, body: body},
		{method: "DELETE", header: shared},
		{method: "PATCH", header: shared, body: body},
		{method: "PATCH", header: other, body: body},
		{method: "DELETE", header: other},
		{method: "DELETE"},
		{method: "POST", body: body},
		{method: "POST", header: http.Header{}, body: body},
		{method: "POST", header: shared, body: body},
	}
	var p partHeaders
	for i, r := range reqs {
		want := appendBatchPart(nil, "3", r, "/users/a/events")
		if got := p.appendPart(nil, "3", r, "/users/a/events"); string(got) != string(want) {
			t.Errorf("part %d:\n got  %s\n want %s", i, got, want)
		}
	}
}
