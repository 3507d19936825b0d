// Package wire carries the connector contract across the plugin boundary: it
// converts between the SDK's Go types (package connector, package schema) and
// the generated protobuf types, serves a connector.Connector as a gRPC
// ConnectorService, presents a ConnectorService client as a connector.Client,
// and carries the host services (secrets, values) over go-plugin's broker.
//
// Conversion follows one rule: the SDK value model (see connector.Record) maps
// one to one onto the proto Value oneof, so every value that crosses comes
// back with the same Go type. Timestamps come back in UTC; everything else is
// unchanged.
package wire
