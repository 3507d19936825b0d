package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
)

func noEnv(string) string { return "" }

func openTest(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	if opts.Getenv == nil {
		opts.Getenv = noEnv
	}
	s, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSecretsAreEncryptedAtRest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	s := openTest(t, path, Options{})
	const plain = "refresh-token-PLAINTEXT-0123456789"
	sec := s.Host("m365").Secrets()
	if err := sec.Put(ctx, "refresh/anna", []byte(plain)); err != nil {
		t.Fatal(err)
	}
	got, found, err := sec.Get(ctx, "refresh/anna")
	if err != nil || !found || string(got) != plain {
		t.Fatalf("Get = %q, %v, %v; want the plaintext back", got, found, err)
	}
	// Another connection does not see it.
	if _, found, _ := s.Host("other").Secrets().Get(ctx, "refresh/anna"); found {
		t.Fatal("a secret leaked to another connection")
	}
	list, err := sec.List(ctx, "refresh/")
	if err != nil || len(list) != 1 || list[0].Key != "refresh/anna" || list[0].Value != nil {
		t.Fatalf("List = %+v, %v; want the name only", list, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Neither the database nor its WAL holds the plaintext.
	files, _ := filepath.Glob(path + "*")
	if len(files) == 0 {
		t.Fatal("no database files")
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".key") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(plain)) {
			t.Fatalf("%s contains the secret in plaintext", f)
		}
	}
	// The key file exists with mode 0600.
	st, err := os.Stat(DefaultKeyFile(path))
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	// Reopening with the same key file reads the secret.
	s2 := openTest(t, path, Options{})
	got, found, err = s2.Host("m365").Secrets().Get(ctx, "refresh/anna")
	if err != nil || !found || string(got) != plain {
		t.Fatalf("after reopen Get = %q, %v, %v", got, found, err)
	}
}

