package zoho_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/zoho"
	"github.com/syncplane/syncplane/connector/zoho/zohotest"
)

func contactOps(prefix string, n int) []connector.WriteOp {
	ops := make([]connector.WriteOp, n)
	for i := range ops {
		ops[i] = connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: fmt.Sprintf("%s-%d", prefix, i),
			Record: connector.Record{Fields: map[string]any{"First_Name": "Bulk", "Last_Name": fmt.Sprintf("%s %d", prefix, i),
				"Email": fmt.Sprintf("%s.%d@example.com", prefix, i)}}}
	}
	return ops
}

// TestWriteTenThousandContacts is the figure of the issue: 10,000
// contacts take the minimum of 100 write calls, and the credits are those
// Zoho counts (1 per 10 records: 1,000).
func TestWriteTenThousandContacts(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,000 records")
	}
	srv := startEmulator(t, zohotest.Options{})
	c, raw := openRaw(t, srv, nil, nil)
	ctx := context.Background()
	if _, err := c.DiscoverSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	srv.ResetStats("")
	before := raw.(*zoho.Connector).Usage()
	outs, err := c.Write(ctx, connector.WriteBatch{Entity: "Contacts", Ops: contactOps("bulk", 10000)})
	if err != nil {
		t.Fatalf("Write of 10,000 contacts: %v", err)
	}
	for i, o := range outs {
		if o.Status != connector.Created {
			t.Fatalf("op %d: want Created, got %s %v", i, o.Status, o.Diagnostics)
		}
	}
	st := srv.Stats("")
	used := raw.(*zoho.Connector).Usage()
	t.Logf("10,000 contacts: %d write calls, %d API calls, %d credits counted by the emulator, %d credits counted by the connector, max %d calls in flight",
		st.WriteCalls, st.Calls, st.Credits, used.Credits-before.Credits, st.MaxInFlight)
	if st.WriteCalls != 100 {
		t.Errorf("write calls: want 100 (10,000 / 100 per call), got %d", st.WriteCalls)
	}
	if st.Credits != 1000 || used.Credits-before.Credits != 1000 {
		t.Errorf("credits: want 1,000 (1 per 10 records) on both sides, got emulator %d, connector %d", st.Credits, used.Credits-before.Credits)
	}
	if srv.Count("", "Contacts") != 10000 {
		t.Errorf("contacts stored: want 10,000, got %d", srv.Count("", "Contacts"))
	}
}

// rawClient is the baseline: a minimal client that keeps exactly `workers`
// calls in flight, with no token, metadata or outcome handling.
type rawClient struct {
	hc    *http.Client
	base  string
	token string
}

func newRawClient(b *testing.B, srv *zohotest.Server) *rawClient {
	hc := srv.HTTPClient()
	res, err := hc.PostForm(srv.AccountsURL("")+"/oauth/v2/token", url.Values{"grant_type": {"refresh_token"},
		"client_id": {srv.ClientID()}, "client_secret": {srv.ClientSecret()}, "refresh_token": {srv.RefreshToken()}})
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tr); err != nil || tr.AccessToken == "" {
		b.Fatalf("baseline token: %v", err)
	}
	return &rawClient{hc: hc, base: srv.APIDomain(""), token: tr.AccessToken}
}

