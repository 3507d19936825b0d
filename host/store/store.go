// Package store is the host's state: checkpoints, the ID map, encrypted
// secrets, connector values, run history and dead letters, in one embedded
// SQLite database (modernc.org/sqlite, WAL) whose schema is migrated by
// goose from migrations embedded in the binary.
//
// Writes go through a single connection, so there is one writer at a time;
// reads use a separate pool and see the last committed state (WAL). Every
// method is safe for concurrent use.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configure Open. The zero value reads the secret key from the
// environment or the key file beside the database.
type Options struct {
	// SecretKey is the 32-byte AES-256 key of the secrets. When nil, the key
	// comes from SYNCPLANE_SECRET_KEY (base64) or, failing that, from
	// KeyFile, which is created (mode 0600) when the database holds no
	// secrets yet.
	SecretKey []byte
	// KeyFile is where the key is kept when the environment has none;
	// DefaultKeyFile(path) when empty.
	KeyFile string
	// Getenv reads the environment; os.Getenv when nil.
	Getenv func(string) string
	// Now is the clock stamping rows; time.Now when nil.
	Now func() time.Time
	// BusyTimeout is how long a statement waits for a lock held by another
	// process; 10s when zero.
	BusyTimeout time.Duration
}

// SecretKeyEnv is the environment variable holding the base64 encoding of
// the 32-byte secret key.
const SecretKeyEnv = "SYNCPLANE_SECRET_KEY"

// DefaultKeyFile is the key file used for the database at dbPath when the
// environment holds no key: the database's path with ".key" appended.
func DefaultKeyFile(dbPath string) string { return dbPath + ".key" }

// Store is an open state database. Close it when done.
type Store struct {
	path string
	w    *sql.DB // the single writer connection
	r    *sql.DB // readers
	now  func() time.Time
	aead *sealer

	stmts map[string]*sql.Stmt // prepared on w at Open, by SQL text; read-only after
}

