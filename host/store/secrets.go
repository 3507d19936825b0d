package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/syncplane/syncplane/connector"
)

// keyCheckName is the meta row holding a value sealed with the secret key,
// so a wrong key is detected at Open rather than as garbage later.
const keyCheckName = "secret_key_check"

// keyCheckPlain is the plaintext sealed in the key-check row.
const keyCheckPlain = "syncplane secret key check v1"

// ErrWrongKey means the secret key does not decrypt the database's secrets.
var ErrWrongKey = errors.New("the secret key does not match the one this database's secrets were encrypted with")

// ErrMissingKey means the database holds secrets but no key was found.
var ErrMissingKey = errors.New("no secret key found for a database that holds encrypted secrets")

// sealer encrypts with AES-256-GCM; a sealed value is nonce || ciphertext.
type sealer struct{ gcm cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("the secret key must be 32 bytes (AES-256), got %d", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &sealer{gcm: g}, nil
}

func (s *sealer) seal(plain, ad []byte) ([]byte, error) {
	nonce := make([]byte, s.gcm.NonceSize(), s.gcm.NonceSize()+len(plain)+s.gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("generating a nonce: %w", err)
	}
	return s.gcm.Seal(nonce, nonce, plain, ad), nil
}

func (s *sealer) open(sealed, ad []byte) ([]byte, error) {
	n := s.gcm.NonceSize()
	if len(sealed) < n+s.gcm.Overhead() {
		return nil, errors.New("sealed value is too short")
	}
	return s.gcm.Open(nil, sealed[:n], sealed[n:], ad)
}

// loadKey finds the secret key (options, environment, key file) and checks
// it against the database's key-check row, writing that row on first use.
func (s *Store) loadKey(ctx context.Context, opts Options) error {
	var check []byte
	err := s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, keyCheckName).Scan(&check)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("state store: reading the key check: %w", err)
	}
	hasCheck := err == nil

	key, source, err := findKey(opts, !hasCheck)
	if err != nil {
		return err
	}
	sl, err := newSealer(key)
	if err != nil {
		return fmt.Errorf("state store: secret key from %s: %w", source, err)
	}
	if hasCheck {
		plain, err := sl.open(check, []byte(keyCheckName))
		if err != nil || string(plain) != keyCheckPlain {
			return fmt.Errorf("state store %s: secret key from %s: %w; set %s or restore the key file %s", s.path, source, ErrWrongKey, SecretKeyEnv, opts.KeyFile)
		}
	} else {
		sealed, err := sl.seal([]byte(keyCheckPlain), []byte(keyCheckName))
		if err != nil {
			return fmt.Errorf("state store: %w", err)
		}
		if _, err := s.w.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, keyCheckName, sealed); err != nil {
			return fmt.Errorf("state store: writing the key check: %w", err)
		}
		// A concurrent first Open may have won: check against what is stored.
		if err := s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, keyCheckName).Scan(&check); err != nil {
			return fmt.Errorf("state store: reading the key check: %w", err)
		}
		if plain, err := sl.open(check, []byte(keyCheckName)); err != nil || string(plain) != keyCheckPlain {
			return fmt.Errorf("state store %s: secret key from %s: %w", s.path, source, ErrWrongKey)
		}
	}
	s.aead = sl
	return nil
}

// findKey returns the key and where it came from. mayCreate allows
// creating the key file (only for a database without secrets).
func findKey(opts Options, mayCreate bool) ([]byte, string, error) {
	if opts.SecretKey != nil {
		return opts.SecretKey, "the options", nil
	}
	if v := strings.TrimSpace(opts.Getenv(SecretKeyEnv)); v != "" {
		key, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, "", fmt.Errorf("state store: %s is not base64: %w", SecretKeyEnv, err)
		}
		if len(key) != 32 {
			return nil, "", fmt.Errorf("state store: %s must hold 32 bytes in base64 (44 characters), got %d bytes", SecretKeyEnv, len(key))
		}
		return key, SecretKeyEnv, nil
	}
	data, err := os.ReadFile(opts.KeyFile)
	switch {
	case err == nil:
		key, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
		if derr != nil || len(key) != 32 {
			return nil, "", fmt.Errorf("state store: key file %s must hold 32 bytes in base64", opts.KeyFile)
		}
		return key, opts.KeyFile, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, "", fmt.Errorf("state store: reading key file: %w", err)
	case !mayCreate:
		return nil, "", fmt.Errorf("state store: %w: set %s or restore the key file %s", ErrMissingKey, SecretKeyEnv, opts.KeyFile)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, "", fmt.Errorf("state store: generating a secret key: %w", err)
	}
	f, err := os.OpenFile(opts.KeyFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("state store: creating key file: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("state store: writing key file %s: %w", opts.KeyFile, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("state store: syncing key file %s: %w", opts.KeyFile, err)
	}
	if err := f.Close(); err != nil {
		return nil, "", fmt.Errorf("state store: closing key file %s: %w", opts.KeyFile, err)
	}
	return key, opts.KeyFile, nil
}

