package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// TestMain serves a test connector when the test binary is started as
// `<binary> connector serve NAME`, the way the manager starts bundled
// connectors.
func TestMain(m *testing.M) {
	if len(os.Args) == 4 && os.Args[1] == "connector" && os.Args[2] == "serve" {
		f, ok := testFactories()[os.Args[3]]
		if !ok {
			fmt.Fprintf(os.Stderr, "no test connector %q\n", os.Args[3])
			os.Exit(2)
		}
		connector.Serve(f())
		return
	}
	os.Exit(m.Run())
}

func testFactories() map[string]func() connector.Connector {
	return map[string]func() connector.Connector{
		"bench": func() connector.Connector { return &benchConn{} },
	}
}

// benchConn serves generated records of a fixed size: the same data in
// process and over the plugin boundary. Reading entity "crash" ends the
// process after the first batch.
type benchConn struct {
	recs  []connector.Record
	lines [][]byte // with JSON set: the records as JSON lines, decoded on Read
	byID  map[string]int
}

type benchSettings struct {
	Records int `json:"records"`
	Size    int `json:"size"`
	// JSON makes Read decode each record from a JSON line, as a connector
	// reading files or HTTP responses does, instead of copying it.
	JSON bool `json:"json"`
}

// benchRecord returns record i with a payload making it about size bytes.
func benchRecord(i, size int) connector.Record {
	payload := make([]byte, max(size-120, 0))
	for j := range payload {
		payload[j] = 'a' + byte((i+j)%26)
	}
	id := "r" + strconv.Itoa(i)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	return connector.Record{
		ID:       id,
		Version:  "1",
		Modified: at,
		Fields: map[string]any{
			"id":       id,
			"n":        int64(i),
			"subject":  "Meeting " + id,
			"start":    at,
			"payload":  string(payload),
			"isAllDay": false,
		},
	}
}

func (c *benchConn) Spec() connector.Spec {
	return connector.Spec{Name: "bench", Version: "0.1.0", SettingsSchema: json.RawMessage(`{"type":"object"}`)}
}

func (c *benchConn) Configure(_ context.Context, req connector.ConfigureRequest) error {
	var s benchSettings
	if err := json.Unmarshal(req.Settings, &s); err != nil {
		return connector.Errorf(connector.InvalidInput, "settings: %v", err)
	}
	c.recs = make([]connector.Record, s.Records)
	c.byID = make(map[string]int, s.Records)
	for i := range c.recs {
		c.recs[i] = benchRecord(i, s.Size)
		c.byID[c.recs[i].ID] = i
		if s.JSON {
			line, err := json.Marshal(c.recs[i].Fields)
			if err != nil {
				return err
			}
			c.lines = append(c.lines, line)
		}
	}
	return nil
}

// decodeLine turns a JSON line back into the record it came from.
func decodeLine(line []byte) (connector.Record, error) {
	var fields map[string]any
	if err := json.Unmarshal(line, &fields); err != nil {
		return connector.Record{}, err
	}
	start, err := time.Parse(time.RFC3339Nano, fields["start"].(string))
	if err != nil {
		return connector.Record{}, err
	}
	fields["start"] = start
	fields["n"] = int64(fields["n"].(float64))
	id := fields["id"].(string)
	return connector.Record{ID: id, Version: "1", Modified: start, Fields: fields}, nil
}

func (c *benchConn) Check(context.Context) connector.Diagnostics { return nil }

func (c *benchConn) DiscoverSchema(context.Context, bool) (*schema.Schema, error) {
	return &schema.Schema{}, nil
}

func (c *benchConn) ListPartitions(context.Context, string) (connector.Partitions, error) {
	return connector.Partitions{Partitions: []connector.Partition{{}}}, nil
}

func (c *benchConn) Close() error { return nil }

func (c *benchConn) Read(ctx context.Context, req connector.ReadRequest, emit func([]connector.Record) error) error {
	size := req.BatchSize
	if size <= 0 {
		size = 500
	}
	for i := 0; i < len(c.recs); i += size {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := make([]connector.Record, 0, size)
		for j, r := range c.recs[i:min(i+size, len(c.recs))] {
			if c.lines == nil {
				batch = append(batch, r.Clone())
				continue
			}
			d, err := decodeLine(c.lines[i+j])
			if err != nil {
				return connector.Errorf(connector.Internal, "record %d: %v", i+j, err)
			}
			batch = append(batch, d)
		}
		if err := emit(batch); err != nil {
			return err
		}
		if req.Entity == "crash" {
			time.Sleep(20 * time.Millisecond)
			os.Exit(3)
		}
	}
	return nil
}

func (c *benchConn) Query(_ context.Context, req connector.QueryRequest) ([]connector.Record, error) {
	id, _ := req.Match["id"].(string)
	i, ok := c.byID[id]
	if !ok {
		return nil, nil
	}
	return []connector.Record{c.recs[i].Clone()}, nil
}