func TestWrongOrMissingKeyIsAnError(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	key := make([]byte, 32)
	rand.Read(key)
	env := func(k string) string {
		if k == SecretKeyEnv {
			return base64.StdEncoding.EncodeToString(key)
		}
		return ""
	}
	s := openTest(t, path, Options{Getenv: env})
	if err := s.Host("c").Secrets().Put(ctx, "token", []byte("x")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(DefaultKeyFile(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a key file was created although the key came from the environment: %v", err)
	}

	// Missing: no env, no key file → error, and no key file gets created.
	_, err := Open(ctx, path, Options{Getenv: noEnv})
	if !errors.Is(err, ErrMissingKey) {
		t.Fatalf("Open without key: %v, want ErrMissingKey", err)
	}
	if _, err := os.Stat(DefaultKeyFile(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a missing key silently created a new key file")
	}

	// Wrong: another key → error naming the cause.
	other := make([]byte, 32)
	rand.Read(other)
	_, err = Open(ctx, path, Options{SecretKey: other, Getenv: noEnv})
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open with a wrong key: %v, want ErrWrongKey", err)
	}
	// Malformed env key.
	_, err = Open(ctx, path, Options{Getenv: func(string) string { return "c2hvcnQ=" }})
	if err == nil || !strings.Contains(err.Error(), "32 bytes") {
		t.Fatalf("Open with a short key: %v", err)
	}
	// The right key still works: nothing was reset.
	s3 := openTest(t, path, Options{Getenv: env})
	if v, found, err := s3.Host("c").Secrets().Get(ctx, "token"); err != nil || !found || string(v) != "x" {
		t.Fatalf("Get after failed opens = %q %v %v", v, found, err)
	}
}

func TestValues(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "s.db"), Options{})
	v := s.Host("g").Values()
	if _, found, err := v.Get(ctx, "a"); found || err != nil {
		t.Fatalf("Get missing = %v %v", found, err)
	}
	for _, k := range []string{"series/2", "series/1", "other"} {
		if err := v.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Put(ctx, "empty", nil); err != nil {
		t.Fatal(err)
	}
	if got, found, _ := v.Get(ctx, "empty"); !found || got == nil || len(got) != 0 {
		t.Fatalf("empty value: %v %v", got, found)
	}
	list, err := v.List(ctx, "series/")
	if err != nil || len(list) != 2 || list[0].Key != "series/1" || string(list[1].Value) != "series/2" {
		t.Fatalf("List = %+v %v", list, err)
	}
	if err := v.Delete(ctx, "series/1"); err != nil {
		t.Fatal(err)
	}
	if err := v.Delete(ctx, "never"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := v.Get(ctx, "series/1"); found {
		t.Fatal("deleted value still there")
	}
	if _, found, _ := s.Host("h").Values().Get(ctx, "other"); found {
		t.Fatal("values leaked across connections")
	}
}

func TestCommitIsAtomic(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "s.db"), Options{})
	k := PartitionKey{Pipeline: "p", Entity: "e", Partition: "u1"}
	run, err := s.StartRun(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	m := func(src, tgt string) Mapping {
		return Mapping{SourceEntity: "e", SourcePartition: "u1", SourceID: src, TargetEntity: "t", TargetID: tgt, TargetHash: "h" + src}
	}
	err = s.Commit(ctx, Commit{
		Key: k, Put: []Mapping{m("s1", "t1"), m("s2", "t2")},
		DeadLetters:   []DeadLetter{{Entity: "e", Partition: "u1", SourceID: "s3", Record: []byte(`{"id":"s3"}`), Diagnostics: []byte(`[]`)}},
		SetCheckpoint: true, Checkpoint: []byte("cp1"),
		RunID: run, Counts: Counts{Read: 3, Created: 2, Rejected: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A commit that fails part-way (a target id already mapped: the unique
	// index) leaves nothing of itself behind.
	err = s.Commit(ctx, Commit{
		Key: k, Put: []Mapping{m("s4", "t4"), m("s5", "t1")},
		DeadLetters:   []DeadLetter{{Entity: "e", Partition: "u1", SourceID: "s6", Record: []byte(`{}`), Diagnostics: []byte(`[]`)}},
		SetCheckpoint: true, Checkpoint: []byte("cp2"),
		RunID: run, Counts: Counts{Read: 3, Created: 2},
	})
	if err == nil {
		t.Fatal("commit mapping two sources to one target succeeded")
	}
	var ce *ConflictError
	if !errors.As(err, &ce) || len(ce.Conflicts) != 1 || ce.Conflicts[0].Row.SourceID != "s5" || ce.Conflicts[0].Owner.SourceID != "s1" ||
		ce.Conflicts[0].Row.TargetID != "t1" {
		t.Fatalf("error %v, want a ConflictError naming s5 → t1 held by s1", err)
	}
	cp, found, err := s.Checkpoint(ctx, k)
	if err != nil || !found || string(cp.Checkpoint) != "cp1" {
		t.Fatalf("checkpoint = %q %v %v, want cp1", cp.Checkpoint, found, err)
	}
	got, err := s.Mappings(ctx, "p", "e", "u1", []string{"s1", "s2", "s4", "s5"})
	if err != nil || len(got) != 2 || got["s1"].TargetID != "t1" || got["s2"].TargetHash != "hs2" {
		t.Fatalf("Mappings = %+v %v", got, err)
	}
	dls, err := s.DeadLetters(ctx, "p", false)
	if err != nil || len(dls) != 1 || dls[0].SourceID != "s3" || string(dls[0].Record) != `{"id":"s3"}` {
		t.Fatalf("DeadLetters = %+v %v", dls, err)
	}
	if err := s.FinishRun(ctx, run, nil); err != nil {
		t.Fatal(err)
	}
	runs, err := s.LastRuns(ctx, "p")
	if err != nil || len(runs) != 1 || runs[0].Read != 3 || runs[0].Created != 2 || runs[0].Rejected != 1 || runs[0].Status != RunOK {
		t.Fatalf("LastRuns = %+v %v", runs, err)
	}
	if id, ok, err := s.LookupTarget(ctx, "p", "s2"); err != nil || !ok || id != "t2" {
		t.Fatalf("LookupTarget = %q %v %v", id, ok, err)
	}
	// Retried dead letters drop out of the default listing.
	if err := s.Commit(ctx, Commit{Key: k, Retried: []int64{dls[0].ID}}); err != nil {
		t.Fatal(err)
	}
	if dls, _ := s.DeadLetters(ctx, "p", false); len(dls) != 0 {
		t.Fatalf("retried dead letter still listed: %+v", dls)
	}
	if dls, _ := s.DeadLetters(ctx, "p", true); len(dls) != 1 || !dls[0].Retried {
		t.Fatalf("retried dead letter: %+v", dls)
	}
}

// TestCommitConflicts: rows naming a target record held by another source
// record are reported, within the commit too; a target record freed by the
// same commit (its owner removed or re-pointed) is not a conflict.
func TestCommitConflicts(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "s.db"), Options{})
	k := PartitionKey{Pipeline: "p", Entity: "e", Partition: "u1"}
	m := func(src, tgt string) Mapping {
		return Mapping{SourceEntity: "e", SourcePartition: "u1", SourceID: src, TargetEntity: "t", TargetID: tgt}
	}
	if err := s.Commit(ctx, Commit{Key: k, Put: []Mapping{m("a", "t1"), m("b", "t2"), m("c", "t3")}}); err != nil {
		t.Fatal(err)
	}
	err := s.Commit(ctx, Commit{Key: k, Put: []Mapping{m("d", "t4"), m("e", "t4"), m("f", "t3"), m("a", "t1")}})
	var ce *ConflictError
	if !errors.As(err, &ce) || len(ce.Conflicts) != 2 {
		t.Fatalf("error %v, want two conflicts", err)
	}
	if c := ce.Conflicts[0]; c.Row.SourceID != "e" || c.Owner.SourceID != "d" {
		t.Errorf("first conflict %+v, want e held by d", c)
	}
	if c := ce.Conflicts[1]; c.Row.SourceID != "f" || c.Owner.SourceID != "c" {
		t.Errorf("second conflict %+v, want f held by c", c)
	}
	// b removed and a moved away in the same commit free t2 and t1.
	if err := s.Commit(ctx, Commit{Key: k, Remove: []string{"b"}, Put: []Mapping{m("g", "t2"), m("a", "t5"), m("h", "t1")}}); err != nil {
		t.Fatalf("commit taking freed targets: %v", err)
	}
}

func TestResyncAndReset(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	s := openTest(t, filepath.Join(t.TempDir(), "s.db"), Options{Now: now})
	k := PartitionKey{Pipeline: "p", Entity: "e"}
	put := func(ids ...string) []Mapping {
		var out []Mapping
		for _, id := range ids {
			out = append(out, Mapping{SourceEntity: "e", SourceID: id, TargetEntity: "t", TargetID: "T" + id})
		}
		return out
	}
	if err := s.Commit(ctx, Commit{Key: k, Put: put("a", "b", "c"), SetCheckpoint: true, Checkpoint: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Minute)
	if n, err := s.Reset(ctx, "p", nil); err != nil || n != 1 {
		t.Fatalf("Reset = %d %v", n, err)
	}
	cp, _, _ := s.Checkpoint(ctx, k)
	if cp.Checkpoint != nil || !cp.ResyncSince.Equal(clock) {
		t.Fatalf("after reset: %+v", cp)
	}
	clock = clock.Add(time.Minute)
	if err := s.Commit(ctx, Commit{Key: k, Put: put("a"), Touch: []string{"c"}, SetCheckpoint: true, Checkpoint: []byte("2")}); err != nil {
		t.Fatal(err)
	}
	unseen, err := s.Unseen(ctx, k, cp.ResyncSince)
	if err != nil || len(unseen) != 1 || unseen[0].SourceID != "b" {
		t.Fatalf("Unseen = %+v %v; want b", unseen, err)
	}
	if err := s.Commit(ctx, Commit{Key: k, Remove: []string{"b"}, EndResync: true}); err != nil {
		t.Fatal(err)
	}
	cp, _, _ = s.Checkpoint(ctx, k)
	if !cp.ResyncSince.IsZero() || string(cp.Checkpoint) != "2" {
		t.Fatalf("after resync end: %+v", cp)
	}
	all, _ := s.MappingsOf(ctx, "p", nil)
	if len(all) != 2 {
		t.Fatalf("mappings after removal: %+v", all)
	}
}

func TestPostgresNotImplemented(t *testing.T) {
	_, err := Open(context.Background(), "postgres://localhost/x", Options{Getenv: noEnv})
	if err == nil || !strings.Contains(err.Error(), "not implemented") {
		t.Fatalf("Open(postgres) = %v", err)
	}
}

// TestPanicInTransactionFreesTheWriter: a panic inside a write
// transaction (recovered further up, as job runners do) must not keep the
// one writer connection: the next write goes through at once.
func TestPanicInTransactionFreesTheWriter(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "s.db"), Options{})
	func() {
		defer func() { recover() }()
		s.inTx(context.Background(), func(*sql.Tx) error { panic("boom") })
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Commit(ctx, Commit{Key: PartitionKey{Pipeline: "p", Entity: "e"}, SetCheckpoint: true, Checkpoint: []byte("cp")}); err != nil {
		t.Fatalf("write after a panicked transaction: %v", err)
	}
}

// TestMigrationKeysExistingIDMap: a store created at version 3 (ID map
// keyed by its text ids) with rows is migrated in place; every query of the
// ID map then answers as before, and commits update its rows instead of
// adding new ones.
func TestMigrationKeysExistingIDMap(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	db, p := migrationProvider(t, path)
	if _, err := p.UpTo(ctx, 3); err != nil {
		t.Fatal(err)
	}
	longID := func(i int) string { return fmt.Sprintf("AAMkAGI2TG93AAA-%03d-%s", i, strings.Repeat("x", 130)) }
	ins := `INSERT INTO id_map (pipeline, source_entity, source_partition, source_id, target_entity, target_partition, target_id,
		source_hash, target_hash, target_version, created_at, updated_at, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	for i := range 5 {
		if _, err := db.ExecContext(ctx, ins, "p", "event", "anna", longID(i), "meetings", "", fmt.Sprint("T", i), "sh", "th", "v1", 1000, 1000, 1000+i); err != nil {
			t.Fatal(err)
		}
	}
	// The same source id in another partition and another pipeline.
	if _, err := db.ExecContext(ctx, ins, "p", "event", "bob", longID(0), "meetings", "", "TB0", "", "", "", 1000, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, ins, "q", "event", "anna", longID(0), "meetings", "", "TQ0", "", "", "", 1000, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO pending_creates (pipeline, source_entity, source_partition, source_id, idempotency_key,
		target_entity, target_partition, record, source_hash, target_hash, created_at) VALUES ('p', 'event', 'anna', 'new1', 'k1', 'meetings', '', x'7b7d', 's', 't', 1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openTest(t, path, Options{})
	k := PartitionKey{Pipeline: "p", Entity: "event", Partition: "anna"}
	got, err := s.Mappings(ctx, "p", "event", "anna", []string{longID(0), longID(3), "missing"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[longID(0)].TargetID != "T0" || got[longID(3)].TargetID != "T3" || got[longID(3)].TargetVersion != "v1" ||
		got[longID(3)].SourceHash != "sh" || got[longID(3)].SeenAt.UnixMilli() != 1003 {
		t.Fatalf("Mappings after the migration = %+v", got)
	}
	if id, ok, err := s.LookupTarget(ctx, "p", longID(0)); err != nil || !ok || id != "T0" {
		t.Fatalf("LookupTarget = %q %v %v, want T0 (partition anna sorts before bob)", id, ok, err)
	}
	if id, ok, err := s.LookupTarget(ctx, "q", longID(0)); err != nil || !ok || id != "TQ0" {
		t.Fatalf("LookupTarget(q) = %q %v %v", id, ok, err)
	}
	if _, ok, err := s.LookupTarget(ctx, "p", "missing"); err != nil || ok {
		t.Fatalf("LookupTarget(missing) = %v %v", ok, err)
	}
	all, err := s.MappingsOf(ctx, "p", nil)
	if err != nil || len(all) != 6 || all[5].SourcePartition != "bob" {
		t.Fatalf("MappingsOf = %d rows %v", len(all), err)
	}
	unseen, err := s.Unseen(ctx, k, time.UnixMilli(1002))
	if err != nil || len(unseen) != 2 || unseen[0].SourceID != longID(0) || unseen[1].SourceID != longID(1) {
		t.Fatalf("Unseen = %+v %v", unseen, err)
	}
	ps, rows, err := s.Pending(ctx, k)
	if err != nil || len(ps) != 1 || ps[0].SourceID != "new1" || ps[0].IdempotencyKey != "k1" || string(ps[0].Record) != "{}" || len(rows) != 1 {
		t.Fatalf("Pending = %+v %v %v", ps, rows, err)
	}
	// A commit updates a migrated row, touches and removes others, and the
	// target index still refuses a target record taken by another row.
	err = s.Commit(ctx, Commit{Key: k, Put: []Mapping{{SourceEntity: "event", SourcePartition: "anna", SourceID: longID(1), TargetEntity: "meetings", TargetID: "T1", TargetHash: "new"}},
		Touch: []string{longID(0)}, Remove: []string{longID(2)}, ClearPending: rows})
	if err != nil {
		t.Fatal(err)
	}
	all, err = s.MappingsOf(ctx, "p", nil)
	if err != nil || len(all) != 5 {
		t.Fatalf("MappingsOf after the commit = %d rows %v", len(all), err)
	}
	got, err = s.Mappings(ctx, "p", "event", "anna", []string{longID(0), longID(1), longID(2)})
	if err != nil || len(got) != 2 || got[longID(1)].TargetHash != "new" || got[longID(0)].SeenAt.UnixMilli() == 1000 {
		t.Fatalf("Mappings after the commit = %+v %v", got, err)
	}
	if ps, rows, err := s.Pending(ctx, k); err != nil || len(ps) != 0 || len(rows) != 0 {
		t.Fatalf("Pending after the commit = %+v %v %v", ps, rows, err)
	}
	err = s.Commit(ctx, Commit{Key: k, Put: []Mapping{{SourceEntity: "event", SourcePartition: "anna", SourceID: "other", TargetEntity: "meetings", TargetID: "T3"}}})
	var ce *ConflictError
	if !errors.As(err, &ce) || len(ce.Conflicts) != 1 || ce.Conflicts[0].Owner.SourceID != longID(3) {
		t.Fatalf("a taken target record: %v", err)
	}
}

// TestIDMapQueriesUseIndexes: the ID-map queries a sync runs per batch or
// per record search an index, never scan the table.
func TestIDMapQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "s.db"), Options{})
	for name, q := range map[string]string{
		"Mappings":      `SELECT ` + mappingColumns + ` FROM id_map WHERE source_scope = 1 AND pipeline = 'p' AND source_entity = 'e' AND source_partition = '' AND source_key IN (x'00', x'01')`,
		"LookupTarget":  `SELECT target_id FROM id_map WHERE source_key = x'00' AND pipeline = 'p' AND source_id = 'a' ORDER BY source_entity, source_partition LIMIT 1`,
		"Unseen":        `SELECT ` + mappingColumns + ` FROM id_map WHERE source_scope = 1 AND pipeline = 'p' AND source_entity = 'e' AND source_partition = '' AND seen_at < 5 ORDER BY source_id`,
		"touch":         `UPDATE id_map SET seen_at = 1 WHERE source_scope = 1 AND pipeline = 'p' AND source_entity = 'e' AND source_partition = '' AND source_key IN (x'00')`,
		"remove":        `DELETE FROM id_map WHERE source_scope = 1 AND pipeline = 'p' AND source_entity = 'e' AND source_partition = '' AND source_key IN (x'00')`,
		"Pending":       `SELECT id, creates FROM pending_creates WHERE scope = 1 AND pipeline = 'p' AND source_entity = 'e' AND source_partition = '' ORDER BY id`,
		"clear pending": `DELETE FROM pending_creates WHERE id IN (1, 2)`,
		"HasMappings":   `SELECT 1 FROM id_map WHERE source_scope = 1 AND pipeline = 'p' AND source_entity = 'e' AND source_partition = '' LIMIT 1`,
	} {
		rows, err := s.w.QueryContext(ctx, `EXPLAIN QUERY PLAN `+q)
		if err != nil {
			t.Fatal(name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		if !strings.Contains(joined, "USING INDEX") && !strings.Contains(joined, "USING INTEGER PRIMARY KEY") || strings.Contains(joined, "SCAN ") {
			t.Errorf("%s: plan %q does not search an index", name, joined)
		}
	}
}

// TestPendingNewestWins: pending creates are a log of batches; a source
// id recorded in two batches is pending once, as its newest create;
// clearing the batches' rows clears them without touching other
// partitions; records and ids with characters JSON escapes come back as
// they went in.
func TestPendingNewestWins(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "s.db"), Options{})
	k := PartitionKey{Pipeline: "p", Entity: "event", Partition: "anna"}
	other := PartitionKey{Pipeline: "p", Entity: "event", Partition: "bob"}
	odd := "y \"quoted\" \u00e9\n\x01"
	first, err := s.AddPending(ctx, k, []PendingCreate{{SourceID: "x", IdempotencyKey: "k1", Record: []byte(`{"v":1}`)},
		{SourceID: odd, IdempotencyKey: "ky", Record: []byte("raw \x00 bytes"), SourceHash: "sh", TargetHash: "th", TargetEntity: "meetings", TargetPartition: "tp"}})
	if err != nil || first == 0 {
		t.Fatalf("AddPending = %v %v", first, err)
	}
	if _, err := s.AddPending(ctx, other, []PendingCreate{{SourceID: "x", IdempotencyKey: "kb"}}); err != nil {
		t.Fatal(err)
	}
	second, err := s.AddPending(ctx, k, []PendingCreate{{SourceID: "x", IdempotencyKey: "k2", Record: []byte(`{"v":2}`)}})
	if err != nil || second <= first {
		t.Fatalf("AddPending = %v %v", second, err)
	}
	ps, rows, err := s.Pending(ctx, k)
	want := []PendingCreate{{SourceID: "x", IdempotencyKey: "k2", Record: []byte(`{"v":2}`)},
		{SourceID: odd, IdempotencyKey: "ky", Record: []byte("raw \x00 bytes"), SourceHash: "sh", TargetHash: "th", TargetEntity: "meetings", TargetPartition: "tp"}}
	if err != nil || !reflect.DeepEqual(ps, want) || !slices.Equal(rows, []int64{first, second}) {
		t.Fatalf("Pending = %+v %v %v, want %+v and rows %d, %d", ps, rows, err, want, first, second)
	}
	if err := s.Commit(ctx, Commit{Key: k, ClearPending: rows}); err != nil {
		t.Fatal(err)
	}
	if ps, rows, err := s.Pending(ctx, k); err != nil || len(ps) != 0 || len(rows) != 0 {
		t.Fatalf("Pending after clearing = %+v %v %v", ps, rows, err)
	}
	if ps, _, err := s.Pending(ctx, other); err != nil || len(ps) != 1 || ps[0].IdempotencyKey != "kb" {
		t.Fatalf("Pending of the other partition = %+v %v", ps, err)
	}
}

// TestMigrationAppendOnlyPendingDown: migration 00006 goes down and up
// again keeping pending creates (the newest of a source id) and the ID
// map, with lookups answering as before.
func TestMigrationAppendOnlyPendingDown(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s := openTest(t, path, Options{})
	k := PartitionKey{Pipeline: "p", Entity: "event", Partition: "anna"}
	for i, key := range []string{"k1", "k2"} {
		if _, err := s.AddPending(ctx, k, []PendingCreate{{SourceID: "x", IdempotencyKey: key, Record: []byte(fmt.Sprintf(`{"v":%d}`, i+1))}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Commit(ctx, Commit{Key: k, Put: []Mapping{{SourceEntity: "event", SourcePartition: "anna", SourceID: "a", TargetEntity: "meetings", TargetID: "TA"}}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, p := migrationProvider(t, path)
	if _, err := p.DownTo(ctx, 5); err != nil {
		t.Fatal(err)
	}
	var key string
	var lookupKey int64
	if err := db.QueryRowContext(ctx, `SELECT idempotency_key FROM pending_creates WHERE source_id = 'x'`).Scan(&key); err != nil || key != "k2" {
		t.Fatalf("pending create at version 5: %q %v, want k2", key, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT lookup_key FROM id_map WHERE source_id = 'a'`).Scan(&lookupKey); err != nil || lookupKey != key64("p", "a") {
		t.Fatalf("lookup_key at version 5: %d %v", lookupKey, err)
	}
	db.Close()
	s = openTest(t, path, Options{})
	if ps, _, err := s.Pending(ctx, k); err != nil || len(ps) != 1 || ps[0].IdempotencyKey != "k2" || string(ps[0].Record) != `{"v":2}` {
		t.Fatalf("Pending after down and up = %+v %v", ps, err)
	}
	if id, ok, err := s.LookupTarget(ctx, "p", "a"); err != nil || !ok || id != "TA" {
		t.Fatalf("LookupTarget after down and up = %q %v %v", id, ok, err)
	}
}

// migrationProvider opens the database at path with the store's driver
// and a goose provider of the embedded migrations, to move it to a given
// version.
func migrationProvider(t *testing.T, path string) (*sql.DB, *goose.Provider) {
	t.Helper()
	db, err := openPool(path, time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub)
	if err != nil {
		t.Fatal(err)
	}
	return db, p
}

// TestNewDatabasePageSize: a new database gets the store's page size (its
// commits write fewer, larger WAL frames), in WAL mode.
func TestNewDatabasePageSize(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "s.db"), Options{})
	var size int
	var mode string
	if err := s.w.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&size); err != nil || size != pageSize {
		t.Fatalf("page_size = %d %v, want %d", size, err, pageSize)
	}
	if err := s.w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q %v", mode, err)
	}
}
