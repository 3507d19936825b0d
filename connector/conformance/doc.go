// Package conformance is the kit that proves a connector keeps the
// contract. A connector author turns it on with one test and a TestMain:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, conformance.Suite{
//			New:      mypkg.New,
//			Settings: func(t *testing.T) json.RawMessage { return settingsFor(t) },
//			Entity:   "contacts",
//			NewRecord: func(i int) connector.Record {
//				return connector.Record{Fields: map[string]any{"id": fmt.Sprint("c-", i), "name": fmt.Sprint("Contact ", i)}}
//			},
//			Mutate: func(r connector.Record) connector.Record { r = r.Clone(); r.Fields["name"] = "Renamed"; return r },
//		})
//	}
//
//	func TestMain(m *testing.M) { conformance.Main(m, mypkg.New) }
//
// Run runs every check twice: in-process through connector.Local, and
// against the connector as a real plugin process — Main turns the re-executed
// test binary into the plugin (connector.Serve) and the kit starts it with
// connector.StartPlugin, so the gRPC boundary, value conversion and
// diagnostics are exercised exactly as the host exercises them.
//
// The checks, each a subtest whose failure says what was expected and what
// came back:
//
//   - spec: name, version and protocol version set; advertised capabilities
//     implemented; the settings schema compiles as JSON Schema (draft
//     2020-12), secret settings name its properties, and Suite.Settings
//     satisfies it.
//   - settings-required: Configure without each top-level required
//     setting fails with a diagnostic whose Field names it.
//   - check: Check finds no error with Suite.Settings.
//   - schema: schema.Validate passes, the entity exists, its capabilities
//     match the spec's, a second discovery gives the same schema, and
//     ListPartitions includes Suite.Partition.
//   - records-match-schema: every field read is in the schema with a value
//     of its kind, required fields are present, the key field agrees with
//     the record's ID.
//   - changes: a first read yields what was created; resuming from a
//     checkpoint loses nothing after it and repeats nothing before it, also
//     from the middle of a stream of one-change batches; two reads from one
//     checkpoint agree; a delete arrives as a Delete; a checkpoint the
//     connector cannot use gives a full resync, not an error.
//   - write: create then read back equal; the same batch retried with the
//     same idempotency keys makes no duplicate; update; an update carrying
//     only the changed fields keeps the others (partial update); delete (and the
//     delete retried); an invalid record is Rejected naming its field while
//     the rest of its batch is written; a created or updated record's
//     outcome Version (required when the entity names a version field)
//     equals the Version of the record read back, as echo suppression in
//     two-way sync needs.
//   - query: by the entity's key fields, one record; an unknown key, none.
//   - unimplemented: every capability not advertised answers an error
//     wrapping connector.ErrUnimplemented.
//   - goroutines: after a whole connection is closed, no goroutine is left.
//
// A check whose capability the connector does not advertise, or whose Suite
// field is unset, is skipped with a message saying so. Connectors that
// cannot write set Suite.Source to make changes at the service (through
// its emulator).
//
// # How to write a connector
//
// Start from connector/jsonl, the reference connector: its package
// documentation walks through the steps, and its connector_test.go is the
// ten lines above. Write the connector against the interfaces of package
// connector, run `go test ./connector/<name>/...` until the kit passes in
// both runs, then add the connector's constructor to host/bundled (bundled)
// or build a syncplane-connector-<name> binary whose main calls
// connector.Serve (external).
package conformance
