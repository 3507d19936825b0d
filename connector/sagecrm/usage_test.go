package sagecrm_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/sagecrm"
	"github.com/syncplane/syncplane/connector/sagecrm/sagecrmtest"
)

// TestUsageInValueStore: the requests and bytes the connector exchanged
// with the server are added to the UTC day's totals under usage/DAY, next
// to counters others keep there, and a new day starts new totals.
func TestUsageInValueStore(t *testing.T) {
	e := newEnv(t, sagecrmtest.Options{}, "", nil)
	ctx := context.Background()
	if err := e.host.Values().Put(ctx, "usage/2026-05-01", []byte(`{"requests":3,"credits":9}`)); err != nil {
		t.Fatal(err)
	}
	raw := sagecrm.New()
	c := connector.Local(raw)
	t.Cleanup(func() { c.Close() })
	if err := c.Configure(ctx, connector.ConfigureRequest{Settings: e.settings(nil), Host: e.host}); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 5, 1, 23, 59, 0, 0, time.UTC)
	sagecrm.SetClock(raw, func() time.Time { return day })
	e.srv.ResetStats()
	if _, err := c.Write(ctx, connector.WriteBatch{Entity: "person", Ops: []connector.WriteOp{upsert("u1", "", map[string]any{"pers_lastname": "Lee",
		"emails": []any{map[string]any{"type": "Business", "address": "lee@x.test"}}})}}); err != nil {
		t.Fatal(err)
	}
	if err := c.ReadChanges(ctx, connector.ChangesRequest{Entity: "person"}, func(connector.ChangeBatch) error { return nil }); err != nil {
		t.Fatal(err)
	}
	get := func(key string) map[string]int64 {
		t.Helper()
		b, ok, err := e.host.Values().Get(ctx, key)
		if err != nil || !ok {
			t.Fatalf("no %s in the value store (%v)", key, err)
		}
		var u map[string]int64
		if err := json.Unmarshal(b, &u); err != nil {
			t.Fatalf("%s is not a JSON object of integers: %s", key, b)
		}
		return u
	}
	st := e.srv.Stats()
	u := get("usage/2026-05-01")
	if u["requests"] != 3+st.Requests || u["bytes"] != st.RequestBytes+st.ResponseBytes || u["credits"] != 9 || st.Requests < 5 {
		t.Errorf("usage: want 3+%d requests, %d bytes and credits 9, got %v", st.Requests, st.RequestBytes+st.ResponseBytes, u)
	}
	day = day.Add(2 * time.Minute)
	e.srv.ResetStats()
	if err := c.ReadChanges(ctx, connector.ChangesRequest{Entity: "company"}, func(connector.ChangeBatch) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if u, st := get("usage/2026-05-02"), e.srv.Stats(); u["requests"] != st.Requests || u["bytes"] != st.RequestBytes+st.ResponseBytes || st.Requests == 0 {
		t.Errorf("next day: want %d requests and %d bytes, got %v", st.Requests, st.RequestBytes+st.ResponseBytes, u)
	}
}
