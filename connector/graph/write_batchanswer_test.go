package graph

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestParseBatchAnswerMatchesEncodingJSON: for answers in the plain form
// and in every other form (whitespace, escapes, other spellings of keys,
// nulls, extra members, malformed text), parseBatchAnswer gives what
// json.Unmarshal gives, or fails where it fails.
func TestParseBatchAnswerMatchesEncodingJSON(t *testing.T) {
	event := `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('a')/events/$entity","id":"AAMk\u00e9=","subject":"a \"}{][\" \\ b","attendees":[{"type":"required"}],"n":-1.5e3,"ok":true,"x":null}`
	inputs := []string{
		`{"responses":[{"id":"1","status":201,"headers":{"Content-Type":"application/json","OData-Version":"4.0"},"body":` + event + `},{"id":"2","status":429,"headers":{"Retry-After":"3"},"body":{"error":{"code":"TooManyRequests"}}}]}`,
		" {\n \"responses\" : [ { \"id\" : \"3\" , \"status\" : 204 , \"headers\" : { } } ] } \n",
		`{"responses":[]}`,
		`{}`,
		`{"responses":[{}]}`,
		`{"responses":[{"id":"1","status":200,"headers":null,"body":null}]}`,
		`{"responses":[{"id":"1","status":200,"body":"QUJD"}],"@odata.nextLink":null}`,
		`{"responses":[{"id":"1","status":200,"body":[1,{"a":[]}],"extra":{"k":[true,false]}}]}`,
		`{"Responses":[{"ID":"1","Status":200}]}`,
		`{"responses":[{"id":"\u0031","status":200,"headers":{"X-A":"caf\u00e9"}}]}`,
		`{"responses":[{"id":"é","status":200}]}`,
		`{"responses":[{"id":"0","status":200},{"id":"09","status":200},{"id":"19","status":200},{"id":"99","status":200},{"id":"100","status":200},{"id":"a1","status":200},{"id":"1a","status":200},{"id":"","status":200}]}`,
		`{"responses":[{"id":"1","status":201,"headers":{"Preference-Applied":"outlook.timezone=\"UTC\"","X-\u0041":"caf\u00e9 \ud83d\ude00 \ud800","X-B":"\\\/\t"}}]}`,
		`{"responses":[{"id":"1","status":201,"headers":{"X-A":"a","X-A":"b","X-\u0041":"c"}}]}`,
		`{"responses":[{"id":"1","status":201,"headers":{"X-A":"\x"}}]}`,
		`{"responses":[{"id":1,"status":200}]}`,
		`{"responses":[{"id":"1","status":200.5}]}`,
		`{"responses":[{"id":"1","status":200,"extra":tru}]}`,
		`{"responses":[{"id":"1","status":200}]} x`,
		`{"responses":[{"id":"1","status":200}],"responses":[]}`,
		`{"responses":[{"id":"1","id":"2"}]}`,
		`{"responses":[{"id":"1","status":200,"headers":{"A":null}}]}`,
		`{"responses":[{"id":"1","status":200,"body":"unterminated}]}`,
		`[]`,
		``,
	}
	// Members in another order: the status after the headers, which the
	// write path keeps for a part that failed.
	headersAfterStatus := []string{
		`{"responses":[{"headers":{"Retry-After":"3","X-\u0041":"b"},"id":"1","status":429},{"headers":{"A":"b"},"status":201,"id":"2"}]}`,
		`{"responses":[{"headers":null,"id":"1","status":503},{"headers":{"A":1},"id":"2","status":201}]}`,
		`{"responses":[{"headers":{"A":"\x"},"id":"2","status":201}]}`,
	}
	// A part body malformed inside balanced brackets is delimited, not
	// checked: it comes back as it is (its reader refuses it), where
	// encoding/json refuses the whole answer.
	for _, body := range []string{`{"a":}`, `[1,,2]`, `{"s":"a\"}{]","x":[,]}`, `tru`, `-`} {
		in := `{"responses":[{"id":"1","status":200,"body":` + body + `},{"id":"2","status":201,"body":{"ok":true}}]}`
		if json.Valid([]byte(in)) {
			t.Fatalf("%s is valid JSON", in)
		}
		got, err := parseBatchAnswer([]byte(in))
		if err != nil || len(got) != 2 || string(got[0].Body) != body || string(got[1].Body) != `{"ok":true}` {
			t.Errorf("%s: %+v, %v; want the bodies as they are", in, got, err)
		}
	}
	// A body that does not end fails the answer, as encoding/json does.
	for _, in := range []string{`{"responses":[{"id":"1","status":200,"body":{"a":[1}]}`, `{"responses":[{"id":"1","status":200,"body":"open}]}`} {
		if got, err := parseBatchAnswer([]byte(in)); err == nil {
			t.Errorf("%s: read as %+v", in, got)
		}
	}
	for _, in := range append(inputs, headersAfterStatus...) {
		got, gotErr := parseBatchAnswer([]byte(in))
		// The write path's reading is the same but for the headers of
		// 2xx parts, which it leaves out when it reads the plain form.
		write, writeErr := parseWriteAnswer([]byte(in))
		if (writeErr == nil) != (gotErr == nil) || len(write) != len(got) {
			t.Errorf("%s: parseWriteAnswer %+v, %v; parseBatchAnswer %+v, %v", in, write, writeErr, got, gotErr)
		} else if _, plain := scanBatchAnswer([]byte(in), nil); plain == nil {
			for i := range got {
				want := got[i]
				if want.Status >= 200 && want.Status < 300 {
					want.Headers = nil
				}
				if !reflect.DeepEqual(write[i], want) {
					t.Errorf("%s: part %d read by the write path as %+v, want %+v", in, i, write[i], want)
				}
			}
		}
		var want struct {
			Responses []batchAnswer `json:"responses"`
		}
		wantErr := json.Unmarshal([]byte(in), &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Errorf("%s: error %v, encoding/json %v", in, gotErr, wantErr)
			continue
		}
		if gotErr != nil {
			continue
		}
		if len(got) == 0 && len(want.Responses) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, want.Responses) {
			t.Errorf("%s:\n got  %+v\n want %+v", in, got, want.Responses)
		}
	}
	// The plain form takes the one-pass path.
	if _, err := scanBatchAnswer([]byte(inputs[0]), nil); err != nil {
		t.Errorf("the plain answer was left to encoding/json: %v", err)
	}
	// Header values with escapes, as Graph's Preference-Applied has, too.
	prefer := strings.Replace(inputs[0], `"OData-Version":"4.0"`, `"OData-Version":"4.0","Preference-Applied":"outlook.timezone=\"UTC\""`, 1)
	if got, err := scanBatchAnswer([]byte(prefer), nil); err != nil {
		t.Errorf("an answer with an escaped header value was left to encoding/json: %v", err)
	} else if v := got[0].Headers["Preference-Applied"]; v != `outlook.timezone="UTC"` {
		t.Errorf("Preference-Applied read as %q", v)
	}
	if _, err := scanBatchAnswer([]byte(strings.Replace(inputs[0], `"1"`, `"\u0031"`, 1)), nil); err == nil {
		t.Error("an escaped id was not left to encoding/json")
	}
}

