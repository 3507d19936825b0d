// Package jsonl is a connector over a directory of JSON Lines files, one
// file per entity (<dir>/<entity>.jsonl, one JSON object per line). It is
// useful on its own — a target for exports and dry runs, a source a person
// can edit by hand — and it is the reference connector: the smallest
// complete implementation of the contract, meant to be copied.
//
// # Settings
//
//	{
//	  "dir": "/var/lib/syncplane/export",
//	  "entities": {
//	    "contacts": {
//	      "key": "id",
//	      "modified_field": "updated_at",
//	      "fields": {
//	        "id":         {"type": "string", "required": true},
//	        "name":       {"type": "string", "required": true},
//	        "age":        {"type": "int"},
//	        "tier":       {"type": "enum", "values": ["gold", "silver"]},
//	        "updated_at": {"type": "timestamp", "read_only": true}
//	      }
//	    }
//	  }
//	}
//
// dir is required. Every entity under "entities" is optional: key defaults
// to "id", deleted_field (the tombstone marker) to "_deleted". A file in dir
// that is not declared is an entity too, with key "id" and no change feed.
// Field types are bool, int, double, string, bytes (base64 in the file),
// timestamp (RFC 3339), date (YYYY-MM-DD), enum (with values) and any.
// Configure validates the settings against the JSON Schema in Spec and names
// every failing setting in its own diagnostic.
//
// When an entity declares no fields, they are inferred from the file's
// records at every read: integral numbers are int, other numbers make the
// field double, strings are string (a timestamp is only typed when declared,
// except the modified field), lists are collections of any, objects and
// mixed kinds are any. Inferred fields are optional and nullable; the key is
// required. Declare fields to get exact types and validation of writes.
//
// # Values
//
// JSON numbers become int64 when integral and float64 otherwise (then the
// declared type converts: an integral number in a double field is float64).
// Fields declared timestamp hold time.Time, date fields connector.Date, bytes
// fields []byte.
//
// # Changes and checkpoints
//
// An entity with a modified_field has a change feed. The connector stamps
// that field on every record it creates, updates or deletes, with a time
// later than any already in the file, so it is read-only to writers.
// ReadChanges orders records by (modified time, key) and its checkpoint is
// the (modified time, key) of the last change delivered: records that share
// a timestamp are never skipped nor repeated, even across batches. Records
// written by other programs are seen when their modified time is after the
// checkpoint; a record without a modified time is only seen by a read
// without a checkpoint. A checkpoint the connector cannot read yields the
// whole file with FullResync set.
//
// # Deletes
//
// Deleting a record replaces its line with a tombstone: the key, the
// modified time and the marker, {"id":"42","_deleted":true,"updated_at":…}.
// Read and Query skip tombstones; ReadChanges reports them as Delete changes,
// so a deletion reaches every reader whose checkpoint is before it.
// Another program deletes a record the same way: by writing its tombstone
// (or setting the marker on the record). Tombstones stay in the file; to
// drop them, remove their lines once every reader has passed them. Writing
// a record over a tombstone creates it again.
//
// # The file
//
// A line that is not a JSON object, a record without a key, or a value that
// breaks the declared fields fails the read with an INVALID_INPUT
// diagnostic naming the file and line ("…/contacts.jsonl:12: field \"age\":
// want int, got string"). Blank lines are ignored. When a key appears on
// several lines, the last line wins, so a producer may append new versions
// of a record.
//
// Every write rewrites the file in canonical form (sorted keys, one line per
// record, the order of first appearance kept): it writes a temporary file
// in the same directory, syncs it, renames it over the old one and syncs the
// directory. A reader sees the old file or the new one, never a part; a
// crash leaves the old file and at most a ".<entity>.jsonl.tmp-*" file,
// which readers ignore and the next write removes. Writers take an exclusive
// flock(2) on <dir>/.jsonl.lock, so writers in one process, or in several,
// are serialized. Reads load the whole file (the last line of a key wins),
// and a write rewrites it: the cost of every call is the size of the file.
// This is a connector for files a person could open, not a database.
//
// # How to write a connector
//
// A connector is one Go package with a constructor returning a value that
// implements connector.Connector and whichever of connector.Reader,
// ChangeReader, Querier, Writer and Subscriber the service supports. To
// start from this package:
//
//  1. Copy connector/jsonl to connector/<name> and rename the package. Keep
//     the shape: settings.go (the settings JSON Schema and its validation,
//     one diagnostic per failing field), jsonl.go (Spec, Configure, Check,
//     DiscoverSchema, ListPartitions), read.go (Read, ReadChanges, Query),
//     write.go (Write), and the tests.
//  2. Replace the files with your service's client. Configure only checks
//     and stores settings; Check is where you sign in. DiscoverSchema comes
//     from the service's own metadata, never a hard-coded list.
//  3. Errors are diagnostics: connector.Errorf / FieldErrorf with the code
//     the host acts on (AUTH_EXPIRED asks for consent again, RATE_LIMITED
//     and UNAVAILABLE are retried, INVALID_INPUT dead-letters a record).
//     A record that fails goes back Rejected with its diagnostics; only a
//     failure of the whole batch is an error.
//  4. Make writes idempotent: the same IdempotencyKey sent again must not
//     create a second record (this package derives the key from it; a
//     service with client-supplied ids or transaction ids does the same).
//  5. Design the checkpoint so that resuming from it yields exactly what
//     came after it, and say in its doc comment how.
//  6. Turn on the conformance kit (package connector/conformance) in about
//     ten lines, as connector_test.go here does; it runs every check in
//     process and against your connector as a real plugin process.
//  7. For a separate binary, main is one line: connector.Serve(yourpkg.New()).
//     Name it syncplane-connector-<name> and put it in the plugin directory.
package jsonl
