package store

import (
	"crypto/sha256"
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"strconv"

	"modernc.org/sqlite"
)

// The ID map's indexes are keyed by fixed-size hashes of the ids instead
// of the ids themselves: Graph ids are about 150 characters, and B-tree
// entries that long made every batch commit write thousands of index
// pages. A key is the SHA-256 of its parts, each preceded by its length
// (so no two lists of parts hash the same bytes), cut to 16 bytes (a
// BLOB) or 8 bytes (a signed INTEGER, big-endian).
//
// The ID map takes a 16-byte key of a source id within its scope (the
// 8-byte key of pipeline, entity and partition) as the record's identity,
// as it takes a target key: two distinct ids colliding needs about 2^64
// ids in one scope. Lookups by the 8-byte key of pipeline and source id
// compare the ids themselves too, so a collision there costs a row read,
// never a wrong answer.
//
// The migrations compute the same keys in SQL with syncplane_key128 and
// syncplane_key64, which the store's connections define.

// keySum is the SHA-256 of parts, each preceded by its length.
func keySum(parts ...string) [sha256.Size]byte {
	n := 0
	for _, p := range parts {
		n += len(p) + binary.MaxVarintLen64
	}
	var small [512]byte
	b := small[:0]
	if n > len(small) {
		b = make([]byte, 0, n)
	}
	for _, p := range parts {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	return sha256.Sum256(b)
}

// key128 is the 16-byte key of parts.
func key128(parts ...string) []byte {
	sum := keySum(parts...)
	return sum[:16:16]
}

// key64 is the 8-byte key of parts as a signed integer.
func key64(parts ...string) int64 {
	sum := keySum(parts...)
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// sqlKeyParts converts SQL arguments to the parts of a key: text as is,
// blobs as their bytes, integers in decimal. NULL is refused.
func sqlKeyParts(args []driver.Value) ([]string, error) {
	parts := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			parts[i] = v
		case []byte:
			parts[i] = string(v)
		case int64:
			parts[i] = strconv.FormatInt(v, 10)
		default:
			return nil, fmt.Errorf("key part %d: %T is not text", i+1, a)
		}
	}
	return parts, nil
}

// sqlKey128 is the SQL function syncplane_key128(part, ...).
func sqlKey128(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	parts, err := sqlKeyParts(args)
	if err != nil {
		return nil, fmt.Errorf("syncplane_key128: %w", err)
	}
	return key128(parts...), nil
}

// sqlKey64 is the SQL function syncplane_key64(part, ...).
func sqlKey64(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	parts, err := sqlKeyParts(args)
	if err != nil {
		return nil, fmt.Errorf("syncplane_key64: %w", err)
	}
	return key64(parts...), nil
}