// TestSkipStringMatchesBytewise holds skipString, which passes over eight
// bytes at a time, to the plain byte-by-byte reading of a string literal,
// for strings of every length up to past two words with quotes,
// backslashes and bytes above 0x7f at every place, terminated or not.
func TestSkipStringMatchesBytewise(t *testing.T) {
	bytewise := func(d []byte, i int) (int, bool) {
		for j := i + 1; j < len(d); j++ {
			switch d[j] {
			case '\\':
				j++
			case '"':
				return j + 1, true
			}
		}
		return len(d), false
	}
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte{'a', '"', '\\', 0x80, 0xff, 0x22 ^ 0x80, 0x5c ^ 0x80, 0x01, 0x21, 0x23, 0x5b, 0x5d}
	for n := range 40 {
		for range 2000 {
			d := make([]byte, 1+n)
			d[0] = '"'
			for k := 1; k < len(d); k++ {
				if rng.IntN(3) == 0 {
					d[k] = alphabet[rng.IntN(len(alphabet))]
				} else {
					d[k] = byte('a' + rng.IntN(26))
				}
			}
			wantEnd, wantOK := bytewise(d, 0)
			if end, ok := skipString(d, 0); end != wantEnd || ok != wantOK {
				t.Fatalf("skipString(%q) = %d, %v; byte by byte %d, %v", d, end, ok, wantEnd, wantOK)
			}
		}
	}
}

