// Package bundled is the registry of the connectors compiled into the
// syncplane binary. The host runs each of them as a plugin process by
// re-executing itself (`syncplane connector serve NAME`), or in-process for
// tests and benchmarks.
package bundled

import (
	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/graph"
	"github.com/syncplane/syncplane/connector/jsonl"
	"github.com/syncplane/syncplane/connector/sagecrm"
	"github.com/syncplane/syncplane/connector/zoho"
)

// Factories returns a new map from connector name to a function making a
// fresh, unconfigured instance of that connector. Each call returns a new
// map, so a caller may change it.
//
// To bundle a connector, add one line here.
func Factories() map[string]func() connector.Connector {
	return map[string]func() connector.Connector{
		jsonl.Name: jsonl.New,
		"graph":    graph.New,
		"zoho":     zoho.New,
		"sagecrm":  sagecrm.New,
	}
}
