package jsonl_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/jsonl"
)

// A contacts entity with declared fields: a write stamps updated_at, a
// change feed follows it, and the file holds one JSON object per line.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "jsonl-example")
	defer os.RemoveAll(dir)
	settings := fmt.Sprintf(`{
	  "dir": %q,
	  "entities": {
	    "contacts": {
	      "key": "id",
	      "modified_field": "updated_at",
	      "fields": {
	        "id":         {"type": "string", "required": true},
	        "name":       {"type": "string", "required": true},
	        "age":        {"type": "int"},
	        "tier":       {"type": "enum", "values": ["gold", "silver"]},
	        "updated_at": {"type": "timestamp", "read_only": true}
	      }
	    }
	  }
	}`, dir)
	ctx := context.Background()
	c := connector.Local(jsonl.New())
	if err := c.Configure(ctx, connector.ConfigureRequest{Settings: json.RawMessage(settings)}); err != nil {
		fmt.Println(err)
		return
	}
	outs, err := c.Write(ctx, connector.WriteBatch{Entity: "contacts", Ops: []connector.WriteOp{
		{Action: connector.ActionUpsert, IdempotencyKey: "1", Record: connector.Record{Fields: map[string]any{"id": "c1", "name": "Ada", "age": 36}}},
		{Action: connector.ActionUpsert, IdempotencyKey: "2", Record: connector.Record{Fields: map[string]any{"id": "c2", "name": "Alan", "tier": "bronze"}}},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range outs {
		if o.Status == connector.Rejected {
			fmt.Println(o.IdempotencyKey, o.Status, o.Diagnostics)
			continue
		}
		fmt.Println(o.IdempotencyKey, o.Status, o.TargetID)
	}
	_ = c.ReadChanges(ctx, connector.ChangesRequest{Entity: "contacts"}, func(b connector.ChangeBatch) error {
		for _, ch := range b.Changes {
			fmt.Println(ch.Op, ch.Record.ID, ch.Record.Fields["name"], ch.Record.Fields["age"])
		}
		return nil
	})
	lines, _ := os.ReadFile(filepath.Join(dir, "contacts.jsonl"))
	fmt.Println(len(lines) > 0)
	// Output:
	// 1 created c1
	// 2 rejected INVALID_INPUT tier: field "tier": "bronze" is not one of ["gold" "silver"]
	// upsert c1 Ada 36
	// true
}
