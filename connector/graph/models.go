package graph

import (
	"encoding/json"

	"github.com/syncplane/syncplane/connector"
)

// encodeBody renders the request body of a write of entity; tx, when not
// empty, is the event's transactionId.
func encodeBody(entity string, body map[string]any, tx string) ([]byte, *connector.Diagnostic) {
	if tx != "" {
		body = cloneShallow(body)
		body["transactionId"] = tx
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, connector.Errorf(connector.InvalidInput, "the %s cannot be encoded: %v", entity, err)
	}
	return raw, nil
}

func cloneShallow(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}