func secretAD(connection, name string) []byte {
	return []byte(connection + "\x00" + name)
}

// Host returns the host services scoped to one connection: its secrets
// (encrypted) and its values. Keys of different connections never meet.
func (s *Store) Host(connection string) connector.Host {
	return &host{secrets: &secretStore{s: s, conn: connection}, values: &valueStore{s: s, conn: connection}}
}

type host struct {
	secrets *secretStore
	values  *valueStore
}

func (h *host) Secrets() connector.Store { return h.secrets }
func (h *host) Values() connector.Store  { return h.values }

// secretStore keeps a connection's secrets encrypted.
type secretStore struct {
	s    *Store
	conn string
}

func (ss *secretStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	var sealed []byte
	err := ss.s.r.QueryRowContext(ctx, `SELECT sealed FROM secrets WHERE connection = ? AND name = ?`, ss.conn, key).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading secret %q of connection %s: %w", key, ss.conn, err)
	}
	plain, err := ss.s.aead.open(sealed, secretAD(ss.conn, key))
	if err != nil {
		return nil, false, fmt.Errorf("decrypting secret %q of connection %s: %w", key, ss.conn, ErrWrongKey)
	}
	return plain, true, nil
}

func (ss *secretStore) Put(ctx context.Context, key string, value []byte) error {
	sealed, err := ss.s.aead.seal(value, secretAD(ss.conn, key))
	if err != nil {
		return fmt.Errorf("encrypting secret %q of connection %s: %w", key, ss.conn, err)
	}
	_, err = ss.s.w.ExecContext(ctx, `INSERT INTO secrets (connection, name, sealed, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (connection, name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at`,
		ss.conn, key, sealed, ss.s.stamp())
	if err != nil {
		return fmt.Errorf("writing secret %q of connection %s: %w", key, ss.conn, err)
	}
	return nil
}

func (ss *secretStore) Delete(ctx context.Context, key string) error {
	if _, err := ss.s.w.ExecContext(ctx, `DELETE FROM secrets WHERE connection = ? AND name = ?`, ss.conn, key); err != nil {
		return fmt.Errorf("deleting secret %q of connection %s: %w", key, ss.conn, err)
	}
	return nil
}

// List returns the names under prefix with nil values: secrets are read
// one by one.
func (ss *secretStore) List(ctx context.Context, prefix string) ([]connector.KeyValue, error) {
	rows, err := ss.s.r.QueryContext(ctx, `SELECT name FROM secrets WHERE connection = ? AND substr(CAST(name AS BLOB), 1, ?) = CAST(? AS BLOB) ORDER BY name`, ss.conn, len(prefix), prefix)
	if err != nil {
		return nil, fmt.Errorf("listing secrets of connection %s: %w", ss.conn, err)
	}
	defer rows.Close()
	var out []connector.KeyValue
	for rows.Next() {
		var kv connector.KeyValue
		if err := rows.Scan(&kv.Key); err != nil {
			return nil, fmt.Errorf("listing secrets of connection %s: %w", ss.conn, err)
		}
		out = append(out, kv)
	}
	return out, rows.Err()
}

// valueStore keeps a connection's connector values.
type valueStore struct {
	s    *Store
	conn string
}

func (vs *valueStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	var v []byte
	err := vs.s.r.QueryRowContext(ctx, `SELECT value FROM connector_values WHERE connection = ? AND key = ?`, vs.conn, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading value %q of connection %s: %w", key, vs.conn, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, true, nil
}

func (vs *valueStore) Put(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := vs.s.w.ExecContext(ctx, `INSERT INTO connector_values (connection, key, value, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (connection, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		vs.conn, key, value, vs.s.stamp())
	if err != nil {
		return fmt.Errorf("writing value %q of connection %s: %w", key, vs.conn, err)
	}
	return nil
}

func (vs *valueStore) Delete(ctx context.Context, key string) error {
	if _, err := vs.s.w.ExecContext(ctx, `DELETE FROM connector_values WHERE connection = ? AND key = ?`, vs.conn, key); err != nil {
		return fmt.Errorf("deleting value %q of connection %s: %w", key, vs.conn, err)
	}
	return nil
}

func (vs *valueStore) List(ctx context.Context, prefix string) ([]connector.KeyValue, error) {
	rows, err := vs.s.r.QueryContext(ctx, `SELECT key, value FROM connector_values WHERE connection = ? AND substr(CAST(key AS BLOB), 1, ?) = CAST(? AS BLOB) ORDER BY key`, vs.conn, len(prefix), prefix)
	if err != nil {
		return nil, fmt.Errorf("listing values of connection %s: %w", vs.conn, err)
	}
	defer rows.Close()
	var out []connector.KeyValue
	for rows.Next() {
		var kv connector.KeyValue
		if err := rows.Scan(&kv.Key, &kv.Value); err != nil {
			return nil, fmt.Errorf("listing values of connection %s: %w", vs.conn, err)
		}
		if kv.Value == nil {
			kv.Value = []byte{}
		}
		out = append(out, kv)
	}
	return out, rows.Err()
}