func (r *rawClient) run(b *testing.B, workers int, reqs []func() *http.Request) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(reqs) {
					return
				}
				req := reqs[i]()
				req.Header.Set("Authorization", "Zoho-oauthtoken "+r.token)
				res, err := r.hc.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				res.Body.Close()
				if res.StatusCode >= 300 {
					b.Errorf("baseline call: HTTP %d", res.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkEnterpriseThroughput measures the connector at the Enterprise
// limits with 100 ms emulated latency, against the bound the limit implies
// (calls in flight / latency) and against a baseline client measured in
// the same run that keeps exactly that many calls in flight:
//
//   - writes of 100 records are heavy calls (sub-concurrency 10, §A7):
//     bound 10 / 0.1 s = 100 calls/s = 10,000 records/s;
//   - reads by id are ordinary calls (concurrency 20): bound 200 calls/s.
func BenchmarkEnterpriseThroughput(b *testing.B) {
	const latency = 100 * time.Millisecond
	srv, err := zohotest.Start(zohotest.Options{Edition: "enterprise", Credits: 1 << 30, Latency: latency})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	rawC := newRawClient(b, srv)
	c := connector.Local(zoho.New())
	set := settingsFor(srv, map[string]any{"edition": "enterprise"})
	if err := c.Configure(context.Background(), connector.ConfigureRequest{Settings: set, Host: &connector.MemoryHost{}}); err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.DiscoverSchema(ctx, false); err != nil {
		b.Fatal(err)
	}
	b.Run("write", func(b *testing.B) {
		var conn, base time.Duration
		for n := 0; n < b.N; n++ {
			var reqs []func() *http.Request
			for call := 0; call < 100; call++ {
				data := make([]any, 100)
				for i := range data {
					data[i] = map[string]any{"Last_Name": fmt.Sprintf("base %d %d %d", n, call, i), "Email": fmt.Sprintf("base.%d.%d.%d.%d@example.com", b.N, n, call, i)}
				}
				body, _ := json.Marshal(map[string]any{"data": data, "trigger": []any{}})
				reqs = append(reqs, func() *http.Request {
					req, _ := http.NewRequest(http.MethodPost, rawC.base+"/crm/v8/Contacts", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					return req
				})
			}
			t0 := time.Now()
			rawC.run(b, 10, reqs)
			base += time.Since(t0)
			ops := contactOps(fmt.Sprintf("bench-%d-%d", b.N, n), 10000)
			t0 = time.Now()
			outs, err := c.Write(ctx, connector.WriteBatch{Entity: "Contacts", Ops: ops})
			conn += time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			if outs[9999].Status != connector.Created {
				b.Fatalf("last op: %s %v", outs[9999].Status, outs[9999].Diagnostics)
			}
		}
		calls := float64(100 * b.N)
		bound := 10 / latency.Seconds()
		b.ReportMetric(calls/conn.Seconds(), "calls/s")
		b.ReportMetric(calls/conn.Seconds()/bound, "ratio-to-bound")
		b.ReportMetric(base.Seconds()/conn.Seconds(), "ratio-to-baseline")
		b.ReportMetric(calls/base.Seconds()/bound, "baseline-ratio-to-bound")
	})
	b.Run("read-by-id", func(b *testing.B) {
		var ids []string
		for i := 0; i < 400; i++ {
			id, err := srv.Create("", "Accounts", map[string]any{"Account_Name": fmt.Sprintf("Read %d", i)})
			if err != nil {
				b.Fatal(err)
			}
			ids = append(ids, id)
		}
		var conn, base time.Duration
		for n := 0; n < b.N; n++ {
			reqs := make([]func() *http.Request, len(ids))
			for i, id := range ids {
				reqs[i] = func() *http.Request {
					req, _ := http.NewRequest(http.MethodGet, rawC.base+"/crm/v8/Accounts/"+id, nil)
					return req
				}
			}
			t0 := time.Now()
			rawC.run(b, 20, reqs)
			base += time.Since(t0)
			t0 = time.Now()
			var wg sync.WaitGroup
			for _, id := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					recs, err := c.Query(ctx, connector.QueryRequest{Entity: "Accounts", Match: map[string]any{"id": id}})
					if err != nil || len(recs) != 1 {
						b.Errorf("query %s: %v %d", id, err, len(recs))
					}
				}()
			}
			wg.Wait()
			conn += time.Since(t0)
		}
		calls := float64(len(ids) * b.N)
		bound := 20 / latency.Seconds()
		b.ReportMetric(calls/conn.Seconds(), "calls/s")
		b.ReportMetric(calls/conn.Seconds()/bound, "ratio-to-bound")
		b.ReportMetric(base.Seconds()/conn.Seconds(), "ratio-to-baseline")
		b.ReportMetric(calls/base.Seconds()/bound, "baseline-ratio-to-bound")
	})
	st := srv.Stats("")
	if st.Throttled > 0 {
		b.Errorf("the emulator refused %d calls with 429: the connector or the baseline exceeded the limits", st.Throttled)
	}
}
