package loaders

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvKey is the environment variable holding the secret that order ids are
// keyed with. Without it, Percolate keeps one in a key file.
const EnvKey = "PERCOLATE_HASH_KEY"

// ErrKeyMismatch is returned when a database was loaded with another key:
// the same orders would get other ids and be counted twice.
var ErrKeyMismatch = errors.New("the hash key differs from the one this database was loaded with")

// Key returns the secret for row keys: $PERCOLATE_HASH_KEY, else the
// contents of file, which is created with a new random key on first use.
func Key(file string) ([]byte, error) {
	if k := os.Getenv(EnvKey); k != "" {
		return []byte(k), nil
	}
	b, err := os.ReadFile(file)
	if err == nil {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	k := hex.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return nil, err
	}
	// O_EXCL: if another process made the key meanwhile, use theirs.
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return Key(file)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.WriteString(k + "\n"); err != nil {
		return nil, err
	}
	return []byte(k), nil
}

// CheckKey records a fingerprint of key in the database on first use and
// refuses a different key afterwards.
func CheckKey(ctx context.Context, pool *pgxpool.Pool, key []byte) error {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("percolate key check"))
	fp := hex.EncodeToString(m.Sum(nil)[:8])
	var got string
	err := pool.QueryRow(ctx, `INSERT INTO percolate.settings (name, value) VALUES ('hash_key_fingerprint', $1)
		ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING value`, fp).Scan(&got)
	if err != nil {
		return err
	}
	if got != fp {
		return fmt.Errorf("%w (database has key %s, this machine has %s): set %s to the key the database was loaded with", ErrKeyMismatch, got, fp, EnvKey)
	}
	return nil
}