// Open opens (creating if needed) the database at path, applies pending
// migrations and loads the secret key. A key that does not decrypt the
// database's key-check value, or a missing key for a database that has
// one, is an error: the store never starts over silently.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if strings.HasPrefix(path, "postgres://") || strings.HasPrefix(path, "postgresql://") {
		return nil, errors.New("state store: PostgreSQL is not implemented yet; use a SQLite file path")
	}
	if path == "" {
		return nil, errors.New("state store: empty database path")
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BusyTimeout == 0 {
		opts.BusyTimeout = 10 * time.Second
	}
	if opts.KeyFile == "" {
		opts.KeyFile = DefaultKeyFile(path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("state store: creating directory %s: %w", dir, err)
		}
	}
	if err := createFile(path); err != nil {
		return nil, err
	}
	w, err := openPool(path, opts.BusyTimeout, false)
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{path: path, w: w, now: opts.Now}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := openPool(path, opts.BusyTimeout, true)
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(4)
	s.r = r
	if err := s.prepareCommon(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.loadKey(ctx, opts); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openPool opens a connection pool on path with WAL, a busy timeout and
// immediate write transactions.
func openPool(path string, busy time.Duration, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
		// The writer's page cache holds the ID map's hot pages between
		// commits (SQLite's default is 2 MB); memory is taken as used.
		q.Add("_pragma", "cache_size(-65536)")
		// Statement journals (a statement that changes several rows and
		// may fail on a constraint, inside a transaction, keeps one) live
		// in memory instead of a temporary file, which would write every
		// page such a statement touches a second time.
		q.Add("_pragma", "temp_store(MEMORY)")
		// Checkpoint the WAL every 10,000 pages (160 MB of 16 KiB pages,
		// 40 MB in databases of 4 KiB pages) instead of
		// 1,000: the ID map's index pages a batch commit changes are
		// mostly changed again a few commits later, and a checkpoint
		// copies each page once however often the WAL holds it (a
		// third fewer bytes written per commit of 1000 Graph ids).
		q.Add("_pragma", "wal_autocheckpoint(10000)")
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	drv, err := newDriver()
	if err != nil {
		return nil, fmt.Errorf("state store: opening %s: %w", path, err)
	}
	return sql.OpenDB(dsnConnector{drv: drv, dsn: dsn}), nil
}

// pageSize is the page size of new databases: 16 KiB instead of SQLite's
// 4 KiB. A commit writes each page it changed as a WAL frame, two write
// system calls each; the ID map's rows are appended and its hashed index
// keys land all over, so larger pages mean fewer frames for the same rows
// (BenchmarkCommitRandomIDs: 50-52 ms per 1,000 rows against 57-63 ms,
// same machine, one after the other; 64 KiB pages took 390-410 ms).
// Databases created before keep their page size.
const pageSize = 16384

// createFile creates the database at path, when there is none, with its
// page size: a database's page size is fixed once it is in WAL mode,
// which the connections' pragmas put it in.
func createFile(path string) error {
	if _, err := os.Stat(path); err == nil || !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	drv, err := newDriver()
	if err != nil {
		return err
	}
	db := sql.OpenDB(dsnConnector{drv: drv, dsn: "file:" + (&url.URL{Path: path}).EscapedPath()})
	defer db.Close()
	if _, err := db.Exec(fmt.Sprintf("PRAGMA page_size = %d", pageSize)); err != nil {
		return fmt.Errorf("state store: creating %s: %w", path, err)
	}
	if _, err := db.Exec("PRAGMA journal_mode = WAL"); err != nil {
		return fmt.Errorf("state store: creating %s: %w", path, err)
	}
	return nil
}

// newDriver returns a SQLite driver whose connections know the store's
// key functions (see keys.go), which the migrations call.
func newDriver() (*sqlite.Driver, error) {
	drv := &sqlite.Driver{}
	if err := drv.RegisterDeterministicScalarFunction("syncplane_key128", -1, sqlKey128); err != nil {
		return nil, fmt.Errorf("registering syncplane_key128: %w", err)
	}
	if err := drv.RegisterDeterministicScalarFunction("syncplane_key64", -1, sqlKey64); err != nil {
		return nil, fmt.Errorf("registering syncplane_key64: %w", err)
	}
	return drv, nil
}

// dsnConnector opens connections of one DSN through a driver of its own.
type dsnConnector struct {
	drv *sqlite.Driver
	dsn string
}

// Connect opens a connection.
func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }

// Driver returns the connector's driver.
func (c dsnConnector) Driver() driver.Driver { return c.drv }

// migrate applies the embedded goose migrations.
func (s *Store) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("state store: migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.w, sub)
	if err != nil {
		return fmt.Errorf("state store: preparing migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("state store: migrating %s: %w", s.path, err)
	}
	return nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// DB returns the writer pool (one connection), for components that keep
// their own tables in the same database, such as the job queue. Holding a
// transaction on it blocks every other write of the store.
func (s *Store) DB() *sql.DB { return s.w }

// exec runs a write statement in tx, through a statement prepared at Open
// when the query is one of the fixed-size multi-row statements commits
// repeat (parsing them is otherwise a large part of a commit's cost).
// Statements cannot be prepared here: the writer's one connection is held
// by tx.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st, ok := s.stmts[query]; ok {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// prepareCommon prepares Commit's statements on the writer connection:
// the upsert of one ID-map row and the full-chunk IN lists.
func (s *Store) prepareCommon(ctx context.Context) error {
	s.stmts = map[string]*sql.Stmt{}
	for _, q := range []string{putRowQuery,
		inQuery(touchPrefix, idChunk), inQuery(removePrefix, idChunk), inQuery(clearPendingPrefix, idChunk)} {
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("state store: preparing statements: %w", err)
		}
		s.stmts[q] = st
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	for _, st := range s.stmts {
		st.Close()
	}
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	return errors.Join(errs...)
}

func (s *Store) stamp() int64 { return s.now().UnixMilli() }

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// inTx runs fn in a write transaction, committing when fn returns nil.
// The transaction ends whatever fn does, a panic included: an open
// transaction holds the store's one writer connection, and every later
// write would wait for it ("beginning a transaction") until its context
// ends. (A job runner that recovers panics, as River does, would
// otherwise leave it open for good.)
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// rowScanner is what a scan function reads one row from.
type rowScanner interface{ Scan(...any) error }

// queryAll runs a read query and scans every row with scan; what names
// the listing in errors.
func queryAll[T any](ctx context.Context, db *sql.DB, what string, scan func(rowScanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
