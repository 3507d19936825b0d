package main

import (
	"strings"
	"testing"
	"time"

	"github.com/syncplane/syncplane/host/runner"
	"github.com/syncplane/syncplane/host/store"
)

func TestSummaryLineShowsUsage(t *testing.T) {
	var b strings.Builder
	printSummary(&b, runner.Summary{Pipeline: "events-to-zoho", Partitions: 1, Counts: store.Counts{Read: 3, Created: 3}, Duration: time.Second,
		Usage: map[string]map[string]int64{"zoho": {"credits": 1000, "requests": 10}, "m365": {"requests": 4}}})
	want := "events-to-zoho: 1 partition(s), read 3, created 3, updated 0, deleted 0, unchanged 0, rejected 0, skipped 0 (1s); used: m365 requests 4; zoho credits 1000, requests 10\n"
	if b.String() != want {
		t.Fatalf("summary line\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	printSummary(&b, runner.Summary{Pipeline: "p", Duration: time.Second})
	if strings.Contains(b.String(), "used") {
		t.Fatalf("summary without usage mentions it: %q", b.String())
	}
}