// BenchmarkParseBatchAnswer reads a batch answer of 20 created events with
// parseBatchAnswer and parseWriteAnswer against json.Unmarshal, the
// baseline, in the same run; and, as the read path does, a batch answer
// of four pages of ten real events (the 5.4 KB event of event-get.md,
// whose HTML body is a long string) with parseBatchAnswer against
// json.Unmarshal.
func BenchmarkParseBatchAnswer(b *testing.B) {
	var parts []string
	for i := range 20 {
		parts = append(parts, `{"id":"`+string(rune('a'+i))+`","status":201,"headers":{"Content-Type":"application/json;odata.metadata=minimal","OData-Version":"4.0","Location":"https://graph.microsoft.com/v1.0/users/x/events/AAMk"},"body":{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('x')/events/$entity","@odata.etag":"W/\"DwAAABYAAAB\"","id":"AAMkAGI2TG93AAA=","createdDateTime":"2026-11-23T10:00:00.0000000Z","subject":"Prep for customer meeting","bodyPreview":"Does this time work for you?","body":{"contentType":"html","content":"<html><body>Does this time work for you?</body></html>"},"start":{"dateTime":"2026-11-24T13:00:00.0000000","timeZone":"UTC"},"end":{"dateTime":"2026-11-24T14:00:00.0000000","timeZone":"UTC"},"location":{"displayName":"Cordova conference room","locationType":"default","uniqueIdType":"unknown","address":{},"coordinates":{}},"attendees":[{"type":"required","status":{"response":"none","time":"0001-01-01T00:00:00Z"},"emailAddress":{"name":"Adele Vance","address":"AdeleV@contoso.com"}}],"organizer":{"emailAddress":{"name":"Megan Bowen","address":"MeganB@contoso.com"}},"isOnlineMeeting":false,"transactionId":"7e1a5b7c-0000-4000-8000-000000000001"}}`)
	}
	body := []byte(`{"responses":[` + strings.Join(parts, ",") + `]}`)
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out struct {
				Responses []batchAnswer `json:"responses"`
			}
			if err := json.Unmarshal(body, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one-pass", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseBatchAnswer(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The write path's reading, which keeps no headers of 2xx parts.
	b.Run("write", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseWriteAnswer(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	event, err := os.ReadFile(filepath.Join(sharedDir(b), "reference", "graph-examples", "event-get-response-1.json"))
	if err != nil {
		b.Fatal(err)
	}
	var pages []string
	for i := range 4 {
		var events []string
		for range 10 {
			events = append(events, string(bytes.TrimSpace(event)))
		}
		pages = append(pages, `{"id":"`+strconv.Itoa(i+1)+`","status":200,"headers":{"Content-Type":"application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"},"body":{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Collection(event)","value":[`+strings.Join(events, ",")+`]}}`)
	}
	read := []byte(`{"responses":[` + strings.Join(pages, ",") + `]}`)
	b.Run("read-pages/encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(read)))
		for b.Loop() {
			var out struct {
				Responses []batchAnswer `json:"responses"`
			}
			if err := json.Unmarshal(read, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read-pages/one-pass", func(b *testing.B) {
		b.SetBytes(int64(len(read)))
		for b.Loop() {
			if out, err := parseBatchAnswer(read); err != nil || len(out) != 4 {
				b.Fatal(err)
			}
		}
	})
}
